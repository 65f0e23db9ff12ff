"""The database layer's promises, on SQLite (reads on the event loop's thread, see
src/safespace/db/inline_sqlite.py) and on PostgreSQL: a read never waits for a write in
progress and never sees it before it commits, and a failed read leaves the pool usable.
On SQLite one read session also sees one consistent state (its BEGIN DEFERRED holds a
snapshot); PostgreSQL reads at READ COMMITTED, each statement seeing the latest commits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from helpers import create_group, db_scalar, history, make_client, post, privileged
from safespace.actions import accounts
from safespace.actions import groups as groups_actions
from safespace.actions.messages import post_message
from safespace.actions.posting import _INSERT_ONE_RAW
from safespace.db.engine import Database
from safespace.db.models import AuthSession, Message, User
from safespace.db.raw import sqlite_of
from safespace.queries.accounts import principal_for_token
from safespace.queries.rooms import _POSTING, _POSTING_RAW
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


async def test_reads_cancelled_or_finished_give_every_connection_back(db: Database) -> None:
    """Read sessions close without SQLAlchemy's shielded task when they end normally
    (db/engine.py, _session); one ended by an error or a cancellation (a client gone
    mid-request) still closes in full."""
    await _make_table(db)
    inside = asyncio.Semaphore(0)

    async def stuck() -> None:
        async with db.read() as session:
            await session.execute(text("SELECT count(*) FROM probe"))
            inside.release()
            await asyncio.Event().wait()  # until cancelled

    tasks = [asyncio.create_task(stuck()) for _ in range(8)]
    for _ in tasks:
        await inside.acquire()
    pool: Any = db.read_engine.pool
    assert pool.checkedout() >= 8  # the server's own jobs may hold one for a moment too
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert await asyncio.gather(*(_count(db) for _ in range(12))) == [1] * 12
    # Back to none in use (once any read of the server's own jobs is done): a leaked
    # connection would stay checked out for good.
    for _ in range(100):
        if pool.checkedout() == 0:
            break
        await asyncio.sleep(0.02)
    assert pool.checkedout() == 0


@pytest.mark.sqlite_only
async def test_a_post_waits_for_another_process_s_write_without_blocking_the_loop(
    make_server,
) -> None:
    """The posting line writes on the loop's thread (db/engine.py): while another process
    (the CLI, say) holds SQLite's write lock, a post waits for it by sleeping, and the
    server goes on answering everyone else."""
    server = await make_server()
    async with make_client(server.url) as client:
        fac = await privileged(server)
        group = await create_group(client, fac)
        await post(client, fac, group["room_id"], "before")
        path = server.settings.data_dir / "safespace.db"
        locked, release = threading.Event(), threading.Event()

        def other_process() -> None:
            conn = sqlite3.connect(path, timeout=10)
            conn.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(10)
            conn.commit()
            conn.close()

        holder = threading.Thread(target=other_process)
        holder.start()
        await asyncio.to_thread(locked.wait, 10)
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        try:
            sending = asyncio.create_task(post(client, fac, group["room_id"], "while locked"))
            await asyncio.sleep(0.4)
            assert not sending.done(), "the post can't have been written: the lock is held"
            # meanwhile the server answers others (reads don't need the write lock)
            r = await client.get(f"/api/v1/rooms/{group['room_id']}/messages", headers=fac.headers)
            assert [m["body"] for m in r.json()["messages"]] == ["before"]
            release.set()
            message = await asyncio.wait_for(sending, 10)
        finally:
            release.set()
            ticker.cancel()
            await asyncio.to_thread(holder.join, 10)
        assert message["body"] == "while locked"
        assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f} s"


@pytest.mark.sqlite_only
async def test_the_write_ahead_log_is_checkpointed(make_server) -> None:
    server = await make_server()
    async with make_client(server.url) as client:
        fac = await privileged(server)
        group = await create_group(client, fac)
        for i in range(5):
            await post(client, fac, group["room_id"], f"message {i}")
    assert server.app is not None
    db: Database = server.app.state.svc.db
    busy, frames, done = await db.checkpoint()
    assert busy == 0 and frames == done  # everything in the log is in the database file


async def test_the_posting_line_s_plain_sqlite_calls_match_sqlalchemy(make_server) -> None:
    """db/raw.py runs the posting line's statements straight on the inline SQLite
    connection, converting values with SQLAlchemy's own processors: what they read and
    write must be exactly what SQLAlchemy reads and writes. Elsewhere (PostgreSQL, the
    aiosqlite writer) they are not used at all."""
    server = await make_server()
    assert server.app is not None
    svc = server.app.state.svc
    db: Database = svc.db
    fac = (
        await accounts.sign_up(svc, "rawfac", "a long enough passphrase", role="facilitator")
    ).user
    created = await groups_actions.create_group(svc, fac, "Raw check", "Checking raw calls.")
    room_id = created.room.id
    now = svc.clock.now()
    params = {
        "user_id": fac.id,
        "room_id": room_id,
        "client_id": "raw-1",
        "now": now,
        "since": now - timedelta(days=1),
    }
    async with db.write(inline=True) as session:
        inline = await sqlite_of(session)
        if not db.is_sqlite:
            assert inline is None  # PostgreSQL: through SQLAlchemy as before
            return
        assert inline is not None
        conn = await session.connection()
        assert _typed(_POSTING_RAW.first(inline, params)) == _typed(
            (await conn.execute(_POSTING, params)).first()
        )
        row = {
            "room_id": room_id,
            "seq": 999,
            "author_id": fac.id,
            "author_alias": "rawfac",
            "author_role": "facilitator",
            "author_host": None,
            "client_id": "raw-1",
            "kind": "text",
            "body": b"\x00sealed",
            "created_at": now,
            "risk_level": "elevated",
            "warning": ["self-harm", "medical"],
            "warning_note": None,
        }
        got = _INSERT_ONE_RAW.first(inline, row)
        assert got is not None
        stored = await session.get(Message, got[0])
        assert stored is not None
        assert {k: getattr(stored, k) for k in row} == row  # aware UTC time, JSON list...
        assert stored.created_at.tzinfo is not None
        # a clash is raised as SQLAlchemy raises it (callers catch IntegrityError)
        with pytest.raises(IntegrityError):
            _INSERT_ONE_RAW.first(inline, {**row, "client_id": "raw-2"})  # same seq
        # and the facts query now finds it as this author's retry
        again = _POSTING_RAW.first(inline, params)
        assert again is not None and again[16] == got[0]
        assert _typed(again) == _typed((await conn.execute(_POSTING, params)).first())
        await session.rollback()
    async with db.write() as session:  # the aiosqlite writer: not inline
        assert await sqlite_of(session) is None


async def test_the_signed_in_person_is_read_as_the_orm_would_load_them(make_server) -> None:
    """queries/accounts.py reads a token's session and person as plain rows and makes the
    objects itself (db/raw.py, detached): they must be what a closed ORM session leaves,
    column for column, and safe to add to a later session."""
    server = await make_server()
    assert server.app is not None
    svc = server.app.state.svc
    db: Database = svc.db
    made = await accounts.sign_up(svc, "rowsperson", "a long enough passphrase")
    async with db.read() as session:
        principal = await principal_for_token(session, made.token, svc.clock.now(), svc.settings)
    assert principal is not None and not principal.expired
    async with db.read() as session:
        user = await session.get(User, made.user.id)
        auth = await session.get(AuthSession, principal.session.id)
    assert user is not None and auth is not None
    for mine, orms in ((principal.user, user), (principal.session, auth)):
        columns = [c.key for c in inspect(type(orms)).column_attrs]
        assert _typed([getattr(mine, k) for k in columns]) == _typed(
            [getattr(orms, k) for k in columns]
        )
        state = inspect(mine)
        assert state.detached and state.key == inspect(orms).key
    assert principal.user.created_at.tzinfo is not None
    # Added to a session it is unchanged (nothing to write) until something changes.
    async with db.write() as session:
        session.add(principal.user)
        assert not session.dirty and not session.new
        principal.user.role = "facilitator"
        await session.commit()
    async with db.read() as session:
        stored = await session.get(User, made.user.id)
        assert stored is not None
        assert (stored.role, stored.username) == ("facilitator", "rowsperson")
        unknown = await principal_for_token(session, "not-a-token", svc.clock.now(), svc.settings)
        assert unknown is None


def _typed(row: Any) -> list[tuple[type, Any]]:
    """A row with each value's type: True and 1 are equal in Python, not to a reader."""
    assert row is not None
    return [(type(v), v) for v in row]


