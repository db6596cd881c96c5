"""The fakes against something we did not write: Cloudflare's official Python SDK.

Every answer the fake Cloudflare gives parses as the SDK's model for that endpoint (its envelope,
its paging and each item), and every request the bot's client sends is one the SDK itself makes:
the same path and the same query, sent again through the SDK to the same fake. The account is as
varied as Cloudflare's documentation allows (seven kinds of identity provider, every decision,
applications with their audience tag, allowed identity providers and destinations, DELETE pushes),
and the bot answers it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, get_origin, get_type_hints

import httpx
import pytest

from bot import demo
from bot.check import run_checks
from tests.conftest import ServiceDriver
from tests.fake_access import (
    group_rule,
    make_access_group,
    make_app,
    make_policy,
    make_update,
    make_user,
)
from tests.fakes import (
    ACCOUNT_ID,
    API_TOKEN,
    PROVIDER_ID,
    FakeCloudflare,
    FakeSlack,
    buttons,
    environment,
    make_group,
    texts,
)
from tests.helpers import check_limits

if TYPE_CHECKING:
    from cloudflare import Cloudflare

NOW = datetime(2026, 1, 1, 0, 16, 40, tzinfo=UTC)  # the fake clock's wall time at the start
ENTRA, SAML, OIDC, ONELOGIN, PINGONE, GOOGLE = (
    f"5e3b8a6c-0000-4000-8000-00000000e00{n}" for n in range(1, 7)
)
ACCOUNT = f"/client/v4/accounts/{ACCOUNT_ID}"
IN_ACCOUNT = r"/client/v4/accounts/(?P<account_id>[0-9a-f]{32})"
ID = r"[^/]+"


class Endpoint:
    """One endpoint the bot calls: its path, the SDK method that calls it (its raw form: what the
    SDK sends is the point, and parsing the answer into models takes seconds), the SDK's parameters
    for it (a TypedDict) and the SDK's model of one item of its result."""

    def __init__(
        self,
        path: str,
        call: Callable[[Cloudflare], Callable[..., Any]],
        params: type | None,
        model: Any,
        *,
        listed: bool = True,
    ) -> None:
        self.path = re.compile(path + "$")
        self.call, self.params, self.model, self.listed = call, params, model, listed


@functools.cache
def endpoints() -> list[Endpoint]:
    """Give back the endpoints the bot calls, with the SDK's method, parameters and model for each.

    The SDK is imported here, not at the top: its models take seconds to import, and every
    test worker imports every test module to collect it.
    """
    from cloudflare.types.accounts import TokenVerifyResponse as AccountTokenVerifyResponse
    from cloudflare.types.user import TokenVerifyResponse
    from cloudflare.types.zero_trust import IdentityProviderListResponse, identity_provider_list_params
    from cloudflare.types.zero_trust.access import (
        ApplicationListResponse,
        GroupListResponse,
        PolicyListResponse,
        UserListResponse,
        ZeroTrustGroup,
        application_list_params,
        group_list_params,
        policy_list_params,
        user_list_params,
    )
    from cloudflare.types.zero_trust.access.access_user import AccessUser
    from cloudflare.types.zero_trust.access.logs import AccessRequestListResponse, access_request_list_params
    from cloudflare.types.zero_trust.access.logs.scim import UpdateListResponse, update_list_params
    from cloudflare.types.zero_trust.access.users import Identity
    from cloudflare.types.zero_trust.identity_providers.scim import group_list_params as scim_group_params
    from cloudflare.types.zero_trust.identity_providers.scim import user_list_params as scim_user_params

    return [
        Endpoint(
            rf"{IN_ACCOUNT}/access/identity_providers",
            lambda sdk: sdk.zero_trust.identity_providers.with_raw_response.list,
            identity_provider_list_params.IdentityProviderListParams,
            IdentityProviderListResponse,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/identity_providers/(?P<identity_provider_id>{ID})/scim/groups",
            lambda sdk: sdk.zero_trust.identity_providers.scim.groups.with_raw_response.list,
            scim_group_params.GroupListParams,
            ZeroTrustGroup,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/identity_providers/(?P<identity_provider_id>{ID})/scim/users",
            lambda sdk: sdk.zero_trust.identity_providers.scim.users.with_raw_response.list,
            scim_user_params.UserListParams,
            AccessUser,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/logs/scim/updates",
            lambda sdk: sdk.zero_trust.access.logs.scim.updates.with_raw_response.list,
            update_list_params.UpdateListParams,
            UpdateListResponse,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/groups",
            lambda sdk: sdk.zero_trust.access.groups.with_raw_response.list,
            group_list_params.GroupListParams,
            GroupListResponse,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/policies",
            lambda sdk: sdk.zero_trust.access.policies.with_raw_response.list,
            policy_list_params.PolicyListParams,
            PolicyListResponse,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/apps",
            lambda sdk: sdk.zero_trust.access.applications.with_raw_response.list,
            application_list_params.ApplicationListParams,
            ApplicationListResponse,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/users",
            lambda sdk: sdk.zero_trust.access.users.with_raw_response.list,
            user_list_params.UserListParams,
            UserListResponse,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/users/(?P<user_id>{ID})/last_seen_identity",
            lambda sdk: sdk.zero_trust.access.users.last_seen_identity.with_raw_response.get,
            None,
            Identity,
            listed=False,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/access/logs/access_requests",
            lambda sdk: sdk.zero_trust.access.logs.access_requests.with_raw_response.list,
            access_request_list_params.AccessRequestListParams,
            AccessRequestListResponse,
            listed=False,
        ),
        Endpoint(
            "/client/v4/user/tokens/verify",
            lambda sdk: sdk.user.tokens.with_raw_response.verify,
            None,
            TokenVerifyResponse,
            listed=False,
        ),
        Endpoint(
            rf"{IN_ACCOUNT}/tokens/verify",
            lambda sdk: sdk.accounts.tokens.with_raw_response.verify,
            None,
            AccountTokenVerifyResponse,
            listed=False,
        ),
    ]


