"""Events published after a transaction commits. Each is a plain dict on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_wire(self) -> dict[str, Any]:
        # Shallow: events are never changed after they are made, and a deep copy of every
        # message's dict was a measurable part of posting one.
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class MessagePosted(Event):
    kind: ClassVar[str] = "message_posted"
    room_id: int
    group_id: int
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
    group_id: int | None = None
    facilitator: bool = False  # they run this group: flags and full bodies reach them
    stepped_down: bool = False  # no longer runs this group (still a member)
    reason: str | None = None  # why rooms were removed, when the page should say: "host_left"


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


@dataclass(frozen=True)
class FlagRaised(Event):
    """For the group's facilitators (and, when none is online and it's urgent, admins)."""

    kind: ClassVar[str] = "flag_raised"
    group_id: int
    flag: dict[str, Any]
    urgent: bool  # imminent risk: a live alert, not just a queue item
    notify_admins: bool
    guide: dict[str, Any] | None = None  # the response guide shown with an urgent alert


@dataclass(frozen=True)
class FlagUpdated(Event):
    kind: ClassVar[str] = "flag_updated"
    group_id: int
    flag: dict[str, Any]


@dataclass(frozen=True)
class BreakChanged(Event):
    """A member started or ended a break: their sockets pause or resume the group's rooms."""

    kind: ClassVar[str] = "break_changed"
    user_id: int
    room_ids: list[int]
    on_break: bool


@dataclass(frozen=True)
class FacilitatorsOnline(Event):
    """Whether any facilitator of these groups is online changed (or may have)."""

    kind: ClassVar[str] = "facilitators_online"
    group_ids: list[int]


@dataclass(frozen=True)
class ConsentUpdated(Event):
    """A "May I talk about...?" request was answered: the room sees the new counts."""

    kind: ClassVar[str] = "consent_updated"
    room_id: int
    seq: int
    consent: dict[str, Any]


@dataclass(frozen=True)
class FiltersChanged(Event):
    """Someone changed their own filters or blocks: their connections reshape from now on."""

    kind: ClassVar[str] = "filters_changed"
    user_id: int
    modes: dict[str, str]
    muted_words: list[str]
    blocked: list[int]


@dataclass(frozen=True)
class MessageHidden(Event):
    """A facilitator hid a message for breaking a ground rule: every reader's copy changes."""

    kind: ClassVar[str] = "message_hidden"
    room_id: int
    seq: int
    rule: int | None


@dataclass(frozen=True)
class SanctionGiven(Event):
    """For the member alone: what happened, why, and how to ask for a review."""

    kind: ClassVar[str] = "sanction_given"
    user_id: int
    group_id: int
    group_slug: str
    sanction: dict[str, Any]


@dataclass(frozen=True)
class SessionChanged(Event):
    """A facilitator opened or closed a session by hand, or someone acknowledged its
    ground rules: the room's members fetch the session state again."""

    kind: ClassVar[str] = "session_changed"
    group_id: int
    room_id: int


@dataclass(frozen=True)
class GroupDeleted(Event):
    """A group and its key are gone: every process drops the key it may hold in memory."""

    kind: ClassVar[str] = "group_deleted"
    group_id: int
