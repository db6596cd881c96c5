"""`id:`, `external:` and pasted ids: the groups with those ids, and the ids no group has.

One module for three kinds: they differ only in which of the group's ids a value is."""

from __future__ import annotations

from bot.answers import groups
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects
from bot.directory import LookupKind
from bot.query import Query, Show


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page asked for of the groups found, with the values that found none."""
    values = ids(request.query)
    query = request.query
    kind: LookupKind = "id" if query.ids else "external" if query.external_ids else "any"
    found = subjects.groups.lookup(provider_id, kind, values, refresh=refresh)
    present = {group.id.lower() for group in found.groups} | {group.external_id for group in found.groups}
    missing = tuple(value for value in values if value not in present and value.lower() not in present)
    return Groups(found.listing(request.page, request.page_size), missing=missing)


def ids(query: Query) -> tuple[str, ...]:
    """Give back the ids looked up, of whichever kind."""
    return query.ids or query.external_ids or query.either_ids


ANSWER = PageKind(find=find, draw=groups.draw, page=groups.page, asked=lambda query: ",".join(ids(query)))
