"""The live socket: hello (authenticate and resume), then send/ping frames and live events.

A bad frame gets an error frame and the connection stays open. Writes go through the same
action as the HTTP API, so the rules are the same whichever way a message arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from safespace.actions import safety
from safespace.actions.messages import post_message
from safespace.errors import AppError
from safespace.events.hub import Connection, Hub, encode
from safespace.queries import safety as safety_queries
from safespace.queries.accounts import Principal
from safespace.queries.filters import reader_for
from safespace.queries.messages import between, history, readable
from safespace.queries.rooms import (
    access_room_as_member,
    access_room_for_reading,
    facilitated_group_ids,
    last_seqs,
    member_rooms,
)
from safespace.services import Services
from safespace.web.deps import resolve_principal, same_origin
from safespace.web.socket_protocol import SocketProtocol

log = logging.getLogger(__name__)

PATH = "/api/v1/ws"

MAX_FRAME = 16 * 1024
PRESENCE_EVERY = 30.0
HELLO_TIMEOUT = 15.0


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


class _Socket:
    """An accepted socket as a connection uses it after the hello: the two ASGI channels,
    and nothing of the handshake."""

    __slots__ = ("_receive", "_send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return message

    async def send_text(self, text: str) -> None:
        try:
            await self._send({"type": "websocket.send", "text": text})
        except OSError as err:  # uvicorn's ClientDisconnected: the peer has gone
            raise WebSocketDisconnect(1006) from err

    async def send_texts(self, texts: list[str]) -> None:
        """Several frames in one write where the server is ours (uvicorn hands the app its
        protocol's own bound `send`); one at a time on any other ASGI server."""
        protocol = getattr(self._send, "__self__", None)
        try:
            if isinstance(protocol, SocketProtocol):
                await protocol.send_texts(texts)
                return
            for text in texts:
                await self._send({"type": "websocket.send", "text": text})
        except OSError as err:  # uvicorn's ClientDisconnected: the peer has gone
            raise WebSocketDisconnect(1006) from err

    async def close(self, code: int) -> None:
        await self._send({"type": "websocket.close", "code": code})


async def _authenticate(ws: WebSocket, hello: dict[str, Any]) -> Principal | None:
    token = hello.get("token")
    if token is not None and not isinstance(token, str):
        return None
    if token is None and not same_origin(ws, strict=True):
        return None  # a cookie is only honoured from our own pages
    return await resolve_principal(ws, token if token else None)


async def socket(scope: Scope, receive: Receive, send: Send) -> None:
    """The live socket, called by the app for PATH before any middleware or routing (see
    SafeSpaceApp.__call__): none of them applies to a socket, and each layer's frame would
    stay alive for as long as the socket is open."""
    app = scope["app"]
    svc: Services = app.state.svc
    opened = await _open(WebSocket(scope, receive, send))
    if opened is None:
        return
    user, session_id, hello = opened
    # Authenticated: the handshake's headers, cookies and cached sign-in are not read
    # again, and an idle socket should hold only what it uses (docs/performance.md).
    scope["headers"] = []
    scope["state"] = {}
    sock = _Socket(receive, send)

    async def fetch_gap(room_id: int, after: int, upto: int) -> list[dict[str, Any]]:
        async with svc.db.read() as session:
            access = await access_room_as_member(session, user, room_id)
            rows = await between(session, room_id, after, upto)
            reader = conn.reader.for_group(access.is_facilitator)
            return await readable(svc.keys, access.group_id, rows, reader, session)

    conn = Connection(sock.send_texts, sock.close, user.id, session_id, fetch_gap)
    try:
        await _begin(svc, app.state.hub, conn, sock, user, hello)
        del hello  # not read again: not kept for the socket's life
        await _read_loop(sock, svc, conn, user)
    except WebSocketDisconnect:
        pass
    finally:
        await conn.stop()
        app.state.hub.remove(conn)
        if conn.presence is not None:
            with contextlib.suppress(Exception):
                await safety.leave(svc, conn.presence, sorted(conn.facilitates))


async def _open(ws: WebSocket) -> tuple[Any, int, dict[str, Any]] | None:
    """Accept, wait for the hello and sign in: (user, session id, hello), or None once the
    socket has been told why not and closed."""
    await ws.accept()
    try:
        hello = await asyncio.wait_for(_first_frame(ws), HELLO_TIMEOUT)
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await ws.close(1008)
        return None
    principal = await _authenticate(ws, hello)
    if principal is None:
        await ws.send_text(encode(error_frame("unauthenticated", "Please sign in again.")))
        await ws.close(4401)
        return None
    return principal.user, principal.session.id, hello


async def _first_frame(ws: WebSocket) -> dict[str, Any]:
    """Wait for a hello; answer anything else with an error frame and keep waiting."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        frame, problem = _parse(message)
        if frame is not None and frame.get("type") == "hello":
            return frame
        await ws.send_text(encode(problem or error_frame("hello_first", "Say hello first.")))


def _parse(message: Message) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A client message as (frame, None), or (None, the error frame that answers it)."""
    text = message.get("text")
    if text is None and message.get("bytes") is not None:
        text = message["bytes"].decode("utf-8", "replace")
    if text is None or len(text) > MAX_FRAME:
        return None, error_frame("too_large", f"Frames are at most {MAX_FRAME} bytes.")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None, error_frame("bad_json", "That frame wasn't valid JSON.")
    if not isinstance(frame, dict):
        return None, error_frame("bad_frame", "A frame is a JSON object.")
    return frame, None


async def _begin(
    svc: Services, hub: Hub, conn: Connection, sock: _Socket, user: Any, hello: dict[str, Any]
) -> None:
    """Register the connection, say ready, replay what each resumed room missed, go live."""

    async def fetch_after(room_id: int, after: int, limit: int) -> list[dict[str, Any]]:
        async with svc.db.read() as session:
            access, reader = await access_room_for_reading(session, user, room_id)
            return await history(session, svc.keys, access, after=after, limit=limit, reader=reader)

    now = svc.clock.now()
    async with svc.db.read() as session:
        rooms = await member_rooms(session, user.id)
        # The groups this person runs: their flags and alerts, warned messages in full (as
        # the HTTP history shows them). An admin is told of an alert elsewhere only when
        # nobody who runs that group is online (events/hub.py).
        runs = await facilitated_group_ids(session, user.id)
        conn.facilitates = set(runs)
        conn.reader = await reader_for(session, user.id)
        conn.paused = set(await safety_queries.rooms_on_break(session, user.id, now))
        online = await safety_queries.facilitators_online_in(
            session, sorted(set(rooms.values())), now
        )
        # Urgent alerts nobody has picked up yet: a facilitator's own groups, an admin's
        # every group (the queue's reach, queries/safety.facilitated_groups).
        reach = (
            runs if user.role != "admin" else await safety_queries.facilitated_groups(session, user)
        )
        waiting = await safety_queries.flags_for(
            session,
            svc.keys,
            reach,
            statuses=("open",),
            urgent_only=True,
            admin=user.role == "admin",
        )
    conn.is_admin = user.role == "admin"
    room_ids = list(rooms)
    hub.room_group.update(rooms)
    for gid, count in online.items():
        hub.online[gid] = count > 0
    # Registered before replay: live events queue behind it and duplicates are dropped.
    hub.add(conn, room_ids)
    # Where each room stands now: a room the client doesn't resume starts live from here,
    # so events that reach this process out of order (two processes publishing) are still
    # gap-filled from the database, never dropped as "already seen".
    live = [r for r in room_ids if r not in conn.paused]
    if live:
        async with svc.db.read() as session:
            now_at = await last_seqs(session, live)
        for r in live:
            if conn.rooms.get(r) is None:
                conn.rooms[r] = now_at.get(r, 0)
    # Kept fresh by keep_present, with the process's others.
    conn.presence = await safety.enter(svc, user.id, sorted(conn.facilitates))
    await sock.send_text(
        encode(
            {
                "type": "ready",
                "rooms": room_ids,
                "user": {"id": user.id, "username": user.username},
                # Whether someone who runs each room's group is here right now.
                "facilitators_online": {
                    str(rid): online.get(gid, 0) > 0 for rid, gid in rooms.items()
                },
                "on_break": sorted(conn.paused),
            }
        )
    )
    if waiting:
        # Alerts raised while this facilitator was away: the first thing they see.
        await sock.send_text(encode({"type": "alerts", "flags": waiting}))
    resume = hello.get("resume") or {}
    if isinstance(resume, dict):
        for key, last in resume.items():
            rid = int(key) if isinstance(key, str) and key.isdigit() else None
            if rid in conn.rooms and isinstance(last, int) and last >= 0:
                if rid in conn.paused:
                    conn.rooms[rid] = last  # on a break: caught up when it ends
                else:
                    await conn.replay(rid, last, fetch_after)
            else:
                await sock.send_text(
                    encode(
                        error_frame(
                            "not_found",
                            "That room could not be found, or you're not a member.",
                            room_id=key,
                        )
                    )
                )
    conn.start()


async def keep_present(svc: Services, hub: Hub) -> None:
    """One loop per process, not a task per connection: every PRESENCE_EVERY seconds this
    process's connections are counted online again in one statement, and breaks whose time
    is up end (nobody posts an event for that): those rooms resume and catch up."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(min(1.0, PRESENCE_EVERY))  # re-read: tests shorten it
        if time.monotonic() - last < PRESENCE_EVERY:
            continue
        last = time.monotonic()
        conns = hub.connections()
        try:
            await safety.still_here(svc, [c.presence for c in conns if c.presence])
        except Exception:
            log.warning("could not refresh this process's presence rows")
        for conn in conns:
            if conn.paused and not conn.closed:
                try:
                    await _end_breaks(svc, conn)
                except Exception:  # one connection's trouble must not stop the loop
                    log.exception("ending a break failed")


async def _end_breaks(svc: Services, conn: Connection) -> None:
    changes = conn.break_changes
    try:
        async with svc.db.read() as session:
            still = set(await safety_queries.rooms_on_break(session, conn.user_id, svc.clock.now()))
    except Exception:
        log.warning("could not check whether a break has ended")
        return
    if conn.break_changes != changes:
        return  # a break began or ended meanwhile: look again next time
    for rid in sorted(conn.paused - still):
        conn.paused.discard(rid)
        conn.push_resync(rid)


async def _read_loop(sock: _Socket, svc: Services, conn: Connection, user: Any) -> None:
    """Until the socket closes (WebSocketDisconnect). Replies queue behind live frames."""
    while True:
        frame, problem = _parse(await sock.receive())
        if frame is None:
            assert problem is not None  # _parse gives one or the other
            conn.push_frame(problem)
            continue
        kind = frame.get("type")
        if kind == "ping":
            conn.push_frame({"type": "pong"})
        elif kind == "send":
            await _send(svc, conn, user, frame)
        elif kind == "hello":
            conn.push_frame(error_frame("already_ready", "This connection is already ready."))
        else:
            conn.push_frame(error_frame("unknown_type", "Unknown frame type."))


async def _send(svc: Services, conn: Connection, user: Any, frame: dict[str, Any]) -> None:
    client_id = frame.get("client_id")
    cid = client_id if isinstance(client_id, str) else None
    room_id = frame.get("room_id")
    if room_id not in conn.rooms:
        conn.push_frame(
            error_frame(
                "not_found",
                "That room could not be found, or you're not a member.",
                client_id=cid,
                room_id=room_id,
            )
        )
        return
    try:
        posted = await post_message(
            svc,
            user,
            room_id,
            client_id,
            frame.get("body"),
            frame.get("content_warning"),
            frame.get("suggest_warning") is True,
        )
    except AppError as err:
        conn.push_frame(error_frame(err.code, err.message, client_id=cid, **err.extra))
        return
    except Exception:
        log.exception("posting a message failed")
        conn.push_frame(
            error_frame(
                "server_error",
                "That message couldn't be sent. It's still in your box; please try again.",
                client_id=cid,
            )
        )
        return
    ack: dict[str, Any] = {"type": "ack", "client_id": client_id, "message": posted.message}
    if posted.check_in:
        ack["check_in"] = posted.check_in  # the author's own screen offers support
    conn.push_frame(ack)
