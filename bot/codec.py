"""Cached answers as compact, versioned, sealed JSON, for a cache shared between processes (Redis).

Only what Cloudflare returned is stored: group and provider fields, never a credential. Redis
may be shared with other software, or written by someone else, so nothing read from it is
trusted: every entry carries an HMAC-SHA256 over its Redis key and its text (`Seal`), with a
key derived from the Cloudflare credential that every process of this bot holds (one who could
forge an entry could read the same data from Cloudflare); and every decoded value is checked
field by field (types, lengths, ranges, dates Python can show). Anything that fails either is
`Unusable`: the cache treats it as a miss and overwrites it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from bot.cloudflare import MAX_TEXT, GroupPage, GroupRow, IdentityProvider, ScimGroup, moment_or_none

VERSION = 6
V = TypeVar("V")
T = TypeVar("T")
# As long as any field the bot keeps from Cloudflare: whatever it stored, it can read back.
MAX_FIELD = MAX_TEXT
# How far ahead of this host's clock another host's may run and its entries still be read (they
# count as fetched now). A clock further off is broken, not skewed.
MAX_CLOCK_SKEW = 86_400.0
# How much of what was wrong with an entry the log keeps.
DETAIL_LIMIT = 120


class Unusable(Exception):
    """A stored entry is forged, malformed, or from another version; `reason` says which."""

    def __init__(self, reason: Literal["forged", "malformed"], detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class Seal:
    """Signs entries for the Redis key they are stored under, and opens only entries it signed."""

    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> Seal:
        """Give back the seal whose key is derived from `secret` (the Cloudflare credential)."""
        return cls(hmac.new(secret.encode(), b"scim-groups redis entries v2", hashlib.sha256).digest())

    def close(self, name: str, text: str) -> str:
        """Give back `text` sealed for the Redis key `name`."""
        return f"{self._mac(name, text)}.{text}"

    def open(self, name: str, sealed: str | bytes) -> str:
        """Give back the text sealed for `name`, or raise `Unusable`."""
        try:
            raw = sealed.decode() if isinstance(sealed, bytes) else sealed
        except UnicodeDecodeError:
            raise Unusable("forged", "not UTF-8") from None
        mac, dot, text = raw.partition(".")
        if not dot or not hmac.compare_digest(mac, self._mac(name, text)):
            raise Unusable("forged", "seal does not match")
        return text

    def _mac(self, name: str, text: str) -> str:
        return hmac.new(self.key, f"{name}\0{text}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Codec(Generic[V]):
    """How one kind of answer goes to text and back; `decode` raises ValueError or TypeError on
    anything that is not a value this bot could have stored."""

    encode: Callable[[V], Any]
    decode: Callable[[Any], V]

    def dumps(self, value: V) -> str:
        """Give back the value as versioned JSON."""
        return json.dumps([VERSION, self.encode(value)], separators=(",", ":"), ensure_ascii=False)

    def loads(self, text: str) -> V:
        """Give back the value stored as `text`, or raise `Unusable`."""
        try:
            version, payload = json.loads(text)
            if version != VERSION:
                raise Unusable("malformed", f"version {version!r}")
            return self.decode(payload)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError, OverflowError) as error:
            raise Unusable("malformed", why(error)) from None


def why(error: Exception) -> str:
    """Give back what was wrong with an entry, for the log: the check that failed, briefly."""
    return f"{type(error).__name__}: {error}"[:DETAIL_LIMIT]


def text(value: object, *, empty: bool = True) -> str:
    """Give back `value` if it is a string of a sane length, else raise TypeError."""
    if not isinstance(value, str) or len(value) > MAX_FIELD or (not empty and not value):
        raise TypeError("not a string field")
    return value


def whole(value: object, low: int, high: int) -> int:
    """Give back `value` if it is a whole number from `low` to `high`, else raise TypeError."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise TypeError("not a whole number in range")
    return value


def flag(value: object) -> bool:
    """Give back `value` if it is a boolean, else raise TypeError."""
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def instant(value: object, *, now: float) -> float:
    """Give back `value` if it is a Unix time no later than `now` (give or take another host's
    clock, MAX_CLOCK_SKEW), else raise TypeError."""
    # NaN and infinities fail the comparison too.
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 <= value <= now + MAX_CLOCK_SKEW
    ):
        raise TypeError("not a past Unix time")
    return float(value)


def _row(row: GroupRow) -> list[Any]:
    group_id, name, external_id, last_modified = row
    return [group_id, name, external_id, when(last_modified)]


def _from_row(item: list[Any]) -> GroupRow:
    if not isinstance(item, list) or len(item) != 4:
        raise TypeError("not a group row")
    return (text(item[0]), text(item[1]), text(item[2]), moment(item[3]))


def when(moment: datetime | None) -> str | None:
    """Give back a date as stored: RFC 3339, or None."""
    return moment.isoformat() if moment else None


def moment(value: object) -> datetime | None:
    """Give back a stored date (None stays None), or raise ValueError or TypeError."""
    if value is None:
        return None
    found = moment_or_none(text(value))
    if found is None:
        raise ValueError("not a date this bot could have stored")
    return found


def many(items: object, decode: Callable[[Any], T], what: str) -> tuple[T, ...]:
    """Give back each item of a stored list decoded, or raise TypeError naming `what` it is not."""
    if not isinstance(items, list):
        raise TypeError(f"not a list of {what}")
    return tuple(decode(item) for item in items)


def _rows(items: object) -> tuple[GroupRow, ...]:
    return many(items, _from_row, "rows")


def _page(item: list[Any]) -> GroupPage:
    if not isinstance(item, list):
        raise TypeError("not a page")
    page, per_page, total, rows = item
    return GroupPage(
        rows=_rows(rows),
        page=whole(page, 1, 100_000),
        per_page=whole(per_page, 1, 100),
        total_count=None if total is None else whole(total, 0, 10_000_000),
    )


def _provider(item: object) -> IdentityProvider:
    if not isinstance(item, list) or len(item) != 4:
        raise TypeError("not a provider")
    provider_id, name, kind, scim = item
    return IdentityProvider(text(provider_id), text(name), text(kind), flag(scim))


ROWS: Codec[tuple[GroupRow, ...]] = Codec(lambda rows: [_row(row) for row in rows], _rows)
GROUPS: Codec[tuple[ScimGroup, ...]] = Codec(
    lambda groups: ROWS.encode(tuple(group.row() for group in groups)),
    lambda items: tuple(map(ScimGroup.of, _rows(items))),
)
PAGE: Codec[GroupPage] = Codec(
    lambda page: [page.page, page.per_page, page.total_count, ROWS.encode(page.rows)], _page
)
PROVIDERS: Codec[tuple[IdentityProvider, ...]] = Codec(
    lambda providers: [[p.id, p.name, p.type, p.scim_enabled] for p in providers],
    lambda items: many(items, _provider, "providers"),
)
