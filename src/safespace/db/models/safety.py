"""Safety: flags for facilitators (risk, "I'm worried", a request to talk) and who is online."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime

FLAG_KINDS = ("risk", "worried", "talk", "report")
FLAG_STATUSES = ("open", "acknowledged", "resolved")


class Flag(Base):
    """Something a facilitator should look at. Only facilitators of the group (and admins)
    ever see flags; the person a flag is about is never told who raised it."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    signals: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    raised_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed
    # A report: the ground rule (1-based) the reporter says was broken, and their note.
    rule: Mapped[int | None] = mapped_column(Integer, nullable=True)
    report_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed
    # Handed to this facilitator (caseload); None: anyone of the group's facilitators.
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # A report about one of the group's own facilitators: the site's admins handle it, so
    # nobody judges a report about themselves or a close colleague.
    for_admins: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    handled_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_flags_group_status", "group_id", "status"),)


class Presence(Base):
    """One row per live connection, refreshed while it lives: lets every process tell
    whether a group's facilitators are online. Expired rows mean a process died."""

    __tablename__ = "presence"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
