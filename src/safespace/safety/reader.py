"""Reading a message before it is stored: its risk (safety/assess.py) and the
content-warning topics it touches (reading/categories.py), partly off the event loop.

Reading is mostly plain Python: about 0.04 ms for a chat line and 2 ms for the longest post
allowed (docs/performance.md, changes 30 and 31), time in which one process's loop
serves no other socket. So a server with more than one CPU reads texts longer than
SHORT in helper processes of its own: those that arrive in the same turn of the loop go
together as one line of JSON on a pipe, and come back the same way. Shorter ones are
read on the loop, where they cost about what the trip would. The text never leaves the
machine, and a helper writes nothing anywhere else: it has no database, no network and
no log of what it read.

A message is never posted unread: if a helper dies, hangs or answers nonsense, the texts
it held are read on the loop instead, as with no helper at all, and a new helper is
started for what comes next (docs/architecture.md, "Safety on the message path").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

import orjson

from safespace.reading.categories import detect_topics
from safespace.safety.assess import Assessment, Level, assess, prepare

log = logging.getLogger(__name__)

ANSWER_WITHIN = 5.0  # seconds before a helper's texts are read on the loop instead
RESTARTS = 5  # helpers that may end unasked within RESTART_WINDOW before we stop starting them
RESTART_WINDOW = 60.0
MAX_HELD = 256  # texts a helper may hold unanswered; more are read on the loop
# Up to this many characters a text is read on the loop all the same: a chat line of 100
# characters takes about 0.04 ms to read there, and its trip to a helper and back would
# cost the loop 0.06 ms, and the machine more (docs/performance.md).
SHORT = 100


@dataclass(frozen=True, slots=True)
class Reading:
    assessment: Assessment
    topics: list[str]


def read_now(body: str) -> Reading:
    """Read one text here and now, on the caller's thread."""
    prepared = prepare(body)
    return Reading(assess(body, prepared), detect_topics(body, prepared))


def _as_json(reading: Reading) -> list[Any]:
    a = reading.assessment
    return [a.level, list(a.signals), a.method_detail, reading.topics]


def _from_json(item: Any) -> Reading:
    level, signals, method_detail, topics = item
    if level not in ("none", "elevated", "imminent"):
        raise ValueError("not a level")
    if not all(isinstance(t, str) for t in [*signals, *topics]):
        raise ValueError("not names")
    return Reading(
        Assessment(cast(Level, level), tuple(signals), method_detail is True), list(topics)
    )


class Reader(Protocol):
    async def read(self, body: str) -> Reading: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class InlineReader:
    """Reads on the loop: one CPU, or SAFESPACE_READERS=0."""

    async def read(self, body: str) -> Reading:
        return read_now(body)

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class _Request:
    texts: list[str]
    waiting: list[asyncio.Future[Reading]]
    timer: asyncio.TimerHandle | None = None


