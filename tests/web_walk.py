"""Every route of the app, and a world of people to walk them with.

Shared by test_authorization.py (who may do what) and test_security_headers.py (CSRF and
"no state change on GET"). The routes come from the app itself (`app_routes`), so a new
route that nobody described here makes those tests fail until it is described: a builder
in API_CALLS or PAGE_CALLS that makes a request which would succeed for someone allowed to
make it, and a line in each expectation table.

People are made in-process through the app's own actions (as `safespace users create`
does), and every request gets a session of its own (`World.session`), so a request that
ends sessions or changes a password never disturbs the next one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from starlette.routing import Mount, WebSocketRoute

from helpers import PASSWORD, Account, LiveServer, create_group, join, privileged, unique_name
from safespace.actions import accounts
from safespace.app import SafeSpaceApp
from safespace.db.base import Base
from safespace.db.models import Flag, JoinRequest
from safespace.web import ws
from safespace.web.deps import optional_principal

# Who walks the routes: nobody, a member of the group, someone signed in but not in it, the
# group's facilitator, a facilitator of another group (not in this one), an administrator
# (not in this group either).
ACTORS = (
    "anonymous",
    "member",
    "guest",
    "non_member",
    "facilitator",
    "other_facilitator",
    "admin",
)
NEW_PASSWORD = "a-fresh-calm-phrase-73"
# Rated elevated by safespace.safety.assess (hopelessness, burden): delivered as usual, and
# the group's facilitators get a flag.
ELEVATED_TEXT = "I've been feeling like a burden to everyone and I don't see the point anymore"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    method: str  # an HTTP method, "WS" for a websocket, "MOUNT" for a mounted app
    path: str
    kind: str  # "api" (under /api/), "page", "websocket", "mount"
    # API routes: whether the handler depends on who is asking (bearer or cookie), which is
    # where a cookie-authenticated write gets its CSRF check (web/deps.py)
    signed_in: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def app_routes(app: FastAPI) -> list[Route]:
    """The app's routes as requests see them (included routers flattened), HEAD left out."""
    try:  # FastAPI 0.12x+ keeps included routers as lazy entries of app.routes
        from fastapi.routing import iter_route_contexts

        entries: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: app.routes is already flat
        entries = list(app.routes)
    found: list[Route] = []
    if isinstance(app, SafeSpaceApp):  # it answers the live socket before routing
        found.append(Route("WS", ws.PATH, "websocket"))
    for entry in entries:
        route = getattr(entry, "original_route", entry)
        path = str(entry.path)
        if isinstance(route, Mount):
            found.append(Route("MOUNT", path, "mount"))
        elif isinstance(route, WebSocketRoute):
            found.append(Route("WS", path, "websocket"))
        else:
            kind = "api" if path.startswith("/api/") else "page"
            dependant = getattr(route, "dependant", None)
            signed_in = dependant is not None and _depends_on(dependant, optional_principal)
            for method in sorted(set(entry.methods or ()) - {"HEAD"}):
                found.append(Route(method, path, kind, signed_in))
    return found


def _depends_on(dependant: Any, target: Callable[..., Any]) -> bool:
    return any(d.call is target or _depends_on(d, target) for d in dependant.dependencies)


# --------------------------------------------------------------------------- the world


