"""The long-lived things every action and query needs, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from safespace.clock import Clock
from safespace.db.engine import Database
from safespace.events.broker import Broker
from safespace.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    broker: Broker
    clock: Clock
