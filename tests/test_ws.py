"""The live socket: hello, send/ack, fan-out, retries, resume, restart, bad frames, endings."""

from __future__ import annotations

import asyncio
import os

import orjson
import pytest

from helpers import (
    PASSWORD,
    Room,
    create_group,
    history,
    join,
    login,
    make_client,
    new_client_id,
    open_ws,
    post,
    privileged,
    signup,
)


def seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in messages]


# --------------------------------------------------------------------------- hello


async def test_hello_with_a_token_gets_ready(server, room: Room) -> None:
    ws = await open_ws(server, room.alice.token)
    assert ws.ready is not None
    assert room.id in ws.ready["rooms"]
    assert ws.ready["user"]["username"] == room.alice.username
    await ws.send({"type": "ping"})
    await ws.expect("pong")
    await ws.close()


@pytest.mark.parametrize("token", ["not-a-token", "", 12345, None])
async def test_hello_without_a_valid_sign_in_is_refused(server, room: Room, token) -> None:
    ws = await open_ws(server, hello=False)
    hello: dict = {"type": "hello"}
    if token is not None:
        hello["token"] = token
    await ws.send(hello)  # no cookie either
    frame = await ws.recv()
    assert frame["type"] == "error" and frame["code"] == "unauthenticated"
    assert await ws.wait_closed() == 4401


async def test_a_cookie_signs_in_only_from_our_own_origin(server, room: Room) -> None:
    cookie = {"Cookie": f"ss_session={room.alice.token}"}
    ws = await open_ws(server, headers=cookie, origin=server.url)
    assert ws.ready["user"]["username"] == room.alice.username
    await ws.close()

    for origin in ("https://evil.example", "http://127.0.0.1:1", None):
        ws = await open_ws(server, headers=cookie, origin=origin, hello=False)
        await ws.send({"type": "hello"})
        frame = await ws.recv()
        assert frame["type"] == "error" and frame["code"] == "unauthenticated", origin
        assert await ws.wait_closed() == 4401


async def test_frames_before_hello_get_an_error_and_hello_still_works(server, room: Room) -> None:
    ws = await open_ws(server, hello=False)
    await ws.send({"type": "ping"})
    assert (await ws.expect("error"))["code"] == "hello_first"
    await ws.send({"type": "send", "room_id": room.id, "client_id": "early", "body": "too early"})
    assert (await ws.expect("error"))["code"] == "hello_first"
    await ws.send("not json")
    await ws.expect("error")
    await ws.send({"type": "hello", "token": room.alice.token})
    await ws.expect("ready")
    async with make_client(server.url) as c:
        assert await history(c, room.alice, room.id) == []  # nothing was posted early
    await ws.close()


# --------------------------------------------------------------------------- send and fan-out


async def test_send_is_acked_and_reaches_every_member_connection(
    server, client, room: Room
) -> None:
    carol = await signup(client)  # not a member
    sender = await open_ws(server, room.alice.token)
    alice_phone = await open_ws(server, await login(client, room.alice))
    bob = await open_ws(server, room.bob.token)
    fac = await open_ws(server, room.fac.token)
    outsider = await open_ws(server, carol.token)

    body = "Today was hard, but I went for a walk. 🌿 <b>not bold</b>"
    message = await sender.send_message(room.id, body, client_id="walk-1")
    assert message["room_id"] == room.id
    assert message["seq"] == 1
    assert message["body"] == body
    assert message["author"] == {"alias": "alice_a"}
    assert {"id", "created_at"} <= set(message)

    for conn in (bob, fac):
        frame = await conn.expect("message")
        assert frame["message"] == message
    # the sender's other connection gets it, and can tell it's their own by client_id
    frame = await alice_phone.expect("message")
    assert frame["message"] == message
    assert frame.get("client_id") == "walk-1"
    # the sending connection too
    frame = await sender.expect("message")
    assert frame["message"] == message
    # nobody outside the group
    assert await outsider.until_pong() == []
    # nothing more for anyone
    for conn in (sender, alice_phone, bob, fac):
        assert await conn.messages_until_pong() == []

    # and it is stored: the HTTP history has it
    assert await history(client, room.bob, room.id) == [message]
    for conn in (sender, alice_phone, bob, fac, outsider):
        await conn.close()


