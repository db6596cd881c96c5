"""The verdict as a pure function: each rule type marked against what is known of a person, the
marks combined as Access combines them, and policies taken in the order Access evaluates them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.access_users import Identity, IdentityGroup, Posture
from bot.query import Query, Show
from bot.rules import (
    AccessGraph,
    AccessGroupRules,
    App,
    AppPolicy,
    Rule,
    RuleLists,
    app_of,
    rule_lists_of,
    rule_of,
)
from bot.verdicts import (
    Facts,
    Mark,
    all_of,
    any_of,
    check_rule,
    decide,
    evaluation_order,
    negate,
    offered,
)
from bot.views import Read, Why, render_why
from tests.helpers import check_inert, check_limits

OKTA = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
AZURE = "0f7c2a1e-0000-4000-8000-00000000a2a2"
SEEN = Identity(
    email="jane@example.com",
    idp_id=OKTA,
    idp_type="okta",
    country="DE",
    issued_at=None,
    posture=(Posture("warp-on", "WARP on", True), Posture("disk", "Disk encrypted", False)),
    groups=(IdentityGroup("00gPLATFORM1", "Platform", "platform@example.com"),),
    attributes=(("department", "Engineering"), ("groups", "sre")),
)
JANE = Facts("jane@example.com", SEEN, providers={OKTA.lower(): "Okta", AZURE.lower(): "Azure AD"})
NEVER = Facts("jane@example.com", None, "Access has never seen them log in")


def rule(kind: str, **fields: Any) -> Rule:
    made = rule_of({kind: fields})
    assert made is not None
    return made


def mark(made: Rule, facts: Facts = JANE, groups: dict[str, AccessGroupRules] | None = None) -> Mark:
    return check_rule(made, groups or {}, facts).mark


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (rule("everyone"), "yes"),
        (rule("email", email="JANE@example.com"), "yes"),
        (rule("email", email="jane@example.org"), "no"),
        (rule("email_domain", domain="example.com"), "yes"),
        (rule("email_domain", domain="@example.com"), "yes"),
        (rule("email_domain", domain="ample.com"), "no"),  # a domain, not a suffix of one
        (rule("okta", name="platform", identity_provider_id=OKTA), "yes"),
        (rule("okta", name="Finance", identity_provider_id=OKTA), "no"),
        (rule("okta", name="Platform", identity_provider_id=AZURE), "no"),  # logged in through Okta
        (rule("azureAD", id="00GPLATFORM1"), "yes"),
        (rule("azureAD", id="00gOTHER"), "no"),
        (rule("gsuite", email="Platform@example.com"), "yes"),
        (rule("saml", attribute_name="department", attribute_value="Engineering"), "yes"),
        (rule("saml", attribute_name="department", attribute_value="Sales"), "no"),
        (rule("oidc", claim_name="groups", claim_value="sre"), "yes"),
        (rule("login_method", id=OKTA.upper()), "yes"),
        (rule("login_method", id=AZURE), "no"),
        (rule("geo", country_code="DE"), "yes"),
        (rule("geo", country_code="US"), "no"),
        (rule("device_posture", integration_uid="warp-on"), "yes"),
        (rule("device_posture", integration_uid="disk"), "no"),
        (rule("device_posture", integration_uid="firewall"), "unknown"),  # not reported by the device
        (rule("ip", ip="10.0.0.0/8"), "unknown"),
        (rule("ip_list", id="l1"), "unknown"),
        (rule("email_list", id="l1"), "unknown"),
        (rule("service_token", token_id="t1"), "unknown"),
        (rule("any_valid_service_token"), "unknown"),
        (rule("external_evaluation", evaluate_url="https://x", keys_url="https://y"), "unknown"),
        (rule("user_risk_score", user_risk_score=["high"]), "unknown"),
        (rule("auth_method", auth_method="mfa"), "unknown"),
        (rule("certificate"), "unknown"),
        (rule("common_name", common_name="x"), "unknown"),
        (rule("github-organization", name="acme"), "unknown"),
        (rule("linked_app_token", app_uid="a"), "unknown"),
        (rule("a_rule_from_next_year", x="y"), "unknown"),
    ],
)
def test_each_rule_type_is_marked_against_the_last_seen_identity(made: Rule, expected: Mark) -> None:
    assert mark(made) == expected


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (rule("email", email="jane@example.com"), "yes"),  # the email asked is known whatever Access saw
        (rule("email_domain", domain="example.com"), "yes"),
        (rule("okta", name="Platform"), "unknown"),
        (rule("login_method", id=OKTA), "unknown"),
        (rule("geo", country_code="DE"), "unknown"),
        (rule("device_posture", integration_uid="warp-on"), "unknown"),
    ],
)
def test_without_an_identity_only_the_email_is_known(made: Rule, expected: Mark) -> None:
    checked = check_rule(made, {}, NEVER)

    assert checked.mark == expected
    if expected == "unknown":
        assert checked.why == "not known: Access has never seen them log in"


def test_an_identity_that_records_no_groups_leaves_group_rules_unknown_and_says_why() -> None:
    silent = Facts("jane@example.com", Identity("jane@example.com", OKTA, "okta", "", None, (), None, None))

    checked = check_rule(rule("okta", name="Platform", identity_provider_id=OKTA), {}, silent)

    assert checked.mark == "unknown"
    assert "records no groups" in checked.why
    assert mark(rule("saml", attribute_name="groups", attribute_value="sre"), silent) == "unknown"
    assert mark(rule("geo", country_code="DE"), silent) == "unknown"  # no country seen either


def test_an_access_group_is_checked_through_its_own_rules_to_any_depth_and_a_loop_ends() -> None:
    groups = {
        "outer": AccessGroupRules("outer", "Outer", RuleLists(include=(rule("group", id="inner"),))),
        "inner": AccessGroupRules(
            "inner",
            "Inner",
            RuleLists(include=(rule("okta", name="Platform"),), exclude=(rule("geo", country_code="US"),)),
        ),
        "loop": AccessGroupRules("loop", "Loop", RuleLists(include=(rule("group", id="loop"),))),
    }

    outer = check_rule(rule("group", id="outer"), groups, JANE)

    assert outer.mark == "yes"
    ((where, inner),) = outer.through
    assert (where, inner.mark, [m.mark for _w, m in inner.through]) == ("include", "yes", ["yes", "no"])
    assert mark(rule("group", id="loop"), groups=groups) == "unknown"
    assert (
        check_rule(rule("group", id="gone"), groups, JANE).why
        == "not known: an Access group the bot could not read"
    )


def test_marks_combine_as_three_valued_logic() -> None:
    assert any_of([]) == "no"
    assert any_of(["no", "unknown"]) == "unknown"
    assert any_of(["unknown", "yes"]) == "yes"
    assert all_of([]) == "yes"
    assert all_of(["yes", "unknown"]) == "unknown"
    assert all_of(["unknown", "no"]) == "no"
    assert [negate(m) for m in ("yes", "no", "unknown")] == ["no", "yes", "unknown"]


def policy(name: str, decision: str, precedence: int | None, **lists: list[Rule]) -> AppPolicy:
    return AppPolicy(name, name, decision, precedence, RuleLists(**{k: tuple(v) for k, v in lists.items()}))


def app(*policies: AppPolicy, idps: tuple[str, ...] = ()) -> App:
    return App("app", "Grafana", "self_hosted", "aud", ("grafana.example.com",), idps, policies)


EVERYONE, NOBODY, MAYBE = rule("everyone"), rule("email", email="x@y.z"), rule("ip", ip="10.0.0.0/8")


def test_bypass_and_service_auth_come_first_then_allow_and_block_by_precedence() -> None:
    listed = [
        policy("allow-3", "allow", 3),
        policy("deny-1", "deny", 1),
        policy("bypass-9", "bypass", 9),
        policy("allow-none", "allow", None),
        policy("service-2", "non_identity", 2),
    ]

    assert [p.name for p in evaluation_order(listed)] == [
        "service-2",
        "bypass-9",
        "deny-1",
        "allow-3",
        "allow-none",
    ]


def test_the_first_policy_that_matches_decides() -> None:
    verdict = decide(
        app(
            policy("Allow all", "allow", 2, include=[EVERYONE]),
            policy("Block all", "deny", 1, include=[EVERYONE]),
        ),
        (),
        JANE,
    )

    assert (verdict.outcome, verdict.decided_by and verdict.decided_by.policy.name) == ("denied", "Block all")


def test_no_policy_matching_is_denied_by_default() -> None:
    verdict = decide(app(policy("Only x", "allow", 1, include=[NOBODY])), (), JANE)

    assert (verdict.outcome, verdict.decided_by, verdict.doubts) == ("denied", None, ())


def test_a_bypass_that_matches_lets_in_before_any_block() -> None:
    verdict = decide(
        app(
            policy("Block all", "deny", 1, include=[EVERYONE]),
            policy("Open", "bypass", 5, include=[EVERYONE]),
        ),
        (),
        JANE,
    )

    assert (verdict.outcome, verdict.decided_by and verdict.decided_by.policy.name) == ("allowed", "Open")


def test_an_unknown_block_before_the_allow_that_matches_makes_it_unknown() -> None:
    verdict = decide(
        app(
            policy("Block office", "deny", 1, include=[MAYBE]),
            policy("Allow", "allow", 2, include=[EVERYONE]),
        ),
        (),
        JANE,
    )

    assert verdict.outcome == "unknown"
    assert [p.policy.name for p in verdict.doubts] == ["Block office"]
    assert verdict.decided_by is not None
    assert verdict.decided_by.policy.name == "Allow"


def test_an_unknown_allow_before_the_allow_that_matches_changes_nothing() -> None:
    verdict = decide(
        app(policy("Office", "allow", 1, include=[MAYBE]), policy("Allow", "allow", 2, include=[EVERYONE])),
        (),
        JANE,
    )

    assert (verdict.outcome, verdict.doubts) == ("allowed", ())


def test_an_unknown_allow_with_nothing_else_matching_cannot_be_told() -> None:
    verdict = decide(app(policy("Office", "allow", 1, include=[MAYBE])), (), JANE)

    assert (verdict.outcome, verdict.decided_by) == ("unknown", None)
    assert [rule.rule.kind for rule in verdict.doubts[0].unknowns()] == ["ip"]


def test_include_any_require_all_exclude_none() -> None:
    facts = JANE
    cases = {
        "include any": (policy("p", "allow", 1, include=[NOBODY, EVERYONE]), "allowed"),
        "require all": (policy("p", "allow", 1, include=[EVERYONE], require=[EVERYONE, NOBODY]), "denied"),
        "exclude none": (policy("p", "allow", 1, include=[EVERYONE], exclude=[EVERYONE]), "denied"),
        "no include": (policy("p", "allow", 1, require=[EVERYONE]), "denied"),
    }
    for name, (made, outcome) in cases.items():
        assert decide(app(made), (), facts).outcome == outcome, name


def test_a_gate_denies_whatever_the_policies_say_and_still_checks_them() -> None:
    verdict = decide(app(policy("Allow", "allow", 1, include=[EVERYONE])), (), JANE, gate="deactivated")

    assert (verdict.outcome, verdict.gate, verdict.checks[0].mark) == ("denied", "deactivated", "yes")


def test_an_application_offers_the_provider_it_lists_or_every_one_when_it_lists_none() -> None:
    assert offered(app(), SEEN) == "yes"
    assert offered(app(idps=(OKTA.upper(),)), SEEN) == "yes"
    assert offered(app(idps=(AZURE,)), SEEN) == "no"
    assert offered(app(idps=(AZURE,)), None) == "unknown"


def test_rules_and_applications_are_read_from_what_cloudflare_sends_whatever_it_holds() -> None:
    assert rule_of({"user_risk_score": {"user_risk_score": ["high", "medium"]}}) == Rule(
        "user_risk_score", (("user_risk_score", "high,medium"),)
    )
    assert rule_of({"a": {}, "b": {}}) is None
    assert rule_of({"email": "jane@example.com"}) is None
    assert rule_of({"saml": {"attribute_name": "g", "nested": {"x": 1}}}) == Rule(
        "saml", (("attribute_name", "g"),)
    )
    assert rule_lists_of({"include": "everyone", "require": [{"everyone": {}}, 5]}) == RuleLists(
        (), (rule("everyone"),), ()
    )
    read = app_of(
        {
            "id": "a",
            "name": "Grafana",
            "domain": "grafana.example.com",
            "self_hosted_domains": ["grafana.example.com", "grafana.internal"],
            "allowed_idps": [OKTA, 5],
            "policies": [
                {"id": "p", "name": "P", "decision": "allow", "precedence": True, "include": []},
                "junk",
            ],
        }
    )
    assert read.domains == ("grafana.example.com", "grafana.internal")
    assert read.allowed_idps == (OKTA,)
    assert [(p.name, p.precedence) for p in read.policies] == [("P", None)]


def test_a_policy_listed_without_its_rules_takes_the_reusable_policys_or_is_unknown() -> None:
    reusable = {"p-reused": {"id": "p-reused", "name": "Engineers", "decision": "allow",
                             "include": [{"everyone": {}}], "reusable": True}}  # fmt: skip
    read = app_of(
        {
            "id": "a",
            "name": "Wiki",
            "policies": [{"id": "p-reused", "precedence": 1}, {"id": "p-gone", "precedence": 2}],
        },
        reusable,
    )

    (reused, gone) = read.policies
    assert (reused.name, reused.decision, reused.rules.include, reused.rules_known) == (
        "Engineers",
        "allow",
        (rule("everyone"),),
        True,
    )
    assert (gone.rules_known, gone.precedence) == (False, 2)
    verdict = decide(replace(read, policies=(gone,)), (), JANE)
    assert verdict.outcome == "unknown"
    assert verdict.doubts[0].unknowns()[0].why == "not known: Cloudflare listed this policy without its rules"
    assert app_of({"policies": [{"id": "p", "include": []}]}).policies[0].rules_known is True


# Any application, any rules, any person: the answer stays within Slack's limits and inert.
outside = st.text(st.characters(codec="utf-8"), max_size=400)
KINDS = ["everyone", "email", "email_domain", "group", "okta", "azureAD", "saml", "oidc", "login_method",
         "geo", "device_posture", "ip", "service_token", "external_evaluation", "no_such_kind"]  # fmt: skip
FIELDS = ("email", "domain", "id", "name", "attribute_value", "country_code")
rules = st.builds(
    lambda kind, values: Rule(kind, tuple(zip(FIELDS, values, strict=False))),
    st.sampled_from(KINDS),
    st.lists(outside, max_size=6),
)
lists = st.builds(
    RuleLists,
    st.lists(rules, max_size=30).map(tuple),
    st.lists(rules, max_size=5).map(tuple),
    st.lists(rules, max_size=5).map(tuple),
)
policies = st.builds(
    AppPolicy,
    outside,
    outside,
    st.sampled_from(["allow", "deny", "bypass", "non_identity", "", "maybe"]),
    st.none() | st.integers(-5, 50),
    lists,
    st.booleans(),
)
identities = st.none() | st.builds(
    Identity,
    outside,
    st.sampled_from([OKTA, AZURE, ""]),
    outside,
    outside,
    st.none(),
    st.lists(st.builds(Posture, outside, outside, st.none() | st.booleans()), max_size=5).map(tuple),
    st.none() | st.lists(st.builds(IdentityGroup, outside, outside, outside), max_size=30).map(tuple),
    st.none() | st.lists(st.tuples(outside, outside), max_size=5).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(policies, max_size=40),
    st.lists(st.builds(AccessGroupRules, st.sampled_from(["", "a", "b"]), outside, lists), max_size=3),
    identities,
    outside,
    outside,
)
def test_any_application_and_person_render_within_limits_and_inert(
    listed: list[AppPolicy], groups: list[AccessGroupRules], identity: Identity | None, name: str, email: str
) -> None:
    application = App("app", name, "self_hosted", "aud", (name,), (OKTA, name), tuple(listed))
    verdict = decide(application, groups, Facts(email or "x@y.z", identity, "unknown", {OKTA.lower(): name}))
    found = Why(email, name, Read(AccessGraph((), "", (application,), tuple(groups))), app=application,
                verdict=verdict, identity=Read(identity))  # fmt: skip

    message = render_why(
        found, Show(Query(OKTA, why=(email[:200] or "x", "app")), page=1, page_size=20), name
    )

    check_limits(message)
    check_inert(message)


def test_a_policy_with_a_precedence_comes_before_one_without_whatever_the_listing_order() -> None:
    listed = [policy("no-precedence", "allow", None), policy("fifth", "allow", 5), policy("block", "deny", 9)]

    assert [p.name for p in evaluation_order(listed)] == ["fifth", "block", "no-precedence"]


def test_a_rule_keeps_itself_in_its_mark_whatever_made_it_unknown() -> None:
    silent = Facts("jane@example.com", replace(SEEN, country=""))
    geo = rule("geo", country_code="DE")

    checked = check_rule(geo, {}, silent)

    assert (checked.rule, checked.mark) == (geo, "unknown")


def test_a_google_group_rule_matches_that_groups_email_alone() -> None:
    assert mark(rule("gsuite", email="other@example.com")) == "no"
    assert mark(rule("gsuite", email="PLATFORM@example.com")) == "yes"
