"""Reports and sanctions. Every sanction cites a ground rule, tells the member what
happened and why, and is written to the group's audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from safespace.actions import audit
from safespace.actions.base import Tx, transaction
from safespace.actions.groups import end_guests_of, group_for_update, is_facilitator
from safespace.actions.safety import _raise_flag
from safespace.db.models import (
    Flag,
    Group,
    GroupRules,
    Membership,
    Message,
    Room,
    Sanction,
    User,
)
from safespace.db.models.moderation import SANCTION_KINDS
from safespace.errors import AppError, invalid, not_found
from safespace.events.types import MembershipChanged, MessageHidden, SanctionGiven
from safespace.queries.dates import iso
from safespace.queries.rooms import access_room_as_member
from safespace.services import Services

MAX_REASON = 1000
MUTE_CHOICES = (15, 60, 240, 1440, 10080)  # minutes: 15 min, 1 h, 4 h, a day, a week
THANKS = (
    "Thank you. The group's facilitators will look at this. Nobody else is told who reported it."
)


def report_context(flag_id: int) -> bytes:
    return b"safespace:report:%d" % flag_id


def sanction_context(sanction_id: int) -> bytes:
    return b"safespace:sanction:%d" % sanction_id


async def _rules(tx: Tx, group: Group) -> list[str]:
    rules = await tx.session.scalar(
        select(GroupRules.rules).where(
            GroupRules.group_id == group.id, GroupRules.version == group.rules_version
        )
    )
    return list(rules or [])


def _check_rule(rule: object, rules: list[str], required: bool = True) -> int | None:
    if rule is None and not required:
        return None
    if not isinstance(rule, int) or isinstance(rule, bool) or not 1 <= rule <= len(rules):
        raise invalid(f"Choose which ground rule, 1 to {len(rules)}.", field="rule")
    return rule


def _check_text(text: object, field: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or "\x00" in text or len(text) > MAX_REASON:
        raise invalid(f"Keep it to {MAX_REASON} characters.", field=field)
    return text.strip() or None


# ----------------------------------------------------------------------- reports


async def report(
    svc: Services,
    actor: User,
    room_id: object,
    seq: object = None,
    alias: object = None,
    rule: object = None,
    note: object = None,
) -> str:
    """Report a message (room and seq) or a person (room and their alias) to the group's
    facilitators. The answer is the same whether or not the target exists, so a report
    can't be used to find out who is in a room."""
    await svc.limits.hit("reports", str(actor.id))
    text = _check_text(note, "note")
    try:
        async with transaction(svc) as tx:
            access = await access_room_as_member(tx.session, actor, room_id)
            group = await tx.session.get(Group, access.group_id)
            assert group is not None
            number = _check_rule(rule, await _rules(tx, group), required=False)
            msg: Message | None = None
            subject: int | None = None
            subject_alias: str | None = None
            if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < 2**31:
                msg = await tx.session.scalar(
                    select(Message).where(Message.room_id == access.room_id, Message.seq == seq)
                )
                if msg is None or msg.author_id is None:
                    return THANKS
                subject, subject_alias = msg.author_id, msg.author_alias
            elif isinstance(alias, str) and alias:
                m = await tx.session.scalar(
                    select(Membership).where(
                        Membership.group_id == access.group_id,
                        Membership.alias_key == alias.strip().lower(),
                    )
                )
                if m is None:
                    return THANKS
                subject, subject_alias = m.user_id, m.alias
            else:
                raise invalid("Say which message or person you're reporting.")
            if subject == actor.id:
                return THANKS
            # A report about one of this group's facilitators goes to the site's admins.
            about_facilitator = (
                await tx.session.scalar(
                    select(Membership.role).where(
                        Membership.group_id == access.group_id, Membership.user_id == subject
                    )
                )
                == "facilitator"
            )
            flag = await _raise_flag(
                tx,
                Flag(
                    group_id=access.group_id,
                    room_id=access.room_id,
                    message_id=msg.id if msg else None,
                    kind="report",
                    subject_user_id=subject,
                    raised_by=actor.id,
                    rule=number,
                    for_admins=about_facilitator,
                ),
                subject_alias=subject_alias,
            )
            if text:
                flag.report_note = await svc.keys.seal_text(
                    access.group_id, text, report_context(flag.id)
                )
    except AppError as err:
        if err.code == "not_found":
            return THANKS
        raise
    return THANKS