@dataclass
class Session:
    token: str
    csrf: str
    id: int

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    server: LiveServer
    client: httpx.AsyncClient
    people: dict[str, Account]
    group: dict[str, Any]  # made by `facilitator`, joined by `member`
    other_group: dict[str, Any]  # made by `other_facilitator`
    passwords: dict[str, str] = field(default_factory=dict)
    made: dict[str, Any] = field(default_factory=dict)  # targets made once, on first use

    async def session(self, actor: str) -> Session | None:
        """A new session of this person (None for anonymous), opened in-process so no
        sign-in rate limit is spent on setting the scene."""
        if actor == "anonymous":
            return None
        person = self.people[actor]
        done = await accounts.log_in(
            self.server.svc, person.username, self.passwords.get(actor, PASSWORD)
        )
        return Session(done.token, done.session.csrf_token, done.session.id)

    async def fresh_group(self) -> dict[str, Any]:
        """Another group of `facilitator`'s with `member` in it, for requests that use a
        group up (leave, delete)."""
        group = await create_group(self.client, self.people["facilitator"])
        await join(self.client, self.people["member"], group)
        return group

    async def spare(self) -> Account:
        """Someone else entirely: a target for sign-in, recovery and role changes."""
        return await privileged(self.server, role="member")

    async def message_seq(self) -> int:
        """The seq of a message in the group's room by a third member (not one of the
        walkers), posted once: what "Show" and "I'm worried" point at. It reads as
        elevated risk, so it also raises a flag (`flag_id`)."""
        if "seq" not in self.made:
            author = await self.spare()
            await join(self.client, author, self.group, alias=unique_name("alias"))
            r = await self.client.post(
                f"/api/v1/rooms/{self.group['room_id']}/messages",
                json={"client_id": uuid.uuid4().hex, "body": ELEVATED_TEXT},
                headers=author.headers,
            )
            assert r.status_code == 201 and r.json().get("check_in") == "elevated", r.text
            self.made["seq"] = r.json()["message"]["seq"]
        return int(self.made["seq"])

    async def flag_id(self) -> int:
        """An open risk flag in the group (raised by `message_seq`'s message)."""
        if "flag" not in self.made:
            await self.message_seq()
            async with self.server.svc.db.read() as session:
                flag = await session.scalar(
                    select(Flag.id).where(
                        Flag.room_id == self.group["room_id"], Flag.kind == "risk"
                    )
                )
            assert flag is not None
            self.made["flag"] = flag
        return int(self.made["flag"])

    async def consent_seq(self) -> int:
        """The seq of a consent request ("May I talk about...?") in the group's room by a
        third member (not one of the walkers), asked once: what answers point at."""
        if "consent" not in self.made:
            author = await self.spare()
            await join(self.client, author, self.group, alias=unique_name("alias"))
            r = await self.client.post(
                f"/api/v1/rooms/{self.group['room_id']}/consent",
                json={"client_id": uuid.uuid4().hex, "topic": "my week", "category": "medical"},
                headers=author.headers,
            )
            assert r.status_code == 201, r.text
            self.made["consent"] = r.json()["message"]["seq"]
        return int(self.made["consent"])

    async def member_block_id(self) -> int:
        """A block of the member's (of `message_seq`'s author), made again if it was
        lifted: nobody else can lift it, or learn it exists."""
        seq = await self.message_seq()
        r = await self.client.post(
            "/api/v1/me/blocks",
            json={"room_id": self.group["room_id"], "seq": seq},
            headers=self.people["member"].headers,
        )
        assert r.status_code == 201, r.text
        return int(r.json()["block"]["id"])

    async def newcomer(self, group: dict[str, Any] | None = None) -> str:
        """The alias of a plain member of the group (or of `group`) who walks nothing."""
        spare = await self.spare()
        alias = unique_name("alias")
        await join(self.client, spare, group or self.group, alias=alias)
        return alias

    async def as_facilitator(self, method: str, path: str, json: Any = None) -> Any:
        """A request of the group's facilitator (its owner), made to set the scene."""
        r = await self.client.request(
            method, path, json=json, headers=self.people["facilitator"].headers
        )
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def bystander(self) -> str:
        """The alias of a plain member of the group who walks nothing (made once): what
        sanctions point at, so no walker's membership is touched."""
        if "bystander" not in self.made:
            self.made["bystander"] = await self.newcomer()
        return str(self.made["bystander"])

    async def mute_id(self) -> int:
        """A mute of the bystander's, given once (lifting it again answers as before)."""
        if "mute" not in self.made:
            body = {"kind": "mute", "alias": await self.bystander(), "rule": 1, "minutes": 15}
            done = await self.as_facilitator(
                "POST", f"/api/v1/groups/{self.group['slug']}/sanctions", body
            )
            self.made["mute"] = done["sanction"]["id"]
        return int(self.made["mute"])

    async def cofacilitator(self) -> str:
        """The alias of a new member the owner has just made a co-facilitator (one per
        request, so stepping one down never affects another request)."""
        alias = await self.newcomer()
        await self.as_facilitator(
            "PUT", f"/api/v1/groups/{self.group['slug']}/facilitators/{alias}"
        )
        return alias

    async def approval_group(self) -> dict[str, Any]:
        """Another group of `facilitator`'s, with `member` in it, whose facilitators approve
        newcomers (made once; the main group stays open, as the other routes need)."""
        if "approval" not in self.made:
            group = await self.fresh_group()
            await self.as_facilitator(
                "PATCH", f"/api/v1/groups/{group['slug']}/settings", {"join_policy": "approval"}
            )
            self.made["approval"] = group
        return dict(self.made["approval"])

    async def join_request_id(self) -> int:
        """A new request to join `approval_group` (answering one uses it up)."""
        group = await self.approval_group()
        spare = await self.spare()
        r = await self.client.post(
            f"/api/v1/groups/{group['slug']}/join",
            json={"accept_rules_version": group["rules_version"]},
            headers=spare.headers,
        )
        assert r.status_code == 202, r.text
        async with self.server.svc.db.read() as session:
            found = await session.scalar(
                select(JoinRequest.id).where(JoinRequest.user_id == spare.id)
            )  # someone new: their only request
        assert found is not None
        return int(found)

    async def new_session_id(self) -> int:
        """A session of the group's, scheduled a week ahead by its facilitator."""
        start = self.server.svc.clock.now() + timedelta(days=7)
        body = {
            "title": "Evening circle",
            "start": start.strftime("%Y-%m-%dT19:00"),
            "minutes": 60,
            "timezone": "Europe/London",
        }
        done = await self.as_facilitator(
            "POST", f"/api/v1/groups/{self.group['slug']}/sessions", body
        )
        return int(done["session"]["id"])

    async def session_id(self) -> int:
        """A session of the group's (scheduled once): what calendar files point at."""
        if "session" not in self.made:
            self.made["session"] = await self.new_session_id()
        return int(self.made["session"])

    async def live_session_key(self) -> str:
        """The key of a session the group's facilitator opened (once) for two hours."""
        if "live" not in self.made:
            done = await self.as_facilitator(
                "POST", f"/api/v1/groups/{self.group['slug']}/session/open", {"minutes": 120}
            )
            self.made["live"] = done["live"]["key"]
        return str(self.made["live"])

    async def member_link(self) -> str:
        """A new member invitation link to the group, made by its facilitator."""
        done = await self.as_facilitator(
            "POST", f"/api/v1/groups/{self.group['slug']}/invites", {"kind": "member"}
        )
        return str(done["invite"]["token"])

    async def group_with_live_session(self) -> dict[str, Any]:
        """A fresh group of the facilitator's with a session open in it (closing uses it up)."""
        group = await self.fresh_group()
        await self.as_facilitator(
            "POST", f"/api/v1/groups/{group['slug']}/session/open", {"minutes": 60}
        )
        return group


