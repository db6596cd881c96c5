"""What the group answers (browse, search, changed, lookups) find, and how it is drawn: a page
of groups, with what was not found, how far a search read, and why a copy is held."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.answers.kinds import Drawing
from bot.directory import Held, Listing
from bot.logs import event
from bot.query import Show
from bot.views import ByExternalId, Elsewhere, Message, render_listing

log = logging.getLogger(__name__)


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


def page(found: Groups) -> Listing:
    return found.listing
