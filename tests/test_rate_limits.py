"""Rate limits: the limiter contract (in-process and Redis), and 429 + Retry-After on every
limited way in (sign-up, sign-in, recovery, messages over HTTP, websocket and form)."""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from helpers import (
    PASSWORD,
    Account,
    Room,
    assert_error,
    history,
    login,
    new_client_id,
    open_ws,
    post,
    signup,
    unique_name,
)
from safespace.clock import FrozenClock
from safespace.ratelimit import (
    HOUR,
    RULES,
    MemoryLimiter,
    RateLimited,
    RedisLimiter,
    key_prefix,
    make_limiter,
    normalize_subject,
    wait_words,
)
from safespace.settings import Settings

REDIS_URL = os.environ.get("SAFESPACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        if IN_CI:
            pytest.fail(f"CI needs Redis at {REDIS_URL}", pytrace=False)
        pytest.skip(f"no Redis at {REDIS_URL}")


async def _redis_keys(prefix: str) -> dict[str, list[str]]:
    """Every key under a prefix, with the members of the sorted sets among them."""
    import redis.asyncio as redis

    r = redis.Redis.from_url(REDIS_URL)
    try:
        found: dict[str, list[str]] = {}
        async for raw in r.scan_iter(match=f"{prefix}:*"):
            key = raw.decode()
            members = []
            if (await r.type(key)) == b"zset":
                members = [m.decode() for m in await r.zrange(key, 0, -1)]
            found[key] = members
        return found
    finally:
        await r.aclose()


async def _redis_clear(prefix: str) -> None:
    import redis.asyncio as redis

    r = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=f"{prefix}:*")]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, clock: FrozenClock) -> AsyncIterator[Any]:
    if request.param == "memory":
        made: Any = MemoryLimiter(clock)
        yield made
        await made.stop()
        return
    _redis_or_skip()
    prefix = f"safespace:test-{uuid.uuid4().hex[:12]}:rl"
    made = RedisLimiter(REDIS_URL, prefix, clock)
    try:
        yield made
    finally:
        await made.stop()
        await _redis_clear(prefix)


async def _fill(limiter: Any, name: str, subject: str, count: int) -> None:
    for _ in range(count):
        await limiter.hit(name, subject)


async def _refused(limiter: Any, name: str, subject: str) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        await limiter.hit(name, subject)
    return caught.value


# --------------------------------------------------------------------------- the contract


async def test_a_window_allows_its_limit_then_says_how_long_to_wait(
    limiter: Any, clock: FrozenClock
) -> None:
    rule = RULES["recover_client"]  # 10 in 10 minutes, 50 a day
    await _fill(limiter, "recover_client", "203.0.113.5", 10)
    err = await _refused(limiter, "recover_client", "203.0.113.5")
    assert (err.status, err.code, err.retry_after) == (429, "rate_limited", 600)
    assert err.extra == {"retry_after": 600}
    assert "10 minutes" in err.message and "rate" not in err.message.lower()
    # Others are counted apart.
    await limiter.hit("recover_client", "203.0.113.6")
    await limiter.hit("signup_client", "203.0.113.5")
    # Time passes: the oldest hits leave the window one by one.
    clock.advance(seconds=599)
    assert (await _refused(limiter, "recover_client", "203.0.113.5")).retry_after == 1
    clock.advance(seconds=1)
    await limiter.hit("recover_client", "203.0.113.5")
    assert rule.windows[0].limit == 10


async def test_the_window_slides_rather_than_resetting_on_the_hour(
    limiter: Any, clock: FrozenClock
) -> None:
    await _fill(limiter, "recover_client", "a", 5)
    clock.advance(seconds=300)
    await _fill(limiter, "recover_client", "a", 5)
    assert (await _refused(limiter, "recover_client", "a")).retry_after == 300
    clock.advance(seconds=300)  # the first five are out, the last five still in
    await _fill(limiter, "recover_client", "a", 5)
    assert (await _refused(limiter, "recover_client", "a")).retry_after == 300


async def test_refused_hits_are_not_counted(limiter: Any, clock: FrozenClock) -> None:
    await _fill(limiter, "recover_client", "b", 10)
    for _ in range(20):  # hammering while limited doesn't push the wait further out
        assert (await _refused(limiter, "recover_client", "b")).retry_after == 600
    clock.advance(seconds=600)
    await _fill(limiter, "recover_client", "b", 10)


