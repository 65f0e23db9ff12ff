"""Creating groups, editing their ground rules, joining, accepting rules, aliases."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from safespace import content
from safespace.actions import audit
from safespace.actions.base import Tx, transaction
from safespace.db.models import Group, GroupRules, GroupTag, Membership, Room, User
from safespace.errors import AppError, forbidden, invalid, not_found
from safespace.events.types import MembershipChanged, RulesChanged
from safespace.passwords import USERNAME_RE
from safespace.services import Services

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
MAX_RULES = 20
MAX_RULE_LEN = 500


@dataclass
class GroupCreated:
    group: Group
    room: Room
    rules: list[str]


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:48] or "group"


def clean_tags(tags: object) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or len(tags) > 8:
        raise invalid("Give up to 8 tags.", field="tags")
    out: list[str] = []
    for tag in tags:
        t = tag.strip().lower() if isinstance(tag, str) else ""
        if not TAG_RE.fullmatch(t):
            raise invalid("Tags are short words of letters, digits and -.", field="tags")
        if t not in out:
            out.append(t)
    return out


def clean_rules(rules: object) -> list[str]:
    if not isinstance(rules, list) or not rules or len(rules) > MAX_RULES:
        raise invalid(f"A group needs 1 to {MAX_RULES} ground rules.", field="rules")
    out = []
    for rule in rules:
        text = rule.strip() if isinstance(rule, str) else ""
        if not text or len(text) > MAX_RULE_LEN or "\x00" in text:
            raise invalid(f"Each ground rule is 1 to {MAX_RULE_LEN} characters.", field="rules")
        out.append(text)
    return out


def _check_text(value: object, field: str, label: str, lo: int, hi: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not lo <= len(text) <= hi:
        raise invalid(f"{label} must be {lo} to {hi} characters.", field=field)
    if "\x00" in text:  # no database text column can hold a NUL
        raise invalid(f"{label} can't contain NUL characters.", field=field)
    return text


async def create_group(
    svc: Services, actor: User, name: str, description: str, tags: object = None
) -> GroupCreated:
    if actor.role not in ("facilitator", "admin"):
        raise forbidden("Only facilitators and administrators can create groups.")
    name = _check_text(name, "name", "A group's name", 3, 80)
    description = _check_text(description, "description", "A description", 1, 2000)
    tag_list = clean_tags(tags)
    rules = content.default_group_rules()
    async with transaction(svc) as tx:
        base = slugify(name)
        slug, n = base, 1
        while await tx.session.scalar(select(Group.id).where(Group.slug == slug)) is not None:
            n += 1
            slug = f"{base}-{n}"
        now = svc.clock.now()
        group = Group(
            slug=slug,
            name=name,
            description=description,
            rules_version=1,
            created_by=actor.id,
            created_at=now,
            trending_score=0.0,
        )
        tx.session.add(group)
        await tx.session.flush()
        tx.session.add_all(GroupTag(group_id=group.id, tag=t) for t in tag_list)
        tx.session.add(
            GroupRules(
                group_id=group.id, version=1, rules=rules, created_at=now, created_by=actor.id
            )
        )
        room = Room(group_id=group.id, kind="main", last_seq=0)
        tx.session.add(room)
        # The creator runs the group: a facilitator member who has accepted its rules.
        tx.session.add(
            Membership(
                group_id=group.id,
                user_id=actor.id,
                role="facilitator",
                alias=actor.username,
                alias_key=actor.username.lower(),
                accepted_rules_version=1,
                joined_at=now,
            )
        )
        await tx.session.flush()
        audit.record(tx, actor.id, "group_created", group_id=group.id, name=name)
        tx.on_commit(
            MembershipChanged(
                user_id=actor.id, added=[room.id], group_id=group.id, facilitator=True
            )
        )
    return GroupCreated(group=group, room=room, rules=rules)


async def group_for_update(tx: Tx, slug: str) -> Group:
    group = await tx.session.scalar(select(Group).where(Group.slug == slug))
    if group is None:
        raise not_found("That group")
    return group


async def _membership(tx: Tx, group_id: int, user_id: int) -> Membership | None:
    return await tx.session.scalar(
        select(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id)
    )


async def is_facilitator(tx: Tx, actor: User, group_id: int) -> bool:
    if actor.role == "admin":
        return True
    m = await _membership(tx, group_id, actor.id)
    return m is not None and m.role == "facilitator"


async def _main_room(tx: Tx, group_id: int) -> Room:
    room = await tx.session.scalar(
        select(Room).where(Room.group_id == group_id, Room.kind == "main")
    )
    assert room is not None
    return room


async def update_rules(svc: Services, actor: User, slug: str, rules: object) -> int:
    """Publish a new version of a group's rules; members accept it before posting again."""
    new_rules = clean_rules(rules)
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise forbidden("Only this group's facilitators can change its ground rules.")
        group.rules_version += 1
        tx.session.add(
            GroupRules(
                group_id=group.id,
                version=group.rules_version,
                rules=new_rules,
                created_at=svc.clock.now(),
                created_by=actor.id,
            )
        )
        # The facilitator who wrote them has accepted them.
        m = await _membership(tx, group.id, actor.id)
        if m is not None:
            m.accepted_rules_version = group.rules_version
        room = await _main_room(tx, group.id)
        audit.record(tx, actor.id, "rules_changed", group_id=group.id, version=group.rules_version)
        tx.on_commit(RulesChanged(group_slug=slug, room_id=room.id, version=group.rules_version))
        return group.rules_version


