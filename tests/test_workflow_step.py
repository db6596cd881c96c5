"""The Workflow Builder step "Check access in Cloudflare", end to end: a signed `function_executed`
event into the real app over HTTP, the step run off the request, and its end as Slack receives it
(`functions.completeSuccess` with the outputs, or `functions.completeError` with one sentence)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from tests.conftest import FakeClock, SlackDriver, StartBot
from tests.fakes import FakeCloudflare, FakeSlack, signed_headers
from tests.helpers import why_story

FUNCTION_TOKEN = "xwfp-1111-2222-function"


@pytest.fixture
def story(cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock) -> dict[str, Any]:
    slack.add_person("U0JANE", "Jane", "jane@example.com")
    return why_story(cloudflare, clock.time())


def run_step(bot: SlackDriver, execution: str, **inputs: str) -> Any:
    """Send the step's `function_executed` event as Slack does; give back the HTTP answer."""
    envelope = {
        "token": "unused",
        "team_id": "T0ACME",
        "api_app_id": "A0SCIM",
        "type": "event_callback",
        "event_id": f"Ev{execution}",
        "event_time": int(time.time()),
        "event": {
            "type": "function_executed",
            "function": {"id": "Fn0SCIM", "callback_id": "check_access",
                         "title": "Check access in Cloudflare", "description": "", "type": "app",
                         "app_id": "A0SCIM", "date_created": 1_767_000_000, "date_updated": 1_767_000_000,
                         "date_deleted": 0,
                         "input_parameters": [], "output_parameters": []},
            "inputs": inputs,
            "function_execution_id": execution,
            "workflow_execution_id": f"Wx{execution}",
            "event_ts": f"{time.time():.6f}",
            "bot_access_token": FUNCTION_TOKEN,
        },
    }  # fmt: skip
    body = json.dumps(envelope)
    return bot.post(body, {**signed_headers(body), "Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("inputs", "outputs"),
    [
        ({"person": "U0JANE", "application": "grafana"},
         {"verdict": "allowed", "reason": "Allowed by the policy “Platform engineers”.", "provisioned": True,
          "active": True}),
        ({"person": "gus@example.com", "application": "grafana.example.com"},
         {"verdict": "denied", "provisioned": True, "active": False,
          "reason": "Okta Production has deactivated them (SCIM active: false), so they cannot log in "
                    "through it."}),
        ({"person": "nora@example.com", "application": "grafana"},
         {"verdict": "unknown", "reason": "Cannot tell: Access has never seen them log in.",
          "provisioned": True, "active": True}),
        ({"person": "nobody@example.com", "application": "Kibana"},
         {"verdict": "unknown", "provisioned": False, "active": False,
          "reason": "No Access application is named “Kibana” or covers that domain."}),
    ],
)  # fmt: skip
def test_the_step_completes_with_the_verdict_and_whether_the_person_is_provisioned(
    start_bot: StartBot,
    story: dict[str, Any],
    slack: FakeSlack,
    inputs: dict[str, str],
    outputs: dict[str, Any],
) -> None:
    bot = start_bot()

    answer = run_step(bot, "Fx1", **inputs)

    assert answer.status_code == 200
    ended = slack.wait_for_completion("Fx1")
    assert ended["method"] == "functions.completeSuccess"
    assert ended["outputs"] == outputs


def test_the_step_fails_in_one_sentence_when_cloudflare_cannot_answer(
    start_bot: StartBot, story: dict[str, Any], slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    bot = start_bot()
    cloudflare.failure = (503, 1000, "down")

    run_step(bot, "Fx2", person="jane@example.com", application="grafana")

    ended = slack.wait_for_completion("Fx2")
    assert ended["method"] == "functions.completeError"
    assert ended["error"].startswith("Cloudflare is not answering properly")


def test_the_step_fails_plainly_without_its_inputs_or_with_allow_lists(
    start_bot: StartBot, story: dict[str, Any], slack: FakeSlack
) -> None:
    bot = start_bot()
    listed = start_bot(SCIM_GROUPS_ALLOWED_USERS="U0ALICE")

    run_step(bot, "Fx3", person="jane@example.com")
    run_step(listed, "Fx4", person="jane@example.com", application="grafana")

    assert slack.wait_for_completion("Fx3")["error"].startswith("The step needs a person")
    assert "allow-lists" in slack.wait_for_completion("Fx4")["error"]


def test_an_event_from_another_workspace_is_dropped_before_any_listener(
    start_bot: StartBot, story: dict[str, Any], slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = start_bot(SLACK_TEAM_ID="T0OTHER")

    answer = run_step(bot, "Fx5", person="jane@example.com", application="grafana")

    # The access check runs before the answer is sent: by now it has refused, or let it through.
    assert answer.status_code == 200
    refused = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "refused"]
    assert [getattr(r, "fields", {})["reason"] for r in refused] == ["team"]


def test_slacks_url_check_of_the_events_address_is_answered(start_bot: StartBot) -> None:
    bot = start_bot()
    body = json.dumps({"token": "unused", "challenge": "c-123", "type": "url_verification"})

    answer = bot.post(body, {**signed_headers(body), "Content-Type": "application/json"})

    assert answer.status_code == 200
    assert "c-123" in answer.text
