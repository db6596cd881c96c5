"""SCIM pushes: what the identity provider sent Cloudflare, and whether it failed, from the SCIM
update log (`GET /accounts/{id}/access/logs/scim/updates`).

Reading the log needs the *Access: SCIM Logs Read* permission, which many tokens lack; without
it Cloudflare answers 403, exactly as for a bad token. On this endpoint alone that means the
permission is missing, so it becomes `PermissionMissing` and the rest of the bot carries on.
The log's `total_count` counts every row whatever the filters, so it is never shown: counts
come from the rows read. Of `request_body` (the SCIM request) only a group push's `members`
operations are read (`bot.members`), and not even those when membership is not to be shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.cache import AnswerCache, Cached, Caches
from bot.cloudflare import (
    AuthFailed,
    CloudflareClient,
    Params,
    PermissionMissing,
    moment_or_none,
    text_of,
)
from bot.codec import Codec, flag, many, moment, text, when, whole
from bot.limits import Refusals
from bot.members import MAX_IDS, MemberChange, member_change
from bot.paging import Paged, slack_page

LOGS_PATH = "/access/logs/scim/updates"
LOGS_PERMISSION = "Access: SCIM Logs Read"
# The log moves while people look at it: answers from it are kept half a minute.
LOGS_TTL = 30.0
# Rows read per call for a list of failures: ten Slack pages of ten.
UPSTREAM_ROWS = 100
# A person's or a group's recent history: this many days, at most this many pushes.
HISTORY_DAYS = 7
HISTORY_ROWS = 5
GROUP_HISTORY_ROWS = 20
# The group pushes read to find who was added to or removed from groups: one page of the log.
MEMBER_ROWS = 1_000

Status = Literal["SUCCESS", "FAILURE"]


@dataclass(frozen=True)
class ScimPush:
    """One SCIM request the identity provider made, as Cloudflare logged it."""

    logged_at: datetime | None
    resource_type: str  # USER or GROUP
    method: str  # POST, PUT, PATCH or DELETE
    status: str  # SUCCESS or FAILURE
    error: str  # Cloudflare's reason, on failures
    cf_resource_id: str
    idp_resource_id: str
    group_name: str
    user_email: str
    # What a group push did to its members (None: not read, or not a shape the bot knows).
    members: MemberChange | None = None

    @property
    def failed(self) -> bool:
        """Give back whether Cloudflare says it refused the push (a row without a status: no)."""
        return self.status.upper() == "FAILURE"

    @property
    def succeeded(self) -> bool:
        """Give back whether Cloudflare says it took the push."""
        return self.status.upper() == "SUCCESS"


def push_of(item: Mapping[str, Any], *, members: bool = False) -> ScimPush:
    """Give back the push a log row describes; missing fields are empty. With `members`, what a
    group push did to its members is read from its request body (nothing else of it is kept)."""
    body, kind = item.get("request_body"), text_of(item.get("resource_type"))
    change = None
    if members and kind.upper() == "GROUP":  # a body in no shape the bot knows: "details not shown"
        read = member_change(text_of(item.get("request_method")), body) if isinstance(body, str) else None
        change = read or MemberChange(other=True)
    return ScimPush(
        logged_at=moment_or_none(item.get("logged_at")),
        resource_type=text_of(item.get("resource_type")),
        method=text_of(item.get("request_method")),
        status=text_of(item.get("status")),
        error=text_of(item.get("error_description")),
        cf_resource_id=text_of(item.get("cf_resource_id")),
        idp_resource_id=text_of(item.get("idp_resource_id")),
        group_name=text_of(item.get("resource_group_name")),
        user_email=text_of(item.get("resource_user_email")),
        members=change,
    )


def _encode_members(change: MemberChange | None) -> list[Any] | None:
    if change is None:
        return None
    replaced = None if change.replaced is None else list(change.replaced)
    return [list(change.added), list(change.removed), replaced, change.cleared, change.other,
            change.added_count, change.removed_count, change.replaced_count]  # fmt: skip


def _decode_members(item: object) -> MemberChange | None:
    if item is None:
        return None
    if not isinstance(item, list) or len(item) != 8:
        raise TypeError("not a change of members")
    added, removed, replaced, cleared, other, *counts = item
    return MemberChange(
        many(added, text, "member ids")[:MAX_IDS],
        many(removed, text, "member ids")[:MAX_IDS],
        None if replaced is None else many(replaced, text, "member ids")[:MAX_IDS],
        flag(cleared),
        flag(other),
        *(whole(count, 0, 10_000_000) for count in counts),
    )


def _encode(push: ScimPush) -> list[Any]:
    return [
        when(push.logged_at),
        push.resource_type,
        push.method,
        push.status,
        push.error,
        push.cf_resource_id,
        push.idp_resource_id,
        push.group_name,
        push.user_email,
        _encode_members(push.members),
    ]


def _decode(item: object) -> ScimPush:
    if not isinstance(item, list) or len(item) != 10:
        raise TypeError("not a push")
    kind, method, status, error, cf_id, idp_id, group, email = (text(value) for value in item[1:9])
    return ScimPush(
        moment(item[0]), kind, method, status, error, cf_id, idp_id, group, email, _decode_members(item[9])
    )


PUSHES: Codec[tuple[ScimPush, ...]] = Codec(
    lambda pushes: [_encode(push) for push in pushes], lambda items: many(items, _decode, "pushes")
)


@dataclass(frozen=True)
class Window:
    """A span of time, in whole Unix seconds: from `since` up to `until`."""

    since: int
    until: int

    def params(self) -> Params:
        """Give back the span as the log's `since` and `until` (RFC 3339)."""
        return [("since", rfc3339(self.since)), ("until", rfc3339(self.until))]


