"""Help, always one tap away: /support (the whole help page, no JavaScript needed), /break
(a calm grounding exercise), and what base.html needs for the help panel and quick exit
on every page (the `support_panel()` template global)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context

from safespace.actions.safety import BREAK_CHOICES
from safespace.errors import AppError
from safespace.queries import groups as group_queries
from safespace.safety import resources
from safespace.settings import Settings
from safespace.web.deps import resolve_principal, services
from safespace.web.pages.routes import render, templates

support_router = APIRouter(include_in_schema=False)

# Pages that are the help itself: the header's control links to them, no panel is needed.
_HELP_PAGES = ("/support", "/break")


@dataclass(frozen=True)
class GroupContext:
    """The group a page is about, for someone who belongs to it."""

    slug: str
    name: str
    facilitator: bool
    private_line: bool = False  # the page is the person's private room with the facilitators


def break_label(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return "1 hour" if hours == 1 else f"{hours} hours"


BREAKS = [(m, break_label(m)) for m in BREAK_CHOICES]


def quick_exit_url(settings: Settings) -> str:
    """The operator's neutral page; only an ordinary web address is ever used."""
    parts = urlsplit(settings.quick_exit_url.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        return settings.quick_exit_url.strip()
    return Settings.quick_exit_url


def crisis_resources(request: Request) -> resources.CrisisResources:
    return resources.load(services(request).settings.crisis_resources_file)


def _group_context(ctx: Context) -> GroupContext | None:
    """From what a page already renders: a room (`access`) or a group page where the person
    is a member (`group` and `membership`). A page may pass `support_group` itself."""
    given = ctx.get("support_group")
    if isinstance(given, GroupContext):
        return given
    access = ctx.get("access")
    slug = getattr(access, "group_slug", None)
    if slug:
        return GroupContext(
            slug,
            str(getattr(access, "group_name", "")),
            getattr(access, "member_role", "") == "facilitator",
            private_line=getattr(access, "kind", "main") == "support",
        )
    group = ctx.get("group")
    membership = ctx.get("membership")
    if isinstance(group, Mapping) and group.get("slug") and membership is not None:
        role = getattr(membership, "role", None)
        return GroupContext(str(group["slug"]), str(group["name"]), role == "facilitator")
    return None


@pass_context
def support_panel(ctx: Context) -> dict[str, Any]:
    """Everything base.html needs for the header's controls and the help panel."""
    request: Request = ctx["request"]
    res = crisis_resources(request)
    code = resources.region_for(request.headers.get("accept-language"), None, res)
    path = request.url.path
    return {
        "quick_exit_url": quick_exit_url(services(request).settings),
        "panel": path not in _HELP_PAGES,
        "on_support": path == "/support",
        "region": res.get(code),
        "regions": res.choices,
        "json": res.to_json(),
        "group": _group_context(ctx) if ctx.get("me") is not None else None,
        "breaks": BREAKS,
    }


templates.env.globals["support_panel"] = support_panel


@support_router.get("/support", response_class=HTMLResponse)
async def support_page(request: Request, region: str = "") -> Response:
    me = await resolve_principal(request)
    res = crisis_resources(request)
    code = resources.region_for(request.headers.get("accept-language"), region or None, res)
    groups: list[dict[str, Any]] = []
    if me is not None:
        async with services(request).db.read() as session:
            groups = await group_queries.my_groups(session, me.user)
    return render(
        request,
        "support.html",
        region=res.get(code),
        regions=res.choices,
        groups=groups,
        breaks=BREAKS,
        title="Support, right now · SafeSpace",
    )


@support_router.get("/break", response_class=HTMLResponse)
async def break_page(request: Request, group: str = "") -> Response:
    """A quiet page to breathe on. After taking a break from a group (?group=slug), it says
    until when, and offers the way back."""
    me = await resolve_principal(request)
    svc = services(request)
    on_break: GroupContext | None = None
    until: datetime | None = None
    if me is not None and group:
        async with svc.db.read() as session:
            try:
                detail = await group_queries.group_detail(session, group)
            except AppError:
                detail = None
            m = await group_queries.membership(session, me.user, detail["id"]) if detail else None
        if detail is not None and m is not None:
            on_break = GroupContext(detail["slug"], detail["name"], m.role == "facilitator")
            ends = getattr(m, "break_until", None)
            if ends is not None and ends > svc.clock.now():
                until = ends
    return render(
        request,
        "break.html",
        break_group=on_break,
        until=until,
        title="Take a breath · SafeSpace",
    )
