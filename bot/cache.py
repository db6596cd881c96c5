"""The answer cache: TTL entries, single flight, and the last good copy for bad times.

cachetools gives the TTL and LRU bookkeeping (with an injectable clock). What it lacks, and
this adds: a second caller of a key waits for the first one's load instead of loading again;
and when a load fails for a passing reason (Cloudflare down, rate-limited, the bot's own call
budget spent) the last good value is given back, marked stale, instead of nothing.

One interface, two implementations, chosen by `Caches` alone: `SingleFlightCache` in the
process, or `RedisCache` shared by every process (with the in-process one beneath it). The call
budget and the Refresh throttle, shared the same way, are in `bot.limits`.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeAlias, TypeVar

import redis
from cachetools import LRUCache, TTLCache

from bot import metrics
from bot.clock import Clock
from bot.cloudflare import CloudflareError, RateLimited, Unavailable
from bot.codec import VERSION, Codec, Seal, Unusable, instant, why
from bot.limits import RedisHealth
from bot.logs import event

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Failures worth showing an older copy for. Refused credentials or an unknown provider are not:
# an admin may have revoked access on purpose, and old data would hide that.
PASSING_FAILURES = (Unavailable, RateLimited)
# How long one process may hold the right to load a key for all. Shorter than the 20 s a user
# waits at most, so that a waiter whose lock owner froze still has time to load for itself.
LOCK_SECONDS = 8.0
REFRESH_BEHIND_THREADS = 4


class NotCached(Exception):
    """The answer would need a call to Cloudflare, and the caller asked for cached answers only."""


_CACHED_ONLY: ContextVar[bool] = ContextVar("cached_only", default=False)
# Set while a load runs: what it reads from other caches must be fresh, or the answer it makes
# would be labelled fresh while built from aging parts.
_LOADING: ContextVar[bool] = ContextVar("loading", default=False)


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
    """A value, whether it came from the cache, and whether it is a stale copy.

    `fetched_at`: when it was asked of Cloudflare (Unix time; None when not known). `aging`: it
    is past its TTL but young enough to answer with at once, while a fresh copy is fetched.
    """

    value: V
    from_cache: bool
    stale: Staleness | None = None
    # Not part of equality: two reads of one answer are the same answer whenever each was fetched.
    fetched_at: float | None = field(default=None, compare=False)
    aging: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Stamped(Generic[V]):
    """A value a loader found already cached elsewhere (Redis), with when it was fetched."""

    value: V
    fetched_at: float


class SingleFlightCache(Generic[K, V]):
    """A thread-safe TTL cache where concurrent misses for one key make one load.

    With `serve_aging_seconds`, a value past its TTL but younger than that is given back at once
    (marked aging) while one load per key refreshes it on `background`; a load that fails there
    changes nothing.
    """

    def __init__(
        self,
        *,
        ttl: float,
        clock: Clock,
        maxsize: int,
        stale_maxsize: int,
        serve_aging_seconds: float = 0.0,
        background: Executor | None = None,
    ) -> None:
        self._clock = clock
        # Values and when they were fetched, on the monotonic clock: a step of the wall clock
        # (NTP, a VM resumed) changes no copy's age. Shown times are made from the age at once.
        self._entries: TTLCache[K, tuple[V, float]] = TTLCache(maxsize=maxsize, ttl=ttl, timer=clock)
        # Last good values and when they were fetched, kept past their TTL; bounded by count,
        # least recently used first out.
        self._last_good: LRUCache[K, tuple[V, float]] = LRUCache(maxsize=stale_maxsize)
        self._lock = threading.Lock()
        self._loading: dict[K, Future[V]] = {}
        # Why the last refresh behind an aging value failed, until a load succeeds: the copy then
        # says so (a passing failure), or is not shown at all (credentials refused, say).
        self._behind_failed: dict[K, Exception] = {}
        self._serve_aging = serve_aging_seconds if background is not None else 0.0
        self._background = background

    def get(
        self,
        key: K,
        load: Callable[[], V | Stamped[V]],
        *,
        refresh: bool = False,
        stale_ok: bool = True,
    ) -> Cached[V]:
        """Give back the value for `key`: cached, aging (and refreshed behind), loaded, or (when
        loading fails) the last good one.

        With `refresh`, a cached value is ignored, but a load already under way is joined: it
        started at most one call's time ago, so it is as fresh as a new one.
        """
        with self._lock:
            if not refresh and key in self._entries:
                value, fetched = self._entries[key]
                return Cached(
                    value, from_cache=True, fetched_at=self._wall(fetched), aging=self._old(fetched)
                )
            if not refresh and not _LOADING.get() and (aging := self._aging(key)) is not None:
                if key not in self._loading:
                    behind: Future[V] = Future()
                    self._loading[key] = behind
                    assert self._background is not None  # else nothing is served aging
                    self._background.submit(self._refresh_behind, key, behind, load)
                return aging
            if _CACHED_ONLY.get():
                raise NotCached
            pending = self._loading.get(key)
            owner = pending is None
            if pending is None:
                pending = self._loading[key] = Future()
        try:
            value = self._load(key, pending, load) if owner else pending.result()
        except PASSING_FAILURES as error:
            stale = self.stale_copy(key, error) if stale_ok else None
            if stale is None:
                raise
            return stale
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return Cached(value, from_cache=False)
        return Cached(value, from_cache=False, fetched_at=self._wall(entry[1]), aging=self._old(entry[1]))

    def _old(self, fetched: float) -> bool:
        """Give back whether a value fetched then is past its TTL: a loader may give back an older
        copy as it is (a directory read whole only now and then), which says its age as one."""
        return bool(self._clock() - fetched > self._entries.ttl)

    def _wall(self, fetched: float) -> float:
        """Give back the Unix time of a moment on the monotonic clock: now, less its age."""
        return self._clock.time() - max(0.0, self._clock() - fetched)

    def _monotonic(self, fetched_at: float) -> float:
        """Give back the monotonic moment of a Unix time (another host's clock may run ahead)."""
        return self._clock() - max(0.0, self._clock.time() - fetched_at)

    def _aging(self, key: K) -> Cached[V] | None:
        """Give back the last good value for `key` if it may still answer at once (lock held)."""
        last = self._last_good.get(key) if self._serve_aging > 0 else None
        age = self._clock() - last[1] if last is not None else 0.0
        if last is None or age > self._serve_aging:
            return None
        failed = self._behind_failed.get(key)
        if failed is not None and not isinstance(failed, PASSING_FAILURES):
            return None  # an older copy would hide why Cloudflare refused: ask again, and say it
        stale = Staleness(max(0.0, age), failed) if isinstance(failed, PASSING_FAILURES) else None
        return Cached(last[0], from_cache=True, stale=stale, fetched_at=self._wall(last[1]), aging=True)

    def _refresh_behind(self, key: K, pending: Future[V], load: Callable[[], V | Stamped[V]]) -> None:
        try:
            self._load(key, pending, load)
        except Exception as error:  # the aging copy stays, now saying why; the next request tries again
            with self._lock:
                self._behind_failed.pop(key, None)
                self._behind_failed[key] = error
                while len(self._behind_failed) > self._last_good.maxsize:  # as many as copies kept
                    del self._behind_failed[next(iter(self._behind_failed))]
            event(log, "refresh_behind_failed", logging.WARNING, error=type(error).__name__)

    def stale_copy(self, key: K, error: CloudflareError) -> Cached[V] | None:
        """Give back the last good value for `key`, marked stale because of `error`, if there is one."""
        with self._lock:
            last = self._last_good.get(key)
        if last is None:
            return None
        age = max(0.0, self._clock() - last[1])
        return Cached(last[0], from_cache=True, stale=Staleness(age, error), fetched_at=self._wall(last[1]))

    def holds(self, key: K) -> bool:
        """Give back whether `key` has a fresh value or a load under way."""
        with self._lock:
            return key in self._entries or key in self._loading

    def last(self, key: K) -> Stamped[V] | None:
        """Give back the last good value for `key` and when it was fetched, however old, if any."""
        with self._lock:
            last = self._last_good.get(key)
        return None if last is None else Stamped(last[0], self._wall(last[1]))

    def knows(self, key: K) -> bool:
        """Give back whether `key` has a value here (fresh or not) or a load under way."""
        with self._lock:
            return key in self._entries or key in self._last_good or key in self._loading

    @property
    def serves_aging(self) -> bool:
        """Give back whether values past their TTL may answer at once."""
        return self._serve_aging > 0

    def adopt(self, key: K, copy: Stamped[V]) -> None:
        """Keep `copy` (fetched elsewhere) as the last good value for `key`, unless one as new is here."""
        fetched = self._monotonic(copy.fetched_at)
        with self._lock:
            last = self._last_good.get(key)
            if last is None or last[1] < fetched:
                self._last_good[key] = (copy.value, fetched)

    def _load(self, key: K, pending: Future[V], load: Callable[[], V | Stamped[V]]) -> V:
        started = self._clock()
        loading = _LOADING.set(True)
        try:
            loaded = load()
        except BaseException as error:
            with self._lock:
                del self._loading[key]
            pending.set_exception(error)
            raise
        finally:
            _LOADING.reset(loading)
        # A copy another process stored is as old as it is; one read here, as old as this load.
        value, fetched = (
            (loaded.value, self._monotonic(loaded.fetched_at))
            if isinstance(loaded, Stamped)
            else (loaded, started)
        )
        with self._lock:
            self._entries[key] = (value, fetched)
            last = self._last_good.get(key)
            if last is None or last[1] <= fetched:  # never replace a newer copy with an older one
                self._last_good[key] = (value, fetched)
            del self._loading[key]
            self._behind_failed.pop(key, None)
        pending.set_result(value)
        return value


class RedisCache(Generic[K, V]):
    """Answers shared by every process through Redis, with the in-process cache beneath.

    A value found in this process is used as it is; else Redis is asked; else one process
    (whoever sets the lock) asks Cloudflare and stores the answer for all, while the others wait
    for it, bounded by the lock's expiry, so a process that dies holding it blocks no one for
    long. Any Redis error sends the request to the in-process cache instead, and Redis is tried
    again a few seconds later.
    """

    def __init__(
        self,
        name: str,
        *,
        client: redis.Redis,
        local: SingleFlightCache[K, V],
        codec: Codec[V],
        ttl: float,
        clock: Clock,
        health: RedisHealth,
        seal: Seal,
        lock_seconds: float = LOCK_SECONDS,
        stale_seconds: float = 86_400.0,
    ) -> None:
        self._prefix = f"scim-groups:v{VERSION}:{name}:"
        self._redis = client
        self._local = local
        self._codec = codec
        self._seal = seal
        self._ttl_ms = max(1, int(ttl * 1000))
        self._clock = clock
        self._health = health
        self._lock_seconds = lock_seconds
        self._stale_ms = int(stale_seconds * 1000)

    def holds(self, key: K) -> bool:
        return self._local.holds(key)

    def last(self, key: K) -> Stamped[V] | None:
        """Give back the last good value for `key` this process or (else) any process stored."""
        return self._local.last(key) or self._last_shared(key)

    def get(
        self, key: K, load: Callable[[], V | Stamped[V]], *, refresh: bool = False, stale_ok: bool = True
    ) -> Cached[V]:
        if not self._health.usable():
            return self._local.get(key, load, refresh=refresh, stale_ok=stale_ok)
        # Another process's copy may answer at once (aging), as this process's own would.
        adopt = not refresh and self._local.serves_aging and not self._local.knows(key)
        if adopt and (copy := self._last_shared(key)) is not None:
            self._local.adopt(key, copy)
        shared: list[bool] = []
        try:
            cached = self._local.get(
                key, lambda: self._shared(key, load, refresh, shared), refresh=refresh, stale_ok=False
            )
        except redis.RedisError as error:
            self._health.failed(error)
            return self._local.get(key, load, refresh=refresh, stale_ok=stale_ok)
        except PASSING_FAILURES as error:
            stale = (self._local.stale_copy(key, error) or self._stale(key, error)) if stale_ok else None
            if stale is None:
                raise
            return stale
        # Never stale here: a failure was handled above (the inner get takes no stale copy).
        return replace(cached, from_cache=cached.from_cache or any(shared))

    def _name(self, key: K) -> str:
        """Give back the Redis key of `key`: namespaced, versioned, readable."""
        return self._prefix + ":".join(_part(part) for part in (key if isinstance(key, tuple) else (key,)))

    def _shared(
        self, key: K, load: Callable[[], V | Stamped[V]], refresh: bool, shared: list[bool]
    ) -> V | Stamped[V]:
        name = self._name(key)
        if not refresh and (stored := self._read(name)) is not None:
            shared.append(True)
            return stored
        token = uuid.uuid4().hex
        until = self._clock() + self._lock_seconds
        while not self._redis.set(name + ":lock", token, nx=True, px=int(self._lock_seconds * 1000)):
            if (stored := self._read(name)) is not None and not refresh:
                shared.append(True)
                return stored
            if self._clock() >= until:  # the owner is gone or stuck: ask Cloudflare ourselves
                return self._store(name, load())
            self._clock.sleep(0.02)
        try:
            # The owner before us may have stored the value and let go just now.
            if not refresh and (stored := self._read(name)) is not None:
                shared.append(True)
                return stored
            return self._store(name, load())
        finally:
            self._redis.eval(_RELEASE, 1, name + ":lock", token)

    def _read(self, name: str) -> Stamped[V] | None:
        """Give back the value stored under `name` and when it was fetched, or None when there is
        none we can trust."""
        raw = self._redis.get(name)
        if raw is None:
            return None
        try:
            return self._open(name, raw)
        except Unusable as unusable:
            _rejected(name, unusable)
            return None  # a miss: the value loaded next overwrites it

    def _open(self, name: str, raw: str | bytes) -> Stamped[V]:
        """Give back a stored [fetched at, value] pair, checked, or raise `Unusable`."""
        try:
            fetched_at, text = json.loads(self._seal.open(name, raw))
            return Stamped(self._codec.loads(text), instant(fetched_at, now=self._clock.time()))
        except (ValueError, TypeError) as problem:
            raise Unusable("malformed", why(problem)) from None

    def _store(self, name: str, loaded: V | Stamped[V]) -> Stamped[V]:
        value, fetched_at = (
            (loaded.value, loaded.fetched_at) if isinstance(loaded, Stamped) else (loaded, self._clock.time())
        )
        stored = json.dumps([fetched_at, self._codec.dumps(value)], ensure_ascii=False)
        pipe = self._redis.pipeline()
        pipe.set(name, self._seal.close(name, stored), px=self._ttl_ms)
        pipe.set(name + ":stale", self._seal.close(name + ":stale", stored), px=self._stale_ms)
        pipe.execute()
        return Stamped(value, fetched_at)

    def _stale(self, key: K, error: CloudflareError) -> Cached[V] | None:
        """Give back the last good copy any process stored, when Cloudflare fails."""
        stored = self._last_shared(key)
        if stored is None:
            return None
        age = max(0.0, self._clock.time() - stored.fetched_at)
        return Cached(
            stored.value, from_cache=True, stale=Staleness(age, error), fetched_at=stored.fetched_at
        )

    def _last_shared(self, key: K) -> Stamped[V] | None:
        """Give back the last good copy any process stored in Redis, if it can be trusted."""
        name = self._name(key) + ":stale"
        try:
            raw = self._redis.get(name) if self._health.usable() else None
        except redis.RedisError as error:
            self._health.failed(error)
            return None
        if raw is None:
            return None
        try:
            return self._open(name, raw)
        except Unusable as unusable:
            _rejected(name, unusable)
            return None


_LOGGED: set[tuple[str, str]] = set()


def _rejected(name: str, unusable: Unusable) -> None:
    """Count an entry read from Redis and not used; log the first of each kind per process."""
    kind = name.split(":")[2]  # scim-groups:vN:<kind>:…
    metrics.REDIS_REJECTED.labels(unusable.reason).inc()
    if (kind, unusable.reason) not in _LOGGED:
        _LOGGED.add((kind, unusable.reason))
        event(
            log,
            "redis_entry_rejected",
            logging.WARNING,
            kind=kind,
            reason=unusable.reason,
            detail=str(unusable),
        )


# Delete the lock only if it is still ours: it may have expired and been taken by another.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def _part(part: object) -> str:
    return ",".join(map(str, part)) if isinstance(part, tuple) else str(part)


# The one cache interface, two implementations: in-process, or shared through Redis.
AnswerCache: TypeAlias = SingleFlightCache[K, V] | RedisCache[K, V]


class Caches:
    """Makes the caches the directory asks for: in-process, or shared through Redis.

    Only this class knows which; the directory sees `AnswerCache`s.
    """

    def __init__(
        self,
        *,
        ttl: float,
        clock: Clock,
        serve_stale: float = 0.0,
        background: Executor | None = None,
        shared: redis.Redis | None = None,
        health: RedisHealth | None = None,
        seal: Seal | None = None,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._serve_stale = serve_stale
        # Refreshes behind aging answers: a few at a time, each one call (or one walk) at most.
        self._background = background or (
            ThreadPoolExecutor(max_workers=REFRESH_BEHIND_THREADS, thread_name_prefix="refresh-behind")
            if serve_stale > 0
            else None
        )
        self._shared = shared
        self._health = health or RedisHealth(clock)
        self._seal = seal

    def make(
        self, name: str, codec: Codec[V], *, maxsize: int, stale_maxsize: int, ttl: float | None = None
    ) -> AnswerCache[Any, V]:
        """Give back a cache for one kind of answer, `name` naming it in Redis; `ttl` caps the
        cache's TTL for answers that go out of date sooner (a log), which are never shown aging."""
        capped = self.ttl if ttl is None else min(ttl, self.ttl)
        local: SingleFlightCache[Any, V] = SingleFlightCache(
            ttl=capped,
            clock=self.clock,
            maxsize=maxsize,
            stale_maxsize=stale_maxsize,
            serve_aging_seconds=self._serve_stale if ttl is None else 0.0,
            background=self._background,
        )
        if self._shared is None:
            return local
        if self._seal is None:
            raise ValueError("a shared cache needs a seal")
        return RedisCache(
            name,
            client=self._shared,
            local=local,
            codec=codec,
            ttl=capped,
            clock=self.clock,
            health=self._health,
            seal=self._seal,
        )
