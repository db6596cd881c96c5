"""The errors of talking to Cloudflare, as one tree; each carries the HTTP status (when there was
one) and the codes and messages Cloudflare sent:

    CloudflareError            any failure talking to Cloudflare
     ├── Unavailable           timeout, connection error, 5xx, or a body that is not the envelope
     ├── RateLimited           429; `retry_after` seconds when Cloudflare said
     │    └── BudgetSpent      the bot's own limit on calls was reached; nothing was sent
     ├── AuthFailed            bad or missing credentials, or a token without the Access permission
     │                         (a 403 on an optional endpoint is PermissionMissing instead)
     ├── PermissionMissing     the token lacks an optional permission (the SCIM log, Access apps)
     ├── NotFound              404: unknown account, identity provider or route
     └── Rejected              any other `success: false` answer (a 4xx such as 12130)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

# Codes that mean "who you are" is wrong, whatever the HTTP status says.
AUTH_CODES = frozenset({6003, 6103, 6111, 9106, 9109, 10000})


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
        return "; ".join(filter(None, (self.summary, self.detail())))

    def detail(self) -> str:
        """Give back the HTTP status and Cloudflare's codes and messages, on one line."""
        parts = [f"HTTP {self.status}"] if self.status is not None else []
        parts.extend(f"{error.code}: {error.message[:200]}" for error in self.errors[:5])
        if len(self.errors) > 5:
            parts.append(f"and {len(self.errors) - 5} more")
        return "; ".join(parts)


class Unavailable(CloudflareError):
    """Cloudflare could not be reached, failed, or answered with something unreadable."""


class RateLimited(CloudflareError):
    """Cloudflare refused the call for its rate limit."""

    def __init__(self, summary: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(summary, **kwargs)


class BudgetSpent(RateLimited):
    """The bot's own limit on calls to Cloudflare was reached, so nothing was sent."""


class AuthFailed(CloudflareError):
    """The credentials are wrong or lack the Access read permission."""


class NotFound(CloudflareError):
    """The account, identity provider or route does not exist."""


class Rejected(CloudflareError):
    """Cloudflare refused the request for another reason."""


class PermissionMissing(CloudflareError):
    """The token lacks an optional permission; `permission` names it as Cloudflare's dashboard does."""

    def __init__(self, permission: str, *, status: int | None = None) -> None:
        self.permission = permission
        super().__init__(f"the API token lacks “{permission}”", status=status)


def error_for(
    response: httpx.Response, body: Mapping[str, Any], retry_after: float | None
) -> CloudflareError:
    """Give back the error a failed answer of Cloudflare's stands for."""
    errors = tuple(_messages(body.get("errors")))
    codes = {error.code for error in errors}
    status = response.status_code
    if status == 429:
        return RateLimited(
            "Cloudflare rate limit reached", retry_after=retry_after, status=status, errors=errors
        )
    if status in (401, 403) or codes & AUTH_CODES:
        return AuthFailed("Cloudflare refused the credentials", status=status, errors=errors)
    if status == 404:
        return NotFound("Cloudflare found no such resource", status=status, errors=errors)
    if status >= 500:
        return Unavailable("Cloudflare failed", status=status, errors=errors)
    if not body:
        return Unavailable("Cloudflare sent a body that is not JSON", status=status)
    return Rejected("Cloudflare refused the request", status=status, errors=errors)


def _messages(raw: object) -> Iterable[ApiMessage]:
    if not isinstance(raw, list):
        return
    for item in raw:
        if isinstance(item, dict):
            code = item.get("code")
            yield ApiMessage(
                code=code if isinstance(code, int) else None, message=str(item.get("message", ""))
            )
