"""Reading safely, as members meet it in their browsers (issue 5): the "Add a content
warning?" prompt and its two answers, a warned message collapsed for the next reader with
nothing of it in the page, the accessibility tree or the live region until they press Show,
"Hide" chosen on the Reading filters page leaving a one-line placeholder, blocking someone
from a message's menu (their next message arrives as a placeholder for the blocker alone),
asking the room before sharing, and axe-core on those screens (phone and desktop, light and
dark).

Every test makes its own group (its facilitator made with `safespace users create`) and its
own members, signed up and joined through the JSON API as the other browser tests do; all
that follows is done in the browsers.
"""

from __future__ import annotations

import re
import uuid
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
    make_circle,
    mark_document,
    message_bodies,
    same_document,
    unique,
    wait_for_message,
    wait_online,
)

pytestmark = pytest.mark.browser


# Each touches self-harm and nothing else (safespace.reading.categories.detect_topics), and
# the risk assessor rates each "none" (`printf '...' | safespace safety assess`), so only the
# author's answer to the prompt decides how it goes out: no check-in, no forced warning.
THERAPY = "Therapy today was about self-harm and the old habits behind it."
RAZOR = "I threw out the last razor in the house today. Small win."
GROUP_TALK = "Talking about self-harm in group last week helped me more than I expected."
RECOVERY = "Reading about self-harm recovery stories gave me some hope tonight."
# Touches death and grief only, rated "none".
FUNERAL = "My gran's funeral was on Friday and I still can't stop crying."
PROMPT = "This mentions self-harm. Add a content warning?"
SELF_HARM = {"categories": ["self-harm"]}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def reading_facilitator(site: SiteServer) -> Account:
    """The facilitator of this module's groups, made with `safespace users create`."""
    return site.create_user_cli("facilitator")


def post_warned(site: SiteServer, who: Account, room_id: int, body: str) -> dict[str, Any]:
    """A message with a self-harm warning, sent through the JSON API (seeding only)."""
    r = site.api.post(
        f"/api/v1/rooms/{room_id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": body, "content_warning": SELF_HARM},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["message"])


def press_send(page: Any, text: str) -> None:
    """Type into the room's message box and press its Send button."""
    page.locator("#composer textarea#body").fill(text)
    page.locator("#composer").get_by_role("button", name="Send", exact=True).click()


def wait_for_prompt(page: Any) -> Any:
    prompt = page.locator("#cw-suggest")
    prompt.wait_for(state="visible")
    return prompt


def message_item(page: Any, text: str) -> Any:
    return page.locator("#messages li.msg").filter(has_text=text)


def assert_nowhere(who: Person, frames: list[str], *fragments: str) -> None:
    """None of these words reached the reader: not the DOM, the accessibility tree, the live
    region, the page title, nor their websocket."""
    page = who.page
    html = page.content()
    aria = page.locator("body").aria_snapshot()
    announced = page.locator("#announcer").inner_text()
    title = page.title()
    for fragment in fragments:
        assert fragment not in html, f"{fragment!r} is in {who.label}'s DOM before they chose"
        assert fragment not in aria, f"{fragment!r} is in {who.label}'s accessibility tree"
        assert fragment not in announced, f"{fragment!r} was announced to {who.label}"
        assert fragment not in title, f"{fragment!r} is in {who.label}'s page title"
        leaked = [f for f in frames if fragment in f]
        assert not leaked, f"{fragment!r} was sent to {who.label}'s socket: {leaked[:1]}"


def line_count(locator: Any) -> int:
    """How many lines of text the element takes on screen (its line boxes, grouped by where
    they sit vertically: a button on the same line as the text counts once)."""
    return int(
        locator.evaluate(
            """el => {
            const range = document.createRange();
            range.selectNodeContents(el);
            const rects = [...range.getClientRects()]
                .filter(r => r.width > 0 && r.height > 0)
                .sort((a, b) => a.top - b.top);
            let lines = 0, bottom = -Infinity;
            for (const r of rects) {
                if (r.top >= bottom - 1) { lines += 1; bottom = r.bottom; }
                else bottom = Math.max(bottom, r.bottom);
            }
            return lines;
        }"""
        )
    )


