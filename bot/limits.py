"""How often: one Refresh per user per cooldown, and what every process shares through Redis
besides answers: the call budget, the Refresh throttle and Redis's own health.

Each shared form falls back to this process's own while Redis is unusable; Redis is left alone
for a few seconds after an error (`RedisHealth`), whichever of them met it.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import redis
from cachetools import TTLCache

from bot import metrics
from bot.clock import Clock
from bot.cloudflare import PermissionMissing
from bot.codec import VERSION
from bot.logs import event
from bot.pacing import Budget

log = logging.getLogger(__name__)

REFRESH_COOLDOWN_SECONDS = 15.0


class RefreshThrottle:
    """One Refresh per user per REFRESH_COOLDOWN_SECONDS.

    Refresh bypasses the cache, so it is the one button that spends the shared Cloudflare quota
    on every click.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last: TTLCache[str, float] = TTLCache(maxsize=10_000, ttl=REFRESH_COOLDOWN_SECONDS, timer=clock)
        self._lock = threading.Lock()

    def wait(self, user_id: str) -> float | None:
        """Record a refresh and give back None, or give back how long until the user may refresh."""
        with self._lock:
            last = self._last.get(user_id)
            if last is not None:
                return max(1.0, last + REFRESH_COOLDOWN_SECONDS - self._clock())
            self._last[user_id] = self._clock()
            return None


class RedisHealth:
    """Whether Redis is worth asking: after an error it is left alone for a few seconds."""

    def __init__(self, clock: Clock, pause_seconds: float = 5.0) -> None:
        self._clock = clock
        self._pause = pause_seconds
        self._down_until = 0.0

    def usable(self) -> bool:
        """Give back whether to ask Redis now."""
        return self._clock() >= self._down_until

    def failed(self, error: Exception) -> None:
        """Note that Redis failed: count it, log it, and leave it alone for a while."""
        first = self.usable()
        self._down_until = self._clock() + self._pause
        metrics.REDIS_ERRORS.inc()
        if first:
            event(log, "redis_failed", logging.WARNING, error=type(error).__name__, pause_s=self._pause)


class SharedCallBudget:
    """The call budget as one token bucket in Redis, for every process (timed by Redis's clock).

    Falls back to this process's own bucket while Redis is unusable.
    """

    def __init__(
        self,
        client: redis.Redis,
        account_id: str,
        *,
        calls: int,
        per: float,
        local: Budget,
        health: RedisHealth,
    ) -> None:
        self._redis = client
        self._key = f"scim-groups:v{VERSION}:budget:{account_id}"
        self._capacity = calls
        self._rate_per_ms = calls / (per * 1000)
        self._local = local
        self._health = health

    def take(self) -> float:
        """Spend one call and give back 0, or give back the seconds until one is free."""
        if self._health.usable():
            try:
                # One token's wait at the most: the script resets whatever else it read.
                return (
                    float(self._redis.eval(_BUCKET, 1, self._key, self._capacity, self._rate_per_ms)) / 1000
                )
            except redis.RedisError as error:
                self._health.failed(error)
        return float(self._local.take())


class SharedRefreshThrottle:
    """One Refresh per user per cooldown, counted across every process through Redis."""

    def __init__(
        self, client: redis.Redis, *, cooldown: float, local: RefreshLimit, health: RedisHealth
    ) -> None:
        self._redis = client
        self._cooldown_ms = int(cooldown * 1000)
        self._local = local
        self._health = health

    def wait(self, user_id: str) -> float | None:
        """Record a refresh and give back None, or give back how long until the user may refresh."""
        if self._health.usable():
            key = f"scim-groups:v{VERSION}:refresh:{user_id}"
            try:
                if self._redis.set(key, 1, nx=True, px=self._cooldown_ms):
                    return None
                left_ms = int(self._redis.pttl(key))
                if not 0 < left_ms <= self._cooldown_ms:  # not ours: no expiry, or a longer one
                    self._redis.set(key, 1, px=self._cooldown_ms)
                    return None
                return max(1.0, left_ms / 1000)
            except redis.RedisError as error:
                self._health.failed(error)
        return self._local.wait(user_id)


class RefreshLimit(Protocol):
    """Anything that says how long a user must wait before refreshing again."""

    def wait(self, user_id: str) -> float | None: ...


# A token bucket: refill by elapsed time (Redis's own clock), then spend one token or say how
# many milliseconds until one is there.
_BUCKET = """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
-- Whatever another writer left here (NaN, negatives, the future) cannot make anyone wait long.
if tokens ~= tokens or tokens < 0 or tokens > capacity then tokens = capacity end
if at ~= at or at > now or at < now - 86400000 then at = now end
tokens = math.min(capacity, tokens + (now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return tostring(wait)
"""


# A permission a token was refused is taken as missing this long (a Refresh asks at once).
REFUSED_SECONDS = 600.0


class Refusals:
    """A permission the token was refused (a 403 on its endpoints), taken as missing for a
    while: every answer that needs it would otherwise spend a call of the shared budget on a
    refusal already known. A Refresh asks Cloudflare again at once."""

    def __init__(self, permission: str, clock: Clock, seconds: float = REFUSED_SECONDS) -> None:
        self._permission, self._clock, self._seconds = permission, clock, seconds
        self._until = 0.0  # monotonic

    def check(self, *, refresh: bool) -> None:
        """Raise `PermissionMissing`, without a call, while a refusal is recent (unless refreshing)."""
        if not refresh and self._clock() < self._until:
            raise PermissionMissing(self._permission, status=403)

    def refused(self) -> PermissionMissing:
        """Remember the refusal now; give back what it means."""
        self._until = self._clock() + self._seconds
        return PermissionMissing(self._permission, status=403)
