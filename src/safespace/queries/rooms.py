"""The one way to reach a room: access_room_as_member checks membership first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    String,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from safespace.db.base import MAX_INT, UTCDateTime
from safespace.db.models import (
    Group,
    GroupSession,
    Membership,
    Message,
    Room,
    Sanction,
    SessionRun,
    User,
)
from safespace.db.raw import RawStatement, asyncpg_of, core_execute, read_rows, sqlite_of
from safespace.errors import AppError
from safespace.queries.filters import reader_from, with_reader
from safespace.reading.shaping import Reader


@dataclass(frozen=True)
class RoomAccess:
    room_id: int
    group_id: int
    group_slug: str
    group_name: str
    rules_version: int
    membership_id: int
    member_role: str
    alias: str
    accepted_rules_version: int
    user_id: int = 0  # who was given this access
    kind: str = "main"
    member_id: int | None = None  # whose private line a support room is
    topics: dict[str, list[str]] | None = None  # the group's topic rules (Group.topics)
    slow_mode_seconds: int = 0
    guests_can_post: bool = False
    read_only_outside_sessions: bool = False
    host_alias: str | None = None  # a guest's host, by their alias in the group

    @property
    def rules_current(self) -> bool:
        return self.accepted_rules_version >= self.rules_version

    @property
    def is_facilitator(self) -> bool:
        return self.member_role == "facilitator"

    @property
    def is_guest(self) -> bool:
        return self.member_role == "guest"

    @property
    def author_role(self) -> str | None:
        """What a message written with this access records of its author's standing."""
        return None if self.member_role == "member" else self.member_role


def no_room() -> AppError:
    # The same answer whether the room does not exist or the person is not in it, so
    # nobody can probe which private rooms exist.
    return AppError("not_found", "That room could not be found, or you're not a member.", 404)


def _access_query(
    user_id: ColumnElement[int] | None = None, room_id: ColumnElement[int] | None = None
) -> Select[*tuple[Any, ...]]:
    """Columns only (no ORM objects), with bound parameters :user_id and :room_id (or the
    given expressions: a batch's columns, see _posting_batch_query)."""
    host = aliased(Membership)
    if user_id is None:
        user_id = bindparam("user_id", type_=Integer)
    if room_id is None:
        room_id = bindparam("room_id", type_=Integer)
    return (
        select(
            Room.id,
            Room.kind,
            Room.member_id,
            Group.id,
            Group.slug,
            Group.name,
            Group.rules_version,
            Group.topics,
            Group.slow_mode_seconds,
            Group.guests_can_post,
            Group.read_only_outside_sessions,
            Membership.id,
            Membership.role,
            Membership.alias,
            Membership.accepted_rules_version,
            host.alias,
        )
        .select_from(Room)
        .join(Group, Group.id == Room.group_id)
        .join(Membership, (Membership.group_id == Group.id) & (Membership.user_id == user_id))
        .outerjoin(host, (host.group_id == Group.id) & (host.user_id == Membership.host_id))
        .where(
            Room.id == room_id,
            # Every member enters the main room; a support room only its member and the
            # group's facilitators.
            or_(Room.kind == "main", Room.member_id == user_id, Membership.role == "facilitator"),
        )
    )


def _posting_query(
    user_id: ColumnElement[int] | None = None,
    room_id: ColumnElement[int] | None = None,
    client_id: ColumnElement[str] | None = None,
) -> Select[*tuple[Any, ...]]:
    """The access check plus what posting asks next, all in one round trip: bound
    parameters :user_id, :room_id, :client_id, :now and :since (a day before now)."""
    if user_id is None:
        user_id = bindparam("user_id", type_=Integer)
    if client_id is None:
        client_id = bindparam("client_id", type_=String)
    now = bindparam("now", type_=UTCDateTime())
    existing = (
        select(Message.id)
        .where(
            Message.room_id == Room.id,
            Message.author_id == user_id,
            Message.client_id == client_id,
        )
        .scalar_subquery()
    )
    mute = (
        select(Sanction.id)
        .where(
            Sanction.group_id == Group.id,
            Sanction.user_id == user_id,
            Sanction.kind == "mute",
            Sanction.lifted_at.is_(None),
            Sanction.until > now,
        )
        .order_by(Sanction.until.desc())
        .limit(1)
        .scalar_subquery()
    )
    scheduled = exists().where(GroupSession.group_id == Group.id)
    opened = exists().where(
        SessionRun.group_id == Group.id,
        SessionRun.ends_at > bindparam("since", type_=UTCDateTime()),
    )
    # Last, the group's facts_version (migration 0006): what the facts were read at.
    return _access_query(user_id, room_id).add_columns(
        existing, mute, scheduled | opened, Group.facts_version
    )


