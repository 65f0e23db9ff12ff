"""axe-core (WCAG 2.0/2.1 A and AA, plus best practices) finds nothing on any page, on a
phone and on a desktop, in light and in dark colour schemes.

axe runs inside the real page (evaluated through DevTools, so the site's strict CSP stays in
force) after each page has settled; every page of a scenario is checked before the test
fails, so one run lists everything that needs fixing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browserkit import (
    PASSWORD,
    SCENARIOS,
    PersonFactory,
    SiteServer,
    axe_violations,
    describe_violations,
    unique,
    wait_for_message,
    wait_online,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def busy_group(site: SiteServer) -> dict[str, Any]:
    """A group with tags and a conversation in its room, so cards, tags and messages
    (someone else's and one's own) are all on the pages axe looks at."""
    group = site.create_group(
        unique("Evening circle "),
        "A gentle group for winding down after a hard day.",
        ["sleep", "anxiety"],
    )
    others = [site.signup_api(), site.signup_api()]
    for other in others:
        site.join_api(other, group)
    site.post_api(others[0], group["room_id"], "Hello all. Today was a lot, but I'm here.")
    site.post_api(others[1], group["room_id"], "Glad you came. Take your time.\nNo rush at all.")
    return group


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_axe_violations(
    site: SiteServer,
    person: PersonFactory,
    axe_source: str,
    busy_group: dict[str, Any],
    scenario: str,
):
    options = SCENARIOS[scenario]
    visitor = person(scenario, **options)
    page = visitor.page
    slug = busy_group["slug"]
    found: list[str] = []
    checked: list[str] = []

    def check(label: str) -> None:
        page.wait_for_load_state("load")
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is (
            options["color_scheme"] == "dark"
        )
        violations = axe_violations(page, axe_source)
        checked.append(label)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}] {page.url}", violations))

    # Signed out.
    for path in (
        "/",
        "/groups",
        "/groups?sort=name&tag=sleep",
        f"/g/{slug}",
        "/faq",
        "/guidelines",
        "/signup",
        "/login",
        "/recover",
    ):
        visitor.goto(path)
        check(path)

    # Signing up: the recovery codes page.
    visitor.goto("/signup")
    page.fill("#username", unique("axe_"))
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.get_by_role("heading", name=re.compile("recovery codes")).wait_for()
    check("recovery codes")

    # Signed in, not yet a member: the join form (and its error).
    visitor.goto(f"/g/{slug}")
    check("group page with the join form")
    visitor.goto(f"/g/{slug}?error=accept#join")
    check("group page with an error")
    page.get_by_label(re.compile("I have read these ground rules")).check()
    page.get_by_role("button", name="Join this group").click()
    page.wait_for_url(re.compile(r"/room$"))

    # The room, live, with one's own message too.
    wait_online(page)
    page.get_by_label(re.compile("Message to")).fill("Thank you, it helps to be here.")
    page.get_by_role("button", name="Send").click()
    wait_for_message(page, "Thank you, it helps to be here.")
    check("room")
    visitor.goto(f"/g/{slug}")
    check("group page as a member")
    visitor.goto("/groups")
    check("/groups with your groups")
    visitor.goto("/settings")
    check("/settings")
    visitor.goto("/")
    check("/ signed in")

    assert not found, (
        f"axe-core found violations on {len(found)} of {len(checked)} pages:\n\n"
        + "\n\n".join(found)
    )
