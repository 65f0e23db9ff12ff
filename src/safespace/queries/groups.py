"""The group directory and group pages: public facts only (never who is in a group)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import AuditEntry, Group, GroupRules, GroupTag, Membership, Room, User
from safespace.errors import not_found

SORTS = ("trending", "new", "name")


async def _tags_for(session: AsyncSession, group_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {gid: [] for gid in group_ids}
    if group_ids:
        rows = await session.execute(
            select(GroupTag.group_id, GroupTag.tag)
            .where(GroupTag.group_id.in_(group_ids))
            .order_by(GroupTag.tag)
        )
        for gid, tag in rows:
            out[gid].append(tag)
    return out


async def directory(
    session: AsyncSession, sort: str = "trending", tag: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    members = (
        select(Membership.group_id, func.count().label("n"))
        .group_by(Membership.group_id)
        .subquery()
    )
    q = (
        select(Group, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.group_id == Group.id)
        .where(Group.listed.is_(True))  # an unlisted group is reached by its link only
    )
    if tag:
        q = q.where(
            Group.id.in_(select(GroupTag.group_id).where(GroupTag.tag == tag.strip().lower()))
        )
    if sort == "new":
        q = q.order_by(Group.created_at.desc(), Group.id.desc())
    elif sort == "name":
        q = q.order_by(func.lower(Group.name), Group.id)
    else:
        q = q.order_by(Group.trending_score.desc(), Group.created_at.desc(), Group.id.desc())
    rows = (await session.execute(q.limit(limit))).all()
    tags = await _tags_for(session, [g.id for g, _ in rows])
    return [
        {
            "slug": g.slug,
            "name": g.name,
            "description": g.description,
            "tags": tags[g.id],
            "member_count": int(n),
        }
        for g, n in rows
    ]


async def all_tags(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(GroupTag.tag, func.count()).group_by(GroupTag.tag).order_by(GroupTag.tag)
    )
    return [(t, int(n)) for t, n in rows]


async def group_detail(session: AsyncSession, slug: str) -> dict[str, Any]:
    group = await session.scalar(select(Group).where(Group.slug == slug))
    if group is None:
        raise not_found("That group")
    rules = await session.scalar(
        select(GroupRules.rules).where(
            GroupRules.group_id == group.id, GroupRules.version == group.rules_version
        )
    )
    room_id = await session.scalar(
        select(Room.id).where(Room.group_id == group.id, Room.kind == "main")
    )
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
    )
    tags = await _tags_for(session, [group.id])
    return {
        "id": group.id,
        "slug": group.slug,
        "name": group.name,
        "description": group.description,
        "tags": tags[group.id],
        "room_id": room_id,
        "rules": list(rules or []),
        "rules_version": group.rules_version,
        "member_count": int(count or 0),
        "retention_days": group.retention_days,  # None: the operator's default
        "topics": topics_of(group.topics),
        "settings": settings_of(group),
    }


def settings_of(group: Group) -> dict[str, Any]:
    return {
        "listed": group.listed,
        "join_policy": group.join_policy,
        "max_members": group.max_members,
        "slow_mode_seconds": group.slow_mode_seconds,
        "guests_allowed": group.guests_allowed,
        "guests_can_post": group.guests_can_post,
        "read_only_outside_sessions": group.read_only_outside_sessions,
    }


def topics_of(stored: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """A group's topic rules, every key present (reading/categories.py has the ids)."""
    stored = stored or {}
    return {k: list(stored.get(k, [])) for k in ("require_warning", "need_consent", "off_limits")}


def public_group(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k != "id"}


async def membership(session: AsyncSession, user: User, group_id: int) -> Membership | None:
    return await session.scalar(
        select(Membership).where(Membership.group_id == group_id, Membership.user_id == user.id)
    )


async def guest_access_ended(session: AsyncSession, user: User, group_id: int) -> bool:
    """Whether the last thing that happened to this (former) guest here is that their
    access ended with their host's, so the group page can say why they're outside."""
    last = await session.scalar(
        select(AuditEntry.action)
        .where(AuditEntry.group_id == group_id, AuditEntry.target_user_id == user.id)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return last == "guest_access_ended"


async def my_groups(session: AsyncSession, user: User) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Group, Membership, Room.id)
        .join(Membership, Membership.group_id == Group.id)
        .join(Room, (Room.group_id == Group.id) & (Room.kind == "main"))
        .where(Membership.user_id == user.id)
        .order_by(func.lower(Group.name))
    )
    return [
        {
            "slug": g.slug,
            "name": g.name,
            "room_id": room_id,
            "alias": m.alias,
            "role": m.role,
            "rules_current": m.accepted_rules_version >= g.rules_version,
        }
        for g, m, room_id in rows
    ]


# ----------------------------------------------------------------- for the group's facilitators


async def facilitators_of(session: AsyncSession, group_id: int) -> list[dict[str, Any]]:
    """The group's facilitators by alias, the one who started it first. For its
    facilitators' pages only: members see facilitators by their messages, not a list."""
    owner = await session.scalar(select(Group.created_by).where(Group.id == group_id))
    rows = (
        await session.execute(
            select(Membership.user_id, Membership.alias)
            .where(Membership.group_id == group_id, Membership.role == "facilitator")
            .order_by(func.lower(Membership.alias))
        )
    ).all()
    out = [{"user_id": uid, "alias": alias, "owner": uid == owner} for uid, alias in rows]
    out.sort(key=lambda f: not f["owner"])
    return out


async def group_owner(session: AsyncSession, group_id: int) -> int | None:
    return await session.scalar(select(Group.created_by).where(Group.id == group_id))


async def groups_named(session: AsyncSession, group_ids: list[int]) -> list[dict[str, Any]]:
    """Slug and name of these groups, by name (the groups a facilitator looks after)."""
    if not group_ids:
        return []
    rows = await session.execute(
        select(Group.slug, Group.name, Group.join_policy)
        .where(Group.id.in_(group_ids))
        .order_by(func.lower(Group.name))
    )
    return [{"slug": s, "name": n, "join_policy": p} for s, n, p in rows]


async def pending_join_requests(
    session: AsyncSession, group_ids: list[int]
) -> list[dict[str, Any]]:
    """Requests to join these groups, oldest first: who (the alias they asked for, or their
    username), which group, since when. The caller decides whose groups these are."""
    from safespace.db.models import JoinRequest
    from safespace.queries.dates import iso

    if not group_ids:
        return []
    rows = (
        await session.execute(
            select(JoinRequest, User.username, Group.slug, Group.name)
            .join(User, User.id == JoinRequest.user_id)
            .join(Group, Group.id == JoinRequest.group_id)
            .where(JoinRequest.group_id.in_(group_ids))
            .order_by(JoinRequest.created_at, JoinRequest.id)
        )
    ).all()
    return [
        {
            "id": r.id,
            "name": r.alias or username,
            "waiting_since": iso(r.created_at),
            "created_at": r.created_at,
            "group": {"slug": slug, "name": name},
        }
        for r, username, slug, name in rows
    ]