class _Helper:
    """One child process and the requests it holds, by id."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.held: dict[int, _Request] = {}
        self.texts = 0  # in the requests held
        self.listener: asyncio.Task[None] | None = None

    def give_back(self) -> None:
        """Every text it holds is read on the loop instead."""
        for request in self.held.values():
            if request.timer is not None:
                request.timer.cancel()
            _read_here(request)
        self.held.clear()
        self.texts = 0


class ProcessReader:
    """Reads in `processes` helper processes (python -m safespace.safety.reader).

    Texts longer than `short` go to a helper; a request goes to the one holding the fewest.
    Helpers start with the server (start) or at the first read, and what comes before
    they are ready is read on the loop."""

    def __init__(
        self, processes: int, answer_within: float = ANSWER_WITHIN, short: int = SHORT
    ) -> None:
        self.processes = processes
        self.answer_within = answer_within
        self.short = short
        self._helpers: list[_Helper] = []
        self._starting: asyncio.Task[None] | None = None
        self._queued: list[tuple[str, asyncio.Future[Reading]]] = []
        self._flush_soon = False
        self._next_id = 0
        self._ended: list[float] = []  # when helpers ended unasked, for RESTARTS
        self._stopping = False
        self._reaping: set[asyncio.Task[None]] = set()  # retired helpers, being waited for
        self.read_here = 0  # longer texts read on the loop instead (tests, bench)

    @property
    def pids(self) -> list[int]:
        return [h.proc.pid for h in self._helpers]

    async def read(self, body: str) -> Reading:
        if len(body) <= self.short:
            return read_now(body)
        if not self._helpers:
            self._start_soon()
            self.read_here += 1
            return read_now(body)
        future: asyncio.Future[Reading] = asyncio.get_running_loop().create_future()
        self._queued.append((body, future))
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)
        try:
            return await future
        except _ReadHere:
            self.read_here += 1
            return read_now(body)

    def _flush(self) -> None:
        self._flush_soon = False
        queued, self._queued = self._queued, []
        queued = [(text, f) for text, f in queued if not f.done()]
        if not queued:
            return
        if not self._helpers:
            for _, future in queued:
                future.set_exception(_ReadHere())
            return
        helper = min(self._helpers, key=lambda h: h.texts)
        if helper.texts + len(queued) > MAX_HELD:
            # Every helper is behind (a burst of long messages): these are read here now
            # rather than wait in a pipe.
            for _, future in queued:
                future.set_exception(_ReadHere())
            return
        self._next_id += 1
        rid = self._next_id
        request = _Request([t for t, _ in queued], [f for _, f in queued])
        line = orjson.dumps({"id": rid, "texts": request.texts}) + b"\n"
        stdin = helper.proc.stdin
        if stdin is None or stdin.is_closing():
            _read_here(request)
            return
        helper.held[rid] = request
        helper.texts += len(request.texts)
        request.timer = asyncio.get_running_loop().call_later(
            self.answer_within, self._too_slow, helper, rid
        )
        stdin.write(line)

    def _too_slow(self, helper: _Helper, rid: int) -> None:
        if rid not in helper.held:
            return
        log.warning("a reader process took over %.0f s to answer; replacing it", self.answer_within)
        self._ended.append(time.monotonic())
        self._retire(helper)  # reads what it held here, this request among them

    def _start_soon(self) -> None:
        if self._stopping or self._starting is not None:
            return
        now = time.monotonic()
        self._ended = [t for t in self._ended if now - t < RESTART_WINDOW]
        if len(self._ended) >= RESTARTS:
            return  # something keeps killing them: read here rather than churn
        self._starting = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        try:
            while len(self._helpers) < self.processes and not self._stopping:
                self._helpers.append(await _spawn(self._listen))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not start a reader process; reading on the loop", exc_info=True)
            self._ended.append(time.monotonic())
        finally:
            self._starting = None

    def start(self) -> None:
        """Start the helpers now (a server starting), not at the first message."""
        self._start_soon()

    async def _listen(self, helper: _Helper) -> None:
        stdout = helper.proc.stdout
        assert stdout is not None
        try:
            while True:
                line = await stdout.readline()
                if not line:
                    break
                self._answered(helper, line)
        except (asyncio.LimitOverrunError, ValueError, ConnectionError):
            log.warning("a reader process answered something unreadable; replacing it")
        finally:
            if helper in self._helpers and not self._stopping:
                log.warning("a reader process ended; its texts are read on the loop")
                self._ended.append(time.monotonic())
                self._retire(helper)

    def _answered(self, helper: _Helper, line: bytes) -> None:
        try:
            answer = orjson.loads(line)
            request = helper.held.pop(answer["id"], None)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("a reader process answered something unreadable")
            return
        if request is None:
            return  # already read here after a timeout
        helper.texts -= len(request.texts)
        if request.timer is not None:
            request.timer.cancel()
        try:
            readings = [_from_json(item) for item in answer["read"]]
            if len(readings) != len(request.waiting):
                raise ValueError("one reading per text")
        except (KeyError, TypeError, ValueError):
            # The helper could not read one of them (it says so with "read": null): each is
            # read here, where the same failure surfaces as it would with no helper.
            _read_here(request)
            return
        for future, reading in zip(request.waiting, readings, strict=True):
            if not future.done():
                future.set_result(reading)

    def _retire(self, helper: _Helper) -> None:
        """Take a helper out of service: what it holds is read here; it is stopped."""
        if helper in self._helpers:
            self._helpers.remove(helper)
        helper.give_back()
        with contextlib.suppress(ProcessLookupError):
            helper.proc.kill()
        if helper.listener is not None and helper.listener is not asyncio.current_task():
            helper.listener.cancel()
        reaping = asyncio.get_running_loop().create_task(_reap(helper.proc))
        self._reaping.add(reaping)
        reaping.add_done_callback(self._reaping.discard)
        self._start_soon()  # a replacement; the loop reads meanwhile

    async def stop(self) -> None:
        self._stopping = True
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.give_back()
            if helper.proc.stdin is not None:
                helper.proc.stdin.close()  # the helper ends at the end of its input
        for helper in helpers:
            try:
                await asyncio.wait_for(helper.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    helper.proc.kill()
            await _reap(helper.proc)
            if helper.listener is not None:
                helper.listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper.listener
        await asyncio.gather(*self._reaping)


class _ReadHere(Exception):
    """Raised into a reader's wait: read the text on the loop instead."""


def _read_here(request: _Request) -> None:
    for future in request.waiting:
        if not future.done():
            future.set_exception(_ReadHere())


async def _spawn(listen: Callable[[_Helper], Coroutine[Any, Any, None]]) -> _Helper:
    """A helper process, started and ready to read (it says so first)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "safespace.safety.reader",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 24,
    )
    try:
        assert proc.stdout is not None
        ready = await asyncio.wait_for(proc.stdout.readline(), 60)
        if ready != b"ready\n":
            raise RuntimeError("a reader process did not start")
    except BaseException:  # not ready, or stopped meanwhile: don't leave it running
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(_reap(proc))
        raise
    helper = _Helper(proc)
    helper.listener = asyncio.create_task(listen(helper))
    return helper


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Wait for a helper that was told to end or killed, then let go of its pipes: asyncio
    keeps an ended child's transport open until the collector finds it, and closing it
    then, once the loop has closed, fails."""
    with contextlib.suppress(Exception):
        await proc.wait()
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


def make_reader(processes: int) -> Reader:
    return ProcessReader(processes) if processes > 0 else InlineReader()


def default_processes() -> int:
    """One helper where there is a second CPU for it; none on one CPU, where a helper
    would only add the trip through the pipe. The CPUs this process may run on, which a
    container's cpuset can make fewer than the machine's."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 1 if (usable or 1) > 1 else 0


# --------------------------------------------------------------------------- the helper


def main() -> None:
    """The helper process: a request per line on stdin, an answer per line on stdout,
    until stdin ends. Nothing is written anywhere else."""
    # Ctrl-C in a terminal, or systemd's SIGTERM, reaches the whole group of processes:
    # the server should stop first and close our input, which ends us (or die, which
    # closes it too), so a server still shutting down never finds its helper gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            request = orjson.loads(line)
            rid = request["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # not from the server; nothing to answer
        try:
            read: list[Any] | None = [_as_json(read_now(text)) for text in request["texts"]]
        except Exception:
            read = None  # the server reads them itself, and meets the failure there
        out.write(orjson.dumps({"id": rid, "read": read}) + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
