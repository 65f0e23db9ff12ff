"""Content warnings, consent requests, and each person's own filters and blocks, over JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from safespace.actions import consent, filters
from safespace.queries.dates import iso
from safespace.queries.filters import filters_dict
from safespace.reading.categories import CATEGORIES
from safespace.web.api.schemas import BlockAuthor, ConsentReply, ConsentRequest, Filters
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1", tags=["reading"])

Seq = Annotated[int, Path(ge=1, le=2**31 - 1)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/content-warnings")
async def categories() -> dict[str, Any]:
    return {"categories": [{"id": k, "label": v} for k, v in CATEGORIES.items()]}


@router.post("/rooms/{room_id}/consent", status_code=201)
async def ask(room_id: int, body: ConsentRequest, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    message = await consent.ask(svc, user, room_id, body.client_id, body.topic, body.category)
    return {"message": message}


@router.post("/rooms/{room_id}/consent/{seq}/answer")
async def answer(
    room_id: int, seq: Seq, body: ConsentReply, user: CurrentUser, svc: Svc
) -> dict[str, Any]:
    return {"consent": await consent.answer(svc, user, room_id, seq, body.answer)}


@router.get("/me/filters")
async def get_filters(user: CurrentUser, svc: Svc) -> dict[str, Any]:
    async with svc.db.read() as session:
        return await filters_dict(session, user.id)


@router.put("/me/filters")
async def put_filters(body: Filters, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    await filters.set_filters(svc, user, body.categories, body.muted_words)
    async with svc.db.read() as session:
        return await filters_dict(session, user.id)


@router.post("/me/blocks", status_code=201)
async def block(body: BlockAuthor, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    b = await filters.block_author(svc, user, body.room_id, body.seq)
    return {"block": {"id": b.id, "alias": b.alias, "since": iso(b.created_at)}}


@router.delete("/me/blocks/{block_id}", status_code=204)
async def unblock(block_id: Id, user: CurrentUser, svc: Svc) -> None:
    await filters.unblock(svc, user, block_id)
