"""The shared cache, against a real redis-server on loopback (skipped where none is installed;
.ci/run installs one)."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import redis

from bot import metrics
from bot.cache import (
    Caches,
    RedisCache,
    SingleFlightCache,
)
from bot.clock import Clock, SystemClock
from bot.cloudflare import MAX_TEXT, CloudflareClient, IdentityProvider
from bot.codec import PROVIDERS, VERSION, Seal
from bot.directory import Directory
from bot.limits import RedisHealth, RefreshThrottle, SharedCallBudget, SharedRefreshThrottle
from bot.pacing import CallBudget
from bot.settings import CloudflareSettings, Secret
from tests.conftest import FakeClock, wait_until
from tests.fakes import (
    ACCOUNT_ID,
    API_TOKEN,
    PROVIDER_ID,
    FakeCloudflare,
    FakeSlack,
    command_form,
    make_group,
    signed_headers,
)
from tests.helpers import RedisServer, serving

SEAL = Seal.from_secret(API_TOKEN)  # as every bot process holding this token derives it
pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@contextmanager
def two_bots(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """Run two bot processes sharing one Redis; give back their /slack/events URLs, and the
    first process."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    shared = {"SCIM_GROUPS_REDIS_URL": redis_server.url}
    with (
        serving("python -m bot", cloudflare, slack, tmp_path / "one", **shared) as (one, first),
        serving("python -m bot", cloudflare, slack, tmp_path / "two", **shared) as (two, _),
    ):
        yield one, two, first


Directories = Callable[[Clock], Directory]


@pytest.fixture
def directory_for(cloudflare: FakeCloudflare, redis_server: RedisServer) -> Iterator[Directories]:
    """Give back a maker of directories that share Redis, as two processes would."""
    made: list[Directory] = []

    def make(clock: Clock) -> Directory:
        settings = CloudflareSettings(
            account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
        )
        client = CloudflareClient(settings, clock=clock)
        shared = redis.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
        made.append(Directory(client, caches=Caches(ttl=60, clock=clock, shared=shared, seal=SEAL)))
        return made[-1]

    yield make
    for directory in made:
        directory.close()


def test_two_accounts_sharing_one_redis_each_see_their_own_identity_providers(
    cloudflare: FakeCloudflare, redis_server: RedisServer
) -> None:
    other = FakeCloudflare(account_id="fedcba9876543210fedcba9876543210")
    other.add_provider("22222222-2222-4222-8222-222222222222", "Entra", [])
    clock = SystemClock()
    made: list[Directory] = []
    for fake in (cloudflare, other):
        settings = CloudflareSettings(
            account_id=fake.account_id, base_url=fake.base_url, api_token=Secret(API_TOKEN)
        )
        shared = redis.Redis.from_url(redis_server.url, socket_timeout=5, socket_connect_timeout=5)
        caches = Caches(ttl=60, clock=clock, shared=shared, seal=SEAL)
        made.append(Directory(CloudflareClient(settings, clock=clock), caches=caches))
    try:
        first, second = (directory.identity_providers() for directory in made)
        knows = [directory.knows_identity_providers() for directory in made]
    finally:
        for directory in made:
            directory.close()
        other.close()

    assert ([p.name for p in first], [p.name for p in second]) == (["Okta Production"], ["Entra"])
    assert knows == [True, True]


def test_a_cold_answer_in_one_process_is_warm_in_another(
    directory_for: Directories, cloudflare: FakeCloudflare
) -> None:
    first, second = directory_for(SystemClock()), directory_for(SystemClock())

    cold = first.browse(PROVIDER_ID, page=1, page_size=10)
    warm = second.browse(PROVIDER_ID, page=1, page_size=10)

    assert warm.items == cold.items
    assert (cold.from_cache, warm.from_cache) == (False, True)
    assert len(cloudflare.group_calls()) == 1


