"""`/scim-groups oncall`: the groups whose display name holds the words, whole-name matches first.

The search also reads a command of no words at all: that is browsing (`bot.answers.browse`)."""

from __future__ import annotations

from bot.answers import groups
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects
from bot.query import MAX_VALUE_LENGTH, BadInput, Parts, Query, Reading, Show


def read(parts: Parts, page_size: int) -> Show | BadInput:
    """Give back the search for the command's words, spaces between them made single."""
    words = " ".join(" ".join(parts.words).split())
    if len(words) > MAX_VALUE_LENGTH:
        return BadInput(f"Search for at most {MAX_VALUE_LENGTH} characters of a group's name.")
    return Show(Query(provider=parts.provider, search=words), page=1, page_size=page_size)


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page asked for of the groups that match."""
    found = subjects.groups.search(provider_id, request.query.search, refresh=refresh)
    listing = found.listing(request.page, request.page_size)
    return Groups(listing, searched=found.searched, held=found.held)


ANSWER = PageKind(
    find=find,
    draw=groups.draw,
    page=groups.page,
    asked=lambda query: query.search,
    reading=Reading(options=(), read=read, fallback=True),
)
