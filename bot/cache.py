"""The answer cache: TTL entries, single flight, and the last good copy for bad times.

cachetools gives the TTL and LRU bookkeeping (with an injectable clock). What it lacks, and
this adds: a second caller of a key waits for the first one's load instead of loading again;
and when a load fails for a passing reason (Cloudflare down, rate-limited, the bot's own call
budget spent) the last good value is given back, marked stale, instead of nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache, TTLCache

from bot.clock import Clock
from bot.cloudflare import CloudflareError, RateLimited, Unavailable

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Failures worth showing an older copy for. Refused credentials or an unknown provider are not:
# an admin may have revoked access on purpose, and old data would hide that.
PASSING_FAILURES = (Unavailable, RateLimited)


class NotCached(Exception):
    """The answer would need a call to Cloudflare, and the caller asked for cached answers only."""


_CACHED_ONLY: ContextVar[bool] = ContextVar("cached_only", default=False)


@contextmanager
def cached_only() -> Iterator[None]:
    """Within this block, a cache miss raises `NotCached` instead of calling Cloudflare."""
    token = _CACHED_ONLY.set(True)
    try:
        yield
    finally:
        _CACHED_ONLY.reset(token)


def is_cached_only() -> bool:
    """Give back whether the current context answers from the cache only."""
    return _CACHED_ONLY.get()


@dataclass(frozen=True)
class Staleness:
    """Why an answer is an older copy, and how old that copy is."""

    age_seconds: float
    error: CloudflareError


@dataclass(frozen=True)
class Cached(Generic[V]):
    """A value, whether it came from the cache, and whether it is a stale copy."""

    value: V
    from_cache: bool
    stale: Staleness | None = None


class SingleFlightCache(Generic[K, V]):
    """A thread-safe TTL cache where concurrent misses for one key make one load."""

    def __init__(self, *, ttl: float, clock: Clock, maxsize: int, stale_maxsize: int) -> None:
        self._clock = clock
        self._entries: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=clock)
        # Last good values, kept past their TTL; bounded by count, least recently used first out.
        self._last_good: LRUCache[K, tuple[V, float]] = LRUCache(maxsize=stale_maxsize)
        self._lock = threading.Lock()
        self._loading: dict[K, Future[V]] = {}

    def get(
        self, key: K, load: Callable[[], V], *, refresh: bool = False, stale_ok: bool = True
    ) -> Cached[V]:
        """Give back the value for `key`: cached, loaded, or (when loading fails) the last good one.

        With `refresh`, a cached value is ignored, but a load already under way is joined: it
        started after the click, so it is as fresh as a new one.
        """
        with self._lock:
            if not refresh and key in self._entries:
                return Cached(self._entries[key], from_cache=True)
            if _CACHED_ONLY.get():
                raise NotCached
            pending = self._loading.get(key)
            owner = pending is None
            if pending is None:
                pending = self._loading[key] = Future()
        try:
            value = self._load(key, pending, load) if owner else pending.result()
        except PASSING_FAILURES as error:
            with self._lock:
                last = self._last_good.get(key)
            if not stale_ok or last is None:
                raise
            return Cached(last[0], from_cache=True, stale=Staleness(self._clock() - last[1], error))
        return Cached(value, from_cache=False)

    def holds(self, key: K) -> bool:
        """Give back whether `key` has a fresh value or a load under way."""
        with self._lock:
            return key in self._entries or key in self._loading

    def _load(self, key: K, pending: Future[V], load: Callable[[], V]) -> V:
        try:
            value = load()
        except BaseException as error:
            with self._lock:
                del self._loading[key]
            pending.set_exception(error)
            raise
        with self._lock:
            self._entries[key] = value
            self._last_good[key] = (value, self._clock())
            del self._loading[key]
        pending.set_result(value)
        return value
