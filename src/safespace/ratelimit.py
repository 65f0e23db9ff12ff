"""Rate limits: named sliding windows, kept in this process or (at scale) in Redis.

Every limit is a named rule in RULES: who it counts (a client, an account name or a user)
and one or more windows ("at most N in any S seconds"). A hit inside every window is
recorded; one over any window raises RateLimited (429, "rate_limited", with retry_after in
whole seconds) and is not recorded, so waiting is always enough. A hit returns a Ticket
that can be released: sign-in reserves a slot of the account's failed-login budget before
checking the password and gives it back when the password was right, so at most 100
wrong passwords an hour are ever checked for one name, however many arrive at once.

Windows are sliding logs (a sorted list of times per key), not fixed buckets, so "100 an
hour" holds over any hour, not per clock hour. Time comes from the injected clock in both
implementations (Redis gets it as an argument), so tests move time with a FrozenClock and
every process must keep its clock in sync (NTP), as the sessions already require.

Nothing here stores who is asking in the clear. A subject (a client address, an account
name, a user id) is turned into HMAC-SHA256(secret, subject) before it names a key:
- in-process, one random secret made when the process starts and never written anywhere;
- in Redis, a random secret kept in Redis itself: for client addresses a new one each UTC
  day (it expires after two days, so yesterday's keys can no more be linked to an address),
  for account names and user ids one per deployment, so an account's failed-login budget
  doesn't start over at midnight.
IPv6 addresses count per /64 (one household or server has a whole /64 to pick from).
Nothing here logs a subject or a key.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import hmac
import ipaddress
import itertools
import logging
import math
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

from safespace.clock import Clock
from safespace.errors import AppError
from safespace.settings import Settings

log = logging.getLogger(__name__)

Per = Literal["client", "account", "user"]


@dataclass(frozen=True)
class Window:
    limit: int  # at most this many hits...
    seconds: float  # ...in any span of this many seconds


@dataclass(frozen=True)
class Rule:
    name: str
    per: Per
    windows: tuple[Window, ...]
    message: str  # "{wait}" becomes "12 seconds", "3 minutes"...
    fixed: bool = False  # a promise the product makes: SAFESPACE_RATE_LIMIT_SCALE can't move it

    @property
    def longest(self) -> float:
        return max(w.seconds for w in self.windows)

    def scaled(self, scale: float) -> Rule:
        if self.fixed or scale == 1:
            return self
        windows = tuple(replace(w, limit=max(1, int(w.limit * scale))) for w in self.windows)
        return replace(self, windows=windows)


MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.name: r for r in rules}


# Every limit SafeSpace has, in one place. Generous: a person chatting, or a room of people
# signing up together behind one address, should never meet them.
RULES: dict[str, Rule] = _rules(
    Rule(
        "signup_client",
        "client",
        (Window(20, 10 * MINUTE), Window(100, DAY)),
        "A lot of accounts have been made from your connection just now. "
        "You can try again in {wait}.",
    ),
    Rule(
        "login_client",  # every attempt, right or wrong: each one costs a password hash
        "client",
        (Window(60, 10 * MINUTE), Window(600, DAY)),
        "There have been a lot of sign-in attempts from your connection. "
        "You can try again in {wait}.",
    ),
    Rule(
        "login_account",  # wrong passwords only, whichever client sends them (issue 3)
        "account",
        (Window(100, HOUR),),
        "Sign-in for this name is paused for a while after too many attempts that didn't "
        "match, to keep it safe. You can try again in {wait}. Anywhere you're already signed "
        "in still works.",
        fixed=True,
    ),
    Rule(
        "recover_client",
        "client",
        (Window(10, 10 * MINUTE), Window(50, DAY)),
        "There have been a lot of recovery attempts from your connection. "
        "You can try again in {wait}.",
    ),
    Rule(
        "recover_account",  # codes that didn't match, for one name
        "account",
        (Window(20, HOUR),),
        "Recovery for this name is paused for a while after too many codes that didn't "
        "match, to keep it safe. You can try again in {wait}.",
    ),
    Rule(
        "messages",
        "user",
        (Window(40, MINUTE), Window(1200, HOUR)),
        "That message couldn't be sent yet: you can post again in {wait}. It's still in your box.",
    ),
    Rule(
        "reports",
        "user",
        (Window(10, 10 * MINUTE), Window(50, DAY)),
        "You've sent a lot of reports in a short time. You can send another in {wait}. "
        "If someone is in danger right now, please contact local emergency services.",
    ),
    Rule(
        "invites",
        "user",
        (Window(20, HOUR), Window(100, DAY)),
        "You've made a lot of invitations just now. You can make another in {wait}.",
    ),
)


def wait_words(seconds: int) -> str:
    """12 -> "12 seconds", 125 -> "3 minutes", 5400 -> "2 hours" (always rounded up)."""
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    if seconds < 3600:
        minutes = math.ceil(seconds / 60)
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    hours = math.ceil(seconds / 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"


class RateLimited(AppError):
    def __init__(self, rule: Rule, wait: float) -> None:
        self.retry_after = max(1, math.ceil(wait))
        self.rule = rule.name
        super().__init__(
            "rate_limited",
            rule.message.format(wait=wait_words(self.retry_after)),
            429,
            retry_after=self.retry_after,
        )


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Any: ...


R = TypeVar("R", bound=_HasHeaders)


def with_retry_after(response: R, err: AppError) -> R:
    """Give a response the Retry-After header when the error says how long to wait."""
    retry = err.extra.get("retry_after")
    if isinstance(retry, int) and not isinstance(retry, bool):
        response.headers["Retry-After"] = str(max(1, retry))
    return response


def client_address(conn: Any) -> str:
    """The address a request or socket comes from, as uvicorn reports it (from
    X-Forwarded-For only when serving --behind-proxy). Pass it straight to an action, which
    hands it to the limiter, which only ever keeps an HMAC of it."""
    client = getattr(conn, "client", None)
    host = getattr(client, "host", None)
    return host if isinstance(host, str) and host else "unknown"


def normalize_subject(per: Per, subject: str) -> str:
    if per == "account":
        return subject.lower()
    if per != "client":
        return subject
    try:
        addr = ipaddress.ip_address(subject.split("%", 1)[0])
    except ValueError:
        return subject
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def _digest(secret: bytes, rule: Rule, subject: str) -> str:
    data = f"{rule.per}\x00{normalize_subject(rule.per, subject)}".encode("utf-8", "replace")
    return hmac.new(secret, data, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Ticket:
    """One recorded hit, which release() can give back."""

    key: str
    member: str
    backend: str


class Limiter(Protocol):
    rules: dict[str, Rule]

    async def hit(self, name: str, subject: str) -> Ticket:
        """Record one hit of rule `name` for `subject`, or raise RateLimited."""
        ...

    async def release(self, ticket: Ticket) -> None:
        """Take a recorded hit back (a password that turned out right)."""
        ...

    async def stop(self) -> None: ...


def _scaled_rules(scale: float) -> dict[str, Rule]:
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("SAFESPACE_RATE_LIMIT_SCALE must be a number more than 0")
    return {name: rule.scaled(scale) for name, rule in RULES.items()}


class MemoryLimiter:
    """Sliding windows in this process's memory: right for one process."""

    SWEEP_EVERY = 1024
    USER_KEYS = 50_000  # per-user keys kept (then forgotten all at once)

    def __init__(self, clock: Clock, scale: float = 1.0) -> None:
        self.rules = _scaled_rules(scale)
        self._clock = clock
        self._secret = secrets.token_bytes(32)  # lives and dies with the process
        # Per key, the hits' times (sorted, so bisect runs in C) and their members, in step.
        self._log: dict[str, tuple[list[float], list[str]]] = {}
        self._tokens = itertools.count(1)
        self._hits = 0
        self._user_keys: dict[tuple[str, str], str] = {}

    def key_for(self, rule: Rule, subject: str) -> str:
        if rule.per != "user":
            return f"{rule.name}:{_digest(self._secret, rule, subject)}"
        # A user id is no one's personal data, and every post hits a per-user rule: keep
        # its key rather than computing the HMAC again (addresses are never kept).
        known = self._user_keys.get((rule.name, subject))
        if known is None:
            if len(self._user_keys) >= self.USER_KEYS:
                self._user_keys.clear()
            known = self._user_keys[(rule.name, subject)] = (
                f"{rule.name}:{_digest(self._secret, rule, subject)}"
            )
        return known

    async def hit(self, name: str, subject: str) -> Ticket:
        return self.hit_now(name, subject)

    def hit_now(self, name: str, subject: str) -> Ticket:
        rule = self.rules[name]
        now = self._clock.now().timestamp()
        self._hits += 1
        if self._hits % self.SWEEP_EVERY == 0:
            self._sweep(now)
        key = self.key_for(rule, subject)
        times, members = self._log.setdefault(key, ([], []))
        gone = bisect.bisect_right(times, now - rule.longest)
        del times[:gone], members[:gone]
        wait = 0.0
        for window in rule.windows:
            start = bisect.bisect_right(times, now - window.seconds)
            count = len(times) - start
            if count >= window.limit:
                oldest = times[start + count - window.limit]
                wait = max(wait, oldest + window.seconds - now)
        if wait > 0:
            _note(rule)
            raise RateLimited(rule, wait)
        member = str(next(self._tokens))
        at = bisect.bisect_right(times, now)
        times.insert(at, now)
        members.insert(at, member)
        return Ticket(key, member, "memory")

    async def release(self, ticket: Ticket) -> None:
        times, members = self._log.get(ticket.key, ([], []))
        with contextlib.suppress(ValueError):  # released already, or swept
            at = members.index(ticket.member)
            del times[at], members[at]
        if not times:
            self._log.pop(ticket.key, None)

    def _sweep(self, now: float) -> None:
        """Forget keys with nothing left in any window (memory stays bounded)."""
        for key, (times, _) in list(self._log.items()):
            rule = self.rules.get(key.split(":", 1)[0])
            if rule is None or not times or times[-1] <= now - rule.longest:
                del self._log[key]

    def keys(self) -> list[str]:
        return list(self._log)

    async def stop(self) -> None:
        self._log.clear()


