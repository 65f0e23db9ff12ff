"""The browser-facing surface: security headers on every response, cookie attributes, CSRF
on every state-changing route, no state change on GET, and how sessions end.

Run with SAFESPACE_SECURE_COOKIES off (plain HTTP, as in development) and on (behind TLS):
on, responses add HSTS and cookies are `Secure` with the `__Host-` prefix; off, neither.
The CSRF and GET walks read the routes from the app (tests/web_walk.py), so a new route is
covered, or fails for want of a request builder, without anyone remembering to add it.
"""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from helpers import PASSWORD, LiveServer, db_scalar, make_client
from safespace.clock import FrozenClock
from safespace.queries import groups as group_queries
from safespace.settings import Settings
from web_walk import (
    API_CALLS,
    UNSAFE,
    Call,
    Session,
    app_routes,
    build_world,
    builder_for,
    database_snapshot,
    page_csrf,
    send,
)

HTML = {"Accept": "text/html,application/xhtml+xml"}
ONE_YEAR = 365 * 86400

# --------------------------------------------------------------------------- headers


def csp_directives(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            assert words[0] not in directives, f"{words[0]} given twice in {value!r}"
            directives[words[0].lower()] = words[1:]
    return directives


def assert_security_headers(r: httpx.Response, *, hsts: bool) -> None:
    where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
    for name in (
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "permissions-policy",
        "x-frame-options",
    ):
        assert len(r.headers.get_list(name)) == 1, f"{where}: {name}: {r.headers.get_list(name)}"

    csp = csp_directives(r.headers["content-security-policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src, f"{where}: no script-src or default-src: {csp}"
    for weak in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert weak not in script_src, f"{where}: script-src allows {weak}: {script_src}"
        assert weak not in csp.get("style-src", []), f"{where}: style-src allows {weak}"
    assert csp.get("default-src") in (["'self'"], ["'none'"]), f"{where}: {csp}"
    assert csp.get("object-src") == ["'none'"], f"{where}: {csp}"
    assert csp.get("base-uri") == ["'none'"], f"{where}: {csp}"
    assert csp.get("frame-ancestors") == ["'none'"], f"{where}: {csp}"
    assert csp.get("form-action") == ["'self'"], f"{where}: {csp}"

    assert r.headers["x-content-type-options"] == "nosniff", where
    assert r.headers["referrer-policy"] == "no-referrer", where
    assert r.headers["x-frame-options"] == "DENY", where
    permissions = r.headers["permissions-policy"].replace(" ", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions.split(","), f"{where}: {feature} not denied: {permissions}"

    sts = r.headers.get_list("strict-transport-security")
    if hsts:
        assert len(sts) == 1, f"{where}: {sts}"
        max_age = re.search(r"max-age=(\d+)", sts[0])
        assert max_age and int(max_age.group(1)) >= ONE_YEAR, f"{where}: {sts}"
    else:
        assert not sts, f"{where}: HSTS over plain HTTP: {sts}"

    # Pages and API answers may hold private conversation: never stored by any cache.
    if not r.request.url.path.startswith("/static/"):
        assert "no-store" in r.headers.get("cache-control", ""), f"{where}: {r.headers}"


# (label, method, path, headers, body, expected status): one of every kind of response.
RESPONSES: list[tuple[str, str, str, dict[str, str], Any, int]] = [
    ("home page", "GET", "/", HTML, None, 200),
    ("directory page", "GET", "/groups", HTML, None, 200),
    ("sign-in form", "GET", "/login", HTML, None, 200),
    ("FAQ (gzipped)", "GET", "/faq", {**HTML, "Accept-Encoding": "gzip"}, None, 200),
    ("private page redirect", "GET", "/settings", HTML, None, 303),
    ("page 404", "GET", "/no-such-page", HTML, None, 404),
    ("page 405", "GET", "/logout", HTML, None, 405),
    ("page 403 (CSRF)", "POST", "/login", HTML, {"username": "x", "password": "y"}, 403),
    ("API JSON", "GET", "/api/v1/groups", {}, None, 200),
    ("OpenAPI schema", "GET", "/api/v1/openapi.json", {}, None, 200),
    ("health check", "GET", "/healthz", {}, None, 200),
    ("API 401", "GET", "/api/v1/auth/me", {}, None, 401),
    ("API 404", "GET", "/api/v1/no-such-thing", {}, None, 404),
    ("API 405", "DELETE", "/api/v1/groups", {}, None, 405),
    ("API 400 (bad JSON)", "POST", "/api/v1/auth/login", {}, b"{not json", 400),
    ("API 422", "POST", "/api/v1/auth/login", {}, {"username": 1}, 422),
    ("NUL in the URL", "GET", "/api/v1/groups/a%00b", {}, None, 400),
    ("static CSS", "GET", "/static/app.css", {}, None, 200),
    ("static JS", "GET", "/static/room.js", {}, None, 200),
    ("static SVG", "GET", "/static/favicon.svg", {}, None, 200),
    ("static 404", "GET", "/static/no-such-file.js", {}, None, 404),
    ("no directory listing", "GET", "/static/", {}, None, 404),
    ("no dotfiles", "GET", "/static/.git/config", {}, None, 404),
    ("no dotfiles at the root", "GET", "/.git/config", HTML, None, 404),
]


@pytest.mark.parametrize("secure", [False, True], ids=["http", "tls"])
async def test_every_kind_of_response_carries_the_security_headers(
    make_server: Any, secure: bool
) -> None:
    server: LiveServer = await make_server(secure_cookies=secure)
    async with make_client(server.url) as client:
        for label, method, path, headers, body, status in RESPONSES:
            kwargs: dict[str, Any] = {}
            if isinstance(body, bytes):
                kwargs["content"] = body
                headers = {**headers, "Content-Type": "application/json"}
            elif isinstance(body, dict) and path.startswith("/api/"):
                kwargs["json"] = body
            elif isinstance(body, dict):
                kwargs["data"] = body
            # Asked from another site's page: no CORS header ever lets it read the answer.
            headers = {**headers, "Origin": "https://evil.example"}
            r = await client.request(method, path, headers=headers, **kwargs)
            assert r.status_code == status, (label, r.status_code, r.text[:300])
            assert_security_headers(r, hsts=secure)
            assert not any(h.startswith("access-control-") for h in r.headers), r.headers
            if r.status_code not in (303, 304):
                kind = r.headers.get("content-type", "")
                assert kind, f"{label}: no Content-Type"
                if kind.startswith("text/"):
                    assert "charset=utf-8" in kind.lower(), f"{label}: {kind}"
            # The server names itself without a version, if at all.
            assert not re.search(r"\d", r.headers.get("server", "")), r.headers["server"]
            if label.startswith("FAQ"):
                assert r.headers.get("content-encoding") == "gzip", r.headers


@pytest.mark.parametrize("secure", [False, True], ids=["http", "tls"])
async def test_an_unexpected_server_error_carries_the_security_headers(
    make_server: Any, secure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even the 500 that Starlette writes for an exception nobody handled."""
    server: LiveServer = await make_server(secure_cookies=secure)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug nobody has found yet")

    monkeypatch.setattr(group_queries, "directory", broken)
    async with make_client(server.url) as client:
        for headers, path in (({}, "/api/v1/groups"), (HTML, "/groups")):
            r = await client.get(path, headers=headers)
            assert r.status_code == 500, r.text
            assert "a bug nobody has found yet" not in r.text  # no traceback to the client
            assert_security_headers(r, hsts=secure)


# --------------------------------------------------------------------------- cookies


def _set_cookies(r: httpx.Response) -> list[str]:
    return r.headers.get_list("set-cookie")


def assert_cookie_attributes(header: str, *, secure: bool, session_days: int) -> str:
    """Every cookie we set: HttpOnly, SameSite=Lax, Path=/, no Domain; behind TLS Secure
    with the __Host- prefix (pinned to this exact origin), over plain HTTP neither."""
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    assert len(jar) == 1, header
    (name, morsel), *_ = jar.items()
    assert morsel["httponly"], f"not HttpOnly: {header}"
    assert str(morsel["samesite"]).lower() == "lax", f"not SameSite=Lax: {header}"
    assert morsel["path"] == "/", header
    assert not morsel["domain"], f"a Domain widens the cookie: {header}"
    if secure:
        assert name.startswith("__Host-"), f"no __Host- prefix behind TLS: {header}"
        assert morsel["secure"], f"not Secure behind TLS: {header}"
    else:
        assert not name.startswith("__Host-"), header
        assert not morsel["secure"], f"Secure over plain HTTP can't be sent back: {header}"
    base = name.removeprefix("__Host-")
    assert base in {"ss_session", "ss_csrf"}, header
    if base == "ss_session" and morsel.value:
        # The cookie lives no longer than the session can.
        assert int(morsel["max-age"]) <= session_days * 86400, header
    return name


class CookieBrowser:
    """A browser's cookie handling, by hand: httpx's jar won't send Secure cookies over
    plain HTTP, and the point here is to read exactly what the server sets."""

    def __init__(self, client: httpx.AsyncClient, secure: bool, session_days: int) -> None:
        self.client = client
        self.secure = secure
        self.session_days = session_days
        self.jar: dict[str, str] = {}
        self.seen: list[str] = []

    async def request(
        self, method: str, path: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        self.client.cookies.clear()
        headers = dict(HTML)
        if self.jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        r = await self.client.request(method, path, headers=headers, data=data)
        for header in _set_cookies(r):
            self.seen.append(header)
            name = assert_cookie_attributes(
                header, secure=self.secure, session_days=self.session_days
            )
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            morsel = jar[name]
            if morsel.value and morsel["max-age"] != "0":
                self.jar[name] = morsel.value
            else:
                self.jar.pop(name, None)
        return r

    async def form(self, path: str, page: str, fields: dict[str, str]) -> httpx.Response:
        """Open `page`, then post its form as the page would (with its CSRF token)."""
        r = await self.request("GET", page)
        assert r.status_code == 200, (page, r.status_code)
        return await self.request("POST", path, {**fields, "csrf_token": page_csrf(r.text)})


@pytest.mark.parametrize("secure", [False, True], ids=["http", "tls"])
async def test_cookies_are_httponly_lax_and_host_pinned_behind_tls(
    make_server: Any, secure: bool, settings: Settings
) -> None:
    server: LiveServer = await make_server(secure_cookies=secure)
    prefix = "__Host-" if secure else ""
    days = settings.session_absolute_days
    async with make_client(server.url) as client:
        browser = CookieBrowser(client, secure, days)
        # Before signing in: the double-submit CSRF cookie.
        await browser.request("GET", "/signup")
        assert set(browser.jar) == {f"{prefix}ss_csrf"}

        username = "cookie_person"
        r = await browser.form("/signup", "/signup", {"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert f"{prefix}ss_session" in browser.jar
        assert (await browser.request("GET", "/settings")).status_code == 200

        r = await browser.form("/logout", "/settings", {})
        assert r.status_code == 303
        assert f"{prefix}ss_session" not in browser.jar  # cleared, with the same attributes
        assert (await browser.request("GET", "/settings")).status_code == 303

        browser.jar[f"{prefix}ss_session"] = "a-token-someone-planted-in-this-browser"
        r = await browser.form("/login", "/login", {"username": username, "password": PASSWORD})
        assert r.status_code == 303, r.text
        # Signing in always makes a new session (no fixation), of 256 random bits.
        token = browser.jar[f"{prefix}ss_session"]
        assert token != "a-token-someone-planted-in-this-browser"
        assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token), token

        r = await browser.form("/settings/recovery-codes", "/settings", {})
        codes = re.findall(r"\b[a-z0-9]{4}(?:-[a-z0-9]{4}){3,}\b", r.text)
        assert codes, r.text
        browser.jar.pop(f"{prefix}ss_session")
        r = await browser.form(
            "/recover", "/recover", {"username": username, "code": codes[0], "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        assert f"{prefix}ss_session" in browser.jar

        r = await browser.form(
            "/settings/erase", "/settings", {"password": PASSWORD, "confirm": "yes"}
        )
        assert r.status_code == 200, r.text
        assert f"{prefix}ss_session" not in browser.jar

    names = {SimpleCookie(h).popitem()[0] for h in browser.seen}
    assert names == {f"{prefix}ss_session", f"{prefix}ss_csrf"}, browser.seen
    # The session cookie was set three times (sign-up, sign-in, recovery), cleared twice.
    assert len([h for h in browser.seen if "ss_session" in h]) >= 5


# --------------------------------------------------------------------------- CSRF

# API writes that don't depend on who is asking (web/deps.py's optional_principal), so
# have no cookie to protect: see test_api_doors_that_ignore_the_cookie_...
SESSIONLESS = {
    ("POST", "/api/v1/auth/signup"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/recover"),
}

# Who would be allowed to make each request (so a refusal can only be about CSRF);
# everything else is made as the group's facilitator.
ALLOWED = {
    ("PUT", "/api/v1/admin/users/{username}/role"): "admin",
    ("POST", "/admin/role"): "admin",
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): "member",
    ("POST", "/settings/sessions/{session_id}/end"): "member",
    ("DELETE", "/api/v1/me/blocks/{block_id}"): "member",  # a block is its maker's own
    # the private line is a member's own (facilitators answer it from their queue)
    ("POST", "/api/v1/groups/{slug}/support-room"): "member",
    ("POST", "/g/{slug}/support-room"): "member",
}


async def test_every_state_changing_route_refuses_a_cookie_without_a_valid_token(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """With the session cookie a browser sends along by itself, a write needs the page's
    CSRF token too: none, a wrong one, or the right one from another site's page is 403
    `csrf`, and nothing in the database changes."""
    assert server.app is not None
    world = await build_world(server, client)
    unsafe = [r for r in app_routes(server.app) if r.method in UNSAFE]
    sessionless = {r.key for r in unsafe if r.kind == "api" and not r.signed_in}
    assert sessionless == SESSIONLESS, f"API writes that don't check who is asking: {sessionless}"
    unsafe = [r for r in unsafe if r.key not in SESSIONLESS]
    assert len(unsafe) >= 20, unsafe
    sessions: dict[str, Session] = {}
    planned: list[tuple[str, Call, Session]] = []
    for route in unsafe:
        actor = ALLOWED.get(route.key, "facilitator")
        if actor not in sessions:
            s = await world.session(actor)
            assert s is not None
            sessions[actor] = s
        planned.append((route.method, await builder_for(route)(world, actor), sessions[actor]))
    before = await database_snapshot(server)

    for method, call, session in planned:
        where = f"{method} {call.path}"
        attempts: list[tuple[str, str | None, dict[str, str]]] = [
            ("no token", None, {}),
            ("a wrong token", "x" * len(session.csrf), {}),
            ("another session's token", sessions_other_token(sessions, session), {}),
            ("another site's page", session.csrf, {"Origin": "https://evil.example"}),
        ]
        for what, token, headers in attempts:
            r = await send(client, method, call, cookie=session, csrf=token, headers=headers)
            assert r.status_code == 403, f"{where} with {what}: {r.status_code} {r.text[:200]}"
            assert r.json()["error"]["code"] == "csrf", f"{where} with {what}: {r.text}"
        # A browser navigating gets the error page (the API answers JSON), still a refusal.
        r = await send(client, method, call, cookie=session, headers=HTML)
        assert r.status_code == 403, f"{where}: {r.status_code}"
        kind = "application/json" if call.path.startswith("/api/") else "text/html"
        assert r.headers["content-type"].startswith(kind), where

    assert await database_snapshot(server) == before, "a refused request changed something"
    for session in sessions.values():  # and nobody was signed out
        r = await send(client, "GET", Call("/api/v1/auth/me"), bearer=session)
        assert r.status_code == 200


async def test_api_doors_that_ignore_the_cookie_set_none_and_take_only_json(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """Sign-up, sign-in and recovery over the API don't look at the cookie (the answer is a
    bearer token in the body, which another site can't read) and set no cookie, so a
    forged request can neither act as the visitor nor sign their browser in. And what a
    form on another site can send (urlencoded, multipart, text/plain) isn't read as JSON."""
    world = await build_world(server, client)
    cookie = await world.session("member")
    assert cookie is not None
    for method, path in sorted(SESSIONLESS):
        call = await API_CALLS[(method, path)](world, "anonymous")
        before = await database_snapshot(server)
        for content_type, body in (
            ("application/x-www-form-urlencoded", urlencode(call.json)),
            ("text/plain", json.dumps(call.json)),
            ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="a"'),
        ):
            client.cookies.clear()
            r = await client.request(
                method,
                path,
                content=body,
                headers={"Content-Type": content_type, "Cookie": f"ss_session={cookie.token}"},
            )
            assert 400 <= r.status_code < 500, (path, content_type, r.status_code, r.text)
            assert not r.headers.get_list("set-cookie"), r.headers
        assert await database_snapshot(server) == before, path
        r = await send(client, method, call, cookie=cookie)
        assert r.status_code < 300, (path, r.status_code, r.text)
        assert not r.headers.get_list("set-cookie"), (path, r.headers)


def sessions_other_token(sessions: dict[str, Session], mine: Session) -> str:
    others = [s.csrf for s in sessions.values() if s is not mine]
    return others[0] if others else "not-" + mine.csrf


async def test_pre_sign_in_forms_need_the_double_submit_token(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """Before signing in, the token is a cookie's value echoed in the form: forging a
    sign-up, sign-in (login CSRF), recovery or sign-out from another site fails."""
    world = await build_world(server, client)
    r = await client.get("/login", headers=HTML)
    token = r.cookies["ss_csrf"]
    assert page_csrf(r.text) == token
    planned = [
        (path, await builder_for(route)(world, "anonymous"))
        for route in app_routes(server.app)  # type: ignore[arg-type]
        if route.kind == "page" and route.method == "POST"
        for path in [route.path]
        if path in {"/signup", "/login", "/recover", "/logout"}
    ]
    assert len(planned) == 4, planned
    before = await database_snapshot(server)
    for path, call in planned:
        for what, cookie, submitted in (
            ("no cookie and no token", None, None),
            ("a token without its cookie", None, token),
            ("a cookie without the token", token, None),
            ("a token that isn't the cookie's", token, "y" * len(token)),
        ):
            headers = {"Cookie": f"ss_csrf={cookie}"} if cookie else {}
            r = await send(client, "POST", call, csrf=submitted, headers=headers)
            assert r.status_code == 403, f"POST {path} with {what}: {r.status_code}"
            assert r.json()["error"]["code"] == "csrf", r.text
            assert not r.headers.get_list("set-cookie") or all(
                "ss_session" not in h for h in r.headers.get_list("set-cookie")
            ), r.headers
    assert await database_snapshot(server) == before


# --------------------------------------------------------------------------- GET is safe


async def test_get_changes_nothing(server: LiveServer, client: httpx.AsyncClient) -> None:
    """Every GET route, as each kind of person, with the cookie a browser would send:
    the database is exactly as before. (A link or an <img> on another site can make a
    browser send a GET with its cookie, so a GET must never act.)"""
    assert server.app is not None
    world = await build_world(server, client)
    gets = [r for r in app_routes(server.app) if r.method == "GET"]
    assert len(gets) >= 15, gets
    planned = []
    for actor in ("anonymous", "member", "facilitator", "admin"):
        session = await world.session(actor)
        for route in gets:
            planned.append((route, await builder_for(route)(world, actor), session))
    before = await database_snapshot(server)
    for route, call, session in planned:
        r = await send(client, "GET", call, cookie=session, headers=HTML)
        assert r.status_code < 500, (str(route), r.status_code)
    assert await database_snapshot(server) == before, "a GET changed the database"


async def test_get_on_a_state_changing_path_is_405_and_does_nothing(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """GET /logout doesn't sign anyone out; a GET on any POST/PUT/DELETE-only path is 405."""
    assert server.app is not None
    world = await build_world(server, client)
    routes = app_routes(server.app)
    readable = {r.path for r in routes if r.method == "GET"}
    write_only = sorted({r.path for r in routes if r.method in UNSAFE} - readable)
    assert "/logout" in write_only and "/settings/erase" in write_only, write_only
    session = await world.session("facilitator")
    assert session is not None
    calls = []
    for route in routes:
        if route.method in UNSAFE and route.path in write_only:
            actor = ALLOWED.get(route.key, "facilitator")
            calls.append(await builder_for(route)(world, actor))
    before = await database_snapshot(server)
    for call in calls:
        for accept in (HTML, {"Accept": "application/json"}):
            r = await send(client, "GET", Call(call.path), cookie=session, headers=accept)
            assert r.status_code == 405, (call.path, r.status_code)
            allow = {m.strip() for m in r.headers.get("allow", "").split(",")}
            assert "GET" not in allow, (call.path, allow)
    assert await database_snapshot(server) == before
    r = await send(client, "GET", Call("/settings"), cookie=session, headers=HTML)
    assert r.status_code == 200, "GET /logout (or another GET) signed the person out"


# --------------------------------------------------------------------------- sessions


async def _cookie_session(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> tuple[str, str]:
    """Sign in through the form; the session cookie and its page's CSRF token."""
    client.cookies.clear()
    r = await client.get("/login", headers=HTML)
    csrf = r.cookies["ss_csrf"]
    r = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        headers={**HTML, "Cookie": f"ss_csrf={csrf}"},
    )
    assert r.status_code == 303, r.text
    cookie = r.cookies["ss_session"]
    client.cookies.clear()
    page = await client.get("/settings", headers={**HTML, "Cookie": f"ss_session={cookie}"})
    client.cookies.clear()
    return cookie, page_csrf(page.text)


async def _page_status(client: httpx.AsyncClient, cookie: str, path: str = "/settings") -> int:
    client.cookies.clear()
    r = await client.get(path, headers={**HTML, "Cookie": f"ss_session={cookie}"})
    return r.status_code


async def _api_status(client: httpx.AsyncClient, token: str) -> int:
    client.cookies.clear()
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def _session_rows(server: LiveServer, user_id: int) -> int:
    return int(
        await db_scalar(server, "SELECT COUNT(*) FROM auth_sessions WHERE user_id = :u", u=user_id)
    )


async def test_a_browser_session_expires_after_inactivity(
    server: LiveServer, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    """(test_auth.py and test_privacy.py cover API tokens; this is the browser's cookie.)"""
    world = await build_world(server, client)
    member = world.people["member"]
    cookie, _ = await _cookie_session(client, member.username)
    clock.advance(minutes=settings.session_idle_minutes - 1)
    assert await _page_status(client, cookie) == 200  # in use: still alive, and renewed
    clock.advance(minutes=settings.session_idle_minutes - 1)
    assert await _page_status(client, cookie) == 200
    clock.advance(minutes=settings.session_idle_minutes + 1)
    client.cookies.clear()
    r = await client.get("/settings", headers={**HTML, "Cookie": f"ss_session={cookie}"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.headers
    # The expired session is gone from the database, not just refused.
    sessions = await db_scalar(
        server,
        "SELECT COUNT(*) FROM auth_sessions WHERE user_id = :u AND kind = 'browser'",
        u=member.id,
    )
    assert sessions == 0


async def test_a_browser_session_ends_at_the_absolute_limit_however_much_it_is_used(
    server: LiveServer, client: httpx.AsyncClient, clock: FrozenClock, settings: Settings
) -> None:
    """(test_privacy.py covers API tokens; this is the cookie a browser holds.)"""
    world = await build_world(server, client)
    member = world.people["member"]
    cookie, _ = await _cookie_session(client, member.username)
    absolute_minutes = settings.session_absolute_days * 24 * 60
    step = settings.session_idle_minutes - 60  # always well inside the idle limit
    elapsed = 0
    while elapsed + step < absolute_minutes - 1:
        clock.advance(minutes=step)
        elapsed += step
        assert await _page_status(client, cookie) == 200, elapsed
    clock.advance(minutes=absolute_minutes - 1 - elapsed)
    assert await _page_status(client, cookie) == 200
    clock.advance(minutes=2)  # past the absolute lifetime, a minute after the last use
    assert await _page_status(client, cookie) == 303
    sessions = await db_scalar(
        server,
        "SELECT COUNT(*) FROM auth_sessions WHERE user_id = :u AND kind = 'browser'",
        u=member.id,
    )
    assert sessions == 0


async def test_changing_the_password_in_settings_ends_every_other_session(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """The form in settings (test_auth covers the API): the browser that changed it stays
    signed in; every other browser and API token of the account is signed out."""
    world = await build_world(server, client)
    member = world.people["member"]
    here, csrf = await _cookie_session(client, member.username)
    there, _ = await _cookie_session(client, member.username)
    api = await world.session("member")
    assert api is not None
    new_password = "another-calm-phrase-81"
    client.cookies.clear()
    r = await client.post(
        "/settings/password",
        data={"current": PASSWORD, "password": new_password, "csrf_token": csrf},
        headers={**HTML, "Cookie": f"ss_session={here}"},
    )
    assert r.status_code == 303, r.text
    assert await _page_status(client, here) == 200
    assert await _page_status(client, there) == 303
    assert await _api_status(client, api.token) == 401
    assert await _api_status(client, member.token) == 401
    assert await _session_rows(server, member.id) == 1
    # The new password signs in; the old one doesn't.
    await _cookie_session(client, member.username, new_password)
    client.cookies.clear()
    r = await client.post(
        "/api/v1/auth/login", json={"username": member.username, "password": PASSWORD}
    )
    assert r.status_code == 401
