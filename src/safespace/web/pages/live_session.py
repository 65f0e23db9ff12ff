"""The session card in a room, as a page fragment and plain forms: acknowledge the ground
rules, and (facilitators) open or close a session. The rules live in actions/sessions.py;
room.js reloads the fragment when the session changes, so there is one rendering of it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.actions import sessions as actions
from safespace.db.models import GroupRules
from safespace.errors import AppError
from safespace.queries import sessions as queries
from safespace.queries.rooms import RoomAccess, access_room_as_member
from safespace.services import Services
from safespace.web.deps import services
from safespace.web.pages.routes import _back, _form, _redirect, _signed_in, render

live_router = APIRouter(include_in_schema=False)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 6 else None


async def card_context(session: AsyncSession, svc: Services, access: RoomAccess) -> dict[str, Any]:
    """What _session.html needs: the state, and the rules to show on a live card."""
    state = await queries.session_state(session, access, svc.clock.now())
    rules = await session.get(GroupRules, (access.group_id, access.rules_version))
    return {"session": state, "session_rules": list(rules.rules) if rules else []}


@live_router.get("/rooms/{room_id}/session-card", response_class=HTMLResponse)
async def card(request: Request, room_id: int) -> Response:
    me = await _signed_in(request)
    svc = services(request)
    async with svc.db.read() as session:
        access = await access_room_as_member(session, me.user, room_id)
        ctx = await card_context(session, svc, access)
    return render(request, "_session.html", access=access, **ctx)


@live_router.post("/rooms/{room_id}/session/acknowledge")
async def acknowledge(request: Request, room_id: int) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    back = _back(form, f"/rooms/{room_id}")
    try:
        await actions.acknowledge(services(request), me.user, room_id, form.get("key", ""))
    except AppError as err:
        if err.code != "no_session":
            raise
    return _redirect(back + "#session-card")


@live_router.post("/g/{slug}/session/open")
async def open_session(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    try:
        await actions.open_now(services(request), me.user, slug, _int_or_none(form.get("minutes")))
    except AppError as err:
        if err.code != "session_live":
            raise
    return _redirect(f"/g/{slug}/room#session-card")


@live_router.post("/g/{slug}/session/close")
async def close_session(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    await _form(request)
    try:
        await actions.close_now(services(request), me.user, slug)
    except AppError as err:
        if err.code != "no_session":
            raise
    return _redirect(f"/g/{slug}/room#session-card")
