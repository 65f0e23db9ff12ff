"""Groups over JSON: directory, creation, rules, joining."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from safespace.actions import groups as actions
from safespace.actions import privacy
from safespace.db.models import Membership
from safespace.queries import groups as queries
from safespace.web.api.schemas import (
    AcceptRules,
    Alias,
    GroupSettings,
    Join,
    JoinAnswer,
    NewGroup,
    Retention,
    Rules,
    Topics,
)
from safespace.web.deps import CurrentUser, Svc

router = APIRouter(prefix="/api/v1", tags=["groups"])


def membership_dict(m: Membership) -> dict[str, Any]:
    return {"role": m.role, "alias": m.alias, "accepted_rules_version": m.accepted_rules_version}


async def _detail(svc: Svc, slug: str) -> dict[str, Any]:
    async with svc.db.read() as session:
        return queries.public_group(await queries.group_detail(session, slug))


@router.get("/groups")
async def list_groups(
    svc: Svc, sort: Literal["trending", "new", "name"] = "trending", tag: str | None = None
) -> dict[str, Any]:
    async with svc.db.read() as session:
        return {"groups": await queries.directory(session, sort, tag)}


@router.post("/groups", status_code=201)
async def create_group(body: NewGroup, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    created = await actions.create_group(svc, user, body.name, body.description, body.tags)
    return {"group": await _detail(svc, created.group.slug)}


@router.get("/groups/{slug}")
async def get_group(slug: str, svc: Svc) -> dict[str, Any]:
    return {"group": await _detail(svc, slug)}


@router.post("/groups/{slug}/join", responses={202: {"description": "request sent"}})
async def join(slug: str, body: Join, user: CurrentUser, svc: Svc) -> Any:
    m = await actions.join_group(svc, user, slug, body.accept_rules_version, body.alias)
    if m is None:
        return JSONResponse(
            {
                "pending": True,
                "message": "Thanks for asking. This group's facilitators welcome each new "
                "member themselves; the group appears in your list once they say yes.",
            },
            status_code=202,
        )
    return {"membership": membership_dict(m)}


@router.patch("/groups/{slug}/settings")
async def settings(slug: str, body: GroupSettings, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    await actions.set_settings(svc, user, slug, body.model_dump(exclude_unset=True))
    return {"group": await _detail(svc, slug)}


@router.get("/groups/{slug}/requests")
async def requests(slug: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    return {"requests": await actions.join_requests(svc, user, slug)}


@router.post("/groups/{slug}/requests/{request_id}", status_code=204)
async def answer_request(
    slug: str, request_id: int, body: JoinAnswer, user: CurrentUser, svc: Svc
) -> None:
    await actions.answer_join_request(svc, user, slug, request_id, body.approve)


@router.post("/groups/{slug}/whisper")
async def whisper(slug: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    return {"room_id": await actions.whisper_room(svc, user, slug)}


@router.post("/groups/{slug}/accept-rules")
async def accept_rules(slug: str, body: AcceptRules, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    m = await actions.accept_rules(svc, user, slug, body.version)
    return {"membership": membership_dict(m)}


@router.put("/groups/{slug}/rules")
async def update_rules(slug: str, body: Rules, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    await actions.update_rules(svc, user, slug, body.rules)
    return {"group": await _detail(svc, slug)}


@router.put("/groups/{slug}/alias")
async def set_alias(slug: str, body: Alias, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    m = await actions.set_alias(svc, user, slug, body.alias)
    return {"membership": membership_dict(m)}


@router.post("/groups/{slug}/leave", status_code=204)
async def leave(slug: str, user: CurrentUser, svc: Svc) -> None:
    await actions.leave_group(svc, user, slug)


@router.put("/groups/{slug}/retention")
async def set_retention(slug: str, body: Retention, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    days = await privacy.set_retention(svc, user, slug, body.retention_days)
    return {"retention_days": days}


@router.put("/groups/{slug}/topics")
async def set_topics(slug: str, body: Topics, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    topics = await actions.set_topics(svc, user, slug, body.model_dump())
    return {"topics": topics}


@router.put("/groups/{slug}/facilitators/{alias}")
async def add_facilitator(slug: str, alias: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    m = await actions.set_cofacilitator(svc, user, slug, alias, True)
    return {"membership": membership_dict(m)}


@router.delete("/groups/{slug}/facilitators/{alias}")
async def remove_facilitator(slug: str, alias: str, user: CurrentUser, svc: Svc) -> dict[str, Any]:
    m = await actions.set_cofacilitator(svc, user, slug, alias, False)
    return {"membership": membership_dict(m)}


@router.delete("/groups/{slug}", status_code=204)
async def delete_group(slug: str, user: CurrentUser, svc: Svc) -> None:
    await privacy.delete_group(svc, user, slug)


@router.get("/me/groups")
async def my_groups(user: CurrentUser, svc: Svc) -> dict[str, Any]:
    async with svc.db.read() as session:
        return {"groups": await queries.my_groups(session, user)}
