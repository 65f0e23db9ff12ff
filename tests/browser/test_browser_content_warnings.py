"""Content warnings, consent and reading filters in real browsers (issue 5): posting with a
suggested warning, a reader revealing it, a "hide" category's placeholder, nothing of a
warned body in the page or the accessibility tree before "Show", asking the room first,
blocking someone and undoing it, and axe-core on each of those screens.

Each test makes its own group (its facilitator made with `safespace users create`), so its
topic rules and its people belong to it alone.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from browserkit import (
    SCENARIOS,
    Account,
    PersonFactory,
    SiteServer,
    axe_violations,
    describe_violations,
    make_circle,
    unique,
    wait_for_message,
)

pytestmark = pytest.mark.browser


# Touches self-harm (reading/categories.py) and is rated "none" by the risk assessor, so
# nothing but the suggestion decides how it goes out.
SCARS = "My old scars were showing at work today and people stared."
SOBER = "Two weeks sober today, and the drinking thoughts are loud tonight."
SUBSTANCE = {"categories": ["substance-use"]}


@pytest.fixture(scope="module")
def cw_facilitator(site: SiteServer) -> Account:
    return site.create_user_cli("facilitator")


def post(site: SiteServer, who: Account, room_id: int, body: str, **extra: Any) -> dict[str, Any]:
    r = site.api.post(
        f"/api/v1/rooms/{room_id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": body, **extra},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["message"])


def assert_not_in_page(page: Any, *fragments: str) -> None:
    html = page.content()
    aria = page.locator("body").aria_snapshot()
    for fragment in fragments:
        assert fragment not in html, f"{fragment!r} is in the DOM before the reader chose"
        assert fragment not in aria, f"{fragment!r} is in the accessibility tree"


def test_suggested_warning_then_a_reader_reveals_it(
    site: SiteServer, cw_facilitator: Account, person: PersonFactory
):
    circle = make_circle(site, cw_facilitator, unique("wren_"), unique("heron_"))
    (author_alias, author), (_, reader_account) = circle.members.items()
    reader = person("reader", reader_account)
    reader.open_room(circle.slug)
    me = person("author", author)
    me.open_room(circle.slug)

    # The first send asks the server to suggest: a calm prompt, the words still in the box.
    me.page.locator("#composer textarea#body").fill(SCARS)
    me.page.locator("#composer").get_by_role("button", name="Send").click()
    prompt = me.page.locator("#cw-suggest")
    prompt.wait_for(state="visible")
    assert prompt.inner_text().startswith("This mentions self-harm. Add a content warning?")
    assert me.page.locator("#body").input_value() == SCARS
    assert me.page.evaluate("document.activeElement.id") == "cw-suggest"
    assert me.page.locator("#messages li.msg").filter(has_text=SCARS).count() == 0

    # "Change" opens the warning controls with the topic ticked, focus there.
    prompt.get_by_role("button", name="Change").click()
    assert me.page.locator("#cw-details").get_attribute("open") is not None
    assert me.page.locator("#cw-self-harm").is_checked()
    assert me.page.evaluate("document.activeElement.id") == "cw-self-harm"
    me.page.locator("#cw-note").fill("nothing graphic")
    me.page.locator("#composer").get_by_role("button", name="Send").click()
    wait_for_message(me.page, SCARS)
    mine = me.page.locator("#messages li.msg.own").filter(has_text=SCARS)
    assert mine.locator(".cw").inner_text() == "Content warning: Self-harm · “nothing graphic”"
    assert me.page.locator("#cw-details").get_attribute("open") is None, "controls reset"

    # The reader: collapsed, its topics and note shown, its words nowhere.
    warned = reader.page.locator("#messages li.msg.warned").filter(has_text="nothing graphic")
    warned.wait_for(state="visible")
    assert warned.locator(".alias").inner_text() == author_alias
    assert "Content warning: Self-harm" in warned.inner_text()
    assert_not_in_page(reader.page, SCARS, "people stared")
    announced = reader.page.locator("#announcer").inner_text()
    assert "content warning" in announced and "scars" not in announced

    warned.get_by_role("button", name="Show message").click()
    warned.locator("p.body").wait_for(state="visible")
    assert warned.locator("p.body").inner_text() == SCARS
    assert reader.page.evaluate("document.activeElement.className") == "body"

    # After a reload, the server-rendered history has the same shape.
    reader.page.reload()
    reader.page.locator("#conn-status[data-state='online']").wait_for(state="attached")
    assert_not_in_page(reader.page, SCARS)
    assert reader.page.locator("#messages li.msg.warned").count() == 1


def test_send_without_is_not_asked_again(
    site: SiteServer, cw_facilitator: Account, person: PersonFactory
):
    circle = make_circle(site, cw_facilitator, unique("wren_"))
    me = person("author", next(iter(circle.members.values())))
    me.open_room(circle.slug)
    composer = me.page.locator("#composer")
    composer.locator("#body").fill("I found a razor in the drawer this morning.")
    composer.get_by_role("button", name="Send").click()
    me.page.locator("#cw-suggest").wait_for(state="visible")
    me.page.get_by_role("button", name="Send without").click()
    wait_for_message(me.page, "I found a razor in the drawer this morning.")
    # The same topic again: it goes without asking.
    composer.locator("#body").fill("Still thinking about that blade.")
    composer.get_by_role("button", name="Send").click()
    wait_for_message(me.page, "Still thinking about that blade.")
    assert me.page.locator("#cw-suggest").is_hidden()


def test_group_rules_keep_the_draft(
    site: SiteServer, cw_facilitator: Account, person: PersonFactory
):
    circle = make_circle(site, cw_facilitator, unique("wren_"))
    r = site.api.put(
        f"/api/v1/groups/{circle.slug}/topics",
        json={"require_warning": ["eating-disorders"], "need_consent": ["death-grief"]},
        headers=cw_facilitator.headers,
    )
    assert r.status_code == 200, r.text
    me = person("author", next(iter(circle.members.values())))
    me.open_room(circle.slug)
    composer = me.page.locator("#composer")

    composer.locator("#body").fill("I counted calories all day again.")
    composer.get_by_role("button", name="Send").click()
    error = me.page.locator("#composer-error")
    error.wait_for(state="visible")
    assert "content warning on messages about eating disorders" in error.inner_text()
    assert me.page.locator("#body").input_value() == "I counted calories all day again."
    assert me.page.locator("#cw-eating-disorders").is_checked()
    composer.get_by_role("button", name="Send").click()
    wait_for_message(me.page, "I counted calories all day again.")

    composer.locator("#body").fill("The funeral was so hard, I still miss him.")
    composer.get_by_role("button", name="Send").click()
    error.wait_for(state="visible")
    assert "check with the room" in error.inner_text()
    assert me.page.locator("#body").input_value() == "The funeral was so hard, I still miss him."
    assert me.page.locator("#ask-details").get_attribute("open") is not None
    assert me.page.locator("#ask-category").input_value() == "death-grief"


def test_hidden_category_and_muted_word(
    site: SiteServer, cw_facilitator: Account, person: PersonFactory
):
    kit, sam = unique("kit_"), unique("sam_")
    circle = make_circle(site, cw_facilitator, kit, sam)
    r = site.api.put(
        "/api/v1/me/filters",
        json={"categories": {"substance-use": "hide"}, "muted_words": ["exam"]},
        headers=circle.members[sam].headers,
    )
    assert r.status_code == 200, r.text
    kit_says = circle.members[kit]
    sober = post(site, kit_says, circle.room_id, SOBER, content_warning=SUBSTANCE)
    post(site, kit_says, circle.room_id, "My exam results came back today.")

    reader = person("reader", circle.members[sam])
    reader.open_room(circle.slug)
    hidden = reader.page.locator("#messages li.msg.placeholder")
    assert hidden.inner_text().startswith("Hidden by your filters (Substance use)")
    muted = reader.page.locator("#messages li.msg.warned")
    assert "Collapsed: contains a word you muted" in muted.inner_text()
    assert_not_in_page(reader.page, SOBER, "exam results")

    hidden.get_by_role("button", name="Show anyway").click()
    shown = reader.page.locator(f"#m-{sober['seq']} p.body")
    shown.wait_for(state="visible")
    assert shown.inner_text() == SOBER

    # A new one arrives live as a placeholder, and is never read out.
    later = "Day fifteen sober, the cravings are quieter."
    post(site, kit_says, circle.room_id, later, content_warning=SUBSTANCE)
    reader.page.locator("#messages li.msg.placeholder").last.wait_for(state="visible")
    assert_not_in_page(reader.page, later)
    assert "quieter" not in reader.page.locator("#announcer").inner_text()


def test_ask_before_sharing_then_share_now(
    site: SiteServer, cw_facilitator: Account, person: PersonFactory
):
    asker_alias, other_alias = unique("kit_"), unique("sam_")
    circle = make_circle(site, cw_facilitator, asker_alias, other_alias)
    asker = person("asker", circle.members[asker_alias])
    asker.open_room(circle.slug)
    other = person("other", circle.members[other_alias])
    other.open_room(circle.slug)

    asker.page.locator("#ask-details > summary").click()
    asker.page.locator("#ask-topic").fill("my gran's funeral last week")
    asker.page.locator("#ask-category").select_option("death-grief")
    asker.page.get_by_role("button", name="Ask the room").click()
    mine = asker.page.locator("#messages li.consent-card")
    mine.wait_for(state="visible")
    assert (
        mine.locator(".ask")
        .inner_text()
        .startswith("You asked: May I talk about my gran's funeral last week?")
    )
    assert mine.get_by_role("button", name="Share now").is_hidden()

    card = other.page.locator("#messages li.consent-card")
    card.wait_for(state="visible")
    assert card.locator(".ask").inner_text().startswith(f"{asker_alias} asks: May I talk about")
    card.get_by_role("button", name="OK").click()
    asker.page.locator("li.consent-card .consent-counts").filter(
        has_text=re.compile("^OK 1 · Not now 0$")
    ).wait_for()
    assert card.get_by_role("button", name="OK").get_attribute("aria-pressed") == "true"
    share = mine.get_by_role("button", name="Share now")
    share.wait_for(state="visible")
    share.click()
    assert asker.page.evaluate("document.activeElement.id") == "body"
    assert asker.page.locator("#cw-death-grief").is_checked()

    # A facilitator's answer is the room's.
    fac = person("facilitator", cw_facilitator)
    fac.open_room(circle.slug)
    fac.page.locator("#messages li.consent-card").get_by_role("button", name="Not now").click()
    mine.locator(".consent-room").filter(
        has_text="A facilitator said not now for the room"
    ).wait_for()
    assert mine.get_by_role("button", name="Share now").is_hidden()


def test_block_then_unblock_in_settings(
    site: SiteServer, cw_facilitator: Account, person: PersonFactory
):
    kit, sam = unique("kit_"), unique("sam_")
    circle = make_circle(site, cw_facilitator, kit, sam)
    post(site, cw_facilitator, circle.room_id, "Welcome, both of you.")
    post(site, circle.members[kit], circle.room_id, "Hello from Kit.")
    reader = person("reader", circle.members[sam])
    reader.open_room(circle.slug)

    fac_item = reader.page.locator("#messages li.msg").filter(has_text="Welcome, both of you.")
    assert fac_item.get_by_role("button", name="Block this person").count() == 0

    item = reader.page.locator("#messages li.msg").filter(has_text="Hello from Kit.")
    item.locator("details.more > summary").click()
    item.get_by_role("button", name="Block this person").click()
    assert "They won't be told" in item.inner_text()
    item.get_by_role("button", name=f"Block {kit}").click()
    blocked = reader.page.locator("#messages li.msg.placeholder")
    blocked.wait_for(state="visible")
    assert blocked.inner_text() == "Message from someone you blocked"
    assert_not_in_page(reader.page, "Hello from Kit.")

    settings = reader.context.new_page()
    settings.goto(site.url + "/settings/filters")
    row = settings.locator(".blocked-list li").filter(has_text=kit)
    with settings.expect_navigation():
        row.get_by_role("button", name=re.compile("Unblock")).click()
    assert "Unblocked" in settings.locator(".notice").inner_text()
    # The room's open page shows them again, without a reload (filters_changed).
    wait_for_message(reader.page, "Hello from Kit.")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_warning_screens_have_no_axe_violations(
    site: SiteServer,
    cw_facilitator: Account,
    person: PersonFactory,
    axe_source: str,
    scenario: str,
):
    kit, sam = unique("kit_"), unique("sam_")
    circle = make_circle(site, cw_facilitator, kit, sam)
    site.api.put(
        "/api/v1/me/filters",
        json={"categories": {"substance-use": "hide"}},
        headers=circle.members[sam].headers,
    ).raise_for_status()
    kit_says = circle.members[kit]
    post(site, kit_says, circle.room_id, SCARS, content_warning={"categories": ["self-harm"]})
    post(site, kit_says, circle.room_id, SOBER, content_warning=SUBSTANCE)
    site.api.post(
        f"/api/v1/rooms/{circle.room_id}/consent",
        json={"client_id": uuid.uuid4().hex, "topic": "a hard day at the hospital"},
        headers=circle.members[kit].headers,
    ).raise_for_status()
    found: list[str] = []

    def check(page: Any, label: str) -> None:
        violations = axe_violations(page, axe_source)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}]", violations))

    reader = person(scenario, circle.members[sam], **SCENARIOS[scenario])
    reader.open_room(circle.slug)
    check(reader.page, "room with warned, hidden and consent messages")
    reader.page.locator("#composer textarea#body").fill("My old scars again.")
    reader.page.locator("#composer").get_by_role("button", name="Send").click()
    reader.page.locator("#cw-suggest").wait_for(state="visible")
    check(reader.page, "the suggestion prompt")
    reader.page.get_by_role("button", name="Change").click()
    check(reader.page, "the warning controls")
    reader.page.locator("#ask-details > summary").click()
    check(reader.page, "ask before sharing")
    item = reader.page.locator("#messages li.msg.warned").first
    item.locator("details.more > summary").click()
    item.get_by_role("button", name="Block this person").click()
    check(reader.page, "block, confirm step")
    reader.goto("/settings/filters")
    check(reader.page, "reading filters")
    fac = person(scenario, cw_facilitator, **SCENARIOS[scenario])
    fac.goto(f"/g/{circle.slug}")
    check(fac.page, "group page with the topics form")
    assert not found, "\n\n".join(found)
