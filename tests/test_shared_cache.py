"""The Redis-backed parts one at a time, on a real redis-server and a clock the test moves:
what they store and for how long, what they count and log, and what they do when Redis fails
or holds something this bot did not write."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Executor
from typing import Any

import pytest
import redis

from bot import cache, metrics
from bot.cache import (
    Caches,
    RedisCache,
    SingleFlightCache,
    Stamped,
)
from bot.cloudflare import CloudflareClient, IdentityProvider, Unavailable
from bot.codec import PROVIDERS, VERSION, Seal
from bot.directory import Directory
from bot.limits import RedisHealth, RefreshThrottle, SharedCallBudget, SharedRefreshThrottle
from bot.pacing import CallBudget
from bot.settings import CloudflareSettings, Secret
from bot.users import USERS, ScimUser, UserDirectory
from bot.workers import Workers
from tests.conftest import FakeClock
from tests.fake_access import make_user
from tests.fakes import ACCOUNT_ID, API_TOKEN, PROVIDER_ID, FakeCloudflare, make_group
from tests.helpers import Later, RedisServer

pytestmark = pytest.mark.usefixtures("redis_server")
SEAL = Seal.from_secret(API_TOKEN)
OKTA = (IdentityProvider("11111111-1111-4111-8111-111111111111", "Ökta", "okta", True),)
NAME = f"scim-groups:v{VERSION}:providers:acct"
DOWN = Unavailable("Cloudflare failed", status=503)


class Loads:
    """A load that counts its calls and gives back its value, or raises its error."""

    def __init__(self, value: tuple[IdentityProvider, ...] | Exception = OKTA) -> None:
        self.value: Any = value
        self.calls = 0

    def __call__(self) -> tuple[IdentityProvider, ...]:
        self.calls += 1
        if isinstance(self.value, Exception):
            raise self.value
        return self.value  # type: ignore[no-any-return]


@pytest.fixture
def client(redis_server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def shared(
    client: redis.Redis,
    clock: FakeClock,
    *,
    background: Executor | None = None,
    stale_maxsize: int = 8,
    **options: Any,
) -> RedisCache[str, Any]:
    local: SingleFlightCache[str, Any] = SingleFlightCache(
        ttl=60,
        clock=clock,
        maxsize=8,
        stale_maxsize=stale_maxsize,
        serve_aging_seconds=900 if background is not None else 0,
        background=background,
    )
    return RedisCache(
        "providers",
        client=client,
        local=local,
        codec=PROVIDERS,
        ttl=60,
        clock=clock,
        health=options.pop("health", RedisHealth(clock)),
        seal=SEAL,
        **options,
    )


@pytest.fixture
def fresh_log(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Forget which rejections this process has logged, and capture the log."""
    monkeypatch.setattr(cache, "_LOGGED", set())
    caplog.set_level(logging.INFO, logger="bot")


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [
        {"level": record.levelname, **record.fields}  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "fields", {}).get("event") == name
    ]


def test_an_answer_is_stored_sealed_for_the_ttl_and_its_last_good_copy_for_a_day(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())

    assert answer_in_redis(client, clock) == PROVIDERS.dumps(OKTA)
    assert 59_000 < client.pttl(NAME) <= 60_000
    stored_at, text = json.loads(SEAL.open(NAME + ":stale", client.get(NAME + ":stale") or b""))
    assert stored_at == clock.time()
    assert text == PROVIDERS.dumps(OKTA)
    assert "Ökta".encode() in (client.get(NAME + ":stale") or b"")  # as it is, not \u-escaped
    assert 86_399_000 < client.pttl(NAME + ":stale") <= 86_400_000
    assert client.get(NAME + ":lock") is None


