"""Fixtures: the real app served over loopback HTTP, driven as Slack drives it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot import tls, web
from bot.access import Caller
from bot.app import build_app, build_service
from bot.replies import Reply
from bot.service import GroupsService
from bot.settings import load_settings
from tests.fakes import (
    PROVIDER_ID,
    FakeCloudflare,
    FakeSlack,
    Post,
    click_payload,
    command_form,
    environment,
    make_group,
    signed_headers,
)
from tests.helpers import RedisServer, check_limits

# How long the bot waits on the fake Cloudflare in tests: under the real 10 s, yet long enough
# that a test holding Cloudflare's answers (its gate) on a loaded machine sees no call time out
# and tried again, which would change the calls it counts. A test of a hang sets its own.
TEST_CLOUDFLARE_TIMEOUT = httpx.Timeout(5.0, connect=5.0)


def wait_until(condition: Callable[[], object], what: str, seconds: float = 10.0) -> None:
    """Wait until `condition()` is true; fail after `seconds`, saying what never happened."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds:g} s for {what}"
        time.sleep(0.01)


class FakeClock:
    """A clock that moves only when a test says so; `sleep` moves it at once and is recorded."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []
        self.wall_step = 0.0  # how far the wall clock was stepped (NTP, a VM resumed)

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_767_225_600.0 + self.now + self.wall_step  # 2026-01-01T00:00:00Z at the start

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SlackDriver:
    """Sends commands and clicks to the running app exactly as Slack does."""

    def __init__(self, url: str, slack: FakeSlack) -> None:
        self.url = url
        self.slack = slack
        self.http = httpx.Client(timeout=10, verify=tls.context())
        self._hooks = 0

    def post(self, body: str, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(f"{self.url}/slack/events", content=body, headers=headers)

    def send_command(
        self,
        text: str = "",
        *,
        user_id: str = "U0ALICE",
        enterprise_id: str | None = None,
        as_sent: bool = False,
    ) -> tuple[httpx.Response, str]:
        """Send a slash command; give back the HTTP response (the ack) and its response_url hook.
        `as_sent`: `text` is as Slack sends it (its markup, such as `<mailto:…|…>`, in it)."""
        hook = self._new_hook()
        url = self.slack.response_url(hook)
        form = command_form(text, url, user_id=user_id, enterprise_id=enterprise_id, as_sent=as_sent)
        body = urlencode(form)
        return self.post(body, signed_headers(body)), hook

    def command(
        self,
        text: str = "",
        *,
        user_id: str = "U0ALICE",
        enterprise_id: str | None = None,
        as_sent: bool = False,
    ) -> dict[str, Any]:
        """Send a slash command; give back the message the user sees (in the ack, or posted later)."""
        response, hook = self.send_command(
            text, user_id=user_id, enterprise_id=enterprise_id, as_sent=as_sent
        )
        assert response.status_code == 200
        if response.content:
            return dict(response.json())
        return self.posts_to(hook, 1)[0].body

    def send_click(
        self,
        button: dict[str, Any],
        *,
        user_id: str = "U0ALICE",
        enterprise_id: str | None = None,
        hook: str | None = None,
    ) -> tuple[httpx.Response, str]:
        """Click `button` on an ephemeral message; give back the ack and the click's hook."""
        hook = hook or self._new_hook()
        url = self.slack.response_url(hook)
        payload = click_payload(
            button["action_id"], button["value"], url, user_id=user_id, enterprise_id=enterprise_id
        )
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, signed_headers(body)), hook

    def click(
        self, button: dict[str, Any], *, user_id: str = "U0ALICE", enterprise_id: str | None = None
    ) -> dict[str, Any]:
        """Click `button`; give back what the app posted to the click's response_url."""
        response, hook = self.send_click(button, user_id=user_id, enterprise_id=enterprise_id)
        assert response.status_code == 200
        return self.posts_to(hook, 1)[0].body

    def posts_to(self, hook: str, count: int, seconds: float = 10.0) -> list[Post]:
        """Give back the posts to `hook`, waiting (at most `seconds`) until there are `count`."""
        wait_until(lambda: len(self.slack.posts_for(hook)) >= count, f"{count} post(s) to {hook}", seconds)
        return self.slack.posts_for(hook)

    def _new_hook(self) -> str:
        self._hooks += 1
        return f"T0ACME/{self._hooks}/hook"


