"""How uvicorn runs SafeSpace's live sockets: lighter on memory while a socket is idle.

Most of the people connected at any moment are reading, not typing, so what an idle socket
holds decides how many one process can keep open (docs/performance.md). This is uvicorn's
own sans-I/O websocket protocol with two changes:

- permessage-deflate without context takeover, both ways. Each message is compressed and
  decompressed on its own, so no socket keeps zlib's state (about 47 KB) between messages,
  and one message sent to a room compresses to the same bytes for every recipient: it is
  compressed once (`_SharedDeflate`), not once per socket. The price is a little ratio on
  long conversations, which at chat-message sizes is small.
- the handshake's headers are let go once the socket is accepted, and the receive queue
  and the "writable" flag are lighter versions of asyncio's (the same behaviour for the
  one reader and one writer uvicorn has per socket).

And one addition, `send_texts`: several frames that are waiting for one socket go out in one
write (one system call) rather than one each. A batch of posts committed together reaches
every member as several frames at once, so this is most of a busy room's writes. A frame
is also framed (and compressed) once for every socket that negotiated the same thing: the
hub encodes a message once per shape, and the bytes on the wire for that text are the same
for each recipient, so they are kept, like compressed payloads, in a small shared cache.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import CONT, CTRL_OPCODES, Frame
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import ExtensionParameter

WINDOW_BITS = 12  # as uvicorn asks: 4 KB windows, plenty for chat messages
MEM_LEVEL = 5  # as uvicorn asks
COMPRESS = {"memLevel": MEM_LEVEL}
_TAIL = b"\x00\x00\xff\xff"  # ends every sync flush; not sent (RFC 7692, 7.2.1)

# Compressed payloads of recent outgoing messages, shared by every socket of the process.
# Without context takeover a message compresses to the same bytes whoever receives it, so
# a message to a room of 20 is compressed once. Bounded by bytes held; oldest out first.
CACHE_BYTES = 1 << 20
CACHE_LARGEST = 16 * 1024  # a payload larger than this is compressed, not kept
_cache: dict[tuple[int, bytes], bytes] = {}
_cached = 0


def _compress(data: bytes, wbits: int) -> bytes:
    global _cached
    key = (wbits, data)
    out = _cache.get(key)
    if out is not None:
        return out
    encoder = zlib.compressobj(wbits=-wbits, memLevel=MEM_LEVEL)
    out = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
    out = out[:-4] if out.endswith(_TAIL) else out
    if len(data) <= CACHE_LARGEST:
        _cache[key] = out
        _cached += len(data) + len(out)
        while _cached > CACHE_BYTES:
            oldest = next(iter(_cache))
            _cached -= len(oldest[1]) + len(_cache.pop(oldest))
    return out


# Whole server frames of recent outgoing texts, by (text, the compression negotiated: its
# window bits, or 0 for none). A server's frames aren't masked, so they depend on nothing
# else. The texts are the hub's own strings, one per message and shape, so their hashes are
# already computed. Bounded by bytes held, oldest out first.
FRAMES_BYTES = 1 << 20
_frames: dict[tuple[str, int], bytes] = {}
_framed = 0


def _keep_frame(key: tuple[str, int], frame: bytes) -> None:
    global _framed
    if len(frame) > CACHE_LARGEST:
        return
    _frames[key] = frame
    _framed += len(key[0]) + len(frame)
    while _framed > FRAMES_BYTES:
        oldest = next(iter(_frames))
        _framed -= len(oldest[0]) + len(_frames.pop(oldest))


class _SharedDeflate(PerMessageDeflate):
    """permessage-deflate with no context takeover either way, whole messages compressed
    through the shared cache. Fragmented messages (SafeSpace never sends them) go the
    library's own way."""

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode in CTRL_OPCODES or frame.opcode is CONT or not frame.fin:
            return super().encode(frame)
        data = _compress(bytes(frame.data), self.local_max_window_bits)
        return Frame(frame.opcode, data, True, True, frame.rsv2, frame.rsv3)


class _Factory(ServerPerMessageDeflateFactory):
    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, ext = super().process_request_params(params, accepted_extensions)
        return response, _SharedDeflate(
            ext.remote_no_context_takeover,
            ext.local_no_context_takeover,
            ext.remote_max_window_bits,
            ext.local_max_window_bits,
            ext.compress_settings,
        )


def deflate() -> ServerPerMessageDeflateFactory:
    return _Factory(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=WINDOW_BITS,
        client_max_window_bits=WINDOW_BITS,
        compress_settings=COMPRESS,
    )


class SocketProtocol(WebSocketsSansIOProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = ServerProtocol(
            extensions=[deflate()] if config.ws_per_message_deflate else [],
            max_size=config.ws_max_size,
            logger=logging.getLogger("uvicorn.error"),
        )
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Nothing reads the handshake after this. The request stays referenced by the
            # websockets parser for the socket's life, so its headers are emptied in place.
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]

    async def send_texts(self, texts: list[str]) -> None:
        """Text frames, in order, in one write: what `send` does for each, written once.
        Waits as `send` does while the socket's write buffer is full (backpressure)."""
        await self.writable.wait()
        if self.disconnected or self.close_sent or not self.handshake_complete:
            for text in texts:  # uvicorn's own answer to each (raises the same way)
                await self.send({"type": "websocket.send", "text": text})
            return
        conn = self.conn
        if conn.state is not State.OPEN or conn.expect_continuation_frame:
            raise ClientDisconnected()  # what send_text would raise, as uvicorn answers it
        out = conn.data_to_send()  # what the protocol already had waiting (a pong) goes first
        extensions = conn.extensions
        negotiated = extensions[0].local_max_window_bits if extensions else 0  # type: ignore[attr-defined]
        for text in texts:
            key = (text, negotiated)
            frame = _frames.get(key)
            if frame is None:
                conn.send_text(text.encode())
                frame = b"".join(conn.data_to_send())
                _keep_frame(key, frame)
            out.append(frame)
        self.transport.write(b"".join(out))


class _Inbox:
    """uvicorn's receive queue (put_nowait, get, empty) for its one reader, without
    asyncio.Queue's three deques and event per socket."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)  # rarely more than one waits: uvicorn pauses reading


class _Flag:
    """asyncio.Event's set, clear, is_set and wait, its waiters' list made only when
    someone waits (uvicorn waits only while the socket's write buffer is full)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


# How every SafeSpace server runs uvicorn (safespace serve, the tests, the benchmarks).
# A frame over web/ws.py's 16 KB limit is answered with an error frame and the socket
# stays open; uvicorn's default ceiling (16 MB buffered per socket) is lowered to 1 MB,
# beyond which the socket is closed (1009, message too big).
UVICORN_OPTIONS: dict[str, Any] = {"ws": SocketProtocol, "ws_max_size": 1 << 20}
