"""Several `safespace serve` processes on one PostgreSQL database and one Redis (issue 7).

Each test starts its own redis-server on a free port (so one can be killed and restarted
without touching anyone else's) and two real `safespace serve` subprocesses, A and B, on
one fresh PostgreSQL database made for this module. People and groups are made through
the HTTP API; members talk over real websockets. Most tests have no load balancer: a client
"reconnects through the balancer" by connecting to the process that is still up. The last
two put nginx, with the shipped deploy/nginx/safespace.conf, in front of both
(tests/nginx_server.py), and clients only ever know nginx's address.

PostgreSQL only: on SQLite every process would have to share one file, which is not a
supported way to run several processes. The SAFESPACE_TEST_DB=postgres run of the suite
(which CI runs too) covers these tests; the SQLite run leaves them out (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from helpers import (
    PASSWORD,
    PG_HOST_URL,
    Account,
    create_group,
    join,
    make_client,
    pg_admin,
    run_isolated,
    signup,
    unique_name,
)
from nginx_server import Front, NginxServer
from redis_server import RedisServer
from safespace import services
from safespace.actions import accounts
from safespace.services import build_services
from safespace.settings import Settings
from subprocesses import IN_CI, end_process, free_port

pytestmark = [
    pytest.mark.postgres_only,  # left out of the SQLite run (tests/conftest.py)
    pytest.mark.timeout(120),
]

SAFESPACE = Path(sys.executable).with_name("safespace")
# A fixed master key, as an operator running several processes gives it (docs/operations.md).
MASTER_KEY = "mp1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
READY_TIMEOUT = 45.0  # two cold starts at once on a loaded CI machine, one migrating
WAIT = 30.0  # the most any expected frame, ack or recovery may take
IMMINENT = "I have the pills ready and I'm going to take them all tonight. Goodbye everyone"


# --------------------------------------------------------------------------- processes


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards."""
    name = f"safespace_mp_{os.getpid()}"
    try:
        run_isolated(pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        reason = f"PostgreSQL at {PG_HOST_URL} is not usable: {exc!r}"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield f"{PG_HOST_URL}/{name}"
    finally:
        with contextlib.suppress(Exception):
            run_isolated(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Process:
    """One `safespace serve` subprocess; its output goes to a file (a pipe could fill)."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.log_path = log_dir / f"serve-{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SAFESPACE), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    async def wait_healthy(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        async with httpx.AsyncClient(base_url=self.url, timeout=5, trust_env=False) as client:
            while True:
                assert self.alive, f"{self.name} exited:\n{self.log_tail()}"
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                assert loop.time() < deadline, f"{self.name} never healthy:\n{self.log_tail()}"
                await asyncio.sleep(0.1)

    async def sigkill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while self.proc.poll() is None:
            assert loop.time() < deadline, f"{self.name} survived SIGKILL"
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        """For finally blocks: SIGTERM, then SIGKILL if it hasn't gone within 10 s."""
        end_process(self.proc)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Cluster:
    a: Process
    b: Process
    redis: RedisServer
    settings: Settings  # the processes' settings, for making a facilitator in this process

    def logs(self) -> str:
        return (
            "\n".join(f"--- {p.name} ---\n{p.log_tail()}" for p in (self.a, self.b))
            + f"\n--- redis ---\n{self.redis.log_tail()}"
        )


@pytest.fixture(scope="module")
def _cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One Redis and two processes for the module (starting Python processes is slow on
    a small, busy machine); `cluster` restarts whatever a test killed."""
    log_dir = tmp_path_factory.mktemp("multiprocess")
    redis = RedisServer(log_dir)
    data_dir = log_dir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFESPACE_")} | {
        "SAFESPACE_DATABASE_URL": pg_url,
        "SAFESPACE_REDIS_URL": redis.url,
        "SAFESPACE_MASTER_KEY": MASTER_KEY,
        "SAFESPACE_DATA_DIR": str(data_dir),
        # Every member here signs up from 127.0.0.1 and sends fast; limits stay on.
        "SAFESPACE_RATE_LIMIT_SCALE": "100",
    }
    settings = Settings(data_dir=data_dir, database_url=pg_url, master_key=MASTER_KEY)
    cluster = Cluster(Process("A", env, log_dir), Process("B", env, log_dir), redis, settings)
    try:
        run_isolated(redis.start())
        cluster.a.start()
        cluster.b.start()  # both at once on a new database: the migration locks at work

        async def both_healthy() -> None:
            await asyncio.gather(cluster.a.wait_healthy(), cluster.b.wait_healthy())

        run_isolated(both_healthy())
        yield cluster
    finally:
        for proc in (cluster.a, cluster.b):
            proc.stop()
        redis.stop()


@pytest.fixture
async def cluster(_cluster: Cluster) -> Cluster:
    """The module's cluster, with Redis and both processes up (a test may have killed one:
    it is replaced by a new process on a new port)."""
    if _cluster.redis.proc is None or _cluster.redis.proc.poll() is not None:
        await _cluster.redis.start()
    for name in ("a", "b"):
        proc: Process = getattr(_cluster, name)
        if not proc.alive:
            proc.stop()
            fresh = Process(proc.name, proc.env, proc.log_path.parent)
            setattr(_cluster, name, fresh)
            fresh.start()
            await fresh.wait_healthy()
    return _cluster


async def facilitator(cluster: Cluster) -> Account:
    """What `safespace users create NAME --role facilitator` does, in this process."""
    svc = build_services(cluster.settings)
    try:
        await services.start(svc)
        done = await accounts.sign_up(svc, unique_name("fac"), PASSWORD, role="facilitator")
    finally:
        await services.stop(svc)
    return Account(done.user.id, done.user.username, PASSWORD, done.token, "facilitator")


@dataclass
class Group:
    room_id: int
    fac: Account
    members: list[Account]


async def group_with(cluster: Cluster, count: int) -> Group:
    """A group made on A, its members signing up and joining on A and B in turn."""
    fac = await facilitator(cluster)
    async with make_client(cluster.a.url) as on_a, make_client(cluster.b.url) as on_b:
        group = await create_group(on_a, fac)
        members = []
        for i in range(count):
            client = (on_a, on_b)[i % 2]
            member = await signup(client)
            await join(client, member, group)
            members.append(member)
    return Group(group["room_id"], fac, members)


async def full_history(base_url: str, account: Account, room_id: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with make_client(base_url) as client:
        while True:
            r = await client.get(
                f"/api/v1/rooms/{room_id}/messages",
                params={"after": out[-1]["seq"] if out else 0, "limit": 200},
                headers=account.headers,
            )
            assert r.status_code == 200, r.text
            batch = r.json()["messages"]
            out += batch
            if len(batch) < 200:
                return out


# --------------------------------------------------------------------------- live clients


class Lost(Exception):
    """The connection went away before the answer came."""


class Refused(Exception):
    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(frame)
        self.frame = frame


@dataclass
class Peer:
    """One member's websocket, kept across reconnects. A reader task records every frame;
    `messages` is what this member saw of the room, in arrival order, across connections
    (each reconnect resumes from the last seq seen)."""

    name: str
    account: Account
    room_id: int
    frames: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    ready: dict[str, Any] | None = None
    process: Process | Front | None = None
    _conn: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    @property
    def last_seq(self) -> int:
        return int(self.messages[-1]["seq"]) if self.messages else 0

    async def connect(self, process: Process) -> None:
        await self.close()
        secure = getattr(process, "ssl", None)  # through nginx: wss with the test's cert
        conn = await connect(
            process.ws_url,
            proxy=None,
            open_timeout=WAIT,
            close_timeout=2,
            max_size=2**22,
            **({"ssl": secure} if secure is not None else {}),
        )
        try:
            hello = {
                "type": "hello",
                "token": self.account.token,
                "resume": {str(self.room_id): self.last_seq},
            }
            await conn.send(orjson.dumps(hello).decode())
            while True:  # the reader takes over from `ready` (replayed messages follow it)
                frame = orjson.loads(await asyncio.wait_for(conn.recv(), WAIT))
                self.frames.append(frame)
                if frame.get("type") == "ready":
                    break
                assert frame.get("type") != "error", frame
        except BaseException:
            await conn.close()
            raise
        self.ready, self.process, self._conn = frame, process, conn
        self._reader = asyncio.create_task(self._read(conn))

    async def _read(self, conn: ClientConnection) -> None:
        try:
            async for raw in conn:
                frame = orjson.loads(raw)
                self.frames.append(frame)
                kind = frame.get("type")
                if kind == "message" and frame["message"]["room_id"] == self.room_id:
                    self.messages.append(frame["message"])
                elif kind in ("ack", "error") and frame.get("client_id") in self._waiting:
                    waiter = self._waiting.pop(frame["client_id"])
                    if not waiter.done():
                        if kind == "ack":
                            waiter.set_result(frame["message"])
                        else:
                            waiter.set_exception(Refused(frame))
        except ConnectionClosed:
            pass
        finally:
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(Lost())
            self._waiting.clear()

    async def send(self, body: str, client_id: str) -> dict[str, Any]:
        """Send and return the acked message; Lost if the connection goes first."""
        conn = self._conn
        if conn is None or self._reader is None or self._reader.done():
            raise Lost()
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[client_id] = waiter
        frame = {"type": "send", "room_id": self.room_id, "client_id": client_id, "body": body}
        try:
            await conn.send(orjson.dumps(frame).decode())
        except ConnectionClosed:
            self._waiting.pop(client_id, None)
            raise Lost() from None
        try:
            return await asyncio.wait_for(waiter, WAIT)
        finally:
            self._waiting.pop(client_id, None)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._conn = self._reader = None


async def peers_on(group: Group, processes: list[Process] | list[Front]) -> list[Peer]:
    """One connected peer per member, on the given processes in turn."""
    peers = []
    for i, member in enumerate(group.members):
        peer = Peer(
            f"{member.username}@{processes[i % len(processes)].name}", member, group.room_id
        )
        await peer.connect(processes[i % len(processes)])
        peers.append(peer)
    return peers


async def until(predicate: Any, what: str, wait: float = WAIT, logs: Any = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"\n{logs()}" if logs else ""))
        await asyncio.sleep(0.05)


async def close_all(peers: list[Peer]) -> None:
    for peer in peers:
        await peer.close()


def assert_everyone_saw(peers: list[Peer], history: list[dict[str, Any]]) -> None:
    """One gap-free order, 1..N, and every member saw exactly that, each message once."""
    n = len(history)
    assert [m["seq"] for m in history] == list(range(1, n + 1))
    # By seq and id: a warned message's body is shaped per reader (collapsed for members).
    expected = [(m["seq"], m["id"]) for m in history]
    for peer in peers:
        seen = [(m["seq"], m["id"]) for m in peer.messages]
        differ = [i for i, (x, y) in enumerate(zip(seen, expected, strict=False)) if x != y]
        assert seen == expected, (
            f"{peer.name} saw {len(seen)} messages, history has {n}; "
            f"first difference at index {differ[0] if differ else min(len(seen), n)}"
        )


async def assert_nothing_lost(
    cluster: Cluster,
    group: Group,
    peers: list[Peer],
    sent: dict[str, str],
    acked: dict[str, dict[str, Any]],
) -> None:
    """After A was killed: every acknowledged message is stored once, under the seq its
    ack gave, nothing else is (every send was acked), and every member saw it all."""
    history = await full_history(cluster.b.url, group.members[0], group.room_id)
    bodies = Counter(m["body"] for m in history)
    assert all(count == 1 for count in bodies.values()), "a message stored twice"
    assert set(bodies) == {m["body"] for m in acked.values()} == set(sent.values())
    by_seq = {m["seq"]: m["body"] for m in history}
    for client_id, message in acked.items():
        assert by_seq[message["seq"]] == sent[client_id]
    await until(
        lambda: all(len(p.messages) >= len(history) for p in peers),
        "every member to have every message",
        logs=cluster.logs,
    )
    assert_everyone_saw(peers, history)


async def _send_all(
    peer: Peer,
    quota: int,
    sent: dict[str, str],
    acked: dict[str, dict[str, Any]],
    fallback: Process | Front,
) -> None:
    """Send `quota` messages one after another. When the connection is lost, reconnect
    (to `fallback`, the process still up) resuming from the last seq seen, and send the
    unacknowledged message again with the same client_id."""
    for i in range(quota):
        client_id = uuid.uuid4().hex
        body = f"{peer.name} says {i} ({client_id[:8]})"
        sent[client_id] = body
        for attempt in itertools.count():
            assert attempt < 20, f"{peer.name} could not send {body!r}"
            try:
                acked[client_id] = await peer.send(body, client_id)
                break
            except (Lost, TimeoutError):
                await asyncio.sleep(0.05)
                with contextlib.suppress(Exception):
                    await peer.connect(
                        fallback if not (peer.process and peer.process.alive) else peer.process
                    )
            except Refused as err:
                # A transient failure while the other process died (e.g. a dropped database
                # connection) comes back as server_error: the message is still ours to send.
                assert err.frame.get("code") == "server_error", err.frame
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.005)  # a little air, so senders on both processes interleave


# --------------------------------------------------------------------------- tests


async def test_members_on_different_processes_see_each_other_live(cluster: Cluster) -> None:
    group = await group_with(cluster, 2)
    alice_account, bob_account = group.members
    fac = Peer("fac@B", group.fac, group.room_id)
    alice = Peer("alice@A", alice_account, group.room_id)
    bob = Peer("bob@B", bob_account, group.room_id)
    peers = [fac, alice, bob]
    try:
        await fac.connect(cluster.b)
        await alice.connect(cluster.a)
        await bob.connect(cluster.b)
        # Presence lives in PostgreSQL: A knows the facilitator connected to B is online.
        assert alice.ready is not None
        assert alice.ready["facilitators_online"] == {str(group.room_id): True}

        first = await alice.send("hello from A", uuid.uuid4().hex)
        await until(lambda: any(m["seq"] == first["seq"] for m in bob.messages), "A -> B")
        second = await bob.send("hello from B", uuid.uuid4().hex)
        await until(lambda: any(m["seq"] == second["seq"] for m in alice.messages), "B -> A")
        async with make_client(cluster.b.url) as client:
            r = await client.post(
                f"/api/v1/rooms/{group.room_id}/messages",
                json={"client_id": uuid.uuid4().hex, "body": "posted over HTTP to B"},
                headers=bob_account.headers,
            )
            assert r.status_code == 201, r.text
        await until(lambda: len(alice.messages) == 3, "an HTTP post on B reaching A")

        # A live alert raised on A reaches the facilitator connected to B.
        urgent = await alice.send(IMMINENT, uuid.uuid4().hex)
        await until(
            lambda: any(
                f.get("type") == "alert" and f["flag"]["message"]["seq"] == urgent["seq"]
                for f in fac.frames
            ),
            "the alert on B",
            logs=cluster.logs,
        )
        await until(lambda: all(len(p.messages) == 4 for p in peers), "everyone has 4")
        assert_everyone_saw(peers, await full_history(cluster.a.url, bob_account, group.room_id))
    finally:
        await close_all(peers)


async def test_concurrent_senders_on_both_processes_make_one_gap_free_order(
    cluster: Cluster,
) -> None:
    group = await group_with(cluster, 6)
    peers = await peers_on(group, [cluster.a, cluster.b])
    sent: dict[str, str] = {}
    acked: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.gather(*(_send_all(p, 15, sent, acked, cluster.b) for p in peers))
        assert len(acked) == len(sent) == 90
        await until(
            lambda: all(len(p.messages) >= 90 for p in peers),
            "every message everywhere",
            logs=cluster.logs,
        )
        history = await full_history(cluster.b.url, group.members[0], group.room_id)
        assert len(history) == 90
        assert {m["body"] for m in history} == set(sent.values())
        assert {(m["seq"], m["body"]) for m in acked.values()} == {
            (m["seq"], m["body"]) for m in history
        }
        assert_everyone_saw(peers, history)
    finally:
        await close_all(peers)


async def test_a_redis_restart_is_survived(cluster: Cluster) -> None:
    group = await group_with(cluster, 2)
    alice = Peer("alice@A", group.members[0], group.room_id)
    bob = Peer("bob@B", group.members[1], group.room_id)
    peers = [alice, bob]
    try:
        await alice.connect(cluster.a)
        await bob.connect(cluster.b)
        await alice.send("before the restart", uuid.uuid4().hex)
        await until(lambda: len(bob.messages) == 1, "A -> B before the restart")
        before = bob.last_seq

        await cluster.redis.kill()
        # Still serving: posts are stored and acked (the rate limits fall back to each
        # process's own), though the other process doesn't hear of them live.
        missed = [await alice.send(f"while Redis is down {i}", uuid.uuid4().hex) for i in range(3)]
        missed.append(await bob.send("while Redis is down, from B", uuid.uuid4().hex))
        await cluster.redis.start()

        # Both processes resubscribe by themselves: probe both ways until each side hears
        # the other live again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            from_a = await alice.send("probe from A", uuid.uuid4().hex)
            from_b = await bob.send("probe from B", uuid.uuid4().hex)
            await asyncio.sleep(0.3)
            if bob.last_seq >= from_a["seq"] and alice.last_seq >= from_b["seq"]:
                break
            assert loop.time() < deadline, f"no live traffic after the restart\n{cluster.logs()}"
        # Both subscribed again: a last message from each reaches everyone live, and each
        # connection filled whatever it missed from the database, in order.
        await alice.send("after the restart, from A", uuid.uuid4().hex)
        last = await bob.send("after the restart, from B", uuid.uuid4().hex)
        await until(
            lambda: all(p.last_seq >= last["seq"] for p in peers), "the last message everywhere"
        )
        history = await full_history(cluster.a.url, bob.account, group.room_id)
        assert history[-1]["seq"] == last["seq"]
        assert {m["seq"] for m in missed} <= {m["seq"] for m in history}
        assert_everyone_saw(peers, history)

        # And a client that reconnects resumes from the database: everything after the
        # last seq it had before the outage, once each, in order.
        late = Peer("bob-again@A", bob.account, group.room_id)
        late.messages = [m for m in bob.messages if m["seq"] <= before]
        peers.append(late)
        await late.connect(cluster.a)
        await until(lambda: late.last_seq >= last["seq"], "the replay after resume")
        assert_everyone_saw([late], history)
        async with make_client(cluster.a.url) as a, make_client(cluster.b.url) as b:
            assert (await a.get("/healthz")).status_code == 200
            assert (await b.get("/healthz")).status_code == 200
    finally:
        await close_all(peers)


async def test_a_process_killed_mid_traffic_loses_no_acknowledged_message(
    cluster: Cluster,
) -> None:
    group = await group_with(cluster, 4)
    peers = await peers_on(group, [cluster.a, cluster.b])  # two on A, two on B
    on_a = [p for p in peers if p.process is cluster.a]
    sent: dict[str, str] = {}
    acked: dict[str, dict[str, Any]] = {}
    quota = 30
    try:
        senders = asyncio.gather(*(_send_all(p, quota, sent, acked, cluster.b) for p in peers))
        await until(lambda: len(acked) >= 30 or senders.done(), "traffic before the kill")
        assert not senders.done(), "the senders finished before the kill: make them slower"
        await cluster.a.sigkill()
        await asyncio.wait_for(senders, 90)
        # A's members moved to B and resumed there.
        assert all(p.process is cluster.b for p in on_a)
        assert len(acked) == len(sent) == quota * len(peers)

        await assert_nothing_lost(cluster, group, peers, sent, acked)
    finally:
        await close_all(peers)


# --------------------------------------------------------------------------- through nginx


@pytest.fixture
async def front(cluster: Cluster, tmp_path: Path) -> AsyncIterator[Front]:
    """nginx with the shipped deploy/nginx/safespace.conf in front of A and B."""
    nginx = NginxServer(tmp_path, [cluster.a.port, cluster.b.port])
    await nginx.start()
    try:
        yield nginx.front
    finally:
        nginx.stop()


def front_client(front: Front) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=front.url, verify=front.ssl, timeout=WAIT, trust_env=False)


async def test_through_nginx_members_talk_live_over_tls(cluster: Cluster, front: Front) -> None:
    async with httpx.AsyncClient(base_url=front.http_url, trust_env=False) as plain:
        r = await plain.get("/g/anything")
        assert r.status_code == 301
        assert r.headers["location"].startswith("https://")
    async with front_client(front) as client:
        r = await client.get("/healthz")
        assert r.status_code == 200
        assert r.headers["server"] == "nginx"  # server_tokens off: no version
        assert "content-security-policy" in r.headers  # the app's headers come through

    group = await group_with(cluster, 4)
    peers = await peers_on(group, [front])  # least_conn spreads them over A and B
    sent: dict[str, str] = {}
    acked: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.gather(*(_send_all(p, 10, sent, acked, front) for p in peers))
        async with front_client(front) as client:
            r = await client.post(
                f"/api/v1/rooms/{group.room_id}/messages",
                json={"client_id": uuid.uuid4().hex, "body": "posted over HTTPS via nginx"},
                headers=group.members[0].headers,
            )
            assert r.status_code == 201, r.text
        await until(
            lambda: all(len(p.messages) >= 41 for p in peers),
            "every message to every member through nginx",
            logs=cluster.logs,
        )
        history = await full_history(cluster.a.url, group.members[1], group.room_id)
        assert len(history) == 41 and len(acked) == 40
        assert_everyone_saw(peers, history)
    finally:
        await close_all(peers)


async def test_through_nginx_a_killed_process_loses_no_acknowledged_message(
    cluster: Cluster, front: Front
) -> None:
    group = await group_with(cluster, 4)
    peers = await peers_on(group, [front])
    sent: dict[str, str] = {}
    acked: dict[str, dict[str, Any]] = {}
    quota = 25
    try:
        senders = asyncio.gather(*(_send_all(p, quota, sent, acked, front) for p in peers))
        await until(lambda: len(acked) >= 25 or senders.done(), "traffic before the kill")
        assert not senders.done(), "the senders finished before the kill: make them slower"
        await cluster.a.sigkill()
        # Whoever was on A reconnects to the same address; nginx sends them to B, where
        # they resume from their last seq and send what wasn't acked again.
        await asyncio.wait_for(senders, 90)
        assert len(acked) == len(sent) == quota * len(peers)
        readies = sum(f.get("type") == "ready" for p in peers for f in p.frames)
        assert readies > len(peers), "nobody was on A: the kill tested nothing"

        await assert_nothing_lost(cluster, group, peers, sent, acked)
    finally:
        await close_all(peers)