async def test_http_posts_are_delivered_live_too(server, client, room: Room) -> None:
    bob = await open_ws(server, room.bob.token)
    message = await post(client, room.alice, room.id, "posted over HTTP")
    assert (await bob.expect("message"))["message"] == message
    await bob.close()


async def test_a_repeated_client_id_is_acked_with_the_original_and_delivered_once(
    server, client, room: Room
) -> None:
    sender = await open_ws(server, room.alice.token)
    alice_phone = await open_ws(server, await login(client, room.alice))
    bob = await open_ws(server, room.bob.token)

    first = await sender.send_message(room.id, "are you there?", client_id="dup-1")
    assert seqs(await bob.messages_until_pong()) == [1]
    assert seqs(await alice_phone.messages_until_pong()) == [1]
    assert seqs(await sender.messages_until_pong()) == [1]

    # the retry (say the ack was lost) is acked with the very same message
    again = await sender.send_message(room.id, "are you there?", client_id="dup-1")
    assert again == first
    # ... and a retry over HTTP, or from the other connection, too
    assert await post(client, room.alice, room.id, "are you there?", client_id="dup-1") == first
    assert await alice_phone.send_message(room.id, "are you there?", client_id="dup-1") == first

    for conn in (sender, alice_phone, bob):
        assert await conn.messages_until_pong() == []
    assert seqs(await history(client, room.bob, room.id)) == [1]
    for conn in (sender, alice_phone, bob):
        await conn.close()


async def test_send_errors_name_the_client_id_and_keep_the_connection(
    server, client, room: Room
) -> None:
    ws = await open_ws(server, room.alice.token)
    for body, code in (("x" * 4001, "too_long"), ("   ", "invalid"), (None, "invalid")):
        frame = {"type": "send", "room_id": room.id, "client_id": "c-err", "body": body}
        await ws.send(frame)
        error = await ws.expect("error")
        assert error["client_id"] == "c-err"
        assert error["code"] == code
    assert await ws.until_pong() == []
    assert await history(client, room.alice, room.id) == []
    await ws.close()


# --------------------------------------------------------------------------- bad frames

BAD_FRAMES = [
    ("not json", "this is not json {"),
    ("a JSON array", "[1, 2, 3]"),
    ("a JSON string", '"send"'),
    ("a JSON number", "42"),
    ("null", "null"),
    ("unknown type", '{"type": "dance"}'),
    ("no type", '{"room_id": 1}'),
    ("oversized", orjson.dumps({"type": "ping", "pad": "x" * 17_000}).decode()),
    ("oversized send", None),  # filled in below: a send over 16 KB
    ("binary junk", b"\xff\xfe\x00\x01"),
    ("second hello", '{"type": "hello", "token": "whatever"}'),
    ("send to a room I am not in", None),
    ("send to a room that does not exist", None),
    ("send with a string room_id", None),
    ("send without room_id", '{"type": "send", "client_id": "c", "body": "hi"}'),
    ("send without client_id", None),
    ("send without body", None),
]


