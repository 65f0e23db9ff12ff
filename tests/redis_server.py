"""A private redis-server on a free port, for tests that stop and restart Redis.

Nothing is saved to disk (--save "" --appendonly no), so a restart starts empty, as a
Redis that crashed without persistence would. Under CI=true a missing redis-server fails
the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from subprocesses import binary, end_process, free_port

START_TIMEOUT = 15.0


def redis_server_binary() -> str:
    return binary("redis-server", "/usr/bin/redis-server", "these tests start their own Redis")


class RedisServer:
    """`start()`, `kill()` (SIGKILL, as a crash) and `start()` again on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_tail()}")
            client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
            try:
                if await client.ping():
                    return
            except Exception:  # not listening yet
                pass
            finally:
                await client.aclose()
            if loop.time() > deadline:
                raise RuntimeError(f"redis-server not ready in {START_TIMEOUT} s")
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL, and wait until it has gone."""
        if self.proc is None:
            return
        self.proc.kill()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while self.proc.poll() is None:
            if loop.time() > deadline:
                raise RuntimeError("redis-server did not die")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        """For finally blocks: ends the server whatever state it is in."""
        end_process(self.proc, kill=True)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
