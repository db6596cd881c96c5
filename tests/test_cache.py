"""The answer cache: TTL on an injected clock, single flight, and stale copies."""

from __future__ import annotations

import threading

import pytest

from bot.cache import Cached, SingleFlightCache, Staleness
from bot.cloudflare import AuthFailed, RateLimited, Unavailable
from tests.conftest import FakeClock, wait_until


def cache(clock: FakeClock, ttl: float = 10) -> SingleFlightCache[str, int]:
    return SingleFlightCache(ttl=ttl, clock=clock, maxsize=16, stale_maxsize=4)


def test_cached_values_expire_on_the_injected_clock(clock: FakeClock) -> None:
    answers = cache(clock)
    loads = iter(range(100))

    assert answers.get("k", lambda: next(loads)) == Cached(0, from_cache=False)
    clock.advance(9.9)
    assert answers.get("k", lambda: next(loads)) == Cached(0, from_cache=True)
    clock.advance(0.2)
    assert answers.get("k", lambda: next(loads)) == Cached(1, from_cache=False)


def test_refresh_bypasses_the_cache_and_stores_the_fresh_value(clock: FakeClock) -> None:
    answers = cache(clock)
    loads = iter(range(100))
    answers.get("k", lambda: next(loads))

    assert answers.get("k", lambda: next(loads), refresh=True).value == 1
    assert answers.get("k", lambda: next(loads)) == Cached(1, from_cache=True)


def test_concurrent_misses_for_one_key_make_one_load(clock: FakeClock) -> None:
    answers: SingleFlightCache[str, str] = SingleFlightCache(ttl=10, clock=clock, maxsize=4, stale_maxsize=4)
    release = threading.Event()
    loads: list[int] = []

    def load() -> str:
        loads.append(1)
        release.wait(5)
        return "value"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(answers.get("k", load).value)) for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: loads, "the first load to start")
    release.set()
    for thread in threads:
        thread.join()

    assert results == ["value"] * 10
    assert len(loads) == 1


def test_callers_that_join_a_load_that_fails_get_its_failure(clock: FakeClock) -> None:
    answers: SingleFlightCache[str, str] = SingleFlightCache(ttl=10, clock=clock, maxsize=4, stale_maxsize=4)
    release = threading.Event()
    down = Unavailable("Cloudflare failed", status=503)

    def load() -> str:
        release.wait(5)
        raise down

    outcomes: list[object] = []

    def ask() -> None:
        try:
            outcomes.append(answers.get("k", load, stale_ok=False))
        except Unavailable as error:
            outcomes.append(error)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: answers.holds("k"), "the load to start")
    release.set()
    for thread in threads:
        thread.join(5)

    assert outcomes == [down] * 4


def test_a_failed_load_is_not_cached_and_reaches_every_waiter(clock: FakeClock) -> None:
    answers = cache(clock)

    def fail() -> int:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        answers.get("k", fail)
    assert answers.get("k", lambda: 5) == Cached(5, from_cache=False)


@pytest.mark.parametrize("error", [Unavailable("down", status=503), RateLimited("slow down", retry_after=30)])
def test_a_passing_failure_gives_the_last_good_copy_marked_with_its_age(
    clock: FakeClock, error: Exception
) -> None:
    answers = cache(clock)
    answers.get("k", lambda: 7)
    clock.advance(600)  # long past the TTL

    def fail() -> int:
        raise error

    assert answers.get("k", fail) == Cached(7, from_cache=True, stale=Staleness(600, error))  # type: ignore[arg-type]
    assert answers.get("k", lambda: 8) == Cached(8, from_cache=False)  # the next success drops the mark


def test_refused_credentials_never_show_a_stale_copy(clock: FakeClock) -> None:
    answers = cache(clock)
    answers.get("k", lambda: 7)

    def refuse() -> int:
        raise AuthFailed("revoked", status=403)

    with pytest.raises(AuthFailed):
        answers.get("k", refuse, refresh=True)


def test_stale_copies_are_bounded(clock: FakeClock) -> None:
    answers = cache(clock)
    for number in range(6):
        answers.get(f"k{number}", lambda number=number: number)  # type: ignore[misc]

    def fail() -> int:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        answers.get("k0", fail, refresh=True)
    assert answers.get("k5", fail, refresh=True).value == 5
