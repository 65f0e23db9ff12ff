"""The response guide facilitators see with an alert. Operators may replace the file."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


@cache
def escalation_guide(path: str = "") -> dict[str, Any]:
    text = (
        Path(path).read_text()
        if path
        else resources.files(__package__).joinpath("escalation.json").read_text()
    )
    data: dict[str, Any] = json.loads(text)
    return data
