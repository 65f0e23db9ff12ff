"""Request dependencies: services, who is asking, and CSRF for cookie-authenticated writes."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from safespace.actions import accounts
from safespace.db.models import User
from safespace.errors import AppError, unauthenticated
from safespace.queries.accounts import Principal, principal_for_token
from safespace.services import Services

SESSION_COOKIE = "ss_session"
CSRF_COOKIE = "ss_csrf"
TOUCH_EVERY = timedelta(minutes=1)
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def services(conn: HTTPConnection) -> Services:
    svc: Services = conn.app.state.svc
    return svc


async def _services(conn: HTTPConnection) -> Services:
    # The same, as a dependency: FastAPI runs a plain `def` dependency on a worker thread,
    # a thread hop on every request for what is one attribute read.
    return services(conn)


def cookie_name(svc: Services, base: str) -> str:
    # Over TLS the __Host- prefix pins the cookie to this exact origin.
    return f"__Host-{base}" if svc.settings.secure_cookies else base


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


async def resolve_principal(
    conn: HTTPConnection, token: str | None = None, session: AsyncSession | None = None
) -> Principal | None:
    """The signed-in person for a token, a bearer header or the session cookie. Read on
    the given read session, if the caller has one open for the rest of its reads."""
    if "principal" in conn.scope.get("state", {}):
        cached: Principal | None = conn.state.principal
        return cached
    svc = services(conn)
    via_cookie = False
    if token is None:
        token = bearer_token(conn)
    if token is None:
        token = conn.cookies.get(cookie_name(svc, SESSION_COOKIE))
        via_cookie = token is not None
    principal = None
    if token:
        now = svc.clock.now()
        if session is not None:
            principal = await principal_for_token(session, token, now, svc.settings)
        else:
            async with svc.db.read() as own:
                principal = await principal_for_token(own, token, now, svc.settings)
        if principal is not None and principal.expired:
            await accounts.expire_session(svc, principal.session.id)
            principal = None
        elif principal is not None and now - principal.session.last_seen_at > TOUCH_EVERY:
            await accounts.touch_session(svc, principal.session.id)
    conn.state.principal = principal
    conn.state.via_cookie = via_cookie and principal is not None
    return principal


def same_origin(conn: HTTPConnection, strict: bool = False) -> bool:
    """Whether the request comes from our own pages. Browsers send "Origin: null" on form
    posts under our no-referrer policy; forms then rely on their CSRF token alone, while a
    websocket (strict) must name our origin to use the cookie."""
    origin = conn.headers.get("origin")
    if origin is None or origin == "null":
        return not strict
    svc = services(conn)
    if svc.settings.public_origin:
        return origin == svc.settings.public_origin
    host = conn.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def csrf_token_for(request: Request) -> str:
    """The token a page embeds in its forms: the session's, or a pre-sign-in cookie's."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal.session.csrf_token
    token = request.cookies.get(cookie_name(services(request), CSRF_COOKIE))
    if not token:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """Every state change a browser makes carries a token only our pages could have read."""
    if not same_origin(request):
        raise AppError("csrf", "This request came from another site and was refused.", 403)
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        expected = principal.session.csrf_token
    else:
        expected = request.cookies.get(cookie_name(services(request), CSRF_COOKIE), "")
    if not expected or not submitted or not secrets.compare_digest(expected, submitted):
        raise AppError("csrf", "This form has expired. Please reload the page and try again.", 403)


async def optional_principal(request: Request) -> Principal | None:
    return await _checked_principal(request)


async def _checked_principal(
    request: Request, session: AsyncSession | None = None
) -> Principal | None:
    principal = await resolve_principal(request, session=session)
    # A browser's cookie is ambient: any write made with it must also carry the CSRF header.
    if principal is not None and request.state.via_cookie and request.method in UNSAFE:
        check_csrf(request, request.headers.get("x-csrf-token"))
    return principal


async def signed_in_user(request: Request, session: AsyncSession) -> User:
    """CurrentUser, read on the route's own read session: for a hot route that reads
    anyway, one session per request instead of two (docs/performance.md)."""
    principal = await _checked_principal(request, session)
    if principal is None:
        raise unauthenticated()
    return principal.user


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise unauthenticated()
    return principal


async def require_user(principal: Annotated[Principal, Depends(require_principal)]) -> User:
    return principal.user


Svc = Annotated[Services, Depends(_services)]
CurrentUser = Annotated[User, Depends(require_user)]
CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
