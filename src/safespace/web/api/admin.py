"""Administration over JSON: roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from safespace.actions.accounts import set_role, set_suspended
from safespace.web.api.auth import user_dict
from safespace.web.api.schemas import Role, Suspension
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.put("/users/{username}/role")
async def change_role(username: str, body: Role, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    changed = await set_role(svc, user, username, body.role)
    return {"user": user_dict(changed)}


@router.put("/users/{username}/suspended")
async def suspend(username: str, body: Suspension, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    changed = await set_suspended(svc, user, username, body.suspended)
    return {"user": user_dict(changed), "suspended": changed.suspended_at is not None}
