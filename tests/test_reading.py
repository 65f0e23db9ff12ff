"""How a reader meets a message (issue 5): content warnings, suggested and required
warnings, a group's topic rules, asking the room first, and each person's own filters and
blocks. Real servers, real databases, real websocket clients, data set up through the API.

The contract is docs/protocol.md, "Content warnings, consent and filters". Each reader
gets every message shaped for them, live, in history and on resume alike:

- in full: the author, the group's facilitators, and anyone whose filters let it through;
- collapsed (`"body":""`): behind its warning, or a word the reader muted;
- hidden (`"body":""`): a category the reader hides, or an author the reader blocked (who
  is never told).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from helpers import (
    WS,
    Account,
    Room,
    assert_error,
    create_group,
    db_rows,
    db_scalar,
    history,
    join,
    new_client_id,
    open_ws,
    privileged,
    signup,
)
from safespace.privacy.keystore import note_context
from safespace.reading.categories import detect_topics
from safespace.safety.assess import assess

CATEGORY_IDS = [
    "suicide",
    "self-harm",
    "eating-disorders",
    "abuse",
    "sexual-violence",
    "substance-use",
    "death-grief",
    "violence",
    "medical",
]

# Texts that touch a topic and say nothing about their author being at risk ...
PLAIN = "The walk this morning helped a lot."
SELF_HARM = "My sister used to self-harm when we were teenagers, and I still worry about her."
MEDICAL = "Mum's scan results came back from the hospital today."
ABUSE = "My ex was abusive for years and I am only now seeing it."
GRIEF = "We had my grandad's funeral on Friday."
BOTH = "My sister used to self-harm, and now she is in hospital again."  # self-harm, medical
METHOD = "my friend overdosed on 30 pills of paracetamol"  # methods described in detail
# ... and texts whose author may be at risk.
IMMINENT = "I want to kill myself tonight"
ELEVATED_DRINKING = (
    "I keep drinking again and feel like a burden to everyone, I don't see the point anymore"
)
ELEVATED_CUTTING = "I cut myself again last night"


def test_the_texts_used_here_are_read_as_these_tests_expect() -> None:
    """The topic check and the risk check are tuned elsewhere: if a text here stops
    meaning what it says below, change the text, not the tests."""
    calm = {
        PLAIN: [],
        SELF_HARM: ["self-harm"],
        MEDICAL: ["medical"],
        ABUSE: ["abuse"],
        GRIEF: ["death-grief"],
        BOTH: ["self-harm", "medical"],
    }
    for text, topics in calm.items():
        assert detect_topics(text) == topics, text
        assert assess(text).level == "none" and not assess(text).method_detail, text
    method = assess(METHOD)
    assert method.level == "none" and method.method_detail, method
    assert detect_topics(METHOD) == ["suicide", "substance-use"]
    assert assess(IMMINENT).level == "imminent" and detect_topics(IMMINENT) == ["suicide"]
    assert assess(ELEVATED_DRINKING).level == "elevated"
    assert detect_topics(ELEVATED_DRINKING) == ["substance-use"]
    assert assess(ELEVATED_CUTTING).level == "elevated"
    assert detect_topics(ELEVATED_CUTTING) == ["self-harm"]


# --------------------------------------------------------------------------- helpers


async def send(
    client: httpx.AsyncClient,
    who: Account,
    room_id: int,
    body: str,
    *,
    warning: dict[str, Any] | None = None,
    suggest: bool | None = None,
    client_id: str | None = None,
) -> httpx.Response:
    data: dict[str, Any] = {"client_id": client_id or new_client_id(), "body": body}
    if warning is not None:
        data["content_warning"] = warning
    if suggest is not None:
        data["suggest_warning"] = suggest
    return await client.post(f"/api/v1/rooms/{room_id}/messages", json=data, headers=who.headers)


async def sent(
    client: httpx.AsyncClient, who: Account, room_id: int, body: str, **kwargs: Any
) -> dict[str, Any]:
    r = await send(client, who, room_id, body, **kwargs)
    assert r.status_code == 201, r.text
    return r.json()["message"]  # type: ignore[no-any-return]


def send_frame(
    room_id: int,
    body: str,
    *,
    warning: dict[str, Any] | None = None,
    suggest: bool | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "send",
        "room_id": room_id,
        "client_id": client_id or new_client_id(),
        "body": body,
    }
    if warning is not None:
        frame["content_warning"] = warning
    if suggest is not None:
        frame["suggest_warning"] = suggest
    return frame


async def last_seq(server: Any, room_id: int) -> int:
    return int(await db_scalar(server, "SELECT last_seq FROM rooms WHERE id = :r", r=room_id))


async def stored_count(server: Any, room_id: int) -> int:
    return int(
        await db_scalar(server, "SELECT COUNT(*) FROM messages WHERE room_id = :r", r=room_id)
    )


async def put_topics(
    client: httpx.AsyncClient, who: Account, slug: str, **lists: list[str]
) -> httpx.Response:
    body = {"require_warning": [], "need_consent": [], "off_limits": [], **lists}
    return await client.put(f"/api/v1/groups/{slug}/topics", json=body, headers=who.headers)


async def set_topics(client: httpx.AsyncClient, room: Room, **lists: list[str]) -> None:
    r = await put_topics(client, room.fac, room.group["slug"], **lists)
    assert r.status_code == 200, r.text


async def put_filters(client: httpx.AsyncClient, who: Account, **body: Any) -> dict[str, Any]:
    r = await client.put("/api/v1/me/filters", json=body, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def get_filters(client: httpx.AsyncClient, who: Account) -> dict[str, Any]:
    r = await client.get("/api/v1/me/filters", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def reveal(client: httpx.AsyncClient, who: Account, room_id: int, seq: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/rooms/{room_id}/messages/{seq}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["message"]  # type: ignore[no-any-return]


async def block(client: httpx.AsyncClient, who: Account, room_id: int, seq: int) -> httpx.Response:
    return await client.post(
        "/api/v1/me/blocks", json={"room_id": room_id, "seq": seq}, headers=who.headers
    )


async def ask(
    client: httpx.AsyncClient,
    who: Account,
    room_id: int,
    topic: str,
    category: str | None = None,
    client_id: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"client_id": client_id or new_client_id(), "topic": topic}
    if category is not None:
        body["category"] = category
    return await client.post(f"/api/v1/rooms/{room_id}/consent", json=body, headers=who.headers)


async def answer(
    client: httpx.AsyncClient, who: Account, room_id: int, seq: int, reply: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/rooms/{room_id}/consent/{seq}/answer", json={"answer": reply}, headers=who.headers
    )


async def member(client: httpx.AsyncClient, room: Room, alias: str) -> Account:
    """A third member of the room's group."""
    person = await signup(client)
    await join(client, person, room.group, alias=alias)
    return person


