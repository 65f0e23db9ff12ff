"""Reporting without JavaScript: /rooms/{room_id}/report/{seq} shows the group's ground
rules and a note, and what it sends reaches the group's facilitators exactly as the
room's report dialog does (POST /api/v1/rooms/{room_id}/reports). Nobody is shown who
reported: not the person reported, not the rest of the room."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from helpers import Account, Room, new_client_id, post
from web_walk import page_csrf

THANKS = "Thank you. The group's facilitators will look at this."


def as_browser(account: Account) -> dict[str, str]:
    return {"Cookie": f"ss_session={account.token}", "Accept": "text/html"}


async def page(client: httpx.AsyncClient, account: Account, path: str) -> httpx.Response:
    client.cookies.clear()
    return await client.get(path, headers=as_browser(account))


async def send_form(
    client: httpx.AsyncClient, account: Account, path: str, form: dict[str, str]
) -> httpx.Response:
    """A form posted as the browser would: the page's CSRF token, the session cookie."""
    token = page_csrf((await page(client, account, "/settings")).text)
    client.cookies.clear()
    return await client.post(path, data={**form, "csrf_token": token}, headers=as_browser(account))


async def rules_of(client: httpx.AsyncClient, room: Room) -> list[str]:
    r = await client.get(f"/api/v1/groups/{room.group['slug']}")
    return list(r.json()["group"]["rules"])


async def reports(client: httpx.AsyncClient, facilitator: Account) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/flags", headers=facilitator.headers)
    assert r.status_code == 200, r.text
    return [f for f in r.json()["flags"] if f["kind"] == "report"]


def text_of(response: httpx.Response) -> str:
    return html.unescape(response.text)


async def test_the_report_page_offers_the_group_s_own_rules_and_a_note(
    client: httpx.AsyncClient, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "Nobody here gets it, you're all useless.")
    r = await page(client, room.alice, f"/rooms/{room.id}/report/{msg['seq']}")
    assert r.status_code == 200, r.text
    shown = text_of(r)
    assert "<h1>Report this message</h1>" in shown
    assert "Nobody here gets it, you're all useless." in shown  # what is being reported
    rules = await rules_of(client, room)
    assert len(rules) == 6
    for number, rule in enumerate(rules, start=1):
        assert re.search(
            rf'<input type="radio" name="rule" value="{number}" id="report-rule-{number}" required>'
            rf'\s*<label for="report-rule-{number}"><span class="rule-number">{number}\.</span> '
            + re.escape(rule),
            shown,
        ), rule
    assert 'value="other"' in shown and "Something else" in shown
    assert 'name="note"' in shown and 'maxlength="1000"' in shown
    assert "Only the group's facilitators see reports" in shown
    # Same rules, same form, in the room's own report dialog (opened by room-report.js),
    # and each message's menu links to this page.
    room_page = text_of(await page(client, room.alice, f"/g/{room.group['slug']}/room"))
    assert 'id="report-dialog"' in room_page and "Something else" in room_page
    assert all(rule in room_page for rule in rules)
    assert f'href="/rooms/{room.id}/report/{msg["seq"]}"' in room_page
    assert f'href="/rooms/{room.id}/report/{msg["seq"]}?about=person"' in room_page


async def test_a_report_from_the_page_reaches_the_facilitators_queue(
    client: httpx.AsyncClient, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "Nobody here gets it, you're all useless.")
    path = f"/rooms/{room.id}/report/{msg['seq']}"
    form = {"about": "message", "rule": "2", "note": "Calling everyone useless."}
    r = await send_form(client, room.alice, path, form)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/rooms/{room.id}?notice=reported#m-{msg['seq']}"
    # Back in the room: the thanks, in a status region.
    back = text_of(await page(client, room.alice, r.headers["location"]))
    assert re.search(r'id="report-status" role="status">' + re.escape(THANKS), back)

    [item] = await reports(client, room.fac)
    assert item["rule"] == 2
    assert item["report_note"] == "Calling everyone useless."
    assert item["message"]["seq"] == msg["seq"]
    assert item["subject"]["alias"] == msg["author"]["alias"]
    assert "raised_by" not in item
    assert room.alice.username not in str(item) and "alice_a" not in str(item)
    # The queue page says the same.
    queue = text_of(await page(client, room.fac, "/facilitate"))
    assert "Reported: may break ground rule 2" in queue
    assert "Calling everyone useless." in queue
    assert "alice_a" not in queue


