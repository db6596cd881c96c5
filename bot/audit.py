"""How each command and click went: its audit line and its metrics, around the answer.

    with audited(clock, "command", caller) as outcome:
        ...  # the answer sets outcome.name, .query, .results, .cache as it learns them

Every command and click leaves one INFO line (who, where, what kind, how it was served, how
long, how many Cloudflare calls) and one count in the metrics; what was asked names people and
groups, so it goes to a DEBUG line of its own (README, LOG_LEVEL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.access import Caller
from bot.cache import NotCached
from bot.clock import Clock
from bot.cloudflare import CALLS, CloudflareError
from bot.logs import event

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How one command or click went, for its audit line and metrics."""

    name: str = "ok"
    query: str = ""
    text: str = ""
    provider: str = ""
    results: int | None = None
    cache: str = "none"

    def shown(self, page: Any) -> None:
        """Note the page of results shown (a `Listing` or a `Paged`): how many, from where."""
        self.results = page.total
        self.cache = (
            "stale" if page.stale else "aging" if page.aging else "hit" if page.from_cache else "miss"
        )
        self.name = "stale" if page.stale else "ok" if page.total else "empty"

    def detail_shown(self, results: int, problem: CloudflareError | None, *, stale: bool) -> None:
        """Note a group's detail shown: how many things, or why Cloudflare could not say;
        `stale` when it is an older copy of the group or of what is shown about it."""
        if problem is not None:
            self.failed(problem)
        else:
            self.name, self.results = ("ok" if results else "empty"), results
        if stale:
            self.name = "stale"

    def failed(self, error: CloudflareError) -> None:
        """Note that Cloudflare failed the answer, and log why."""
        self.name = f"failed_{type(error).__name__}"
        event(log, "cloudflare_failed", logging.WARNING, error=error.describe())


@contextmanager
def audited(
    clock: Clock, kind: str, caller: Caller, *, action: str = "", asked_at: float | None = None
) -> Iterator[Outcome]:
    """Give the answer an `Outcome` to fill in; account for it once the answer is made."""
    # Timed from when it was asked: an answer that waited its turn waited for the user too.
    started = clock() if asked_at is None else asked_at
    calls, outcome = list[str](), Outcome()
    token = CALLS.set(calls)
    try:
        yield outcome
    except NotCached:
        raise  # not an answer: the full one follows, and is the one accounted for
    except Exception:
        outcome.name = "internal_error"
        _account(clock, kind, caller, action, outcome, started, len(calls))
        raise
    else:
        _account(clock, kind, caller, action, outcome, started, len(calls))
    finally:
        CALLS.reset(token)


def _account(
    clock: Clock, kind: str, caller: Caller, action: str, outcome: Outcome, started: float, calls: int
) -> None:
    """Count the request in the metrics and write its audit line."""
    metrics.REQUESTS.labels(kind, outcome.name).inc()
    if outcome.cache != "none":
        metrics.CACHE.labels(outcome.cache).inc()
    fields = {"action": action} if action else {}
    event(log, "asked", logging.DEBUG, user=caller.user_id, text=outcome.text)
    event(
        log,
        kind,
        user=caller.user_id,
        channel=caller.channel_id,
        team=caller.team_id,
        **fields,
        query=outcome.query,
        provider=outcome.provider,
        results=outcome.results,
        cache=outcome.cache,
        upstream_calls=calls,
        latency_ms=round((clock() - started) * 1000),
        outcome=outcome.name,
    )