def collapsed(message: dict[str, Any], because: str = "warning") -> None:
    assert message["body"] == "", message
    assert message["collapsed"] is True, message
    assert message["collapsed_because"] == because, message
    assert "hidden" not in message, message


def in_full(message: dict[str, Any], body: str) -> None:
    assert message["body"] == body, message
    assert "collapsed" not in message and "hidden" not in message, message


def blocked_placeholder(message: dict[str, Any], seq: int) -> None:
    """Where a blocked person wrote: nothing of who it was or what it said."""
    assert set(message) == {
        "id",
        "room_id",
        "seq",
        "author",
        "body",
        "created_at",
        "hidden",
        "hidden_because",
    }, message
    assert message["seq"] == seq
    assert message["author"] == {"alias": ""}
    assert message["body"] == ""
    assert (message["hidden"], message["hidden_because"]) == (True, "blocked")


async def frames_of(ws: WS, kind: str) -> list[dict[str, Any]]:
    return [f for f in await ws.until_pong() if f.get("type") == kind]


async def close_all(*sockets: WS) -> None:
    for ws in sockets:
        await ws.close()


# --------------------------------------------------------------------------- warnings


async def test_a_warned_message_reaches_others_collapsed_live_in_history_and_on_resume(
    server, client, room: Room
) -> None:
    fac = await open_ws(server, room.fac.token)
    alice = await open_ws(server, room.alice.token)
    bob = await open_ws(server, room.bob.token)
    note = "about my grandad's last days"
    warning = {"categories": ["death-grief"], "note": note}

    message = await sent(client, room.alice, room.id, GRIEF, warning=warning)
    # The author: in full, with the warning as given.
    in_full(message, GRIEF)
    assert message["content_warning"] == warning
    assert [f["message"] for f in await frames_of(alice, "message")] == [message]
    # The group's facilitators: in full.
    assert await fac.messages_until_pong() == [message]
    # Another member: collapsed. Who wrote it and its warning, and nothing of the text.
    [live] = await bob.messages_until_pong()
    collapsed(live)
    assert live["content_warning"] == warning
    assert live["author"] == {"alias": "alice_a"} and live["seq"] == message["seq"]
    assert GRIEF not in json.dumps(live) and "funeral" not in json.dumps(live)

    # The same in history ...
    assert await history(client, room.bob, room.id) == [live]
    assert await history(client, room.alice, room.id) == [message]
    assert await history(client, room.fac, room.id) == [message]
    # ... and when a connection resumes.
    later = await open_ws(server, room.bob.token, resume={room.id: 0})
    assert await later.messages_until_pong() == [live]
    # "Show" fetches it in full, for that message alone.
    shown = await reveal(client, room.bob, room.id, message["seq"])
    assert shown == message
    assert await history(client, room.bob, room.id) == [live]

    # Over the socket the same: the author's ack in full, the others collapsed.
    ack = await alice.answer_to(send_frame(room.id, MEDICAL, warning={"categories": ["medical"]}))
    assert ack["type"] == "ack", ack
    in_full(ack["message"], MEDICAL)
    assert ack["message"]["content_warning"] == {"categories": ["medical"]}
    for ws in (bob, later):
        [other] = await ws.messages_until_pong()
        collapsed(other)
        assert other["content_warning"] == {"categories": ["medical"]}
    [for_fac] = await fac.messages_until_pong()
    in_full(for_fac, MEDICAL)

    # The note is stored sealed like the text: not in clear in its column, and it opens
    # with the group's key in that message's place only.
    raw = await db_scalar(
        server,
        "SELECT warning_note FROM messages WHERE room_id = :r AND seq = :s",
        r=room.id,
        s=message["seq"],
    )
    assert raw is not None
    raw = bytes(raw)
    assert note.encode() not in raw and b"grandad" not in raw
    group_id = await db_scalar(server, "SELECT group_id FROM rooms WHERE id = :r", r=room.id)
    opened = await server.svc.keys.open_text(group_id, raw, note_context(room.id, message["seq"]))
    assert opened == note
    # Its categories are stored in clear (the app shapes messages by them).
    categories = await db_scalar(
        server, "SELECT warning FROM messages WHERE room_id = :r AND seq = :s", r=room.id, s=1
    )
    assert "death-grief" in str(categories)
    await close_all(fac, alice, bob, later)


