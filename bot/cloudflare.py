"""The Cloudflare API client: authentication, the v4 envelope, typed results and errors.

Errors form this tree; each carries the HTTP status (when there was one) and the codes and
messages Cloudflare sent:

    CloudflareError            any failure talking to Cloudflare
     ├── Unavailable           timeout, connection error, 5xx, or a body that is not the envelope
     ├── RateLimited           429; `retry_after` seconds when Cloudflare said
     ├── AuthFailed            bad or missing credentials, or a token without the Access permission
     ├── NotFound              404: unknown account, identity provider or route
     └── Rejected              any other `success: false` answer (a 4xx such as 12130)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from bot.settings import CloudflareSettings

MAX_PER_PAGE = 100
# Codes that mean "who you are" is wrong, whatever the HTTP status says.
AUTH_CODES = frozenset({6003, 6103, 6111, 9106, 9109, 10000})
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True)
class ApiMessage:
    """One entry of Cloudflare's `errors` list."""

    code: int | None
    message: str


class CloudflareError(Exception):
    """Cloudflare did not give an answer we can use."""

    def __init__(
        self, summary: str, *, status: int | None = None, errors: tuple[ApiMessage, ...] = ()
    ) -> None:
        self.summary = summary
        self.status = status
        self.errors = errors
        super().__init__(self.describe())

    @property
    def codes(self) -> tuple[int, ...]:
        """Give back Cloudflare's error codes, in the order it sent them."""
        return tuple(error.code for error in self.errors if error.code is not None)

    def describe(self) -> str:
        """Give back a one-line account for logs: summary, status, codes and messages."""
        parts = [self.summary]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        parts.extend(f"{error.code}: {error.message}" for error in self.errors)
        return "; ".join(parts)


class Unavailable(CloudflareError):
    """Cloudflare could not be reached, failed, or answered with something unreadable."""


class RateLimited(CloudflareError):
    """Cloudflare refused the call for its rate limit."""

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)


class AuthFailed(CloudflareError):
    """The credentials are wrong or lack the Access read permission."""


class NotFound(CloudflareError):
    """The account, identity provider or route does not exist."""


class Rejected(CloudflareError):
    """Cloudflare refused the request for another reason."""


@dataclass(frozen=True, slots=True)
class ScimGroup:
    """A SCIM group as Cloudflare stores it; any field may be missing upstream."""

    id: str
    display_name: str
    external_id: str
    created: datetime | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class GroupPage:
    """One upstream page of groups and what Cloudflare said about paging (maybe wrong)."""

    groups: tuple[ScimGroup, ...]
    page: int
    per_page: int
    total_count: int | None


@dataclass(frozen=True)
class IdentityProvider:
    """An identity provider of the account."""

    id: str
    name: str
    type: str
    scim_enabled: bool


class CloudflareClient:
    """Calls the Cloudflare API over one shared, pooled httpx client."""

    def __init__(
        self,
        settings: CloudflareSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.account_id = settings.account_id
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={**settings.auth_headers(), "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )

    def list_groups(
        self,
        identity_provider_id: str,
        *,
        page: int,
        per_page: int,
        cf_resource_ids: tuple[str, ...] = (),
        idp_resource_ids: tuple[str, ...] = (),
    ) -> GroupPage:
        """Give back one page of the provider's SCIM groups, optionally only those with these ids."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1..{MAX_PER_PAGE}, not {per_page}")
        if cf_resource_ids and idp_resource_ids:
            raise ValueError("Cloudflare cannot combine cf_resource_id and idp_resource_id")
        path = f"/accounts/{self.account_id}/access/identity_providers/{identity_provider_id}/scim/groups"
        params: list[tuple[str, str | int | float | bool | None]] = [("page", page), ("per_page", per_page)]
        params += [("cf_resource_id", value) for value in cf_resource_ids]
        params += [("idp_resource_id", value) for value in idp_resource_ids]
        body = self._get(path, params)
        result = body.get("result")
        if not isinstance(result, list):
            raise Unavailable("Cloudflare sent a group list without a result list")
        info = body.get("result_info")
        total = info.get("total_count") if isinstance(info, dict) else None
        return GroupPage(
            groups=tuple(_group(item) for item in result if isinstance(item, dict)),
            page=page,
            per_page=per_page,
            total_count=total if isinstance(total, int) and total >= 0 else None,
        )

    def list_identity_providers(self) -> tuple[IdentityProvider, ...]:
        """Give back the account's identity providers."""
        body = self._get(
            f"/accounts/{self.account_id}/access/identity_providers", httpx.QueryParams({"per_page": 1000})
        )
        result = body.get("result")
        if not isinstance(result, list):
            raise Unavailable("Cloudflare sent an identity provider list without a result list")
        return tuple(_identity_provider(item) for item in result if isinstance(item, dict))

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _get(
        self, path: str, params: httpx.QueryParams | list[tuple[str, str | int | float | bool | None]]
    ) -> dict[str, Any]:
        try:
            response = self._http.get(path, params=params)
        except httpx.TimeoutException as error:
            raise Unavailable(f"Cloudflare did not answer in time ({type(error).__name__})") from None
        except httpx.HTTPError as error:
            raise Unavailable(f"Cloudflare could not be reached ({type(error).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _error_for(response, {}, "Cloudflare sent a body that is not JSON")
        if response.is_success and body.get("success") is True:
            return body
        raise _error_for(response, body, "Cloudflare refused the request")


def _error_for(response: httpx.Response, body: Mapping[str, Any], summary: str) -> CloudflareError:
    errors = tuple(_messages(body.get("errors")))
    codes = {error.code for error in errors}
    status = response.status_code
    if status == 429:
        return RateLimited(
            "Cloudflare rate limit reached",
            retry_after=_retry_after(response.headers.get("Retry-After")),
            status=status,
            errors=errors,
        )
    if status in (401, 403) or codes & AUTH_CODES:
        return AuthFailed("Cloudflare refused the credentials", status=status, errors=errors)
    if status == 404:
        return NotFound("Cloudflare found no such resource", status=status, errors=errors)
    if status >= 500:
        return Unavailable("Cloudflare failed", status=status, errors=errors)
    if not body:
        return Unavailable(summary, status=status)
    return Rejected(summary, status=status, errors=errors)


def _messages(raw: object) -> Iterable[ApiMessage]:
    if not isinstance(raw, list):
        return
    for item in raw:
        if isinstance(item, dict):
            code = item.get("code")
            yield ApiMessage(
                code=code if isinstance(code, int) else None, message=str(item.get("message", ""))
            )


def _retry_after(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _group(item: Mapping[str, Any]) -> ScimGroup:
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    return ScimGroup(
        id=_text(item.get("id")),
        display_name=_text(item.get("displayName")),
        external_id=_text(item.get("externalId")),
        created=_timestamp(meta.get("created")),
        last_modified=_timestamp(meta.get("lastModified")),
    )


def _identity_provider(item: Mapping[str, Any]) -> IdentityProvider:
    scim = item.get("scim_config")
    return IdentityProvider(
        id=_text(item.get("id")),
        name=_text(item.get("name")),
        type=_text(item.get("type")),
        scim_enabled=isinstance(scim, dict) and scim.get("enabled") is True,
    )
