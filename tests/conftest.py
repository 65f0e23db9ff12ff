"""Shared fixtures: a database per backend, a frozen clock and a real uvicorn server.

SAFESPACE_TEST_DB=sqlite (default) gives every test a fresh data directory with its own
SQLite file. SAFESPACE_TEST_DB=postgres creates one database for the session
(`safespace_test_<pid>`), empties every table before each test and drops it at the end.
When PostgreSQL is asked for but can't be reached the suite fails under CI=true and is
skipped otherwise.

Every test gets a FrozenClock (`clock`), injected into create_app, and servers started by
`make_server` (or the ready-made `server`) run uvicorn in the test's own event loop;
`await server.restart()` starts a fresh app on the same database, port and clock.
Passwords are hashed with argon2id at a low cost except in tests marked real_argon2.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from helpers import (
    PG_HOST_URL,
    LiveServer,
    Room,
    create_group,
    join,
    make_client,
    pg_admin,
    privileged,
    run_isolated,
    signup,
)
from safespace import passwords
from safespace.clock import FrozenClock
from safespace.settings import Settings

DB_KIND = os.environ.get("SAFESPACE_TEST_DB", "sqlite").strip().lower() or "sqlite"
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

if DB_KIND not in {"sqlite", "postgres"}:
    raise pytest.UsageError(f"SAFESPACE_TEST_DB must be sqlite or postgres, not {DB_KIND!r}")


# --------------------------------------------------------------------------- postgres


def _pg_create(name: str) -> str:
    try:
        run_isolated(pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server, refused, auth...
        reason = f"PostgreSQL at {PG_HOST_URL} is not usable: {exc!r}"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return f"{PG_HOST_URL}/{name}"


def _pg_drop(name: str) -> None:
    with contextlib.suppress(Exception):
        run_isolated(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        if rows:
            tables = ", ".join(f'"{r["tablename"]}"' for r in rows)
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One PostgreSQL database for the whole session (postgres mode only)."""
    name = f"safespace_test_{os.getpid()}"
    url = _pg_create(name)
    try:
        yield url
    finally:
        _pg_drop(name)


_extra_dbs = itertools.count(1)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The SAFESPACE_DATABASE_URL for this test: empty for SQLite, a clean database otherwise."""
    if DB_KIND == "sqlite":
        yield ""
        return
    url = request.getfixturevalue("pg_database")
    run_isolated(_pg_truncate(url))
    yield url


@pytest.fixture
def empty_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment for a brand-new, never-migrated database (for CLI commands)."""
    data_dir = tmp_path / "empty-data"
    if DB_KIND == "sqlite":
        yield {"SAFESPACE_DATA_DIR": str(data_dir)}
        return
    request.getfixturevalue("pg_database")  # skips or fails early when unreachable
    name = f"safespace_test_{os.getpid()}_empty_{next(_extra_dbs)}"
    url = _pg_create(name)
    try:
        yield {"SAFESPACE_DATA_DIR": str(data_dir), "SAFESPACE_DATABASE_URL": url}
    finally:
        _pg_drop(name)


# --------------------------------------------------------------------------- hashing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_argon2: hash passwords with the production argon2id parameters"
    )
    config.addinivalue_line(
        "markers", "postgres_only: a way of running that needs PostgreSQL (several processes)"
    )
    config.addinivalue_line(
        "markers", "sqlite_only: how SafeSpace uses SQLite itself (its locks, its log)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of a PostgreSQL-only deployment belong to the SAFESPACE_TEST_DB=postgres run
    (which CI runs too): the SQLite run leaves them out rather than skipping them, and the
    other way round for tests of how SafeSpace drives SQLite."""
    marker = "sqlite_only" if DB_KIND == "postgres" else "postgres_only"
    other = [i for i in items if i.get_closest_marker(marker)]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [i for i in items if not i.get_closest_marker(marker)]


_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CHEAP_DUMMY = _CHEAP_HASHER.hash("dummy password for unknown names")


@pytest.fixture(autouse=True)
def _cheap_argon2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at a fraction of the cost (~200 ms a hash on a small CI machine):
    tests sign up many people. Tests about how passwords are stored or how long a
    sign-in takes are marked real_argon2 and use the production parameters."""
    if request.node.get_closest_marker("real_argon2"):
        return
    monkeypatch.setattr(passwords, "_hasher", _CHEAP_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", _CHEAP_DUMMY)


# --------------------------------------------------------------------------- app & server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # Messages are read on the loop here (readers=0): a helper process takes most of a
    # second of CPU to start, and this suite starts hundreds of servers. test_reader.py
    # runs servers with helpers, and the multi-process tests run `safespace serve` with
    # its default (one helper where there is a second CPU).
    return Settings(data_dir=tmp_path / "data", database_url=database_url, redis_url="", readers=0)


MakeServer = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
async def make_server(settings: Settings, clock: FrozenClock) -> AsyncIterator[MakeServer]:
    """Start servers on demand: `await make_server()` or `await make_server(settings=...)`."""
    started: list[LiveServer] = []

    async def start(settings_: Settings | None = None, **overrides: Any) -> LiveServer:
        s = settings_ or settings
        if overrides:
            s = replace(s, **overrides)
        server = LiveServer(s, clock)
        started.append(server)
        await server.start()
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            await server.stop()


@pytest.fixture
async def server(make_server: MakeServer) -> LiveServer:
    return await make_server()


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(server.url) as c:
        yield c


@pytest.fixture
async def room(server: LiveServer, client: httpx.AsyncClient) -> Room:
    """A group made by a facilitator, joined by alice (alias alice_a) and bob."""
    fac = await privileged(server)
    group = await create_group(client, fac)
    alice, bob = await signup(client), await signup(client)
    await join(client, alice, group, alias="alice_a")
    await join(client, bob, group)
    return Room(group["room_id"], group, fac, alice, bob)
