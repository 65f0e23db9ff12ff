"""What the tests that start servers of their own (redis-server, nginx, `safespace serve`)
share: whether this is CI, a free port, and ending a process from a finally block."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess

import pytest

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def binary(name: str, fallback: str, needed_for: str) -> str:
    """The program's path; if it isn't installed, the test skips, or fails under CI."""
    found = shutil.which(name) or (fallback if os.access(fallback, os.X_OK) else None)
    if found is None:
        reason = f"{needed_for}, and {name} is not installed"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def end_process(proc: subprocess.Popen[bytes] | None, *, kill: bool = False) -> None:
    """SIGTERM (or SIGKILL at once), then SIGKILL if it hasn't gone within 10 s."""
    if proc is None or proc.poll() is not None:
        return
    if kill:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
