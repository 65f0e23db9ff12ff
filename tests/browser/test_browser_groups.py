"""Groups in the browser: the directory (cards, sorting, filtering by topic), joining with
the ground rules, and members re-accepting the rules after a facilitator edits them."""

from __future__ import annotations

import re
import uuid

import pytest
from browserkit import (
    PersonFactory,
    SiteServer,
    message_bodies,
    unique,
    wait_for_message,
    wait_online,
)

pytestmark = pytest.mark.browser


def _my_titles(page, names: set[str]) -> list[str]:
    titles = page.locator("ul.cards > li.group-card .card-title").all_text_contents()
    return [t.strip() for t in titles if t.strip() in names]


def _card(page, name: str):
    return page.locator("ul.cards > li.group-card").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


def test_directory_cards_sort_and_filter(site: SiteServer, person: PersonFactory):
    run = uuid.uuid4().hex[:6]
    topic = f"t{run}"
    # Created in this order, so "newest" and "name" order them differently.
    zinnia = site.create_group(
        f"Zinnia {run}", "Evenings for night-shift workers.", [topic, "sleep"]
    )
    aster = site.create_group(f"Aster {run}", "Students finding their feet.", ["students"])
    maple = site.create_group(
        f"Maple {run}", "Parents of small children, gently.", [topic, "parents"]
    )
    site.join_api(site.signup_api(), maple)
    names = {g["name"] for g in (zinnia, aster, maple)}
    api_counts = {
        g["name"]: g["member_count"]
        for g in site.api.get("/api/v1/groups").json()["groups"]
        if g["name"] in names
    }
    assert api_counts[maple["name"]] == api_counts[aster["name"]] + 1

    visitor = person("visitor")
    page = visitor.page
    visitor.goto("/groups")

    # Each card: name (linking to the group), description, topic tags, member count.
    for g, tags in ((zinnia, [topic, "sleep"]), (aster, ["students"]), (maple, [topic, "parents"])):
        card = _card(page, g["name"])
        assert card.count() == 1, g["name"]
        assert card.get_by_role("link", name=g["name"]).get_attribute("href") == f"/g/{g['slug']}"
        assert g["description"] in card.locator(".card-text").inner_text()
        assert sorted(card.locator("a.tag").all_text_contents()) == sorted(tags)
        n = api_counts[g["name"]]
        assert re.search(rf"\b{n} members?\b", card.locator(".meta").inner_text()), (
            card.inner_text()
        )

    # Sorting: newest first, then by name; the order changes.
    page.get_by_label("Sort by").select_option("new")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"sort=new"))
    newest = _my_titles(page, names)
    assert newest == [maple["name"], aster["name"], zinnia["name"]], newest

    page.get_by_label("Sort by").select_option("name")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"sort=name"))
    by_name = _my_titles(page, names)
    assert by_name == [aster["name"], maple["name"], zinnia["name"]], by_name
    assert by_name != newest
    every = [t.strip() for t in page.locator(".card-title").all_text_contents()]
    assert every == sorted(every, key=str.casefold), every

    # Filtering by a topic shows only the groups with that tag.
    page.get_by_label("Topic", exact=True).select_option(topic)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(rf"tag={topic}"))
    shown = sorted(t.strip() for t in page.locator(".card-title").all_text_contents())
    assert shown == sorted([zinnia["name"], maple["name"]]), shown
    assert "2 groups" in page.get_by_role("status").inner_text()
    # The sort chosen stays chosen while filtering.
    assert page.get_by_label("Sort by").input_value() == "name"

    # A tag on a card is a link to the same filter.
    visitor.goto("/groups")
    _card(page, aster["name"]).get_by_role("link", name="students").click()
    page.wait_for_url(re.compile(r"tag=students"))
    shown = [t.strip() for t in page.locator(".card-title").all_text_contents()]
    assert aster["name"] in shown and zinnia["name"] not in shown and maple["name"] not in shown


