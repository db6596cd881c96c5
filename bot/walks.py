"""A provider's whole group list (a walk): what is kept of it, where paging it ends, and how a
walk read before is brought up to date from the SCIM update log instead of read again.

Reading 100,000 groups costs 1,000 calls; the log says in one call which groups the identity
provider changed since the last read. Only those are asked for again, by Cloudflare id (50 a
call), or by the IdP's id when a row has no Cloudflare id; a group asked for and not given back
was deleted. Only successful pushes change a group, so only they are read (a misconfigured IdP
retrying a failing push all night would otherwise fill the log). The window starts a few
minutes before the last read, for rows the log writes late. When the log cannot say (more
changes than one call gives back, or than reading every page would cost), the caller reads the
whole directory again.
"""

from __future__ import annotations

import ctypes
import math
import re
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, filterfalse
from typing import Literal

from rapidfuzz import fuzz, process, utils

from bot.cloudflare import (
    EXTERNAL_ID,
    ID,
    MAX_PER_PAGE,
    NAME,
    CloudflareClient,
    CloudflareError,
    GroupPage,
    GroupRow,
    PermissionMissing,
)
from bot.codec import ROWS, Codec, flag, instant
from bot.pacing import QUOTA_WINDOW_SECONDS
from bot.pushes import ScimPush, read_log, rfc3339

# What one whole read may cost is bounded by the call budget (`walk_pages`): 1,000 pages,
# 100,000 groups, at most, and never past an upstream that never ends.
MAX_WALK_PAGES = 1_000
# The share of the call budget (SCIM_GROUPS_UPSTREAM_CALLS_PER_5_MINUTES) one whole read may
# spend; the rest stays for everyone else's answers. 600 calls (the default): 500 pages.
WALK_SHARE = 5 / 6
# A directory kept up to date from the log is still read whole this often, and whenever the log
# cannot be read (the token lacks "Access: SCIM Logs Read": asked again after as long).
FULL_WALK_SECONDS = 3_600.0
# Without the log, the share of the call budget that reading large directories whole again may
# take: 20,000 groups and the default 600 calls, once every 6 minutes 40 seconds at most.
REREAD_SHARE = 1 / 4
# A directory of this many pages or fewer is read whole: the log would cost as much.
SMALL_WALK_PAGES = 2
# Unix times a stored walk may carry (year 5138): a bound, checked again when used.
LATEST_TIME = 1e11
# The most rows one call to the log gives back; a window with more is read as "walk again".
LOG_ROWS = 1_000
# The most ids one call to the group list filters on.
IDS_PER_CALL = 50
# Log rows may be written after the push they describe; the window reaches back this far.
OVERLAP_SECONDS = 300.0
# A search finds each match in the names' text when at most one name in this many holds the
# words; past that, one pass over every name is cheaper.
FEW_MATCHES = 8
# What separates the words of a name for a search: anything but letters and digits.
WORDS = re.compile(r"[^\W_]+")
# A search that found nothing offers the names closest to it (rapidfuzz's WRatio, of 100): at
# most this many, this close, for a search this long (shorter ones are close to everything).
CLOSE_SHOWN = 3
CLOSE_SCORE = 80
CLOSE_LENGTH = 4


@dataclass(frozen=True)
class Changes:
    """The groups the log named, as Cloudflare has them now."""

    ids: frozenset[str]  # Cloudflare ids asked for (lower case)
    external_ids: frozenset[str]  # IdP ids asked for, of rows that had no Cloudflare id
    rows: tuple[GroupRow, ...]  # what came back: a group asked for and missing here is gone


Batch = tuple[str, tuple[str, ...]]  # ("id" or "external", the ids to ask for in one call)
Parallel = Callable[[Callable[[Batch], list[GroupRow]], list[Batch]], list[list[GroupRow]]]


def changes_since(
    client: CloudflareClient,
    identity_provider_id: str,
    since: float,
    in_parallel: Parallel,
    *,
    most_calls: int,
) -> Changes | None:
    """Give back the groups the log says changed since `since` (Unix time), as they are now; or
    None when the log cannot say in one call, or asking for them again would take more than
    `most_calls` calls."""
    pushes = pushed_since(client, identity_provider_id, "GROUP", since)
    if pushes is None:
        return None
    ids = sorted({push.cf_resource_id.lower() for push in pushes if push.cf_resource_id})
    external = sorted(
        {push.idp_resource_id for push in pushes if not push.cf_resource_id and push.idp_resource_id}
    )
    batches: list[Batch] = [("id", chunk) for chunk in chunks(ids)]
    batches += [("external", chunk) for chunk in chunks(external)]
    if len(batches) > most_calls:
        return None

    def ask(batch: Batch) -> list[GroupRow]:
        return with_ids(client, identity_provider_id, *batch)

    rows = tuple(row for found in in_parallel(ask, batches) for row in found)
    return Changes(frozenset(ids), frozenset(external), rows)


