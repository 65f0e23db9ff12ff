"""Server-rendered pages. Thin: they call queries and actions, and work without JavaScript."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from safespace import content
from safespace.actions import accounts, privacy, safety
from safespace.actions import consent as consent_actions
from safespace.actions import filters as filter_actions
from safespace.actions import groups as group_actions
from safespace.actions.messages import post_message
from safespace.actions.privacy import erase_account
from safespace.db.models import Membership
from safespace.errors import AppError
from safespace.queries import groups as group_queries
from safespace.queries import moderation as moderation_queries
from safespace.queries import safety as safety_queries
from safespace.queries.accounts import Principal, sessions_of
from safespace.queries.filters import filters_dict
from safespace.queries.messages import history, one_message_or_none
from safespace.queries.privacy import export_account
from safespace.queries.rooms import access_room_as_member, access_room_for_reading
from safespace.ratelimit import client_address, with_retry_after
from safespace.reading.categories import CATEGORIES, MAX_NOTE, METHOD_DETAIL
from safespace.reading.categories import label as category_label
from safespace.web.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    cookie_name,
    csrf_token_for,
    resolve_principal,
    services,
)

HERE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# Content-warning categories, for every page that names them: "Self-harm", "Eating disorders".
templates.env.globals["cw_label"] = category_label


def category_words(ids: list[str]) -> str:
    """For sentences: "self-harm", "abuse, self-harm and suicide"; with a comma before the
    last "and" when a label has its own ("suicide, and death and grief")."""
    words = [category_label(c).lower() for c in ids]
    if len(words) < 2:
        return "".join(words)
    comma = "," if any(" and " in w for w in words) else ""
    return f"{', '.join(words[:-1])}{comma} and {words[-1]}"


templates.env.globals["cw_words"] = category_words
templates.env.globals["cw_categories"] = CATEGORIES
router = APIRouter(include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    ctx.setdefault("title", "SafeSpace")
    response = templates.TemplateResponse(
        request,
        name,
        {"me": principal.user if principal else None, "csrf": csrf_token_for(request), **ctx},
        status_code=status,
    )
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf:
        _set_cookie(request, response, CSRF_COOKIE, new_csrf)
    return response


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {
        404: "We couldn't find that page",
        403: "That isn't open to you",
        401: "Please sign in",
        503: "Just a moment",
    }
    return render(
        request,
        "error.html",
        status=status,
        title=titles.get(status, "Something went wrong"),
        message=message,
    )


def _set_cookie(request: Request, response: Response, base: str, value: str) -> None:
    svc = services(request)
    response.set_cookie(
        cookie_name(svc, base),
        value,
        httponly=True,
        samesite="lax",
        secure=svc.settings.secure_cookies,
        path="/",
        max_age=svc.settings.session_absolute_days * 86400 if base == SESSION_COOKIE else None,
    )


def _clear_cookie(request: Request, response: Response, base: str) -> None:
    # With the attributes it was set with: a browser ignores a Set-Cookie for a __Host-
    # cookie that isn't Secure, so a bare delete would leave the cookie in place.
    svc = services(request)
    response.delete_cookie(
        cookie_name(svc, base),
        path="/",
        secure=svc.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    # Only our own paths: never bounce someone to another site after signing in.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/groups"


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, data.get("csrf_token"))
    return data


async def _form_lists(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A form whose checkboxes share a name: the single values, and every list."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, data.get("csrf_token"))
    lists = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}
    return data, lists


def _back(form: dict[str, str], fallback: str) -> str:
    """Where a room's small forms return to: the room page they were sent from."""
    return _safe_next(form.get("back")) if form.get("back") else fallback


async def _me(request: Request) -> Principal | None:
    return await resolve_principal(request)


