"""Cached answers as compact, versioned JSON, for a cache shared between processes (Redis).

Only what Cloudflare returned is stored: group and provider fields, never a credential.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from bot.cloudflare import GroupPage, GroupRow, IdentityProvider, ScimGroup

VERSION = 1
V = TypeVar("V")


class StaleFormat(Exception):
    """A stored value is from another version, or is not one at all."""


@dataclass(frozen=True)
class Codec(Generic[V]):
    """How one kind of answer goes to text and back."""

    encode: Callable[[V], Any]
    decode: Callable[[Any], V]

    def dumps(self, value: V) -> str:
        """Give back the value as versioned JSON."""
        return json.dumps([VERSION, self.encode(value)], separators=(",", ":"), ensure_ascii=False)

    def loads(self, text: str | bytes) -> V:
        """Give back the value stored as `text`, or raise `StaleFormat`."""
        try:
            version, payload = json.loads(text)
            if version != VERSION:
                raise StaleFormat(f"version {version}")
            return self.decode(payload)
        except (ValueError, TypeError, KeyError, IndexError) as error:
            raise StaleFormat(str(error)) from None


def _row(row: GroupRow) -> list[Any]:
    group_id, name, external_id, created, last_modified = row
    return [group_id, name, external_id, _when(created), _when(last_modified)]


def _from_row(item: list[Any]) -> GroupRow:
    return (item[0], item[1], item[2], _moment(item[3]), _moment(item[4]))


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


ROWS: Codec[tuple[GroupRow, ...]] = Codec(
    lambda rows: [_row(row) for row in rows],
    lambda items: tuple(_from_row(item) for item in items),
)
GROUPS: Codec[tuple[ScimGroup, ...]] = Codec(
    lambda groups: ROWS.encode(tuple(group.row() for group in groups)),
    lambda items: tuple(map(ScimGroup.of, ROWS.decode(items))),
)
PAGE: Codec[GroupPage] = Codec(
    lambda page: [page.page, page.per_page, page.total_count, ROWS.encode(page.rows)],
    lambda item: GroupPage(rows=ROWS.decode(item[3]), page=item[0], per_page=item[1], total_count=item[2]),
)
PROVIDERS: Codec[tuple[IdentityProvider, ...]] = Codec(
    lambda providers: [[p.id, p.name, p.type, p.scim_enabled] for p in providers],
    lambda items: tuple(IdentityProvider(*item) for item in items),
)
