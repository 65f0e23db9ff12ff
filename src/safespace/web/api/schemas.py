"""Request bodies of the JSON API. Types only: the actions check meaning and say what's wrong."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Credentials(Body):
    username: str
    password: str


class Recover(Body):
    username: str
    recovery_code: str
    new_password: str


class PasswordChange(Body):
    current_password: str
    new_password: str


class NewGroup(Body):
    name: str
    description: str
    tags: list[str] | None = None


class Join(Body):
    accept_rules_version: int | None = None
    alias: str | None = None


class AcceptRules(Body):
    version: int


class Rules(Body):
    rules: list[str]


class Alias(Body):
    alias: str


class NewMessage(Body):
    client_id: str
    body: str
    # Checked by the actions (actions/messages.py), which say what's wrong in words.
    content_warning: Any = None
    suggest_warning: bool = False


class ConsentRequest(Body):
    client_id: str
    topic: str
    category: str | None = None


class ConsentReply(Body):
    answer: str


class Filters(Body):
    categories: dict[str, str] | None = None
    muted_words: list[str] | None = None


class BlockAuthor(Body):
    room_id: int
    seq: int


class Topics(Body):
    require_warning: list[str] = []
    need_consent: list[str] = []
    off_limits: list[str] = []


class Role(Body):
    role: str


class Erase(Body):
    password: str


class Retention(Body):
    retention_days: int


class FlagUpdate(Body):
    status: str
    note: str | None = None


class Break(Body):
    minutes: int


class Report(Body):
    seq: int | None = None
    alias: str | None = None
    rule: int | None = None
    note: str | None = None


class NewSanction(Body):
    kind: str
    alias: str | None = None
    rule: int | None = None
    reason: str | None = None
    minutes: int | None = None
    room_id: int | None = None
    seq: int | None = None


class Suspension(Body):
    suspended: bool


class Assign(Body):
    to: str | None = None


class GroupSettings(Body):
    description: str | None = None
    tags: list[str] | None = None
    listed: bool | None = None
    join_policy: str | None = None
    max_members: int | None = None
    slow_mode_seconds: int | None = None
    guests_allowed: bool | None = None
    guests_can_post: bool | None = None
    read_only_outside_sessions: bool | None = None


class JoinAnswer(Body):
    approve: bool


class NewSession(Body):
    title: str
    start: str  # local wall time, "2026-12-01T19:00"
    minutes: int
    timezone: str  # IANA, "Europe/London"
    weekly: bool = False


class NewInvite(Body):
    kind: str = "guest"  # guest (any member, when the group allows guests) | member


class AcceptInvite(Body):
    accept_rules_version: int | None = None
    alias: str | None = None


class OpenSession(Body):
    minutes: int | None = None  # None: open the next scheduled session early, or 60


class Acknowledge(Body):
    key: str
