"""The Cloudflare API client: authentication, the v4 envelope, typed results and errors.

Errors form this tree; each carries the HTTP status (when there was one) and the codes and
messages Cloudflare sent:

    CloudflareError            any failure talking to Cloudflare
     ├── Unavailable           timeout, connection error, 5xx, or a body that is not the envelope
     ├── RateLimited           429; `retry_after` seconds when Cloudflare said
     │    └── BudgetSpent      the bot's own limit on calls was reached; nothing was sent
     ├── AuthFailed            bad or missing credentials, or a token without the Access permission
     ├── NotFound              404: unknown account, identity provider or route
     └── Rejected              any other `success: false` answer (a 4xx such as 12130)

Calls are retried, as Cloudflare's SDKs do, on 408, 409, 429, 5xx, timeouts and connection
errors: at most `RetryPolicy.attempts` tries, waiting what `Retry-After` asks (up to a minute)
or else an exponential backoff with full jitter, and never past the call's time budget.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from bot import metrics
from bot.clock import Clock, SystemClock
from bot.logs import event
from bot.pacing import Budget, Pacer
from bot.settings import CloudflareSettings

log = logging.getLogger(__name__)
# The Cloudflare paths called while answering one request, for its audit line (None: not counted).
CALLS: ContextVar[list[str] | None] = ContextVar("cloudflare_calls", default=None)
Params = list[tuple[str, str | int | float | bool | None]]
TokenKind = Literal["user", "account"]

MAX_PER_PAGE = 100
# The most of any one text field (a name, an id, a message) the bot keeps. Cloudflare documents
# no bound; identity providers keep names to a few hundred characters (Okta 255, Entra 256).
MAX_TEXT = 16_384
# Codes that mean "who you are" is wrong, whatever the HTTP status says.
AUTH_CODES = frozenset({6003, 6103, 6111, 9106, 9109, 10000})
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRY_STATUSES = frozenset({408, 409, 429, *range(500, 600)})
# Cloudflare blocks for 5 minutes once its quota is spent; a longer Retry-After is taken as an hour.
MAX_RETRY_AFTER = 3_600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries before it gives up."""

    attempts: int = 3
    first_backoff: float = 0.5
    max_backoff: float = 8.0
    # A longer Retry-After (Cloudflare blocks for 5 minutes once its quota is spent) is not
    # waited out: the user hears at once when to try again.
    max_retry_after: float = 60.0
    # Seconds one call may take, waits included: room inside the 20 s a user waits at most.
    budget: float = 15.0


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


@dataclass(frozen=True)
class ListPage:
    """One page of a list endpoint: its items, and the totals `result_info` gave (None: not sent)."""

    items: tuple[Mapping[str, Any], ...]
    total_count: int | None
    total_pages: int | None


def _count(value: object) -> int | None:
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


