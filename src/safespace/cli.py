"""The `safespace` command: serve, migrate, users, demo. It calls actions, never models."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from safespace import services
from safespace.actions import accounts
from safespace.actions.demo import load_demo
from safespace.actions.trending import refresh_trending
from safespace.errors import AppError
from safespace.services import Services, build_services
from safespace.settings import Settings


async def _with_services(work: Callable[[Services], Awaitable[Any]]) -> Any:
    svc = build_services(Settings.from_env())
    try:
        await services.start(svc)  # every command works on an empty or older database
        return await work(svc)
    finally:
        await services.stop(svc)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from safespace.app import create_app
    from safespace.web.socket_protocol import UVICORN_OPTIONS

    settings = Settings.from_env()
    asyncio.run(_with_services(lambda svc: asyncio.sleep(0)))  # migrate before serving
    app = create_app(settings)
    # What exists now (modules, the app, the safety patterns) lives as long as the process.
    # Frozen out of the collector's reach, a full collection scans only what serving made
    # since, not the whole heap (full collections of 10 to 77 ms were logged in a serving
    # process, a pause every live room shares; docs/performance.md, change 22).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        proxy_headers=args.behind_proxy,
        forwarded_allow_ips="127.0.0.1" if args.behind_proxy else None,
        access_log=False,  # access logs would hold addresses and paths of private rooms
        log_level="info",
        **UVICORN_OPTIONS,
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    asyncio.run(_with_services(lambda svc: asyncio.sleep(0)))
    print("Database is up to date.")
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass("Password: ")

    async def work(svc: Services) -> Any:
        return await accounts.sign_up(svc, args.name, password, role=args.role)

    try:
        done = asyncio.run(_with_services(work))
    except AppError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    print(f"Created {done.user.username} ({done.user.role}).")
    print("Recovery codes (shown once; each works one time):")
    for code in done.recovery_codes:
        print(f"  {code}")
    return 0


def cmd_users_role(args: argparse.Namespace) -> int:
    async def work(svc: Services) -> Any:
        from sqlalchemy import select

        from safespace.db.models import User

        # The command line acts as an operator: it borrows the first admin's authority,
        # or a system admin when none exists yet.
        async with svc.db.read() as session:
            admin = await session.scalar(select(User).where(User.role == "admin").limit(1))
        actor = admin or User(id=None, username="system", role="admin")
        return await accounts.set_role(svc, actor, args.name, args.role)

    try:
        user = asyncio.run(_with_services(work))
    except AppError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    print(f"{user.username} is now {user.role}.")
    return 0


def cmd_demo(_: argparse.Namespace) -> int:
    async def work(svc: Services) -> Any:
        result = await load_demo(svc)
        await refresh_trending(svc)
        return result

    result = asyncio.run(_with_services(work))
    print(f"Demo groups: {', '.join(result.groups)}")
    if result.password:
        print(f"Demo facilitator: {result.facilitator} / password: {result.password}")
    else:
        print(f"Demo facilitator: {result.facilitator} (already existed; password unchanged)")
    return 0


def cmd_keys_rotate(_: argparse.Namespace) -> int:
    async def work(svc: Services) -> int:
        ring = svc.keys.keyring
        if ring.path is None:
            # From the environment: the operator put the new key first in
            # SAFESPACE_MASTER_KEY (old ones after it); re-wrap everything under it.
            return await svc.keys.rotate(ring)
        # 1. The file holds the new key and the old: running processes can read both.
        both = ring.with_new_current()
        both.save()
        count = await svc.keys.rotate(both)
        # 2. Every group key is wrapped by the new one now: forget the old.
        both.only_current().save()
        return count

    count = asyncio.run(_with_services(work))
    print(f"Re-wrapped {count} group keys under a new master key.")
    return 0


def cmd_safety_assess(_: argparse.Namespace) -> int:
    from safespace.safety.cli import run_assess

    return run_assess(sys.stdin, sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="safespace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--behind-proxy",
        action="store_true",
        help="trust X-Forwarded-* from a proxy on this machine",
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="create or upgrade the database").set_defaults(func=cmd_migrate)

    users = sub.add_parser("users", help="manage accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create an account")
    create.add_argument("name")
    create.add_argument("--role", choices=["member", "facilitator", "admin"], default="member")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.set_defaults(func=cmd_users_create)
    role = users.add_parser("role", help="grant or remove a role")
    role.add_argument("name")
    role.add_argument("role", choices=["member", "facilitator", "admin"])
    role.set_defaults(func=cmd_users_role)

    sub.add_parser("demo", help="load demo groups (idempotent)").set_defaults(func=cmd_demo)

    safety_cmd = sub.add_parser("safety", help="the local risk assessment").add_subparsers(
        dest="safety_command", required=True
    )
    safety_cmd.add_parser(
        "assess", help="read one message per line on stdin, print one JSON assessment per line"
    ).set_defaults(func=cmd_safety_assess)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(
        dest="keys_command", required=True
    )
    keys.add_parser("rotate", help="re-wrap every group key under a new master key").set_defaults(
        func=cmd_keys_rotate
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
