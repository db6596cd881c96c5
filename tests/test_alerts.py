"""Failure alerts: new SCIM push failures posted to a channel once, grouped, resolved when the
resources succeed; one poster across processes sharing Redis; Slack's refusals neither crash
nor lose an alert. The watcher is ticked by the test, on the fake clock: no waiting."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from bot.alerts import Watcher
from bot.check import run_checks
from bot.settings import SettingsError, load_settings
from tests.conftest import FakeClock, StartAnswers
from tests.fake_access import make_update, make_user
from tests.fakes import PROVIDER_ID, FakeCloudflare, FakeSlack, environment, make_group, rich_text
from tests.helpers import RedisServer, check_inert, check_limits

CHANNEL = "C0ALERTS"


def watcher_of(start_answers: StartAnswers, **changes: str) -> Watcher:
    service = start_answers(SCIM_GROUPS_ALERT_CHANNEL=CHANNEL, **changes).service
    assert service.watcher is not None
    return service.watcher


def fail(
    cloudflare: FakeCloudflare, clock: FakeClock, group: int, error: str, *, seconds_ago: float = 5
) -> None:
    at = datetime.fromtimestamp(clock.time() - seconds_ago, UTC)
    cloudflare.updates.append(
        make_update(
            PROVIDER_ID, at, group=cloudflare.groups[PROVIDER_ID][group], status="FAILURE", error=error
        )
    )


def succeed(cloudflare: FakeCloudflare, clock: FakeClock, group: int) -> None:
    at = datetime.fromtimestamp(clock.time() - 1, UTC)
    cloudflare.updates.append(make_update(PROVIDER_ID, at, group=cloudflare.groups[PROVIDER_ID][group]))


def said(message: dict[str, Any]) -> str:
    return "\n".join(rich_text(block) for block in message["blocks"] if block["type"] == "rich_text")


def test_new_failures_are_posted_once_grouped_by_reason_with_their_buttons(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    watcher = watcher_of(start_answers)
    fail(cloudflare, clock, 1, "an old failure", seconds_ago=3_600)
    assert watcher.tick() == 0  # the first look starts from now: nothing old is posted
    clock.advance(60)
    for group in (3, 4):
        fail(cloudflare, clock, group, "displayName already exists")
    fail(cloudflare, clock, 5, "Group not found")
    user = make_user(2)
    cloudflare.updates.append(
        make_update(PROVIDER_ID, datetime.fromtimestamp(clock.time() - 2, UTC), user=user, status="FAILURE",
                    error="userName must be unique")
    )  # fmt: skip

    posted = watcher.tick()
    clock.advance(60)
    again = watcher.tick()

    assert (posted, again) == (1, 0)
    (message,) = slack.messages.values()
    text = said(message)
    assert "⚠️ *4 failed SCIM pushes* to *Okta Production* since the last look:" in text
    assert "• 2 × *displayName already exists* (group-00003, group-00004)" in text
    assert "• 1 × *Group not found* (group-00005)" in text
    assert "• 1 × *userName must be unique* (user0002@example.com)" in text
    assert "an old failure" not in text
    labels = [element["text"]["text"] for block in message["blocks"] if block["type"] == "actions"
              for element in block["elements"]]  # fmt: skip
    assert labels == ["History: group-00003", "History: group-00004", "History: group-00005",
                      "user: user0002@example.com"]  # fmt: skip
    check_limits(message)


def test_an_alert_is_marked_resolved_once_each_of_its_groups_has_succeeded(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    watcher = watcher_of(start_answers)
    watcher.tick()
    clock.advance(60)
    fail(cloudflare, clock, 3, "conflict")
    fail(cloudflare, clock, 4, "conflict")
    watcher.tick()
    clock.advance(60)
    succeed(cloudflare, clock, 3)
    watcher.tick()
    ((ts, message),) = slack.messages.items()
    assert "edited" not in message, "resolved while group 4 still fails"
    clock.advance(60)
    succeed(cloudflare, clock, 4)

    watcher.tick()

    resolved = slack.messages[ts]
    assert resolved["edited"] is True
    assert resolved["text"].startswith("✅ ")
    assert "✅ Resolved: each of these has had a successful push since" in said(resolved)
    assert slack.api_calls.count("chat.update") == 1


def test_a_refused_post_is_logged_once_counted_and_posted_when_slack_takes_it(
    start_answers: StartAnswers,
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    watcher = watcher_of(start_answers)
    watcher.tick()
    slack.joined.clear()  # the bot not invited to the channel
    clock.advance(60)
    fail(cloudflare, clock, 3, "conflict")

    watcher.tick()
    clock.advance(60)
    watcher.tick()
    slack.joined.add(CHANNEL)
    clock.advance(60)
    posted = watcher.tick()

    refused = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "alert_post_failed"]
    assert [getattr(r, "fields", {})["error"] for r in refused] == ["not_in_channel"]
    assert posted == 1, "the failure was lost while Slack refused"
    assert len(slack.messages) == 1


def test_hostile_reasons_and_names_stay_inert_in_an_alert(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    watcher = watcher_of(start_answers)
    watcher.tick()
    clock.advance(60)
    cloudflare.groups[PROVIDER_ID][3]["displayName"] = "<!channel> *eng* \u202e"
    for number in range(30):
        fail(cloudflare, clock, 3 + number % 10, f"<!here> reason {number % 7} " + "x" * 300)

    watcher.tick()

    (message,) = slack.messages.values()
    check_limits(message)
    check_inert(message)
    assert "and 2 more reasons" in said(message)


def test_processes_sharing_redis_post_each_alert_once_and_one_takes_over_when_the_other_stops(
    start_answers: StartAnswers,
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    clock: FakeClock,
    redis_server: RedisServer,
) -> None:
    first = watcher_of(start_answers, SCIM_GROUPS_REDIS_URL=redis_server.url, WEB_CONCURRENCY="2")
    second = watcher_of(start_answers, SCIM_GROUPS_REDIS_URL=redis_server.url, WEB_CONCURRENCY="2")
    first.tick()
    second.tick()
    clock.advance(60)
    fail(cloudflare, clock, 3, "conflict")
    both = first.tick() + second.tick()
    clock.advance(60)
    fail(cloudflare, clock, 4, "conflict")  # the first process stops before its next look
    clock.advance(60 * 3)  # its lease runs out

    taken_over = second.tick()

    assert (both, taken_over) == (1, 1)
    texts = [said(message) for message in slack.messages.values()]
    assert ["group-00003" in text for text in texts] == [True, False]
    assert ["group-00004" in text for text in texts] == [False, True], "a failure was skipped or reposted"


def test_alerts_with_several_processes_and_no_redis_refuse_to_start(
    cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    env = {**environment(cloudflare, slack), "SCIM_GROUPS_ALERT_CHANNEL": CHANNEL, "WEB_CONCURRENCY": "2"}

    with pytest.raises(SettingsError, match="needs SCIM_GROUPS_REDIS_URL"):
        load_settings(env)
    with pytest.raises(SettingsError, match="must be a channel id"):
        load_settings({**env, "SCIM_GROUPS_ALERT_CHANNEL": "#oncall", "WEB_CONCURRENCY": "1"})


def test_without_an_alert_channel_there_is_no_watcher(start_answers: StartAnswers) -> None:
    assert start_answers().service.watcher is None


def test_a_history_button_of_an_alert_answers_the_clicker_privately(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    answers = start_answers(SCIM_GROUPS_ALERT_CHANNEL=CHANNEL)
    watcher = answers.service.watcher
    assert watcher is not None
    watcher.tick()
    clock.advance(60)
    fail(cloudflare, clock, 3, "conflict")
    watcher.tick()
    (message,) = slack.messages.values()
    history = next(block for block in message["blocks"] if block["type"] == "actions")["elements"][0]

    answered = answers.click(history)

    assert answered["replace_original"] is False, "the channel's alert was replaced"
    assert answered["blocks"][0]["text"]["text"] == "History of group-00003 · Okta Production"
    assert "conflict" in "\n".join(rich_text(b) for b in answered["blocks"] if b["type"] == "rich_text")


def test_check_says_whether_the_bot_may_post_alerts(cloudflare: FakeCloudflare, slack: FakeSlack) -> None:
    env = {**environment(cloudflare, slack), "SCIM_GROUPS_ALERT_CHANNEL": CHANNEL}
    out = io.StringIO()
    assert run_checks(env, out) == 0
    slack.scopes.discard("chat:write")
    refused = io.StringIO()

    assert run_checks(env, refused) == 1
    assert "✓ The bot has chat:write, to post alerts to SCIM_GROUPS_ALERT_CHANNEL" in out.getvalue()
    assert "✗ The bot lacks chat:write, which SCIM_GROUPS_ALERT_CHANNEL needs" in refused.getvalue()


@pytest.fixture(autouse=True)
def _now(clock: FakeClock) -> None:
    assert datetime.fromtimestamp(clock.time(), UTC) - datetime(2026, 1, 1, tzinfo=UTC) < timedelta(hours=1)


def test_a_redis_that_fails_or_holds_junk_costs_a_look_one_warning_and_no_post(
    start_answers: StartAnswers,
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    clock: FakeClock,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    watcher = watcher_of(start_answers, SCIM_GROUPS_REDIS_URL=redis_server.url)
    watcher.tick()
    client = redis.Redis.from_url(redis_server.url)
    (state,) = [key for key in client.keys("scim-groups:alerts:*") if str(key).endswith(":state'")]
    client.set(state, b"{not json")
    clock.advance(60)
    fail(cloudflare, clock, 3, "conflict")

    assert watcher.tick() == 0
    warned = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "alerts_state_unreadable"]
    assert len(warned) == 1
    assert slack.messages == {}


def test_alerts_of_several_providers_in_one_look_are_a_second_apart(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    for number in range(3):
        cloudflare.add_provider(
            f"0f7c2a1e-0000-4000-8000-00000000b00{number}", f"Other {number}", [make_group(100)]
        )
    watcher = watcher_of(start_answers)
    watcher.tick()
    clock.advance(60)
    for provider_id in [PROVIDER_ID, *(f"0f7c2a1e-0000-4000-8000-00000000b00{n}" for n in range(3))]:
        at = datetime.fromtimestamp(clock.time() - 5, UTC)
        group = cloudflare.groups[provider_id][0]
        cloudflare.updates.append(
            make_update(provider_id, at, group=group, status="FAILURE", error="conflict")
        )
    slept = len(clock.slept)

    assert watcher.tick() == 4
    assert clock.slept[slept:].count(1.0) >= 3, "alerts posted faster than Slack takes them in a channel"


def test_check_says_whether_the_bot_is_in_the_alert_channel_when_it_may_see_channels(
    cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    env = {**environment(cloudflare, slack), "SCIM_GROUPS_ALERT_CHANNEL": CHANNEL}
    unseen, inside, outside = io.StringIO(), io.StringIO(), io.StringIO()
    run_checks(env, unseen)
    slack.scopes.add("channels:read")
    run_checks(env, inside)
    slack.joined.clear()

    assert run_checks(env, outside) == 1
    assert f"○ Optional: cannot tell whether the bot is in {CHANNEL}" in unseen.getvalue()
    assert f"✓ The bot is in the alert channel {CHANNEL}" in inside.getvalue()
    assert f"✗ The bot is not in the alert channel {CHANNEL}\n    → Invite it" in outside.getvalue()
