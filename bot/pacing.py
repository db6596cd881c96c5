"""Pacing calls to Cloudflare: how many may start in any one second, and in five minutes.

Cloudflare allows 200 requests per second from one IP address (`Pacer`), and 1,200 calls per 5
minutes per token, shared with the dashboard (`CallBudget`, set lower by default). A walk reads
up to 20 pages at once, so a fast upstream (a call of 20 ms) would start 1,000 a second; the pacer
holds each call that would be one too many in its second until that second is over. A call that
is not held waits for nothing. The budget never holds a call: one past it is refused at once
(`BudgetSpent`), and the last good copy, if there is one, is shown.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

from bot.clock import Clock

# Cloudflare's limit per client IP address (../shared/reference/cloudflare-scim-api.md).
REQUESTS_PER_SECOND = 200
# Cloudflare's quota: 1,200 calls per 5 minutes per token, shared with the dashboard.
QUOTA_WINDOW_SECONDS = 300.0


class Pacer:
    """Starts at most `per_second` calls in any one second, across every thread of the process."""

    def __init__(self, per_second: int, *, clock: Clock) -> None:
        # When each of the last `per_second` calls started (or will, once its wait is over).
        self._starts: deque[float] = deque(maxlen=max(1, per_second))
        self._clock = clock
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Wait until one more call may start, and count it as started then."""
        with self._lock:
            now = self._clock()
            start = now
            if len(self._starts) == self._starts.maxlen:
                start = max(now, self._starts[0] + 1.0)
            self._starts.append(start)
        if start > now:
            self._clock.sleep(start - now)


class Budget(Protocol):
    """Says whether one more call to Cloudflare may go out now."""

    def take(self) -> float:
        """Spend one call and give back 0, or give back the seconds until one is free."""
        ...


class CallBudget:
    """A token bucket on upstream calls, shared by every thread of the process."""

    def __init__(self, calls: int, *, clock: Clock, per: float = QUOTA_WINDOW_SECONDS) -> None:
        self._capacity = float(calls)
        self._rate = calls / per
        self._tokens = float(calls)
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Spend one call and give back 0, or give back the seconds until one is free."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._rate