async def _guest_in(
    client: httpx.AsyncClient, server: LiveServer, group: dict[str, Any]
) -> Account:
    """A guest in the group: a member who walks nothing (the host) invites them. The group
    lets guests in but keeps them read-only, its default."""
    r = await client.patch(
        f"/api/v1/groups/{group['slug']}/settings",
        json={"guests_allowed": True},
        headers=group["_owner"].headers,
    )
    assert r.status_code == 200, r.text
    host = await privileged(server, role="member")
    await join(client, host, group, alias=unique_name("host"))
    r = await client.post(
        f"/api/v1/groups/{group['slug']}/invites", json={"kind": "guest"}, headers=host.headers
    )
    assert r.status_code == 201, r.text
    guest = await privileged(server, role="member")
    r = await client.post(
        f"/api/v1/invites/{r.json()['invite']['token']}/accept",
        json={"accept_rules_version": group["rules_version"], "alias": unique_name("guest")},
        headers=guest.headers,
    )
    assert r.status_code == 200 and r.json()["membership"]["role"] == "guest", r.text
    return guest


async def build_world(server: LiveServer, client: httpx.AsyncClient) -> World:
    people = {
        "member": await privileged(server, role="member"),
        "non_member": await privileged(server, role="member"),
        "facilitator": await privileged(server, role="facilitator"),
        "other_facilitator": await privileged(server, role="facilitator"),
        "admin": await privileged(server, role="admin"),
    }
    group = await create_group(client, people["facilitator"])
    await join(client, people["member"], group, alias=unique_name("alias"))
    people["guest"] = await _guest_in(client, server, {**group, "_owner": people["facilitator"]})
    other_group = await create_group(client, people["other_facilitator"])
    return World(server, client, people, group, other_group)


# --------------------------------------------------------------------------- requests


@dataclass
class Call:
    """One request: its path with the parameters filled in, and its JSON body or form."""

    path: str
    json: Any = None
    form: dict[str, str] | None = None


Builder = Callable[[World, str], Awaitable[Call]]


def _fixed(path: str, json: Any = None, form: dict[str, str] | None = None) -> Builder:
    async def build(w: World, actor: str) -> Call:
        return Call(path, json, form)

    return build


def _in_group(template: str, json: Any = None, form: dict[str, str] | None = None) -> Builder:
    async def build(w: World, actor: str) -> Call:
        return Call(template.format(slug=w.group["slug"], room_id=w.group["room_id"]), json, form)

    return build


def _in_fresh_group(template: str, form: dict[str, str] | None = None) -> Builder:
    async def build(w: World, actor: str) -> Call:
        return Call(template.format(slug=(await w.fresh_group())["slug"]), None, form)

    return build


async def _member_session_path(w: World, template: str) -> str:
    target = await w.session("member")
    assert target is not None
    return template.format(session_id=target.id)


async def _signup(w: World, actor: str) -> Call:
    return Call("/api/v1/auth/signup", {"username": unique_name(), "password": PASSWORD})


async def _login(w: World, actor: str) -> Call:
    spare = await w.spare()
    return Call("/api/v1/auth/login", {"username": spare.username, "password": PASSWORD})


async def _recover(w: World, actor: str) -> Call:
    spare = await w.spare()
    body = {
        "username": spare.username,
        "recovery_code": spare.recovery_codes[0],
        "new_password": NEW_PASSWORD,
    }
    return Call("/api/v1/auth/recover", body)


async def _end_session(w: World, actor: str) -> Call:
    return Call(await _member_session_path(w, "/api/v1/auth/sessions/{session_id}"))


async def _new_group(w: World, actor: str) -> Call:
    body = {"name": unique_name("Group"), "description": "A calm place."}
    return Call("/api/v1/groups", body)


async def _alias(w: World, actor: str) -> Call:
    slug = w.group["slug"]
    return Call(f"/api/v1/groups/{slug}/alias", {"alias": unique_name("alias")})


async def _send(w: World, actor: str) -> Call:
    body = {"client_id": uuid.uuid4().hex, "body": "Hello, everyone."}
    return Call(f"/api/v1/rooms/{w.group['room_id']}/messages", body)


async def _role(w: World, actor: str) -> Call:
    spare = await w.spare()
    return Call(f"/api/v1/admin/users/{spare.username}/role", {"role": "facilitator"})


async def _reveal(w: World, actor: str) -> Call:
    return Call(f"/api/v1/rooms/{w.group['room_id']}/messages/{await w.message_seq()}")


