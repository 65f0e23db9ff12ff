"""The reference for bench/fanout.py: a minimal broadcast server on the `websockets` library.

    .venv/bin/python bench/reference_server.py --port 8765

It speaks just enough of SafeSpace's socket protocol (docs/protocol.md) for the same load
generator to drive both: `hello` -> `ready`, then `send` -> `ack` to the sender and a
`message` frame to every connection in the room (the sender's own with its client_id, as
SafeSpace does). No accounts, no storage, no checks, no encryption: the rooms a connection
joins come from the hello frame's `rooms` list (an extension SafeSpace ignores). What it
can do is roughly the most a Python process can do on this machine with this framing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[int, set[ServerConnection]] = {}
last_seq: dict[int, int] = {}
ids = itertools.count(1)


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


async def handler(ws: ServerConnection) -> None:
    try:
        hello = orjson.loads(await ws.recv())
    except Exception:
        return
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        await ws.close(1008)
        return
    joined = [int(r) for r in hello.get("rooms") or []]
    for rid in joined:
        rooms.setdefault(rid, set()).add(ws)
    token = str(hello.get("token") or "anonymous")
    await ws.send(encode({"type": "ready", "rooms": joined, "user": {"id": 0, "username": token}}))
    try:
        async for raw in ws:
            frame = orjson.loads(raw)
            kind = frame.get("type")
            if kind == "ping":
                await ws.send('{"type":"pong"}')
                continue
            if kind != "send":
                continue
            rid = frame["room_id"]
            seq = last_seq.get(rid, 0) + 1
            last_seq[rid] = seq
            message = {
                "id": next(ids),
                "room_id": rid,
                "seq": seq,
                "author": {"alias": token},
                "body": frame["body"],
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            cid = frame.get("client_id")
            await ws.send(encode({"type": "ack", "client_id": cid, "message": message}))
            others = [c for c in rooms.get(rid, ()) if c is not ws]
            broadcast(others, encode({"type": "message", "message": message}))
            await ws.send(encode({"type": "message", "message": message, "client_id": cid}))
    except Exception:  # noqa: S110 - a closed connection ends the handler, nothing to report
        pass
    finally:
        for rid in joined:
            rooms.get(rid, set()).discard(ws)


async def main(host: str, port: int) -> None:
    async with serve(handler, host, port, max_size=2**16, max_queue=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    try:
        import uvloop  # as uvicorn[standard] runs SafeSpace

        uvloop.run(main(args.host, args.port))
    except ImportError:
        asyncio.run(main(args.host, args.port))
