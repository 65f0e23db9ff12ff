"""Schemathesis over the OpenAPI schema: no 5xx on any operation, and every 4xx is the
protocol's JSON error, {"error": {"code", "message"}}.

The app runs as it does in production (uvicorn over a real socket) on this test's
database (SQLite, or PostgreSQL with SAFESPACE_TEST_DB=postgres), in a thread of its own
so that Schemathesis' synchronous calls don't block its event loop. Every request carries
the bearer token of a member of a group, and half the generated paths name that group and
its room, so the private operations run their real code rather than stopping at 401/404.
Before each request the member is signed back in and back in the group if a previous
request ended the session or left it.

Bounded: 30 examples per operation (plus Schemathesis' examples and coverage phases), no
deadline; it runs in well under a minute on either database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from helpers import PASSWORD, Account, LiveServer, privileged
from safespace.actions import accounts
from safespace.app import create_app
from safespace.clock import FrozenClock
from safespace.settings import Settings

T = TypeVar("T")


@dataclasses.dataclass
class Target:
    """The server under test and the member whose token every request carries."""

    server: LiveServer
    run: Callable[[Coroutine[Any, Any, Any]], Any]  # runs a coroutine on the server's loop
    api: httpx.Client
    member: Account
    group: dict[str, Any]
    token: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def ready(self) -> dict[str, str]:
        """The member's headers, with a live session and the membership restored."""
        if self.api.get("/api/v1/auth/me", headers=self._auth()).status_code != 200:
            done = self.run(accounts.log_in(self.server.svc, self.member.username, PASSWORD))
            self.token = done.token
        mine = self.api.get("/api/v1/me/groups", headers=self._auth()).json()["groups"]
        if not any(g["slug"] == self.group["slug"] for g in mine):
            slug = self.group["slug"]
            version = self.api.get(f"/api/v1/groups/{slug}").json()["group"]["rules_version"]
            r = self.api.post(
                f"/api/v1/groups/{slug}/join",
                json={"accept_rules_version": version},
                headers=self._auth(),
            )
            assert r.status_code == 200, r.text
        return self._auth()


@pytest.fixture
def target(settings: Settings, clock: FrozenClock) -> Iterator[Target]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="app-under-test", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    # Exercise the operations themselves, not mostly their rate limits.
    overrides: dict[str, Any] = {"rate_limit_scale": 1000.0}
    if any(f.name in overrides for f in dataclasses.fields(settings)):
        settings = dataclasses.replace(settings, **overrides)
    server = LiveServer(settings, clock)
    api = httpx.Client(base_url=server.url, timeout=20, trust_env=False)
    try:
        run(server.start())
        facilitator = run(privileged(server, role="facilitator"))
        r = api.post(
            "/api/v1/groups",
            json={"name": "Fuzzing circle", "description": "Where the fuzzer talks."},
            headers=facilitator.headers,
        )
        assert r.status_code == 201, r.text
        group = r.json()["group"]
        member = run(privileged(server, role="member"))
        found = Target(server, run, api, member, group, member.token)
        found.ready()  # joins the group
        yield found
    finally:
        api.close()
        with contextlib.suppress(Exception):
            run(server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _openapi() -> dict[str, Any]:
    """The app's own schema, as /api/v1/openapi.json serves it (read once, at collection)."""
    with tempfile.TemporaryDirectory() as data_dir:
        return create_app(Settings(data_dir=Path(data_dir))).openapi()


schema = schemathesis.openapi.from_dict(_openapi())


def assert_error_shape(response: Any, where: str) -> None:
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), where
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"{where}: {body!r}"
    error = body["error"]
    assert isinstance(error, dict), f"{where}: {body!r}"
    for key in ("code", "message"):
        assert isinstance(error.get(key), str) and error[key], f"{where}: {body!r}"


@schema.parametrize()
@schema.given(ours=st.booleans())
@hsettings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_every_4xx_is_a_json_error(
    case: Any, ours: bool, target: Target
) -> None:
    if ours:  # the member's own group and room instead of whatever was generated
        params = dict(case.path_parameters or {})
        if "slug" in params:
            params["slug"] = target.group["slug"]
        if "room_id" in params:
            params["room_id"] = target.group["room_id"]
        case.path_parameters = params
    headers = target.ready()
    response = case.call(base_url=target.url, headers=headers, timeout=20)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    case.validate_response(response, checks=[not_a_server_error], headers=headers)
    if 400 <= response.status_code < 500:
        assert_error_shape(response, where)
