"""Reading a room's messages, for members only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.base import MAX_INT
from safespace.db.models import Message
from safespace.errors import AppError, not_found
from safespace.privacy.keystore import KeyStore, message_context
from safespace.queries.rooms import RoomAccess

MAX_PAGE = 200


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_dict(m: Message, body: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": m.id,
        "room_id": m.room_id,
        "seq": m.seq,
        "author": {"alias": m.author_alias},
        "body": body,
        "created_at": iso(m.created_at),
    }
    if m.deleted_at is not None:
        data["deleted"] = True
    if m.warning:
        data["content_warning"] = {"categories": list(m.warning)}
    return data


@dataclass(frozen=True)
class Viewer:
    """Who a message is shaped for: warned messages reach others collapsed."""

    user_id: int
    facilitator: bool


def shape(message: dict[str, Any], viewer: Viewer | None, author_id: int | None) -> dict[str, Any]:
    """The message as this viewer first meets it. A warned message's body is left out for
    everyone but its author and the group's facilitators, so it can't show up anywhere
    (preview, screen reader, page source) until they choose to reveal it."""
    if viewer is None or "content_warning" not in message:
        return message
    if viewer.facilitator or viewer.user_id == author_id:
        return message
    return {**message, "body": "", "collapsed": True}


async def readable(
    keys: KeyStore, group_id: int, rows: list[Message], viewer: Viewer | None = None
) -> list[dict[str, Any]]:
    """Decrypt rows for someone whose access to the group was already checked."""
    out = []
    for m in rows:
        body = ""
        if m.body is not None:
            body = await keys.open_text(group_id, m.body, message_context(m.room_id, m.seq))
        out.append(shape(message_dict(m, body), viewer, m.author_id))
    return out


async def history(
    session: AsyncSession,
    keys: KeyStore,
    access: RoomAccess,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Messages ascending by seq: after a seq (catching up), before one (scrolling back),
    or the latest page."""
    limit = max(1, min(limit, MAX_PAGE))
    # No seq is larger than an Integer column holds; clamp so the query never overflows it.
    after = None if after is None else min(after, MAX_INT)
    before = None if before is None else min(before, MAX_INT)
    q = select(Message).where(Message.room_id == access.room_id)
    if after is not None:
        q = q.where(Message.seq > after).order_by(Message.seq.asc()).limit(limit)
        rows = list((await session.scalars(q)).all())
    else:
        if before is not None:
            q = q.where(Message.seq < before)
        q = q.order_by(Message.seq.desc()).limit(limit)
        rows = list((await session.scalars(q)).all())
        rows.reverse()
    viewer = Viewer(access.user_id, access.is_facilitator)
    return await readable(keys, access.group_id, rows, viewer)


async def between(session: AsyncSession, room_id: int, after: int, upto: int) -> list[Message]:
    """Messages after one seq up to another: a live connection filling a gap. The caller
    has already checked the recipient's access to the room."""
    q = (
        select(Message)
        .where(Message.room_id == room_id, Message.seq > after, Message.seq <= upto)
        .order_by(Message.seq.asc())
    )
    return list((await session.scalars(q)).all())


async def one_message(
    session: AsyncSession, keys: KeyStore, access: RoomAccess, seq: int
) -> dict[str, Any]:
    """A single message in full: what "Show" fetches for a collapsed one."""
    m = await session.scalar(
        select(Message).where(Message.room_id == access.room_id, Message.seq == min(seq, MAX_INT))
    )
    if m is None:
        raise not_found("That message")
    return (await readable(keys, access.group_id, [m]))[0]


async def one_message_or_none(
    session: AsyncSession, keys: KeyStore, access: RoomAccess, seq: int
) -> dict[str, Any] | None:
    try:
        return await one_message(session, keys, access, seq)
    except AppError:
        return None
