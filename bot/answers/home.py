"""The App Home: what on-call sees on the bot's Home tab — each SCIM provider's failed pushes of
the last hour and day, whether Cloudflare and Redis answer, and how to ask `why`."""

from __future__ import annotations

from bot.answers.kinds import Subjects
from bot.cloudflare import CloudflareError, IdentityProvider
from bot.pushes import Window
from bot.views import Failures, Home

HOUR, DAY = 3_600, 86_400


def find(subjects: Subjects, redis_usable: bool | None) -> Home:
    """Give back the Home tab's facts: the failures of every SCIM provider, read at once."""
    until = subjects.next_minute()
    try:
        providers = [p for p in subjects.groups.identity_providers() if p.scim_enabled]
    except CloudflareError as error:
        return Home((), error, redis_usable, subjects.clock.time())

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
        return Failures(
            provider,
            hour.total or 0,
            day.total or 0,
            bool(hour.total_is_lower_bound or day.total_is_lower_bound),
        )

    return Home(
        tuple(subjects.workers.in_parallel(counted, providers)), None, redis_usable, subjects.clock.time()
    )