# --------------------------------------------------------------------------- 1. add warning


def test_add_warning_then_a_reader_chooses_to_show_it(
    site: SiteServer, reading_facilitator: Account, person: PersonFactory
):
    author_alias, reader_alias = unique("wren_"), unique("heron_")
    circle = make_circle(site, reading_facilitator, author_alias, reader_alias)
    # An earlier warned message, already in the history: revealing one never reveals another.
    post_warned(site, circle.members[author_alias], circle.room_id, RECOVERY)

    reader = person("reader", circle.members[reader_alias])
    reader_frames = capture_frames(reader.page)
    reader.open_room(circle.slug)
    mark_document(reader.page)
    me = person("author", circle.members[author_alias])
    me.open_room(circle.slug)

    # Send: the prompt, calm and focused, the words still in the box, nothing sent yet.
    press_send(me.page, THERAPY)
    prompt = wait_for_prompt(me.page)
    assert me.page.locator("#cw-suggest-text").inner_text() == PROMPT
    assert prompt.get_by_role("button", name="Add warning").is_visible()
    assert prompt.get_by_role("button", name="Change").is_visible()
    assert prompt.get_by_role("button", name="Send without").is_visible()
    assert me.page.evaluate("document.activeElement.id") == "cw-suggest"
    assert me.page.locator("#body").input_value() == THERAPY
    assert message_item(me.page, THERAPY).count() == 0
    reader.page.wait_for_timeout(300)
    assert reader.page.locator("#messages li.msg").count() == 1, "nothing went out yet"

    # "Add warning": sent, with the warning; the author sees their own words in full.
    prompt.get_by_role("button", name="Add warning").click()
    wait_for_message(me.page, THERAPY)
    prompt.wait_for(state="hidden")
    assert me.page.locator("#body").input_value() == ""
    mine = me.page.locator("#messages li.msg.own").filter(has_text=THERAPY)
    assert mine.locator(".cw").inner_text() == "Content warning: Self-harm"
    assert mine.locator("p.body").inner_text() == THERAPY

    # The reader: it arrives live, collapsed, with who wrote it, its topic and Show.
    warned = reader.page.locator("#messages li.msg.warned")
    warned.nth(1).wait_for(state="visible")
    assert same_document(reader.page), "it arrived live"
    item = warned.nth(1)
    assert item.locator(".alias").inner_text() == author_alias
    assert item.locator(".cw").inner_text() == "Content warning: Self-harm"
    show = item.get_by_role("button", name="Show message")
    assert show.is_visible()
    assert item.locator("p.body").count() == 0
    announced = reader.page.locator("#announcer").inner_text()
    assert announced == f"{author_alias} shared a message with a content warning.", announced
    assert_nowhere(
        reader, reader_frames, THERAPY, "Therapy today", "old habits", RECOVERY, "hope tonight"
    )

    # Show: this message, in full, in the page and the accessibility tree, focus on it.
    show.click()
    body = item.locator("p.body")
    body.wait_for(state="visible")
    assert body.inner_text() == THERAPY
    assert item.locator(".cw").inner_text() == "Content warning: Self-harm", "warning stays"
    assert reader.page.evaluate("document.activeElement.className") == "body"
    assert THERAPY in reader.page.locator("body").aria_snapshot()
    # ...and only this one.
    earlier = warned.nth(0)
    assert earlier.get_by_role("button", name="Show message").is_visible()
    assert_nowhere(reader, [], RECOVERY, "hope tonight")
    assert same_document(reader.page)


# --------------------------------------------------------------------------- 2. send without


