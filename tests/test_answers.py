"""Every kind of answer, asked directly through the service's registry (no HTTP: what crosses the
front is tested in the scenario tests), against the mechanisms every kind relies on.

Each mechanism is tested through every kind, so a kind that forgets one fails here, and says
which: a copy shown while Cloudflare fails says so; outside text stays inert; a second identity
provider with the same ids and names is never answered from the first one's data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.access import Caller
from bot.answers import ANSWERS, DETAILS
from bot.app import build_service
from bot.pushes import LOGS_PERMISSION
from bot.service import GroupsService
from bot.settings import load_settings
from bot.views import render_internal_error
from tests.conftest import TEST_CLOUDFLARE_TIMEOUT, FakeClock
from tests.fake_access import group_rule, make_access_group, make_app, make_policy, make_update, make_user
from tests.fakes import (
    PROVIDER_ID,
    FakeCloudflare,
    FakeSlack,
    environment,
    make_group,
    texts,
)
from tests.helpers import check_inert, check_limits

OTHER = "0f7c2a1e-0000-4000-8000-00000000b0b0"  # a second provider, holding the same ids and names
NOW = datetime(2026, 1, 1, 0, 16, 40, tzinfo=UTC)  # the fake clock's wall time at the start
HOSTILE = "*bold* _it_ ~x~ `code` <!channel> <https://evil.example|ok> :tada: \u202eevil\u200b\n#eng"
Ask = Callable[[GroupsService, str], dict[str, Any]]


def words(message: dict[str, Any]) -> str:
    return "\n".join(texts(message))


def button(message: dict[str, Any], action: str) -> dict[str, Any]:
    return next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == f"scim_groups_{action}"
    )


def detail(action: str) -> Ask:
    """Ask for the first group's detail, from the browse page of `provider`."""

    def ask(service: GroupsService, provider: str) -> dict[str, Any]:
        page = service.answer_command(f"idp:{provider}")
        clicked = button(page, action)
        return service.answer_click(clicked["action_id"], clicked["value"]).message

    return ask


def command(text: str) -> Ask:
    def ask(service: GroupsService, provider: str) -> dict[str, Any]:
        return service.answer_command(f"idp:{provider} {text}")

    return ask


# How to ask each kind of answer, and a word its answer holds only when it read the data of the
# provider asked (each provider's data differs in that one thing).
@dataclass(frozen=True)
class Case:
    ask: Ask
    marks: Callable[[str], str]  # the word in provider `p`'s answer


DAYS = {PROVIDER_ID: 1, OTHER: 2}  # how long ago each provider's groups changed


def changed_on(provider_id: str) -> str:
    return f"{(NOW - timedelta(days=DAYS[provider_id])):%Y-%m-%d} 00:16 UTC"


def reason(provider_id: str) -> str:
    return f"reason-{provider_id[:4]}"


CASES: dict[str, Case] = {
    "browse": Case(command(""), changed_on),
    "search": Case(command("team"), changed_on),
    "id": Case(command(f"id:{make_group(1)['id']}"), changed_on),
    "external": Case(command("ext:shared-ext"), changed_on),
    "any": Case(command(make_group(1)["id"]), changed_on),
    "user": Case(command("user:pat@example.com"), reason),
    "failures": Case(command("failures"), reason),
    "changed": Case(command("changed:7d"), changed_on),
    "why": Case(command("why pat@example.com app"), reason),
    "history": Case(detail("history"), reason),
    "used_by": Case(detail("used_by"), lambda p: f"policy-{p[:4]}"),
}


def test_every_kind_of_answer_has_its_case() -> None:
    assert set(CASES) == set(ANSWERS) | set(DETAILS)