async def _worried(w: World, actor: str) -> Call:
    return Call(f"/api/v1/rooms/{w.group['room_id']}/messages/{await w.message_seq()}/worried")


async def _update_flag(w: World, actor: str) -> Call:
    return Call(f"/api/v1/flags/{await w.flag_id()}", {"status": "acknowledged", "note": "On it."})


async def _consent_ask(w: World, actor: str) -> Call:
    body = {"client_id": uuid.uuid4().hex, "topic": "my sister's illness", "category": "medical"}
    return Call(f"/api/v1/rooms/{w.group['room_id']}/consent", body)


async def _consent_answer(w: World, actor: str) -> Call:
    path = f"/api/v1/rooms/{w.group['room_id']}/consent/{await w.consent_seq()}/answer"
    return Call(path, {"answer": "ok"})


async def _block(w: World, actor: str) -> Call:
    return Call("/api/v1/me/blocks", {"room_id": w.group["room_id"], "seq": await w.message_seq()})


async def _unblock(w: World, actor: str) -> Call:
    return Call(f"/api/v1/me/blocks/{await w.member_block_id()}")


async def _report(w: World, actor: str) -> Call:
    body = {"seq": await w.message_seq(), "rule": 1, "note": "This worried me."}
    return Call(f"/api/v1/rooms/{w.group['room_id']}/reports", body)


async def _sanction(w: World, actor: str) -> Call:
    body = {"kind": "warning", "alias": await w.bystander(), "rule": 1, "reason": "Be kind."}
    return Call(f"/api/v1/groups/{w.group['slug']}/sanctions", body)


async def _lift(w: World, actor: str) -> Call:
    return Call(f"/api/v1/groups/{w.group['slug']}/sanctions/{await w.mute_id()}/lift")


async def _assign_flag(w: World, actor: str) -> Call:
    return Call(f"/api/v1/flags/{await w.flag_id()}/assign", {"to": None})


async def _suspend(w: World, actor: str) -> Call:
    spare = await w.spare()  # never one of the walkers: the world stays signed in
    return Call(f"/api/v1/admin/users/{spare.username}/suspended", {"suspended": True})


async def _add_facilitator(w: World, actor: str) -> Call:
    return Call(f"/api/v1/groups/{w.group['slug']}/facilitators/{await w.newcomer()}")


async def _remove_facilitator(w: World, actor: str) -> Call:
    return Call(f"/api/v1/groups/{w.group['slug']}/facilitators/{await w.cofacilitator()}")


async def _answer_request(w: World, actor: str) -> Call:
    slug = (await w.approval_group())["slug"]
    return Call(f"/api/v1/groups/{slug}/requests/{await w.join_request_id()}", {"approve": False})


async def _schedule(w: World, actor: str) -> Call:
    start = w.server.svc.clock.now() + timedelta(days=14)
    body = {
        "title": "Morning check-in",
        "start": start.strftime("%Y-%m-%dT09:30"),
        "minutes": 45,
        "timezone": "Europe/London",
        "weekly": True,
    }
    return Call(f"/api/v1/groups/{w.group['slug']}/sessions", body)


async def _cancel_session(w: World, actor: str) -> Call:
    return Call(f"/api/v1/groups/{w.group['slug']}/sessions/{await w.new_session_id()}")


async def _calendar(w: World, actor: str) -> Call:
    path = f"/api/v1/groups/{w.group['slug']}/sessions/{await w.session_id()}/calendar.ics"
    return Call(path)


async def _api_invite(w: World, actor: str) -> Call:
    return Call(f"/api/v1/invites/{await w.member_link()}")


async def _api_accept_invite(w: World, actor: str) -> Call:
    token = await w.member_link()
    return Call(
        f"/api/v1/invites/{token}/accept", {"accept_rules_version": w.group["rules_version"]}
    )


async def _api_acknowledge(w: World, actor: str) -> Call:
    key = await w.live_session_key()
    return Call(f"/api/v1/rooms/{w.group['room_id']}/session/acknowledge", {"key": key})


async def _api_open_session(w: World, actor: str) -> Call:
    group = await w.fresh_group()
    return Call(f"/api/v1/groups/{group['slug']}/session/open", {"minutes": 30})


async def _api_close_session(w: World, actor: str) -> Call:
    group = await w.group_with_live_session()
    return Call(f"/api/v1/groups/{group['slug']}/session/close")


async def _page_invite(w: World, actor: str) -> Call:
    return Call(f"/invite/{await w.member_link()}")


async def _page_accept_invite(w: World, actor: str) -> Call:
    token = await w.member_link()
    return Call(f"/invite/{token}", form={"accept": "yes", "rules_version": "1"})


async def _page_acknowledge(w: World, actor: str) -> Call:
    key = await w.live_session_key()
    return Call(
        f"/rooms/{w.group['room_id']}/session/acknowledge",
        form={"key": key, "back": f"/g/{w.group['slug']}/room"},
    )


async def _page_open_session(w: World, actor: str) -> Call:
    group = await w.fresh_group()
    return Call(f"/g/{group['slug']}/session/open", form={"minutes": "30"})


