"""Guests, invitation links and the live session card, in real browsers.

A member makes a guest link on the group page; someone without an account opens it, makes
one through the link's "Make an account" (and is brought back), accepts the ground rules
and lands in the room as a guest: reading only, until the facilitator lets guests write,
then shown to everyone as "guest of <host>". When the host leaves, the guest's open room
says so at once. An invitation-only group shows no Join form; a facilitator's member link
is the way in.

The session card: a facilitator opens a session from it; the members' open rooms show it
without a reload; writing before saying "I'll keep to these" is refused with the draft
kept and the card focused; the facilitator's card lists who said yes; closing it updates
every card. In a group that is read-only outside sessions the composer appears live when a
session opens. And axe-core on each of these screens, at 360 px and desktop, light and
dark.

The server's clock is the real one here (a subprocess), so sessions are opened with the
facilitator's "Open now", never scheduled for a time.

Set GUEST_SHOTS=/some/dir to also save a screenshot of every page the axe test checks.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    PASSWORD,
    SCENARIOS,
    Account,
    Person,
    PersonFactory,
    SiteServer,
    axe_violations,
    describe_violations,
    make_circle,
    mark_document,
    same_document,
    unique,
    wait_for_message,
    wait_online,
)

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("GUEST_SHOTS", "")
ACKED = "You've said you'll keep to the ground rules. Thank you."


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def gs_facilitator(site: SiteServer) -> Account:
    """The facilitator of this module's groups, made with `safespace users create`."""
    return site.create_user_cli("facilitator")


def settings(site: SiteServer, who: Account, slug: str, **changes: Any) -> None:
    r = site.api.patch(f"/api/v1/groups/{slug}/settings", json=changes, headers=who.headers)
    assert r.status_code == 200, r.text


def shot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def press_send(page: Any, text: str) -> None:
    page.locator("#composer textarea#body").fill(text)
    page.locator("#composer").get_by_role("button", name="Send", exact=True).click()


def message_item(page: Any, text: str) -> Any:
    return page.locator("#messages li.msg:not(.pending)").filter(has_text=text)


def make_link(who: Person, slug: str, button: str) -> str:
    """Press a "Make ... invitation link" button on the group page; the link shown."""
    who.goto(f"/g/{slug}")
    with who.page.expect_navigation():
        who.page.locator("#invite").get_by_role("button", name=button).click()
    who.page.get_by_role("heading", name="Your invitation link").wait_for()
    url = who.page.locator("#invite-url").input_value()
    assert url.startswith(who.site.url + "/invite/"), url
    assert who.page.locator("#invite-url").get_attribute("readonly") is not None
    return url


def open_session_in_card(fac: Person, slug: str, minutes: str = "30") -> None:
    """The facilitator's "Open now" on the room's session card."""
    fac.open_room(slug)
    card = fac.page.locator("#session-card")
    assert card.locator("h2").inner_text() == "No session on right now"
    card.locator("#open-minutes").select_option(minutes)
    with fac.page.expect_navigation():
        card.get_by_role("button", name="Open now").click()
    wait_online(fac.page)
    assert fac.page.locator("#session-card h2").inner_text() == "Session on now: Open session"


def card_title(page: Any, text: str) -> None:
    page.locator("#session-card h2").filter(has_text=re.compile("^" + re.escape(text))).wait_for()


# --------------------------------------------------------------------------- guests