def endpoint_of(path: str) -> tuple[Endpoint, dict[str, str]]:
    for endpoint in endpoints():
        matched = endpoint.path.match(path)
        if matched:
            return endpoint, matched.groupdict()
    raise AssertionError(f"the bot called {path}, which no endpoint of the SDK's here is")


def sdk_arguments(endpoint: Endpoint, query: dict[str, list[str]]) -> dict[str, Any]:
    """Give back the SDK method's arguments that ask for `query`, checking each parameter is one
    the SDK has for this endpoint and sent as often as the SDK can send it."""
    hints = get_type_hints(endpoint.params) if endpoint.params else {}
    unknown = set(query) - set(hints)
    assert not unknown, f"the SDK sends no {sorted(unknown)} to {endpoint.path.pattern}"
    arguments: dict[str, Any] = {}
    for key, values in query.items():
        hint = hints[key]
        repeatable = get_origin(hint) is list or (get_origin(hint) is not None and "Sequence" in str(hint))
        assert repeatable or len(values) == 1, f"the SDK sends {key} once, the bot sent {values}"
        if hint is int:
            arguments[key] = int(values[0])
        elif repeatable:
            arguments[key] = values
        else:
            arguments[key] = values[0]
    return arguments


def pairs(query: dict[str, list[str]]) -> list[tuple[str, str]]:
    return sorted((key, value) for key, values in query.items() for value in values)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def account(cloudflare: FakeCloudflare) -> FakeCloudflare:
    """An account with every kind of identity provider, Access rule and decision Cloudflare
    documents, and a SCIM log with every method."""
    okta_groups = cloudflare.groups[PROVIDER_ID]
    for provider_id, name, kind in [  # every kind of provider Cloudflare lists SCIM groups for
        (ENTRA, "Entra ID", "azureAD"),
        (SAML, "Shibboleth SAML", "saml"),
        (OIDC, "Keycloak OIDC", "oidc"),
        (ONELOGIN, "OneLogin", "onelogin"),
        (PINGONE, "PingOne", "pingone"),
        (GOOGLE, "Google Workspace", "google-apps"),
    ]:
        cloudflare.add_provider(
            provider_id, name, [make_group(100 + n, f"{name} team {n}") for n in range(3)], kind=kind
        )
    users = [make_user(n) for n in range(6)]
    cloudflare.users[PROVIDER_ID] = users
    gone = make_group(7)
    cloudflare.updates = [
        make_update(PROVIDER_ID, days_ago(0.1), group=okta_groups[3], method="PATCH"),
        make_update(PROVIDER_ID, days_ago(0.2), group=gone, method="DELETE"),
        make_update(PROVIDER_ID, days_ago(0.3), user=users[2], method="DELETE"),
        make_update(
            PROVIDER_ID, days_ago(0.4), user=users[2], method="PUT", status="FAILURE", error="conflict"
        ),
        make_update(PROVIDER_ID, days_ago(0.5), group=okta_groups[3], method="POST"),
        make_update(
            PROVIDER_ID,
            days_ago(0.6),
            group=okta_groups[5],
            method="DELETE",
            status="FAILURE",
            error="Group not found",
        ),
    ]
    entra_group = cloudflare.groups[ENTRA][0]
    cloudflare.access_groups = [
        make_access_group("a1", "Engineers", include=[group_rule("okta", PROVIDER_ID, "group-00003")]),
        make_access_group(
            "a2",
            "Everyone federated",
            include=[
                group_rule("azureAD", ENTRA, entra_group["externalId"]),
                group_rule("saml", SAML, "Shibboleth SAML team 0"),
                group_rule("oidc", OIDC, "Keycloak OIDC team 0"),
                group_rule("google-apps", GOOGLE, "eng@example.com"),
                {"group": {"id": "a1"}},
            ],
            exclude=[{"email_domain": {"domain": "contractors.example.com"}}],
        ),
    ]
    cloudflare.policies = [
        make_policy("p1", "Engineers in", "allow", include=[{"group": {"id": "a1"}}]),
        make_policy("p2", "Robots", "non_identity", include=[{"any_valid_service_token": {}}]),
        make_policy("p3", "Health checks", "bypass", include=[{"everyone": {}}]),
        make_policy("p4", "Not leavers", "deny", include=[group_rule("okta", PROVIDER_ID, "group-00004")]),
    ]
    cloudflare.apps = [
        make_app(
            "app1",
            "Grafana",
            "grafana.example.com",
            [
                make_policy("ap1", "Service tokens", "non_identity", precedence=1,
                            include=[{"any_valid_service_token": {}}]),
                make_policy("ap2", "SRE", "allow", precedence=2, require=[{"group": {"id": "a2"}}],
                            include=[{"email_domain": {"domain": "example.com"}}]),
            ],
            idps=[PROVIDER_ID, ENTRA],
        ),
        {  # a SaaS application has no domain of its own
            "id": "app2",
            "name": "Salesforce",
            "type": "saas",
            "aud": "5d1a" * 16,
            "allowed_idps": [PROVIDER_ID],
            "saas_app": {"auth_type": "saml", "sp_entity_id": "https://example.my.salesforce.com",
                         "name_id_format": "email"},
            "policies": [make_policy("ap3", "Sales", "allow", precedence=1,
                                     include=[group_rule("okta", PROVIDER_ID, "group-00003")])],
        },
    ]  # fmt: skip
    # Access has seen one of them log in (twice, refused once), and another never.
    cloudflare.add_person(
        2,
        "user0002@example.com",
        groups=[{"id": "00g3", "name": "group-00003"}],
        logins=(
            (cloudflare.apps[0], False, "2025-12-31T20:00:00Z"),
            (cloudflare.apps[0], True, "2025-12-31T21:00:00Z"),
        ),
    )
    cloudflare.add_person(3, "user0003@example.com", logged_in=False)
    return cloudflare


