"""Messages over HTTP: posting, retries, exact bodies, limits, history and a gap-free seq."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from helpers import (
    Room,
    assert_error,
    create_group,
    db_scalar,
    history,
    join,
    new_client_id,
    post,
    signup,
)
from safespace.clock import FrozenClock


def url(room_id: int) -> str:
    return f"/api/v1/rooms/{room_id}/messages"


async def count_rows(server, room_id: int) -> int:
    return int(
        await db_scalar(server, "SELECT count(*) FROM messages WHERE room_id = :r", r=room_id)
    )


async def test_posting_returns_the_stored_message(
    client: httpx.AsyncClient, room: Room, clock: FrozenClock
) -> None:
    r = await client.post(
        url(room.id),
        json={"client_id": "c-1", "body": "Hello, everyone."},
        headers=room.alice.headers,
    )
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    assert set(message) >= {"id", "room_id", "seq", "author", "body", "created_at"}
    assert isinstance(message["id"], int)
    assert message["room_id"] == room.id
    assert message["seq"] == 1
    assert message["author"] == {"alias": "alice_a"}
    assert message["body"] == "Hello, everyone."
    created = datetime.fromisoformat(message["created_at"].replace("Z", "+00:00"))
    assert created == clock.now().astimezone(UTC)

    assert await history(client, room.bob, room.id) == [message]
    second = await post(client, room.bob, room.id, "Hi Alice.")
    assert second["seq"] == 2
    assert second["author"] == {"alias": room.bob.username}


async def test_the_same_client_id_returns_the_same_message_once(
    server, client: httpx.AsyncClient, room: Room
) -> None:
    first = await post(client, room.alice, room.id, "only once please", client_id="retry-me")
    again = await post(client, room.alice, room.id, "only once please", client_id="retry-me")
    assert again == first
    # even if the retry's body differs, the first answer stands
    changed = await post(client, room.alice, room.id, "edited in the box", client_id="retry-me")
    assert changed == first
    assert await count_rows(server, room.id) == 1
    assert [m["id"] for m in await history(client, room.alice, room.id)] == [first["id"]]

    # client ids belong to their author: someone else's "retry-me" is a new message
    bobs = await post(client, room.bob, room.id, "my own", client_id="retry-me")
    assert bobs["id"] != first["id"] and bobs["seq"] == 2


async def test_concurrent_retries_of_one_client_id_make_one_message(
    server, client: httpx.AsyncClient, room: Room
) -> None:
    results = await asyncio.gather(
        *(post(client, room.alice, room.id, "network is flaky", client_id="same") for _ in range(8))
    )
    assert len({m["id"] for m in results}) == 1
    assert {m["seq"] for m in results} == {1}
    assert await count_rows(server, room.id) == 1
    nxt = await post(client, room.bob, room.id, "next")
    assert nxt["seq"] == 2


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script> & ü 😀",
        "  leading and trailing spaces  ",
        "line one\nline two\r\n\ttabbed",
        '{"type": "ack"} \\ "quotes" \u2028 separator',
        "&lt;already escaped&gt; &amp;",
        "\u202eright-to-left override",
    ],
)
async def test_bodies_come_back_exactly_as_sent(
    client: httpx.AsyncClient, room: Room, body: str
) -> None:
    message = await post(client, room.alice, room.id, body)
    assert message["body"] == body
    [stored] = await history(client, room.bob, room.id)
    assert stored["body"] == body


async def test_bodies_over_4000_characters_are_refused(
    server, client: httpx.AsyncClient, room: Room
) -> None:
    r = await client.post(
        url(room.id),
        json={"client_id": new_client_id(), "body": "a" * 4001},
        headers=room.alice.headers,
    )
    assert_error(r, 422)
    assert await count_rows(server, room.id) == 0

    ok = await post(client, room.alice, room.id, "a" * 4000)
    assert ok["seq"] == 1  # the refused one took no seq
    assert len(ok["body"]) == 4000
    # characters, not bytes: 4,000 emoji are fine
    emoji = await post(client, room.alice, room.id, "😀" * 4000)
    assert emoji["body"] == "😀" * 4000


@pytest.mark.parametrize(
    "payload",
    [
        {"client_id": "c", "body": ""},
        {"client_id": "c", "body": "   \n\t "},
        {"client_id": "c"},
        {"body": "no client id"},
        {"client_id": "", "body": "empty client id"},
        {"client_id": "x" * 65, "body": "client id too long"},
        {"client_id": "c", "body": 42},
        {"client_id": "c", "body": None},
        {"client_id": ["c"], "body": "list client id"},
    ],
)
async def test_invalid_posts_are_422(
    server, client: httpx.AsyncClient, room: Room, payload
) -> None:
    r = await client.post(url(room.id), json=payload, headers=room.alice.headers)
    assert_error(r, 422)
    assert await count_rows(server, room.id) == 0


async def test_malformed_json_post_is_a_json_4xx(client: httpx.AsyncClient, room: Room) -> None:
    r = await client.post(
        url(room.id),
        content=b'{"client_id": "c", "body": "unterminated',
        headers=room.alice.headers | {"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500
    assert_error(r, r.status_code)


async def test_history_pages_ascending_by_seq(client: httpx.AsyncClient, room: Room) -> None:
    for i in range(1, 11):
        await post(client, room.alice if i % 2 else room.bob, room.id, f"message {i}")

    async def seqs(**params) -> list[int]:
        return [m["seq"] for m in await history(client, room.bob, room.id, **params)]

    assert await seqs() == list(range(1, 11))
    assert await seqs(limit=3) == [8, 9, 10]  # the latest page, still ascending
    assert await seqs(after=3) == list(range(4, 11))
    assert await seqs(after=3, limit=2) == [4, 5]
    assert await seqs(after=10) == []
    assert await seqs(after=0) == list(range(1, 11))
    assert await seqs(before=5) == [1, 2, 3, 4]
    assert await seqs(before=8, limit=3) == [5, 6, 7]
    assert await seqs(before=1) == []
    messages = await history(client, room.alice, room.id, after=4, limit=1)
    assert messages[0]["body"] == "message 5"

    for params in ({"limit": 0}, {"limit": 201}, {"after": -1}, {"before": "soon"}):
        r = await client.get(url(room.id), params=params, headers=room.bob.headers)
        assert_error(r, 422)


async def test_many_concurrent_posts_get_seqs_1_to_n_without_gaps(
    client: httpx.AsyncClient, room: Room
) -> None:
    authors = [room.alice, room.bob, room.fac]
    bodies = [f"concurrent {i}" for i in range(50)]
    results = await asyncio.gather(
        *(post(client, authors[i % 3], room.id, body) for i, body in enumerate(bodies))
    )
    assert sorted(m["seq"] for m in results) == list(range(1, 51))
    assert len({m["id"] for m in results}) == 50

    stored = await history(client, room.alice, room.id, limit=200)
    assert [m["seq"] for m in stored] == list(range(1, 51))
    assert sorted(m["body"] for m in stored) == sorted(bodies)
    by_seq = {m["seq"]: m for m in results}
    assert all(by_seq[m["seq"]] == m for m in stored)


async def test_rooms_are_separate_sequences(client: httpx.AsyncClient, room: Room) -> None:
    other = await create_group(client, room.fac)
    await join(client, room.alice, other)
    await post(client, room.alice, room.id, "room one")
    first_other = await post(client, room.alice, other["room_id"], "room two")
    assert first_other["seq"] == 1
    assert [m["body"] for m in await history(client, room.alice, other["room_id"])] == ["room two"]


# --------------------------------------------------------------------------- who may read and write


async def test_non_members_can_neither_read_nor_post(
    server, client: httpx.AsyncClient, room: Room
) -> None:
    await post(client, room.alice, room.id, "private to the group")
    outsider = await signup(client)
    r = await client.get(url(room.id), headers=outsider.headers)
    denied = assert_error(r, r.status_code)
    assert r.status_code in (403, 404)
    assert "private to the group" not in r.text

    r = await client.post(
        url(room.id),
        json={"client_id": new_client_id(), "body": "let me in"},
        headers=outsider.headers,
    )
    assert r.status_code in (403, 404)
    assert await count_rows(server, room.id) == 1

    # A room that doesn't exist answers the same, so nobody can probe for private rooms.
    r = await client.get(url(room.id + 1000), headers=outsider.headers)
    assert r.status_code in (403, 404)
    assert assert_error(r, r.status_code)["code"] == denied["code"]


async def test_anonymous_requests_are_401(server, client: httpx.AsyncClient, room: Room) -> None:
    r = await client.get(url(room.id))
    assert_error(r, 401)
    r = await client.post(url(room.id), json={"client_id": "c", "body": "hello?"})
    assert_error(r, 401)
    r = await client.post(
        url(room.id),
        json={"client_id": "c", "body": "hello?"},
        headers={"Authorization": "Bearer made-up"},
    )
    assert_error(r, 401)
    assert await count_rows(server, room.id) == 0


async def test_a_member_who_left_can_no_longer_read_or_post(
    client: httpx.AsyncClient, room: Room
) -> None:
    await post(client, room.bob, room.id, "still here")
    r = await client.post(f"/api/v1/groups/{room.group['slug']}/leave", headers=room.bob.headers)
    assert r.status_code == 204
    r = await client.get(url(room.id), headers=room.bob.headers)
    assert r.status_code in (403, 404)
    r = await client.post(
        url(room.id),
        json={"client_id": new_client_id(), "body": "sneaking back"},
        headers=room.bob.headers,
    )
    assert r.status_code in (403, 404)
    # what they wrote stays, under the alias they had
    [kept] = await history(client, room.alice, room.id)
    assert kept["body"] == "still here" and kept["author"]["alias"] == room.bob.username