# ----------------------------------------------------------------------- sanctions


async def _target(tx: Tx, group: Group, alias: object) -> Membership:
    if not isinstance(alias, str) or not alias.strip():
        raise invalid("Say who this is about (their alias in this group).", field="alias")
    m = await tx.session.scalar(
        select(Membership).where(
            Membership.group_id == group.id, Membership.alias_key == alias.strip().lower()
        )
    )
    if m is None:
        raise not_found("That member")
    return m


async def _authorised(tx: Tx, actor: User, slug: str) -> Group:
    group = await group_for_update(tx, slug)
    if not await is_facilitator(tx, actor, group.id):
        # Not "forbidden": a member must not learn what facilitators can do here.
        raise AppError("forbidden", "Only this group's facilitators can do that.", 403)
    return group


async def _record(
    tx: Tx,
    actor: User,
    group: Group,
    user_id: int,
    kind: str,
    rule: int | None,
    reason: str | None,
    *,
    until: datetime | None = None,
    message_id: int | None = None,
) -> Sanction:
    sanction = Sanction(
        group_id=group.id,
        user_id=user_id,
        kind=kind,
        rule=rule,
        until=until,
        message_id=message_id,
        created_by=actor.id,
        created_at=tx.svc.clock.now(),
    )
    tx.session.add(sanction)
    await tx.session.flush()
    if reason:
        sanction.reason = await tx.svc.keys.seal_text(
            group.id, reason, sanction_context(sanction.id)
        )
    audit.record(
        tx,
        actor.id,
        f"sanction_{kind}",
        group_id=group.id,
        target_user_id=user_id,
        rule=rule,
        sanction_id=sanction.id,
        **({"until": iso(until)} if until else {}),
    )
    tx.on_commit(
        SanctionGiven(
            user_id=user_id,
            group_id=group.id,
            group_slug=group.slug,
            sanction={
                "id": sanction.id,
                "kind": kind,
                "rule": rule,
                "reason": reason,
                "until": iso(until) if until else None,
                "group": {"slug": group.slug, "name": group.name},
            },
        )
    )
    return sanction


async def sanction(
    svc: Services,
    actor: User,
    slug: str,
    kind: object,
    alias: object = None,
    rule: object = None,
    reason: object = None,
    minutes: object = None,
    room_id: object = None,
    seq: object = None,
) -> dict[str, Any]:
    """One step about one member: hide a message, a private warning, a timed mute, removal
    from the group, or a ban (removal that also stops them rejoining)."""
    if kind not in SANCTION_KINDS:
        raise invalid("kind is one of: " + ", ".join(SANCTION_KINDS) + ".", field="kind")
    why = _check_text(reason, "reason")
    async with transaction(svc) as tx:
        group = await _authorised(tx, actor, slug)
        number = _check_rule(rule, await _rules(tx, group))
        if kind == "hide":
            return await _hide(tx, actor, group, room_id, seq, number, why)
        target = await _target(tx, group, alias)
        if target.user_id == actor.id:
            raise invalid("You can't do that to yourself.")
        if target.role == "facilitator":
            raise invalid(
                "Facilitators can't be sanctioned here. An admin can change their role.",
                field="alias",
            )
        until = None
        if kind == "mute":
            if minutes not in MUTE_CHOICES:
                raise invalid(
                    "Choose a mute of 15 minutes, 1 hour, 4 hours, a day or a week.",
                    field="minutes",
                )
            assert isinstance(minutes, int)
            until = svc.clock.now() + timedelta(minutes=minutes)
        s = await _record(tx, actor, group, target.user_id, str(kind), number, why, until=until)
        if kind in ("removal", "ban"):
            rooms = list(
                (await tx.session.scalars(select(Room.id).where(Room.group_id == group.id))).all()
            )
            await tx.session.execute(delete(Membership).where(Membership.id == target.id))
            tx.on_commit(
                MembershipChanged(user_id=target.user_id, removed=rooms, group_id=group.id)
            )
            await end_guests_of(tx, group.id, target.user_id, rooms)
        return {"id": s.id, "kind": s.kind, "rule": number, "until": iso(until) if until else None}


