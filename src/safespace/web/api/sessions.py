"""A group's sessions over JSON, and each session's calendar file (members only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import select

from safespace.actions import sessions as actions
from safespace.db.models import Group, GroupSession, Membership
from safespace.errors import not_found
from safespace.queries import sessions as queries
from safespace.queries.rooms import access_room_as_member
from safespace.queries.sessions import occurrences
from safespace.web.api.schemas import Acknowledge, NewSession, OpenSession
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1", tags=["sessions"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _group_for_member(svc: Svc, user: Any, slug: str) -> Group:
    """A group's schedule is for its members: a meeting time can say a lot about who goes."""
    async with svc.db.read() as session:
        row = (
            await session.execute(
                select(Group)
                .join(Membership, Membership.group_id == Group.id)
                .where(Group.slug == slug, Membership.user_id == user.id)
            )
        ).first()
    if row is None and user.role != "admin":
        raise not_found("That group")
    if row is None:
        async with svc.db.read() as session:
            group = await session.scalar(select(Group).where(Group.slug == slug))
        if group is None:
            raise not_found("That group")
        return group
    return row[0]


@router.get("/groups/{slug}/sessions")
async def upcoming(slug: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    group = await _group_for_member(svc, user, slug)
    async with svc.db.read() as session:
        return {"sessions": await queries.upcoming(session, group.id, svc.clock.now())}


@router.post("/groups/{slug}/sessions", status_code=201)
async def schedule(slug: str, body: NewSession, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    s = await actions.schedule(
        svc, user, slug, body.title, body.start, body.minutes, body.timezone, body.weekly
    )
    found = occurrences(s, svc.clock.now())
    return {"session": found[0].as_dict(svc.clock.now()) if found else {"id": s.id}}


@router.delete("/groups/{slug}/sessions/{session_id}", status_code=204)
async def cancel(slug: str, session_id: Id, user: CurrentUser, svc: Svc) -> None:
    await actions.cancel(svc, user, slug, session_id)


@router.get("/groups/{slug}/sessions/{session_id}/calendar.ics")
async def calendar(
    slug: str, session_id: Id, request: Request, user: CurrentUser, svc: Svc
) -> Response:
    group = await _group_for_member(svc, user, slug)
    async with svc.db.read() as session:
        s = await session.get(GroupSession, session_id)
    if s is None or s.group_id != group.id:
        raise not_found("That session")
    host = request.url.hostname or "safespace"
    return Response(
        queries.ics(s, group.name, host, svc.clock.now()),
        media_type="text/calendar; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="session-{s.id}.ics"'},
    )


# ----------------------------------------------------------------- the live session


@router.get("/rooms/{room_id}/session")
async def session_state(room_id: Id, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    """The session as this room's reader sees it: live or not, acknowledged or not,
    what's next, and whether members can write now."""
    async with svc.db.read() as session:
        access = await access_room_as_member(session, user, room_id)
        return await queries.session_state(session, access, svc.clock.now())


@router.post("/rooms/{room_id}/session/acknowledge", status_code=204)
async def acknowledge(room_id: Id, body: Acknowledge, user: CurrentUser, svc: Svc) -> None:
    await actions.acknowledge(svc, user, room_id, body.key)


@router.post("/groups/{slug}/session/open", status_code=201)
async def open_session(slug: str, body: OpenSession, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    live = await actions.open_now(svc, user, slug, body.minutes)
    return {"live": live.as_dict()}


@router.post("/groups/{slug}/session/close", status_code=204)
async def close_session(slug: str, user: CurrentUser, svc: Svc) -> None:
    await actions.close_now(svc, user, slug)