class LoginRequired(Exception):
    """Raised by a private page for an anonymous visitor: the app answers with a redirect
    to sign in, and back here afterwards."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return _redirect("/login?next=" + quote(exc.path))


async def _signed_in(request: Request) -> Principal:
    me = await _me(request)
    if me is None:
        raise LoginRequired(request.url.path)
    return me


# ---------------------------------------------------------------- public pages


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    await _me(request)
    svc = services(request)
    async with svc.db.read() as session:
        trending = await group_queries.directory(session, "trending", None, limit=6)
    return render(
        request,
        "home.html",
        trending=trending,
        vision=content.load("vision"),
        title="SafeSpace: peer support, privately",
    )


@router.get("/faq", response_class=HTMLResponse)
async def faq(request: Request) -> Response:
    await _me(request)
    return render(
        request, "faq.html", faq=content.load("faq"), title="Questions people ask · SafeSpace"
    )


@router.get("/guidelines", response_class=HTMLResponse)
async def guidelines(request: Request) -> Response:
    await _me(request)
    return render(
        request,
        "guidelines.html",
        g=content.load("guidelines"),
        vision=content.load("vision"),
        title="Ground rules · SafeSpace",
    )


@router.get("/groups", response_class=HTMLResponse)
async def directory(request: Request, sort: str = "trending", tag: str = "") -> Response:
    me = await _me(request)
    svc = services(request)
    sort = sort if sort in group_queries.SORTS else "trending"
    async with svc.db.read() as session:
        found = await group_queries.directory(session, sort, tag or None)
        tags = await group_queries.all_tags(session)
        mine = await group_queries.my_groups(session, me.user) if me else []
    return render(
        request,
        "groups.html",
        groups=found,
        tags=tags,
        sort=sort,
        tag=tag,
        mine=mine,
        title="Groups · SafeSpace",
    )


@router.get("/g/{slug}", response_class=HTMLResponse)
async def group_page(request: Request, slug: str) -> Response:
    me = await _me(request)
    svc = services(request)
    async with svc.db.read() as session:
        group = await group_queries.group_detail(session, slug)
        membership = await group_queries.membership(session, me.user, group["id"]) if me else None
        host_left = (
            me is not None
            and membership is None
            and await group_queries.guest_access_ended(session, me.user, group["id"])
        )
    return render(
        request,
        "group.html",
        group=group,
        membership=membership,
        host_left=host_left,
        error=request.query_params.get("error"),
        saved=request.query_params.get("saved"),
        # How long messages are really kept (the group's choice, the operator's default
        # or maximum), and the choices a facilitator is offered.
        retention_days=privacy.effective_retention_days(svc, group["retention_days"]),
        retention_choices=privacy.allowed_retention(svc),
        off_limits_choices=[*CATEGORIES, METHOD_DETAIL],
        title=f"{group['name']} · SafeSpace",
    )


# ---------------------------------------------------------------- accounts


@router.get("/signup", response_class=HTMLResponse)
async def signup_form(request: Request, next: str = "") -> Response:
    await _me(request)
    return render(request, "signup.html", next=_safe_next(next), title="Join SafeSpace")


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request) -> Response:
    await _me(request)
    form = await _form(request)
    svc = services(request)
    try:
        done = await accounts.sign_up(
            svc,
            form.get("username", ""),
            form.get("password", ""),
            kind="browser",
            client=client_address(request),
        )
    except AppError as err:
        return with_retry_after(
            render(
                request,
                "signup.html",
                status=err.status,
                error=err.message,
                username=form.get("username", ""),
                field=err.extra.get("field"),
                next=_safe_next(form.get("next")),
                title="Join SafeSpace",
            ),
            err,
        )
    request.state.principal = Principal(user=done.user, session=done.session)
    response = render(
        request,
        "signup_done.html",
        codes=done.recovery_codes,
        next=_safe_next(form.get("next")),
        title="Save your recovery codes",
    )
    _set_cookie(request, response, SESSION_COOKIE, done.token)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "") -> Response:
    await _me(request)
    return render(request, "login.html", next=_safe_next(next), title="Sign in · SafeSpace")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    await _me(request)
    form = await _form(request)
    svc = services(request)
    try:
        done = await accounts.log_in(
            svc,
            form.get("username", ""),
            form.get("password", ""),
            kind="browser",
            client=client_address(request),
        )
    except AppError as err:
        return with_retry_after(
            render(
                request,
                "login.html",
                status=err.status,
                error=err.message,
                username=form.get("username", ""),
                next=_safe_next(form.get("next")),
                title="Sign in · SafeSpace",
            ),
            err,
        )
    response = _redirect(_safe_next(form.get("next")))
    _set_cookie(request, response, SESSION_COOKIE, done.token)
    return response


@router.get("/recover", response_class=HTMLResponse)
async def recover_form(request: Request) -> Response:
    await _me(request)
    return render(request, "recover.html", title="Use a recovery code · SafeSpace")


@router.post("/recover", response_class=HTMLResponse)
async def recover(request: Request) -> Response:
    await _me(request)
    form = await _form(request)
    svc = services(request)
    try:
        done = await accounts.recover(
            svc,
            form.get("username", ""),
            form.get("code", ""),
            form.get("password", ""),
            kind="browser",
            client=client_address(request),
        )
    except AppError as err:
        return with_retry_after(
            render(
                request,
                "recover.html",
                status=err.status,
                error=err.message,
                username=form.get("username", ""),
                title="Use a recovery code · SafeSpace",
            ),
            err,
        )
    response = _redirect("/settings?notice=password-reset")
    _set_cookie(request, response, SESSION_COOKIE, done.token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    me = await _me(request)
    await _form(request)
    if me is not None:
        await accounts.end_session(services(request), me.user.id, me.session.id)
    response = _redirect("/")
    _clear_cookie(request, response, SESSION_COOKIE)
    return response


NOTICES = {
    "password-reset": "Your new password is set, and every other session was signed out.",
    "password-changed": "Your password is changed. Your other sessions were signed out.",
    "session-ended": "That session is signed out.",
}


@router.get("/settings", response_class=HTMLResponse)
async def settings_page(request: Request) -> Response:
    me = await _signed_in(request)
    svc = services(request)
    async with svc.db.read() as session:
        sessions = await sessions_of(session, me.user.id)
        mine = await group_queries.my_groups(session, me.user)
        filters = await filters_dict(session, me.user.id)
        sanctioned = await moderation_queries.has_sanctions(session, me.user)
    return render(
        request,
        "settings.html",
        sessions=sessions,
        current=me.session.id,
        mine=mine,
        filters=filters,
        has_sanctions=sanctioned,
        notice=NOTICES.get(request.query_params.get("notice", "")),
        title="Your settings · SafeSpace",
    )


@router.post("/settings/sessions/{session_id}/end")
async def end_session(request: Request, session_id: int) -> Response:
    me = await _signed_in(request)
    await _form(request)
    await accounts.end_session(services(request), me.user.id, session_id)
    if session_id == me.session.id:
        return _redirect("/")
    return _redirect("/settings?notice=session-ended")


@router.post("/settings/password", response_class=HTMLResponse)
async def change_password(request: Request) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    svc = services(request)
    try:
        await accounts.change_password(
            svc,
            me.user.id,
            form.get("current", ""),
            form.get("password", ""),
            session_id=me.session.id,
        )
    except AppError as err:
        async with svc.db.read() as session:
            sessions = await sessions_of(session, me.user.id)
            mine = await group_queries.my_groups(session, me.user)
        return render(
            request,
            "settings.html",
            status=err.status,
            sessions=sessions,
            current=me.session.id,
            mine=mine,
            password_error=err.message,
            title="Your settings · SafeSpace",
        )
    return _redirect("/settings?notice=password-changed")


@router.post("/settings/recovery-codes", response_class=HTMLResponse)
async def regenerate_codes(request: Request) -> Response:
    me = await _signed_in(request)
    await _form(request)
    codes = await accounts.new_recovery_codes(services(request), me.user.id)
    return render(
        request,
        "signup_done.html",
        codes=codes,
        next="/settings",
        fresh=True,
        title="Your new recovery codes",
    )


# ---------------------------------------------------------------- reading filters

FILTER_NOTICES = {
    "saved": "Saved. Your filters apply to new messages straight away, on every device.",
    "unblocked": "Unblocked. You'll see their messages again.",
    "blocked": "Blocked. They won't be told.",
}


async def _filters_page(
    request: Request, me: Principal, status: int = 200, **ctx: Any
) -> HTMLResponse:
    async with services(request).db.read() as session:
        filters = await filters_dict(session, me.user.id)
    for b in filters["blocked"]:
        since = datetime.fromisoformat(b["since"].replace("Z", "+00:00"))
        b["since_text"] = f"{since.day} {since:%b %Y}"
    if "modes" in ctx:  # a refused form: show what was chosen, not what is stored
        filters["categories"] = ctx.pop("modes")
    return render(
        request,
        "filters.html",
        status=status,
        filters=filters,
        notice=FILTER_NOTICES.get(request.query_params.get("notice", "")),
        title="Reading filters · SafeSpace",
        **ctx,
    )


@router.get("/settings/filters", response_class=HTMLResponse)
async def filters_page(request: Request) -> Response:
    me = await _signed_in(request)
    return await _filters_page(request, me)


@router.post("/settings/filters", response_class=HTMLResponse)
async def save_filters(request: Request) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    modes = {c: form.get(f"mode-{c}", "collapse") for c in CATEGORIES}
    words = form.get("muted_words", "")
    try:
        await filter_actions.set_filters(
            services(request), me.user, modes, [w for w in words.splitlines() if w.strip()]
        )
    except AppError as err:
        if err.status == 403:
            raise
        return await _filters_page(
            request, me, status=err.status, error=err.message, modes=modes, muted_draft=words
        )
    return _redirect("/settings/filters?notice=saved")


@router.post("/settings/blocks/{block_id}/remove")
async def remove_block(request: Request, block_id: int) -> Response:
    me = await _signed_in(request)
    await _form(request)
    await filter_actions.unblock(services(request), me.user, block_id)
    return _redirect("/settings/filters?notice=unblocked#blocked-title")


# ---------------------------------------------------------------- groups


@router.get("/groups/new", response_class=HTMLResponse)
async def new_group_form(request: Request) -> Response:
    me = await _signed_in(request)
    if me.user.role not in ("facilitator", "admin"):
        raise AppError(
            "forbidden",
            "Only facilitators can start a group. An administrator can give you that role.",
            403,
        )
    return render(request, "group_new.html", title="Start a group · SafeSpace")


@router.post("/groups/new", response_class=HTMLResponse)
async def new_group(request: Request) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    tags = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
    try:
        made = await group_actions.create_group(
            services(request), me.user, form.get("name", ""), form.get("description", ""), tags
        )
    except AppError as err:
        return render(
            request,
            "group_new.html",
            status=err.status,
            error=err.message,
            form=form,
            title="Start a group · SafeSpace",
        )
    return _redirect(f"/g/{made.group.slug}")


@router.post("/g/{slug}/join")
async def join(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    if form.get("accept") != "yes":
        return _redirect(f"/g/{slug}?error=accept#join")
    try:
        version = int(form.get("rules_version", "0"))
        joined = await group_actions.join_group(
            services(request), me.user, slug, version, form.get("alias") or None
        )
    except ValueError:
        return _redirect(f"/g/{slug}?error=rules#join")
    except AppError as err:
        return _redirect(f"/g/{slug}?error={quote(err.code)}#join")
    if joined is None:  # this group's facilitators welcome each newcomer themselves
        return _redirect(f"/g/{slug}?notice=requested#join")
    return _redirect(f"/g/{slug}/room")


@router.post("/g/{slug}/accept")
async def accept(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    if form.get("accept") != "yes":
        return _redirect(f"/g/{slug}?error=accept#join")
    try:
        await group_actions.accept_rules(
            services(request), me.user, slug, int(form.get("rules_version", "0"))
        )
    except (ValueError, AppError):
        return _redirect(f"/g/{slug}?error=rules_not_accepted#join")
    return _redirect(f"/g/{slug}/room")


@router.post("/g/{slug}/alias")
async def alias(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    try:
        await group_actions.set_alias(services(request), me.user, slug, form.get("alias", ""))
    except AppError as err:
        return _redirect(f"/g/{slug}?error={quote(err.code)}#alias")
    return _redirect(f"/g/{slug}#alias")


@router.post("/g/{slug}/leave")
async def leave(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    await _form(request)
    await group_actions.leave_group(services(request), me.user, slug)
    return _redirect(f"/g/{slug}")


@router.get("/g/{slug}/rules/edit", response_class=HTMLResponse)
async def rules_form(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    svc = services(request)
    async with svc.db.read() as session:
        group = await group_queries.group_detail(session, slug)
        m = await group_queries.membership(session, me.user, group["id"])
    if me.user.role != "admin" and (m is None or m.role != "facilitator"):
        raise AppError("forbidden", "Only this group's facilitators can edit its rules.", 403)
    return render(
        request, "rules_edit.html", group=group, title=f"Edit ground rules · {group['name']}"
    )


@router.post("/g/{slug}/rules", response_class=HTMLResponse)
async def save_rules(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    rules = [line.strip() for line in form.get("rules", "").splitlines() if line.strip()]
    svc = services(request)
    try:
        await group_actions.update_rules(svc, me.user, slug, rules)
    except AppError as err:
        if err.status == 403:
            raise
        async with svc.db.read() as session:
            group = await group_queries.group_detail(session, slug)
        return render(
            request,
            "rules_edit.html",
            status=err.status,
            group=group,
            error=err.message,
            draft=form.get("rules", ""),
            title=f"Edit ground rules · {group['name']}",
        )
    return _redirect(f"/g/{slug}")


@router.post("/g/{slug}/topics")
async def save_topics(request: Request, slug: str) -> Response:
    """The group's topic rules, from the facilitators' form on the group page."""
    me = await _signed_in(request)
    _, lists = await _form_lists(request)
    topics = {k: lists.get(k, []) for k in ("require_warning", "need_consent", "off_limits")}
    try:
        await group_actions.set_topics(services(request), me.user, slug, dict(topics))
    except AppError as err:
        if err.status == 403:
            raise
        return _redirect(f"/g/{slug}?error=topics#topics")
    return _redirect(f"/g/{slug}?saved=topics#topics")


# ---------------------------------------------------------------- the room


@router.get("/g/{slug}/room", response_class=HTMLResponse)
async def room(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    return await _room_page(request, me, slug, notice=request.query_params.get("notice"))


async def _room_page(
    request: Request,
    me: Principal,
    slug: str,
    *,
    room_id: int | None = None,
    notice: str | None = None,
    notice_text: str | None = None,
    draft: str = "",
    warning: dict[str, Any] | None = None,
    suggested: list[str] | None = None,
    ask_error: str | None = None,
    ask_draft: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    svc = services(request)
    now = svc.clock.now()
    async with svc.db.read() as session:
        group = await group_queries.group_detail(session, slug)
        m = await group_queries.membership(session, me.user, group["id"])
        if m is None:
            return _redirect(f"/g/{slug}#join")
        access, reader = await access_room_for_reading(
            session, me.user, room_id or group["room_id"]
        )
        messages = await history(session, svc.keys, access, limit=50, reader=reader)
        online = await safety_queries.facilitators_online(session, group["id"], now) > 0
        owner_alias = None
        if access.kind == "support" and access.member_id is not None:
            owner_alias = await session.scalar(
                select(Membership.alias).where(
                    Membership.group_id == group["id"], Membership.user_id == access.member_id
                )
            )
        # Whose messages offer no "Block": facilitators can't be blocked in their group.
        facilitator_aliases = list(
            (
                await session.scalars(
                    select(Membership.alias).where(
                        Membership.group_id == group["id"], Membership.role == "facilitator"
                    )
                )
            ).all()
        )
        session_ctx: dict[str, Any] = {"session": None}
        if access.kind == "main":
            from safespace.web.pages.live_session import card_context

            session_ctx = await card_context(session, svc, access)
    on_break = m.break_until if m.break_until and m.break_until > now else None
    reveal = request.query_params.get("reveal", "")
    if reveal.isdigit():  # "Show" without JavaScript: that one message in full
        async with svc.db.read() as session:
            full = await one_message_or_none(session, svc.keys, access, int(reveal))
        messages = [full if full and x["seq"] == full["seq"] else x for x in messages]
    share = request.query_params.get("share", "")
    if warning is None and share in CATEGORIES:  # "Share now" without JavaScript
        warning = {"categories": [share]}
    check_in = request.query_params.get("check_in")
    return render(
        request,
        "room.html",
        status=status,
        group=group,
        access=access,
        messages=messages,
        notice=notice,
        notice_text=notice_text,
        draft=draft,
        warning=warning or {},
        warning_open=bool(warning) and not suggested,
        suggested=suggested or [],
        ask_error=ask_error,
        ask_draft=ask_draft or {},
        max_note=MAX_NOTE,
        categories_json=json.dumps(CATEGORIES),
        facilitators_json=json.dumps(facilitator_aliases),
        facilitator_aliases=facilitator_aliases,
        facilitators_online=online,
        on_break=on_break,
        break_choices=safety.BREAK_CHOICES,
        check_in=check_in if check_in in ("elevated", "imminent") else None,
        owner_alias=owner_alias,
        **session_ctx,
        # Where the room's forms come back to (not the address of a form that was refused).
        room_path=request.url.path
        if request.method == "GET"
        else (f"/g/{slug}/room" if access.kind == "main" else f"/rooms/{access.room_id}"),
        title=f"{group['name']} · SafeSpace",
    )


def _warning_from(form: dict[str, str], lists: dict[str, list[str]]) -> dict[str, Any] | None:
    """The composer's warning controls (and "Add warning" from a suggestion) as sent."""
    categories = [c for c in lists.get("cw", []) if c]
    for c in form.get("cw_add", "").split(","):
        if c and c not in categories:
            categories.append(c)
    note = " ".join(form.get("cw_note", "").split())
    if not categories and not note:
        return None
    warning: dict[str, Any] = {"categories": categories}
    if note:
        warning["note"] = note
    return warning