async def test_a_suggested_warning_stops_the_post_until_the_author_decides(
    server, client, room: Room
) -> None:
    bob = await open_ws(server, room.bob.token)

    r = await send(client, room.alice, room.id, SELF_HARM, suggest=True)
    error = assert_error(r, 422, "warning_suggested")
    assert error["suggested"] == ["self-harm"]
    assert "self-harm" in error["message"].lower()
    # Nothing was stored, nothing was delivered, no seq was used.
    assert await last_seq(server, room.id) == 0
    assert await stored_count(server, room.id) == 0
    assert await bob.messages_until_pong() == []

    # Only what the warning doesn't cover is suggested.
    r = await send(
        client, room.alice, room.id, BOTH, warning={"categories": ["medical"]}, suggest=True
    )
    assert assert_error(r, 422, "warning_suggested")["suggested"] == ["self-harm"]
    assert await last_seq(server, room.id) == 0

    # Accepting: sent with the warning.
    accepted = await sent(
        client, room.alice, room.id, SELF_HARM, warning={"categories": ["self-harm"]}, suggest=True
    )
    assert accepted["seq"] == 1
    assert accepted["content_warning"] == {"categories": ["self-harm"]}
    [live] = await bob.messages_until_pong()
    collapsed(live)
    # Declining: sent as it is, and the others get it as it is.
    declined = await sent(client, room.alice, room.id, SELF_HARM, suggest=False)
    assert declined["seq"] == 2 and "content_warning" not in declined
    [live] = await bob.messages_until_pong()
    in_full(live, SELF_HARM)
    assert "content_warning" not in live
    # A client that doesn't ask for suggestions isn't given any.
    assert "content_warning" not in await sent(client, room.alice, room.id, SELF_HARM)
    # Nothing to suggest: sent.
    assert (await sent(client, room.alice, room.id, PLAIN, suggest=True))["seq"] == 4
    assert [m["seq"] for m in await history(client, room.alice, room.id)] == [1, 2, 3, 4]
    await bob.close()


async def test_a_suggested_warning_over_the_socket_is_an_error_frame_and_the_socket_stays_open(
    server, client, room: Room
) -> None:
    alice = await open_ws(server, room.alice.token)
    bob = await open_ws(server, room.bob.token)
    cid = new_client_id()

    frame = await alice.answer_to(send_frame(room.id, SELF_HARM, suggest=True, client_id=cid))
    assert frame["type"] == "error" and frame["code"] == "warning_suggested", frame
    assert frame["suggested"] == ["self-harm"] and frame["client_id"] == cid
    assert frame["message"]
    assert await alice.until_pong() == []  # still open, nothing else said
    assert await bob.messages_until_pong() == []
    assert await stored_count(server, room.id) == 0

    # The author adds the warning and sends again, with the same client_id.
    warning = {"categories": ["self-harm"], "note": "my sister"}
    ack = await alice.answer_to(
        send_frame(room.id, SELF_HARM, warning=warning, suggest=True, client_id=cid)
    )
    assert ack["type"] == "ack", ack
    assert ack["message"]["seq"] == 1 and ack["message"]["content_warning"] == warning
    [live] = await bob.messages_until_pong()
    collapsed(live)
    # Or sends without.
    ack = await alice.answer_to(send_frame(room.id, SELF_HARM, suggest=False))
    assert ack["type"] == "ack" and "content_warning" not in ack["message"], ack
    [live] = await bob.messages_until_pong()
    in_full(live, SELF_HARM)
    await close_all(alice, bob)


# --------------------------------------------------------------------------- group topics


async def test_only_a_groups_facilitators_set_its_topics_and_anyone_can_read_them(
    server, client, room: Room
) -> None:
    slug = room.group["slug"]
    r = await client.get(f"/api/v1/groups/{slug}")
    assert r.json()["group"]["topics"] == {
        "require_warning": [],
        "need_consent": [],
        "off_limits": [],
    }

    wanted = {
        "require_warning": ["self-harm", "suicide"],
        "need_consent": ["abuse"],
        "off_limits": ["method-detail", "violence"],
    }
    assert_error(await put_topics(client, room.bob, slug, **wanted), 403, "forbidden")
    other = await privileged(server)
    await create_group(client, other)
    assert_error(await put_topics(client, other, slug, **wanted), 403, "forbidden")
    r = await client.get(f"/api/v1/groups/{slug}")
    assert r.json()["group"]["topics"]["off_limits"] == []

    r = await put_topics(client, room.fac, slug, **wanted)
    assert r.status_code == 200, r.text
    expected = {
        "require_warning": ["suicide", "self-harm"],  # in the categories' own order
        "need_consent": ["abuse"],
        "off_limits": ["violence", "method-detail"],
    }
    assert r.json() == {"topics": expected}
    # Shown to everyone with the ground rules, before joining too.
    r = await client.get(f"/api/v1/groups/{slug}")
    assert r.json()["group"]["topics"] == expected
    r = await client.get(f"/api/v1/groups/{slug}", headers=room.bob.headers)
    assert r.json()["group"]["topics"] == expected
    # Audit-logged, with who did it.
    rows = await db_rows(
        server,
        "SELECT actor_id FROM audit_log WHERE action = 'topics_changed' AND group_id = "
        "(SELECT group_id FROM rooms WHERE id = :r)",
        r=room.id,
    )
    assert [tuple(row) for row in rows] == [(room.fac.id,)]


async def test_a_group_that_requires_a_warning_refuses_a_message_without_one(
    server, client, room: Room
) -> None:
    await set_topics(client, room, require_warning=["self-harm"])
    bob = await open_ws(server, room.bob.token)

    r = await send(client, room.alice, room.id, SELF_HARM, suggest=False)
    error = assert_error(r, 422, "warning_required")
    assert error["required"] == ["self-harm"]
    assert "content warning" in error["message"]
    # A warning for another topic doesn't do.
    r = await send(client, room.alice, room.id, BOTH, warning={"categories": ["medical"]})
    assert assert_error(r, 422, "warning_required")["required"] == ["self-harm"]
    assert await stored_count(server, room.id) == 0
    assert await bob.messages_until_pong() == []

    # Over the socket: an error frame, and the connection stays open.
    alice = await open_ws(server, room.alice.token)
    frame = await alice.answer_to(send_frame(room.id, SELF_HARM))
    assert (frame["type"], frame["code"], frame["required"]) == (
        "error",
        "warning_required",
        ["self-harm"],
    )
    assert await alice.until_pong() == []

    # With the warning: sent, and collapsed for the others.
    ok = await sent(client, room.alice, room.id, SELF_HARM, warning={"categories": ["self-harm"]})
    assert ok["seq"] == 1
    [live] = await bob.messages_until_pong()
    collapsed(live)
    # Other topics are up to the author.
    assert "content_warning" not in await sent(client, room.alice, room.id, MEDICAL)
    await close_all(alice, bob)