def test_guest_link_signup_read_only_then_writing_then_host_leaves(
    site: SiteServer, gs_facilitator: Account, person: PersonFactory
):
    host_alias = unique("robin_")
    circle = make_circle(site, gs_facilitator, host_alias)
    settings(site, gs_facilitator, circle.slug, guests_allowed=True, guests_can_post=False)
    rules = site.api.get(f"/api/v1/groups/{circle.slug}").json()["group"]["rules"]

    host = person("host", circle.members[host_alias])
    url = make_link(host, circle.slug, "Make a guest invitation link")
    made = host.page.inner_text("main")
    assert "the one person you'd like to bring as your guest" in made
    assert re.search(r"It works once, until [1-9]\d? [A-Z][a-z]+, \d\d:\d\d UTC\.", made), made

    # Someone without an account opens the link.
    guest = person("guest")
    guest.page.goto(url)
    main = guest.page.locator("main")
    assert main.locator("h1").inner_text() == circle.group["name"]
    assert (
        main.locator(".lede").inner_text()
        == f"{host_alias} has invited you to this support group as their guest."
    )
    assert "read the room, but not write in it" in main.inner_text()
    assert main.locator("ol.rules li").all_inner_texts() == rules
    assert main.locator("#accept").count() == 0, "no form before signing in"

    # "Make an account": the recovery codes, then back to the link.
    with guest.page.expect_navigation():
        main.get_by_role("link", name="Make an account").click()
    username = unique("g")
    guest.page.fill("#username", username)
    guest.page.fill("#password", PASSWORD)
    with guest.page.expect_navigation():
        guest.page.get_by_role("button", name="Create my account").click()
    assert guest.page.locator("ol.codes li").count() > 0
    with guest.page.expect_navigation():
        guest.page.get_by_role("link", name="I've saved them, continue").click()
    assert guest.page.url == url

    # Signed in now: accept the rules and join as a guest.
    guest.page.get_by_label("I have read these ground rules and I will follow them.").check()
    with guest.page.expect_navigation():
        guest.page.get_by_role("button", name="Join as a guest").click()
    assert guest.page.url == f"{site.url}/g/{circle.slug}/room"
    wait_online(guest.page)
    note = guest.page.locator("#guest-note")
    assert note.is_visible()
    assert note.inner_text().startswith(f"You're here as {host_alias}'s guest.")
    assert guest.page.locator(".composer-area").is_hidden()
    assert guest.page.locator("#composer textarea#body").is_hidden()
    assert guest.page.locator("#empty-note").inner_text() == "No messages yet."

    # The facilitator lets guests write, on the group's settings page.
    fac = person("facilitator", gs_facilitator)
    fac.goto(f"/g/{circle.slug}/settings")
    fac.page.get_by_label("Guests may write in the room").check()
    with fac.page.expect_navigation():
        fac.page.get_by_role("button", name="Save settings").click()
    fac.goto(f"/g/{circle.slug}/settings")
    assert fac.page.get_by_label("Guests may write in the room").is_checked()

    host.open_room(circle.slug)
    guest.page.reload()
    wait_online(guest.page)
    assert guest.page.locator("#guest-note").count() == 0
    hello = f"Hi everyone, I'm here to support {host_alias}."
    press_send(guest.page, hello)
    wait_for_message(guest.page, hello)

    # The host sees it arrive, with whose guest wrote it; and after a reload too.
    wait_for_message(host.page, hello)
    item = message_item(host.page, hello)
    assert item.locator(".alias").inner_text() == username
    assert item.locator(".role-badge").inner_text() == f"guest of {host_alias}"
    host.page.reload()
    wait_online(host.page)
    assert message_item(host.page, hello).locator(".role-badge").inner_text() == (
        f"guest of {host_alias}"
    )

    # The host leaves the group: the guest's open room says their access ended, and why.
    mark_document(guest.page)
    host.goto(f"/g/{circle.slug}")
    with host.page.expect_navigation():
        host.page.get_by_role("button", name="Leave this group").click()
    guest.page.locator("#conn-status").filter(
        has_text="Your guest access has ended, because the member who invited you"
    ).wait_for()
    assert guest.page.locator("#composer").is_hidden()
    assert guest.page.locator(".composer-area").is_hidden(), "no warning or ask controls either"
    assert same_document(guest.page)
    shot(guest.page, "guest-after-host-left-desktop-light")
    # And the room is closed to them now.
    response = guest.goto(f"/g/{circle.slug}/room")
    assert response.status >= 400 or "/room" not in guest.page.url
    assert guest.page.locator("#composer").count() == 0
    # Coming back to the group later, they're told why they're outside.
    guest.goto(f"/g/{circle.slug}")
    assert (
        "the member who invited you is no longer in it" in guest.page.locator("main").inner_text()
    )
    shot(guest.page, "guest-group-after-host-left-desktop-light")


