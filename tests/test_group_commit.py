"""Group commit (actions/posting.py): posts that arrive together are written in one
transaction, and each is still checked, numbered and answered as if it were alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from helpers import Room, create_group, db_rows, history, join, privileged, signup
from safespace.actions.messages import check_post, post_message
from safespace.actions.posting import Job, Posted, PostingLine, line_of
from safespace.db.models import User
from safespace.errors import AppError
from safespace.safety.assess import assess


async def _user(server: Any, account: Any) -> User:
    async with server.svc.db.read() as session:
        user = await session.get(User, account.id)
    assert user is not None
    return user


async def _members(server: Any, client: Any, room: Room, count: int) -> list[User]:
    users = []
    for _ in range(count):
        account = await signup(client)
        await join(client, account, room.group)
        users.append(await _user(server, account))
    return users


async def _all_at_once(server: Any, room_id: int, posts: list[tuple[User, str, str]]) -> list[Any]:
    """Every post submitted in the same moment, as a burst of senders would."""
    return await asyncio.gather(
        *(post_message(server.svc, u, room_id, cid, body) for u, cid, body in posts),
        return_exceptions=True,
    )


@pytest.fixture
async def burst(server: Any, client: Any, room: Room) -> tuple[Any, list[User]]:
    return server, await _members(server, client, room, 12)


async def test_a_burst_is_written_together_in_one_gap_free_order(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    server, users = burst
    line = line_of(server.svc, check_post)
    before = line.batches
    posts = [(u, f"burst-{i}-{j}", f"hello {i}.{j}") for j in range(2) for i, u in enumerate(users)]
    answers = await _all_at_once(server, room.id, posts)
    assert all(isinstance(a, Posted) and not a.duplicate for a in answers), answers
    # Far fewer transactions than posts: that is the point.
    assert line.batches - before < len(posts) / 4
    seqs = [a.message["seq"] for a in answers]
    assert sorted(seqs) == list(range(1, len(posts) + 1))
    # Each answer is its own post, in the order it was sent by its author.
    for (u, cid, body), a in zip(posts, answers, strict=True):
        assert a.message["body"] == body and a.message["author"]["alias"]
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, len(posts) + 1))
    assert {m["body"] for m in stored} == {body for _, _, body in posts}


async def test_a_refused_post_leaves_the_rest_of_its_batch_alone(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    server, users = burst
    r = await client.patch(
        f"/api/v1/groups/{room.group['slug']}/settings",
        json={"slow_mode_seconds": 30},
        headers=room.fac.headers,
    )
    assert r.status_code == 200, r.text
    posts = [(u, f"ok-{i}", f"fine {i}") for i, u in enumerate(users)]
    # The same person twice in one burst, in a slow-mode room: the second must wait.
    posts.append((users[0], "again-0", "too soon"))
    # The same post sent twice at once (a retry racing the original): stored once.
    posts.append((users[1], "ok-1", "fine 1"))
    answers = await _all_at_once(server, room.id, posts)
    good = answers[: len(users)]
    assert all(isinstance(a, Posted) and not a.duplicate for a in good), good
    too_soon = answers[len(users)]
    assert isinstance(too_soon, AppError) and too_soon.code == "slow_mode"
    twin = answers[len(users) + 1]
    assert isinstance(twin, Posted) and twin.duplicate
    assert twin.message == good[1].message
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, len(users) + 1))
    assert "too soon" not in {m["body"] for m in stored}


async def test_a_failure_below_the_checks_costs_only_the_post_that_caused_it(
    burst: tuple[Any, list[User]], client: Any, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, users = burst
    keys = server.svc.keys
    seal = keys.seal_text

    async def failing_seal(group_id: int, text: str, context: bytes) -> bytes:
        if text == "poison":
            raise RuntimeError("the key store failed")
        return await seal(group_id, text, context)  # type: ignore[no-any-return]

    monkeypatch.setattr(keys, "seal_text", failing_seal)
    posts = [(u, f"p-{i}", "poison" if i == 3 else f"fine {i}") for i, u in enumerate(users)]
    answers = await _all_at_once(server, room.id, posts)
    assert isinstance(answers[3], RuntimeError)
    others = [a for i, a in enumerate(answers) if i != 3]
    assert all(isinstance(a, Posted) for a in others), others
    # Nothing half-written: no seq was taken by the failed post, none is missing.
    assert sorted(a.message["seq"] for a in others) == list(range(1, len(users)))
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, len(users)))
    assert "poison" not in {m["body"] for m in stored}


async def test_posts_into_several_rooms_at_once_each_keep_their_own_order(
    server: Any, client: Any
) -> None:
    fac = await privileged(server)
    groups = [await create_group(client, fac) for _ in range(3)]
    users = []
    for _ in range(4):
        account = await signup(client)
        for group in groups:
            await join(client, account, group)
        users.append(await _user(server, account))
    rooms = [g["room_id"] for g in groups]
    answers = await asyncio.gather(
        *(
            post_message(server.svc, u, rid, f"{rid}-{i}", f"to {rid} from {i}")
            for i, u in enumerate(users)
            for rid in rooms
        )
    )
    for rid in rooms:
        mine = [a.message for a in answers if a.message["room_id"] == rid]
        assert sorted(m["seq"] for m in mine) == list(range(1, len(users) + 1))
        assert {m["body"] for m in mine} == {f"to {rid} from {i}" for i in range(len(users))}


@pytest.mark.postgres_only
async def test_a_batchs_facts_read_at_once_are_what_each_post_would_read(
    server: Any, client: Any, room: Room
) -> None:
    """On PostgreSQL a batch reads every post's checks in one statement
    (queries.rooms.fetch_posting_facts); each post must get exactly what its own query
    gives: member, stranger, muted, a retry, a support room, no room, a bad room id."""
    from safespace.queries.rooms import PostingFacts, fetch_posting_facts, posting_facts

    svc = server.svc
    stored = await post_message(svc, await _user(server, room.alice), room.id, "kept", "hello")
    r = await client.get("/api/v1/me/groups", headers=room.bob.headers)
    bob_alias = next(g["alias"] for g in r.json()["groups"] if g["slug"] == room.group["slug"])
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sanctions",
        json={"kind": "mute", "alias": bob_alias, "rule": 1, "minutes": 60},
        headers=room.fac.headers,
    )
    assert r.status_code == 201, r.text
    other = await create_group(client, room.fac)
    stranger = await _user(server, await signup(client))
    alice, bob, fac = [await _user(server, a) for a in (room.alice, room.bob, room.fac)]
    posts: list[tuple[User, object, str]] = [
        (alice, room.id, "new-one"),
        (alice, room.id, "kept"),  # a retry of a stored message
        (bob, room.id, "while-muted"),
        (stranger, room.id, "not-a-member"),
        (alice, other["room_id"], "not-in-that-group"),
        (fac, other["room_id"], "their-own-group"),
        (alice, 987_654, "no-such-room"),
        (alice, "7", "a-string-room-id"),
        (fac, room.id, "facilitator"),
        (alice, room.id, "new-one"),  # the same post twice in one batch
    ]
    now = svc.clock.now()

    async def facts(read_ahead: bool) -> list[PostingFacts | str]:
        out: list[PostingFacts | str] = []
        async with svc.db.write() as session:
            if read_ahead:
                await fetch_posting_facts(session, [(u.id, r, c) for u, r, c in posts], now)
            for user, room_id, cid in posts:
                try:
                    out.append(await posting_facts(session, user, room_id, cid, now))
                except AppError as err:
                    out.append(err.code)
            await session.rollback()
        return out

    alone, together = await facts(read_ahead=False), await facts(read_ahead=True)
    assert together == alone
    # and the cases are what they say
    assert isinstance(alone[0], PostingFacts) and alone[0].existing_id is None
    assert isinstance(alone[1], PostingFacts) and alone[1].existing_id == stored.message["id"]
    assert isinstance(alone[2], PostingFacts) and alone[2].mute_id is not None
    assert alone[3] == alone[4] == alone[6] == alone[7] == "not_found"
    assert isinstance(alone[5], PostingFacts) and alone[5].access.room_id == other["room_id"]


async def test_what_a_batch_stores_reads_back_as_each_author_was_answered(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    """Warnings (given, with and without a note, and none) and plain posts written in one
    batch come back from history exactly as each ack described them."""
    server, users = burst
    warnings: list[Any] = [
        {"categories": ["death-grief"], "note": "about my dad"},
        {"categories": ["medical", "self-harm"]},
        None,
    ]
    answers = await asyncio.gather(
        *(
            post_message(server.svc, u, room.id, f"w-{i}", f"post {i}", warnings[i % len(warnings)])
            for i, u in enumerate(users)
        )
    )
    stored = await history(client, room.alice, room.id, limit=100)
    by_seq = {m["seq"]: m for m in stored}
    for i, posted in enumerate(answers):
        warning = warnings[i % len(warnings)]
        shown = posted.message
        if warning is None:
            assert "content_warning" not in shown
        else:  # the categories in the server's own order
            given = shown["content_warning"]
            assert sorted(given["categories"]) == sorted(warning["categories"])
            assert given.get("note") == warning.get("note")
        # Alice reads others' warned posts collapsed: compare what isn't shaping.
        again = by_seq[shown["seq"]]
        for key in ("id", "room_id", "author", "created_at", "content_warning"):
            assert again.get(key) == shown.get(key), (key, again, shown)
    assert sorted(by_seq) == sorted(a.message["seq"] for a in answers)


@pytest.mark.postgres_only
async def test_a_plain_batch_is_one_statement_and_a_risky_one_a_transaction(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    """On PostgreSQL a batch of ordinary posts to one room is written by one statement
    (seq update and insert together); one that raises a risk flag writes the flag in the
    same transaction as its message."""
    server, users = burst
    line = line_of(server.svc, check_post)
    plain = await _all_at_once(server, room.id, [(u, f"p-{i}", "hi") for i, u in enumerate(users)])
    assert all(isinstance(a, Posted) for a in plain)
    assert line.at_once >= 1
    written_at_once = line.at_once
    risky = "I have the pills ready and I'm going to take them all tonight. Goodbye everyone"
    [answer] = await _all_at_once(server, room.id, [(users[0], "r-0", risky)])
    assert isinstance(answer, Posted) and answer.check_in == "imminent"
    assert line.at_once == written_at_once  # the usual transaction, flag and message
    r = await client.get("/api/v1/flags", headers=room.fac.headers)
    assert r.status_code == 200, r.text
    assert [f["message"]["seq"] for f in r.json()["flags"]] == [answer.message["seq"]]
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, len(users) + 2))


@pytest.mark.postgres_only
async def test_a_message_from_elsewhere_between_a_batchs_checks_and_its_write_costs_nothing(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    """Another process posts into the room after this batch read the room's last seq: the
    one-statement write finds the room moved on, writes nothing, and the batch takes the
    usual way. Every message is stored once, gap-free, and readable (each body sealed for
    the seq it was finally given)."""
    server, users = burst
    svc = server.svc
    meddled: list[Posted] = []

    async def meddling(tx: Any, job: Any, planned: Any) -> object:
        outcome = await check_post(tx, job, planned)
        if not meddled:  # once, while the first batch is being checked
            elsewhere = PostingLine(svc, check_post)  # as another process's line
            body = "posted on another process"
            meddled.append(
                await elsewhere.submit(
                    Job(users[-1], room.id, "elsewhere", body, assess(body), [], None, False)
                )
            )
        return outcome

    line = svc.posting = PostingLine(svc, meddling)
    posts = [(u, f"m-{i}", f"mine {i}") for i, u in enumerate(users[:-1])]
    answers = await _all_at_once(server, room.id, posts)
    assert all(isinstance(a, Posted) and not a.duplicate for a in answers), answers
    assert line.batches - line.at_once >= 1  # the batch that was meddled with: the usual way
    [theirs] = meddled
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, len(posts) + 2))
    bodies = {m["seq"]: m["body"] for m in stored}
    assert bodies[theirs.message["seq"]] == "posted on another process"
    for (_, _, body), a in zip(posts, answers, strict=True):
        assert bodies[a.message["seq"]] == body


async def test_a_post_submitted_a_moment_after_another_joins_its_batch(
    burst: tuple[Any, list[User]], room: Room
) -> None:
    """The line takes a batch one turn of the loop after the first post arrives, so a post
    whose frame was read in the same moment but reached the line a step later is written
    with it, not in a transaction of its own."""
    server, users = burst
    line = line_of(server.svc, check_post)
    await post_message(server.svc, users[0], room.id, "warm", "first, to start the line")
    before = line.batches

    async def a_moment_later() -> Posted:
        await asyncio.sleep(0)
        return await post_message(server.svc, users[2], room.id, "later", "a moment later")

    now = post_message(server.svc, users[1], room.id, "now", "right now")
    answers = await asyncio.gather(now, a_moment_later())
    assert [a.message["body"] for a in answers] == ["right now", "a moment later"]
    assert line.batches - before == 1


async def test_a_post_waiting_when_the_line_stops_is_refused_not_left_hanging(
    burst: tuple[Any, list[User]], room: Room
) -> None:
    """A server that stops while a post waits for its batch answers the post with an error
    (the client keeps its text and sends it again), and never leaves it waiting."""
    server, users = burst
    line = line_of(server.svc, check_post)
    waiting = asyncio.create_task(
        post_message(server.svc, users[0], room.id, "stop", "as the server stops")
    )
    for _ in range(100):  # until the post is in the line
        if line._waiting:
            break
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the line's worker starts, and waits a turn before its batch
    assert line._worker is not None and line._waiting
    line._worker.cancel()
    with pytest.raises(RuntimeError, match="stopping"):
        await asyncio.wait_for(waiting, 5)


# On PostgreSQL a line checks a batch on facts it read for its authors' last posts, and
# writes it only if its group's facts_version (moved on by triggers, migration 0006) and
# the room's last seq still stand: one round trip in place of two.


async def _posted_twice(server: Any, room: Room, users: list[User], tag: str) -> PostingLine:
    """A fresh line, and every user posting twice: the second time on known facts."""
    line = server.svc.posting = PostingLine(server.svc, check_post)
    for round_ in ("first", "second"):
        posts = [(u, f"{tag}-{round_}-{i}", f"{round_} {i}") for i, u in enumerate(users)]
        answers = await _all_at_once(server, room.id, posts)
        assert all(isinstance(a, Posted) and not a.duplicate for a in answers), answers
    return line


@pytest.mark.postgres_only
async def test_a_batch_on_facts_known_from_before_is_one_statement_and_stored_whole(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    server, users = burst
    line = await _posted_twice(server, room, users, "k")
    assert line.on_known >= 1 and line.on_known <= line.at_once
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, 2 * len(users) + 1))
    assert [m["body"] for m in stored[len(users) :]].count("second 0") == 1
    # A retry of a post stored on known facts is answered as the post it repeats.
    [again] = await _all_at_once(server, room.id, [(users[3], "k-second-3", "second 3")])
    assert isinstance(again, Posted) and again.duplicate
    assert again.message["body"] == "second 3"
    assert len(await history(client, room.alice, room.id, limit=100)) == 2 * len(users)


async def _leave(client: Any, room: Room, who: Any) -> None:
    r = await client.post(f"/api/v1/groups/{room.group['slug']}/leave", headers=who.headers)
    assert r.status_code == 204, r.text


async def _settings(client: Any, room: Room, **changes: Any) -> None:
    r = await client.patch(
        f"/api/v1/groups/{room.group['slug']}/settings", json=changes, headers=room.fac.headers
    )
    assert r.status_code == 200, r.text


async def _mute(client: Any, room: Room, who: Any) -> None:
    r = await client.get("/api/v1/me/groups", headers=who.headers)
    alias = next(g["alias"] for g in r.json()["groups"] if g["slug"] == room.group["slug"])
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/sanctions",
        json={"kind": "mute", "alias": alias, "rule": 1, "minutes": 60},
        headers=room.fac.headers,
    )
    assert r.status_code in (200, 201), r.text


async def _new_rules(client: Any, room: Room, who: Any) -> None:
    r = await client.put(
        f"/api/v1/groups/{room.group['slug']}/rules",
        json={"rules": ["Be kind.", "Keep what is shared here private."]},
        headers=room.fac.headers,
    )
    assert r.status_code == 200, r.text


CHANGES = {
    "muted": _mute,
    "rules_not_accepted": _new_rules,
    "not_found": lambda client, room, who: _leave(client, room, who),
    "slow_mode": lambda client, room, who: _settings(client, room, slow_mode_seconds=60),
    "room_closed": lambda client, room, who: _settings(
        client, room, read_only_outside_sessions=True
    ),
}


@pytest.mark.postgres_only
@pytest.mark.parametrize("refused_as", sorted(CHANGES))
async def test_a_change_to_what_the_checks_read_is_seen_though_the_line_knew_the_facts(
    server: Any, client: Any, room: Room, refused_as: str
) -> None:
    """A facilitator's action between two posts (a mute, new ground rules, slow mode, a
    room open only in sessions) or the member leaving: the line knew the member's facts
    from their last post, yet their next post is refused as it would be on facts read
    afresh, and nothing of it is stored."""
    bob = await _user(server, room.bob)
    line = await _posted_twice(server, room, [bob], refused_as)
    assert line.on_known == 1  # the line did know bob's facts
    await CHANGES[refused_as](client, room, room.bob)
    [answer] = await _all_at_once(server, room.id, [(bob, "after", "after the change")])
    assert isinstance(answer, AppError) and answer.code == refused_as, answer
    bodies = await db_rows(server, "SELECT seq FROM messages WHERE room_id = :r", r=room.id)
    assert len(bodies) == 2


@pytest.mark.postgres_only
async def test_a_message_from_elsewhere_after_the_line_last_wrote_costs_nothing_on_known_facts(
    burst: tuple[Any, list[User]], client: Any, room: Room
) -> None:
    """Another process posts into the room after this line last wrote there: the line's
    idea of the room's last seq is out of date, so the write on known facts takes nothing,
    and the batch is read and written afresh. Gap-free, every body readable."""
    server, users = burst
    svc = server.svc
    line = await _posted_twice(server, room, users[:-1], "e")
    known = line.on_known
    elsewhere = PostingLine(svc, check_post)  # as another process's line
    theirs = await elsewhere.submit(
        Job(users[-1], room.id, "elsewhere", "from another process", assess("x"), [], None, False)
    )
    posts = [(u, f"e-third-{i}", f"third {i}") for i, u in enumerate(users[:-1])]
    answers = await _all_at_once(server, room.id, posts)
    assert all(isinstance(a, Posted) and not a.duplicate for a in answers), answers
    assert line.on_known == known  # the known-facts write took nothing
    stored = await history(client, room.alice, room.id, limit=100)
    assert [m["seq"] for m in stored] == list(range(1, 3 * len(posts) + 2))
    bodies = {m["seq"]: m["body"] for m in stored}
    assert bodies[theirs.message["seq"]] == "from another process"
    for (_, _, body), a in zip(posts, answers, strict=True):
        assert bodies[a.message["seq"]] == body
