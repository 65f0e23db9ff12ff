"""The live room in real browsers: two people chatting, "sending" then confirmed, text that
is never HTML, reconnecting by itself after a server restart without losing or repeating
anything, and loading older messages."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from browserkit import (
    PersonFactory,
    SiteServer,
    message_bodies,
    message_seqs,
    unique,
    wait_for_message,
    wait_online,
)

pytestmark = pytest.mark.browser

WS_URL = re.compile(r"/api/v1/ws$")


class HeldSocket:
    """Sits between a page and the server's websocket (Playwright's route_web_socket):
    frames from the page go straight through; frames from the server can be held back and
    released later, in order. Used to keep a message visibly "sending" for a moment."""

    def __init__(self) -> None:
        self.hold = False
        self.queue: list[str | bytes] = []
        self.page_side: Any = None
        self._draining = False

    def route(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self.page_side = ws
        server.on_message(self._from_server)

    def _from_server(self, message: str | bytes) -> None:
        self.queue.append(message)
        self._flush()

    def _flush(self) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            while self.queue and not self.hold:
                self.page_side.send(self.queue.pop(0))
        finally:
            self._draining = False

    def release(self) -> None:
        self.hold = False
        self._flush()


def _send(page: Any, text: str) -> None:
    page.get_by_label(re.compile("Message to")).fill(text)
    page.get_by_role("button", name="Send").click()


def _count(page: Any, text: str) -> int:
    return message_bodies(page).count(text)


def _assert_in_order(page: Any) -> None:
    seqs = message_seqs(page)
    assert seqs == sorted(set(seqs)), f"messages out of order or repeated: {seqs}"


def test_two_people_chat_live(site: SiteServer, person: PersonFactory):
    group = site.create_group()
    alice, bob = site.signup_api(), site.signup_api()
    alias_a, alias_b = unique("wren_"), unique("heron_")
    site.join_api(alice, group, alias_a)
    site.join_api(bob, group, alias_b)

    a = person("A", alice)
    held = HeldSocket()
    a.page.route_web_socket(WS_URL, held.route)
    a.open_room(group["slug"])
    b = person("B", bob)
    b.open_room(group["slug"])
    b_requests: list[str] = []
    b.page.on("request", lambda r: b_requests.append(r.url))
    b.page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # A sends: the message shows at once as "Sending…", then confirmed.
    held.hold = True
    first = "Hi everyone, first time here."
    _send(a.page, first)
    pending = a.page.locator("#messages li.msg.pending")
    pending.wait_for(state="visible")
    assert pending.locator(".body").inner_text() == first
    assert pending.locator(".state").inner_text() == "Sending…"
    assert a.page.get_by_label(re.compile("Message to")).input_value() == ""
    # B sees it live, without reloading, under A's alias.
    wait_for_message(b.page, first)
    b_item = b.page.locator("#messages li.msg").filter(has_text=first)
    assert b_item.locator(".alias").inner_text() == alias_a
    assert b.page.evaluate("window.__sameDocument") is True

    held.release()
    wait_for_message(a.page, first)
    assert a.page.locator("#messages li.msg.pending").count() == 0
    mine = a.page.locator("#messages li.msg").filter(has_text=first)
    assert mine.count() == 1
    assert "own" in (mine.get_attribute("class") or "")
    assert mine.get_attribute("data-seq"), "a confirmed message carries its seq"
    assert mine.locator(".state").count() == 0
    assert mine.locator(".alias").inner_text() == alias_a

    # B replies and A sees it.
    reply = "Welcome! Glad you found us."
    _send(b.page, reply)
    wait_for_message(a.page, reply)
    assert (
        a.page.locator("#messages li.msg").filter(has_text=reply).locator(".alias").inner_text()
        == alias_b
    )

    # Messages are text, never HTML.
    nasty = "<b>bold</b> <img src=x onerror=alert(1)>"
    _send(a.page, nasty)
    for p in (a.page, b.page):
        wait_for_message(p, nasty)
        body = p.locator("#messages li.msg .body").filter(has_text="bold").last
        assert body.inner_text() == nasty
        assert p.locator("#messages img, #messages b").count() == 0
    # Server-rendered history escapes it too.
    b.page.reload()
    wait_online(b.page)
    assert _count(b.page, nasty) == 1
    assert b.page.locator("#messages img, #messages b").count() == 0
    assert not [u for u in b_requests if u.rstrip("/").endswith("/x")], b_requests

    for p in (a.page, b.page):
        assert message_bodies(p) == [first, reply, nasty]
        _assert_in_order(p)


def test_reconnects_after_server_restart(site: SiteServer, person: PersonFactory):
    group = site.create_group()
    alice, bob = site.signup_api(), site.signup_api()
    site.join_api(alice, group)
    site.join_api(bob, group)
    before = site.post_api(bob, group["room_id"], "Before the restart.")

    a = person("A", alice)
    a.open_room(group["slug"])
    b = person("B", bob)
    b.open_room(group["slug"])
    a.page.evaluate("window.__sameDocument = true")
    status = a.page.locator("#conn-status")

    try:
        site.stop()
        # The page says so, plainly.
        a.page.wait_for_selector("#conn-status[data-state='offline']", state="attached")
        assert "Connection lost. Reconnecting…" in status.text_content()
        b.page.wait_for_selector("#conn-status[data-state='offline']", state="attached")

        # Something typed while offline waits, visibly, and goes when the connection is back.
        offline_words = "Typed while the connection was down."
        _send(a.page, offline_words)
        waiting = a.page.locator("#messages li.msg.pending")
        waiting.wait_for(state="visible")
        assert waiting.locator(".state").inner_text() == "Waiting for the connection…"

        started = time.monotonic()
        site.start()
        # B posts through the API while A is (most likely still) disconnected.
        missed = site.post_api(bob, group["room_id"], "Posted while you were away.")
        a_was_offline = status.get_attribute("data-state") == "offline"

        wait_online(a.page, timeout=20_000)
        wait_online(b.page, timeout=20_000)
        wait_for_message(a.page, missed["body"])
        wait_for_message(a.page, offline_words)
        assert a.page.locator("#messages li.msg.pending").count() == 0
        assert a.page.evaluate("window.__sameDocument") is True, "the page reloaded"

        # Filled in exactly once, in order, nothing lost.
        time.sleep(0.3)  # let any duplicate that might come arrive
        bodies = message_bodies(a.page)
        assert bodies.count(before["body"]) == 1, bodies
        assert bodies.count(missed["body"]) == 1, bodies
        assert bodies.count(offline_words) == 1, bodies
        _assert_in_order(a.page)
        server_side = [m["body"] for m in site.history_api(bob, group["room_id"])]
        assert server_side.count(offline_words) == 1, server_side
        assert bodies == server_side
    finally:
        site.ensure_running()  # never leave the other tests without a server

    # A can send again; B gets it live.
    again = "Back again after the restart."
    _send(a.page, again)
    wait_for_message(a.page, again)
    wait_for_message(b.page, again)
    wait_for_message(b.page, offline_words)
    assert message_bodies(b.page) == [*server_side, again]
    _assert_in_order(b.page)
    print(
        f"reconnected {time.monotonic() - started:.1f}s after the restart began; "
        f"missed message posted while A offline: {a_was_offline}"
    )


def test_pages_that_lost_their_socket_together_come_back_spread_out(
    site: SiteServer, person: PersonFactory
):
    """When a process stops, every page it served loses its socket at the same moment. The
    room's waits before each try (reconnect.js, as the page loads it) double up to 8 s and
    are drawn from the second half of each step, so those pages don't all return at once."""
    group = site.create_group()
    alice = site.signup_api()
    site.join_api(alice, group)
    a = person("A", alice)
    a.open_room(group["slug"])
    waits = a.page.evaluate(
        """async () => {
            const { makeBackoff } = await import("/static/reconnect.js");
            const firsts = Array.from({ length: 400 }, () => makeBackoff().next());
            const one = makeBackoff();
            const steps = Array.from({ length: 7 }, () => one.next());
            one.reset();
            return { firsts, steps, afterReset: one.next() };
        }"""
    )
    firsts = waits["firsts"]
    assert all(250 <= w <= 500 for w in firsts), firsts
    # Spread over the window, not bunched: each quarter of it gets a fair share.
    quarters = [sum(250 + 62.5 * q <= w < 250 + 62.5 * (q + 1) for w in firsts) for q in range(4)]
    assert min(quarters) >= 50, quarters
    for wait, step in zip(waits["steps"], [500, 1000, 2000, 4000, 8000, 8000, 8000], strict=True):
        assert step / 2 <= wait <= step, waits["steps"]
    assert 250 <= waits["afterReset"] <= 500


