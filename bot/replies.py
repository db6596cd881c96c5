"""Replies owed to Slack: each posted exactly once, when its answer is ready or at its deadline.

An answer is computed on a pool thread. One watchdog thread, reading the injectable clock,
posts "still working" for any answer not computed by its deadline; whichever comes first wins,
and the other is dropped (a late answer still fills the cache for next time). No thread sits
waiting per reply, so a burst of slow answers costs one thread each, not two; and the same
command typed by many people at once costs one thread in all, not one each.

Posting is separate from computing: every post goes out from one event-loop thread (`Delivery`)
with a short timeout, a few dozen at a time and the rest queued in order, so response_urls that
hang hold sockets, never the threads that compute other people's answers, and a burst of
thousands is delivered, not timed out; a post that never reached Slack is tried once more, and
one that still fails is counted and logged. Since an answer counts as given once computed, Slack
being slow to take it is never reported as Cloudflare being slow.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import httpx
from slack_bolt import Respond

from bot import metrics, tls
from bot.cache import NotCached, cached_only
from bot.clock import Clock
from bot.logs import event
from bot.views import Message, render_internal_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A message and how to deliver it in answer to a click."""

    message: Message
    # True: replace the message that was clicked; False: post a new message.
    replace_original: bool = True
    in_channel: bool = False


# Slack's response_url answers in well under a second; one that takes longer has failed.
POST_TIMEOUT_SECONDS = 5.0
# Posts under way at once. Slack's response_urls are all on one host: a few dozen connections
# carry any burst, and more only cost the one delivery thread its time (1,000 at once left it
# too busy to finish a connection before its timeout). The rest wait their turn, in order.
MAX_POSTS = 48
# Network failures that mean the post never reached Slack, so trying once more cannot make a
# second copy. A post that reached Slack and then timed out is not tried again.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout, httpx.WriteError)


class _Turns:
    """MAX_POSTS turns to post, given in order of asking, prompt posts before late ones.

    A reply that took its user seconds (Cloudflare was slow) loses nothing by waiting a little
    more; a click answered at once would. Used only from the delivery loop, so it needs no lock.
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._prompt: deque[asyncio.Future[None]] = deque()
        self._late: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self._prompt) + len(self._late)

    async def take(self, *, prompt: bool) -> None:
        if self._free > 0 and not self._prompt and not self._late:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._prompt if prompt else self._late).append(waiter)
        await waiter

    def give(self) -> None:
        for waiting in (self._prompt, self._late):
            while waiting:
                waiter = waiting.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes straight to it
                    return
        self._free += 1


class Delivery:
    """Posts messages to response_urls from one event-loop thread, MAX_POSTS at a time."""

    def __init__(
        self,
        timeout: float = POST_TIMEOUT_SECONDS,
        *,
        most_at_once: int = MAX_POSTS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = timeout
        self._most_at_once = most_at_once
        self._transport = transport
        self._loop = asyncio.new_event_loop()
        self._client: httpx.AsyncClient | None = None
        self._turns: _Turns | None = None
        threading.Thread(target=self._loop.run_forever, name="reply-delivery", daemon=True).start()

    @property
    def waiting(self) -> int:
        """Give back how many posts are waiting for a turn."""
        return len(self._turns) if self._turns is not None else 0

    def post(
        self, url: str | None, body: dict[str, Any], done: Callable[[], None], *, prompt: bool = True
    ) -> None:
        """Post `body` to `url` in the background; call `done` once it is posted or has failed.
        A `prompt` post (its user has waited under a second) goes before those that are late."""
        asyncio.run_coroutine_threadsafe(self._post(url, body, done, prompt), self._loop)

    async def _post(
        self, url: str | None, body: dict[str, Any], done: Callable[[], None], prompt: bool
    ) -> None:
        try:
            if url is None:  # nothing to answer on: a payload without a response_url
                _undelivered("missing", error="missing")
                return
            if self._client is None or self._turns is None:
                limits = httpx.Limits(
                    max_connections=self._most_at_once, max_keepalive_connections=self._most_at_once
                )
                # Waiting for a turn is not a failure: only the post itself is timed.
                timeout = httpx.Timeout(self._timeout, pool=None)
                self._client = httpx.AsyncClient(
                    timeout=timeout, limits=limits, transport=self._transport, verify=tls.context()
                )
                self._turns = _Turns(self._most_at_once)
            await self._turns.take(prompt=prompt)
            try:
                response = await self._send(url, body)
            finally:
                self._turns.give()
            if response is not None and response.status_code != 200:
                _undelivered(str(response.status_code), status=response.status_code, body=response.text[:100])
        finally:
            done()

    async def _send(self, url: str, body: dict[str, Any]) -> httpx.Response | None:
        """Give back Slack's answer to the post, tried twice if it never reached Slack; None if it failed."""
        assert self._client is not None
        for attempt in (1, 2):
            try:
                return await self._client.post(url, json=body)
            except NOT_SENT as error:
                if attempt == 1:
                    metrics.RESPONSE_URL_RETRIES.inc()
                    continue
                _undelivered("unreachable", error=type(error).__name__)
            except httpx.HTTPError as error:  # it reached Slack, or may have: not sent twice
                _undelivered(
                    "timeout" if isinstance(error, httpx.TimeoutException) else "unreachable",
                    error=type(error).__name__,
                )
                break
        return None


