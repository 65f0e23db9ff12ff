"""Reporting a message or a person without JavaScript: the same form as the room's report
dialog (static/room-report.js), on a page of its own. The rules live in
actions/moderation.py: the answer is the same whether or not the target exists, and the
reporter is never shown to anyone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safespace.actions import moderation
from safespace.errors import AppError, not_found
from safespace.queries import groups as group_queries
from safespace.queries.accounts import Principal
from safespace.queries.messages import history
from safespace.queries.rooms import access_room_as_member
from safespace.ratelimit import with_retry_after
from safespace.web.deps import services
from safespace.web.pages.routes import _form, _redirect, _signed_in, render, templates

reporting_router = APIRouter(include_in_schema=False)
# The room shows the same thanks after a report sent from this page (notice=reported).
templates.env.globals["report_thanks"] = moderation.THANKS
templates.env.globals["max_report_note"] = moderation.MAX_REASON  # the room's report dialog


def _rule(value: str | None) -> int | None:
    """The radio's value: a rule's number, or "other" (Something else) for none."""
    if value and value.isdigit() and len(value) < 4:
        return int(value)
    return None


async def _page(
    request: Request,
    me: Principal,
    room_id: int,
    seq: int,
    *,
    about: str,
    chosen: str = "",
    note: str = "",
    error: AppError | None = None,
) -> Response:
    svc = services(request)
    async with svc.db.read() as session:
        access = await access_room_as_member(session, me.user, room_id)
        group = await group_queries.group_detail(session, access.group_slug)
        # The message as this reader meets it in the room: a warned one stays folded.
        found = await history(session, svc.keys, access, after=seq - 1, limit=1)
    message = found[0] if found and found[0]["seq"] == seq else None
    if message is None:
        raise not_found("That message")
    alias = message["author"]["alias"]
    own = not message.get("hidden") and alias == access.alias
    response = render(
        request,
        "report.html",
        status=error.status if error else 200,
        group=group,
        access=access,
        message=message,
        seq=seq,
        own=own,
        person=about == "person" and bool(alias),
        alias=alias,
        chosen=chosen,
        note=note,
        error=error.message if error else None,
        error_field=error.extra.get("field") if error else None,
        max_note=moderation.MAX_REASON,
        title=f"Report · {group['name']} · SafeSpace",
    )
    return with_retry_after(response, error) if error else response


@reporting_router.get("/rooms/{room_id}/report/{seq}", response_class=HTMLResponse)
async def report_form(request: Request, room_id: int, seq: int) -> Response:
    me = await _signed_in(request)
    about = request.query_params.get("about", "message")
    return await _page(request, me, room_id, seq, about=about)


@reporting_router.post("/rooms/{room_id}/report/{seq}", response_class=HTMLResponse)
async def send_report(request: Request, room_id: int, seq: int) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    about = form.get("about", "message")
    person = about == "person" and bool(form.get("alias"))
    chosen, note = form.get("rule", ""), form.get("note", "")
    kwargs: dict[str, Any] = {"alias": form["alias"]} if person else {"seq": seq}
    try:
        await moderation.report(
            services(request), me.user, room_id, rule=_rule(chosen), note=note or None, **kwargs
        )
    except AppError as err:
        if err.status not in (422, 429):
            raise
        # Shown again with the choice and the note kept: nothing typed is lost.
        return await _page(
            request, me, room_id, seq, about=about, chosen=chosen, note=note, error=err
        )
    # Whatever happened to the report, the same answer (a room you're not in: its 404).
    return _redirect(f"/rooms/{room_id}?notice=reported#m-{seq}")
