"""The room's safety features in real browsers: a live alert in a facilitator's browser
within a second of a member posting an imminent-risk message, the check-in the author sees,
the warned message others see collapsed, the facilitators' queue, "I'm worried about this
person", the private line to the facilitators, taking a break, the "no facilitator online"
banner, and axe-core on every one of those screens (phone and desktop, light and dark).

Every test makes its own facilitator (with `safespace users create`, as an operator does)
and its own group, so who is online and what is in a queue belong to that test alone.
Set SAFETY_SHOTS=/some/dir to also save screenshots of each state the axe test checks.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    SCENARIOS,
    Account,
    Person,
    PersonFactory,
    SiteServer,
    axe_violations,
    capture_frames,
    describe_violations,
    frame_types,
    mark_document,
    message_bodies,
    same_document,
    unique,
    wait_for_message,
    wait_online,
    wait_until,
)

pytestmark = pytest.mark.browser

# What the assessor (safespace.safety.assess) really rates; checked with
# `printf '...' | safespace safety assess`.
IMMINENT = "I have the pills ready and I'm going to take them all tonight. Goodbye everyone"
IMMINENT_SIGNALS = ("intent", "means", "timing", "goodbye")
ELEVATED = "Everyone would be better off without me, I'm just a burden"
ORDINARY = "Rough week. Not sleeping much and I keep cancelling plans."

SHOTS = os.environ.get("SAFETY_SHOTS", "")


# --------------------------------------------------------------------------- helpers


@dataclass
class Member:
    account: Account
    alias: str


@dataclass
class Crew:
    """A group of its own, run by a facilitator of its own, with some members."""

    facilitator: Account
    group: dict[str, Any]
    members: list[Member]

    @property
    def slug(self) -> str:
        return str(self.group["slug"])

    @property
    def room_id(self) -> int:
        return int(self.group["room_id"])


@pytest.fixture(scope="module")
def safety_facilitator(site: SiteServer) -> Account:
    """The facilitator of this module's groups, made with `safespace users create`."""
    return site.create_user_cli("facilitator")


def clear_queue(site: SiteServer, facilitator: Account) -> None:
    """Resolve whatever an earlier test left in this facilitator's queue (through the API),
    so their queue and the alerts they get on arrival are this test's alone."""
    r = site.api.get("/api/v1/flags", headers=facilitator.headers)
    assert r.status_code == 200, r.text
    for flag in r.json()["flags"]:
        done = site.api.post(
            f"/api/v1/flags/{flag['id']}", json={"status": "resolved"}, headers=facilitator.headers
        )
        assert done.status_code == 200, done.text


def make_crew(site: SiteServer, facilitator: Account, members: int) -> Crew:
    clear_queue(site, facilitator)
    group = site.create_group(owner=facilitator)
    people = []
    for _ in range(members):
        account = site.signup_api()
        alias = unique("fern_")
        site.join_api(account, group, alias)
        people.append(Member(account, alias))
    return Crew(facilitator, group, people)


def send(page: Any, text: str) -> None:
    """Type into the room's composer and press its Send button."""
    page.locator("#composer textarea#body").fill(text)
    page.locator("#composer").get_by_role("button", name="Send").click()


def alert_cards(page: Any, text: str) -> Any:
    return page.locator("#alerts .alert-card").filter(has_text=text)


def message_item(page: Any, seq_or_text: int | str) -> Any:
    if isinstance(seq_or_text, int):
        return page.locator(f"#messages li#m-{seq_or_text}")
    return page.locator("#messages li.msg").filter(has_text=seq_or_text)


def queue_item(page: Any, text: str) -> Any:
    return page.locator("#queue > li").filter(has_text=text)


def shoot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


# --------------------------------------------------------------------------- 1. live alert


