"""Odd input gets a JSON 4xx, never a 500: NUL characters, huge numbers, fuzzed bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from helpers import (
    PASSWORD,
    assert_error,
    create_group,
    history,
    join,
    open_ws,
    privileged,
    signup,
)

NUL = "a\x00b"
HUGE = 2**70


@pytest.fixture
async def world(server, client: httpx.AsyncClient) -> dict[str, Any]:
    fac = await privileged(server)
    group = await create_group(client, fac)
    member = await signup(client)
    await join(client, member, group)
    return {"fac": fac, "member": member, "group": group, "room": group["room_id"]}


# (method, path, json body, who) with {slug} and {room} filled in from `world`
ODD_REQUESTS = [
    ("POST", "/api/v1/auth/login", {"username": NUL, "password": PASSWORD}, None),
    ("POST", "/api/v1/auth/signup", {"username": NUL, "password": PASSWORD}, None),
    (
        "POST",
        "/api/v1/auth/recover",
        {"username": NUL, "recovery_code": "abcd-efgh", "new_password": PASSWORD},
        None,
    ),
    ("POST", "/api/v1/groups", {"name": "Name " + NUL, "description": "d"}, "fac"),
    ("POST", "/api/v1/groups", {"name": "Name", "description": NUL}, "fac"),
    ("PUT", "/api/v1/groups/{slug}/rules", {"rules": [NUL]}, "fac"),
    ("GET", "/api/v1/groups/a%00b", None, None),
    ("GET", "/api/v1/groups?tag=a%00b", None, None),
    ("POST", "/api/v1/groups/a%00b/join", {"accept_rules_version": 1}, "member"),
    ("PUT", "/api/v1/admin/users/a%00b/role", {"role": "member"}, "fac"),
    ("POST", "/api/v1/rooms/{room}/messages", {"client_id": NUL, "body": "hi"}, "member"),
    ("POST", "/api/v1/rooms/{room}/messages", {"client_id": "c", "body": NUL}, "member"),
    ("PUT", "/api/v1/groups/{slug}/alias", {"alias": NUL}, "member"),
    ("DELETE", f"/api/v1/auth/sessions/{HUGE}", None, "member"),
    ("DELETE", f"/api/v1/auth/sessions/{2**63}", None, "member"),
    ("GET", f"/api/v1/rooms/{HUGE}/messages", None, "member"),
    ("GET", f"/api/v1/rooms/{2**40}/messages", None, "member"),
    ("POST", f"/api/v1/rooms/{2**40}/messages", {"client_id": "c", "body": "hi"}, "member"),
    ("POST", "/api/v1/groups/{slug}/join", {"accept_rules_version": HUGE}, "member"),
    ("POST", "/api/v1/groups/{slug}/accept-rules", {"version": HUGE}, "member"),
    ("GET", "/api/v1/groups/" + "x" * 5000, None, None),
]


@pytest.mark.parametrize(("method", "path", "body", "who"), ODD_REQUESTS)
async def test_odd_input_is_a_json_4xx(
    server, client: httpx.AsyncClient, world, method, path, body, who
) -> None:
    headers = world[who].headers if who else {}
    path = path.format(slug=world["group"]["slug"], room=world["room"])
    r = await client.request(method, path, json=body, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert_error(r, r.status_code)
    # and the server is fine afterwards
    assert (await client.get("/healthz")).status_code == 200


async def test_history_far_past_the_end_is_empty(client: httpx.AsyncClient, world) -> None:
    assert await history(client, world["member"], world["room"], after=2**53) == []
    assert await history(client, world["member"], world["room"], before=2**53) == []


async def test_a_resume_far_past_the_end_replays_nothing(server, world) -> None:
    ws = await open_ws(server, world["member"].token, resume={world["room"]: 2**62})
    assert await ws.until_pong() == []
    await ws.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
field_values = st.one_of(
    st.text(max_size=60),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=10), max_size=3),
)

ENDPOINTS = {
    "signup": ("POST", "/api/v1/auth/signup", None, ("username", "password")),
    "login": ("POST", "/api/v1/auth/login", None, ("username", "password")),
    "recover": (
        "POST",
        "/api/v1/auth/recover",
        None,
        ("username", "recovery_code", "new_password"),
    ),
    "password": (
        "POST",
        "/api/v1/auth/password",
        "member",
        ("current_password", "new_password"),
    ),
    "create": ("POST", "/api/v1/groups", "fac", ("name", "description", "tags")),
    "join": ("POST", "/api/v1/groups/{slug}/join", "member", ("accept_rules_version", "alias")),
    "accept": ("POST", "/api/v1/groups/{slug}/accept-rules", "member", ("version",)),
    "rules": ("PUT", "/api/v1/groups/{slug}/rules", "fac", ("rules",)),
    "alias": ("PUT", "/api/v1/groups/{slug}/alias", "member", ("alias",)),
    "post": ("POST", "/api/v1/rooms/{room}/messages", "member", ("client_id", "body")),
    "role": ("PUT", "/api/v1/admin/users/{user}/role", "fac", ("role",)),
}


async def test_fuzzed_json_bodies_never_get_a_500(server, world) -> None:
    """Random JSON, and objects with the right keys holding random values, sent to every
    endpoint that reads a body: the answer is always a success or a JSON 4xx."""
    base = server.url
    fill = {
        "slug": world["group"]["slug"],
        "room": world["room"],
        "user": world["member"].username,
    }

    def fuzz() -> None:
        with httpx.Client(base_url=base, timeout=20, trust_env=False) as c:

            @hsettings(
                max_examples=150,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(
                name=st.sampled_from(sorted(ENDPOINTS)),
                shaped=st.booleans(),
                data=st.data(),
            )
            def check(name: str, shaped: bool, data: st.DataObject) -> None:
                method, path, who, keys = ENDPOINTS[name]
                if shaped:
                    payload: Any = {k: data.draw(field_values) for k in keys}
                else:
                    payload = data.draw(json_values)
                headers = world[who].headers if who else {}
                r = c.request(method, path.format(**fill), json=payload, headers=headers)
                assert r.status_code < 500, (name, payload, r.status_code, r.text)
                if r.status_code >= 400:
                    body = r.json()
                    assert isinstance(body["error"]["code"], str), body
                    assert isinstance(body["error"]["message"], str), body

            check()

    await asyncio.to_thread(fuzz)