COMMANDS = [
    "",
    "group-0000",
    "ext:ext-00003",
    "user:user0002@example.com",
    "failures:7d",
    "changed:30d",
    "why user0002@example.com grafana",
    "why user0003@example.com grafana.example.com",
]
PROVIDERS = {"Entra ID": ENTRA, "saml": SAML, "keycloak": OIDC, "onelogin": ONELOGIN, "pingone": PINGONE}


def drive(bot: ServiceDriver) -> dict[str, dict[str, Any]]:
    """Ask the bot every kind of question and click every kind of button; give back what it
    answered, by what was asked."""
    said = {text: bot.command(text) for text in COMMANDS}
    said |= {name: bot.command(f'idp:"{name}"') for name in PROVIDERS}
    said["next"] = bot.click(buttons(said[""])["scim_groups_next"])
    said["history of a removed group"] = bot.click(button(said[""], "history", 7))
    said["used by"] = bot.click(button(said["ext:ext-00003"], "used_by", 0))
    for name in ("Entra ID", "saml", "keycloak"):
        said[f"used by in {name}"] = bot.click(button(said[name], "used_by", 0))
    return said


def button(message: dict[str, Any], action: str, index: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == f"scim_groups_{action}"
    ]
    return found[index]


def words(message: dict[str, Any]) -> str:
    return "\n".join(texts(message))


