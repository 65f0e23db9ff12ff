"""Facilitators schedule a group's sessions."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select

from safespace.actions import audit
from safespace.actions.base import Tx, transaction
from safespace.actions.groups import group_for_update, is_facilitator
from safespace.db.models import GroupSession, Room, SessionAck, SessionRun, User
from safespace.errors import AppError, invalid, not_found
from safespace.events.types import SessionChanged
from safespace.queries import sessions
from safespace.queries.rooms import access_room_as_member
from safespace.queries.sessions import Live
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
    begins = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))
    if weekly is not True and begins <= svc.clock.now():
        raise invalid(
            "That time has already passed. Choose a time that's still to come.", field="start"
        )
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


# ----------------------------------------------------------- running a session live

OPEN_MINUTES = (30, 45, 60, 90, 120)


async def _room(tx: Tx, group_id: int) -> int:
    room_id = await tx.session.scalar(
        select(Room.id).where(Room.group_id == group_id, Room.kind == "main")
    )
    assert room_id is not None
    return room_id


async def open_now(svc: Services, actor: User, slug: str, minutes: object = None) -> Live:
    """Open a session now: the next scheduled one, if it starts within the hour, opens
    early; otherwise an unscheduled session runs for the minutes given (60 by default)."""
    if minutes is not None and minutes not in OPEN_MINUTES:
        raise invalid("Open a session for 30, 45, 60, 90 or 120 minutes.", field="minutes")
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can open a session.", 403)
        now = svc.clock.now()
        if await sessions.live(tx.session, group.id, now) is not None:
            raise AppError("session_live", "A session is already on.", 409)
        nxt = await sessions.next_occurrence(tx.session, group.id, now)
        if nxt is not None and nxt.start - now <= sessions.SOON and minutes is None:
            run = SessionRun(
                group_id=group.id,
                session_id=nxt.session.id,
                occurrence_start=nxt.start,
                title=nxt.session.title,
                opened_at=now,
                ends_at=nxt.end,
                opened_by=actor.id,
            )
        else:
            run = SessionRun(
                group_id=group.id,
                title="Open session",
                opened_at=now,
                ends_at=now + timedelta(minutes=int(minutes or 60)),
                opened_by=actor.id,
            )
        tx.session.add(run)
        await tx.session.flush()
        audit.record(tx, actor.id, "session_opened", group_id=group.id, run_id=run.id)
        tx.on_commit(SessionChanged(group_id=group.id, room_id=await _room(tx, group.id)))
        found = await sessions.live(tx.session, group.id, now)
        assert found is not None
        return found


async def close_now(svc: Services, actor: User, slug: str) -> None:
    """Close the session that's on, before its planned end."""
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can close a session.", 403)
        now = svc.clock.now()
        current = await sessions.live(tx.session, group.id, now)
        if current is None:
            raise AppError("no_session", "There's no session on right now.", 409)
        if current.run_id is not None:
            run = await tx.session.get(SessionRun, current.run_id)
            assert run is not None
            run.closed_at = now
        else:  # a scheduled meeting running on time: record that it ended early
            tx.session.add(
                SessionRun(
                    group_id=group.id,
                    session_id=current.session_id,
                    occurrence_start=current.occurrence_start,
                    title=current.title,
                    opened_at=current.start,
                    ends_at=current.end,
                    closed_at=now,
                    opened_by=None,
                )
            )
        audit.record(tx, actor.id, "session_closed", group_id=group.id, key=current.key)
        tx.on_commit(SessionChanged(group_id=group.id, room_id=await _room(tx, group.id)))


async def acknowledge(svc: Services, actor: User, room_id: object, key: object) -> None:
    """An attendee says they'll keep to the ground rules for the session that's on."""
    async with transaction(svc) as tx:
        access = await access_room_as_member(tx.session, actor, room_id)
        current = await sessions.live(tx.session, access.group_id, svc.clock.now())
        if current is None or key != current.key:
            raise AppError(
                "no_session", "That session isn't on any more. The room shows what's next.", 409
            )
        if not await sessions.acknowledged(tx.session, access.group_id, current.key, actor.id):
            tx.session.add(
                SessionAck(
                    group_id=access.group_id,
                    session_key=current.key,
                    user_id=actor.id,
                    acked_at=svc.clock.now(),
                )
            )
            tx.on_commit(SessionChanged(group_id=access.group_id, room_id=access.room_id))


async def forget_old_acknowledgements(svc: Services) -> int:
    """Acknowledgements matter only while their session runs: keep them a day at most."""
    async with transaction(svc) as tx:
        result = await tx.session.execute(
            delete(SessionAck).where(SessionAck.acked_at < svc.clock.now() - timedelta(days=1))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
