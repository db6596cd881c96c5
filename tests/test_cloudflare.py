"""The Cloudflare client against the fake Cloudflare API on loopback."""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from bot.cloudflare import (
    ApiMessage,
    AuthFailed,
    BudgetSpent,
    CloudflareClient,
    NotFound,
    RateLimited,
    Rejected,
    RetryPolicy,
    ScimGroup,
    Unavailable,
)
from bot.cloudflare.client import unreachable
from bot.pacing import CallBudget, Pacer
from bot.settings import CloudflareSettings, Secret
from tests.conftest import FakeClock, wait_until
from tests.fakes import ACCOUNT_ID, API_TOKEN, PROVIDER_ID, FakeCloudflare, make_group

# A copy of shared/fixtures/: the example response from Cloudflare's API page.
FIXTURE = Path(__file__).resolve().parent / "data" / "cloudflare-scim-groups-list.example.json"


def settings_for(fake: FakeCloudflare, **auth: Secret | str | None) -> CloudflareSettings:
    credentials = auth or {"api_token": Secret(API_TOKEN)}
    return CloudflareSettings(
        account_id=ACCOUNT_ID,
        identity_provider_id=PROVIDER_ID,
        base_url=fake.base_url,
        **credentials,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(cloudflare: FakeCloudflare, clock: FakeClock) -> Iterator[CloudflareClient]:
    client = CloudflareClient(settings_for(cloudflare), clock=clock, jitter=lambda: 1.0)
    yield client
    client.close()


def mock_client(
    answer: Any,
    *,
    clock: FakeClock | None = None,
    retry: RetryPolicy | None = None,
    budget: CallBudget | None = None,
    jitter: float = 1.0,
) -> CloudflareClient:
    """A client that tries once (unless `retry` says otherwise), every request answered by
    `answer(request)`: a response, or it raises."""
    return CloudflareClient(
        CloudflareSettings(account_id=ACCOUNT_ID, identity_provider_id=PROVIDER_ID, api_token=Secret("t")),
        transport=httpx.MockTransport(answer),
        clock=clock,
        retry=retry or RetryPolicy(attempts=1),
        budget=budget,
        jitter=lambda: jitter,
    )


def raising(error: type[httpx.RequestError]) -> Any:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("refused by the test", request=request)

    return answer


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_page_of_groups_is_parsed_into_typed_groups(client: CloudflareClient) -> None:
    page = client.list_groups(PROVIDER_ID, page=2, per_page=20)

    assert page.page == 2
    assert page.per_page == 20
    assert page.total_count == 45
    assert len(page.groups) == 20
    assert page.groups[0] == ScimGroup(
        id="00000000-0000-0000-0000-000000000015",
        display_name="group-00020",
        external_id="ext-00020",
        last_modified=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_the_seed_example_response_parses() -> None:
    body = FIXTURE.read_text()
    client = mock_client(lambda request: httpx.Response(200, content=body))

    page = client.list_groups(PROVIDER_ID, page=1, per_page=20)

    assert page.groups[0].display_name == "ALL EMPLOYEES"
    assert page.groups[0].external_id == "all_employees"
    assert page.total_count == 2000


def test_a_group_with_missing_fields_still_parses(
    cloudflare: FakeCloudflare, client: CloudflareClient
) -> None:
    cloudflare.groups[PROVIDER_ID] = [{"id": "x"}, {"displayName": 7, "meta": {"lastModified": "not a date"}}]

    groups = client.list_groups(PROVIDER_ID, page=1, per_page=100).groups

    assert groups == (
        ScimGroup(id="x", display_name="", external_id=""),
        ScimGroup(id="", display_name="", external_id=""),
    )


def test_missing_totals_are_none(cloudflare: FakeCloudflare, client: CloudflareClient) -> None:
    cloudflare.omit_totals = True

    assert client.list_groups(PROVIDER_ID, page=1, per_page=100).total_count is None


def test_per_page_above_cloudflares_maximum_is_refused_before_sending(
    cloudflare: FakeCloudflare, client: CloudflareClient
) -> None:
    with pytest.raises(ValueError, match="per_page"):
        client.list_groups(PROVIDER_ID, page=1, per_page=101)

    assert cloudflare.calls == []


def test_legacy_email_and_key_authenticate(cloudflare: FakeCloudflare) -> None:
    cloudflare.legacy_email, cloudflare.legacy_key = "ops@example.com", "global-key"
    client = CloudflareClient(settings_for(cloudflare, email="ops@example.com", api_key=Secret("global-key")))

    assert len(client.list_groups(PROVIDER_ID, page=1, per_page=10).groups) == 10


def test_identity_providers_are_listed(client: CloudflareClient) -> None:
    (provider,) = client.list_identity_providers()

    assert (provider.id, provider.name, provider.type, provider.scim_enabled) == (
        PROVIDER_ID,
        "Okta Production",
        "okta",
        True,
    )


@pytest.mark.parametrize(
    ("status", "code", "error_type", "summary"),
    [
        (401, 1000, AuthFailed, "Cloudflare refused the credentials"),
        (403, 10000, AuthFailed, "Cloudflare refused the credentials"),
        (400, 9106, AuthFailed, "Cloudflare refused the credentials"),
        (429, 971, RateLimited, "Cloudflare rate limit reached"),
        (404, 7003, NotFound, "Cloudflare found no such resource"),
        (500, 1000, Unavailable, "Cloudflare failed"),
        (400, 12130, Rejected, "Cloudflare refused the request"),
    ],
)
def test_failures_raise_typed_errors_with_cloudflares_codes(
    cloudflare: FakeCloudflare,
    client: CloudflareClient,
    status: int,
    code: int,
    error_type: type[Exception],
    summary: str,
) -> None:
    cloudflare.failure = (status, code, "something went wrong")

    with pytest.raises(error_type) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert type(raised.value) is error_type
    assert raised.value.codes == (code,)  # type: ignore[attr-defined]
    assert raised.value.status == status  # type: ignore[attr-defined]
    # What the log says of it: what happened, then Cloudflare's own words.
    assert str(raised.value) == f"{summary}; HTTP {status}; {code}: something went wrong"


def test_rate_limit_carries_retry_after(cloudflare: FakeCloudflare, client: CloudflareClient) -> None:
    cloudflare.failure = (429, 971, "slow down")

    with pytest.raises(RateLimited) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert raised.value.retry_after == 30


def test_wrong_token_is_auth_failed_without_the_token_in_the_message(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    client = CloudflareClient(settings_for(cloudflare, api_token=Secret("SECRET-wrong")), clock=clock)

    with pytest.raises(AuthFailed) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert "SECRET" not in str(raised.value)


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, b"<html>maintenance</html>"),
        (200, b'{"success": true, "result": {"not": "a list"}}'),
        (502, b""),
    ],
)
def test_unreadable_answers_are_unavailable(status: int, content: bytes) -> None:
    client = mock_client(lambda request: httpx.Response(status, content=content))

    with pytest.raises(Unavailable):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)


