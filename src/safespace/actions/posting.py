"""Group commit for posted messages: the posts that arrive while a batch is being written
go together in the next one, as one transaction.

Each post is still checked on its own (membership, mute, session, slow mode, topic
rules), gets its own gap-free seq and is answered only after the commit that holds it, so
an ack still means the message is stored. What a batch shares is the cost of a write: one
BEGIN and COMMIT, one seq update per room and one multi-row INSERT. On SQLite, with one
writer, that is what lets posts keep up when many people write at once.

A check that refuses a post (an AppError) happens before anything is written, so the
others in the batch are unaffected. Anything that fails below the checks (a race on a
client_id with another process, a lost connection) rolls the whole batch back, and each
post is then written again on its own, so one can't sink the others.

On PostgreSQL a batch of ordinary posts to one room is one statement, and usually the
only round trip: its posts are checked on the facts the line read for their authors' last
posts, and the statement writes only if nothing the checks read has changed since (the
group's facts_version, moved on by triggers) and the room's last seq is as the line last
left it. Otherwise nothing is written and the batch is read and written afresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Table,
    Text,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.actions import safety
from safespace.actions.base import Tx
from safespace.db.models import Group, Message, Room, User
from safespace.db.raw import RawStatement, Remote, asyncpg_of, sqlite_of
from safespace.errors import AppError
from safespace.events.types import MessagePosted
from safespace.privacy.keystore import message_context, note_context
from safespace.queries.messages import message_dict
from safespace.queries.rooms import (
    RoomAccess,
    facts_read,
    facts_version_of,
    fetch_posting_facts,
    seq_seen,
    use_known_facts,
)
from safespace.safety.assess import Assessment
from safespace.services import Services

log = logging.getLogger(__name__)

messages = cast(Table, Message.__table__)
groups = cast(Table, Group.__table__)
rooms = cast(Table, Room.__table__)

MAX_BATCH = 64  # posts per transaction: bounds how long one commit holds the writer

# Built once: building and cache-keying a statement per batch cost more than running it.
_NEXT_SEQS = (
    update(rooms)
    .where(rooms.c.id == bindparam("room"))
    .values(last_seq=rooms.c.last_seq + bindparam("n"))
    .returning(rooms.c.last_seq)
)
_INSERT = insert(messages).returning(messages.c.id, sort_by_parameter_order=True)
# On SQLite the same, one row at a time with plain sqlite3 calls (see db/raw.py).
_NEXT_SEQS_RAW = RawStatement(_NEXT_SEQS)
_COLUMNS = (
    "room_id seq author_id author_alias author_role author_host client_id kind body "
    "created_at risk_level warning warning_note"
).split()
_INSERT_ONE_RAW = RawStatement(
    insert(messages)
    .values({name: bindparam(name, type_=messages.c[name].type) for name in _COLUMNS})
    .returning(messages.c.id)
)
# On PostgreSQL, through asyncpg itself: every row of the batch in one statement, a column
# per array (one statement text whatever the batch's size, so it is prepared once).
# A JSON column's values go as text, each serialised as SQLAlchemy would, and are cast
# back: an array of JSON lists would be read as a two-dimensional array.
_AS_TEXT = {name for name in _COLUMNS if isinstance(messages.c[name].type, JSON)}
_UNNESTED = (
    func.unnest(
        *[
            bindparam(name, type_=ARRAY(Text if name in _AS_TEXT else messages.c[name].type))
            for name in _COLUMNS
        ]
    )
    .table_valued(*_COLUMNS)
    .render_derived(name="batch")
)
_UNNESTED_ROWS = select(
    *[
        sql_cast(_UNNESTED.c[name], messages.c[name].type)
        if name in _AS_TEXT
        else _UNNESTED.c[name]
        for name in _COLUMNS
    ]
)
_INSERT_MANY_PG = RawStatement(
    insert(messages)
    .from_select(_COLUMNS, _UNNESTED_ROWS)
    .returning(messages.c.id, messages.c.room_id, messages.c.seq)
)


# And the same insert with the room's seq update, as one statement that commits on its own
# (see _write_at_once): the seqs are taken only if the room's last seq is still :seen.
def _write_at_once_statement(*also: ColumnElement[bool]) -> RawStatement:
    taken = (
        update(rooms)
        .where(rooms.c.id == bindparam("room"), rooms.c.last_seq == bindparam("seen"), *also)
        .values(last_seq=rooms.c.last_seq + bindparam("n"))
        .returning(rooms.c.last_seq)
        .cte("taken")
    )
    return RawStatement(
        insert(messages)
        .from_select(_COLUMNS, _UNNESTED_ROWS.where(exists(select(taken.c.last_seq))))
        .add_cte(taken)
        .returning(messages.c.id, messages.c.room_id, messages.c.seq)
    )


_WRITE_AT_ONCE_PG = _write_at_once_statement()
# The same for a batch checked on facts read for its authors' last posts, not for it: the
# seqs are taken, and the rows written, only if the group's facts_version is still the one
# those facts were read at. PostgreSQL moves it on whenever anything the checks read about
# the group changes (migration 0006), so what was decided on them still stands.
_WRITE_IF_UNCHANGED_PG = _write_at_once_statement(
    select(groups.c.facts_version).where(groups.c.id == rooms.c.group_id).scalar_subquery()
    == bindparam("facts_version", type_=BigInteger)
)
KNOWN_FACTS = 2000  # (author, room) pairs whose last facts a line keeps
DOUBT_SECONDS = 2.0  # after a known-facts write found them changed, read them for a while
_NOT_YET = {"deleted_at": None, "hidden_at": None, "hidden_rule": None}  # none, when new


@dataclass
class Posted:
    message: dict[str, Any]
    duplicate: bool  # a retry of a client_id already stored: nothing was delivered again
    # For the author alone: "elevated" or "imminent" when the message suggests they may be
    # struggling, so their screen can offer support. Never shown to anyone else.
    check_in: str | None = None


@dataclass
class Job:
    """One post, validated and assessed, waiting for its batch."""

    actor: User
    room_id: object
    client_id: str
    body: str
    assessment: Assessment
    topics: list[str]
    given: Any  # actions.messages.ContentWarning | None
    suggest: bool
    future: asyncio.Future[Posted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class Plan:
    """A post that passed its checks, to be written in this batch."""

    job: Job
    access: RoomAccess
    categories: list[str]
    tx: Tx  # its own events, on the batch's session
    seq: int = 0


# Checks one post in the batch's transaction: a Plan to write, a Posted for a retry of a
# stored message, or (job, plan) for the same post twice in this batch. Raises AppError to
# refuse, having written nothing. Given the plans made so far, keyed by
# (room, author, client_id).
Check = Callable[[Tx, Job, dict[tuple[int, int, str], Plan]], Awaitable[object]]


class PostingLine:
    """One per process. Posts queue here; one worker writes them in batches."""

    def __init__(self, svc: Services, check: Check) -> None:
        self.svc = svc
        self._check = check
        self._waiting: list[Job] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written, and the posts they held (bench/, tests)
        self.posts = 0
        self.at_once = 0  # of the batches, those written by one statement (PostgreSQL)
        self.on_known = 0  # of those, checked on facts known from before (PostgreSQL)
        # On PostgreSQL, each (author, room)'s facts from their last post, and each room's
        # last seq as this line last wrote it: a batch whose every post has them is checked
        # on them and written by one statement that takes them only if they still hold,
        # one round trip in place of two (docs/performance.md, change 36).
        self._known: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._last_seqs: dict[int, int] = {}
        self._doubted: dict[int, float] = {}  # room -> until when its facts are read

    async def submit(self, job: Job) -> Posted:
        self._waiting.append(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await job.future

    async def _drain(self) -> None:
        while self._waiting:
            batch: list[Job] = []
            try:
                # One turn of the loop before taking a batch: the posts whose frames have
                # been read but not yet submitted join this batch rather than the next,
                # and fewer, larger batches cost less a post (docs/performance.md,
                # change 35).
                await asyncio.sleep(0)
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                # A caller that went away before its batch began: nothing was acked, skip it.
                batch = [j for j in batch if not j.future.done()]
                if batch:
                    await self._write(batch)
            except Exception as exc:  # never leave a caller waiting for ever
                for job in batch:
                    _fail(job, exc)
            except BaseException:  # shutting down: nothing more will be written
                for job in batch + self._waiting:
                    _fail(job, RuntimeError("the server is stopping"))
                self._waiting.clear()
                raise

    async def _write(self, batch: list[Job]) -> None:
        try:
            await self._together(batch)
            return
        except Exception as exc:
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                # The database cut the connection (a restart): nothing of the batch was
                # written, or its commit was lost and a retry is answered as one. Every
                # pooled connection may be as dead: renew them, and try once more.
                log.warning("the database connection was lost; writing the batch again")
                await self.svc.db.renew_pools()
                try:
                    await self._together(batch)
                    return
                except Exception as again:
                    exc = again
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            log.info("a batch of posts failed below its checks; writing each on its own")
        for job in batch:
            if job.future.done():
                continue
            try:
                await self._together([job])
            except Exception as exc:
                _fail(job, exc)

    def _known_for(self, batch: list[Job]) -> tuple[int, int] | None:
        """The batch's room and the facts_version its authors' known facts were read at,
        if the line knows the facts of every post's author and the room's last seq (one
        room only, not in doubt)."""
        if self.svc.db.is_sqlite:
            return None
        room_id = batch[0].room_id
        if not isinstance(room_id, int) or room_id not in self._last_seqs:
            return None
        doubted = self._doubted.get(room_id)
        if doubted is not None:
            if time.monotonic() < doubted:
                return None
            del self._doubted[room_id]
        versions = set()
        for job in batch:
            known = self._known.get((job.actor.id, room_id))
            if job.room_id != room_id or known is None:
                return None
            versions.add(facts_version_of(known))
        if len(versions) != 1:
            return None
        return room_id, versions.pop()

    def _remember(self, session: AsyncSession, plans: list[Plan], facts: bool) -> None:
        """After a batch is written: each room's last seq, and with `facts` (a batch
        written by one statement: no transaction, so its checks read nothing beyond the
        facts) each author's facts as this batch read them, for the next."""
        for plan in plans:
            self._last_seqs[plan.access.room_id] = max(
                plan.seq, self._last_seqs.get(plan.access.room_id, 0)
            )
        if not facts:
            return
        read = facts_read(session)
        for plan in plans:
            key = (plan.job.actor.id, plan.access.room_id)
            found = read.get((key[0], key[1], plan.job.client_id))
            if found is None:
                continue
            self._known.pop(key, None)  # most recent last
            self._known[key] = found
            if len(self._known) > KNOWN_FACTS:
                del self._known[next(iter(self._known))]

    def _forget(self, batch: list[Job], room_id: int) -> None:
        self._last_seqs.pop(room_id, None)
        self._doubted[room_id] = time.monotonic() + DOUBT_SECONDS
        for job in batch:
            self._known.pop((job.actor.id, room_id), None)

    async def _together(self, batch: list[Job]) -> None:
        known = self._known_for(batch)
        if known is not None:
            try:
                await self._batch(batch, known)
                return
            except (_Changed, IntegrityError):
                # Nothing was written (a retry of a stored post meets the unique index):
                # read the facts afresh, which tell a retry for what it is.
                self._forget(batch, known[0])
        await self._batch(batch, None)

    async def _batch(self, batch: list[Job], known: tuple[int, int] | None) -> None:
        svc = self.svc
        answers: list[tuple[Job, object]] = []
        plans: list[Plan] = []
        async with svc.db.write(inline=True) as session:
            try:
                if known is not None:
                    room_id = known[0]
                    facts = {
                        (job.actor.id, room_id, job.client_id): self._known[(job.actor.id, room_id)]
                        for job in batch
                    }
                    use_known_facts(session, facts, {room_id: self._last_seqs[room_id]})
                elif not svc.db.is_sqlite:
                    # One round trip for every post's checks, not one each.
                    posts = [(job.actor.id, job.room_id, job.client_id) for job in batch]
                    await fetch_posting_facts(session, posts, svc.clock.now())
                planned: dict[tuple[int, int, str], Plan] = {}
                for job in batch:
                    tx = Tx(session, svc)
                    try:
                        outcome = await self._check(tx, job, planned)
                    except AppError as err:
                        answers.append((job, err))
                        continue
                    answers.append((job, outcome))
                    if isinstance(outcome, Plan):
                        plans.append(outcome)
                        planned[(outcome.access.room_id, job.actor.id, job.client_id)] = outcome
                if known is not None and len(plans) != len(batch):
                    # A refusal, a retry or a twin, decided on facts from before: read them.
                    raise _Changed
                version = None if known is None else known[1]
                written, at_once = (
                    await _insert(svc, session, plans, version) if plans else ({}, False)
                )
                await session.commit()
                self.at_once += at_once
                self.on_known += known is not None
                self.batches += 1
                self.posts += len(plans)
                if not svc.db.is_sqlite:
                    self._remember(session, plans, facts=at_once)
            except BaseException:
                await session.rollback()
                raise
            # Still inside the write slot: events leave in commit order.
            for plan in sorted(plans, key=lambda p: (p.access.room_id, p.seq)):
                for event in plan.tx.events:
                    await svc.broker.publish(event.to_wire())
        svc.db.checkpoint_soon()
        for job, outcome in answers:
            if isinstance(outcome, AppError):
                _fail(job, outcome)
            elif isinstance(outcome, Plan):
                _answer(job, written[id(outcome)])
            elif isinstance(outcome, tuple):  # the same post twice in one batch
                first = written[id(outcome[1])]
                _answer(job, Posted(first.message, duplicate=True, check_in=first.check_in))
            elif isinstance(outcome, Posted):
                _answer(job, outcome)


