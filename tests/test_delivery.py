"""Delivering replies to Slack's response_urls: every one of a burst, a few dozen at a time, a
post that never reached Slack tried once more, and one that failed counted and logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bot import metrics
from bot.clock import SystemClock
from bot.replies import MAX_POSTS, Delivery, Replies, Reply
from tests.conftest import wait_until
from tests.fakes import FakeSlack


class Done:
    """Counts the posts that are over, posted or failed."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


@pytest.fixture
def sink() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    yield slack
    slack.close()


def test_a_burst_of_replies_is_delivered_whole_a_few_dozen_at_a_time(sink: FakeSlack) -> None:
    # Ten turns' worth at once (the benchmark owes two thousand replies at once and times them).
    delivery, done, count = Delivery(), Done(), 10 * MAX_POSTS
    hooks = [f"T0ACME/burst-{n}/hook" for n in range(count)]

    for n, hook in enumerate(hooks):
        delivery.post(sink.response_url(hook), {"text": f"answer {n}"}, done)
    wait_until(lambda: done.count == len(hooks), "every post to be over", seconds=120)

    assert len(sink.posts) == len(hooks)  # none lost
    assert sorted(post.body["text"] for post in sink.posts) == sorted(f"answer {n}" for n in range(count))
    assert sink.most_in_flight <= MAX_POSTS


def test_a_hung_response_url_holds_one_turn_and_the_others_go_on(sink: FakeSlack) -> None:
    delivery, done = Delivery(timeout=30, most_at_once=2), Done()
    sink.hanging = {"T0ACME/hung/hook"}
    delivery.post(sink.response_url("T0ACME/hung/hook"), {"text": "stuck"}, done)
    wait_until(lambda: sink.in_flight == 1, "the hung post to be under way")

    for n in range(5):
        delivery.post(sink.response_url(f"T0ACME/ok-{n}/hook"), {"text": "ok"}, done)
    wait_until(lambda: len(sink.posts) == 5, "the other posts, one turn at a time")
    sink.release.set()

    wait_until(lambda: done.count == 6, "every post to be over")


def failing(first: list[type[httpx.TransportError]]) -> httpx.MockTransport:
    """Give back a transport that raises each of `first` in turn, then answers 200."""

    def answer(request: httpx.Request) -> httpx.Response:
        if first:
            raise first.pop(0)("injected", request=request)
        return httpx.Response(200, text="ok")

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.WriteTimeout])
def test_a_post_that_never_reached_slack_is_tried_once_more(error: type[httpx.TransportError]) -> None:
    transport, done = failing([error]), Done()
    retries = metrics.RESPONSE_URL_RETRIES._value.get()
    failures = metrics.RESPONSE_URL_FAILURES.labels("unreachable")._value.get()

    Delivery(transport=transport).post("https://hooks.slack.test/x", {"text": "hi"}, done)
    wait_until(lambda: done.count == 1, "the post to be over")

    assert metrics.RESPONSE_URL_RETRIES._value.get() == retries + 1
    assert metrics.RESPONSE_URL_FAILURES.labels("unreachable")._value.get() == failures


def test_a_post_that_fails_twice_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    transport, done = failing([httpx.ConnectError, httpx.ConnectError]), Done()
    failures = metrics.RESPONSE_URL_FAILURES.labels("unreachable")._value.get()

    with caplog.at_level(logging.WARNING, logger="bot.replies"):
        Delivery(transport=transport).post("https://hooks.slack.test/x", {"text": "hi"}, done)
        wait_until(lambda: done.count == 1, "the post to be over")

    assert metrics.RESPONSE_URL_FAILURES.labels("unreachable")._value.get() == failures + 1
    assert [record.getMessage() for record in caplog.records] == ["response_url_failed error=ConnectError"]


def test_a_post_that_may_have_reached_slack_is_not_sent_twice() -> None:
    transport, done = failing([httpx.ReadTimeout]), Done()
    timeouts = metrics.RESPONSE_URL_FAILURES.labels("timeout")._value.get()
    retries = metrics.RESPONSE_URL_RETRIES._value.get()

    Delivery(transport=transport).post("https://hooks.slack.test/x", {"text": "hi"}, done)
    wait_until(lambda: done.count == 1, "the post to be over")

    assert metrics.RESPONSE_URL_FAILURES.labels("timeout")._value.get() == timeouts + 1
    assert metrics.RESPONSE_URL_RETRIES._value.get() == retries


def test_a_prompt_reply_goes_before_late_ones_waiting_their_turn(sink: FakeSlack) -> None:
    delivery, done = Delivery(timeout=30, most_at_once=1), Done()
    sink.hanging = {"T0ACME/first/hook"}
    delivery.post(sink.response_url("T0ACME/first/hook"), {"text": "first"}, done)
    wait_until(lambda: sink.in_flight == 1, "the one turn to be taken")
    for n in range(3):
        delivery.post(sink.response_url(f"T0ACME/late-{n}/hook"), {"text": f"late {n}"}, done, prompt=False)
    delivery.post(sink.response_url("T0ACME/click/hook"), {"text": "click"}, done)
    wait_until(lambda: delivery.waiting == 4, "the others to wait for the turn")

    sink.release.set()
    wait_until(lambda: done.count == 5, "every post to be over")

    assert [post.body["text"] for post in sink.posts] == ["click", "late 0", "late 1", "late 2"]


class Counting(ThreadPoolExecutor):
    """A pool that counts what it is given."""

    submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


class Respond:
    def __init__(self, url: str) -> None:
        self.response_url = url


def test_a_crowd_asking_one_question_is_answered_in_one_thread_from_what_the_first_found(
    sink: FakeSlack,
) -> None:
    pool, first_found = Counting(max_workers=4), threading.Event()
    replies = Replies(pool, SystemClock(), 20.0, Reply({"text": "slow"}), Delivery())
    threads: list[int] = []

    def work() -> Reply:
        first_found.wait(timeout=10)  # the first one waits for Cloudflare; the rest find the cache
        threads.append(threading.get_ident())
        return Reply({"text": "answer"})

    for n in range(200):
        replies.answer(Respond(sink.response_url(f"T0ACME/crowd-{n}/hook")), work, alike="same")  # type: ignore[arg-type]
    first_found.set()
    assert replies.wait_until_posted(timeout=60) == 0

    assert pool.submitted == 1  # the pool stays free for everyone else's answers
    assert len(threads) == 200
    assert set(threads) == {threads[0]}
    assert len(sink.posts) == 200
