"""Demo content for a first look: a facilitator, groups, and a few gentle messages. Idempotent."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from safespace import content
from safespace.actions import accounts, groups, messages
from safespace.db.models import Group, User
from safespace.services import Services

FACILITATOR = "demo_facilitator"
MEMBERS = ("river", "sam_k", "quiet-oak")


@dataclass
class DemoResult:
    facilitator: str
    password: str | None  # None when the account already existed
    groups: list[str]


async def _user(svc: Services, name: str, role: str, password: str) -> tuple[User, bool]:
    async with svc.db.read() as session:
        user = await session.scalar(select(User).where(User.username_key == name.lower()))
    if user is not None:
        return user, False
    done = await accounts.sign_up(svc, name, password, role=role)
    return done.user, True


async def load_demo(svc: Services) -> DemoResult:
    password = "demo-" + secrets.token_urlsafe(9)
    facilitator, created = await _user(svc, FACILITATOR, "facilitator", password)
    people = [(await _user(svc, n, "member", secrets.token_urlsafe(16)))[0] for n in MEMBERS]
    data = content.load("demo_groups")
    slugs = []
    for spec in data["groups"]:
        async with svc.db.read() as session:
            existing = await session.scalar(select(Group).where(Group.name == spec["name"]))
        if existing is not None:
            slugs.append(existing.slug)
            continue
        made = await groups.create_group(
            svc, facilitator, spec["name"], spec["description"], spec["tags"]
        )
        slugs.append(made.group.slug)
        for person in people:
            await groups.join_group(svc, person, made.group.slug, 1)
        for i, body in enumerate(data["sample_messages"].get(spec["name"], [])):
            author = people[i % len(people)]
            await messages.post_message(svc, author, made.room.id, f"demo-{i}", body)
    return DemoResult(FACILITATOR, password if created else None, slugs)
