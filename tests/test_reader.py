"""Reading messages in helper processes (safety/reader.py): the same readings as on the
loop, and never a message posted unread, whatever happens to a helper."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from helpers import db_rows, group_with_member, make_client, open_ws
from safespace.safety.reader import InlineReader, ProcessReader, make_reader, read_now
from safespace.settings import Settings

CALM = "We went for a walk by the river today and it helped more than I expected."
WORRYING = "I have the pills ready and I'm going to take them all tonight. Goodbye everyone"
TEXTS = [
    CALM,
    WORRYING,
    "I keep thinking everyone would be better off without me",
    "my dad died last spring and the grief still comes in waves",
    "I used to cut but I've been two years free from self harm",
    'quotes " and back\\slashes, a tab\there,\nand a new line\r\nor two',
    "emoji 🌱 and accents: café, naïve, Ærø; zero\u200bwidth",
    (WORRYING + " ") * 50,  # long: 4,000 characters and more
]


async def ready(reader: ProcessReader, wait: float = 30.0) -> list[int]:
    """Start the helpers and wait until every one has said it is ready."""
    reader.start()
    deadline = time.monotonic() + wait
    while len(reader.pids) < reader.processes:
        assert time.monotonic() < deadline, "the helper processes never became ready"
        await asyncio.sleep(0.02)
    return reader.pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def helpers_of(parent: int) -> list[int]:
    """Running helper processes whose parent is `parent`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == parent and state != "Z" and b"safespace.safety.reader" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
async def reader() -> AsyncIterator[ProcessReader]:
    r = ProcessReader(1, answer_within=1.0, short=0)  # every text goes to the helper
    try:
        yield r
    finally:
        await r.stop()


async def test_a_helper_reads_every_text_as_the_loop_would(reader: ProcessReader) -> None:
    await ready(reader)
    readings = await asyncio.gather(*(reader.read(t) for t in TEXTS))
    assert readings == [read_now(t) for t in TEXTS]
    assert reader.read_here == 0  # all of them came back from the helper
    assert readings[0].assessment.level == "none"
    assert readings[1].assessment.level == "imminent"
    assert "death-grief" in readings[3].topics


async def test_the_first_texts_are_read_while_the_helper_starts() -> None:
    reader = ProcessReader(1, short=0)
    try:
        first = await reader.read(WORRYING)  # nothing started yet: read here, at once
        assert first == read_now(WORRYING) and reader.read_here == 1
        await ready(reader)
        assert await reader.read(WORRYING) == first and reader.read_here == 1
    finally:
        await reader.stop()


async def test_a_helper_killed_loses_no_reading_and_is_replaced(reader: ProcessReader) -> None:
    [first] = await ready(reader)
    os.kill(first, signal.SIGKILL)
    # Whatever is asked while it is dead, or before the server notices, is still read.
    readings = await asyncio.gather(*(reader.read(t) for t in TEXTS))
    assert readings == [read_now(t) for t in TEXTS]
    [second] = await ready(reader)
    assert second != first and not alive(first)
    before = reader.read_here
    assert await reader.read(WORRYING) == read_now(WORRYING)
    assert reader.read_here == before  # the new helper answered


async def test_a_lost_helper_of_two_is_replaced_while_the_other_reads(
    reader: ProcessReader,
) -> None:
    reader.processes = 2
    first, other = await ready(reader)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while first in reader.pids or len(reader.pids) < 2:
        assert time.monotonic() < deadline, "the lost helper was never replaced"
        assert await reader.read(WORRYING) == read_now(WORRYING)  # reading goes on
        await asyncio.sleep(0.05)
    assert other in reader.pids and first not in reader.pids


async def test_a_helper_that_stops_answering_is_read_around_and_replaced(
    reader: ProcessReader,
) -> None:
    [stuck] = await ready(reader)
    os.kill(stuck, signal.SIGSTOP)  # alive, holding its pipe, answering nothing
    try:
        started = time.monotonic()
        reading = await reader.read(WORRYING)
        assert reading.assessment.level == "imminent"
        assert 0.9 < time.monotonic() - started < 10  # read here after answer_within
        assert reader.read_here == 1
        [fresh] = await ready(reader)
        assert fresh != stuck
    finally:
        if alive(stuck):
            os.kill(stuck, signal.SIGCONT)