def _note(rule: Rule) -> None:
    log.info("rate limit %s reached", rule.name)  # never who


# KEYS[1]: the sorted set of one rule and subject (member: a unique id, score: its time).
# ARGV: now, member, then limit and seconds for each window. Returns "0" when the hit was
# recorded, else the seconds to wait as a string (Redis would truncate a Lua float).
_HIT = """
local now = tonumber(ARGV[1])
local longest = 0
for i = 3, #ARGV, 2 do
  local seconds = tonumber(ARGV[i + 1])
  if seconds > longest then longest = seconds end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - longest))
local wait = 0
for i = 3, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local seconds = tonumber(ARGV[i + 1])
  local since = string.format('(%.17g', now - seconds)
  local count = redis.call('ZCOUNT', KEYS[1], since, '+inf')
  if count >= limit then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES',
                              'LIMIT', count - limit, 1)
    local until_then = tonumber(oldest[2]) + seconds - now
    if until_then > wait then wait = until_then end
  end
end
if wait > 0 then return string.format('%.17g', wait) end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(longest * 1000))
return '0'
"""

SECRET_REFRESH = 300.0  # seconds a process trusts its copy of a Redis-held secret


def key_prefix(database_url: str) -> str:
    """Keys named after the deployment's database, as the broker's channel is, so two
    deployments sharing a Redis server never count each other's hits."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return f"safespace:{digest}:rl"


class RedisLimiter:
    """The same sliding windows in Redis (one sorted set per rule and subject, changed by
    one Lua script, so concurrent processes can't both take the last slot). Times come from
    the app's clock, passed in. If Redis can't be reached, this process falls back to its
    own in-memory limits until it can: limits stay on, per process, rather than off."""

    def __init__(self, url: str, prefix: str, clock: Clock, scale: float = 1.0) -> None:
        import redis.asyncio as redis

        self.rules = _scaled_rules(scale)
        self.prefix = prefix
        self._clock = clock
        # A bounded pool that makes a burst wait its turn (for up to 10 s) instead of failing:
        # a hit that gave up waiting would be counted by this process alone, over the limit.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=32, timeout=10, socket_connect_timeout=2, socket_timeout=3
        )
        self._redis = redis.Redis.from_pool(pool)
        self._script = self._redis.register_script(_HIT)
        self._secrets: dict[str, tuple[bytes, float]] = {}
        self._secret_lock = asyncio.Lock()  # a burst of first hits fetches a secret once
        self._fallback = MemoryLimiter(clock, scale)
        self._degraded = False

    async def _secret(self, per: Per) -> bytes:
        if per == "client":
            day = self._clock.now().strftime("%Y%m%d")
            name, ttl = f"{self.prefix}:secret:client:{day}", int(2 * DAY)
        else:
            name, ttl = f"{self.prefix}:secret:subject", None
        cached = self._secrets.get(name)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        async with self._secret_lock:
            cached = self._secrets.get(name)
            if cached is not None and time.monotonic() < cached[1]:
                return cached[0]
            return await self._fetch_secret(name, ttl)

    async def _fetch_secret(self, name: str, ttl: int | None) -> bytes:
        await self._redis.set(name, secrets.token_bytes(32), nx=True, ex=ttl)
        value = await self._redis.get(name)
        if not isinstance(value, bytes) or len(value) < 16:
            raise RuntimeError("rate-limit secret missing in Redis")
        # Keep this one and the deployment's; forget earlier days' client secrets.
        self._secrets = {k: v for k, v in self._secrets.items() if k == name or ":client:" not in k}
        self._secrets[name] = (value, time.monotonic() + SECRET_REFRESH)
        return value

    async def key_for(self, rule: Rule, subject: str) -> str:
        return f"{self.prefix}:{rule.name}:{_digest(await self._secret(rule.per), rule, subject)}"

    async def hit(self, name: str, subject: str) -> Ticket:
        rule = self.rules[name]
        now = self._clock.now().timestamp()
        member = f"{now:.6f}:{uuid.uuid4().hex[:12]}"
        args: list[Any] = [repr(now), member]
        for window in rule.windows:
            args += [window.limit, repr(float(window.seconds))]
        answer: Any = None
        for attempt in (1, 2):
            try:
                key = await self.key_for(rule, subject)
                answer = await self._script(keys=[key], args=args)
                break
            except Exception:
                # One slow moment (a loaded box, a pool refilling) is not an outage: a
                # hit counted here alone would let a burst past the shared limit.
                if attempt == 1 and not self._degraded:
                    continue
                self._went_down()
                return self._fallback.hit_now(name, subject)
        self._came_back()
        wait = float(answer)
        if wait > 0:
            _note(rule)
            raise RateLimited(rule, wait)
        return Ticket(key, member, "redis")

    async def release(self, ticket: Ticket) -> None:
        if ticket.backend != "redis":
            await self._fallback.release(ticket)
            return
        try:
            await self._redis.zrem(ticket.key, ticket.member)
        except Exception:
            self._went_down()

    def _went_down(self) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning("rate limits: Redis unreachable; using this process's own limits")

    def _came_back(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("rate limits: Redis reachable again")

    async def stop(self) -> None:
        await self._redis.aclose()


def make_limiter(settings: Settings, clock: Clock) -> Limiter:
    if settings.redis_url:
        prefix = key_prefix(settings.resolved_database_url)
        return RedisLimiter(settings.redis_url, prefix, clock, settings.rate_limit_scale)
    return MemoryLimiter(clock, settings.rate_limit_scale)