async def _hide(
    tx: Tx,
    actor: User,
    group: Group,
    room_id: object,
    seq: object,
    rule: int | None,
    why: str | None,
) -> dict[str, Any]:
    if not isinstance(room_id, int) or not isinstance(seq, int):
        raise invalid("Say which message: room_id and seq.")
    msg = await tx.session.scalar(
        select(Message)
        .join(Room, Room.id == Message.room_id)
        .where(Room.group_id == group.id, Message.room_id == room_id, Message.seq == seq)
    )
    if msg is None or msg.deleted_at is not None:
        raise not_found("That message")
    if msg.hidden_at is None:
        msg.hidden_rule = rule
        msg.hidden_at = tx.svc.clock.now()
    s = None
    if msg.author_id is not None:
        s = await _record(tx, actor, group, msg.author_id, "hide", rule, why, message_id=msg.id)
    else:
        audit.record(tx, actor.id, "sanction_hide", group_id=group.id, rule=rule)
    tx.on_commit(MessageHidden(room_id=msg.room_id, seq=msg.seq, rule=rule))
    return {"id": s.id if s else None, "kind": "hide", "rule": rule, "until": None}


async def lift(svc: Services, actor: User, slug: str, sanction_id: object) -> None:
    """End a mute or a ban early (a hidden message or a warning stays on record)."""
    if not isinstance(sanction_id, int) or isinstance(sanction_id, bool):
        raise not_found("That sanction")
    async with transaction(svc) as tx:
        group = await _authorised(tx, actor, slug)
        s = await tx.session.get(Sanction, sanction_id)
        if s is None or s.group_id != group.id or s.kind not in ("mute", "ban"):
            raise not_found("That sanction")
        if s.lifted_at is None:
            s.lifted_at = svc.clock.now()
            audit.record(
                tx,
                actor.id,
                f"{s.kind}_lifted",
                group_id=group.id,
                target_user_id=s.user_id,
                sanction_id=s.id,
            )


async def active_mute(
    tx_session: Any, group_id: int, user_id: int, now: datetime
) -> Sanction | None:
    return await tx_session.scalar(
        select(Sanction)
        .where(
            Sanction.group_id == group_id,
            Sanction.user_id == user_id,
            Sanction.kind == "mute",
            Sanction.lifted_at.is_(None),
            Sanction.until > now,
        )
        .order_by(Sanction.until.desc())
    )


async def is_banned(tx_session: Any, group_id: int, user_id: int) -> bool:
    found = await tx_session.scalar(
        select(Sanction.id).where(
            Sanction.group_id == group_id,
            Sanction.user_id == user_id,
            Sanction.kind == "ban",
            Sanction.lifted_at.is_(None),
        )
    )
    return found is not None


def muted_error(mute: Sanction) -> AppError:
    assert mute.until is not None
    rule = f" for breaking ground rule {mute.rule}" if mute.rule else ""
    return AppError(
        "muted",
        f"A facilitator has paused your posting in this group{rule}. You can still read, "
        f"and you can post again after {mute.until.strftime('%H:%M UTC on %d %b')}. "
        "If you think this is a mistake, ask a facilitator for a review from "
        '"I need support now".',
        403,
        until=iso(mute.until),
        rule=mute.rule,
    )
