"""The App Home: a signed `app_home_opened` event into the real app over HTTP, and the Home view
it publishes (`views.publish`) — each SCIM provider's failed pushes, the bot's health, within
Slack's limits; and what it does when Cloudflare fails or the tab opened is not Home."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import FakeClock, SlackDriver, StartBot
from tests.fake_access import make_update
from tests.fakes import PROVIDER_ID, FakeCloudflare, FakeSlack, make_group, rich_text, signed_headers
from tests.helpers import check_inert, check_limits, why_story

AZURE = "0f7c2a1e-0000-4000-8000-00000000a2a2"


def open_home(bot: SlackDriver, user: str = "U0ALICE", tab: str = "home") -> Any:
    envelope = {
        "token": "unused", "team_id": "T0ACME", "api_app_id": "A0SCIM", "type": "event_callback",
        "event_id": f"Ev{user}{tab}", "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab,
                  "event_ts": f"{time.time():.6f}"},
    }  # fmt: skip
    body = json.dumps(envelope)
    return bot.post(body, {**signed_headers(body), "Content-Type": "application/json"})


def words(view: dict[str, Any]) -> str:
    return "\n".join(
        rich_text(block) if block["type"] == "rich_text" else json.dumps(block, ensure_ascii=False)
        for block in view["blocks"]
    )


def test_the_home_tab_shows_each_providers_failures_of_the_hour_and_the_day(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    cloudflare.add_provider(AZURE, "Azure AD", [make_group(100)], kind="azureAD")
    now = datetime.fromtimestamp(clock.time(), UTC)
    group = cloudflare.groups[PROVIDER_ID][3]
    cloudflare.updates += [
        make_update(PROVIDER_ID, now - timedelta(minutes=10), group=group, status="FAILURE", error="x"),
        make_update(PROVIDER_ID, now - timedelta(hours=5), group=group, status="FAILURE", error="y"),
        make_update(PROVIDER_ID, now - timedelta(days=2), group=group, status="FAILURE", error="z"),
    ]
    bot = start_bot()

    assert open_home(bot).status_code == 200
    view = slack.wait_for_home("U0ALICE")

    text = words(view)
    assert view["type"] == "home"
    assert "*Okta Production* — 1 failed pushes in the last hour, 2 in 24 hours" in text
    assert "*Azure AD* — 0 failed pushes in the last hour, 0 in 24 hours" in text
    assert (
        "Cloudflare answers (a call takes 0 ms) · " in text
    )  # the fake answers at once, on the test's clock
    assert "of this process's 600 calls in 5 minutes used · no shared cache (one process)." in text
    assert "; 0 groups changed in 24 hours" in text
    assert "/scim-groups why jane@example.com grafana" in text
    check_limits({"text": "Home", "blocks": view["blocks"]})  # a message's limits: tighter than a view's
    check_inert({"text": "Home", "blocks": view["blocks"]})


def test_the_home_tab_says_when_cloudflare_is_not_answering(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    bot = start_bot()
    cloudflare.failure = (503, 1000, "down")

    open_home(bot, "U0BOB")

    text = words(slack.wait_for_home("U0BOB"))
    assert "Cloudflare: Cloudflare is not answering properly" in text
    assert "Cloudflare is not answering (a call takes 0 ms) · " in text


def test_the_messages_tab_publishes_nothing(start_bot: StartBot, slack: FakeSlack) -> None:
    bot = start_bot()

    open_home(bot, "U0CAROL", tab="messages")
    open_home(bot, "U0DAVE")  # a Home opened after it: once published, the first one would be too

    slack.wait_for_home("U0DAVE")
    assert "U0CAROL" not in slack.homes


def interaction(bot: SlackDriver, payload: dict[str, Any]) -> Any:
    body = urlencode({"payload": json.dumps(payload)})
    return bot.post(body, signed_headers(body))


USER = {"id": "U0ALICE", "username": "alice", "team_id": "T0ACME"}
TEAM = {"id": "T0ACME", "domain": "acme"}


def home_click(trigger: str, action: str = "home_why") -> dict[str, Any]:
    """A click on the Home tab's button: from a view, so no response_url and no channel."""
    return {
        "type": "block_actions", "user": USER, "team": TEAM, "api_app_id": "A0SCIM", "token": "unused",
        "container": {"type": "view", "view_id": "V0HOME"}, "trigger_id": trigger,
        "view": {"id": "V0HOME", "type": "home", "blocks": []},
        "actions": [{"type": "button", "action_id": action, "block_id": "scim_groups_home",
                     "value": "why", "text": {"type": "plain_text", "text": "x"},
                     "action_ts": "1700000001.000200"}],
    }  # fmt: skip


