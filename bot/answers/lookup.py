"""`id:`, `external:` and pasted ids: the groups with those ids, and the ids no group has.

One module for three kinds: they differ only in which of the group's ids a value is."""

from __future__ import annotations

import json
from collections.abc import Callable

from bot.answers import groups
from bot.answers.groups import Groups
from bot.answers.kinds import PageKind, Subjects, elsewhere
from bot.directory import LookupKind
from bot.query import (
    EXAMPLE_ID,
    MAX_IDS,
    MAX_IDS_IN_BUTTON,
    MAX_VALUE_LENGTH,
    BadInput,
    Option,
    Parts,
    Query,
    Reading,
    Show,
    console_link,
    unique,
)
from bot.settings import UUID_PATTERN

# A group's page in its identity provider's admin console holds the group's id there, which is
# its external id here: Okta's `https://acme-admin.okta.com/admin/group/00g…`, Entra's
# `…/GroupDetailsMenuBlade/~/Overview/groupId/<object id>` (Entra sends the object id).
GROUP_URL = console_link("/admin/group/", "/groupId/")

BY_ID = Option(("id", "ids"), EXAMPLE_ID)
BY_EXTERNAL_ID = Option(("external", "ext"), "all_employees", listed=("ext",))


def read(parts: Parts, page_size: int) -> Show | BadInput | None:
    """Give back the lookup of the ids after `id:` or `external:` (every word after them is one
    more id), or of a command of pasted UUIDs or admin-console links to groups alone; None for
    any other command."""
    options = parts.options & {BY_ID.name, BY_EXTERNAL_ID.name}
    if len(options) > 1:
        return BadInput(
            "Cloudflare cannot look up by `id:` and `external:` at once: ask for one kind at a time."
        )
    if options:
        (option,) = options
        kind: LookupKind = "id" if option == BY_ID.name else "external"
        return _lookup(parts.provider, kind, parts.values[option] + parts.words, page_size)
    words = " ".join(parts.words).replace(",", " ").split()
    if words and all(UUID_PATTERN.match(word) for word in words):
        return _lookup(parts.provider, "any", words, page_size)
    pasted = [GROUP_URL.fullmatch(word) for word in words]
    if words and all(pasted):
        return _lookup(parts.provider, "external", [url.group(1) for url in pasted if url], page_size)
    return None


def _lookup(provider: str | None, kind: LookupKind, values: list[str], page_size: int) -> Show | BadInput:
    ids = unique(values)
    if not ids:  # `ext:","`: nothing left to look up, which is not "everything"
        option = BY_ID if kind == "id" else BY_EXTERNAL_ID
        return BadInput(f"`{option.name}:` needs a value after it, like `{option.name}:{option.example}`.")
    if len(ids) > MAX_IDS:
        return BadInput(f"Look up at most {MAX_IDS} ids at a time (you gave {len(ids)}).")
    if kind in ("id", "any"):
        for value in ids:
            if not UUID_PATTERN.match(value):
                return BadInput(
                    f"`{value[:60]}` is not a Cloudflare group id: those are UUIDs like `{EXAMPLE_ID}`. "
                    "For the identity provider's id use `external:`; to search by name, leave out `id:`."
                )
        ids = list(dict.fromkeys(value.lower() for value in ids))
    elif any(len(value) > MAX_VALUE_LENGTH for value in ids):
        return BadInput(f"An external id is at most {MAX_VALUE_LENGTH} characters long.")
    elif len(json.dumps(ids, ensure_ascii=False)) > MAX_IDS_IN_BUTTON:
        return BadInput(
            f"Those {len(ids)} external ids are too long to look up together: split them over two commands."
        )
    query = Query(
        provider=provider,
        ids=tuple(ids) if kind == "id" else (),
        external_ids=tuple(ids) if kind == "external" else (),
        either_ids=tuple(ids) if kind == "any" else (),
    )
    return Show(query, page=1, page_size=page_size)


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Groups:
    """Give back the page asked for of the groups found, with the values that found none."""
    values = ids(request.query)
    query = request.query
    kind: LookupKind = "id" if query.ids else "external" if query.external_ids else "any"
    found = subjects.groups.lookup(provider_id, kind, values, refresh=refresh)
    # Found in any case: Cloudflare's own ids are UUIDs, and a pasted one is asked in lower case.
    present = {id_.lower() for group in found.groups for id_ in (group.id, group.external_id)}
    missing = tuple(value for value in values if value.lower() not in present)
    others = (
        elsewhere(subjects, provider_id, counter(subjects, kind, values, refresh)) if not found.groups else ()
    )
    return Groups(found.listing(request.page, request.page_size), missing=missing, elsewhere=others)


def counter(
    subjects: Subjects, kind: LookupKind, values: tuple[str, ...], refresh: bool
) -> Callable[[str], int]:
    """Give back what counts the groups with these ids in a provider (given its id)."""
    return lambda provider_id: len(subjects.groups.lookup(provider_id, kind, values, refresh=refresh).groups)


def ids(query: Query) -> tuple[str, ...]:
    """Give back the ids looked up, of whichever kind."""
    return query.ids or query.external_ids or query.either_ids


ANSWER = PageKind(
    find=find,
    draw=groups.draw,
    page=groups.page,
    asked=lambda query: ",".join(ids(query)),
    reading=Reading(options=(BY_ID, BY_EXTERNAL_ID), read=read),
)