class _Changed(Exception):
    """A batch checked on facts known from before can't be written on them (they changed,
    or the way it must be written doesn't check them): nothing was written."""


async def _insert(
    svc: Services, session: AsyncSession, plans: list[Plan], version: int | None = None
) -> tuple[dict[int, Posted], bool]:
    """Seqs for every room in the batch (in room order, so two processes' batches never
    lock rooms in opposite orders), then one INSERT for all, then the risk flags. And
    whether it was all one statement (_write_at_once). `version`: the batch was checked on
    facts known from before, read at this facts_version of its group; it is written by
    one statement that checks the version still stands, or not at all (_Changed)."""
    # Core statements on the session's connection: no ORM objects to build or track.
    conn = await session.connection()
    inline = await sqlite_of(session)  # SQLite: plain sqlite3 calls, see db/raw.py
    remote = None if inline is not None else await asyncpg_of(session)  # PostgreSQL: asyncpg
    by_room: dict[int, list[Plan]] = {}
    for plan in plans:
        by_room.setdefault(plan.access.room_id, []).append(plan)
    if remote is not None and _at_once_fits(remote, by_room):
        [(room_id, group)] = by_room.items()
        seen = seq_seen(session, room_id)
        if seen is not None:
            written = await _write_at_once(svc, remote, room_id, group, seen, version)
            if written is not None:
                return written, True
    if version is not None:
        raise _Changed
    ordered: list[Plan] = []
    for room_id in sorted(by_room):
        group = by_room[room_id]
        values = {"room": room_id, "n": len(group)}
        if inline is not None:
            got = _NEXT_SEQS_RAW.first(inline, values)
            last = None if got is None else got[0]
        elif remote is not None:
            updated = await _NEXT_SEQS_RAW.fetch(remote, values)
            last = updated[0][0] if updated else None
        else:
            last = (await conn.execute(_NEXT_SEQS, values)).scalar()
        assert last is not None
        for i, plan in enumerate(group):
            plan.seq = last - len(group) + 1 + i
        ordered.extend(group)
    rows = await _rows(svc, ordered)
    if inline is not None:
        ids = []
        for row in rows:
            got = _INSERT_ONE_RAW.first(inline, row)
            assert got is not None
            ids.append(got[0])
    elif remote is not None:
        made = await _INSERT_MANY_PG.fetch(remote, _as_columns(remote, rows))
        ids = _ids_in_order(rows, made)
    else:
        result = await conn.execute(_INSERT, rows)
        ids = list(result.scalars().all())
    return await _posted(ordered, rows, ids), False


