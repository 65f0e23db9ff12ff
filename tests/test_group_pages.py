"""The pages facilitators run a group with, and a member's own list of sanctions, over
HTTP as a browser uses them (a session cookie, forms with their CSRF token, no
JavaScript): group settings and co-facilitators, the whisper channel, join requests from
the queue page, sessions with their calendar files, the audit log with lifting a mute, and
"Facilitators' decisions about you". The JSON API is what checks each form did its job.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx

from helpers import (
    Account,
    LiveServer,
    Room,
    assert_error,
    create_group,
    make_client,
    post,
    privileged,
    signup,
)
from safespace.settings import Settings
from web_walk import page_csrf

HTML = {"Accept": "text/html,application/xhtml+xml"}


@dataclass
class Browser:
    """One person's browser: their session cookie, and the CSRF token of the last page."""

    client: httpx.AsyncClient
    account: Account
    csrf: str = ""

    async def get(self, path: str) -> httpx.Response:
        r = await self.client.get(path, headers=self._headers(), follow_redirects=False)
        if r.status_code == 200 and "text/html" in r.headers.get("content-type", ""):
            self.csrf = page_csrf(r.text)
        return r

    async def submit(self, path: str, form: dict[str, str] | None = None) -> httpx.Response:
        """A form posted from a page of ours (opened first, for its token)."""
        if not self.csrf:
            await self.get("/settings")
        data = {**(form or {}), "csrf_token": self.csrf}
        return await self.client.post(
            path, data=data, headers=self._headers(), follow_redirects=False
        )

    def _headers(self) -> dict[str, str]:
        return {**HTML, "Cookie": f"ss_session={self.account.token}"}


def browser(client: httpx.AsyncClient, account: Account) -> Browser:
    return Browser(client, account)