class CloudflareClient:
    """Calls the Cloudflare API over one shared, pooled httpx client, with retries."""

    def __init__(
        self,
        settings: CloudflareSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        pacer: Pacer | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.account_id = settings.account_id
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._budget = budget
        self._pacer = pacer
        self._jitter = jitter
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
        params: Params = [("page", page), ("per_page", per_page)]
        params += [("cf_resource_id", value) for value in cf_resource_ids]
        params += [("idp_resource_id", value) for value in idp_resource_ids]
        body = self._get(path, params, usable=_list_of_objects)
        result = body["result"]
        info = body.get("result_info")
        total = info.get("total_count") if isinstance(info, dict) else None
        return GroupPage(
            rows=tuple(_row(item) for item in result),
            page=page,
            per_page=per_page,
            total_count=total if isinstance(total, int) and total >= 0 else None,
        )

    def list_items(self, path: str, params: Params) -> tuple[tuple[Mapping[str, Any], ...], int | None]:
        """Give back one page of a list endpoint of the account (`path` follows /accounts/{id}):
        its items, each an object, and the total Cloudflare reports (what it counts varies)."""
        listed = self.list_page(path, params)
        return listed.items, listed.total_count

    def list_page(self, path: str, params: Params) -> ListPage:
        """Give back one page of a list endpoint of the account, with what `result_info` says."""
        body = self._get(f"/accounts/{self.account_id}{path}", params, usable=_list_of_objects)
        info = body.get("result_info")
        info = info if isinstance(info, dict) else {}
        return ListPage(
            tuple(body["result"]), _count(info.get("total_count")), _count(info.get("total_pages"))
        )

    def list_identity_providers(self) -> tuple[IdentityProvider, ...]:
        """Give back the account's identity providers."""
        path = f"/accounts/{self.account_id}/access/identity_providers"
        body = self._get(path, [("per_page", 1000)], usable=_list_of_objects)
        return tuple(_identity_provider(item) for item in body["result"])

    def verify_token(self, kind: TokenKind | None = None) -> tuple[TokenKind, str]:
        """Give back what kind of API token this is and its status ("active" when usable).

        User tokens are verified at /user/tokens/verify, account tokens (which Cloudflare
        recommends for integrations) at /accounts/{id}/tokens/verify; the user endpoint answers
        an account token 401 "Invalid API Token" (code 1000). Without `kind` (a token without
        the newer `cfut_`/`cfat_` prefix) the user endpoint is asked first, then the account one.
        """
        kinds: tuple[TokenKind, ...] = (kind,) if kind else ("user", "account")
        for tried in kinds[:-1]:
            try:
                return tried, self._token_status(tried)
            except AuthFailed as error:
                if 1000 not in error.codes:  # refused for another reason than the endpoint
                    raise
        return kinds[-1], self._token_status(kinds[-1])

    def _token_status(self, kind: TokenKind) -> str:
        path = "/user/tokens/verify" if kind == "user" else f"/accounts/{self.account_id}/tokens/verify"
        result = self._get(path).get("result")
        return str(result.get("status", "unknown")) if isinstance(result, dict) else "unknown"

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _get(
        self,
        path: str,
        params: Params | None = None,
        usable: Callable[[dict[str, Any]], bool] = lambda body: True,
    ) -> dict[str, Any]:
        """Give back the body of a successful GET, retrying what is worth retrying.

        A success whose body is not `usable` (a page with an item that is not an object, say) is
        retried like a 5xx: it is a fault, and the next answer may well be whole.
        """
        started = self._clock()
        attempt = 1
        while True:
            if self._budget is not None and (wait := self._budget.take()):
                raise BudgetSpent("the bot's own limit on Cloudflare calls is reached", retry_after=wait)
            if self._pacer is not None:
                self._pacer.wait()
            try:
                return self._attempt(path, params, usable)
            except _Retryable as retryable:
                failure, delay = retryable.error, self._delay(attempt, retryable.retry_after)
            out_of_time = delay is None or self._clock() - started + delay > self._retry.budget
            if attempt >= self._retry.attempts or out_of_time:
                raise failure from None
            metrics.RETRIES.inc()
            event(
                log,
                "cloudflare_retry",
                attempt=attempt,
                delay_s=round(delay or 0.0, 2),
                after=failure.describe(),
            )
            self._clock.sleep(delay or 0.0)
            attempt += 1

    def _attempt(
        self, path: str, params: Params | None, usable: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Make one request; raise `_Retryable` or a `CloudflareError` when it fails."""
        calls = CALLS.get()
        if calls is not None:
            calls.append(path)
        started = self._clock()
        try:
            response = self._http.get(path, params=params)
        except httpx.TimeoutException as error:
            metrics.UPSTREAM.labels("timeout").inc()
            raise _Retryable(
                Unavailable(f"Cloudflare did not answer in time ({type(error).__name__})")
            ) from None
        except httpx.HTTPError as error:
            metrics.UPSTREAM.labels("connection_error").inc()
            raise _Retryable(
                Unavailable(f"Cloudflare could not be reached ({type(error).__name__})")
            ) from None
        finally:
            metrics.UPSTREAM_LATENCY.observe(max(0.0, self._clock() - started))
        metrics.UPSTREAM.labels(str(response.status_code)).inc()
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and response.is_success and body.get("success") is True:
            if usable(body):
                return body
            raise _Retryable(Unavailable("Cloudflare sent a malformed answer", status=response.status_code))
        if response.is_success:  # truncated, not JSON, or `success: false` with a 2xx
            raise _Retryable(
                Unavailable("Cloudflare sent an answer that is not its envelope", status=response.status_code)
            )
        retry_after = _retry_after(response.headers.get("Retry-After"), self._clock.time())
        failure = _error_for(response, body if isinstance(body, dict) else {}, retry_after)
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(failure, retry_after)
        raise failure

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Give back how long to wait before the next try, or None when waiting is pointless."""
        if retry_after is not None:
            return retry_after if retry_after <= self._retry.max_retry_after else None
        backoff = min(self._retry.max_backoff, self._retry.first_backoff * 2.0 ** (attempt - 1))
        return float(backoff * self._jitter())


class _Retryable(Exception):
    """A failure worth another try, carrying the error to raise if none is left."""

    def __init__(self, error: CloudflareError, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after


def _error_for(
    response: httpx.Response, body: Mapping[str, Any], retry_after: float | None
) -> CloudflareError:
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


def _retry_after(raw: str | None, now: float) -> float | None:
    """Give back the seconds a `Retry-After` header asks for, given as a number or an HTTP date."""
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - now
        except (TypeError, ValueError, OverflowError):
            return None
    if not math.isfinite(seconds):  # "inf", "1e309", "nan": no usable advice
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _list_of_objects(body: dict[str, Any]) -> bool:
    result = body.get("result")
    return isinstance(result, list) and all(isinstance(item, dict) for item in result)


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


def _row(item: Mapping[str, Any]) -> GroupRow:
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    return (
        text_of(item.get("id")),
        text_of(item.get("displayName")),
        text_of(item.get("externalId")),
        moment_or_none(meta.get("lastModified")),
    )


def _identity_provider(item: Mapping[str, Any]) -> IdentityProvider:
    scim = item.get("scim_config")
    return IdentityProvider(
        id=text_of(item.get("id")),
        name=text_of(item.get("name")),
        type=text_of(item.get("type")),
        scim_enabled=isinstance(scim, dict) and scim.get("enabled") is True,
    )
