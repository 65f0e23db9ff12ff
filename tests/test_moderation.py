"""Reports, sanctions and the audit log (issue 6): what each does, to whom, over HTTP and
the websocket, and who may do it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from helpers import (
    WS,
    Account,
    Room,
    assert_error,
    create_group,
    db_scalar,
    guest_of_alice,
    history,
    join,
    new_client_id,
    open_ws,
    post,
    privileged,
    signup,
)


async def until(ws: WS, kind: str, wait: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        frame = await ws.recv(max(0.01, deadline - time.monotonic()))
        if frame.get("type") == kind:
            return frame


async def sanction(
    client: httpx.AsyncClient, who: Account, slug: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1/groups/{slug}/sanctions", json=body, headers=who.headers)


async def alias_of(client: httpx.AsyncClient, account: Account, slug: str) -> str:
    r = await client.get("/api/v1/me/groups", headers=account.headers)
    for g in r.json()["groups"]:
        if g["slug"] == slug:
            return str(g["alias"])
    raise AssertionError("not a member")


# ----------------------------------------------------------------------- reports


async def test_a_report_reaches_the_group_s_facilitators_with_the_rule_and_note(
    server, client, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "You are all idiots.")
    r = await client.post(
        f"/api/v1/rooms/{room.id}/reports",
        json={"seq": msg["seq"], "rule": 2, "note": "Name-calling"},
        headers=room.alice.headers,
    )
    assert r.status_code == 202
    assert "facilitators" in r.json()["message"]
    q = await client.get("/api/v1/flags", headers=room.fac.headers)
    reports = [f for f in q.json()["flags"] if f["kind"] == "report"]
    assert len(reports) == 1
    item = reports[0]
    assert item["rule"] == 2 and item["report_note"] == "Name-calling"
    assert item["message"]["body"] == "You are all idiots."
    assert item["subject"]["alias"] == msg["author"]["alias"]
    assert "raised_by" not in item and room.alice.username not in str(item)
    # the note is sealed at rest
    raw = await db_scalar(server, "SELECT report_note FROM flags WHERE id = :i", i=item["id"])
    assert b"Name-calling" not in bytes(raw)


async def test_a_report_answers_the_same_whether_or_not_its_target_exists(
    client, room: Room
) -> None:
    real = await post(client, room.bob, room.id, "hello")
    answers = []
    for body in (
        {"seq": real["seq"], "rule": 1},
        {"seq": 99999, "rule": 1},
        {"alias": "nobody-here", "rule": 1},
    ):
        r = await client.post(
            f"/api/v1/rooms/{room.id}/reports", json=body, headers=room.alice.headers
        )
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1] == answers[2]
    # a room you're not in answers the same too
    outsider = await signup(client)
    r = await client.post(
        f"/api/v1/rooms/{room.id}/reports", json={"seq": 1}, headers=outsider.headers
    )
    assert (r.status_code, r.json()) == answers[0]


async def test_a_report_about_a_facilitator_goes_to_the_site_s_admins(
    server, client, room: Room
) -> None:
    slug = room.group["slug"]
    admin = await privileged(server, role="admin")
    # a co-facilitator, so that the report isn't just hidden from the one it's about
    bob_alias = await alias_of(client, room.bob, slug)
    r = await client.put(
        f"/api/v1/groups/{slug}/facilitators/{bob_alias}", headers=room.fac.headers
    )
    assert r.status_code == 200
    msg = await post(client, room.fac, room.id, "Stop whining, everyone has problems.")
    admin_ws = await open_ws(server, admin.token)
    bob_ws = await open_ws(server, room.bob.token)
    try:
        r = await client.post(
            f"/api/v1/rooms/{room.id}/reports",
            json={"seq": msg["seq"], "rule": 1, "note": "Dismissive"},
            headers=room.alice.headers,
        )
        # the reporter is thanked the same way as for any report
        assert r.status_code == 202 and "facilitators" in r.json()["message"]
        live = await until(admin_ws, "flag")
        assert live["flag"]["for_admins"] is True
        await bob_ws.send({"type": "ping"})
        assert "flag" not in [f.get("type") for f in await bob_ws.until_pong()]
    finally:
        await admin_ws.close()
        await bob_ws.close()
    # neither the facilitator it's about nor their co-facilitator has it in their queue
    for fac in (room.fac, room.bob):
        items = (await client.get("/api/v1/flags", headers=fac.headers)).json()["flags"]
        assert [f for f in items if f["kind"] == "report"] == []
        # nor can they act on it: it doesn't exist for them
        r = await client.post(
            f"/api/v1/flags/{live['flag']['id']}",
            json={"status": "resolved"},
            headers=fac.headers,
        )
        assert_error(r, 404, "not_found")
    # the admins' queue has it, with its note, and they can resolve it
    items = (await client.get("/api/v1/flags", headers=admin.headers)).json()["flags"]
    [item] = [f for f in items if f["kind"] == "report"]
    assert item["for_admins"] is True and item["report_note"] == "Dismissive"
    # it can't be handed to one of the group's facilitators
    r = await client.post(
        f"/api/v1/flags/{item['id']}/assign", json={"to": bob_alias}, headers=admin.headers
    )
    assert_error(r, 422, "invalid")
    r = await client.post(
        f"/api/v1/flags/{item['id']}", json={"status": "resolved"}, headers=admin.headers
    )
    assert r.status_code == 200
    # a report about an ordinary member still goes to the group's facilitators
    carol = await signup(client)
    await join(client, carol, room.group)
    other = await post(client, room.alice, room.id, "whatever")
    await client.post(
        f"/api/v1/rooms/{room.id}/reports", json={"seq": other["seq"]}, headers=carol.headers
    )
    items = (await client.get("/api/v1/flags", headers=room.fac.headers)).json()["flags"]
    assert [(f["kind"], f["for_admins"]) for f in items] == [("report", False)]


# ----------------------------------------------------------------------- sanctions


async def test_hiding_a_message_shows_others_which_rule_it_broke(
    server, client, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "Something that breaks the rules")
    alice_ws = await open_ws(server, room.alice.token)
    try:
        r = await sanction(
            client,
            room.fac,
            room.group["slug"],
            kind="hide",
            room_id=room.id,
            seq=msg["seq"],
            rule=3,
            reason="Please keep details out",
        )
        assert r.status_code == 201, r.text
        frame = await until(alice_ws, "message_hidden")
        assert frame == {"type": "message_hidden", "room_id": room.id, "seq": msg["seq"], "rule": 3}
    finally:
        await alice_ws.close()
    seen = {m["seq"]: m for m in await history(client, room.alice, room.id)}[msg["seq"]]
    assert seen["body"] == "" and seen["removed"] == {"rule": 3}
    own = {m["seq"]: m for m in await history(client, room.bob, room.id)}[msg["seq"]]
    assert own["body"] == "Something that breaks the rules" and own["removed"] == {"rule": 3}
    # the author is told what and why, and how to ask for a review
    r = await client.get("/api/v1/me/sanctions", headers=room.bob.headers)
    mine = r.json()["sanctions"][0]
    assert mine["kind"] == "hide" and mine["rule"] == 3
    assert mine["reason"] == "Please keep details out" and "review" in mine["review"]
    # members read the public part of the audit log; facilitators read who did it
    pub = (
        await client.get(f"/api/v1/groups/{room.group['slug']}/audit", headers=room.alice.headers)
    ).json()
    assert pub["full"] is False
    assert "A message was removed for breaking ground rule 3." in [
        e["text"] for e in pub["entries"]
    ]
    assert room.fac.username not in str(pub)
    full = (
        await client.get(f"/api/v1/groups/{room.group['slug']}/audit", headers=room.fac.headers)
    ).json()
    entry = next(e for e in full["entries"] if e["action"] == "sanction_hide")
    assert entry["actor"] and entry["target"] == msg["author"]["alias"]


async def test_a_muted_member_can_read_but_their_send_is_refused_clearly(
    server, client, room: Room
) -> None:
    bob_alias = await alias_of(client, room.bob, room.group["slug"])
    bob_ws = await open_ws(server, room.bob.token)
    try:
        r = await sanction(
            client, room.fac, room.group["slug"], kind="mute", alias=bob_alias, rule=1, minutes=60
        )
        assert r.status_code == 201, r.text
        told = await until(bob_ws, "sanction")
        assert told["sanction"]["kind"] == "mute" and told["sanction"]["until"]
        await bob_ws.send(
            {"type": "send", "room_id": room.id, "client_id": new_client_id(), "body": "hi"}
        )
        err = await until(bob_ws, "error")
        assert err["code"] == "muted" and "You can still read" in err["message"]
        assert err["until"] == told["sanction"]["until"]
        # still connected and still reading
        await post(client, room.alice, room.id, "still here?")
        got = await until(bob_ws, "message")
        assert got["message"]["body"] == "still here?"
    finally:
        await bob_ws.close()
    # over HTTP too; and a mute that is lifted lets them post again
    r = await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={"client_id": new_client_id(), "body": "hello"},
        headers=room.bob.headers,
    )
    assert_error(r, 403, "muted")
    mine = (await client.get("/api/v1/me/sanctions", headers=room.bob.headers)).json()
    sid = mine["sanctions"][0]["id"]
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sanctions/{sid}/lift", headers=room.fac.headers
    )
    assert r.status_code == 204
    await post(client, room.bob, room.id, "back again")


async def test_the_mute_ends_on_its_own_when_its_time_is_up(
    server, client, clock, room: Room
) -> None:
    bob_alias = await alias_of(client, room.bob, room.group["slug"])
    r = await sanction(
        client, room.fac, room.group["slug"], kind="mute", alias=bob_alias, rule=1, minutes=15
    )
    assert r.status_code == 201
    clock.advance(minutes=16)
    await post(client, room.bob, room.id, "after the mute")


async def test_a_banned_member_loses_the_room_at_once_and_cannot_rejoin(
    server, client, room: Room
) -> None:
    bob_alias = await alias_of(client, room.bob, room.group["slug"])
    bob_ws = await open_ws(server, room.bob.token)
    try:
        r = await sanction(
            client,
            room.fac,
            room.group["slug"],
            kind="ban",
            alias=bob_alias,
            rule=4,
            reason="Repeated harassment",
        )
        assert r.status_code == 201, r.text
        gone = await until(bob_ws, "room_removed")
        assert gone["room_id"] == room.id
        await post(client, room.alice, room.id, "after the ban")
        await bob_ws.send({"type": "ping"})
        frames = await bob_ws.until_pong()
        assert not [f for f in frames if f.get("type") == "message"]
    finally:
        await bob_ws.close()
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=room.bob.headers)
    assert_error(r, 404, "not_found")
    g = (await client.get(f"/api/v1/groups/{room.group['slug']}")).json()["group"]
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/join",
        json={"accept_rules_version": g["rules_version"]},
        headers=room.bob.headers,
    )
    assert_error(r, 403, "banned")
    mine = (await client.get("/api/v1/me/sanctions", headers=room.bob.headers)).json()
    assert mine["sanctions"][0]["kind"] == "ban"
    assert mine["sanctions"][0]["reason"] == "Repeated harassment"


async def test_removal_drops_the_member_but_lets_them_rejoin(server, client, room: Room) -> None:
    bob_alias = await alias_of(client, room.bob, room.group["slug"])
    r = await sanction(
        client, room.fac, room.group["slug"], kind="removal", alias=bob_alias, rule=2
    )
    assert r.status_code == 201
    r = await client.get(f"/api/v1/rooms/{room.id}/messages", headers=room.bob.headers)
    assert_error(r, 404, "not_found")
    await join(client, room.bob, room.group)


async def test_a_private_warning_is_told_only_to_the_member(server, client, room: Room) -> None:
    alice_ws = await open_ws(server, room.alice.token)
    bob_ws = await open_ws(server, room.bob.token)
    try:
        bob_alias = await alias_of(client, room.bob, room.group["slug"])
        r = await sanction(
            client,
            room.fac,
            room.group["slug"],
            kind="warning",
            alias=bob_alias,
            rule=5,
            reason="Please be kinder",
        )
        assert r.status_code == 201
        told = await until(bob_ws, "sanction")
        assert told["sanction"]["reason"] == "Please be kinder" and told["sanction"]["rule"] == 5
        # the reason is sealed at rest
        raw = await db_scalar(
            server, "SELECT reason FROM sanctions WHERE id = :i", i=r.json()["sanction"]["id"]
        )
        assert raw is not None and b"Please be kinder" not in bytes(raw)
        await alice_ws.send({"type": "ping"})
        assert not [f for f in await alice_ws.until_pong() if f.get("type") == "sanction"]
    finally:
        await alice_ws.close()
        await bob_ws.close()
    await post(client, room.bob, room.id, "a warning doesn't stop posting")


async def test_sanctions_must_cite_a_rule_and_a_known_kind(client, room: Room) -> None:
    slug = room.group["slug"]
    bob_alias = await alias_of(client, room.bob, slug)
    for body, code in (
        ({"kind": "mute", "alias": bob_alias, "minutes": 60}, "invalid"),  # no rule
        ({"kind": "mute", "alias": bob_alias, "rule": 99, "minutes": 60}, "invalid"),
        ({"kind": "mute", "alias": bob_alias, "rule": 1, "minutes": 7}, "invalid"),
        ({"kind": "exile", "alias": bob_alias, "rule": 1}, "invalid"),
        ({"kind": "warning", "alias": "nobody", "rule": 1}, "not_found"),
    ):
        r = await sanction(client, room.fac, slug, **body)
        assert r.status_code in (404, 422), (body, r.text)
        assert r.json()["error"]["code"] == code
    fac_alias = await alias_of(client, room.fac, slug)
    r = await sanction(client, room.fac, slug, kind="warning", alias=fac_alias, rule=1)
    assert_error(r, 422, "invalid")


# ----------------------------------------------------------------------- who may do what

KINDS = ("anonymous", "member", "guest", "facilitator_here", "facilitator_elsewhere", "admin")


@pytest.fixture
async def people(server, client, room: Room) -> dict[str, Account | None]:
    other_fac = await privileged(server)
    await create_group(client, other_fac)
    admin = await privileged(server, role="admin")
    # A real guest: brought in by a member with an invitation link (read-only by default).
    guest = await guest_of_alice(client, room)
    return {
        "anonymous": None,
        "member": room.alice,
        "guest": guest,
        "facilitator_here": room.fac,
        "facilitator_elsewhere": other_fac,
        "admin": admin,
    }


@pytest.mark.parametrize("kind", KINDS)
async def test_who_may_sanction(client, room: Room, people, kind: str) -> None:
    who = people[kind]
    bob_alias = await alias_of(client, room.bob, room.group["slug"])
    headers = who.headers if who else {}
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sanctions",
        json={"kind": "warning", "alias": bob_alias, "rule": 1},
        headers=headers,
    )
    expected = {
        "anonymous": 401,
        "member": 403,
        "guest": 403,
        "facilitator_here": 201,
        "facilitator_elsewhere": 403,
        "admin": 201,
    }[kind]
    assert r.status_code == expected, r.text


@pytest.mark.parametrize("kind", KINDS)
async def test_who_may_read_the_audit_log(client, room: Room, people, kind: str) -> None:
    who = people[kind]
    r = await client.get(
        f"/api/v1/groups/{room.group['slug']}/audit", headers=who.headers if who else {}
    )
    expected = {
        "anonymous": (401, None),
        "member": (200, False),
        "guest": (200, False),  # a guest reads the public part, like a member
        "facilitator_here": (200, True),
        "facilitator_elsewhere": (404, None),
        "admin": (200, True),
    }[kind]
    assert r.status_code == expected[0], r.text
    if expected[1] is not None:
        assert r.json()["full"] is expected[1]


async def test_an_admin_can_suspend_an_account_platform_wide(server, client, room: Room) -> None:
    admin = await privileged(server, role="admin")
    bob_ws = await open_ws(server, room.bob.token)
    r = await client.put(
        f"/api/v1/admin/users/{room.bob.username}/suspended",
        json={"suspended": True},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["suspended"] is True
    assert await bob_ws.wait_closed() == 4001  # every open session ends at once
    r = await client.get("/api/v1/me/groups", headers=room.bob.headers)
    assert r.status_code == 401
    r = await client.post(
        "/api/v1/auth/login", json={"username": room.bob.username, "password": room.bob.password}
    )
    assert_error(r, 403, "suspended")
    # only admins may, and lifting it lets them back in
    r = await client.put(
        f"/api/v1/admin/users/{room.alice.username}/suspended",
        json={"suspended": True},
        headers=room.fac.headers,
    )
    assert_error(r, 403, "forbidden")
    r = await client.put(
        f"/api/v1/admin/users/{room.bob.username}/suspended",
        json={"suspended": False},
        headers=admin.headers,
    )
    assert r.status_code == 200
    r = await client.post(
        "/api/v1/auth/login", json={"username": room.bob.username, "password": room.bob.password}
    )
    assert r.status_code == 200


async def test_the_owner_chooses_co_facilitators_who_then_get_flags_and_can_act(
    server, client, room: Room
) -> None:
    slug = room.group["slug"]
    bob_alias = await alias_of(client, room.bob, slug)
    # a member can't make themselves (or anyone) a facilitator
    r = await client.put(
        f"/api/v1/groups/{slug}/facilitators/{bob_alias}", headers=room.bob.headers
    )
    assert_error(r, 403, "forbidden")
    bob_ws = await open_ws(server, room.bob.token)
    try:
        r = await client.put(
            f"/api/v1/groups/{slug}/facilitators/{bob_alias}", headers=room.fac.headers
        )
        assert r.status_code == 200 and r.json()["membership"]["role"] == "facilitator"
        await post(client, room.alice, room.id, "I feel like a burden and I see no point anymore")
        flag = await until(bob_ws, "flag")  # live flags now reach the new co-facilitator
        assert flag["flag"]["level"] == "elevated"
        alice_alias = await alias_of(client, room.alice, slug)
        r = await sanction(client, room.bob, slug, kind="warning", alias=alice_alias, rule=1)
        assert r.status_code == 201
        # stepping down takes the powers away at once
        r = await client.delete(
            f"/api/v1/groups/{slug}/facilitators/{bob_alias}", headers=room.fac.headers
        )
        assert r.json()["membership"]["role"] == "member"
        r = await sanction(client, room.bob, slug, kind="warning", alias=alice_alias, rule=1)
        assert_error(r, 403, "forbidden")
        await post(client, room.alice, room.id, "I feel like a burden to everyone, no point")
        await bob_ws.send({"type": "ping"})
        assert "flag" not in [f.get("type") for f in await bob_ws.until_pong()]
    finally:
        await bob_ws.close()
    fac_alias = await alias_of(client, room.fac, slug)
    r = await client.delete(
        f"/api/v1/groups/{slug}/facilitators/{fac_alias}", headers=room.fac.headers
    )
    assert_error(r, 422, "invalid")


async def test_a_report_is_judged_in_context_and_can_be_handed_to_a_colleague(
    server, client, room: Room
) -> None:
    slug = room.group["slug"]
    for text in ("one", "two", "the bad one", "four", "five", "six"):
        last = await post(client, room.bob, room.id, text)
    bad_seq = last["seq"] - 3
    await client.post(
        f"/api/v1/rooms/{room.id}/reports",
        json={"seq": bad_seq, "rule": 1},
        headers=room.alice.headers,
    )
    item = next(
        f
        for f in (await client.get("/api/v1/flags", headers=room.fac.headers)).json()["flags"]
        if f["kind"] == "report"
    )
    assert [m["body"] for m in item["context"]] == ["one", "two", "the bad one", "four", "five"]
    # hand it to a co-facilitator: it appears in their caseload, not the giver's
    alice_alias = await alias_of(client, room.alice, slug)
    await client.put(f"/api/v1/groups/{slug}/facilitators/{alice_alias}", headers=room.fac.headers)
    r = await client.post(
        f"/api/v1/flags/{item['id']}/assign", json={"to": alice_alias}, headers=room.fac.headers
    )
    assert r.status_code == 200, r.text
    mine = (await client.get("/api/v1/flags?mine=true", headers=room.alice.headers)).json()
    assert [f["id"] for f in mine["flags"]] == [item["id"]]
    assert mine["flags"][0]["assigned_to"] == alice_alias
    theirs = (await client.get("/api/v1/flags?mine=true", headers=room.fac.headers)).json()
    assert theirs["flags"] == []
    # only to a facilitator of that group
    bob_alias = await alias_of(client, room.bob, slug)
    r = await client.post(
        f"/api/v1/flags/{item['id']}/assign", json={"to": bob_alias}, headers=room.fac.headers
    )
    assert_error(r, 422, "invalid")
    r = await client.post(
        f"/api/v1/flags/{item['id']}/assign", json={"to": None}, headers=room.bob.headers
    )
    assert_error(r, 404, "not_found")


async def test_my_export_holds_the_reports_i_made_and_the_steps_taken_about_me(
    client, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "rude words")
    await client.post(
        f"/api/v1/rooms/{room.id}/reports",
        json={"seq": msg["seq"], "rule": 2, "note": "not kind"},
        headers=room.alice.headers,
    )
    bob_alias = await alias_of(client, room.bob, room.group["slug"])
    await sanction(
        client,
        room.fac,
        room.group["slug"],
        kind="warning",
        alias=bob_alias,
        rule=2,
        reason="Please be gentler",
    )
    mine = (await client.get("/api/v1/me/export", headers=room.alice.headers)).json()
    assert [(r["kind"], r["rule"]) for r in mine["reports"]] == [("report", 2)]
    assert "rude words" not in str(mine["reports"])  # never the reported person's words
    theirs = (await client.get("/api/v1/me/export", headers=room.bob.headers)).json()
    assert [(s["kind"], s["rule"], s["reason"]) for s in theirs["sanctions"]] == [
        ("warning", 2, "Please be gentler")
    ]
    assert theirs["reports"] == []


async def test_show_cannot_open_a_message_a_facilitator_removed(client, room: Room) -> None:
    msg = await post(client, room.bob, room.id, "words the group agreed not to share")
    r = await sanction(
        client, room.fac, room.group["slug"], kind="hide", room_id=room.id, seq=msg["seq"], rule=1
    )
    assert r.status_code == 201
    url = f"/api/v1/rooms/{room.id}/messages/{msg['seq']}"
    seen = (await client.get(url, headers=room.alice.headers)).json()["message"]
    assert seen["body"] == "" and seen["removed"] == {"rule": 1}
    assert (await client.get(url, headers=room.bob.headers)).json()["message"]["body"] == (
        "words the group agreed not to share"
    )
    assert (await client.get(url, headers=room.fac.headers)).json()["message"]["body"] == (
        "words the group agreed not to share"
    )
