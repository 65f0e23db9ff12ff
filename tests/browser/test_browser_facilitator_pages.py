"""The pages a group is run from, in real browsers: its settings (with a join request and
a refused form), its sessions, its log (facilitators' full record and members' public
part), the queue page with a join request, and a member's own "Facilitators' decisions
about you", each checked with axe-core at 360 px and desktop width, light and dark, with
nothing running off the side of a phone. Then the break reminder on the queue page, with
Playwright's fake clock: nothing before the stretch is up, a gentle status (never an alert)
after it, the same start kept across a reload, and "Not now" starting a new stretch.

Each test makes its own facilitator (`safespace users create`) and group; members, the
join request, the session and the sanctions are made through the JSON API.
Set FACILITATOR_SHOTS=/some/dir to also save a screenshot of every page the axe test checks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browserkit import (
    PHONE,
    SCENARIOS,
    Account,
    Circle,
    PersonFactory,
    SiteServer,
    axe_violations,
    describe_violations,
    make_circle,
    unique,
)

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("FACILITATOR_SHOTS", "")


def shoot(page: Any, name: str) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@dataclass
class Scene:
    circle: Circle
    muted: Account  # a member with a mute and a hidden message, with reasons


def api(site: SiteServer, who: Account, method: str, path: str, body: Any = None) -> Any:
    r = site.api.request(method, path, json=body, headers=who.headers)
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json() if r.content else None


def set_the_scene(site: SiteServer) -> Scene:
    """A group with a co-facilitator, a weekly session, a hidden message and a mute (with
    their reasons), and someone waiting to join."""
    fac = site.create_user_cli("facilitator")
    circle = make_circle(site, fac, unique("kit_"), unique("sam_"), unique("ash_"))
    kit, sam, ash = circle.members
    slug = circle.slug
    api(site, fac, "PUT", f"/api/v1/groups/{slug}/facilitators/{ash}")
    start = datetime.now(UTC) + timedelta(days=3)
    api(
        site,
        fac,
        "POST",
        f"/api/v1/groups/{slug}/sessions",
        {
            "title": "Evening circle",
            "start": start.strftime("%Y-%m-%dT19:00"),
            "minutes": 60,
            "timezone": "Europe/London",
            "weekly": True,
        },
    )
    message = site.post_api(circle.members[sam], circle.room_id, "Nobody asked you, Kit.")
    for body in (
        {
            "kind": "hide",
            "room_id": circle.room_id,
            "seq": message["seq"],
            "rule": 1,
            "reason": "That was unkind to Kit.",
        },
        {"kind": "mute", "alias": sam, "rule": 1, "minutes": 60, "reason": "A pause to cool off."},
    ):
        api(site, fac, "POST", f"/api/v1/groups/{slug}/sanctions", body)
    api(site, fac, "PATCH", f"/api/v1/groups/{slug}/settings", {"join_policy": "approval"})
    newcomer = site.signup_api()
    version = site.api.get(f"/api/v1/groups/{slug}").json()["group"]["rules_version"]
    r = site.api.post(
        f"/api/v1/groups/{slug}/join",
        json={"accept_rules_version": version, "alias": unique("new_")},
        headers=newcomer.headers,
    )
    assert r.status_code == 202, r.text
    return Scene(circle, circle.members[sam])


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_facilitator_pages_have_no_axe_violations(
    site: SiteServer, person: PersonFactory, axe_source: str, scenario: str
) -> None:
    options = SCENARIOS[scenario]
    scene = set_the_scene(site)
    slug = scene.circle.slug
    found: list[str] = []
    checked: list[str] = []

    def check(page: Any, label: str) -> None:
        page.wait_for_load_state("load")
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is (
            options["color_scheme"] == "dark"
        )
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"{label} [{scenario}] scrolls sideways"
        shoot(page, f"{scenario}-{label}")
        violations = axe_violations(page, axe_source)
        checked.append(label)
        if violations:
            found.append(describe_violations(f"{label} [{scenario}] {page.url}", violations))

    fac = person(f"facilitator {scenario}", scene.circle.facilitator, **options)
    page = fac.page
    fac.goto(f"/g/{slug}/settings")
    page.get_by_role("heading", name="Waiting to join").wait_for()
    check(page, "settings")
    # A refused form: the message, the field marked, what was typed kept.
    page.fill("#tags", "not a tag!")
    with page.expect_navigation():
        page.get_by_role("button", name="Save settings").click()
    page.get_by_role("alert").wait_for()
    assert page.input_value("#tags") == "not a tag!"
    check(page, "settings-refused")

    fac.goto(f"/g/{slug}/sessions")
    page.get_by_role("heading", name="Evening circle").wait_for()
    page.get_by_text("Cancel this session").first.click()  # open the confirmation
    check(page, "sessions-facilitator")

    fac.goto(f"/g/{slug}/log")
    page.get_by_role("heading", name="In force now").wait_for()
    check(page, "log-full")

    fac.goto("/facilitate")
    page.get_by_role("heading", name="Waiting to join").wait_for()
    check(page, "facilitate")

    fac.goto(f"/g/{slug}")
    page.get_by_role("navigation", name="This group").wait_for()
    check(page, "group-page")

    member = person(f"member {scenario}", scene.muted, **options)
    mp = member.page
    member.goto("/settings/sanctions")
    mp.get_by_role("heading", name="A facilitator paused your posting").wait_for()
    check(mp, "my-sanctions")
    member.goto(f"/g/{slug}/log")
    mp.get_by_text("A message was removed for breaking ground rule 1.").wait_for()
    check(mp, "log-public")
    member.goto(f"/g/{slug}/sessions")
    mp.get_by_role("link", name=re.compile(r"^Add to calendar\W+Evening circle$")).wait_for()
    check(mp, "sessions-member")

    assert len(checked) == 9, checked
    assert not found, "\n\n".join(found)


def test_the_settings_form_works_by_keyboard_alone(site: SiteServer, person: PersonFactory) -> None:
    """Tab to a choice, pick it with the keyboard, and save with Enter: no mouse."""
    fac_account = site.create_user_cli("facilitator")
    circle = make_circle(site, fac_account)
    fac = person("facilitator", fac_account, viewport=PHONE)
    page = fac.page
    fac.goto(f"/g/{circle.slug}/settings")
    page.focus("#listed-yes")
    page.keyboard.press("ArrowDown")  # to "Unlisted"
    assert page.is_checked("#listed-no")
    page.focus("#slow_mode_seconds")
    page.select_option("#slow_mode_seconds", "60")
    page.focus("#guests_allowed")
    page.keyboard.press("Space")
    page.focus("#tags")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("status").filter(has_text="Saved.").wait_for()
    group = site.api.get(f"/api/v1/groups/{circle.slug}").json()["group"]
    assert group["settings"]["listed"] is False
    assert group["settings"]["slow_mode_seconds"] == 60
    assert group["settings"]["guests_allowed"] is True


# --------------------------------------------------------------------------- break reminder

REMINDER = "Time for a breather?"


def minutes(n: int) -> int:
    return n * 60_000  # the fake clock counts in milliseconds


def reminder(page: Any) -> Any:
    return page.locator("#duty-reminder")


def test_the_break_reminder_comes_after_ninety_minutes_and_not_now_starts_again(
    site: SiteServer, person: PersonFactory, axe_source: str
) -> None:
    fac_account = site.create_user_cli("facilitator")
    make_circle(site, fac_account)
    fac = person("facilitator", fac_account, viewport=PHONE)
    page = fac.page
    page.clock.install()
    fac.goto("/facilitate")
    assert reminder(page).get_attribute("data-duty-minutes") == "90"
    page.clock.fast_forward(minutes(89))
    assert reminder(page).inner_text().strip() == ""

    page.clock.fast_forward(minutes(2))  # 91 minutes on duty
    reminder(page).get_by_role("heading", name=REMINDER).wait_for()
    # A polite status, never an alert that would cut into what a screen reader is saying.
    status = page.get_by_role("status").filter(has_text=REMINDER)
    assert status.count() == 1
    assert page.get_by_role("alert").filter(has_text=REMINDER).count() == 0
    assert reminder(page).get_by_role("link", name="take a break").get_attribute("href") == (
        "/break"
    )
    assert reminder(page).get_by_role("link", name="hand your items to a colleague").count() == 1
    shoot(page, "phone-light-facilitate-break-reminder")
    violations = axe_violations(page, axe_source)
    assert not violations, describe_violations("the break reminder", violations)

    # "Not now": gone, focus stays in the page, and a new stretch begins.
    button = reminder(page).get_by_role("button", name="Not now")
    button.focus()
    page.keyboard.press("Enter")
    assert reminder(page).inner_text().strip() == ""
    assert page.evaluate("document.activeElement.id") == "main"
    page.clock.fast_forward(minutes(89))
    assert reminder(page).inner_text().strip() == ""
    page.clock.fast_forward(minutes(2))
    reminder(page).get_by_role("heading", name=REMINDER).wait_for()


def test_reloading_the_queue_does_not_restart_the_stretch(
    site: SiteServer, person: PersonFactory
) -> None:
    fac_account = site.create_user_cli("facilitator")
    make_circle(site, fac_account)
    fac = person("facilitator", fac_account)
    page = fac.page
    page.clock.install()
    fac.goto("/facilitate")
    page.clock.fast_forward(minutes(60))
    page.reload()
    page.wait_for_load_state("load")
    assert reminder(page).inner_text().strip() == ""
    page.clock.fast_forward(minutes(31))  # 91 minutes since the tab first opened the queue
    reminder(page).get_by_role("heading", name=REMINDER).wait_for()

    # A new tab is a new stretch: sessionStorage belongs to the tab.
    other = fac.context.new_page()  # the context's fake clock runs here too
    other.goto(site.url + "/facilitate")
    other.clock.fast_forward(minutes(31))
    assert other.locator("#duty-reminder").inner_text().strip() == ""
    other.close()