def _undelivered(label: str, /, **fields: Any) -> None:
    """Count and log a reply that Slack did not take: the user did not get it."""
    metrics.RESPONSE_URL_FAILURES.labels(label).inc()
    event(log, "response_url_failed", logging.WARNING, **fields)


# A reply whose user has waited less than this is prompt: it is posted before late ones.
PROMPT_SECONDS = 1.0


@dataclass
class _Owed:
    respond: Respond
    asked: float
    until: float
    posted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self) -> bool:
        """Give back True to the first caller only: that one posts."""
        with self.lock:
            if self.posted:
                return False
            self.posted = True
            return True


class Replies:
    """Posts answers on their response_url, and a notice for any answer later than its deadline."""

    def __init__(
        self,
        pool: Executor,
        clock: Clock,
        deadline_seconds: float,
        too_slow: Reply,
        delivery: Delivery | None = None,
    ) -> None:
        self._pool = pool
        self._delivery = delivery or Delivery()
        self._clock = clock
        self._deadline_seconds = deadline_seconds
        self._too_slow = too_slow
        self._changed = threading.Condition()
        self._deadlines: list[tuple[float, int, _Owed]] = []
        self._order = itertools.count()
        self._owed = 0
        self._running: dict[Hashable, list[tuple[_Owed, Callable[[], Reply]]]] = {}
        threading.Thread(target=self._watch, name="reply-deadlines", daemon=True).start()

    def answer(self, respond: Respond, work: Callable[[], Reply], *, alike: Hashable | None = None) -> None:
        """Compute `work` on the pool and post its reply; or the notice, if it runs late.

        Work with the same `alike` key as work still running (the same command, typed by many
        people at once while Cloudflare is slow) waits for it without holding a thread, then runs
        on the cache it filled: a crowd asking one question holds one pool thread, and neither
        the acks nor anyone else's answers queue behind it.
        """
        now = self._clock()
        owed = _Owed(respond, now, now + self._deadline_seconds)
        with self._changed:
            self._owed += 1
            heapq.heappush(self._deadlines, (owed.until, next(self._order), owed))
            if self._deadlines[0][2] is owed:  # the watchdog only needs waking for a nearer deadline
                self._changed.notify_all()
            if alike is not None:
                if alike in self._running:
                    self._running[alike].append((owed, work))
                    return
                self._running[alike] = []
        self._pool.submit(self._run, owed, work, alike)

    def start(self, threads: int) -> None:
        """Start the pool's `threads` threads now. A pool starts a thread inside `submit`, and
        waits for it to run: the first burst of acks after a start would each wait for one."""
        ready = threading.Barrier(threads + 1, timeout=10)
        for _ in range(threads):
            self._pool.submit(ready.wait)
        ready.wait()

    def post(self, respond: Respond, reply: Reply) -> None:
        """Post a reply that is ready now, off the caller's thread."""
        self.answer(respond, lambda: reply)

    def wait_until_posted(self, timeout: float) -> int:
        """Wait, at most `timeout` seconds, until every reply owed is posted; give back how many are not."""
        with self._changed:
            self._changed.wait_for(lambda: self._owed == 0, timeout=timeout)
            return self._owed

    def _run(self, owed: _Owed, work: Callable[[], Reply], alike: Hashable | None = None) -> None:
        waiting: list[tuple[_Owed, Callable[[], Reply]]] = []
        try:
            reply = work()
        except Exception:
            log.exception("internal_error while answering")
            reply = Reply(render_internal_error(), replace_original=False)
        finally:
            if alike is not None:
                with self._changed:
                    waiting = self._running.pop(alike)
        if owed.claim():
            self._post(owed, reply)
        self._follow(waiting)

    def _follow(self, waiting: list[tuple[_Owed, Callable[[], Reply]]]) -> None:
        """Answer the work that waited for this one: from the cache it filled, here, one after
        another, so that a crowd of thousands queues no one else's answer behind it on the pool;
        any that needs Cloudflare after all (the first one failed) goes to the pool."""
        for index, (owed, work) in enumerate(waiting):
            try:
                with cached_only():
                    reply = work()
            except NotCached:
                for rest in waiting[index:]:
                    self._pool.submit(self._run, *rest)
                return
            except Exception:
                log.exception("internal_error while answering")
                reply = Reply(render_internal_error(), replace_original=False)
            if owed.claim():
                self._post(owed, reply)

    def _watch(self) -> None:
        while True:
            with self._changed:
                # Coarse waits are enough: a new deadline wakes this at once, and the clock may be
                # a test's, which only moves when the test says so.
                self._changed.wait(timeout=0.05 if self._deadlines else 1.0)
                due = []
                while self._deadlines and self._deadlines[0][0] <= self._clock():
                    due.append(heapq.heappop(self._deadlines)[2])
            for owed in due:
                if owed.claim():
                    self._post(owed, self._too_slow)

    def _post(self, owed: _Owed, reply: Reply) -> None:
        body = {
            **reply.message,
            "response_type": "in_channel" if reply.in_channel else "ephemeral",
            "replace_original": reply.replace_original,
        }
        prompt = self._clock() - owed.asked < PROMPT_SECONDS
        self._delivery.post(owed.respond.response_url, body, self._posted, prompt=prompt)

    def _posted(self) -> None:
        with self._changed:
            self._owed -= 1
            self._changed.notify_all()
