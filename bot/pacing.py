"""Pacing calls to Cloudflare: no more than so many start in any one second.

Cloudflare allows 200 requests per second from one IP address, apart from the quota per token
(`CallBudget`). A walk reads up to 20 pages at once, so a fast upstream (a call of 20 ms) would
start 1,000 a second; the pacer holds each call that would be one too many in its second until
that second is over. A call that is not held waits for nothing.
"""

from __future__ import annotations

import threading
from collections import deque

from bot.clock import Clock

# Cloudflare's limit per client IP address (../shared/reference/cloudflare-scim-api.md).
REQUESTS_PER_SECOND = 200


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