@router.post("/g/{slug}/room/send")
async def room_send(request: Request, slug: str) -> Response:
    """The composer without JavaScript: post, then back to the room."""
    me = await _signed_in(request)
    form, lists = await _form_lists(request)
    svc = services(request)
    async with svc.db.read() as session:
        group = await group_queries.group_detail(session, slug)
    room_id = int(form["room_id"]) if form.get("room_id", "").isdigit() else group["room_id"]
    back = _back(form, f"/g/{slug}/room")
    warning = _warning_from(form, lists)
    if form.get("cw_change"):  # "Change" without JavaScript: the controls open, ticked
        ticked = [c for c in form["cw_change"].split(",") if c in CATEGORIES]
        warning = warning or {"categories": []}
        warning["categories"] = [*warning["categories"], *ticked]
        return await _room_page(
            request, me, slug, room_id=room_id, draft=form.get("body", ""), warning=warning
        )
    # The first try asks for a suggestion; "Add warning" and "Send without" are the answer.
    suggest = form.get("suggest_first") == "1" and not form.get("send_without")
    suggest = suggest and not form.get("cw_add")
    try:
        posted = await post_message(
            svc,
            me.user,
            room_id,
            form.get("client_id", ""),
            form.get("body", ""),
            warning,
            suggest,
        )
    except AppError as err:
        if err.code == "rules_not_accepted":
            return _redirect(f"/g/{slug}#join")
        if err.code == "warning_required":  # tick what the group asks for, ready to send
            required = [c for c in err.extra.get("required", []) if isinstance(c, str)]
            warning = warning or {"categories": []}
            warning["categories"] = [*warning["categories"], *required]
        # Shown again with the words still in the box: nothing typed is lost.
        response = await _room_page(
            request,
            me,
            slug,
            room_id=room_id,
            notice=err.code,
            notice_text=None if err.code == "warning_suggested" else err.message,
            draft=form.get("body", ""),
            warning=warning,
            suggested=err.extra.get("suggested") if err.code == "warning_suggested" else None,
            status=err.status,
        )
        return with_retry_after(response, err)
    if posted.check_in:
        return _redirect(f"{back}?check_in={posted.check_in}#check-in")
    return _redirect(f"{back}#composer")


