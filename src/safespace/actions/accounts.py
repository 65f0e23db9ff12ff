"""Sign-up, sign-in, recovery, sessions and roles."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from safespace.actions import audit
from safespace.actions.base import Tx, transaction
from safespace.db.base import MAX_INT
from safespace.db.models import AuthSession, RecoveryCode, User
from safespace.db.models.accounts import ROLES
from safespace.errors import AppError, invalid, not_found
from safespace.events.types import SessionsEnded
from safespace.passwords import (
    USERNAME_RE,
    check_password,
    check_username,
    hash_code,
    hash_password,
    hash_token,
    needs_rehash,
    new_recovery_code,
    new_token,
    verify_password,
)
from safespace.services import Services

RECOVERY_CODES = 10


@dataclass
class SignedIn:
    user: User
    token: str
    session: AuthSession


@dataclass
class SignedUp(SignedIn):
    recovery_codes: list[str]


def _bad_credentials() -> AppError:
    return AppError("invalid_credentials", "That name and password don't match.", 401)


async def _open_session(
    tx_session: AsyncSession, svc: Services, user: User, kind: str
) -> tuple[str, AuthSession]:
    if user.suspended_at is not None:  # every way in (sign-in, recovery) comes through here
        raise AppError(
            "suspended",
            "This account has been suspended by the people who run this site. If you think "
            "that's a mistake, please contact them.",
            403,
        )
    token = new_token()
    now = svc.clock.now()
    auth = AuthSession(
        token_hash=hash_token(token),
        user_id=user.id,
        kind=kind,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        last_seen_at=now,
    )
    tx_session.add(auth)
    await tx_session.flush()
    return token, auth


async def sign_up(
    svc: Services,
    username: str,
    password: str,
    *,
    role: str = "member",
    kind: str = "api",
    client: str | None = None,
) -> SignedUp:
    """`client` is the address a sign-up comes from over the web (None from the command
    line): it is limited per client, and the limiter keeps only an HMAC of it."""
    if client is not None:
        await svc.limits.hit("signup_client", client)
    check_username(username)
    check_password(password, username)
    if role not in ROLES:
        raise invalid("Unknown role.", field="role")
    password_hash = await hash_password(password)
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    async with transaction(svc) as tx:
        taken = await tx.session.scalar(
            select(User.id).where(User.username_key == username.lower())
        )
        if taken is not None:
            raise AppError("username_taken", "That name is taken. Try another.", 409)
        user = User(
            username=username,
            username_key=username.lower(),
            password_hash=password_hash,
            role=role,
            created_at=svc.clock.now(),
        )
        tx.session.add(user)
        await tx.session.flush()
        tx.session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_code(c)) for c in codes)
        token, auth = await _open_session(tx.session, svc, user, kind)
    return SignedUp(user=user, token=token, session=auth, recovery_codes=codes)


async def log_in(
    svc: Services, username: str, password: str, *, kind: str = "api", client: str | None = None
) -> SignedIn:
    """Limited per client (every attempt) and per name (wrong passwords, from anywhere): a
    slot of the name's failed-login budget is taken before the password is checked and
    given back when it was right, so concurrent guesses can't overshoot it. The name need
    not exist: the answer is the same either way."""
    if client is not None:
        await svc.limits.hit("login_client", client)
    if not isinstance(username, str) or not isinstance(password, str):
        raise _bad_credentials()
    attempt = await svc.limits.hit("login_account", username)
    user = None
    if USERNAME_RE.fullmatch(username):  # no account has any other name (nor a NUL in it)
        async with svc.db.read() as session:
            user = await session.scalar(select(User).where(User.username_key == username.lower()))
    # Verify even for an unknown name so the answer takes the same time either way.
    ok = await verify_password(user.password_hash if user else None, password[:1024])
    if user is None or not ok:
        raise _bad_credentials()
    await svc.limits.release(attempt)
    async with transaction(svc) as tx:
        if needs_rehash(user.password_hash):
            new_hash = await hash_password(password)
            await tx.session.execute(
                update(User).where(User.id == user.id).values(password_hash=new_hash)
            )
        token, auth = await _open_session(tx.session, svc, user, kind)
    return SignedIn(user=user, token=token, session=auth)


async def _end_all_sessions(tx: Tx, user_id: int, keep: int | None = None) -> None:
    query = select(AuthSession.id).where(AuthSession.user_id == user_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    ids = list((await tx.session.scalars(query)).all())
    if ids:
        await tx.session.execute(delete(AuthSession).where(AuthSession.id.in_(ids)))
        tx.on_commit(SessionsEnded(session_ids=ids))


async def recover(
    svc: Services,
    username: str,
    code: str,
    new_password: str,
    *,
    kind: str = "api",
    client: str | None = None,
) -> SignedIn:
    """Set a new password with a one-time recovery code; every other session ends.
    Limited per client (every attempt) and per name (codes that didn't match)."""
    if client is not None:
        await svc.limits.hit("recover_client", client)
    check_password(new_password, username if isinstance(username, str) else "")
    if not isinstance(username, str) or not isinstance(code, str):
        raise _bad_credentials()
    attempt = await svc.limits.hit("recover_account", username)
    new_hash = await hash_password(new_password)
    failure = AppError(
        "invalid_recovery", "That name and recovery code don't match, or the code was used.", 401
    )
    async with transaction(svc) as tx:
        user = None
        if USERNAME_RE.fullmatch(username):
            user = await tx.session.scalar(
                select(User).where(User.username_key == username.lower())
            )
        row = None
        if user is not None:
            row = await tx.session.scalar(
                select(RecoveryCode).where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == hash_code(code),
                    RecoveryCode.used_at.is_(None),
                )
            )
        if user is None or row is None:
            raise failure
        row.used_at = svc.clock.now()
        user.password_hash = new_hash
        await _end_all_sessions(tx, user.id)
        token, auth = await _open_session(tx.session, svc, user, kind)
    await svc.limits.release(attempt)
    return SignedIn(user=user, token=token, session=auth)


