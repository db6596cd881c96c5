"""A group's History: its SCIM pushes of the last 7 days, newest first, with who each added and
removed (the members' ids read as emails through the cached SCIM users)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.answers.kinds import DetailFound, DetailKind, Subjects
from bot.cache import Cached
from bot.cloudflare import CloudflareError
from bot.pushes import GROUP_HISTORY_ROWS, HISTORY_DAYS, ScimPush, Window
from bot.query import MAX_IDS, Detail
from bot.views import Message, render_history

# The most member ids read as emails for one History: two calls of 50.
MAX_RESOLVED = 100


@dataclass(frozen=True)
class History:
    """A group's pushes, and the emails of the members they name, by id."""

    pushes: tuple[ScimPush, ...]
    emails: Mapping[str, str]


def fetch(subjects: Subjects, detail: Detail) -> Cached[History]:
    """Give back the group's pushes in the window that ends at the next whole minute, and the
    emails of the members they added and removed (as many as can be read; ids otherwise)."""
    until = subjects.next_minute()
    span = Window(until - HISTORY_DAYS * 86_400, until)
    provider_id = detail.provider_id
    cached = subjects.pushes.recent(provider_id, detail.group_id, span, limit=GROUP_HISTORY_ROWS)
    ids = list(dict.fromkeys(id_ for push in cached.value if push.members for id_ in push.members.ids))
    emails: dict[str, str] = {}
    chunks = [tuple(ids[start : start + MAX_IDS]) for start in range(0, min(len(ids), MAX_RESOLVED), MAX_IDS)]
    try:
        for found in subjects.workers.in_parallel(
            lambda chunk: subjects.users.lookup(provider_id, chunk), chunks
        ):
            for user in found.users:
                if address := next(iter(user.emails or ()), "") or user.user_name:
                    emails[user.id] = address
    except CloudflareError:  # the ids are still shown
        pass
    return Cached(
        History(cached.value, emails), cached.from_cache, cached.stale, cached.fetched_at, cached.aging
    )


def draw(found: DetailFound[History]) -> tuple[int, Message]:
    """Give back how many pushes are shown, and the message."""
    history = found.copy.value if found.copy is not None else History((), {})
    message = render_history(
        found.group,
        found.detail,
        found.where,
        pushes=history.pushes,
        problem=found.problem,
        stale=found.stale,
        fetched_at=found.fetched_at,
        emails=history.emails,
    )
    return len(history.pushes), message


DETAIL = DetailKind(fetch=fetch, draw=draw)