def test_invite_only_group_and_a_member_link(
    site: SiteServer, gs_facilitator: Account, person: PersonFactory
):
    circle = make_circle(site, gs_facilitator)
    settings(site, gs_facilitator, circle.slug, join_policy="invite")

    # A signed-in stranger: no Join form, a word that it's by invitation.
    stranger = person("stranger", site.signup_api())
    stranger.goto(f"/g/{circle.slug}")
    join = stranger.page.locator("#join")
    assert "This group welcomes new members by invitation." in join.inner_text()
    assert join.get_by_role("button", name="Join this group").count() == 0
    assert stranger.page.locator("#accept").count() == 0

    fac = person("facilitator", gs_facilitator)
    url = make_link(fac, circle.slug, "Make a member invitation link")
    assert "Send this link to the person you're inviting." in fac.page.inner_text("main")

    # A newcomer with an account, signed out, presses "Make an account" by mistake, then
    # "Sign in" on that page: signing in still brings them back to the link.
    account = site.signup_api()
    newcomer = person("newcomer")
    newcomer.page.goto(url)
    main = newcomer.page.locator("main")
    assert main.locator(".lede").inner_text() == (
        "You've been invited to join this support group as a member."
    )
    assert main.get_by_role("link", name="or sign in").get_attribute("href") == (
        "/login?next=" + url.removeprefix(site.url)
    )
    with newcomer.page.expect_navigation():
        main.get_by_role("link", name="Make an account").click()
    with newcomer.page.expect_navigation():
        newcomer.page.locator("main").get_by_role("link", name="Sign in").click()
    newcomer.page.fill("#username", account.username)
    newcomer.page.fill("#password", account.password)
    with newcomer.page.expect_navigation():
        newcomer.page.locator("main button[type=submit]").click()
    assert newcomer.page.url == url

    alias = unique("finch_")
    newcomer.page.fill("#alias", alias)
    newcomer.page.get_by_label("I have read these ground rules and I will follow them.").check()
    with newcomer.page.expect_navigation():
        newcomer.page.get_by_role("button", name="Join this group").click()
    assert newcomer.page.url == f"{site.url}/g/{circle.slug}/room"
    wait_online(newcomer.page)
    assert f"Your alias here is {alias}." in newcomer.page.locator(".room-head").inner_text()
    press_send(newcomer.page, "Thank you for having me.")
    wait_for_message(newcomer.page, "Thank you for having me.")

    # The link worked once.
    stranger.page.goto(url)
    assert stranger.page.locator("h1").inner_text() == "This link has ended"
    assert stranger.page.locator("#accept").count() == 0


# --------------------------------------------------------------------------- sessions


