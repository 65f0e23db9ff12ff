"""Two versions of SafeSpace's history page, timed side by side (docs/performance.md).

This machine's speed changes from minute to minute, by more than most single changes are
worth, so one run before and one after says little. Here two servers run at once, one
on the working tree and one on other code (a checkout put first on `PYTHONPATH`), each
with its own database holding the same history, and the requests alternate between
them: whatever the machine does falls on both alike.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/history_ab.py --other /tmp/base/src [--db postgres]

With `--other src` both run the same code: the figures should agree (they did within
0.02 ms here), which is the check that the method is fair.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
from pathlib import Path

import httpx
from fanout import (
    FILLER,
    Server,
    cpu_seconds,
    join,
    make_group,
    pct,
    seed_history,
    setup_world,
    timed_request,
)


def _request(room_id: int, token: str) -> bytes:
    return (
        f"GET /api/v1/rooms/{room_id}/messages?limit=50 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAccept-Encoding: gzip\r\n\r\n"
    ).encode()


async def _prepare(server: Server, rows: int) -> tuple[int, str]:
    world = await setup_world(server, [20])
    async with httpx.AsyncClient(base_url=server.url, timeout=60, trust_env=False) as c:
        group = await make_group(c, world.fac_token, "Bench history")
        await join(c, world.members[0], group)
        await seed_history(server, group["room_id"], world.members[0], rows)
        token = world.members[0]["token"]
        r = await c.get(
            f"/api/v1/rooms/{group['room_id']}/messages?limit=50",
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        assert r.json()["messages"][-1]["body"].startswith(FILLER)
    return group["room_id"], token


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--other", required=True, help="the other code's src directory")
    p.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    p.add_argument("--rows", type=int, default=20_000, help="messages in the room")
    p.add_argument("--requests", type=int, default=3_000, help="to each server")
    args = p.parse_args()

    servers: list[tuple[str, Server]] = []
    try:
        for label, src in (("other", args.other), ("this", "")):
            server = Server("safespace", args.db, Path(tempfile.mkdtemp(prefix="history-ab-")))
            if server.pg_name:  # a database of its own
                server.pg_name += f"_{label}"
                server.env["SAFESPACE_DATABASE_URL"] = server.env["SAFESPACE_DATABASE_URL"].rsplit(
                    "/", 1
                )[0] + ("/" + server.pg_name)
            if src:
                server.env["PYTHONPATH"] = str(Path(src).resolve())
            server.start()
            servers.append((label, server))
        sockets = []
        for _, server in servers:
            room_id, token = asyncio.run(_prepare(server, args.rows))
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sockets.append((sock, _request(room_id, token)))
        warm = 50
        times: list[list[float]] = [[], []]
        cpu = [cpu_seconds(s.pid) for _, s in servers]
        for i in range(args.requests + warm):
            for k in (0, 1) if i % 2 == 0 else (1, 0):  # neither always goes first
                took = timed_request(*sockets[k])
                if i >= warm:
                    times[k].append(took)
        total = args.requests + warm
        print(f"{args.requests:,} requests to each, alternating; {args.rows:,} messages; {args.db}")
        for k, (label, server) in enumerate(servers):
            t = times[k]
            per = (cpu_seconds(server.pid) - cpu[k]) / total * 1000
            print(
                f"{label:>5}: p50 {pct(t, 50):.2f} ms, p90 {pct(t, 90):.2f}, "
                f"p99 {pct(t, 99):.2f}, max {max(t):.2f}; server CPU {per:.2f} ms a request"
            )
        for sock, _ in sockets:
            sock.close()
    finally:
        for _, server in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
