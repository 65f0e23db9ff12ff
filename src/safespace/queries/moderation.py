"""What facilitators and members may read of moderation: the audit log and sanctions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import AuditEntry, Group, Membership, Sanction, User
from safespace.errors import not_found
from safespace.privacy.keystore import KeyStore
from safespace.queries.dates import iso

# Audit actions members may see, in words that name no one.
PUBLIC_ACTIONS = {
    "sanction_hide": "A message was removed for breaking ground rule {rule}.",
    "sanction_removal": "A member was removed for breaking ground rule {rule}.",
    "sanction_ban": "A member was removed and may not rejoin, for breaking ground rule {rule}.",
    "rules_changed": "The ground rules were changed.",
    "topics_changed": "The group's topic rules were changed.",
}
REVIEW = (
    'If you think this was a mistake, you can ask for a review: open "I need support now" '
    "and talk to a facilitator privately, or, if you were removed, ask the people who run "
    "this site."
)


async def _role(session: AsyncSession, user: User, group_id: int) -> str | None:
    if user.role == "admin":
        return "admin"
    return await session.scalar(
        select(Membership.role).where(
            Membership.group_id == group_id, Membership.user_id == user.id
        )
    )


async def audit_log(
    session: AsyncSession,
    user: User,
    slug: str,
    limit: int = 200,
    keys: KeyStore | None = None,
) -> dict[str, Any]:
    """Facilitators of the group and admins read every entry (who, what, when, why);
    members read the public part; anyone else is told the group isn't there. With `keys`,
    a sanction's entry also carries the reason its facilitator wrote (full log only)."""
    group = await session.scalar(select(Group).where(Group.slug == slug))
    if group is None:
        raise not_found("That group")
    role = await _role(session, user, group.id)
    if role is None:
        raise not_found("That group")
    rows = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.group_id == group.id)
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    ).all()
    if role in ("facilitator", "admin"):
        aliases = dict(
            (
                await session.execute(
                    select(Membership.user_id, Membership.alias).where(
                        Membership.group_id == group.id
                    )
                )
            ).all()
        )
        names = dict((await session.execute(select(User.id, User.username))).all())

        def who(uid: int | None) -> str | None:
            if uid is None:
                return None
            return aliases.get(uid) or names.get(uid) or "a former member"

        reasons = await _reasons(session, keys, group.id, rows) if keys is not None else {}
        return {
            "entries": [
                {
                    "id": e.id,
                    "action": e.action,
                    "actor": who(e.actor_id),
                    "target": who(e.target_user_id),
                    "detail": e.detail,
                    "at": iso(e.created_at),
                    **(
                        {"reason": reasons.get((e.detail or {}).get("sanction_id"))}
                        if keys is not None
                        else {}
                    ),
                }
                for e in rows
            ],
            "full": True,
        }
    return {
        "entries": [
            {
                "action": e.action,
                "text": PUBLIC_ACTIONS[e.action].format(rule=(e.detail or {}).get("rule") or "?"),
                "at": iso(e.created_at),
            }
            for e in rows
            if e.action in PUBLIC_ACTIONS
        ],
        "full": False,
    }


async def _reasons(
    session: AsyncSession, keys: KeyStore, group_id: int, entries: Any
) -> dict[Any, str]:
    """The reasons facilitators wrote for the sanctions these entries record, by id."""
    from safespace.actions.moderation import sanction_context

    ids = {
        (e.detail or {}).get("sanction_id")
        for e in entries
        if isinstance((e.detail or {}).get("sanction_id"), int)
    }
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(Sanction.id, Sanction.reason).where(
                Sanction.group_id == group_id, Sanction.id.in_(ids), Sanction.reason.is_not(None)
            )
        )
    ).all()
    return {
        sid: await keys.open_text(group_id, reason, sanction_context(sid))
        for sid, reason in rows
        if reason is not None
    }


async def active_sanctions(
    session: AsyncSession, group_id: int, now: datetime
) -> list[dict[str, Any]]:
    """Mutes still running and bans not lifted, for the group's facilitators (who may lift
    them): whom, which rule, until when. A banned person is named as the audit log names
    them, since they are no longer a member."""
    rows = (
        await session.execute(
            select(Sanction, Membership.alias, User.username)
            .join(User, User.id == Sanction.user_id)
            .outerjoin(
                Membership,
                (Membership.group_id == Sanction.group_id)
                & (Membership.user_id == Sanction.user_id),
            )
            .where(
                Sanction.group_id == group_id,
                Sanction.lifted_at.is_(None),
                or_(
                    Sanction.kind == "ban",
                    (Sanction.kind == "mute") & (Sanction.until > now),
                ),
            )
            .order_by(Sanction.created_at.desc(), Sanction.id.desc())
        )
    ).all()
    return [
        {
            "id": s.id,
            "kind": s.kind,
            "who": alias or username,
            "rule": s.rule,
            "until": s.until,
            "at": s.created_at,
        }
        for s, alias, username in rows
    ]


async def my_sanctions(session: AsyncSession, keys: KeyStore, user: User) -> list[dict[str, Any]]:
    """Every step a facilitator took about me, with the rule, the reason, and the way to
    ask for a review."""
    from safespace.actions.moderation import sanction_context

    rows = (
        await session.execute(
            select(Sanction, Group)
            .join(Group, Group.id == Sanction.group_id)
            .where(Sanction.user_id == user.id)
            .order_by(Sanction.created_at.desc())
        )
    ).all()
    out = []
    for s, g in rows:
        reason = None
        if s.reason is not None:
            reason = await keys.open_text(g.id, s.reason, sanction_context(s.id))
        out.append(
            {
                "id": s.id,
                "kind": s.kind,
                "group": {"slug": g.slug, "name": g.name},
                "rule": s.rule,
                "reason": reason,
                "until": iso(s.until) if s.until else None,
                "lifted_at": iso(s.lifted_at) if s.lifted_at else None,
                "at": iso(s.created_at),
                "review": REVIEW,
            }
        )
    return out


async def has_sanctions(session: AsyncSession, user: User) -> bool:
    """Whether any facilitator ever took a step about this person (for their settings)."""
    found = await session.scalar(select(Sanction.id).where(Sanction.user_id == user.id).limit(1))
    return found is not None
