"""SQLite reads on the event loop's own thread.

aiosqlite runs each call (make a cursor, execute, fetch, close) on a worker thread and
wakes the event loop when it is done: two thread wake-ups per call, four calls per query.
Measured here, a read session with one trivial SELECT took 1.45 ms and each further query
0.65 ms, nearly all of it waiting for wake-ups, while SQLite itself answers an indexed
read in tens of microseconds. A page of history is several queries, so the waiting was
most of its time.

This module offers the small part of aiosqlite's API that SQLAlchemy's aiosqlite dialect
uses (via `create_async_engine(..., async_creator=...)`), backed by a plain sqlite3
connection whose calls run at once on the calling thread. The read engine uses it: in
WAL mode a reader never waits for a writer, so a read can't stall the loop behind a lock.
So does the writer for short transactions (the posting line, presence): its BEGIN
IMMEDIATE waits for another process by sleeping, not blocking (db/engine.py). Every
other write stays on aiosqlite's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any


class _Cursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: SQLAlchemy sets isolation_level by
    putting (future, function) on it."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """aiosqlite.Connection's shape over a sqlite3 connection used on the calling thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._tx = _RunNow()

    @property
    def _connection(self) -> sqlite3.Connection | None:  # SQLAlchemy checks it is open
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._open().cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        return _Cursor(self._open().execute(sql, parameters))

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._open().create_function(*args, **kw)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def creator(path: str) -> Callable[[], Any]:
    """For `create_async_engine(url, async_creator=creator(path))`."""

    async def connect() -> InlineConnection:
        # Pooled connections may be closed by the garbage collector on another thread.
        return InlineConnection(sqlite3.connect(path, check_same_thread=False))

    return connect
