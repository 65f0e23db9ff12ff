"""The transaction every action runs in: commit first, then publish what it collected."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from safespace.events.types import Event
from safespace.services import Services


@dataclass
class Tx:
    session: AsyncSession
    svc: Services
    events: list[Event] = field(default_factory=list)

    def on_commit(self, event: Event) -> None:
        self.events.append(event)


@asynccontextmanager
async def transaction(svc: Services, inline: bool = False) -> AsyncIterator[Tx]:
    """`inline`: a short, frequent transaction, run on the loop's thread on SQLite
    (db/engine.py says when that is safe)."""
    async with svc.db.write(inline=inline) as session:
        tx = Tx(session, svc)
        try:
            yield tx
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        # Still inside the write slot: events leave in commit order. A rolled-back
        # transaction never gets here, so its events are dropped.
        for event in tx.events:
            await svc.broker.publish(event.to_wire())
    if inline:
        svc.db.checkpoint_soon()
