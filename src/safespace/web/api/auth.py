"""Accounts over JSON: sign-up, sign-in, recovery, sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from safespace.actions import accounts
from safespace.db.models import User
from safespace.queries.accounts import sessions_of
from safespace.queries.messages import iso
from safespace.ratelimit import client_address
from safespace.web.api.schemas import Credentials, PasswordChange, Recover
from safespace.web.deps import CurrentPrincipal, Svc

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role}


@router.post("/signup", status_code=201)
async def signup(body: Credentials, svc: Svc, request: Request) -> dict[str, Any]:
    done = await accounts.sign_up(svc, body.username, body.password, client=client_address(request))
    return {
        "user": user_dict(done.user),
        "token": done.token,
        "recovery_codes": done.recovery_codes,
    }


@router.post("/login")
async def login(body: Credentials, svc: Svc, request: Request) -> dict[str, Any]:
    done = await accounts.log_in(svc, body.username, body.password, client=client_address(request))
    return {"user": user_dict(done.user), "token": done.token}


@router.post("/recover")
async def recover(body: Recover, svc: Svc, request: Request) -> dict[str, Any]:
    done = await accounts.recover(
        svc,
        body.username,
        body.recovery_code,
        body.new_password,
        client=client_address(request),
    )
    return {"user": user_dict(done.user), "token": done.token}


@router.post("/logout", status_code=204)
async def logout(principal: CurrentPrincipal, svc: Svc) -> None:
    await accounts.end_session(svc, principal.user.id, principal.session.id)


@router.get("/me")
async def me(principal: CurrentPrincipal) -> dict[str, Any]:
    return {"user": user_dict(principal.user)}


@router.get("/sessions")
async def list_sessions(principal: CurrentPrincipal, svc: Svc) -> dict[str, Any]:
    async with svc.db.read() as session:
        rows = await sessions_of(session, principal.user.id)
    return {
        "sessions": [
            {
                "id": s.id,
                "kind": s.kind,
                "created_at": iso(s.created_at),
                "last_seen_at": iso(s.last_seen_at),
                "current": s.id == principal.session.id,
            }
            for s in rows
        ]
    }


@router.delete("/sessions/{session_id}", status_code=204)
async def end_session(session_id: int, principal: CurrentPrincipal, svc: Svc) -> None:
    await accounts.end_session(svc, principal.user.id, session_id)


@router.post("/password", status_code=204)
async def change_password(body: PasswordChange, principal: CurrentPrincipal, svc: Svc) -> None:
    await accounts.change_password(
        svc,
        principal.user.id,
        body.current_password,
        body.new_password,
        session_id=principal.session.id,
    )


@router.post("/recovery-codes")
async def regenerate_codes(principal: CurrentPrincipal, svc: Svc) -> dict[str, Any]:
    return {"recovery_codes": await accounts.new_recovery_codes(svc, principal.user.id)}
