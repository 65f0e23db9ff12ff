"""Help, always one tap away: the "I need support now" control and its panel on every page,
crisis lines for the person's region, the no-JavaScript help page, quick exit (a click, or
Escape three times) that Back can't undo, and the calm /break page.

Quick exit goes to the operator's neutral page (SAFESPACE_QUICK_EXIT_URL): here a tiny
page served on loopback by this module, at the address the site server was started with."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from browserkit import (
    DESKTOP,
    PHONE,
    SCENARIOS,
    Account,
    Person,
    PersonFactory,
    SiteServer,
    axe_violations,
    describe_violations,
    wait_online,
)

pytestmark = pytest.mark.browser

SIZES = {"phone": PHONE, "desktop": DESKTOP}
NEUTRAL_TITLE = "Weather forecast"
NEUTRAL_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
    + NEUTRAL_TITLE
    + "</title></head><body><h1>Weather</h1><p>Light cloud, 14 degrees.</p></body></html>"
).encode()


class _Neutral(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(NEUTRAL_PAGE)))
        self.end_headers()
        self.wfile.write(NEUTRAL_PAGE)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def neutral(site: SiteServer) -> Iterator[str]:
    """The operator's neutral page, where the site server sends Quick exit."""
    server = ThreadingHTTPServer(("127.0.0.1", site.quick_exit_port), _Neutral)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site.quick_exit_url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def member_group(site: SiteServer) -> tuple[Account, dict[str, Any]]:
    group = site.create_group()
    member = site.signup_api()
    site.join_api(member, group)
    site.post_api(member, group["room_id"], "Hello, glad to be here tonight.")
    return member, group


def _in_viewport(page: Any, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} has no box on {page.url}"
    assert box["x"] >= 0 and box["y"] >= 0, (selector, box, page.url)
    assert box["x"] + box["width"] <= size["width"] + 0.5, (selector, box, page.url)
    assert box["y"] + box["height"] <= size["height"], (selector, box, page.url)


def _check_controls(page: Any) -> None:
    """Both controls visible, whole and on screen, the help bar not too wide for them, and
    they stay on screen when the page is scrolled to its end."""
    support = page.locator("#support-now")
    assert support.is_visible(), page.url
    assert support.inner_text().strip() == "I need support now"
    exit_link = page.locator("nav.helpbar [data-quick-exit]")
    assert exit_link.is_visible(), page.url
    assert exit_link.get_attribute("href")
    _in_viewport(page, "#support-now")
    _in_viewport(page, "nav.helpbar [data-quick-exit]")
    bar = page.locator("nav.helpbar .helpbar-inner")
    overflow = bar.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0, f"{page.url}: the help bar is {overflow}px too wide"
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    _in_viewport(page, "#support-now")
    _in_viewport(page, "nav.helpbar [data-quick-exit]")


def _open_panel(page: Any) -> Any:
    page.locator("#support-now").click()
    panel = page.locator("#support-panel")
    panel.wait_for(state="visible")
    assert page.evaluate("document.getElementById('support-panel').open")
    return panel


@pytest.mark.parametrize("size", list(SIZES))
def test_support_control_on_every_page(
    site: SiteServer,
    person: PersonFactory,
    member_group: tuple[Account, dict[str, Any]],
    size: str,
):
    member, group = member_group
    slug = group["slug"]
    visitor = person(size, viewport=SIZES[size])
    page = visitor.page
    for path in (
        "/",
        "/groups",
        f"/g/{slug}",
        "/faq",
        "/guidelines",
        "/signup",
        "/login",
        "/recover",
        "/no-such-page",
        "/support",
        "/break",
    ):
        visitor.goto(path)
        _check_controls(page)

    visitor.sign_in(member)
    for path in ("/", "/groups", f"/g/{slug}", "/settings", "/support"):
        visitor.goto(path)
        _check_controls(page)
    visitor.open_room(slug)
    _check_controls(page)

    # In the room the panel opens over the conversation, with this group's private line
    # and a break from it.
    panel = _open_panel(page)
    assert panel.locator(f"form[action='/g/{slug}/support-room']").count() == 1
    assert panel.locator(f"form[action='/g/{slug}/break'] select[name=minutes]").count() == 1
    for form in panel.locator("form[method=post]").all():
        assert form.locator("input[name=csrf_token]").get_attribute("value")
    panel.get_by_role("button", name="Close").click()
    panel.wait_for(state="hidden")


