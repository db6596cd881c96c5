"""The App Home: what on-call sees on the bot's Home tab — each SCIM provider's failed pushes of
the last hour and day and its groups changed in the last day, whether Cloudflare and Redis
answer, how much of the call budget this process spent, and how to ask `why`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from bot.answers.kinds import Subjects
from bot.cloudflare import CloudflareError, IdentityProvider
from bot.pushes import Window
from bot.views import Failures, Home

HOUR, DAY = 3_600, 86_400


def find(
    subjects: Subjects,
    redis_usable: bool | None,
    upstream: Callable[[], tuple[int, float | None]],
    budget: int,
) -> Home:
    """Give back the Home tab's facts: every SCIM provider's failures and changes, read at once
    (from the cache where they are, as `failures` and `changed:` keep them)."""
    until = subjects.next_minute()
    try:
        providers = [p for p in subjects.groups.identity_providers() if p.scim_enabled]
    except CloudflareError as error:
        return Home((), error, redis_usable, subjects.clock.time(), *upstream(), budget)

    def counted(provider: IdentityProvider) -> Failures:
        try:
            hour, day = (
                subjects.pushes.failures(
                    provider.id, Window(until - span, until), page=1, page_size=10, refresh=False
                )
                for span in (HOUR, DAY)
            )
        except CloudflareError as error:
            return Failures(provider, problem=error)
        at_least = bool(hour.total_is_lower_bound or day.total_is_lower_bound)
        failures = Failures(provider, hour.total or 0, day.total or 0, at_least)
        try:
            changed = subjects.groups.changed(provider.id, until - DAY)
        except CloudflareError:  # the failures are still worth showing
            return failures
        return replace(failures, changed=len(changed.groups), changed_partly=changed.searched is not None)

    # On the background pool: a provider's changes may be read whole, and that read asks the
    # pool of single calls itself.
    found = [subjects.workers.in_background(functools.partial(counted, provider)) for provider in providers]
    failures = tuple(future.result() for future in found)
    # Counted once this look's own calls are made: they are part of what was spent.
    return Home(failures, None, redis_usable, subjects.clock.time(), *upstream(), budget)