def text_of(page: httpx.Response) -> str:
    """The page's words, tags gone and entities read: what a reader sees."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


async def api_group(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/groups/{slug}")
    assert r.status_code == 200, r.text
    return r.json()["group"]  # type: ignore[no-any-return]


async def role_in(client: httpx.AsyncClient, who: Account, slug: str) -> str | None:
    r = await client.get("/api/v1/me/groups", headers=who.headers)
    return next((g["role"] for g in r.json()["groups"] if g["slug"] == slug), None)


async def alias_of(client: httpx.AsyncClient, who: Account, slug: str) -> str:
    r = await client.get("/api/v1/me/groups", headers=who.headers)
    return str(next(g["alias"] for g in r.json()["groups"] if g["slug"] == slug))


SETTINGS_FORM = {
    "description": "Gentle talk about <b>grief</b> & loss.",
    "tags": "grief, loss",
    "listed": "no",
    "join_policy": "approval",
    "max_members": "12",
    "slow_mode_seconds": "30",
    "guests_allowed": "yes",
    "guests_can_post": "yes",
    "read_only_outside_sessions": "yes",
}


# ----------------------------------------------------------------------- settings


async def test_a_facilitator_changes_the_settings_with_the_form(client, room: Room) -> None:
    slug = room.group["slug"]
    fac = browser(client, room.fac)
    page = await fac.get(f"/g/{slug}/settings")
    assert page.status_code == 200, page.text
    words = text_of(page)
    for choice in ("Open", "With approval", "By invitation", "5 minutes"):
        assert choice in words, choice
    assert 'name="guests_can_post"' in page.text
    assert 'name="read_only_outside_sessions"' in page.text

    r = await fac.submit(f"/g/{slug}/settings", SETTINGS_FORM)
    assert (r.status_code, r.headers["location"]) == (303, f"/g/{slug}/settings?notice=saved")
    group = await api_group(client, slug)
    assert group["description"] == "Gentle talk about <b>grief</b> & loss."
    assert group["tags"] == ["grief", "loss"]
    assert group["settings"] == {
        "listed": False,
        "join_policy": "approval",
        "max_members": 12,
        "slow_mode_seconds": 30,
        "guests_allowed": True,
        "guests_can_post": True,
        "read_only_outside_sessions": True,
    }
    # The page shows what is saved, escaped, with the choices ticked.
    page = await fac.get(f"/g/{slug}/settings?notice=saved")
    assert "Saved." in text_of(page)
    assert "&lt;b&gt;grief&lt;/b&gt; &amp; loss" in page.text and "<b>grief" not in page.text
    assert re.search(r'value="approval" checked', page.text)
    assert re.search(r'name="guests_can_post" value="yes" checked', page.text)

    # Unticking a box turns it off; "invite" is a choice like the others.
    form = {**SETTINGS_FORM, "listed": "yes", "join_policy": "invite", "max_members": ""}
    for box in ("guests_allowed", "guests_can_post", "read_only_outside_sessions"):
        del form[box]
    r = await fac.submit(f"/g/{slug}/settings", form)
    assert r.status_code == 303, r.text
    settings = (await api_group(client, slug))["settings"]
    assert settings["listed"] is True and settings["join_policy"] == "invite"
    assert settings["max_members"] is None
    assert not settings["guests_allowed"] and not settings["guests_can_post"]
    assert not settings["read_only_outside_sessions"]


async def test_a_refused_setting_is_explained_in_the_page_and_nothing_typed_is_lost(
    client, room: Room
) -> None:
    slug = room.group["slug"]
    fac = browser(client, room.fac)
    before = await api_group(client, slug)
    for change, message in (
        ({"max_members": "lots"}, "The most members is a whole number"),
        ({"tags": "not a tag!"}, "Tags are short words"),
        ({"slow_mode_seconds": "7"}, "Slow mode is off"),
    ):
        form = {**SETTINGS_FORM, "description": "A draft I wrote carefully.", **change}
        r = await fac.submit(f"/g/{slug}/settings", form)
        assert r.status_code == 422, r.text
        assert message in text_of(r)
        assert 'role="alert"' in r.text and 'aria-invalid="true"' in r.text
        assert "A draft I wrote carefully." in r.text
    assert await api_group(client, slug) == before


async def test_members_and_strangers_cannot_open_or_change_the_settings(client, room: Room) -> None:
    slug = room.group["slug"]
    before = await api_group(client, slug)
    outsider = await signup(client)
    for who in (room.alice, outsider):
        b = browser(client, who)
        r = await b.get(f"/g/{slug}/settings")
        assert r.status_code == 403
        assert "Only this group's facilitators" in text_of(r)
        r = await b.submit(f"/g/{slug}/settings", SETTINGS_FORM)
        assert r.status_code == 403
    assert await api_group(client, slug) == before
    r = await client.get(f"/g/{slug}/settings", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/g/{slug}/settings"


async def test_the_group_page_links_to_what_each_person_may_open(client, room: Room) -> None:
    slug = room.group["slug"]
    links = {f"/g/{slug}/settings", f"/g/{slug}/sessions", f"/g/{slug}/log"}

    def shown(page: httpx.Response) -> set[str]:
        return {link for link in links if f'href="{link}"' in page.text}

    fac = await browser(client, room.fac).get(f"/g/{slug}")
    assert shown(fac) == links
    member = await browser(client, room.alice).get(f"/g/{slug}")
    assert shown(member) == {f"/g/{slug}/sessions", f"/g/{slug}/log"}
    stranger = await browser(client, await signup(client)).get(f"/g/{slug}")
    assert shown(stranger) == set()
    assert shown(await client.get(f"/g/{slug}", headers=HTML)) == set()


# ----------------------------------------------------------------------- co-facilitators


async def test_the_owner_chooses_co_facilitators_on_the_settings_page(client, room: Room) -> None:
    slug = room.group["slug"]
    owner = browser(client, room.fac)
    r = await owner.submit(f"/g/{slug}/facilitators/add", {"alias": "alice_a"})
    assert (r.status_code, r.headers["location"]) == (
        303,
        f"/g/{slug}/settings?notice=facilitator-added#facilitators",
    )
    assert await role_in(client, room.alice, slug) == "facilitator"
    # She sees the page now, and the list, but choosing facilitators stays with the owner.
    alice = browser(client, room.alice)
    page = await alice.get(f"/g/{slug}/settings")
    assert page.status_code == 200
    assert "alice_a" in text_of(page) and "(you)" in text_of(page)
    assert f'action="/g/{slug}/facilitators/add"' not in page.text
    bob_alias = await alias_of(client, room.bob, slug)
    r = await alice.submit(f"/g/{slug}/facilitators/add", {"alias": bob_alias})
    assert r.status_code == 403
    assert await role_in(client, room.bob, slug) == "member"

    # Someone who isn't there: said in the page, with what was typed.
    r = await owner.submit(f"/g/{slug}/facilitators/add", {"alias": "nobody_here"})
    assert r.status_code == 404
    assert "Nobody in this group has that alias" in text_of(r)
    assert 'value="nobody_here"' in r.text

    page = await owner.get(f"/g/{slug}/settings")
    assert f'action="/g/{slug}/facilitators/remove"' in page.text
    r = await owner.submit(f"/g/{slug}/facilitators/remove", {"alias": "alice_a"})
    assert r.headers["location"].endswith("notice=facilitator-removed#facilitators")
    assert await role_in(client, room.alice, slug) == "member"
    assert (await alice.get(f"/g/{slug}/settings")).status_code == 403


async def test_the_whisper_channel_opens_from_the_settings_page(client, room: Room) -> None:
    slug = room.group["slug"]
    fac = browser(client, room.fac)
    r = await fac.submit(f"/g/{slug}/whisper")
    assert r.status_code == 303 and re.fullmatch(r"/rooms/\d+", r.headers["location"])
    whisper = await fac.get(r.headers["location"])
    assert whisper.status_code == 200
    assert "Only this group's facilitators can read this channel" in text_of(whisper)
    await post(client, room.fac, int(r.headers["location"].rsplit("/", 1)[1]), "Cover me at 8?")
    alice = browser(client, room.alice)
    assert (await alice.submit(f"/g/{slug}/whisper")).status_code == 403
    assert (await alice.get(r.headers["location"])).status_code == 404


# ----------------------------------------------------------------------- join requests


async def ask_to_join(client: httpx.AsyncClient, slug: str, alias: str) -> Account:
    newcomer = await signup(client)
    version = (await api_group(client, slug))["rules_version"]
    r = await client.post(
        f"/api/v1/groups/{slug}/join",
        json={"accept_rules_version": version, "alias": alias},
        headers=newcomer.headers,
    )
    assert r.status_code == 202, r.text
    return newcomer


async def request_ids(page: httpx.Response, slug: str) -> list[int]:
    return [int(i) for i in re.findall(rf'action="/g/{re.escape(slug)}/requests/(\d+)"', page.text)]


async def test_approving_a_join_request_from_the_queue_page_makes_them_a_member(
    client, room: Room
) -> None:
    slug = room.group["slug"]
    r = await client.patch(
        f"/api/v1/groups/{slug}/settings",
        json={"join_policy": "approval"},
        headers=room.fac.headers,
    )
    assert r.status_code == 200
    welcome = await ask_to_join(client, slug, "new-leaf")
    decline = await ask_to_join(client, slug, "other-leaf")
    fac = browser(client, room.fac)
    queue = await fac.get("/facilitate")
    assert queue.status_code == 200
    words = text_of(queue)
    assert "Waiting to join" in words and "new-leaf" in words and "other-leaf" in words
    assert room.group["name"] in words
    first, second = await request_ids(queue, slug)

    r = await fac.submit(f"/g/{slug}/requests/{first}", {"answer": "approve"})
    assert (r.status_code, r.headers["location"]) == (303, "/facilitate?notice=welcomed#requests")
    assert await role_in(client, welcome, slug) == "member"
    assert await alias_of(client, welcome, slug) == "new-leaf"
    await post(client, welcome, room.id, "Thank you for having me.")

    # Declining from the settings page, which lists them too and comes back to itself.
    settings = await fac.get(f"/g/{slug}/settings")
    assert await request_ids(settings, slug) == [second]
    r = await fac.submit(f"/g/{slug}/requests/{second}", {"answer": "decline", "back": "settings"})
    assert r.headers["location"] == f"/g/{slug}/settings?notice=declined#requests"
    assert await role_in(client, decline, slug) is None
    assert "Waiting to join" not in text_of(await fac.get("/facilitate"))

    # A member can't answer one.
    third = await ask_to_join(client, slug, "third-leaf")
    page = await fac.get("/facilitate")
    (pending,) = await request_ids(page, slug)
    r = await browser(client, room.alice).submit(
        f"/g/{slug}/requests/{pending}", {"answer": "approve"}
    )
    assert r.status_code == 403
    assert await role_in(client, third, slug) is None


# ----------------------------------------------------------------------- sessions

NEXT_MONDAY = "2026-01-12"  # the test clock stands at Monday 5 January 2026, 12:00 UTC


async def test_a_scheduled_session_is_listed_in_its_zone_with_a_working_calendar_link(
    client, room: Room
) -> None:
    slug = room.group["slug"]
    fac = browser(client, room.fac)
    page = await fac.get(f"/g/{slug}/sessions")
    assert page.status_code == 200 and "Nothing is scheduled yet." in text_of(page)
    assert '<option value="America/New_York"' in page.text
    r = await fac.submit(
        f"/g/{slug}/sessions",
        {
            "title": "Evening circle",
            "date": NEXT_MONDAY,
            "time": "19:00",
            "minutes": "90",
            "timezone": "America/New_York",
            "weekly": "yes",
        },
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/g/{slug}/sessions?notice=scheduled")

    member = browser(client, room.alice)
    page = await member.get(f"/g/{slug}/sessions")
    assert page.status_code == 200
    words = text_of(page)
    assert "Evening circle" in words
    # In New York's own time (00:00 UTC the next day), weekly, the next four weeks.
    assert "Every Monday at 19:00, America/New York time (EST)" in words
    for day in (12, 19, 26):
        assert f"Monday {day} January, 19:00 to 20:30" in words
    assert "February" not in words
    assert '<time datetime="2026-01-13T00:00Z">' in page.text
    assert "Cancel this session" not in words and 'action="/g/' not in page.text.split("</h1>")[1]
    link = re.search(r'href="(/api/v1/groups/[^"]+/calendar\.ics)"', page.text)
    assert link, page.text
    # The link works with the browser's cookie, as the member clicks it.
    ics = await member.get(link.group(1))
    assert ics.status_code == 200, ics.text
    assert ics.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Evening circle" in ics.text
    assert "DTSTART;TZID=America/New_York:20260112T190000" in ics.text
    assert "RRULE:FREQ=WEEKLY" in ics.text

    # Someone outside the group is sent to join first; the file isn't theirs either.
    stranger = browser(client, await signup(client))
    r = await stranger.get(f"/g/{slug}/sessions")
    assert (r.status_code, r.headers["location"]) == (303, f"/g/{slug}#join")
    assert "Evening circle" not in r.text
    assert (await stranger.get(link.group(1))).status_code == 404


async def test_a_facilitator_cancels_a_session_and_members_cannot(client, room: Room) -> None:
    slug = room.group["slug"]
    fac = browser(client, room.fac)
    form = {
        "title": "Morning check-in",
        "date": NEXT_MONDAY,
        "time": "09:30",
        "minutes": "45",
        "timezone": "Europe/London",
    }
    assert (await fac.submit(f"/g/{slug}/sessions", form)).status_code == 303
    page = await fac.get(f"/g/{slug}/sessions")
    found = re.search(rf'action="/g/{re.escape(slug)}/sessions/(\d+)/cancel"', page.text)
    assert found and "Morning check-in" in text_of(page)
    cancel = f"/g/{slug}/sessions/{found.group(1)}/cancel"
    member = browser(client, room.alice)
    assert (await member.submit(f"/g/{slug}/sessions", form)).status_code == 403
    assert (await member.submit(cancel)).status_code == 403
    assert "Morning check-in" in text_of(await member.get(f"/g/{slug}/sessions"))
    r = await fac.submit(cancel)
    assert r.headers["location"] == f"/g/{slug}/sessions?notice=cancelled"
    for gone in (found.group(1), "99999999999"):  # an id no database column holds, too
        r = await fac.submit(f"/g/{slug}/sessions/{gone}/cancel")
        assert r.status_code == 404, r.text
    r = await client.get(f"/api/v1/groups/{slug}/sessions", headers=room.alice.headers)
    assert r.json()["sessions"] == []


async def test_a_session_that_can_t_be_scheduled_is_explained_with_the_form_kept(
    client, room: Room
) -> None:
    slug = room.group["slug"]
    fac = browser(client, room.fac)
    base = {
        "title": "Late circle",
        "date": NEXT_MONDAY,
        "time": "21:00",
        "minutes": "60",
        "timezone": "Europe/London",
    }
    for change, message in (
        ({"date": "2026-01-02"}, "That time has already passed"),
        ({"minutes": "5"}, "A session lasts 15 minutes to 8 hours"),
        ({"timezone": ""}, "Choose a time zone"),
        ({"time": ""}, "Choose a date and a start time"),
    ):
        r = await fac.submit(f"/g/{slug}/sessions", {**base, **change})
        assert r.status_code == 422, (change, r.text)
        assert message in text_of(r)
        assert 'value="Late circle"' in r.text
    r = await client.get(f"/api/v1/groups/{slug}/sessions", headers=room.fac.headers)
    assert r.json()["sessions"] == []


# ----------------------------------------------------------------------- the audit log


async def test_the_log_shows_members_the_public_part_and_facilitators_the_rest(
    client, room: Room
) -> None:
    slug = room.group["slug"]
    bob_alias = await alias_of(client, room.bob, slug)
    fac_alias = await alias_of(client, room.fac, slug)
    msg = await post(client, room.bob, room.id, "Something unkind.")
    for body in (
        {"kind": "hide", "room_id": room.id, "seq": msg["seq"], "rule": 3, "reason": "Unkind"},
        {"kind": "mute", "alias": bob_alias, "rule": 2, "minutes": 60, "reason": "Cool off"},
    ):
        r = await client.post(
            f"/api/v1/groups/{slug}/sanctions", json=body, headers=room.fac.headers
        )
        assert r.status_code == 201, r.text

    member = await browser(client, room.alice).get(f"/g/{slug}/log")
    assert member.status_code == 200
    words = text_of(member)
    assert "A message was removed for breaking ground rule 3." in words
    for secret in (bob_alias, fac_alias, room.fac.username, "Unkind", "Cool off", "muted"):
        assert secret not in words, secret
    assert "/lift" not in member.text

    fac = browser(client, room.fac)
    full = await fac.get(f"/g/{slug}/log")
    words = text_of(full)
    assert f"{fac_alias} hid a message by {bob_alias}, citing ground rule 3." in words
    assert f"{fac_alias} muted {bob_alias} until 5 Jan 2026, 13:00 UTC, citing ground rule 2." in (
        words
    )
    assert "Their reason: “Cool off”" in words and "“Unkind”" in words
    assert "In force now" in words
    lift = re.search(rf'action="(/g/{re.escape(slug)}/sanctions/\d+/lift)"', full.text)
    assert lift, full.text

    # Lifting: a member can't; a facilitator can, and Bob may post again at once.
    r = await browser(client, room.alice).submit(lift.group(1))
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={"client_id": "still-muted", "body": "hello?"},
        headers=room.bob.headers,
    )
    assert_error(r, 403, "muted")
    r = await fac.submit(lift.group(1))
    assert (r.status_code, r.headers["location"]) == (303, f"/g/{slug}/log?notice=lifted#sanctions")
    await post(client, room.bob, room.id, "Sorry about earlier.")
    words = text_of(await fac.get(f"/g/{slug}/log"))
    assert "No mutes or bans are in force." in words
    assert f"{fac_alias} lifted {bob_alias}'s mute early." in words

    stranger = browser(client, await signup(client))
    assert (await stranger.get(f"/g/{slug}/log")).status_code == 404


# ----------------------------------------------------------------------- my sanctions


async def test_a_member_sees_their_own_mute_with_its_end_and_how_to_ask_for_a_review(
    client, clock, room: Room
) -> None:
    slug = room.group["slug"]
    bob_alias = await alias_of(client, room.bob, slug)
    bob = browser(client, room.bob)
    assert "/settings/sanctions" not in (await bob.get("/settings")).text
    assert "Nothing here." in text_of(await bob.get("/settings/sanctions"))

    r = await client.post(
        f"/api/v1/groups/{slug}/sanctions",
        json={
            "kind": "mute",
            "alias": bob_alias,
            "rule": 2,
            "minutes": 240,
            "reason": "Let's <em>pause</em> here",
        },
        headers=room.fac.headers,
    )
    assert r.status_code == 201, r.text
    assert 'href="/settings/sanctions"' in (await bob.get("/settings")).text
    page = await bob.get("/settings/sanctions")
    assert page.status_code == 200
    words = text_of(page)
    assert "A facilitator paused your posting" in words and "In force" in words
    assert room.group["name"] in words
    assert "Number 2." in words
    assert "“Let's <em>pause</em> here”" in words and "<em>pause" not in page.text
    assert "Until 5 Jan 2026, 16:00 UTC. You can still read, and you can post again" in words
    assert "you can ask for a review: talk to a facilitator privately" in words
    assert f'action="/g/{slug}/support-room"' in page.text
    # Nobody else sees Bob's.
    other = await browser(client, room.alice).get("/settings/sanctions")
    assert "Let's" not in other.text and "Nothing here." in text_of(other)

    clock.advance(hours=5)
    bob.account.token = (await _relogin(client, room.bob)).token
    words = text_of(await bob.get("/settings/sanctions"))
    assert "In force" not in words and "16:00 UTC (over)" in words


async def _relogin(client: httpx.AsyncClient, who: Account) -> Account:
    r = await client.post(
        "/api/v1/auth/login", json={"username": who.username, "password": who.password}
    )
    assert r.status_code == 200, r.text
    return Account(who.id, who.username, who.password, r.json()["token"])


# ----------------------------------------------------------------------- the break reminder


async def test_the_break_reminder_minutes_come_from_the_settings(
    make_server, client, room: Room
) -> None:
    queue = await browser(client, room.fac).get("/facilitate")
    assert 'data-duty-minutes="90"' in queue.text
    assert Settings.from_env({"SAFESPACE_DUTY_REMINDER_MINUTES": "45"}).duty_reminder_minutes == 45

    other: LiveServer = await make_server(duty_reminder_minutes=20)
    async with make_client(other.url) as c:
        fac = await _privileged_facilitator(other, c)
        page = await browser(c, fac).get("/facilitate")
        assert page.status_code == 200
        assert 'data-duty-minutes="20"' in page.text and "on duty for 20 minutes" in page.text


async def _privileged_facilitator(server: LiveServer, c: httpx.AsyncClient) -> Account:
    fac = await privileged(server)
    await create_group(c, fac)
    return fac


def test_the_default_is_ninety_minutes() -> None:
    assert Settings().duty_reminder_minutes == 90
    assert Settings.from_env({}).duty_reminder_minutes == 90