def test_a_timeout_is_retried_then_unavailable(cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    cloudflare.faults = [("hang", 0.5)] * 3
    client = CloudflareClient(
        settings_for(cloudflare), timeout=httpx.Timeout(0.1), clock=clock, jitter=lambda: 1.0
    )

    with pytest.raises(Unavailable, match="did not answer in time"):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert len(cloudflare.calls) == 3
    assert clock.slept == [0.5, 1.0]


def test_the_groups_request_follows_the_contract() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=json.dumps({"success": True, "result": [make_group(1)]}))

    mock_client(answer).list_groups(PROVIDER_ID, page=3, per_page=100)

    assert seen == [
        f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT_ID}/access/identity_providers/"
        f"{PROVIDER_ID}/scim/groups?page=3&per_page=100"
    ]


def test_429_then_success_waits_what_retry_after_asks(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock
) -> None:
    cloudflare.faults = [("status", 429, 971, {"Retry-After": "7"})]

    page = client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert len(page.groups) == 10
    assert clock.slept == [7.0]
    assert len(cloudflare.calls) == 2


def test_retry_after_as_an_http_date(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock
) -> None:
    in_twelve_seconds = format_datetime(datetime.fromtimestamp(clock.time() + 12, UTC), usegmt=True)
    cloudflare.faults = [("status", 503, 1000, {"Retry-After": in_twelve_seconds})]

    client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert clock.slept == [12.0]


