"""A person's own filters and blocks, and the Reader that shapes messages for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import Block, Group, UserFilters
from safespace.queries.dates import iso
from safespace.reading.categories import CATEGORIES
from safespace.reading.shaping import Reader, muted_pattern


async def reader_for(session: AsyncSession, user_id: int, facilitator: bool = False) -> Reader:
    prefs = await session.get(UserFilters, user_id)
    blocked = (
        await session.scalars(select(Block.blocked_user_id).where(Block.user_id == user_id))
    ).all()
    return Reader(
        user_id=user_id,
        facilitator=facilitator,
        modes=dict(prefs.categories) if prefs else {},
        muted=muted_pattern(list(prefs.muted_words)) if prefs else None,
        blocked=frozenset(blocked),
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