def test_a_ttl_under_a_millisecond_still_expires(client: redis.Redis, clock: FakeClock) -> None:
    local: SingleFlightCache[str, Any] = SingleFlightCache(ttl=60, clock=clock, maxsize=8, stale_maxsize=8)
    tiny = RedisCache(
        "providers", client=client, local=local, codec=PROVIDERS, ttl=0.0001, clock=clock,
        health=RedisHealth(clock), seal=SEAL,
    )  # fmt: skip

    tiny.get("acct", Loads())

    assert client.pttl(NAME) in (0, 1, -2)  # a millisecond, or already gone


def test_another_process_answer_is_used_and_marked_as_from_the_cache(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())
    load = Loads(())

    answer = shared(client, clock).get("acct", load)

    assert answer.value == OKTA
    assert answer.from_cache
    assert load.calls == 0
    assert shared(client, clock).holds("acct") is False  # nothing in that process's own memory yet


def test_a_refresh_asks_cloudflare_even_with_an_answer_in_redis(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())
    load = Loads(())

    answer = shared(client, clock).get("acct", load, refresh=True)

    assert (answer.value, answer.from_cache, load.calls) == ((), False, 1)
    assert answer_in_redis(client, clock) == PROVIDERS.dumps(())


def test_the_last_good_copy_in_redis_is_marked_stale_with_its_age(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())
    client.delete(NAME)
    clock.advance(100)

    answer = shared(client, clock).get("acct", Loads(DOWN))

    assert answer.value == OKTA
    assert answer.from_cache
    assert answer.stale is not None
    assert answer.stale.age_seconds == 100
    assert answer.stale.error is DOWN


def test_without_stale_ok_a_failure_is_raised_even_with_a_last_good_copy(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())
    client.delete(NAME)

    with pytest.raises(Unavailable):
        shared(client, clock).get("acct", Loads(DOWN), stale_ok=False)


def answer_in_redis(client: redis.Redis, clock: FakeClock) -> str:
    """Give back the answer stored under NAME, checking it was stored as fetched just now."""
    fetched_at, answer = json.loads(SEAL.open(NAME, client.get(NAME) or b""))
    assert fetched_at == clock.time()
    return str(answer)


STALE_COPIES = {
    "forged": lambda text: Seal.from_secret("a guess").close(NAME + ":stale", json.dumps([1.0, text])),
    "stored in the future": lambda text: SEAL.close(NAME + ":stale", json.dumps([9e12, text])),
    "not a pair": lambda text: SEAL.close(NAME + ":stale", json.dumps([1.0])),
    "not JSON": lambda text: SEAL.close(NAME + ":stale", "[1.0,"),
    "a bad value": lambda text: SEAL.close(NAME + ":stale", json.dumps([1.0, f"[{VERSION},[[1,2,3,4]]]"])),
}


STALE_DETAILS = {
    "forged": "forged: seal does not match",
    "stored in the future": "malformed: TypeError: not a past Unix time",
    "not a pair": "malformed: ValueError: not enough values to unpack (expected 2, got 1)",
    "not JSON": "malformed: JSONDecodeError: Expecting value: line 1 column 6 (char 5)",
    "a bad value": "malformed: TypeError: not a string field",  # a provider's id that is a number
}


