"""Engines and sessions: SQLite (WAL, one writer) by default, PostgreSQL at scale."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import orjson
from sqlalchemy import event, exc, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from safespace.db import inline_sqlite
from safespace.db.raw import broken_connection
from safespace.settings import Settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def _session(
    maker: async_sessionmaker[AsyncSession], autocommit: bool = False
) -> AsyncIterator[AsyncSession]:
    """A session, closed on the way out. SQLAlchemy's own `async with` closes it in a task
    of its own, shielded from cancellation, which costs every session a wait for its turn
    on the loop: on a busy server, behind every socket ready to be read or written (about
    1 ms a batch of posts, docs/performance.md, change 32). Only a session with a
    transaction still open has a round trip (the rollback) to protect that way; one that
    committed, never began, or ran on an autocommit connection (PostgreSQL's readers:
    there is nothing to roll back) closes without waiting on anything. After an error the
    connection may be broken and closing it a round trip: that close is shielded too."""
    session = maker()
    try:
        yield session
    except BaseException:
        await session.__aexit__(None, None, None)  # SQLAlchemy's shielded close
        raise
    if session.in_transaction() and not autocommit:
        await session.__aexit__(None, None, None)
    else:
        await session.close()


# A pooled PostgreSQL connection unused for this long is checked (a round trip) before it
# is handed out; one used more recently is trusted (see _ping_when_idle).
PING_AFTER = 2.0


def _postgres_engine(url: str, **kw: Any) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        # JSON columns (a message's warning among them) decoded by orjson, not json.loads.
        json_deserializer=orjson.loads,
        **kw,
    )
    _ping_when_idle(engine)

    @event.listens_for(engine.sync_engine, "handle_error")
    def _broken(context: Any) -> None:
        # A connection whose protocol broke is as good as lost: SQLAlchemy then invalidates
        # it (and the pool) as it does a closed one, and app.py answers 503, not 500.
        if context.is_disconnect or context.original_exception is None:
            return
        if broken_connection(context.original_exception, engine.dialect, None):
            context.is_disconnect = True

    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's pool_pre_ping, for connections that sat idle PING_AFTER seconds.

    pool_pre_ping checks every connection on every checkout: a round trip before each read
    session, one a page of history pays twice. What it guards against (a database restart,
    a connection cut by the network or an idle timeout) leaves connections dead while they
    sit unused, so only those are checked. A connection that dies while in use fails as it
    would with pre_ping. One that died within PING_AFTER of its last use, which pre_ping
    would have caught, now fails the request that meets it: app.py answers it 503 and
    renews both pools (Database.renew_pools)."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        used_at = record.info.get("used_at")
        if used_at is not None and time.monotonic() - used_at < PING_AFTER:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as err:  # the pool replaces it and tries again
            raise exc.DisconnectionError("a pooled connection was closed") from err


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # Deleted rows (an erased account, expired messages) are zeroed in the file, not left
    # in free pages; some SQLite builds default to this, others don't.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _sqlite_begin(kind: str) -> Callable[[Any], None]:
    # pysqlite opens transactions lazily and never as IMMEDIATE; take control of BEGIN so a
    # writer holds the write lock from its first statement and never fails half-way.
    statement = f"BEGIN {kind}"

    def on_begin(conn: Any) -> None:
        inline = _inline_sqlite3(conn)
        if inline is not None:  # a plain call: SQLAlchemy's execution costs ten times more
            inline.execute(statement)
        else:
            conn.exec_driver_sql(statement)

    return on_begin


def _inline_sqlite3(conn: Any) -> sqlite3.Connection | None:
    driver = conn.connection.driver_connection
    return driver._open() if isinstance(driver, inline_sqlite.InlineConnection) else None


LOCK_WAIT = 10.0  # seconds a writer waits for another process's write to finish


def _begin_without_blocking(conn: Any) -> None:
    """BEGIN IMMEDIATE for a writer on the loop's thread: its busy timeout is 0, so while
    another process (the CLI, a migration) holds the write lock it is retried after an
    asyncio sleep, never by blocking the loop. Once it holds the lock nothing else can make
    it wait in WAL mode: commits append to the log and checkpoints are done elsewhere."""
    deadline = time.monotonic() + LOCK_WAIT
    delay = 0.002
    inline = _inline_sqlite3(conn)
    assert inline is not None, "only for an inline connection"
    while True:
        try:
            inline.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await_(asyncio.sleep(delay))
        delay = min(delay * 2, 0.05)


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    dbapi_conn.isolation_level = None


def _sqlite_connect_inline_writer(dbapi_conn: Any, record: Any) -> None:
    _sqlite_connect(dbapi_conn, record)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=0")  # waits happen in _begin_without_blocking
    cur.execute("PRAGMA wal_autocheckpoint=0")  # Database.checkpoint_soon, on a thread
    cur.close()


class Database:
    """Hands out read sessions and write sessions.

    On SQLite there is one writer at a time: writes run under an asyncio lock in this
    process and BEGIN IMMEDIATE across processes, so a write never deadlocks or is
    rejected half-way. Reads never wait for writes (WAL).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.write_engine = self._sqlite_engine("IMMEDIATE", pool_size=1)
            # Readers may overflow the pool rather than queue for a connection: a reader
            # waiting on the pool while the writer waits on a read would stall both. They
            # run on the event loop's thread (db/inline_sqlite.py says why).
            self.read_engine = self._sqlite_engine(
                "DEFERRED", pool_size=8, max_overflow=24, inline=True
            )
        else:
            self.write_engine = _postgres_engine(self.url)
            # Reads run in autocommit: each statement sees the latest commits, exactly as
            # in a READ COMMITTED transaction, without a BEGIN and a ROLLBACK round trip
            # around every read session (a page of history is two sessions).
            self.read_engine = _postgres_engine(self.url, isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        # Short, hot write transactions (the posting line's batches) on SQLite run on the
        # loop's thread too: a batch is a dozen calls, and aiosqlite's wake-ups were a
        # third of posting's cost. Everything else (big deletes, erasure, jobs) stays on
        # the aiosqlite writer. Both take the same lock, so they never contend in SQLite.
        self.inline_write_engine = self.write_engine
        self._checkpointing: asyncio.Task[tuple[int, int, int]] | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._last_checkpoint = 0.0
        if self.is_sqlite:
            self.inline_write_engine = self._sqlite_engine("IMMEDIATE", pool_size=1, inline=True)
        self._inline_writer = async_sessionmaker(self.inline_write_engine, expire_on_commit=False)

    def _sqlite_engine(
        self, begin: str, pool_size: int, max_overflow: int = 0, inline: bool = False
    ) -> AsyncEngine:
        extra: dict[str, Any] = {}
        if inline:
            path = make_url(self.url).database
            assert path, "SQLite needs a file"
            extra["async_creator"] = inline_sqlite.creator(path)
        engine = create_async_engine(
            self.url, pool_size=pool_size, max_overflow=max_overflow, **extra
        )
        writer_inline = inline and begin == "IMMEDIATE"
        event.listen(
            engine.sync_engine,
            "connect",
            _sqlite_connect_inline_writer if writer_inline else _sqlite_connect,
        )
        event.listen(
            engine.sync_engine,
            "begin",
            _begin_without_blocking if writer_inline else _sqlite_begin(begin),
        )
        return engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with _session(self._reader, autocommit=not self.is_sqlite) as session:
            yield session

    @asynccontextmanager
    async def write(self, inline: bool = False) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction; the caller commits. `inline`: a short
        transaction that runs on the loop's thread on SQLite (waiting for another
        process's lock without blocking the loop); its caller then calls
        checkpoint_soon()."""
        maker = self._inline_writer if inline else self._writer
        if self._write_lock is None:
            async with _session(maker) as session:
                yield session
            return
        async with self._write_lock, _session(maker) as session:
            yield session

    def checkpoint_soon(self) -> None:
        """The inline writer doesn't checkpoint the write-ahead log itself (that would
        copy pages and sync the file on the loop's thread): at most every 2 s, a PASSIVE
        checkpoint runs on aiosqlite's thread, beside readers and writers."""
        if not self.is_sqlite or self._checkpointing is not None:
            return
        if time.monotonic() - self._last_checkpoint < 2.0:
            return
        self._checkpointing = asyncio.create_task(self.checkpoint())

    async def checkpoint(self) -> tuple[int, int, int]:
        """PASSIVE: copies what it can without waiting for anyone. Returns SQLite's
        (busy, frames in the log, frames checkpointed)."""
        try:
            if self._checkpointer is None:
                path = make_url(self.url).database
                assert path
                # Its own connection, outside any transaction (a checkpoint can't run in one).
                self._checkpointer = await aiosqlite.connect(path, isolation_level=None)
            async with self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                row = await cur.fetchone()
            assert row is not None
            busy, frames, done = (int(v) for v in row)
            return (busy, frames, done)
        except Exception:
            log.warning(
                "a write-ahead log checkpoint failed; it is tried again later", exc_info=True
            )
            return (1, -1, -1)
        finally:
            self._last_checkpoint = time.monotonic()
            self._checkpointing = None

    async def renew_pools(self) -> None:
        """After a connection turned out dead (the database restarted): let go of every
        pooled PostgreSQL connection, so the next sessions connect afresh. Connections in
        use finish on their own."""
        if not self.is_sqlite:
            await self.read_engine.dispose()
            await self.write_engine.dispose()

    async def dispose(self) -> None:
        if self._checkpointing is not None:
            await self._checkpointing
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        await self.write_engine.dispose()
        if self.inline_write_engine is not self.write_engine:
            await self.inline_write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
