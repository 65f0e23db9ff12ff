"""Everything SafeSpace holds about one person, for them to download."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from safespace.db.models import (
    AuthSession,
    ConsentAnswer,
    Flag,
    Group,
    Invite,
    JoinRequest,
    Membership,
    Message,
    RecoveryCode,
    Room,
    SessionAck,
    User,
)
from safespace.queries.filters import filters_dict
from safespace.queries.messages import iso, readable
from safespace.queries.moderation import my_sanctions
from safespace.services import Services

FORMAT = "safespace-export/1"


async def export_account(svc: Services, user: User) -> dict[str, Any]:
    host = aliased(Membership)  # a guest's host, by their alias in the group
    async with svc.db.read() as session:
        fresh = await session.get(User, user.id)
        assert fresh is not None
        memberships = (
            await session.execute(
                select(Membership, Group, host.alias)
                .join(Group, Group.id == Membership.group_id)
                .outerjoin(host, (host.group_id == Group.id) & (host.user_id == Membership.host_id))
                .where(Membership.user_id == user.id)
                .order_by(Group.name)
            )
        ).all()
        sessions = (
            await session.scalars(select(AuthSession).where(AuthSession.user_id == user.id))
        ).all()
        codes = (
            await session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id))
        ).all()
        rows = (
            await session.execute(
                select(Message, Room.group_id)
                .join(Room, Room.id == Message.room_id)
                .where(Message.author_id == user.id)
                .order_by(Message.room_id, Message.seq)
            )
        ).all()
        group_names = dict((await session.execute(select(Group.id, Group.slug))).all())
        filters = await filters_dict(session, user.id)
        sanctions = await my_sanctions(session, svc.keys, user)
        raised = (
            await session.execute(
                select(Flag, Group.slug)
                .join(Group, Group.id == Flag.group_id)
                .where(Flag.raised_by == user.id)
                .order_by(Flag.created_at)
            )
        ).all()
        pending = (
            await session.execute(
                select(JoinRequest, Group.slug)
                .join(Group, Group.id == JoinRequest.group_id)
                .where(JoinRequest.user_id == user.id)
            )
        ).all()
        answers = (
            await session.execute(
                select(ConsentAnswer, Message.room_id, Message.seq)
                .join(Message, Message.id == ConsentAnswer.message_id)
                .where(ConsentAnswer.user_id == user.id)
            )
        ).all()
        made = (
            await session.execute(
                select(Invite, Group.slug)
                .join(Group, Group.id == Invite.group_id)
                .where(Invite.created_by == user.id)
                .order_by(Invite.created_at)
            )
        ).all()
        acks = (
            await session.execute(
                select(SessionAck, Group.slug)
                .join(Group, Group.id == SessionAck.group_id)
                .where(SessionAck.user_id == user.id)
            )
        ).all()
    by_group: dict[int, list[Message]] = defaultdict(list)
    for message, group_id in rows:
        by_group[group_id].append(message)
    messages = []
    for group_id, items in by_group.items():
        for item in await readable(svc.keys, group_id, items):
            messages.append({"group": group_names.get(group_id), **item})
    return {
        "format": FORMAT,
        "exported_at": iso(svc.clock.now()),
        "account": {
            "id": fresh.id,
            "username": fresh.username,
            "role": fresh.role,
            "created_at": iso(fresh.created_at),
        },
        "memberships": [
            {
                "group": g.slug,
                "group_name": g.name,
                "alias": m.alias,
                "role": m.role,
                **({"guest_of": host_alias} if m.role == "guest" else {}),
                "accepted_rules_version": m.accepted_rules_version,
                "joined_at": iso(m.joined_at),
            }
            for m, g, host_alias in memberships
        ],
        "messages": messages,
        "sessions": [
            {"kind": s.kind, "created_at": iso(s.created_at), "last_seen_at": iso(s.last_seen_at)}
            for s in sessions
        ],
        "recovery_codes": {
            "unused": sum(1 for c in codes if c.used_at is None),
            "used": sum(1 for c in codes if c.used_at is not None),
            "note": "Codes are stored only as one-way hashes, so they can't be shown again.",
        },
        # Reports and "I'm worried" flags you raised: what and when, never the person's words.
        "reports": [
            {"kind": f.kind, "group": slug, "rule": f.rule, "at": iso(f.created_at)}
            for f, slug in raised
        ],
        "sanctions": sanctions,  # steps facilitators took about you, with their reasons
        "join_requests": [{"group": slug, "at": iso(r.created_at)} for r, slug in pending],
        # Reading filters, muted words, and the people you blocked (as you knew them).
        "settings": {"filters": filters},
        # Invitation links you made (never the link itself: only its hash is kept).
        "invites": [
            {
                "group": slug,
                "kind": i.kind,
                "created_at": iso(i.created_at),
                "expires_at": iso(i.expires_at),
                "used": i.used_at is not None,
            }
            for i, slug in made
        ],
        "session_acknowledgements": [
            {"group": slug, "session": a.session_key, "at": iso(a.acked_at)} for a, slug in acks
        ],
        "consent_answers": [
            {"room_id": room_id, "seq": seq, "answer": a.answer, "at": iso(a.created_at)}
            for a, room_id, seq in answers
        ],
    }