@pytest.mark.parametrize(("what", "raw"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
async def test_a_bad_frame_gets_an_error_and_the_connection_stays_open(
    server, client, room: Room, what: str, raw
) -> None:
    other_group = await create_group(client, room.fac)
    frames = {
        "oversized send": {
            "type": "send",
            "room_id": room.id,
            "client_id": "big",
            "body": "y" * 17_000,
        },
        "send to a room I am not in": {
            "type": "send",
            "room_id": other_group["room_id"],
            "client_id": "c",
            "body": "let me in",
        },
        "send to a room that does not exist": {
            "type": "send",
            "room_id": 999_999,
            "client_id": "c",
            "body": "hello?",
        },
        "send with a string room_id": {
            "type": "send",
            "room_id": str(room.id),
            "client_id": "c",
            "body": "hi",
        },
        "send without client_id": {"type": "send", "room_id": room.id, "body": "hi"},
        "send without body": {"type": "send", "room_id": room.id, "client_id": "c"},
    }
    bob = await open_ws(server, room.bob.token)
    ws = await open_ws(server, room.alice.token)
    await ws.send(raw if raw is not None else frames[what])
    error = await ws.expect("error")
    assert isinstance(error["code"], str) and isinstance(error["message"], str)

    # still open and working
    await ws.send({"type": "ping"})
    await ws.expect("pong")
    message = await ws.send_message(room.id, "still here")
    assert message["seq"] == 1
    # and the bad frame delivered nothing to anyone
    assert seqs(await bob.messages_until_pong()) == [1]
    assert seqs(await history(client, room.alice, room.id)) == [1]
    assert await history(client, room.fac, other_group["room_id"]) == []
    await ws.close()
    await bob.close()


async def test_bad_frames_in_a_row_then_a_good_one(server, client, room: Room) -> None:
    ws = await open_ws(server, room.alice.token)
    junk = ["{", "[]", '{"type": 5}', "x" * 20_000, '{"type": "send"}', b"\x00"]
    for raw in junk:
        await ws.send(raw)
    for _ in junk:
        await ws.expect("error")
    assert (await ws.send_message(room.id, "fine now"))["seq"] == 1
    await ws.close()


# --------------------------------------------------------------------------- resume


async def test_resume_replays_exactly_what_was_missed_then_goes_live(
    server, client, room: Room
) -> None:
    bob = await open_ws(server, room.bob.token)
    for i in range(1, 4):
        await post(client, room.alice, room.id, f"m{i}")
    assert seqs(await bob.messages_until_pong()) == [1, 2, 3]
    await bob.close()

    missed = [await post(client, room.alice, room.id, f"m{i}") for i in range(4, 7)]
    bob = await open_ws(server, room.bob.token, resume={room.id: 3})
    replayed = [(await bob.expect("message"))["message"] for _ in range(3)]
    assert replayed == missed

    live = await post(client, room.alice, room.id, "m7")
    assert (await bob.expect("message"))["message"] == live
    assert await bob.until_pong() == []  # no duplicates of anything
    await bob.close()

    # resuming from 0 gets everything, in order; from the end, nothing
    fresh = await open_ws(server, room.bob.token, resume={room.id: 0})
    assert seqs(await fresh.messages_until_pong()) == [1, 2, 3, 4, 5, 6, 7]
    await fresh.close()
    caught_up = await open_ws(server, room.bob.token, resume={room.id: 7})
    assert await caught_up.until_pong() == []
    await caught_up.close()


async def test_resume_while_messages_keep_arriving_loses_and_repeats_nothing(
    server, client, room: Room
) -> None:
    """Connections resume from different points while people keep posting, several at a
    time: each gets every later message exactly once, in seq order."""
    for i in range(5):
        await post(client, room.alice, room.id, f"before {i}")
    authors = [room.alice, room.fac, room.bob]

    async def chatter() -> None:
        for batch in range(12):
            await asyncio.gather(
                *(post(client, authors[j % 3], room.id, f"during {batch}-{j}") for j in range(5))
            )

    talking = asyncio.create_task(chatter())
    resumed = []
    for k in range(8):
        await asyncio.sleep(0.01 * k)
        point = [0, 2, 5, 1, 4, 3, 0, 5][k]
        account = authors[k % 3]
        resumed.append((point, await open_ws(server, account.token, resume={room.id: point})))
    await talking
    total = 5 + 12 * 5
    stored = await history(client, room.bob, room.id, limit=200)
    assert seqs(stored) == list(range(1, total + 1))
    for point, ws in resumed:
        received = await ws.messages_until_pong()
        assert seqs(received) == list(range(point + 1, total + 1)), point
        assert received == stored[point:]
        await ws.close()


async def test_resume_for_a_room_I_am_not_in_is_an_error_not_a_leak(
    server, client, room: Room
) -> None:
    await post(client, room.alice, room.id, "members only")
    carol = await signup(client)
    ws = await open_ws(server, carol.token, resume={room.id: 0})
    error = await ws.expect("error")
    assert error["code"] in ("not_found", "forbidden")
    assert await ws.until_pong() == []
    await ws.close()


# --------------------------------------------------------------------------- restart


async def test_nothing_acked_is_lost_across_a_restart_and_resume_fills_the_gap(
    server, client, room: Room
) -> None:
    sender = await open_ws(server, room.alice.token)
    bob = await open_ws(server, room.bob.token)
    acked = [await sender.send_message(room.id, f"before restart {i}") for i in range(1, 6)]
    assert seqs(acked) == [1, 2, 3, 4, 5]
    assert await bob.messages_until_pong() == acked

    await server.restart()
    # the live sockets were closed by the restart
    assert await bob.wait_closed() is not None
    assert await sender.wait_closed() is not None

    # sessions survive: the same tokens still work, and every acked message is there
    async with make_client(server.url) as c:
        assert await history(c, room.bob, room.id) == acked
        after = [await post(c, room.alice, room.id, f"after restart {i}") for i in (6, 7)]

    bob = await open_ws(server, room.bob.token, resume={room.id: 5})
    assert [(await bob.expect("message"))["message"] for _ in range(2)] == after
    sender = await open_ws(server, room.alice.token, resume={room.id: 7})
    live = await sender.send_message(room.id, "live again")
    assert live["seq"] == 8
    assert (await bob.expect("message"))["message"] == live
    assert await bob.until_pong() == []
    await bob.close()
    await sender.close()


async def test_a_retry_after_a_restart_is_still_the_same_message(
    server, client, room: Room
) -> None:
    ws = await open_ws(server, room.alice.token)
    first = await ws.send_message(room.id, "did this arrive?", client_id="across-restart")
    await ws.close()
    await server.restart()
    ws = await open_ws(server, room.alice.token)
    again = await ws.send_message(room.id, "did this arrive?", client_id="across-restart")
    assert again == first
    assert await ws.messages_until_pong() == []
    await ws.close()
    async with make_client(server.url) as c:
        assert seqs(await history(c, room.alice, room.id)) == [1]


# --------------------------------------------------------------------------- endings


async def test_logout_closes_that_sessions_socket_only(server, client, room: Room) -> None:
    other_token = await login(client, room.alice)
    this = await open_ws(server, room.alice.token)
    other = await open_ws(server, other_token)

    r = await client.post("/api/v1/auth/logout", headers=room.alice.headers)
    assert r.status_code == 204
    assert await this.wait_closed() == 4001
    # the other session's socket carries on
    message = await post(client, room.bob, room.id, "still talking")
    assert (await other.expect("message"))["message"] == message
    await other.close()

    # and the ended session can't open a new socket
    ws = await open_ws(server, hello=False)
    await ws.send({"type": "hello", "token": room.alice.token})
    assert (await ws.expect("error"))["code"] == "unauthenticated"
    await ws.wait_closed()


async def test_a_password_change_closes_the_other_sessions_sockets(
    server, client, room: Room
) -> None:
    other_token = await login(client, room.alice)
    this = await open_ws(server, room.alice.token)
    other = await open_ws(server, other_token)
    r = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "quiet-harbour-lights"},
        headers=room.alice.headers,
    )
    assert r.status_code == 204
    assert await other.wait_closed() == 4001
    await this.send({"type": "ping"})
    await this.expect("pong")
    await this.close()


