"""What the server logs holds no password, token, recovery code or message text."""

from __future__ import annotations

import logging
import re

import pytest

from helpers import (
    create_group,
    join,
    login,
    make_client,
    open_ws,
    post,
    privileged,
    signup,
)

# The test's own HTTP and websocket clients log what they send; that is not the server's log.
CLIENT_LOGGERS = ("httpx", "httpcore", "websockets.client", "hpack")
# `safespace serve` turns uvicorn's access log off; records only reach it here because
# pytest's capture handler is attached to that logger as well.
NOT_IN_PRODUCTION = ("uvicorn.access",)
_PLAIN = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


def _ours(record: logging.LogRecord) -> bool:
    return not any(
        record.name == n or record.name.startswith(n + ".")
        for n in CLIENT_LOGGERS + NOT_IN_PRODUCTION
    )


def rendered(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.extend(repr(v) for k, v in vars(record).items() if k not in _PLAIN)  # extra=...
    return "\n".join(parts)


async def test_no_secrets_or_message_text_in_logs(
    make_server, caplog: pytest.LogCaptureFixture
) -> None:
    # DEBUG everywhere, from before the app exists, as an operator chasing a problem might
    # run it (libraries decide what they log when they are set up).
    caplog.set_level(logging.DEBUG)
    server = await make_server()
    password = "violet-thunder-orchard-77"
    new_password = "amber-lantern-harbour-3"
    http_text = "xyzzy-http-secret"
    ws_text = "plugh-ws-secret"

    async with make_client(server.url) as client:
        fac = await privileged(server)
        group = await create_group(client, fac)
        member = await signup(client, "log_watcher", password)
        token = await login(client, member, password)
        await join(client, member, group)
        await post(client, member, group["room_id"], f"I haven't told anyone this: {http_text}")
        listener = await open_ws(server, fac.token)
        ws = await open_ws(server, token, resume={group["room_id"]: 0})
        await ws.send_message(group["room_id"], f"Only the group should read: {ws_text}")
        await listener.expect("message")
        r = await client.post(
            "/api/v1/auth/recover",
            json={
                "username": member.username,
                "recovery_code": member.recovery_codes[0],
                "new_password": new_password,
            },
        )
        assert r.status_code == 200
        await ws.wait_closed()
        await listener.close()

    records = [r for r in caplog.records if _ours(r)]
    assert any(r.name.startswith("uvicorn") for r in records), "caplog saw no server records"
    secrets = {
        "password": password,
        "new password": new_password,
        "sign-up token": member.token,
        "login token": token,
        "facilitator token": fac.token,
        "recovery code": member.recovery_codes[0],
        "message text (HTTP)": http_text,
        "message text (websocket)": ws_text,
    }
    leaks = [
        f"{what} in a {r.name} record: {rendered(r)[:200]!r}"
        for r in records
        for what, secret in secrets.items()
        if secret in rendered(r)
    ]
    assert not leaks, "\n".join(leaks)

    # Nor any client's address: the only 127.0.0.1:PORT allowed is the server's own.
    for r in records:
        for port in re.findall(r"127\.0\.0\.1'?[:,] ?(\d+)", rendered(r)):
            assert int(port) == server.port, f"a client address in {r.name}: {r.getMessage()!r}"