class Served:
    """The HTTP front served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, app: web.Front) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self.server = web.server(app)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [listener]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the test server did not start within 10 s"
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


def serve(app: web.Front) -> Served:
    """Serve the HTTP front on a free loopback port in a background thread."""
    return Served(app)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cloudflare() -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare()
    fake.add_provider(PROVIDER_ID, "Okta Production", [make_group(number) for number in range(45)])
    yield fake
    fake.gate.set()
    fake.close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StartBot = Callable[..., SlackDriver]


@pytest.fixture
def start_bot(cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock) -> Iterator[StartBot]:
    """Give back a function that starts the app with these settings changed (None: unset)."""
    started: list[tuple[SlackDriver, Served]] = []

    def start(*, timeout: httpx.Timeout = TEST_CLOUDFLARE_TIMEOUT, **changes: str | None) -> SlackDriver:
        env = {
            name: value
            for name, value in {**environment(cloudflare, slack), **changes}.items()
            if value is not None
        }
        settings = load_settings(env)
        service = build_service(settings, clock=clock, timeout=timeout)
        bot = build_app(settings, service, clock=clock)
        served = serve(bot.front())
        started.append((SlackDriver(served.url, slack), served))
        return started[-1][0]

    yield start
    for driver, served in started:
        driver.http.close()
        served.stop()


@pytest.fixture
def bot(start_bot: StartBot) -> SlackDriver:
    return start_bot()


class ServiceDriver:
    """Asks the bot's service what Slack's listeners ask it, in this process, and gives back each
    message as they would post it, checked against Block Kit's limits.

    For tests of what an answer says: HTTP adds nothing there, and costs each test a server.
    Signatures, acks, bodies and delivery are tested through `SlackDriver`.
    """

    def __init__(self, service: GroupsService) -> None:
        self.service = service

    def command(self, text: str = "", *, user_id: str = "U0ALICE") -> dict[str, Any]:
        """Ask `/scim-groups <text>` as the listener does: from the cache if it can, else in full."""
        caller = Caller(user_id=user_id, channel_id="C0ONCALL", team_id="T0ACME", enterprise_id="")
        message = self.service.answer_from_cache(text, caller) or self.service.answer_command(text, caller)
        return _posted(Reply(message, replace_original=False))

    def click(self, button: dict[str, Any], *, user_id: str = "U0ALICE") -> dict[str, Any]:
        """Click `button`; give back what the listener would post to the click's response_url."""
        caller = Caller(user_id=user_id, channel_id="C0ONCALL", team_id="T0ACME", enterprise_id="")
        return _posted(self.service.answer_click(button["action_id"], button["value"], caller))


def _posted(reply: Reply) -> dict[str, Any]:
    body = {
        **reply.message,
        "response_type": "in_channel" if reply.in_channel else "ephemeral",
        "replace_original": reply.replace_original,
    }
    check_limits(body)
    return body


StartAnswers = Callable[..., ServiceDriver]


@pytest.fixture
def start_answers(cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock) -> StartAnswers:
    """Give back a function that makes the bot's service with these settings changed (None: unset)."""

    def start(*, timeout: httpx.Timeout = TEST_CLOUDFLARE_TIMEOUT, **changes: str | None) -> ServiceDriver:
        env = {
            name: value
            for name, value in {**environment(cloudflare, slack), **changes}.items()
            if value is not None
        }
        return ServiceDriver(build_service(load_settings(env), clock=clock, timeout=timeout))

    return start


@pytest.fixture
def answers(start_answers: StartAnswers) -> ServiceDriver:
    return start_answers()