async def test_off_limits_topics_are_refused(server, client, room: Room) -> None:
    await set_topics(client, room, off_limits=["abuse", "method-detail"])

    r = await send(client, room.alice, room.id, ABUSE)
    error = assert_error(r, 422, "off_limits")
    assert error["categories"] == ["abuse"]
    assert "facilitator" in error["message"]  # and where to go instead
    # A warning doesn't make it acceptable here.
    r = await send(client, room.alice, room.id, ABUSE, warning={"categories": ["abuse"]})
    assert_error(r, 422, "off_limits")
    # Methods described in detail, about someone else (nobody here is at risk).
    r = await send(client, room.alice, room.id, METHOD)
    assert assert_error(r, 422, "off_limits")["categories"] == ["method-detail"]
    alice = await open_ws(server, room.alice.token)
    frame = await alice.answer_to(send_frame(room.id, ABUSE))
    assert (frame["type"], frame["code"], frame["categories"]) == ("error", "off_limits", ["abuse"])
    assert await stored_count(server, room.id) == 0

    assert (await sent(client, room.alice, room.id, MEDICAL))["seq"] == 1
    # Lifting the rule lets it through; a method in detail still reaches the room behind
    # a warning (docs/safety.md).
    await set_topics(client, room)
    assert "content_warning" not in await sent(client, room.alice, room.id, ABUSE)
    detail = await sent(client, room.alice, room.id, METHOD)
    assert detail["content_warning"]["categories"] == ["suicide"]
    [stored] = [m for m in await history(client, room.bob, room.id) if m["seq"] == detail["seq"]]
    collapsed(stored)
    await alice.close()


async def test_a_topic_that_needs_consent_waits_until_the_room_says_ok(
    server, client, clock, room: Room
) -> None:
    await set_topics(client, room, need_consent=["medical"])
    carol = await member(client, room, "carol_c")

    error = assert_error(await send(client, room.alice, room.id, MEDICAL), 422, "consent_required")
    assert error["categories"] == ["medical"]
    assert "Ask before sharing" in error["message"]

    r = await ask(client, room.alice, room.id, "my mum's health", "medical")
    assert r.status_code == 201, r.text
    seq = r.json()["message"]["seq"]
    # Asked, not yet answered; then one "not now" and one OK: not yet.
    assert_error(await send(client, room.alice, room.id, MEDICAL), 422, "consent_required")
    assert (await answer(client, room.bob, room.id, seq, "not_now")).status_code == 200
    assert (await answer(client, carol, room.id, seq, "ok")).status_code == 200
    assert_error(await send(client, room.alice, room.id, MEDICAL), 422, "consent_required")
    # Bob changes his answer: everyone said OK.
    r = await answer(client, room.bob, room.id, seq, "ok")
    assert r.json()["consent"]["granted"] is True
    # Someone else's OK is not yours, and an OK about one topic is not about another.
    assert_error(await send(client, room.bob, room.id, MEDICAL), 422, "consent_required")
    r = await ask(client, room.bob, room.id, "my ex", "abuse")
    assert (
        await answer(client, carol, room.id, r.json()["message"]["seq"], "ok")
    ).status_code == 200
    assert_error(await send(client, room.bob, room.id, MEDICAL), 422, "consent_required")

    shared = await sent(client, room.alice, room.id, MEDICAL, warning={"categories": ["medical"]})
    assert shared["body"] == MEDICAL

    # A facilitator's answer is the room's: OK despite a "not now", then "not now".
    r = await ask(client, room.bob, room.id, "my dad's operation", "medical")
    bobs = r.json()["message"]["seq"]
    assert (await answer(client, carol, room.id, bobs, "not_now")).status_code == 200
    assert_error(await send(client, room.bob, room.id, MEDICAL), 422, "consent_required")
    r = await answer(client, room.fac, room.id, bobs, "ok")
    assert r.json()["consent"]["granted"] is True
    assert (await sent(client, room.bob, room.id, MEDICAL))["body"] == MEDICAL
    r = await answer(client, room.fac, room.id, bobs, "not_now")
    assert r.json()["consent"]["granted"] is False
    assert_error(await send(client, room.bob, room.id, MEDICAL), 422, "consent_required")

    # An OK covers the next two hours.
    clock.advance(hours=1, minutes=59)
    assert (await sent(client, room.alice, room.id, MEDICAL))["body"] == MEDICAL
    clock.advance(minutes=2)
    assert_error(await send(client, room.alice, room.id, MEDICAL), 422, "consent_required")


async def test_someone_at_risk_is_never_refused_and_their_message_goes_out_warned(
    server, client, room: Room
) -> None:
    await set_topics(
        client,
        room,
        require_warning=["suicide"],
        need_consent=["self-harm"],
        off_limits=["suicide", "substance-use", "method-detail"],
    )
    fac = await open_ws(server, room.fac.token)
    alice = await open_ws(server, room.alice.token)
    bob = await open_ws(server, room.bob.token)

    cases = [
        (IMMINENT, "imminent", "suicide"),  # required and off-limits
        (ELEVATED_DRINKING, "elevated", "substance-use"),  # off-limits
        (ELEVATED_CUTTING, "elevated", "self-harm"),  # needs consent, never asked
    ]
    for text, level, topic in cases:
        r = await send(client, room.alice, room.id, text, suggest=True)
        assert r.status_code == 201, (text, r.text)
        assert r.json()["check_in"] == level
        message = r.json()["message"]
        in_full(message, text)
        assert topic in message["content_warning"]["categories"], message
        [live] = await bob.messages_until_pong()
        collapsed(live)
        assert topic in live["content_warning"]["categories"], live
        assert text not in json.dumps(live)
        # The facilitators get it in full, and are told.
        frames: list[dict[str, Any]] = []
        while not [f for f in frames if f["type"] in ("flag", "alert")]:
            frames.append(await fac.recv())
        frames += await fac.until_pong()
        assert [f["message"] for f in frames if f["type"] == "message"] == [message]
        [told] = [f for f in frames if f["type"] in ("flag", "alert")]
        assert told["flag"]["message"]["body"] == text

    # Over the socket too.
    ack = await alice.answer_to(send_frame(room.id, IMMINENT, suggest=True))
    assert ack["type"] == "ack" and ack["check_in"] == "imminent", ack
    [live] = await bob.messages_until_pong()
    collapsed(live)
    await close_all(fac, alice, bob)


