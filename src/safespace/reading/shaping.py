"""How one reader first meets a message: in full, collapsed, or as a placeholder.

The same function shapes live frames (events/hub.py) and history (queries/messages.py),
so what a reader sees never depends on how it reached them. Shapes other than "full"
carry no body at all: a warned message can't leak through a preview, the page source or a
screen reader until its reader asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["collapse", "show", "hide"]
MODES: tuple[str, ...] = ("collapse", "show", "hide")
Shape = Literal["full", "collapsed", "muted", "hidden", "blocked", "removed"]


def muted_pattern(words: list[str]) -> re.Pattern[str] | None:
    """One pattern for a reader's muted words and phrases: whole words, any case."""
    cleaned = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in cleaned) + r")(?!\w)")


@dataclass(frozen=True)
class Reader:
    """Who a message is shaped for, with their own filters."""

    user_id: int
    facilitator: bool = False  # of the message's group: sees everything in full
    modes: Mapping[str, str] = field(default_factory=dict)  # category -> Mode
    muted: re.Pattern[str] | None = None
    blocked: frozenset[int] = frozenset()

    def for_group(self, facilitator: bool) -> Reader:
        if facilitator == self.facilitator:
            return self
        return Reader(self.user_id, facilitator, self.modes, self.muted, self.blocked)


def shape_of(message: Mapping[str, Any], author_id: int | None, reader: Reader | None) -> Shape:
    if reader is None or reader.user_id == author_id or reader.facilitator:
        return "full"
    if message.get("deleted"):
        return "full"  # a tombstone has nothing left to hide
    if message.get("removed"):
        return "removed"  # hidden by a facilitator: its author and they still see it
    if author_id is not None and author_id in reader.blocked:
        return "blocked"
    warning = message.get("content_warning")
    if warning:
        modes = [reader.modes.get(c, "collapse") for c in warning.get("categories", ())]
        if "hide" in modes:
            return "hidden"
        if not modes or any(m != "show" for m in modes):
            return "collapsed"
    if reader.muted is not None and reader.muted.search(message.get("body", "").lower()):
        return "muted"
    return "full"


def apply(message: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """The message in a given shape. Every shape but "full" is the same for every reader
    who gets it, so a broadcast encodes each shape once."""
    if shape == "full":
        return message
    if shape == "removed":
        return {
            **{k: v for k, v in message.items() if k not in ("consent", "content_warning")},
            "body": "",
        }
    if shape == "blocked":
        return {
            "id": message["id"],
            "room_id": message["room_id"],
            "seq": message["seq"],
            "author": {"alias": ""},
            "body": "",
            "created_at": message["created_at"],
            "hidden": True,
            "hidden_because": "blocked",
        }
    out = {k: v for k, v in message.items() if k != "consent"}
    out["body"] = ""
    if shape == "hidden":
        out["hidden"] = True
        out["hidden_because"] = "filter"
    else:
        out["collapsed"] = True
        out["collapsed_because"] = "muted" if shape == "muted" else "warning"
    return out


def present(
    message: dict[str, Any], author_id: int | None, reader: Reader | None
) -> dict[str, Any]:
    return apply(message, shape_of(message, author_id, reader))