def fill(cloudflare: FakeCloudflare, *, name: str = "team {n}") -> None:
    """Give both providers two groups and a user with the same ids, names and email, differing
    only in when the groups changed and in their pushes' reasons; the Access rules name each
    provider's first group in a policy of its own."""
    cloudflare.groups.clear()
    cloudflare.providers.clear()
    cloudflare.updates.clear()
    cloudflare.policies.clear()
    for provider_id, title in ((PROVIDER_ID, "Okta"), (OTHER, "Other")):
        changed = (NOW - timedelta(days=DAYS[provider_id])).isoformat()
        groups = [make_group(n, name.format(n=n)) for n in (1, 2)]
        groups[0]["externalId"] = "shared-ext"
        for group in groups:
            group["meta"] = {**group["meta"], "lastModified": changed}
        cloudflare.add_provider(provider_id, title, groups)
        user = make_user(7, email="pat@example.com")
        cloudflare.users[provider_id] = [user]
        why = reason(provider_id)
        cloudflare.updates += [
            make_update(provider_id, NOW - timedelta(hours=1), group=groups[0], status="FAILURE", error=why),
            make_update(provider_id, NOW - timedelta(hours=2), user=user, status="FAILURE", error=why),
        ]
        cloudflare.policies.append(
            make_policy(f"p-{provider_id}", f"policy-{provider_id[:4]}", "allow",
                        include=[group_rule("okta", provider_id, name.format(n=1))])
        )  # fmt: skip
    cloudflare.access_groups = [make_access_group("a1", "Nobody", include=[{"everyone": {}}])]
    everyone = make_policy("p-wiki", "Everyone", "allow", precedence=1, include=[{"everyone": {}}])
    cloudflare.apps = [make_app("app", "Wiki", "wiki.example.com", [everyone], idps=[])]


@pytest.fixture
def service(cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock) -> GroupsService:
    fill(cloudflare)
    env = environment(cloudflare, slack)
    env.pop("CLOUDFLARE_IDENTITY_PROVIDER_ID")
    return build_service(load_settings(env), clock=clock, timeout=TEST_CLOUDFLARE_TIMEOUT)


@pytest.mark.parametrize("kind", CASES)
def test_every_kind_answers_from_the_provider_asked_and_no_other(service: GroupsService, kind: str) -> None:
    case = CASES[kind]
    first = words(case.ask(service, "Okta"))  # cached under the first provider

    second = words(case.ask(service, "Other"))

    assert case.marks(PROVIDER_ID) in first, f"{kind}: the first provider's answer lacks its own data"
    assert case.marks(OTHER) in second, f"{kind}: the second provider was answered without its data"
    assert case.marks(PROVIDER_ID) not in second, f"{kind}: the second provider was shown the first one's"


@pytest.mark.parametrize("kind", CASES)
def test_every_kind_says_its_copy_is_old_once_cloudflare_fails(
    service: GroupsService, cloudflare: FakeCloudflare, clock: FakeClock, kind: str
) -> None:
    case = CASES[kind]
    fresh = words(case.ask(service, "Okta"))
    clock.advance(120)  # past every TTL (60 s for groups, 30 s for the log)
    cloudflare.failure = (503, 1000, "down")

    old = case.ask(service, "Okta")

    assert "This is a copy" not in fresh
    assert "⚠️ This is a copy from 2 minutes ago: Cloudflare is not answering properly (HTTP 503)" in words(
        old
    ), f"{kind}: an old copy shown while Cloudflare fails, without saying so"
    assert case.marks(PROVIDER_ID) in words(old), f"{kind}: the copy lost what it held"


@pytest.mark.parametrize("kind", CASES)
def test_every_kind_shows_outside_text_inert(
    service: GroupsService, cloudflare: FakeCloudflare, kind: str
) -> None:
    fill(cloudflare, name=HOSTILE + " {n}")
    for user in cloudflare.users.values():
        user[0]["displayName"] = HOSTILE
    for row in cloudflare.updates:
        row["error_description"] += HOSTILE
    for policy in cloudflare.policies:
        policy["name"] += HOSTILE
    app_policy = make_policy("ap", HOSTILE, "allow", precedence=1, include=cloudflare.policies[0]["include"])
    cloudflare.apps = [make_app("app", HOSTILE, f"{HOSTILE}.example.com", [app_policy], idps=[PROVIDER_ID])]
    ask = CASES[kind].ask if kind != "search" else command(json.dumps("*bold*"))

    message = ask(service, "Okta")

    check_limits(message)
    check_inert(message)
    assert "\\u202e" in words(message), f"{kind}: an invisible character was not made visible"


# Limits, windows and lifetimes, tested past their edges: a unit slip or a dropped argument
# moves an edge, and only data on both sides of it shows that.


def pushes_shown(message: dict[str, Any]) -> list[str]:
    return [line for line in words(message).split("\n") if line.startswith("• ")]


