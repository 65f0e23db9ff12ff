"""Asking the room before a sensitive topic: "May I talk about...?", and the answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.actions import safety
from safespace.actions.base import transaction
from safespace.db.models import ConsentAnswer, Message, User
from safespace.errors import AppError, invalid, not_found
from safespace.events.types import ConsentUpdated, MessagePosted
from safespace.privacy.keystore import message_context
from safespace.queries.messages import consent_summary, message_dict
from safespace.queries.rooms import access_room_as_member
from safespace.reading.categories import CATEGORIES
from safespace.safety.assess import assess
from safespace.services import Services

MAX_TOPIC = 80
ANSWERS = ("ok", "not_now")
VALID_FOR = timedelta(hours=2)  # an OK covers what the asker posts in the next two hours


async def granted_recently(
    session: AsyncSession, room_id: int, author_id: int, category: str, svc: Services
) -> bool:
    """Whether this person asked this room about this topic lately and the room said OK."""
    since = svc.clock.now() - VALID_FOR
    asks = (
        await session.scalars(
            select(Message).where(
                Message.room_id == room_id,
                Message.author_id == author_id,
                Message.kind == "consent",
                Message.created_at >= since,
            )
        )
    ).all()
    for ask in asks:
        if not ask.warning or ask.warning[0] != category:
            continue
        answers = (
            await session.scalars(select(ConsentAnswer).where(ConsentAnswer.message_id == ask.id))
        ).all()
        if consent_summary(list(answers))["granted"]:
            return True
    return False


async def ask(
    svc: Services,
    actor: User,
    room_id: object,
    client_id: object,
    topic: object,
    category: object = None,
) -> dict[str, Any]:
    """Post a consent request into the room's timeline (it has a seq like any message)."""
    from safespace.actions.messages import _again, _existing, check_client_id, may_post, next_seq

    await svc.limits.hit("messages", str(actor.id))
    client_id = check_client_id(client_id)
    if not isinstance(topic, str) or not " ".join(topic.split()) or "\x00" in topic:
        raise invalid("Say in a few words what you'd like to talk about.", field="topic")
    topic = " ".join(topic.split())
    if len(topic) > MAX_TOPIC:
        raise invalid(f"Keep the topic to {MAX_TOPIC} characters or fewer.", field="topic")
    if category is not None and category not in CATEGORIES:
        raise invalid("That isn't one of the content-warning categories.", field="category")
    assessment = assess(topic)
    async with transaction(svc) as tx:
        access = await access_room_as_member(tx.session, actor, room_id)
        first = await _existing(tx.session, access.room_id, actor.id, client_id)
        if first is not None:
            return (await _again(svc, access.group_id, first)).message
        await may_post(tx, access, actor)
        seq = await next_seq(tx, access.room_id)
        msg = Message(
            room_id=access.room_id,
            seq=seq,
            author_id=actor.id,
            author_alias=access.alias,
            author_role=access.author_role,
            author_host=access.host_alias,
            client_id=client_id,
            kind="consent",
            body=await svc.keys.seal_text(
                access.group_id, topic, message_context(access.room_id, seq)
            ),
            created_at=svc.clock.now(),
            risk_level=assessment.level,
            warning=[category] if isinstance(category, str) else None,  # the topic's category
        )
        tx.session.add(msg)
        await tx.session.flush()
        summary = consent_summary([])
        if msg.warning:
            summary["category"] = msg.warning[0]
        data = message_dict(msg, topic, consent=summary)
        tx.on_commit(
            MessagePosted(
                room_id=access.room_id,
                group_id=access.group_id,
                author_id=actor.id,
                client_id=client_id,
                message=data,
            )
        )
        if assessment.level != "none":
            await safety.raise_risk_flag(tx, access, actor, data, msg.id, assessment)
        return data


async def answer(
    svc: Services, actor: User, room_id: object, seq: object, reply: object
) -> dict[str, Any]:
    """A member's answer, or (from a facilitator) the room's answer. Replaces an earlier one."""
    await svc.limits.hit("messages", str(actor.id))  # each answer reaches the whole room
    if reply not in ANSWERS:
        raise invalid('Answer "ok" or "not_now".', field="answer")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**31:
        raise not_found("That request")
    async with transaction(svc) as tx:
        access = await access_room_as_member(tx.session, actor, room_id)
        ask_row = await tx.session.scalar(
            select(Message).where(
                Message.room_id == access.room_id,
                Message.seq == seq,
                Message.kind == "consent",
                Message.deleted_at.is_(None),
            )
        )
        if ask_row is None:
            raise not_found("That request")
        if ask_row.author_id == actor.id:
            raise AppError("forbidden", "You can't answer your own request.", 403)
        row = await tx.session.get(ConsentAnswer, (ask_row.id, actor.id))
        if row is None:
            row = ConsentAnswer(message_id=ask_row.id, user_id=actor.id)
            tx.session.add(row)
        row.answer = str(reply)
        row.by_facilitator = access.is_facilitator
        row.created_at = svc.clock.now()
        await tx.session.flush()
        answers = (
            await tx.session.scalars(
                select(ConsentAnswer).where(ConsentAnswer.message_id == ask_row.id)
            )
        ).all()
        summary = consent_summary(list(answers))
        if ask_row.warning:
            summary["category"] = ask_row.warning[0]
        tx.on_commit(ConsentUpdated(room_id=access.room_id, seq=seq, consent=summary))
        return summary
