"""Replies owed to Slack: each posted exactly once, when its answer is ready or at its deadline.

An answer is computed on a pool thread. One watchdog thread, reading the injectable clock,
posts "still working" for any answer not computed by its deadline; whichever comes first wins,
and the other is dropped (a late answer still fills the cache for next time). No thread sits
waiting per reply, so a burst of slow answers costs one thread each, not two; and the same
command typed by many people at once costs one thread in all, not one each.

Posting is separate from computing: every post goes out from one event-loop thread (`Delivery`)
with a short timeout, so response_urls that hang hold sockets, never the threads that compute
other people's answers; and since an answer counts as given once computed, Slack being slow
to take it is never reported as Cloudflare being slow.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import httpx
from slack_bolt import Respond

from bot import metrics
from bot.clock import Clock
from bot.logs import event
from bot.service import Reply
from bot.views import render_internal_error

log = logging.getLogger(__name__)

# Slack's response_url answers in well under a second; one that takes longer has failed.
POST_TIMEOUT_SECONDS = 5.0


class Delivery:
    """Posts messages to response_urls, all at once, from one event-loop thread."""

    def __init__(self, timeout: float = POST_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._client: httpx.AsyncClient | None = None
        threading.Thread(target=self._loop.run_forever, name="reply-delivery", daemon=True).start()

    def post(self, url: str | None, body: dict[str, Any], done: Callable[[], None]) -> None:
        """Post `body` to `url` in the background; call `done` once it is posted or has failed."""
        asyncio.run_coroutine_threadsafe(self._post(url, body, done), self._loop)

    async def _post(self, url: str | None, body: dict[str, Any], done: Callable[[], None]) -> None:
        try:
            if url is None:  # nothing to answer on: a payload without a response_url
                metrics.RESPONSE_URL_FAILURES.labels("missing").inc()
                event(log, "response_url_failed", logging.WARNING, error="missing")
                return
            if self._client is None:
                # Hung URLs each hold a connection: room for many before anyone queues.
                limits = httpx.Limits(max_connections=1_000, max_keepalive_connections=20)
                self._client = httpx.AsyncClient(timeout=self._timeout, limits=limits)
            try:
                response = await self._client.post(url, json=body)
            except httpx.HTTPError as error:  # unreachable, or slower than the timeout
                metrics.RESPONSE_URL_FAILURES.labels("unreachable").inc()
                event(log, "response_url_failed", logging.WARNING, error=type(error).__name__)
                return
            if response.status_code != 200:
                metrics.RESPONSE_URL_FAILURES.labels(str(response.status_code)).inc()
                event(
                    log,
                    "response_url_failed",
                    logging.WARNING,
                    status=response.status_code,
                    body=response.text[:100],
                )
        finally:
            done()


@dataclass
class _Owed:
    respond: Respond
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
        owed = _Owed(respond, self._clock() + self._deadline_seconds)
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
        try:
            reply = work()
        except Exception:
            log.exception("internal_error while answering")
            reply = Reply(render_internal_error(), replace_original=False)
        finally:
            if alike is not None:
                with self._changed:
                    waiting = self._running.pop(alike)
                for follower in waiting:
                    self._pool.submit(self._run, *follower)
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
        self._delivery.post(owed.respond.response_url, body, self._posted)

    def _posted(self) -> None:
        with self._changed:
            self._owed -= 1
            self._changed.notify_all()