# --------------------------------------------------------------------------- filters


async def test_each_reader_chooses_to_show_collapse_or_hide_each_category(
    server, client, room: Room
) -> None:
    carol = await member(client, room, "carol_c")
    filters = await put_filters(
        client, room.bob, categories={"medical": "show", "abuse": "hide", "violence": "collapse"}
    )
    expected_modes = {c: "collapse" for c in CATEGORY_IDS} | {"medical": "show", "abuse": "hide"}
    assert filters["categories"] == expected_modes
    assert await get_filters(client, room.bob) == filters
    # A facilitator's own "hide" doesn't apply in the groups they run.
    await put_filters(client, room.fac, categories={"abuse": "hide"})
    bob = await open_ws(server, room.bob.token)
    carol_ws = await open_ws(server, carol.token)
    fac = await open_ws(server, room.fac.token)

    posts = [
        (MEDICAL, {"categories": ["medical"]}, "full"),
        (ABUSE, {"categories": ["abuse"]}, "hidden"),
        (GRIEF, {"categories": ["death-grief"]}, "collapsed"),
        (BOTH, {"categories": ["self-harm", "medical"]}, "collapsed"),  # the most careful
        (BOTH, {"categories": ["medical", "abuse"]}, "hidden"),
        (PLAIN, {"note": "nothing big, just a long day"}, "collapsed"),  # a note alone
    ]
    sent_messages = [
        await sent(client, room.alice, room.id, text, warning=warning) for text, warning, _ in posts
    ]
    live = await bob.messages_until_pong()
    stored = await history(client, room.bob, room.id)
    for got in (live, stored):
        assert [m["seq"] for m in got] == [m["seq"] for m in sent_messages]
        for m, original, (text, warning, shape) in zip(got, sent_messages, posts, strict=True):
            assert m["content_warning"] == original["content_warning"], m  # always shown
            if shape == "full":
                in_full(m, text)
            elif shape == "collapsed":
                collapsed(m)
            else:
                assert m["body"] == "" and m["hidden"] is True, m
                assert m["hidden_because"] == "filter" and "collapsed" not in m, m
                assert m["author"] == {"alias": "alice_a"}  # a placeholder that makes sense
    # Someone with no filters gets each one collapsed; the facilitator, each in full.
    for m in await carol_ws.messages_until_pong():
        collapsed(m)
    assert await fac.messages_until_pong() == sent_messages
    # "Show anyway" on a hidden one.
    hidden_seq = sent_messages[1]["seq"]
    assert (await reveal(client, room.bob, room.id, hidden_seq))["body"] == ABUSE
    await close_all(bob, carol_ws, fac)


async def test_muted_words_collapse_a_message_for_that_reader_alone(
    server, client, room: Room
) -> None:
    carol = await member(client, room, "carol_c")
    filters = await put_filters(client, room.bob, muted_words=["  Panic   Attack ", "cat", "CAT"])
    assert filters["muted_words"] == ["panic attack", "cat"]
    bob = await open_ws(server, room.bob.token)
    carol_ws = await open_ws(server, carol.token)

    texts = [
        ("The category list at the cafe was long.", "full"),  # whole words only
        ("We saw a bobcat on the trail.", "full"),
        ("My Cat knocked the tea over.", "muted"),  # any case
        ("I had a panic attack on the bus today.", "muted"),  # phrases
        (PLAIN, "full"),
    ]
    posted = [await sent(client, room.alice, room.id, text) for text, _ in texts]
    for got in (await bob.messages_until_pong(), await history(client, room.bob, room.id)):
        for m, (text, shape) in zip(got, texts, strict=True):
            if shape == "full":
                in_full(m, text)
            else:
                collapsed(m, "muted")
                assert "content_warning" not in m
                assert text not in json.dumps(m)
    # Nobody else is affected, or told.
    assert [m["body"] for m in await carol_ws.messages_until_pong()] == [t for t, _ in texts]
    assert (await get_filters(client, carol))["muted_words"] == []
    assert "panic" not in json.dumps(await get_filters(client, room.alice))
    # Show, per message.
    assert (await reveal(client, room.bob, room.id, posted[2]["seq"]))["body"] == texts[2][0]
    # Your own words are never muted for you.
    mine = await sent(client, room.bob, room.id, "my cat is asleep on my feet")
    assert mine["body"] == "my cat is asleep on my feet"
    # Muted words are stored as you gave them (lower-cased), in clear: they are not secret
    # from whoever runs the server (docs/privacy.md).
    stored = await db_scalar(
        server, "SELECT muted_words FROM user_filters WHERE user_id = :u", u=room.bob.id
    )
    assert "panic attack" in str(stored)
    await close_all(bob, carol_ws)


