"""The shared cache, against a real redis-server on loopback (skipped where none is installed;
.ci/run installs one)."""

from __future__ import annotations

import shutil
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
    RedisHealth,
    SharedCallBudget,
    SharedRefreshThrottle,
    SingleFlightCache,
)
from bot.clock import Clock, SystemClock
from bot.cloudflare import CallBudget, CloudflareClient, IdentityProvider
from bot.codec import PROVIDERS
from bot.directory import Directory
from bot.service import RefreshThrottle
from bot.settings import CloudflareSettings, Secret
from tests.conftest import FakeClock
from tests.fakes import (
    ACCOUNT_ID,
    API_TOKEN,
    PROVIDER_ID,
    FakeCloudflare,
    FakeSlack,
    command_form,
    signed_headers,
)
from tests.test_processes import free_port, serving

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


class RedisServer:
    """A redis-server of our own on a free loopback port, which tests may stop and start."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tmp_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self._dir,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.025)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@contextmanager
def two_bots(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> Iterator[tuple[str, str]]:
    """Run two bot processes sharing one Redis; give back their /slack/events URLs."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    shared = {"SCIM_GROUPS_REDIS_URL": redis_server.url}
    with (
        serving("python -m bot", cloudflare, slack, tmp_path / "one", **shared) as (one, _),
        serving("python -m bot", cloudflare, slack, tmp_path / "two", **shared) as (two, _),
    ):
        yield one, two


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
        shared = redis.Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        made.append(Directory(client, caches=Caches(ttl=60, clock=clock, shared=shared)))
        return made[-1]

    yield make
    for directory in made:
        directory.close()


def test_a_cold_answer_in_one_process_is_warm_in_another(
    directory_for: Directories, cloudflare: FakeCloudflare
) -> None:
    first, second = directory_for(SystemClock()), directory_for(SystemClock())

    cold = first.browse(PROVIDER_ID, page=1, page_size=10)
    warm = second.browse(PROVIDER_ID, page=1, page_size=10)

    assert warm.groups == cold.groups
    assert (cold.from_cache, warm.from_cache) == (False, True)
    assert len(cloudflare.group_calls()) == 1


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
    while not cloudflare.calls:
        time.sleep(0.01)
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

    assert len(listing.groups) == 10
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
    assert all(key.startswith(b"scim-groups:v1:") for key in keys)
    assert all(client.pttl(key) > 0 for key in keys)
    assert all(API_TOKEN.encode() not in (client.get(key) or b"") for key in keys)


def test_two_bot_processes_share_answers(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_bots(cloudflare, slack, tmp_path, redis_server) as (url_one, url_two):
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
    clock, client = FakeClock(), redis.Redis.from_url(redis_server.url, socket_timeout=0.5)
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

    assert len(second.browse(PROVIDER_ID, page=1, page_size=10).groups) == 10
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
        health=RedisHealth(clock), lock_seconds=0.5,
    )  # fmt: skip
    client.set("scim-groups:v1:providers:acct:lock", "a process that died", px=60_000)
    okta = (IdentityProvider(PROVIDER_ID, "Okta", "okta", True),)

    started = time.monotonic()
    answer = cache.get("acct", lambda: okta)

    assert answer.value == okta
    assert time.monotonic() - started < 5


def test_a_burst_split_across_two_bot_processes_makes_one_call(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_bots(cloudflare, slack, tmp_path, redis_server) as (one, two):
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
            CloudflareClient(settings, clock=clock), caches=Caches(ttl=60, clock=clock, shared=client)
        )
        started = time.monotonic()

        first = directory.browse(PROVIDER_ID, page=1, page_size=10)
        second = directory.browse(PROVIDER_ID, page=2, page_size=10)  # Redis is paused: no wait

        assert (len(first.groups), len(second.groups)) == (10, 10)
        assert time.monotonic() - started < 2
        directory.close()
