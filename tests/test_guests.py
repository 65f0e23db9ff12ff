"""Guests and invitation links (issue 6): a member brings one guest with a single-use link
that expires; the guest is labelled as theirs, has only the rights the group gives guests,
and loses access when the host leaves. Facilitators invite members to invite-only groups."""

from __future__ import annotations

from datetime import timedelta

from helpers import (
    PASSWORD,
    Room,
    accept,
    allow_guests,
    assert_error,
    guest_of_alice,
    invite,
    new_client_id,
    open_ws,
    post,
    signup,
)
from safespace.actions.jobs import run_due_jobs


async def test_a_guest_needs_the_group_to_allow_guests(client, room: Room) -> None:
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/invites",
        json={"kind": "guest"},
        headers=room.alice.headers,
    )
    assert_error(r, 403, "guests_not_allowed")


async def test_the_invitation_shows_the_group_its_rules_and_who_invited(client, room: Room) -> None:
    await allow_guests(client, room)
    token = await invite(client, room, room.alice)
    friend = await signup(client)
    r = await client.get(f"/api/v1/invites/{token}", headers=friend.headers)
    assert r.status_code == 200, r.text
    seen = r.json()["invite"]
    assert seen["kind"] == "guest" and seen["invited_by"] == "alice_a"
    assert seen["group"]["name"] == room.group["name"]
    assert seen["group"]["rules"] == room.group["rules"]
    # accepting needs the rules version they read
    r = await client.post(
        f"/api/v1/invites/{token}/accept", json={"accept_rules_version": 0}, headers=friend.headers
    )
    assert_error(r, 409, "rules_not_accepted")


async def test_a_guest_is_labelled_as_their_host_s_guest_and_reads_only(
    server, client, room: Room
) -> None:
    guest = await guest_of_alice(client, room)
    # reads the room
    await post(client, room.bob, room.id, "hello everyone")
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=guest.headers)
    assert [m["body"] for m in r.json()["messages"]][-1] == "hello everyone"
    # can't write while the group keeps guests read-only, on the API and on the socket
    r = await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={"client_id": new_client_id(), "body": "hi, I'm here for alice"},
        headers=guest.headers,
    )
    assert_error(r, 403, "guest_read_only")
    ws = await open_ws(server, guest.token)
    try:
        await ws.send({"type": "send", "room_id": room.id, "client_id": "g1", "body": "hi"})
        frame = await ws.expect("error")
        assert frame["code"] == "guest_read_only" and frame["client_id"] == "g1"
    finally:
        await ws.close()
    # once the group lets guests write, their messages say whose guest they are
    await allow_guests(client, room, guests_can_post=True)
    mine = await post(client, guest, room.id, "hi, I'm here for alice")
    assert mine["author"]["role"] == "guest" and mine["author"]["guest_of"] == "alice_a"
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=room.bob.headers)
    last = r.json()["messages"][-1]
    assert last["author"]["guest_of"] == "alice_a"
    # and a facilitator's messages say so too
    theirs = await post(client, room.fac, room.id, "welcome")
    assert theirs["author"]["role"] == "facilitator"
    plain = await post(client, room.bob, room.id, "hi")
    assert "role" not in plain["author"]


async def test_a_link_works_once_and_expires(client, clock, room: Room) -> None:
    await allow_guests(client, room)
    token = await invite(client, room, room.alice)
    first, second = await signup(client), await signup(client)
    assert (await accept(client, first, token)).status_code == 200
    assert_error(await accept(client, second, token), 404, "invite_gone")
    # an unknown link answers exactly like a used one
    assert_error(await accept(client, second, "x" * 32), 404, "invite_gone")
    # expiry: a member link lasts 7 days
    token = await invite(client, room, room.fac, kind="member")
    clock.advance(seconds=timedelta(days=7, minutes=1).total_seconds())
    late = await signup(client)
    assert_error(await accept(client, late, token), 404, "invite_gone")


async def test_one_guest_per_member_and_guests_can_t_invite(client, room: Room) -> None:
    guest = await guest_of_alice(client, room)
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/invites",
        json={"kind": "guest"},
        headers=room.alice.headers,
    )
    assert_error(r, 409, "has_guest")
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/invites",
        json={"kind": "guest"},
        headers=guest.headers,
    )
    assert_error(r, 403, "forbidden")
    # and only facilitators invite members
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/invites",
        json={"kind": "member"},
        headers=room.bob.headers,
    )
    assert_error(r, 403, "forbidden")


