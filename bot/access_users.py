"""What Access knows of a person: the Zero Trust user registry (have they ever logged in, and
when last), the identity Access last saw for them, and their recent logins (the Access
authentication log), from `shared/reference/cloudflare-access-diagnosis.md`.

Every endpoint here needs *Access: Audit Logs Read*, which many tokens lack: a 403 from them
means that permission alone is missing (`PermissionMissing`), and the rest of an answer carries
on. What the endpoints leave undocumented is read both ways: an email filter that may match a
substring (the rows are matched exactly here), an identity that may or may not hold the person's
groups and attributes (`groups`, `saml_attributes`, `oidc_fields`, `custom`: parsed when present,
in any of the shapes they are known in, and `None` when absent, which is not "no groups"), and a
log without `result_info` (one page, newest first, is read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.cache import AnswerCache, Cached, Caches
from bot.cloudflare import (
    AuthFailed,
    CloudflareClient,
    NotFound,
    Params,
    moment_or_none,
    text_of,
)
from bot.codec import Codec, flag, many, moment, text, when
from bot.limits import Refusals

AUDIT_PERMISSION = "Access: Audit Logs Read"
USERS_PATH = "/access/users"
LOGINS_PATH = "/access/logs/access_requests"
# What a person did a minute ago matters: these are kept half a minute, as the SCIM log is.
TTL = 30.0
# A person's newest logins read at once (to any application): those to the one asked are kept.
LOGIN_ROWS = 50
# The most groups, attributes and posture checks an identity keeps.
MAX_FACTS = 500


@dataclass(frozen=True)
class AccessUser:
    """A person in the Zero Trust user registry: there once they have logged in through Access or WARP."""

    id: str
    email: str
    name: str
    access_seat: bool | None
    gateway_seat: bool | None
    last_login: datetime | None


@dataclass(frozen=True)
class IdentityGroup:
    """A group the identity provider said the person is in, by whatever it gave: id, name, email."""

    id: str
    name: str
    email: str


@dataclass(frozen=True)
class Posture:
    """One device posture check on the person's last-seen identity."""

    rule_id: str
    name: str
    success: bool | None


@dataclass(frozen=True)
class Identity:
    """The identity Access last saw for a person: how they logged in and from where, their
    device's posture, and (when Access records them) their groups and attributes."""

    email: str
    idp_id: str
    idp_type: str
    country: str
    issued_at: datetime | None
    posture: tuple[Posture, ...]
    groups: tuple[IdentityGroup, ...] | None  # None: the identity records no groups
    attributes: tuple[tuple[str, str], ...] | None  # SAML attributes, OIDC claims; None: none recorded


@dataclass(frozen=True)
class Login:
    """One row of the Access authentication log."""

    at: datetime | None
    allowed: bool | None
    app_uid: str
    app_domain: str
    connection: str  # the identity provider's type (`saml`, `onetimepin`, …)
    country: str  # not in the documented row: kept when Cloudflare sends it
    ray_id: str


def access_user_of(item: Mapping[str, Any]) -> AccessUser:
    return AccessUser(
        id=text_of(item.get("id")),
        email=text_of(item.get("email")),
        name=text_of(item.get("name")),
        access_seat=_flag(item.get("access_seat")),
        gateway_seat=_flag(item.get("gateway_seat")),
        last_login=moment_or_none(item.get("last_successful_login")),
    )


def identity_of(item: Mapping[str, Any]) -> Identity:
    """Give back the last-seen identity Cloudflare sent, every field read defensively."""
    idp, geo, posture = (_object(item.get(key)) for key in ("idp", "geo", "devicePosture"))
    issued = item.get("iat")
    issued_at = (
        datetime.fromtimestamp(issued, UTC)
        if isinstance(issued, int | float) and not isinstance(issued, bool) and 0 < issued < 2**33
        else None
    )
    checks = tuple(
        Posture(
            text_of(check.get("id")) or text_of(key),
            text_of(check.get("rule_name")),
            _flag(check.get("success")),
        )
        for key, check in list(posture.items())[:MAX_FACTS]
        if isinstance(check, dict)
    )
    return Identity(
        email=text_of(item.get("email")),
        idp_id=text_of(idp.get("id")),
        idp_type=text_of(idp.get("type")),
        country=text_of(geo.get("country")),
        issued_at=issued_at,
        posture=checks,
        groups=_groups(item.get("groups")),
        attributes=_attributes(item),
    )


