"""Prebuilt statements run straight on the driver (inline SQLite, or asyncpg), for the
posting line.

Through SQLAlchemy, each execution builds an execution context, looks the statement up in
the compiled cache, and wraps the cursor in result objects. For the posting line's small
statements that cost ten times what SQLite spent running them (measured on the benchmark
machine: 35 us against 3.6 us for a one-row SELECT). A `RawStatement` is compiled by
SQLAlchemy once per dialect and keeps each parameter's and each column's own conversion
(the `bind_processor` and `result_processor` SQLAlchemy itself would apply: UTC datetimes,
JSON, booleans), so what is written and read is the same; only the per-call machinery is
skipped. It runs on the session's own connection, inside the session's transaction (on
PostgreSQL, a statement may also run before one begins: see `Remote.fetch`).

On an inline SQLite connection (db/inline_sqlite.py) the call is a plain function call on
the loop's thread (`sqlite_of`, `first`). On PostgreSQL it is asyncpg's own `fetch` on the
connection under SQLAlchemy's adapter (`asyncpg_of`, `fetch`), after the BEGIN SQLAlchemy
would have sent, and its errors are raised as SQLAlchemy raises them. Elsewhere (aiosqlite's
thread) both answer None and callers go through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.expression import Executable

from safespace.db.inline_sqlite import InlineConnection

_Convert = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Inline:
    """A session's sqlite3 connection, and the dialect its statements compile for."""

    db: sqlite3.Connection
    dialect: Dialect


async def sqlite_of(session: AsyncSession) -> Inline | None:
    """The sqlite3 connection under the session's current transaction, with its dialect,
    if it runs inline on this thread (None: use SQLAlchemy)."""
    return (await _drivers_of(session))[0]


async def _drivers_of(session: AsyncSession) -> tuple[Inline | None, Remote | None]:
    """The session's connection as `sqlite_of` and `asyncpg_of` give it, looked up once
    per transaction: each lookup through SQLAlchemy's async API is a greenlet switch, and
    a read session's first statement paid four of them (docs/performance.md, change 37)."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_KEY)
    if transaction is not None and cached is not None and cached[0] is transaction:
        found: tuple[Inline | None, Remote | None] = cached[1]
        return found
    conn = await session.connection()
    # The pool's connection, already checked out and valid: reading it does no I/O (what
    # get_raw_connection does too, behind a greenlet switch of its own).
    raw = conn.sync_connection.connection  # type: ignore[union-attr]
    driver = raw.driver_connection
    inline = Inline(driver._open(), conn.dialect) if isinstance(driver, InlineConnection) else None
    remote = None
    if conn.dialect.driver == "asyncpg":
        remote = Remote(raw.dbapi_connection, conn.dialect, conn)
    found = (inline, remote)
    session.info[_KEY] = (session.sync_session.get_transaction(), found)
    return found


_KEY = "safespace.raw_drivers"


async def core_execute(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any]
) -> Any:
    """A Core statement on the session's connection (its Result), past the ORM's execute
    path (which costs more than a short read runs). Through the session when it holds
    changes not yet flushed, so the statement still sees them (autoflush)."""
    if session.new or session.dirty or session.deleted:
        return await session.execute(statement, params)
    return await (await session.connection()).execute(statement, params)


@dataclass(frozen=True, slots=True)
class Remote:
    """A session's asyncpg connection, as SQLAlchemy's adapter holds it, and the dialect."""

    adapter: Any  # sqlalchemy.dialects.postgresql.asyncpg.AsyncAdapt_asyncpg_connection
    dialect: Dialect
    connection: AsyncConnection  # SQLAlchemy's, to invalidate when the database is gone

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction has begun on the connection (anything run through
        SQLAlchemy begins one)."""
        return self.adapter._transaction is not None

    async def fetch(self, sql: str, args: Sequence[Any], begin: bool = True) -> list[Any]:
        """Rows of one statement inside the session's transaction, begun here if SQLAlchemy
        hasn't yet (what its cursor does before each statement). `begin=False`: if none
        has begun, the statement runs on its own (and commits on its own, if it writes)."""
        adapter = self.adapter
        async with adapter._execute_mutex:
            try:
                if begin and adapter._transaction is None:
                    await adapter._start_transaction()
                rows: list[Any] = await adapter._connection.fetch(sql, *args)
                return rows
            except Exception as exc:
                error = self._as_sqlalchemy_would(sql, args, exc)
                failed = exc
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            # As SQLAlchemy does when its own statement meets a dead connection: this one
            # is not handed out again.
            await self.connection.invalidate(failed)
        raise error from failed

    def _as_sqlalchemy_would(self, sql: str, args: Sequence[Any], exc: Exception) -> Exception:
        dbapi = self.dialect.loaded_dbapi
        try:
            self.adapter._handle_exception(exc)  # raises the DB-API's class for it
        except dbapi.Error as err:
            lost = broken_connection(err, self.dialect, self.adapter)
            return DBAPIError.instance(sql, args, err, dbapi.Error, connection_invalidated=lost)
        except Exception as other:
            return other
        return exc


