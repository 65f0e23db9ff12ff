"""Events published after a transaction commits. Each is a plain dict on the wire."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class MessagePosted(Event):
    kind: ClassVar[str] = "message_posted"
    room_id: int
    author_id: int
    client_id: str
    message: dict[str, Any]


@dataclass(frozen=True)
class MembershipChanged(Event):
    """A user gained or lost rooms: their live connections subscribe or drop them."""

    kind: ClassVar[str] = "membership_changed"
    user_id: int
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class RulesChanged(Event):
    kind: ClassVar[str] = "rules_changed"
    group_slug: str
    room_id: int
    version: int


@dataclass(frozen=True)
class SessionsEnded(Event):
    """Sign-in sessions that ended (logout, password reset): their sockets close at once."""

    kind: ClassVar[str] = "sessions_ended"
    session_ids: list[int]
