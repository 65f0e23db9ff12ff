"""Safety reads: the facilitators' queue, alerts waiting for them, who is online."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.base import UTCDateTime
from safespace.db.models import Flag, Group, Membership, Message, Presence, Room, User
from safespace.db.raw import core_execute
from safespace.privacy.keystore import KeyStore
from safespace.queries.messages import iso, readable
from safespace.safety.guide import escalation_guide

log = logging.getLogger(__name__)

QUEUE_LIMIT = 200


def response_guide(path: str) -> dict[str, Any]:
    """The operator's response guide (SAFESPACE_ESCALATION_GUIDE), or the packaged one when
    theirs can't be read or isn't a guide: a broken file must never stop an alert, or a
    message from being posted."""
    if path:
        try:
            guide = escalation_guide(path)
            steps = guide.get("steps") if isinstance(guide, dict) else None
            if (
                isinstance(guide.get("title"), str)
                and isinstance(steps, list)
                and steps
                and all(
                    isinstance(step, dict)
                    and isinstance(step.get("title"), str)
                    and isinstance(step.get("text"), str)
                    for step in steps
                )
            ):
                return guide
            log.error("response guide file %s is not usable: it needs a title and steps", path)
        except Exception as exc:
            log.error("response guide file %s is not usable: %r", path, exc)
    return escalation_guide()


def flag_context(flag_id: int) -> bytes:
    return b"safespace:flag-note:%d" % flag_id


def flag_dict(
    flag: Flag,
    *,
    message: dict[str, Any] | None = None,
    subject_alias: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "id": flag.id,
        "kind": flag.kind,
        "level": flag.level,
        "signals": list(flag.signals or []),
        "status": flag.status,
        "room_id": flag.room_id,
        "subject": {"alias": subject_alias} if subject_alias is not None else None,
        "message": message,
        "note": note,
        "for_admins": bool(flag.for_admins),
        "created_at": iso(flag.created_at),
        "updated_at": iso(flag.updated_at),
    }


async def facilitators_online(session: AsyncSession, group_id: int, now: datetime) -> int:
    q = (
        select(func.count(func.distinct(Presence.user_id)))
        .join(Membership, Membership.user_id == Presence.user_id)
        .where(
            Membership.group_id == group_id,
            Membership.role == "facilitator",
            Presence.expires_at > now,
        )
    )
    return int(await session.scalar(q) or 0)


# Both run in every socket's hello: built once, and run past the ORM (core_execute).
_ONLINE_IN = (
    select(Membership.group_id, func.count(func.distinct(Presence.user_id)))
    .join(Membership, Membership.user_id == Presence.user_id)
    .where(
        Membership.group_id.in_(bindparam("group_ids", expanding=True)),
        Membership.role == "facilitator",
        Presence.expires_at > bindparam("now", type_=UTCDateTime()),
    )
    .group_by(Membership.group_id)
)
_ON_BREAK = (
    select(Room.id)
    .join(Membership, Membership.group_id == Room.group_id)
    .where(
        Membership.user_id == bindparam("user_id", type_=Integer),
        Membership.break_until > bindparam("now", type_=UTCDateTime()),
    )
)


async def facilitators_online_in(
    session: AsyncSession, group_ids: list[int], now: datetime
) -> dict[int, int]:
    """facilitators_online for several groups in one query (a socket's hello)."""
    if not group_ids:
        return {}
    rows = await core_execute(session, _ONLINE_IN, {"group_ids": group_ids, "now": now})
    counts = {gid: int(n) for gid, n in rows.all()}
    return {gid: counts.get(gid, 0) for gid in group_ids}


async def rooms_on_break(session: AsyncSession, user_id: int, now: datetime) -> list[int]:
    rows = await core_execute(session, _ON_BREAK, {"user_id": user_id, "now": now})
    return list(rows.scalars().all())


async def facilitated_groups(session: AsyncSession, user: User) -> list[int]:
    if user.role == "admin":
        return list((await session.scalars(select(Group.id))).all())
    q = select(Membership.group_id).where(
        Membership.user_id == user.id, Membership.role == "facilitator"
    )
    return list((await session.scalars(q)).all())


CONTEXT = 2  # messages either side of a flagged one


async def _around(session: AsyncSession, keys: KeyStore, flag: Flag) -> list[dict[str, Any]]:
    """The few messages before and after a flagged one, so it can be judged in context."""
    if flag.message_id is None:
        return []
    m = await session.get(Message, flag.message_id)
    if m is None:
        return []
    rows = (
        await session.scalars(
            select(Message)
            .where(
                Message.room_id == m.room_id,
                Message.seq >= m.seq - CONTEXT,
                Message.seq <= m.seq + CONTEXT,
            )
            .order_by(Message.seq)
        )
    ).all()
    return await readable(keys, flag.group_id, list(rows))


async def flags_for(
    session: AsyncSession,
    keys: KeyStore,
    group_ids: list[int],
    *,
    statuses: tuple[str, ...] = ("open", "acknowledged"),
    urgent_only: bool = False,
    assigned_to: int | None = None,
    admin: bool = False,
) -> list[dict[str, Any]]:
    """The queue of the groups a facilitator runs (the caller decides which those are).
    Reports about a group's own facilitators are in an admin's queue only."""
    if not group_ids:
        return []
    q = (
        select(Flag, Group.slug, Group.name)
        .join(Group, Group.id == Flag.group_id)
        .where(Flag.group_id.in_(group_ids), Flag.status.in_(statuses))
        .order_by(Flag.created_at.asc())
        .limit(QUEUE_LIMIT)
    )
    if not admin:
        q = q.where(Flag.for_admins.is_(False))
    if urgent_only:
        q = q.where(Flag.level == "imminent")
    if assigned_to is not None:  # a facilitator's own caseload
        q = q.where(Flag.assigned_to == assigned_to)
    out = []
    for flag, slug, name in (await session.execute(q)).all():
        message = None
        alias = None
        if flag.message_id is not None:
            m = await session.get(Message, flag.message_id)
            if m is not None:
                message = (await readable(keys, flag.group_id, [m]))[0]
                alias = m.author_alias
        if alias is None and flag.subject_user_id is not None:
            alias = await session.scalar(
                select(Membership.alias).where(
                    Membership.group_id == flag.group_id,
                    Membership.user_id == flag.subject_user_id,
                )
            )
        note = None
        if flag.note is not None:
            note = await keys.open_text(flag.group_id, flag.note, flag_context(flag.id))
        item = flag_dict(flag, message=message, subject_alias=alias, note=note)
        if flag.kind == "report":
            item["rule"] = flag.rule
            item["report_note"] = None
            if flag.report_note is not None:
                item["report_note"] = await keys.open_text(
                    flag.group_id, flag.report_note, b"safespace:report:%d" % flag.id
                )
        item["group"] = {"slug": slug, "name": name}
        item["waiting_since"] = iso(flag.created_at)
        item["assigned_to"] = None
        if flag.assigned_to is not None:
            item["assigned_to"] = await session.scalar(
                select(Membership.alias).where(
                    Membership.group_id == flag.group_id, Membership.user_id == flag.assigned_to
                )
            )
        item["context"] = await _around(session, keys, flag)
        out.append(item)
    return out
