"""Every kind of answer, asked directly through the service's registry (no HTTP: what crosses the
front is tested in the scenario tests), against the mechanisms every kind relies on.

Each mechanism is tested through every kind, so a kind that forgets one fails here, and says
which: a copy shown while Cloudflare fails says so; outside text stays inert; a second identity
provider with the same ids and names is never answered from the first one's data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.answers import ANSWERS, DETAILS
from bot.app import build_service
from bot.service import GroupsService
from bot.settings import load_settings
from tests.conftest import TEST_CLOUDFLARE_TIMEOUT, FakeClock
from tests.fake_access import group_rule, make_access_group, make_app, make_policy, make_update, make_user
from tests.fakes import PROVIDER_ID, FakeCloudflare, FakeSlack, environment, make_group, texts
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