def test_keyboard_opens_the_panel_and_focus_stays_in_it(site: SiteServer, person: PersonFactory):
    visitor = person("keyboard", viewport=PHONE)
    page = visitor.page
    visitor.goto("/faq")

    # From the top of the page: skip link, then the support control.
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "support-now":
            break
    assert page.evaluate("document.activeElement.id") == "support-now"
    assert page.locator("#support-now").get_attribute("aria-haspopup") == "dialog"
    page.keyboard.press("Enter")
    page.locator("#support-panel").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "sp-title"
    assert page.get_by_role("dialog", name="Support, right now").is_visible()

    # Tab and Shift+Tab go round the panel, never behind it.
    inside = "document.getElementById('support-panel').contains(document.activeElement)"
    seen = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        assert page.evaluate(inside), page.evaluate("document.activeElement.outerHTML")
        seen.add(page.evaluate("document.activeElement.textContent.trim().slice(0, 40)"))
    assert "Close" in seen and "Quick exit" in seen, seen
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside), page.evaluate("document.activeElement.outerHTML")

    # Escape closes it, and focus goes back to the control that opened it.
    page.keyboard.press("Escape")
    page.locator("#support-panel").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "support-now"
    time.sleep(1.6)  # the Escape above must not count towards a quick exit below

    # The Close button does the same.
    page.keyboard.press("Enter")
    page.locator("#support-panel").wait_for(state="visible")
    page.locator("#support-panel").get_by_role("button", name="Close").focus()
    page.keyboard.press("Enter")
    page.locator("#support-panel").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "support-now"
    assert page.url.endswith("/faq")


def _lines_text(scope: Any) -> str:
    return " ".join(scope.locator("[data-lines]").all_inner_texts())


def test_panel_regions_follow_the_browser_and_a_choice(site: SiteServer, person: PersonFactory):
    british = person("en-GB", locale="en-GB")
    page = british.page
    british.goto("/")
    panel = _open_panel(page)
    assert "Samaritans" in _lines_text(panel) and "116 123" in _lines_text(panel)
    assert panel.locator("a[href='tel:116123']").is_visible()
    assert panel.locator("a[href^='sms:85258']").is_visible()
    assert panel.locator(".danger-note a[href='tel:999']").is_visible()
    assert panel.get_by_label("Showing lines for").input_value() == "GB"

    # Another region: the lines, the emergency number and the links change at once.
    panel.get_by_label("Showing lines for").select_option("US")
    panel.locator("[data-lines][data-region='US']").wait_for()
    text = _lines_text(panel)
    assert "988" in text and "Samaritans" not in text, text
    assert panel.locator("a[href='tel:988']").is_visible()
    assert panel.locator("a[href='sms:988']").is_visible()
    assert panel.locator(".danger-note a[href='tel:911']").is_visible()
    assert "United States" in (panel.locator("[data-region-status]").text_content() or "")
    panel.get_by_label("Showing lines for").select_option("INT")
    panel.locator("[data-lines][data-region='INT']").wait_for()
    assert "findahelpline.com" in _lines_text(panel)
    assert "your local emergency number" in panel.locator(".danger-note").inner_text()
    panel.get_by_label("Showing lines for").select_option("AU")
    panel.locator("[data-lines][data-region='AU']").wait_for()
    assert panel.locator("a[href='tel:131114']").is_visible()
    assert panel.locator("a[href='sms:0477131114']").is_visible()

    # Remembered on this device (no cookie): the next page, and the full help page, agree.
    british.goto("/groups")
    assert page.locator("#support-now").get_attribute("href") == "/support?region=AU"
    panel = _open_panel(page)
    assert "13 11 14" in _lines_text(panel)
    panel.get_by_role("link", name="Open all of this as a page").click()
    page.wait_for_url(re.compile(r"/support\?region=AU"))
    assert "13 11 14" in _lines_text(page.locator("main"))
    assert not any(c["name"].lower().endswith("region") for c in british.context.cookies())

    american = person("en-US", locale="en-US")
    american.goto("/guidelines")
    panel = _open_panel(american.page)
    assert "988 Suicide & Crisis Lifeline" in _lines_text(panel)
    assert panel.locator(".danger-note a[href='tel:911']").is_visible()

    canadian = person("fr-CA", locale="fr-CA")
    canadian.goto("/support")
    assert "9-8-8" in _lines_text(canadian.page.locator("main"))


