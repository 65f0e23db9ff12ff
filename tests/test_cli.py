"""The `safespace` command: users, demo, migrate and serve, each on an empty database."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, assert_error, make_client, open_ws
from safespace.settings import Settings

SAFESPACE = Path(sys.executable).with_name("safespace")


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def cli_env(db_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFESPACE_")}
    return env | db_env


async def run_cli(db_env: dict[str, str], *args: str, stdin: str = "") -> Result:
    proc = await asyncio.create_subprocess_exec(
        str(SAFESPACE),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(db_env),
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def settings_for(db_env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(db_env["SAFESPACE_DATA_DIR"]),
        database_url=db_env.get("SAFESPACE_DATABASE_URL", ""),
    )


def test_the_command_is_installed() -> None:
    assert SAFESPACE.exists(), f"no console script at {SAFESPACE}"


async def test_users_create_on_an_empty_database_then_sign_in(
    empty_database: dict[str, str], make_server
) -> None:
    result = await run_cli(
        empty_database,
        "users",
        "create",
        "Helper_One",
        "--role",
        "facilitator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.code == 0, result
    assert "Helper_One" in result.out and "facilitator" in result.out
    codes = re.findall(r"\b[0-9a-z]{4}(?:-[0-9a-z]{4}){5}\b", result.out)
    assert len(codes) == 10, result
    assert PASSWORD not in result.out + result.err

    # the same name again, or a weak password, is refused with a message and no traceback
    again = await run_cli(
        empty_database,
        "users",
        "create",
        "helper_one",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert again.code != 0 and "taken" in again.err.lower() and "Traceback" not in again.err
    weak = await run_cli(
        empty_database, "users", "create", "someone_else", "--password-stdin", stdin="password\n"
    )
    assert weak.code != 0 and "Traceback" not in weak.err

    server = await make_server(settings_for(empty_database))
    async with make_client(server.url) as client:
        r = await client.post(
            "/api/v1/auth/login", json={"username": "helper_one", "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        user, token = r.json()["user"], r.json()["token"]
        assert user["username"] == "Helper_One" and user["role"] == "facilitator"
        headers = {"Authorization": f"Bearer {token}"}
        r = await client.post(
            "/api/v1/groups",
            json={"name": "Made by the CLI user", "description": "It works."},
            headers=headers,
        )
        assert r.status_code == 201
        # a recovery code printed by the command works once
        r = await client.post(
            "/api/v1/auth/recover",
            json={
                "username": "Helper_One",
                "recovery_code": codes[0],
                "new_password": "printed-codes-work-too",
            },
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            "/api/v1/auth/login", json={"username": "someone_else", "password": "password"}
        )
        assert_error(r, 401)


async def test_demo_is_idempotent_and_prints_the_facilitator(
    empty_database: dict[str, str], make_server
) -> None:
    first = await run_cli(empty_database, "demo")
    assert first.code == 0, first
    match = re.search(r"Demo facilitator: (\S+) / password: (\S+)", first.out)
    assert match, first
    facilitator, password = match.groups()
    groups_line = re.search(r"Demo groups: (.+)", first.out)
    assert groups_line, first
    slugs = [s.strip() for s in groups_line.group(1).split(",")]
    assert len(slugs) >= 3

    second = await run_cli(empty_database, "demo")
    assert second.code == 0, second
    assert facilitator in second.out
    assert re.search(r"Demo groups: (.+)", second.out).group(1).split(", ") == slugs  # type: ignore[union-attr]

    server = await make_server(settings_for(empty_database))
    async with make_client(server.url) as client:
        r = await client.get("/api/v1/groups", params={"sort": "name"})
        listed = r.json()["groups"]
        assert sorted(g["slug"] for g in listed) == sorted(slugs)  # nothing doubled
        r = await client.post(
            "/api/v1/auth/login", json={"username": facilitator, "password": password}
        )
        assert r.status_code == 200, r.text
        assert r.json()["user"]["role"] == "facilitator"
        token = r.json()["token"]
        # the facilitator runs the demo groups; their sample talk was loaded once
        group = (await client.get(f"/api/v1/groups/{slugs[0]}")).json()["group"]
        assert group["member_count"] >= 2
        r = await client.get(
            f"/api/v1/rooms/{group['room_id']}/messages",
            headers={"Authorization": f"Bearer {token}"},
        )
        seqs = [m["seq"] for m in r.json()["messages"]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert len({m["body"] for m in r.json()["messages"]}) == len(seqs)


async def test_migrate_on_an_empty_database(empty_database: dict[str, str], make_server) -> None:
    result = await run_cli(empty_database, "migrate")
    assert result.code == 0, result
    again = await run_cli(empty_database, "migrate")
    assert again.code == 0, again
    server = await make_server(settings_for(empty_database))
    async with make_client(server.url) as client:
        assert (await client.get("/api/v1/groups")).json() == {"groups": []}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(60)
async def test_serve_on_an_empty_database(empty_database: dict[str, str]) -> None:
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        str(SAFESPACE),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(empty_database),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with make_client(base) as client:
            for _ in range(200):
                try:
                    r = await client.get("/healthz")
                    if r.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.returncode is None, "safespace serve exited"
                await asyncio.sleep(0.05)
            else:
                pytest.fail("safespace serve never became healthy")
            r = await client.post(
                "/api/v1/auth/signup", json={"username": "first_person", "password": PASSWORD}
            )
            assert r.status_code == 201
            token = r.json()["token"]

        class Target:
            ws_url = f"ws://127.0.0.1:{port}/api/v1/ws"

        ws = await open_ws(Target, token)
        assert ws.ready["rooms"] == []
        await ws.close()
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    # it stops cleanly on SIGTERM (uvicorn re-raises the signal once it has shut down) ...
    log = err.decode()
    assert proc.returncode in (0, -signal.SIGTERM), log
    assert "shutdown complete" in log.lower(), log
    # ... and its log names no client address
    assert not re.search(rf"127\.0\.0\.1:(?!{port}\b)\d+", log), log