async def test_short_lines_are_read_on_the_loop_and_longer_texts_by_the_helper() -> None:
    reader = ProcessReader(1, answer_within=2.0)  # the server's own split
    try:
        [helper] = await ready(reader)
        long_text = (WORRYING + " ") * 3
        assert len(CALM) <= reader.short < len(long_text)
        os.kill(helper, signal.SIGSTOP)  # the helper answers nothing now
        try:
            started = time.monotonic()
            assert await reader.read(CALM) == read_now(CALM)
            assert time.monotonic() - started < 1.0  # never asked the helper
            assert await reader.read(long_text) == read_now(long_text)
            assert time.monotonic() - started > 1.9  # waited for it, then read it here
            assert reader.read_here == 1
        finally:
            if alive(helper):
                os.kill(helper, signal.SIGCONT)
    finally:
        await reader.stop()


async def test_stopping_ends_every_helper(reader: ProcessReader) -> None:
    reader.processes = 2
    pids = await ready(reader)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    await reader.stop()
    assert reader.pids == [] and not any(alive(p) for p in pids)
    assert await reader.read(CALM) == read_now(CALM)  # a straggler is still read


async def test_stopping_while_a_helper_starts_leaves_none_behind() -> None:
    reader = ProcessReader(1, short=0)
    reader.start()
    await asyncio.sleep(0.05)  # spawned, not yet ready
    await reader.stop()
    await asyncio.sleep(0.2)
    assert helpers_of(os.getpid()) == []


def test_the_helper_skips_lines_it_cannot_read_and_answers_the_rest() -> None:
    lines = b"not json\n[1, 2]\n" + orjson.dumps({"id": 7, "texts": [CALM, WORRYING]}) + b"\n"
    done = subprocess.run(
        [sys.executable, "-m", "safespace.safety.reader"],
        input=lines,
        capture_output=True,
        timeout=60,
        check=True,
    )
    out = done.stdout.splitlines()
    assert out[0] == b"ready" and len(out) == 2
    answer = orjson.loads(out[1])
    assert answer["id"] == 7
    assert [item[0] for item in answer["read"]] == ["none", "imminent"]
    assert done.stderr == b""  # and it says nothing of what it read


def test_how_many_helpers_is_a_setting() -> None:
    assert Settings.from_env({}).readers is None  # one where there is a second CPU
    assert Settings.from_env({"SAFESPACE_READERS": "auto"}).readers is None
    assert Settings.from_env({"SAFESPACE_READERS": "3"}).readers == 3
    assert isinstance(make_reader(0), InlineReader)
    assert isinstance(make_reader(2), ProcessReader)
    for bad in ("-1", "two", "99"):
        with pytest.raises(ValueError, match="SAFESPACE_READERS"):
            Settings.from_env({"SAFESPACE_READERS": bad})


def test_auto_starts_no_helper_where_the_process_may_use_one_cpu() -> None:
    """A container's cpuset, or taskset, can leave a process one CPU on a bigger machine."""
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from safespace.safety.reader import default_processes; print(default_processes())"
    )
    pinned = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert pinned.stdout.strip() == "0"


async def test_a_worrying_message_posted_through_a_helper_alerts_the_facilitator(
    make_server,
) -> None:
    server = await make_server(readers=1)
    reader = server.svc.reader
    assert isinstance(reader, ProcessReader)
    await ready(reader)
    async with make_client(server.url) as client:
        fac, group, alice = await group_with_member(server, client)
        fac_ws = await open_ws(server, fac.token)
        alice_ws = await open_ws(server, alice.token)
        worrying = WORRYING + ". I'm sorry for everything, please don't be sad about it."
        assert len(worrying) > reader.short  # long enough to go to the helper
        ack = await alice_ws.send_for_ack(group["room_id"], worrying)
        assert ack["check_in"] == "imminent"
        kinds = []
        while "alert" not in kinds:
            kinds.append((await fac_ws.recv(5)).get("type"))
        flags = await db_rows(server, "SELECT level FROM flags")
        assert [tuple(f) for f in flags] == [("imminent",)]
        assert reader.read_here == 0  # read by the helper, not on the loop
        await fac_ws.close()
        await alice_ws.close()
