"""Scheduled sessions (issue 6): wall-clock times in real time zones, across daylight
saving, with an injected clock; calendar files; who may see and schedule them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from helpers import Room, assert_error, login, signup


async def at(client, clock, room: Room, when: datetime) -> Room:
    """Move the clock (months ahead of the fixtures' sign-ins) and sign in again there."""
    clock.set(when)
    fac = replace(room.fac, token=await login(client, room.fac))
    alice = replace(room.alice, token=await login(client, room.alice))
    return replace(room, fac=fac, alice=alice)


async def schedule(client, room: Room, who, **body):
    return await client.post(
        f"/api/v1/groups/{room.group['slug']}/sessions", json=body, headers=who.headers
    )


async def upcoming(client, room: Room, who) -> list[dict]:
    r = await client.get(f"/api/v1/groups/{room.group['slug']}/sessions", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


async def test_a_weekly_session_keeps_its_local_time_across_a_clock_change(
    client, clock, room: Room
) -> None:
    # Late October: London leaves summer time on Sunday 25 October 2026.
    room = await at(client, clock, room, datetime(2026, 10, 15, 12, 0, tzinfo=UTC))
    r = await schedule(
        client,
        room,
        room.fac,
        title="Evening circle",
        start="2026-10-20T19:00",
        minutes=60,
        timezone="Europe/London",
        weekly=True,
    )
    assert r.status_code == 201, r.text
    starts = [s["start"] for s in await upcoming(client, room, room.alice)]
    # 19:00 in London is 18:00 UTC in summer time, 19:00 UTC after the change.
    assert starts[:3] == ["2026-10-20T18:00:00Z", "2026-10-27T19:00:00Z", "2026-11-03T19:00:00Z"]


async def test_sessions_in_two_time_zones_are_ordered_by_the_real_moment(
    client, clock, room: Room
) -> None:
    room = await at(client, clock, room, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    await schedule(
        client,
        room,
        room.fac,
        title="Sydney morning",
        start="2026-12-02T09:00",
        minutes=60,
        timezone="Australia/Sydney",
    )
    await schedule(
        client,
        room,
        room.fac,
        title="New York evening",
        start="2026-12-01T19:00",
        minutes=60,
        timezone="America/New_York",
    )
    got = await upcoming(client, room, room.alice)
    # 09:00 Sydney (UTC+11) on the 2nd is 22:00 UTC on the 1st; 19:00 New York (UTC-5)
    # is 00:00 UTC on the 2nd.
    assert [(s["title"], s["start"]) for s in got] == [
        ("Sydney morning", "2026-12-01T22:00:00Z"),
        ("New York evening", "2026-12-02T00:00:00Z"),
    ]
    clock.set(datetime(2026, 12, 1, 22, 30, tzinfo=UTC))
    live = {s["title"]: s["live"] for s in await upcoming(client, room, room.alice)}
    assert live == {"Sydney morning": True, "New York evening": False}
    clock.set(datetime(2026, 12, 2, 1, 30, tzinfo=UTC))
    assert await upcoming(client, room, room.alice) == []  # both over, neither repeats


async def test_a_calendar_file_for_members_names_no_topic(client, clock, room: Room) -> None:
    room = await at(client, clock, room, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    r = await schedule(
        client,
        room,
        room.fac,
        title="Check-in",
        start="2026-12-03T18:30",
        minutes=45,
        timezone="Europe/Berlin",
        weekly=True,
    )
    sid = r.json()["session"]["id"]
    url = f"/api/v1/groups/{room.group['slug']}/sessions/{sid}/calendar.ics"
    r = await client.get(url, headers=room.alice.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/calendar")
    body = r.text
    assert "DTSTART;TZID=Europe/Berlin:20261203T183000" in body
    assert "DTEND;TZID=Europe/Berlin:20261203T191500" in body
    assert "RRULE:FREQ=WEEKLY" in body and body.endswith("END:VCALENDAR\r\n")
    assert room.group["description"] not in body
    outsider = await signup(client)
    assert_error(await client.get(url, headers=outsider.headers), 404, "not_found")
    r = await client.get(f"/api/v1/groups/{room.group['slug']}/sessions", headers=outsider.headers)
    assert_error(r, 404, "not_found")


async def test_only_facilitators_schedule_and_bad_times_are_refused(client, room: Room) -> None:
    ok = {"title": "T", "start": "2026-12-03T18:30", "minutes": 60, "timezone": "Europe/Paris"}
    assert_error(await schedule(client, room, room.alice, **ok), 403, "forbidden")
    for bad in (
        {"timezone": "Mars/Olympus"},
        {"start": "next tuesday"},
        {"start": "2026-12-03T18:30+01:00"},
        {"minutes": 5},
        {"title": ""},
    ):
        assert_error(await schedule(client, room, room.fac, **{**ok, **bad}), 422, "invalid")
    r = await schedule(client, room, room.fac, **ok)
    sid = r.json()["session"]["id"]
    r = await client.delete(
        f"/api/v1/groups/{room.group['slug']}/sessions/{sid}", headers=room.alice.headers
    )
    assert_error(r, 403, "forbidden")
    r = await client.delete(
        f"/api/v1/groups/{room.group['slug']}/sessions/{sid}", headers=room.fac.headers
    )
    assert r.status_code == 204