def test_join_requires_accepting_the_rules(site: SiteServer, person: PersonFactory):
    group = site.create_group(description="For anyone living with tinnitus.")
    member = site.signup_api()
    alias = unique("otter_")
    me = person("member", member)
    page = me.page
    me.goto(f"/g/{group['slug']}")

    # The group page: description and the six default ground rules, before joining.
    assert group["description"] in page.locator("main").inner_text()
    rules = page.locator("#join ol.rules > li").all_text_contents()
    assert rules == group["rules"] and len(rules) == 6, rules
    assert page.get_by_label("Your name in this group").get_attribute("placeholder") == (
        member.username
    )

    def not_a_member() -> None:
        mine = site.api.get("/api/v1/me/groups", headers=member.headers).json()
        assert group["slug"] not in str(mine), mine

    # Without ticking the box, "Join" doesn't join: the browser holds the form back.
    page.get_by_label("Your name in this group").fill(alias)
    box = page.get_by_label(re.compile("I have read these ground rules"))
    assert box.get_attribute("required") is not None
    page.get_by_role("button", name="Join this group").click()
    assert page.url.endswith(f"/g/{group['slug']}")
    assert box.evaluate("el => el.validity.valueMissing") is True
    not_a_member()

    # Without the browser's check (an old browser, a script), the server refuses too.
    box.evaluate("el => el.removeAttribute('required')")
    page.get_by_role("button", name="Join this group").click()
    page.wait_for_url(re.compile(r"error=accept"))
    assert "tick the box" in page.get_by_role("alert").inner_text()
    not_a_member()

    # Ticking and joining lands in the room, under the chosen alias.
    page.get_by_label("Your name in this group").fill(alias)
    page.get_by_label(re.compile("I have read these ground rules")).check()
    page.get_by_role("button", name="Join this group").click()
    page.wait_for_url(re.compile(rf"/g/{group['slug']}/room$"))
    wait_online(page)
    assert page.locator(".room-head").get_by_text(alias, exact=True).is_visible()
    assert member.username not in page.locator(".room-head").inner_text()

    # Their message appears under the alias, never the pseudonym.
    page.get_by_label(re.compile("Message to")).fill("Hello, I'm new here.")
    page.get_by_role("button", name="Send").click()
    wait_for_message(page, "Hello, I'm new here.")
    own = page.locator("#messages li.msg.own").last
    assert own.locator(".alias").inner_text() == alias

    # And the group page now knows them.
    me.goto(f"/g/{group['slug']}")
    assert page.get_by_role("link", name="Go to the room").is_visible()
    assert page.locator("#alias strong").first.inner_text() == alias


def test_rules_change_blocks_posting_until_accepted(site: SiteServer, person: PersonFactory):
    group = site.create_group()
    member = site.signup_api()
    site.join_api(member, group)
    room = person("member", member)
    room.open_room(group["slug"])
    page = room.page
    banner = page.locator("#rules-banner")
    assert banner.is_hidden()

    # The facilitator edits the ground rules in the browser.
    facilitator = person("facilitator", site.facilitator)
    fpage = facilitator.page
    facilitator.goto(f"/g/{group['slug']}")
    fpage.get_by_role("link", name="Edit the ground rules").click()
    fpage.wait_for_url(re.compile(rf"/g/{group['slug']}/rules/edit$"))
    new_rule = "Use a content note before describing anything graphic."
    editor = fpage.get_by_label("Ground rules")
    editor.fill(editor.input_value() + "\n" + new_rule)
    fpage.get_by_role("button", name="Publish the new version").click()
    fpage.wait_for_url(re.compile(rf"/g/{group['slug']}$"))
    assert "(version 2)" in fpage.locator("#rules-title").inner_text()
    assert fpage.locator("#join ol.rules > li").last.inner_text() == new_rule

    # The member's open room says so, without a reload.
    banner.wait_for(state="visible")
    assert "ground rules of this group have changed" in banner.inner_text()

    # Posting fails, and what they wrote is not lost: it goes back into the composer.
    words = "Is anyone around tonight? It has been a long week."
    composer = page.get_by_label(re.compile("Message to"))
    composer.fill(words)
    page.get_by_role("button", name="Send").click()
    error = page.locator("#composer-error")
    error.wait_for(state="visible")
    assert "couldn't be sent" in error.inner_text()
    assert composer.input_value() == words
    assert page.locator("#messages li.pending").count() == 0
    assert words not in message_bodies(page)
    assert not any(m["body"] == words for m in site.history_api(site.facilitator, group["room_id"]))

    # Reading and accepting the new version on the group page lets them post again.
    banner.get_by_role("link", name="Read and accept them").click()
    page.wait_for_url(re.compile(rf"/g/{group['slug']}#join$"))
    assert "updated these ground rules" in page.locator("#join").inner_text()
    assert new_rule in page.locator("#join ol.rules").inner_text()
    page.get_by_label(re.compile("I have read these ground rules")).check()
    page.get_by_role("button", name="Accept and continue").click()
    page.wait_for_url(re.compile(rf"/g/{group['slug']}/room$"))
    wait_online(page)
    assert page.locator("#rules-banner").is_hidden()
    page.get_by_label(re.compile("Message to")).fill(words)
    page.get_by_role("button", name="Send").click()
    wait_for_message(page, words)
    assert page.locator("#messages li.pending").count() == 0
    assert (
        sum(m["body"] == words for m in site.history_api(site.facilitator, group["room_id"])) == 1
    )
