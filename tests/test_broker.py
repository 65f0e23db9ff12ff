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


async def _until(received: list[dict[str, Any]], predicate: Any, wait: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        if predicate(received):
            return True
        await asyncio.sleep(0.02)
    return predicate(received)  # type: ignore[no-any-return]


async def test_every_process_gets_every_process_s_events_in_each_publisher_s_order() -> None:
    """Two processes publishing at once: each subscriber of each gets all of both, and
    each publisher's events in the order it published them."""
    url = f"sqlite:///{uuid.uuid4().hex}"
    one, two = await _make("redis", url), await _make("redis", url)
    seen: dict[str, list[dict[str, Any]]] = {"one": [], "two": []}
    one.subscribe(seen["one"].append)
    two.subscribe(seen["two"].append)
    for broker in (one, two):
        await broker.start()
    try:

        async def publish(broker: Any, origin: str) -> None:
            for i in range(40):
                await broker.publish({"kind": "test", "from": origin, "n": i})

        await asyncio.gather(publish(one, "one"), publish(two, "two"))
        for got in seen.values():
            assert await _until(got, lambda r: len(r) >= 80), len(got)
            assert len(got) == 80
            for origin in ("one", "two"):
                assert [e["n"] for e in got if e["from"] == origin] == list(range(40))
    finally:
        for broker in (one, two):
            await broker.stop()


@pytest.mark.timeout(60)
async def test_the_redis_broker_reconnects_after_redis_restarts(tmp_path: Any) -> None:
    """A Redis that crashes and comes back: publishing meanwhile neither raises nor
    blocks (what is lost is filled from the database on resume), and both publishers and
    subscribers work again without being restarted."""
    from redis_server import RedisServer

    server = RedisServer(tmp_path)
    url = f"sqlite:///{uuid.uuid4().hex}"
    publisher = RedisBroker(server.url, channel_for(url))
    subscriber = RedisBroker(server.url, channel_for(url))
    got: list[dict[str, Any]] = []
    subscriber.subscribe(got.append)
    try:
        await server.start()
        await publisher.start()
        await subscriber.start()
        await publisher.publish({"kind": "test", "n": 0})
        assert await _until(got, lambda r: len(r) >= 1), got

        await server.kill()
        await asyncio.wait_for(publisher.publish({"kind": "test", "n": 1}), 10)  # no raise
        await server.start()

        # Pub/sub keeps nothing: publish until the subscriber is back, then in order again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        n = 2
        while not any(e["n"] >= 2 for e in got):
            assert loop.time() < deadline, f"no event after the restart: {got}"
            await publisher.publish({"kind": "test", "n": n})
            n += 1
            await asyncio.sleep(0.1)
        first_back = max(e["n"] for e in got)
        for i in range(n, n + 20):
            await publisher.publish({"kind": "test", "n": i})
        assert await _until(got, lambda r: r[-1]["n"] == n + 19), got[-5:]
        after = [e["n"] for e in got if e["n"] > first_back]
        assert after == list(range(first_back + 1, n + 20))
    finally:
        await publisher.stop()
        await subscriber.stop()
        server.stop()
