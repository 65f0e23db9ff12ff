"""Moderation: sanctions facilitators give, and what a member sees of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime

SANCTION_KINDS = ("hide", "warning", "mute", "removal", "ban")


class Sanction(Base):
    """One step a facilitator took about a member: each cites a ground rule (its number in
    the group's current rules) and a reason, and the member is told both."""

    __tablename__ = "sanctions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    rule: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1-based
    reason: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # a mute's end
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_sanctions_group_user", "group_id", "user_id"),)


class JoinRequest(Base):
    """Someone asked to join a group whose facilitators approve new members."""

    __tablename__ = "join_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    alias: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("group_id", "user_id"),)