async def test_changing_filters_reshapes_the_next_live_message_and_says_so(
    server, client, room: Room
) -> None:
    laptop = await open_ws(server, room.bob.token)
    phone = await open_ws(server, room.bob.token)
    alice = await open_ws(server, room.alice.token)
    medical = {"categories": ["medical"]}

    await sent(client, room.alice, room.id, MEDICAL, warning=medical)
    for ws in (laptop, phone):
        [m] = await ws.messages_until_pong()
        collapsed(m)
    [own] = await alice.messages_until_pong()
    in_full(own, MEDICAL)

    await put_filters(client, room.bob, categories={"medical": "show"})
    for ws in (laptop, phone):
        assert await ws.until_pong() == [{"type": "filters_changed"}]
    assert await alice.until_pong() == []  # only your own connections hear of it
    await sent(client, room.alice, room.id, MEDICAL, warning=medical)
    for ws in (laptop, phone):
        [m] = await ws.messages_until_pong()
        in_full(m, MEDICAL)

    # A muted word still collapses a warned message you chose to show.
    await put_filters(client, room.bob, muted_words=["scan"])
    assert await laptop.until_pong() == [{"type": "filters_changed"}]
    await sent(client, room.alice, room.id, MEDICAL, warning=medical)
    [m] = await laptop.messages_until_pong()
    collapsed(m, "muted")
    # The categories stayed as they were (only muted_words was given).
    assert (await get_filters(client, room.bob))["categories"]["medical"] == "show"

    await put_filters(client, room.bob, categories={"medical": "hide"}, muted_words=[])
    assert await laptop.until_pong() == [{"type": "filters_changed"}]
    await sent(client, room.alice, room.id, MEDICAL, warning=medical)
    [m] = await laptop.messages_until_pong()
    assert (m["hidden"], m["hidden_because"], m["body"]) == (True, "filter", "")
    await close_all(laptop, phone, alice)


# --------------------------------------------------------------------------- blocks


async def test_blocking_someone_hides_their_messages_for_you_alone_and_they_are_not_told(
    server, client, room: Room
) -> None:
    carol = await member(client, room, "carol_c")
    alice = await open_ws(server, room.alice.token)
    bob = await open_ws(server, room.bob.token)
    carol_ws = await open_ws(server, carol.token)
    bobs_alias = (await sent(client, room.bob, room.id, PLAIN))["author"]["alias"]
    for ws in (alice, bob, carol_ws):
        await ws.messages_until_pong()

    r = await block(client, room.alice, room.id, 1)
    assert r.status_code == 201, r.text
    made = r.json()["block"]
    assert made["alias"] == bobs_alias and made["id"] and made["since"]
    assert await alice.until_pong() == [{"type": "filters_changed"}]
    assert await bob.until_pong() == []  # the blocked person hears nothing
    mine = await get_filters(client, room.alice)
    assert mine["blocked"] == [
        {
            "id": made["id"],
            "alias": bobs_alias,
            "group": {"slug": room.group["slug"], "name": room.group["name"]},
            "since": made["since"],
        }
    ]
    assert (await get_filters(client, room.bob))["blocked"] == []

    # Bob goes on as before: his own answers and his own view are unchanged.
    ack = await bob.answer_to(send_frame(room.id, "Anyone up for a walk?"))
    assert ack["type"] == "ack", ack
    in_full(ack["message"], "Anyone up for a walk?")
    warned = await sent(client, room.bob, room.id, GRIEF, warning={"categories": ["death-grief"]})
    in_full(warned, GRIEF)
    own = await bob.messages_until_pong()
    assert [m["body"] for m in own] == ["Anyone up for a walk?", GRIEF]
    assert all(m["author"]["alias"] == bobs_alias for m in own)
    # Alice gets placeholders: no alias, no text, no warning.
    live = await alice.messages_until_pong()
    assert [m["seq"] for m in live] == [2, 3]
    for m in live:
        blocked_placeholder(m, m["seq"])
    # Everyone else gets him as usual.
    others = await carol_ws.messages_until_pong()
    assert [m["body"] for m in others] == ["Anyone up for a walk?", ""]
    assert all(m["author"]["alias"] == bobs_alias for m in others)
    # History (his messages from before the block too) and a resumed connection alike.
    stored = await history(client, room.alice, room.id)
    for seq, m in enumerate(stored, start=1):
        blocked_placeholder(m, seq)
    resumed = await open_ws(server, room.alice.token, resume={room.id: 0})
    assert await resumed.messages_until_pong() == stored
    assert [m["body"] for m in await history(client, room.bob, room.id)] == [
        PLAIN,
        "Anyone up for a walk?",
        GRIEF,
    ]
    # Blocking is one way: Bob still reads Alice.
    await sent(client, room.alice, room.id, "Morning all")
    [m] = await bob.messages_until_pong()
    in_full(m, "Morning all")
    # "Show anyway" on one message.
    assert (await reveal(client, room.alice, room.id, 2))["body"] == "Anyone up for a walk?"
    # Blocking again changes nothing.
    again = await block(client, room.alice, room.id, 3)
    assert again.status_code == 201 and again.json()["block"]["id"] == made["id"]
    assert len((await get_filters(client, room.alice))["blocked"]) == 1
    await close_all(alice, bob, carol_ws, resumed)


async def test_a_page_of_history_applies_every_block_and_filter_a_reader_has_at_once(
    server, client, room: Room
) -> None:
    # Access, filters and blocks are read together for a page (one row per block): with
    # two blocks and muted words, each must still reach the shaping.
    carol = await member(client, room, "carol_c")
    dan = await member(client, room, "dan_d")
    texts = [
        (room.bob, "Bob here, checking in."),
        (carol, "Carol here, hello all."),
        (dan, "My cat sat with me all evening."),
        (dan, PLAIN),
    ]
    for who, text in texts:
        await sent(client, who, room.id, text)
    assert (await block(client, room.alice, room.id, 1)).status_code == 201
    assert (await block(client, room.alice, room.id, 2)).status_code == 201
    await put_filters(client, room.alice, muted_words=["cat"])

    page = await history(client, room.alice, room.id)
    assert [m["seq"] for m in page] == [1, 2, 3, 4]
    blocked_placeholder(page[0], 1)
    blocked_placeholder(page[1], 2)
    collapsed(page[2], "muted")
    in_full(page[3], PLAIN)
    # Dan, who blocked nobody, reads everything.
    assert [m["body"] for m in await history(client, dan, room.id)] == [t for _, t in texts]