def pushed_since(
    client: CloudflareClient, identity_provider_id: str, resource_type: str, since: float
) -> tuple[ScimPush, ...] | None:
    """Give back the log's successful pushes of `resource_type` (GROUP or USER) since `since`
    (reaching OVERLAP_SECONDS further back, for rows written late), oldest first; None when
    they do not fit one call."""
    pushes = read_log(
        client,
        [
            ("idp_id", identity_provider_id),
            ("resource_type", resource_type),
            ("status", "SUCCESS"),
            ("since", rfc3339(math.floor(since - OVERLAP_SECONDS))),
            ("direction", "asc"),
            ("per_page", LOG_ROWS),
        ],
    )
    return None if len(pushes) >= LOG_ROWS else pushes


def with_ids(
    client: CloudflareClient, identity_provider_id: str, field: str, values: tuple[str, ...]
) -> list[GroupRow]:
    """Give back the groups with these Cloudflare ids (`field` "id") or IdP ids ("external"),
    50 at most: one call."""
    page = client.list_groups(
        identity_provider_id,
        page=1,
        per_page=MAX_PER_PAGE,
        cf_resource_ids=values if field == "id" else (),
        idp_resource_ids=values if field == "external" else (),
    )
    # Filter again: an upstream that ignored the filter must not pass off other groups.
    wanted = {value.lower() for value in values} if field == "id" else set(values)
    return [row for row in page.rows if (row[ID].lower() if field == "id" else row[EXTERNAL_ID]) in wanted]


def merged(rows: Sequence[GroupRow], changes: Changes) -> list[GroupRow]:
    """Give back `rows` with the changed groups in their place, the deleted ones out, and new
    ones at the end."""
    current = {row[ID].lower(): row for row in changes.rows}
    placed: set[str] = set()
    out: list[GroupRow] = []
    for row in rows:
        key = row[ID].lower()
        if key and key in current:
            if key not in placed:
                out.append(current[key])
                placed.add(key)
        elif key not in changes.ids and row[EXTERNAL_ID] not in changes.external_ids:
            out.append(row)
    out.extend(row for key, row in current.items() if key not in placed)
    return out


def chunks(values: list[str]) -> list[tuple[str, ...]]:
    """Give back `values` in batches of IDS_PER_CALL, as one call may ask for them."""
    return [tuple(values[at : at + IDS_PER_CALL]) for at in range(0, len(values), IDS_PER_CALL)]


def fold(text: str) -> str:
    """Give back `text` as a search compares it: casefolded; what cannot be seen (zero-width and
    bidi characters) left out, and other spaces and line breaks made spaces, so that a name
    holding them is found by what people type. The result never holds a line break."""
    folded = text.casefold()
    if folded.isprintable():  # nearly every name: one test in C
        return folded
    return "".join(
        character if character.isprintable() else "" if unicodedata.category(character) == "Cf" else " "
        for character in folded
    )


class Names:
    """A walk's group names, casefolded once, in one string: a search scans it in C, not name by
    name in Python, and a search paged through (the same words again) is found once."""

    def __init__(self, names: Iterable[str]) -> None:
        folded = [fold(name) for name in names]
        self._text = "\n".join(folded) + "\n"
        # Where each name's successor starts: bisect gives the name a position falls in.
        self._next = array("I", accumulate(len(name) + 1 for name in folded))
        self._last: tuple[str, tuple[int, ...]] | None = None
        self._last_close: tuple[str, tuple[int, ...]] | None = None

    def find(self, needle: str) -> Sequence[int]:
        """Give back the indices of the names holding `needle` (casefolded): whole names first,
        then the others that hold it, then those in which each of its words begins a word, in
        any order and with any separators (`engineering all` finds `all - engineering`)."""
        text, ends, last = self._text, self._next, self._last
        if not needle:
            return range(len(ends))
        if last is not None and last[0] == needle:
            return last[1]
        matches = self._holding(needle)
        whole = [0] if text.startswith(needle + "\n") else []
        line = f"\n{needle}\n"
        at = text.find(line)
        while at >= 0:
            whole.append(bisect_right(ends, at + 1))
            at = text.find(line, at + 1)
        if whole:
            matches = whole + list(filterfalse(set(whole).__contains__, matches))
        words = WORDS.findall(needle)
        if words and words != [needle]:  # separators to look past, or words in another order
            seen = set(matches)
            matches += [index for index in self._holding_all(words) if index not in seen]
        found = tuple(matches)
        self._last = (needle, found)
        return found

    def close(self, needle: str) -> tuple[int, ...]:
        """Give back the indices of the few names closest to `needle` (casefolded), best first:
        for a search that found nothing, what was probably meant (`enginering` → `engineering`)."""
        if len(needle) < CLOSE_LENGTH:
            return ()
        if self._last_close is not None and self._last_close[0] == needle:
            return self._last_close[1]
        names = self._text.split("\n")[:-1]
        best = process.extract(
            needle, names, scorer=fuzz.WRatio, processor=utils.default_process, limit=CLOSE_SHOWN,
            score_cutoff=CLOSE_SCORE,
        )  # fmt: skip
        found = tuple(index for _, _, index in best)
        self._last_close = (needle, found)
        return found

    def _holding(self, needle: str) -> list[int]:
        """Give back the indices of the names holding `needle`, in order."""
        text, ends = self._text, self._next
        if text.count(needle) * FEW_MATCHES <= len(ends):
            matches, at = [], text.find(needle)
            while at >= 0:
                index = bisect_right(ends, at)
                matches.append(index)
                at = text.find(needle, ends[index])
            return matches
        # Most names hold it: one pass over them all is cheaper than a find for each.
        return [index for index, name in enumerate(text.split("\n")) if needle in name]

    def _holding_all(self, words: list[str]) -> list[int]:
        """Give back the indices of the names in which every one of `words` begins a word, in
        order: found among the names holding the rarest of them."""
        rarest = min(words, key=self._text.count)
        names = self._text.split("\n")
        return [
            index
            for index in self._holding(rarest)
            if all(any(own.startswith(word) for own in WORDS.findall(names[index])) for word in words)
        ]


