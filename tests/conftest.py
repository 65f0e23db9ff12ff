"""Shared fixtures: a database per backend, a frozen clock and a real uvicorn server.

SAFESPACE_TEST_DB=sqlite (default) gives every test a fresh data directory with its own
SQLite file. SAFESPACE_TEST_DB=postgres creates one database for the session
(`safespace_test_<pid>`), empties every table before each test and drops it at the end.
When PostgreSQL is asked for but can't be reached the suite fails under CI=true and is
skipped otherwise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from safespace.app import create_app
from safespace.clock import FrozenClock
from safespace.services import Services
from safespace.settings import Settings

DB_KIND = os.environ.get("SAFESPACE_TEST_DB", "sqlite").strip().lower() or "sqlite"
PG_HOST_URL = os.environ.get("SAFESPACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

if DB_KIND not in {"sqlite", "postgres"}:
    raise pytest.UsageError(f"SAFESPACE_TEST_DB must be sqlite or postgres, not {DB_KIND!r}")


# --------------------------------------------------------------------------- postgres


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_HOST_URL}/postgres", timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _run_isolated(coro: Any) -> Any:
    """Run a coroutine to completion on its own loop in its own thread, away from the
    test's loop (these run from synchronous fixtures)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _pg_create(name: str) -> str:
    try:
        _run_isolated(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server, refused, auth...
        reason = f"PostgreSQL at {PG_HOST_URL} is not usable: {exc!r}"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return f"{PG_HOST_URL}/{name}"


def _pg_drop(name: str) -> None:
    with contextlib.suppress(Exception):
        _run_isolated(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
    _run_isolated(_pg_truncate(url))
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


# --------------------------------------------------------------------------- app & server


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, redis_url="")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (so Ctrl-C still stops pytest), which stops as
    soon as it's told to rather than at its next 0.1 s tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_stop(self) -> None:
        self.should_exit = True
        self._stop.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)


class LiveServer:
    """A real uvicorn serving create_app(settings, clock) in the test's event loop."""

    def __init__(self, settings: Settings, clock: FrozenClock) -> None:
        self.settings = settings
        self.clock = clock
        self.port = _free_port()
        self.app: FastAPI | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    @property
    def svc(self) -> Services:
        assert self.app is not None, "the server is not running"
        return self.app.state.svc  # type: ignore[no-any-return]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        assert not self.running
        self.app = create_app(self.settings, clock=self.clock)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_config=None,  # leave logging alone: records reach caplog
            access_log=False,  # as `safespace serve` runs it
            timeout_graceful_shutdown=3,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("uvicorn stopped during start-up")
            await asyncio.sleep(0.01)
        raise RuntimeError("uvicorn did not start in 10 s")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.request_stop()
        try:
            await asyncio.wait_for(self._task, 15)
        finally:
            self._server = None
            self._task = None

    async def restart(self) -> None:
        """Stop and start a new app on the same database, port and clock."""
        await self.stop()
        await self.start()


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


def make_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=20, trust_env=False)


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(server.url) as c:
        yield c