async def test_unblocking_brings_their_messages_back(server, client, room: Room) -> None:
    await sent(client, room.bob, room.id, PLAIN)
    block_id = (await block(client, room.alice, room.id, 1)).json()["block"]["id"]
    alice = await open_ws(server, room.alice.token)

    # Nobody else can lift it, or learn that it exists.
    r = await client.delete(f"/api/v1/me/blocks/{block_id}", headers=room.bob.headers)
    assert_error(r, 404, "not_found")
    r = await client.delete(f"/api/v1/me/blocks/{block_id}", headers=room.fac.headers)
    assert_error(r, 404, "not_found")
    blocked_placeholder((await history(client, room.alice, room.id))[0], 1)

    r = await client.delete(f"/api/v1/me/blocks/{block_id}", headers=room.alice.headers)
    assert r.status_code == 204, r.text
    assert await alice.until_pong() == [{"type": "filters_changed"}]
    assert (await get_filters(client, room.alice))["blocked"] == []
    await sent(client, room.bob, room.id, "Back again")
    [m] = await alice.messages_until_pong()
    in_full(m, "Back again")
    assert m["author"]["alias"] != ""
    assert [m["body"] for m in await history(client, room.alice, room.id)] == [PLAIN, "Back again"]
    r = await client.delete(f"/api/v1/me/blocks/{block_id}", headers=room.alice.headers)
    assert_error(r, 404, "not_found")
    await alice.close()


async def test_you_cannot_block_yourself_a_facilitator_or_someone_where_you_are_not(
    server, client, room: Room
) -> None:
    await sent(client, room.alice, room.id, PLAIN)  # seq 1
    await sent(client, room.fac, room.id, "Welcome, everyone.")  # seq 2
    error = assert_error(await block(client, room.alice, room.id, 1), 422, "invalid")
    assert "yourself" in error["message"]
    error = assert_error(await block(client, room.alice, room.id, 2), 422, "invalid")
    assert "Facilitators" in error["message"]
    # A message that doesn't exist, and one in a room you are not in.
    assert_error(await block(client, room.alice, room.id, 99), 404, "not_found")
    other_fac = await privileged(server)
    other = await create_group(client, other_fac)
    stranger = await signup(client)
    await join(client, stranger, other)
    await sent(client, stranger, other["room_id"], PLAIN)
    assert_error(await block(client, room.alice, other["room_id"], 1), 404, "not_found")
    assert await db_scalar(server, "SELECT COUNT(*) FROM blocks") == 0
    assert (await get_filters(client, room.alice))["blocked"] == []


# --------------------------------------------------------------------------- consent


async def test_asking_the_room_first_and_the_answers(server, client, room: Room) -> None:
    carol = await member(client, room, "carol_c")
    sockets = {
        "alice": await open_ws(server, room.alice.token),
        "bob": await open_ws(server, room.bob.token),
        "carol": await open_ws(server, carol.token),
        "fac": await open_ws(server, room.fac.token),
    }
    cid = new_client_id()
    r = await ask(client, room.alice, room.id, "  my mum's   illness ", "medical", client_id=cid)
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    assert message["kind"] == "consent" and message["body"] == "my mum's illness"
    assert message["author"] == {"alias": "alice_a"} and message["seq"] == 1
    assert message["consent"] == {
        "category": "medical",
        "ok": 0,
        "not_now": 0,
        "room_answer": None,
        "granted": False,
    }
    assert "content_warning" not in message
    for ws in sockets.values():  # the room sees the request, and it has a seq
        assert await ws.messages_until_pong() == [message]
    # Asking again with the same client_id is the same request, delivered once.
    again = await ask(client, room.alice, room.id, "my mum's illness", "medical", client_id=cid)
    assert again.status_code == 201 and again.json()["message"]["seq"] == 1
    assert await sockets["bob"].messages_until_pong() == []

    async def answered(who: Account, reply: str, expected: dict[str, Any]) -> None:
        r = await answer(client, who, room.id, 1, reply)
        assert r.status_code == 200, r.text
        summary = {"category": "medical", **expected}
        assert r.json() == {"consent": summary}
        frame = {"type": "consent_updated", "room_id": room.id, "seq": 1, "consent": summary}
        for ws in sockets.values():
            assert await ws.until_pong() == [frame]

    assert_error(await answer(client, room.alice, room.id, 1, "ok"), 403, "forbidden")
    await answered(room.bob, "ok", {"ok": 1, "not_now": 0, "room_answer": None, "granted": True})
    await answered(carol, "not_now", {"ok": 1, "not_now": 1, "room_answer": None, "granted": False})
    # Answering again replaces the earlier answer.
    await answered(
        room.bob, "not_now", {"ok": 0, "not_now": 2, "room_answer": None, "granted": False}
    )
    # The facilitator answers for the room (not counted as a member's answer).
    await answered(room.fac, "ok", {"ok": 0, "not_now": 2, "room_answer": "ok", "granted": True})
    await answered(
        room.fac, "not_now", {"ok": 0, "not_now": 2, "room_answer": "not_now", "granted": False}
    )
    # History carries the latest answers, for everyone (never who said what).
    for who in (room.alice, room.bob, room.fac):
        [stored] = await history(client, who, room.id)
        assert stored["consent"] == {
            "category": "medical",
            "ok": 0,
            "not_now": 2,
            "room_answer": "not_now",
            "granted": False,
        }

    # Only requests can be answered, and only by the room's members.
    await sent(client, room.bob, room.id, PLAIN)  # seq 2
    assert_error(await answer(client, carol, room.id, 2, "ok"), 404, "not_found")
    assert_error(await answer(client, carol, room.id, 99, "ok"), 404, "not_found")
    outsider = await signup(client)
    assert_error(await answer(client, outsider, room.id, 1, "ok"), 404, "not_found")
    # A request with no category is fine too.
    r = await ask(client, room.bob, room.id, "something from work")
    assert r.status_code == 201 and r.json()["message"]["consent"] == {
        "ok": 0,
        "not_now": 0,
        "room_answer": None,
        "granted": False,
    }
    await close_all(*sockets.values())


