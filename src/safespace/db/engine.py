"""Engines and sessions: SQLite (WAL, one writer) by default, PostgreSQL at scale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from safespace.db import inline_sqlite
from safespace.settings import Settings


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
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {kind}")

    return on_begin


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    dbapi_conn.isolation_level = None


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
            self.write_engine = create_async_engine(
                self.url, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
            self.read_engine = self.write_engine
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

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
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin(begin))
        return engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session for one write transaction; the caller commits."""
        if self._write_lock is None:
            async with self._writer() as session:
                yield session
            return
        async with self._write_lock, self._writer() as session:
            yield session

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
