"""`/scim-groups oncall`: the groups whose display name holds the words, whole-name matches first."""

from __future__ import annotations

from bot.answers import groups
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects
from bot.query import Show


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page asked for of the groups that match."""
    found = subjects.groups.search(provider_id, request.query.search, refresh=refresh)
    listing = found.listing(request.page, request.page_size)
    return Groups(listing, searched=found.searched, held=found.held)


ANSWER = PageKind(find=find, draw=groups.draw, page=groups.page, asked=lambda query: query.search)
