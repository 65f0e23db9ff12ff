"""How a group runs (issue 6): settings facilitators choose, and what each does."""

from __future__ import annotations

import httpx

from helpers import Room, assert_error, join, new_client_id, open_ws, post, signup


async def patch(client: httpx.AsyncClient, room: Room, who, **changes) -> httpx.Response:
    return await client.patch(
        f"/api/v1/groups/{room.group['slug']}/settings", json=changes, headers=who.headers
    )


async def test_only_the_group_s_facilitators_change_its_settings(client, room: Room) -> None:
    r = await patch(client, room, room.alice, slow_mode_seconds=30)
    assert_error(r, 403, "forbidden")
    r = await patch(client, room, room.fac, slow_mode_seconds=30, description="Gentle talk.")
    assert r.status_code == 200, r.text
    group = r.json()["group"]
    assert group["settings"]["slow_mode_seconds"] == 30
    assert group["description"] == "Gentle talk."
    for bad in ({"slow_mode_seconds": 7}, {"join_policy": "secret"}, {"max_members": -1}):
        assert_error(await patch(client, room, room.fac, **bad), 422, "invalid")


async def test_slow_mode_makes_a_member_wait_but_not_a_facilitator(
    server, client, clock, room: Room
) -> None:
    await patch(client, room, room.fac, slow_mode_seconds=30)
    await post(client, room.alice, room.id, "first")
    r = await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={"client_id": new_client_id(), "body": "second"},
        headers=room.alice.headers,
    )
    err = assert_error(r, 429, "slow_mode")
    assert "30 seconds (this group has slow mode)" in err["message"]
    # on the socket too, and the connection stays open
    ws = await open_ws(server, room.alice.token)
    try:
        await ws.send({"type": "send", "room_id": room.id, "client_id": "x1", "body": "again"})
        frame = await ws.expect("error")
        assert frame["code"] == "slow_mode" and frame["client_id"] == "x1"
        clock.advance(seconds=31)
        ack = await ws.send_for_ack(room.id, "now it goes")
        assert ack["message"]["body"] == "now it goes"
    finally:
        await ws.close()
    await post(client, room.fac, room.id, "facilitators aren't slowed")
    await post(client, room.fac, room.id, "not even twice")


async def test_an_unlisted_group_leaves_the_directory_but_its_link_still_works(
    client, room: Room
) -> None:
    await patch(client, room, room.fac, listed=False)
    slugs = [g["slug"] for g in (await client.get("/api/v1/groups")).json()["groups"]]
    assert room.group["slug"] not in slugs
    r = await client.get(f"/api/v1/groups/{room.group['slug']}")
    assert r.status_code == 200


async def test_a_full_group_says_so(client, room: Room) -> None:
    await patch(client, room, room.fac, max_members=3)  # fac, alice, bob
    newcomer = await signup(client)
    g = (await client.get(f"/api/v1/groups/{room.group['slug']}")).json()["group"]
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/join",
        json={"accept_rules_version": g["rules_version"]},
        headers=newcomer.headers,
    )
    assert_error(r, 409, "group_full")


async def test_with_approval_a_newcomer_waits_until_a_facilitator_says_yes(
    server, client, room: Room
) -> None:
    slug = room.group["slug"]
    await patch(client, room, room.fac, join_policy="approval")
    newcomer = await signup(client)
    g = (await client.get(f"/api/v1/groups/{slug}")).json()["group"]
    r = await client.post(
        f"/api/v1/groups/{slug}/join",
        json={"accept_rules_version": g["rules_version"], "alias": "new-leaf"},
        headers=newcomer.headers,
    )
    assert r.status_code == 202 and r.json()["pending"] is True
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=newcomer.headers)
    assert_error(r, 404, "not_found")
    r = await client.get(f"/api/v1/groups/{slug}/requests", headers=room.alice.headers)
    assert_error(r, 403, "forbidden")
    reqs = (await client.get(f"/api/v1/groups/{slug}/requests", headers=room.fac.headers)).json()
    assert [q["name"] for q in reqs["requests"]] == ["new-leaf"]
    ws = await open_ws(server, newcomer.token)
    try:
        r = await client.post(
            f"/api/v1/groups/{slug}/requests/{reqs['requests'][0]['id']}",
            json={"approve": True},
            headers=room.fac.headers,
        )
        assert r.status_code == 204
        added = await ws.expect("room_added")
        assert added["room_id"] == room.id
    finally:
        await ws.close()
    await post(client, newcomer, room.id, "glad to be here")


async def test_the_whisper_channel_is_for_the_group_s_facilitators_only(
    server, client, room: Room
) -> None:
    slug = room.group["slug"]
    r = await client.post(f"/api/v1/groups/{slug}/whisper", headers=room.alice.headers)
    assert_error(r, 403, "forbidden")
    r = await client.post(f"/api/v1/groups/{slug}/whisper", headers=room.fac.headers)
    whisper = r.json()["room_id"]
    again = (await client.post(f"/api/v1/groups/{slug}/whisper", headers=room.fac.headers)).json()
    assert again["room_id"] == whisper
    await post(client, room.fac, whisper, "Alice seems low today, can you keep an eye out?")
    for member in (room.alice, room.bob):
        r = await client.get(f"/api/v1/rooms/{whisper}/messages", headers=member.headers)
        assert_error(r, 404, "not_found")
    alice_alias = next(
        g["alias"]
        for g in (await client.get("/api/v1/me/groups", headers=room.alice.headers)).json()[
            "groups"
        ]
        if g["slug"] == slug
    )
    await client.put(f"/api/v1/groups/{slug}/facilitators/{alice_alias}", headers=room.fac.headers)
    r = await client.get(f"/api/v1/rooms/{whisper}/messages", headers=room.alice.headers)
    assert r.status_code == 200
    assert await join(client, await signup(client), room.group)