def test_send_without_reaches_the_reader_uncollapsed(
    site: SiteServer, reading_facilitator: Account, person: PersonFactory
):
    author_alias, reader_alias = unique("wren_"), unique("heron_")
    circle = make_circle(site, reading_facilitator, author_alias, reader_alias)
    reader = person("reader", circle.members[reader_alias])
    reader.open_room(circle.slug)
    me = person("author", circle.members[author_alias])
    me.open_room(circle.slug)

    press_send(me.page, RAZOR)
    prompt = wait_for_prompt(me.page)
    assert me.page.locator("#cw-suggest-text").inner_text() == PROMPT
    prompt.get_by_role("button", name="Send without").click()
    wait_for_message(me.page, RAZOR)
    assert prompt.is_hidden()
    assert (
        me.page.locator("#messages li.msg.own").filter(has_text=RAZOR).locator(".cw").count() == 0
    )

    # The reader sees the words straight away: no warning, no Show, nothing to press.
    wait_for_message(reader.page, RAZOR)
    item = message_item(reader.page, RAZOR)
    assert item.locator("p.body").is_visible()
    assert "warned" not in (item.get_attribute("class") or "")
    assert item.locator(".cw").count() == 0
    assert item.get_by_role("button", name="Show message").count() == 0
    assert reader.page.locator("#announcer").inner_text() == f"{author_alias}: {RAZOR}"
    assert message_bodies(reader.page) == [RAZOR]


# --------------------------------------------------------------------------- 3. hide filter


def test_hide_filter_leaves_a_one_line_placeholder(
    site: SiteServer, reading_facilitator: Account, person: PersonFactory
):
    author_alias, reader_alias = unique("wren_"), unique("heron_")
    circle = make_circle(site, reading_facilitator, author_alias, reader_alias)

    # The reader chooses "Hide" for self-harm on the Reading filters page.
    reader = person("reader", circle.members[reader_alias])
    reader_frames = capture_frames(reader.page)
    reader.goto("/settings")
    with reader.page.expect_navigation():
        reader.page.get_by_role("link", name="Change reading filters").click()
    page = reader.page
    assert page.get_by_role("heading", name="Reading filters", level=1).is_visible()
    row = page.get_by_role("group", name="Self-harm", exact=True)
    assert row.get_by_role("radio", name="Collapse").is_checked(), "collapse is the default"
    row.get_by_role("radio", name="Hide").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save filters").click()
    assert "Saved." in page.get_by_role("status").inner_text()
    row = page.get_by_role("group", name="Self-harm", exact=True)
    assert row.get_by_role("radio", name="Hide").is_checked(), "the choice was kept"
    other_row = page.get_by_role("group", name="Suicide", exact=True)
    assert other_row.get_by_role("radio", name="Collapse").is_checked(), "others untouched"
    reader.goto("/settings")
    assert "1 hidden topic" in page.locator("section[aria-labelledby=filters-title]").inner_text()

    reader.open_room(circle.slug)
    mark_document(page)
    me = person("author", circle.members[author_alias])
    me.open_room(circle.slug)
    press_send(me.page, GROUP_TALK)
    wait_for_prompt(me.page).get_by_role("button", name="Add warning").click()
    wait_for_message(me.page, GROUP_TALK)

    # Live: one quiet line where the message was, its topic named, its words nowhere.
    hidden = page.locator("#messages li.msg.placeholder")
    hidden.wait_for(state="visible")
    assert same_document(page), "it arrived live"
    line = hidden.locator(".note-line")
    assert line.inner_text().startswith("Hidden by your filters (Self-harm)"), line.inner_text()
    assert hidden.get_by_role("button", name="Show anyway").is_visible()
    assert line_count(line) == 1, "the placeholder takes one line"
    assert hidden.locator("p.body").count() == 0
    assert page.locator("#messages li.msg.warned").count() == 0
    assert page.locator("#announcer").inner_text() == "", "a hidden message is not read out"
    assert_nowhere(reader, reader_frames, GROUP_TALK, "helped me more")

    # The same after a reload (the history the server renders).
    page.reload()
    wait_online(page)
    hidden = page.locator("#messages li.msg.placeholder")
    assert hidden.count() == 1
    assert (
        hidden.locator(".note-line").inner_text().startswith("Hidden by your filters (Self-harm)")
    )
    assert line_count(hidden.locator(".note-line")) == 1
    assert_nowhere(reader, reader_frames, GROUP_TALK, "helped me more")


# --------------------------------------------------------------------------- 4. blocking


