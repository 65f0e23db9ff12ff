"""Groups, their versioned ground rules, rooms and memberships."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text)
    rules_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Cached aggregate, refreshed from message activity; never says who was active.
    trending_score: Mapped[float] = mapped_column(default=0.0)
    # Days messages are kept: 0 keeps them until deleted by hand; None (never chosen)
    # follows the operator's default (SAFESPACE_DEFAULT_RETENTION_DAYS).
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Topic rules: {"require_warning": [...], "need_consent": [...], "off_limits": [...]}
    # of content-warning category ids (off_limits may also hold "method-detail").
    topics: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    # Settings facilitators choose (issue 6).
    listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    join_policy: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    max_members: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no limit
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    guests_allowed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Guests read the room; this lets them write in it too.
    guests_can_post: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Members write in the room only while a session is live (facilitators always can).
    read_only_outside_sessions: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Moved on by PostgreSQL's triggers whenever anything a post's checks read about this
    # group changes (migration 0006); the posting line writes on facts it read before
    # only while this stands. Never set by the application.
    facts_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class GroupTag(Base):
    __tablename__ = "group_tags"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_group_tags_tag", "tag"),)


class GroupRules(Base):
    """One row per version: members accept a specific version, so old ones are kept."""

    __tablename__ = "group_rules"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    rules: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    # main | support | whisper (the group's facilitators only)
    kind: Mapped[str] = mapped_column(String(16), default="main")
    # A support room is a private line between this member and the group's facilitators.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # Last seq handed out. Incremented inside the posting transaction, so a rollback
    # leaves no gap and concurrent writers are serialised on this row.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Membership(Base):
    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # member | facilitator | guest
    # A guest's host: the member who invited them. Their access ends with the host's.
    host_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    alias: Mapped[str] = mapped_column(String(32))
    alias_key: Mapped[str] = mapped_column(String(32))
    accepted_rules_version: Mapped[int] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Taking a break: no live messages from this group until then (or until they return).
    break_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        UniqueConstraint("group_id", "alias_key"),
    )
