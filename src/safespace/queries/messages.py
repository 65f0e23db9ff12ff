"""Reading a room's messages, for members only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.base import MAX_INT
from safespace.db.models import Message
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
    return data


async def readable(keys: KeyStore, group_id: int, rows: list[Message]) -> list[dict[str, Any]]:
    """Decrypt rows for someone whose access to the group was already checked."""
    out = []
    for m in rows:
        body = ""
        if m.body is not None:
            body = await keys.open_text(group_id, m.body, message_context(m.room_id, m.seq))
        out.append(message_dict(m, body))
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
    return await readable(keys, access.group_id, rows)


async def between(session: AsyncSession, room_id: int, after: int, upto: int) -> list[Message]:
    """Messages after one seq up to another: a live connection filling a gap. The caller
    has already checked the recipient's access to the room."""
    q = (
        select(Message)
        .where(Message.room_id == room_id, Message.seq > after, Message.seq <= upto)
        .order_by(Message.seq.asc())
    )
    return list((await session.scalars(q)).all())
