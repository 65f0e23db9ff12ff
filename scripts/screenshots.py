"""Screenshot every page at phone and desktop width, light and dark, for a human to look at.

Usage: python scripts/screenshots.py http://127.0.0.1:8000 [out_dir]
It signs up a throwaway account on that server and joins the first group.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser_support import chromium_args, chromium_path  # noqa: E402

SIZES = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 860}}


def main() -> None:
    base = sys.argv[1].rstrip("/")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    name = "shot_" + secrets.token_hex(3)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=chromium_args())
        ctx = browser.new_context(viewport=SIZES["desktop"])
        page = ctx.new_page()
        page.goto(base + "/signup")
        page.fill("#username", name)
        page.fill("#password", "calm river stones 42")
        page.click("button[type=submit]")
        page.screenshot(path=str(out / "signup_done-desktop-light.png"), full_page=True)
        page.goto(base + "/groups")
        first = page.locator(".group-card a").first.get_attribute("href")
        page.goto(base + first)
        page.check("#accept")
        page.click("form[action$='/join'] button[type=submit]")
        page.fill("#body", "Hello everyone, first time here.")
        page.press("#body", "Enter")
        page.wait_for_selector(".msg:not(.pending) >> text=first time here")
        state = ctx.storage_state()
        paths = [
            "/",
            "/groups",
            first,
            first + "/room",
            "/faq",
            "/guidelines",
            "/settings",
            "/signup",
            "/login",
        ]
        for size, viewport in SIZES.items():
            for scheme in ("light", "dark"):
                c = browser.new_context(viewport=viewport, color_scheme=scheme, storage_state=state)
                p = c.new_page()
                for path in paths:
                    p.goto(base + path)
                    p.wait_for_load_state("networkidle")
                    slug = path.strip("/").replace("/", "_") or "home"
                    p.screenshot(
                        path=str(out / f"{slug}-{size}-{scheme}.png"),
                        full_page=path != first + "/room",
                    )
                c.close()
        browser.close()
    print(f"screenshots in {out}/")


if __name__ == "__main__":
    main()
