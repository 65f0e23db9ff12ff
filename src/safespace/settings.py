"""Typed settings read from SAFESPACE_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _async_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _readers(value: str) -> int | None:
    value = value.strip().lower()
    if value in ("", "auto"):
        return None
    if not value.isdigit() or int(value) > 16:
        raise ValueError(f"SAFESPACE_READERS must be auto or a number from 0 to 16, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    redis_url: str = ""  # empty: in-process broker
    # Public origin as the browser sees it ("https://support.example.org"). Used to check the
    # Origin of cookie-authenticated requests and websockets; empty accepts same-host origins.
    public_origin: str = ""
    secure_cookies: bool = False  # set when served over TLS
    session_idle_minutes: int = 60 * 24 * 7
    session_absolute_days: int = 30
    trusted_hosts: tuple[str, ...] = field(default_factory=tuple)
    dev: bool = True
    # Master key(s) from the environment ("kid:base64url-key,..."); empty: a key file in
    # data_dir, created on first run.
    master_key: str = field(default="", repr=False)
    # Where group keys live. Empty: keys.db beside the SQLite file, or (on PostgreSQL) the
    # main database, which weakens crypto-shredding against backups (docs/privacy.md).
    keys_database_url: str = ""
    escalation_guide_file: str = ""  # empty: the packaged response guide
    crisis_resources_file: str = ""  # empty: the packaged crisis lines (docs/safety.md)
    # Where "Quick exit" takes someone: an everyday page that draws no attention.
    quick_exit_url: str = "https://www.bbc.com/weather"
    default_retention_days: int = 90  # 0 means forever
    max_retention_days: int = 0  # 0 means no maximum
    # Multiplies every rate limit (docs/security.md) except the 100 failed sign-ins an hour
    # per account; for tests and unusual deployments, never to switch limits off.
    rate_limit_scale: float = 1.0
    # After this many minutes on /facilitate in one tab, a gentle reminder suggests a break.
    duty_reminder_minutes: int = 90
    # Helper processes that read messages over 100 characters for risk and topics
    # (safety/reader.py). None: one where the machine has a second CPU, else none (every
    # message is read on the server's loop).
    readers: int | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return _async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'safespace.db').resolve()}"

    @property
    def resolved_keys_database_url(self) -> str:
        if self.keys_database_url:
            return _async_url(self.keys_database_url)
        if self.is_sqlite:
            return f"sqlite+aiosqlite:///{(self.data_dir / 'keys.db').resolve()}"
        return self.resolved_database_url

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        e = dict(os.environ if env is None else env)
        values: dict[str, object] = {
            "data_dir": Path(e.get("SAFESPACE_DATA_DIR", "data")),
            "database_url": e.get("SAFESPACE_DATABASE_URL", ""),
            "redis_url": e.get("SAFESPACE_REDIS_URL", ""),
            "public_origin": e.get("SAFESPACE_PUBLIC_ORIGIN", "").rstrip("/"),
            "secure_cookies": _bool(e.get("SAFESPACE_SECURE_COOKIES"), False),
            "session_idle_minutes": int(e.get("SAFESPACE_SESSION_IDLE_MINUTES", 60 * 24 * 7)),
            "session_absolute_days": int(e.get("SAFESPACE_SESSION_ABSOLUTE_DAYS", 30)),
            "dev": _bool(e.get("SAFESPACE_DEV"), True),
            "master_key": e.get("SAFESPACE_MASTER_KEY", ""),
            "keys_database_url": e.get("SAFESPACE_KEYS_DATABASE_URL", ""),
            "escalation_guide_file": e.get("SAFESPACE_ESCALATION_GUIDE", ""),
            "crisis_resources_file": e.get("SAFESPACE_CRISIS_RESOURCES", ""),
            "quick_exit_url": e.get("SAFESPACE_QUICK_EXIT_URL") or cls.quick_exit_url,
            "default_retention_days": int(e.get("SAFESPACE_DEFAULT_RETENTION_DAYS", 90)),
            "max_retention_days": int(e.get("SAFESPACE_MAX_RETENTION_DAYS", 0)),
            "rate_limit_scale": float(e.get("SAFESPACE_RATE_LIMIT_SCALE", 1.0)),
            "duty_reminder_minutes": int(e.get("SAFESPACE_DUTY_REMINDER_MINUTES", 90)),
            "readers": _readers(e.get("SAFESPACE_READERS", "")),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