def test_history_shows_the_newest_twenty_pushes_of_seven_days(
    service: GroupsService, cloudflare: FakeCloudflare
) -> None:
    group = cloudflare.groups[PROVIDER_ID][0]
    ages = [timedelta(hours=hours) for hours in range(1, 20)] + [timedelta(days=d) for d in (6.5, 6.8, 7.2)]
    cloudflare.updates = [
        make_update(PROVIDER_ID, NOW - age, group=group, error=f"age {age}") for age in ages
    ]

    shown = pushes_shown(detail("history")(service, "Okta"))
    (asked,) = [query for path, query in cloudflare.calls if path.endswith("/logs/scim/updates")]

    assert (asked["since"], asked["until"]) == (["2025-12-25T00:17:00Z"], ["2026-01-01T00:17:00Z"]), (
        "History asks for exactly the seven days before the next whole minute"
    )
    assert len(shown) == 20, "History shows the newest twenty pushes"
    assert f"{NOW - timedelta(days=6.5):%Y-%m-%d %H:%M} UTC" in shown[-1], (
        "a push of 6.5 days ago is in the window"
    )
    assert not any(f"{NOW - timedelta(days=6.8):%Y-%m-%d %H:%M}" in line for line in shown), "the 21st is not"


def test_failures_cover_the_last_24_hours_by_default(
    service: GroupsService, cloudflare: FakeCloudflare
) -> None:
    group = cloudflare.groups[PROVIDER_ID][0]
    cloudflare.updates = [
        make_update(
            PROVIDER_ID, NOW - timedelta(hours=hours), group=group, status="FAILURE", error=f"{hours} h"
        )
        for hours in (23.5, 24.5)
    ]

    answer = words(command("failures")(service, "Okta"))

    assert "failed: 23.5 h" in answer
    assert "24.5 h" not in answer


