"""Accounts: sign-up, sign-in, sessions, recovery and how secrets are stored."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest
from argon2 import PasswordHasher

from helpers import (
    PASSWORD,
    Account,
    assert_error,
    db_rows,
    db_scalar,
    login,
    make_client,
    signup,
    unique_name,
)
from safespace.clock import FrozenClock
from safespace.db.base import Base
from safespace.passwords import hash_token

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    r = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


# --------------------------------------------------------------------------- sign-up


async def test_signup_returns_the_user_a_token_and_recovery_codes(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(SIGNUP, json={"username": "Quiet_Fox-7", "password": PASSWORD})
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["user"]["username"] == "Quiet_Fox-7"
    assert isinstance(data["user"]["id"], int)
    assert isinstance(data["token"], str) and len(data["token"]) >= 22  # >= 128 bits
    codes = data["recovery_codes"]
    assert 8 <= len(codes) <= 12
    assert len(set(codes)) == len(codes)
    assert all(isinstance(c, str) and len(c) >= 12 for c in codes)
    # The token signs the new person in straight away.
    r = await client.get(ME, headers={"Authorization": f"Bearer {data['token']}"})
    assert r.status_code == 200
    assert r.json()["user"] == data["user"] | {"role": "member"}


async def test_a_taken_name_is_refused_whatever_its_case(client: httpx.AsyncClient) -> None:
    await signup(client, "RiverStone")
    for name in ("RiverStone", "riverstone", "RIVERSTONE"):
        r = await client.post(SIGNUP, json={"username": name, "password": PASSWORD})
        assert_error(r, 409, "username_taken")


@pytest.mark.parametrize(
    "username",
    ["ab", "x" * 33, "has space", "dot.ted", "slash/name", "émile", "smile😀", "", "  "],
)
async def test_bad_names_are_refused_with_422(client: httpx.AsyncClient, username: str) -> None:
    r = await client.post(SIGNUP, json={"username": username, "password": PASSWORD})
    assert_error(r, 422)


async def test_names_at_the_length_limits_are_accepted(client: httpx.AsyncClient) -> None:
    for name in ("abc", "z" * 32):
        r = await client.post(SIGNUP, json={"username": name, "password": PASSWORD})
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "password",
    [
        "",
        "short7!",  # 7 characters
        "password",  # common
        "12345678",  # common
        "PASSWORD123",  # common, whatever the case
        "iloveyou",
        "x" * 300,  # far too long
    ],
)
async def test_weak_passwords_are_refused_with_422(
    client: httpx.AsyncClient, password: str
) -> None:
    username = unique_name()
    r = await client.post(SIGNUP, json={"username": username, "password": password})
    error = assert_error(r, 422)
    assert error.get("field") == "password"
    # nothing was created: the name is still free
    r = await client.post(SIGNUP, json={"username": username, "password": PASSWORD})
    assert r.status_code == 201


async def test_the_name_itself_is_not_a_password(client: httpx.AsyncClient) -> None:
    r = await client.post(SIGNUP, json={"username": "morning-walks", "password": "Morning-Walks"})
    assert_error(r, 422)


async def test_a_128_character_password_works_for_signup_and_login(
    client: httpx.AsyncClient,
) -> None:
    long_password = ("calm-waters-" * 11)[:127] + "!"
    assert len(long_password) == 128
    account = await signup(client, password=long_password)
    token = await login(client, account, long_password)
    assert await me_status(client, token) == 200
    # Every character counts: the password cut short does not work.
    r = await client.post(
        LOGIN, json={"username": account.username, "password": long_password[:-1]}
    )
    assert_error(r, 401)


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"username": "a", "password": ',
        b"\xff\xfe\x00garbage",
        b"",
    ],
)
@pytest.mark.parametrize("path", [SIGNUP, LOGIN])
async def test_malformed_json_is_a_json_4xx(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    r = await client.post(path, content=content, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert_error(r, r.status_code)


@pytest.mark.parametrize(
    "payload",
    [[], "text", 42, None, {"username": 5, "password": PASSWORD}, {"username": "abc"}, {}],
)
async def test_wrong_json_shapes_are_422_never_500(client: httpx.AsyncClient, payload) -> None:
    for path in (SIGNUP, LOGIN):
        r = await client.post(path, json=payload)
        assert_error(r, 422)


# --------------------------------------------------------------------------- sign-in


async def test_login_gives_a_working_bearer_token(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    r = await client.post(LOGIN, json={"username": account.username, "password": PASSWORD})
    assert r.status_code == 200
    data = r.json()
    assert data["user"]["id"] == account.id
    assert data["user"]["username"] == account.username
    assert data["token"] != account.token
    r = await client.get(ME, headers={"Authorization": f"Bearer {data['token']}"})
    assert r.status_code == 200
    assert r.json()["user"]["username"] == account.username


async def test_login_ignores_the_case_of_the_name(client: httpx.AsyncClient) -> None:
    account = await signup(client, "MixedCase")
    r = await client.post(LOGIN, json={"username": "mixedcase", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["user"]["id"] == account.id


@pytest.mark.real_argon2
async def test_unknown_name_and_wrong_password_look_the_same(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    wrong = await client.post(LOGIN, json={"username": account.username, "password": "nope" * 3})
    unknown = await client.post(LOGIN, json={"username": "no_such_person", "password": PASSWORD})
    e1, e2 = assert_error(wrong, 401), assert_error(unknown, 401)
    assert e1 == e2

    # ... and take about as long: an unknown name still pays for a password check.
    async def timed(username: str) -> float:
        start = time.perf_counter()
        r = await client.post(LOGIN, json={"username": username, "password": "nope" * 3})
        assert r.status_code == 401
        return time.perf_counter() - start

    known_times, unknown_times = [], []
    for _ in range(5):
        known_times.append(await timed(account.username))
        unknown_times.append(await timed("no_such_person"))
    assert statistics.median(unknown_times) > 0.5 * statistics.median(known_times), (
        known_times,
        unknown_times,
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
async def test_me_without_a_valid_token_is_401(client: httpx.AsyncClient, headers) -> None:
    r = await client.get(ME, headers=headers)
    assert_error(r, 401)


# --------------------------------------------------------------------------- sessions


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    other = await login(client, account)
    r = await client.post("/api/v1/auth/logout", headers=account.headers)
    assert r.status_code == 204
    assert await me_status(client, account.token) == 401
    # only that session ended
    assert await me_status(client, other) == 200
    r = await client.post("/api/v1/auth/logout", headers=account.headers)
    assert_error(r, 401)


async def test_sessions_are_listed_and_another_one_can_be_ended(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    second = await login(client, account)
    stranger = await signup(client)

    r = await client.get("/api/v1/auth/sessions", headers=account.headers)
    assert r.status_code == 200
    sessions = r.json()["sessions"]
    assert len(sessions) == 2
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1
    other = next(s for s in sessions if not s["current"])
    assert {"id", "created_at", "last_seen_at"} <= set(other)

    # Nobody can end someone else's session.
    r = await client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=stranger.headers)
    assert_error(r, 404)
    assert await me_status(client, second) == 200

    r = await client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=account.headers)
    assert r.status_code == 204
    assert await me_status(client, second) == 401
    assert await me_status(client, account.token) == 200
    r = await client.get("/api/v1/auth/sessions", headers=account.headers)
    assert [s["id"] for s in r.json()["sessions"]] == [current[0]["id"]]


async def test_an_idle_session_expires(
    client: httpx.AsyncClient, clock: FrozenClock, settings
) -> None:
    account = await signup(client)
    clock.advance(minutes=settings.session_idle_minutes - 5)
    assert await me_status(client, account.token) == 200  # use keeps it alive
    clock.advance(minutes=settings.session_idle_minutes - 5)
    assert await me_status(client, account.token) == 200
    clock.advance(minutes=settings.session_idle_minutes + 1)
    assert await me_status(client, account.token) == 401


async def test_recovery_code_sets_a_new_password_once_and_ends_old_sessions(
    client: httpx.AsyncClient,
) -> None:
    account = await signup(client)
    second = await login(client, account)
    code = account.recovery_codes[3]
    new_password = "a-brand-new-gentle-phrase"

    r = await client.post(
        "/api/v1/auth/recover",
        json={"username": account.username, "recovery_code": code, "new_password": new_password},
    )
    assert r.status_code == 200, r.text
    fresh = r.json()["token"]
    assert r.json()["user"]["id"] == account.id
    assert await me_status(client, fresh) == 200
    # every session from before is over
    assert await me_status(client, account.token) == 401
    assert await me_status(client, second) == 401
    # the old password is gone, the new one works
    r = await client.post(LOGIN, json={"username": account.username, "password": PASSWORD})
    assert_error(r, 401)
    await login(client, account, new_password)

    # the code is spent
    r = await client.post(
        "/api/v1/auth/recover",
        json={"username": account.username, "recovery_code": code, "new_password": PASSWORD},
    )
    assert_error(r, 401)
    await login(client, account, new_password)
    # another unused code still works
    r = await client.post(
        "/api/v1/auth/recover",
        json={
            "username": account.username,
            "recovery_code": account.recovery_codes[0],
            "new_password": PASSWORD,
        },
    )
    assert r.status_code == 200


async def test_recovery_with_a_wrong_code_or_another_persons_code_fails(
    client: httpx.AsyncClient,
) -> None:
    alice = await signup(client)
    bob = await signup(client)
    for username, code in (
        (alice.username, "aaaa-bbbb-cccc-dddd"),
        (alice.username, bob.recovery_codes[0]),
        ("nobody_here", alice.recovery_codes[0]),
    ):
        r = await client.post(
            "/api/v1/auth/recover",
            json={"username": username, "recovery_code": code, "new_password": "fresh-start-99"},
        )
        assert_error(r, 401)
    assert await me_status(client, alice.token) == 200


async def test_password_change_ends_the_other_sessions(client: httpx.AsyncClient) -> None:
    account = await signup(client)
    other = await login(client, account)
    r = await client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-the-password", "new_password": "another-calm-phrase"},
        headers=account.headers,
    )
    assert_error(r, 403)
    assert await me_status(client, other) == 200

    r = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "another-calm-phrase"},
        headers=account.headers,
    )
    assert r.status_code == 204
    assert await me_status(client, account.token) == 200
    assert await me_status(client, other) == 401
    await login(client, account, "another-calm-phrase")
    r = await client.post(LOGIN, json={"username": account.username, "password": PASSWORD})
    assert_error(r, 401)


async def test_cookie_writes_need_the_csrf_token(server, client: httpx.AsyncClient) -> None:
    """A session cookie alone can't change anything: a write also needs the session's CSRF
    token (which only our pages can read) and must come from our own origin."""
    account = await signup(client)
    csrf = await db_scalar(
        server,
        "SELECT csrf_token FROM auth_sessions WHERE token_hash = :h",
        h=hash_token(account.token),
    )
    async with make_client(server.url) as browser:
        browser.cookies.set("ss_session", account.token)
        r = await browser.get(ME)
        assert r.status_code == 200  # the cookie does sign the person in
        r = await browser.post("/api/v1/auth/logout")
        assert_error(r, 403, "csrf")
        r = await browser.post("/api/v1/auth/logout", headers={"x-csrf-token": "guessed"})
        assert_error(r, 403, "csrf")
        r = await browser.post(
            "/api/v1/auth/logout",
            headers={"x-csrf-token": csrf, "origin": "https://evil.example"},
        )
        assert_error(r, 403, "csrf")
        assert await me_status(client, account.token) == 200

        r = await browser.post(
            "/api/v1/auth/logout", headers={"x-csrf-token": csrf, "origin": server.url}
        )
        assert r.status_code == 204
    assert await me_status(client, account.token) == 401


# --------------------------------------------------------------------------- storage


@pytest.mark.real_argon2
async def test_password_is_stored_as_argon2id(server, client: httpx.AsyncClient) -> None:
    account = await signup(client)
    stored = await db_scalar(
        server, "SELECT password_hash FROM users WHERE id = :id", id=account.id
    )
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    # with argon2's recommended cost, not something weaker
    assert not PasswordHasher().check_needs_rehash(stored)
    assert PasswordHasher().verify(stored, PASSWORD)


async def test_secrets_are_stored_only_hashed(server, client: httpx.AsyncClient) -> None:
    account: Account = await signup(client)
    second = await login(client, account)
    # Nothing anywhere in the database holds a token, a recovery code or the password.
    dump = []
    for table in Base.metadata.sorted_tables:
        for row in await db_rows(server, f"SELECT * FROM {table.name}"):
            dump.append(repr(tuple(row)))
    everything = "\n".join(dump)
    assert account.username in everything  # the dump does contain the account
    for secret in (account.token, second, PASSWORD, *account.recovery_codes):
        assert secret not in everything
    for code in account.recovery_codes:
        assert code.replace("-", "") not in everything