def _groups(value: object) -> tuple[IdentityGroup, ...] | None:
    """Give back the groups an identity holds: a list of objects (`id`, `name`, `email`) or of
    names; None when it holds none in a known shape."""
    if not isinstance(value, list):
        return None
    groups = []
    for group in value[:MAX_FACTS]:
        if isinstance(group, str):
            groups.append(IdentityGroup("", text_of(group), ""))
        elif isinstance(group, dict):
            groups.append(
                IdentityGroup(
                    text_of(group.get("id")), text_of(group.get("name")), text_of(group.get("email"))
                )
            )
    return tuple(groups)


def _attributes(item: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """Give back the SAML attributes, OIDC claims and custom fields an identity holds, a value a
    pair (a list gives one pair for each of its values); None when it holds none of the three."""
    holders = [item.get(key) for key in ("saml_attributes", "oidc_fields", "custom")]
    if not any(isinstance(holder, dict) for holder in holders):
        return None
    pairs: list[tuple[str, str]] = []
    for holder in holders:
        for name, value in (holder if isinstance(holder, dict) else {}).items():
            for one in value if isinstance(value, list) else [value]:
                if isinstance(one, str | int) and not isinstance(one, bool):
                    pairs.append((text_of(name), text_of(str(one))))
    return tuple(pairs[:MAX_FACTS])


def login_of(item: Mapping[str, Any]) -> Login:
    return Login(
        at=moment_or_none(item.get("created_at")),
        allowed=_flag(item.get("allowed")),
        app_uid=text_of(item.get("app_uid")),
        app_domain=text_of(item.get("app_domain")),
        connection=text_of(item.get("connection")),
        country=text_of(item.get("country") or item.get("country_code")),
        ray_id=text_of(item.get("ray_id")),
    )


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _maybe_flag(value: object) -> bool | None:
    return None if value is None else flag(value)


def _decode_user(item: object) -> AccessUser | None:
    if item is None:
        return None
    if not isinstance(item, list) or len(item) != 6:
        raise TypeError("not an Access user")
    return AccessUser(
        text(item[0]),
        text(item[1]),
        text(item[2]),
        _maybe_flag(item[3]),
        _maybe_flag(item[4]),
        moment(item[5]),
    )


def _encode_identity(identity: Identity | None) -> list[Any] | None:
    if identity is None:
        return None
    groups = None if identity.groups is None else [[g.id, g.name, g.email] for g in identity.groups]
    attributes = None if identity.attributes is None else [list(pair) for pair in identity.attributes]
    return [
        identity.email,
        identity.idp_id,
        identity.idp_type,
        identity.country,
        when(identity.issued_at),
        [[check.rule_id, check.name, check.success] for check in identity.posture],
        groups,
        attributes,
    ]


def _stored(item: object, length: int) -> list[Any]:
    if not isinstance(item, list) or len(item) != length:
        raise TypeError("not a stored fact")
    return item


def _decode_identity(item: object) -> Identity | None:
    if item is None:
        return None
    email, idp_id, idp_type, country, issued, posture, groups, attributes = _stored(item, 8)
    checks = many(posture, lambda c: Posture(text(_stored(c, 3)[0]), text(c[1]), _maybe_flag(c[2])), "checks")
    return Identity(
        text(email),
        text(idp_id),
        text(idp_type),
        text(country),
        moment(issued),
        checks,
        None
        if groups is None
        else many(groups, lambda g: IdentityGroup(*(text(v) for v in _stored(g, 3))), "groups"),
        None
        if attributes is None
        else many(attributes, lambda a: (text(_stored(a, 2)[0]), text(a[1])), "attributes"),
    )


def _decode_login(item: object) -> Login:
    at, allowed, *rest = _stored(item, 7)
    return Login(moment(at), _maybe_flag(allowed), *(text(value) for value in rest))


REGISTRY: Codec[AccessUser | None] = Codec(
    lambda user: (
        None
        if user is None
        else [user.id, user.email, user.name, user.access_seat, user.gateway_seat, when(user.last_login)]
    ),
    _decode_user,
)
IDENTITY: Codec[Identity | None] = Codec(_encode_identity, _decode_identity)
LOGINS: Codec[tuple[Login, ...]] = Codec(
    lambda logins: [
        [when(row.at), row.allowed, row.app_uid, row.app_domain, row.connection, row.country, row.ray_id]
        for row in logins
    ],
    lambda items: many(items, _decode_login, "logins"),
)


class AccessUsers:
    """The Zero Trust user registry, last-seen identities and the authentication log, cached briefly."""

    def __init__(self, client: CloudflareClient, *, caches: Caches) -> None:
        self._client = client
        self._refusals = Refusals(AUDIT_PERMISSION, caches.clock)
        self._registry: AnswerCache[tuple[str, str], AccessUser | None] = caches.make(
            "access-users", REGISTRY, maxsize=1_024, stale_maxsize=256, ttl=TTL
        )
        self._identities: AnswerCache[tuple[str, str], Identity | None] = caches.make(
            "identities", IDENTITY, maxsize=1_024, stale_maxsize=256, ttl=TTL
        )
        self._logins: AnswerCache[tuple[str, str], tuple[Login, ...]] = caches.make(
            "logins", LOGINS, maxsize=1_024, stale_maxsize=256, ttl=TTL
        )

    def registered(self, email: str, *, refresh: bool = False) -> Cached[AccessUser | None]:
        """Give back the person with this email in the user registry (None: never logged in)."""
        key = (self._client.account_id, email.casefold())
        self._refusals.check(refresh=refresh)
        return self._registry.get(key, lambda: self._registered(email), refresh=refresh)

    def identity(self, user_id: str, *, refresh: bool = False) -> Cached[Identity | None]:
        """Give back the identity Access last saw for a registered person (None: it has none)."""
        key = (self._client.account_id, user_id)
        self._refusals.check(refresh=refresh)
        return self._identities.get(key, lambda: self._identity(user_id), refresh=refresh)

    def logins(self, email: str, *, refresh: bool = False) -> Cached[tuple[Login, ...]]:
        """Give back the person's newest logins to any application (LOGIN_ROWS at most), newest first."""
        key = (self._client.account_id, email.casefold())
        self._refusals.check(refresh=refresh)
        return self._logins.get(key, lambda: self._read_logins(email), refresh=refresh)

    def _registered(self, email: str) -> AccessUser | None:
        items = self._list(USERS_PATH, [("email", email), ("per_page", 50)])
        found = (access_user_of(item) for item in items)
        return next((user for user in found if user.id and user.email.casefold() == email.casefold()), None)

    def _identity(self, user_id: str) -> Identity | None:
        try:
            result = self._client.get_result(f"{USERS_PATH}/{user_id}/last_seen_identity")
        except NotFound:  # a registered person without an identity (never logged in to an app)
            return None
        except AuthFailed as error:
            raise self._missing(error) from None
        return identity_of(result) if result else None

    def _read_logins(self, email: str) -> tuple[Login, ...]:
        params: Params = [
            ("email", email),
            ("email_exact", "true"),
            ("direction", "desc"),
            ("per_page", LOGIN_ROWS),
            ("limit", LOGIN_ROWS),
        ]
        items = self._list(LOGINS_PATH, params)
        # The filter may match part of an address: only the person's own rows are theirs.
        rows = [
            login_of(item) for item in items if text_of(item.get("user_email")).casefold() == email.casefold()
        ]
        rows.sort(key=lambda row: row.at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return tuple(rows[:LOGIN_ROWS])

    def _list(self, path: str, params: Params) -> tuple[Mapping[str, Any], ...]:
        try:
            return self._client.list_page(path, params).items
        except AuthFailed as error:
            raise self._missing(error) from None

    def _missing(self, error: AuthFailed) -> Exception:
        """Give back what a refusal from these endpoints means: a 403 is the permission missing,
        which is then taken as missing for a while."""
        return self._refusals.refused() if error.status == 403 else error