def _at_once_fits(remote: Remote, by_room: dict[int, list[Plan]]) -> bool:
    """Whether a PostgreSQL batch can be written by one statement on its own: one room,
    nothing written yet in the session (the checks began no transaction), and no risk
    flag to raise with it (that is another table, in the same transaction)."""
    if len(by_room) != 1 or remote.in_transaction:
        return False
    return all(plan.job.assessment.level == "none" for group in by_room.values() for plan in group)


async def _write_at_once(
    svc: Services,
    remote: Remote,
    room_id: int,
    group: list[Plan],
    seen: int,
    version: int | None = None,
) -> dict[int, Posted] | None:
    """The seq update and the insert as one statement, which commits on its own: the batch
    takes the seqs after `seen` (the room's last seq when its checks read it) only if the
    room still stands there, and then it is two round trips (checks, write), not five
    (BEGIN, checks, seq update, insert, COMMIT). None if the room moved on meanwhile (a
    message from elsewhere): nothing was written, and the caller takes the usual way."""
    for i, plan in enumerate(group):
        plan.seq = seen + 1 + i
    rows = await _rows(svc, group)
    values: dict[str, Any] = {"room": room_id, "n": len(group), "seen": seen}
    values.update(_as_columns(remote, rows))
    statement = _WRITE_AT_ONCE_PG
    if version is not None:  # and the facts the checks were made on still stand
        values["facts_version"] = version
        statement = _WRITE_IF_UNCHANGED_PG
    made = await statement.fetch(remote, values, begin=False)
    if not made:
        return None
    return await _posted(group, rows, _ids_in_order(rows, made))


