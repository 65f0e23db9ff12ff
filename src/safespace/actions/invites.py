"""Invitation links. A member invites one guest (a friend or family member) when the
group allows guests; facilitators invite new members, which is how an invite-only group
grows. Each link works once and expires."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from safespace.actions import audit
from safespace.actions.base import Tx, transaction
from safespace.actions.groups import (
    _alias_free,
    _free_variant,
    _main_room,
    _membership,
    _rules_not_accepted,
    check_alias,
    group_for_update,
)
from safespace.db.models import Group, Invite, Membership, User
from safespace.errors import AppError, invalid
from safespace.events.types import MembershipChanged
from safespace.services import Services

GUEST_LINK_LIFE = timedelta(hours=48)
MEMBER_LINK_LIFE = timedelta(days=7)
KINDS = ("guest", "member")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def gone() -> AppError:
    # One answer for unknown, used and expired links: a link reveals nothing it shouldn't.
    return AppError(
        "invite_gone",
        "This invitation link has expired or has already been used. Ask the person who "
        "sent it for a new one.",
        404,
    )


@dataclass(frozen=True)
class NewInvite:
    token: str
    invite: Invite


async def create_invite(svc: Services, actor: User, slug: str, kind: object) -> NewInvite:
    if kind not in KINDS:
        raise invalid("kind is guest or member.", field="kind")
    await svc.limits.hit("invites", str(actor.id))
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        m = await _membership(tx, group.id, actor.id)
        now = svc.clock.now()
        if kind == "member":
            if actor.role != "admin" and (m is None or m.role != "facilitator"):
                raise AppError(
                    "forbidden", "Only this group's facilitators can invite new members.", 403
                )
            life = MEMBER_LINK_LIFE
        else:
            if m is None or m.role == "guest":
                raise AppError("forbidden", "Only members of this group can invite a guest.", 403)
            if not group.guests_allowed:
                raise AppError("guests_not_allowed", "This group doesn't welcome guests.", 403)
            if await _guest_of(tx, group.id, actor.id) is not None:
                raise AppError(
                    "has_guest",
                    "You already have a guest in this group. Each member can bring one.",
                    409,
                )
            # One open guest link at a time: a new one replaces the last.
            await tx.session.execute(
                delete(Invite).where(
                    Invite.group_id == group.id,
                    Invite.created_by == actor.id,
                    Invite.kind == "guest",
                    Invite.used_at.is_(None),
                )
            )
            life = GUEST_LINK_LIFE
        token = secrets.token_urlsafe(24)
        invite = Invite(
            group_id=group.id,
            kind=str(kind),
            token_hash=token_hash(token),
            created_by=actor.id,
            created_at=now,
            expires_at=now + life,
        )
        tx.session.add(invite)
        await tx.session.flush()
        audit.record(tx, actor.id, f"invite_{kind}", group_id=group.id, invite_id=invite.id)
        return NewInvite(token, invite)


async def _guest_of(tx: Tx, group_id: int, host_id: int) -> Membership | None:
    return await tx.session.scalar(
        select(Membership).where(Membership.group_id == group_id, Membership.host_id == host_id)
    )


async def _usable(tx: Tx, token: object) -> tuple[Invite, Group]:
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        raise gone()
    invite = await tx.session.scalar(select(Invite).where(Invite.token_hash == token_hash(token)))
    if invite is None or invite.used_at is not None or invite.expires_at <= tx.svc.clock.now():
        raise gone()
    group = await tx.session.get(Group, invite.group_id)
    assert group is not None
    return invite, group


async def accept_invite(
    svc: Services, actor: User, token: object, accept_rules_version: object, alias: object = None
) -> Membership:
    """Use a link: the person has read the group's current rules and accepts them. A guest
    becomes a guest of the member who invited them; a member link makes a member, past
    approval or invitation-only (not past a ban, and not past a full group)."""
    chosen = check_alias(alias) if alias not in (None, "") else None
    async with transaction(svc) as tx:
        invite, group = await _usable(tx, token)
        if accept_rules_version != group.rules_version:
            raise _rules_not_accepted(group.rules_version)
        if await _membership(tx, group.id, actor.id) is not None:
            raise AppError("already_member", "You're already in this group.", 409)
        from safespace.actions.moderation import is_banned

        if await is_banned(tx.session, group.id, actor.id):
            raise AppError(
                "banned",
                "You can't join this group: its facilitators have removed you from it. "
                "If you think that was a mistake, you can ask the people who run this site.",
                403,
            )
        host: Membership | None = None
        if invite.kind == "guest":
            host = await _membership(tx, group.id, invite.created_by)
            if host is None or host.role == "guest" or not group.guests_allowed:
                raise gone()
            if await _guest_of(tx, group.id, invite.created_by) is not None:
                raise gone()
        elif group.max_members:
            count = await tx.session.scalar(
                select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
            )
            if (count or 0) >= group.max_members:
                raise AppError("group_full", "This group is full right now.", 409)
        name = chosen or actor.username
        if not await _alias_free(tx, group.id, name, actor.id):
            if chosen:
                raise AppError("alias_taken", "Someone in this group already uses that alias.", 409)
            name = await _free_variant(tx, group.id, actor.username)
        now = svc.clock.now()
        membership = Membership(
            group_id=group.id,
            user_id=actor.id,
            role="guest" if host is not None else "member",
            host_id=host.user_id if host is not None else None,
            alias=name,
            alias_key=name.lower(),
            accepted_rules_version=group.rules_version,
            joined_at=now,
        )
        tx.session.add(membership)
        invite.used_at, invite.used_by = now, actor.id
        audit.record(
            tx,
            actor.id,
            "guest_joined" if host is not None else "member_joined_by_invite",
            group_id=group.id,
            target_user_id=host.user_id if host is not None else None,
        )
        room = await _main_room(tx, group.id)
        tx.on_commit(MembershipChanged(user_id=actor.id, added=[room.id], group_id=group.id))
        return membership


async def preview(svc: Services, token: object) -> dict[str, object]:
    """What the link's page shows before anyone accepts: the group, its rules, who
    invited (their alias in the group) and as what."""
    from safespace.queries.groups import group_detail

    async with transaction(svc) as tx:
        invite, group = await _usable(tx, token)
        inviter = await _membership(tx, group.id, invite.created_by)
        expires = invite.expires_at
        kind = invite.kind
    async with svc.db.read() as session:
        detail = await group_detail(session, group.slug)
    return {
        "kind": kind,
        "invited_by": inviter.alias if inviter else None,
        "expires_at": expires,
        "group": {k: v for k, v in detail.items() if k != "id"},
    }


async def forget_old_invites(svc: Services) -> int:
    """Used or expired links are kept a week (so "already used" makes sense), then go."""
    async with transaction(svc) as tx:
        result = await tx.session.execute(
            delete(Invite).where(Invite.expires_at < svc.clock.now() - timedelta(days=7))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