def test_persistent_5xx_gives_up_after_three_tries_with_backoff(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock
) -> None:
    cloudflare.faults = [("status", 502, 1000, {})] * 5

    with pytest.raises(Unavailable) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert raised.value.status == 502
    assert clock.slept == [0.5, 1.0]
    assert len(cloudflare.calls) == 3


def test_backoff_is_jittered_and_capped(cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    cloudflare.faults = [("status", 500, 1000, {})] * 6
    client = CloudflareClient(
        settings_for(cloudflare), clock=clock, jitter=lambda: 0.25, retry=RetryPolicy(attempts=6, budget=100)
    )

    with pytest.raises(Unavailable):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert clock.slept == [0.125, 0.25, 0.5, 1.0, 2.0]


@pytest.mark.parametrize("status", [408, 409])
def test_408_and_409_are_retried(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock, status: int
) -> None:
    cloudflare.faults = [("status", status, 1000, {})]

    assert len(client.list_groups(PROVIDER_ID, page=1, per_page=10).groups) == 10


def test_auth_failures_are_not_retried(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock
) -> None:
    cloudflare.faults = [("status", 403, 10000, {})]

    with pytest.raises(AuthFailed):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert clock.slept == []


def test_a_long_retry_after_is_not_waited_out(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock
) -> None:
    cloudflare.faults = [("status", 429, 971, {"Retry-After": "300"})]

    with pytest.raises(RateLimited) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert raised.value.retry_after == 300
    assert clock.slept == []


def test_retries_stop_at_the_calls_time_budget(
    cloudflare: FakeCloudflare, client: CloudflareClient, clock: FakeClock
) -> None:
    cloudflare.faults = [("status", 429, 971, {"Retry-After": "10"})] * 3

    with pytest.raises(RateLimited):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert clock.slept == [10.0]  # a second 10 s wait would pass the 15 s budget


BROKEN_ANSWERS = {
    "JSON cut short": ("malformed",),
    "connection cut mid-body": ("truncated",),
    "success false with a 200": ("body", {"success": False, "errors": [], "result": None}),
    "an item that is not an object": (
        "body",
        {"success": True, "errors": [], "result": [make_group(0), "x", 5], "result_info": {}},
    ),
    "no result list": ("body", {"success": True, "errors": [], "result": {"id": "x"}}),
}


@pytest.mark.parametrize("fault", BROKEN_ANSWERS, ids=list(BROKEN_ANSWERS))
def test_a_broken_answer_is_retried_like_a_5xx(
    cloudflare: FakeCloudflare, client: CloudflareClient, fault: str
) -> None:
    cloudflare.faults = [BROKEN_ANSWERS[fault]]

    page = client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert len(page.groups) == 10
    assert len(cloudflare.calls) == 2


@pytest.mark.parametrize("fault", BROKEN_ANSWERS, ids=list(BROKEN_ANSWERS))
def test_a_broken_answer_every_time_is_unavailable(
    cloudflare: FakeCloudflare, client: CloudflareClient, fault: str
) -> None:
    cloudflare.faults = [BROKEN_ANSWERS[fault]] * 3

    with pytest.raises(Unavailable):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)
    assert len(cloudflare.calls) == 3


@pytest.mark.parametrize(
    ("header", "wait"),
    [("inf", None), ("1e309", None), ("nan", None), ("-5", 0.0), ("999999", 3_600.0), ("12", 12.0)],
)
def test_retry_after_is_finite_and_capped(
    cloudflare: FakeCloudflare, client: CloudflareClient, header: str, wait: float | None
) -> None:
    cloudflare.faults = [("status", 429, 971, {"Retry-After": header})] * 3
    client_without_retries = CloudflareClient(
        CloudflareSettings(account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)),
        retry=RetryPolicy(attempts=1),
    )

    with pytest.raises(RateLimited) as raised:
        client_without_retries.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert raised.value.retry_after == wait


