"""A person's own filters and blocks, and the Reader that shapes messages for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from safespace.db.models import Block, Group, User, UserFilters
from safespace.db.raw import RawStatement, read_rows
from safespace.queries.dates import iso
from safespace.reading.categories import CATEGORIES
from safespace.reading.shaping import Reader, muted_pattern

# A person's filters and the ids of everyone they blocked: one row per block (at least
# one), each repeating the filters.
READER_COLUMNS = (UserFilters.categories, UserFilters.muted_words, Block.blocked_user_id)


def with_reader(
    query: Select[Any], user_id: ColumnElement[int] | InstrumentedAttribute[int]
) -> Select[Any]:
    """A query with a reader's filters and blocks outer-joined to it, so one round trip
    reads both (queries/rooms.py, access_room_for_reading): each of its rows is repeated
    once per block, and ends with READER_COLUMNS."""
    return (
        query.add_columns(*READER_COLUMNS)
        .outerjoin(UserFilters, UserFilters.user_id == user_id)
        .outerjoin(Block, Block.user_id == user_id)
    )


# Built once: it runs for every new connection.
_READER = RawStatement(
    with_reader(select().select_from(User), User.id).where(
        User.id == bindparam("user_id", type_=Integer)
    )
)


async def reader_for(session: AsyncSession, user_id: int, facilitator: bool = False) -> Reader:
    rows = await read_rows(session, _READER, {"user_id": user_id})
    return reader_from(rows, user_id, facilitator)


def reader_from(rows: Sequence[Sequence[Any]], user_id: int, facilitator: bool) -> Reader:
    """The Reader from rows ending with READER_COLUMNS (one per block, at least one)."""
    categories, muted_words = (rows[0][-3], rows[0][-2]) if rows else (None, None)
    return Reader(
        user_id=user_id,
        facilitator=facilitator,
        modes=dict(categories) if categories else {},
        muted=muted_pattern(list(muted_words)) if muted_words is not None else None,
        blocked=frozenset(r[-1] for r in rows if r[-1] is not None),
    )


async def filters_dict(session: AsyncSession, user_id: int) -> dict[str, Any]:
    prefs = await session.get(UserFilters, user_id)
    modes = dict(prefs.categories) if prefs else {}
    rows = (
        await session.execute(
            select(Block, Group.slug, Group.name)
            .outerjoin(Group, Group.id == Block.group_id)
            .where(Block.user_id == user_id)
            .order_by(Block.created_at.desc())
        )
    ).all()
    return {
        "categories": {c: modes.get(c, "collapse") for c in CATEGORIES},
        "muted_words": list(prefs.muted_words) if prefs else [],
        "blocked": [
            {
                "id": b.id,
                "alias": b.alias,
                "group": {"slug": slug, "name": name} if slug else None,
                "since": iso(b.created_at),
            }
            for b, slug, name in rows
        ],
    }
