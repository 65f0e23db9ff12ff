"""Small helpers the tests share: accounts, groups, messages and websocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from safespace.actions import accounts
from safespace.app import create_app
from safespace.clock import FrozenClock
from safespace.services import Services
from safespace.settings import Settings
from safespace.web.socket_protocol import UVICORN_OPTIONS

PASSWORD = "lantern-meadow-river-42"
# How long a frame that must come may take. Generous: in three full runs on a loaded
# 2-core machine one frame or handshake each time took over 5 s (never reproduced alone);
# a frame that never comes still fails the test.
FRAME_TIMEOUT = 15.0
OPEN_TIMEOUT = 20.0

_names = itertools.count(1)


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}_{next(_names)}"


def new_client_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Account:
    id: int
    username: str
    password: str
    token: str
    role: str = "member"
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the contract's JSON error with this status (and code)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers (so Ctrl-C still stops pytest), which stops as
    soon as it's told to rather than at its next 0.1 s tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_stop(self) -> None:
        self.should_exit = True
        self._stop.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)


class LiveServer:
    """A real uvicorn serving create_app(settings, clock) in the test's event loop."""

    def __init__(self, settings: Settings, clock: FrozenClock) -> None:
        self.settings = settings
        self.clock = clock
        self.port = _free_port()
        self.app: FastAPI | None = None
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    @property
    def svc(self) -> Services:
        assert self.app is not None, "the server is not running"
        return self.app.state.svc  # type: ignore[no-any-return]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        assert not self.running
        self.app = create_app(self.settings, clock=self.clock)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_config=None,  # leave logging alone: records reach caplog
            access_log=False,  # as `safespace serve` runs it
            timeout_graceful_shutdown=3,
            **UVICORN_OPTIONS,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("uvicorn stopped during start-up")
            await asyncio.sleep(0.01)
        raise RuntimeError("uvicorn did not start in 10 s")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.request_stop()
        try:
            await asyncio.wait_for(self._task, 15)
        finally:
            self._server = None
            self._task = None

    async def restart(self) -> None:
        """Stop and start a new app on the same database, port and clock."""
        await self.stop()
        await self.start()


def make_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=20, trust_env=False)


# --------------------------------------------------------------------------- accounts