def test_session_opened_live_acknowledge_write_and_close(
    site: SiteServer, gs_facilitator: Account, person: PersonFactory
):
    alias = unique("wren_")
    circle = make_circle(site, gs_facilitator, alias)
    member = person("member", circle.members[alias])
    member.open_room(circle.slug)
    assert member.page.locator("#session-card").count() == 0, "no session, nothing to say"
    mark_document(member.page)

    fac = person("facilitator", gs_facilitator)
    open_session_in_card(fac, circle.slug)
    assert "Nobody has said yes yet." in fac.page.locator("#session-card").inner_text()

    # The member's open room shows the session without a reload.
    card_title(member.page, "Session on now: Open session")
    card = member.page.locator("#session-card")
    assert card.get_by_role("button", name="I'll keep to these").is_visible()
    rules = site.api.get(f"/api/v1/groups/{circle.slug}").json()["group"]["rules"]
    assert card.locator("ol.rules li").all_inner_texts() == rules

    # Writing before saying yes: refused kindly, the words kept, the card focused.
    draft = "Glad this is on tonight, it has been a long week."
    press_send(member.page, draft)
    error = member.page.locator("#composer-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("A session is on: please read its ground rules")
    assert member.page.locator("#body").input_value() == draft
    member.page.wait_for_function("document.activeElement?.id === 'session-card'")
    assert message_item(member.page, draft).count() == 0

    card.get_by_role("button", name="I'll keep to these").click()
    member.page.locator("#session-card").filter(has_text=ACKED).wait_for()
    assert member.page.locator("#session-card .ack-form").count() == 0
    assert same_document(member.page)

    member.page.locator("#composer").get_by_role("button", name="Send", exact=True).click()
    wait_for_message(member.page, draft)
    assert member.page.locator("#body").input_value() == ""

    # The facilitator's card lists who said yes, live; their own message is badged.
    fac.page.locator("#session-card").filter(has_text=f"Said yes so far (1): {alias}.").wait_for()
    wait_for_message(fac.page, draft)
    press_send(fac.page, "Welcome, everyone. Let's begin.")
    wait_for_message(member.page, "Welcome, everyone. Let's begin.")
    badge = message_item(member.page, "Welcome, everyone. Let's begin.").locator(".role-badge")
    assert badge.inner_text() == "facilitator"

    # Closing it: the member's card goes (there is nothing next), still the same page.
    with fac.page.expect_navigation():
        fac.page.locator("#session-card").get_by_role(
            "button", name="Close the session now"
        ).click()
    assert fac.page.locator("#session-card h2").inner_text() == "No session on right now"
    member.page.locator("#session-card").wait_for(state="detached")
    assert same_document(member.page)
    press_send(member.page, "Thanks all, see you next time.")
    wait_for_message(member.page, "Thanks all, see you next time.")

    r = site.api.get(
        f"/api/v1/rooms/{circle.room_id}/session", headers=circle.members[alias].headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["live"] is None


def test_read_only_outside_sessions_composer_appears_live(
    site: SiteServer, gs_facilitator: Account, person: PersonFactory
):
    alias = unique("heron_")
    circle = make_circle(site, gs_facilitator, alias)
    settings(site, gs_facilitator, circle.slug, read_only_outside_sessions=True)

    member = person("member", circle.members[alias])
    member.open_room(circle.slug)
    page = member.page
    assert page.locator("#closed-note").is_visible()
    assert (
        page.locator("#closed-note")
        .inner_text()
        .startswith("The room opens for writing when a session starts.")
    )
    assert page.locator(".composer-area").is_hidden()
    assert page.locator("#session-card h2").inner_text() == "No session on right now"
    assert "write in it during sessions" in page.locator("#session-card").inner_text()
    mark_document(page)

    fac = person("facilitator", gs_facilitator)
    open_session_in_card(fac, circle.slug, "45")

    page.locator(".composer-area").wait_for(state="visible")
    assert page.locator("#closed-note").is_hidden()
    card_title(page, "Session on now: Open session")
    page.locator("#session-card").get_by_role("button", name="I'll keep to these").click()
    page.locator("#session-card").filter(has_text=ACKED).wait_for()
    press_send(page, "It's good to be able to say something tonight.")
    wait_for_message(page, "It's good to be able to say something tonight.")
    assert same_document(page)

    # Closed again: the composer goes, the note comes back, still without a reload.
    with fac.page.expect_navigation():
        fac.page.locator("#session-card").get_by_role(
            "button", name="Close the session now"
        ).click()
    page.locator(".composer-area").wait_for(state="hidden")
    assert page.locator("#closed-note").is_visible()
    card_title(page, "No session on right now")
    assert same_document(page)


# --------------------------------------------------------------------------- axe


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_guest_and_session_screens_have_no_axe_violations(
    site: SiteServer,
    gs_facilitator: Account,
    person: PersonFactory,
    axe_source: str,
    scenario: str,
):
    host_alias, other_alias = unique("robin_"), unique("sparrow_")
    circle = make_circle(site, gs_facilitator, host_alias, other_alias)
    settings(site, gs_facilitator, circle.slug, guests_allowed=True, guests_can_post=False)
    found: list[str] = []
    look = SCENARIOS[scenario]

    def check(page: Any, label: str) -> None:
        shot(page, f"{label.replace(' ', '-')}-{scenario}")
        violations = axe_violations(page, axe_source)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}]", violations))

    host = person("host", circle.members[host_alias], **look)
    url = make_link(host, circle.slug, "Make a guest invitation link")
    check(host.page, "invite made")

    visitor = person("visitor", **look)
    visitor.page.goto(url)
    visitor.page.get_by_role("link", name="Make an account").wait_for()
    check(visitor.page, "invite signed out")

    visitor.sign_in(site.signup_api())
    visitor.page.goto(url)
    visitor.page.get_by_role("button", name="Join as a guest").wait_for()
    check(visitor.page, "invite signed in")
    visitor.page.get_by_label("I have read these ground rules and I will follow them.").check()
    with visitor.page.expect_navigation():
        visitor.page.get_by_role("button", name="Join as a guest").click()
    wait_online(visitor.page)
    visitor.page.locator("#guest-note").wait_for()
    check(visitor.page, "room as guest")

    r = site.api.post(
        f"/api/v1/groups/{circle.slug}/session/open",
        json={"minutes": 30},
        headers=gs_facilitator.headers,
    )
    assert r.status_code in (200, 201), r.text
    site.post_api(gs_facilitator, circle.room_id, "Welcome, everyone. Let's begin.")
    member = person("member", circle.members[other_alias], **look)
    member.open_room(circle.slug)
    card_title(member.page, "Session on now")
    check(member.page, "room session member")
    member.page.locator("#session-card").get_by_role("button", name="I'll keep to these").click()
    member.page.locator("#session-card").filter(has_text=ACKED).wait_for()
    press_send(member.page, "Thanks for opening tonight " + uuid.uuid4().hex[:4])
    member.page.locator("#messages li.msg:not(.pending)").nth(1).wait_for()
    check(member.page, "room session member acknowledged")
    # The guest's room, still open from before: the card came to it live.
    card_title(visitor.page, "Session on now")
    check(visitor.page, "room as guest in session")

    fac = person("facilitator", gs_facilitator, **look)
    fac.open_room(circle.slug)
    fac.page.locator("#session-card").filter(has_text="Said yes so far (1)").wait_for()
    check(fac.page, "room session facilitator")
    assert not found, "\n\n".join(found)