def test_long_names_and_a_writer_whose_clock_runs_ahead_are_read_back_and_counted_as_nothing(
    directory_for: Directories, cloudflare: FakeCloudflare
) -> None:
    long_name = "Ü" * 5_000  # longer than the 1,024 the bot once took for a forgery
    endless = "x" * (MAX_TEXT + 10)  # past anything the bot keeps: cut when read, then stored
    cloudflare.groups[PROVIDER_ID][:2] = [make_group(0, long_name), make_group(1, endless)]
    ahead, behind = FakeClock(), FakeClock()
    ahead.wall_step = 600  # the writer's clock runs ten minutes ahead
    rejected = [metrics.REDIS_REJECTED.labels(reason)._value.get() for reason in ("forged", "malformed")]

    directory_for(ahead).browse(PROVIDER_ID, page=1, page_size=10)
    read = directory_for(behind).browse(PROVIDER_ID, page=1, page_size=10)

    assert read.from_cache  # from Redis: no second call
    assert len(cloudflare.group_calls()) == 1
    assert [group.display_name for group in read.items[:2]] == [long_name, endless[:MAX_TEXT]]
    assert read.fetched_at == behind.time()  # counted as fetched now, never in the future
    assert [metrics.REDIS_REJECTED.labels(r)._value.get() for r in ("forged", "malformed")] == rejected


def test_a_burst_split_across_processes_makes_one_call(
    directory_for: Directories, cloudflare: FakeCloudflare
) -> None:
    directories = [directory_for(SystemClock()) for _ in range(2)]
    cloudflare.gate.clear()
    threads = [
        threading.Thread(
            target=directories[n % 2].browse, args=(PROVIDER_ID,), kwargs={"page": 1, "page_size": 10}
        )
        for n in range(10)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: cloudflare.calls, "the first call to Cloudflare")
    time.sleep(0.2)  # every thread is now waiting: in its process, or on the other's lock
    cloudflare.gate.set()
    for thread in threads:
        thread.join(timeout=10)

    assert len(cloudflare.group_calls()) == 1


def test_redis_going_away_loses_no_answer_and_it_is_used_again_when_back(
    directory_for: Directories, cloudflare: FakeCloudflare, redis_server: RedisServer
) -> None:
    clock = FakeClock()
    first, second = directory_for(clock), directory_for(clock)
    errors = metrics.REDIS_ERRORS._value.get()

    redis_server.stop()
    listing = first.browse(PROVIDER_ID, page=1, page_size=10)

    assert len(listing.items) == 10
    assert metrics.REDIS_ERRORS._value.get() > errors
    redis_server.start()
    clock.advance(5)  # Redis is tried again after its pause
    first.browse(PROVIDER_ID, page=2, page_size=10, refresh=True)
    calls = len(cloudflare.group_calls())
    assert second.browse(PROVIDER_ID, page=2, page_size=10).from_cache
    assert len(cloudflare.group_calls()) == calls


def test_stored_answers_expire_and_hold_no_secret(
    directory_for: Directories, redis_server: RedisServer
) -> None:
    directory_for(SystemClock()).search(PROVIDER_ID, "group-0001")

    client = redis.Redis.from_url(redis_server.url)
    keys: list[bytes] = client.keys("*")  # type: ignore[assignment]
    assert keys
    assert all(key.startswith(f"scim-groups:v{VERSION}:".encode()) for key in keys)
    assert all(client.pttl(key) > 0 for key in keys)
    assert not [key for key in keys if key.endswith(b":lock")]  # released once the answer was stored
    assert all(API_TOKEN.encode() not in (client.get(key) or b"") for key in keys)


