"""Fan-out between processes: one interface, an in-process and a Redis implementation."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


class Broker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, event: dict[str, Any]) -> None: ...
    def subscribe(self, handler: Handler) -> None: ...


class MemoryBroker:
    """Delivers to this process only, synchronously and in publish order."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: dict[str, Any]) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:  # one bad handler must not stop the others
                log.exception("event handler failed")


class RedisBroker:
    """Redis pub/sub: every process receives every event and delivers to its own sockets.

    Pub/sub loses what is published while a process is disconnected; that is safe because
    clients fill any gap from the database by seq when they resume.
    """

    def __init__(self, url: str, channel: str) -> None:
        import redis.asyncio as redis

        self.channel = channel
        self._redis = redis.Redis.from_url(url)
        self._handlers: list[Handler] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._redis.aclose()

    async def publish(self, event: dict[str, Any]) -> None:
        try:
            await self._redis.publish(self.channel, orjson.dumps(event))
        except Exception:
            # The write is committed; receivers catch up from the database on resume.
            log.warning("could not publish an event to Redis; clients will catch up on resume")

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self.channel)
                self._ready.set()
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    event = orjson.loads(item["data"])
                    for handler in self._handlers:
                        try:
                            handler(event)
                        except Exception:
                            log.exception("event handler failed")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("lost the Redis connection; retrying in 1 s")
                await asyncio.sleep(1)


def channel_for(database_url: str) -> str:
    """Pub/sub ignores Redis database numbers: name the channel after the deployment's
    database, so two deployments sharing a Redis server never see each other's events."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return f"safespace:{digest}:events"


def make_broker(redis_url: str, database_url: str) -> Broker:
    return RedisBroker(redis_url, channel_for(database_url)) if redis_url else MemoryBroker()
