"""Bringing a directory read before up to date from the SCIM update log, instead of reading it all.

Reading 100,000 groups costs 1,000 calls; the log says in one call which groups the identity
provider changed since the last read. Only those are asked for again, by Cloudflare id (50 a
call), or by the IdP's id when a row has no Cloudflare id; a group asked for and not given back
was deleted. Only successful pushes change a group, so only they are read (a misconfigured IdP
retrying a failing push all night would otherwise fill the log). The window starts a few
minutes before the last read, for rows the log writes late. When the log cannot say (more
changes than one call gives back), the caller reads the whole directory again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.cloudflare import MAX_PER_PAGE, CloudflareClient, GroupRow
from bot.pushes import read_log, rfc3339

# The most rows one call to the log gives back; a window with more is read as "walk again".
LOG_ROWS = 1_000
# The most ids one call to the group list filters on.
IDS_PER_CALL = 50
# Log rows may be written after the push they describe; the window reaches back this far.
OVERLAP_SECONDS = 300.0


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
    pushes = read_log(
        client,
        [
            ("idp_id", identity_provider_id),
            ("resource_type", "GROUP"),
            ("status", "SUCCESS"),
            ("since", rfc3339(max(0, math.floor(since - OVERLAP_SECONDS)))),
            ("direction", "asc"),
            ("per_page", LOG_ROWS),
        ],
    )
    if len(pushes) >= LOG_ROWS:
        return None
    ids = sorted({push.cf_resource_id.lower() for push in pushes if push.cf_resource_id})
    external = sorted(
        {push.idp_resource_id for push in pushes if not push.cf_resource_id and push.idp_resource_id}
    )
    batches: list[Batch] = [("id", chunk) for chunk in _chunks(ids)]
    batches += [("external", chunk) for chunk in _chunks(external)]
    if len(batches) > most_calls:
        return None

    def ask(batch: Batch) -> list[GroupRow]:
        field, values = batch
        page = client.list_groups(
            identity_provider_id,
            page=1,
            per_page=MAX_PER_PAGE,
            cf_resource_ids=values if field == "id" else (),
            idp_resource_ids=values if field == "external" else (),
        )
        # Filter again: an upstream that ignored the filter must not pass off other groups.
        wanted = set(values)
        return [row for row in page.rows if (row[0].lower() if field == "id" else row[2]) in wanted]

    rows = tuple(row for found in in_parallel(ask, batches) for row in found)
    return Changes(frozenset(ids), frozenset(external), rows)


def merged(rows: Sequence[GroupRow], changes: Changes) -> list[GroupRow]:
    """Give back `rows` with the changed groups in their place, the deleted ones out, and new
    ones at the end."""
    current = {row[0].lower(): row for row in changes.rows}
    placed: set[str] = set()
    out: list[GroupRow] = []
    for row in rows:
        key = row[0].lower()
        if key and key in current:
            if key not in placed:
                out.append(current[key])
                placed.add(key)
        elif key not in changes.ids and row[2] not in changes.external_ids:
            out.append(row)
    out.extend(row for key, row in current.items() if key not in placed)
    return out


def _chunks(values: list[str]) -> list[tuple[str, ...]]:
    return [tuple(values[at : at + IDS_PER_CALL]) for at in range(0, len(values), IDS_PER_CALL)]
