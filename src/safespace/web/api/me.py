"""A person's own data over JSON: export everything, or erase the account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from safespace.actions.privacy import erase_account
from safespace.queries.privacy import export_account
from safespace.web.api.schemas import Erase
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1/me", tags=["privacy"])


@router.get("/export")
async def export(user: CurrentUser, svc: Svc) -> JSONResponse:
    data: dict[str, Any] = await export_account(svc, user)
    return JSONResponse(
        data,
        headers={"content-disposition": f'attachment; filename="safespace-{user.username}.json"'},
    )


@router.post("/erase", status_code=204)
async def erase(body: Erase, user: CurrentUser, svc: Svc) -> None:
    await erase_account(svc, user, body.password)
