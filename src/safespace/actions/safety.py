"""Safety actions: risk and "worried" flags, the private line to facilitators, breaks,
and who is online. A human decides: nothing here deletes or hides anyone's words."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from safespace.actions import audit
from safespace.actions.base import Tx, transaction
from safespace.actions.groups import group_for_update
from safespace.db.models import Flag, Membership, Message, Presence, Room, User
from safespace.db.models.safety import FLAG_STATUSES
from safespace.db.raw import core_execute
from safespace.errors import AppError, forbidden, invalid, not_found
from safespace.events.types import (
    BreakChanged,
    FacilitatorsOnline,
    FlagRaised,
    FlagUpdated,
    MembershipChanged,
)
from safespace.queries import safety as safety_queries
from safespace.queries.rooms import RoomAccess, access_room_as_member
from safespace.queries.safety import flag_context, flag_dict
from safespace.safety.assess import Assessment
from safespace.services import Services

PRESENCE_TTL = timedelta(seconds=90)
_ENTER = insert(Presence)
BREAK_CHOICES = (15, 30, 60, 120, 240)  # minutes
MAX_NOTE = 2000


# ----------------------------------------------------------------------- presence


async def enter(svc: Services, user_id: int, group_ids: list[int]) -> str:
    """A live connection opened: count this person online on every process."""
    presence_id = str(uuid.uuid4())
    row = {"id": presence_id, "user_id": user_id, "expires_at": svc.clock.now() + PRESENCE_TTL}
    async with transaction(svc, inline=True) as tx:
        # Past the ORM's unit of work: a crowd reconnecting after a restart pays this once
        # per connection.
        await core_execute(tx.session, _ENTER, row)
        if group_ids:
            tx.on_commit(FacilitatorsOnline(group_ids=group_ids))
    return presence_id


async def still_here(svc: Services, presence_ids: list[str]) -> None:
    """A process's live connections, all refreshed at once (web/ws.py's keep_present)."""
    if not presence_ids:
        return
    async with transaction(svc, inline=True) as tx:
        until = svc.clock.now() + PRESENCE_TTL
        for start in range(0, len(presence_ids), 500):  # bounded IN lists
            await tx.session.execute(
                update(Presence)
                .where(Presence.id.in_(presence_ids[start : start + 500]))
                .values(expires_at=until)
            )


async def leave(svc: Services, presence_id: str, group_ids: list[int]) -> None:
    async with transaction(svc, inline=True) as tx:
        await tx.session.execute(delete(Presence).where(Presence.id == presence_id))
        await tx.session.execute(delete(Presence).where(Presence.expires_at <= svc.clock.now()))
        if group_ids:
            tx.on_commit(FacilitatorsOnline(group_ids=group_ids))


# ----------------------------------------------------------------------- flags


async def raise_risk_flag(
    tx: Tx,
    access: RoomAccess,
    author: User,
    message: dict[str, Any],
    message_id: int,
    assessment: Assessment,
) -> None:
    """Called by post_message, in its transaction, for an elevated or imminent message."""
    urgent = assessment.level == "imminent"
    nobody = urgent and (
        await safety_queries.facilitators_online(tx.session, access.group_id, tx.svc.clock.now())
        == 0
    )
    await _raise_flag(
        tx,
        Flag(
            group_id=access.group_id,
            room_id=access.room_id,
            message_id=message_id,
            kind="risk",
            level=assessment.level,
            signals=list(assessment.signals),
            subject_user_id=author.id,
        ),
        subject_alias=access.alias,
        message=message,
        urgent=urgent,
        notify_admins=nobody,
    )


async def _raise_flag(
    tx: Tx,
    flag: Flag,
    *,
    subject_alias: str | None,
    message: dict[str, Any] | None = None,
    urgent: bool = False,
    notify_admins: bool = False,
) -> Flag:
    """Store an open flag and, after commit, tell the group's facilitators."""
    flag.status = "open"
    flag.created_at = flag.updated_at = tx.svc.clock.now()
    if flag.signals is None:
        flag.signals = []
    tx.session.add(flag)
    await tx.session.flush()
    tx.on_commit(
        FlagRaised(
            group_id=flag.group_id,
            flag=flag_dict(flag, message=message, subject_alias=subject_alias),
            urgent=urgent,
            notify_admins=notify_admins or flag.for_admins,
            guide=(
                safety_queries.response_guide(tx.svc.settings.escalation_guide_file)
                if urgent
                else None
            ),
        )
    )
    return flag


async def worried_about(svc: Services, actor: User, room_id: object, seq: object) -> None:
    """ "I'm worried about this person": private to the group's facilitators. The person it
    is about is never told, and never told who."""
    await svc.limits.hit("reports", str(actor.id))  # flags share the reports budget
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise not_found("That message")
    async with transaction(svc) as tx:
        access = await access_room_as_member(tx.session, actor, room_id)
        msg = await tx.session.scalar(
            select(Message).where(Message.room_id == access.room_id, Message.seq == seq)
        )
        if msg is None or msg.deleted_at is not None:
            raise not_found("That message")
        existing = await tx.session.scalar(
            select(Flag.id).where(
                Flag.kind == "worried", Flag.message_id == msg.id, Flag.raised_by == actor.id
            )
        )
        if existing is not None:
            return  # already raised: once is enough
        await _raise_flag(
            tx,
            Flag(
                group_id=access.group_id,
                room_id=access.room_id,
                message_id=msg.id,
                kind="worried",
                subject_user_id=msg.author_id,
                raised_by=actor.id,
            ),
            subject_alias=msg.author_alias,
        )


