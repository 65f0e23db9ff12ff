"""Room history and posting over JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from safespace.actions.messages import post_message
from safespace.queries.messages import history
from safespace.queries.rooms import access_room_for_reading
from safespace.web.api.responses import FastJSON
from safespace.web.api.schemas import NewMessage
from safespace.web.deps import CurrentUser, Svc, signed_in_user

router = APIRouter(prefix="/api/v1/rooms", tags=["rooms"])

Seq = Annotated[int | None, Query(ge=0, le=2**53)]


@router.get("/{room_id}/messages", response_class=FastJSON)
async def list_messages(
    room_id: int,
    request: Request,
    svc: Svc,
    after: Seq = None,
    before: Seq = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> FastJSON:
    async with svc.db.read() as session:
        user = await signed_in_user(request, session)
        access, reader = await access_room_for_reading(session, user, room_id)
        page = await history(
            session, svc.keys, access, after=after, before=before, limit=limit, reader=reader
        )
    return FastJSON({"messages": page})


@router.post("/{room_id}/messages", status_code=201)
async def send(room_id: int, body: NewMessage, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    # A retry with the same client_id gets the same answer as the first attempt, like an
    # idempotency key, and nothing is delivered twice.
    posted = await post_message(
        svc,
        user,
        room_id,
        body.client_id,
        body.body,
        body.content_warning,
        body.suggest_warning,
    )
    answer: dict[str, Any] = {"message": posted.message}
    if posted.check_in:
        answer["check_in"] = posted.check_in  # for the author alone: offer support
    return answer