def test_every_request_the_bot_sends_is_one_the_sdk_makes(
    account: FakeCloudflare, answers: ServiceDriver, slack: FakeSlack
) -> None:
    drive(answers)
    assert run_checks(environment(account, slack), io.StringIO()) == 0
    account.token_kind = "account"  # verified at the account's endpoint after the user one refuses it
    assert run_checks(environment(account, slack), io.StringIO()) == 0
    asked = list(account.calls)
    from cloudflare import APIStatusError, Cloudflare

    sdk = Cloudflare(api_token=API_TOKEN, base_url=account.base_url, max_retries=0)

    for path, query in asked:
        endpoint, in_path = endpoint_of(path)
        arguments = sdk_arguments(endpoint, query)
        before = len(account.calls)
        # The SDK raises for some answers (a token of the other kind); the request is what counts.
        with contextlib.suppress(APIStatusError):
            endpoint.call(sdk)(**{**in_path, **arguments})
        assert account.calls[before:] == [(path, account.calls[before][1])], (
            f"the SDK asked another path for {path}"
        )
        assert pairs(account.calls[before][1]) == pairs(query), f"the SDK asks {path} otherwise"
    called = {endpoint_of(path)[0].path.pattern for path, _ in asked}
    assert called == {endpoint.path.pattern for endpoint in endpoints()}


ANSWERS = [
    ("/access/identity_providers", {"per_page": 1000}),
    ("/access/identity_providers/{provider}/scim/groups", {"per_page": 100}),
    ("/access/identity_providers/{provider}/scim/users", {"per_page": 100}),
    ("/access/logs/scim/updates", {"idp_id": "{provider}", "per_page": 1000}),
    ("/access/groups", {"per_page": 1000}),
    ("/access/policies", {"per_page": 1000}),
    ("/access/apps", {"per_page": 1000}),
    ("/access/users", {"per_page": 50}),
]
# Answers that are one object, or a bare list without `result_info`.
SINGLE = [
    ("/access/users/{user}/last_seen_identity", {}),
    ("/access/logs/access_requests", {"email": "{email}", "email_exact": "true", "per_page": 50}),
]


def check_answer(path: str, body: dict[str, Any]) -> None:
    """Check `body` is what the SDK reads from `path`: its envelope, paging and every item."""
    from cloudflare.pagination import V4PagePaginationArrayResultInfo
    from pydantic import TypeAdapter

    endpoint, _ = endpoint_of(path)
    assert body["success"] is True
    assert body["errors"] == body["messages"] == []
    if not endpoint.listed:
        TypeAdapter(endpoint.model).validate_python(body["result"])
        assert body["result"], "a sample of nothing proves nothing"
        return
    V4PagePaginationArrayResultInfo.model_validate(body["result_info"])
    assert body["result"], "a sample of nothing proves nothing"
    for item in body["result"]:
        TypeAdapter(endpoint.model).validate_python(item)


@pytest.mark.parametrize(("path", "query"), [*ANSWERS, ("/client/v4/user/tokens/verify", {})])
def test_every_answer_of_the_fake_is_what_the_sdk_reads(
    account: FakeCloudflare, path: str, query: dict[str, Any]
) -> None:
    path = path if path.startswith("/client") else f"{ACCOUNT}{path}".replace("{provider}", PROVIDER_ID)
    query = {key: str(value).replace("{provider}", PROVIDER_ID) for key, value in query.items()}

    response = httpx.get(
        f"{account.url}{path}", params=query, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )

    assert response.status_code == 200, response.text
    check_answer(path, response.json())


@pytest.mark.parametrize(("path", "query"), SINGLE)
def test_every_single_answer_of_the_fake_is_what_the_sdk_reads(
    account: FakeCloudflare, path: str, query: dict[str, Any]
) -> None:
    person = account.access_users[0]
    path = f"{ACCOUNT}{path}".replace("{user}", person["id"])
    query = {key: str(value).replace("{email}", person["email"]) for key, value in query.items()}

    response = httpx.get(
        f"{account.url}{path}", params=query, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )

    assert response.status_code == 200, response.text
    check_answer(path, response.json())