def test_live_alert_check_in_and_collapsed_message(
    site: SiteServer, safety_facilitator: Account, person: PersonFactory
):
    crew = make_crew(site, safety_facilitator, 2)
    author, reader = crew.members

    fac = person("facilitator", crew.facilitator)
    fac.open_room(crew.slug)
    other = person("reader", reader.account)
    reader_frames = capture_frames(other.page)
    other.open_room(crew.slug)
    me = person("author", author.account)
    me.open_room(crew.slug)
    assert me.page.locator("#check-in").is_hidden()
    assert fac.page.locator("#alerts .alert-card").count() == 0

    # In-page clocks too: the moment of the click and the moment the card is in the DOM.
    fac.page.evaluate(
        """() => {
        window.__alertAt = 0;
        new MutationObserver(() => {
            if (!window.__alertAt && document.querySelector('#alerts .alert-card'))
                window.__alertAt = Date.now();
        }).observe(document.getElementById('alerts'), { childList: true, subtree: true });
    }"""
    )
    me.page.evaluate(
        """() => document.querySelector('#composer button[type=submit]').addEventListener(
            'click', () => { window.__clickAt = Date.now(); }, { capture: true })"""
    )
    me.page.locator("#composer textarea#body").fill(IMMINENT)
    send_button = me.page.locator("#composer").get_by_role("button", name="Send")

    started = time.perf_counter()
    send_button.click()
    fac.page.wait_for_selector("#alerts .alert-card", state="visible", timeout=5_000)
    waited = time.perf_counter() - started
    in_page = (fac.page.evaluate("window.__alertAt") - me.page.evaluate("window.__clickAt")) / 1000
    print(
        f"\nlive alert: {waited * 1000:.0f} ms from click to card (in-page {in_page * 1000:.0f} ms)"
    )
    assert waited < 1.0, f"the alert took {waited:.3f} s to reach the facilitator's page"
    assert 0 <= in_page < 1.0, f"in-page: {in_page:.3f} s from click to card"

    # The facilitator's card: who, the words, the signals and the response guide, urgent.
    card = alert_cards(fac.page, author.alias)
    assert card.count() == 1
    assert card.get_attribute("role") == "alert"
    assert card.locator("h2").inner_text() == f"{author.alias} may be in danger"
    assert card.locator("blockquote").inner_text() == IMMINENT
    signals = card.get_by_text(re.compile("^Signals:")).inner_text()
    for signal in IMMINENT_SIGNALS:
        assert signal in signals, signals
    guide = card.locator("details")
    assert guide.get_attribute("open") is not None, "an urgent alert opens its guide"
    assert guide.locator("summary").inner_text() == "When someone may be in danger"
    steps = guide.locator("ol > li").all_inner_texts()
    assert len(steps) >= 4, steps
    assert any(s.startswith("Stay with them") for s in steps), steps
    assert any("emergency" in s for s in steps), steps
    assert card.get_by_role("link", name="Open the room").get_attribute("href") == (
        f"/rooms/{crew.room_id}"
    )
    assert card.get_by_role("link", name="Go to the queue").is_visible()
    # Facilitators see the message itself in the room, in full.
    wait_for_message(fac.page, IMMINENT)

    # The author: the check-in, with the urgent line, and their own words in full.
    check_in = me.page.locator("#check-in")
    check_in.wait_for(state="visible")
    assert check_in.get_attribute("data-level") == "imminent"
    assert check_in.locator(".urgent-only").is_visible()
    assert "contact a crisis line now" in check_in.locator(".urgent-only").inner_text()
    assert check_in.get_by_role("link", name="See crisis lines").is_visible()
    assert check_in.get_by_role("button", name="Talk to a facilitator privately").is_visible()
    wait_for_message(me.page, IMMINENT)
    assert me.page.locator("#alerts .alert-card").count() == 0, "alerts are for facilitators"

    # Another member: the message arrives collapsed, its words nowhere in the page.
    warned = other.page.locator("#messages li.msg.warned")
    warned.wait_for(state="visible")
    assert warned.locator(".alias").inner_text() == author.alias
    assert "Content warning" in warned.inner_text()
    show = warned.get_by_role("button", name="Show message")
    assert show.is_visible()
    html = other.page.content()
    aria = other.page.locator("body").aria_snapshot()
    for fragment in (IMMINENT, "pills ready", "Goodbye everyone"):
        assert fragment not in html, f"{fragment!r} is in the reader's DOM before they chose"
        assert fragment not in aria, f"{fragment!r} is in the reader's accessibility tree"
        assert not [f for f in reader_frames if fragment in f], "sent to the reader's socket"
    assert "content warning" in other.page.locator("#announcer").inner_text()
    assert other.page.locator("#check-in").is_hidden()
    assert other.page.locator("#alerts .alert-card").count() == 0

    show.click()
    body = warned.locator("p.body")
    body.wait_for(state="visible")
    assert body.inner_text() == IMMINENT
    assert IMMINENT in other.page.locator("body").aria_snapshot()
    assert warned.locator(".reveal").count() == 0


# --------------------------------------------------------------------------- 2. the queue