async def test_a_member_who_leaves_stops_receiving_the_room(server, client, room: Room) -> None:
    bob = await open_ws(server, room.bob.token)
    r = await client.post(f"/api/v1/groups/{room.group['slug']}/leave", headers=room.bob.headers)
    assert r.status_code == 204
    frame = await bob.expect("room_removed")
    assert frame["room_id"] == room.id

    await post(client, room.alice, room.id, "after bob left")
    assert await bob.until_pong() == []
    await bob.send({"type": "send", "room_id": room.id, "client_id": "c", "body": "hi"})
    assert (await bob.expect("error"))["code"] == "not_found"
    assert seqs(await history(client, room.alice, room.id)) == [1]
    await bob.close()


async def test_joining_adds_the_room_to_a_live_connection(server, client, room: Room) -> None:
    carol = await signup(client)
    ws = await open_ws(server, carol.token)
    assert room.id not in ws.ready["rooms"]
    await post(client, room.alice, room.id, "before carol")
    await join(client, carol, room.group)
    assert (await ws.expect("room_added"))["room_id"] == room.id
    message = await post(client, room.alice, room.id, "welcome carol")
    assert (await ws.expect("message"))["message"] == message
    assert (await ws.send_message(room.id, "thanks!"))["author"]["alias"] == carol.username
    await ws.close()


