"""The one way to reach a room: access_room_as_member checks membership first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, String, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from safespace.db.base import MAX_INT, UTCDateTime
from safespace.db.models import (
    Group,
    GroupSession,
    Membership,
    Message,
    Room,
    Sanction,
    SessionRun,
    User,
)
from safespace.db.raw import RawStatement, sqlite_of
from safespace.errors import AppError


@dataclass(frozen=True)
class RoomAccess:
    room_id: int
    group_id: int
    group_slug: str
    group_name: str
    rules_version: int
    membership_id: int
    member_role: str
    alias: str
    accepted_rules_version: int
    user_id: int = 0  # who was given this access
    kind: str = "main"
    member_id: int | None = None  # whose private line a support room is
    topics: dict[str, list[str]] | None = None  # the group's topic rules (Group.topics)
    slow_mode_seconds: int = 0
    guests_can_post: bool = False
    read_only_outside_sessions: bool = False
    host_alias: str | None = None  # a guest's host, by their alias in the group

    @property
    def rules_current(self) -> bool:
        return self.accepted_rules_version >= self.rules_version

    @property
    def is_facilitator(self) -> bool:
        return self.member_role == "facilitator"

    @property
    def is_guest(self) -> bool:
        return self.member_role == "guest"

    @property
    def author_role(self) -> str | None:
        """What a message written with this access records of its author's standing."""
        return None if self.member_role == "member" else self.member_role


def no_room() -> AppError:
    # The same answer whether the room does not exist or the person is not in it, so
    # nobody can probe which private rooms exist.
    return AppError("not_found", "That room could not be found, or you're not a member.", 404)


def _access_query() -> Select[*tuple[Any, ...]]:
    """Columns only (no ORM objects), with bound parameters :user_id and :room_id."""
    host = aliased(Membership)
    user_id = bindparam("user_id", type_=Integer)
    return (
        select(
            Room.id,
            Room.kind,
            Room.member_id,
            Group.id,
            Group.slug,
            Group.name,
            Group.rules_version,
            Group.topics,
            Group.slow_mode_seconds,
            Group.guests_can_post,
            Group.read_only_outside_sessions,
            Membership.id,
            Membership.role,
            Membership.alias,
            Membership.accepted_rules_version,
            host.alias,
        )
        .select_from(Room)
        .join(Group, Group.id == Room.group_id)
        .join(Membership, (Membership.group_id == Group.id) & (Membership.user_id == user_id))
        .outerjoin(host, (host.group_id == Group.id) & (host.user_id == Membership.host_id))
        .where(
            Room.id == bindparam("room_id", type_=Integer),
            # Every member enters the main room; a support room only its member and the
            # group's facilitators.
            or_(Room.kind == "main", Room.member_id == user_id, Membership.role == "facilitator"),
        )
    )


def _posting_query() -> Select[*tuple[Any, ...]]:
    """The access check plus what posting asks next, all in one round trip: bound
    parameters :user_id, :room_id, :client_id, :now and :since (a day before now)."""
    user_id = bindparam("user_id", type_=Integer)
    now = bindparam("now", type_=UTCDateTime())
    existing = (
        select(Message.id)
        .where(
            Message.room_id == Room.id,
            Message.author_id == user_id,
            Message.client_id == bindparam("client_id", type_=String),
        )
        .scalar_subquery()
    )
    mute = (
        select(Sanction.id)
        .where(
            Sanction.group_id == Group.id,
            Sanction.user_id == user_id,
            Sanction.kind == "mute",
            Sanction.lifted_at.is_(None),
            Sanction.until > now,
        )
        .order_by(Sanction.until.desc())
        .limit(1)
        .scalar_subquery()
    )
    scheduled = exists().where(GroupSession.group_id == Group.id)
    opened = exists().where(
        SessionRun.group_id == Group.id,
        SessionRun.ends_at > bindparam("since", type_=UTCDateTime()),
    )
    return _access_query().add_columns(existing, mute, scheduled | opened)


# Built once: this runs for every message posted, and building a statement costs more
# than running it.
_ACCESS = _access_query()
_POSTING = _posting_query()
_POSTING_RAW = RawStatement(_POSTING)


def _access_from(row: Any, user_id: int) -> RoomAccess:
    return RoomAccess(
        room_id=row[0],
        kind=row[1],
        member_id=row[2],
        group_id=row[3],
        group_slug=row[4],
        group_name=row[5],
        rules_version=row[6],
        topics=row[7],
        slow_mode_seconds=row[8],
        guests_can_post=row[9],
        read_only_outside_sessions=row[10],
        membership_id=row[11],
        member_role=row[12],
        alias=row[13],
        accepted_rules_version=row[14],
        host_alias=row[15],
        user_id=user_id,
    )


def _valid_room_id(room_id: object) -> int:
    if not isinstance(room_id, int) or isinstance(room_id, bool) or not 0 < room_id <= MAX_INT:
        raise no_room()
    return room_id


async def access_room_as_member(session: AsyncSession, user: User, room_id: object) -> RoomAccess:
    params = {"user_id": user.id, "room_id": _valid_room_id(room_id)}
    row = (await session.execute(_ACCESS, params)).first()
    if row is None:
        raise no_room()
    return _access_from(row, user.id)


@dataclass(frozen=True)
class PostingFacts:
    """What posting a message needs to know, in one statement: the access check, and
    whether the rarer checks (a retry, a mute, a session) need a closer look."""

    access: RoomAccess
    existing_id: int | None  # this author's message with this client_id, if any
    mute_id: int | None  # a mute in force, if any
    has_sessions: bool  # the group has a schedule or a recent hand-opened session


async def posting_facts(
    session: AsyncSession, user: User, room_id: object, client_id: str, now: datetime
) -> PostingFacts:
    params = {
        "user_id": user.id,
        "room_id": _valid_room_id(room_id),
        "client_id": client_id,
        "now": now,
        "since": now - timedelta(days=1),
    }
    inline = await sqlite_of(session)
    if inline is not None:  # the posting line, on SQLite: see db/raw.py
        row: Any = _POSTING_RAW.first(inline, params)
    else:
        row = (await (await session.connection()).execute(_POSTING, params)).first()
    if row is None:
        raise no_room()
    return PostingFacts(_access_from(row, user.id), row[16], row[17], bool(row[18]))


async def member_rooms(session: AsyncSession, user_id: int) -> dict[int, int]:
    """room id -> group id for every room this person may enter (the rule of _access_query:
    every main room of their groups, their own private line, and every room of a group
    they run)."""
    q = (
        select(Room.id, Room.group_id)
        .join(Membership, Membership.group_id == Room.group_id)
        .where(
            Membership.user_id == user_id,
            or_(Room.kind == "main", Room.member_id == user_id, Membership.role == "facilitator"),
        )
    )
    return {rid: gid for rid, gid in (await session.execute(q)).all()}


async def facilitated_group_ids(session: AsyncSession, user_id: int) -> list[int]:
    q = select(Membership.group_id).where(
        Membership.user_id == user_id, Membership.role == "facilitator"
    )
    return list((await session.scalars(q)).all())


async def last_seqs(session: AsyncSession, room_ids: list[int]) -> dict[int, int]:
    """Each room's latest seq (for rooms the caller may already enter)."""
    rows = await session.execute(select(Room.id, Room.last_seq).where(Room.id.in_(room_ids)))
    return {rid: seq for rid, seq in rows.all()}