def _posting_batch_query() -> Select[*tuple[Any, ...]]:
    """_posting_query for a whole batch of posts in one round trip (PostgreSQL): the posts
    come as three arrays, :user_ids, :room_ids and :client_ids, unnested with their
    position, and each is checked by the same query, run LATERAL on its own row. A post
    without access has no row. The position comes first, then the room's last seq."""
    batch = (
        func.unnest(
            bindparam("user_ids", type_=ARRAY(Integer)),
            bindparam("room_ids", type_=ARRAY(Integer)),
            bindparam("client_ids", type_=ARRAY(String)),
        )
        .table_valued("user_id", "room_id", "client_id", with_ordinality="ord")
        .render_derived(with_types=False)
        .alias("batch")
    )
    # Plain column names, not correlated expressions: each post's own row feeds its check.
    one = _posting_query(
        literal_column("batch.user_id", Integer),
        literal_column("batch.room_id", Integer),
        literal_column("batch.client_id", String),
    ).lateral("facts")
    # And the room's last seq as this statement saw it, for a write that takes the next
    # ones only if nobody else has meanwhile (actions/posting.py).
    seq_now = (
        select(Room.last_seq)
        .where(Room.id == literal_column("batch.room_id", Integer))
        .scalar_subquery()
    )
    return select(batch.c.ord, seq_now, one).select_from(batch.join(one, true()))


# Built once: this runs for every message posted, and building a statement costs more
# than running it.
_ACCESS = RawStatement(_access_query())
_ACCESS_READING = RawStatement(with_reader(_access_query(), bindparam("user_id", type_=Integer)))
_POSTING = _posting_query()
_POSTING_RAW = RawStatement(_POSTING)
_POSTING_BATCH = _posting_batch_query()
_POSTING_BATCH_RAW = RawStatement(_POSTING_BATCH)


def _access_from(row: Any, user_id: int) -> RoomAccess:
    return RoomAccess(
        room_id=row[0],
        kind=row[1],
        member_id=row[2],
        group_id=row[3],
        group_slug=row[4],
        group_name=row[5],
        rules_version=row[6],
        topics=row[7],
        slow_mode_seconds=row[8],
        guests_can_post=row[9],
        read_only_outside_sessions=row[10],
        membership_id=row[11],
        member_role=row[12],
        alias=row[13],
        accepted_rules_version=row[14],
        host_alias=row[15],
        user_id=user_id,
    )


def _valid_room_id(room_id: object) -> int:
    if not isinstance(room_id, int) or isinstance(room_id, bool) or not 0 < room_id <= MAX_INT:
        raise no_room()
    return room_id


async def access_room_as_member(session: AsyncSession, user: User, room_id: object) -> RoomAccess:
    params = {"user_id": user.id, "room_id": _valid_room_id(room_id)}
    rows = await read_rows(session, _ACCESS, params)
    if not rows:
        raise no_room()
    return _access_from(rows[0], user.id)


async def access_room_for_reading(
    session: AsyncSession, user: User, room_id: object
) -> tuple[RoomAccess, Reader]:
    """access_room_as_member, and the Reader who shapes what they read, in one round trip
    (for a page of history: on PostgreSQL each statement is one)."""
    params = {"user_id": user.id, "room_id": _valid_room_id(room_id)}
    rows = await read_rows(session, _ACCESS_READING, params)
    if not rows:
        raise no_room()
    access = _access_from(rows[0], user.id)
    return access, reader_from(rows, user.id, access.is_facilitator)


@dataclass(frozen=True)
class PostingFacts:
    """What posting a message needs to know, in one statement: the access check, and
    whether the rarer checks (a retry, a mute, a session) need a closer look."""

    access: RoomAccess
    existing_id: int | None  # this author's message with this client_id, if any
    mute_id: int | None  # a mute in force, if any
    has_sessions: bool  # the group has a schedule or a recent hand-opened session


async def posting_facts(
    session: AsyncSession, user: User, room_id: object, client_id: str, now: datetime
) -> PostingFacts:
    params = {
        "user_id": user.id,
        "room_id": _valid_room_id(room_id),
        "client_id": client_id,
        "now": now,
        "since": now - timedelta(days=1),
    }
    fetched = session.info.get(_FETCHED)
    key = (user.id, params["room_id"], client_id)
    if fetched is not None and key in fetched:
        row: Any = fetched.pop(key)  # read with its batch's (fetch_posting_facts)
    elif (inline := await sqlite_of(session)) is not None:  # on SQLite: see db/raw.py
        row = _POSTING_RAW.first(inline, params)
    else:
        row = (await (await session.connection()).execute(_POSTING, params)).first()
    if row is None:
        raise no_room()
    return PostingFacts(_access_from(row, user.id), row[16], row[17], bool(row[18]))


_FETCHED = "posting_facts"  # session.info key: facts read ahead for a batch's posts


