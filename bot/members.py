"""What a group's SCIM push did to its members, read from the push's request body.

Only the `members` operations are read — their `op` and each member's `value` (the id Cloudflare
gave the user) — and nothing else of the body is kept, logged or shown. The shapes identity
providers send (RFC 7644 §3.5.2, and what Okta and Entra are known to send):

- PATCH `{"Operations": [{"op": "add", "path": "members", "value": [{"value": "<id>"}]}]}`;
  `op` in any case (Entra sends `Add`, `Remove`);
- PATCH removal by filter: `{"op": "remove", "path": "members[value eq \\"<id>\\"]"}`, or with a
  `value` list, or with neither (every member removed);
- PATCH `replace` of `members` (the list becomes exactly the one given), or an operation without a
  `path` whose `value` is an object holding `members`;
- PUT and POST: the whole group, whose `members` list is the group's members after it (its name
  and other attributes are restated by every PUT, so they do not count as a change).

Anything else that changed the group (its name, its external id) makes the change `other`, shown
as "changed (details not shown)"; a body that is not JSON, or not one of these shapes, is `None`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# Ids kept for one push: enough to show, and a bound on what a body of 100,000 members costs.
MAX_IDS = 200
# The largest body read (a PUT of a large group can hold every member).
MAX_BODY = 1_000_000
MEMBER_FILTER = re.compile(r'^members\[\s*value\s+eq\s+"([^"]{1,200})"\s*\]$', re.IGNORECASE)


@dataclass(frozen=True)
class MemberChange:
    """The members a push added and removed (ids), or the whole list it set (`replaced`; `cleared`
    when it removed every member), how many of each there were, and whether it changed anything
    else of the group (`other`)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    replaced: tuple[str, ...] | None = None
    cleared: bool = False
    other: bool = False
    added_count: int = 0
    removed_count: int = 0
    replaced_count: int = 0

    @property
    def ids(self) -> tuple[str, ...]:
        """Give back every member id the change names, once each."""
        return tuple(dict.fromkeys((*self.added, *self.removed, *(self.replaced or ()))))

    @property
    def truncated(self) -> bool:
        """Give back whether the push named more members than were kept."""
        kept = len(self.added) + len(self.removed) + len(self.replaced or ())
        return kept < self.added_count + self.removed_count + self.replaced_count


def member_change(method: str, body: str) -> MemberChange | None:
    """Give back what a group push with this method and request body did to its members, or None
    when the body cannot be read as one of the known shapes."""
    if not body or len(body) > MAX_BODY:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict):
        return None
    if method.upper() in ("PUT", "POST"):  # the whole group, its name restated every time
        members = _ids(parsed.get("members"))
        return MemberChange(other=True) if members is None else _built(replaced=members)
    operations = parsed.get("Operations")
    if not isinstance(operations, list):
        return None
    added: list[str] = []
    removed: list[str] = []
    replaced: list[str] | None = None
    cleared = other = False
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            return None
        op, path, value = operation["op"].lower(), operation.get("path"), operation.get("value")
        if path is None and isinstance(value, dict):  # `{"op": "replace", "value": {"members": […]}}`
            other = other or any(key != "members" for key in value)
            path, value = ("members", value["members"]) if "members" in value else (None, None)
            if path is None:
                continue
        if not isinstance(path, str):
            return None
        matched = MEMBER_FILTER.match(path.strip())
        if matched and op == "remove":
            removed.append(matched.group(1))
            continue
        if path.strip().lower() != "members":
            other = True
            continue
        ids = _ids(value)
        if op == "add" and ids is not None:
            added += ids
        elif op == "remove" and ids is not None:
            removed += ids
        elif op == "remove" and value is None:
            cleared, replaced, added, removed = True, [], [], []
        elif op == "replace" and ids is not None:
            replaced, added, removed = ids, [], []
        else:
            return None
    return _built(added=added, removed=removed, replaced=replaced, cleared=cleared, other=other)


def _ids(value: Any) -> list[str] | None:
    """Give back the member ids of a `members` value (a list of `{"value": id}`), or None."""
    if not isinstance(value, list):
        return None
    ids = [member.get("value") for member in value if isinstance(member, dict)]
    texts = [id_ for id_ in ids if isinstance(id_, str) and 0 < len(id_) <= 200]
    return list(dict.fromkeys(texts)) if len(texts) == len(value) else None


def _built(
    *,
    added: list[str] | None = None,
    removed: list[str] | None = None,
    replaced: list[str] | None = None,
    cleared: bool = False,
    other: bool = False,
) -> MemberChange:
    added, removed = added or [], removed or []
    return MemberChange(
        added=tuple(added[:MAX_IDS]),
        removed=tuple(removed[:MAX_IDS]),
        replaced=None if replaced is None else tuple(replaced[:MAX_IDS]),
        cleared=cleared,
        other=other,
        added_count=len(added),
        removed_count=len(removed),
        replaced_count=len(replaced or ()),
    )