def _rules_not_accepted(version: int) -> AppError:
    return AppError(
        "rules_not_accepted",
        "Please read and accept this group's current ground rules first.",
        409,
        rules_version=version,
    )


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not USERNAME_RE.fullmatch(alias):
        raise invalid("An alias is 3 to 32 letters, digits, _ or -.", field="alias")
    return alias


async def _alias_free(tx: Tx, group_id: int, alias: str, user_id: int) -> bool:
    holder = await tx.session.scalar(
        select(Membership.user_id).where(
            Membership.group_id == group_id, Membership.alias_key == alias.lower()
        )
    )
    return holder is None or holder == user_id


async def join_group(
    svc: Services, actor: User, slug: str, accept_rules_version: object, alias: object = None
) -> Membership | None:
    """Join a group, having accepted its current rules. None: the group's facilitators
    approve new members, and the request now waits for them."""
    chosen = check_alias(alias) if alias not in (None, "") else None
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not isinstance(accept_rules_version, int) or accept_rules_version != group.rules_version:
            raise _rules_not_accepted(group.rules_version)
        existing = await _membership(tx, group.id, actor.id)
        if existing is not None:
            existing.accepted_rules_version = group.rules_version
            return existing
        from safespace.actions.moderation import is_banned  # moderation imports this module

        if await is_banned(tx.session, group.id, actor.id):
            raise AppError(
                "banned",
                "You can't rejoin this group: its facilitators have removed you from it. "
                "If you think that was a mistake, you can ask the people who run this site.",
                403,
            )
        if group.max_members:
            count = await tx.session.scalar(
                select(func.count()).select_from(Membership).where(Membership.group_id == group.id)
            )
            if (count or 0) >= group.max_members:
                raise AppError(
                    "group_full",
                    "This group is full right now. You could try another group, or come back "
                    "later.",
                    409,
                )
        if group.join_policy == "invite" and actor.role != "admin":
            raise AppError(
                "invite_only",
                "This group welcomes new members by invitation. Its facilitators can send "
                "you a link.",
                403,
            )
        if group.join_policy == "approval" and actor.role != "admin":
            from safespace.db.models import JoinRequest

            pending = await tx.session.scalar(
                select(JoinRequest).where(
                    JoinRequest.group_id == group.id, JoinRequest.user_id == actor.id
                )
            )
            if pending is None:
                tx.session.add(
                    JoinRequest(
                        group_id=group.id,
                        user_id=actor.id,
                        alias=chosen,
                        created_at=svc.clock.now(),
                    )
                )
            return None  # waiting for a facilitator
        name = chosen or actor.username
        if not await _alias_free(tx, group.id, name, actor.id):
            if chosen:
                raise AppError("alias_taken", "Someone in this group already uses that alias.", 409)
            name = await _free_variant(tx, group.id, actor.username)
        membership = Membership(
            group_id=group.id,
            user_id=actor.id,
            role="member",
            alias=name,
            alias_key=name.lower(),
            accepted_rules_version=group.rules_version,
            joined_at=svc.clock.now(),
        )
        tx.session.add(membership)
        room = await _main_room(tx, group.id)
        tx.on_commit(MembershipChanged(user_id=actor.id, added=[room.id], group_id=group.id))
        return membership


async def _free_variant(tx: Tx, group_id: int, base: str) -> str:
    for n in range(2, 1000):
        candidate = f"{base[:28]}-{n}"
        if await _alias_free(tx, group_id, candidate, -1):
            return candidate
    raise AppError("alias_taken", "Please choose an alias for this group.", 409)


async def accept_rules(svc: Services, actor: User, slug: str, version: object) -> Membership:
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        m = await _membership(tx, group.id, actor.id)
        if m is None:
            raise AppError("not_member", "Join this group first.", 403)
        if version != group.rules_version:
            raise _rules_not_accepted(group.rules_version)
        m.accepted_rules_version = group.rules_version
        return m


