"""SCIM users: the people an identity provider pushed to Cloudflare, looked up by email or id.

`GET .../identity_providers/{id}/scim/users` filters by Cloudflare id (`cf_resource_id`) and by
the identity provider's id (`idp_resource_id`), up to 50 of each in one call, and by one
`email` a call. Whether that email filter ignores case is not documented, so an address that
is not found as typed is asked again in lower case. Cloudflare knows nothing of membership:
no user lists its groups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bot.cache import AnswerCache, Cached, Caches
from bot.cloudflare import (
    CloudflareClient,
    NotFound,
    Params,
    PermissionMissing,
    Rejected,
    moment_or_none,
    text_of,
)
from bot.codec import Codec, flag, instant, many, moment, text, when
from bot.settings import UUID_PATTERN
from bot.walks import FULL_WALK_SECONDS, LATEST_TIME, chunks, pushed_since

MAX_PER_PAGE = 100
# A search by name reads the whole list: this many pages at once, and at most this many (250
# pages are 25,000 people, 250 calls: past that it says it searched only the first ones).
USER_PAGES_AT_ONCE = 8
MAX_USER_PAGES = 250
A = TypeVar("A")
R = TypeVar("R")
Parallel = Callable[[Callable[[A], R], Iterable[A]], list[R]]


@dataclass(frozen=True)
class ScimUser:
    """A SCIM user as Cloudflare stores it; any field may be missing upstream."""

    id: str
    external_id: str
    display_name: str
    user_name: str
    # False: deactivated by the identity provider; None: Cloudflare did not say.
    active: bool | None
    # None: Cloudflare sent something that is not a list of emails, so they are not known.
    emails: tuple[str, ...] | None
    created: datetime | None
    last_modified: datetime | None

    def answers(self, value: str) -> bool:
        """Give back whether this user is the one `value` (an email or an id) names."""
        folded = value.casefold()
        return (
            value == self.external_id
            or folded == self.id.casefold()
            or folded in (email.casefold() for email in (*(self.emails or ()), self.user_name) if email)
        )


def user_of(item: Mapping[str, Any]) -> ScimUser:
    """Give back the user an item of Cloudflare's list describes."""
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    emails = item.get("emails")
    listed = [email for email in emails if isinstance(email, dict)] if isinstance(emails, list) else []
    primary = [email.get("value") for email in listed if email.get("primary") is True]
    addresses = [email.get("value") for email in listed]
    ordered = dict.fromkeys(value for value in (*primary, *addresses) if isinstance(value, str) and value)
    active = item.get("active")
    return ScimUser(
        id=text_of(item.get("id")),
        external_id=text_of(item.get("externalId")),
        display_name=text_of(item.get("displayName")),
        user_name=text_of(item.get("userName")),
        active=active if isinstance(active, bool) else None,
        emails=tuple(ordered) if emails is None or isinstance(emails, list) else None,
        created=moment_or_none(meta.get("created")),
        last_modified=moment_or_none(meta.get("lastModified")),
    )


def _encode(user: ScimUser) -> list[Any]:
    return [
        user.id,
        user.external_id,
        user.display_name,
        user.user_name,
        user.active,
        None if user.emails is None else list(user.emails),
        when(user.created),
        when(user.last_modified),
    ]


def _decode(item: object) -> ScimUser:
    if not isinstance(item, list) or len(item) != 8:
        raise TypeError("not a user")
    user_id, external_id, name, user_name, active, emails, created, changed = item
    if emails is not None and (not isinstance(emails, list) or len(emails) > 50):
        raise TypeError("not a list of emails")
    return ScimUser(
        text(user_id),
        text(external_id),
        text(name),
        text(user_name),
        None if active is None else flag(active),
        None if emails is None else tuple(text(email, empty=False) for email in emails),
        moment(created),
        moment(changed),
    )


USERS: Codec[tuple[ScimUser, ...]] = Codec(
    lambda users: [_encode(user) for user in users], lambda items: many(items, _decode, "users")
)


@dataclass(frozen=True)
class FoundUsers:
    """The users that answer a lookup, in the order asked, and the values that matched none."""

    users: tuple[ScimUser, ...]
    missing: tuple[str, ...]
    cached: Cached[tuple[ScimUser, ...]]