def test_queue_acknowledge_then_resolve(
    site: SiteServer, safety_facilitator: Account, person: PersonFactory
):
    crew = make_crew(site, safety_facilitator, 1)
    author = crew.members[0]
    posted = site.post_api(author.account, crew.room_id, IMMINENT)

    fac = person("facilitator", crew.facilitator)
    fac.goto("/facilitate")
    assert fac.page.get_by_role("heading", name="Your queue", level=1).is_visible()
    item = queue_item(fac.page, IMMINENT)
    assert item.count() == 1
    assert "urgent" in (item.get_attribute("class") or "")
    assert item.locator("h2").inner_text().startswith("Urgent: may be in danger")
    assert crew.group["name"] in item.locator("h2").inner_text()
    meta = item.locator(".meta").inner_text()
    assert author.alias in meta and "status: open" in meta, meta
    assert all(s in meta for s in IMMINENT_SIGNALS), meta
    assert item.locator("blockquote").inner_text() == IMMINENT
    assert item.get_by_role("link", name="Open the room").get_attribute("href") == (
        f"/rooms/{crew.room_id}#m-{posted['seq']}"
    )

    note = "Replied in the room and shared the crisis line; staying with them."
    item.get_by_label(re.compile("Note for the other facilitators")).fill(note)
    with fac.page.expect_navigation():
        item.get_by_role("button", name="I'm on it").click()
    assert fac.page.get_by_role("status").filter(has_text="Saved.").is_visible()
    item = queue_item(fac.page, IMMINENT)
    assert item.count() == 1, "acknowledged items stay in the active queue"
    assert "status: acknowledged" in item.locator(".meta").inner_text()
    assert item.get_by_text(note).is_visible()
    assert item.get_by_role("button", name="I'm on it").count() == 0

    with fac.page.expect_navigation():
        item.get_by_role("button", name="Resolved").click()
    assert queue_item(fac.page, IMMINENT).count() == 0
    assert fac.page.locator("#queue > li").count() == 0
    assert fac.page.locator("#queue-empty").is_visible()
    # Resolved, not lost: still there for the record, with its note.
    r = site.api.get(
        "/api/v1/flags", params={"status": "resolved"}, headers=crew.facilitator.headers
    )
    assert r.status_code == 200, r.text
    resolved = [f for f in r.json()["flags"] if f["room_id"] == crew.room_id]
    assert len(resolved) == 1 and resolved[0]["status"] == "resolved", resolved
    assert resolved[0]["message"]["body"] == IMMINENT
    assert resolved[0]["note"] == note


# --------------------------------------------------------------------------- 3. worried


def test_worried_about_someone(
    site: SiteServer, safety_facilitator: Account, person: PersonFactory
):
    crew = make_crew(site, safety_facilitator, 2)
    flagged, worrier = crew.members

    fac = person("facilitator", crew.facilitator)
    fac.open_room(crew.slug)
    them = person("flagged", flagged.account)
    them_frames = capture_frames(them.page)
    them.open_room(crew.slug)
    me = person("worrier", worrier.account)
    me.open_room(crew.slug)

    send(them.page, ORDINARY)
    wait_for_message(me.page, ORDINARY)
    wait_for_message(fac.page, ORDINARY)
    wait_for_message(them.page, ORDINARY)
    assert them.page.locator("#messages li.msg .more").count() == 0, "no ⋯ on one's own words"
    before_text = them.page.locator(".room").inner_text()
    seen_frames = len(them_frames)

    mark_document(me.page)
    item = message_item(me.page, ORDINARY)
    menu = item.locator("details.more")
    menu.locator("summary").click()
    assert menu.get_attribute("open") is not None
    assert menu.get_by_text("Only facilitators see this").is_visible()
    menu.get_by_role("button", name="I'm worried about this person").click()
    thanks = item.get_by_role("status")
    thanks.wait_for(state="visible")
    assert thanks.inner_text() == "Thank you. Only the facilitators will see this."
    assert same_document(me.page), "sent in the background, the room stays as it was"

    # The facilitator hears of it live, and it is in their queue.
    card = alert_cards(fac.page, f"A member is worried about {flagged.alias}")
    card.wait_for(state="visible")
    assert card.get_attribute("role") == "status"
    assert card.get_by_role("link", name="Go to the queue").is_visible()

    # The person it is about is told nothing: nothing new on their page or their socket.
    them.page.wait_for_timeout(400)
    assert them.page.locator(".room").inner_text() == before_text
    assert them.page.locator("#alerts").is_hidden()
    assert them.page.locator("#check-in").is_hidden()
    new_frames = frame_types(them_frames[seen_frames:])
    assert set(new_frames) <= {"pong"}, f"the flagged member received {new_frames}"
    assert "worried" not in them.page.locator(".room").inner_html().lower()

    # /facilitate lists it. (The queue's heading reads "A member is worried about someone",
    # with the alias in the item's details; the live card above names them in its heading.)
    fac.goto("/facilitate")
    item = queue_item(fac.page, ORDINARY)
    assert item.count() == 1
    assert item.locator("h2").inner_text().startswith("A member is worried about")
    assert flagged.alias in item.locator(".meta").inner_text()
    assert item.locator("blockquote").inner_text() == ORDINARY
    assert "urgent" not in (item.get_attribute("class") or "")


