"""The database layer's promises, on SQLite (reads on the event loop's thread, see
src/safespace/db/inline_sqlite.py) and on PostgreSQL: a read never waits for a write in
progress and never sees it before it commits, and a failed read leaves the pool usable.
On SQLite one read session also sees one consistent state (its BEGIN DEFERRED holds a
snapshot); PostgreSQL reads at READ COMMITTED, each statement seeing the latest commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from safespace.db.engine import Database
from safespace.settings import Settings


@pytest.fixture
async def db(settings: Settings, make_server) -> AsyncIterator[Database]:
    server = await make_server()  # migrated, with its own database (PostgreSQL: shared)
    assert server.app is not None
    database: Database = server.app.state.svc.db
    yield database
    async with database.write() as session:  # leave no table behind in a shared database
        await session.execute(text("DROP TABLE IF EXISTS probe"))
        await session.commit()


async def _make_table(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("DROP TABLE IF EXISTS probe"))
        await session.execute(text("CREATE TABLE probe (n INTEGER)"))
        await session.execute(text("INSERT INTO probe (n) VALUES (1)"))
        await session.commit()


async def _count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(text("SELECT count(*) FROM probe"))).scalar_one())


async def test_a_read_does_not_wait_for_a_write_in_progress_nor_see_it(db: Database) -> None:
    await _make_table(db)
    writing = asyncio.Event()
    release = asyncio.Event()

    async def slow_write() -> None:
        async with db.write() as session:
            await session.execute(text("INSERT INTO probe (n) VALUES (2)"))
            writing.set()
            await release.wait()  # holds the write lock, uncommitted
            await session.commit()

    writer = asyncio.create_task(slow_write())
    await writing.wait()
    # While the write is open: the read answers at once, with the committed state.
    assert await asyncio.wait_for(_count(db), 2) == 1
    release.set()
    await writer
    assert await _count(db) == 2


async def test_what_one_read_session_sees_of_a_commit_made_during_it(db: Database) -> None:
    await _make_table(db)
    async with db.read() as session:
        first = (await session.execute(text("SELECT count(*) FROM probe"))).scalar_one()
        async with db.write() as w:  # commits between the two reads
            await w.execute(text("INSERT INTO probe (n) VALUES (3)"))
            await w.commit()
        second = (await session.execute(text("SELECT count(*) FROM probe"))).scalar_one()
    if db.is_sqlite:
        assert (first, second) == (1, 1)  # a snapshot, as with aiosqlite before
    else:
        assert (first, second) == (1, 2)  # READ COMMITTED
    assert await _count(db) == 2  # a new session sees the commit


async def test_a_failed_read_leaves_the_pool_usable(db: Database) -> None:
    await _make_table(db)
    with pytest.raises(DBAPIError):
        async with db.read() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    # every pooled connection still answers afterwards
    counts = await asyncio.gather(*(_count(db) for _ in range(12)))
    assert counts == [1] * 12