def test_scrolling_up_loads_older_messages(site: SiteServer, person: PersonFactory):
    group = site.create_group()
    poster, reader = site.signup_api(), site.signup_api()
    site.join_api(poster, group)
    site.join_api(reader, group)
    total = 120
    bodies = [f"Message number {i:03d}" for i in range(1, total + 1)]
    for body in bodies:
        site.post_api(poster, group["room_id"], body)

    def in_log_view(page: Any, seq: int) -> float:
        """Where message `seq` sits, in px from the top of the visible log."""
        return float(
            page.evaluate(
                """seq => document.getElementById('m-' + seq).getBoundingClientRect().top
                      - document.getElementById('log').getBoundingClientRect().top""",
                seq,
            )
        )

    phone = {"width": 390, "height": 760}
    r = person("reader", reader, viewport=phone)
    r.open_room(group["slug"])
    page = r.page
    # Only the latest 50 at first, the newest in view.
    assert message_bodies(page) == bodies[-50:]
    assert page.locator("#m-120").is_visible()
    assert page.get_by_role("button", name="Load earlier messages").count() == 1

    # Scrolling to the very top loads the 50 before them, keeping the reading place.
    log = page.locator("#log")
    log.focus()
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelectorAll('#messages li.msg').length === 100")
    assert message_bodies(page) == bodies[-100:]
    assert log.evaluate("el => el.scrollTop") > 0
    assert 0 <= in_log_view(page, 71) < 200, "the reader lost their place"
    # And again (a fling straight to the top), to the first message; then there is nothing
    # earlier to load.
    log.evaluate("el => el.scrollTo({ top: 0, behavior: 'instant' })")
    page.wait_for_function(
        f"() => document.querySelectorAll('#messages li.msg').length === {total}"
    )
    assert message_bodies(page) == bodies
    assert message_seqs(page) == list(range(1, total + 1))
    page.get_by_role("button", name="Load earlier messages").wait_for(state="hidden")

    # Where scrolling can't trigger it (no IntersectionObserver), the button does the same.
    r2 = person("reader2", reader, viewport=phone)
    r2.context.add_init_script("delete window.IntersectionObserver;")
    r2.open_room(group["slug"])
    page = r2.page
    earlier = page.get_by_role("button", name="Load earlier messages")
    for shown in (100, total):
        page.locator("#log").evaluate("el => { el.scrollTop = 0; }")
        first = message_seqs(page)[0]
        place = in_log_view(page, first)
        earlier.click()
        page.wait_for_function(
            f"() => document.querySelectorAll('#messages li.msg').length === {shown}"
        )
        assert abs(in_log_view(page, first) - place) < 4, "the reader lost their place"
        _assert_in_order(page)
    assert message_bodies(page) == bodies
    earlier.wait_for(state="hidden")
