"""Posting a message: checks, a gap-free seq, commit, then fan-out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from safespace.actions import safety
from safespace.actions.base import Tx, transaction
from safespace.db.models import Message, Room, User
from safespace.errors import AppError, invalid
from safespace.events.types import MessagePosted
from safespace.privacy.keystore import message_context
from safespace.queries.messages import message_dict, readable
from safespace.queries.rooms import access_room_as_member
from safespace.safety.assess import Assessment, assess
from safespace.services import Services

MAX_BODY = 4000
MAX_CLIENT_ID = 64


@dataclass
class Posted:
    message: dict[str, Any]
    duplicate: bool  # a retry of a client_id already stored: nothing was delivered again
    # For the author alone: "elevated" or "imminent" when the message suggests they may be
    # struggling, so their screen can offer support. Never shown to anyone else.
    check_in: str | None = None


def check_body(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise invalid("Write something before sending.", field="body")
    if "\x00" in body:  # no database text column can hold a NUL
        raise invalid("A message can't contain NUL characters.", field="body")
    if len(body) > MAX_BODY:
        raise AppError(
            "too_long",
            f"That message is {len(body):,} characters; the most is {MAX_BODY:,}. "
            "You could split it in two.",
            422,
            field="body",
        )
    return body


def check_client_id(client_id: object) -> str:
    if (
        not isinstance(client_id, str)
        or not 1 <= len(client_id) <= MAX_CLIENT_ID
        or "\x00" in client_id
    ):
        raise invalid("client_id must be 1 to 64 characters.", field="client_id")
    return client_id


async def _existing(
    tx_session: Any, room_id: int, author_id: int, client_id: str
) -> Message | None:
    return await tx_session.scalar(
        select(Message).where(
            Message.room_id == room_id,
            Message.author_id == author_id,
            Message.client_id == client_id,
        )
    )


async def post_message(
    svc: Services, actor: User, room_id: object, client_id: object, body: object
) -> Posted:
    await svc.limits.hit("messages", str(actor.id))  # per person, however it arrives
    client_id = check_client_id(client_id)
    body = check_body(body)
    assessment = assess(body)  # local and pure: before the write slot, never sent anywhere
    try:
        async with transaction(svc) as tx:
            return await _post(tx, actor, room_id, client_id, body, assessment)
    except IntegrityError:
        # A concurrent retry of the same client_id won the race: answer with its message.
        async with svc.db.read() as session:
            access = await access_room_as_member(session, actor, room_id)
            first = await _existing(session, access.room_id, actor.id, client_id)
        if first is None:
            raise
        return await _again(svc, access.group_id, first)


async def _post(
    tx: Tx, actor: User, room_id: object, client_id: str, body: str, assessment: Assessment
) -> Posted:
    access = await access_room_as_member(tx.session, actor, room_id)
    first = await _existing(tx.session, access.room_id, actor.id, client_id)
    if first is not None:
        return await _again(tx.svc, access.group_id, first)
    if not access.rules_current:
        raise AppError(
            "rules_not_accepted",
            "This group's ground rules have changed. Please read and accept them to post again.",
            409,
            rules_version=access.rules_version,
        )
    seq = await tx.session.scalar(
        update(Room)
        .where(Room.id == access.room_id)
        .values(last_seq=Room.last_seq + 1)
        .returning(Room.last_seq)
    )
    assert seq is not None
    msg = Message(
        room_id=access.room_id,
        seq=seq,
        author_id=actor.id,
        author_alias=access.alias,
        client_id=client_id,
        body=await tx.svc.keys.seal_text(
            access.group_id, body, message_context(access.room_id, seq)
        ),
        created_at=tx.svc.clock.now(),
        risk_level=assessment.level,
        warning=auto_warning(assessment),
    )
    tx.session.add(msg)
    await tx.session.flush()
    data = message_dict(msg, body)
    tx.on_commit(
        MessagePosted(
            room_id=access.room_id,
            group_id=access.group_id,
            author_id=actor.id,
            client_id=client_id,
            message=data,
        )
    )
    check_in = None
    if assessment.level != "none":
        await safety.raise_risk_flag(tx, access, actor, data, msg.id, assessment)
        check_in = assessment.level
    return Posted(data, duplicate=False, check_in=check_in)


async def _again(svc: Services, group_id: int, first: Message) -> Posted:
    """A retry gets the first answer again, check-in included: a phone that lost the first
    answer to a worrying message must still offer its author support."""
    message = (await readable(svc.keys, group_id, [first]))[0]
    check_in = first.risk_level if first.risk_level in ("elevated", "imminent") else None
    return Posted(message, duplicate=True, check_in=check_in)


def auto_warning(assessment: Assessment) -> list[str] | None:
    """Imminent risk and detailed method talk reach the room behind a warning
    (safe-messaging practice); the author and facilitators see them in full."""
    if assessment.level == "imminent" or assessment.method_detail:
        return ["suicide-self-harm"]
    return None