async def signup(
    client: httpx.AsyncClient, username: str | None = None, password: str = PASSWORD
) -> Account:
    username = username or unique_name()
    r = await client.post("/api/v1/auth/signup", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    data = r.json()
    return Account(
        id=data["user"]["id"],
        username=data["user"]["username"],
        password=password,
        token=data["token"],
        role=data["user"].get("role", "member"),
        recovery_codes=data["recovery_codes"],
    )


async def login(client: httpx.AsyncClient, account: Account, password: str | None = None) -> str:
    r = await client.post(
        "/api/v1/auth/login",
        json={"username": account.username, "password": password or account.password},
    )
    assert r.status_code == 200, r.text
    return r.json()["token"]  # type: ignore[no-any-return]


async def privileged(
    server: Any, role: str = "facilitator", username: str | None = None
) -> Account:
    """An account with a role only an operator can grant, made through the app's own
    services (as `safespace users create --role` does)."""
    username = username or unique_name(role[:4])
    done = await accounts.sign_up(server.svc, username, PASSWORD, role=role)
    return Account(
        id=done.user.id,
        username=done.user.username,
        password=PASSWORD,
        token=done.token,
        role=role,
        recovery_codes=done.recovery_codes,
    )


# --------------------------------------------------------------------------- groups & messages


@dataclass
class Room:
    """A group's room with its facilitator and two members (alice joined as "alice_a")."""

    id: int
    group: dict[str, Any]
    fac: Account
    alice: Account
    bob: Account


async def create_group(
    client: httpx.AsyncClient,
    owner: Account,
    name: str | None = None,
    description: str = "A place to talk things through.",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name or unique_name("Group"), "description": description}
    if tags is not None:
        body["tags"] = tags
    r = await client.post("/api/v1/groups", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return r.json()["group"]  # type: ignore[no-any-return]


async def join(
    client: httpx.AsyncClient, account: Account, group: dict[str, Any], alias: str | None = None
) -> dict[str, Any]:
    r = await client.get(f"/api/v1/groups/{group['slug']}")
    version = r.json()["group"]["rules_version"]
    body: dict[str, Any] = {"accept_rules_version": version}
    if alias is not None:
        body["alias"] = alias
    r = await client.post(
        f"/api/v1/groups/{group['slug']}/join", json=body, headers=account.headers
    )
    assert r.status_code == 200, r.text
    return r.json()["membership"]  # type: ignore[no-any-return]


async def group_with_member(
    server: Any, client: httpx.AsyncClient
) -> tuple[Account, dict[str, Any], Account]:
    """A facilitator, the group they made, and one member who joined it."""
    fac = await privileged(server)
    group = await create_group(client, fac)
    member = await signup(client)
    await join(client, member, group)
    return fac, group, member


async def post(
    client: httpx.AsyncClient,
    account: Account,
    room_id: int,
    body: str,
    client_id: str | None = None,
) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/rooms/{room_id}/messages",
        json={"client_id": client_id or new_client_id(), "body": body},
        headers=account.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["message"]  # type: ignore[no-any-return]


async def history(
    client: httpx.AsyncClient, account: Account, room_id: int, **params: Any
) -> list[dict[str, Any]]:
    r = await client.get(
        f"/api/v1/rooms/{room_id}/messages", params=params, headers=account.headers
    )
    assert r.status_code == 200, r.text
    return r.json()["messages"]  # type: ignore[no-any-return]


async def db_scalar(server: Any, sql: str, **params: Any) -> Any:
    async with server.svc.db.read() as session:
        return await session.scalar(text(sql), params)


async def db_rows(server: Any, sql: str, **params: Any) -> list[Any]:
    async with server.svc.db.read() as session:
        return list((await session.execute(text(sql), params)).all())


# --------------------------------------------------------------------------- websockets


class WS:
    """A websocket client speaking the SafeSpace protocol, with timeouts on every wait."""

    # Frames about who is around, not about messages: skipped unless a test asks for them.
    AMBIENT = frozenset({"facilitators"})

    def __init__(self, conn: ClientConnection, ambient: bool = False) -> None:
        self.conn = conn
        self.keep_ambient = ambient
        self.ready: dict[str, Any] | None = None
        self._held: deque[dict[str, Any]] = deque()  # frames read early, still to hand out

    async def send(self, frame: dict[str, Any] | list[Any] | str | bytes) -> None:
        if isinstance(frame, dict | list):
            frame = orjson.dumps(frame).decode()
        await self.conn.send(frame)

    async def recv(self, wait: float = FRAME_TIMEOUT) -> dict[str, Any]:
        while True:
            if self._held:
                frame = self._held.popleft()
            else:
                frame = orjson.loads(await asyncio.wait_for(self.conn.recv(), wait))
            if self.keep_ambient or frame.get("type") not in self.AMBIENT:
                return frame  # type: ignore[no-any-return]

    async def expect(self, kind: str, wait: float = FRAME_TIMEOUT) -> dict[str, Any]:
        frame = await self.recv(wait)
        assert frame.get("type") == kind, f"expected a {kind!r} frame, got {frame!r}"
        return frame

    async def until_pong(self) -> list[dict[str, Any]]:
        """Ping, and return every frame that arrives before the pong.

        The server queues a connection's frames in order, so once the pong is back, anything
        queued for it before the ping has arrived.
        """
        await self.send({"type": "ping"})
        frames = []
        while True:
            frame = await self.recv()
            if frame.get("type") == "pong":
                return frames
            frames.append(frame)

    async def messages_until_pong(self) -> list[dict[str, Any]]:
        return [f["message"] for f in await self.until_pong() if f.get("type") == "message"]

    async def send_message(
        self, room_id: int, body: str, client_id: str | None = None
    ) -> dict[str, Any]:
        """Send and return the ack's message. Other frames read meanwhile (such as this
        connection's own live copy) stay queued for recv()."""
        ack = await self.send_for_ack(room_id, body, client_id)
        return ack["message"]  # type: ignore[no-any-return]

    async def send_for_ack(
        self, room_id: int, body: str, client_id: str | None = None
    ) -> dict[str, Any]:
        """Send and return the whole ack frame (with `check_in` when there is one)."""
        cid = client_id or new_client_id()
        await self.send({"type": "send", "room_id": room_id, "client_id": cid, "body": body})
        early: list[dict[str, Any]] = []
        while True:
            raw = await asyncio.wait_for(self.conn.recv(), FRAME_TIMEOUT)
            frame = orjson.loads(raw)
            if not self.keep_ambient and frame.get("type") in self.AMBIENT:
                continue
            if frame.get("type") == "ack" and frame.get("client_id") == cid:
                self._held.extend(early)
                return frame  # type: ignore[no-any-return]
            if frame.get("type") == "error" and frame.get("client_id") == cid:
                raise AssertionError(f"send refused: {frame!r}")
            early.append(frame)

    async def answer_to(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a `send` frame (it must carry a client_id) and return what answers it: the
        ack, or the error frame naming its client_id. Other frames stay queued for recv()."""
        cid = frame["client_id"]
        await self.send(frame)
        early: list[dict[str, Any]] = []
        while True:
            got = orjson.loads(await asyncio.wait_for(self.conn.recv(), FRAME_TIMEOUT))
            if not self.keep_ambient and got.get("type") in self.AMBIENT:
                continue
            if got.get("type") in ("ack", "error") and got.get("client_id") == cid:
                self._held.extend(early)
                return got  # type: ignore[no-any-return]
            early.append(got)

    async def wait_closed(self, wait: float = FRAME_TIMEOUT) -> int | None:
        """Read until the server closes the connection; return the close code."""

        async def drain() -> None:
            while True:
                try:
                    await self.conn.recv()
                except ConnectionClosed:
                    return

        await asyncio.wait_for(drain(), wait)
        return self.conn.close_code

    async def close(self) -> None:
        await self.conn.close()


async def open_ws(
    server: Any,
    token: str | None = None,
    *,
    resume: dict[int, int] | None = None,
    headers: dict[str, str] | None = None,
    origin: str | None = None,
    hello: bool = True,
    ambient: bool = False,
    compression: str | None = "deflate",
) -> WS:
    conn = await connect(
        server.ws_url,
        compression=compression,
        additional_headers=headers,
        origin=origin,  # type: ignore[arg-type]
        proxy=None,
        open_timeout=OPEN_TIMEOUT,
        close_timeout=2,
        max_size=2**22,
    )
    ws = WS(conn, ambient=ambient)
    if hello:
        frame: dict[str, Any] = {"type": "hello"}
        if token is not None:
            frame["token"] = token
        if resume is not None:
            frame["resume"] = {str(k): v for k, v in resume.items()}
        await ws.send(frame)
        ws.ready = await ws.expect("ready")
    return ws


# --------------------------------------------------------------------------- postgres admin

PG_HOST_URL = os.environ.get("SAFESPACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")


async def pg_admin(*statements: str) -> None:
    """Run statements on the server's maintenance database (CREATE/DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(f"{PG_HOST_URL}/postgres", timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def run_isolated(coro: Any) -> Any:
    """Run a coroutine on its own loop in its own thread, away from the test's loop (for
    synchronous fixtures and teardown)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# ----------------------------------------------------------------------- guests


async def allow_guests(client: httpx.AsyncClient, room: Room, **more: object) -> None:
    r = await client.patch(
        f"/api/v1/groups/{room.group['slug']}/settings",
        json={"guests_allowed": True, **more},
        headers=room.fac.headers,
    )
    assert r.status_code == 200, r.text


async def invite(client: httpx.AsyncClient, room: Room, who: Account, kind: str = "guest") -> str:
    r = await client.post(
        f"/api/v1/groups/{room.group['slug']}/invites", json={"kind": kind}, headers=who.headers
    )
    assert r.status_code == 201, r.text
    url = r.json()["invite"]["url"]
    assert url.endswith("/invite/" + r.json()["invite"]["token"])
    return r.json()["invite"]["token"]  # type: ignore[no-any-return]


async def accept(client: httpx.AsyncClient, who: Account, token: str) -> httpx.Response:
    look = await client.get(f"/api/v1/invites/{token}", headers=who.headers)
    version = look.json()["invite"]["group"]["rules_version"] if look.status_code == 200 else 1
    return await client.post(
        f"/api/v1/invites/{token}/accept",
        json={"accept_rules_version": version},
        headers=who.headers,
    )


async def guest_of_alice(client: httpx.AsyncClient, room: Room) -> Account:
    await allow_guests(client, room)
    token = await invite(client, room, room.alice)
    guest = await signup(client)
    r = await accept(client, guest, token)
    assert r.status_code == 200, r.text
    assert r.json()["membership"]["role"] == "guest"
    return guest
