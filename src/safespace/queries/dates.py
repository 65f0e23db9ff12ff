"""Times as the API writes them."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    # Called for every message on every page: skip the conversion when it's already UTC
    # (what the database hands back), whose isoformat always ends "+00:00".
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.isoformat()[:-6] + "Z"