def test_support_page_without_javascript(
    site: SiteServer, person: PersonFactory, member_group: tuple[Account, dict[str, Any]]
):
    member, group = member_group
    reader = person("no-js", java_script_enabled=False, locale="en-GB", viewport=PHONE)
    page = reader.page
    reader.goto("/")
    # Without JavaScript the control is a plain link to the help page.
    page.locator("#support-now").click()
    page.wait_for_url(re.compile(r"/support$"))
    main = page.locator("main")
    assert "You don't have to go through this alone" in main.inner_text()
    assert main.locator("a[href='tel:116123']").count() == 1
    assert main.locator(".danger-note a[href='tel:999']").count() == 1
    for heading in (
        "Talk to someone now",
        "Talk to a facilitator privately",
        "Take a break",
        "Ground yourself: 5, 4, 3, 2, 1",
        "Finding professional care",
    ):
        assert page.get_by_role("heading", name=heading).count() == 1, heading
    assert main.locator("ol.grounding li").count() == 5
    assert re.search(r"doesn't replace professional care", main.inner_text())

    # The region picker is an ordinary form.
    page.get_by_label("Showing lines for").select_option("AU")
    page.get_by_role("button", name="Use this region").click()
    page.wait_for_url(re.compile(r"/support\?region=AU"))
    assert main.locator("a[href='tel:131114']").count() == 1
    assert main.locator(".danger-note a[href='tel:000']").count() == 1
    assert page.locator("#support-panel").count() == 0

    # Signed in: a private line to the facilitators and a break, per group, as forms.
    reader.sign_in(member)
    reader.goto("/support")
    slug = group["slug"]
    talk = main.locator(f"form[method=post][action='/g/{slug}/support-room']")
    assert talk.count() == 1
    assert talk.locator("input[name=csrf_token]").get_attribute("value")
    pause = main.locator(f"form[method=post][action='/g/{slug}/break']")
    assert pause.count() == 1
    options = pause.locator("select[name=minutes] option").evaluate_all(
        "os => os.map(o => o.value)"
    )
    assert options == ["15", "30", "60", "120", "240"]

    reader.goto("/break")
    assert page.get_by_role("heading", name="Take a breath").is_visible()
    assert page.locator("main ol.breath-steps li").count() == 3


def _expect_neutral(page: Any, neutral: str) -> None:
    page.wait_for_url(neutral)
    page.wait_for_load_state("load")
    assert page.title() == NEUTRAL_TITLE
    assert "SafeSpace" not in page.content()


def _back_stays_neutral(page: Any, neutral: str, times: int = 2) -> None:
    for _ in range(times):
        page.go_back()
        # Our page, if Back reached one, sends the tab straight on.
        page.wait_for_url(neutral)
        page.wait_for_load_state("load")
        assert page.url == neutral, page.url
        assert page.title() == NEUTRAL_TITLE


