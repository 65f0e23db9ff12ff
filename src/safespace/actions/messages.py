"""Posting a message: checks, a gap-free seq, commit, then fan-out.

The checks are here; the writing is done in batches by actions/posting.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from safespace.actions import consent, moderation
from safespace.actions.base import Tx
from safespace.actions.posting import Job, Plan, Posted, line_of
from safespace.db.models import Message, Room, Sanction, User
from safespace.errors import AppError, invalid
from safespace.queries import sessions
from safespace.queries.dates import iso
from safespace.queries.messages import readable
from safespace.queries.rooms import PostingFacts, RoomAccess, access_room_as_member, posting_facts
from safespace.reading.categories import CATEGORIES, MAX_NOTE, METHOD_DETAIL, labels
from safespace.safety.assess import Assessment
from safespace.services import Services

MAX_BODY = 4000
MAX_CLIENT_ID = 64


def check_body(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise invalid("Write something before sending.", field="body")
    if "\x00" in body:  # no database text column can hold a NUL
        raise invalid("A message can't contain NUL characters.", field="body")
    if len(body) > MAX_BODY:
        raise AppError(
            "too_long",
            f"That message is {len(body):,} characters; the most is {MAX_BODY:,}. "
            "You could split it in two.",
            422,
            field="body",
        )
    return body


def check_client_id(client_id: object) -> str:
    if (
        not isinstance(client_id, str)
        or not 1 <= len(client_id) <= MAX_CLIENT_ID
        or "\x00" in client_id
    ):
        raise invalid("client_id must be 1 to 64 characters.", field="client_id")
    return client_id


async def _existing(
    tx_session: Any, room_id: int, author_id: int, client_id: str
) -> Message | None:
    return await tx_session.scalar(
        select(Message).where(
            Message.room_id == room_id,
            Message.author_id == author_id,
            Message.client_id == client_id,
        )
    )


@dataclass(frozen=True)
class ContentWarning:
    categories: list[str]
    note: str | None


def check_warning(warning: object) -> ContentWarning | None:
    """A content warning as sent: known categories and/or a short note."""
    if warning is None:
        return None
    if not isinstance(warning, dict):
        raise invalid("content_warning must be an object with categories and/or a note.")
    cats = warning.get("categories") or []
    note = warning.get("note")
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise invalid("content_warning.categories must be a list of category ids.")
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown:
        raise invalid(f"There's no content-warning category called {unknown[0][:40]!r}.")
    if note is not None:
        if not isinstance(note, str) or "\x00" in note:
            raise invalid("content_warning.note must be text.")
        note = " ".join(note.split()) or None
        if note is not None and len(note) > MAX_NOTE:
            raise invalid(f"A warning's note can be at most {MAX_NOTE} characters.")
    ordered = [c for c in CATEGORIES if c in cats]
    if not ordered and note is None:
        return None
    return ContentWarning(ordered, note)


async def post_message(
    svc: Services,
    actor: User,
    room_id: object,
    client_id: object,
    body: object,
    warning: object = None,
    suggest: object = False,
) -> Posted:
    await svc.limits.hit("messages", str(actor.id))  # per person, however it arrives
    client_id = check_client_id(client_id)
    body = check_body(body)
    given = check_warning(warning)
    # Local: before the write slot, on this machine, never sent anywhere else.
    reading = await svc.reader.read(body)
    job = Job(
        actor, room_id, client_id, body, reading.assessment, reading.topics, given, suggest is True
    )
    try:
        return await line_of(svc, check_post).submit(job)
    except IntegrityError:
        # A concurrent retry of the same client_id (on another process) won the race:
        # answer with its message.
        async with svc.db.read() as session:
            access = await access_room_as_member(session, actor, room_id)
            first = await _existing(session, access.room_id, actor.id, client_id)
        if first is None:
            raise
        return await _again(svc, access.group_id, first)


async def check_post(
    tx: Tx, job: Job, planned: dict[tuple[int, int, str], Plan]
) -> Plan | Posted | tuple[Job, Plan]:
    """Everything that decides whether a post may go, in its batch's transaction; writes
    nothing (actions/posting.py relies on that). `planned`: the batch's posts so far."""
    actor = job.actor
    facts = await posting_facts(tx.session, actor, job.room_id, job.client_id, tx.svc.clock.now())
    access = facts.access
    if facts.existing_id is not None:
        first = await tx.session.get(Message, facts.existing_id)
        assert first is not None
        return await _again(tx.svc, access.group_id, first)
    twin = planned.get((access.room_id, actor.id, job.client_id))
    if twin is not None:
        return (job, twin)
    await may_post(tx, access, actor, facts)
    in_batch = any(k[0] == access.room_id and k[1] == actor.id for k in planned)
    await _slow_mode(tx, access, actor, in_batch)
    categories = await _warning_for(
        tx, access, actor, job.assessment, job.topics, job.given, job.suggest
    )
    return Plan(job, access, categories, tx)