async def test_something_else_and_reporting_a_person(client: httpx.AsyncClient, room: Room) -> None:
    msg = await post(client, room.bob, room.id, "DM me for a better group than this one.")
    bob_alias = msg["author"]["alias"]
    person = await page(client, room.alice, f"/rooms/{room.id}/report/{msg['seq']}?about=person")
    shown = text_of(person)
    assert f"<h1>Report {bob_alias}</h1>" in shown
    assert f'name="alias" value="{bob_alias}"' in shown
    form = {"about": "person", "alias": bob_alias, "rule": "other", "note": "Keeps recruiting."}
    r = await send_form(client, room.alice, f"/rooms/{room.id}/report/{msg['seq']}", form)
    assert r.status_code == 303, r.text
    [item] = await reports(client, room.fac)
    assert item["rule"] is None  # "Something else"
    assert item["report_note"] == "Keeps recruiting."
    assert item["subject"]["alias"] == bob_alias
    assert item["message"] is None  # about the person, not one message


async def test_a_refused_report_shows_why_and_keeps_what_was_written(
    client: httpx.AsyncClient, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "You lot are pathetic.")
    path = f"/rooms/{room.id}/report/{msg['seq']}"
    r = await send_form(client, room.alice, path, {"rule": "9", "note": "Unkind to everyone."})
    assert r.status_code == 422
    shown = text_of(r)
    assert '<div class="alert" role="alert" id="report-error"><p>Choose which ground rule' in shown
    assert ">Unkind to everyone.</textarea>" in shown  # nothing typed is lost
    r = await send_form(client, room.alice, path, {"rule": "3", "note": "x" * 1001})
    assert r.status_code == 422
    shown = text_of(r)
    assert "Keep it to 1000 characters." in shown
    assert 'value="3" id="report-rule-3" required checked' in shown
    assert await reports(client, room.fac) == []


async def test_the_page_leaves_a_warned_message_folded_and_one_s_own_alone(
    client: httpx.AsyncClient, room: Room
) -> None:
    r = await client.post(
        f"/api/v1/rooms/{room.id}/messages",
        json={
            "client_id": new_client_id(),
            "body": "Two weeks sober today, and the drinking thoughts are loud tonight.",
            "content_warning": {"categories": ["substance-use"]},
        },
        headers=room.bob.headers,
    )
    assert r.status_code == 201, r.text
    warned = r.json()["message"]["seq"]
    shown = text_of(await page(client, room.alice, f"/rooms/{room.id}/report/{warned}"))
    assert "drinking thoughts" not in shown
    assert "has a content warning, so it isn't shown here" in shown

    mine = await post(client, room.alice, room.id, "Hello, I'm new here.")
    own = await page(client, room.alice, f"/rooms/{room.id}/report/{mine['seq']}")
    assert own.status_code == 200
    assert "This is your own message, so there's nothing to report." in text_of(own)
    assert 'name="rule"' not in own.text
    missing = await page(client, room.alice, f"/rooms/{room.id}/report/999")
    assert missing.status_code == 404


async def test_the_person_reported_is_never_shown_who_reported_them(
    client: httpx.AsyncClient, room: Room
) -> None:
    msg = await post(client, room.bob, room.id, "Nobody here gets it, you're all useless.")
    note = "Calling everyone useless, again."
    form = {"about": "message", "rule": "1", "note": note}
    r = await send_form(client, room.alice, f"/rooms/{room.id}/report/{msg['seq']}", form)
    assert r.status_code == 303, r.text
    assert len(await reports(client, room.fac)) == 1

    reporter = (room.alice.username, "alice_a", note)
    seen = [
        text_of(await page(client, room.bob, f"/g/{room.group['slug']}/room")),
        text_of(await page(client, room.bob, f"/rooms/{room.id}")),
    ]
    for path in ("/api/v1/flags", "/api/v1/me/sanctions", f"/api/v1/rooms/{room.id}/messages"):
        got = await client.get(path, headers=room.bob.headers)
        assert got.status_code == 200, (path, got.text)
        seen.append(got.text)
    export = await client.get("/api/v1/me/export", headers=room.bob.headers)
    assert export.status_code == 200
    assert export.json()["reports"] == []
    seen.append(export.text)
    for text in seen:
        for fragment in reporter:
            assert fragment not in text, fragment
        assert "Thank you. The group's facilitators" not in text
    assert (await client.get("/api/v1/flags", headers=room.bob.headers)).json()["flags"] == []
