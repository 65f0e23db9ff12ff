"""Logging that keeps no addresses: uvicorn names the client's IP in its websocket lines."""

from __future__ import annotations

import logging


class ScrubAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket'):
            if isinstance(record.args, tuple) and record.args:
                record.args = ("-", *record.args[1:])
        return True


def install() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ScrubAddresses) for f in logger.filters):
        logger.addFilter(ScrubAddresses())