@router.get("/rooms/{room_id}", response_class=HTMLResponse)
async def any_room(request: Request, room_id: int) -> Response:
    """A room by id: the private line between a member and the facilitators, say."""
    me = await _signed_in(request)
    async with services(request).db.read() as session:
        access = await access_room_as_member(session, me.user, room_id)
    return await _room_page(
        request, me, access.group_slug, room_id=room_id, notice=request.query_params.get("notice")
    )


@router.post("/g/{slug}/support-room")
async def support_room(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    await _form(request)
    room_id = await safety.open_support_room(services(request), me.user, slug)
    return _redirect(f"/rooms/{room_id}?notice=support-opened")


@router.post("/g/{slug}/break")
async def take_break(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    minutes = int(form["minutes"]) if form.get("minutes", "").isdigit() else -1
    await safety.take_break(services(request), me.user, slug, minutes)
    return _redirect(f"/g/{slug}/room")


@router.post("/rooms/{room_id}/worried/{seq}")
async def worried(request: Request, room_id: int, seq: int) -> Response:
    me = await _signed_in(request)
    await _form(request)
    await safety.worried_about(services(request), me.user, room_id, seq)
    return _redirect(f"/rooms/{room_id}?notice=worried#m-{seq}")


@router.post("/rooms/{room_id}/block/{seq}")
async def block(request: Request, room_id: int, seq: int) -> Response:
    """Block the author of a message: their messages are hidden for you. Never told."""
    me = await _signed_in(request)
    form = await _form(request)
    back = _back(form, f"/rooms/{room_id}")
    try:
        await filter_actions.block_author(services(request), me.user, room_id, seq)
    except AppError as err:
        if err.status != 422:
            raise
        return _redirect(f"{back}?notice=cant-block#m-{seq}")
    return _redirect(f"{back}?notice=blocked#m-{seq}")


@router.post("/rooms/{room_id}/consent", response_class=HTMLResponse)
async def ask_consent(request: Request, room_id: int) -> Response:
    """ "May I talk about ...?" without JavaScript."""
    me = await _signed_in(request)
    form = await _form(request)
    svc = services(request)
    back = _back(form, f"/rooms/{room_id}")
    topic, category = form.get("topic", ""), form.get("category", "")
    try:
        message = await consent_actions.ask(
            svc, me.user, room_id, form.get("client_id", ""), topic, category or None
        )
    except AppError as err:
        if err.status in (403, 404):
            raise
        async with svc.db.read() as session:
            access = await access_room_as_member(session, me.user, room_id)
        if err.code == "rules_not_accepted":
            return _redirect(f"/g/{access.group_slug}#join")
        response = await _room_page(
            request,
            me,
            access.group_slug,
            room_id=room_id,
            ask_error=err.message,
            ask_draft={"topic": topic, "category": category},
            status=err.status,
        )
        return with_retry_after(response, err)
    return _redirect(f"{back}#m-{message['seq']}")


@router.post("/rooms/{room_id}/consent/{seq}/answer")
async def answer_consent(request: Request, room_id: int, seq: int) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    back = _back(form, f"/rooms/{room_id}")
    await consent_actions.answer(services(request), me.user, room_id, seq, form.get("answer"))
    return _redirect(f"{back}?notice=answered#m-{seq}")


@router.get("/facilitate", response_class=HTMLResponse)
async def facilitate(request: Request) -> Response:
    """The facilitators' queue: every open item of every group they run."""
    me = await _signed_in(request)
    svc = services(request)
    async with svc.db.read() as session:
        groups = await safety_queries.facilitated_groups(session, me.user)
        if not groups and me.user.role != "admin":
            raise AppError("forbidden", "This page is for facilitators.", 403)
        items = await safety_queries.flags_for(
            session, svc.keys, groups, admin=me.user.role == "admin"
        )
        looked_after = await group_queries.groups_named(session, groups)
        join_requests = await group_queries.pending_join_requests(session, groups)
    now = svc.clock.now()
    for req in join_requests:
        req["waited_minutes"] = int((now - req["created_at"]).total_seconds() // 60)
    for item in items:
        item["waited_minutes"] = int(
            (
                now - datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
            ).total_seconds()
            // 60
        )
    return render(
        request,
        "facilitate.html",
        flags=items,
        groups=looked_after,
        join_requests=join_requests,
        duty_minutes=svc.settings.duty_reminder_minutes,
        guide=safety_queries.response_guide(svc.settings.escalation_guide_file),
        notice=request.query_params.get("notice"),
        title="Your queue · SafeSpace",
    )


@router.post("/facilitate/flags/{flag_id}")
async def facilitate_flag(request: Request, flag_id: int) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    await safety.set_flag_status(
        services(request), me.user, flag_id, form.get("status"), form.get("note") or None
    )
    return _redirect("/facilitate?notice=saved")


# ---------------------------------------------------------------- administration


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request) -> Response:
    me = await _signed_in(request)
    if me.user.role != "admin":
        raise AppError("forbidden", "Only administrators can open this page.", 403)
    return render(
        request,
        "admin.html",
        notice=request.query_params.get("notice"),
        title="Administration · SafeSpace",
    )


@router.post("/admin/role", response_class=HTMLResponse)
async def admin_role(request: Request) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    try:
        user = await accounts.set_role(
            services(request), me.user, form.get("username", ""), form.get("role", "")
        )
    except AppError as err:
        if err.status == 403:
            raise
        return render(
            request,
            "admin.html",
            status=err.status,
            error=err.message,
            title="Administration · SafeSpace",
        )
    return _redirect(f"/admin?notice={quote(user.username + ' is now ' + user.role)}")


# ---------------------------------------------------------------- privacy


@router.get("/settings/export")
async def export_page(request: Request) -> Response:
    """Download everything we hold about you (a GET: it changes nothing)."""
    me = await _signed_in(request)
    data = await export_account(services(request), me.user)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "content-disposition": f'attachment; filename="safespace-{me.user.username}.json"'
        },
    )


