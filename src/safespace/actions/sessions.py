"""Facilitators schedule a group's sessions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from safespace.actions import audit
from safespace.actions.base import transaction
from safespace.actions.groups import group_for_update, is_facilitator
from safespace.db.models import GroupSession, User
from safespace.errors import AppError, invalid, not_found
from safespace.services import Services

MAX_MINUTES = 8 * 60


def _check(
    title: object, start: object, minutes: object, timezone: object
) -> tuple[str, str, int, str]:
    if not isinstance(title, str) or not title.strip() or len(title) > 80:
        raise invalid("Give the session a title of up to 80 characters.", field="title")
    if not isinstance(timezone, str) or len(timezone) > 64:
        raise invalid("Choose a time zone, such as Europe/London.", field="timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"{timezone[:64]!r} isn't a time zone we know.", field="timezone") from None
    try:
        local = datetime.fromisoformat(str(start))
    except ValueError:
        raise invalid(
            "start is a local date and time, like 2026-12-01T19:00.", field="start"
        ) from None
    if local.tzinfo is not None:
        raise invalid(
            "Give start as local time, without an offset: the time zone says where.", field="start"
        )
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 15 <= minutes <= MAX_MINUTES
    ):
        raise invalid("A session lasts 15 minutes to 8 hours.", field="minutes")
    return title.strip(), local.strftime("%Y-%m-%dT%H:%M"), minutes, timezone


async def schedule(
    svc: Services,
    actor: User,
    slug: str,
    title: object,
    start: object,
    minutes: object,
    timezone: object,
    weekly: object = False,
) -> GroupSession:
    t, local, length, zone = _check(title, start, minutes, timezone)
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError(
                "forbidden", "Only this group's facilitators can schedule sessions.", 403
            )
        s = GroupSession(
            group_id=group.id,
            title=t,
            starts_local=local,
            minutes=length,
            timezone=zone,
            weekly=weekly is True,
            created_by=actor.id,
            created_at=svc.clock.now(),
        )
        tx.session.add(s)
        await tx.session.flush()
        audit.record(tx, actor.id, "session_scheduled", group_id=group.id, session_id=s.id)
        return s


async def cancel(svc: Services, actor: User, slug: str, session_id: object) -> None:
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can cancel sessions.", 403)
        s = await tx.session.get(GroupSession, session_id) if isinstance(session_id, int) else None
        if s is None or s.group_id != group.id:
            raise not_found("That session")
        await tx.session.delete(s)
        audit.record(tx, actor.id, "session_cancelled", group_id=group.id, session_id=session_id)