async def fetch_posting_facts(
    session: AsyncSession, posts: list[tuple[int, object, str]], now: datetime
) -> None:
    """Read the facts for a batch's posts, given as (user id, room id, client id), in one
    round trip, for posting_facts to hand out as each post is checked. For PostgreSQL,
    where each statement is a round trip; the checks write nothing, so facts read at the
    batch's start are what each post's own query would have read. Read outside a
    transaction: under READ COMMITTED each statement sees what was committed when it
    began either way, and this one takes no locks."""
    wanted = []
    for user_id, room_id, client_id in posts:
        try:
            wanted.append((user_id, _valid_room_id(room_id), client_id))
        except AppError:
            continue  # refused when its turn comes
    if not wanted:
        return
    params = {
        "user_ids": [w[0] for w in wanted],
        "room_ids": [w[1] for w in wanted],
        "client_ids": [w[2] for w in wanted],
        "now": now,
        "since": now - timedelta(days=1),
    }
    remote = await asyncpg_of(session)
    if remote is not None:  # asyncpg itself, and no transaction yet: see db/raw.py
        rows: Sequence[Any] = await _POSTING_BATCH_RAW.fetch(remote, params, begin=False)
    else:
        rows = (await (await session.connection()).execute(_POSTING_BATCH, params)).all()
    found = {row[0]: tuple(row[2:]) for row in rows}
    fetched = session.info.setdefault(_FETCHED, {})
    read = session.info.setdefault(_READ, {})
    for position, key in enumerate(wanted, start=1):
        facts = found.get(position)  # None: no access
        fetched.setdefault(key, facts)
        if facts is not None:
            read[key] = facts
    seqs = session.info.setdefault(_SEQS_SEEN, {})
    for row in rows:
        seqs.setdefault(row[2], row[1])  # room id -> its last seq when the facts were read


def facts_read(session: AsyncSession) -> dict[tuple[int, int, str], tuple[Any, ...]]:
    """What fetch_posting_facts read in this session: (user id, room id, client id) ->
    the facts, for posts with access. The last is the group's facts_version they were
    read at (facts_version_of)."""
    read: dict[tuple[int, int, str], tuple[Any, ...]] = session.info.get(_READ, {})
    return read


def facts_version_of(facts: tuple[Any, ...]) -> int:
    return int(facts[-1])


def use_known_facts(
    session: AsyncSession,
    facts: dict[tuple[int, int, str], tuple[Any, ...]],
    seqs: dict[int, int],
) -> None:
    """Hand out facts known from before, in place of fetch_posting_facts (as posting_facts
    reads them), with the rooms' last seqs as they are believed to be. Only for a write
    that checks, in the same statement, that the seqs and the group's facts_version still
    stand (actions/posting.py)."""
    session.info.setdefault(_FETCHED, {}).update(facts)
    session.info.setdefault(_SEQS_SEEN, {}).update(seqs)


def seq_seen(session: AsyncSession, room_id: int) -> int | None:
    """A room's last seq as fetch_posting_facts read it in this session, if it did."""
    seen: dict[int, int] = session.info.get(_SEQS_SEEN, {})
    return seen.get(room_id)


_SEQS_SEEN = "posting_seqs"
_READ = "posting_facts_read"


# A socket's hello runs these three: built once, and run past the ORM (core_execute), as a
# reconnecting crowd pays them once per connection (docs/performance.md).
_USER = bindparam("user_id", type_=Integer)
_MEMBER_ROOMS = (
    select(Room.id, Room.group_id)
    .join(Membership, Membership.group_id == Room.group_id)
    .where(
        Membership.user_id == _USER,
        or_(Room.kind == "main", Room.member_id == _USER, Membership.role == "facilitator"),
    )
)
_FACILITATED = select(Membership.group_id).where(
    Membership.user_id == _USER, Membership.role == "facilitator"
)
_LAST_SEQS = select(Room.id, Room.last_seq).where(
    Room.id.in_(bindparam("room_ids", expanding=True))
)


async def member_rooms(session: AsyncSession, user_id: int) -> dict[int, int]:
    """room id -> group id for every room this person may enter (the rule of _access_query:
    every main room of their groups, their own private line, and every room of a group
    they run)."""
    rows = await core_execute(session, _MEMBER_ROOMS, {"user_id": user_id})
    return {rid: gid for rid, gid in rows.all()}


async def facilitated_group_ids(session: AsyncSession, user_id: int) -> list[int]:
    rows = await core_execute(session, _FACILITATED, {"user_id": user_id})
    return list(rows.scalars().all())


async def last_seqs(session: AsyncSession, room_ids: list[int]) -> dict[int, int]:
    """Each room's latest seq (for rooms the caller may already enter)."""
    if not room_ids:
        return {}
    rows = await core_execute(session, _LAST_SEQS, {"room_ids": room_ids})
    return {rid: seq for rid, seq in rows.all()}
