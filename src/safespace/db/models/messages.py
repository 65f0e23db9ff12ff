"""Messages of a room, each with its room's gap-free sequence number."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # The alias the author had in this group when writing; kept so history reads the same.
    author_alias: Mapped[str] = mapped_column(String(32))
    # The author's standing in the group when writing: None (a member), "facilitator" or
    # "guest"; a guest's messages also carry their host's alias, so readers see whose
    # guest they are.
    author_role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    author_host: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client_id: Mapped[str] = mapped_column(String(64))
    # text | consent ("May I talk about...?": the body is the topic)
    kind: Mapped[str] = mapped_column(String(16), default="text", server_default="text")
    # AES-GCM under the group's key (safespace.privacy). None once the message is deleted:
    # the row stays as a tombstone so the room's seq stays gap-free.
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The local risk assessment at posting time: none | elevated | imminent.
    risk_level: Mapped[str] = mapped_column(String(16), default="none")
    # Content-warning categories; readers other than the author and facilitators see the
    # message collapsed until they choose to reveal it.
    warning: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # The warning's free-text note, sealed like the body (its own context).
    warning_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Hidden by a facilitator for breaking this ground rule (1-based); the body is kept
    # for the author, the facilitators and a review, and shown to nobody else.
    hidden_rule: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("room_id", "seq"),
        UniqueConstraint("room_id", "author_id", "client_id"),
        Index("ix_messages_room_created", "room_id", "created_at"),
    )
