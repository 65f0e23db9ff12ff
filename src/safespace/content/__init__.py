"""The product's own words: vision, FAQ, guidelines and demo groups, loaded from JSON."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> Any:
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())


def default_group_rules() -> list[str]:
    return list(load("guidelines")["default_group_rules"])
