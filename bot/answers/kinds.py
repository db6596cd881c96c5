"""What an answer kind is: how it finds its data through the subjects, and which view draws it.

A page kind answers a command or a paging click (`Show`); a detail kind answers a group's button
(`Detail`). Each kind is one module of this package, registered in `bot.answers.ANSWERS` or
`bot.answers.DETAILS`; the service resolves the identity provider, looks the kind up, calls it
and audits it, and knows nothing else of what kinds there are.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.access_users import AccessUsers
from bot.cache import Cached, Staleness
from bot.clock import Clock
from bot.cloudflare import CloudflareError, IdentityProvider, ScimGroup
from bot.directory import Directory
from bot.pushes import Pushes
from bot.query import Detail, Query, Reading, Show
from bot.rules import AccessRules
from bot.slack_people import SlackPeople
from bot.users import UserDirectory
from bot.views import Elsewhere, Message
from bot.workers import Workers

F = TypeVar("F")
T = TypeVar("T")


@dataclass(frozen=True)
class Subjects:
    """What answers find their data through: groups, users, SCIM pushes, Access rules, Slack's
    people, what Access knows of people; the app's threads; and the clock their windows are
    measured on."""

    groups: Directory
    users: UserDirectory
    pushes: Pushes
    rules: AccessRules
    people: SlackPeople
    workers: Workers
    clock: Clock
    access_users: AccessUsers

    def next_minute(self) -> int:
        """Give back the next whole minute (Unix seconds): where a window asked now ends."""
        return math.ceil(self.clock.time() / 60) * 60


@dataclass(frozen=True)
class Drawing:
    """What a page's view needs beyond what was found: whose provider, who shared it, and how
    long until Refresh works again (when it was pressed too soon)."""

    provider_name: str
    shared_by: str | None = None
    refresh_wait: float | None = None


@dataclass(frozen=True)
class PageKind(Generic[F]):
    """One kind of answer to a command or a paging click.

    `reading` is how a command asks for it (None: another kind's reading makes its queries);
    `find` gets the request and its provider's UUID, and whether to refresh; `page` gives back the page
    of what was found (a `Listing` or a `Paged`), for the audit line; `asked` what was asked,
    for the DEBUG line. A `windowed` kind covers a span that ends at the minute it was first
    asked, on every page.
    """

    find: Callable[[Subjects, Show, str, bool], F]
    draw: Callable[[F, Show, Drawing], Message]
    page: Callable[[F], Any]
    asked: Callable[[Query], str]
    windowed: bool = False
    reading: Reading | None = None
    # What a Workflow Builder step gives back from what was found (kinds a step can run).
    outputs: Callable[[F], dict[str, Any]] | None = None


@dataclass(frozen=True)
class DetailFound(Generic[T]):
    """What was found for a group's detail: the group (None when Cloudflare has no such group,
    or it could not be read), the copy of what is shown about it, and why either is missing or
    old."""

    detail: Detail
    provider: IdentityProvider | None  # None when the provider list could not be read
    group: ScimGroup | None
    copy: Cached[T] | None
    problem: CloudflareError | None
    group_stale: Staleness | None

    @property
    def where(self) -> str:
        """Give back the provider's name, as the detail names it."""
        return (self.provider.name if self.provider is not None else "") or "its identity provider"

    @property
    def stale(self) -> Staleness | None:
        """Give back why the answer is an older copy: its data's, else its group's."""
        return (self.copy.stale if self.copy is not None else None) or self.group_stale

    @property
    def fetched_at(self) -> float | None:
        return self.copy.fetched_at if self.copy is not None else None


@dataclass(frozen=True)
class DetailKind(Generic[T]):
    """One kind of a group's detail: `fetch` reads what is shown about the group (it may raise
    `CloudflareError`), `draw` gives back how many things it shows and the message."""

    fetch: Callable[[Subjects, Detail], Cached[T]]
    draw: Callable[[DetailFound[T]], tuple[int, Message]]


# The other identity providers asked for what the one asked does not have: an account has a few.
MAX_OTHER_PROVIDERS = 5


def elsewhere(subjects: Subjects, provider_id: str, count: Callable[[str], int]) -> tuple[Elsewhere, ...]:
    """Give back the account's other SCIM providers in which `count` (given a provider's id)
    finds something, for an answer that found nothing in the one asked; each asked at once,
    from the cache where it can. A provider that cannot be asked, or a list that cannot be
    read, adds nothing: this only ever adds a lead."""
    try:
        providers = subjects.groups.identity_providers()
    except CloudflareError:
        return ()
    others = [p for p in providers if p.scim_enabled and p.id.lower() != provider_id.lower()]

    def counted(provider: IdentityProvider) -> int:
        try:
            return count(provider.id)
        except CloudflareError:
            return 0

    asked = [
        subjects.workers.in_background(functools.partial(counted, p)) for p in others[:MAX_OTHER_PROVIDERS]
    ]
    return tuple(
        Elsewhere(provider, found)
        for provider, future in zip(others, asked, strict=False)
        if (found := future.result())
    )