async def _page_close_session(w: World, actor: str) -> Call:
    group = await w.group_with_live_session()
    return Call(f"/g/{group['slug']}/session/close", form={})


# One request per API route, which succeeds for whoever is allowed to make it.
API_CALLS: dict[tuple[str, str], Builder] = {
    ("GET", "/api/v1/openapi.json"): _fixed("/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/signup"): _signup,
    ("POST", "/api/v1/auth/login"): _login,
    ("POST", "/api/v1/auth/recover"): _recover,
    ("POST", "/api/v1/auth/logout"): _fixed("/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"): _fixed("/api/v1/auth/me"),
    ("GET", "/api/v1/auth/sessions"): _fixed("/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): _end_session,
    ("POST", "/api/v1/auth/password"): _fixed(
        "/api/v1/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    ),
    ("POST", "/api/v1/auth/recovery-codes"): _fixed("/api/v1/auth/recovery-codes"),
    ("GET", "/api/v1/groups"): _fixed("/api/v1/groups"),
    ("POST", "/api/v1/groups"): _new_group,
    ("GET", "/api/v1/groups/{slug}"): _in_group("/api/v1/groups/{slug}"),
    ("POST", "/api/v1/groups/{slug}/join"): _in_group(
        "/api/v1/groups/{slug}/join", {"accept_rules_version": 1}
    ),
    ("POST", "/api/v1/groups/{slug}/accept-rules"): _in_group(
        "/api/v1/groups/{slug}/accept-rules", {"version": 1}
    ),
    ("PUT", "/api/v1/groups/{slug}/rules"): _in_group(
        "/api/v1/groups/{slug}/rules", {"rules": ["Be kind.", "What is said here stays here."]}
    ),
    ("PUT", "/api/v1/groups/{slug}/alias"): _alias,
    ("POST", "/api/v1/groups/{slug}/leave"): _in_fresh_group("/api/v1/groups/{slug}/leave"),
    ("PUT", "/api/v1/groups/{slug}/retention"): _in_group(
        "/api/v1/groups/{slug}/retention", {"retention_days": 30}
    ),
    ("DELETE", "/api/v1/groups/{slug}"): _in_fresh_group("/api/v1/groups/{slug}"),
    ("GET", "/api/v1/me/groups"): _fixed("/api/v1/me/groups"),
    ("GET", "/api/v1/rooms/{room_id}/messages"): _in_group("/api/v1/rooms/{room_id}/messages"),
    ("POST", "/api/v1/rooms/{room_id}/messages"): _send,
    ("GET", "/api/v1/me/export"): _fixed("/api/v1/me/export"),
    ("POST", "/api/v1/me/erase"): _fixed("/api/v1/me/erase", {"password": PASSWORD}),
    ("PUT", "/api/v1/admin/users/{username}/role"): _role,
    # safety
    ("GET", "/api/v1/rooms/{room_id}/messages/{seq}"): _reveal,
    ("POST", "/api/v1/rooms/{room_id}/messages/{seq}/worried"): _worried,
    ("GET", "/api/v1/flags"): _fixed("/api/v1/flags"),
    ("POST", "/api/v1/flags/{flag_id}"): _update_flag,
    ("POST", "/api/v1/groups/{slug}/support-room"): _in_group("/api/v1/groups/{slug}/support-room"),
    ("POST", "/api/v1/groups/{slug}/break"): _in_group(
        "/api/v1/groups/{slug}/break", {"minutes": 15}
    ),
    # content warnings, consent and filters
    ("GET", "/api/v1/content-warnings"): _fixed("/api/v1/content-warnings"),
    ("POST", "/api/v1/rooms/{room_id}/consent"): _consent_ask,
    ("POST", "/api/v1/rooms/{room_id}/consent/{seq}/answer"): _consent_answer,
    ("GET", "/api/v1/me/filters"): _fixed("/api/v1/me/filters"),
    ("PUT", "/api/v1/me/filters"): _fixed(
        "/api/v1/me/filters", {"categories": {"self-harm": "hide"}, "muted_words": ["exam"]}
    ),
    ("POST", "/api/v1/me/blocks"): _block,
    ("DELETE", "/api/v1/me/blocks/{block_id}"): _unblock,
    ("PUT", "/api/v1/groups/{slug}/topics"): _in_group(
        "/api/v1/groups/{slug}/topics",
        {
            "require_warning": ["self-harm"],
            "need_consent": ["abuse"],
            "off_limits": ["method-detail"],
        },
    ),
    # running a group and moderation (issue 6)
    ("POST", "/api/v1/rooms/{room_id}/reports"): _report,
    ("POST", "/api/v1/groups/{slug}/sanctions"): _sanction,
    ("POST", "/api/v1/groups/{slug}/sanctions/{sanction_id}/lift"): _lift,
    ("GET", "/api/v1/groups/{slug}/audit"): _in_group("/api/v1/groups/{slug}/audit"),
    ("GET", "/api/v1/me/sanctions"): _fixed("/api/v1/me/sanctions"),
    ("POST", "/api/v1/flags/{flag_id}/assign"): _assign_flag,
    ("PUT", "/api/v1/admin/users/{username}/suspended"): _suspend,
    ("PUT", "/api/v1/groups/{slug}/facilitators/{alias}"): _add_facilitator,
    ("DELETE", "/api/v1/groups/{slug}/facilitators/{alias}"): _remove_facilitator,
    ("PATCH", "/api/v1/groups/{slug}/settings"): _in_group(
        "/api/v1/groups/{slug}/settings", {"slow_mode_seconds": 0}
    ),
    ("GET", "/api/v1/groups/{slug}/requests"): _in_group("/api/v1/groups/{slug}/requests"),
    ("POST", "/api/v1/groups/{slug}/requests/{request_id}"): _answer_request,
    ("POST", "/api/v1/groups/{slug}/whisper"): _in_group("/api/v1/groups/{slug}/whisper"),
    ("GET", "/api/v1/groups/{slug}/sessions"): _in_group("/api/v1/groups/{slug}/sessions"),
    ("POST", "/api/v1/groups/{slug}/sessions"): _schedule,
    ("DELETE", "/api/v1/groups/{slug}/sessions/{session_id}"): _cancel_session,
    ("GET", "/api/v1/groups/{slug}/sessions/{session_id}/calendar.ics"): _calendar,
    # guests, invitations and live sessions
    ("POST", "/api/v1/groups/{slug}/invites"): _in_group(
        "/api/v1/groups/{slug}/invites", {"kind": "guest"}
    ),
    ("GET", "/api/v1/invites/{token}"): _api_invite,
    ("POST", "/api/v1/invites/{token}/accept"): _api_accept_invite,
    ("GET", "/api/v1/rooms/{room_id}/session"): _in_group("/api/v1/rooms/{room_id}/session"),
    ("POST", "/api/v1/rooms/{room_id}/session/acknowledge"): _api_acknowledge,
    ("POST", "/api/v1/groups/{slug}/session/open"): _api_open_session,
    ("POST", "/api/v1/groups/{slug}/session/close"): _api_close_session,
}


async def _page_signup(w: World, actor: str) -> Call:
    return Call("/signup", form={"username": unique_name(), "password": PASSWORD})


async def _page_login(w: World, actor: str) -> Call:
    spare = await w.spare()
    return Call("/login", form={"username": spare.username, "password": PASSWORD})


async def _page_recover(w: World, actor: str) -> Call:
    spare = await w.spare()
    form = {"username": spare.username, "code": spare.recovery_codes[0], "password": NEW_PASSWORD}
    return Call("/recover", form=form)


async def _page_end_session(w: World, actor: str) -> Call:
    return Call(await _member_session_path(w, "/settings/sessions/{session_id}/end"), form={})


async def _page_new_group(w: World, actor: str) -> Call:
    form = {"name": unique_name("Group"), "description": "A calm place.", "tags": "calm"}
    return Call("/groups/new", form=form)


async def _page_alias(w: World, actor: str) -> Call:
    return Call(f"/g/{w.group['slug']}/alias", form={"alias": unique_name("alias")})


async def _page_send(w: World, actor: str) -> Call:
    form = {"client_id": uuid.uuid4().hex, "body": "Hello from a form."}
    return Call(f"/g/{w.group['slug']}/room/send", form=form)


async def _page_role(w: World, actor: str) -> Call:
    spare = await w.spare()
    return Call("/admin/role", form={"username": spare.username, "role": "facilitator"})


async def _page_worried(w: World, actor: str) -> Call:
    return Call(f"/rooms/{w.group['room_id']}/worried/{await w.message_seq()}", form={})


async def _page_report_form(w: World, actor: str) -> Call:
    return Call(f"/rooms/{w.group['room_id']}/report/{await w.message_seq()}")


async def _page_report(w: World, actor: str) -> Call:
    form = {"about": "message", "rule": "1", "note": "This worried me."}
    return Call(f"/rooms/{w.group['room_id']}/report/{await w.message_seq()}", form=form)


async def _page_update_flag(w: World, actor: str) -> Call:
    form = {"status": "acknowledged", "note": "On it."}
    return Call(f"/facilitate/flags/{await w.flag_id()}", form=form)


async def _page_sanction(w: World, actor: str) -> Call:
    form = {"group": w.group["slug"], "kind": "warning", "alias": await w.bystander(), "rule": "1"}
    return Call("/facilitate/sanction", form=form)


async def _page_assign_flag(w: World, actor: str) -> Call:
    return Call(f"/facilitate/flags/{await w.flag_id()}/assign", form={"to": ""})


async def _page_unblock(w: World, actor: str) -> Call:
    return Call(f"/settings/blocks/{await w.member_block_id()}/remove", form={})


async def _page_block(w: World, actor: str) -> Call:
    return Call(f"/rooms/{w.group['room_id']}/block/{await w.message_seq()}", form={})


async def _page_consent_ask(w: World, actor: str) -> Call:
    form = {"client_id": uuid.uuid4().hex, "topic": "my sister's illness", "category": "medical"}
    return Call(f"/rooms/{w.group['room_id']}/consent", form=form)


async def _page_consent_answer(w: World, actor: str) -> Call:
    path = f"/rooms/{w.group['room_id']}/consent/{await w.consent_seq()}/answer"
    return Call(path, form={"answer": "ok"})


# Running a group (group_admin.py): settings, co-facilitators, join requests, sessions,
# the log and lifting a mute, as their forms send them.
SETTINGS_FORM = {
    "description": "A calm place.",
    "tags": "calm",
    "listed": "yes",
    "join_policy": "open",  # the world's group stays open, as other routes need
    "max_members": "",
    "slow_mode_seconds": "0",
}


async def _page_add_facilitator(w: World, actor: str) -> Call:
    return Call(f"/g/{w.group['slug']}/facilitators/add", form={"alias": await w.newcomer()})


async def _page_remove_facilitator(w: World, actor: str) -> Call:
    return Call(
        f"/g/{w.group['slug']}/facilitators/remove", form={"alias": await w.cofacilitator()}
    )


async def _page_answer_request(w: World, actor: str) -> Call:
    slug = (await w.approval_group())["slug"]
    return Call(f"/g/{slug}/requests/{await w.join_request_id()}", form={"answer": "decline"})


async def _page_schedule(w: World, actor: str) -> Call:
    start = w.server.svc.clock.now() + timedelta(days=14)
    form = {
        "title": "Morning check-in",
        "date": start.strftime("%Y-%m-%d"),
        "time": "09:30",
        "minutes": "45",
        "timezone": "Europe/London",
        "weekly": "yes",
    }
    return Call(f"/g/{w.group['slug']}/sessions", form=form)


async def _page_cancel_session(w: World, actor: str) -> Call:
    return Call(f"/g/{w.group['slug']}/sessions/{await w.new_session_id()}/cancel", form={})


async def _page_lift(w: World, actor: str) -> Call:
    return Call(f"/g/{w.group['slug']}/sanctions/{await w.mute_id()}/lift", form={})


ACCEPT = {"accept": "yes", "rules_version": "1"}

# One request per page route (GET and POST), which succeeds for whoever may make it. The
# walker adds the CSRF token to forms.
PAGE_CALLS: dict[tuple[str, str], Builder] = {
    ("GET", "/"): _fixed("/"),
    ("GET", "/healthz"): _fixed("/healthz"),
    ("GET", "/faq"): _fixed("/faq"),
    ("GET", "/guidelines"): _fixed("/guidelines"),
    ("GET", "/groups"): _fixed("/groups"),
    ("GET", "/g/{slug}"): _in_group("/g/{slug}"),
    ("GET", "/signup"): _fixed("/signup"),
    ("POST", "/signup"): _page_signup,
    ("GET", "/login"): _fixed("/login"),
    ("POST", "/login"): _page_login,
    ("GET", "/recover"): _fixed("/recover"),
    ("POST", "/recover"): _page_recover,
    ("POST", "/logout"): _fixed("/logout", form={}),
    ("GET", "/settings"): _fixed("/settings"),
    ("POST", "/settings/sessions/{session_id}/end"): _page_end_session,
    ("POST", "/settings/password"): _fixed(
        "/settings/password", form={"current": PASSWORD, "password": NEW_PASSWORD}
    ),
    ("POST", "/settings/recovery-codes"): _fixed("/settings/recovery-codes", form={}),
    ("GET", "/settings/export"): _fixed("/settings/export"),
    ("POST", "/settings/erase"): _fixed(
        "/settings/erase", form={"password": PASSWORD, "confirm": "yes"}
    ),
    ("GET", "/groups/new"): _fixed("/groups/new"),
    ("POST", "/groups/new"): _page_new_group,
    ("POST", "/g/{slug}/join"): _in_group("/g/{slug}/join", form=ACCEPT),
    ("POST", "/g/{slug}/accept"): _in_group("/g/{slug}/accept", form=ACCEPT),
    ("POST", "/g/{slug}/alias"): _page_alias,
    ("POST", "/g/{slug}/leave"): _in_fresh_group("/g/{slug}/leave", form={}),
    ("GET", "/g/{slug}/rules/edit"): _in_group("/g/{slug}/rules/edit"),
    ("POST", "/g/{slug}/rules"): _in_group(
        "/g/{slug}/rules", form={"rules": "Be kind.\nWhat is said here stays here."}
    ),
    ("POST", "/g/{slug}/retention"): _in_group(
        "/g/{slug}/retention", form={"retention_days": "30"}
    ),
    ("POST", "/g/{slug}/delete"): _in_fresh_group("/g/{slug}/delete", form={"confirm": "yes"}),
    ("GET", "/g/{slug}/room"): _in_group("/g/{slug}/room"),
    ("POST", "/g/{slug}/room/send"): _page_send,
    ("GET", "/admin"): _fixed("/admin"),
    ("POST", "/admin/role"): _page_role,
    # safety
    ("GET", "/rooms/{room_id}"): _in_group("/rooms/{room_id}"),
    ("POST", "/g/{slug}/support-room"): _in_group("/g/{slug}/support-room", form={}),
    ("POST", "/g/{slug}/break"): _in_group("/g/{slug}/break", form={"minutes": "15"}),
    ("POST", "/rooms/{room_id}/worried/{seq}"): _page_worried,
    ("GET", "/rooms/{room_id}/report/{seq}"): _page_report_form,
    ("POST", "/rooms/{room_id}/report/{seq}"): _page_report,
    ("GET", "/facilitate"): _fixed("/facilitate"),
    ("POST", "/facilitate/flags/{flag_id}"): _page_update_flag,
    ("POST", "/facilitate/sanction"): _page_sanction,
    ("POST", "/facilitate/flags/{flag_id}/assign"): _page_assign_flag,
    # content warnings, consent, filters and blocks
    ("GET", "/settings/filters"): _fixed("/settings/filters"),
    ("POST", "/settings/filters"): _fixed(
        "/settings/filters", form={"mode-self-harm": "hide", "muted_words": "exam"}
    ),
    ("POST", "/settings/blocks/{block_id}/remove"): _page_unblock,
    ("POST", "/g/{slug}/topics"): _in_group("/g/{slug}/topics", form={"need_consent": "abuse"}),
    ("POST", "/rooms/{room_id}/block/{seq}"): _page_block,
    ("POST", "/rooms/{room_id}/consent"): _page_consent_ask,
    ("POST", "/rooms/{room_id}/consent/{seq}/answer"): _page_consent_answer,
    ("GET", "/support"): _fixed("/support"),
    ("GET", "/break"): _in_group("/break?group={slug}"),
    # running a group
    ("GET", "/g/{slug}/settings"): _in_group("/g/{slug}/settings"),
    ("POST", "/g/{slug}/settings"): _in_group("/g/{slug}/settings", form=SETTINGS_FORM),
    ("POST", "/g/{slug}/facilitators/add"): _page_add_facilitator,
    ("POST", "/g/{slug}/facilitators/remove"): _page_remove_facilitator,
    ("POST", "/g/{slug}/whisper"): _in_group("/g/{slug}/whisper", form={}),
    ("POST", "/g/{slug}/requests/{request_id}"): _page_answer_request,
    ("GET", "/g/{slug}/sessions"): _in_group("/g/{slug}/sessions"),
    ("POST", "/g/{slug}/sessions"): _page_schedule,
    ("POST", "/g/{slug}/sessions/{session_id}/cancel"): _page_cancel_session,
    ("GET", "/g/{slug}/log"): _in_group("/g/{slug}/log"),
    ("POST", "/g/{slug}/sanctions/{sanction_id}/lift"): _page_lift,
    ("GET", "/settings/sanctions"): _fixed("/settings/sanctions"),
    # guests, invitations and live sessions
    ("POST", "/g/{slug}/invites"): _in_group("/g/{slug}/invites", form={"kind": "guest"}),
    ("GET", "/invite/{token}"): _page_invite,
    ("POST", "/invite/{token}"): _page_accept_invite,
    ("GET", "/rooms/{room_id}/session-card"): _in_group("/rooms/{room_id}/session-card"),
    ("POST", "/rooms/{room_id}/session/acknowledge"): _page_acknowledge,
    ("POST", "/g/{slug}/session/open"): _page_open_session,
    ("POST", "/g/{slug}/session/close"): _page_close_session,
}


def builder_for(route: Route) -> Builder:
    table = API_CALLS if route.kind == "api" else PAGE_CALLS
    build = table.get(route.key)
    assert build is not None, (
        f"{route} has no request builder: describe it in tests/web_walk.py "
        f"({'API_CALLS' if route.kind == 'api' else 'PAGE_CALLS'})"
    )
    return build


async def send(
    client: httpx.AsyncClient,
    method: str,
    call: Call,
    *,
    bearer: Session | None = None,
    cookie: Session | None = None,
    csrf: str | None = None,
    cookie_name: str = "ss_session",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request as a browser (cookie, CSRF token in the form or header) or an API
    client (bearer) would make it. Redirects are not followed, and the client's cookie jar
    is emptied first: each request carries exactly the credentials given here."""
    client.cookies.clear()
    h = {"Accept": "application/json"}
    if bearer is not None:
        h.update(bearer.bearer)
    if cookie is not None:
        h["Cookie"] = f"{cookie_name}={cookie.token}"
    h.update(headers or {})
    kwargs: dict[str, Any] = {}
    if call.form is not None:
        form = dict(call.form)
        if csrf is not None:
            form["csrf_token"] = csrf
        kwargs["data"] = form
    elif call.json is not None:
        kwargs["json"] = call.json
    if call.form is None and csrf is not None:
        h["X-CSRF-Token"] = csrf
    return await client.request(method, call.path, headers=h, follow_redirects=False, **kwargs)


# --------------------------------------------------------------------------- the database


async def database_snapshot(server: LiveServer) -> dict[str, list[str]]:
    """Every row of every table of the app's database, for "nothing changed" checks.
    job_runs is left out: it only says when a background job last ran."""
    from sqlalchemy import text

    snapshot: dict[str, list[str]] = {}
    async with server.svc.db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "job_runs":
                continue
            rows = (await session.execute(text(f"SELECT * FROM {table.name}"))).all()  # noqa: S608
            snapshot[table.name] = sorted(repr(tuple(r)) for r in rows)
    return snapshot


META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def page_csrf(html: str) -> str:
    found = META_CSRF.search(html)
    assert found, "the page has no csrf-token meta tag"
    return found.group(1)