@pytest.mark.parametrize("case", STALE_COPIES, ids=list(STALE_COPIES))
@pytest.mark.usefixtures("fresh_log")
def test_a_last_good_copy_this_bot_did_not_write_is_not_shown(
    client: redis.Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    client.set(NAME + ":stale", STALE_COPIES[case](PROVIDERS.dumps(OKTA)), px=60_000)
    reason = "forged" if case == "forged" else "malformed"
    before = metrics.REDIS_REJECTED.labels(reason)._value.get()

    with pytest.raises(Unavailable):
        shared(client, clock).get("acct", Loads(DOWN))

    assert metrics.REDIS_REJECTED.labels(reason)._value.get() == before + 1
    [logged] = events(caplog, "redis_entry_rejected")
    assert logged["level"] == "WARNING"
    assert logged["kind"] == "providers"
    assert logged["reason"] == reason
    assert logged["detail"] == STALE_DETAILS[case]


@pytest.mark.usefixtures("fresh_log")
def test_each_kind_of_rejection_is_logged_once_per_process_and_counted_every_time(
    client: redis.Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    forger = Seal.from_secret("a guess")
    counts = [metrics.REDIS_REJECTED.labels("forged")._value.get()]

    for _ in range(3):
        client.set(NAME, forger.close(NAME, PROVIDERS.dumps(())), px=60_000)
        assert shared(client, clock).get("acct", Loads()).value == OKTA
        counts.append(metrics.REDIS_REJECTED.labels("forged")._value.get())

    assert counts == sorted(set(counts))  # every read of a forged entry counted
    assert events(caplog, "redis_entry_rejected") == [
        {
            "level": "WARNING",
            "event": "redis_entry_rejected",
            "kind": "providers",
            "reason": "forged",
            "detail": "forged: seal does not match",
        }
    ]


@pytest.mark.usefixtures("fresh_log")
def test_redis_failing_is_logged_once_and_left_alone_for_its_pause(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    health = RedisHealth(clock, pause_seconds=5.0)
    before = metrics.REDIS_ERRORS._value.get()

    health.failed(redis.ConnectionError("refused"))
    clock.advance(4.9)
    health.failed(redis.TimeoutError("slow"))  # within the pause: counted, not logged again

    assert metrics.REDIS_ERRORS._value.get() == before + 2
    assert events(caplog, "redis_failed") == [
        {"level": "WARNING", "event": "redis_failed", "error": "ConnectionError", "pause_s": 5.0}
    ]
    assert not health.usable()
    clock.advance(4.9)
    assert not health.usable()  # the second failure started a new pause
    clock.advance(0.1)
    assert health.usable()


def test_while_redis_is_down_answers_come_from_this_process_refreshes_included(
    redis_server: RedisServer,
    clock: FakeClock,
) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
    health = RedisHealth(clock)
    cache_ = shared(client, clock, health=health)
    redis_server.stop()
    load = Loads()

    assert cache_.get("acct", load).from_cache is False  # the Redis error costs no answer
    assert cache_.get("acct", load).from_cache is True
    assert cache_.get("acct", load, refresh=True).from_cache is False
    assert load.calls == 2
    assert not health.usable()
    load.value = DOWN
    stale = cache_.get("acct", load, refresh=True)
    assert stale.stale is not None  # this process's last good copy
    with pytest.raises(Unavailable):
        cache_.get("acct", load, refresh=True, stale_ok=False)


def test_the_shared_budget_waits_exactly_as_long_as_one_call_takes_to_come_back(
    client: redis.Redis,
) -> None:
    clock = FakeClock()
    budget = SharedCallBudget(
        client,
        "acct",
        calls=1,
        per=1000,
        local=CallBudget(1, per=1000, clock=clock),
        health=RedisHealth(clock),
    )
    seconds, micro = client.time()
    now_ms = seconds * 1000 + micro // 1000
    client.hset(f"scim-groups:v{VERSION}:budget:acct", mapping={"tokens": "0.5", "at": str(now_ms)})

    wait = budget.take()

    assert 499.9 < wait <= 500.0  # half a call at one call per 1,000 seconds


def test_the_refresh_throttle_says_how_long_is_left_to_the_millisecond(client: redis.Redis) -> None:
    clock = FakeClock()
    throttle = SharedRefreshThrottle(
        client, cooldown=15, local=RefreshThrottle(clock), health=RedisHealth(clock)
    )
    key = f"scim-groups:v{VERSION}:refresh:U0ALICE"

    assert throttle.wait("U0ALICE") is None
    assert 14_900 < client.pttl(key) <= 15_000
    client.pexpire(key, 10_000)
    before = client.pttl(key)
    wait = throttle.wait("U0ALICE")
    after = client.pttl(key)

    assert wait is not None
    # Redis's clock runs on while the test does: the wait lies between what was left just before
    # and just after it was asked, however slow the machine.
    assert after <= wait * 1000 <= before
    client.pexpire(key, 300)
    assert throttle.wait("U0ALICE") == 1.0  # never "refresh again in 0 seconds"


def test_the_refresh_throttle_of_one_process_counts_down_per_user(clock: FakeClock) -> None:
    throttle = RefreshThrottle(clock)

    assert throttle.wait("U0ALICE") is None
    clock.advance(10)
    assert (throttle.wait("U0ALICE"), throttle.wait("U0BOB")) == (5.0, None)
    clock.advance(4.5)
    assert throttle.wait("U0ALICE") == 1.0  # half a second left: never "again in 0 seconds"
    clock.advance(0.5)
    assert throttle.wait("U0ALICE") is None


def test_the_refresh_throttle_of_one_process_remembers_ten_thousand_users_at_most(clock: FakeClock) -> None:
    throttle = RefreshThrottle(clock)
    for user in range(10_001):
        throttle.wait(f"U{user}")

    assert throttle.wait("U1") == 15.0
    assert throttle.wait("U0") is None  # the oldest, forgotten: memory stays bounded


def test_the_refresh_throttle_falls_back_to_this_process_per_user(
    redis_server: RedisServer,
) -> None:
    clock = FakeClock()
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
    throttle = SharedRefreshThrottle(
        client, cooldown=15, local=RefreshThrottle(clock), health=RedisHealth(clock)
    )
    redis_server.stop()

    assert throttle.wait("U0ALICE") is None
    assert throttle.wait("U0BOB") is None
    assert throttle.wait("U0ALICE") == 15.0


def test_a_forged_user_in_redis_is_never_shown(
    client: redis.Redis, clock: FakeClock, cloudflare: FakeCloudflare
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(1)]
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    api = CloudflareClient(settings, clock=clock)
    workers = Workers()
    people = UserDirectory(
        api, caches=Caches(ttl=60, clock=clock, shared=client, seal=SEAL), parallel=workers.in_parallel
    )
    name = f"scim-groups:v{VERSION}:users:{ACCOUNT_ID}:{PROVIDER_ID}:user0001@example.com"
    forged = USERS.dumps(
        (ScimUser("x", "x", "<!channel> FORGED", "user0001@example.com", True, (), None, None),)
    )
    client.set(name, Seal.from_secret("a guess").close(name, forged), px=60_000)

    found = people.lookup(PROVIDER_ID, ("user0001@example.com",))
    workers.close()
    api.close()

    assert [user.display_name for user in found.users] == ["User 0001"]
    assert "FORGED" not in SEAL.open(name, client.get(name) or b"")


def test_each_key_has_its_own_answer_in_this_process_and_in_redis(
    client: redis.Redis, clock: FakeClock
) -> None:
    cache_ = shared(client, clock)
    other = (IdentityProvider("22222222-2222-4222-8222-222222222222", "Entra", "azureAD", True),)

    assert cache_.get("acct", Loads()).value == OKTA
    assert cache_.get("other", Loads(other)).value == other
    assert cache_.get("acct", Loads(())).value == OKTA
    assert cache_.holds("acct")
    assert not cache_.holds("nobody")
    assert answer_in_redis(client, clock) == PROVIDERS.dumps(OKTA)


def test_keys_in_redis_are_readable_and_a_tuple_in_a_key_is_joined_with_commas(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get(("acct", ("b", "a"), 3), Loads())  # type: ignore[arg-type]

    assert client.get(f"scim-groups:v{VERSION}:providers:acct:b,a:3") is not None


def test_a_last_good_copy_of_this_process_is_not_shown_when_stale_copies_are_refused(
    client: redis.Redis, clock: FakeClock
) -> None:
    cache_ = shared(client, clock)
    cache_.get("acct", Loads())
    clock.advance(61)
    client.delete(NAME)  # expired there too

    with pytest.raises(Unavailable):
        cache_.get("acct", Loads(DOWN), stale_ok=False)
    stale = cache_.get("acct", Loads(DOWN))
    assert stale.stale is not None
    assert stale.stale.age_seconds == 61
    assert stale.stale.error is DOWN


def test_a_last_good_copy_stored_this_instant_is_no_age_at_all(client: redis.Redis, clock: FakeClock) -> None:
    shared(client, clock).get("acct", Loads())
    client.delete(NAME)

    stale = shared(client, clock).get("acct", Loads(DOWN)).stale

    assert stale is not None
    assert stale.age_seconds == 0.0


class SteppingClock(FakeClock):
    """A clock whose sleeps run `on_sleep` first: what others do while this process waits."""

    def __init__(self, on_sleep: Any) -> None:
        super().__init__()
        self.on_sleep = on_sleep

    def sleep(self, seconds: float) -> None:
        self.on_sleep(len(self.slept))
        super().sleep(seconds)


def test_a_waiter_polls_every_20_ms_and_takes_the_answer_the_lock_owner_stores(client: redis.Redis) -> None:
    client.set(NAME + ":lock", "another process", px=8_000)

    def owner_stores(polls: int) -> None:
        if polls == 3:
            stored = json.dumps([1_767_226_600.0, PROVIDERS.dumps(OKTA)])  # fetched as the wait began
            client.set(NAME, SEAL.close(NAME, stored), px=60_000)

    clock = SteppingClock(owner_stores)
    load = Loads(())

    answer = shared(client, clock).get("acct", load)

    assert (answer.value, answer.from_cache, load.calls) == (OKTA, True, 0)
    assert clock.slept == [0.02] * 4


def test_a_waiter_whose_lock_owner_never_answers_loads_after_the_lock_time(client: redis.Redis) -> None:
    client.set(NAME + ":lock", "a frozen process", px=60_000)
    clock = SteppingClock(lambda polls: None)
    load = Loads()

    answer = shared(client, clock).get("acct", load)

    assert (answer.value, load.calls) == (OKTA, 1)
    assert 7.9 < sum(clock.slept) < 8.1  # LOCK_SECONDS


def test_the_lock_expires_on_its_own_should_its_owner_die(client: redis.Redis, clock: FakeClock) -> None:
    seen: list[int] = []

    def load() -> tuple[IdentityProvider, ...]:
        seen.append(client.pttl(NAME + ":lock"))
        return OKTA

    shared(client, clock).get("acct", load)

    assert 7_000 < seen[0] <= 8_000
    assert client.get(NAME + ":lock") is None


@pytest.mark.usefixtures("fresh_log")
def test_the_budget_and_throttle_name_the_redis_error_they_fell_back_from(
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def budget(client: redis.Redis, clock: FakeClock, health: RedisHealth) -> object:
        local = CallBudget(10, per=10, clock=clock)
        return SharedCallBudget(client, "acct", calls=10, per=10, local=local, health=health).take()

    def throttle(client: redis.Redis, clock: FakeClock, health: RedisHealth) -> object:
        local = RefreshThrottle(clock)
        return SharedRefreshThrottle(client, cooldown=15, local=local, health=health).wait("U0ALICE")

    for make in (budget, throttle):
        clock = FakeClock()
        client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
        caplog.clear()
        make(client, clock, RedisHealth(clock))
        assert [event["error"] for event in events(caplog, "redis_failed")] == ["ConnectionError"]


@pytest.mark.usefixtures("fresh_log")
def test_when_redis_fails_during_a_request_this_process_answers_as_it_was_asked(
    redis_server: RedisServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
    cache_ = shared(client, clock)
    load = Loads()
    cache_.get("acct", load)  # kept in this process too
    redis_server.stop()

    def after_the_pause() -> None:  # so that each call tries Redis again, and meets its error
        clock.advance(5.1)

    after_the_pause()
    refreshed = cache_.get("acct", load, refresh=True)
    calls = load.calls
    after_the_pause()
    load.value = DOWN
    with pytest.raises(Unavailable):
        cache_.get("acct", load, refresh=True, stale_ok=False)
    after_the_pause()
    stale = cache_.get("acct", load, refresh=True)

    assert (refreshed.from_cache, calls) == (False, 2)
    assert stale.stale is not None
    assert [event["error"] for event in events(caplog, "redis_failed")] == ["ConnectionError"] * 3


def test_this_process_last_good_copy_is_shown_when_redis_has_none(
    client: redis.Redis, clock: FakeClock
) -> None:
    cache_ = shared(client, clock)
    cache_.get("acct", Loads())
    clock.advance(61)
    client.delete(NAME, NAME + ":stale")

    stale = cache_.get("acct", Loads(DOWN))

    assert stale.value == OKTA
    assert stale.stale is not None
    assert stale.stale.age_seconds == 61


class StoresJustBeforeTheLock(redis.Redis):
    """A Redis client that, as this process takes the lock, finds another process has just stored
    the answer and let go of the lock (the race the re-check after taking the lock is for)."""

    def set(self, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        if str(name).endswith(":lock"):
            stored = json.dumps([1_767_226_000.0, PROVIDERS.dumps(OKTA)])  # fetched a moment ago
            super().set(NAME, SEAL.close(NAME, stored), px=60_000)
        return super().set(name, value, *args, **kwargs)


def test_an_answer_stored_by_another_process_just_before_the_lock_is_taken_is_used(
    redis_server: RedisServer,
    clock: FakeClock,
) -> None:
    client = StoresJustBeforeTheLock.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
    load = Loads(())

    answer = shared(client, clock).get("acct", load)

    assert (answer.value, answer.from_cache, load.calls) == (OKTA, True, 0)
    assert client.get(NAME + ":lock") is None  # taken and let go


def test_another_process_reads_when_the_answer_was_fetched_not_when_it_read_it(
    client: redis.Redis, clock: FakeClock
) -> None:
    fetched_at = clock.time()
    shared(client, clock).get("acct", Loads())
    clock.advance(40)

    elsewhere = shared(client, clock).get("acct", Loads(()))  # a process with nothing of its own

    assert (elsewhere.value, elsewhere.from_cache, elsewhere.fetched_at) == (OKTA, True, fetched_at)


def test_a_last_good_copy_in_redis_says_when_it_was_fetched(client: redis.Redis, clock: FakeClock) -> None:
    fetched_at = clock.time()
    shared(client, clock).get("acct", Loads())
    client.delete(NAME)  # its TTL ran out (Redis keeps its own time)
    clock.advance(100)

    stale = shared(client, clock).get("acct", Loads(DOWN))

    assert (stale.value, stale.fetched_at) == (OKTA, fetched_at)
    assert stale.stale is not None


def test_the_last_copy_is_this_process_own_else_any_process_stored_in_redis(
    client: redis.Redis, clock: FakeClock
) -> None:
    writer, reader = shared(client, clock), shared(client, clock)
    writer.get("acct", Loads())
    fetched = clock.time()
    clock.advance(86_000)  # past the TTL, within the day a last good copy is kept

    from_redis = reader.last("acct")
    client.set(NAME + ":stale", "forged")

    assert from_redis is not None
    assert (from_redis.value, from_redis.fetched_at) == (OKTA, fetched)
    assert shared(client, clock).last("acct") is None  # nothing trusted: no copy
    assert writer.last("acct") is not None  # this process's own, whatever Redis holds
    assert reader.last("other") is None


def test_the_last_copy_is_none_while_redis_fails(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    down = redis.Redis(port=1, socket_timeout=0.1, socket_connect_timeout=0.1)
    health = RedisHealth(clock)
    cache = shared(down, clock, health=health)
    before = metrics.REDIS_ERRORS._value.get()

    first = cache.last("acct")
    again = cache.last("acct")  # within the pause: Redis is not asked

    assert (first, again) == (None, None)
    assert not health.usable()  # left alone for its pause
    assert metrics.REDIS_ERRORS._value.get() == before + 1
    assert [record.getMessage() for record in caplog.records] == [
        "redis_failed error=ConnectionError pause_s=5.0"
    ]


def test_a_directory_another_process_read_is_brought_up_to_date_here(
    client: redis.Redis, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    first, second = (
        Directory(
            CloudflareClient(settings, clock=clock),
            caches=Caches(ttl=60, clock=clock, shared=client, seal=SEAL),
        )
        for _ in range(2)
    )
    first.search(PROVIDER_ID, "")
    cloudflare.push(PROVIDER_ID, make_group(3, "changed"), at=clock.time())
    clock.advance(61)
    client.delete(f"scim-groups:v{VERSION}:walk:{ACCOUNT_ID}:{PROVIDER_ID}")  # Redis's own TTL, run out
    before = len(cloudflare.calls)

    found = second.search(PROVIDER_ID, "")
    first.close()
    second.close()

    assert [path.rsplit("/", 1)[-1] for path, _ in cloudflare.calls[before:]] == ["updates", "groups"]
    assert found.groups[3].display_name == "changed"
    assert len(found.groups) == 1_000


OTHER = (IdentityProvider("22222222-2222-4222-8222-222222222222", "Entra", "azureAD", True),)


def test_a_process_that_never_read_an_answer_shows_the_copy_another_stored_and_refreshes_it(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())
    fetched = clock.time()
    clock.advance(120)
    client.delete(NAME)  # Redis's own TTL, run out
    later, load = Later(), Loads(OTHER)
    reader = shared(client, clock, background=later)

    aging = reader.get("acct", load)
    again = reader.get("acct", load)
    later.run()
    fresh = reader.get("acct", load)

    assert (aging.value, aging.aging, aging.fetched_at, aging.from_cache) == (OKTA, True, fetched, True)
    assert (again.value, again.aging) == (OKTA, True)
    assert (fresh.value, fresh.aging, fresh.fetched_at) == (OTHER, False, fetched + 120)
    assert load.calls == 1


def test_a_copy_another_process_stored_past_the_bound_is_not_shown_but_loaded_over(
    client: redis.Redis, clock: FakeClock
) -> None:
    shared(client, clock).get("acct", Loads())
    clock.advance(901)
    client.delete(NAME)
    later, load = Later(), Loads(OTHER)
    reader = shared(client, clock, background=later)

    answer = reader.get("acct", load)

    assert (answer.value, answer.aging, answer.from_cache) == (OTHER, False, False)
    assert later.queued == []
    assert reader.last("acct") == Stamped(OTHER, clock.time())


def test_a_process_with_its_own_copy_does_not_ask_redis_for_another(
    client: redis.Redis, clock: FakeClock
) -> None:
    later = Later()
    reader = shared(client, clock, background=later)
    reader.get("acct", Loads())
    clock.advance(120)
    client.set(NAME + ":stale", "not this one")  # read, it would be counted as forged
    before = metrics.REDIS_REJECTED.labels("forged")._value.get()

    aging = reader.get("acct", Loads(OTHER))

    assert (aging.value, aging.aging) == (OKTA, True)
    assert metrics.REDIS_REJECTED.labels("forged")._value.get() == before


def test_a_fresh_answer_whose_last_copy_was_pushed_out_reads_no_other_from_redis(
    client: redis.Redis, clock: FakeClock
) -> None:
    reader = shared(client, clock, background=Later(), stale_maxsize=1)
    reader.get("acct", Loads())
    reader.get("other", Loads(OTHER))  # pushes acct's last copy out; its fresh answer stays
    client.set(NAME + ":stale", "not this one")
    before = metrics.REDIS_REJECTED.labels("forged")._value.get()

    again = reader.get("acct", Loads(OTHER))

    assert (again.value, again.from_cache) == (OKTA, True)
    assert metrics.REDIS_REJECTED.labels("forged")._value.get() == before