# --------------------------------------------------------------------------- 4. private line


def test_private_line_to_the_facilitators(
    site: SiteServer, safety_facilitator: Account, person: PersonFactory
):
    crew = make_crew(site, safety_facilitator, 2)
    member, bystander = crew.members

    fac = person("facilitator", crew.facilitator)
    fac.open_room(crew.slug)
    me = person("member", member.account)
    me.open_room(crew.slug)

    # A hard message: the check-in offers the private line.
    send(me.page, ELEVATED)
    check_in = me.page.locator("#check-in")
    check_in.wait_for(state="visible")
    assert check_in.get_attribute("data-level") == "elevated"
    assert check_in.locator(".urgent-only").is_hidden()
    with me.page.expect_navigation():
        check_in.get_by_role("button", name="Talk to a facilitator privately").click()
    match = re.search(r"/rooms/(\d+)\?notice=support-opened", me.page.url)
    assert match, me.page.url
    private_id = int(match.group(1))
    assert private_id != crew.room_id
    wait_online(me.page)
    heading = me.page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("Private line"), heading
    assert "The facilitators have been told" in me.page.locator(".notice[role=status]").inner_text()
    assert message_bodies(me.page) == []

    # The facilitator, in the group's room, hears of it live.
    card = alert_cards(fac.page, f"{member.alias} would like to talk privately")
    card.wait_for(state="visible")
    assert card.get_attribute("role") == "status"
    open_link = card.get_by_role("link", name="Open the room")
    assert open_link.get_attribute("href") == f"/rooms/{private_id}"

    first = "Can we talk? Today has been really heavy."
    send(me.page, first)
    wait_for_message(me.page, first)

    with fac.page.expect_navigation():
        open_link.click()
    wait_online(fac.page)
    assert (
        fac.page.get_by_role("heading", level=1)
        .inner_text()
        .startswith(f"Private line with {member.alias}")
    )
    wait_for_message(fac.page, first)
    assert fac.page.locator("#no-facilitator").is_hidden()

    mark_document(me.page)
    reply = "I'm here. Take your time, I'm listening."
    send(fac.page, reply)
    wait_for_message(me.page, reply)
    assert same_document(me.page), "the reply arrived live"
    assert message_bodies(me.page) == [first, reply]
    assert ELEVATED not in message_bodies(me.page), "the group's room stays separate"

    # Nobody else can open it, nor read it over the API.
    other = person("bystander", bystander.account)
    response = other.goto(f"/rooms/{private_id}")
    assert response is not None and response.status == 404
    content = other.page.content()
    assert first not in content and reply not in content
    r = site.api.get(f"/api/v1/rooms/{private_id}/messages", headers=bystander.account.headers)
    assert r.status_code == 404, r.text


# --------------------------------------------------------------------------- 5. a break


def test_take_a_break_and_come_back(
    site: SiteServer, safety_facilitator: Account, person: PersonFactory
):
    crew = make_crew(site, safety_facilitator, 2)
    member, talker = crew.members

    me = person("member", member.account)
    me.open_room(crew.slug)
    # A second tab of the same person, left open on the room: muted too.
    tab = me.context.new_page()
    tab.on("pageerror", lambda exc: me.errors.append(f"second tab: {exc}"))
    tab.goto(f"{site.url}/g/{crew.slug}/room")
    wait_online(tab)
    mark_document(tab)
    witness = person("talker", talker.account)
    witness.open_room(crew.slug)

    menu = me.page.locator("details.break-menu")
    menu.get_by_text("Take a break from this group").click()
    choice = menu.get_by_label("For how long")
    choice.wait_for(state="visible")
    choice.select_option("15")
    with me.page.expect_navigation():
        menu.get_by_role("button", name="Pause the room").click()
    card = me.page.locator("#break-card")
    card.wait_for(state="visible")
    assert card.get_by_role("heading", name="You're taking a break").is_visible()
    assert re.search(r"until \d\d:\d\d UTC", card.inner_text()), card.inner_text()
    assert me.page.locator("#messages").count() == 0
    assert me.page.locator("#composer").count() == 0

    missed = "While you were away: we talked about evening walks."
    send(witness.page, missed)
    wait_for_message(witness.page, missed)
    me.page.wait_for_timeout(800)
    assert missed not in me.page.content()
    assert missed not in message_bodies(tab), "a muted room showed a new message"
    me.page.reload()
    assert me.page.locator("#break-card").is_visible(), "the break lasts until they come back"
    assert missed not in me.page.content()

    with me.page.expect_navigation():
        card.get_by_role("button", name="I'm ready to come back").click()
    assert me.page.locator("#break-card").count() == 0
    wait_online(me.page)
    assert missed in message_bodies(me.page)
    # The other tab catches up by itself, and everything is live again.
    wait_for_message(tab, missed)
    assert same_document(tab)
    after = "Welcome back, glad to see you."
    send(witness.page, after)
    wait_for_message(me.page, after)
    wait_for_message(tab, after)
    assert message_bodies(me.page) == [missed, after]