def rfc3339(moment: int) -> str:
    """Give back a Unix time in whole seconds as the log's RFC 3339 date-time (UTC)."""
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


class Pushes:
    """The SCIM update log of the account's identity providers, cached briefly."""

    def __init__(self, client: CloudflareClient, *, caches: Caches, members: bool = True) -> None:
        self._client = client
        self._members = members
        self._refusals = Refusals(LOGS_PERMISSION, caches.clock)
        self._rows: AnswerCache[tuple[str, ...], tuple[ScimPush, ...]] = caches.make(
            "pushes", PUSHES, maxsize=1_024, stale_maxsize=256, ttl=LOGS_TTL
        )

    def failures(
        self, identity_provider_id: str, window: Window, *, page: int, page_size: int, refresh: bool
    ) -> Paged[ScimPush]:
        """Give back Slack page `page` of the provider's failed pushes in `window`, newest first."""
        per_page = (UPSTREAM_ROWS // page_size) * page_size
        number, offset = divmod((page - 1) * page_size, per_page)
        what: Params = [("idp_id", identity_provider_id), ("status", "FAILURE")]
        where: Params = [("page", number + 1), ("per_page", per_page)]
        params: Params = [*what, *window.params(), ("direction", "desc"), *where]
        # Kept by the window's length, not its ends (they move every minute), as History is: the
        # last copy is then still there to show (marked) when the log fails.
        cached = self._read(params, refresh, key=[*what, ("seconds", window.until - window.since), *where])
        return slack_page(cached, number, per_page, offset, page, page_size)

    def recent(
        self,
        identity_provider_id: str,
        cf_resource_id: str,
        window: Window,
        *,
        limit: int = HISTORY_ROWS,
        refresh: bool = False,
    ) -> Cached[tuple[ScimPush, ...]]:
        """Give back the newest pushes (`limit` at most) about one user or group in `window`, with
        whether they are an older copy (Cloudflare failing)."""
        what: Params = [("idp_id", identity_provider_id), ("cf_resource_id", cf_resource_id)]
        params: Params = [*what, *window.params(), ("direction", "desc"), ("per_page", limit)]
        # Kept without its window, which moves every minute: the last copy, a few minutes older,
        # is then still there to show (marked) when the log fails.
        return self._read(params, refresh, key=[*what, ("recent", limit)])

    @property
    def reads_members(self) -> bool:
        """Give back whether group pushes are read for who they added and removed."""
        return self._members

    def group_changes(
        self, identity_provider_id: str, window: Window, *, refresh: bool = False
    ) -> Cached[tuple[ScimPush, ...]]:
        """Give back the provider's newest group pushes Cloudflare took in `window` (one page,
        MEMBER_ROWS at most), for who they added and removed; none when members are not read."""
        if not self._members:
            return Cached((), from_cache=True)
        what: Params = [("idp_id", identity_provider_id), ("resource_type", "GROUP"), ("status", "SUCCESS")]
        params: Params = [*what, *window.params(), ("direction", "desc"), ("per_page", MEMBER_ROWS)]
        return self._read(
            params, refresh, key=[*what, ("seconds", window.until - window.since), ("rows", MEMBER_ROWS)]
        )

    def failed_groups(
        self,
        identity_provider_id: str,
        window: Window,
        *,
        by: Literal["resource_group_name", "idp_resource_id"],
        values: tuple[str, ...],
        refresh: bool = False,
    ) -> Cached[tuple[ScimPush, ...]]:
        """Give back the newest failed pushes (GROUP_HISTORY_ROWS at most) in `window` about the
        groups with these names or identity-provider ids (`by`; 50 at most, as the log takes)."""
        what: Params = [("idp_id", identity_provider_id), ("resource_type", "GROUP"), ("status", "FAILURE")]
        what += [(by, value) for value in sorted(set(values))[:50]]
        params: Params = [*what, *window.params(), ("direction", "desc"), ("per_page", GROUP_HISTORY_ROWS)]
        return self._read(params, refresh, key=[*what, ("recent", GROUP_HISTORY_ROWS)])

    def _read(self, params: Params, refresh: bool, key: Params | None = None) -> Cached[tuple[ScimPush, ...]]:
        self._refusals.check(refresh=refresh)
        named = (self._client.account_id, *(f"{name}={value}" for name, value in key or params))
        return self._rows.get(named, lambda: self._read_log(params), refresh=refresh)

    def _read_log(self, params: Params) -> tuple[ScimPush, ...]:
        try:
            return read_log(self._client, params, members=self._members)
        except PermissionMissing:
            raise self._refusals.refused() from None


def read_log(client: CloudflareClient, params: Params, *, members: bool = False) -> tuple[ScimPush, ...]:
    """Give back one page of the SCIM update log; raise `PermissionMissing` for a 403."""
    try:
        items, _total = client.list_items(LOGS_PATH, params)  # the total counts every row
    except AuthFailed as error:
        if error.status == 403:
            raise PermissionMissing(LOGS_PERMISSION, status=403) from None
        raise
    return tuple(push_of(item, members=members) for item in items)