# ------------------------------------------------------------- PostgreSQL's idle connections


@pytest.mark.postgres_only
async def test_connections_the_database_cut_while_idle_are_replaced_before_use(
    server, client, room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after a database restart: every pooled connection is closed by the server. Those
    idle for longer than PING_AFTER are checked on checkout and replaced, so nobody sees
    an error; without the check the next reads and writes would fail."""
    from safespace.db import engine as engine_module

    first = await post(client, room.alice, room.id, "before the cut")
    assert [m["body"] for m in await history(client, room.bob, room.id)] == ["before the cut"]

    url = server.settings.resolved_database_url.replace("+asyncpg", "")
    cut = await _cut_every_connection(url)
    assert cut >= 2  # the app's readers and writer
    monkeypatch.setattr(engine_module, "PING_AFTER", 0.0)  # all of them idle long enough

    after = await post(client, room.alice, room.id, "after the cut")
    assert after["seq"] == first["seq"] + 1
    bodies = [m["body"] for m in await history(client, room.bob, room.id)]
    assert bodies == ["before the cut", "after the cut"]

    # Cut again, now with every connection trusted (used within PING_AFTER): a read that
    # meets a dead one is answered 503 with Retry-After, never a 500, and the pool is
    # renewed for the next. A post retries its batch on a fresh connection by itself.
    monkeypatch.setattr(engine_module, "PING_AFTER", 3600.0)
    await _cut_every_connection(url)
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=room.bob.headers)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable"
    assert r.headers["retry-after"] == "1"
    third = await post(client, room.alice, room.id, "after the second cut")
    assert third["seq"] == after["seq"] + 1
    bodies = [m["body"] for m in await history(client, room.bob, room.id)]
    assert bodies == ["before the cut", "after the cut", "after the second cut"]

    # And a third time, a post first (as the socket posts, its sign-in already done):
    # the posting line meets the dead connection itself, renews both pools and writes the
    # batch again, so the author sees no error at all, and neither does the next reader.
    async with server.svc.db.read() as session:
        alice = await session.get(User, room.alice.id)
    assert alice is not None
    await _cut_every_connection(url)
    fourth = (
        await post_message(server.svc, alice, room.id, "cut-3", "after the third cut")
    ).message
    assert fourth["seq"] == third["seq"] + 1
    fifth = await post(client, room.alice, room.id, "and the next")
    assert fifth["seq"] == fourth["seq"] + 1
    bodies = [m["body"] for m in await history(client, room.bob, room.id)]
    assert bodies[-2:] == ["after the third cut", "and the next"]


@pytest.mark.postgres_only
async def test_group_keys_are_read_after_the_database_cut_every_connection(
    server, client, room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group keys have a pool of their own (the keys database, here the same server),
    whose connections a restart leaves as dead as the others. A key this process hasn't
    loaded yet is still read without an error: the first page of history after the cut
    is answered, not refused with a 503."""
    from safespace.db import engine as engine_module

    await post(client, room.alice, room.id, "before the cut")
    group_id = await db_scalar(server, "SELECT group_id FROM rooms WHERE id = :r", r=room.id)
    url = server.settings.resolved_database_url.replace("+asyncpg", "")
    await _cut_every_connection(url)
    monkeypatch.setattr(engine_module, "PING_AFTER", 0.0)  # the app's own pools: checked
    server.svc.keys.forget(group_id)  # the next read must load the key again

    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=room.bob.headers)
    assert r.status_code == 200, r.text
    assert [m["body"] for m in r.json()["messages"]] == ["before the cut"]
    after = await post(client, room.alice, room.id, "after the cut")
    assert after["body"] == "after the cut"


async def _cut_every_connection(url: str) -> int:
    """What a database restart does to the app's connections: each is closed by the
    server. How many were cut."""
    import asyncpg

    admin = await asyncpg.connect(url)
    try:
        cut: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cut
    finally:
        await admin.close()


def test_a_broken_postgres_protocol_counts_as_a_lost_connection() -> None:
    """asyncpg's InternalClientError (its protocol in a state it can't leave, seen when the
    database cut a pooled connection) is treated as a lost connection: replaced, answered
    503, and the posting line writes its batch again. A constraint violation is not."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from safespace.db.raw import broken_connection

    dialect = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1/none").dialect
    dbapi = dialect.loaded_dbapi
    assert broken_connection(dbapi.InternalClientError("cannot switch to state 12"), dialect, None)
    assert broken_connection(dbapi.InterfaceError("connection is closed"), dialect, None)
    assert not broken_connection(dbapi.IntegrityError("duplicate key"), dialect, None)