async def may_post(
    tx: Tx, access: RoomAccess, actor: User, facts: PostingFacts | None = None
) -> None:
    """What every post into a room needs: the current rules accepted, no mute, and in a
    session, its rules acknowledged. `facts`, when the caller has them, spare two lookups."""
    if not access.rules_current:
        raise AppError(
            "rules_not_accepted",
            "This group's ground rules have changed. Please read and accept them to post again.",
            409,
            rules_version=access.rules_version,
        )
    now = tx.svc.clock.now()
    if facts is None:
        mute = await moderation.active_mute(tx.session, access.group_id, actor.id, now)
    elif facts.mute_id is not None:
        mute = await tx.session.get(Sanction, facts.mute_id)
    else:
        mute = None
    if mute is not None:
        raise moderation.muted_error(mute)
    if access.kind != "main" or access.is_facilitator:
        return  # the private line and the whisper channel are always open
    if access.is_guest and not access.guests_can_post:
        raise AppError(
            "guest_read_only",
            "Guests in this group can read along and be there for their host, but not write "
            "in the room. You can still talk to a facilitator privately.",
            403,
        )
    has_sessions = True if facts is None else facts.has_sessions
    current = await sessions.live(tx.session, access.group_id, now) if has_sessions else None
    if current is None:
        if access.read_only_outside_sessions:
            upcoming = (
                await sessions.next_occurrence(tx.session, access.group_id, now)
                if has_sessions
                else None
            )
            raise AppError(
                "room_closed",
                "This room is open for writing during sessions. You can still read, and talk "
                "to a facilitator privately.",
                403,
                next_session=iso(upcoming.start) if upcoming else None,
            )
        return
    if not await sessions.acknowledged(tx.session, access.group_id, current.key, actor.id):
        raise AppError(
            "session_rules",
            "A session is on: please read its ground rules and say you'll keep to them, then "
            "your message can go. It's still in your box.",
            409,
            session=current.as_dict(),
        )


async def next_seq(tx: Tx, room_id: int) -> int:
    """The room's next seq, taken in the posting transaction: the row lock serialises
    writers, and a rollback gives it back, so seqs stay gap-free."""
    seq = await tx.session.scalar(
        update(Room)
        .where(Room.id == room_id)
        .values(last_seq=Room.last_seq + 1)
        .returning(Room.last_seq)
    )
    assert seq is not None
    return seq


async def _again(svc: Services, group_id: int, first: Message) -> Posted:
    """A retry gets the first answer again, check-in included: a phone that lost the first
    answer to a worrying message must still offer its author support."""
    message = (await readable(svc.keys, group_id, [first]))[0]
    check_in = first.risk_level if first.risk_level in ("elevated", "imminent") else None
    return Posted(message, duplicate=True, check_in=check_in)


