"""Reports, sanctions and the audit log over JSON (permissions live in actions/queries)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from safespace.actions import moderation
from safespace.queries import moderation as queries
from safespace.web.api.schemas import NewSanction, Report
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1", tags=["moderation"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/rooms/{room_id}/reports", status_code=202)
async def report(room_id: int, body: Report, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    text = await moderation.report(svc, user, room_id, body.seq, body.alias, body.rule, body.note)
    return {"ok": True, "message": text}


@router.post("/groups/{slug}/sanctions", status_code=201)
async def sanction(slug: str, body: NewSanction, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    given = await moderation.sanction(
        svc,
        user,
        slug,
        body.kind,
        alias=body.alias,
        rule=body.rule,
        reason=body.reason,
        minutes=body.minutes,
        room_id=body.room_id,
        seq=body.seq,
    )
    return {"sanction": given}


@router.post("/groups/{slug}/sanctions/{sanction_id}/lift", status_code=204)
async def lift(slug: str, sanction_id: Id, user: CurrentUser, svc: Svc) -> None:
    await moderation.lift(svc, user, slug, sanction_id)


@router.get("/groups/{slug}/audit")
async def audit(slug: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    async with svc.db.read() as session:
        return await queries.audit_log(session, user, slug)


@router.get("/me/sanctions")
async def mine(user: CurrentUser, svc: Svc) -> dict[str, Any]:
    async with svc.db.read() as session:
        return {"sanctions": await queries.my_sanctions(session, svc.keys, user)}
