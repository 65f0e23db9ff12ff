"""A group's upcoming sessions, in real time zones, and their calendar files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import GroupSession, Membership, SessionAck, SessionRun
from safespace.queries.dates import iso
from safespace.queries.rooms import RoomAccess

HORIZON = timedelta(weeks=4)
SOON = timedelta(hours=1)  # a facilitator can open the next session this early


@dataclass(frozen=True)
class Occurrence:
    session: GroupSession
    start: datetime  # UTC
    end: datetime

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.session.id,
            "title": self.session.title,
            "start": iso(self.start),
            "end": iso(self.end),
            "timezone": self.session.timezone,
            "weekly": self.session.weekly,
            "live": self.start <= now < self.end,
        }


def local_start(s: GroupSession) -> datetime:
    return datetime.fromisoformat(s.starts_local).replace(tzinfo=ZoneInfo(s.timezone))


def occurrences(s: GroupSession, now: datetime, horizon: timedelta = HORIZON) -> list[Occurrence]:
    """This session's meetings that haven't ended yet, up to the horizon. A weekly one
    keeps its wall-clock time in its own zone, whatever daylight saving does."""
    first = local_start(s)
    length = timedelta(minutes=s.minutes)
    out = []
    step = 0
    while True:
        # Add whole days to the local wall time, then convert: 19:00 stays 19:00.
        local = first + timedelta(weeks=step)
        start = local.astimezone(UTC)
        if start > now + horizon:
            break
        if start + length > now:
            out.append(Occurrence(s, start, start + length))
        if not s.weekly:
            break
        step += 1
    return out


async def upcoming(session: AsyncSession, group_id: int, now: datetime) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(select(GroupSession).where(GroupSession.group_id == group_id))
    ).all()
    found = [o for s in rows for o in occurrences(s, now)]
    found.sort(key=lambda o: o.start)
    return [o.as_dict(now) for o in found]


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def ics(s: GroupSession, group_name: str, host: str, now: datetime) -> str:
    """An iCalendar file for one session (RFC 5545), in its own time zone."""
    start = local_start(s)
    end = start + timedelta(minutes=s.minutes)
    fmt = "%Y%m%dT%H%M%S"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//SafeSpace//Sessions//EN",
        "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        f"UID:session-{s.id}@{host}",
        f"DTSTAMP:{now.astimezone(UTC).strftime(fmt)}Z",
        f"DTSTART;TZID={s.timezone}:{start.strftime(fmt)}",
        f"DTEND;TZID={s.timezone}:{end.strftime(fmt)}",
        f"SUMMARY:{_ics_text(s.title + ' · ' + group_name)}",
        # No description of the group's subject: a calendar is often shared or synced.
        "DESCRIPTION:A SafeSpace group session.",
    ]
    if s.weekly:
        lines.append("RRULE:FREQ=WEEKLY")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


# ----------------------------------------------------------------- the live session


@dataclass(frozen=True)
class Live:
    """The session running now, scheduled or opened by hand."""

    key: str  # what attendees' acknowledgements are kept under
    title: str
    start: datetime
    end: datetime
    session_id: int | None
    run_id: int | None
    occurrence_start: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "start": iso(self.start),
            "end": iso(self.end),
            "session_id": self.session_id,
        }


def session_key(session_id: int | None, occurrence_start: datetime | None, run_id: int) -> str:
    # A scheduled meeting keeps one key whether it starts on time or is opened early.
    if session_id is not None and occurrence_start is not None:
        return f"s{session_id}@{occurrence_start.astimezone(UTC).strftime('%Y%m%dT%H%M')}"
    return f"r{run_id}"


async def _runs(session: AsyncSession, group_id: int, now: datetime) -> list[SessionRun]:
    # Runs that could matter now: anything ending after a day ago.
    return list(
        (
            await session.scalars(
                select(SessionRun).where(
                    SessionRun.group_id == group_id,
                    SessionRun.ends_at > now - timedelta(days=1),
                )
            )
        ).all()
    )


async def live(session: AsyncSession, group_id: int, now: datetime) -> Live | None:
    """The group's session running now, if any: a run opened by hand (or early) that
    hasn't closed, or a scheduled meeting in its hours that nobody closed early."""
    runs = await _runs(session, group_id, now)
    for r in runs:
        if r.closed_at is None and r.opened_at <= now < r.ends_at:
            return Live(
                session_key(r.session_id, r.occurrence_start, r.id),
                r.title,
                r.opened_at,
                r.ends_at,
                r.session_id,
                r.id,
                r.occurrence_start,
            )
    taken = {(r.session_id, r.occurrence_start) for r in runs if r.session_id is not None}
    scheduled = (
        await session.scalars(select(GroupSession).where(GroupSession.group_id == group_id))
    ).all()
    for s in scheduled:
        for o in occurrences(s, now, horizon=timedelta(0)):
            if o.start <= now < o.end and (s.id, o.start) not in taken:
                return Live(
                    session_key(s.id, o.start, 0), s.title, o.start, o.end, s.id, None, o.start
                )
    return None


