"""create_app(settings): the composition root. Builds the database, broker, hub and clock once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from safespace import logs, services
from safespace.actions.jobs import run_due_jobs
from safespace.clock import Clock
from safespace.errors import AppError
from safespace.events.hub import Hub
from safespace.queries.safety import facilitators_online
from safespace.ratelimit import with_retry_after
from safespace.services import Services, build_services
from safespace.settings import Settings
from safespace.web import ws
from safespace.web.api import (
    admin,
    auth,
    groups,
    invites,
    me,
    moderation,
    reading,
    rooms,
    safety,
    sessions,
)
from safespace.web.pages import routes as pages
from safespace.web.pages.facilitation import facilitation_router
from safespace.web.pages.group_admin import group_admin_router
from safespace.web.pages.invites import invites_router
from safespace.web.pages.live_session import live_router
from safespace.web.pages.reporting import reporting_router
from safespace.web.pages.support import support_router
from safespace.web.security import RejectNulInUrl, SecurityHeaders

log = logging.getLogger(__name__)
JOB_TICK = 30.0


def _json_error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


class SafeSpaceApp(FastAPI):
    """FastAPI with the security layers outermost. Starlette puts its ServerErrorMiddleware
    outside every middleware added with add_middleware, so the 500 it writes (and the NUL
    guard's 400) would otherwise go out without the security headers."""

    hsts = False

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(RejectNulInUrl(super().build_middleware_stack()), hsts=self.hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == ws.PATH:
            scope["app"] = self
            await ws.socket(scope, receive, send)  # no middleware applies: see ws.socket
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    logs.install()
    svc = build_services(settings, clock)
    db = svc.db
    hub = Hub()

    async def count_online(group_id: int) -> int:
        async with svc.db.read() as session:
            return await facilitators_online(session, group_id, svc.clock.now())

    hub.count_online = count_online

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.broker.subscribe(hub.handle)
        svc.broker.subscribe(svc.keys.on_event)
        await services.start(svc)
        svc.reader.start()  # helper processes, if any, start with the server
        tasks = [
            asyncio.create_task(_periodic(svc)),
            asyncio.create_task(ws.keep_present(svc, hub)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await services.stop(svc)

    app = SafeSpaceApp(
        title="SafeSpace",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.hsts = settings.secure_cookies
    app.state.svc = svc
    app.state.hub = hub

    app.add_exception_handler(pages.LoginRequired, pages.login_required)

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Any:
        if _wants_html(request):
            return with_retry_after(pages.error_page(request, exc.status, exc.message), exc)
        return with_retry_after(JSONResponse(exc.body(), status_code=exc.status), exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            fields.append({"field": ".".join(loc), "problem": str(err.get("msg", "invalid"))})
        json_broken = any(e.get("type") == "json_invalid" for e in exc.errors())
        if json_broken:
            return _json_error(400, "bad_json", "The request body isn't valid JSON.")
        return _json_error(422, "invalid", "Some fields are missing or not valid.", fields=fields)

    @app.exception_handler(DBAPIError)
    async def database_dropped(request: Request, exc: DBAPIError) -> Any:
        """A pooled connection the database had closed (a restart, within db/engine.py's
        PING_AFTER of its last use): this request is answered 503, and both pools are
        renewed so the next request connects afresh. Any other database error stays a 500."""
        if not exc.connection_invalidated:
            raise exc
        log.warning("a database connection was lost; renewing the connection pools")
        await svc.db.renew_pools()
        message = "SafeSpace lost touch with its database for a moment. Please try again."
        if _wants_html(request):
            response: Any = pages.error_page(request, 503, message)
        else:
            response = _json_error(503, "unavailable", message)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if _wants_html(request):
            return pages.error_page(request, exc.status_code, str(exc.detail))
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json_error(exc.status_code, code, str(exc.detail))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        return {"status": "ok"}

    for router in (
        auth.router,
        groups.router,
        rooms.router,
        safety.router,
        me.router,
        reading.router,
        moderation.router,
        sessions.router,
        invites.router,
        admin.router,
        pages.router,
        support_router,
        facilitation_router,
        reporting_router,
        group_admin_router,
        invites_router,
        live_router,
    ):
        app.include_router(router)
    pages.mount_static(app)

    # zlib's own default level: Starlette's 9 took a quarter longer on a page of history
    # for the same bytes within 1% (docs/performance.md, change 37).
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    return app


async def _periodic(svc: Services) -> None:
    while True:
        await run_due_jobs(svc)
        await asyncio.sleep(JOB_TICK)
