"""The one way to reach a room: access_room_as_member checks membership first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from safespace.db.base import MAX_INT
from safespace.db.models import Group, Membership, Room, User
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


async def access_room_as_member(session: AsyncSession, user: User, room_id: object) -> RoomAccess:
    if not isinstance(room_id, int) or isinstance(room_id, bool) or not 0 < room_id <= MAX_INT:
        raise no_room()
    host = aliased(Membership)
    row = (
        await session.execute(
            select(Room, Group, Membership, host.alias)
            .join(Group, Group.id == Room.group_id)
            .join(Membership, (Membership.group_id == Group.id) & (Membership.user_id == user.id))
            .outerjoin(host, (host.group_id == Group.id) & (host.user_id == Membership.host_id))
            .where(Room.id == room_id, _may_enter(user))
        )
    ).first()
    if row is None:
        raise no_room()
    room, group, m, host_alias = row
    return RoomAccess(
        room_id=room.id,
        group_id=group.id,
        group_slug=group.slug,
        group_name=group.name,
        rules_version=group.rules_version,
        membership_id=m.id,
        member_role=m.role,
        alias=m.alias,
        accepted_rules_version=m.accepted_rules_version,
        user_id=user.id,
        kind=room.kind,
        member_id=room.member_id,
        topics=group.topics,
        slow_mode_seconds=group.slow_mode_seconds,
        guests_can_post=group.guests_can_post,
        read_only_outside_sessions=group.read_only_outside_sessions,
        host_alias=host_alias,
    )


def _may_enter(user: User) -> ColumnElement[bool]:
    """Every member enters the main room; a support room only its member and the group's
    facilitators. Used with a join on the user's membership of the room's group."""
    return or_(
        Room.kind == "main",
        Room.member_id == user.id,
        Membership.role == "facilitator",
    )


async def member_room_ids(session: AsyncSession, user_id: int) -> list[int]:
    q = (
        select(Room.id)
        .join(Membership, Membership.group_id == Room.group_id)
        .where(
            Membership.user_id == user_id,
            or_(Room.kind == "main", Room.member_id == user_id, Membership.role == "facilitator"),
        )
    )
    return list((await session.scalars(q)).all())


async def facilitated_group_ids(session: AsyncSession, user_id: int) -> list[int]:
    q = select(Membership.group_id).where(
        Membership.user_id == user_id, Membership.role == "facilitator"
    )
    return list((await session.scalars(q)).all())


async def last_seqs(session: AsyncSession, room_ids: list[int]) -> dict[int, int]:
    """Each room's latest seq (for rooms the caller may already enter)."""
    rows = await session.execute(select(Room.id, Room.last_seq).where(Room.id.in_(room_ids)))
    return {rid: seq for rid, seq in rows.all()}
