"""Where Chromium is and how to start it here: shared by the browser tests and scripts."""

from __future__ import annotations

import os
import shutil


def chromium_path() -> str | None:
    """Debian's Chromium when installed (make installs it where it can), else None so
    Playwright uses the browser it downloaded itself."""
    explicit = os.environ.get("SAFESPACE_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args() -> list[str]:
    # Quiet start-up: no background calls out of a machine that may have no network.
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]
