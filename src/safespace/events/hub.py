"""This process's live connections, and delivery of broker events to them.

Every connection has one outbound queue, drained by a writer task that runs only while
frames are waiting, so frames leave in the order they were queued, a connection never has
two sends in flight, and an idle connection holds no task. The writer also
keeps the last seq it delivered per room: a duplicate is dropped, and a gap (events from
several processes can arrive out of order) is filled from the database, so each client sees
every room's messages exactly once and in seq order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from safespace.reading.shaping import Reader, Shape, apply, muted_pattern, shape_of

log = logging.getLogger(__name__)

QUEUE_LIMIT = 4096  # frames; a reader this far behind is cut off and resumes on reconnect
FLUSH_FRAMES = 64  # at most this many frames in one write

Fetch = Callable[[int, int, int], Awaitable[list[dict[str, Any]]]]


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


class Connection:
    __slots__ = (
        "_send_texts",
        "_close",
        "user_id",
        "session_id",
        "_fetch_gap",
        "rooms",
        "facilitates",
        "is_admin",
        "reader",
        "paused",
        "held_from",
        "break_changes",
        "presence",
        "_queue",
        "_writer",
        "_live",
        "closed",
    )

    def __init__(
        self,
        send_texts: Callable[[list[str]], Awaitable[None]],
        close: Callable[[int], Awaitable[None]],
        user_id: int,
        session_id: int,
        fetch_gap: Fetch,
    ) -> None:
        self._send_texts = send_texts  # frames in order, in one write
        self._close = close
        self.user_id = user_id
        self.session_id = session_id
        self._fetch_gap = fetch_gap
        # room -> last seq delivered; None until the first message is seen
        self.rooms: dict[int, int | None] = {}
        self.facilitates: set[int] = set()  # group ids: gets flags and alerts, full bodies
        self.is_admin = False
        self.reader = Reader(user_id)  # this person's filters and blocks (reading/shaping.py)
        self.paused: set[int] = set()  # rooms on a break: nothing live until it ends
        # Paused rooms where nothing had been delivered yet: the first seq held back, so
        # the end of the break knows where to catch up from.
        self.held_from: dict[int, int] = {}
        self.break_changes = 0  # bumped on every break event (see web/ws.py's keep_present)
        self.presence: str | None = None  # its presence row (actions/safety.py)
        # Frames waiting to go. The queue and its writer task exist only while there are
        # some: most connections are idle most of the time, and an idle one holds neither.
        self._queue: deque[tuple[str, Any]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._live = False  # until start(): what is queued waits behind the replay
        self.closed = False

    def push_frame(self, frame: dict[str, Any] | str) -> None:
        self._put(("raw", frame if isinstance(frame, str) else encode(frame)))

    def push_message(self, room_id: int, seq: int, text: str) -> None:
        self._put(("message", (room_id, seq, text)))

    def push_resync(self, room_id: int) -> None:
        """Catch up on a room from the database (after a break)."""
        self._put(("resync", room_id))

    def _put(self, item: tuple[str, Any]) -> None:
        if self.closed:
            return
        if self._queue is None:
            self._queue = deque()
        elif len(self._queue) >= QUEUE_LIMIT:
            # A slow reader must not hold memory for everyone: it reconnects and resumes.
            self.closed = True
            self._queue.clear()
            item = ("close", 1013)
        self._queue.append(item)
        self._wake()

    def close_soon(self, code: int) -> None:
        if not self.closed:
            self._put(("close", code))  # before closed is set: _put drops what comes after
            self.closed = True

    def start(self) -> None:
        """Live from here: frames queued meanwhile go out now, in order."""
        self._live = True
        self._wake()

    async def stop(self) -> None:
        self.closed = True
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    def _wake(self) -> None:
        if self._live and self._writer is None and self._queue:
            self._writer = asyncio.get_running_loop().create_task(self._write(self._queue))

    async def _write(self, queue: deque[tuple[str, Any]]) -> None:
        """Send what is queued, in order, then end. Frames that are waiting together go in
        one write (a batch of posts reaches each member as several frames at once)."""
        out: list[str] = []
        try:
            while queue:
                kind, payload = queue.popleft()
                if kind == "raw":
                    out.append(payload)
                elif kind == "message":
                    await self._deliver(out, *payload)
                elif kind == "resync":
                    await self._resync(out, payload)
                elif kind == "close":
                    queue.clear()
                    await self._flush(out)
                    await self._close(payload)
                if out and (not queue or len(out) >= FLUSH_FRAMES):
                    await self._flush(out)
        except Exception:
            # The socket is gone (or going): its reader sees the disconnect and cleans up.
            self.closed = True
            queue.clear()
            with contextlib.suppress(Exception):
                await self._close(1011)
        finally:
            self._writer = None
            self._queue = None  # empty: nothing was queued since the loop's last look

    async def _flush(self, out: list[str]) -> None:
        if out:
            texts = out[:]
            out.clear()
            await self._send_texts(texts)

    async def _resync(self, out: list[str], room_id: int) -> None:
        if room_id in self.paused or room_id not in self.rooms:
            return
        last = self.rooms[room_id]
        first_held = self.held_from.pop(room_id, None)
        if last is None:
            if first_held is None:
                return  # nothing was held back
            last = first_held - 1
        await self._flush(out)  # what was waiting doesn't wait for the database
        try:
            missing = await self._fetch_gap(room_id, last, 2**31 - 1)
        except Exception:  # e.g. removed from the room meanwhile
            log.warning("could not catch up on a room after a break")
            return
        for m in missing:
            out.append(encode({"type": "message", "message": m}))
            self.rooms[room_id] = m["seq"]

    async def _deliver(self, out: list[str], room_id: int, seq: int, text: str) -> None:
        if room_id not in self.rooms:
            return  # left the room since the event was queued
        if room_id in self.paused:  # taking a break: caught up from the database after
            if self.rooms[room_id] is None:
                held = self.held_from.get(room_id)
                self.held_from[room_id] = seq if held is None else min(held, seq)
            return
        last = self.rooms[room_id]
        if last is not None and seq <= last:
            return  # already delivered (replay or duplicate)
        if last is not None and seq > last + 1:
            await self._flush(out)
            try:
                gap = await self._fetch_gap(room_id, last, seq - 1)
            except Exception:  # e.g. removed from the room meanwhile: deliver what we have
                log.warning("could not fill a gap in a room's messages")
                gap = []
            for missing in gap:
                out.append(encode({"type": "message", "message": missing}))
        out.append(text)
        self.rooms[room_id] = seq

    async def replay(self, room_id: int, after: int, fetch_after: Fetch) -> None:
        """Send everything after `after` from the database, then continue live."""
        self.rooms[room_id] = after
        while True:
            batch = await fetch_after(room_id, after, 200)
            if batch:
                await self._send_texts([encode({"type": "message", "message": m}) for m in batch])
                after = batch[-1]["seq"]
            self.rooms[room_id] = after
            if len(batch) < 200:
                return


class Hub:
    def __init__(self) -> None:
        self.room_group: dict[int, int] = {}
        self.online: dict[int, bool] = {}  # group -> a facilitator is online, last we knew
        # Set by the app: how many facilitators of a group are online (asks the database).
        self.count_online: Callable[[int], Awaitable[int]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.by_room: dict[int, set[Connection]] = defaultdict(set)
        self.by_user: dict[int, set[Connection]] = defaultdict(set)
        self.by_session: dict[int, set[Connection]] = defaultdict(set)

    def add(self, conn: Connection, room_ids: list[int]) -> None:
        self.by_user[conn.user_id].add(conn)
        self.by_session[conn.session_id].add(conn)
        for rid in room_ids:
            conn.rooms.setdefault(rid, None)
            self.by_room[rid].add(conn)

    def remove(self, conn: Connection) -> None:
        for rid in list(conn.rooms):
            self._discard(self.by_room, rid, conn)
        self._discard(self.by_user, conn.user_id, conn)
        self._discard(self.by_session, conn.session_id, conn)

    @staticmethod
    def _discard(index: dict[int, set[Connection]], key: int, conn: Connection) -> None:
        conns = index.get(key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del index[key]

    def connection_count(self) -> int:
        return sum(len(c) for c in self.by_user.values())

    def connections(self) -> list[Connection]:
        return [conn for conns in self.by_user.values() for conn in conns]

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "message_posted":
            self._message_posted(event)
        elif kind == "membership_changed":
            self._membership_changed(event)
        elif kind == "rules_changed":
            frame = encode(
                {
                    "type": "rules_changed",
                    "room_id": event["room_id"],
                    "group_slug": event["group_slug"],
                    "rules_version": event["version"],
                }
            )
            for conn in list(self.by_room.get(event["room_id"], ())):
                conn.push_frame(frame)
        elif kind == "consent_updated":
            frame = encode(
                {
                    "type": "consent_updated",
                    "room_id": event["room_id"],
                    "seq": event["seq"],
                    "consent": event["consent"],
                }
            )
            for conn in list(self.by_room.get(event["room_id"], ())):
                conn.push_frame(frame)
        elif kind == "message_hidden":
            frame = encode(
                {
                    "type": "message_hidden",
                    "room_id": event["room_id"],
                    "seq": event["seq"],
                    "rule": event["rule"],
                }
            )
            for conn in list(self.by_room.get(event["room_id"], ())):
                conn.push_frame(frame)
        elif kind == "session_changed":
            # Only a nudge: each reader fetches the state their role may see.
            frame = encode({"type": "session_changed", "room_id": event["room_id"]})
            for conn in list(self.by_room.get(event["room_id"], ())):
                conn.push_frame(frame)
        elif kind == "sanction_given":
            frame = encode({"type": "sanction", "sanction": event["sanction"]})
            for conn in list(self.by_user.get(event["user_id"], ())):
                conn.push_frame(frame)
        elif kind == "filters_changed":
            for conn in list(self.by_user.get(event["user_id"], ())):
                conn.reader = Reader(
                    conn.user_id,
                    False,
                    event["modes"],
                    muted_pattern(event["muted_words"]),
                    frozenset(event["blocked"]),
                )
                conn.push_frame({"type": "filters_changed"})
        elif kind == "flag_raised":
            self._flag_raised(event)
        elif kind == "flag_updated":
            # The group's facilitators, and admins: they may hold an alert for it from a
            # time when no facilitator was online, and should see it picked up.
            frame = encode({"type": "flag_updated", "flag": event["flag"]})
            admins_only = bool(event["flag"].get("for_admins"))
            for conn in self._facilitators_of(event["group_id"], admins=True):
                if conn.is_admin or not admins_only:
                    conn.push_frame(frame)
        elif kind == "break_changed":
            for conn in list(self.by_user.get(event["user_id"], ())):
                conn.break_changes += 1
                for rid in event["room_ids"]:
                    if event["on_break"]:
                        conn.paused.add(rid)
                    elif rid in conn.paused:
                        conn.paused.discard(rid)
                        conn.push_resync(rid)
        elif kind == "facilitators_online":
            for gid in event["group_ids"]:
                self._spawn(self._announce_online(gid))
        elif kind == "sessions_ended":
            for sid in event["session_ids"]:
                for conn in list(self.by_session.get(sid, ())):
                    conn.close_soon(4001)

    def _message_posted(self, event: dict[str, Any]) -> None:
        conns = self.by_room.get(event["room_id"])
        if not conns:
            return
        message = event["message"]
        seq = message["seq"]
        group_id = event.get("group_id")
        author_id = event["author_id"]
        # Encoded once per shape, not once per recipient: the author's (with client_id),
        # and each shape a reader's filters give it (reading/shaping.py).
        own = encode({"type": "message", "message": message, "client_id": event["client_id"]})
        encoded: dict[Shape, str] = {}
        for conn in list(conns):
            if conn.user_id == author_id:
                text = own
            else:
                reader = conn.reader.for_group(group_id in conn.facilitates)
                shape = shape_of(message, author_id, reader)
                text = encoded.get(shape) or encoded.setdefault(
                    shape, encode({"type": "message", "message": apply(message, shape)})
                )
            conn.push_message(event["room_id"], seq, text)

    def _facilitators_of(self, group_id: int, admins: bool = False) -> list[Connection]:
        return [
            conn
            for conns in self.by_user.values()
            for conn in conns
            if group_id in conn.facilitates or (admins and conn.is_admin)
        ]

    def _flag_raised(self, event: dict[str, Any]) -> None:
        urgent = event["urgent"]
        frame = encode(
            {
                "type": "alert" if urgent else "flag",
                "flag": event["flag"],
                "group_id": event["group_id"],
                "guide": event.get("guide"),
            }
        )
        told = set()
        # A report about one of the group's facilitators reaches the site's admins only.
        if not event["flag"].get("for_admins"):
            for conn in self._facilitators_of(event["group_id"]):
                conn.push_frame(frame)
                told.add(conn)
        if event.get("notify_admins"):
            # Nobody who runs the group is online: the operators hear of it instead.
            for conns in self.by_user.values():
                for conn in conns:
                    if conn.is_admin and conn not in told:
                        conn.push_frame(frame)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce_online(self, group_id: int) -> None:
        if self.count_online is None:
            return
        rooms = [rid for rid, gid in self.room_group.items() if gid == group_id]
        if not any(self.by_room.get(rid) for rid in rooms):
            return
        try:
            online = await self.count_online(group_id) > 0
        except Exception:
            log.warning("could not count the facilitators online")
            return
        if self.online.get(group_id) == online:
            return  # nothing changed: say nothing
        self.online[group_id] = online
        for rid in rooms:
            frame = encode({"type": "facilitators", "room_id": rid, "online": online})
            for conn in list(self.by_room.get(rid, ())):
                conn.push_frame(frame)

    def _membership_changed(self, event: dict[str, Any]) -> None:
        group_id = event.get("group_id")
        for rid in event.get("added", []):
            if group_id is not None:
                self.room_group[rid] = group_id
        for conn in list(self.by_user.get(event["user_id"], ())):
            if group_id is not None and event.get("facilitator"):
                conn.facilitates.add(group_id)
            if group_id is not None and (
                event.get("stepped_down") or (event.get("removed") and not event.get("added"))
            ):
                conn.facilitates.discard(group_id)
            for rid in event.get("added", []):
                if rid not in conn.rooms:
                    conn.rooms[rid] = None
                    self.by_room[rid].add(conn)
                    conn.push_frame({"type": "room_added", "room_id": rid})
            for rid in event.get("removed", []):
                if rid in conn.rooms:
                    del conn.rooms[rid]
                    self._discard(self.by_room, rid, conn)
                    frame: dict[str, Any] = {"type": "room_removed", "room_id": rid}
                    if event.get("reason"):
                        frame["reason"] = event["reason"]
                    conn.push_frame(frame)
