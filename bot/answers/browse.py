"""`/scim-groups`: every group of the identity provider, a page at a time."""

from __future__ import annotations

from bot.answers import groups
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects
from bot.query import Show


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page of groups asked for, read from Cloudflare's own paging."""
    listing = subjects.groups.browse(
        provider_id, page=request.page, page_size=request.page_size, refresh=refresh
    )
    return Groups(listing)


ANSWER = PageKind(find=find, draw=groups.draw, page=groups.page, asked=lambda query: "")