# glibc keeps the heap a whole read frees (its pages as JSON: ~5 MB of a 100,000-group worker's
# resident memory) unless asked to give it back. Other C libraries (musl, macOS) have no such call.
# The process's own symbols hold the C library's: no search for it (find_library runs ldconfig).
try:
    _MALLOC_TRIM: Callable[[int], int] | None = ctypes.CDLL(None).malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


def give_back_memory() -> bool:
    """Ask the C library to return the free heap to the system; give back whether it could be asked."""
    return _MALLOC_TRIM is not None and _MALLOC_TRIM(0) >= 0


@dataclass(frozen=True)
class Walk:
    """A provider's whole group list, with the names folded once for every search after."""

    rows: tuple[GroupRow, ...]
    names: Names
    # False when the walk stopped before the directory's end (the page cap, or an upstream that
    # kept repeating a page).
    complete: bool
    # When its groups were last brought up to date, and when every page was last read (Unix time).
    synced_at: float
    walked_at: float

    @classmethod
    def of(cls, rows: list[GroupRow], *, complete: bool, synced_at: float, walked_at: float) -> Walk:
        """Give back the walk of these groups."""
        return cls(tuple(rows), Names(row[NAME] for row in rows), complete, synced_at, walked_at)


def _walk_of(item: list[object]) -> Walk:
    complete, rows, synced_at, walked_at = item
    return Walk.of(
        list(ROWS.decode(rows)),
        complete=flag(complete),
        synced_at=instant(synced_at, now=LATEST_TIME),
        walked_at=instant(walked_at, now=LATEST_TIME),
    )


WALK: Codec[Walk] = Codec(
    lambda walk: [walk.complete, ROWS.encode(walk.rows), walk.synced_at, walk.walked_at], _walk_of
)


def reread_seconds(rows: int, calls_per_5_minutes: int) -> float:
    """Give back how long a directory of `rows` groups that cannot be kept up to date from the
    log waits between whole reads: as long as REREAD_SHARE of the call budget takes to pay for one."""
    pages = math.ceil(rows / MAX_PER_PAGE)
    return pages * QUOTA_WINDOW_SECONDS / max(1.0, calls_per_5_minutes * REREAD_SHARE)


def walk_pages(calls_per_5_minutes: int) -> int:
    """Give back how many pages one whole read of a directory may cost, for this call budget."""
    return max(1, min(MAX_WALK_PAGES, int(calls_per_5_minutes * WALK_SHARE)))


def absorb(page: GroupPage, seen: set[str], rows: list[GroupRow]) -> Literal["more", "end", "repeat"]:
    """Add the page's new groups; give back whether another page may follow ("more"), this was
    the last ("end"), or every group on it was read before ("repeat": nothing was added)."""
    new = [row for row in page.rows if not row[ID] or row[ID] not in seen]
    if page.rows and not new:
        return "repeat"
    seen.update(row[ID] for row in new)
    rows.extend(new)
    return "more" if len(page.rows) == page.per_page else "end"


def reason(error: CloudflareError) -> str:
    """Give back why the log could not be read, for the log line."""
    return error.permission if isinstance(error, PermissionMissing) else type(error).__name__