def test_block_from_the_message_menu(
    site: SiteServer, reading_facilitator: Account, person: PersonFactory
):
    blocker_alias, blocked_alias, third_alias = unique("kit_"), unique("sam_"), unique("ash_")
    circle = make_circle(site, reading_facilitator, blocker_alias, blocked_alias, third_alias)
    first = "Hi all, long day but I made it here."

    them = person("blocked", circle.members[blocked_alias])
    them.open_room(circle.slug)
    me = person("blocker", circle.members[blocker_alias])
    me_frames = capture_frames(me.page)
    me.open_room(circle.slug)
    third = person("third", circle.members[third_alias])
    third.open_room(circle.slug)
    press_send(them.page, first)
    wait_for_message(me.page, first)
    wait_for_message(third.page, first)
    mark_document(me.page)

    # The ⋯ menu, "Block this person", what it means, then the confirm button.
    item = message_item(me.page, first)
    item.locator("details.more > summary").click()
    toggle = item.get_by_role("button", name="Block this person")
    assert toggle.get_attribute("aria-expanded") == "false"
    confirm = item.get_by_role("button", name=f"Block {blocked_alias}", exact=True)
    assert confirm.is_hidden(), "nothing is blocked in one click"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    confirm.wait_for(state="visible")
    assert "They won't be told" in item.locator(".block-step").inner_text()
    confirm.click()

    # Their earlier message turns into the placeholder, in place.
    blocked = me.page.locator("#messages li.msg.placeholder")
    blocked.wait_for(state="visible")
    assert blocked.inner_text() == "Message from someone you blocked"
    assert "Blocked." in me.page.locator("#announcer").inner_text()
    assert same_document(me.page)

    # Their next message: a placeholder for the blocker, live; in full for everyone else.
    seen = len(me_frames)
    later = "Anyone else finding evenings the hardest part?"
    press_send(them.page, later)
    wait_for_message(them.page, later)
    wait_for_message(third.page, later)
    blocked.nth(1).wait_for(state="visible")
    assert same_document(me.page), "it arrived live"
    assert blocked.count() == 2
    assert blocked.nth(1).inner_text() == "Message from someone you blocked"
    assert blocked.nth(1).locator(".alias").count() == 0
    assert blocked_alias not in blocked.nth(1).inner_html()
    assert_nowhere(me, me_frames[seen:], later, first)
    assert message_bodies(me.page) == []

    third_item = message_item(third.page, later)
    assert third_item.locator(".alias").inner_text() == blocked_alias
    assert third.page.locator("#messages li.msg.placeholder").count() == 0
    assert message_bodies(third.page) == [first, later]

    # And the person blocked is not told: their own room looks as it always did.
    assert message_bodies(them.page) == [first, later]
    assert "blocked" not in them.page.locator(".room").inner_text().lower()


# --------------------------------------------------------------------------- 5. consent


