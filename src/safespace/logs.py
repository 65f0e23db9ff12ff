"""Logging that keeps no addresses, tokens or message text, whatever the level: uvicorn names
the client's IP in its websocket lines, and libraries log frames and SQL parameters at DEBUG."""

from __future__ import annotations

import logging


class ScrubAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket'):
            if isinstance(record.args, tuple) and record.args:
                record.args = ("-", *record.args[1:])
        return True


class DropFrames(logging.Filter):
    """The websockets library inside uvicorn logs every frame at DEBUG ("< TEXT '{...}'"):
    session tokens and message text. Those lines are dropped whatever the log level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno <= logging.DEBUG
            and isinstance(record.msg, str)
            and record.msg[:2] in ("< ", "> ")
        )


def install() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ScrubAddresses) for f in logger.filters):
        logger.addFilter(ScrubAddresses())
    if not any(isinstance(f, DropFrames) for f in logger.filters):
        logger.addFilter(DropFrames())
    # aiosqlite logs every statement with its parameters (message text) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