async def change_password(
    svc: Services, user_id: int, current: str, new_password: str, *, session_id: int
) -> None:
    """Change a password; every other session of the account ends."""
    async with svc.db.read() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise not_found("That account")
    check_password(new_password, user.username)
    # Wrong current passwords share the account's failed-login budget: a stolen session
    # can't be used to guess the password either.
    attempt = await svc.limits.hit("login_account", user.username)
    if not await verify_password(user.password_hash, current):
        raise AppError("invalid_credentials", "Your current password isn't right.", 403)
    await svc.limits.release(attempt)
    new_hash = await hash_password(new_password)
    async with transaction(svc) as tx:
        await tx.session.execute(
            update(User).where(User.id == user_id).values(password_hash=new_hash)
        )
        await _end_all_sessions(tx, user_id, keep=session_id)


async def new_recovery_codes(svc: Services, user_id: int) -> list[str]:
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    async with transaction(svc) as tx:
        await tx.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        tx.session.add_all(RecoveryCode(user_id=user_id, code_hash=hash_code(c)) for c in codes)
    return codes


async def end_session(svc: Services, user_id: int, session_id: int) -> None:
    """End one of the user's own sessions (logout is ending the current one)."""
    if not 0 < session_id <= MAX_INT:
        raise not_found("That session")
    async with transaction(svc) as tx:
        result = await tx.session.execute(
            delete(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == user_id)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise not_found("That session")
        tx.on_commit(SessionsEnded(session_ids=[session_id]))


async def touch_session(svc: Services, session_id: int) -> None:
    async with transaction(svc) as tx:
        await tx.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id)
            .values(last_seen_at=svc.clock.now())
        )


async def expire_session(svc: Services, session_id: int) -> None:
    async with transaction(svc) as tx:
        await tx.session.execute(delete(AuthSession).where(AuthSession.id == session_id))
        tx.on_commit(SessionsEnded(session_ids=[session_id]))


async def set_role(svc: Services, actor: User, username: str, role: str) -> User:
    """Admins grant and remove the facilitator (or admin) role."""
    if actor.role != "admin":
        raise AppError("forbidden", "Only an administrator can change roles.", 403)
    if role not in ROLES:
        raise invalid("Role must be member, facilitator or admin.", field="role")
    async with transaction(svc) as tx:
        user = await tx.session.scalar(select(User).where(User.username_key == username.lower()))
        if user is None:
            raise not_found("That person")
        if user.id == actor.id and role != "admin":
            raise AppError("forbidden", "You can't remove your own administrator role.", 403)
        previous = user.role
        user.role = role
        audit.record(tx, actor.id, "role_changed", target_user_id=user.id, old=previous, new=role)
    return user


async def set_suspended(svc: Services, actor: User, username: str, suspended: object) -> User:
    """Admins suspend an account platform-wide (it can't sign in, and every open session
    ends at once) or lift a suspension."""
    if actor.role != "admin":
        raise AppError("forbidden", "Only an administrator can suspend accounts.", 403)
    if not isinstance(suspended, bool):
        raise invalid("suspended must be true or false.", field="suspended")
    async with transaction(svc) as tx:
        user = await tx.session.scalar(select(User).where(User.username_key == username.lower()))
        if user is None:
            raise not_found("That person")
        if user.id == actor.id:
            raise AppError("forbidden", "You can't suspend your own account.", 403)
        user.suspended_at = svc.clock.now() if suspended else None
        if suspended:
            ids = list(
                (
                    await tx.session.scalars(
                        select(AuthSession.id).where(AuthSession.user_id == user.id)
                    )
                ).all()
            )
            await tx.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
            tx.on_commit(SessionsEnded(session_ids=ids))
        audit.record(
            tx,
            actor.id,
            "account_suspended" if suspended else "suspension_lifted",
            target_user_id=user.id,
        )
    return user
