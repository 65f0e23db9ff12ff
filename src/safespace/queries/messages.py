"""Reading a room's messages, for members only, each shaped for its reader."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.base import MAX_INT
from safespace.db.models import ConsentAnswer, Message
from safespace.db.raw import RawStatement, read_rows
from safespace.errors import AppError, not_found
from safespace.privacy.keys import open_sealed
from safespace.privacy.keystore import KeyStore, message_context, note_context
from safespace.queries.dates import iso
from safespace.queries.filters import reader_for
from safespace.queries.rooms import RoomAccess
from safespace.reading.shaping import Reader, apply, present, shape_of

MAX_PAGE = 200
# Pages of history are read as plain rows, not ORM objects: for 50 messages the ORM's
# bookkeeping (loading, then instrumented attribute reads) cost more than decrypting them.
# Rows have the same attribute names, so everything below reads either.
_COLUMNS = tuple(Message.__table__.c)
# And each row is copied into a named tuple: a SQLAlchemy Row's attribute reads cost about
# 0.3 us each, a named tuple's a tenth of that, and a page reads 18 per message.
MessageRow = namedtuple("MessageRow", [c.key for c in _COLUMNS])  # type: ignore[misc]
# Built once with parameters, and run straight on the driver (db/raw.py): building the
# statement, and SQLAlchemy's execute path, cost more than the database running it.
_ROOM = Message.room_id == bindparam("room_id", type_=Integer)
_LIMIT = bindparam("limit", type_=Integer)
_SEQ = bindparam("seq", type_=Integer)
_LATEST = RawStatement(select(*_COLUMNS).where(_ROOM).order_by(Message.seq.desc()).limit(_LIMIT))
_BEFORE = RawStatement(
    select(*_COLUMNS).where(_ROOM, Message.seq < _SEQ).order_by(Message.seq.desc()).limit(_LIMIT)
)
_AFTER = RawStatement(
    select(*_COLUMNS).where(_ROOM, Message.seq > _SEQ).order_by(Message.seq.asc()).limit(_LIMIT)
)


def message_dict(
    m: Any, body: str, note: str | None = None, consent: dict[str, Any] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": m.id,
        "room_id": m.room_id,
        "seq": m.seq,
        "author": author_of(m),
        "body": body,
        "created_at": iso(m.created_at),
    }
    if m.kind != "text":
        data["kind"] = m.kind
    if m.deleted_at is not None:
        data["deleted"] = True
    if m.hidden_at is not None:
        data["removed"] = {"rule": m.hidden_rule}
    if m.kind == "text" and (m.warning or note):
        warning: dict[str, Any] = {"categories": list(m.warning or [])}
        if note:
            warning["note"] = note
        data["content_warning"] = warning
    if m.kind == "consent":
        data["consent"] = consent or consent_summary([])
    return data


def author_of(m: Any) -> dict[str, Any]:
    """Who wrote it, as readers see them: an alias, and whether they ran the group or were
    someone's guest when they wrote it."""
    author: dict[str, Any] = {"alias": m.author_alias}
    if m.author_role in ("facilitator", "guest"):
        author["role"] = m.author_role
    if m.author_role == "guest" and m.author_host:
        author["guest_of"] = m.author_host
    return author


def consent_summary(answers: list[ConsentAnswer]) -> dict[str, Any]:
    """Counts, and the room's answer when a facilitator gave one. Never who said what."""
    ok = sum(a.answer == "ok" and not a.by_facilitator for a in answers)
    not_now = sum(a.answer == "not_now" and not a.by_facilitator for a in answers)
    room = [a for a in answers if a.by_facilitator]
    room_answer = max(room, key=lambda a: a.created_at).answer if room else None
    granted = room_answer == "ok" or (room_answer is None and ok > 0 and not_now == 0)
    return {"ok": ok, "not_now": not_now, "room_answer": room_answer, "granted": granted}


async def _consents(session: AsyncSession | None, rows: Sequence[Any]) -> dict[int, dict[str, Any]]:
    ids = [m.id for m in rows if m.kind == "consent"]
    if not ids or session is None:
        return {}
    answers = (
        await session.scalars(select(ConsentAnswer).where(ConsentAnswer.message_id.in_(ids)))
    ).all()
    by_message: dict[int, list[ConsentAnswer]] = {i: [] for i in ids}
    for a in answers:
        by_message[a.message_id].append(a)
    out = {}
    for m in rows:
        if m.kind == "consent":
            summary = consent_summary(by_message[m.id])
            if m.warning:
                summary["category"] = m.warning[0]
            out[m.id] = summary
    return out


async def readable(
    keys: KeyStore,
    group_id: int,
    rows: Sequence[Any],  # Message objects, or rows of its columns
    reader: Reader | None = None,
    session: AsyncSession | None = None,
) -> list[dict[str, Any]]:
    """Decrypt rows for someone whose access to the group was already checked, shaped for
    that reader (None: in full). With a session, consent requests carry their answers."""
    consents = await _consents(session, rows)
    out = []
    aead = None  # the group's key, fetched once for the page (not an await per message)
    for m in rows:
        body = ""
        note = None
        if m.body is not None:
            if aead is None:
                aead = await keys.key_for(group_id)
            body = open_sealed(aead, m.body, message_context(m.room_id, m.seq)).decode()
            if m.warning_note is not None:
                note = open_sealed(aead, m.warning_note, note_context(m.room_id, m.seq)).decode()
        data = message_dict(m, body, note, consents.get(m.id))
        out.append(present(data, m.author_id, reader))
    return out


async def history(
    session: AsyncSession,
    keys: KeyStore,
    access: RoomAccess,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
    reader: Reader | None = None,
) -> list[dict[str, Any]]:
    """Messages ascending by seq: after a seq (catching up), before one (scrolling back),
    or the latest page, shaped for the reader (read here if not given)."""
    limit = max(1, min(limit, MAX_PAGE))
    # No seq is larger than an Integer column holds; clamp so the query never overflows it.
    after = None if after is None else min(after, MAX_INT)
    before = None if before is None else min(before, MAX_INT)
    params: dict[str, Any] = {"room_id": access.room_id, "limit": limit}
    if after is not None:
        params["seq"] = after
        rows = [MessageRow._make(r) for r in await read_rows(session, _AFTER, params)]
    else:
        if before is not None:
            q, params["seq"] = _BEFORE, before
        else:
            q = _LATEST
        rows = [MessageRow._make(r) for r in await read_rows(session, q, params)]
        rows.reverse()
    if reader is None:
        reader = await reader_for(session, access.user_id, access.is_facilitator)
    return await readable(keys, access.group_id, rows, reader, session)


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
    full = (await readable(keys, access.group_id, [m], session=session))[0]
    # "Show" opens what a reader's own filters folded away, never what a facilitator removed.
    reader = Reader(access.user_id, access.is_facilitator)
    if shape_of(full, m.author_id, reader) == "removed":
        return apply(full, "removed")
    return full


async def one_message_or_none(
    session: AsyncSession, keys: KeyStore, access: RoomAccess, seq: int
) -> dict[str, Any] | None:
    try:
        return await one_message(session, keys, access, seq)
    except AppError:
        return None