def test_ask_before_sharing_and_the_answer_arrives_live(
    site: SiteServer, reading_facilitator: Account, person: PersonFactory
):
    asker_alias, other_alias = unique("kit_"), unique("sam_")
    circle = make_circle(site, reading_facilitator, asker_alias, other_alias)
    topic = "my gran's funeral last week"

    other = person("other", circle.members[other_alias])
    other.open_room(circle.slug)
    asker = person("asker", circle.members[asker_alias])
    asker.open_room(circle.slug)
    mark_document(asker.page)

    # Ask before sharing: only the topic goes to the room.
    asker.page.get_by_text("Ask before sharing", exact=True).click()
    asker.page.get_by_label("May I talk about…").fill(topic)
    asker.page.get_by_label("Topic (optional)").select_option(label="Death and grief")
    asker.page.get_by_role("button", name="Ask the room").click()
    mine = asker.page.locator("#messages li.consent-card")
    mine.wait_for(state="visible")
    assert mine.locator(".ask").inner_text() == (
        f"You asked: May I talk about {topic}? Death and grief"
    )
    assert mine.locator(".consent-counts").inner_text() == "OK 0 · Not now 0"
    assert mine.locator(".consent-status").inner_text() == "Waiting for the room to answer."
    share = mine.get_by_role("button", name="Share now")
    assert share.is_hidden()

    # The other member's card: the question and the two answers; they say OK.
    card = other.page.locator("#messages li.consent-card")
    card.wait_for(state="visible")
    assert card.locator(".ask").inner_text() == (
        f"{asker_alias} asks: May I talk about {topic}? Death and grief"
    )
    assert card.get_by_role("button", name="Share now").count() == 0
    answers = card.get_by_role("group", name=re.compile("May I talk about"))
    answers.get_by_role("button", name="OK", exact=True).click()
    card.get_by_role("status").filter(has_text="You said OK").wait_for()
    # Found by its value: app.css puts a "✓" before a pressed answer, and Chromium counts
    # that in the button's accessible name ("✓ OK").
    pressed = answers.locator("button[aria-pressed=true]")
    assert pressed.count() == 1 and pressed.get_attribute("value") == "ok"
    assert card.locator(".consent-counts").inner_text() == "OK 1 · Not now 0"

    # The asker's card changes by itself: the count, the room's yes, and "Share now".
    mine.locator(".consent-counts").filter(has_text=re.compile(r"^OK 1 · Not now 0$")).wait_for()
    share.wait_for(state="visible")
    assert same_document(asker.page), "updated live, without a reload"
    assert mine.locator(".consent-status").inner_text() == "The room said OK. You can share now."
    assert "You can share now" in asker.page.locator("#announcer").inner_text()

    # Share now: the message box, with the warning for that topic already ticked.
    share.click()
    assert asker.page.evaluate("document.activeElement.id") == "body"
    assert asker.page.get_by_role("checkbox", name="Death and grief").is_checked()
    assert asker.page.locator("#cw-summary").inner_text() == "Content warning: Death and grief"
    press_send(asker.page, FUNERAL)
    wait_for_message(asker.page, FUNERAL)
    assert asker.page.locator("#cw-suggest").is_hidden(), "the warning already covers it"
    warned = other.page.locator("#messages li.msg.warned")
    warned.wait_for(state="visible")
    assert warned.locator(".cw").inner_text() == "Content warning: Death and grief"
    assert FUNERAL not in other.page.content()


# --------------------------------------------------------------------------- 6. axe


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_reading_screens_have_no_axe_violations(
    site: SiteServer,
    reading_facilitator: Account,
    person: PersonFactory,
    axe_source: str,
    scenario: str,
):
    options = SCENARIOS[scenario]
    author_alias, reader_alias = unique("kit_"), unique("sam_")
    circle = make_circle(site, reading_facilitator, author_alias, reader_alias)
    post_warned(site, circle.members[author_alias], circle.room_id, RECOVERY)
    found: list[str] = []
    checked: list[str] = []

    reader = person(scenario, circle.members[reader_alias], **options)
    page = reader.page

    def check(label: str) -> None:
        page.wait_for_load_state("load")
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is (
            options["color_scheme"] == "dark"
        )
        # Nothing runs off the side of a phone.
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"{label} [{scenario}] scrolls sideways"
        violations = axe_violations(page, axe_source)
        checked.append(label)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}] {page.url}", violations))

    # The room: someone's message collapsed, and the prompt on one's own message, together.
    reader.open_room(circle.slug)
    collapsed = page.locator("#messages li.msg.warned")
    collapsed.wait_for(state="visible")
    press_send(page, THERAPY)
    wait_for_prompt(page)
    assert collapsed.get_by_role("button", name="Show message").is_visible()
    check("room: collapsed message and the prompt")

    # The Reading filters page, as it opens and after saving "Hide".
    reader.goto("/settings/filters")
    check("reading filters")
    page.get_by_role("group", name="Self-harm", exact=True).get_by_role(
        "radio", name="Hide"
    ).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save filters").click()
    page.get_by_role("status").wait_for()
    check("reading filters, saved")

    # And the room again, where the warned message is now a placeholder.
    reader.open_room(circle.slug)
    page.locator("#messages li.msg.placeholder").wait_for(state="visible")
    check("room: hidden by your filters")

    assert len(checked) == 4, checked
    assert not found, "\n\n".join(found)
