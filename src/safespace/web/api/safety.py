"""Safety over JSON: revealing a warned message, "I'm worried", the facilitators' queue,
the private line, breaks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from safespace.actions import safety
from safespace.queries import safety as queries
from safespace.queries.messages import iso, one_message
from safespace.queries.rooms import access_room_as_member
from safespace.web.api.schemas import Assign, Break, FlagUpdate
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1", tags=["safety"])

Seq = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/rooms/{room_id}/messages/{seq}")
async def reveal(room_id: int, seq: Seq, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    """One message in full: what "Show" asks for when a warned message is collapsed."""
    async with svc.db.read() as session:
        access = await access_room_as_member(session, user, room_id)
        return {"message": await one_message(session, svc.keys, access, seq)}


@router.post("/rooms/{room_id}/messages/{seq}/worried", status_code=202)
async def worried(room_id: int, seq: Seq, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    await safety.worried_about(svc, user, room_id, seq)
    return {"ok": True, "message": "Thank you. Only the group's facilitators will see this."}


@router.get("/flags")
async def flags(
    user: CurrentUser,
    svc: Svc,
    status: Annotated[str, Query(pattern="^(open|acknowledged|resolved|active)$")] = "active",
    mine: bool = False,
) -> dict[str, Any]:
    """The queue of every group this person facilitates (admins: every group); with
    `mine`, only the items handed to them (their caseload)."""
    statuses = ("open", "acknowledged") if status == "active" else (status,)
    async with svc.db.read() as session:
        groups = await queries.facilitated_groups(session, user)
        items = await queries.flags_for(
            session,
            svc.keys,
            groups,
            statuses=statuses,
            assigned_to=user.id if mine else None,
            admin=user.role == "admin",
        )
    return {"flags": items, "guide": queries.response_guide(svc.settings.escalation_guide_file)}


@router.post("/flags/{flag_id}")
async def update_flag(
    flag_id: int, body: FlagUpdate, user: CurrentUser, svc: Svc
) -> dict[str, Any]:
    if not 0 < flag_id <= 2**31 - 1:
        flag_id = 0
    flag = await safety.set_flag_status(svc, user, flag_id, body.status, body.note)
    return {"flag": {"id": flag.id, "status": flag.status, "updated_at": iso(flag.updated_at)}}


@router.post("/flags/{flag_id}/assign")
async def assign(flag_id: int, body: Assign, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    if not 0 < flag_id <= 2**31 - 1:
        flag_id = 0
    flag = await safety.assign_flag(svc, user, flag_id, body.to)
    return {"flag": {"id": flag.id, "updated_at": iso(flag.updated_at)}}


@router.post("/groups/{slug}/support-room")
async def support_room(slug: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    room_id = await safety.open_support_room(svc, user, slug)
    return {"room_id": room_id, "url": f"/g/{slug}/support"}


@router.post("/groups/{slug}/break")
async def take_break(slug: str, body: Break, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    until = await safety.take_break(svc, user, slug, body.minutes)
    return {"until": iso(until) if until else None}
