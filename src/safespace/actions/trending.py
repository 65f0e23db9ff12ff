"""Trending: recent activity per group, decayed over time. Only the score is kept."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select, update

from safespace.actions.base import transaction
from safespace.db.models import Group, Message, Room
from safespace.services import Services

WINDOW_DAYS = 14
HALF_LIFE_DAYS = 2.0
PERSON_WEIGHT = 5.0  # five different people talking counts for more than one person talking a lot


async def refresh_trending(svc: Services) -> None:
    now = svc.clock.now()
    since = now - timedelta(days=WINDOW_DAYS)
    day = func.date(Message.created_at)
    q = (
        select(Room.group_id, day, func.count(), func.count(func.distinct(Message.author_id)))
        .join(Room, Room.id == Message.room_id)
        .where(Message.created_at >= since)
        .group_by(Room.group_id, day)
    )
    scores: dict[int, float] = defaultdict(float)
    async with svc.db.read() as session:
        for group_id, d, messages, people in await session.execute(q):
            when = d if isinstance(d, date) else date.fromisoformat(str(d))
            age = max(0, (now.date() - when).days)
            scores[group_id] += (messages + PERSON_WEIGHT * people) * 0.5 ** (age / HALF_LIFE_DAYS)
        group_ids = list((await session.scalars(select(Group.id))).all())
    async with transaction(svc) as tx:
        for gid in group_ids:
            await tx.session.execute(
                update(Group).where(Group.id == gid).values(trending_score=scores.get(gid, 0.0))
            )
