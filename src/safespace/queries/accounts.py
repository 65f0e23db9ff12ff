"""Who is asking: resolving a bearer token or cookie to a live session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.db.models import AuthSession, User
from safespace.db.raw import RawStatement, detached, read_rows
from safespace.passwords import hash_token
from safespace.settings import Settings


@dataclass(frozen=True)
class Principal:
    user: User
    session: AuthSession
    expired: bool = False


# Built once and read as plain rows: it runs for every request and every socket, and the
# ORM's loading cost more than the statement (docs/performance.md, change 37). The objects
# are made as a closed session would leave them: detached, every column loaded.
_AUTH_COLUMNS = tuple(AuthSession.__table__.c)
_USER_COLUMNS = tuple(User.__table__.c)
_BY_TOKEN = RawStatement(
    select(*_AUTH_COLUMNS, *_USER_COLUMNS)
    .join_from(AuthSession, User, User.id == AuthSession.user_id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)
_SPLIT = len(_AUTH_COLUMNS)


async def principal_for_token(
    session: AsyncSession, token: str, now: datetime, settings: Settings
) -> Principal | None:
    if not token or len(token) > 256:
        return None
    rows = await read_rows(session, _BY_TOKEN, {"token_hash": hash_token(token)})
    if not rows:
        return None
    auth = detached(AuthSession, rows[0][:_SPLIT])
    user = detached(User, rows[0][_SPLIT:])
    idle = now - auth.last_seen_at > timedelta(minutes=settings.session_idle_minutes)
    too_old = now - auth.created_at > timedelta(days=settings.session_absolute_days)
    return Principal(user=user, session=auth, expired=idle or too_old)


async def sessions_of(session: AsyncSession, user_id: int) -> list[AuthSession]:
    q = (
        select(AuthSession)
        .where(AuthSession.user_id == user_id)
        .order_by(AuthSession.last_seen_at.desc())
    )
    return list((await session.scalars(q)).all())
