"""What the group answers (browse, search, changed, lookups) find, and how it is drawn: a page
of groups, with what was not found, how far a search read, and why a copy is held."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from bot.answers.kinds import Drawing, Subjects
from bot.cloudflare import CloudflareError, IdentityProvider
from bot.directory import Held, Listing, LookupKind
from bot.logs import event
from bot.query import Show
from bot.views import ByExternalId, Elsewhere, Message, render_listing

log = logging.getLogger(__name__)

# The other identity providers asked for what the one asked does not have: an account has a few.
MAX_OTHER_PROVIDERS = 5


@dataclass(frozen=True)
class Groups:
    """A page of groups found, before it is drawn."""

    listing: Listing
    missing: tuple[str, ...] = ()
    # Set when a search stopped before the directory's end: how many groups it read.
    searched: int | None = None
    # Set when the directory searched is read whole only now and then (the log cannot be read).
    held: Held | None = None
    # Set when a search's text was looked up as an External ID too.
    by_id: ByExternalId | None = None
    # When nothing was found: the account's other providers that have it, and the names closest
    # to a search.
    elsewhere: tuple[Elsewhere, ...] = ()
    close: tuple[str, ...] = ()


def draw(found: Groups, request: Show, drawing: Drawing) -> Message:
    """Give back the page of groups as a message."""
    event(log, "shown", logging.DEBUG, groups=[group.display_name for group in found.listing.items])
    return render_listing(
        found.listing,
        request,
        drawing.provider_name,
        shared_by=drawing.shared_by,
        missing=found.missing,
        searched=found.searched,
        refresh_wait=drawing.refresh_wait,
        held=found.held,
        by_id=found.by_id,
        elsewhere=found.elsewhere,
        close=found.close,
    )


def elsewhere(
    subjects: Subjects, provider_id: str, kind: LookupKind, values: tuple[str, ...], refresh: bool
) -> tuple[Elsewhere, ...]:
    """Give back the account's other SCIM providers that have groups with these ids (asked when
    the one asked has none), each asked at once, from the cache where it can. A provider that
    cannot be asked, or a list that cannot be read, adds nothing: this only ever adds a lead."""
    try:
        providers = subjects.groups.identity_providers()
    except CloudflareError:
        return ()
    others = [p for p in providers if p.scim_enabled and p.id.lower() != provider_id.lower()]

    def count(provider: IdentityProvider) -> int:
        try:
            return len(subjects.groups.lookup(provider.id, kind, values, refresh=refresh).groups)
        except CloudflareError:
            return 0

    asked = [
        subjects.workers.in_background(functools.partial(count, p)) for p in others[:MAX_OTHER_PROVIDERS]
    ]
    return tuple(
        Elsewhere(provider, found)
        for provider, future in zip(others, asked, strict=False)
        if (found := future.result())
    )


def page(found: Groups) -> Listing:
    return found.listing