@router.post("/settings/erase", response_class=HTMLResponse)
async def erase_page(request: Request) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    svc = services(request)
    try:
        if form.get("confirm") != "yes":
            raise AppError("confirm", "Please tick the box to confirm.", 422)
        await erase_account(svc, me.user, form.get("password", ""))
    except AppError as err:
        async with svc.db.read() as session:
            sessions = await sessions_of(session, me.user.id)
            mine = await group_queries.my_groups(session, me.user)
        return render(
            request,
            "settings.html",
            status=err.status,
            sessions=sessions,
            current=me.session.id,
            mine=mine,
            erase_error=err.message,
            title="Your settings · SafeSpace",
        )
    request.state.principal = None
    response = render(request, "erased.html", title="Your account is deleted")
    _clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.post("/g/{slug}/retention")
async def retention(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    try:
        await privacy.set_retention(
            services(request), me.user, slug, int(form.get("retention_days", "-1"))
        )
    except ValueError:
        return _redirect(f"/g/{slug}?error=invalid#manage")
    except AppError as err:
        if err.status == 403:
            raise
        return _redirect(f"/g/{slug}?error=retention#manage")
    return _redirect(f"/g/{slug}?saved=retention#manage")


@router.post("/g/{slug}/delete")
async def delete_group(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    if form.get("confirm") != "yes":
        return _redirect(f"/g/{slug}?error=confirm#manage")
    await privacy.delete_group(services(request), me.user, slug)
    return _redirect("/groups")
