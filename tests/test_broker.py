"""The broker contract, run over the in-process broker and Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest

from safespace.events.broker import MemoryBroker, RedisBroker, channel_for

REDIS_URL = os.environ.get("SAFESPACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Redis at {REDIS_URL}")
        pytest.skip(f"no Redis at {REDIS_URL}")


async def _make(kind: str, database_url: str) -> Any:
    if kind == "memory":
        return MemoryBroker()
    _redis_or_skip()
    return RedisBroker(REDIS_URL, channel_for(database_url))


async def _collect(received: list[dict[str, Any]], count: int) -> None:
    for _ in range(200):
        if len(received) >= count:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_every_subscriber_gets_every_event_in_publish_order(kind: str) -> None:
    broker = await _make(kind, f"sqlite:///{uuid.uuid4().hex}")
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    broker.subscribe(first.append)
    broker.subscribe(second.append)
    await broker.start()
    try:
        events = [{"kind": "test", "n": i} for i in range(50)]
        for event in events:
            await broker.publish(event)
        await _collect(second, 50)
        assert first == events
        assert second == events
    finally:
        await broker.stop()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_failing_handler_does_not_stop_the_others(kind: str) -> None:
    broker = await _make(kind, f"sqlite:///{uuid.uuid4().hex}")
    got: list[dict[str, Any]] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    broker.subscribe(broken)
    broker.subscribe(got.append)
    await broker.start()
    try:
        await broker.publish({"kind": "test", "n": 1})
        await _collect(got, 1)
        assert got == [{"kind": "test", "n": 1}]
    finally:
        await broker.stop()


async def test_deployments_sharing_a_redis_server_never_see_each_others_events() -> None:
    ours_url, theirs_url = f"sqlite:///{uuid.uuid4().hex}", f"sqlite:///{uuid.uuid4().hex}"
    ours = await _make("redis", ours_url)
    ours_too = await _make("redis", ours_url)
    theirs = await _make("redis", theirs_url)
    seen_ours: list[dict[str, Any]] = []
    seen_theirs: list[dict[str, Any]] = []
    ours_too.subscribe(seen_ours.append)
    theirs.subscribe(seen_theirs.append)
    for broker in (ours, ours_too, theirs):
        await broker.start()
    try:
        await ours.publish({"kind": "message_posted", "room_id": 1})
        await _collect(seen_ours, 1)
        await asyncio.sleep(0.2)
        assert seen_ours == [{"kind": "message_posted", "room_id": 1}]
        assert seen_theirs == []
    finally:
        for broker in (ours, ours_too, theirs):
            await broker.stop()
