"""Scheduled sessions of a group: when facilitators meet the group live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime


class GroupSession(Base):
    """A meeting, kept as wall-clock time in its own time zone, so a weekly 7 pm session
    stays at 7 pm for the group across daylight-saving changes."""

    __tablename__ = "group_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(80))
    starts_local: Mapped[str] = mapped_column(String(16))  # "2026-12-01T19:00"
    minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name, e.g. "Europe/London"
    weekly: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SessionRun(Base):
    """A session as it actually ran, when that differs from the schedule: opened early,
    closed early, or opened with no schedule at all. A scheduled meeting with no row here
    simply runs from its start to its end."""

    __tablename__ = "session_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    # The scheduled meeting this run is, if any (its session and its start, UTC).
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_sessions.id", ondelete="SET NULL"), nullable=True
    )
    occurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    title: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class SessionAck(Base):
    """An attendee said they'll keep to the ground rules for this session. Kept only while
    it matters: the retention job clears them a day after."""

    __tablename__ = "session_acks"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    session_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    acked_at: Mapped[datetime] = mapped_column(UTCDateTime())