async def test_after_a_rules_change_sending_needs_acceptance(server, client, room: Room) -> None:
    bob = await open_ws(server, room.bob.token)
    r = await client.put(
        f"/api/v1/groups/{room.group['slug']}/rules",
        json={"rules": ["Be kind.", "Keep it here."]},
        headers=room.fac.headers,
    )
    assert r.status_code == 200
    changed = await bob.expect("rules_changed")
    assert changed["rules_version"] == 2
    cid = new_client_id()
    await bob.send({"type": "send", "room_id": room.id, "client_id": cid, "body": "hi"})
    error = await bob.expect("error")
    assert error["code"] == "rules_not_accepted" and error["client_id"] == cid
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/accept-rules",
        json={"version": 2},
        headers=room.bob.headers,
    )
    assert r.status_code == 200
    assert (await bob.send_message(room.id, "hi", client_id=cid))["seq"] == 1
    await bob.close()


# --------------------------------------------------------------------------- several processes

REDIS_URL = os.environ.get("SAFESPACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


async def test_two_servers_share_live_messages_through_redis(
    make_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _redis_reachable(REDIS_URL):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    # The channel is named after the database, which is this test's own: no cross-talk.
    one = await make_server(redis_url=REDIS_URL)
    two = await make_server(redis_url=REDIS_URL)
    async with make_client(one.url) as client:
        fac = await privileged(one)
        group = await create_group(client, fac)
        alice, bob, carol = await signup(client), await signup(client), await signup(client)
        await join(client, alice, group)
        await join(client, bob, group)
        room_id = group["room_id"]

        sender = await open_ws(one, alice.token)
        bob_ws = await open_ws(two, bob.token)
        carol_ws = await open_ws(two, carol.token)
        message = await sender.send_message(room_id, "across processes")
        assert (await bob_ws.expect("message"))["message"] == message
        assert await carol_ws.until_pong() == []

        # an HTTP post to the second server reaches a socket on the first
        async with make_client(two.url) as client_two:
            reply = await post(client_two, bob, room_id, "heard you")
        assert (await sender.expect("message"))["message"] == message  # its own echo first
        assert (await sender.expect("message"))["message"] == reply
        assert await bob_ws.messages_until_pong() == [reply]
        for ws in (sender, bob_ws, carol_ws):
            await ws.close()


async def test_without_resume_events_out_of_order_are_gap_filled_not_dropped(
    server, client, room: Room, monkeypatch
) -> None:
    """Several processes publish concurrently, so a process can see seq 3 before seq 2. A
    client that connected without `resume` still gets both, once each, in order."""
    await post(client, room.alice, room.id, "before bob connects")
    bob = await open_ws(server, room.bob.token)  # no resume: live from here
    held: list[dict] = []
    monkeypatch.setattr(server.svc.broker, "publish", _hold(held))
    second = await post(client, room.alice, room.id, "second")
    third = await post(client, room.alice, room.id, "third")
    monkeypatch.undo()
    posted = [e for e in held if e["kind"] == "message_posted"]
    assert [e["message"]["seq"] for e in posted] == [2, 3]
    hub = server.app.state.hub
    for event in reversed(posted):  # 3 arrives first
        hub.handle(event)
    got = await bob.messages_until_pong()
    assert [m["body"] for m in got] == ["second", "third"]
    assert [m["seq"] for m in got] == [second["seq"], third["seq"]]
    await bob.close()


def _hold(into: list[dict]):
    async def publish(event: dict) -> None:
        into.append(event)

    return publish
