"""Each person's own reading filters, blocks, and answers to consent requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime


class UserFilters(Base):
    """How this person meets warned messages, by category, and the words they muted."""

    __tablename__ = "user_filters"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # category id -> "collapse" | "show" | "hide"; a category not listed collapses.
    categories: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    muted_words: Mapped[list[str]] = mapped_column(JSON, default=list)


class Block(Base):
    """One person hides another's messages from themselves. The blocked person is never
    told; the group is where it happened, so the list can show the alias they knew."""

    __tablename__ = "blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    blocked_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="SET NULL"), nullable=True
    )
    alias: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("user_id", "blocked_user_id"),)


class ConsentAnswer(Base):
    """One person's answer to a "May I talk about...?" request (a message of kind consent)."""

    __tablename__ = "consent_answers"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    answer: Mapped[str] = mapped_column(String(16))  # ok | not_now
    by_facilitator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
