"""A lean websocket client for bench/fanout.py's load generator.

One process plays every member of a room, so it reads 20 frames for each message sent to a
room of 20, and on this two-core machine the CPU it spends is CPU the server under test
can't have. The `websockets` client spent about 15 µs a frame on it (most of it parsing a
frame through its generic machinery, and a task and a queue per received message), and in
the closed loop the senders wait for the load generator to get through a batch's
deliveries before they see their acks: a slower generator made both servers look slower.

This client does only what the benchmark needs (RFC 6455 as a client, text frames,
permessage-deflate of RFC 7692 with or without context takeover) as an asyncio protocol
that hands each whole text message to a callback. It offers compression as browsers and
the `websockets` client do (`permessage-deflate; client_max_window_bits`), compresses what
it sends and masks it, answers pings, and records the close code. `--client websockets`
in bench/fanout.py keeps the library's client, for comparison.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

try:  # the library's C helper: masking in Python costs a loop over every byte
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TAIL = b"\x00\x00\xff\xff"
OFFER = "permessage-deflate; client_max_window_bits"
CLOSE_WAIT = 5.0  # seconds


class Closed(Exception):
    pass


class LeanSocket(asyncio.Protocol):
    def __init__(self, on_text: Callable[[str], None] | None = None) -> None:
        self.on_text = on_text or (lambda text: None)
        self.on_close: Callable[[int], None] = lambda code: None
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None
        self._buffer = bytearray()
        self._open = False
        self._key = base64.b64encode(os.urandom(16))
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._deflate = False
        self._inflater: zlib._Decompress | None = None
        self._reset_inflater = False  # True: server_no_context_takeover, a fresh inflater a message
        self._client_bits = 15
        self._parts: list[bytes] = []
        self._compressed = False

    # -- connecting

    @classmethod
    async def connect(
        cls, url: str, on_text: Callable[[str], None] | None = None, deflate: bool = True
    ) -> LeanSocket:
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        _, sock = await loop.create_connection(lambda: cls(on_text), host, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {sock._key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            + (f"Sec-WebSocket-Extensions: {OFFER}\r\n" if deflate else "")
            + "\r\n"
        )
        assert sock.transport is not None
        sock.transport.write(request.encode())
        await sock._handshake
        return sock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(Closed(f"connection lost in the handshake: {exc}"))
        if not self._lost.done():
            self._lost.set_result(None)
        if self.close_code is None:
            self.close_code = 1006
        self.on_close(self.close_code)

    def _read_handshake(self) -> None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        if not head[0].startswith("HTTP/1.1 101"):
            self._handshake.set_exception(Closed(f"handshake refused: {head[0]}"))
            return
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()  # noqa: S324 - RFC 6455
        if headers.get("sec-websocket-accept") != accept:
            self._handshake.set_exception(Closed("bad Sec-WebSocket-Accept"))
            return
        extension = headers.get("sec-websocket-extensions", "")
        if extension:
            params = [p.strip() for p in extension.split(";")]
            if params[0] != "permessage-deflate":
                self._handshake.set_exception(Closed(f"unexpected extension {extension}"))
                return
            self._deflate = True
            self._reset_inflater = "server_no_context_takeover" in params
            for param in params[1:]:
                name, _, value = param.partition("=")
                if name == "client_max_window_bits" and value:
                    self._client_bits = int(value)
        self._open = True
        self._handshake.set_result(None)

    # -- receiving

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._open:
            self._read_handshake()
            if not self._open:
                return
        at, size = 0, len(buffer)
        while size - at >= 2:
            b0, b1 = buffer[at], buffer[at + 1]
            length = b1 & 0x7F
            start = at + 2
            if length == 126:
                if size - at < 4:
                    break
                (length,) = struct.unpack_from("!H", buffer, at + 2)
                start = at + 4
            elif length == 127:
                if size - at < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, at + 2)
                start = at + 10
            if b1 & 0x80:  # a server's frames are never masked: this is not a websocket
                self.close_code = 1002
                assert self.transport is not None
                self.transport.close()
                return
            if size - start < length:
                break
            self._frame(b0, bytes(buffer[start : start + length]))
            at = start + length
        del buffer[:at]

    def _frame(self, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if opcode >= 8:  # control frames: never fragmented, never compressed
            if opcode == 8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                if self.transport is not None:
                    self._write(0x88, payload[:2])
                    self.transport.close()
            elif opcode == 9:
                self._write(0x8A, payload)
            return
        if opcode != 0:  # the first frame of a message
            self._compressed = bool(b0 & 0x40)
        self._parts.append(payload)
        if not b0 & 0x80:
            return
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts.clear()
        if self._compressed:
            if self._inflater is None or self._reset_inflater:
                self._inflater = zlib.decompressobj(-15)
            data = self._inflater.decompress(data + _TAIL)
        self.on_text(data.decode())

    # -- sending

    def _write(self, b0: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", b0, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", b0, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, length)
        mask = os.urandom(4)
        assert self.transport is not None
        self.transport.write(head + mask + apply_mask(payload, mask))

    def send_text(self, text: str) -> None:
        """One text message, in one frame; compressed when the server agreed to it (as a
        browser does), each on its own (client_no_context_takeover or not, a fresh
        compressor is always allowed)."""
        if self.close_code is not None:
            raise Closed(f"closed {self.close_code}")
        data = text.encode()
        if self._deflate:
            encoder = zlib.compressobj(wbits=-self._client_bits)
            data = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
            if data.endswith(_TAIL):
                data = data[:-4]
            self._write(0xC1, data)  # FIN, RSV1 (compressed), text
        else:
            self._write(0x81, data)

    async def close(self) -> None:
        """Say goodbye (1000) and wait up to CLOSE_WAIT for the server to close."""
        if self.transport is not None and not self.transport.is_closing():
            self._write(0x88, struct.pack("!H", 1000))
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), CLOSE_WAIT)
        except TimeoutError:
            pass
        finally:
            if self.transport is not None:
                self.transport.close()
