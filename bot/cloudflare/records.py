"""What Cloudflare sends, read into the bot's own types: groups (as rows), identity providers,
pages of a list; and the field readers the users and pushes modules read their records with.

Every field may be missing or of another type upstream: a reader gives back an empty string or
None for what it cannot use, never raises.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

# The most of any one text field (a name, an id, a message) the bot keeps. Cloudflare documents
# no bound; identity providers keep names to a few hundred characters (Okta 255, Entra 256).
MAX_TEXT = 16_384


@dataclass(frozen=True, slots=True)
class ScimGroup:
    """A SCIM group as Cloudflare stores it; any field may be missing upstream."""

    id: str
    display_name: str
    external_id: str
    last_modified: datetime | None = None

    @classmethod
    def of(cls, row: GroupRow) -> ScimGroup:
        """Give back the group whose fields are `row`."""
        return cls(*row)

    def row(self) -> GroupRow:
        """Give back the group's fields as a row."""
        return (self.id, self.display_name, self.external_id, self.last_modified)


# A group's fields as a plain tuple, in ScimGroup's order. Pages, and so whole directories, are
# held as rows: the garbage collector stops tracking a tuple of strings and datetimes, where it
# walks every ScimGroup object in each full collection, holding the GIL (docs/PERFORMANCE.md).
GroupRow = tuple[str, str, str, datetime | None]
# Where each field is in a row: read `row[ID]`, never `row[0]`.
ID: Final = 0
NAME: Final = 1
EXTERNAL_ID: Final = 2
CHANGED: Final = 3


@dataclass(frozen=True)
class ListPage:
    """One page of a list endpoint: its items, and the totals `result_info` gave (None: not sent)."""

    items: tuple[Mapping[str, Any], ...]
    total_count: int | None
    total_pages: int | None


def count(value: object) -> int | None:
    """Give back a count `result_info` sent, or None when it sent none that can be used."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True)
class GroupPage:
    """One upstream page of groups and what Cloudflare said about paging (maybe wrong)."""

    rows: tuple[GroupRow, ...]
    page: int
    per_page: int
    total_count: int | None

    @property
    def groups(self) -> tuple[ScimGroup, ...]:
        """Give back the page's groups."""
        return tuple(map(ScimGroup.of, self.rows))


@dataclass(frozen=True)
class IdentityProvider:
    """An identity provider of the account."""

    id: str
    name: str
    type: str
    scim_enabled: bool


def text_of(value: object) -> str:
    """Give back `value` if it is a string (its first MAX_TEXT characters), else the empty string."""
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def moment_or_none(value: object) -> datetime | None:
    """Give back an RFC 3339 date as an aware UTC datetime, or None when it is not one that can be
    shown (no date, malformed, or beyond what Python's dates hold once moved to UTC)."""
    return _moment(value) if isinstance(value, str) else None


# Directories share dates (groups made in one sync, changed in another): one object for each of
# the recent ones, not one per group, and parsed once (docs/PERFORMANCE.md).
@functools.lru_cache(maxsize=4_096)
def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def group_row(item: Mapping[str, Any]) -> GroupRow:
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    return (
        text_of(item.get("id")),
        text_of(item.get("displayName")),
        text_of(item.get("externalId")),
        moment_or_none(meta.get("lastModified")),
    )


def identity_provider(item: Mapping[str, Any]) -> IdentityProvider:
    scim = item.get("scim_config")
    return IdentityProvider(
        id=text_of(item.get("id")),
        name=text_of(item.get("name")),
        type=text_of(item.get("type")),
        scim_enabled=isinstance(scim, dict) and scim.get("enabled") is True,
    )
