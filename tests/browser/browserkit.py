"""What the browser tests share: the server subprocess, seeding, people at browsers, page
helpers and axe-core. The fixtures built on these live in conftest.py.

(A module with its own name, not conftest: tests/conftest.py is also called `conftest`,
so `from conftest import ...` would be ambiguous.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

DB_KIND = os.environ.get("SAFESPACE_TEST_DB", "sqlite").strip().lower() or "sqlite"
PG_HOST_URL = os.environ.get("SAFESPACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
PASSWORD = "lantern-meadow-river-42"
TIMEOUT_MS = 10_000

_counter = itertools.count(1)


# The sizes and colour schemes every page is checked at: a small phone and a desktop.
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}
SCENARIOS = {
    "phone-light": {"viewport": PHONE, "color_scheme": "light"},
    "desktop-light": {"viewport": DESKTOP, "color_scheme": "light"},
    "phone-dark": {"viewport": PHONE, "color_scheme": "dark"},
    "desktop-dark": {"viewport": DESKTOP, "color_scheme": "dark"},
}


def unique(prefix: str) -> str:
    """A name no other test uses: letters, digits, _ and - only (valid pseudonym/alias)."""
    return f"{prefix}{next(_counter)}{uuid.uuid4().hex[:6]}"


def unavailable(reason: str) -> None:
    """Missing infrastructure: a failure under CI=true (nothing may skip there), else a skip."""
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- postgres


def pg_run(*statements: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(f"{PG_HOST_URL}/postgres", timeout=5)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    # Own thread, own loop: never touch whatever loop pytest-asyncio may have around.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


# --------------------------------------------------------------------------- the server


@dataclass
class Account:
    username: str
    password: str
    token: str = ""
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SiteServer:
    """`safespace serve` as a subprocess, restartable on the same port and the same data."""

    def __init__(self, data_dir: Path, database_url: str, log_path: Path) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.log_path = log_path
        self.port = _free_port()
        # Where Quick exit goes: test_browser_support.py serves a neutral page on this port.
        self.quick_exit_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(base_url=self.url, timeout=20, trust_env=False)
        self._facilitator: Account | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def quick_exit_url(self) -> str:
        return f"http://127.0.0.1:{self.quick_exit_port}/forecast"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAFESPACE_")}
        env["SAFESPACE_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["SAFESPACE_DATABASE_URL"] = self.database_url
        env["PYTHONUNBUFFERED"] = "1"
        env["SAFESPACE_RATE_LIMIT_SCALE"] = "100"  # one address and a fast script post it all
        env["SAFESPACE_QUICK_EXIT_URL"] = self.quick_exit_url
        return env

    # ----------------------------------------------------------------- process

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "safespace.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"safespace serve exited with {self.proc.returncode}:\n" + self.log_tail()
                )
            try:
                if self.api.get("/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("safespace serve did not answer /healthz in 60 s:\n" + self.log_tail())

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        """After a test that stopped the server, whatever happened in it."""
        if not self.running:
            self.proc = None
            self.start()

    def restart(self) -> None:
        """Kill the server and start a new process on the same port and the same data."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "safespace.cli", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"safespace {' '.join(args)} failed:\n{done.stderr}"
        return done

    # ----------------------------------------------------------------- seeding

    def login_api(self, username: str, password: str) -> str:
        r = self.api.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def create_user_cli(self, role: str, username: str | None = None) -> Account:
        username = username or unique(role[:4])
        self.cli(
            "users", "create", username, "--role", role, "--password-stdin", stdin=PASSWORD + "\n"
        )
        return Account(username, PASSWORD, token=self.login_api(username, PASSWORD))

    @property
    def facilitator(self) -> Account:
        """One facilitator for the session, made with the operator's command."""
        if self._facilitator is None:
            self._facilitator = self.create_user_cli("facilitator")
        return self._facilitator

    def signup_api(self, username: str | None = None) -> Account:
        username = username or unique("m")
        r = self.api.post("/api/v1/auth/signup", json={"username": username, "password": PASSWORD})
        assert r.status_code == 201, r.text
        data = r.json()
        return Account(username, PASSWORD, data["token"], data["recovery_codes"])

    def create_group(
        self,
        name: str | None = None,
        description: str = "",
        tags: list[str] | None = None,
        owner: Account | None = None,
    ) -> dict[str, Any]:
        owner = owner or self.facilitator
        body: dict[str, Any] = {
            "name": name or unique("Circle "),
            "description": description or "A calm place to talk things through together.",
        }
        if tags is not None:
            body["tags"] = tags
        r = self.api.post("/api/v1/groups", json=body, headers=owner.headers)
        assert r.status_code == 201, r.text
        return dict(r.json()["group"])

    def join_api(
        self, account: Account, group: dict[str, Any], alias: str | None = None
    ) -> dict[str, Any]:
        version = self.api.get(f"/api/v1/groups/{group['slug']}").json()["group"]["rules_version"]
        body: dict[str, Any] = {"accept_rules_version": version}
        if alias:
            body["alias"] = alias
        r = self.api.post(
            f"/api/v1/groups/{group['slug']}/join", json=body, headers=account.headers
        )
        assert r.status_code == 200, r.text
        return dict(r.json()["membership"])

    def post_api(self, account: Account, room_id: int, body: str) -> dict[str, Any]:
        r = self.api.post(
            f"/api/v1/rooms/{room_id}/messages",
            json={"client_id": uuid.uuid4().hex, "body": body},
            headers=account.headers,
        )
        assert r.status_code == 201, r.text
        return dict(r.json()["message"])

    def history_api(self, account: Account, room_id: int, **params: Any) -> list[dict[str, Any]]:
        r = self.api.get(
            f"/api/v1/rooms/{room_id}/messages", params=params, headers=account.headers
        )
        assert r.status_code == 200, r.text
        return list(r.json()["messages"])


