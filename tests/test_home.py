"""The App Home: a signed `app_home_opened` event into the real app over HTTP, and the Home view
it publishes (`views.publish`) — each SCIM provider's failed pushes, the bot's health, within
Slack's limits; and what it does when Cloudflare fails or the tab opened is not Home."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import FakeClock, SlackDriver, StartBot
from tests.fake_access import make_update
from tests.fakes import PROVIDER_ID, FakeCloudflare, FakeSlack, make_group, rich_text, signed_headers
from tests.helpers import check_inert, check_limits

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
    assert "Cloudflare answers · no shared cache (one process)." in text
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
    assert "Cloudflare is not answering · " in text


def test_the_messages_tab_publishes_nothing(start_bot: StartBot, slack: FakeSlack) -> None:
    bot = start_bot()

    open_home(bot, "U0CAROL", tab="messages")
    open_home(bot, "U0DAVE")  # a Home opened after it: once published, the first one would be too

    slack.wait_for_home("U0DAVE")
    assert "U0CAROL" not in slack.homes
