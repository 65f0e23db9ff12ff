"""Facilitators' page actions (no JavaScript needed): act on a queue item with a sanction,
or hand it to a colleague. The rules live in actions/moderation.py and actions/safety.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from safespace.actions import moderation, safety
from safespace.web.deps import services
from safespace.web.pages.routes import _form, _redirect, _signed_in

facilitation_router = APIRouter(include_in_schema=False)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() and len(value) < 10 else None


@facilitation_router.post("/facilitate/sanction")
async def sanction(request: Request) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    await moderation.sanction(
        services(request),
        me.user,
        form.get("group", ""),
        form.get("kind"),
        alias=form.get("alias") or None,
        rule=_int(form.get("rule")),
        reason=form.get("reason") or None,
        minutes=_int(form.get("minutes")),
        room_id=_int(form.get("room_id")),
        seq=_int(form.get("seq")),
    )
    flag_id = _int(form.get("flag_id"))
    if flag_id is not None:
        await safety.set_flag_status(services(request), me.user, flag_id, "resolved", None)
    return _redirect("/facilitate?notice=acted")


@facilitation_router.post("/facilitate/flags/{flag_id}/assign")
async def assign(request: Request, flag_id: int) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    await safety.assign_flag(services(request), me.user, flag_id, form.get("to") or None)
    return _redirect("/facilitate?notice=handed")