@pytest.mark.parametrize(("path", "query"), [*ANSWERS, *SINGLE])
def test_every_answer_of_the_demo_directory_is_what_the_sdk_reads(path: str, query: dict[str, Any]) -> None:
    person = demo.access_people(NOW)[0][0]
    path = f"/client/v4/accounts/{demo.ACCOUNT_ID}{path}".replace("{provider}", demo.IDENTITY_PROVIDER_ID)
    path = path.replace("{user}", person["id"])
    query = {
        key: str(value).replace("{provider}", demo.IDENTITY_PROVIDER_ID).replace("{email}", person["email"])
        for key, value in query.items()
    }

    with httpx.Client(transport=demo.transport(), base_url="https://api.cloudflare.com") as client:
        response = client.get(path, params=query)

    assert response.status_code == 200, response.text
    check_answer(path, response.json())


def test_the_check_is_a_strong_one() -> None:
    """What the SDK's models refuse, the check refuses: a rule without its provider, a decision
    or a provider type Cloudflare does not have."""
    from cloudflare.types.zero_trust import IdentityProviderListResponse
    from cloudflare.types.zero_trust.access import GroupListResponse, PolicyListResponse
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError, match="identity_provider_id"):
        TypeAdapter(GroupListResponse).validate_python({"id": "a", "include": [{"okta": {"name": "x"}}]})
    with pytest.raises(ValidationError, match="decision"):
        TypeAdapter(PolicyListResponse).validate_python({"id": "p", "decision": "maybe"})
    with pytest.raises(ValidationError, match="type"):
        TypeAdapter(IdentityProviderListResponse).validate_python({"name": "x", "type": "ldap", "config": {}})


def test_the_bot_answers_everything_such_an_account_holds(
    account: FakeCloudflare, answers: ServiceDriver
) -> None:
    messages = drive(answers)
    for message in messages.values():
        check_limits(message)
    said = {asked: words(message) for asked, message in messages.items()}

    assert "DELETE ✅ succeeded" in said["user:user0002@example.com"]
    assert "· DELETE of group *group-00005* (`ext-00005`) ❌ failed: Group not found" in said["failures:7d"]
    assert "· DELETE ✅ succeeded" in said["history of a removed group"]
    assert "• *Engineers in* (allow) — include, through Access group *Engineers*" in said["used by"]
    grafana = "• *Grafana* (`grafana.example.com`) — policy *SRE* (allow): require, through Access group"
    assert f"{grafana} *Everyone federated*" in said["used by"]
    assert "• *Salesforce* — policy *Sales* (allow): include\n" in said["used by"]
    assert "Service tokens" not in said["used by"]  # a service-auth (non_identity) policy names no group
    assert "• *Everyone federated* — include †" in said["used by in Entra ID"]
    for name in ("saml", "keycloak"):
        assert "• *Everyone federated* — include\n" in said[f"used by in {name}"]
        assert "†" not in said[f"used by in {name}"]
    for name, provider_id in PROVIDERS.items():
        provider = next(p["name"] for p in account.providers if p["id"] == provider_id)
        assert f"\nSCIM groups · {provider}\n" in said[name], name


def test_why_checks_every_kind_of_rule_such_an_account_holds(
    account: FakeCloudflare, answers: ServiceDriver
) -> None:
    allowed = words(answers.command("why user0002@example.com grafana"))
    unknown = words(answers.command("why user0003@example.com grafana.example.com"))

    assert "✅ *user0002@example.com* would be *allowed* at *Grafana* by the Allow policy *SRE*." in allowed
    assert "1. ? the Service Auth policy *Service tokens* — may match" in allowed
    assert "? include: any valid service token — not checked: a service token is a machine's" in allowed
    assert "↳ ✓ include: Access group *Engineers* — through its own rules" in allowed
    assert "↳ ✗ exclude: email domain is *contractors.example.com*" in allowed
    assert "Offers only: Okta Production, Entra ID" in allowed
    assert "• ✅ allowed · " in allowed
    assert "• ⛔ denied · " in allowed
    assert "❔ *Can't tell* whether *user0003@example.com* would get into *Grafana*" in unknown
    assert "Access: *never logged in*" in unknown