# --------------------------------------------------------------------------- bad input


async def test_bad_input_is_a_clear_422_never_a_500(server, client, room: Room) -> None:
    messages = f"/api/v1/rooms/{room.id}/messages"
    bad_posts = [
        {"categories": ["nope"]},
        {"categories": "self-harm"},
        {"categories": [1]},
        {"note": "x" * 101},
        {"note": 5},
        "self-harm",
        ["self-harm"],
    ]
    for warning in bad_posts:
        r = await client.post(
            messages,
            json={"client_id": new_client_id(), "body": PLAIN, "content_warning": warning},
            headers=room.alice.headers,
        )
        assert_error(r, 422, "invalid")
    r = await client.post(
        messages,
        json={"client_id": new_client_id(), "body": PLAIN, "suggest_warning": [1]},
        headers=room.alice.headers,
    )
    assert_error(r, 422, "invalid")
    assert await stored_count(server, room.id) == 0
    # At the limits: accepted.
    ok = await sent(client, room.alice, room.id, PLAIN, warning={"note": "n" * 100})
    assert ok["content_warning"] == {"categories": [], "note": "n" * 100}

    consent = f"/api/v1/rooms/{room.id}/consent"
    for body in [
        {"client_id": new_client_id(), "topic": "t" * 81},
        {"client_id": new_client_id(), "topic": "   "},
        {"client_id": new_client_id(), "topic": "work", "category": "nope"},
        {"client_id": new_client_id(), "topic": 5},
        {"topic": "work"},
    ]:
        assert_error(await client.post(consent, json=body, headers=room.alice.headers), 422)
    assert (await ask(client, room.alice, room.id, "t" * 80)).status_code == 201
    for reply in ("maybe", 1, None):
        r = await client.post(
            f"{consent}/2/answer", json={"answer": reply}, headers=room.bob.headers
        )
        assert_error(r, 422, "invalid")

    for body in [
        {"categories": {"self-harm": "blur"}},
        {"categories": {"nope": "show"}},
        {"categories": ["show"]},
        {"muted_words": [f"word{i}" for i in range(51)]},
        {"muted_words": ["w" * 41]},
        {"muted_words": "cat"},
        {"muted_words": [3]},
    ]:
        r = await client.put("/api/v1/me/filters", json=body, headers=room.bob.headers)
        assert_error(r, 422, "invalid")
    assert await get_filters(client, room.bob) == {
        "categories": {c: "collapse" for c in CATEGORY_IDS},
        "muted_words": [],
        "blocked": [],
    }
    most = [f"{i:02d}" + "w" * 38 for i in range(50)]
    assert (await put_filters(client, room.bob, muted_words=most))["muted_words"] == most

    slug = room.group["slug"]
    for lists in [
        {"require_warning": ["nope"]},
        {"require_warning": ["method-detail"]},  # only off_limits can hold it
        {"need_consent": "abuse"},
        {"off_limits": [1]},
    ]:
        assert_error(await put_topics(client, room.fac, slug, **lists), 422, "invalid")
    r = await client.get(f"/api/v1/groups/{slug}")
    assert r.json()["group"]["topics"] == {
        "require_warning": [],
        "need_consent": [],
        "off_limits": [],
    }

    for body in [{"room_id": "x", "seq": 1}, {"room_id": room.id, "seq": "one"}, {}]:
        r = await client.post("/api/v1/me/blocks", json=body, headers=room.alice.headers)
        assert_error(r, 422, "invalid")

    # Over the socket: an error frame, and the connection stays open.
    ws = await open_ws(server, room.alice.token)
    for warning in ({"categories": ["nope"]}, {"note": "x" * 101}, "self-harm"):
        frame = await ws.answer_to(send_frame(room.id, PLAIN, warning=warning))
        assert (frame["type"], frame["code"]) == ("error", "invalid"), frame
    assert await ws.until_pong() == []
    assert await stored_count(server, room.id) == 2
    await ws.close()


# --------------------------------------------------------------------------- your data


async def test_my_export_holds_my_filters_blocks_and_answers(server, client, room: Room) -> None:
    await sent(client, room.alice, room.id, PLAIN)  # seq 1
    r = await ask(client, room.alice, room.id, "my mum's illness", "medical")  # seq 2
    assert r.status_code == 201
    assert (await answer(client, room.bob, room.id, 2, "not_now")).status_code == 200
    await put_filters(client, room.bob, categories={"abuse": "hide"}, muted_words=["exams"])
    assert (await block(client, room.bob, room.id, 1)).status_code == 201

    r = await client.get("/api/v1/me/export", headers=room.bob.headers)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["settings"] == {"filters": await get_filters(client, room.bob)}
    assert data["settings"]["filters"]["muted_words"] == ["exams"]
    assert [b["alias"] for b in data["settings"]["filters"]["blocked"]] == ["alice_a"]
    [given] = data["consent_answers"]
    assert (given["room_id"], given["seq"], given["answer"]) == (room.id, 2, "not_now")
    # Alice's own export says nothing of Bob's filters, his block of her, or his answer.
    r = await client.get("/api/v1/me/export", headers=room.alice.headers)
    assert "exams" not in r.text
    assert r.json()["settings"]["filters"]["blocked"] == []
    assert r.json()["settings"]["filters"]["categories"]["abuse"] == "collapse"
    assert r.json()["consent_answers"] == []