def test_quick_exit_button_and_back(
    site: SiteServer,
    person: PersonFactory,
    neutral: str,
    member_group: tuple[Account, dict[str, Any]],
):
    member, group = member_group
    visitor: Person = person("exit", viewport=PHONE)
    page = visitor.page
    visitor.sign_in(member)
    visitor.goto("/faq")
    visitor.open_room(group["slug"])
    page.locator("nav.helpbar [data-quick-exit]").click()
    _expect_neutral(page, neutral)
    _back_stays_neutral(page, neutral)

    # From inside the open panel too.
    other = person("exit-panel")
    other.goto("/")
    other.goto("/groups")
    panel = _open_panel(other.page)
    panel.get_by_role("link", name="Quick exit").click()
    _expect_neutral(other.page, neutral)
    _back_stays_neutral(other.page, neutral, times=1)


def test_quick_exit_with_escape_three_times(site: SiteServer, person: PersonFactory, neutral: str):
    visitor = person("escape")
    page = visitor.page
    visitor.goto("/")
    visitor.goto("/faq")

    # Twice, then a pause: nothing happens (one Escape closes things, it mustn't surprise).
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    time.sleep(1.7)
    page.keyboard.press("Escape")
    time.sleep(0.3)
    assert page.url.endswith("/faq")

    visitor.goto("/guidelines")
    page.locator("main").click(position={"x": 5, "y": 5})
    for _ in range(3):
        page.keyboard.press("Escape")
    _expect_neutral(page, neutral)
    _back_stays_neutral(page, neutral, times=2)

    # Coming back on purpose works as usual, Back included, in the same tab.
    visitor.goto("/")
    assert "SafeSpace" in page.title()
    visitor.goto("/faq")
    page.go_back()
    page.wait_for_load_state("load")
    assert page.url == site.url + "/"
    assert "SafeSpace" in page.title()

    # With the panel open: the first Escape closes it, three in a row leave.
    _open_panel(page)
    for _ in range(3):
        page.keyboard.press("Escape")
    _expect_neutral(page, neutral)


def test_break_page_honours_reduced_motion(site: SiteServer, person: PersonFactory):
    running = "document.getAnimations().filter(a => a.playState === 'running').length"

    moving = person("motion")
    moving.goto("/break")
    assert moving.page.evaluate(running) > 0
    assert moving.page.locator(".cue-in").is_visible()

    still = person("still", reduced_motion="reduce", viewport=PHONE)
    still.goto("/break")
    still.page.wait_for_load_state("load")
    assert still.page.evaluate(running) == 0
    assert still.page.locator(".cue-still").is_visible()
    assert not still.page.locator(".cue-in").is_visible()
    steps = still.page.locator("main ol.breath-steps").inner_text()
    assert "count of 4" in steps and "count of 6" in steps
    assert "circle" not in steps  # no talk of movement that isn't there


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_axe_violations_on_help(
    site: SiteServer,
    person: PersonFactory,
    axe_source: str,
    member_group: tuple[Account, dict[str, Any]],
    scenario: str,
):
    member, group = member_group
    options = SCENARIOS[scenario]
    visitor = person(scenario, locale="en-GB", **options)
    page = visitor.page
    found: list[str] = []

    def check(label: str) -> None:
        page.wait_for_load_state("load")
        violations = axe_violations(page, axe_source)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}] {page.url}", violations))

    visitor.goto("/support")
    check("/support")
    visitor.goto("/break")
    check("/break")
    visitor.goto("/")
    _open_panel(page)
    check("panel on /")
    page.locator("#support-panel summary").click()
    check("panel with the grounding steps open")

    visitor.sign_in(member)
    visitor.goto("/support")
    check("/support signed in")
    visitor.goto(f"/break?group={group['slug']}")
    check("/break after a break from a group")
    visitor.goto(f"/g/{group['slug']}/room")
    wait_online(page)
    _open_panel(page)
    check("panel in the room")

    assert not found, "\n\n".join(found)