async def next_occurrence(session: AsyncSession, group_id: int, now: datetime) -> Occurrence | None:
    """The next scheduled meeting that hasn't started (and wasn't opened early)."""
    runs = await _runs(session, group_id, now)
    taken = {(r.session_id, r.occurrence_start) for r in runs if r.session_id is not None}
    scheduled = (
        await session.scalars(select(GroupSession).where(GroupSession.group_id == group_id))
    ).all()
    found = [
        o
        for s in scheduled
        for o in occurrences(s, now)
        if o.start > now and (s.id, o.start) not in taken
    ]
    return min(found, key=lambda o: o.start) if found else None


async def acknowledged(session: AsyncSession, group_id: int, key: str, user_id: int) -> bool:
    row = await session.scalar(
        select(SessionAck.user_id).where(
            SessionAck.group_id == group_id,
            SessionAck.session_key == key,
            SessionAck.user_id == user_id,
        )
    )
    return row is not None


async def session_state(session: AsyncSession, access: RoomAccess, now: datetime) -> dict[str, Any]:
    """What the room shows about sessions, for this reader: the live one (with whether
    they've acknowledged its ground rules), the next one, and whether members can write
    now. Facilitators also see who has acknowledged."""
    current = await live(session, access.group_id, now)
    upcoming_one = await next_occurrence(session, access.group_id, now)
    state: dict[str, Any] = {
        "live": None,
        "next": {**upcoming_one.as_dict(now), "soon": upcoming_one.start - now <= SOON}
        if upcoming_one
        else None,
        "read_only_outside_sessions": access.read_only_outside_sessions,
        "members_can_write": current is not None or not access.read_only_outside_sessions,
    }
    if current is not None:
        live_state = current.as_dict()
        live_state["acknowledged"] = await acknowledged(
            session, access.group_id, current.key, access.user_id
        )
        if access.is_facilitator:
            rows = (
                await session.execute(
                    select(Membership.alias)
                    .join(
                        SessionAck,
                        (SessionAck.user_id == Membership.user_id)
                        & (SessionAck.group_id == Membership.group_id),
                    )
                    .where(
                        SessionAck.group_id == access.group_id,
                        SessionAck.session_key == current.key,
                    )
                    .order_by(SessionAck.acked_at)
                )
            ).all()
            live_state["acknowledged_by"] = [alias for (alias,) in rows]
        state["live"] = live_state
    return state


async def further_ahead(session: AsyncSession, group_id: int, now: datetime) -> list[Occurrence]:
    """Sessions whose first meeting is beyond the horizon `upcoming` looks at: listed on
    the sessions page so a facilitator can still see (and cancel) what they planned."""
    rows = (
        await session.scalars(select(GroupSession).where(GroupSession.group_id == group_id))
    ).all()
    found = []
    for s in rows:
        start = local_start(s).astimezone(UTC)
        if start > now + HORIZON:
            found.append(Occurrence(s, start, start + timedelta(minutes=s.minutes)))
    found.sort(key=lambda o: o.start)
    return found
