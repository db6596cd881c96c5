"""`/scim-groups oncall`: the groups whose display name holds the words, whole-name matches first.

A word that could be an identity provider's id for a group (Okta's `00g1HxmbubgVjZccWQvM`,
Google's `03ep43zb2k1e5zi`, OneLogin's numbers) is looked up as an External ID as well, in the
same answer: the groups with it first, then the names that contain it.

The search also reads a command of no words at all: that is browsing (`bot.answers.browse`)."""

from __future__ import annotations

from dataclasses import replace

from bot.answers import groups, lookup
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects, elsewhere
from bot.cloudflare import CloudflareError
from bot.query import ID_SHAPED, MAX_VALUE_LENGTH, BadInput, Parts, Query, Reading, Show
from bot.views import ByExternalId


def read(parts: Parts, page_size: int) -> Show | BadInput:
    """Give back the search for the command's words, spaces between them made single."""
    words = " ".join(" ".join(parts.words).split())
    if len(words) > MAX_VALUE_LENGTH:
        return BadInput(f"Search for at most {MAX_VALUE_LENGTH} characters of a group's name.")
    return Show(
        Query(provider=parts.provider, search=words), page=1, page_size=page_size, meant=parts.near or ""
    )


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page asked for of the groups that match, those whose External ID the text
    is first when it may be an id."""
    text = request.query.search
    by_id = (
        subjects.workers.in_background(
            lambda: subjects.groups.lookup(provider_id, "external", (text,), refresh=refresh)
        )
        if ID_SHAPED.fullmatch(text)
        else None
    )
    found = subjects.groups.search(provider_id, text, refresh=refresh)
    if by_id is None:
        listing = found.listing(request.page, request.page_size)
        return Groups(listing, searched=found.searched, held=found.held, close=found.close)
    try:
        exact = tuple(group for group in by_id.result().groups if group.external_id == text)
    except CloudflareError as error:  # the names were read: show them, and say what was not
        listing = found.listing(request.page, request.page_size)
        return Groups(
            listing, searched=found.searched, held=found.held, by_id=ByExternalId(text, problem=error)
        )
    ids = {group.id for group in exact}
    both = [*exact, *(group for group in found.groups if group.id not in ids)] if exact else found.groups
    listing = replace(found, groups=both).listing(request.page, request.page_size)
    counted = ByExternalId(text, found=len(exact), names=len(found.groups))
    others = (
        elsewhere(subjects, provider_id, lookup.counter(subjects, "external", (text,), refresh))
        if not both
        else ()
    )
    return Groups(
        listing, searched=found.searched, held=found.held, by_id=counted, elsewhere=others, close=found.close
    )


ANSWER = PageKind(
    find=find,
    draw=groups.draw,
    page=groups.page,
    asked=lambda query: query.search,
    reading=Reading(options=(), read=read, fallback=True),
)