def _as_columns(remote: Remote, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The rows as one array per column, for an unnest on PostgreSQL."""
    columns = {name: [row[name] for row in rows] for name in _COLUMNS}
    for name in _AS_TEXT:
        serialise = (
            messages.c[name].type.dialect_impl(remote.dialect).bind_processor(remote.dialect)
        )
        assert serialise is not None
        columns[name] = [serialise(value) for value in columns[name]]
    return columns


def _ids_in_order(rows: list[dict[str, Any]], made: list[tuple[Any, ...]]) -> list[int]:
    """The new rows' ids in the order of `rows`, from RETURNING id, room_id, seq (an
    INSERT ... SELECT doesn't promise to return its rows in order)."""
    by_seq = {(room, seq): message_id for message_id, room, seq in made}
    return [by_seq[(row["room_id"], row["seq"])] for row in rows]


async def _rows(svc: Services, ordered: list[Plan]) -> list[dict[str, Any]]:
    """The messages' rows, each body sealed for its own room and seq."""
    now = svc.clock.now()
    rows = []
    for plan in ordered:
        access, job = plan.access, plan.job
        note = getattr(job.given, "note", None)
        rows.append(
            {
                "room_id": access.room_id,
                "seq": plan.seq,
                "author_id": job.actor.id,
                "author_alias": access.alias,
                "author_role": access.author_role,
                "author_host": access.host_alias,
                "client_id": job.client_id,
                "kind": "text",
                "body": await svc.keys.seal_text(
                    access.group_id, job.body, message_context(access.room_id, plan.seq)
                ),
                "created_at": now,
                "risk_level": job.assessment.level,
                "warning": plan.categories or None,
                "warning_note": None
                if note is None
                else await svc.keys.seal_text(
                    access.group_id, note, note_context(access.room_id, plan.seq)
                ),
            }
        )
    return rows


async def _posted(
    ordered: list[Plan], rows: list[dict[str, Any]], ids: list[int]
) -> dict[int, Posted]:
    """Each written post's answer and event, and its risk flag if it needs one."""
    written: dict[int, Posted] = {}
    for plan, row, message_id in zip(ordered, rows, ids, strict=True):
        job, access = plan.job, plan.access
        shown = SimpleNamespace(**row, id=message_id, **_NOT_YET)  # what message_dict reads
        note = getattr(job.given, "note", None)
        data = message_dict(shown, job.body, note)
        plan.tx.on_commit(
            MessagePosted(
                room_id=access.room_id,
                group_id=access.group_id,
                author_id=job.actor.id,
                client_id=job.client_id,
                message=data,
            )
        )
        check_in = None
        if job.assessment.level != "none":
            await safety.raise_risk_flag(
                plan.tx, access, job.actor, data, message_id, job.assessment
            )
            check_in = job.assessment.level
        written[id(plan)] = Posted(data, duplicate=False, check_in=check_in)
    return written


def _answer(job: Job, value: Posted) -> None:
    if not job.future.done():
        job.future.set_result(value)


def _fail(job: Job, exc: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(exc)


def line_of(svc: Services, check: Check) -> PostingLine:
    line = svc.posting
    if line is None:
        line = svc.posting = PostingLine(svc, check)
    assert isinstance(line, PostingLine)
    return line
