"""A person's own reading filters and blocks. Nobody else is told of either."""

from __future__ import annotations

from sqlalchemy import delete, select

from safespace.actions.base import Tx, transaction
from safespace.db.models import Block, Membership, Message, User, UserFilters
from safespace.errors import AppError, invalid, not_found
from safespace.events.types import FiltersChanged
from safespace.queries.rooms import access_room_as_member
from safespace.reading.categories import CATEGORIES
from safespace.reading.shaping import MODES
from safespace.services import Services

MAX_MUTED = 50
MAX_MUTED_CHARS = 40


def _check_modes(categories: object) -> dict[str, str]:
    if not isinstance(categories, dict):
        raise invalid("categories must map each category to collapse, show or hide.")
    out = {}
    for key, mode in categories.items():
        if key not in CATEGORIES:
            raise invalid(f"There's no content-warning category called {str(key)[:40]!r}.")
        if mode not in MODES:
            raise invalid("Choose collapse, show or hide for each category.")
        out[key] = mode
    return out


def _check_muted(words: object) -> list[str]:
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise invalid("muted_words must be a list of words or phrases.")
    cleaned: list[str] = []
    for w in words:
        w = " ".join(w.split()).lower()
        if not w or w in cleaned:
            continue
        if len(w) > MAX_MUTED_CHARS or "\x00" in w:
            raise invalid(f"Each muted word or phrase can be at most {MAX_MUTED_CHARS} characters.")
        cleaned.append(w)
    if len(cleaned) > MAX_MUTED:
        raise invalid(f"You can mute at most {MAX_MUTED} words or phrases.")
    return cleaned


async def _announce(tx: Tx, user_id: int) -> None:
    prefs = await tx.session.get(UserFilters, user_id)
    blocked = (
        await tx.session.scalars(select(Block.blocked_user_id).where(Block.user_id == user_id))
    ).all()
    tx.on_commit(
        FiltersChanged(
            user_id=user_id,
            modes=dict(prefs.categories) if prefs else {},
            muted_words=list(prefs.muted_words) if prefs else [],
            blocked=list(blocked),
        )
    )


async def set_filters(
    svc: Services, user: User, categories: object = None, muted_words: object = None
) -> None:
    """Replace the parts given; a part left out (None) stays as it was."""
    modes = None if categories is None else _check_modes(categories)
    muted = None if muted_words is None else _check_muted(muted_words)
    async with transaction(svc) as tx:
        prefs = await tx.session.get(UserFilters, user.id)
        if prefs is None:
            prefs = UserFilters(user_id=user.id, categories={}, muted_words=[])
            tx.session.add(prefs)
        if modes is not None:
            # Only what differs from the default is stored.
            prefs.categories = {k: v for k, v in modes.items() if v != "collapse"}
        if muted is not None:
            prefs.muted_words = muted
        await tx.session.flush()
        await _announce(tx, user.id)


async def block_author(svc: Services, user: User, room_id: object, seq: object) -> Block:
    """Block whoever wrote a message you can see. They are never told."""
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**31:
        raise not_found("That message")
    async with transaction(svc) as tx:
        access = await access_room_as_member(tx.session, user, room_id)
        msg = await tx.session.scalar(
            select(Message).where(Message.room_id == access.room_id, Message.seq == seq)
        )
        if msg is None or msg.author_id is None:
            raise not_found("That message")
        if msg.author_id == user.id:
            raise invalid("You can't block yourself.")
        role = await tx.session.scalar(
            select(Membership.role).where(
                Membership.group_id == access.group_id, Membership.user_id == msg.author_id
            )
        )
        if role == "facilitator":
            raise AppError(
                "invalid",
                "Facilitators can't be blocked in the groups they run, because they keep the "
                "room safe. If something a facilitator did worried you, tell another "
                "facilitator or the people who run this site.",
                422,
            )
        block = await tx.session.scalar(
            select(Block).where(Block.user_id == user.id, Block.blocked_user_id == msg.author_id)
        )
        if block is None:
            block = Block(
                user_id=user.id,
                blocked_user_id=msg.author_id,
                group_id=access.group_id,
                alias=msg.author_alias,
                created_at=svc.clock.now(),
            )
            tx.session.add(block)
            await tx.session.flush()
        await _announce(tx, user.id)
        return block


async def unblock(svc: Services, user: User, block_id: object) -> None:
    if not isinstance(block_id, int) or isinstance(block_id, bool) or not 0 < block_id < 2**31:
        raise not_found("That block")
    async with transaction(svc) as tx:
        gone = await tx.session.execute(
            delete(Block).where(Block.id == block_id, Block.user_id == user.id)
        )
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise not_found("That block")
        await _announce(tx, user.id)
