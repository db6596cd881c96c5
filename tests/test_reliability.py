"""Faults, bad input and strangers: the bot always answers, truthfully. What an answer says is
asked of the service directly; access checks, acks and delivery over signed HTTP."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import demo
from bot.app import ANSWER_DEADLINE_SECONDS, ANSWER_THREADS, build_service
from bot.limits import REFRESH_COOLDOWN_SECONDS
from bot.service import GroupsService
from tests.conftest import FakeClock, ServiceDriver, SlackDriver, StartAnswers, StartBot, wait_until
from tests.fakes import (
    API_TOKEN,
    BOT_TOKEN,
    PROVIDER_ID,
    SIGNING_SECRET,
    FakeCloudflare,
    FakeSlack,
    buttons,
    make_group,
)
from tests.helpers import check_inert, check_limits, context, group_names


def notes(message: dict[str, Any]) -> list[str]:
    contexts = [block["elements"][0]["text"] for block in message["blocks"] if block["type"] == "context"]
    return [str(text) for text in contexts if text.startswith(("⚠️", "You refreshed"))]


def test_429_then_success_shows_the_page(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.faults = [("status", 429, 971, {"Retry-After": "2"})]

    message = answers.command()

    assert group_names(message)[0] == "group-00000"
    assert 2.0 in clock.slept


def test_persistent_5xx_gets_one_plain_sentence_after_three_tries(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.faults = [("status", 503, 1000, {})] * 10

    message = answers.command()

    assert message["text"] == (
        "Cloudflare is not answering properly right now (HTTP 503) (Cloudflare code 1000); "
        "please try again in a minute."
    )
    # Three tries for the provider list; its id is configured, so three more for the groups.
    assert len(cloudflare.calls) == 6


def test_a_hang_then_an_answer_shows_the_page(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    answers = start_answers(timeout=httpx.Timeout(1.0))  # the hang is noticed after a second, and tried again
    cloudflare.faults = [("hang", 1.5)]

    assert group_names(answers.command())[0] == "group-00000"


def test_a_cloudflare_that_never_answers_still_gets_an_answer_within_the_deadline(
    bot: SlackDriver, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    cloudflare.gate.clear()
    response, hook = bot.send_command()
    assert response.status_code == 200
    assert slack.posts == []

    clock.advance(ANSWER_DEADLINE_SECONDS)
    (post,) = bot.posts_to(hook, 1)

    assert post.body["text"] == (
        "Cloudflare is slow to answer: nothing came back within 20 seconds. The bot keeps fetching in "
        "the background, so please try again in a minute."
    )


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            [("malformed",)] * 3,  # retried like a 5xx, and broken every time
            "Cloudflare is not answering properly right now (HTTP 200); please try again in a minute.",
        ),
        ([("status", 403, 10000, {})], "Cloudflare refused the bot's credentials (Cloudflare code 10000)"),
    ],
)
def test_unusable_answers_get_one_plain_sentence(
    answers: ServiceDriver, cloudflare: FakeCloudflare, fault: list[tuple[object, ...]], expected: str
) -> None:
    cloudflare.group_faults = list(fault)  # the fake pops from it: the parameter stays as it is

    assert answers.command()["text"].startswith(expected)


def test_a_truncated_body_is_retried(answers: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    cloudflare.faults = [("truncated",)]

    assert group_names(answers.command())[0] == "group-00000"


def test_when_cloudflare_fails_the_last_good_copy_is_shown_marked_stale(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    first = answers.command()
    clock.advance(5 * 60)
    cloudflare.failure = (503, 1000, "down")

    stale = answers.command()

    assert group_names(stale) == group_names(first)
    assert notes(stale) == [
        "⚠️ This is a copy from 5 minutes ago: Cloudflare is not answering properly (HTTP 503). "
        "Refresh to try again."
    ]
    cloudflare.failure = None
    clock.advance(REFRESH_COOLDOWN_SECONDS)
    fresh = answers.click(buttons(stale)["scim_groups_refresh"])
    assert notes(fresh) == []


def test_a_rate_limited_search_shows_the_last_good_copy(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]
    answers.command("group-0024")
    clock.advance(120)
    cloudflare.faults = [("status", 429, 971, {"Retry-After": "300"})] * 5

    message = answers.command("group-0024")

    assert len(group_names(message)) == 10
    assert notes(message) == [
        "⚠️ This is a copy from 2 minutes ago: Cloudflare is rate-limiting the bot. Refresh to try again."
    ]


def test_the_call_budget_protects_the_shared_quota(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(3_000)]
    answers = start_answers(SCIM_GROUPS_UPSTREAM_CALLS_PER_5_MINUTES="10")

    search = answers.command("oncall")  # a whole read may spend 5/6 of the budget: 8 pages
    for external_id in ("ext-1", "ext-2"):
        answers.command(f"external:{external_id}")
    message = answers.command("external:ext-3")

    assert context(search).endswith("Searched only the first 800 groups")
    assert message["text"].startswith(
        "The bot has used its share of the Cloudflare API quota for the moment (the quota is shared with "
        "the dashboard); please try again in "
    )
    assert len(cloudflare.calls) == 10


def test_calls_are_paced_to_cloudflares_limit_per_ip_shared_by_the_processes(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]
    answers = start_answers(WEB_CONCURRENCY="64")  # 200 requests a second: 3 for each process

    answers.command()  # the provider list and page 1: two calls in this second
    search = answers.command("group-0024")  # pages 2 and 3 (1 is cached): the second waits a second

    assert group_names(search) == [f"group-{n:05d}" for n in range(240, 250)]
    assert clock.slept == [1.0]
    assert len(cloudflare.calls) == 4


def test_refresh_is_throttled_per_user(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    first = answers.command()
    answers.click(buttons(first)["scim_groups_refresh"])
    calls = len(cloudflare.group_calls())

    again = answers.click(buttons(first)["scim_groups_refresh"])
    other_user = answers.click(buttons(first)["scim_groups_refresh"], user_id="U0BOB")

    assert notes(again) == [
        "You refreshed a moment ago, so this is the cached copy: refresh again in 15 seconds."
    ]
    assert group_names(again) == group_names(first)
    assert notes(other_user) == []
    assert len(cloudflare.group_calls()) == calls + 1
    clock.advance(REFRESH_COOLDOWN_SECONDS)
    assert notes(answers.click(buttons(first)["scim_groups_refresh"])) == []


REFUSED_USER = (
    "Sorry, `/scim-groups` is not available for you: its admins have limited it to some people and channels."
)


def test_a_user_not_allowed_is_refused_privately_at_no_cost(
    start_bot: StartBot, cloudflare: FakeCloudflare, caplog: pytest.LogCaptureFixture
) -> None:
    bot = start_bot(SCIM_GROUPS_ALLOWED_USERS="U0ALICE, U0CAROL")

    refused = bot.command(user_id="U0MALLORY")

    assert refused["response_type"] == "ephemeral"
    assert refused["text"].startswith(REFUSED_USER)
    assert len(refused["blocks"]) == 1
    assert cloudflare.calls == []
    assert "refused reason=user user=U0MALLORY channel=C0ONCALL team=T0ACME" in caplog.text
    assert group_names(bot.command(user_id="U0ALICE"))


def test_clicks_are_checked_too_even_on_a_shared_message(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    bot = start_bot(SCIM_GROUPS_ALLOWED_USERS="U0ALICE")
    shared = bot.click(buttons(bot.command())["scim_groups_share"])
    calls = len(cloudflare.calls)

    refused = bot.click(buttons(shared)["scim_groups_next"], user_id="U0MALLORY")

    assert refused["text"].startswith(REFUSED_USER)
    assert refused["replace_original"] is False
    assert len(cloudflare.calls) == calls


def test_channels_can_be_limited(start_bot: StartBot) -> None:
    bot = start_bot(SCIM_GROUPS_ALLOWED_CHANNELS="C0SECOPS")

    assert bot.command()["text"].startswith("Sorry, `/scim-groups` is not available in this channel")


@pytest.mark.parametrize(("team_id", "allowed"), [("T0ACME", True), ("T0OTHER", False), ("E0GRID", False)])
def test_requests_from_another_workspace_are_refused(
    start_bot: StartBot, team_id: str, allowed: bool
) -> None:
    bot = start_bot(SLACK_TEAM_ID=team_id)

    message = bot.command()

    assert bool(group_names(message)) is allowed
    if not allowed:
        assert message["text"] == "Sorry, this bot only answers in the Slack workspace it was installed for."


def test_a_response_url_that_fails_is_logged_and_never_crashes(
    bot: SlackDriver, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    first = bot.command()
    slack.hook_status["T0ACME/2/hook"] = 500

    response, _ = bot.send_click(buttons(first)["scim_groups_next"])
    wait_until(lambda: "response_url_failed status=500" in caplog.text, "the failed post to be logged")

    assert response.status_code == 200
    assert group_names(bot.click(buttons(first)["scim_groups_next"]))


@pytest.fixture(scope="module")
def demo_service() -> GroupsService:
    """The demo directory's service, made in the process that runs the tests (its thread pools
    would not survive a fork, as under `make mutate`)."""
    return build_service(demo.settings(), transport=demo.transport())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=2_000))
def test_any_command_text_gets_a_message_within_limits_with_nothing_unescaped(
    demo_service: GroupsService, text: str
) -> None:
    message = demo_service.answer_command(text)

    check_limits(message)
    check_inert(message)


def test_no_secret_reaches_logs_or_slack_with_the_legacy_key(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cloudflare.legacy_email, cloudflare.legacy_key = "ops@example.com", "legacy-KEY-SECRET-42"
    bot = start_bot(
        CLOUDFLARE_API_TOKEN=None,
        CLOUDFLARE_EMAIL="ops@example.com",
        CLOUDFLARE_API_KEY="legacy-KEY-SECRET-42",
    )
    page = bot.command()
    bot.click(buttons(page)["scim_groups_next"])
    cloudflare.legacy_key = "rotated"
    bot.click(buttons(page)["scim_groups_refresh"])

    said = caplog.text + json.dumps([post.body for post in slack.posts]) + json.dumps(page)
    assert "cloudflare_failed" in caplog.text
    for secret in ("legacy-KEY-SECRET-42", API_TOKEN, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in said


def test_response_urls_that_hang_starve_no_one_elses_answer(bot: SlackDriver, slack: FakeSlack) -> None:
    next_button = buttons(bot.command())["scim_groups_next"]
    # More stuck posts than there are threads computing answers.
    slack.hanging = {f"T0ACME/hung-{n}/hook" for n in range(ANSWER_THREADS + 8)}
    for hook in slack.hanging:
        assert bot.send_click(next_button, hook=hook)[0].status_code == 200

    _, hook = bot.send_command("group-0001", user_id="U0BOB")  # not cached: computed, then posted
    answer = slack.wait_for_hook(hook, timeout=30)  # starved, it would never come: a loaded machine is slow

    assert group_names(answer.body)[0] == "group-00010"
    assert "slow" not in json.dumps(answer.body)


def test_an_enterprise_grid_organisation_is_served_in_commands_and_clicks(start_bot: StartBot) -> None:
    bot = start_bot(SLACK_TEAM_ID="E0GRID")

    page = bot.command(enterprise_id="E0GRID")
    second = bot.click(buttons(page)["scim_groups_next"], enterprise_id="E0GRID")

    assert group_names(page)[0] == "group-00000"
    assert group_names(second)[0] == "group-00010"


def test_another_enterprise_grid_organisation_is_refused(start_bot: StartBot) -> None:
    bot = start_bot(SLACK_TEAM_ID="E0GRID")
    page = start_bot().command()  # a page someone could forward

    refused = bot.command(enterprise_id="E0OTHER")
    click = bot.click(buttons(page)["scim_groups_next"], enterprise_id="E0OTHER")
    plain = bot.command()  # from a workspace outside any organisation

    for message in (refused, click, plain):
        assert message["text"] == "Sorry, this bot only answers in the Slack workspace it was installed for."


def test_a_stale_lookup_is_marked_stale(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    wanted = "id:00000000-0000-0000-0000-000000000001"
    first = answers.command(wanted)
    clock.advance(5 * 60)
    cloudflare.failure = (503, 1000, "down")

    stale = answers.command(wanted)

    assert group_names(stale) == group_names(first) == ["group-00000"]
    assert notes(stale)[0].startswith("⚠️ This is a copy from 5 minutes ago")


def test_cloudflares_own_words_are_escaped(answers: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    cloudflare.failure = (400, 12130, "bad <!channel> & <https://evil.example|click>")

    message = answers.command()

    said = message["blocks"][0]["text"]
    assert said["type"] == "plain_text"  # shown as it is: nothing in it is a link or a mention
    assert "bad <!channel> & <https://evil.example|click>" in said["text"]
    check_inert(message)