def test_the_call_budget_refuses_without_calling_and_refills(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    client = CloudflareClient(
        settings_for(cloudflare), clock=clock, budget=CallBudget(3, per=300, clock=clock)
    )
    for _ in range(3):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    with pytest.raises(BudgetSpent) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert raised.value.retry_after == pytest.approx(100)
    assert len(cloudflare.calls) == 3
    clock.advance(100)
    client.list_groups(PROVIDER_ID, page=1, per_page=10)
    assert len(cloudflare.calls) == 4


def test_a_page_of_one_group_may_be_asked_for(client: CloudflareClient) -> None:
    page = client.list_groups(PROVIDER_ID, page=3, per_page=1)

    assert [group.display_name for group in page.groups] == ["group-00002"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"per_page": 0}, "per_page must be 1..100, not 0"),
        ({"per_page": 101}, "per_page must be 1..100, not 101"),
        (
            {"per_page": 10, "cf_resource_ids": ("a",), "idp_resource_ids": ("b",)},
            "Cloudflare cannot combine cf_resource_id and idp_resource_id",
        ),
    ],
)
def test_a_request_cloudflare_would_refuse_is_not_sent(
    client: CloudflareClient, cloudflare: FakeCloudflare, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        client.list_groups(PROVIDER_ID, page=1, **options)

    assert cloudflare.calls == []


def test_no_more_calls_than_paced_start_in_any_one_second(clock: FakeClock) -> None:
    pacer, started = Pacer(3, clock=clock), []
    for _ in range(7):
        pacer.wait()
        started.append(clock() - 1_000)

    assert started == [0, 0, 0, 1, 1, 1, 2]
    assert clock.slept == [1.0, 1.0]


@pytest.mark.parametrize("per_second", [1, 0])  # 0: more processes than 200 a second can share
def test_a_pacer_of_one_a_second_or_less_starts_one_a_second(clock: FakeClock, per_second: int) -> None:
    pacer = Pacer(per_second, clock=clock)
    for _ in range(3):
        pacer.wait()

    assert clock.slept == [1.0, 1.0]


def test_calls_spread_out_are_never_held(clock: FakeClock) -> None:
    pacer = Pacer(3, clock=clock)
    for _ in range(10):
        pacer.wait()
        clock.advance(0.4)

    assert clock.slept == []


def test_each_call_and_retry_of_the_client_is_paced(cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    client = CloudflareClient(settings_for(cloudflare), clock=clock, pacer=Pacer(2, clock=clock))
    cloudflare.faults.append(("status", 503, 10000, {"Retry-After": "0"}))

    client.list_groups(PROVIDER_ID, page=1, per_page=10)  # a 503, then the page: two calls
    client.list_groups(PROVIDER_ID, page=2, per_page=10)

    assert len(cloudflare.calls) == 3
    assert clock.slept == [0.0, 1.0]  # the Retry-After of 0, then the third call's second


def _verify_paths(cloudflare: FakeCloudflare) -> list[str]:
    paths = [path for path, _ in cloudflare.calls]
    return [path.removeprefix("/client/v4") for path in paths if path.endswith("/tokens/verify")]


def test_a_user_token_is_verified_at_the_user_endpoint_alone(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    assert client.verify_token() == ("user", "active")
    assert _verify_paths(cloudflare) == ["/user/tokens/verify"]


def test_an_account_token_without_a_prefix_is_tried_at_the_user_endpoint_then_the_account_one(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.token_kind = "account"

    assert client.verify_token() == ("account", "active")
    assert _verify_paths(cloudflare) == ["/user/tokens/verify", f"/accounts/{ACCOUNT_ID}/tokens/verify"]


def test_a_token_of_known_kind_is_verified_at_its_own_endpoint_only(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.token_kind, cloudflare.token_status = "account", "disabled"

    assert client.verify_token("account") == ("account", "disabled")
    assert _verify_paths(cloudflare) == [f"/accounts/{ACCOUNT_ID}/tokens/verify"]


def test_a_token_known_at_neither_endpoint_is_refused_after_both(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.token_kind = "neither"

    with pytest.raises(AuthFailed) as refused:
        client.verify_token()

    assert refused.value.codes == (1000,)
    assert len(_verify_paths(cloudflare)) == 2


def test_a_user_token_refused_for_another_reason_is_not_tried_as_an_account_token(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.faults.append(("status", 403, 9109, {}))

    with pytest.raises(AuthFailed) as refused:
        client.verify_token()

    assert refused.value.codes == (9109,)
    assert _verify_paths(cloudflare) == ["/user/tokens/verify"]


def test_a_verify_answer_without_a_result_object_has_an_unknown_status(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.faults.append(("body", {"success": True, "errors": [], "messages": [], "result": None}))

    assert client.verify_token("user") == ("user", "unknown")


def test_a_known_kind_of_token_refused_is_refused_without_another_try(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.token_kind = "account"

    with pytest.raises(AuthFailed) as refused:
        client.verify_token("user")

    assert refused.value.codes == (1000,)
    assert _verify_paths(cloudflare) == ["/user/tokens/verify"]


def test_a_verify_answer_without_a_status_has_an_unknown_status(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.faults.append(("body", {"success": True, "errors": [], "messages": [], "result": {"id": "t"}}))

    assert client.verify_token() == ("user", "unknown")


def test_any_list_of_the_account_gives_its_items_and_total(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.access_groups = [{"id": f"a{n}", "name": f"Team {n}"} for n in range(30)]

    items, total = client.list_items("/access/groups", [("page", 2), ("per_page", 25)])

    assert [item["id"] for item in items] == [f"a{n}" for n in range(25, 30)]
    assert total == 30
    assert cloudflare.calls[-1] == (
        f"/client/v4/accounts/{ACCOUNT_ID}/access/groups",
        {"page": ["2"], "per_page": ["25"]},
    )


@pytest.mark.parametrize(
    ("info", "total"),
    [
        ({"total_count": 0}, 0),
        ({"total_count": -1}, None),
        ({"total_count": "7"}, None),
        ({}, None),
        ("x", None),
    ],
)
def test_a_lists_total_is_kept_only_when_it_is_a_count(
    client: CloudflareClient, cloudflare: FakeCloudflare, info: object, total: int | None
) -> None:
    cloudflare.faults.append(
        ("body", {"success": True, "errors": [], "result": [{"id": "a"}], "result_info": info})
    )

    assert client.list_items("/access/groups", []) == (({"id": "a"},), total)


def test_a_list_holding_something_that_is_not_an_object_is_retried(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.access_groups = [{"id": "a"}]
    cloudflare.faults.append(
        ("body", {"success": True, "errors": [], "result": [{"id": "a"}, "not an object"]})
    )

    assert client.list_items("/access/groups", [])[0] == ({"id": "a"},)
    assert len(cloudflare.calls) == 2


@pytest.mark.parametrize(("wait", "tries"), [("60", 3), ("61", 1)])
def test_a_retry_after_of_up_to_a_minute_is_waited_out_and_a_longer_one_is_not(
    cloudflare: FakeCloudflare, clock: FakeClock, wait: str, tries: int
) -> None:
    client = CloudflareClient(settings_for(cloudflare), clock=clock, retry=RetryPolicy(budget=1_000))
    cloudflare.faults = [("status", 429, 971, {"Retry-After": wait})] * 3

    with pytest.raises(RateLimited):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert len(cloudflare.calls) == tries
    assert clock.slept == [60.0] * (tries - 1)


def test_the_provider_list_is_asked_for_a_thousand_at_a_time(
    client: CloudflareClient, cloudflare: FakeCloudflare
) -> None:
    cloudflare.providers = [*cloudflare.providers, "not an object"]  # type: ignore[list-item]
    cloudflare.faults.append(("none",))

    with pytest.raises(Unavailable):
        client.list_identity_providers()

    assert cloudflare.calls[0][1] == {"per_page": ["1000"]}


def test_an_error_without_a_status_or_codes_says_only_what_happened() -> None:
    error = Unavailable("Cloudflare could not be reached (ConnectError)")

    assert (error.detail(), str(error)) == ("", "Cloudflare could not be reached (ConnectError)")


def test_a_4xx_whose_body_is_not_json_is_unavailable_with_its_status() -> None:
    client = mock_client(lambda request: httpx.Response(418, content=b"<html>teapot</html>"))

    with pytest.raises(Unavailable) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert str(raised.value) == "Cloudflare sent a body that is not JSON; HTTP 418"


def test_cloudflares_messages_are_read_whatever_their_shape() -> None:
    body = {
        "success": False,
        "errors": [
            {"code": "7003", "message": "code as text"},
            {"code": 7000},
            "not an object",
            {"message": 5},
        ],
    }
    client = mock_client(lambda request: httpx.Response(400, json=body))

    with pytest.raises(Rejected) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert raised.value.errors == (
        ApiMessage(None, "code as text"),
        ApiMessage(7000, ""),
        ApiMessage(None, "5"),
    )


def test_the_budget_refills_at_its_rate(clock: FakeClock) -> None:
    budget = CallBudget(2, clock=clock, per=10)  # one call back every 5 seconds
    assert (budget.take(), budget.take()) == (0.0, 0.0)

    clock.advance(2.5)

    assert budget.take() == pytest.approx(2.5)
    clock.advance(2.5)
    assert budget.take() == 0.0


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (raising(httpx.ReadTimeout), "Cloudflare did not answer in time (it stopped answering; ReadTimeout)"),
        (
            raising(httpx.ConnectError),
            "Cloudflare could not be reached (the connection failed; ConnectError)",
        ),
        (
            lambda request: httpx.Response(200, json={"success": True, "result": {"not": "a list"}}),
            "Cloudflare sent a malformed answer; HTTP 200",
        ),
        (
            lambda request: httpx.Response(200, content=b"<html>maintenance</html>"),
            "Cloudflare sent an answer that is not its envelope; HTTP 200",
        ),
        (
            lambda request: httpx.Response(503, json={"success": False, "errors": []}),
            "Cloudflare failed; HTTP 503",
        ),
    ],
    ids=["timeout", "connection", "malformed", "not the envelope", "5xx"],
)
def test_each_way_cloudflare_is_unavailable_says_what_happened(answer: Any, said: str) -> None:
    with pytest.raises(Unavailable) as raised:
        mock_client(answer).list_groups(PROVIDER_ID, page=1, per_page=10)

    assert str(raised.value) == said


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (httpx.ConnectTimeout("timed out"), "connecting timed out; ConnectTimeout"),
        (httpx.ProxyError("407 Proxy Authentication Required"),
         "the proxy refused or failed (HTTPS_PROXY); ProxyError"),
        (httpx.ConnectError("[Errno -2] Name or service not known"),
         "its name was not found (DNS); ConnectError"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
         "TLS failed (a certificate, or a proxy that intercepts it); ConnectError"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "the connection was refused; ConnectError"),
    ],
    ids=["connect timeout", "proxy", "dns", "tls", "refused"],
)  # fmt: skip
def test_what_stopped_the_bot_reaching_cloudflare_is_named(error: httpx.HTTPError, said: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(Unavailable) as raised:
        mock_client(fail).list_groups(PROVIDER_ID, page=1, per_page=10)

    assert str(raised.value).endswith(f"({said})")


def test_what_stopped_it_is_read_from_the_exceptions_behind_httpxs_own() -> None:
    for cause, said in ((socket.gaierror(-2, "x"), "DNS"), (ConnectionRefusedError(111, "x"), "refused"),
                        (ssl.SSLError(1, "x"), "TLS")):  # fmt: skip
        error = httpx.ConnectError("failed")
        error.__cause__ = cause

        assert said in unreachable(error)


def test_a_spent_budget_says_it_is_the_bots_own_limit(clock: FakeClock) -> None:
    client = mock_client(
        lambda request: httpx.Response(200, json={"success": True, "result": []}),
        budget=CallBudget(1, per=300, clock=clock),
    )
    client.list_groups(PROVIDER_ID, page=1, per_page=10)

    with pytest.raises(BudgetSpent) as raised:
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    assert str(raised.value) == "the bot's own limit on Cloudflare calls is reached"


def test_each_call_is_counted_by_its_outcome_and_timed_on_the_clients_clock(clock: FakeClock) -> None:
    outcomes = iter([raising(httpx.ReadTimeout), raising(httpx.ConnectError), lambda r: httpx.Response(502)])
    names = ("timeout", "connection_error", "502")
    before = [sample("scim_groups_upstream_requests_total", status=name) for name in names]
    timed = sample("scim_groups_upstream_latency_seconds_count")
    took = sample("scim_groups_upstream_latency_seconds_sum")
    client = mock_client(lambda request: next(outcomes)(request), clock=clock)

    for _ in names:
        with pytest.raises(Unavailable):
            client.list_groups(PROVIDER_ID, page=1, per_page=10)

    after = [sample("scim_groups_upstream_requests_total", status=name) for name in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert sample("scim_groups_upstream_latency_seconds_count") - timed == 3
    assert sample("scim_groups_upstream_latency_seconds_sum") == took  # the fake clock never moved


def test_each_retry_is_logged_with_its_attempt_and_wait(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"})])
    client = mock_client(
        lambda request: next(answers, httpx.Response(200, json={"success": True, "result": []})),
        clock=clock,
        retry=RetryPolicy(attempts=3, first_backoff=0.5),
        jitter=1 / 3,
    )

    with caplog.at_level("INFO", logger="bot.cloudflare"):
        client.list_groups(PROVIDER_ID, page=1, per_page=10)

    retries = [r.fields for r in caplog.records if r.fields.get("event") == "cloudflare_retry"]  # type: ignore[attr-defined]
    assert retries == [
        {"event": "cloudflare_retry", "attempt": 1, "delay_s": 0.17, "after": "Cloudflare failed; HTTP 503"},
        {
            "event": "cloudflare_retry",
            "attempt": 2,
            "delay_s": 0.0,
            "after": "Cloudflare rate limit reached; HTTP 429",
        },
    ]
    assert clock.slept == [pytest.approx(1 / 6), 0.0]


def test_a_retry_that_ends_exactly_at_the_budget_is_made(clock: FakeClock) -> None:
    answers = iter([httpx.Response(503)])
    client = mock_client(
        lambda request: next(answers, httpx.Response(200, json={"success": True, "result": []})),
        clock=clock,
        retry=RetryPolicy(attempts=2, first_backoff=1.0, budget=1.0),
    )

    assert client.list_groups(PROVIDER_ID, page=1, per_page=10).rows == ()
    assert clock.slept == [1.0]


@pytest.mark.parametrize(("reported", "kept"), [(0, 0), (-1, None), (7, 7), ("7", None)])
def test_a_group_pages_total_is_kept_only_when_it_is_a_count(reported: object, kept: int | None) -> None:
    body = {"success": True, "result": [], "result_info": {"total_count": reported}}
    client = mock_client(lambda request: httpx.Response(200, json=body))

    assert client.list_groups(PROVIDER_ID, page=1, per_page=10).total_count == kept


def test_every_request_asks_for_json() -> None:
    accepted: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        accepted.append(request.headers.get("accept"))
        return httpx.Response(200, json={"success": True, "result": []})

    mock_client(answer).list_groups(PROVIDER_ID, page=1, per_page=10)

    assert accepted == ["application/json"]


def test_one_client_holds_at_most_twenty_connections_to_cloudflare_and_keeps_ten(
    cloudflare: FakeCloudflare, client: CloudflareClient
) -> None:
    cloudflare.gate.clear()  # every call waits at Cloudflare until the gate opens
    with ThreadPoolExecutor(24) as pool:
        pages = [pool.submit(client.list_groups, PROVIDER_ID, page=1, per_page=10) for _ in range(24)]
        wait_until(lambda: cloudflare.in_flight == 20, "twenty calls to reach Cloudflare")
        time.sleep(0.2)  # room for a twenty-first, had the pool let one out
        cloudflare.gate.set()
        assert all(len(page.result(timeout=10).rows) == 10 for page in pages)
    # The most ever under way, not the number of calls: on a loaded machine a call held at the
    # gate past its timeout is rightly tried again, and that is no twenty-first connection.
    assert cloudflare.most_in_flight == 20
    # Once the burst is over, ten stay open for the next one; the others are closed.
    wait_until(lambda: cloudflare.connections == 10, "the client to keep ten idle connections", 5)


def test_every_client_verifies_servers_with_one_tls_context_made_once() -> None:
    from bot import tls

    context = tls.context()

    assert tls.context() is context  # made once: each new context costs 25 ms of CPU
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA bundle httpx would load is loaded
