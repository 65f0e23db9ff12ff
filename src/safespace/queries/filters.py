"""A person's own filters and blocks, and the Reader that shapes messages for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import Block, Group, User, UserFilters
from safespace.db.raw import RawStatement, read_rows
from safespace.queries.dates import iso
from safespace.reading.categories import CATEGORIES
from safespace.reading.shaping import Reader, muted_pattern

# A person's filters and everyone they blocked, in one statement built once: it runs for
# every page of history and every new connection. One row per block (at least one: the
# user's own), each repeating the filters.
_READER = RawStatement(
    select(UserFilters.categories, UserFilters.muted_words, Block.blocked_user_id)
    .select_from(User)
    .outerjoin(UserFilters, UserFilters.user_id == User.id)
    .outerjoin(Block, Block.user_id == User.id)
    .where(User.id == bindparam("user_id", type_=Integer))
)


async def reader_for(session: AsyncSession, user_id: int, facilitator: bool = False) -> Reader:
    rows = await read_rows(session, _READER, {"user_id": user_id})
    categories, muted_words = (rows[0][0], rows[0][1]) if rows else (None, None)
    return Reader(
        user_id=user_id,
        facilitator=facilitator,
        modes=dict(categories) if categories else {},
        muted=muted_pattern(list(muted_words)) if muted_words is not None else None,
        blocked=frozenset(r[2] for r in rows if r[2] is not None),
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
