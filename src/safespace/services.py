"""The long-lived things every action and query needs, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safespace.clock import Clock
from safespace.db.engine import Database
from safespace.db.migrate import upgrade
from safespace.events.broker import Broker, make_broker
from safespace.privacy.keys import Keyring
from safespace.privacy.keystore import KeyStore
from safespace.ratelimit import Limiter, make_limiter
from safespace.safety.reader import Reader, default_processes, make_reader
from safespace.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    broker: Broker
    clock: Clock
    keys: KeyStore
    limits: Limiter
    reader: Reader  # reads each message for risk and topics before it is stored
    posting: Any = None  # this process's group commit (actions/posting.py), made on first use


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    db = Database(settings)
    keyring = Keyring.load_or_create(settings.data_dir, settings.master_key)
    clock = clock or Clock()
    return Services(
        settings=settings,
        db=db,
        broker=make_broker(settings.redis_url, settings.resolved_database_url),
        clock=clock,
        keys=KeyStore(settings.resolved_keys_database_url, keyring),
        limits=make_limiter(settings, clock),
        reader=make_reader(default_processes() if settings.readers is None else settings.readers),
    )


async def start(svc: Services) -> None:
    """Migrate, open the key store and connect the broker (subscribe handlers first)."""
    await upgrade(svc.db.write_engine)
    await svc.keys.setup()
    await svc.broker.start()


async def stop(svc: Services) -> None:
    await svc.reader.stop()
    await svc.broker.stop()
    await svc.limits.stop()
    await svc.keys.dispose()
    await svc.db.dispose()