def broken_connection(err: BaseException, dialect: Dialect, adapter: Any) -> bool:
    """Whether a PostgreSQL error leaves its connection unusable: closed (SQLAlchemy's own
    test), or asyncpg's protocol in a state it can't leave (InternalClientError, seen when
    the database cut a connection while it sat in the pool)."""
    internal = getattr(dialect.loaded_dbapi, "InternalClientError", ())
    return bool(dialect.is_disconnect(cast(Any, err), adapter, None)) or isinstance(err, internal)


async def asyncpg_of(session: AsyncSession) -> Remote | None:
    """The asyncpg connection under the session's current transaction (None: not
    PostgreSQL)."""
    return (await _drivers_of(session))[1]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    params: list[tuple[str | None, Any, _Convert]]  # (caller's name or None, fixed, convert)
    width: int  # columns in a row
    converted: list[tuple[int, Callable[[Any], Any]]]  # (column, convert) where one applies

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, fixed, convert in self.params:
            value = fixed if name is None else values[name]
            args.append(value if convert is None else convert(value))
        return args

    def row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        # Only the few columns with a conversion are touched: a page of history reads 50
        # rows of 17 columns, 3 of them converted (times), and a pass over every value
        # cost as much as fetching the page.
        if len(row) != self.width:
            raise ValueError(f"a row of {len(row)} columns, expected {self.width}")
        if not self.converted:
            return tuple(row)
        out = list(row)
        for i, convert in self.converted:
            value = out[i]
            if value is not None:  # SQL NULL is None whatever the type
                out[i] = convert(value)
        return tuple(out)


class RawStatement:
    """One statement, compiled once per dialect, run with the driver's own calls."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        done = self._compiled.get(dialect.name)
        if done is not None:
            return done
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        # Both dialects' placeholders are positional (SQLite's ?, asyncpg's $n, one each).
        assert compiled.positiontup is not None
        params: list[tuple[str | None, Any, _Convert]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            # A bound parameter named by the caller, or a value written in the statement.
            given = name if bind.required else None
            params.append((given, bind.effective_value, convert))
        results = [
            col.type.dialect_impl(dialect).result_processor(dialect, None)
            for col in self.statement.exported_columns  # type: ignore[attr-defined]
        ]
        converted = [(i, c) for i, c in enumerate(results) if c is not None]
        done = self._compiled[dialect.name] = _Compiled(
            compiled.string, params, len(results), converted
        )
        return done

    def _on_sqlite(
        self, inline: Inline, values: Mapping[str, Any], take: Callable[[sqlite3.Cursor], Any]
    ) -> tuple[_Compiled, Any]:
        compiled = self._for(inline.dialect)
        args = compiled.args(values)
        try:
            cursor = inline.db.execute(compiled.sql, args)
            try:
                return compiled, take(cursor)
            finally:
                cursor.close()
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it (IntegrityError, ...)
            raise DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc

    def first(self, inline: Inline, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (converted as SQLAlchemy would), or None, on inline SQLite."""
        compiled, row = self._on_sqlite(inline, values, sqlite3.Cursor.fetchone)
        return None if row is None else compiled.row(row)

    def all(self, inline: Inline, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row (converted as SQLAlchemy would), on inline SQLite."""
        compiled, rows = self._on_sqlite(inline, values, sqlite3.Cursor.fetchall)
        return [compiled.row(row) for row in rows]

    async def fetch(
        self, remote: Remote, values: Mapping[str, Any], begin: bool = True
    ) -> list[tuple[Any, ...]]:
        """Every row (converted as SQLAlchemy would), on PostgreSQL (see Remote.fetch)."""
        compiled = self._for(remote.dialect)
        rows = await remote.fetch(compiled.sql, compiled.args(values), begin)
        return [compiled.row(row) for row in rows]


async def read_rows(
    session: AsyncSession, statement: RawStatement, values: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Every row of a prebuilt read on the session's connection, straight on the driver
    where it can be (inline SQLite, asyncpg), else through SQLAlchemy Core. Through the
    session when it holds changes not yet flushed, so the read still sees them."""
    if session.new or session.dirty or session.deleted:
        return [tuple(r) for r in await session.execute(statement.statement, values)]
    inline, remote = await _drivers_of(session)
    if inline is not None:
        return statement.all(inline, values)
    if remote is not None:
        # Begins a transaction only where SQLAlchemy would (not on the autocommit reader).
        return await statement.fetch(remote, values)
    result = await (await session.connection()).execute(statement.statement, values)
    return [tuple(r) for r in result]


_T = TypeVar("_T")


def detached(cls: type[_T], row: Sequence[Any]) -> _T:
    """An instance of a mapped class from a row of its table's columns, in table order,
    as a closed session leaves what it loaded: detached, every column loaded, nothing
    changed (so a session it is later added to writes only what changes after)."""
    mapper: Any = cls.__mapper__  # type: ignore[attr-defined]
    keys = _KEYS.get(cls)
    if keys is None:
        columns = mapper.local_table.c
        keys = _KEYS[cls] = tuple(mapper.get_property_by_column(c).key for c in columns)
    obj = mapper.class_manager.new_instance()
    obj.__dict__.update(zip(keys, row, strict=True))
    make_transient_to_detached(obj)
    return cast(_T, obj)


_KEYS: dict[type, tuple[str, ...]] = {}