# --------------------------------------------------------------------------- the browser


class Person:
    """One person at one browser: their own context (cookies), page and JS error log."""

    def __init__(self, site: SiteServer, context: Any, label: str) -> None:
        self.site = site
        self.context = context
        self.label = label
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

    def goto(self, path: str) -> Any:
        return self.page.goto(self.site.url + path)

    def sign_in(self, account: Account, password: str | None = None) -> None:
        page = self.page
        self.goto("/login")
        page.fill("#username", account.username)
        page.fill("#password", password or account.password)
        with page.expect_navigation():
            page.click("main button[type=submit]")
        assert_signed_in(page, account.username)

    def sign_out(self) -> None:
        """The "Sign out" button of the site's navigation."""
        with self.page.expect_navigation():
            self.page.locator("header.site nav").get_by_role("button", name="Sign out").click()
        assert_signed_out(self.page)

    def open_room(self, slug: str) -> None:
        self.goto(f"/g/{slug}/room")
        wait_online(self.page)


# --------------------------------------------------------------------------- page helpers


PersonFactory = Callable[..., Person]


def assert_signed_in(page: Any, username: str) -> None:
    nav = page.locator("header.site nav")
    nav.get_by_role("button", name="Sign out").wait_for()
    assert nav.get_by_role("link", name="Sign in").count() == 0
    settings = nav.locator("a[href='/settings']").text_content() or ""
    assert username in settings, f"signed in as someone else? {settings!r}"


def assert_signed_out(page: Any) -> None:
    nav = page.locator("header.site nav")
    nav.get_by_role("link", name="Sign in").wait_for()
    assert nav.get_by_role("button", name="Sign out").count() == 0
    assert nav.locator("a[href='/settings']").count() == 0


def wait_online(page: Any, timeout: float = TIMEOUT_MS) -> None:
    page.wait_for_selector("#conn-status[data-state='online']", state="attached", timeout=timeout)


def message_bodies(page: Any) -> list[str]:
    """The text of every confirmed message in the room, top to bottom."""
    return list(
        page.eval_on_selector_all(
            "#messages li.msg:not(.pending) .body", "els => els.map(e => e.textContent)"
        )
    )


def message_seqs(page: Any) -> list[int]:
    return [
        int(s)
        for s in page.eval_on_selector_all(
            "#messages li.msg[data-seq]", "els => els.map(e => e.dataset.seq)"
        )
    ]


def wait_for_message(page: Any, body: str, timeout: float = TIMEOUT_MS) -> None:
    """Until a confirmed message with exactly this text is on the page."""
    page.wait_for_function(
        """body => [...document.querySelectorAll('#messages li.msg:not(.pending) .body')]
                     .some(e => e.textContent === body)""",
        arg=body,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- axe-core


WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_source_text() -> str:
    return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """Run axe-core in the page (evaluated through DevTools, so the page's strict CSP stays on)
    with the WCAG 2.0/2.1 A and AA rules plus best practices; return the violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    return list(
        page.evaluate(
            """async tags => {
            const result = await axe.run(document, {
                runOnly: { type: "tag", values: tags }, resultTypes: ["violations"],
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({ target: n.target, summary: n.failureSummary })),
            }));
        }""",
            WCAG_TAGS,
        )
    )


def describe_violations(where: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{where}: {len(violations)} axe violation(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"][:8]:
            summary = " ".join((node.get("summary") or "").split())[:240]
            lines.append(f"      at {json.dumps(node['target'])}  {summary}")
    return "\n".join(lines)


@dataclass
class Circle:
    """A group of a test's own, run by one facilitator, with members by alias."""

    facilitator: Account
    group: dict[str, Any]
    members: dict[str, Account]  # alias -> account

    @property
    def slug(self) -> str:
        return str(self.group["slug"])

    @property
    def room_id(self) -> int:
        return int(self.group["room_id"])


def make_circle(site: SiteServer, facilitator: Account, *aliases: str) -> Circle:
    """A fresh group made by `facilitator`, joined through the API under these aliases."""
    group = site.create_group(owner=facilitator)
    members = {}
    for alias in aliases:
        account = site.signup_api()
        site.join_api(account, group, alias)
        members[alias] = account
    return Circle(facilitator, group, members)


# ----------------------------------------------------------- watching a live page


def capture_frames(page: Any) -> list[str]:
    """Every websocket frame the page receives from now on (attach before navigating)."""
    frames: list[str] = []

    def on_socket(ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        )

    page.on("websocket", on_socket)
    return frames


def frame_types(frames: list[str]) -> list[str]:
    out = []
    for text in frames:
        try:
            out.append(str(json.loads(text).get("type")))
        except (ValueError, AttributeError):
            out.append("?")
    return out


def wait_until(page: Any, predicate: Any, what: str, timeout: float = 10.0) -> None:
    """Poll a Python-side condition. Playwright delivers events (websocket frames...) only
    while it runs, so the wait is the page's own, never time.sleep."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(20)


def mark_document(page: Any) -> None:
    """Set a marker that disappears if the page reloads or navigates."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Any) -> bool:
    return page.evaluate("window.__sameDocument === true") is True
