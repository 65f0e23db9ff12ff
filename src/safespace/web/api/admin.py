"""Administration over JSON: roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from safespace.actions.accounts import set_role
from safespace.web.api.auth import user_dict
from safespace.web.api.schemas import Role
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.put("/users/{username}/role")
async def change_role(username: str, body: Role, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    changed = await set_role(svc, user, username, body.role)
    return {"user": user_dict(changed)}