def submission(view_id: str, person: str, application: str) -> dict[str, Any]:
    values = {
        "person": {"person": {"type": "users_select", "selected_user": person}},
        "application": {"application": {"type": "plain_text_input", "value": application}},
    }
    return {
        "type": "view_submission", "user": USER, "team": TEAM, "api_app_id": "A0SCIM", "token": "unused",
        "trigger_id": "9.9.9",
        "view": {"id": view_id, "type": "modal", "callback_id": "why_modal", "state": {"values": values},
                 "blocks": [], "private_metadata": "", "hash": "h1"},
    }  # fmt: skip


def test_the_home_tabs_button_opens_a_modal_whose_answer_is_why(
    start_bot: StartBot, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    why_story(cloudflare, clock.time())
    slack.add_person("U0JANE", "Jane", "jane@example.com")
    bot = start_bot()

    assert interaction(bot, home_click("1.1.1")).status_code == 200
    (opened,) = slack.wait_for_modal("V0MODAL0", 1)
    submitted = interaction(bot, submission("V0MODAL0", "U0JANE", "grafana"))
    checking, answered = slack.wait_for_modal("V0MODAL0", 2)

    assert opened["callback_id"] == "why_modal"
    assert [block["block_id"] for block in opened["blocks"]] == ["person", "application"]
    assert submitted.json()["response_action"] == "update"
    assert "Checking with Cloudflare" in words(submitted.json()["view"])
    assert checking == opened  # what views.open showed; the "Checking…" came in the HTTP answer
    assert "✅ *jane@example.com* would be *allowed* at *Grafana*" in words(answered)
    assert not any(block["type"] == "actions" for block in answered["blocks"])


def test_the_global_shortcut_opens_the_same_modal(start_bot: StartBot, slack: FakeSlack) -> None:
    bot = start_bot()
    shortcut = {"type": "shortcut", "callback_id": "why_shortcut", "trigger_id": "2.2.2", "user": USER,
                "team": TEAM, "token": "unused", "action_ts": "1700000001.000200"}  # fmt: skip

    assert interaction(bot, shortcut).status_code == 200

    (opened,) = slack.wait_for_modal("V0MODAL0", 1)
    assert opened["callback_id"] == "why_modal"


def test_a_home_click_from_someone_not_allowed_opens_nothing(
    start_bot: StartBot, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = start_bot(SCIM_GROUPS_ALLOWED_USERS="U0BOB")

    answer = interaction(bot, home_click("3.3.3"))

    assert answer.status_code == 200
    refused = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "refused"]
    assert [getattr(r, "fields", {})["reason"] for r in refused] == ["user"]
    assert "views.open" not in slack.api_calls


def test_the_home_tabs_search_opens_a_modal_that_answers_as_the_command_does(
    start_bot: StartBot, slack: FakeSlack
) -> None:
    bot = start_bot()

    interaction(bot, home_click("4.4.4", action="home_search"))
    (opened,) = slack.wait_for_modal("V0MODAL0", 1)
    values = {"text": {"text": {"type": "plain_text_input", "value": "group-0001"}}}
    view = {"id": "V0MODAL0", "type": "modal", "callback_id": "search_modal", "blocks": [], "hash": "h1",
            "state": {"values": values}}  # fmt: skip
    searched = {**submission("V0MODAL0", "", ""), "view": view}
    submitted = interaction(bot, searched)
    _opened, answered = slack.wait_for_modal("V0MODAL0", 2)

    assert opened["callback_id"] == "search_modal"
    assert submitted.json()["response_action"] == "update"
    assert "group-00010" in words(answered)
