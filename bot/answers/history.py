"""A group's History: its SCIM pushes of the last 7 days, newest first."""

from __future__ import annotations

from bot.answers.kinds import DetailFound, DetailKind, Subjects
from bot.cache import Cached
from bot.pushes import GROUP_HISTORY_ROWS, HISTORY_DAYS, ScimPush, Window
from bot.query import Detail
from bot.views import Message, render_history


def fetch(subjects: Subjects, detail: Detail) -> Cached[tuple[ScimPush, ...]]:
    """Give back the group's pushes in the window that ends at the next whole minute."""
    until = subjects.next_minute()
    span = Window(until - HISTORY_DAYS * 86_400, until)
    provider_id = detail.provider_id
    return subjects.pushes.recent(provider_id, detail.group_id, span, limit=GROUP_HISTORY_ROWS)


def draw(found: DetailFound[tuple[ScimPush, ...]]) -> tuple[int, Message]:
    """Give back how many pushes are shown, and the message."""
    pushes = found.copy.value if found.copy is not None else ()
    message = render_history(
        found.group,
        found.detail,
        found.where,
        pushes=pushes,
        problem=found.problem,
        stale=found.stale,
        fetched_at=found.fetched_at,
    )
    return len(pushes), message


DETAIL = DetailKind(fetch=fetch, draw=draw)