async def _slow_mode(tx: Tx, access: RoomAccess, actor: User, in_batch: bool = False) -> None:
    """A group in slow mode: a member waits between messages (facilitators don't).
    `in_batch`: they already have a message in this batch, written this very moment."""
    seconds = access.slow_mode_seconds
    if not seconds or access.is_facilitator:
        return
    if in_batch:
        wait = seconds
    else:
        last = await tx.session.scalar(
            select(Message.created_at)
            .where(Message.room_id == access.room_id, Message.author_id == actor.id)
            .order_by(Message.seq.desc())
            .limit(1)
        )
        if last is None:
            return
        wait = seconds - int((tx.svc.clock.now() - last).total_seconds())
    if wait > 0:
        raise AppError(
            "slow_mode",
            f"That message couldn't be sent yet: you can post again in {wait} second"
            f"{'' if wait == 1 else 's'} (this group has slow mode). It's still in your box.",
            429,
            retry_after=wait,
        )


async def _warning_for(
    tx: Tx,
    access: RoomAccess,
    actor: User,
    assessment: Assessment,
    topics: list[str],
    given: ContentWarning | None,
    suggest: bool,
) -> list[str]:
    """The categories a message goes out behind, after the group's topic rules.

    A message from someone who may be at risk is never refused: it goes out behind a
    warning for the topics it touches that the group's rules name (and for imminent risk
    or a method in detail, auto_warning's), and the facilitators are told
    (actions/safety.py). Methods described in detail with nobody at risk are kept to the
    rules like anything else (a group may have put them off-limits).
    """
    covered = list(given.categories) if given else []
    # A group's topic rules are for its shared room; a private line to the facilitators
    # (or their whisper channel) is where someone can say what the room can't hear.
    rules = (access.topics or {}) if access.kind == "main" else {}
    touched = set(topics)
    if assessment.level != "none":
        ruled = {
            c
            for key in ("require_warning", "need_consent", "off_limits")
            for c in rules.get(key, [])
        }
        extra = (ruled & touched) | set(auto_warning(assessment, topics))
        return [c for c in CATEGORIES if c in covered or c in extra]
    off = [c for c in rules.get("off_limits", []) if c in touched]
    if assessment.method_detail and METHOD_DETAIL in rules.get("off_limits", []):
        off.append(METHOD_DETAIL)
    if off:
        raise AppError(
            "off_limits",
            f"This group has agreed not to talk about {labels(off)} here. You could talk "
            'to a facilitator privately instead, from "I need support now".',
            422,
            categories=off,
        )
    ask_first = [c for c in rules.get("need_consent", []) if c in touched]
    missing = [
        c
        for c in ask_first
        if not await consent.granted_recently(tx.session, access.room_id, actor.id, c, tx.svc)
    ]
    if missing:
        raise AppError(
            "consent_required",
            f"This group asks everyone to check with the room before talking about "
            f'{labels(missing)}. Use "Ask before sharing", and send this once the room '
            "says OK. Your message is still in your box.",
            422,
            categories=missing,
        )
    required = [c for c in rules.get("require_warning", []) if c in touched and c not in covered]
    if required:
        raise AppError(
            "warning_required",
            f"This group asks for a content warning on messages about {labels(required)}. "
            "Add one and send again.",
            422,
            required=required,
        )
    suggested = [c for c in topics if c not in covered]
    if suggest and suggested:
        raise AppError(
            "warning_suggested",
            f"This mentions {labels(suggested)}. Add a content warning?",
            422,
            suggested=suggested,
        )
    auto = auto_warning(assessment, topics)  # a method described in detail
    return [c for c in CATEGORIES if c in covered or c in auto]


def auto_warning(assessment: Assessment, topics: list[str]) -> list[str]:
    """Imminent risk and detailed method talk reach the room behind a warning
    (safe-messaging practice); the author and facilitators see them in full."""
    if assessment.level == "imminent" or assessment.method_detail:
        return [c for c in topics if c in ("suicide", "self-harm")] or ["suicide"]
    return []
