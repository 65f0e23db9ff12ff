"""Fan-out benchmark (issue 7): SafeSpace against a minimal broadcast server, same load.

    .venv/bin/python bench/fanout.py                  # SQLite, every shape, default sizes
    .venv/bin/python bench/fanout.py --db postgres    # a fresh PostgreSQL database, dropped after
    .venv/bin/python bench/fanout.py --quick          # small and fast, to check it works
    .venv/bin/python bench/fanout.py --full           # 10,000 idle; 500 rooms, 10,000 members
    .venv/bin/python bench/fanout.py --shapes closed,open --profile /tmp/prof

The server under test runs as a subprocess (`safespace serve` on a free port, a temporary
data dir, SAFESPACE_RATE_LIMIT_SCALE raised so the per-person message limit doesn't throttle
the load, retention off). Accounts and groups are made through the real HTTP API (the
facilitator with `safespace users create`), except for the many-rooms shape (see
seed_rooms). The load comes from a separate process
(multiprocessing, uvloop, `websockets` clients) over loopback; the same load then runs
against bench/reference_server.py. Every run has a time cap.

Shapes (--shapes, comma-separated):
  closed   one room of --members, each sending --messages bodies of 100 characters, each
           waiting for its own ack before the next (every message committed before its ack)
  open     --rate messages/s offered into the same room for --duration s, whatever the acks
  sizes    closed loop in rooms of 2, 5, 20, 50, 200 members (about --sizes-total messages each)
  rooms    --rooms rooms of --room-members (100 x 20 = 2,000 connections; --full: 500 x 20 =
           10,000), two senders per room, closed loop, everyone connected at once
  idle     K authenticated idle connections: server RSS above the idle baseline, per connection
  history  latest 50 of a room holding --history-rows messages (seeded through the database
           with bodies sealed as post_message seals them), p50/p99 over 1,000 requests
           from a minimal keep-alive client (and over 200 from httpx, for comparison)
  pages    bytes transferred (gzip) for the home and room pages and every same-origin asset
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing as mp
import os
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import orjson
from wsclient import LeanSocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
BIN = Path(sys.executable).parent
PASSWORD = "lantern-meadow-river-42"
PG_URL = os.environ.get("SAFESPACE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
RATE_LIMIT_SCALE = "1000000"  # the benchmark server only: 40 messages a minute per person x 1e6
CLK_TCK = os.sysconf("SC_CLK_TCK")
FILLER = "we talked about the garden and the weather today, it was nice to hear from everyone"
# For --long-every: a long post of the kind people write on a hard day (calm, but in the
# words the risk assessor reads most closely), repeated to length.
LONG_FILLER = (
    "This week has been heavy. I keep going over the argument with my brother and "
    "wondering whether I said too much, and the evenings are the hardest part because the "
    "house goes quiet and I feel so alone with it. I tried the breathing exercise someone "
    "shared here last week and it helped a little. I'm safe, just worn out and sad, and "
    "it helps to write it down where people understand. "
)
COMPRESSION = os.environ.get("SAFESPACE_BENCH_DEFLATE", "1") == "1"  # as browsers negotiate
# The load generator's websocket client: bench/wsclient.py, or the `websockets` library's.
CLIENT = os.environ.get("SAFESPACE_BENCH_CLIENT", "lean")
SHAPES = ("closed", "open", "sizes", "rooms", "idle", "history", "pages")


# --------------------------------------------------------------------------- /proc


def family(pid: int) -> list[int]:
    """A process and its children: SafeSpace's server reads messages in helper processes
    of its own (safety/reader.py), whose CPU and memory are the server's too."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its children (all their threads), in seconds."""
    total = 0
    for one in family(pid):
        with contextlib.suppress(OSError), open(f"/proc/{one}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    """VmRSS, VmHWM... from /proc/<pid>/status, in KiB, for a process and its children
    (a peak is the sum of each one's peak)."""
    total = 0
    for one in family(pid):
        with contextlib.suppress(OSError), open(f"/proc/{one}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
                    break
    return total


def reset_peak(pid: int) -> None:
    """Reset VmHWM so each shape reports its own peak (Linux >= 4.0)."""
    for one in family(pid):
        with contextlib.suppress(OSError), open(f"/proc/{one}/clear_refs", "w") as f:
            f.write("5")


def _readers_said(setting: str) -> str:
    from safespace.safety.reader import default_processes
    from safespace.settings import Settings

    n = Settings.from_env({"SAFESPACE_READERS": setting}).readers
    n = default_processes() if n is None else n
    if n == 0:
        return "the server's own loop (no helper process)"
    return f"{n} helper process{'es' if n > 1 else ''} (SAFESPACE_READERS={setting or 'auto'})"


def machine_check() -> str:
    """How fast this machine runs plain Python just now: the median of five runs of a fixed
    loop. Shared machines change speed from minute to minute (docs/performance.md), and a
    run's figures only compare with runs made at the same speed."""
    took = []
    for _ in range(5):
        t = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i
        took.append(time.perf_counter() - t)
    median = sorted(took)[2]
    return f"a fixed loop of plain Python took {1000 * median:.0f} ms (median of 5; lower: faster)"


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# --------------------------------------------------------------------------- servers


class Server:
    """A server under test in its own process: SafeSpace (`safespace serve`) or the reference."""

    def __init__(self, kind: str, db: str, workdir: Path) -> None:
        self.kind = kind
        self.db = db
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ)
        self.pg_name = ""
        if kind == "safespace":
            data = workdir / "data"
            data.mkdir(parents=True, exist_ok=True)
            key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            self.env.update(
                SAFESPACE_DATA_DIR=str(data),
                SAFESPACE_MASTER_KEY=f"bench:{key}",
                SAFESPACE_RATE_LIMIT_SCALE=RATE_LIMIT_SCALE,
                SAFESPACE_DEFAULT_RETENTION_DAYS="0",  # seeded history must not expire
            )
            self.env.pop("SAFESPACE_DATABASE_URL", None)
            self.env.pop("SAFESPACE_REDIS_URL", None)
            if db == "postgres":
                self.pg_name = f"safespace_bench_{os.getpid()}"
                self.env["SAFESPACE_DATABASE_URL"] = f"{PG_URL}/{self.pg_name}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cli(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [str(BIN / "safespace"), *args],
            input=stdin.encode(),
            env=self.env,
            capture_output=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(done.stderr.decode())
        return done.stdout.decode()

    def start(self) -> None:
        if self.pg_name:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            asyncio.run(pg_admin(f'CREATE DATABASE "{self.pg_name}"'))
        if self.kind == "safespace":
            self.cli(
                "users",
                "create",
                "bench_fac",
                "--role",
                "facilitator",
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
            cmd = [str(BIN / "safespace"), "serve", "--port", str(self.port)]
        else:
            cmd = [sys.executable, str(ROOT / "bench" / "reference_server.py")]
            cmd += ["--port", str(self.port)]
        log = open(self.workdir / f"{self.kind}.log", "wb")  # noqa: SIM115 - lives with proc
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: see {self.workdir / self.kind}.log")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port)),
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not start in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pg_name:
            with contextlib.suppress(Exception):
                asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))


async def pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_URL}/postgres", timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- setup over HTTP


