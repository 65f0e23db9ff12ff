"""What people read before joining (the FAQ and the ground rules), the home page, and the
privacy promise that the browser talks to nobody but this server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browserkit import PersonFactory, SiteServer, wait_for_message

pytestmark = pytest.mark.browser

# Every question of the seed's FAQ, by topic: each must be a heading of its own, answered.
FAQ_TOPICS = {
    "what a safe-space group is": r"what is a safe[- ]space",
    "who can join": r"who can join",
    "what to expect": r"what (can|should) i expect",
    "confidentiality": r"confidential|kept private|private\?",
    "guidelines": r"guidelines|ground rules",
    "replacing therapy": r"replace (professional )?(therapy|counsel)",
    "overwhelmed": r"overwhelmed",
    "contributing positively": r"contribute|good member",
    "sensitive topics": r"sensitive|difficult",
    "bringing a friend or family member": r"friend or (a )?family member",
}
NOT_A_REPLACEMENT = re.compile(
    r"(does not|doesn't|do not|don't|not meant to|is not|isn't|not)\s+(replace|a replacement for"
    r"|a substitute for|the same as)[^.]*professional",
    re.IGNORECASE,
)


def test_faq_answers_every_seed_question(site: SiteServer, person: PersonFactory):
    reader = person("reader")
    page = reader.page
    reader.goto("/")
    page.locator("main").get_by_role("link", name=re.compile("Questions people ask")).click()
    page.wait_for_url(re.compile(r"/faq$"))

    headings = page.locator("main .faq-item > h2")
    questions = [h.strip() for h in headings.all_text_contents()]
    used: dict[str, str] = {}
    for topic, pattern in FAQ_TOPICS.items():
        matching = [
            q for q in questions if re.search(pattern, q, re.IGNORECASE) and q not in used.values()
        ]
        assert matching, f"no FAQ heading about {topic!r} in {questions}"
        used[topic] = matching[0]
    for topic, question in used.items():
        item = page.locator("main .faq-item").filter(
            has=page.get_by_role("heading", name=question, exact=True)
        )
        answer = " ".join(item.locator("p, li").all_text_contents())
        assert len(answer) > 60, f"the FAQ's answer about {topic!r} is missing: {answer!r}"
        # The table of contents links to it.
        anchor = item.get_attribute("id")
        assert page.locator(f"main nav.toc a[href='#{anchor}']").count() == 1, topic

    therapy = page.locator("main .faq-item").filter(
        has=page.get_by_role("heading", name=used["replacing therapy"], exact=True)
    )
    assert NOT_A_REPLACEMENT.search(therapy.inner_text()), therapy.inner_text()
    guidelines = page.locator("main .faq-item").filter(
        has=page.get_by_role("heading", name=used["guidelines"], exact=True)
    )
    assert guidelines.locator("li").count() == 6, guidelines.inner_text()


def test_guidelines_page(site: SiteServer, person: PersonFactory):
    reader = person("reader")
    page = reader.page
    reader.goto("/")
    page.locator("main").get_by_role("link", name=re.compile("ground rules")).first.click()
    page.wait_for_url(re.compile(r"/guidelines$"))
    main = page.locator("main")

    rules = main.locator("h2#rules + ol > li")
    ways = main.locator("h2#contribute + ol > li")
    assert rules.count() == 6, rules.all_inner_texts()
    assert ways.count() == 6, ways.all_inner_texts()
    for item in [*rules.all(), *ways.all()]:
        assert len(item.inner_text().strip()) > 20, item.inner_text()
    rules_text = " ".join(rules.all_inner_texts()).lower()
    for idea in ("respect", "judg", "group", "care", "advice", "limits"):
        assert idea in rules_text, (idea, rules_text)
    ways_text = " ".join(ways.all_inner_texts()).lower()
    for idea in ("listen", "share", "lift", "judgement", "helped", "rules"):
        assert idea in ways_text, (idea, ways_text)

    # Said in the page itself, not only in the footer.
    assert NOT_A_REPLACEMENT.search(main.inner_text()), main.inner_text()


def test_home_page(site: SiteServer, person: PersonFactory):
    group = site.create_group()
    visitor = person("visitor")
    page = visitor.page
    visitor.goto("/")
    main = page.locator("main")
    text = main.inner_text()
    assert page.get_by_role("heading", level=1).inner_text().strip()
    assert re.search(r"privacy", text, re.IGNORECASE) and re.search(
        r"confidential", text, re.IGNORECASE
    )
    trending = main.locator("section").filter(
        has=page.get_by_role("heading", name="Trending groups")
    )
    assert trending.locator("li.group-card").count() >= 1
    assert trending.locator("li.group-card").count() <= 6
    assert main.get_by_role("link", name=re.compile("ground rules")).count() >= 1
    assert main.locator("a[href='/faq']").count() >= 1
    assert NOT_A_REPLACEMENT.search(text), text
    main.get_by_role("link", name="See every group").click()
    page.wait_for_url(re.compile(r"/groups$"))
    assert page.get_by_role("link", name=group["name"], exact=True).count() == 1


def test_no_request_leaves_our_origin(site: SiteServer, person: PersonFactory):
    group = site.create_group(tags=["privacy"])
    member = site.signup_api()
    site.join_api(member, group)
    site.post_api(member, group["room_id"], "Checking in from the quiet corner.")

    visitor = person("visitor")
    requests: list[str] = []
    sockets: list[str] = []

    def watch(page: Any) -> None:
        page.on("request", lambda r: requests.append(r.url))
        page.on("websocket", lambda ws: sockets.append(ws.url))

    visitor.context.on("page", watch)
    watch(visitor.page)
    page = visitor.page
    for path in (
        "/",
        "/groups",
        "/groups?tag=privacy",
        f"/g/{group['slug']}",
        "/faq",
        "/guidelines",
        "/signup",
        "/login",
    ):
        visitor.goto(path)
        page.wait_for_load_state("networkidle")
    visitor.sign_in(member)
    visitor.open_room(group["slug"])
    page.get_by_label(re.compile("Message to")).fill("Does anything leave this page?")
    page.get_by_role("button", name="Send").click()
    wait_for_message(page, "Does anything leave this page?")
    visitor.goto("/settings")
    page.wait_for_load_state("networkidle")

    assert requests, "nothing was recorded"
    assert any(u.startswith(site.url + "/static/") for u in requests), requests
    foreign = [u for u in requests if not (u == site.url or u.startswith(site.url + "/"))]
    assert not foreign, f"requests left {site.url}: {foreign}"
    ws_origin = site.url.replace("http://", "ws://", 1) + "/"
    assert sockets, "the room opened no websocket"
    assert all(u.startswith(ws_origin) for u in sockets), sockets
