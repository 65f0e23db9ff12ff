"""How the live socket is carried (web/socket_protocol.py, web/ws.py): compression without
per-socket state, the frame ceiling, the one socket path, and what an idle socket keeps."""

from __future__ import annotations

import asyncio
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.extensions.permessage_deflate import PerMessageDeflate

from helpers import FRAME_TIMEOUT, Room, open_ws
from safespace.web import socket_protocol
from safespace.web.socket_protocol import _compress, _Flag, _Inbox, _keep_frame

BODIES = [
    "plain words",
    "the same words, the same words, the same words, the same words",
    "ünïcödé and emoji 🌱🌧️ and a tab\there",
    "x" * 3000,
]


async def test_compressed_and_plain_clients_read_the_same_messages(server, room: Room) -> None:
    squeezed = await open_ws(server, room.alice.token)
    plain = await open_ws(server, room.bob.token, compression=None)
    facilitator = await open_ws(server, room.fac.token)
    # Compression is negotiated without context takeover both ways: no socket keeps
    # zlib's state between messages.
    (ext,) = squeezed.conn.protocol.extensions
    assert isinstance(ext, PerMessageDeflate)
    assert ext.local_no_context_takeover and ext.remote_no_context_takeover
    assert plain.conn.protocol.extensions == []

    sent = []
    for i, body in enumerate(BODIES):
        sender = (squeezed, plain, facilitator)[i % 3]
        sent.append(await sender.send_message(room.id, body))
    for ws in (squeezed, plain, facilitator):
        got = [m for m in await ws.messages_until_pong()]
        assert [(m["seq"], m["body"]) for m in got] == [(m["seq"], m["body"]) for m in sent]
        await ws.close()


async def test_a_frame_over_the_limit_gets_an_error_and_one_over_a_megabyte_closes(
    server, room: Room
) -> None:
    ws = await open_ws(server, room.alice.token)
    await ws.send("z" * 200_000)  # far over 16 KB, under the socket's ceiling
    error = await ws.expect("error")
    assert error["code"] == "too_large"
    await ws.send({"type": "ping"})
    await ws.expect("pong")

    await ws.send("z" * (1 << 20) + "z")  # over 1 MB: not buffered, the socket closes
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize("path", ["/api/v1/ws/", "/api/v1/other", "/ws", "/"])
async def test_only_the_socket_path_takes_a_socket(server, path: str) -> None:
    url = server.ws_url.replace("/api/v1/ws", path)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, proxy=None, open_timeout=FRAME_TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


async def test_an_idle_connection_keeps_no_writer_task_and_no_queue(server, room: Room) -> None:
    ws = await open_ws(server, room.alice.token)
    other = await open_ws(server, room.bob.token)
    await other.send_message(room.id, "hello, anyone here?")
    await ws.messages_until_pong()
    await other.messages_until_pong()
    (conn,) = [c for c in server.app.state.hub.connections() if c.user_id == room.alice.id]
    for _ in range(100):  # the writer ends once its last frame is out
        if conn._writer is None:
            break
        await asyncio.sleep(0.01)
    assert conn._writer is None and conn._queue is None
    # and it still delivers
    await other.send_message(room.id, "second")
    assert [m["body"] for m in await ws.messages_until_pong()] == ["second"]
    await ws.close()
    await other.close()


# ------------------------------------------------------------------ compression, directly


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=20_000), st.sampled_from([9, 12, 15]))
def test_a_shared_compression_inflates_back_on_its_own(data: bytes, wbits: int) -> None:
    once = _compress(data, wbits)
    again = _compress(data, wbits)  # from the cache (or compressed afresh if too large)
    assert once == again
    inflater = zlib.decompressobj(wbits=-wbits)  # a new one: no context is taken over
    assert inflater.decompress(once + b"\x00\x00\xff\xff") == data


def test_the_compression_cache_stays_within_its_budget(monkeypatch) -> None:
    monkeypatch.setattr(socket_protocol, "_cache", {})
    monkeypatch.setattr(socket_protocol, "_cached", 0)
    monkeypatch.setattr(socket_protocol, "CACHE_BYTES", 50_000)
    for i in range(2_000):
        _compress(f"message number {i} ".encode() * 20, 12)
        held = socket_protocol._cache
        assert socket_protocol._cached == sum(len(k[1]) + len(v) for k, v in held.items())
        assert socket_protocol._cached <= 50_000
    # the newest are kept, the oldest went first
    assert (12, b"message number 1999 " * 20) in socket_protocol._cache
    assert (12, b"message number 0 " * 20) not in socket_protocol._cache
    big = b"y" * (socket_protocol.CACHE_LARGEST + 1)
    _compress(big, 12)
    assert (12, big) not in socket_protocol._cache


def test_the_frame_cache_stays_within_its_budget(monkeypatch) -> None:
    monkeypatch.setattr(socket_protocol, "_frames", {})
    monkeypatch.setattr(socket_protocol, "_framed", 0)
    monkeypatch.setattr(socket_protocol, "FRAMES_BYTES", 20_000)
    for i in range(1_000):
        text = f"message number {i} " * 10
        _keep_frame((text, 12), b"frame " + text.encode())
        held = socket_protocol._frames
        assert socket_protocol._framed == sum(len(k[0]) + len(v) for k, v in held.items())
        assert socket_protocol._framed <= 20_000
    assert ("message number 999 " * 10, 12) in socket_protocol._frames
    assert ("message number 0 " * 10, 12) not in socket_protocol._frames
    big = "y" * (socket_protocol.CACHE_LARGEST + 1)
    _keep_frame((big, 0), big.encode())
    assert (big, 0) not in socket_protocol._frames


# ------------------------------------------------------------ the light queue and flag


async def test_the_inbox_hands_out_items_in_order_to_a_waiting_reader() -> None:
    inbox = _Inbox()
    assert inbox.empty()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait("first")
    inbox.put_nowait("second")
    assert await asyncio.wait_for(reader, 1) == "first"
    assert await inbox.get() == "second"
    assert inbox.empty()
    # a reader given up on (a timeout) leaves the inbox usable
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(inbox.get(), 0.01)
    inbox.put_nowait("third")
    assert await inbox.get() == "third"


async def test_the_flag_holds_writers_until_set_and_forgets_cancelled_ones() -> None:
    flag = _Flag()
    assert flag.is_set()
    assert await flag.wait() is True  # set: no wait at all
    flag.clear()
    held = [asyncio.create_task(flag.wait()) for _ in range(3)]
    gone = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    assert not any(t.done() for t in held)
    assert flag._waiters is not None and len(flag._waiters) == 3
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*held), 1) == [True, True, True]
    assert flag._waiters is None