async def test_the_longest_window_holds_too(limiter: Any, clock: FrozenClock) -> None:
    # recover_client: 10 in 10 minutes and 50 a day.
    for _ in range(5):
        await _fill(limiter, "recover_client", "c", 10)
        clock.advance(seconds=600)
    err = await _refused(limiter, "recover_client", "c")
    assert err.retry_after == 86400 - 5 * 600
    assert "hours" in err.message


async def test_a_released_hit_gives_its_slot_back(limiter: Any) -> None:
    for _ in range(99):
        await limiter.hit("login_account", "Someone")
    ticket = await limiter.hit("login_account", "someone")  # names count case-insensitively
    await _refused(limiter, "login_account", "SOMEONE")
    await limiter.release(ticket)
    await limiter.release(ticket)  # twice is harmless
    await limiter.hit("login_account", "someone")
    await _refused(limiter, "login_account", "someone")


async def test_concurrent_hits_never_take_more_than_the_limit(limiter: Any) -> None:
    async def attempt() -> bool:
        try:
            await limiter.hit("login_account", "target")
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(150)))
    assert sum(results) == 100


async def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(limiter: Any) -> None:
    assert normalize_subject("client", "2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert normalize_subject("client", "::ffff:203.0.113.9") == "203.0.113.9"
    for i in range(10):
        await limiter.hit("recover_client", f"2001:db8:1:2::{i + 1:x}")
    await _refused(limiter, "recover_client", "2001:db8:1:2:ffff::1")
    await limiter.hit("recover_client", "2001:db8:1:3::1")


async def test_keys_hold_no_address_or_name(limiter: Any) -> None:
    subjects = {"recover_client": "198.51.100.23", "login_account": "quiet_heron", "messages": "7"}
    for name, subject in subjects.items():
        await limiter.hit(name, subject)
    if isinstance(limiter, MemoryLimiter):
        stored = {k: [] for k in limiter.keys()}
    else:
        stored = await _redis_keys(limiter.prefix)
        assert all(k.startswith(limiter.prefix + ":") for k in stored)
    assert len([k for k in stored if ":secret:" not in k]) == 3
    dump = repr(stored)
    for subject in ("198.51.100.23", "quiet_heron", "198.51.100"):
        assert subject not in dump


async def test_the_memory_limiter_forgets_what_no_window_holds(clock: FrozenClock) -> None:
    limiter = MemoryLimiter(clock)
    limiter.SWEEP_EVERY = 50
    for i in range(49):
        await limiter.hit("messages", str(i))
    assert len(limiter.keys()) == 49
    clock.advance(hours=1)
    await limiter.hit("messages", "last")  # the 50th hit sweeps
    assert limiter.keys() == [limiter.key_for(limiter.rules["messages"], "last")]


async def test_per_user_keys_are_remembered_but_addresses_and_names_never_are(
    clock: FrozenClock,
) -> None:
    """Every post hits the per-user message limit, so its key is kept rather than hashed
    again; a bounded number of them, and never for an address or a sign-in name."""
    limiter = MemoryLimiter(clock)
    limiter.USER_KEYS = 3
    key = limiter.key_for(limiter.rules["messages"], "7")
    for subject in ("7", "8", "9"):
        await limiter.hit("messages", subject)
    await limiter.hit("login_client", "198.51.100.23")
    await limiter.hit("login_account", "quiet_heron")
    remembered = repr(limiter._user_keys)
    assert "198.51.100.23" not in remembered and "quiet_heron" not in remembered
    assert len(limiter._user_keys) == 3
    await limiter.hit("messages", "10")  # the fourth: the kept keys are dropped, not grown
    assert len(limiter._user_keys) == 1
    assert limiter.key_for(limiter.rules["messages"], "7") == key  # same key after
    # and the limit still counts across the forgetting: 7 has used two of its 40 now
    await limiter.hit("messages", "7")
    assert len(limiter._log[key]) == 2


def test_scaling_moves_every_limit_but_the_failed_login_promise(clock: FrozenClock) -> None:
    limiter = MemoryLimiter(clock, scale=3)
    assert limiter.rules["messages"].windows[0].limit == 3 * RULES["messages"].windows[0].limit
    assert limiter.rules["login_account"].windows[0].limit == 100
    assert MemoryLimiter(clock, scale=0.01).rules["messages"].windows[0].limit == 1
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            MemoryLimiter(clock, scale=bad)
    assert Settings.from_env({"SAFESPACE_RATE_LIMIT_SCALE": "2.5"}).rate_limit_scale == 2.5


def test_every_limit_of_issue_3_is_named_and_the_account_cap_is_100_an_hour() -> None:
    for name in ("signup_client", "login_client", "login_account", "recover_client"):
        assert name in RULES
    for name in ("recover_account", "messages", "reports", "invites"):
        assert name in RULES
    cap = RULES["login_account"]
    assert cap.per == "account" and cap.fixed
    assert [(w.limit, w.seconds) for w in cap.windows] == [(100, HOUR)]
    for rule in RULES.values():
        assert "{wait}" in rule.message and "!" not in rule.message
    assert [wait_words(s) for s in (1, 12, 60, 61, 3600, 5400)] == [
        "1 second",
        "12 seconds",
        "1 minute",
        "2 minutes",
        "1 hour",
        "2 hours",
    ]


def test_redis_is_chosen_by_the_redis_url(tmp_path, clock: FrozenClock) -> None:
    plain = Settings(data_dir=tmp_path)
    assert isinstance(make_limiter(plain, clock), MemoryLimiter)
    scaled = Settings(data_dir=tmp_path, redis_url=REDIS_URL)
    made = make_limiter(scaled, clock)
    assert isinstance(made, RedisLimiter)
    assert made.prefix == key_prefix(scaled.resolved_database_url)
    assert made.prefix.startswith("safespace:") and made.prefix.endswith(":rl")


async def test_without_redis_the_limits_stay_on_in_this_process(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every call fails and the process falls back to itself.
    limiter = RedisLimiter("redis://127.0.0.1:1/0", "safespace:nowhere:rl", clock)
    try:
        with caplog.at_level(logging.WARNING, logger="safespace.ratelimit"):
            tickets = [await limiter.hit("login_account", "x") for _ in range(100)]
            await _refused(limiter, "login_account", "x")
            await limiter.release(tickets[0])
            await limiter.hit("login_account", "x")
        assert "Redis unreachable" in caplog.text
    finally:
        await limiter.stop()


# --------------------------------------------------------------------------- over HTTP


def _assert_limited(r: httpx.Response, at_least: int = 1, at_most: int | None = None) -> str:
    err = assert_error(r, 429, "rate_limited")
    retry = r.headers.get("retry-after")
    assert retry is not None and retry.isdigit(), r.headers
    assert int(retry) >= at_least and (at_most is None or int(retry) <= at_most), retry
    assert err["retry_after"] == int(retry)
    assert "try again in" in err["message"] or "post again in" in err["message"]
    return err["message"]  # type: ignore[no-any-return]


def _from(server: Any, address: str) -> httpx.AsyncClient:
    """A client whose requests the app sees coming from `address` (as uvicorn would report
    it, from the socket or, with --behind-proxy, from X-Forwarded-For)."""
    transport = httpx.ASGITransport(app=server.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_signup_flood_gets_429_then_works_after_the_window(
    server, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    for i in range(20):  # every attempt counts, even ones refused for another reason
        r = await client.post(
            "/api/v1/auth/signup", json={"username": f"flood_{i}", "password": "short"}
        )
        assert r.status_code == 422, r.text
    r = await client.post(
        "/api/v1/auth/signup", json={"username": unique_name(), "password": PASSWORD}
    )
    _assert_limited(r, at_most=600)
    async with _from(server, "198.51.100.40") as elsewhere:  # another client isn't held up
        r = await elsewhere.post(
            "/api/v1/auth/signup", json={"username": unique_name(), "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
    clock.advance(minutes=10)
    await signup(client)


async def test_login_flood_from_one_client_gets_429(
    server, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    account = await signup(client)
    for i in range(60):
        r = await client.post(
            "/api/v1/auth/login", json={"username": f"nobody_{i}", "password": "wrong-guess"}
        )
        assert r.status_code == 401, r.text
    r = await client.post(
        "/api/v1/auth/login", json={"username": account.username, "password": account.password}
    )
    message = _assert_limited(r, at_most=600)
    assert "your connection" in message
    async with _from(server, "198.51.100.41") as elsewhere:
        await login(elsewhere, account)
    clock.advance(minutes=10)
    await login(client, account)


async def test_recover_flood_gets_429(server, client: httpx.AsyncClient) -> None:
    account = await signup(client)
    for _ in range(10):
        r = await client.post(
            "/api/v1/auth/recover",
            json={
                "username": account.username,
                "recovery_code": "not-a-code",
                "new_password": "a-new-long-password-1",
            },
        )
        assert_error(r, 401, "invalid_recovery")
    r = await client.post(
        "/api/v1/auth/recover",
        json={
            "username": account.username,
            "recovery_code": account.recovery_codes[0],
            "new_password": "a-new-long-password-1",
        },
    )
    _assert_limited(r)


async def test_recovery_per_name_holds_across_clients(server, client: httpx.AsyncClient) -> None:
    account = await signup(client)
    body = {"username": account.username, "new_password": "a-new-long-password-2"}
    for i in range(20):
        async with _from(server, f"203.0.113.{i + 1}") as c:
            r = await c.post("/api/v1/auth/recover", json={**body, "recovery_code": "nope"})
            assert_error(r, 401, "invalid_recovery")
    async with _from(server, "203.0.113.200") as c:
        r = await c.post(
            "/api/v1/auth/recover", json={**body, "recovery_code": account.recovery_codes[0]}
        )
        _assert_limited(r)


async def test_100_failed_logins_an_hour_per_account_whatever_the_client(
    server, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The cap is on the name: 100 different addresses get one guess each, then even the
    right password waits out the hour. Sessions already open keep working. A right password
    before the cap doesn't use any of it."""
    target = await signup(client)
    bystander = await signup(client)
    wrong = {"username": target.username, "password": "not-the-password"}

    async def guess(i: int, password: str | None = None) -> httpx.Response:
        # Each from its own address (in-process: no traffic goes anywhere).
        async with _from(server, f"203.0.113.{i % 254 + 1}") as c:
            body = wrong if password is None else {**wrong, "password": password}
            return await c.post("/api/v1/auth/login", json=body)

    for batch in range(0, 99, 33):
        answers = await asyncio.gather(*(guess(i) for i in range(batch, batch + 33)))
        for r in answers:
            assert_error(r, 401, "invalid_credentials")
    assert (await guess(200, target.password)).status_code == 200  # not counted
    assert_error(await guess(201), 401, "invalid_credentials")  # the 100th failure
    clock.advance(minutes=20)
    refused = await guess(202, target.password)
    message = _assert_limited(refused, at_least=40 * 60, at_most=40 * 60)
    assert "40 minutes" in message and "already signed in" in message
    _assert_limited(await guess(203))
    r = await client.get("/api/v1/auth/me", headers=target.headers)  # sessions live on
    assert r.status_code == 200
    await login(client, bystander)  # other accounts are untouched
    clock.advance(minutes=40)
    assert (await guess(204, target.password)).status_code == 200


async def test_no_address_reaches_the_logs(
    server, caplog: pytest.LogCaptureFixture, clock: FrozenClock
) -> None:
    address = "198.51.100.77"
    with caplog.at_level(logging.DEBUG):
        async with _from(server, address) as c:
            for _ in range(12):
                await c.post(
                    "/api/v1/auth/recover",
                    json={"username": "someone", "recovery_code": "x", "new_password": "pw"},
                )
                await c.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
    assert "rate limit recover_client reached" in caplog.text
    assert address not in caplog.text
    assert address not in repr(server.svc.limits.keys())


# --------------------------------------------------------------------------- the pages


async def _page_form(c: httpx.AsyncClient, path: str) -> str:
    r = await c.get(path)
    assert r.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert match
    return match.group(1)


async def test_page_forms_re_render_with_the_friendly_message_and_429(
    server, client: httpx.AsyncClient
) -> None:
    async with _from(server, "198.51.100.90") as c:
        csrf = await _page_form(c, "/login")
        for i in range(60):
            await c.post(
                "/login", data={"csrf_token": csrf, "username": f"n_{i}", "password": "nope-nope"}
            )
        r = await c.post(
            "/login", data={"csrf_token": csrf, "username": "n_x", "password": "nope-nope"}
        )
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"].startswith("text/html")
        text = html.unescape(r.text)
        assert "sign-in attempts from your connection" in text and "try again in" in text
        assert 'name="username"' in text  # the form is back, ready for later

        csrf = await _page_form(c, "/signup")
        for i in range(20):
            await c.post("/signup", data={"csrf_token": csrf, "username": f"s_{i}", "password": ""})
        r = await c.post("/signup", data={"csrf_token": csrf, "username": "s_x", "password": ""})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "accounts have been made from your connection" in html.unescape(r.text)

        csrf = await _page_form(c, "/recover")
        form = {"csrf_token": csrf, "username": "x", "code": "y", "password": "z-long-enough-1"}
        for _ in range(10):
            await c.post("/recover", data=form)
        r = await c.post("/recover", data=form)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "recovery attempts from your connection" in html.unescape(r.text)


# --------------------------------------------------------------------------- messages


async def _flood(client: httpx.AsyncClient, who: Account, room_id: int, count: int) -> None:
    await asyncio.gather(*(post(client, who, room_id, f"line {i}") for i in range(count)))


async def test_message_flood_over_http_gets_429_then_posts_again(
    client: httpx.AsyncClient, room: Room, clock: FrozenClock
) -> None:
    await _flood(client, room.alice, room.id, 40)
    r = await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={"client_id": new_client_id(), "body": "one more"},
        headers=room.alice.headers,
    )
    message = _assert_limited(r, at_most=60)
    assert message.startswith("That message couldn't be sent yet: you can post again in")
    await post(client, room.bob, room.id, "others can still talk")
    assert len(await history(client, room.bob, room.id, limit=200)) == 41
    clock.advance(minutes=1)
    await post(client, room.alice, room.id, "back again")


async def test_message_flood_on_the_websocket_gets_an_error_frame_and_stays_open(
    server, client: httpx.AsyncClient, room: Room, clock: FrozenClock
) -> None:
    await _flood(client, room.alice, room.id, 30)  # HTTP and socket share one budget
    ws = await open_ws(server, room.alice.token)
    try:
        for i in range(10):
            await ws.send_message(room.id, f"socket {i}")
        cid = new_client_id()
        await ws.send({"type": "send", "room_id": room.id, "client_id": cid, "body": "extra"})
        frames = await ws.until_pong()  # the pong proves the connection is still open
        errors = [f for f in frames if f.get("type") == "error"]
        assert len(errors) == 1, frames
        error = errors[0]
        assert error["code"] == "rate_limited" and error["client_id"] == cid
        assert isinstance(error["retry_after"], int) and 1 <= error["retry_after"] <= 60
        assert "post again in" in error["message"]
        clock.advance(seconds=error["retry_after"])
        await ws.send_message(room.id, "and now it goes", client_id=cid)
    finally:
        await ws.close()


async def test_the_form_composer_is_limited_too(
    server, client: httpx.AsyncClient, room: Room
) -> None:
    await _flood(client, room.alice, room.id, 40)
    client.cookies.set("ss_session", room.alice.token)
    r = await client.get(f"/g/{room.group['slug']}/room")
    assert r.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert csrf
    r = await client.post(
        f"/g/{room.group['slug']}/room/send",
        data={"csrf_token": csrf.group(1), "client_id": new_client_id(), "body": "by form"},
    )
    # The room comes back with the friendly reason and the words still in the box.
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert "you’ve sent a lot in a short time" in r.text
    assert ">by form</textarea>" in r.text
    assert len(await history(client, room.bob, room.id, limit=200)) == 40


# --------------------------------------------------------------------------- with Redis


async def test_with_redis_limits_are_shared_and_keys_hold_no_address(
    make_server, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    _redis_or_skip()
    first = await make_server(redis_url=REDIS_URL)
    second = await make_server(redis_url=REDIS_URL)  # another process of the deployment
    prefix = first.svc.limits.prefix
    assert prefix == second.svc.limits.prefix
    await _redis_clear(prefix)
    address = "198.51.100.123"
    try:
        with caplog.at_level(logging.DEBUG):
            for i in range(10):
                server = (first, second)[i % 2]
                async with _from(server, address) as c:
                    r = await c.post(
                        "/api/v1/auth/recover",
                        json={"username": "someone", "recovery_code": "x", "new_password": "pw"},
                    )
                    assert_error(r, 422)
            async with _from(first, address) as c:
                r = await c.post(
                    "/api/v1/auth/recover",
                    json={"username": "someone", "recovery_code": "x", "new_password": "pw"},
                )
                _assert_limited(r, at_most=600)
        stored = await _redis_keys(prefix)
        assert stored and address not in repr(stored) and "someone" not in repr(stored)
        assert address not in caplog.text
        clock.advance(minutes=10)
        async with _from(second, address) as c:
            r = await c.post(
                "/api/v1/auth/recover",
                json={"username": "someone", "recovery_code": "x", "new_password": "pw"},
            )
            assert_error(r, 422)
    finally:
        await _redis_clear(prefix)