async def set_alias(svc: Services, actor: User, slug: str, alias: object) -> Membership:
    name = check_alias(alias)
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        m = await _membership(tx, group.id, actor.id)
        if m is None:
            raise AppError("not_member", "Join this group first.", 403)
        if not await _alias_free(tx, group.id, name, actor.id):
            raise AppError("alias_taken", "Someone in this group already uses that alias.", 409)
        m.alias, m.alias_key = name, name.lower()
        return m


async def leave_group(svc: Services, actor: User, slug: str) -> None:
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        m = await _membership(tx, group.id, actor.id)
        if m is None:
            raise AppError("not_member", "You're not a member of this group.", 404)
        rooms = list(
            (await tx.session.scalars(select(Room.id).where(Room.group_id == group.id))).all()
        )
        await tx.session.execute(delete(Membership).where(Membership.id == m.id))
        tx.on_commit(MembershipChanged(user_id=actor.id, removed=rooms, group_id=group.id))
        await end_guests_of(tx, group.id, actor.id, rooms)


async def end_guests_of(tx: Tx, group_id: int, host_id: int, rooms: list[int]) -> None:
    """A guest's access ends with their host's: when the host leaves, is removed or
    erases their account. Their live connections lose the rooms at once."""
    guests = list(
        (
            await tx.session.scalars(
                select(Membership.user_id).where(
                    Membership.group_id == group_id, Membership.host_id == host_id
                )
            )
        ).all()
    )
    if not guests:
        return
    await tx.session.execute(
        delete(Membership).where(Membership.group_id == group_id, Membership.host_id == host_id)
    )
    for uid in guests:
        audit.record(tx, None, "guest_access_ended", group_id=group_id, target_user_id=uid)
        tx.on_commit(
            MembershipChanged(user_id=uid, removed=rooms, group_id=group_id, reason="host_left")
        )


TOPIC_KEYS = ("require_warning", "need_consent", "off_limits")


async def set_topics(
    svc: Services, actor: User, slug: str, topics: dict[str, object]
) -> dict[str, list[str]]:
    """A group's topic rules: warnings required, consent first, or not discussed here."""
    from safespace.reading.categories import CATEGORIES, METHOD_DETAIL

    clean: dict[str, list[str]] = {}
    for key in TOPIC_KEYS:
        value = topics.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"{key} must be a list of category ids.", field=key)
        allowed = set(CATEGORIES) | ({METHOD_DETAIL} if key == "off_limits" else set())
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise invalid(f"There's no category called {unknown[0][:40]!r}.", field=key)
        order = [*CATEGORIES, METHOD_DETAIL]
        clean[key] = [c for c in order if c in value]
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can change that.", 403)
        group.topics = clean
        audit.record(tx, actor.id, "topics_changed", group_id=group.id, topics=clean)
    return clean


async def set_cofacilitator(
    svc: Services, actor: User, slug: str, alias: object, facilitator: bool
) -> Membership:
    """The group's owner (who created it) or an admin makes a member a co-facilitator,
    or returns a co-facilitator to being a member."""
    if not isinstance(alias, str) or not alias.strip():
        raise invalid("Say who (their alias in this group).", field="alias")
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if actor.role != "admin" and group.created_by != actor.id:
            raise AppError(
                "forbidden", "Only the person who runs this group can choose its facilitators.", 403
            )
        m = await tx.session.scalar(
            select(Membership).where(
                Membership.group_id == group.id, Membership.alias_key == alias.strip().lower()
            )
        )
        if m is None:
            raise not_found("That member")
        if m.user_id == group.created_by and not facilitator:
            raise invalid("The group's owner stays a facilitator.", field="alias")
        m.role = "facilitator" if facilitator else "member"
        support = list(
            (
                await tx.session.scalars(
                    select(Room.id).where(
                        Room.group_id == group.id,
                        Room.kind == "support",
                        Room.member_id != m.user_id,
                    )
                )
            ).all()
        )
        audit.record(
            tx,
            actor.id,
            "facilitator_added" if facilitator else "facilitator_removed",
            group_id=group.id,
            target_user_id=m.user_id,
        )
        if facilitator:
            tx.on_commit(
                MembershipChanged(
                    user_id=m.user_id, added=support, group_id=group.id, facilitator=True
                )
            )
        else:
            tx.on_commit(
                MembershipChanged(
                    user_id=m.user_id, removed=support, group_id=group.id, stepped_down=True
                )
            )
        return m


JOIN_POLICIES = ("open", "approval", "invite")
SLOW_MODE_CHOICES = (0, 10, 30, 60, 120, 300)