@dataclass
class World:
    fac_token: str
    members: list[dict[str, Any]] = field(default_factory=list)  # {"id","username","token"}
    rooms: dict[int, int] = field(default_factory=dict)  # room size -> room id
    slugs: dict[int, str] = field(default_factory=dict)


async def signup(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await client.post("/api/v1/auth/signup", json={"username": name, "password": PASSWORD})
    r.raise_for_status()
    data = r.json()
    return {"id": data["user"]["id"], "username": name, "token": data["token"]}


async def make_group(client: httpx.AsyncClient, token: str, name: str) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/groups",
        json={"name": name, "description": "Benchmark group."},
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    return r.json()["group"]  # type: ignore[no-any-return]


async def join(client: httpx.AsyncClient, member: dict[str, Any], group: dict[str, Any]) -> None:
    r = await client.post(
        f"/api/v1/groups/{group['slug']}/join",
        json={"accept_rules_version": group["rules_version"]},
        headers={"Authorization": f"Bearer {member['token']}"},
    )
    r.raise_for_status()


async def setup_world(server: Server, sizes: list[int]) -> World:
    """N members (signed up over HTTP) and one group per room size, the first n of them in it."""
    async with httpx.AsyncClient(base_url=server.url, timeout=120, trust_env=False) as client:
        r = await client.post(
            "/api/v1/auth/login", json={"username": "bench_fac", "password": PASSWORD}
        )
        r.raise_for_status()
        world = World(fac_token=r.json()["token"])
        gate = asyncio.Semaphore(4)  # argon2 runs in the server's threads: keep 2 cores busy

        async def one(i: int) -> dict[str, Any]:
            async with gate:
                return await signup(client, f"bench_m{i:04d}")

        world.members = list(await asyncio.gather(*(one(i) for i in range(max(sizes)))))
        for n in sorted(set(sizes)):
            group = await make_group(client, world.fac_token, f"Bench room of {n}")
            world.rooms[n] = group["room_id"]
            world.slugs[n] = group["slug"]
            for start in range(0, n, 20):
                await asyncio.gather(*(join(client, m, group) for m in world.members[start:n][:20]))
        return world


async def analyse_as_autovacuum_would(server: Server, world: World) -> None:
    """PostgreSQL: 60 messages in a group of their own, then ANALYZE, as autovacuum (on
    by default) leaves a deployed site's tables: it analyses a table after its first 50
    changes. The PostgreSQL this benchmark runs on here has autovacuum off, and without
    statistics the planner reads a room's every message to check whether a post is a
    retry (docs/performance.md, Findings)."""
    import asyncpg

    async with httpx.AsyncClient(base_url=server.url, timeout=60, trust_env=False) as client:
        group = await make_group(client, world.fac_token, "Bench warm-up")
        headers = {"Authorization": f"Bearer {world.fac_token}"}
        for k in range(60):
            r = await client.post(
                f"/api/v1/rooms/{group['room_id']}/messages",
                json={"client_id": f"warm-{k}", "body": f"Warming up, message {k}."},
                headers=headers,
            )
            r.raise_for_status()
    pg = await asyncpg.connect(server.env["SAFESPACE_DATABASE_URL"])
    try:
        await pg.execute("ANALYZE")
    finally:
        await pg.close()


async def seed_rooms(server: Server, rooms: int, per_room: int) -> list[list[Any]]:
    """Many rooms of members, made with SafeSpace's own actions in this process against
    the server's database (sign-up over HTTP would spend an argon2 hash per member: about
    50 minutes for 10,000). Only the password hash is shared, computed once; everything
    else (accounts, sessions, groups, keys, memberships) is what the API would make.
    Returns [[room_id, [tokens]], ...]."""
    import safespace.actions.accounts as accounts_mod
    from safespace.actions import groups as group_actions
    from safespace.passwords import hash_password
    from safespace.services import build_services, start, stop
    from safespace.settings import Settings

    svc = build_services(Settings.from_env(server.env))
    await start(svc)
    shared = await hash_password(PASSWORD)

    async def same_hash(_: str) -> str:
        return shared

    real = accounts_mod.hash_password
    accounts_mod.hash_password = same_hash  # type: ignore[assignment]
    try:
        tag = os.urandom(2).hex()
        fac = await accounts_mod.sign_up(svc, f"bench_rf_{tag}", PASSWORD, role="facilitator")
        out: list[list[Any]] = []
        for r in range(rooms):
            made = await group_actions.create_group(
                svc, fac.user, f"Bench many {tag} {r:04d}", "Benchmark group."
            )
            tokens = []
            for i in range(per_room):
                member = await accounts_mod.sign_up(svc, f"bm{tag}_{r:04d}_{i:03d}", PASSWORD)
                await group_actions.join_group(
                    svc, member.user, made.group.slug, made.group.rules_version
                )
                tokens.append(member.token)
            out.append([made.room.id, tokens])
        return out
    finally:
        accounts_mod.hash_password = real  # type: ignore[assignment]
        await stop(svc)


# --------------------------------------------------------------------------- load generator
# Runs in a child process: the orchestrator only samples /proc while it works.


def body_for(sender: int, k: int, t_ns: int, chars: int = 100) -> str:
    filler = FILLER if chars <= 100 else LONG_FILLER
    text = f"t{t_ns:019d} s{sender:05d} n{k:07d} {filler * (chars // len(filler) + 1)}"
    return text[:chars]


async def _open(url: str, token: str, rooms: list[int], gate: asyncio.Semaphore) -> Any:
    hello = orjson.dumps({"type": "hello", "token": token, "rooms": rooms}).decode()
    async with gate:
        if CLIENT == "lean":
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def first(text: str) -> None:
                frame = orjson.loads(text)
                if frame.get("type") == "ready" and not ready.done():
                    ready.set_result(None)
                elif frame.get("type") == "error" and not ready.done():
                    ready.set_exception(RuntimeError(f"hello refused: {frame}"))

            ws = await asyncio.wait_for(LeanSocket.connect(url, first, COMPRESSION), 60)
            ws.send_text(hello)
            await asyncio.wait_for(ready, 60)
            return ws

        from websockets.asyncio.client import connect

        ws = await connect(
            url,
            open_timeout=60,
            ping_interval=None,
            max_size=2**22,
            proxy=None,
            compression="deflate" if COMPRESSION else None,
        )
        await ws.send(hello)
        while True:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
            if frame.get("type") == "ready":
                return ws
            if frame.get("type") == "error":
                raise RuntimeError(f"hello refused: {frame}")


class Member:
    """One connection: counts what it sees, resolves its sender's pending ack."""

    def __init__(self, index: int, ws: Any, room: int = 0, room_size: int = 0) -> None:
        self.index = index
        self.ws = ws
        self.room = room
        self.room_size = room_size  # deliveries one of this room's messages should make
        self.seen: Counter[tuple[int, int]] = Counter()
        self.latencies: list[float] = []  # ms, messages by someone else
        self.short_latencies: list[float] = []  # of those, the 100-character ones
        self.pending: asyncio.Future[dict[str, Any]] | None = None
        self.acked: list[tuple[int, int]] = []
        self.errors = 0
        self.run = Run()

    def listen(self, run: Run) -> asyncio.Task[None] | None:
        """Count frames into `run` from now on: a callback (lean) or a reading task."""
        self.run = run
        if CLIENT == "lean":
            self.ws.on_text = self.on_text
            self.ws.on_close = self.on_close
            return None
        return asyncio.create_task(self.read())

    async def send(self, text: str) -> None:
        if CLIENT == "lean":
            self.ws.send_text(text)
        else:
            await self.ws.send(text)

    def on_text(self, raw: str) -> None:
        now = time.monotonic_ns()
        run = self.run
        frame = orjson.loads(raw)
        kind = frame.get("type")
        if kind == "message":
            m = frame["message"]
            self.seen[(m["room_id"], m["seq"])] += 1
            run.deliveries += 1
            run.last_delivery = now
            body = m["body"]
            if int(body[22:27]) != self.index:
                self.latencies.append((now - int(body[1:20])) / 1e6)
                if len(body) <= 100:
                    self.short_latencies.append(self.latencies[-1])
        elif kind == "ack":
            m = frame["message"]
            self.acked.append((m["room_id"], m["seq"]))
            run.acks += 1
            run.expected += self.room_size
            run.last_ack = now
            if self.pending is not None and not self.pending.done():
                self.pending.set_result(frame)
        elif kind == "error":
            self.errors += 1
            run.errors.append(frame.get("code", "?"))
            if self.pending is not None and not self.pending.done():
                self.pending.set_result(frame)

    def on_close(self, code: int) -> None:
        self.run.closed += 1
        self.run.errors.append(f"closed {code}")

    def stop_listening(self) -> None:
        """The run is over: the closes that follow are the generator's own, not errors."""
        if CLIENT == "lean":
            self.ws.on_text = lambda text: None
            self.ws.on_close = lambda code: None

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                self.on_text(raw)
        except ConnectionClosed:
            self.on_close(self.ws.close_code)


@dataclass
class Run:
    deliveries: int = 0
    acks: int = 0
    expected: int = 0  # deliveries the acks so far promise
    closed: int = 0
    last_delivery: int = 0
    last_ack: int = 0
    errors: list[str] = field(default_factory=list)


async def _load(spec: dict[str, Any], pipe: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(spec.get("connect_concurrency", 50))
    # One room (spec "room_id", "tokens") or many (spec "groups": [[room_id, tokens], ...]).
    groups: list[list[Any]] = spec.get("groups") or [[spec["room_id"], spec["tokens"]]]
    placed = [(rid, len(toks), tok) for rid, toks in groups for tok in toks]
    t_connect = time.monotonic()
    sockets = await asyncio.gather(
        *(_open(spec["ws_url"], tok, [rid], gate) for rid, _, tok in placed)
    )
    connect_s = time.monotonic() - t_connect
    members = [
        Member(i, ws, rid, size)
        for i, (ws, (rid, size, _)) in enumerate(zip(sockets, placed, strict=True))
    ]
    room: int = groups[0][0]
    pipe.send({"phase": "connected", "connect_s": connect_s})
    await loop.run_in_executor(None, pipe.recv)  # the orchestrator samples the server, says go

    if spec["mode"] == "idle":
        for m in members:
            await m.ws.close()
        return {"connect_s": connect_s, "connections": len(members)}

    run = Run()
    # client_ids are unique per run: a later run in the same room (the profiled one, say)
    # reusing them would be answered as retries, acked and never delivered.
    tag = os.urandom(3).hex()
    readers = [task for m in members if (task := m.listen(run)) is not None]
    cap = spec["cap_s"]
    cpu0 = os.times()
    t0 = time.monotonic_ns()
    deadline = time.monotonic() + cap
    timed_out = False
    sent = 0

    async def closed_sender(m: Member) -> None:
        nonlocal sent
        for k in range(spec["messages"]):
            if time.monotonic() > deadline:
                return
            m.pending = loop.create_future()
            body = body_for(m.index, k, time.monotonic_ns())
            await m.send(
                orjson.dumps(
                    {
                        "type": "send",
                        "room_id": m.room,
                        "client_id": f"c{tag}-{m.index}-{k}",
                        "body": body,
                    }
                ).decode()
            )
            sent += 1
            await m.pending

    async def open_sender() -> None:
        nonlocal sent
        total = int(spec["rate"] * spec["duration"])
        start = time.monotonic_ns()
        interval = 1e9 / spec["rate"]
        for k in range(total):
            due = start + int(k * interval)
            wait = (due - time.monotonic_ns()) / 1e9
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > deadline:
                return
            m = members[k % len(members)]
            # Latency counts from when the message was due, not when it went: a stalled
            # generator doesn't hide a stalled server (no coordinated omission).
            long_every = spec.get("long_every") or 0
            chars = spec.get("long_chars", 2000) if long_every and k % long_every == 0 else 100
            body = body_for(m.index, k, due, chars)
            frame = {
                "type": "send",
                "room_id": room,
                "client_id": f"o{tag}-{m.index}-{k}",
                "body": body,
            }
            await m.send(orjson.dumps(frame).decode())
            sent += 1

    if spec["mode"] == "closed":
        per_room = spec.get("senders_per_room")
        if per_room:  # the first few members of each room write; everyone reads
            first: dict[int, int] = {}
            chosen = []
            for m in members:
                first[m.room] = first.get(m.room, 0) + 1
                if first[m.room] <= per_room:
                    chosen.append(m)
            senders = [closed_sender(m) for m in chosen]
        else:
            senders = [closed_sender(m) for m in members]
    else:
        senders = [open_sender()]
    try:
        await asyncio.wait_for(asyncio.gather(*senders), max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        timed_out = True
    # Wait for every ack and every delivery the acks promise (or the cap).
    while time.monotonic() < deadline + 10:
        if run.acks + len(run.errors) >= sent and run.deliveries >= run.expected:
            break
        await asyncio.sleep(0.02)
    else:
        timed_out = True
    cpu1 = os.times()
    for task in readers:
        task.cancel()
    for m in members:
        m.stop_listening()
    await asyncio.gather(*(m.ws.close() for m in members), return_exceptions=True)

    accepted = {key for m in members for key in m.acked}
    by_room: dict[int, set[tuple[int, int]]] = {rid: set() for rid, _ in groups}
    for key in accepted:
        by_room.setdefault(key[0], set()).add(key)
    dup = sum(c - 1 for m in members for c in m.seen.values() if c > 1)
    missing = sum(len(by_room[m.room] - m.seen.keys()) for m in members)
    extra = sum(len(m.seen.keys() - by_room[m.room]) for m in members)
    lat = [x for m in members for x in m.latencies]
    short = [x for m in members for x in m.short_latencies]
    ack_s = (run.last_ack - t0) / 1e9 if run.acks else float("nan")
    deliv_s = (run.last_delivery - t0) / 1e9 if run.deliveries else float("nan")
    return {
        "connect_s": connect_s,
        "sent": sent,
        "accepted": len(accepted),
        "acks": run.acks,
        "deliveries": run.deliveries,
        "accepted_per_s": len(accepted) / ack_s,
        "deliveries_per_s": run.deliveries / deliv_s,
        "wall_s": max(ack_s, deliv_s),
        "lat_p50": pct(lat, 50),
        "lat_p99": pct(lat, 99),
        "lat_max": max(lat) if lat else float("nan"),
        "has_long": bool(spec.get("long_every")),
        "lat_short_p50": pct(short, 50),
        "lat_short_p99": pct(short, 99),
        "duplicates": dup,
        "missing": missing,
        "unexpected": extra,
        "errors": dict(Counter(run.errors)),
        "closed": run.closed,
        "timed_out": timed_out,
        "client_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
    }


def _child(spec: dict[str, Any], pipe: Any) -> None:
    raise_fd_limit()
    try:
        import uvloop

        result = uvloop.run(_load(spec, pipe))
    except ImportError:
        result = asyncio.run(_load(spec, pipe))
    except Exception as err:  # report it to the orchestrator rather than hang it
        result = {"failed": f"{type(err).__name__}: {err}"}
    pipe.send({"phase": "done", **result})


def drive(server: Server, spec: dict[str, Any], idle_settle: float = 0.0) -> dict[str, Any]:
    """Run one load in a child process; sample the server's CPU and memory around it."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(spec, child), daemon=True)
    rss_before = status_kb(server.pid, "VmRSS")
    proc.start()
    limit = spec["cap_s"] + 300
    if not parent.poll(limit):
        proc.kill()
        raise RuntimeError("load generator did not connect in time")
    first = parent.recv()
    if first.get("phase") == "done":  # it failed while connecting
        proc.join(5)
        return first
    extra: dict[str, Any] = {}
    if spec["mode"] == "idle":
        time.sleep(idle_settle)
        extra["rss_before_kb"] = rss_before
        extra["rss_connected_kb"] = status_kb(server.pid, "VmRSS")
    reset_peak(server.pid)
    cpu0 = cpu_seconds(server.pid)
    parent.send("go")
    if not parent.poll(limit):
        proc.kill()
        raise RuntimeError("load generator did not finish in time")
    result = parent.recv()
    cpu1 = cpu_seconds(server.pid)
    proc.join(10)
    result.update(extra)
    result["server_cpu_s"] = cpu1 - cpu0
    result["peak_rss_kb"] = status_kb(server.pid, "VmHWM")
    result["rss_kb"] = status_kb(server.pid, "VmRSS")
    if result.get("accepted"):
        result["cpu_ms_per_msg"] = 1000 * result["server_cpu_s"] / result["accepted"]
    return result


# --------------------------------------------------------------------------- history


async def seed_history(server: Server, room_id: int, author: dict[str, Any], rows: int) -> dict:
    """Insert `rows` messages into a room, each body sealed for its own (room, seq) as
    post_message seals it, straight through the database drivers (bulk)."""
    from safespace.privacy.keys import Keyring, seal
    from safespace.privacy.keystore import KeyStore, message_context
    from safespace.settings import Settings

    settings = Settings.from_env(server.env)
    keys = KeyStore(
        settings.resolved_keys_database_url,
        Keyring.from_env_value(server.env["SAFESPACE_MASTER_KEY"]),
    )
    if settings.is_sqlite:
        import sqlite3

        db = sqlite3.connect(settings.data_dir / "safespace.db", timeout=30)
        group_id = db.execute("SELECT group_id FROM rooms WHERE id = ?", (room_id,)).fetchone()[0]
    else:
        import asyncpg

        pg = await asyncpg.connect(server.env["SAFESPACE_DATABASE_URL"])
        group_id = await pg.fetchval("SELECT group_id FROM rooms WHERE id = $1", room_id)
    aead = await keys.key_for(group_id, create=True)
    await keys.dispose()

    t = time.monotonic()
    plain = (FILLER + " history").encode()
    sealed = [seal(aead, plain, message_context(room_id, seq)) for seq in range(1, rows + 1)]
    seal_s = time.monotonic() - t

    t = time.monotonic()
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(milliseconds=rows)
    alias, uid = author["username"], author["id"]
    if settings.is_sqlite:
        sql = (
            "INSERT INTO messages (room_id, seq, author_id, author_alias, client_id, kind, body,"
            " created_at, risk_level) VALUES (?, ?, ?, ?, ?, 'text', ?, ?, 'none')"
        )
        batch = 50_000
        for lo in range(0, rows, batch):
            db.executemany(
                sql,
                (
                    (
                        room_id,
                        seq,
                        uid,
                        alias,
                        f"h{seq}",
                        sealed[seq - 1],
                        (start + timedelta(milliseconds=seq)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                    )
                    for seq in range(lo + 1, min(rows, lo + batch) + 1)
                ),
            )
            db.commit()
        db.execute("UPDATE rooms SET last_seq = ? WHERE id = ?", (rows, room_id))
        db.commit()
        db.execute("ANALYZE")
        db.close()
    else:
        await pg.copy_records_to_table(
            "messages",
            columns=[
                "room_id",
                "seq",
                "author_id",
                "author_alias",
                "client_id",
                "kind",
                "body",
                "created_at",
                "risk_level",
            ],
            records=(
                (
                    room_id,
                    seq,
                    uid,
                    alias,
                    f"h{seq}",
                    "text",
                    sealed[seq - 1],
                    start + timedelta(milliseconds=seq),
                    "none",
                )
                for seq in range(1, rows + 1)
            ),
        )
        await pg.execute("UPDATE rooms SET last_seq = $1 WHERE id = $2", rows, room_id)
        # As autovacuum would leave it (after a million inserts it starts a vacuum that
        # would otherwise run during the timing, on one of the two cores).
        await pg.execute("VACUUM (ANALYZE) messages")
        await pg.close()
    return {"seal_s": seal_s, "insert_s": time.monotonic() - t, "rows": rows}


def time_history_lean(server: Server, room_id: int, token: str, requests: int) -> dict:
    """The same requests from a minimal HTTP/1.1 client (one keep-alive socket, nothing
    parsed but the headers): what the server and loopback take. httpx's own work per
    request (about 4 ms on this machine) would otherwise be most of the figure."""
    path = f"/api/v1/rooms/{room_id}/messages?limit=50"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept-Encoding: gzip\r\n\r\n"
    ).encode()
    times = []
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(requests + 10):
            took = timed_request(sock, request)
            if i >= 10:  # the first few warm the caches
                times.append(took)
    return {"p50": pct(times, 50), "p99": pct(times, 99), "max": max(times)}


def timed_request(sock: socket.socket, request: bytes) -> float:
    """One request on a keep-alive socket, read to the end of its body: ms taken."""
    t = time.perf_counter()
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return (time.perf_counter() - t) * 1000


async def time_history(server: Server, room_id: int, token: str, requests: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/rooms/{room_id}/messages?limit=50"
    times = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30, trust_env=False) as client:
        for i in range(requests + 10):
            t = time.perf_counter()
            r = await client.get(path, headers=headers)
            took = (time.perf_counter() - t) * 1000
            r.raise_for_status()
            if i == 0:
                got = r.json()["messages"]
                assert len(got) == 50 and got[-1]["body"].startswith(FILLER), got[-1]
            if i >= 10:  # the first few warm the caches
                times.append(took)
    return {"p50": pct(times, 50), "p99": pct(times, 99), "max": max(times)}


# --------------------------------------------------------------------------- page weight

ASSET_RE = re.compile(r"""<(?:link|script|img)\b[^>]*?\b(?:href|src)=["']([^"']+)["']""", re.I)
IMPORT_RE = re.compile(
    r"""(?:\bimport\s*(?:[\w*{}\s,]+\s*from\s*)?|\bimport\s*\()\s*["']([^"']+)["']"""
)
CSS_URL_RE = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")


async def page_weight(server: Server, path: str, token: str | None) -> dict[str, Any]:
    """Bytes on the wire (gzip) for a page and every same-origin asset it pulls in."""
    cookies = {"ss_session": token} if token else {}
    origin = server.url
    seen: dict[str, tuple[int, int]] = {}
    async with httpx.AsyncClient(
        base_url=origin,
        timeout=30,
        trust_env=False,
        cookies=cookies,
        headers={"Accept-Encoding": "gzip"},
        follow_redirects=False,
    ) as client:

        async def fetch(url: str) -> None:
            parts = urlsplit(url)
            if parts.netloc and parts.netloc != urlsplit(origin).netloc:
                return  # not ours (there should be none)
            key = parts.path + ("?" + parts.query if parts.query else "")
            if key in seen or parts.scheme in ("data", "blob"):
                return
            r = await client.get(key)
            r.raise_for_status()
            seen[key] = (r.num_bytes_downloaded, len(r.content))
            kind = r.headers.get("content-type", "")
            found: list[str] = []
            if "html" in kind:
                found = ASSET_RE.findall(r.text)
            elif "javascript" in kind:
                found = IMPORT_RE.findall(r.text)
            elif "css" in kind:
                found = CSS_URL_RE.findall(r.text)
            for ref in found:
                if not ref.startswith(("http:", "https:", "//", "data:", "#", "mailto:")):
                    await fetch(urljoin(origin + key, ref))

        await fetch(origin + path)
    return {
        "path": path,
        "files": len(seen),
        "wire_bytes": sum(w for w, _ in seen.values()),
        "raw_bytes": sum(b for _, b in seen.values()),
        "detail": seen,
    }


# --------------------------------------------------------------------------- profile


def summarize_profile(raw: Path, top: int = 15) -> list[str]:
    """Self time by leaf frame and inclusive time by safespace function, from py-spy's raw
    (collapsed stack) output."""
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f]
        if frames:
            self_t[re.sub(r" \(.*?/(site-packages|lib/python3\.\d+)/", " (", frames[-1])] += n
        for f in set(frames):
            if "safespace/" in f or "starlette/" in f or "sqlalchemy/" in f:
                incl[re.sub(r":\d+\)$", ")", f)] += n
    out = [f"{total} samples", "self time (leaf frames):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_t.most_common(top)]
    out.append("inclusive time (safespace / starlette / sqlalchemy functions):")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in incl.most_common(top)]
    return out


# --------------------------------------------------------------------------- report


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:,.0f}{unit}" if abs(v) >= 100 else f"{v:,.2f}{unit}"
    return f"{v:,}{unit}"


def ratio(a: Any, b: Any) -> str:
    try:
        value = a / b if a and b else float("nan")
        return "-" if value != value else f"{value:.2f}x"
    except TypeError:
        return "-"


def run_figures(r: dict[str, Any]) -> list[tuple[str, Any, str]]:
    short = [
        ("... of the 100-character ones: p50", r.get("lat_short_p50"), ""),
        ("... of the 100-character ones: p99", r.get("lat_short_p99"), ""),
    ]
    return [
        ("accepted msg/s", r.get("accepted_per_s"), ""),
        ("deliveries/s", r.get("deliveries_per_s"), ""),
        ("latency p50 (ms)", r.get("lat_p50"), ""),
        ("latency p99 (ms)", r.get("lat_p99"), ""),
        *(short if r.get("has_long") else []),
        ("latency max (ms)", r.get("lat_max"), ""),
        ("server CPU ms/msg", r.get("cpu_ms_per_msg"), ""),
        ("server CPU s", r.get("server_cpu_s"), ""),
        ("load-gen CPU s", r.get("client_cpu_s"), ""),
        ("peak RSS (MB)", (r.get("peak_rss_kb") or 0) / 1024 or None, ""),
        ("exactly once", exactly_once(r), ""),
    ]


def exactly_once(r: dict[str, Any]) -> str:
    if "failed" in r:
        return "FAILED: " + r["failed"]
    ok = not (r["duplicates"] or r["missing"] or r["unexpected"] or r["errors"] or r["closed"])
    text = "yes" if ok and r["accepted"] == r["sent"] else "NO"
    if not ok or r["accepted"] != r["sent"]:
        text += (
            f" (sent {r['sent']}, accepted {r['accepted']}, dup {r['duplicates']}, missing "
            f"{r['missing']}, errors {r['errors']}, closed {r['closed']})"
        )
    return text + (" TIMED OUT" if r.get("timed_out") else "")


def compare(title: str, ss: dict[str, Any], ref: dict[str, Any] | None) -> list[str]:
    lines = [
        f"\n## {title}",
        "",
        "| figure | SafeSpace | reference | SafeSpace / reference |",
    ]
    lines.append("| --- | ---: | ---: | ---: |")
    ref_rows = run_figures(ref) if ref else []
    for i, (name, value, _) in enumerate(run_figures(ss)):
        rv = ref_rows[i][1] if ref_rows else None
        if isinstance(value, str):
            lines.append(f"| {name} | {value} | {rv or '-'} | |")
        else:
            lines.append(f"| {name} | {fmt(value)} | {fmt(rv)} | {ratio(value, rv)} |")
    return lines


# --------------------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--messages", type=int, default=100, help="per member, closed loop")
    p.add_argument("--rate", type=float, default=500.0, help="open loop, messages/s offered")
    p.add_argument("--duration", type=float, default=5.0, help="open loop, seconds")
    p.add_argument("--sizes", default="2,5,20,50,200")
    p.add_argument("--sizes-total", type=int, default=1000, help="messages per room size")
    p.add_argument("--rooms", type=int, default=100, help="many rooms (--full: 500)")
    p.add_argument("--room-members", type=int, default=20, help="members per room, many rooms")
    p.add_argument(
        "--rooms-messages",
        type=int,
        default=10,
        help="per sender (2 per room), many rooms",
    )
    p.add_argument("--idle", type=int, default=2000, help="idle connections (--full: 10,000)")
    p.add_argument("--history-rows", type=int, default=1_000_000)
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--cap", type=float, default=120.0, help="time cap per run, seconds")
    p.add_argument("--quick", action="store_true", help="small figures: checks that it works")
    p.add_argument("--full", action="store_true", help="10,000 idle connections")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--profile", type=Path, help="also profile one closed-loop run (py-spy)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    p.add_argument("--long-every", type=int, default=0, help="open loop: every Nth message long")
    p.add_argument("--long-chars", type=int, default=2000, help="characters of a long message")
    p.add_argument(
        "--readers",
        default="",
        help="SAFESPACE_READERS for the server (default: the server's own default, auto)",
    )
    p.add_argument(
        "--no-deflate",
        action="store_true",
        help="clients don't offer permessage-deflate",
    )
    p.add_argument(
        "--client",
        choices=("lean", "websockets"),
        default="lean",
        help="the load generator's websocket client (bench/wsclient.py, or the library's)",
    )
    args = p.parse_args()
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if args.no_deflate:
        os.environ["SAFESPACE_BENCH_DEFLATE"] = "0"  # read again by the spawned load process
    os.environ["SAFESPACE_BENCH_CLIENT"] = args.client
    for s in shapes:
        if s not in SHAPES:
            p.error(f"unknown shape {s!r}: choose from {', '.join(SHAPES)}")
    if args.quick:
        args.messages, args.duration, args.sizes = 20, 3.0, "2,5,20"
        args.sizes_total, args.idle, args.history_rows, args.cap = (
            300,
            300,
            100_000,
            60.0,
        )
        args.rooms = 10
    if args.full:
        args.idle = 10_000
        args.rooms = 500
    sizes = sorted({args.members, *(int(x) for x in args.sizes.split(",") if "sizes" in shapes)})
    fd_limit = raise_fd_limit()
    if args.rooms * args.room_members + 200 > fd_limit and "rooms" in shapes:
        print(f"note: open-file limit {fd_limit}: rooms capped", file=sys.stderr)
        args.rooms = max(1, (fd_limit - 200) // args.room_members)
    if args.idle * 2 + 200 > fd_limit and "idle" in shapes:
        print(
            f"note: open-file limit {fd_limit}: idle connections capped",
            file=sys.stderr,
        )
        args.idle = max(100, (fd_limit - 200) // 2)

    work = Path(tempfile.mkdtemp(prefix="safespace-bench-"))
    ss = Server("safespace", args.db, work)
    if args.readers:
        ss.env["SAFESPACE_READERS"] = args.readers
    ref = None if args.no_reference else Server("reference", args.db, work)
    out: list[str] = []
    figures: dict[str, Any] = {}

    def say(line: str) -> None:
        print(line, flush=True)
        out.append(line)

    try:
        say("# SafeSpace fan-out benchmark")
        say("")
        say(
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} cores, "
            f"{os.uname().sysname} {os.uname().release}; Python {sys.version.split()[0]}"
        )
        say(
            f"- database: {args.db}; shapes: {', '.join(shapes)}; fd limit {fd_limit}; "
            f"clients offer permessage-deflate: {'no' if args.no_deflate else 'yes'}"
        )
        say(
            f"- SafeSpace served with SAFESPACE_RATE_LIMIT_SCALE={RATE_LIMIT_SCALE} (the message "
            "limit, 40 a minute per person, would otherwise throttle the load) and "
            "retention off"
        )
        say(
            f"- SafeSpace reads messages for risk in "
            f"{_readers_said(ss.env.get('SAFESPACE_READERS', ''))}; server CPU and memory "
            "below include them"
        )
        say(
            "- load: one separate process over loopback, "
            + (
                "bench/wsclient.py's lean client"
                if args.client == "lean"
                else "the `websockets` library's client"
            )
            + f"; bodies of 100 characters; load average before start {os.getloadavg()[0]:.2f}"
        )
        say(f"- machine check before: {machine_check()}")
        ss.start()
        if ref:
            ref.start()
        t = time.monotonic()
        world = asyncio.run(setup_world(ss, sizes))
        if args.db == "postgres":
            asyncio.run(analyse_as_autovacuum_would(ss, world))
            say(
                "- PostgreSQL: 60 messages posted in a group of their own, then ANALYZE, as "
                "autovacuum (off on this machine's PostgreSQL) would have done"
            )
        say(
            f"- setup: {len(world.members)} members signed up and joined over HTTP in "
            f"{time.monotonic() - t:.1f} s"
        )

        def spec(mode: str, n: int, **kw: Any) -> dict[str, Any]:
            return {"mode": mode, "room_id": world.rooms[n], "cap_s": args.cap, **kw}

        def both(mode: str, n: int, **kw: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
            tokens = [m["token"] for m in world.members[:n]]
            a = drive(ss, {**spec(mode, n, **kw), "ws_url": ss.ws_url, "tokens": tokens})
            b = None
            if ref:
                ref_tokens = [f"ref{i}" for i in range(n)]
                b = drive(
                    ref,
                    {**spec(mode, n, **kw), "ws_url": ref.ws_url, "tokens": ref_tokens},
                )
            return a, b

        n = args.members
        if "closed" in shapes:
            a, b = both("closed", n, messages=args.messages)
            figures["closed"] = (a, b)
            say(
                "\n".join(
                    compare(
                        f"Closed loop: one room of {n}, {args.messages} messages each, each sender "
                        "waits for its ack",
                        a,
                        b,
                    )
                )
            )
        if "open" in shapes:
            a, b = both(
                "open",
                n,
                rate=args.rate,
                duration=args.duration,
                long_every=args.long_every,
                long_chars=args.long_chars,
            )
            figures["open"] = (a, b)
            longer = (
                f"; every {args.long_every}th message {args.long_chars:,} characters long"
                if args.long_every
                else ""
            )
            say(
                "\n".join(
                    compare(
                        f"Open loop: {args.rate:g} messages/s offered into a room of {n} for "
                        f"{args.duration:g} s (latency from when each message was due){longer}",
                        a,
                        b,
                    )
                )
            )
        if "sizes" in shapes:
            say("\n## Cost by room size (closed loop)\n")
            say(
                "| members | messages | SafeSpace msg/s | deliveries/s | p50 / p99 ms | "
                "CPU ms/msg | reference deliveries/s | ratio | exactly once |"
            )
            say("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
            for size in sorted(int(x) for x in args.sizes.split(",")):
                each = max(2, args.sizes_total // size)
                a, b = both("closed", size, messages=each)
                figures[f"size{size}"] = (a, b)
                rd = b.get("deliveries_per_s") if b else None
                say(
                    f"| {size} | {a.get('accepted', 0)} | {fmt(a.get('accepted_per_s'))} | "
                    f"{fmt(a.get('deliveries_per_s'))} | {fmt(a.get('lat_p50'))} / "
                    f"{fmt(a.get('lat_p99'))} | {fmt(a.get('cpu_ms_per_msg'))} | {fmt(rd)} | "
                    f"{ratio(a.get('deliveries_per_s'), rd)} | {exactly_once(a)} |"
                )
        if "idle" in shapes:
            say(f"\n## Idle authenticated connections: {args.idle:,}\n")
            say(
                "| server | RSS before (MB) | RSS with all open (MB) | KB per connection | "
                "connect time (s) |"
            )
            say("| --- | ---: | ---: | ---: | ---: |")
            tokens = [world.members[i % len(world.members)]["token"] for i in range(args.idle)]
            for server, toks in (
                (ss, tokens),
                (ref, [f"ref{i}" for i in range(args.idle)]),
            ):
                if server is None:
                    continue
                r = drive(
                    server,
                    {
                        "mode": "idle",
                        "room_id": world.rooms[n],
                        "cap_s": args.cap,
                        "ws_url": server.ws_url,
                        "tokens": toks,
                        "connect_concurrency": 100,
                    },
                    idle_settle=3.0,
                )
                figures[f"idle_{server.kind}"] = r
                if "failed" in r:
                    say(f"| {server.kind} | failed: {r['failed']} | | | |")
                    continue
                per = (r["rss_connected_kb"] - r["rss_before_kb"]) / args.idle
                r["kb_per_conn"] = per
                say(
                    f"| {server.kind} | {r['rss_before_kb'] / 1024:.1f} | "
                    f"{r['rss_connected_kb'] / 1024:.1f} | {per:.1f} | {r['connect_s']:.1f} |"
                )
            say(
                "\n(SafeSpace connections share the members' sign-in tokens; every one is "
                "authenticated and registered with the hub and the presence table.)"
            )
        # After the idle shape: a process keeps the memory of 10,000 closed connections, so
        # an idle baseline taken after this would be wrong.
        if "rooms" in shapes:
            conns = args.rooms * args.room_members
            say(
                f"\n## Many rooms: {args.rooms:,} rooms of {args.room_members} "
                f"({conns:,} connections), 2 senders per room, "
                f"{args.rooms_messages} messages each, closed loop\n"
            )
            t = time.monotonic()
            groups = asyncio.run(seed_rooms(ss, args.rooms, args.room_members))
            say(
                f"(members made with SafeSpace's actions below the HTTP API in "
                f"{time.monotonic() - t:.0f} s; see seed_rooms)\n"
            )
            many = {
                "mode": "closed",
                "cap_s": max(args.cap, 300.0),
                "messages": args.rooms_messages,
                "senders_per_room": 2,
                "connect_concurrency": 100,
            }
            a = drive(ss, {**many, "ws_url": ss.ws_url, "groups": groups})
            b = None
            if ref:
                ref_groups = [
                    [rid, [f"ref{rid}-{i}" for i in range(len(toks))]] for rid, toks in groups
                ]
                b = drive(ref, {**many, "ws_url": ref.ws_url, "groups": ref_groups})
            figures["rooms"] = (a, b)
            say("\n".join(compare(f"{args.rooms} rooms, {conns:,} connections", a, b)[2:]))
            if "connect_s" in a:
                say(
                    f"\n(connecting all {conns:,}: SafeSpace {a['connect_s']:.1f} s"
                    + (f", reference {b['connect_s']:.1f} s)" if b and "connect_s" in b else ")")
                )
        if "pages" in shapes:
            say("\n## Page weight (gzip, every same-origin asset included)\n")
            say("| page | files | bytes transferred | uncompressed |")
            say("| --- | ---: | ---: | ---: |")
            member = world.members[0]
            for label, path, token in (
                ("home, signed out", "/", None),
                ("home, signed in", "/", member["token"]),
                ("room", f"/g/{world.slugs[n]}/room", member["token"]),
            ):
                r = asyncio.run(page_weight(ss, path, token))
                figures[f"page_{label}"] = r
                say(
                    f"| {label} (`{path}`) | {r['files']} | {r['wire_bytes']:,} | "
                    f"{r['raw_bytes']:,} |"
                )
        if "history" in shapes:
            say(f"\n## History: latest 50 of a room holding {args.history_rows:,} messages\n")

            async def history_shape() -> tuple[dict[str, Any], dict[str, Any]]:
                async with httpx.AsyncClient(base_url=ss.url, timeout=60, trust_env=False) as c:
                    group = await make_group(c, world.fac_token, "Bench history")
                    await join(c, world.members[0], group)
                seeded = await seed_history(
                    ss, group["room_id"], world.members[0], args.history_rows
                )
                token = world.members[0]["token"]
                via_httpx = await time_history(ss, group["room_id"], token, 200)
                lean = time_history_lean(ss, group["room_id"], token, 1000)
                return seeded, lean, via_httpx

            seeded, timed, via_httpx = asyncio.run(history_shape())
            figures["history"] = (seeded, timed, via_httpx)
            say(
                f"- seeding: sealing {seeded['rows']:,} bodies (each for its own room and seq) "
                f"took {seeded['seal_s']:.1f} s, the bulk insert {seeded['insert_s']:.1f} s"
            )
            say(
                f"- GET /api/v1/rooms/{{id}}/messages?limit=50, 1,000 requests one after another "
                f"from a minimal client (server and loopback): p50 {timed['p50']:.2f} ms, "
                f"p99 {timed['p99']:.2f} ms, max {timed['max']:.2f} ms"
            )
            say(
                f"- the same, 200 requests from httpx (its own work included): "
                f"p50 {via_httpx['p50']:.2f} ms, p99 {via_httpx['p99']:.2f} ms, "
                f"max {via_httpx['max']:.2f} ms"
            )
        if args.profile and "closed" in shapes:
            say("\n## Profile: one more closed-loop run under py-spy (500 Hz, GIL holder)\n")
            args.profile.mkdir(parents=True, exist_ok=True)
            raw = args.profile / f"closed-{args.db}.txt"
            spy = subprocess.Popen(
                [
                    str(BIN / "py-spy"),
                    "record",
                    "--pid",
                    str(ss.pid),
                    "--rate",
                    "500",
                    # Only threads holding the GIL: Python's work, not threads parked on a
                    # queue (which py-spy can't tell from running).
                    "--gil",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(1.0)
            tokens = [m["token"] for m in world.members[:n]]
            r = drive(
                ss,
                {
                    **spec("closed", n, messages=args.messages),
                    "ws_url": ss.ws_url,
                    "tokens": tokens,
                },
            )
            spy.send_signal(2)  # SIGINT: py-spy writes its output and stops
            _, err = spy.communicate(timeout=60)
            say(f"(under the profiler: {fmt(r.get('accepted_per_s'))} msg/s)")
            if raw.exists():
                say("```\n" + "\n".join(summarize_profile(raw)) + "\n```")
            else:
                say(f"py-spy wrote nothing: {err.decode()[-500:]}")
        say(f"\n- machine check after: {machine_check()}")
        say("\n## Targets\n")
        say("| target | measured | met |")
        say("| --- | --- | --- |")
        for line in targets(figures, args):
            say(line)
    finally:
        ss.stop()
        if ref:
            ref.stop()
        if args.keep:
            print(f"data kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def targets(f: dict[str, Any], args: argparse.Namespace) -> list[str]:
    rows = []

    def row(name: str, measured: str, ok: bool | None) -> None:
        verdict = "-" if ok is None else "met" if ok else "NOT met"
        rows.append(f"| {name} | {measured} | {verdict} |")

    if "closed" in f:
        a, b = f["closed"]
        acc, dl = a.get("accepted_per_s") or 0, a.get("deliveries_per_s") or 0
        row(
            f"closed loop, room of {args.members} ({args.db}): >= 2,000 accepted msg/s",
            f"{acc:,.0f} msg/s",
            acc >= 2000,
        )
        row("... >= 40,000 deliveries/s", f"{dl:,.0f} deliveries/s", dl >= 40000)
        if b and b.get("deliveries_per_s"):
            share = dl / b["deliveries_per_s"]
            row(
                "... >= 30% of the reference's deliveries/s",
                f"{100 * share:.0f}%",
                share >= 0.3,
            )
        row(
            "... every message exactly once",
            exactly_once(a),
            exactly_once(a).startswith("yes"),
        )
    if "open" in f:
        a, _ = f["open"]
        p99 = a.get("lat_p99") or float("inf")
        row(
            f"open loop {args.rate:g} msg/s, room of {args.members}: p99 < 25 ms",
            f"p99 {fmt(p99)} ms",
            p99 < 25,
        )
    if "idle_safespace" in f and "kb_per_conn" in f["idle_safespace"]:
        kb = f["idle_safespace"]["kb_per_conn"]
        row(f"{args.idle:,} idle connections: < 20 KB each", f"{kb:.1f} KB", kb < 20)
    if "history" in f:
        p99 = f["history"][1]["p99"]
        row(
            f"history p99 < 5 ms at {args.history_rows:,} messages",
            f"{p99:.2f} ms",
            p99 < 5,
        )
    for key in ("page_home, signed in", "page_room"):
        if key in f:
            size = f[key]["wire_bytes"]
            row(
                f"{key[5:]} page < 60 KB compressed",
                f"{size / 1024:.1f} KB",
                size < 60 * 1024,
            )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
