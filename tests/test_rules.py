"""Where a group is used: reading Access rules, matching them to a SCIM group, following Access
groups, and the graph's trip through Redis; against the fake Cloudflare where calls are made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.cache import Caches
from bot.cloudflare import AuthFailed, CloudflareClient, IdentityProvider, ScimGroup
from bot.codec import VERSION, Unusable
from bot.rules import (
    GRAPH,
    AccessGraph,
    AccessGroupRules,
    AccessRules,
    Holder,
    Ref,
    RuleLists,
    holders_of,
    refs_of,
    uses,
)
from bot.settings import CloudflareSettings, Secret
from bot.workers import Workers
from tests.conftest import FakeClock
from tests.fake_access import APPS_PERMISSION
from tests.fakes import ACCOUNT_ID, API_TOKEN, PROVIDER_ID, FakeCloudflare

OKTA = IdentityProvider(PROVIDER_ID, "Okta", "okta", True)
GROUP = ScimGroup("8a7c3f0e-4b1d-4e5a-9c2f-1d3e5f7a9b0c", "Oncall", "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60")


def access_group(group_id: str, name: str, **lists: list[dict[str, Any]]) -> Holder:
    return Holder("access_group", group_id, name, refs_of(lists))


def named(use_list: tuple[Any, ...]) -> list[tuple[str, str, str, bool]]:
    return [(use.holder.name, use.where, use.via, use.inferred) for use in use_list]


def test_rules_that_name_groups_are_read_and_others_left_out() -> None:
    item = {
        "include": [
            {"okta": {"name": "Oncall", "identity_provider_id": PROVIDER_ID}},
            {"email": {"email": "a@example.com"}},
            {"saml": {"attribute_name": "groups", "attribute_value": "Oncall", "identity_provider_id": "x"}},
            "not a rule",
            {"okta": "not an object"},
            {"okta": {"name": ""}},  # names nothing
            {"okta": {"name": "a"}, "group": {"id": "b"}},  # two rules in one: not Cloudflare's shape
            {"gsuite": {"email": "oncall@example.com"}},  # Google: no SCIM, so no match to make
            {"okta": {"name": "After the odd ones"}},
        ],
        "require": [{"oidc": {"claim_name": "roles", "claim_value": "admins"}}],
        "exclude": [{"group": {"id": "ag-1"}}, {"azureAD": {"id": "obj", "identity_provider_id": "e"}}],
        "other": [{"okta": {"name": "ignored"}}],
    }

    assert refs_of(item) == (
        Ref("include", "okta", "Oncall", PROVIDER_ID, ""),
        Ref("include", "saml", "Oncall", "x", "groups"),
        Ref("include", "okta", "After the odd ones"),
        Ref("require", "oidc", "admins", "", "roles"),
        Ref("exclude", "group", "ag-1"),
        Ref("exclude", "azureAD", "obj", "e", ""),
    )
    assert refs_of({"include": "not a list"}) == ()


@pytest.mark.parametrize(
    ("rule", "inferred"),
    [
        ({"okta": {"name": "ONCALL", "identity_provider_id": PROVIDER_ID}}, False),  # any case
        ({"okta": {"name": "Oncall"}}, False),  # no provider named: any provider
        ({"saml": {"attribute_name": "groups", "attribute_value": "Oncall"}}, False),
        ({"oidc": {"claim_name": "groups", "claim_value": GROUP.external_id}}, False),
        ({"azureAD": {"id": GROUP.external_id.upper(), "identity_provider_id": PROVIDER_ID.upper()}}, True),
    ],
)
def test_a_rule_names_the_group_by_its_providers_own_terms(rule: dict[str, Any], inferred: bool) -> None:
    graph = AccessGraph((access_group("a1", "Team", include=[rule]),))

    assert named(uses(graph, GROUP, OKTA)) == [("Team", "include", "", inferred)]


@pytest.mark.parametrize(
    "rule",
    [
        {"okta": {"name": "Oncall", "identity_provider_id": "another-provider"}},
        {"okta": {"name": "Oncall-team"}},
        {"saml": {"attribute_name": "groups", "attribute_value": "oncall"}},  # a value, exactly
        {"azureAD": {"id": "00000000-0000-4000-8000-000000000000"}},
        {"group": {"id": GROUP.id}},  # an Access group's id, not the SCIM group's
    ],
)
def test_a_rule_for_another_group_or_provider_is_no_use(rule: dict[str, Any]) -> None:
    assert uses(AccessGraph((access_group("a1", "Team", include=[rule]),)), GROUP, OKTA) == ()


def test_access_groups_are_followed_to_any_depth_but_not_through_an_exclusion() -> None:
    name_rule = {"okta": {"name": "Oncall"}}
    graph = AccessGraph(
        (
            access_group("a1", "Direct", include=[name_rule]),
            access_group("a2", "Nested", require=[{"group": {"id": "a1"}}]),
            access_group("a3", "Deeper", include=[{"group": {"id": "a2"}}]),
            access_group("a4", "Excluding", exclude=[{"group": {"id": "a1"}}]),
            access_group("a5", "Cycle one", include=[{"group": {"id": "a6"}}]),
            access_group("a6", "Cycle two", include=[{"group": {"id": "a5"}}]),
            Holder("policy", "p1", "Deny them", refs_of({"exclude": [{"group": {"id": "a3"}}]}), "deny"),
            Holder(
                "app_policy",
                "ap1",
                "Allow",
                refs_of({"include": [name_rule]}),
                "allow",
                "Wiki",
                "wiki.example",
            ),
        )
    )

    assert named(uses(graph, GROUP, OKTA)) == [
        ("Deeper", "include", "Nested", False),
        ("Direct", "include", "", False),
        ("Excluding", "exclude", "Direct", False),
        ("Nested", "require", "Direct", False),
        ("Deny them", "exclude", "Deeper", False),
        ("Allow", "include", "", False),
    ]


def test_holders_come_from_the_three_lists_with_their_decisions_and_applications() -> None:
    holders = holders_of(
        [{"id": "a1", "name": "Team", "include": []}],
        [{"id": "p1", "name": "Reusable", "decision": "allow", "include": []}],
        [
            {
                "id": "app1",
                "name": "Grafana",
                "domain": "grafana.example.com",
                "policies": [{"id": "ap1", "name": "SRE", "decision": "bypass"}, "not a policy"],
            },
            {"id": "app2", "name": "No policies", "policies": "none"},
        ],
    )

    assert holders == (
        Holder("access_group", "a1", "Team", ()),
        Holder("policy", "p1", "Reusable", (), "allow"),
        Holder("app_policy", "ap1", "SRE", (), "bypass", "Grafana", "grafana.example.com"),
    )


def test_the_graph_goes_through_redis_unchanged_and_nothing_else_does() -> None:
    graph = AccessGraph(
        (
            Holder("access_group", "a1", "Ünïcode", (Ref("include", "okta", "Oncall", PROVIDER_ID, ""),)),
            Holder("app_policy", "ap1", "SRE", (Ref("exclude", "group", "a1"),), "deny", "Wiki", "w.example"),
        ),
        APPS_PERMISSION,
    )

    assert GRAPH.loads(GRAPH.dumps(graph)) == graph
    shapes: tuple[object, ...] = (
        [[], 5],
        [[["access_group", "a1", "n", [], "", ""]], ""],  # a holder too short
        [[["user", "a1", "n", [], "", "", ""]], ""],  # not a kind of holder
        [[["policy", "p1", "n", [["sideways", "okta", "v", "", ""]], "", "", ""]], ""],  # no such list
        [[["policy", "p1", "n", "rules", "", "", ""]], ""],
        {"holders": []},
    )
    for malformed in shapes:
        with pytest.raises(Unusable):
            GRAPH.loads(json.dumps([VERSION, malformed]))


@pytest.fixture
def access(cloudflare: FakeCloudflare, clock: FakeClock) -> Iterator[AccessRules]:
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    client = CloudflareClient(settings, clock=clock)
    workers = Workers()
    yield AccessRules(client, caches=Caches(ttl=60, clock=clock), parallel=workers.in_parallel)
    workers.close()
    client.close()


def lists_called(cloudflare: FakeCloudflare) -> list[tuple[str, str]]:
    return sorted(
        (path.rsplit("/", 1)[1], query.get("page", [""])[0])
        for path, query in cloudflare.calls
        if path.endswith(("/access/groups", "/access/policies", "/access/apps"))
    )


def test_every_page_of_a_long_list_is_read(access: AccessRules, cloudflare: FakeCloudflare) -> None:
    cloudflare.access_groups = [{"id": f"a{n}", "name": f"Team {n}", "include": []} for n in range(1_500)]

    graph = access.graph().value

    assert len(graph.holders) == 1_500
    assert lists_called(cloudflare) == [("apps", "1"), ("groups", "1"), ("groups", "2"), ("policies", "1")]


@pytest.mark.parametrize(
    ("totals", "count"), [("both", 250), ("count only", 250), ("count only", 300), ("none", 250)]
)
def test_a_list_that_caps_its_pages_below_what_was_asked_is_read_to_its_end(
    access: AccessRules, cloudflare: FakeCloudflare, totals: str, count: int
) -> None:
    cloudflare.access_groups = [{"id": f"a{n}", "name": f"Team {n}", "include": []} for n in range(count)]
    cloudflare.access_page_cap = 100  # per_page=1000 answered 100 at a time, without a word
    cloudflare.omit_totals = totals == "none"
    cloudflare.omit_total_pages = totals == "count only"

    graph = access.graph().value

    assert len(graph.holders) == count
    pages = [page for name, page in lists_called(cloudflare) if name == "groups"]
    # With result_info's totals the last page is known to be the last (the count reached, or the
    # page count); without them, an empty page says so.
    assert pages == [str(n) for n in range(1, -(-count // 100) + (1 if totals == "none" else 0) + 1)]


def test_a_list_that_answers_the_same_page_for_every_number_is_read_once(
    access: AccessRules, cloudflare: FakeCloudflare
) -> None:
    cloudflare.access_groups = [{"id": f"a{n}", "name": f"Team {n}", "include": []} for n in range(3)]
    cloudflare.same_page_always = True
    cloudflare.omit_totals = True

    assert len(access.graph().value.holders) == 3
    assert [page for name, page in lists_called(cloudflare) if name == "groups"] == ["1", "2"]


def test_the_graph_is_cached_and_refreshed_on_demand(
    access: AccessRules, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    first = access.graph()
    again = access.graph()
    clock.advance(61)
    expired = access.graph()
    refreshed = access.graph(refresh=True)

    assert (first.from_cache, again.from_cache, expired.from_cache, refreshed.from_cache) == (
        False,
        True,
        False,
        False,
    )
    assert len(lists_called(cloudflare)) == 9


def test_without_the_apps_permission_the_graph_holds_access_groups_and_says_so(
    access: AccessRules, cloudflare: FakeCloudflare
) -> None:
    cloudflare.access_groups = [{"id": "a1", "name": "Team", "include": []}]
    cloudflare.policies = [{"id": "p1", "name": "Policy", "include": []}]
    cloudflare.missing_permissions = {APPS_PERMISSION}

    graph = access.graph().value

    assert graph == AccessGraph(
        (Holder("access_group", "a1", "Team", ()),),
        APPS_PERMISSION,
        apps=(),
        access_groups=(AccessGroupRules("a1", "Team", RuleLists()),),
    )


def test_a_token_refused_for_access_groups_is_a_credentials_failure(
    access: AccessRules, cloudflare: FakeCloudflare
) -> None:
    cloudflare.failure = (403, 10000, "Authentication error")

    with pytest.raises(AuthFailed):
        access.graph()


def test_access_groups_named_before_the_ones_they_name_are_followed_too() -> None:
    graph = AccessGraph(
        (
            access_group("a4", "Deepest", include=[{"group": {"id": "a3"}}]),
            access_group("a3", "Deeper", include=[{"group": {"id": "a2"}}]),
            access_group("a2", "Nested", include=[{"group": {"id": "a1"}}]),
            access_group("a1", "Direct", include=[{"okta": {"name": "Oncall"}}]),
        )
    )

    assert named(uses(graph, GROUP, OKTA)) == [
        ("Deeper", "include", "Nested", False),
        ("Deepest", "include", "Deeper", False),
        ("Direct", "include", "", False),
        ("Nested", "include", "Direct", False),
    ]


def test_what_excludes_the_group_passes_nothing_on_and_an_inference_carries_through() -> None:
    entra = {"azureAD": {"id": GROUP.external_id}}
    graph = AccessGraph(
        (
            access_group("a1", "Entra team", include=[entra]),
            access_group(
                "a2", "Everyone but them", include=[{"everyone": {}}], exclude=[{"group": {"id": "a1"}}]
            ),
            Holder(
                "policy", "p1", "Uses the excluders", refs_of({"include": [{"group": {"id": "a2"}}]}), "allow"
            ),
            Holder("policy", "p2", "Uses the team", refs_of({"require": [{"group": {"id": "a1"}}]}), "allow"),
        )
    )

    assert named(uses(graph, GROUP, OKTA)) == [
        ("Entra team", "include", "", True),
        ("Everyone but them", "exclude", "Entra team", True),
        ("Uses the team", "require", "Entra team", True),
    ]


def test_an_entra_match_stays_inferred_through_every_nested_access_group() -> None:
    graph = AccessGraph(
        (
            access_group("a1", "Entra team", include=[{"azureAD": {"id": GROUP.external_id}}]),
            access_group("a2", "Team of teams", include=[{"group": {"id": "a1"}}]),
            access_group("a3", "Everyone", require=[{"group": {"id": "a2"}}]),
            Holder("policy", "p1", "Uses everyone", refs_of({"include": [{"group": {"id": "a3"}}]}), "allow"),
        )
    )

    assert named(uses(graph, GROUP, OKTA)) == [
        ("Entra team", "include", "", True),
        ("Everyone", "require", "Team of teams", True),
        ("Team of teams", "include", "Entra team", True),
        ("Uses everyone", "include", "Everyone", True),
    ]


def test_a_long_chain_of_access_groups_is_followed_to_its_end_each_through_the_one_it_names() -> None:
    chain = [access_group("g0", "g0", include=[{"okta": {"name": "Oncall"}}])]
    chain += [
        access_group(f"g{n}", f"g{n}", include=[{"group": {"id": f"g{n - 1}"}}]) for n in range(1, 2_000)
    ]
    chain.reverse()  # each named before the one it names: one pass in list order would find one

    found = {use.holder.id: use.via for use in uses(AccessGraph(tuple(chain)), GROUP, OKTA)}

    assert len(found) == 2_000
    assert found["g0"] == ""
    assert all(found[f"g{n}"] == f"g{n - 1}" for n in range(1, 2_000))


def test_an_application_whose_policies_are_not_a_list_holds_none() -> None:
    assert holders_of([], [], [{"id": "app", "name": "A", "policies": None}, {"id": "b", "name": "B"}]) == ()


def test_a_holder_may_carry_ten_thousand_rules_and_no_more() -> None:
    rules = [["include", "okta", "v", "", ""]] * 10_000
    holder = ["policy", "p1", "n", rules, "", "", ""]

    assert len(GRAPH.loads(json.dumps([VERSION, [[holder], "", [], []]])).holders[0].refs) == 10_000
    with pytest.raises(Unusable):
        GRAPH.loads(
            json.dumps([VERSION, [[["policy", "p1", "n", [*rules, rules[0]], "", "", ""]], "", [], []]])
        )


def test_policies_unreadable_alone_still_name_the_permission(
    access: AccessRules, cloudflare: FakeCloudflare
) -> None:
    cloudflare.path_faults["/access/policies"] = [("status", 403, 10000, {})]
    cloudflare.apps = [{"id": "app", "name": "Wiki", "policies": []}]

    assert access.graph().value.missing_permission == APPS_PERMISSION


def test_at_most_twenty_pages_of_a_list_are_read(access: AccessRules, cloudflare: FakeCloudflare) -> None:
    cloudflare.access_groups = [{"id": f"a{n}", "name": "n"} for n in range(21_000)]

    assert len(access.graph().value.holders) == 20_000