async def test_a_guest_s_access_ends_when_their_host_leaves(server, client, room: Room) -> None:
    guest = await guest_of_alice(client, room)
    ws = await open_ws(server, guest.token)
    try:
        r = await client.post(
            f"/api/v1/groups/{room.group['slug']}/leave", headers=room.alice.headers
        )
        assert r.status_code == 204
        frame = await ws.expect("room_removed")
        assert frame["room_id"] == room.id
        # the page can say why: it wasn't anything the guest did
        assert frame["reason"] == "host_left"
    finally:
        await ws.close()
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=guest.headers)
    assert_error(r, 404, "not_found")
    # and the group page says so when they come back later
    page = await client.get(
        f"/g/{room.group['slug']}", headers={"Cookie": f"ss_session={guest.token}"}
    )
    assert page.status_code == 200
    assert "because the member who invited you is no longer in it" in page.text
    # a member who simply isn't in the group is told nothing of the kind
    other = await signup(client)
    page = await client.get(
        f"/g/{room.group['slug']}", headers={"Cookie": f"ss_session={other.token}"}
    )
    assert "the member who invited you" not in page.text


async def test_a_removed_member_s_socket_gets_no_host_left_reason(
    server, client, room: Room
) -> None:
    who = (await client.get("/api/v1/me/groups", headers=room.alice.headers)).json()["groups"][0]
    ws = await open_ws(server, room.alice.token)
    try:
        r = await client.post(
            f"/api/v1/groups/{room.group['slug']}/sanctions",
            json={"kind": "removal", "alias": who["alias"], "rule": 1},
            headers=room.fac.headers,
        )
        assert r.status_code == 201, r.text
        frame = await ws.expect("sanction")  # the removal is told as a sanction
        assert frame["sanction"]["kind"] == "removal"
        frame = await ws.expect("room_removed")
        assert "reason" not in frame
    finally:
        await ws.close()


async def test_a_facilitator_removes_a_guest_and_a_ban_beats_a_new_invite(
    client, room: Room
) -> None:
    guest = await guest_of_alice(client, room)
    who = (await client.get("/api/v1/me/groups", headers=guest.headers)).json()["groups"][0]
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sanctions",
        json={"kind": "ban", "alias": who["alias"], "rule": 1, "reason": "not kind"},
        headers=room.fac.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=guest.headers)
    assert_error(r, 404, "not_found")
    # a fresh link, even a member link from a facilitator, doesn't bring them back
    token = await invite(client, room, room.fac, kind="member")
    assert_error(await accept(client, guest, token), 403, "banned")


async def test_an_invite_only_group_takes_members_by_link(client, room: Room) -> None:
    r = await client.patch(
        f"/api/v1/groups/{room.group['slug']}/settings",
        json={"join_policy": "invite"},
        headers=room.fac.headers,
    )
    assert r.status_code == 200, r.text
    newcomer = await signup(client)
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/join",
        json={"accept_rules_version": room.group["rules_version"]},
        headers=newcomer.headers,
    )
    assert_error(r, 403, "invite_only")
    token = await invite(client, room, room.fac, kind="member")
    r = await accept(client, newcomer, token)
    assert r.status_code == 200, r.text
    assert r.json()["membership"]["role"] == "member"
    await post(client, newcomer, room.id, "glad to be here")


async def test_my_export_holds_my_invites_acknowledgements_and_whose_guest_i_am(
    server, client, clock, room: Room
) -> None:
    guest = await guest_of_alice(client, room)
    await invite(client, room, room.fac, kind="member")
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/session/open",
        json={"minutes": 30},
        headers=room.fac.headers,
    )
    key = r.json()["live"]["key"]
    r = await client.post(
        f"/api/v1/rooms/{room.id}/session/acknowledge", json={"key": key}, headers=guest.headers
    )
    assert r.status_code == 204, r.text
    mine = (await client.get("/api/v1/me/export", headers=guest.headers)).json()
    assert mine["memberships"][0]["role"] == "guest"
    assert mine["memberships"][0]["guest_of"] == "alice_a"
    assert mine["session_acknowledgements"] == [
        {"group": room.group["slug"], "session": key, "at": "2026-01-05T12:00:00Z"}
    ]
    theirs = (await client.get("/api/v1/me/export", headers=room.fac.headers)).json()
    assert [(i["kind"], i["used"]) for i in theirs["invites"]] == [("member", False)]
    assert "token" not in str(theirs["invites"])
    alices = (await client.get("/api/v1/me/export", headers=room.alice.headers)).json()
    assert [(i["kind"], i["used"]) for i in alices["invites"]] == [("guest", True)]
    # acknowledgements are forgotten a day later
    clock.advance(hours=25)
    await run_due_jobs(server.svc)
    mine = (await client.get("/api/v1/me/export", headers=guest.headers)).json()
    assert mine["session_acknowledgements"] == []


async def test_erasing_the_host_ends_the_guest_s_access_and_unnames_them(
    client, room: Room
) -> None:
    guest = await guest_of_alice(client, room)
    await allow_guests(client, room, guests_can_post=True)
    await post(client, guest, room.id, "I'm here with alice")
    r = await client.post(
        "/api/v1/me/erase", json={"password": PASSWORD}, headers=room.alice.headers
    )
    assert r.status_code == 204, r.text
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=room.bob.headers)
    mine = [m for m in r.json()["messages"] if m["body"] == "I'm here with alice"]
    assert mine and "guest_of" not in mine[0]["author"]
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=guest.headers)
    assert_error(r, 404, "not_found")