@dataclass(frozen=True)
class Everyone:
    """An identity provider's SCIM users, read whole (`complete`: to the list's end, not cut
    short at the page cap), when they were last brought up to date and when every page was last
    read (Unix time)."""

    users: tuple[ScimUser, ...]
    complete: bool
    synced_at: float = 0.0
    walked_at: float = 0.0


EVERYONE: Codec[Everyone] = Codec(
    lambda everyone: [
        everyone.complete,
        USERS.encode(everyone.users),
        everyone.synced_at,
        everyone.walked_at,
    ],
    lambda item: _everyone(item),
)


def _everyone(item: object) -> Everyone:
    if not isinstance(item, list) or len(item) != 4:
        raise TypeError("not a user list")
    complete, users, synced_at, walked_at = item
    return Everyone(
        USERS.decode(users),
        flag(complete),
        instant(synced_at, now=LATEST_TIME),
        instant(walked_at, now=LATEST_TIME),
    )


@dataclass(frozen=True)
class Named:
    """The users whose name holds the words asked, whole names first, and where they came from."""

    users: tuple[ScimUser, ...]
    cached: Cached[Everyone]


class UserDirectory:
    """An identity provider's SCIM users, looked up by email or id, or found by name in the
    whole list (read a few pages at a time, cached like every answer)."""

    def __init__(
        self,
        client: CloudflareClient,
        *,
        caches: Caches,
        parallel: Parallel[Any, Any],
        wave: int = USER_PAGES_AT_ONCE,
        max_pages: int = MAX_USER_PAGES,
    ) -> None:
        self._client = client
        self._clock = caches.clock
        self._parallel = parallel
        self._wave, self._max_pages = wave, max_pages
        self._lookups: AnswerCache[tuple[str, ...], tuple[ScimUser, ...]] = caches.make(
            "users", USERS, maxsize=1_024, stale_maxsize=256
        )
        self._everyone: AnswerCache[tuple[str, str], Everyone] = caches.make(
            "everyone", EVERYONE, maxsize=8, stale_maxsize=8
        )

    def named(self, identity_provider_id: str, words: str, *, refresh: bool = False) -> Named:
        """Give back the users whose display name or user name holds every one of `words`
        (any case, any order), those whose display name is the words exactly first."""
        key = (self._client.account_id, identity_provider_id)
        cached = self._everyone.get(key, lambda: self._load(key), refresh=refresh)
        asked = words.casefold().split()
        whole = " ".join(asked)
        matches = [
            user
            for user in cached.value.users
            if all(word in f"{user.display_name} {user.user_name}".casefold() for word in asked)
        ]
        exact = [user for user in matches if " ".join(user.display_name.casefold().split()) == whole]
        return Named(tuple(exact + [user for user in matches if user not in exact]), cached)

    def _load(self, key: tuple[str, str]) -> Everyone:
        """Bring the last list up to date from the SCIM log when it can be (the users it names,
        asked for again by id, 50 a call), else read every page."""
        now = self._clock.time()
        last = self._everyone.last(key)
        everyone = last.value if last is not None else None
        if (
            everyone is None
            or not everyone.complete
            or not 0 <= now - everyone.walked_at < FULL_WALK_SECONDS  # every page again each hour
            or not everyone.walked_at <= everyone.synced_at <= now
        ):
            return self._read_all(key[1], now)
        try:
            changed = self._changed_since(key[1], everyone.synced_at, most_calls=len(everyone.users) // 100)
        except (PermissionMissing, NotFound, Rejected):  # no log to read: the whole list again
            return self._read_all(key[1], now)
        if changed is None:
            return self._read_all(key[1], now)
        asked, found = changed
        current = {user.id.lower(): user for user in found if user.id}
        kept = [
            current.pop(user.id.lower(), user)
            for user in everyone.users
            if user.id.lower() not in asked or user.id.lower() in current
        ]
        return Everyone((*kept, *current.values()), True, synced_at=now, walked_at=everyone.walked_at)

    def _changed_since(
        self, identity_provider_id: str, since: float, *, most_calls: int
    ) -> tuple[frozenset[str], tuple[ScimUser, ...]] | None:
        """Give back the Cloudflare ids of the users the log says changed since `since`, and
        those users as they are now (one asked for and not found is gone); None when the log
        cannot say in one call or asking again would cost more than `most_calls` calls."""
        pushes = pushed_since(self._client, identity_provider_id, "USER", since)
        if pushes is None or any(not push.cf_resource_id for push in pushes):
            return None  # more than one page of the log, or a user it names only by another id
        ids = sorted({push.cf_resource_id.lower() for push in pushes})
        batches = chunks(ids)
        if len(batches) > most_calls:
            return None
        path = f"/access/identity_providers/{identity_provider_id}/scim/users"

        def ask(batch: tuple[str, ...]) -> tuple[ScimUser, ...]:
            params: Params = [*(("cf_resource_id", value) for value in batch), ("per_page", MAX_PER_PAGE)]
            items, _ = self._client.list_items(path, params)
            return tuple(user for user in map(user_of, items) if user.id.lower() in batch)

        found = tuple(user for users in self._parallel(ask, batches) for user in users)
        return frozenset(ids), found

    def _read_all(self, identity_provider_id: str, now: float) -> Everyone:
        """Read every page of the provider's users, a wave of pages at a time, until a short one."""
        path = f"/access/identity_providers/{identity_provider_id}/scim/users"

        def page(number: int) -> tuple[tuple[ScimUser, ...], int | None]:
            items, total = self._client.list_items(path, [("page", number), ("per_page", MAX_PER_PAGE)])
            return tuple(user_of(item) for item in items), total

        users: dict[str, ScimUser] = {}

        def keep(found: tuple[ScimUser, ...]) -> bool:
            """Keep a page's users; give back whether another page may follow."""
            for user in found:
                users.setdefault(user.id or user.external_id or str(len(users)), user)
            return len(found) == MAX_PER_PAGE

        first, total = page(1)
        # The total says how many pages to ask for at once; the pages read say where the list ends.
        hinted = -(-total // MAX_PER_PAGE) if total else self._max_pages
        more, number = keep(first), 2
        while more and number <= self._max_pages:
            wave = max(1, min(self._wave, hinted - number + 1, self._max_pages - number + 1))
            pages = self._parallel(page, range(number, number + wave))
            more = all([keep(found) for found, _ in pages])
            number += wave
        return Everyone(tuple(users.values()), complete=not more, synced_at=now, walked_at=now)

    def lookup(
        self, identity_provider_id: str, values: tuple[str, ...], *, refresh: bool = False
    ) -> FoundUsers:
        """Give back the users these emails, Cloudflare ids or identity provider ids name."""
        key = (self._client.account_id, identity_provider_id, *sorted(values))
        cached = self._lookups.get(key, lambda: self._look_up(identity_provider_id, values), refresh=refresh)
        users: list[ScimUser] = []
        missing: list[str] = []
        for value in values:
            matches = [user for user in cached.value if user.answers(value)]
            if not matches:
                missing.append(value)
            users.extend(user for user in matches if user not in users)
        return FoundUsers(tuple(users), tuple(missing), cached)

    def _look_up(self, identity_provider_id: str, values: tuple[str, ...]) -> tuple[ScimUser, ...]:
        path = f"/access/identity_providers/{identity_provider_id}/scim/users"
        emails = [value for value in values if "@" in value]
        ids = [value for value in values if "@" not in value]
        uuids = [value for value in ids if UUID_PATTERN.match(value)]
        calls: list[Params] = [[("email", email)] for email in emails]
        if uuids:
            calls.append([("cf_resource_id", value) for value in uuids])
        if ids:  # an Entra user's id in the IdP is a UUID too
            calls.append([("idp_resource_id", value) for value in ids])

        def call(params: Params) -> tuple[ScimUser, ...]:
            items, _ = self._client.list_items(path, [*params, ("per_page", MAX_PER_PAGE)])
            found = tuple(user_of(item) for item in items)
            email = params[0][1] if params[0][0] == "email" else None
            if isinstance(email, str) and email != email.lower() and not found:
                items, _ = self._client.list_items(
                    path, [("email", email.lower()), ("per_page", MAX_PER_PAGE)]
                )
                found = tuple(user_of(item) for item in items)
            # Filter again here: an upstream that ignored the filter must not pass off other people.
            return tuple(user for user in found if any(user.answers(str(value)) for _, value in params))

        merged: dict[str, ScimUser] = {}
        for found in self._parallel(call, calls):
            for user in found:
                merged.setdefault(user.id or user.external_id or str(len(merged)), user)
        return tuple(merged.values())
