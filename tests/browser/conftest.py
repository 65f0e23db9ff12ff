"""Browser tests: a real `safespace serve` subprocess driven by Chromium through Playwright.

The server runs exactly as an operator starts it (`python -m safespace.cli serve`), on a
fresh data directory (SQLite) or a fresh PostgreSQL database (SAFESPACE_TEST_DB=postgres).
Data is seeded through the product's own doors: the `safespace users create` command for
facilitators, the JSON API for members, groups and messages.

Fixture names are distinct (`site`, `pw_browser`, `person`, `axe_source`) so they never
clash with the fixtures of tests/conftest.py. Helpers live in browserkit.py.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from browserkit import (  # noqa: E402
    DB_KIND,
    PG_HOST_URL,
    Account,
    Person,
    PersonFactory,
    SiteServer,
    axe_source_text,
    pg_run,
    unavailable,
)

from browser_support import chromium_args, chromium_path  # noqa: E402


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteServer]:
    """The live server for every browser test (one per session), on fresh data."""
    root = tmp_path_factory.mktemp("browser-site")
    database_url = ""
    pg_name = ""
    if DB_KIND == "postgres":
        pg_name = f"safespace_browser_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            pg_run(f'DROP DATABASE IF EXISTS "{pg_name}"', f'CREATE DATABASE "{pg_name}"')
        except Exception as exc:  # unreachable, refused, no auth...
            unavailable(f"PostgreSQL at {PG_HOST_URL} is not usable: {exc!r}")
        database_url = f"{PG_HOST_URL}/{pg_name}"
    server = SiteServer(root / "data", database_url, root / "server.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.api.close()
        if pg_name:
            with contextlib.suppress(Exception):
                pg_run(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pw_browser() -> Iterator[Any]:
    """One Chromium per test module. Under CI=true a missing browser fails, never skips."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"Playwright is not installed: {exc}")
    manager = sync_playwright().start()
    try:
        try:
            executable = chromium_path()
            browser = manager.chromium.launch(
                executable_path=executable if executable else None,
                args=chromium_args(),
            )
        except Exception as exc:
            unavailable(f"Chromium could not start: {exc}")
        yield browser
        browser.close()
    finally:
        manager.stop()


@pytest.fixture
def person(pw_browser: Any, site: SiteServer) -> Iterator[PersonFactory]:
    """`person("A")`, `person("A", account)` (signed in through the form),
    `person("A", color_scheme="dark", viewport=...)`: each its own browser context.

    At the end of the test every context is closed, and any uncaught JavaScript error or
    dialog (alert/confirm) on any of their pages fails the test."""
    made: list[Person] = []

    def make(label: str = "someone", account: Account | None = None, **context_args: Any) -> Person:
        context_args.setdefault("viewport", {"width": 1280, "height": 860})
        context = pw_browser.new_context(**context_args)
        p = Person(site, context, label)
        made.append(p)
        if account is not None:
            p.sign_in(account)
        return p

    yield make
    errors = [f"{p.label}: {e}" for p in made for e in p.errors]
    dialogs = [f"{p.label}: {d}" for p in made for d in p.dialogs]
    for p in made:
        with contextlib.suppress(Exception):
            p.context.close()
    assert not errors, "uncaught JavaScript errors on the page:\n" + "\n".join(errors)
    assert not dialogs, "the page opened dialogs (alert/confirm):\n" + "\n".join(dialogs)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js as shipped inside the axe-playwright-python package."""
    try:
        return axe_source_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        unavailable(f"axe-core (axe-playwright-python) is not installed: {exc}")
        raise
