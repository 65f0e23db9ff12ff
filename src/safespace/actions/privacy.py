"""A person's own data and how long anything is kept: retention, export and erase."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from safespace.actions import audit
from safespace.actions.base import transaction
from safespace.actions.groups import end_guests_of, group_for_update, is_facilitator
from safespace.db.models import AuthSession, Group, Membership, Message, RecoveryCode, Room, User
from safespace.errors import AppError, invalid
from safespace.events.types import GroupDeleted, MembershipChanged, SessionsEnded
from safespace.passwords import verify_password
from safespace.services import Services

RETENTION_CHOICES = (7, 30, 90, 365, 0)  # days; 0 keeps messages until deleted by hand


def allowed_retention(svc: Services) -> list[int]:
    cap = svc.settings.max_retention_days
    return [d for d in RETENTION_CHOICES if not cap or (d and d <= cap)]


async def set_retention(svc: Services, actor: User, slug: str, days: object) -> int:
    """A group's facilitators choose how long its messages live, within the operator's cap."""
    if not isinstance(days, int) or isinstance(days, bool) or days not in allowed_retention(svc):
        choices = ", ".join("forever" if d == 0 else f"{d} days" for d in allowed_retention(svc))
        raise invalid(f"Choose one of: {choices}.", field="retention_days")
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can change that.", 403)
        group.retention_days = days  # 0: forever; None (never chosen): the default
        audit.record(tx, actor.id, "retention_changed", group_id=group.id, days=days)
    return days


def effective_retention(svc: Services, group: Group) -> int:
    return effective_retention_days(svc, group.retention_days)


def effective_retention_days(svc: Services, chosen: int | None) -> int:
    """Days a group's messages are kept (0: forever); groups that never chose get the
    operator's default, and nobody gets more than the operator's maximum."""
    days = chosen if chosen is not None else svc.settings.default_retention_days
    cap = svc.settings.max_retention_days
    if cap and (days == 0 or days > cap):
        days = cap
    return days


async def apply_retention(svc: Services) -> int:
    """Delete every message older than its group's retention. Returns how many."""
    now = svc.clock.now()
    async with svc.db.read() as session:
        groups = list((await session.scalars(select(Group))).all())
    removed = 0
    for group in groups:
        days = effective_retention(svc, group)
        if not days:
            continue
        cutoff = now - timedelta(days=days)
        async with transaction(svc) as tx:
            rooms = select(Room.id).where(Room.group_id == group.id)
            result = await tx.session.execute(
                delete(Message).where(Message.room_id.in_(rooms), Message.created_at < cutoff)
            )
            removed += result.rowcount or 0  # type: ignore[attr-defined]
    return removed


async def purge_expired_sessions(svc: Services) -> int:
    """Delete sessions past their idle or absolute limit. One presented after it expired is
    deleted on the spot; this catches those never presented again. Returns how many."""
    now = svc.clock.now()
    idle_cutoff = now - timedelta(minutes=svc.settings.session_idle_minutes)
    absolute_cutoff = now - timedelta(days=svc.settings.session_absolute_days)
    async with transaction(svc) as tx:
        ids = list(
            (
                await tx.session.scalars(
                    select(AuthSession.id).where(
                        or_(
                            AuthSession.last_seen_at < idle_cutoff,
                            AuthSession.created_at < absolute_cutoff,
                        )
                    )
                )
            ).all()
        )
        if ids:
            await tx.session.execute(delete(AuthSession).where(AuthSession.id.in_(ids)))
            tx.on_commit(SessionsEnded(session_ids=ids))
    return len(ids)


async def erase_account(svc: Services, user: User, password: str) -> None:
    """Delete an account and what it wrote. Messages stay as "message deleted" tombstones so
    the conversation keeps its shape; audit rows keep the action but lose the person."""
    async with svc.db.read() as session:
        fresh = await session.get(User, user.id)
    if fresh is None or not await verify_password(fresh.password_hash, password):
        raise AppError("invalid_credentials", "Your password isn't right.", 403)
    async with transaction(svc) as tx:
        now = svc.clock.now()
        await tx.session.execute(
            update(Message)
            .where(Message.author_id == user.id)
            .values(
                body=None,
                warning_note=None,
                author_alias="",
                author_role=None,
                author_host=None,
                author_id=None,
                client_id="",
                deleted_at=now,
            )
        )
        rooms = (
            await tx.session.scalars(
                select(Room.id)
                .join(Membership, Membership.group_id == Room.group_id)
                .where(Membership.user_id == user.id)
            )
        ).all()
        sessions = (
            await tx.session.scalars(select(AuthSession.id).where(AuthSession.user_id == user.id))
        ).all()
        for m in (
            await tx.session.scalars(select(Membership).where(Membership.user_id == user.id))
        ).all():
            group_rooms = list(
                (await tx.session.scalars(select(Room.id).where(Room.group_id == m.group_id))).all()
            )
            # Their guests lose access, and guests' messages stop naming them as host.
            await end_guests_of(tx, m.group_id, user.id, group_rooms)
            await tx.session.execute(
                update(Message)
                .where(Message.room_id.in_(group_rooms), Message.author_host == m.alias)
                .values(author_host=None)
            )
        await tx.session.execute(delete(Membership).where(Membership.user_id == user.id))
        await tx.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await tx.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
        # Audit rows, groups and rules keep their meaning; the foreign keys to the person
        # are nulled by the database (ON DELETE SET NULL) when the row goes.
        await tx.session.execute(delete(User).where(User.id == user.id))
        tx.on_commit(SessionsEnded(session_ids=list(sessions)))
        tx.on_commit(MembershipChanged(user_id=user.id, removed=list(rooms)))


async def delete_group(svc: Services, actor: User, slug: str) -> None:
    """Delete a group with everything said in it, then destroy its key: copies of its
    messages in earlier backups can no longer be read."""
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can delete it.", 403)
        group_id = group.id
        rooms = (await tx.session.scalars(select(Room.id).where(Room.group_id == group_id))).all()
        members = (
            await tx.session.scalars(
                select(Membership.user_id).where(Membership.group_id == group_id)
            )
        ).all()
        await tx.session.execute(delete(Message).where(Message.room_id.in_(rooms)))
        await tx.session.execute(delete(Group).where(Group.id == group_id))
        audit.record(tx, actor.id, "group_deleted", slug=slug)
        for uid in members:
            tx.on_commit(MembershipChanged(user_id=uid, removed=list(rooms)))
    await svc.keys.destroy(group_id)
    # Only now: a process that heard of it earlier could load the key again before it's gone.
    await svc.broker.publish(GroupDeleted(group_id=group_id).to_wire())
