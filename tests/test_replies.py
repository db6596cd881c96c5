"""Every kind of reply the bot gives, word for word, against reviewed snapshots.

The other view tests check properties (limits, escaping, buttons); these pin what the user
reads. A change of wording or layout shows up as a diff of `__snapshots__/test_replies.ambr`:
review it, then accept it with `pytest tests/test_replies.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from bot.access_users import AUDIT_PERMISSION, AccessUser, Identity, IdentityGroup, Login
from bot.answers import parse_command
from bot.cache import Staleness
from bot.cloudflare import (
    ApiMessage,
    AuthFailed,
    BudgetSpent,
    IdentityProvider,
    NotFound,
    PermissionMissing,
    RateLimited,
    Rejected,
    ScimGroup,
    Unavailable,
)
from bot.directory import Held, Listing
from bot.paging import Paged
from bot.providers import ProviderChoice
from bot.pushes import LOGS_PERMISSION, ScimPush
from bot.query import BadInput, Detail, Query, Show
from bot.rules import AccessGraph, AccessGroupRules, App, AppPolicy, Holder, Rule, RuleLists, Use
from bot.users import ScimUser
from bot.verdicts import Facts, decide
from bot.views import (
    ByExternalId,
    Elsewhere,
    Message,
    render_bad_input,
    render_failure,
    render_failures,
    render_help,
    render_history,
    render_internal_error,
    render_listing,
    render_provider_choice,
    render_refusal,
    render_too_slow,
    render_used_by,
    render_users,
    render_why,
)
from bot.views.why import Read, Why
from tests.fakes import PROVIDER_ID
from tests.helpers import check_limits

GROUPS = (
    ScimGroup(
        "8a7c3f0e-4b1d-4e5a-9c2f-1d3e5f7a9b0c",
        "oncall-platform",
        "00g1a2b3c4d5e6f7g8h9",
        last_modified=datetime(2026, 11, 28, 3, 14, tzinfo=UTC),
    ),
    ScimGroup(
        "2b4d6f80-1a3c-4e5f-8a9b-0c1d2e3f4a5b",
        "R&D <eng> *all*",
        "S-1-5-21-3623811015-3361044348-30300820-1013",
        last_modified=datetime(2026, 1, 2, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
    ),
    ScimGroup("c0ffee00-0000-4000-8000-000000000001", "", "", last_modified=None),
    ScimGroup(
        "c0ffee00-0000-4000-8000-000000000002",
        "legacy-admins",
        "cn=admins,ou=groups",
        last_modified=datetime(1969, 7, 20, 20, 17),  # naive, before Unix time
    ),
)
PROVIDERS = (
    IdentityProvider("11111111-1111-4111-8111-111111111111", "Okta", "okta", True),
    IdentityProvider("22222222-2222-4222-8222-222222222222", "Azure AD", "azureAD", True),
    IdentityProvider("33333333-3333-4333-8333-333333333333", 'The "old" <IdP>', "saml", True),
    IdentityProvider("44444444-4444-4444-8444-444444444444", "", "", True),
)


def show(query: Query, page: int = 1, *, shared: bool = False) -> Show:
    return Show(query, page=page, page_size=4, shared=shared)


def page(groups: tuple[ScimGroup, ...], page: int = 1, **changes: Any) -> Listing:
    fields: dict[str, Any] = {
        "items": groups,
        "page": page,
        "page_size": 4,
        "has_next": False,
        "total": len(groups),
        "total_is_lower_bound": False,
        "from_cache": False,
    }
    return Listing(**{**fields, **changes})


BROWSE = Query(PROVIDER_ID)
SEARCH = Query(PROVIDER_ID, search="R&D <eng>")
OKTA_ID = "00g1HxmbubgVjZccWQvM"
OKTA_ID_SEARCH = Query(PROVIDER_ID, search=OKTA_ID)
BY_ID = Query(PROVIDER_ID, ids=("8a7c3f0e-4b1d-4e5a-9c2f-1d3e5f7a9b0c",))
BY_EXTERNAL = Query(PROVIDER_ID, external_ids=("00g1a2b3c4d5e6f7g8h9", "<nobody>"))
BY_EITHER = Query(PROVIDER_ID, either_ids=("00g-unknown",))
MISSING = tuple(f"missing-{n:02}" for n in range(23))
LOST = Unavailable("Cloudflare failed", status=503)

USERS = (
    ScimUser(
        "a0000000-0000-4000-8000-000000000003",
        "00u000003",
        "Jane <Doe> & co",
        "jane@example.com",
        True,
        ("jane@example.com", "jane.doe@example.com", "jd@example.com", "j@example.com"),
        datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 8, 30, tzinfo=UTC),
    ),
    ScimUser(
        "a0000000-0000-4000-8000-000000000004", "00u000004", "", "bob@example.com", False, (), None, None
    ),
    ScimUser("", "", "", "", None, (), None, None),
)
PUSHES = (
    ScimPush(
        datetime(2026, 11, 29, 2, 59, tzinfo=UTC),
        "USER", "PATCH", "FAILURE", "userName <must> be unique & set",
        USERS[0].id, "00u000003", "", "jane@example.com",
    ),
    ScimPush(
        datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        "GROUP", "PUT", "FAILURE", "", GROUPS[1].id, GROUPS[1].external_id, GROUPS[1].display_name, "",
    ),
    ScimPush(None, "", "", "SUCCESS", "", "", "", "", ""),
)  # fmt: skip
FAILURES = Query(PROVIDER_ID, failures=86_400, until=1_764_385_200)
AT = 1_764_385_000.0  # when an answer was fetched
THREE_EMAILS = ScimUser("a0000000-0000-4000-8000-000000000005", "00u5", "Three", "t@x.io", True,
                        ("t@x.io", "t2@x.io", "t3@x.io"), None, None)  # fmt: skip
ODD_PUSHES = (  # a group's push named by its type in lower case, without a name; a long method
    ScimPush(datetime(2026, 11, 29, 0, 30, tzinfo=UTC), "group", "PATCH", "FAILURE", "x", "", "00g9", "", ""),
    ScimPush(
        datetime(2026, 11, 29, 0, 20, tzinfo=UTC), "User", "MERGEPATCH1", "FAILURE", "y", "", "", "", ""
    ),
)
HISTORY = Detail("history", GROUPS[1].id, Show(Query(PROVIDER_ID, search="R&D"), page=2, page_size=4))
USES = (
    Use(Holder("access_group", "a1", "R&D <all>", ()), "include", inferred=True),
    Use(Holder("access_group", "a2", "", ()), "exclude", via="R&D <all>"),
    Use(Holder("policy", "p1", "Prod *admins*", (), "allow"), "require", via="R&D <all>", inferred=True),
    Use(Holder("app_policy", "ap1", "SRE only", (), "deny", "Grafana", "grafana.example.com"), "include"),
    Use(Holder("app_policy", "ap2", "", (), "", "", ""), "include"),
)
USER_QUERY = Query(PROVIDER_ID, users=("jane@example.com", "bob@example.com", "ghost@example.com"))


def paged(items: tuple[Any, ...], page: int = 1, **changes: Any) -> Paged[Any]:
    fields: dict[str, Any] = {
        "items": items,
        "page": page,
        "page_size": 4,
        "has_next": False,
        "total": len(items),
        "total_is_lower_bound": False,
        "from_cache": False,
    }
    return Paged(**{**fields, **changes})


REPLIES: dict[str, Callable[[], Message]] = {
    "help": render_help,
    "bad input: unknown option": lambda: _bad("colour:red"),
    "bad input: two providers": lambda: _bad("idp:Okta idp:Google ops"),
    "bad input: option without a value": lambda: _bad('external:""'),
    "bad input: not an id": lambda: _bad("id:not-a-uuid"),
    "bad input: empty reason": lambda: render_bad_input(BadInput("  ")),
    "failure: unavailable": lambda: render_failure(
        Unavailable("Cloudflare failed", status=502, errors=(ApiMessage(10001, "x"),))
    ),
    "failure: unreachable": lambda: render_failure(Unavailable("Cloudflare unreachable")),
    "failure: rate limited": lambda: render_failure(RateLimited("429", status=429, retry_after=125)),
    "failure: rate limited, no wait": lambda: render_failure(RateLimited("429", status=429)),
    "failure: budget spent": lambda: render_failure(BudgetSpent("budget", retry_after=30)),
    "failure: budget spent, no wait": lambda: render_failure(BudgetSpent("budget")),
    "failure: credentials": lambda: render_failure(
        AuthFailed("refused", status=403, errors=(ApiMessage(10000, "Authentication error"),))
    ),
    "failure: not found": lambda: render_failure(
        NotFound("unknown", status=404, errors=(ApiMessage(7003, "No route"), ApiMessage(7000, "")))
    ),
    "failure: rejected": lambda: render_failure(
        Rejected("bad", status=400, errors=(ApiMessage(None, "page <b> & more"), ApiMessage(9, "")))
    ),
    "failure: rejected, no words": lambda: render_failure(Rejected("bad", status=400)),
    "too slow": lambda: render_too_slow(2.5),
    "refusal: team": lambda: render_refusal("team"),
    "refusal: channel": lambda: render_refusal("channel"),
    "refusal: user": lambda: render_refusal("user"),
    "internal error": render_internal_error,
    "providers: several": lambda: render_provider_choice(
        ProviderChoice("several", None, PROVIDERS), show(Query(None, search="ops"))
    ),
    "providers: none": lambda: render_provider_choice(ProviderChoice("none", None, ()), show(BROWSE)),
    "providers: unknown": lambda: render_provider_choice(
        ProviderChoice("unknown", "<Google>", PROVIDERS[:2]), show(Query("<Google>"))
    ),
    "providers: ambiguous": lambda: render_provider_choice(
        ProviderChoice("ambiguous", "a", PROVIDERS[:2]), show(Query("a"))
    ),
    "providers: not SCIM": lambda: render_provider_choice(
        ProviderChoice("not_scim", "Okta", PROVIDERS[1:2]), show(Query("Okta"))
    ),
    "providers: more than ten": lambda: render_provider_choice(
        ProviderChoice(
            "several",
            None,
            tuple(
                IdentityProvider(f"{n:08}-1111-4111-8111-111111111111", f"idp-{n}", "okta", True)
                for n in range(12)
            ),
        ),
        show(BROWSE),
    ),
    "browse: first of three pages": lambda: render_listing(
        page(GROUPS, has_next=True, total=9), show(BROWSE), "Okta"
    ),
    "browse: middle page, shared": lambda: render_listing(
        page(GROUPS[:2], 2, has_next=True, total=9),
        show(BROWSE, 2, shared=True),
        "Okta",
        shared_by="U012AB3CD",
    ),
    "browse: last page, shared by a forged user": lambda: render_listing(
        page(GROUPS[:1], 3, total=9), show(BROWSE, 3, shared=True), "Okta", shared_by="<!channel>"
    ),
    "browse: total unknown": lambda: render_listing(
        page(GROUPS[:1], has_next=True, total=None), show(BROWSE), "Okta"
    ),
    "browse: past the last page": lambda: render_listing(page((), 5, total=9), show(BROWSE, 5), "Okta"),
    "browse: page past an unknown end": lambda: render_listing(
        page((), 5, total=None), show(BROWSE, 5), "Okta"
    ),
    "browse: nothing synced": lambda: render_listing(page(()), show(BROWSE), "Okta & <friends>"),
    "browse: stale, Cloudflare down": lambda: render_listing(
        page(GROUPS[:1], stale=Staleness(95, LOST)), show(BROWSE), "Okta"
    ),
    "browse: stale, unreachable": lambda: render_listing(
        page(GROUPS[:1], stale=Staleness(1.2, Unavailable("unreachable"))), show(BROWSE), "Okta"
    ),
    "browse: stale, rate limited": lambda: render_listing(
        page(GROUPS[:1], stale=Staleness(7200, RateLimited("429"))), show(BROWSE), "Okta"
    ),
    "browse: stale, budget spent": lambda: render_listing(
        page(GROUPS[:1], stale=Staleness(60, BudgetSpent("budget"))), show(BROWSE), "Okta"
    ),
    "browse: refreshed too soon": lambda: render_listing(
        page(GROUPS[:1]), show(BROWSE), "Okta", refresh_wait=0.4
    ),
    "search: one match": lambda: render_listing(page(GROUPS[1:2]), show(SEARCH), "Azure AD"),
    "search: lower bound, walk cut short": lambda: render_listing(
        page(GROUPS, has_next=True, total=40, total_is_lower_bound=True),
        show(SEARCH),
        "Okta",
        searched=25_000,
    ),
    "search: nothing found": lambda: render_listing(page(()), show(SEARCH), "Okta"),
    "id: found": lambda: render_listing(page(GROUPS[:1]), show(BY_ID), "Okta"),
    "id: nothing found": lambda: render_listing(page(()), show(BY_ID), "Okta"),
    "external: one of two found": lambda: render_listing(
        page(GROUPS[:1]), show(BY_EXTERNAL), "Okta", missing=("<nobody>",)
    ),
    "external: nothing found": lambda: render_listing(page(()), show(BY_EXTERNAL), "Okta"),
    "external: nothing found, but in two other providers": lambda: render_listing(
        page(()),
        show(BY_EXTERNAL),
        "Okta",
        missing=("<nobody>",),
        elsewhere=(Elsewhere(PROVIDERS[1], 1), Elsewhere(replace(PROVIDERS[0], name=""), 2)),
    ),
    "either: nothing found": lambda: render_listing(page(()), show(BY_EITHER), "Okta"),
    "either: many missing": lambda: render_listing(
        page(GROUPS[:1], total=1), show(Query(PROVIDER_ID, either_ids=MISSING)), "Okta", missing=MISSING
    ),
    "users: found, with pushes, one missing": lambda: render_users(
        paged(USERS),
        show(USER_QUERY),
        "Okta",
        missing=("ghost@example.com",),
        pushes=(PUSHES[:1], (), PUSHES[2:]),
        log_problem=None,
    ),
    "users: none here, one in another provider; a mention Slack could not read": lambda: render_users(
        paged(()),
        show(USER_QUERY),
        "Okta",
        missing=("ghost@example.com",),
        pushes=(),
        log_problem=None,
        unresolved=(("U0123ABC", "Slack knows no such person in this workspace."),),
        elsewhere=(Elsewhere(PROVIDERS[1], 1),),
    ),
    "users: nobody by that name, the list cut short": lambda: render_users(
        paged(()),
        show(USER_QUERY),
        "Okta",
        missing=(),
        pushes=(),
        log_problem=None,
        named="Grace *H*",
        searched=25_000,
    ),
    "users: without the logs permission": lambda: render_users(
        paged(USERS[:1]),
        show(USER_QUERY),
        "Okta",
        missing=(),
        pushes=(),
        log_problem=PermissionMissing(LOGS_PERMISSION, status=403),
    ),
    "users: none found": lambda: render_users(
        paged(()), show(USER_QUERY), "Okta", missing=USER_QUERY.users, pushes=(), log_problem=None
    ),
    "users: stale, refreshed too soon, shared, fewer push lists than users": lambda: render_users(
        paged((*USERS[:2], THREE_EMAILS), stale=Staleness(130, LOST), fetched_at=AT),
        show(USER_QUERY, shared=True),
        "Okta",
        missing=(),
        pushes=(PUSHES[:1],),
        log_problem=None,
        shared_by="U0ALICE",
        refresh_wait=9.0,
    ),
    "failures: stale, refreshed too soon, shared, aging, odd pushes": lambda: render_failures(
        paged((*PUSHES, *ODD_PUSHES), stale=Staleness(30, LOST), fetched_at=AT, aging=True),
        show(FAILURES, shared=True),
        "Okta",
        shared_by="U0ALICE",
        refresh_wait=5.0,
    ),
    "failures: none, as of": lambda: render_failures(paged((), fetched_at=AT), show(FAILURES), "Okta"),
    "history: twenty pushes, the newest": lambda: render_history(
        GROUPS[0], HISTORY, "Okta", pushes=PUSHES[1:2] * 20, problem=None
    ),
    "used by: stale": lambda: render_used_by(
        GROUPS[0],
        replace(HISTORY, kind="used_by"),
        "Okta",
        uses=USES[:1],
        missing_permission="",
        problem=None,
        stale=Staleness(400, LOST),
    ),
    "used by: an aging graph, as of": lambda: render_used_by(
        GROUPS[0],
        replace(HISTORY, kind="used_by"),
        "Okta",
        uses=USES[:1],
        missing_permission="",
        problem=None,
        fetched_at=AT,
        aging=True,
    ),
    "history: an older copy while the log fails": lambda: render_history(
        GROUPS[0],
        HISTORY,
        "Okta",
        pushes=PUSHES[1:2],
        problem=None,
        stale=Staleness(200, LOST),
        fetched_at=AT,
    ),
    "user: pushes from an older copy while the log fails": lambda: render_users(
        paged(USERS[:1], fetched_at=AT),
        show(USER_QUERY),
        "Okta",
        missing=(),
        pushes=(PUSHES[:1],),
        log_problem=None,
        pushes_stale=Staleness(95, LOST),
    ),
    "search: a copy of a directory read whole only now and then, without the log": lambda: render_listing(
        page(GROUPS[:1], fetched_at=AT, aging=True), show(SEARCH), "Okta", held=Held(400, 130)
    ),
    "search: nothing in the first 25,000": lambda: render_listing(
        page(()), show(SEARCH), "Okta", searched=25_000
    ),
    "search: an id-shaped word, one group with it as its External ID": lambda: render_listing(
        page(GROUPS[:2]), show(OKTA_ID_SEARCH), "Okta", by_id=ByExternalId(OKTA_ID, found=1, names=1)
    ),
    "search: nothing found, three names close to it": lambda: render_listing(
        page(()), show(SEARCH), "Okta", close=("R&D <Labs>", "Eng *all*", "x" * 201)
    ),
    "search: an id-shaped word, found neither way": lambda: render_listing(
        page(()), show(OKTA_ID_SEARCH), "Okta", by_id=ByExternalId(OKTA_ID)
    ),
    "search: an id-shaped word that could not be looked up as an External ID": lambda: render_listing(
        page(GROUPS[1:2]),
        show(OKTA_ID_SEARCH),
        "Okta",
        by_id=ByExternalId(OKTA_ID, problem=Unavailable("down", status=503)),
    ),
    "failure: rejected, a message one character too long": lambda: render_failure(
        Rejected("bad", status=400, errors=(ApiMessage(7, "x" * 201),))
    ),
    "failures: a page": lambda: render_failures(
        paged(PUSHES, has_next=True, total=40), show(FAILURES), "Okta"
    ),
    "failures: none": lambda: render_failures(paged(()), show(FAILURES), "Okta"),
    "failures: past the last": lambda: render_failures(paged((), 3, total=None), show(FAILURES, 3), "Okta"),
    "failure: permission missing": lambda: render_failure(PermissionMissing(LOGS_PERMISSION, status=403)),
    "history: pushes, newest first": lambda: render_history(
        GROUPS[1], HISTORY, "Okta", pushes=PUSHES[1:], problem=None
    ),
    "history: none": lambda: render_history(GROUPS[0], HISTORY, "Okta", pushes=(), problem=None),
    "history: group unknown, log unreadable": lambda: render_history(
        None, HISTORY, "Okta", pushes=(), problem=PermissionMissing(LOGS_PERMISSION, status=403)
    ),
    "used by: everywhere, one inferred": lambda: render_used_by(
        GROUPS[1],
        replace(HISTORY, kind="used_by"),
        "Entra",
        uses=USES,
        missing_permission="",
        problem=None,
    ),
    "used by: nowhere, policies unreadable": lambda: render_used_by(
        GROUPS[0],
        replace(HISTORY, kind="used_by"),
        "Okta",
        uses=(),
        missing_permission="Access: Apps and Policies Read",
        problem=None,
    ),
    "used by: the group is gone": lambda: render_used_by(
        None, replace(HISTORY, kind="used_by"), "Okta", uses=(), missing_permission="", problem=None
    ),
    "used by: Cloudflare failed": lambda: render_used_by(
        GROUPS[0], replace(HISTORY, kind="used_by"), "Okta", uses=(), missing_permission="", problem=LOST
    ),
    "changed: a page": lambda: render_listing(
        page(GROUPS[:2]), show(Query(PROVIDER_ID, changed=3 * 86_400, until=1_764_385_200)), "Okta"
    ),
    "changed: none": lambda: render_listing(
        page(()), show(Query(PROVIDER_ID, changed=1_800, until=1_764_385_200)), "Okta"
    ),
    "browse: an empty page shared by an id the footer drops": lambda: render_listing(
        page(()), show(BROWSE, shared=True), "Okta", shared_by="<!channel>"
    ),
    "id: many missing, none found": lambda: render_listing(
        page(()), show(Query(PROVIDER_ID, ids=MISSING)), "Okta", missing=MISSING
    ),
}

OKTA_ID = PROVIDERS[0].id
PLATFORM = Rule("okta", (("name", "Platform <eng> *all*"), ("identity_provider_id", OKTA_ID)))
SRE = AccessGroupRules("ag1", "SRE on call", RuleLists(include=(PLATFORM,)))
GRAFANA = App(
    "6c1f9a52-7d0e-4b8a-9f3e-2a1b0c9d8e7f",
    "Grafana",
    "self_hosted",
    "aud",
    ("grafana.example.com",),
    (OKTA_ID,),
    (
        AppPolicy(
            "p1", "Office only", "bypass", 1, RuleLists(include=(Rule("ip", (("ip", "10.0.0.0/8"),)),))
        ),
        AppPolicy(
            "p2",
            "Contractors",
            "deny",
            1,
            RuleLists(include=(Rule("email_domain", (("domain", "contractor.example.com"),)),)),
        ),
        AppPolicy(
            "p3",
            "Platform engineers",
            "allow",
            2,
            RuleLists(
                include=(Rule("group", (("id", "ag1"),)),),
                require=(Rule("login_method", (("id", OKTA_ID),)),),
            ),
        ),
    ),
)
WHY_GRAPH = AccessGraph((), "", (GRAFANA,), (SRE,))
AT_DATE = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
SEEN = Identity("jane@example.com", OKTA_ID, "okta", "DE", AT_DATE, (),
                (IdentityGroup("00g1", "Platform <eng> *all*", ""),), None)  # fmt: skip
JANE_ACCESS = AccessUser("b1", "jane@example.com", "Jane", True, False, AT_DATE)
LOGINS = (
    Login(AT_DATE, True, GRAFANA.id, "grafana.example.com", "okta", "", "8c1a2b3c4d5e6f70"),
    Login(AT_DATE - timedelta(days=1), False, GRAFANA.id, "grafana.example.com", "okta", "DE", ""),
)
WHY_QUERY = Query(OKTA_ID, why=("jane@example.com", "grafana"))


def why(identity: Identity | None, access_user: AccessUser | None = JANE_ACCESS, **changes: Any) -> Message:
    facts = Facts(
        "jane@example.com", identity, "Access has never seen them log in", {OKTA_ID.lower(): "Okta"}
    )
    found = Why(
        "jane@example.com",
        "grafana",
        Read(WHY_GRAPH, fetched_at=AT),
        app=GRAFANA,
        verdict=decide(GRAFANA, (SRE,), facts, gate=changes.pop("gate", "")),
        providers=PROVIDERS,
        scim=Read(USERS[0]),
        registered=Read(access_user),
        identity=Read(identity),
        logins=Read(LOGINS),
        app_logins=LOGINS,
        pushes=Read(()),
        group_failures=Read(PUSHES[:1]),
    )
    return render_why(replace(found, **changes), show(WHY_QUERY), "Okta")


REPLIES |= {
    "why: allowed, an unknown Bypass before it changing nothing": lambda: why(SEEN),
    "why: denied by default, in no group a policy names": lambda: why(replace(SEEN, groups=())),
    "why: can't tell, never logged in": lambda: why(None, None, logins=Read(()), app_logins=()),
    "why: the audit permission missing": lambda: why(
        None,
        None,
        registered=Read(None, PermissionMissing(AUDIT_PERMISSION, status=403)),
        logins=Read(None, PermissionMissing(AUDIT_PERMISSION, status=403)),
        app_logins=(),
    ),
    "why: denied, a provider the application does not offer": lambda: why(
        replace(SEEN, idp_id="22222222-2222-4222-8222-222222222222"),
        gate="they last logged in through Azure AD, which this application does not offer",
    ),
    "why: several applications to choose from": lambda: render_why(
        Why(
            "jane@example.com",
            "graf",
            Read(WHY_GRAPH),
            choices=(GRAFANA, replace(GRAFANA, id="a2", name="Grafana <staging>")),
        ),
        show(WHY_QUERY),
        "Okta",
    ),
    "why: no such application": lambda: render_why(
        Why("jane@example.com", "kibana", Read(WHY_GRAPH)), show(WHY_QUERY), "Okta"
    ),
    "why: no application given": lambda: _bad("why jane@example.com"),
}


def _bad(text: str) -> Message:
    parsed = parse_command(text, page_size=4)
    assert isinstance(parsed, BadInput), f"{text!r} should not parse, but gave {parsed}"
    return render_bad_input(parsed)


@pytest.mark.parametrize("name", REPLIES)
def test_reply_reads_as_reviewed(name: str, snapshot: SnapshotAssertion) -> None:
    assert REPLIES[name]() == snapshot


@pytest.mark.parametrize("name", REPLIES)
def test_every_reply_is_within_slacks_limits(name: str) -> None:
    check_limits(REPLIES[name]())
