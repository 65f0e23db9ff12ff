"""A session live in the room (issue 6): the card with the ground rules that each attendee
acknowledges, facilitators opening and closing early, and rooms that are read-only outside
sessions. The clock is injected; 2026-01-05 12:00 UTC is 12:00 in London (winter)."""

from __future__ import annotations

import httpx

from helpers import Room, assert_error, new_client_id, open_ws, post


async def state(client: httpx.AsyncClient, room: Room, who) -> dict:
    r = await client.get(f"/api/v1/rooms/{room.id}/session", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def send(client: httpx.AsyncClient, room: Room, who, body: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={"client_id": new_client_id(), "body": body},
        headers=who.headers,
    )


async def ack(client: httpx.AsyncClient, room: Room, who, key: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/rooms/{room.id}/session/acknowledge", json={"key": key}, headers=who.headers
    )


async def schedule_at_one(client: httpx.AsyncClient, room: Room) -> None:
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sessions",
        json={
            "title": "Monday circle",
            "start": "2026-01-05T13:00",
            "minutes": 60,
            "timezone": "Europe/London",
            "weekly": True,
        },
        headers=room.fac.headers,
    )
    assert r.status_code == 201, r.text


async def test_a_scheduled_session_goes_live_and_each_attendee_acknowledges_the_rules(
    client, clock, room: Room
) -> None:
    await schedule_at_one(client, room)
    before = await state(client, room, room.alice)
    assert before["live"] is None
    assert before["next"]["start"] == "2026-01-05T13:00:00Z"
    await post(client, room.alice, room.id, "before the session, anyone can talk")
    clock.advance(minutes=61)  # 13:01: the session is on
    now = await state(client, room, room.alice)
    assert now["live"]["title"] == "Monday circle" and now["live"]["acknowledged"] is False
    # during a session, a member acknowledges the ground rules before writing
    err = assert_error(await send(client, room, room.alice, "hi all"), 409, "session_rules")
    assert err["session"]["key"] == now["live"]["key"]
    assert (await ack(client, room, room.alice, now["live"]["key"])).status_code == 204
    assert (await send(client, room, room.alice, "hi all")).status_code == 201
    assert (await state(client, room, room.alice))["live"]["acknowledged"] is True
    # the facilitator sees who has; a member doesn't
    assert (await state(client, room, room.fac))["live"]["acknowledged_by"] == ["alice_a"]
    assert "acknowledged_by" not in (await state(client, room, room.bob))["live"]
    # a stale key (a session that isn't on) is refused
    assert_error(await ack(client, room, room.bob, "s1@20200101T0000"), 409, "no_session")
    clock.advance(minutes=60)  # 14:01: over
    after = await state(client, room, room.alice)
    assert after["live"] is None and after["next"]["start"] == "2026-01-12T13:00:00Z"


async def test_facilitators_open_a_session_early_and_close_it_early(
    server, client, clock, room: Room
) -> None:
    await schedule_at_one(client, room)
    clock.advance(minutes=30)  # 12:30, half an hour early
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/session/open", json={}, headers=room.alice.headers
    )
    assert_error(r, 403, "forbidden")
    ws = await open_ws(server, room.bob.token)
    try:
        r = await client.post(
            f"/api/v1/groups/{room.group['slug']}/session/open", json={}, headers=room.fac.headers
        )
        assert r.status_code == 201, r.text
        live = r.json()["live"]
        # opening early opens the scheduled meeting itself: same title, same end
        assert live["title"] == "Monday circle" and live["end"] == "2026-01-05T14:00:00Z"
        assert (await ws.expect("session_changed"))["room_id"] == room.id
        assert (await state(client, room, room.bob))["live"]["key"] == live["key"]
        # a second open while one is on is refused
        r = await client.post(
            f"/api/v1/groups/{room.group['slug']}/session/open", json={}, headers=room.fac.headers
        )
        assert_error(r, 409, "session_live")
        clock.advance(minutes=45)  # 13:15, inside the scheduled hour
        r = await client.post(
            f"/api/v1/groups/{room.group['slug']}/session/close", headers=room.fac.headers
        )
        assert r.status_code == 204, r.text
        await ws.expect("session_changed")
    finally:
        await ws.close()
    # closed early stays closed, though the schedule says it runs until 14:00
    s = await state(client, room, room.bob)
    assert s["live"] is None and s["next"]["start"] == "2026-01-12T13:00:00Z"
    # the audit log has both steps
    r = await client.get(f"/api/v1/groups/{room.group['slug']}/audit", headers=room.fac.headers)
    actions = [e["action"] for e in r.json()["entries"]]
    assert "session_opened" in actions and "session_closed" in actions


async def test_a_scheduled_session_running_on_time_can_be_closed_early(
    client, clock, room: Room
) -> None:
    await schedule_at_one(client, room)
    clock.advance(minutes=70)
    assert (await state(client, room, room.bob))["live"] is not None
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/session/close", headers=room.fac.headers
    )
    assert r.status_code == 204, r.text
    assert (await state(client, room, room.bob))["live"] is None
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/session/close", headers=room.fac.headers
    )
    assert_error(r, 409, "no_session")


async def test_a_room_read_only_outside_sessions(server, client, clock, room: Room) -> None:
    r = await client.patch(
        f"/api/v1/groups/{room.group['slug']}/settings",
        json={"read_only_outside_sessions": True},
        headers=room.fac.headers,
    )
    assert r.status_code == 200, r.text
    await schedule_at_one(client, room)
    assert (await state(client, room, room.alice))["members_can_write"] is False
    assert_error(await send(client, room, room.alice, "anyone here?"), 403, "room_closed")
    ws = await open_ws(server, room.alice.token)
    try:
        await ws.send({"type": "send", "room_id": room.id, "client_id": "c1", "body": "hello?"})
        frame = await ws.expect("error")
        assert frame["code"] == "room_closed" and frame["client_id"] == "c1"
    finally:
        await ws.close()
    # facilitators can still write (a welcome note, say), and the private line stays open
    assert (await send(client, room, room.fac, "See you at 1 pm.")).status_code == 201
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/support-room", headers=room.alice.headers
    )
    support = r.json()["room_id"]
    r = await client.post(
        f"/api/v1/rooms/{support}/messages",
        json={"client_id": new_client_id(), "body": "can I talk to someone?"},
        headers=room.alice.headers,
    )
    assert r.status_code == 201, r.text
    # an unscheduled session opened by hand lets members in, for the minutes chosen
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/session/open",
        json={"minutes": 30},
        headers=room.fac.headers,
    )
    assert r.status_code == 201, r.text
    live = r.json()["live"]
    assert live["title"] == "Open session" and live["end"] == "2026-01-05T12:30:00Z"
    assert (await ack(client, room, room.alice, live["key"])).status_code == 204
    assert (await send(client, room, room.alice, "thanks for opening")).status_code == 201
    clock.advance(minutes=31)
    assert_error(await send(client, room, room.alice, "still there?"), 403, "room_closed")


async def test_a_one_off_session_in_the_past_is_refused(client, room: Room) -> None:
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sessions",
        json={"title": "Too late", "start": "2026-01-05T11:00", "minutes": 60, "timezone": "UTC"},
        headers=room.fac.headers,
    )
    err = assert_error(r, 422, "invalid")
    assert err["field"] == "start" and "already passed" in err["message"]
