"""Slack pages cut from what Cloudflare gives back: one list, or upstream pages of whole Slack pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.cache import Cached, Staleness

T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One Slack page of anything (users, pushes), with what is known about the whole list."""

    items: tuple[T, ...]
    page: int
    page_size: int
    has_next: bool
    total: int | None
    total_is_lower_bound: bool
    from_cache: bool
    stale: Staleness | None = None
    # When it was fetched from Cloudflare, and whether it is an aging copy refreshed behind.
    fetched_at: float | None = None
    aging: bool = False

    @property
    def page_count(self) -> int | None:
        """Give back how many Slack pages there are, when the total is known exactly."""
        return page_count(self.total, self.total_is_lower_bound, self.page_size)


def page_count(total: int | None, lower_bound: bool, page_size: int) -> int | None:
    """Give back how many Slack pages of `page_size` hold `total` items, when it is exact."""
    if total is None or lower_bound:
        return None
    return max(1, -(-total // page_size))


def page_of(items: tuple[T, ...], cached: Cached[Any], page: int, page_size: int) -> Paged[T]:
    """Give back Slack page `page` of a whole list (`cached` says where the list came from)."""
    start = (page - 1) * page_size
    return Paged(
        items=items[start : start + page_size],
        page=page,
        page_size=page_size,
        has_next=start + page_size < len(items),
        total=len(items),
        total_is_lower_bound=False,
        from_cache=cached.from_cache,
        stale=cached.stale,
        fetched_at=cached.fetched_at,
        aging=cached.aging,
    )


def slack_page(
    upstream: Cached[tuple[T, ...]], number: int, per_page: int, offset: int, page: int, page_size: int
) -> Paged[T]:
    """Give back Slack page `page`, found at `offset` in upstream page `number` (0-based) of
    `per_page` rows: a short upstream page is the end, and only then is the count exact."""
    rows = upstream.value
    more = len(rows) == per_page
    seen = number * per_page + len(rows)
    return Paged(
        items=rows[offset : offset + page_size],
        page=page,
        page_size=page_size,
        has_next=offset + page_size < len(rows) or more,
        total=seen if rows or number == 0 else None,
        total_is_lower_bound=more,
        from_cache=upstream.from_cache,
        stale=upstream.stale,
        fetched_at=upstream.fetched_at,
        aging=upstream.aging,
    )
