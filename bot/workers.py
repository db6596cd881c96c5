"""The threads the app's answers use besides a request's own, made once by the app and handed to
every subject: single Cloudflare calls in parallel, whole answers in the background, and the
pages of a walk.

Three pools, so that no task ever waits on a task queued behind it in its own pool: `calls`
runs single Cloudflare calls (they wait on nothing); `background` runs whole answers, which may
in turn wait on calls; a walk's pages have a pool of their own, so a cold search queues no one
else's call. Every task runs in a copy of its caller's context, so its Cloudflare calls count
for the request that caused them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from bot.settings import DEFAULT_WALK_CONCURRENCY

# Single calls under way at once for other answers (a lookup of either kind, users, Access lists).
CALL_THREADS = 8
BACKGROUND_THREADS = 16

A = TypeVar("A")
R = TypeVar("R")


class Workers:
    """The app's thread pools."""

    def __init__(self, *, walk_concurrency: int = DEFAULT_WALK_CONCURRENCY) -> None:
        self._calls = ThreadPoolExecutor(max_workers=CALL_THREADS, thread_name_prefix="cloudflare")
        self._background = ThreadPoolExecutor(max_workers=BACKGROUND_THREADS, thread_name_prefix="background")
        self._walks = ThreadPoolExecutor(max_workers=walk_concurrency, thread_name_prefix="walk")

    def in_parallel(self, work: Callable[[A], R], items: Iterable[A]) -> list[R]:
        """Give back `work` done on each item, single calls at once, in order."""
        return [future.result() for future in _start(self._calls, work, items)]

    def call_soon(self, work: Callable[[], object]) -> None:
        """Start `work` (a single call whose answer no one waits for, such as a prefetch)."""
        self._calls.submit(contextvars.copy_context().run, work)

    def in_background(self, work: Callable[[], R]) -> Future[R]:
        """Start `work` (which may wait on single calls) and give back its future."""
        return self._background.submit(contextvars.copy_context().run, work)

    def walk(self, work: Callable[[A], R], items: Iterable[A]) -> list[Future[R]]:
        """Start `work` on each of a walk's pages; give back the futures, in order."""
        return _start(self._walks, work, items)

    def close(self) -> None:
        """Finish the work under way (prefetches included)."""
        self._background.shutdown(wait=True)
        self._walks.shutdown(wait=True)
        self._calls.shutdown(wait=True)


def _start(pool: ThreadPoolExecutor, work: Callable[[A], R], items: Iterable[A]) -> list[Future[R]]:
    return [pool.submit(contextvars.copy_context().run, work, item) for item in items]
