"""A group's upcoming sessions, in real time zones, and their calendar files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import GroupSession
from safespace.queries.dates import iso

HORIZON = timedelta(weeks=4)


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