# --------------------------------------------------------------------------- 6. nobody online


def test_no_facilitator_banner_follows_presence(site: SiteServer, person: PersonFactory):
    # A facilitator of their own: nobody who runs this group has been online yet.
    crew = make_crew(site, site.create_user_cli("facilitator"), 1)
    me = person("member", crew.members[0].account)
    me.open_room(crew.slug)
    banner = me.page.locator("#no-facilitator")
    assert banner.is_visible()
    assert "No facilitator is online right now" in banner.inner_text()
    assert banner.get_by_role("link", name="help is here").get_attribute("href") == "/support"
    mark_document(me.page)

    fac = person("facilitator", crew.facilitator)
    fac.open_room(crew.slug)
    assert fac.page.locator("#no-facilitator").is_hidden()
    banner.wait_for(state="hidden", timeout=5_000)
    assert same_document(me.page), "hidden live, without a reload"

    # And back when the facilitator goes.
    fac.context.close()
    banner.wait_for(state="visible", timeout=5_000)
    assert same_document(me.page)


# --------------------------------------------------------------------------- 7. axe


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_safety_screens_have_no_axe_violations(
    site: SiteServer,
    safety_facilitator: Account,
    person: PersonFactory,
    axe_source: str,
    scenario: str,
):
    options = SCENARIOS[scenario]
    crew = make_crew(site, safety_facilitator, 2)
    author, reader = crew.members
    found: list[str] = []
    checked: list[str] = []

    def check(who: Person, label: str) -> None:
        page = who.page
        page.wait_for_load_state("load")
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is (
            options["color_scheme"] == "dark"
        )
        shoot(page, f"{label}-{scenario}")
        violations = axe_violations(page, axe_source)
        checked.append(label)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}] {page.url}", violations))

    fac = person("facilitator", crew.facilitator, **options)
    fac_frames = capture_frames(fac.page)
    fac.open_room(crew.slug)
    other = person("reader", reader.account, **options)
    other.open_room(crew.slug)
    me = person("author", author.account, **options)
    me.open_room(crew.slug)

    send(me.page, IMMINENT)
    me.page.locator("#check-in").wait_for(state="visible")
    wait_for_message(me.page, IMMINENT)
    check(me, "room-check-in")

    other.page.locator("#messages li.msg.warned").wait_for(state="visible")
    check(other, "room-collapsed")
    other.page.locator("#messages li.msg.warned details.more summary").click()
    check(other, "room-worried-menu")
    site.api.post(
        f"/api/v1/rooms/{crew.room_id}/messages/1/worried", headers=reader.account.headers
    ).raise_for_status()

    alert_cards(fac.page, author.alias).first.wait_for(state="visible")
    alert_cards(fac.page, f"A member is worried about {author.alias}").wait_for(state="visible")
    check(fac, "room-alert-card")

    seen = len(fac_frames)
    fac.goto("/facilitate")
    fac.page.locator("#queue > li.urgent").wait_for(state="visible")
    wait_until(
        fac.page, lambda: "ready" in frame_types(fac_frames[seen:]), "the queue's socket is ready"
    )
    site.api.post(
        f"/api/v1/groups/{crew.slug}/support-room", headers=author.account.headers
    ).raise_for_status()
    fac.page.locator("#queue-live .alert-card").wait_for(state="visible")
    check(fac, "facilitate-queue")

    me.page.locator("details.break-menu summary").click()
    me.page.locator("#break-minutes").select_option("15")
    with me.page.expect_navigation():
        me.page.get_by_role("button", name="Pause the room").click()
    me.page.locator("#break-card").wait_for(state="visible")
    check(me, "room-break-card")

    assert len(checked) == 6, checked
    assert not found, "\n\n".join(found)
