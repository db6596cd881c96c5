"""`/scim-groups changed:3d`: the groups whose last change lies in the window, newest first."""

from __future__ import annotations

from bot.answers import groups
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects
from bot.query import Option, Parts, Query, Reading, Show

CHANGED = Option(("changed",), "3d", window=True)


def read(parts: Parts, page_size: int) -> Show | None:
    """Give back the groups changed in the window of `changed:`; None for a command without it."""
    if CHANGED.name not in parts.windows:
        return None
    return Show(
        Query(provider=parts.provider, changed=parts.windows[CHANGED.name]), page=1, page_size=page_size
    )


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page asked for of the groups changed in the window."""
    query = request.query
    found = subjects.groups.changed(provider_id, query.until - query.changed, refresh=refresh)
    return Groups(found.listing(request.page, request.page_size), searched=found.searched, held=found.held)


ANSWER = PageKind(
    find=find,
    draw=groups.draw,
    page=groups.page,
    asked=lambda query: "",
    windowed=True,
    reading=Reading(options=(CHANGED,), read=read, words=False),
)