async def set_settings(svc: Services, actor: User, slug: str, changes: dict[str, object]) -> Group:
    """Facilitators change how their group runs. Only the keys given change."""
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can change that.", 403)
        done: dict[str, object] = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key == "description":
                if not isinstance(value, str) or not value.strip() or len(value) > 2000:
                    raise invalid("Describe the group in up to 2,000 characters.", field=key)
                group.description = value.strip()
            elif key == "tags":
                await _set_tags(tx, group, value)
            elif key in (
                "listed",
                "guests_allowed",
                "guests_can_post",
                "read_only_outside_sessions",
            ):
                if not isinstance(value, bool):
                    raise invalid(f"{key} must be true or false.", field=key)
                setattr(group, key, value)
            elif key == "join_policy":
                if value not in JOIN_POLICIES:
                    raise invalid("Choose open, approval or invite.", field=key)
                group.join_policy = str(value)
            elif key == "max_members":
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not 0 <= value <= 100_000
                ):
                    raise invalid("max_members is a number (0: no limit).", field=key)
                group.max_members = value or None
            elif key == "slow_mode_seconds":
                if value not in SLOW_MODE_CHOICES:
                    raise invalid(
                        "Slow mode is off (0) or 10, 30, 60, 120 or 300 seconds.", field=key
                    )
                assert isinstance(value, int)
                group.slow_mode_seconds = value
            else:
                continue
            done[key] = value
        if done:
            audit.record(tx, actor.id, "settings_changed", group_id=group.id, changed=sorted(done))
        return group


async def _set_tags(tx: Tx, group: Group, value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise invalid("tags must be a list of words.", field="tags")
    tags = clean_tags(value)
    await tx.session.execute(delete(GroupTag).where(GroupTag.group_id == group.id))
    for t in tags:
        tx.session.add(GroupTag(group_id=group.id, tag=t))


async def whisper_room(svc: Services, actor: User, slug: str) -> int:
    """The group's facilitators-only channel, made the first time someone asks for it."""
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        m = await _membership(tx, group.id, actor.id)
        if m is None or m.role != "facilitator":
            raise AppError(
                "forbidden", "Only this group's facilitators can use its whisper channel.", 403
            )
        room = await tx.session.scalar(
            select(Room).where(Room.group_id == group.id, Room.kind == "whisper")
        )
        if room is None:
            room = Room(group_id=group.id, kind="whisper", last_seq=0)
            tx.session.add(room)
            await tx.session.flush()
            facilitators = (
                await tx.session.scalars(
                    select(Membership.user_id).where(
                        Membership.group_id == group.id, Membership.role == "facilitator"
                    )
                )
            ).all()
            for uid in facilitators:
                tx.on_commit(
                    MembershipChanged(
                        user_id=uid, added=[room.id], group_id=group.id, facilitator=True
                    )
                )
        return room.id


async def join_requests(svc: Services, actor: User, slug: str) -> list[dict[str, object]]:
    from safespace.db.models import JoinRequest
    from safespace.queries.dates import iso

    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can see that.", 403)
        rows = (
            await tx.session.execute(
                select(JoinRequest, User.username)
                .join(User, User.id == JoinRequest.user_id)
                .where(JoinRequest.group_id == group.id)
                .order_by(JoinRequest.created_at)
            )
        ).all()
        return [
            {"id": r.id, "name": r.alias or name, "waiting_since": iso(r.created_at)}
            for r, name in rows
        ]


async def answer_join_request(
    svc: Services, actor: User, slug: str, request_id: object, approve: object
) -> None:
    """Approve (they become a member, under the rules they accepted) or decline."""
    from safespace.db.models import JoinRequest

    if not isinstance(approve, bool):
        raise invalid("approve must be true or false.", field="approve")
    async with transaction(svc) as tx:
        group = await group_for_update(tx, slug)
        if not await is_facilitator(tx, actor, group.id):
            raise AppError("forbidden", "Only this group's facilitators can do that.", 403)
        req = await tx.session.get(JoinRequest, request_id) if isinstance(request_id, int) else None
        if req is None or req.group_id != group.id:
            raise not_found("That request")
        user_id, alias = req.user_id, req.alias
        await tx.session.delete(req)
        audit.record(
            tx,
            actor.id,
            "join_approved" if approve else "join_declined",
            group_id=group.id,
            target_user_id=user_id,
        )
        if not approve:
            return
        user = await tx.session.get(User, user_id)
        assert user is not None
        name = alias or user.username
        if not await _alias_free(tx, group.id, name, user_id):
            name = await _free_variant(tx, group.id, user.username)
        tx.session.add(
            Membership(
                group_id=group.id,
                user_id=user_id,
                role="member",
                alias=name,
                alias_key=name.lower(),
                accepted_rules_version=group.rules_version,
                joined_at=svc.clock.now(),
            )
        )
        room = await _main_room(tx, group.id)
        tx.on_commit(MembershipChanged(user_id=user_id, added=[room.id], group_id=group.id))
