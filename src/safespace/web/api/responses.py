"""Answers encoded straight to JSON.

FastAPI walks a returned dict with `jsonable_encoder` before encoding it: for a page of 50
messages that walk cost more than reading and decrypting them. Routes whose answers are
already plain JSON types (str, int, bool, None, lists and dicts of them) return `FastJSON`
instead, which orjson encodes in one call."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
