"""The Cloudflare API client: authentication, the v4 envelope, typed results and errors
(`bot.cloudflare.errors`).

Calls are retried, as Cloudflare's SDKs do, on 408, 409, 429, 5xx, timeouts and connection
errors: at most `RetryPolicy.attempts` tries, waiting what `Retry-After` asks (up to a minute)
or else an exponential backoff with full jitter, and never past the call's time budget.
"""

from __future__ import annotations

import logging
import math
import random
import socket
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from bot import metrics, tls
from bot.clock import Clock, SystemClock
from bot.cloudflare.errors import AuthFailed, BudgetSpent, CloudflareError, Unavailable, error_for
from bot.cloudflare.records import GroupPage, IdentityProvider, ListPage, count, group_row, identity_provider
from bot.logs import event
from bot.pacing import Budget, Pacer
from bot.settings import CloudflareSettings

log = logging.getLogger(__name__)
# The Cloudflare paths called while answering one request, for its audit line (None: not counted).
CALLS: ContextVar[list[str] | None] = ContextVar("cloudflare_calls", default=None)
Params = list[tuple[str, str | int | float | bool | None]]
TokenKind = Literal["user", "account"]

MAX_PER_PAGE = 100
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRY_STATUSES = frozenset({408, 409, 429, *range(500, 600)})
# Cloudflare blocks for 5 minutes once its quota is spent; a longer Retry-After is taken as an hour.
MAX_RETRY_AFTER = 3_600.0


# Calls remembered for `recent`: more than a 5-minute budget spends.
RECENT_CALLS = 2_000


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
        # When the recent calls were made (monotonic) and how long each took: the Home tab's health.
        self._recent: deque[tuple[float, float]] = deque(maxlen=RECENT_CALLS)
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={**settings.auth_headers(), "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            verify=tls.context(),
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
            rows=tuple(group_row(item) for item in result),
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
        return ListPage(tuple(body["result"]), count(info.get("total_count")), count(info.get("total_pages")))

    def get_result(self, path: str, params: Params | None = None) -> Mapping[str, Any]:
        """Give back the object an endpoint of the account (`path` follows /accounts/{id}) answers
        with (an empty one when its `result` is null)."""
        body = self._get(f"/accounts/{self.account_id}{path}", params, usable=_object_or_null)
        result = body.get("result")
        return result if isinstance(result, dict) else {}

    def list_identity_providers(self) -> tuple[IdentityProvider, ...]:
        """Give back the account's identity providers."""
        path = f"/accounts/{self.account_id}/access/identity_providers"
        body = self._get(path, [("per_page", 1000)], usable=_list_of_objects)
        return tuple(identity_provider(item) for item in body["result"])

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

    def recent(self, seconds: float = 300.0) -> tuple[int, float | None]:
        """Give back how many calls this client made in the last `seconds` (up to RECENT_CALLS),
        and the median time one took (None: none was made)."""
        now = self._clock()
        durations = sorted(took for started, took in list(self._recent) if now - started <= seconds)
        return len(durations), durations[len(durations) // 2] if durations else None

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
                Unavailable(f"Cloudflare did not answer in time ({unreachable(error)})")
            ) from None
        except httpx.HTTPError as error:
            metrics.UPSTREAM.labels("connection_error").inc()
            raise _Retryable(Unavailable(f"Cloudflare could not be reached ({unreachable(error)})")) from None
        finally:
            took = max(0.0, self._clock() - started)
            metrics.UPSTREAM_LATENCY.observe(took)
            self._recent.append((started, took))
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
        failure = error_for(response, body if isinstance(body, dict) else {}, retry_after)
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


def _object_or_null(body: dict[str, Any]) -> bool:
    return body.get("result") is None or isinstance(body.get("result"), dict)


def unreachable(error: httpx.HTTPError) -> str:
    """Give back what failed on the way to Cloudflare, in a few words — the time (connecting,
    reading), a proxy, its name not found (DNS), TLS, the connection refused — and httpx's name."""
    causes: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and len(causes) < 10:  # the chain httpx and httpcore leave
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    said = " ".join(str(found) for found in causes)

    def caused_by(kind: type[BaseException], *texts: str) -> bool:
        return any(isinstance(found, kind) for found in causes) or any(text in said for text in texts)

    if isinstance(error, httpx.ConnectTimeout):
        what = "connecting timed out"
    elif isinstance(error, httpx.TimeoutException):
        what = "it stopped answering"
    elif isinstance(error, httpx.ProxyError):
        what = "the proxy refused or failed (HTTPS_PROXY)"
    elif caused_by(
        socket.gaierror, "Name or service not known", "nodename nor servname", "getaddrinfo failed"
    ):
        what = "its name was not found (DNS)"
    elif caused_by(ssl.SSLError, "CERTIFICATE_VERIFY_FAILED", "SSL:"):
        what = "TLS failed (a certificate, or a proxy that intercepts it)"
    elif caused_by(ConnectionRefusedError, "Connection refused"):
        what = "the connection was refused"
    else:
        what = "the connection failed"
    return f"{what}; {type(error).__name__}"