def test_two_bot_processes_share_answers(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_bots(cloudflare, slack, tmp_path, redis_server) as (url_one, url_two, _):
        for url, hook in ((url_one, "one"), (url_two, "two")):
            body = urlencode(command_form("", slack.response_url(hook)))
            httpx.post(url, content=body, headers=signed_headers(body), timeout=10)
            slack.wait_for_hook(hook)

    assert len(cloudflare.group_calls()) == 1
    assert sum(path.endswith("/identity_providers") for path, _ in cloudflare.calls) == 1


def test_the_call_budget_is_shared_by_every_process(redis_server: RedisServer) -> None:
    clock, client = FakeClock(), redis.Redis.from_url(redis_server.url)
    budgets = [
        SharedCallBudget(
            client, ACCOUNT_ID, calls=3, per=300, local=CallBudget(3, clock=clock), health=RedisHealth(clock)
        )
        for _ in range(2)
    ]

    spent = [budgets[n % 2].take() for n in range(3)]

    assert spent == [0.0, 0.0, 0.0]
    assert 90 < budgets[0].take() <= 100  # three calls per 300 s: the next in about 100 s


def test_the_refresh_throttle_is_shared_by_every_process(redis_server: RedisServer) -> None:
    clock, client = FakeClock(), redis.Redis.from_url(redis_server.url)
    throttles = [
        SharedRefreshThrottle(client, cooldown=15, local=RefreshThrottle(clock), health=RedisHealth(clock))
        for _ in range(2)
    ]

    assert throttles[0].wait("U0ALICE") is None
    wait = throttles[1].wait("U0ALICE")
    assert wait is not None
    assert 14 < wait <= 15
    assert throttles[1].wait("U0BOB") is None


def test_without_redis_the_budget_and_throttle_fall_back_to_the_process(redis_server: RedisServer) -> None:
    clock, client = FakeClock(), redis.Redis.from_url(redis_server.url, socket_timeout=5)
    health = RedisHealth(clock)
    budget = SharedCallBudget(
        client, ACCOUNT_ID, calls=1, per=300, local=CallBudget(1, clock=clock), health=health
    )
    throttle = SharedRefreshThrottle(client, cooldown=15, local=RefreshThrottle(clock), health=health)
    redis_server.stop()

    assert budget.take() == 0.0
    assert budget.take() > 0  # the process's own bucket, one call per 300 s
    assert throttle.wait("U0ALICE") is None
    assert throttle.wait("U0ALICE") is not None


def test_evicted_answers_are_fetched_again(
    directory_for: Directories, cloudflare: FakeCloudflare, redis_server: RedisServer
) -> None:
    first, second = directory_for(SystemClock()), directory_for(SystemClock())
    first.browse(PROVIDER_ID, page=1, page_size=10)
    redis.Redis.from_url(redis_server.url).flushall()  # as an eviction under memory pressure would

    assert len(second.browse(PROVIDER_ID, page=1, page_size=10).items) == 10
    assert len(cloudflare.group_calls()) == 2


def test_a_bot_process_whose_redis_dies_keeps_answering(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    with serving("python -m bot", cloudflare, slack, tmp_path, SCIM_GROUPS_REDIS_URL=redis_server.url) as (
        url,
        _,
    ):
        for hook in ("before", "after"):
            if hook == "after":
                redis_server.stop()
            body = urlencode(command_form("oncall" if hook == "after" else "", slack.response_url(hook)))
            response = httpx.post(url, content=body, headers=signed_headers(body), timeout=10)
            assert response.status_code == 200
            reply = response.json() if response.content else slack.wait_for_hook(hook).body
            assert reply["blocks"][0]["type"] == "header"


def test_a_lock_whose_owner_died_blocks_no_one_for_long(redis_server: RedisServer) -> None:
    client, clock = redis.Redis.from_url(redis_server.url), SystemClock()
    local: SingleFlightCache[str, tuple[IdentityProvider, ...]] = SingleFlightCache(
        ttl=60, clock=clock, maxsize=4, stale_maxsize=4
    )
    cache = RedisCache(
        "providers", client=client, local=local, codec=PROVIDERS, ttl=60, clock=clock,
        health=RedisHealth(clock), seal=SEAL, lock_seconds=0.5,
    )  # fmt: skip
    client.set(f"scim-groups:v{VERSION}:providers:acct:lock", "a process that died", px=60_000)
    okta = (IdentityProvider(PROVIDER_ID, "Okta", "okta", True),)

    started = time.monotonic()
    answer = cache.get("acct", lambda: okta)

    assert answer.value == okta
    assert time.monotonic() - started < 5


def test_a_burst_split_across_two_bot_processes_makes_one_call(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_bots(cloudflare, slack, tmp_path, redis_server) as (one, two, _):
        cloudflare.gate.clear()
        hooks = [f"burst-{n}" for n in range(10)]
        for n, hook in enumerate(hooks):
            body = urlencode(command_form("", slack.response_url(hook)))
            httpx.post(one if n % 2 else two, content=body, headers=signed_headers(body), timeout=10)
        time.sleep(0.5)  # every request is now waiting: in its process, or on the other's lock
        cloudflare.gate.set()
        for hook in hooks:
            slack.wait_for_hook(hook)

    assert len(cloudflare.group_calls()) == 1


def test_a_redis_that_hangs_costs_a_timeout_then_is_left_alone(cloudflare: FakeCloudflare) -> None:
    with socket.socket() as silent:  # accepts connections, never answers: a stuck Redis
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        clock = FakeClock()
        client = redis.Redis.from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", socket_timeout=0.3)
        settings = CloudflareSettings(
            account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
        )
        directory = Directory(
            CloudflareClient(settings, clock=clock),
            caches=Caches(ttl=60, clock=clock, shared=client, seal=SEAL),
        )
        started = time.monotonic()

        first = directory.browse(PROVIDER_ID, page=1, page_size=10)
        second = directory.browse(PROVIDER_ID, page=2, page_size=10)  # Redis is paused: no wait

        assert (len(first.items), len(second.items)) == (10, 10)
        assert time.monotonic() - started < 2
        directory.close()


def entries(client: redis.Redis) -> list[str]:
    """Give back the names of the answers stored in Redis (no locks, budgets or throttles)."""
    names = [key.decode() for key in client.scan_iter(f"scim-groups:v{VERSION}:*")]
    return sorted(name for name in names if name.split(":")[2] in ("page", "providers", "walk", "lookup"))


def test_forged_entries_are_never_shown_and_are_overwritten(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    forger = Seal.from_secret("a guess at the token")
    with two_bots(cloudflare, slack, tmp_path, redis_server) as (one, two, _):
        body = urlencode(command_form("", slack.response_url("first")))
        httpx.post(one, content=body, headers=signed_headers(body), timeout=10)
        slack.wait_for_hook("first")
        stored = entries(client)
        assert stored
        for name in stored:  # well-formed entries, a forger's seal, a hostile group and provider
            real = SEAL.open(name, client.get(name) or b"")
            fake = real.replace("group-0000", "FORGED <!channel>").replace("Okta Production", "<!here>")
            client.set(name, forger.close(name, fake), px=60_000)
        calls = len(cloudflare.calls)

        body = urlencode(command_form("", slack.response_url("second")))
        ack = httpx.post(two, content=body, headers=signed_headers(body), timeout=10)
        message = ack.json() if ack.content else slack.wait_for_hook("second").body
        metrics_text = httpx.get(two.replace("/slack/events", "/metrics"), timeout=10).text

    shown = json.dumps(message)
    assert "FORGED" not in shown
    assert "<!here>" not in shown
    assert "group-00000" in shown
    assert len(cloudflare.calls) > calls  # the forged answers counted as misses
    assert all("FORGED" not in SEAL.open(name, client.get(name) or b"") for name in entries(client))
    assert 'scim_groups_redis_rejected_total{reason="forged"}' in metrics_text


MALFORMED = {
    "int names": '[2,[1,1,45,[["00000000-0000-0000-0000-000000000001",5,"ext",null,null]]]]',
    "string total": '[2,[1,100,"45",[]]]',
    "year-1 date": '[2,[1,100,45,[["x","n","e","0001-01-01T00:00:00+14:00",null]]]]',
    "not a list": '[2,{"page":1}]',
    "another version": "[1,[1,100,45,[]]]",
    "not JSON": "[2,[1,100,",
    "deep nesting": "[" * 100_000,
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_entries_are_misses_not_failures(
    directory_for: Directories, redis_server: RedisServer, cloudflare: FakeCloudflare, case: str
) -> None:
    client, clock = redis.Redis.from_url(redis_server.url), FakeClock()
    name = f"scim-groups:v{VERSION}:page:{ACCOUNT_ID}:{PROVIDER_ID}:100:1"
    stored = json.dumps([clock.time(), MALFORMED[case]])  # when it was fetched, and the answer
    client.set(name, SEAL.close(name, stored), px=60_000)  # sealed: a writer with the key
    before = metrics.REDIS_REJECTED.labels("malformed")._value.get()

    listing = directory_for(clock).browse(PROVIDER_ID, page=1, page_size=10)

    assert [group.display_name for group in listing.items][:2] == ["group-00000", "group-00001"]
    assert listing.total == 45
    assert metrics.REDIS_REJECTED.labels("malformed")._value.get() > before
    fetched_at, answer = json.loads(SEAL.open(name, client.get(name) or b""))
    assert fetched_at == clock.time()
    assert answer.startswith(f"[{VERSION},[1,100,45,")


def test_a_forged_budget_or_refresh_entry_cannot_make_anyone_wait_long(redis_server: RedisServer) -> None:
    client, clock = redis.Redis.from_url(redis_server.url), SystemClock()
    budget = SharedCallBudget(
        client, ACCOUNT_ID, calls=600, per=300, local=CallBudget(600, clock=clock), health=RedisHealth(clock)
    )
    throttle = SharedRefreshThrottle(
        client, cooldown=15, local=RefreshThrottle(clock), health=RedisHealth(clock)
    )
    budget_key = f"scim-groups:v{VERSION}:budget:{ACCOUNT_ID}"

    for tokens, at in (("-1e15", "0"), ("nan", "nan"), ("1", "9e30"), ("0", "-5")):
        client.hset(budget_key, mapping={"tokens": tokens, "at": at})
        assert budget.take() <= 0.5  # one call's worth of the bucket at most
    client.set(f"scim-groups:v{VERSION}:refresh:U0ALICE", 1)  # no expiry: would throttle for ever
    client.set(f"scim-groups:v{VERSION}:refresh:U0BOB", 1, px=10**12)

    assert throttle.wait("U0ALICE") is None
    assert throttle.wait("U0BOB") is None
    assert 0 < client.pttl(f"scim-groups:v{VERSION}:refresh:U0ALICE") <= 15_000


def test_a_frozen_lock_owner_costs_others_no_answer(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_bots(cloudflare, slack, tmp_path, redis_server) as (one, two, frozen):
        cloudflare.gate.clear()  # the first process takes the lock, then waits on Cloudflare
        body = urlencode(command_form("", slack.response_url("owner")))
        httpx.post(one, content=body, headers=signed_headers(body), timeout=10)
        deadline = time.monotonic() + 10
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        while not any(name.endswith(":lock") for name in client.scan_iter("scim-groups:*")):
            assert time.monotonic() < deadline, "the first process never took the lock"
            time.sleep(0.02)
        frozen.send_signal(signal.SIGSTOP)
        try:
            cloudflare.gate.set()
            body = urlencode(command_form("", slack.response_url("waiter")))
            httpx.post(two, content=body, headers=signed_headers(body), timeout=10)
            answer = slack.wait_for_hook("waiter", timeout=25)
        finally:
            frozen.send_signal(signal.SIGCONT)

    assert answer.body["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"
    assert "slow" not in json.dumps(answer.body)


def test_a_stale_copy_from_redis_is_marked_stale(
    directory_for: Directories, cloudflare: FakeCloudflare, redis_server: RedisServer
) -> None:
    clock = FakeClock()
    first = directory_for(clock).browse(PROVIDER_ID, page=1, page_size=10)
    client = redis.Redis.from_url(redis_server.url)
    for name in entries(client):  # the answers expire; their last good copies stay
        if not name.endswith(":stale"):
            client.delete(name)
    cloudflare.failure = (503, 1000, "down")

    other = directory_for(clock).browse(PROVIDER_ID, page=1, page_size=10)  # nothing in its memory

    assert other.items == first.items
    assert other.stale is not None
    assert other.stale.error.status == 503
