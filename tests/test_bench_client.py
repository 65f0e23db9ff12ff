"""The benchmark's own websocket client (bench/wsclient.py): the figures in
docs/performance.md are only as true as what it reads, so it is checked against the real
server and against a server that keeps compression context between messages, as the
reference (the `websockets` library's default) does."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.server import serve

from helpers import Room

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from wsclient import LeanSocket  # noqa: E402

WAIT = 5.0


class Inbox:
    def __init__(self) -> None:
        self.frames: list[dict] = []
        self._arrived = asyncio.Event()

    def __call__(self, text: str) -> None:
        self.frames.append(orjson.loads(text))
        self._arrived.set()

    async def until(self, kind: str, count: int = 1) -> list[dict]:
        async def enough() -> list[dict]:
            while len(got := [f for f in self.frames if f["type"] == kind]) < count:
                self._arrived.clear()
                await self._arrived.wait()
            return got

        return await asyncio.wait_for(enough(), WAIT)


async def hello(server, token: str, deflate: bool) -> tuple[LeanSocket, Inbox]:
    inbox = Inbox()
    ws = await LeanSocket.connect(server.ws_url, inbox, deflate)
    ws.send_text(orjson.dumps({"type": "hello", "token": token}).decode())
    await inbox.until("ready")
    return ws, inbox


@pytest.mark.parametrize("deflate", [True, False])
async def test_the_lean_client_sends_and_reads_what_the_server_stores(
    server, room: Room, deflate: bool
) -> None:
    alice, alice_in = await hello(server, room.alice.token, deflate)
    bob, bob_in = await hello(server, room.bob.token, deflate)
    assert alice._deflate is deflate  # the server agreed to what was offered
    # Frames of each length encoding: short, over 125 bytes, and one that deflate can't
    # shrink below 126.
    bodies = ["short", "ünïcödé 🌱 " * 20, " ".join(str(i * 7919 % 10007) for i in range(700))]
    for i, body in enumerate(bodies):
        alice.send_text(
            orjson.dumps(
                {"type": "send", "room_id": room.id, "client_id": f"b{i}", "body": body}
            ).decode()
        )
    acks = await alice_in.until("ack", len(bodies))
    seen = await bob_in.until("message", len(bodies))
    assert [a["message"]["body"] for a in acks] == bodies
    assert [m["message"]["body"] for m in seen] == bodies
    assert [m["message"]["seq"] for m in seen] == [a["message"]["seq"] for a in acks]
    await alice.close()
    await bob.close()
    assert alice.close_code == 1000


async def test_the_lean_client_keeps_context_where_the_server_does() -> None:
    """A server with context takeover (no `server_no_context_takeover`) compresses each
    message against the ones before: reading it needs one inflater for the connection."""

    async def echo(conn) -> None:
        async for text in conn:
            await conn.send(text)

    async with serve(echo, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        inbox = Inbox()
        ws = await LeanSocket.connect(f"ws://127.0.0.1:{port}/", inbox)
        assert ws._deflate and not ws._reset_inflater
        frames = [{"type": "echo", "text": f"said again and again: {i} " * 8} for i in range(5)]
        for frame in frames:
            ws.send_text(orjson.dumps(frame).decode())
        assert await inbox.until("echo", len(frames)) == frames
        await ws.close()
