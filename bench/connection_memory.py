"""Where an idle connection's memory goes: tracemalloc on a SafeSpace server in this process.

    .venv/bin/python bench/connection_memory.py                # clients offer permessage-deflate
    .venv/bin/python bench/connection_memory.py --no-deflate
    .venv/bin/python bench/connection_memory.py --connections 1000

Serves SafeSpace (SQLite, a temporary data dir) with uvicorn inside this process, opens the
connections from a separate client process (so their memory isn't counted), each
authenticated with a hello, and compares tracemalloc snapshots taken after a warm-up of 20
connections and after all are open. Prints Python heap per connection, by file and by the
allocating line. zlib's buffers (permessage-deflate) are not Python objects, so they don't
appear here: compare RSS in bench/fanout.py's idle shape with and without --no-deflate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import re
import secrets
import sys
import tempfile
import tracemalloc
from pathlib import Path

WARM = 20
PORT = 8765


def _short(filename: str) -> str:
    return re.sub(r".*/(site-packages|src|lib/python3\.\d+)/", "", filename)


async def _clients(token: str, room: int, count: int, deflate: bool) -> None:
    from websockets.asyncio.client import connect

    async def one() -> object:
        ws = await connect(
            f"ws://127.0.0.1:{PORT}/api/v1/ws",
            ping_interval=None,
            compression="deflate" if deflate else None,
        )
        await ws.send(json.dumps({"type": "hello", "token": token, "rooms": [room]}))
        while json.loads(await ws.recv()).get("type") != "ready":
            pass
        return ws

    keep = [await one() for _ in range(WARM)]
    print("warm", flush=True)
    await asyncio.sleep(1.5)
    for start in range(0, count - WARM, 50):
        keep += await asyncio.gather(*[one() for _ in range(min(50, count - WARM - start))])
    print("open", flush=True)
    await asyncio.sleep(3600)


async def _serve(count: int, deflate: bool, top: int) -> None:
    import uvicorn

    from safespace.actions import accounts, groups
    from safespace.app import create_app
    from safespace.cli import _with_services
    from safespace.settings import Settings
    from safespace.web.socket_protocol import UVICORN_OPTIONS

    settings = Settings.from_env()
    await _with_services(lambda svc: asyncio.sleep(0))  # migrate
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, port=PORT, log_level="warning", **UVICORN_OPTIONS))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    svc = app.state.svc
    fac = await accounts.sign_up(svc, "probe_fac", "a long enough passphrase", role="facilitator")
    made = await groups.create_group(svc, fac.user, "Memory probe", "Idle connections.")
    args = [sys.executable, __file__, "--client", str(made.room.id), str(count)]
    client = await asyncio.create_subprocess_exec(
        *args,
        *([] if deflate else ["--no-deflate"]),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PROBE_TOKEN": fac.token},
    )
    assert client.stdout is not None
    try:
        tracemalloc.start(12)
        await client.stdout.readline()  # "warm"
        gc.collect()
        before = tracemalloc.take_snapshot()
        await client.stdout.readline()  # "open"
        await asyncio.sleep(2)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        client.kill()
        await client.wait()
    n = count - WARM
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"{n} idle authenticated connections (deflate offered: {'yes' if deflate else 'no'})")
    print(f"Python heap: {total / 1024 / n:.1f} KB per connection\n")
    print("by file (KB per connection):")
    for stat in after.compare_to(before, "filename")[:top]:
        print(f"  {stat.size_diff / 1024 / n:6.2f}  {_short(stat.traceback[0].filename)}")
    print("\nby allocating line (KB per connection, objects per connection):")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        print(
            f"  {stat.size_diff / 1024 / n:6.2f}  {stat.count_diff / n:5.1f}  "
            f"{_short(frame.filename)}:{frame.lineno}"
        )
    server.should_exit = True
    await serving


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=400)
    p.add_argument("--no-deflate", action="store_true")
    p.add_argument("--top", type=int, default=20)
    # The client process: the token comes in the environment (it may begin with "-").
    p.add_argument("--client", nargs=2, metavar=("ROOM", "COUNT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        room, count = args.client
        token = os.environ["PROBE_TOKEN"]
        asyncio.run(_clients(token, int(room), int(count), not args.no_deflate))
        return
    data = Path(tempfile.mkdtemp(prefix="safespace-memory-"))
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    os.environ.update(
        SAFESPACE_DATA_DIR=str(data),
        SAFESPACE_MASTER_KEY=f"bench:{key}",
        SAFESPACE_RATE_LIMIT_SCALE="1000000",
    )
    os.environ.pop("SAFESPACE_DATABASE_URL", None)
    os.environ.pop("SAFESPACE_REDIS_URL", None)
    asyncio.run(_serve(max(args.connections, WARM + 50), not args.no_deflate, args.top))


if __name__ == "__main__":
    main()
