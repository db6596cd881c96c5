"""The directory: an identity provider's groups, a Slack page at a time, cached.

Slack pages are cut from upstream pages of `per_page` = the largest multiple of the Slack page
size that Cloudflare allows (100), so each Slack page lies inside exactly one upstream page and
costs at most one call. Paging never trusts Cloudflare's totals: a short or empty page is the
end, and so is a page whose ids all repeat the page before it (a known upstream bug returns the
same page for every page number), and so is the hard page cap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, overload

from bot.cache import AnswerCache, Cached, Caches, Staleness, Stamped
from bot.cloudflare import (
    CHANGED,
    MAX_PER_PAGE,
    NAME,
    CloudflareClient,
    GroupPage,
    GroupRow,
    IdentityProvider,
    NotFound,
    PermissionMissing,
    Rejected,
    ScimGroup,
)
from bot.codec import GROUPS, PAGE, PROVIDERS
from bot.logs import event
from bot.paging import Paged
from bot.settings import DEFAULT_WALK_CONCURRENCY
from bot.walks import (
    FULL_WALK_SECONDS,
    MAX_WALK_PAGES,
    SMALL_WALK_PAGES,
    WALK,
    Walk,
    absorb,
    changes_since,
    fold,
    give_back_memory,
    merged,
    reason,
    reread_seconds,
    with_ids,
)
from bot.workers import Workers

# 1,000 pages of 100 is 100,000 groups: far past any real directory, and a bound on paging
# through an upstream that never ends.
MAX_UPSTREAM_PAGES = 1_000
# Pages fetched at once while reading a whole directory (SCIM_GROUPS_WALK_CONCURRENCY, at most 20,
# the Cloudflare client's connections): 20 calls under way at once, each taking ~100 ms or more,
# stay within Cloudflare's 200 requests per second per client IP; the call budget bounds the total.
WALK_CONCURRENCY = DEFAULT_WALK_CONCURRENCY
CACHE_ENTRIES = 4_096
# Stale copies outlive their TTL, so they are bounded by count: pages hold up to 100 groups, a
# walk a whole directory.
STALE_PAGES = 1_024
STALE_WALKS = 8

log = logging.getLogger(__name__)
LookupKind = Literal["id", "external", "any"]


# One Slack page of groups, with what is known about the whole list.
Listing = Paged[ScimGroup]


class Built(Sequence[ScimGroup]):
    """Groups made from their rows only when read: a broad search shows ten of thousands."""

    def __init__(self, rows: Sequence[GroupRow], order: Sequence[int] | None = None) -> None:
        self._rows = rows
        self._order = range(len(rows)) if order is None else order  # which rows, in what order

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> ScimGroup: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[ScimGroup, ...]: ...
    def __getitem__(self, index: int | slice) -> ScimGroup | tuple[ScimGroup, ...]:
        if isinstance(index, slice):
            return tuple(ScimGroup.of(self._rows[at]) for at in self._order[index])
        return ScimGroup.of(self._rows[self._order[index]])


@dataclass(frozen=True)
class Held:
    """How often a directory that cannot be kept up to date from the log is read whole, in
    seconds, and how long until it may be next."""

    every: float
    next_in: float


@dataclass(frozen=True)
class Found:
    """Groups that answer a search or a lookup, in the order to show them."""

    groups: Sequence[ScimGroup]
    from_cache: bool
    stale: Staleness | None = None
    # Set when a search stopped before the directory's end: how many groups it read.
    searched: int | None = None
    fetched_at: float | None = None
    aging: bool = False
    # Set when the directory is read whole only now and then (the log cannot be read).
    held: Held | None = None
    # A search that found nothing: the names closest to what was asked.
    close: tuple[str, ...] = ()

    def listing(self, page: int, page_size: int) -> Listing:
        """Give back Slack page `page` of these groups."""
        start = (page - 1) * page_size
        return Listing(
            items=tuple(self.groups[start : start + page_size]),
            page=page,
            page_size=page_size,
            has_next=start + page_size < len(self.groups),
            total=len(self.groups),
            total_is_lower_bound=False,
            from_cache=self.from_cache,
            stale=self.stale,
            fetched_at=self.fetched_at,
            aging=self.aging,
        )


def upstream_page_size(page_size: int) -> int:
    """Give back the upstream `per_page` that holds whole Slack pages of `page_size`."""
    return (MAX_PER_PAGE // page_size) * page_size


class Directory:
    """Groups and identity providers of one Cloudflare account, cached with single flight."""

    def __init__(
        self,
        client: CloudflareClient,
        *,
        caches: Caches,
        workers: Workers | None = None,
        walk_concurrency: int = WALK_CONCURRENCY,
        walk_pages: int = MAX_WALK_PAGES,
        calls_per_5_minutes: int = 600,
    ) -> None:
        self._client = client
        self._walk_concurrency = walk_concurrency
        self._walk_pages = walk_pages
        self._calls_per_5_minutes = calls_per_5_minutes
        self._ttl = caches.ttl
        self._clock = caches.clock
        # Until when the SCIM update log is taken as unreadable (its permission is missing).
        self._log_unreadable_until = 0.0
        self._pages: AnswerCache[tuple[str, str, int, int], GroupPage] = caches.make(
            "page", PAGE, maxsize=CACHE_ENTRIES, stale_maxsize=STALE_PAGES
        )
        self._providers: AnswerCache[str, tuple[IdentityProvider, ...]] = caches.make(
            "providers", PROVIDERS, maxsize=16, stale_maxsize=16
        )
        self._walks: AnswerCache[tuple[str, str], Walk] = caches.make(
            "walk", WALK, maxsize=64, stale_maxsize=STALE_WALKS
        )
        self._lookups: AnswerCache[tuple[str, str, str, tuple[str, ...]], tuple[ScimGroup, ...]] = (
            caches.make("lookup", GROUPS, maxsize=CACHE_ENTRIES, stale_maxsize=STALE_PAGES)
        )
        # The app's pools when it hands them over; else the directory's own, closed with it.
        self._owns_workers = workers is None
        self._workers = workers or Workers(walk_concurrency=walk_concurrency)

    def browse(
        self, identity_provider_id: str, *, page: int, page_size: int, refresh: bool = False
    ) -> Listing:
        """Give back Slack page `page` (1-based) of the provider's groups."""
        per_page = upstream_page_size(page_size)
        number, offset = divmod((page - 1) * page_size, per_page)
        number += 1
        empty = GroupPage(rows=(), page=number, per_page=per_page, total_count=None)
        if number > MAX_UPSTREAM_PAGES:
            cached = Cached(empty, from_cache=True)
        else:
            cached = self._upstream(identity_provider_id, number, per_page, refresh)
        upstream = cached.value
        if number > 1 and upstream.rows and self._repeats_previous(identity_provider_id, upstream):
            upstream = empty
        seen = (number - 1) * per_page + len(upstream.rows)
        more_upstream = len(upstream.rows) == per_page and number < MAX_UPSTREAM_PAGES
        reported = upstream.total_count
        if number > 1 and not upstream.rows:
            # Nothing seen here, so only Cloudflare can say how many there are; and only a count
            # that agrees with an empty page (a refresh past a directory that shrank, a button
            # past the end) is believed.
            before = (number - 1) * per_page
            total, lower_bound = (reported if reported is not None and reported <= before else None), False
        elif not more_upstream:
            total, lower_bound = seen, False
        elif reported is not None and reported > seen:
            total, lower_bound = reported, False
        else:
            total, lower_bound = seen, True
        if more_upstream and not cached.stale and offset + 2 * page_size >= per_page:
            self._prefetch(identity_provider_id, number + 1, per_page)
        return Listing(
            items=tuple(map(ScimGroup.of, upstream.rows[offset : offset + page_size])),
            page=page,
            page_size=page_size,
            has_next=offset + page_size < len(upstream.rows) or more_upstream,
            total=total,
            total_is_lower_bound=lower_bound,
            from_cache=cached.from_cache,
            stale=cached.stale,
            fetched_at=cached.fetched_at,
            aging=cached.aging,
        )

    def reread_wait(self, walk: Walk) -> float:
        """Give back how long, in seconds, a directory that cannot be kept up to date from the
        log waits before it may be read whole again (0: it may be now; small ones always may)."""
        if len(walk.rows) <= SMALL_WALK_PAGES * MAX_PER_PAGE:
            return 0.0
        since = self._clock.time() - walk.walked_at
        if since < 0:  # a clock stepped back: read it again rather than trust the copy
            return 0.0
        return max(0.0, reread_seconds(len(walk.rows), self._calls_per_5_minutes) - since)

    def _held(self, walk: Walk) -> Held | None:
        """Give back, when the log cannot be read, how often this directory is read whole and
        when next; None when it is kept up to date from the log (or is small)."""
        if (
            self._clock.time() >= self._log_unreadable_until
            or len(walk.rows) <= SMALL_WALK_PAGES * MAX_PER_PAGE
        ):
            return None
        return Held(reread_seconds(len(walk.rows), self._calls_per_5_minutes), self.reread_wait(walk))

    def search(self, identity_provider_id: str, text: str, *, refresh: bool = False) -> Found:
        """Give back the groups whose display name contains `text` (any case), whole-name matches first."""
        cached = self._read_all(identity_provider_id, refresh)
        walk = cached.value
        matches = walk.names.find(fold(text))
        # Nothing found: the names closest to what was typed, as a hint.
        close = () if matches else tuple(walk.rows[index][NAME] for index in walk.names.close(fold(text)))
        found = self._found_in(cached, Built(walk.rows, matches))  # only the page shown is built
        return replace(found, close=close) if close else found

    def changed(self, identity_provider_id: str, since: float, *, refresh: bool = False) -> Found:
        """Give back the groups whose last change is at `since` (Unix seconds) or later, newest first."""
        cached = self._read_all(identity_provider_id, refresh)
        walk = cached.value
        stamped = [(row[CHANGED].timestamp(), row) for row in walk.rows if row[CHANGED] is not None]
        recent = [row for at, row in sorted(stamped, key=lambda pair: pair[0], reverse=True) if at >= since]
        return self._found_in(cached, Built(recent))

    def _found_in(self, cached: Cached[Walk], groups: Built) -> Found:
        """Give back `groups` found in a whole read, with what the read says of itself."""
        walk = cached.value
        searched = None if walk.complete else len(walk.rows)
        held = self._held(walk)
        return Found(groups, cached.from_cache, cached.stale, searched, cached.fetched_at, cached.aging, held)

    def lookup(
        self, identity_provider_id: str, kind: LookupKind, values: tuple[str, ...], *, refresh: bool = False
    ) -> Found:
        """Give back the groups with these Cloudflare ids (`id`), IdP ids (`external`) or either (`any`)."""
        key = (self._client.account_id, identity_provider_id, kind, tuple(sorted(values)))
        cached = self._lookups.get(
            key, lambda: self._look_up(identity_provider_id, kind, values), refresh=refresh
        )
        return Found(cached.value, cached.from_cache, cached.stale, None, cached.fetched_at, cached.aging)

    def knows_identity_providers(self) -> bool:
        """Give back whether the provider list is cached (or on its way)."""
        return self._providers.holds(self._client.account_id)

    def identity_providers(self) -> tuple[IdentityProvider, ...]:
        """Give back the account's identity providers (a stale list is still a good list)."""
        return self._providers.get(self._client.account_id, self._client.list_identity_providers).value

    def _page_key(self, identity_provider_id: str, number: int, per_page: int) -> tuple[str, str, int, int]:
        return (self._client.account_id, identity_provider_id, per_page, number)

    def _upstream(
        self, identity_provider_id: str, number: int, per_page: int, refresh: bool, *, stale_ok: bool = True
    ) -> Cached[GroupPage]:
        return self._pages.get(
            self._page_key(identity_provider_id, number, per_page),
            lambda: self._client.list_groups(identity_provider_id, page=number, per_page=per_page),
            refresh=refresh,
            stale_ok=stale_ok,
        )

    def _repeats_previous(self, identity_provider_id: str, upstream: GroupPage) -> bool:
        previous = self._upstream(identity_provider_id, upstream.page - 1, upstream.per_page, False).value
        before = {group_id for group_id, *_ in previous.rows}
        return all(group_id in before for group_id, *_ in upstream.rows)

    def _read_all(self, identity_provider_id: str, refresh: bool) -> Cached[Walk]:
        key = (self._client.account_id, identity_provider_id)
        return self._walks.get(key, lambda: self._load_walk(key, refresh), refresh=refresh)

    def _load_walk(self, key: tuple[str, str], refresh: bool) -> Walk | Stamped[Walk]:
        """Bring the last walk up to date from the log when it can be, else read every page;
        without the log, a large directory only as often as its share of the budget pays for
        (until then, the last walk, as old as it is)."""
        now = self._clock.time()
        # With the cache off (a TTL of 0) nothing is kept to build on: every search reads it all.
        last = self._walks.last(key) if self._ttl > 0 else None
        walk = last.value if last is not None else None
        if walk is not None and now < self._log_unreadable_until and self.reread_wait(walk) > 0:
            return Stamped(walk, walk.synced_at)
        if (
            walk is None
            or len(walk.rows) <= SMALL_WALK_PAGES * MAX_PER_PAGE
            or not 0 <= now - walk.walked_at < FULL_WALK_SECONDS
            or not walk.walked_at <= walk.synced_at <= now
            or now < self._log_unreadable_until
        ):
            return self._walk(key[1], refresh, now)
        try:
            # Worth it while asking for the groups again costs less than reading every page.
            changes = changes_since(
                self._client,
                key[1],
                walk.synced_at,
                self._workers.in_parallel,
                most_calls=len(walk.rows) // MAX_PER_PAGE,
            )
        except (PermissionMissing, NotFound, Rejected) as error:
            self._log_unreadable_until = now + FULL_WALK_SECONDS
            event(log, "catch_up_unavailable", error=reason(error))
            if self.reread_wait(walk) > 0:
                return Stamped(walk, walk.synced_at)
            return self._walk(key[1], refresh, now)
        if changes is None:
            return self._walk(key[1], refresh, now)
        rows = merged(walk.rows, changes)
        return Walk.of(rows, complete=walk.complete, synced_at=now, walked_at=walk.walked_at)

    def _walk(self, identity_provider_id: str, refresh: bool, now: float) -> Walk:
        """Read every page, `walk_concurrency` at a time, until a page is short or empty.

        The end is only ever taken from the pages themselves. Cloudflare's total serves as a
        hint: every page up to the one that would confirm it is asked for at once after the
        first (the pool keeps `walk_concurrency` under way), and none past it, so a right total
        wastes no call and a wrong one costs at most one more batch. Without a total, pages go
        in batches of `walk_concurrency`. A page that only repeats groups
        already read is fetched once more (it may have been served wrongly); if it repeats again
        the walk stops there, marked incomplete (a known upstream bug serves one page for every
        page number). A failed page fails the walk (whose last good copy may then be shown): a
        directory with holes would answer wrongly.
        """
        seen: set[str] = set()
        rows: list[GroupRow] = []

        def fetch(number: int, again: bool = False) -> GroupPage:
            return self._upstream(
                identity_provider_id, number, MAX_PER_PAGE, refresh or again, stale_ok=False
            ).value

        first_page = fetch(1)
        outcome = absorb(first_page, seen, rows)  # "more" or "end": nothing was read before it
        # The page that shows the total right: the short last page, or the empty one after a full one.
        confirming = (first_page.total_count or 0) // MAX_PER_PAGE + 1
        number = 2
        while outcome == "more" and number <= self._walk_pages:
            stop = confirming + 1 if number <= confirming else number + self._walk_concurrency
            numbers = range(number, min(stop, self._walk_pages + 1))
            outcome, number = self._read_pages(fetch, numbers, seen, rows)
        walk = Walk.of(rows, complete=outcome == "end", synced_at=now, walked_at=now)
        if len(rows) > SMALL_WALK_PAGES * MAX_PER_PAGE:  # what reading it freed, back to the system
            give_back_memory()
        return walk

    def _read_pages(
        self, fetch: Callable[..., GroupPage], numbers: range, seen: set[str], rows: list[GroupRow]
    ) -> tuple[Literal["more", "end", "repeat"], int]:
        """Read pages `numbers` in order into `rows`; give back how it ended and the page to read next.

        The first `walk_concurrency` are asked for at once, the rest only once the first of them
        is sound: an upstream that serves one page for every number costs one wave, not them all.
        A page that only repeats is asked for once more; if it then reads right, the pages after
        it are asked for again (the cache has those already read), else the walk ends there.
        """
        pages = self._workers.walk(fetch, numbers[: self._walk_concurrency])
        try:
            for index, number in enumerate(numbers):
                outcome = absorb(pages[index].result(), seen, rows)
                if outcome == "repeat":
                    for future in pages:  # nothing more until this page reads right
                        future.cancel()
                    outcome = absorb(fetch(number, True), seen, rows)
                    if outcome == "more":
                        return outcome, number + 1
                if outcome != "more":
                    return outcome, number
                if index == 0:
                    pages += self._workers.walk(fetch, numbers[self._walk_concurrency :])
        finally:  # the end, or a failed page: pages not yet asked for are not asked for
            for future in pages:
                future.cancel()
        return "more", numbers.stop

    def _look_up(
        self, identity_provider_id: str, kind: LookupKind, values: tuple[str, ...]
    ) -> tuple[ScimGroup, ...]:
        def by(field: Literal["id", "external"]) -> list[ScimGroup]:
            return list(map(ScimGroup.of, with_ids(self._client, identity_provider_id, field, values)))

        if kind != "any":
            return tuple(by(kind))
        fields: tuple[Literal["id", "external"], ...] = ("id", "external")
        by_id, by_external = self._workers.in_parallel(by, fields)
        merged = {group.id or str(index): group for index, group in enumerate(by_id + by_external)}
        return tuple(merged.values())

    def close(self) -> None:
        """Finish the work under way (prefetches included) and close the connections."""
        if self._owns_workers:
            self._workers.close()
        self._client.close()

    def _prefetch(self, identity_provider_id: str, number: int, per_page: int) -> None:
        """Load upstream page `number` ahead of the Next click that will want it.

        Only the page right after one a user is on: the quota is never spent on pages nobody is
        near. It runs outside the request's context: its call is nobody's answer.
        """
        if self._ttl <= 0:  # nothing would keep it
            return
        if not self._pages.holds(self._page_key(identity_provider_id, number, per_page)):
            self._workers.call_soon(lambda: self._load_quietly(identity_provider_id, number, per_page))

    def _load_quietly(self, identity_provider_id: str, number: int, per_page: int) -> None:
        try:
            self._upstream(identity_provider_id, number, per_page, False)
        except Exception as error:  # a failed prefetch costs nothing: the click will try again
            event(log, "prefetch_failed", logging.DEBUG, error=type(error).__name__)