async def _flag_for_facilitator(tx: Tx, actor: User, flag_id: int) -> Flag:
    flag = await tx.session.get(Flag, flag_id)
    if flag is None:
        raise not_found("That flag")
    if actor.role != "admin":
        if flag.for_admins:
            raise not_found("That flag")  # about a facilitator: the site's admins handle it
        role = await tx.session.scalar(
            select(Membership.role).where(
                Membership.group_id == flag.group_id, Membership.user_id == actor.id
            )
        )
        if role != "facilitator":
            raise not_found("That flag")  # a flag's existence is itself private
    return flag


async def set_flag_status(
    svc: Services, actor: User, flag_id: int, status: object, note: object = None
) -> Flag:
    if status not in FLAG_STATUSES:
        raise invalid("Status is open, acknowledged or resolved.", field="status")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise invalid(f"A note is at most {MAX_NOTE} characters.", field="note")
    async with transaction(svc) as tx:
        flag = await _flag_for_facilitator(tx, actor, flag_id)
        flag.status = str(status)
        flag.handled_by = actor.id
        flag.updated_at = svc.clock.now()
        if note:
            flag.note = await svc.keys.seal_text(flag.group_id, note, flag_context(flag.id))
        audit.record(tx, actor.id, f"flag_{status}", group_id=flag.group_id, flag_id=flag.id)
        tx.on_commit(FlagUpdated(group_id=flag.group_id, flag=flag_dict(flag)))
    return flag


async def assign_flag(svc: Services, actor: User, flag_id: int, alias: object) -> Flag:
    """Hand an item to another facilitator of its group (or back to everyone: None)."""
    async with transaction(svc) as tx:
        flag = await _flag_for_facilitator(tx, actor, flag_id)
        to = None
        if alias is not None:
            if not isinstance(alias, str):
                raise invalid("Say which facilitator (their alias).", field="to")
            to = await tx.session.scalar(
                select(Membership.user_id).where(
                    Membership.group_id == flag.group_id,
                    Membership.alias_key == alias.strip().lower(),
                    Membership.role == "facilitator",
                )
            )
            if to is None:
                raise invalid("That isn't one of this group's facilitators.", field="to")
            if flag.for_admins:
                raise invalid(
                    "A report about one of this group's facilitators stays with the site's admins.",
                    field="to",
                )
        flag.assigned_to = to
        flag.updated_at = svc.clock.now()
        audit.record(
            tx,
            actor.id,
            "flag_assigned",
            group_id=flag.group_id,
            flag_id=flag.id,
            target_user_id=to,
        )
        tx.on_commit(FlagUpdated(group_id=flag.group_id, flag=flag_dict(flag)))
    return flag


# ----------------------------------------------------------------------- private line


async def open_support_room(svc: Services, actor: User, slug: str) -> int:
    """Open (or reopen) a private room between a member and the group's facilitators,
    and let the facilitators know someone would like to talk."""
    await svc.limits.hit("reports", str(actor.id))  # each call raises a flag
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        membership = await tx.session.scalar(
            select(Membership).where(
                Membership.group_id == group.id, Membership.user_id == actor.id
            )
        )
        if membership is None:
            raise AppError("not_member", "Join this group first.", 403)
        if membership.role == "facilitator":
            raise forbidden("Facilitators reach members from their queue.")
        room = await tx.session.scalar(
            select(Room).where(
                Room.group_id == group.id, Room.kind == "support", Room.member_id == actor.id
            )
        )
        facilitators = list(
            (
                await tx.session.scalars(
                    select(Membership.user_id).where(
                        Membership.group_id == group.id, Membership.role == "facilitator"
                    )
                )
            ).all()
        )
        if room is None:
            room = Room(group_id=group.id, kind="support", member_id=actor.id, last_seq=0)
            tx.session.add(room)
            await tx.session.flush()
            for uid in [actor.id, *facilitators]:
                tx.on_commit(MembershipChanged(user_id=uid, added=[room.id], group_id=group.id))
        await _raise_flag(
            tx,
            Flag(group_id=group.id, room_id=room.id, kind="talk", subject_user_id=actor.id),
            subject_alias=membership.alias,
        )
        return room.id


# ----------------------------------------------------------------------- breaks


async def take_break(svc: Services, actor: User, slug: str, minutes: object) -> datetime | None:
    """Pause a group's rooms for this person: no live messages until they come back or
    the time is up. minutes=0 ends the break."""
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or (minutes != 0 and minutes not in BREAK_CHOICES)
    ):
        raise invalid("Choose 15, 30, 60, 120 or 240 minutes.", field="minutes")
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        membership = await tx.session.scalar(
            select(Membership).where(
                Membership.group_id == group.id, Membership.user_id == actor.id
            )
        )
        if membership is None:
            raise AppError("not_member", "Join this group first.", 403)
        until = svc.clock.now() + timedelta(minutes=minutes) if minutes else None
        membership.break_until = until
        rooms = list(
            (await tx.session.scalars(select(Room.id).where(Room.group_id == group.id))).all()
        )
        tx.on_commit(BreakChanged(user_id=actor.id, room_ids=rooms, on_break=until is not None))
        return until