def test_a_new_failure_shows_once_the_logs_thirty_seconds_are_up(
    service: GroupsService, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    group = cloudflare.groups[PROVIDER_ID][0]
    command("failures")(service, "Okta")
    cloudflare.updates.append(
        make_update(PROVIDER_ID, NOW - timedelta(seconds=5), group=group, status="FAILURE", error="brand new")
    )

    clock.advance(29)
    within = words(command("failures")(service, "Okta"))
    clock.advance(2)
    after = words(command("failures")(service, "Okta"))

    assert "brand new" not in within, "the log's answers are kept thirty seconds"
    assert "brand new" in after, "and no longer: a new failure is not hidden for a whole TTL"


def test_refresh_works_again_after_its_wait_however_long_the_idle(
    service: GroupsService, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    page = service.answer_command("idp:Okta")
    refresh = button(page, "refresh")
    service.answer_click(refresh["action_id"], refresh["value"], asked_at=clock())
    calls = len(cloudflare.calls)

    clock.advance(3_600)  # an hour without a click
    again = service.answer_click(refresh["action_id"], refresh["value"])

    assert "Refresh again in" not in words(again.message)
    assert len(cloudflare.calls) > calls, "the refresh asked Cloudflare again"


def test_failures_page_through_more_than_a_page_holds_newest_first(
    service: GroupsService, cloudflare: FakeCloudflare
) -> None:
    group = cloudflare.groups[PROVIDER_ID][0]
    cloudflare.updates = [
        make_update(
            PROVIDER_ID, NOW - timedelta(minutes=m), group=group, status="FAILURE", error=f"minute {m}"
        )
        for m in range(1, 26)
    ]
    pages = [command("failures")(service, "Okta")]
    for _ in range(2):
        clicked = button(pages[-1], "next")
        pages.append(service.answer_click(clicked["action_id"], clicked["value"]).message)

    shown = [
        [line.rsplit("failed: ", 1)[1] for line in words(page).split("\n") if "failed: " in line]
        for page in pages
    ]

    assert shown == [[f"minute {m}" for m in range(1, 26)][start : start + 10] for start in (0, 10, 20)]
    assert "scim_groups_next" not in json.dumps(pages[-1]), "the last page has no Next"


# What every kind passes on: the audit line's outcome, when its copy was fetched, a share, a
# Refresh, and a Refresh pressed too soon. Each is a flag or a field a kind could drop.

PAGES = [kind for kind in CASES if kind in ANSWERS]


def audited(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        fields
        for record in caplog.records
        if (fields := getattr(record, "fields", {})).get("event") in ("command", "click")
    ]


@pytest.mark.parametrize("kind", CASES)
def test_every_kind_is_audited_with_what_it_showed_and_when_it_was_fetched(
    service: GroupsService,
    cloudflare: FakeCloudflare,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    fresh = CASES[kind].ask(service, "Okta")
    shown = audited(caplog)[-1]
    clock.advance(120)
    cloudflare.failure = (503, 1000, "down")
    CASES[kind].ask(service, "Okta")
    old = audited(caplog)[-1]

    assert (shown["query"], shown["outcome"]) == (kind if kind in DETAILS else ANSWERS_KIND[kind], "ok")
    assert shown["results"] >= 1, f"{kind}: the audit line counts nothing shown"
    assert shown["provider"] == PROVIDER_ID
    assert old["outcome"] == "stale", f"{kind}: an old copy shown is audited as {old['outcome']}"
    if kind in ANSWERS:  # a page says where it came from; a detail has no cache field
        assert (shown["cache"], old["cache"]) == ("miss", "stale"), (
            f"{kind}: {shown['cache']}, {old['cache']}"
        )
    assert f"<!date^{int(NOW.timestamp())}^" in json.dumps(fresh), f"{kind}: it does not say when it was read"


ANSWERS_KIND = {"browse": "browse", "search": "search", "id": "id", "external": "external", "any": "any",
                "user": "user", "failures": "failures", "changed": "changed", "why": "why"}  # fmt: skip


@pytest.mark.parametrize("kind", CASES)
def test_every_kind_is_audited_as_failed_when_cloudflare_cannot_answer_it(
    service: GroupsService, cloudflare: FakeCloudflare, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    if kind in DETAILS:
        page = service.answer_command("idp:Okta")  # the page the detail is opened from
        clicked = button(page, kind)
        cloudflare.failure = (503, 1000, "down")
        message = service.answer_click(clicked["action_id"], clicked["value"]).message
    else:  # named by its id: the answer needs no provider list, which fails too
        cloudflare.failure = (503, 1000, "down")
        message = CASES[kind].ask(service, PROVIDER_ID)

    line = audited(caplog)[-1]
    assert line["outcome"] == "failed_Unavailable", f"{kind}: a failure is audited as {line['outcome']}"
    assert line.get("action", kind if kind in DETAILS else None) == (kind if kind in DETAILS else None)
    warned = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "cloudflare_failed"]
    assert warned, f"{kind}: the failure was not logged"
    assert warned[-1].levelno == logging.WARNING
    assert "Cloudflare is not answering properly" in words(message)


@pytest.mark.parametrize("kind", PAGES)
def test_every_page_kind_shares_refreshes_and_says_when_refresh_was_pressed_too_soon(
    service: GroupsService, cloudflare: FakeCloudflare, kind: str
) -> None:
    page = CASES[kind].ask(service, "Okta")
    asked = {path for path, _ in cloudflare.calls if not path.endswith("/identity_providers")}

    share = button(page, "share")
    shared = service.answer_click(share["action_id"], share["value"], CALLER)
    refresh = button(page, "refresh")
    before = len(cloudflare.calls)
    refreshed = service.answer_click(refresh["action_id"], refresh["value"], CALLER)
    again = {path for path, _ in cloudflare.calls[before:]}
    too_soon = service.answer_click(refresh["action_id"], refresh["value"], CALLER)

    assert shared.in_channel, f"{kind}: Share did not post to the channel"
    assert "shared by <@U0ALICE>" in words(shared.message), (
        f"{kind}: a shared page does not say who shared it"
    )
    assert asked <= again, f"{kind}: Refresh did not ask Cloudflare again for {sorted(asked - again)}"
    assert "refresh again in" not in words(refreshed.message)
    assert "refresh again in 15 seconds." in words(too_soon.message), (
        f"{kind}: a Refresh too soon is not said"
    )


CALLER = Caller(user_id="U0ALICE", channel_id="C0ONCALL", team_id="T0ACME", enterprise_id="")


@pytest.mark.parametrize("kind", CASES)
def test_a_kind_that_fails_inside_gets_an_apology_and_its_own_audit_line(
    service: GroupsService, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    page = service.answer_command("idp:Okta")  # the page a detail opens from, drawn before the fault

    def broken(*args: object) -> Any:
        raise RuntimeError("a bug in the kind")

    table: dict[Any, Any] = DETAILS if kind in DETAILS else ANSWERS
    monkeypatch.setitem(table, kind, replace(table[kind], draw=broken))
    if kind in DETAILS:
        clicked = button(page, kind)
        message = service.answer_click(clicked["action_id"], clicked["value"]).message
    else:
        message = CASES[kind].ask(service, "Okta")

    assert message == render_internal_error()
    assert audited(caplog)[-1]["outcome"] == "internal_error"
    what = "a group's detail" if kind in DETAILS else "groups"
    assert f"internal_error while showing {what}" in [record.getMessage() for record in caplog.records]


def test_an_audit_line_names_the_button_clicked_and_counts_from_when_it_was_asked(
    service: GroupsService, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    page = service.answer_command("idp:Okta", CALLER, asked_at=clock() - 1.25)
    command_line = audited(caplog)[-1]
    for action in ("refresh", "share", "history"):
        clicked = button(page, action)
        service.answer_click(clicked["action_id"], clicked["value"], CALLER, asked_at=clock() - 2.5)
        line = audited(caplog)[-1]
        assert (line["action"], line["latency_ms"]) == (action, 2500), line

    assert "action" not in command_line
    assert command_line["latency_ms"] == 1250


@pytest.mark.parametrize("action", ["scim_groups_next", "scim_groups_history", "scim_groups_nonsense"])
def test_a_forged_click_is_answered_privately_and_audited_as_bad_input(
    service: GroupsService, caplog: pytest.LogCaptureFixture, action: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot")

    reply = service.answer_click(action, '{"v":2,"junk":1}', CALLER)

    assert reply.replace_original is False
    assert audited(caplog)[-1]["outcome"] == "bad_input"


@pytest.mark.parametrize("kind", PAGES)
def test_every_kind_answers_a_provider_named_by_id_while_the_provider_list_fails(
    service: GroupsService, cloudflare: FakeCloudflare, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    # The list alone fails: its request is the one path followed by a query.
    cloudflare.path_faults["/access/identity_providers?"] = [("status", 503, 1000, {})] * 10

    message = CASES[kind].ask(service, PROVIDER_ID.upper())

    assert f"· identity provider {PROVIDER_ID}" in words(message), f"{kind}: not answered by the id asked"
    assert CASES[kind].marks(PROVIDER_ID) in words(message), f"{kind}: the answer lacks its data"
    (warned,) = [
        r for r in caplog.records if getattr(r, "fields", {}).get("event") == "identity_providers_failed"
    ]
    assert warned.levelno == logging.WARNING
    assert getattr(warned, "fields", {})["error"] == "Cloudflare failed; HTTP 503; 1000: injected fault"
    assert audited(caplog)[-1]["provider"] == PROVIDER_ID


# A directory too large to read whole each minute, and a token that cannot read the SCIM log:
# the kinds that read it whole (search, changed:) say the copy is held back, and why.
WALKS = {
    "search": command("team"),
    "changed": command("changed:7d"),
    "search of an id-shaped word": command("team1x2"),  # looked up as an external id too: no names
}


@pytest.mark.parametrize("kind", WALKS)
def test_every_kind_that_reads_the_directory_whole_says_a_held_copy_is_held(
    cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock, kind: str
) -> None:
    fill(cloudflare)
    changed = (NOW - timedelta(hours=1)).isoformat()
    groups = [make_group(n, f"team {n}") for n in range(300)]  # three pages: not a small directory
    for group in groups:
        group["meta"] = {**group["meta"], "lastModified": changed}
    cloudflare.groups[PROVIDER_ID] = groups
    cloudflare.missing_permissions = {LOGS_PERMISSION}
    # A quarter of 20 calls in 5 minutes pays for the 3 pages' whole read every 180 s.
    env = {**environment(cloudflare, slack), "SCIM_GROUPS_UPSTREAM_CALLS_PER_5_MINUTES": "20"}
    env.pop("CLOUDFLARE_IDENTITY_PROVIDER_ID")
    service = build_service(load_settings(env), clock=clock, timeout=TEST_CLOUDFLARE_TIMEOUT)
    first = words(WALKS[kind](service, "Okta"))
    clock.advance(61)  # past the TTL, not past the wait between whole reads

    held = words(WALKS[kind](service, "Okta"))

    assert "This is a copy of the directory" not in first
    assert "This is a copy of the directory: the bot's API token cannot read the SCIM log" in held, (
        f"{kind}: a held copy shown without saying why"
    )
    assert "team 1" in held or kind == "search of an id-shaped word"


@pytest.mark.parametrize("kind", CASES)
def test_every_kind_names_what_it_shows_only_at_debug(
    service: GroupsService, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    CASES[kind].ask(service, "Okta")

    logged = [(record.levelno, json.dumps(getattr(record, "fields", {}))) for record in caplog.records]

    assert all("team 1" not in line for level, line in logged if level >= logging.INFO), (
        f"{kind}: a group's name reached an INFO line"
    )
    if kind in ANSWERS and ANSWERS[kind].draw is ANSWERS["browse"].draw:  # the group pages
        shown = [line for level, line in logged if level == logging.DEBUG and '"event": "shown"' in line]
        assert shown, f"{kind}: no DEBUG line says what was shown"
        assert '"team 1"' in shown[-1], f"{kind}: the DEBUG line does not name the groups shown"


@pytest.mark.parametrize("kind", DETAILS)
def test_every_detail_whose_group_cannot_be_read_says_so_and_shows_nothing_of_it(
    service: GroupsService, cloudflare: FakeCloudflare, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    page = service.answer_command("idp:Okta")
    # The group's own lookup alone fails (it asks for it by id); what the detail shows can be read.
    cloudflare.path_faults["cf_resource_id"] = [("status", 503, 1000, {})] * 10
    clicked = button(page, kind)

    message = service.answer_click(clicked["action_id"], clicked["value"]).message

    assert "Cloudflare is not answering properly right now (HTTP 503)" in words(message), (
        f"{kind}: the failure unsaid"
    )
    assert CASES[kind].marks(PROVIDER_ID) not in words(message), (
        f"{kind}: shown for a group it could not read"
    )
    assert audited(caplog)[-1]["outcome"] == "failed_Unavailable", audited(caplog)[-1]


@pytest.mark.parametrize("kind", DETAILS)
def test_every_detail_names_its_provider_by_the_list_and_says_when_the_list_cannot_be_read(
    service: GroupsService, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock, kind: str
) -> None:
    page = service.answer_command("idp:Okta")
    clicked = button(page, kind)
    named = words(service.answer_click(clicked["action_id"], clicked["value"]).message)
    env = environment(cloudflare, slack)  # another process, after a restart: nothing cached
    restarted = build_service(load_settings(env), clock=clock, timeout=TEST_CLOUDFLARE_TIMEOUT)
    cloudflare.path_faults["/access/identity_providers?"] = [("status", 503, 1000, {})] * 10

    unnamed = words(restarted.answer_click(clicked["action_id"], clicked["value"]).message)

    assert " · Okta" in named.split("\n")[1], f"{kind}: its header does not name the provider"
    assert "Okta" not in unnamed, f"{kind}: a provider named without its list"
    assert "its identity provider" in unnamed, f"{kind}: the provider's place left empty"


def test_the_configured_provider_is_answered_while_the_provider_list_fails(
    cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    fill(cloudflare)
    env = environment(cloudflare, slack)  # CLOUDFLARE_IDENTITY_PROVIDER_ID: the first provider
    service = build_service(load_settings(env), clock=clock, timeout=TEST_CLOUDFLARE_TIMEOUT)
    cloudflare.path_faults["/access/identity_providers?"] = [("status", 503, 1000, {})] * 10

    message = service.answer_command("")  # no provider named: the configured one

    assert f"· identity provider {PROVIDER_ID}" in words(message)
    assert changed_on(PROVIDER_ID) in words(message)
    assert audited(caplog)[-1]["provider"] == PROVIDER_ID


def test_every_answer_that_is_no_page_is_audited_by_its_name(
    service: GroupsService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    page = service.answer_command("idp:Okta", CALLER)
    history = button(page, "history")
    not_scim = history["value"].replace(PROVIDER_ID, "0f7c2a1e-0000-4000-8000-0000000000ff")
    outcomes = []
    for ask in (
        lambda: service.answer_command("help", CALLER),
        lambda: service.answer_command("foo:bar", CALLER),
        lambda: service.answer_command("idp:Nobody", CALLER),
        lambda: service.answer_click(history["action_id"], not_scim, CALLER),
    ):
        ask()
        outcomes.append((audited(caplog)[-1]["outcome"], audited(caplog)[-1]["provider"]))

    assert outcomes == [
        ("help", ""),
        ("bad_input", ""),
        ("provider_choice", "unknown"),
        ("provider_choice", "unknown"),
    ]


def test_an_answer_from_the_cache_is_audited_as_the_callers(
    service: GroupsService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    service.answer_command("idp:Okta", CALLER)

    assert service.answer_from_cache("idp:Okta", CALLER) is not None
    assert (audited(caplog)[-1]["user"], audited(caplog)[-1]["cache"]) == ("U0ALICE", "hit")


def test_a_detail_opened_from_a_shared_page_is_the_clickers_own_and_leads_back_to_their_own_page(
    service: GroupsService,
) -> None:
    page = service.answer_command("idp:Okta", CALLER)
    shared = service.answer_click(button(page, "share")["action_id"], button(page, "share")["value"], CALLER)
    opened = service.answer_click(
        button(shared.message, "history")["action_id"], button(shared.message, "history")["value"], CALLER
    )
    back = service.answer_click(
        button(opened.message, "back")["action_id"], button(opened.message, "back")["value"], CALLER
    )

    assert shared.in_channel
    assert opened.replace_original is False  # the channel's message stays as it was
    assert button(back.message, "share")  # a private page: only a private page can be shared
    assert back.replace_original  # in place of the detail, which was the clicker's own


def test_refresh_pressed_too_soon_on_a_shared_page_says_so_in_the_clickers_own_copy(
    service: GroupsService,
) -> None:
    page = service.answer_command("idp:Okta", CALLER)
    shared = service.answer_click(button(page, "share")["action_id"], button(page, "share")["value"], CALLER)
    refresh = button(shared.message, "refresh")
    service.answer_click(refresh["action_id"], refresh["value"], CALLER)

    again = service.answer_click(refresh["action_id"], refresh["value"], CALLER)

    assert again.replace_original is False
    assert "You refreshed a moment ago, so this is the cached copy" in words(again.message)


def test_a_search_by_name_answers_from_the_provider_asked_and_says_when_its_copy_is_old(
    service: GroupsService, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    ask = command("user:User 0007")  # words, not an email or an id: the provider's whole list
    first, second = words(ask(service, "Okta")), words(ask(service, "Other"))
    clock.advance(120)
    cloudflare.failure = (503, 1000, "down")

    old = words(ask(service, "Okta"))

    assert (reason(PROVIDER_ID) in first, reason(OTHER) in first) == (True, False)
    assert (reason(OTHER) in second, reason(PROVIDER_ID) in second) == (True, False)
    assert "⚠️ This is a copy from 2 minutes ago: Cloudflare is not answering properly (HTTP 503)" in old
    assert "*User 0007* — active" in old


def counted(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(f"{name}_total", labels) or 0.0


def test_every_answer_is_counted_by_kind_outcome_and_cache_and_audited_with_where_it_was_asked(
    service: GroupsService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    before = {
        "ok": counted("scim_groups_requests", kind="command", outcome="ok"),
        "empty": counted("scim_groups_requests", kind="command", outcome="empty"),
        "help": counted("scim_groups_requests", kind="command", outcome="help"),
        "miss": counted("scim_groups_cache", result="miss"),
        "none": counted("scim_groups_cache", result="none"),
    }

    service.answer_command("idp:Okta", CALLER)
    page = audited(caplog)[-1]
    service.answer_command("idp:Okta zzz-no-such-group", CALLER)
    nothing = audited(caplog)[-1]
    service.answer_command("help", CALLER)

    assert (page["user"], page["channel"], page["team"]) == ("U0ALICE", "C0ONCALL", "T0ACME")
    assert (nothing["outcome"], nothing["results"]) == ("empty", 0)
    assert counted("scim_groups_requests", kind="command", outcome="ok") == before["ok"] + 1
    assert counted("scim_groups_requests", kind="command", outcome="empty") == before["empty"] + 1
    assert counted("scim_groups_requests", kind="command", outcome="help") == before["help"] + 1
    assert counted("scim_groups_cache", result="miss") == before["miss"] + 2  # help is no answer from a cache
    assert counted("scim_groups_cache", result="none") == before["none"]


def test_refresh_on_a_search_of_an_id_shaped_word_asks_for_the_external_id_again(
    service: GroupsService, cloudflare: FakeCloudflare
) -> None:
    page = service.answer_command("idp:Okta team1x2")
    asked = len([query for _, query in cloudflare.calls if "idp_resource_id" in query])
    refresh = button(page, "refresh")

    service.answer_click(refresh["action_id"], refresh["value"], CALLER)

    # Asked in the provider and, as nothing was found, in the other one: both asked afresh.
    assert asked == 2
    assert len([query for _, query in cloudflare.calls if "idp_resource_id" in query]) == 2 * asked


def test_an_id_found_in_none_of_many_providers_asks_five_others_at_most(
    service: GroupsService, cloudflare: FakeCloudflare
) -> None:
    for n in range(7):
        cloudflare.add_provider(f"0f7c2a1e-0000-4000-8000-0000000001{n:02d}", f"More {n}", [])
    cloudflare.groups["0f7c2a1e-0000-4000-8000-000000000106"] = [make_group(9, "far away")]
    before = len(cloudflare.calls)

    message = service.answer_command("idp:Okta external:nobody-has-this")

    asked = {
        path.split("/identity_providers/")[1].split("/")[0]
        for path, _ in cloudflare.calls[before:]
        if path.endswith("/scim/groups")
    }
    assert "No group in *Okta* has the external id" in words(message)
    assert len(asked - {PROVIDER_ID}) == 5  # Other and four of the seven more, none past the fifth


@pytest.mark.parametrize("kind", DETAILS)
def test_every_detail_of_a_group_deleted_since_says_it_is_gone(
    service: GroupsService, cloudflare: FakeCloudflare, clock: FakeClock, kind: str
) -> None:
    page = service.answer_command("idp:Okta")
    clicked = button(page, kind)
    cloudflare.groups[PROVIDER_ID] = cloudflare.groups[PROVIDER_ID][1:]  # the first group deleted
    clock.advance(120)  # past every TTL

    message = service.answer_click(clicked["action_id"], clicked["value"]).message

    assert "Cloudflare no longer knows this group in this identity provider" in words(message), kind


@pytest.mark.parametrize("kind", DETAILS)
def test_every_detail_says_its_group_is_an_old_copy_when_only_the_group_cannot_be_read_again(
    service: GroupsService, cloudflare: FakeCloudflare, clock: FakeClock, kind: str
) -> None:
    page = service.answer_command("idp:Okta")
    clicked = button(page, kind)
    service.answer_click(clicked["action_id"], clicked["value"])  # the group read once, and kept
    clock.advance(120)  # past every TTL: the detail's own data is read afresh, the group cannot be
    cloudflare.path_faults["cf_resource_id"] = [("status", 503, 1000, {})] * 10

    message = service.answer_click(clicked["action_id"], clicked["value"]).message

    assert "This is a copy from 2 minutes ago" in words(message), f"{kind}: an old group shown as fresh"


# A directory larger than one whole read may cost: each kind that reads it whole says how much it read.
CUT_SHORT = {
    "search": (command("team"), "groups"),
    "changed": (command("changed:7d"), "groups"),
    "search of an id-shaped word": (command("team1x2"), "groups"),
    "user by name": (command("user:Pat Doe"), "users"),
}


@pytest.mark.parametrize("kind", CUT_SHORT)
def test_every_kind_that_reads_the_directory_whole_says_when_it_read_only_part(
    cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock, kind: str
) -> None:
    fill(cloudflare)
    changed = (NOW - timedelta(hours=1)).isoformat()
    groups = [make_group(n, f"team {n}") for n in range(1_000)]
    for group in groups:
        group["meta"] = {**group["meta"], "lastModified": changed}
    cloudflare.groups[PROVIDER_ID] = groups
    people = [make_user(n, email=f"pat{n}@example.com") for n in range(1_000)]
    for person in people:
        person["displayName"] = "Pat Doe"
    cloudflare.users[PROVIDER_ID] = people
    # Five sixths of 10 calls in 5 minutes: a whole read may cost 8 pages, 800 of the 1,000.
    env = {**environment(cloudflare, slack), "SCIM_GROUPS_UPSTREAM_CALLS_PER_5_MINUTES": "10"}
    env.pop("CLOUDFLARE_IDENTITY_PROVIDER_ID")
    service = build_service(load_settings(env), clock=clock, timeout=TEST_CLOUDFLARE_TIMEOUT)
    ask, read = CUT_SHORT[kind]

    said = words(ask(service, "Okta"))

    assert f"searched only the first 800 {read}" in said.lower(), f"{kind}: a part read shown as the whole"


def test_a_refresh_of_people_found_by_name_brings_their_list_up_to_date(
    service: GroupsService, cloudflare: FakeCloudflare
) -> None:
    page = service.answer_command("idp:Okta user:User 0007")
    assert "pat@example.com" in words(page)
    refresh = button(page, "refresh")
    before = len(cloudflare.calls)

    service.answer_click(refresh["action_id"], refresh["value"], CALLER)

    # Brought up to date: from the SCIM log (the users it names, asked again), or read whole; the
    # log asked about one user (`cf_resource_id`) is their pushes, not the list.
    again = [
        path
        for path, query in cloudflare.calls[before:]
        if path.endswith("/scim/users") or (path.endswith("/scim/updates") and "cf_resource_id" not in query)
    ]
    assert again, "a Refresh of people found by name did not ask Cloudflare again"
