"""Invitation links over JSON: make one, look at one, use one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from safespace.actions import invites
from safespace.queries.dates import iso
from safespace.web.api.groups import membership_dict
from safespace.web.api.schemas import AcceptInvite, NewInvite
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1", tags=["invites"])

Token = Path(min_length=1, max_length=128)


def link(request: Request, token: str) -> str:
    return str(request.base_url).rstrip("/") + f"/invite/{token}"


@router.post("/groups/{slug}/invites", status_code=201)
async def create(
    slug: str, body: NewInvite, request: Request, user: CurrentUser, svc: Svc
) -> dict[str, Any]:
    """The link is shown once, to its maker: only a hash of it is kept."""
    made = await invites.create_invite(svc, user, slug, body.kind)
    return {
        "invite": {
            "kind": made.invite.kind,
            "url": link(request, made.token),
            "token": made.token,
            "expires_at": iso(made.invite.expires_at),
        }
    }


@router.get("/invites/{token}")
async def look(user: CurrentUser, svc: Svc, token: str = Token) -> dict[str, Any]:
    found = await invites.preview(svc, token)
    found["expires_at"] = iso(found["expires_at"])  # type: ignore[arg-type]
    return {"invite": found}


@router.post("/invites/{token}/accept")
async def accept(
    body: AcceptInvite, user: CurrentUser, svc: Svc, token: str = Token
) -> dict[str, Any]:
    m = await invites.accept_invite(svc, user, token, body.accept_rules_version, body.alias)
    return {"membership": membership_dict(m)}
