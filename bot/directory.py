"""The directory: an identity provider's groups, a Slack page at a time, cached.

Slack pages are cut from upstream pages of `per_page` = the largest multiple of the Slack page
size that Cloudflare allows (100), so each Slack page lies inside exactly one upstream page and
costs at most one call. Paging never trusts Cloudflare's totals: a short or empty page is the
end, and so is a page whose ids all repeat the page before it (a known upstream bug returns the
same page for every page number), and so is the hard page cap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

from bot.cloudflare import MAX_PER_PAGE, CloudflareClient, GroupPage, IdentityProvider, ScimGroup

Clock = Callable[[], float]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# 1,000 pages of 100 is 100,000 groups: far past any real directory, and a bound on a walk
# against an upstream that never ends.
MAX_UPSTREAM_PAGES = 1_000
CACHE_ENTRIES = 4_096


class SingleFlightCache(Generic[K, V]):
    """A thread-safe TTL cache where concurrent misses for one key make one load.

    cachetools gives the TTL bookkeeping (with an injectable clock); what it lacks is a way to
    make the second caller of a key wait for the first one's load instead of loading again.
    """

    def __init__(self, *, ttl: float, clock: Clock, maxsize: int = CACHE_ENTRIES) -> None:
        self._entries: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=clock)
        self._lock = threading.Lock()
        self._loading: dict[K, Future[V]] = {}

    def get(self, key: K, load: Callable[[], V], *, refresh: bool = False) -> tuple[V, bool]:
        """Give back the value for `key` and whether it came from the cache.

        With `refresh`, a cached value is ignored, but a load already under way is joined:
        it started after the click, so it is as fresh as a new one.
        """
        with self._lock:
            if not refresh and key in self._entries:
                return self._entries[key], True
            pending = self._loading.get(key)
            if pending is None:
                pending = self._loading[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return pending.result(), False
        try:
            value = load()
        except BaseException as error:
            with self._lock:
                del self._loading[key]
            pending.set_exception(error)
            raise
        with self._lock:
            self._entries[key] = value
            del self._loading[key]
        pending.set_result(value)
        return value, False


@dataclass(frozen=True)
class Listing:
    """One Slack page of groups, with what is known about the whole list."""

    groups: tuple[ScimGroup, ...]
    page: int
    page_size: int
    has_next: bool
    total: int | None
    total_is_lower_bound: bool
    from_cache: bool

    @property
    def page_count(self) -> int | None:
        """Give back how many Slack pages there are, when the total is known exactly."""
        if self.total is None or self.total_is_lower_bound:
            return None
        return max(1, -(-self.total // self.page_size))


def upstream_page_size(page_size: int) -> int:
    """Give back the upstream `per_page` that holds whole Slack pages of `page_size`."""
    return (MAX_PER_PAGE // page_size) * page_size


class Directory:
    """Groups and identity providers of one Cloudflare account, cached with single flight."""

    def __init__(self, client: CloudflareClient, *, ttl: float, clock: Clock = time.monotonic) -> None:
        self._client = client
        self._pages: SingleFlightCache[tuple[str, str, int, int], GroupPage] = SingleFlightCache(
            ttl=ttl, clock=clock
        )
        self._providers: SingleFlightCache[str, tuple[IdentityProvider, ...]] = SingleFlightCache(
            ttl=ttl, clock=clock, maxsize=16
        )

    def browse(
        self, identity_provider_id: str, *, page: int, page_size: int, refresh: bool = False
    ) -> Listing:
        """Give back Slack page `page` (1-based) of the provider's groups."""
        per_page = upstream_page_size(page_size)
        first = (page - 1) * page_size
        number, offset = divmod(first, per_page)
        number += 1
        if number > MAX_UPSTREAM_PAGES:
            upstream = GroupPage(groups=(), page=number, per_page=per_page, total_count=None)
            from_cache = True
        else:
            upstream, from_cache = self._upstream(identity_provider_id, number, per_page, refresh)
        if number > 1 and upstream.groups and self._repeats_previous(identity_provider_id, upstream):
            upstream = GroupPage(groups=(), page=number, per_page=per_page, total_count=None)
        groups = upstream.groups[offset : offset + page_size]
        seen = (number - 1) * per_page + len(upstream.groups)
        more_upstream = len(upstream.groups) == per_page and number < MAX_UPSTREAM_PAGES
        reported = upstream.total_count
        if not more_upstream:
            total, lower_bound = seen, False
        elif reported is not None and reported > seen:
            total, lower_bound = reported, False
        else:
            total, lower_bound = seen, True
        return Listing(
            groups=groups,
            page=page,
            page_size=page_size,
            has_next=offset + page_size < len(upstream.groups) or more_upstream,
            total=total,
            total_is_lower_bound=lower_bound,
            from_cache=from_cache,
        )

    def identity_provider(self, identity_provider_id: str) -> IdentityProvider | None:
        """Give back the account's identity provider with this id, if there is one."""
        providers, _ = self._providers.get("all", self._client.list_identity_providers)
        return next((p for p in providers if p.id.lower() == identity_provider_id.lower()), None)

    def _upstream(
        self, identity_provider_id: str, number: int, per_page: int, refresh: bool
    ) -> tuple[GroupPage, bool]:
        key = (self._client.account_id, identity_provider_id, per_page, number)
        return self._pages.get(
            key,
            lambda: self._client.list_groups(identity_provider_id, page=number, per_page=per_page),
            refresh=refresh,
        )

    def _repeats_previous(self, identity_provider_id: str, upstream: GroupPage) -> bool:
        previous, _ = self._upstream(identity_provider_id, upstream.page - 1, upstream.per_page, False)
        before = {group.id for group in previous.groups}
        return all(group.id in before for group in upstream.groups)
