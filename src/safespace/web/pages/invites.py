"""Invitation links as pages (no JavaScript needed): make a link, open one, accept it.
The rules live in actions/invites.py."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from safespace.actions import invites
from safespace.db.models import Group
from safespace.errors import AppError
from safespace.web.deps import services
from safespace.web.pages.routes import _form, _me, _redirect, _signed_in, render

invites_router = APIRouter(include_in_schema=False)


@invites_router.post("/g/{slug}/invites", response_class=HTMLResponse)
async def make(request: Request, slug: str) -> Response:
    """The link is on this page once: only a hash of it is kept, so it can't be shown again."""
    me = await _signed_in(request)
    form = await _form(request)
    kind = form.get("kind", "guest")
    try:
        made = await invites.create_invite(services(request), me.user, slug, kind)
    except AppError as err:
        return _redirect(f"/g/{slug}?invite_error={quote(err.code)}#invite")
    url = str(request.base_url).rstrip("/") + f"/invite/{made.token}"
    return render(
        request,
        "invite_made.html",
        slug=slug,
        kind=made.invite.kind,
        url=url,
        expires_at=made.invite.expires_at,
        title="Your invitation link · SafeSpace",
    )


@invites_router.get("/invite/{token}", response_class=HTMLResponse)
async def look(request: Request, token: str) -> Response:
    me = await _me(request)
    try:
        found = await invites.preview(services(request), token)
    except AppError as err:
        return render(
            request, "error.html", status=404, title="This link has ended", message=err.message
        )
    return render(
        request,
        "invite.html",
        invite=found,
        group=found["group"],
        token=token,
        here=f"/invite/{quote(token)}",
        signed_in=me is not None,
        error=request.query_params.get("error"),
        title=f"An invitation to {found['group']['name']} · SafeSpace",  # type: ignore[index]
    )


@invites_router.post("/invite/{token}")
async def use(request: Request, token: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    here = f"/invite/{quote(token)}"
    if form.get("accept") != "yes":
        return _redirect(f"{here}?error=accept")
    try:
        version = int(form.get("rules_version", "0"))
        joined = await invites.accept_invite(
            services(request), me.user, token, version, form.get("alias") or None
        )
    except ValueError:
        return _redirect(f"{here}?error=rules_not_accepted")
    except AppError as err:
        if err.code == "invite_gone":
            return render(
                request, "error.html", status=404, title="This link has ended", message=err.message
            )
        return _redirect(f"{here}?error={quote(err.code)}")
    async with services(request).db.read() as session:
        slug = await session.scalar(select(Group.slug).where(Group.id == joined.group_id))
    return _redirect(f"/g/{quote(slug or '')}/room")
