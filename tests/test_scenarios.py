"""End to end: signed requests into the real app over HTTP, fake Cloudflare and Slack on loopback;
what a page says, and paging, asked of the service directly (`answers`)."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import ANSWER_THREADS
from bot.query import BUTTON_VERSION
from bot.views.rich import visible
from tests.conftest import FakeClock, ServiceDriver, SlackDriver, wait_until
from tests.fakes import (
    API_TOKEN,
    BOT_TOKEN,
    PROVIDER_ID,
    SIGNING_SECRET,
    FakeCloudflare,
    FakeSlack,
    block_text,
    buttons,
    command_form,
    make_group,
    signed_headers,
    texts,
)
from tests.helpers import context, group_names, mrkdwn_texts

OTHER_PROVIDER = "00000000-0000-4000-8000-00000000beef"
GROUPS_0_TO_9 = [f"group-{n:05d}" for n in range(10)]


def forged_button(action_id: str, **state: object) -> dict[str, Any]:
    """Give back a button as a stranger would forge it: any state, in the current format."""
    value = {"v": BUTTON_VERSION, "i": PROVIDER_ID, "p": 1, "n": 10, **state}
    return {"action_id": action_id, "value": json.dumps(value)}


def rich_elements(message: dict[str, Any]) -> list[str]:
    """Give back the text of every rich text element in the message."""
    found: list[str] = []
    for block in message["blocks"]:
        for part in block.get("elements", []) if block["type"] == "rich_text" else []:
            for item in part["elements"] if part["type"] == "rich_text_list" else [part]:
                found += [element.get("text", "") for element in item["elements"]]
    return found


def test_a_cold_command_is_acked_at_once_and_answered_privately_on_its_response_url(bot: SlackDriver) -> None:
    response, hook = bot.send_command()

    assert response.status_code == 200
    assert response.content == b""
    (post,) = bot.posts_to(hook, 1)
    message = post.body
    assert message["response_type"] == "ephemeral"
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "SCIM groups · Okta Production", "emoji": False},
    }
    assert group_names(message) == [f"group-{n:05d}" for n in range(10)]
    assert block_text(message["blocks"][1]).endswith(
        "External ID `ext-00000`  ·  Cloudflare ID `00000000-0000-0000-0000-000000000001`"
    )
    assert context(message) == "Page 1 of 5 · 45 groups"
    assert set(buttons(message)) == {
        "scim_groups_next",
        "scim_groups_refresh",
        "scim_groups_share",
        "scim_groups_history",
        "scim_groups_used_by",
    }
    assert message["text"] == "SCIM groups from Okta Production: page 1 of 5"


def test_a_warm_command_is_answered_inside_the_ack(bot: SlackDriver, slack: FakeSlack) -> None:
    cold = bot.command()

    response, hook = bot.send_command()

    warm = response.json()
    assert warm["blocks"] == cold["blocks"]
    assert warm["response_type"] == "ephemeral"
    assert all(post.hook != hook for post in slack.posts)


def test_no_ack_waits_on_slacks_web_api(bot: SlackDriver, slack: FakeSlack) -> None:
    page = bot.command()
    bot.click(buttons(page)["scim_groups_next"])
    bot.command()

    assert slack.api_calls == []  # replies go to response_urls; no auth.test in the way


def test_a_cold_command_costs_one_round_trip_not_two(bot: SlackDriver, cloudflare: FakeCloudflare) -> None:
    cloudflare.gate.clear()
    _, hook = bot.send_command()
    wait_until(lambda: len(cloudflare.calls) >= 2, "two calls to Cloudflare under way at once", 5)

    assert len(cloudflare.calls) == 2  # the provider list and the groups, both under way at once
    cloudflare.gate.set()
    assert group_names(bot.posts_to(hook, 1)[0].body)


def test_last_changed_uses_slack_date_formatting(answers: ServiceDriver) -> None:
    message = answers.command()

    assert any(
        "Changed <!date^1735787045^{ago} · {date_short_pretty} at {time}|2025-01-02 03:04 UTC>" in text
        for text in texts(message)
    )


def test_paging_next_previous_and_to_the_last_page(answers: ServiceDriver, slack: FakeSlack) -> None:
    first = answers.command()

    second = answers.click(buttons(first)["scim_groups_next"])
    assert second["replace_original"] is True
    assert group_names(second) == [f"group-{n:05d}" for n in range(10, 20)]
    assert context(second) == "Page 2 of 5 · 45 groups"
    assert "scim_groups_previous" in buttons(second)

    back = answers.click(buttons(second)["scim_groups_previous"])
    assert group_names(back) == group_names(first)
    assert "scim_groups_previous" not in buttons(back)

    page = back
    for _ in range(4):
        page = answers.click(buttons(page)["scim_groups_next"])
    assert group_names(page) == [f"group-{n:05d}" for n in range(40, 45)]
    assert context(page) == "Page 5 of 5 · 45 groups"
    assert "scim_groups_next" not in buttons(page)


def test_paging_crosses_upstream_pages_without_totals(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(230)]
    cloudflare.omit_totals = True
    page = answers.command()
    assert context(page) == "Page 1 · 100+ groups"

    for _ in range(10):
        page = answers.click(buttons(page)["scim_groups_next"])

    assert group_names(page)[0] == "group-00100"
    assert context(page) == "Page 11 · 200+ groups"
    calls = cloudflare.group_calls()
    assert [(c["page"], c["per_page"]) for c in calls] == [(["1"], ["100"]), (["2"], ["100"])]


@pytest.mark.parametrize(
    ("totals", "position"), [(True, "Past the last page (10) · 100 groups"), (False, "Page 11")]
)
def test_the_page_after_a_full_last_page_says_there_are_no_more(
    answers: ServiceDriver, cloudflare: FakeCloudflare, totals: bool, position: str
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(100)]
    cloudflare.omit_totals = not totals
    page = answers.command()
    for _ in range(10):
        page = answers.click(buttons(page)["scim_groups_next"])

    assert group_names(page) == []
    assert "There are no more groups" in "".join(texts(page))
    assert context(page) == position  # without Cloudflare's count, none is made up
    assert "scim_groups_next" not in buttons(page)
    assert "scim_groups_previous" in buttons(page)


def test_refresh_past_a_directory_that_shrank_counts_only_what_cloudflare_says(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(200)]
    page = answers.command()
    for _ in range(15):
        page = answers.click(buttons(page)["scim_groups_next"])
    assert context(page) == "Page 16 · 200+ groups"
    cloudflare.groups[PROVIDER_ID] = cloudflare.groups[PROVIDER_ID][:50]

    refreshed = answers.click(buttons(page)["scim_groups_refresh"])

    assert group_names(refreshed) == []
    assert context(refreshed) == "Past the last page (5) · 50 groups"


def test_a_forged_far_page_shows_no_invented_count(answers: ServiceDriver) -> None:
    far = answers.click(forged_button("scim_groups_next", p=100_000))

    assert group_names(far) == []
    assert context(far) == "Page 100000"


def test_an_upstream_that_repeats_its_first_page_ends_the_list(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(300)]
    cloudflare.same_page_always = True
    page = answers.command()
    for _ in range(10):
        page = answers.click(buttons(page)["scim_groups_next"])

    assert group_names(page) == []
    assert "scim_groups_next" not in buttons(page)


def test_a_wrong_low_total_does_not_hide_groups(answers: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(150)]
    cloudflare.reported_total = 10
    page = answers.command()
    for _ in range(14):
        page = answers.click(buttons(page)["scim_groups_next"])

    assert group_names(page)[-1] == "group-00149"
    assert context(page) == "Page 15 of 15 · 150 groups"


def test_clicks_carry_their_state_so_any_worker_can_answer(
    bot: SlackDriver, cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock
) -> None:
    first = bot.command()
    next_button = buttons(first)["scim_groups_next"]
    clock.advance(3_600)  # as if served after a restart: nothing cached, nothing remembered

    second = bot.click(next_button)

    assert group_names(second) == [f"group-{n:05d}" for n in range(10, 20)]


def test_bad_signature_is_refused_with_401(bot: SlackDriver) -> None:
    body = urlencode(command_form("", "http://127.0.0.1:9/none"))
    headers = signed_headers(body, secret="not-the-signing-secret")

    assert bot.post(body, headers).status_code == 401


def test_stale_timestamp_is_refused_with_401(bot: SlackDriver) -> None:
    body = urlencode(command_form("", "http://127.0.0.1:9/none"))
    headers = signed_headers(body, timestamp=int(time.time()) - 6 * 60)

    assert bot.post(body, headers).status_code == 401


def test_hostile_group_names_stay_inert(answers: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    hostile = ["<!channel>", "<@U0BOSS> & <!here>", "<https://evil.example|Click me>", "<!subteam^S1>"]
    cloudflare.groups[PROVIDER_ID] = [make_group(n, name) for n, name in enumerate(hostile)]
    cloudflare.groups[PROVIDER_ID][0]["externalId"] = "<!everyone>"

    message = answers.command()

    # Each name is a rich text element of its own, shown as it is: Slack parses none of it.
    assert group_names(message) == hostile
    assert "<!everyone>" in rich_elements(message)
    assert not [text for text in mrkdwn_texts(message) if any(name in text for name in hostile)]


HOSTILE = {
    "forged line": "eng-oncall\nChanged 1 minute ago",
    "forged share": "*Shared by @admin* — _see_ https://evil.example ~now~",
    "code span": "ops` *bold* `",
    "bidi": "gro\u202eup",
    "zero width": "eng\u200boncall",
    "controls": "nul\x00esc\x1b[2J",
    "shortcode": ":rotating_light: urgent",
}


@pytest.mark.parametrize("name", list(HOSTILE.values()), ids=list(HOSTILE))
def test_identity_provider_text_cannot_reshape_a_message_and_what_cannot_be_seen_is_shown(
    answers: ServiceDriver, cloudflare: FakeCloudflare, name: str
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(0, name)]
    cloudflare.groups[PROVIDER_ID][0]["externalId"] = name

    shared = answers.click(buttons(answers.command())["scim_groups_share"])

    shown = visible(name)
    assert group_names(shared) == [shown]  # one bold element, the whole name
    assert shown.isprintable()
    assert rich_elements(shared).count(shown) == 2  # the name, and the id in its code span
    assert not [text for text in mrkdwn_texts(shared) if name in text or shown in text]
    header = shared["blocks"][0]["text"]
    assert header["emoji"] is False  # a :shortcode: in a header stays text


def test_long_names_are_cut_with_an_ellipsis(answers: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(0, "x" * 5_000)]

    (name,) = group_names(answers.command())

    assert name == "x" * 149 + "…"


def test_concurrent_identical_commands_make_one_upstream_call(
    bot: SlackDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.gate.clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        pending = [pool.submit(bot.command) for _ in range(8)]
        wait_until(lambda: cloudflare.calls, "the first call to Cloudflare")
        threading.Timer(0.3, cloudflare.gate.set).start()
        messages = [future.result() for future in pending]

    assert all(group_names(message) == group_names(messages[0]) for message in messages)
    assert len(cloudflare.group_calls()) == 1


def test_a_crowd_asking_one_slow_question_holds_one_thread_and_everyone_gets_an_answer(
    bot: SlackDriver, cloudflare: FakeCloudflare, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cloudflare.add_provider(OTHER_PROVIDER, "Azure AD", [make_group(n) for n in range(12)])
    page = bot.command()  # the provider list and the default directory are cached now
    cloudflare.gate.clear()
    people = [f"U{n:04d}" for n in range(ANSWER_THREADS + 8)]
    crowd = [bot.send_command(f"idp:{OTHER_PROVIDER}", user_id=person)[1] for person in people]

    # More people than answer threads wait on Cloudflare, and someone else is still answered.
    assert group_names(bot.click(buttons(page)["scim_groups_next"]))[0] == "group-00010"
    clock.advance(5)  # Cloudflare takes 5 s
    cloudflare.gate.set()

    answers = [bot.posts_to(hook, 1) for hook in crowd]
    assert all([group_names(post.body) for post in posts] == [GROUPS_0_TO_9] for posts in answers)
    assert len([path for path, _ in cloudflare.calls if OTHER_PROVIDER in path]) == 1
    audit = [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "fields", {}).get("event") == "command"
        and record.fields["provider"] == OTHER_PROVIDER  # type: ignore[attr-defined]
    ]
    assert sorted(line["user"] for line in audit) == people  # one audit line each
    assert sorted(line["cache"] for line in audit) == ["hit"] * (len(people) - 1) + ["miss"]
    assert {line["latency_ms"] for line in audit} == {5000}  # what each person waited


def test_a_crowd_behind_a_failed_answer_is_still_answered(
    bot: SlackDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.add_provider(OTHER_PROVIDER, "Azure AD", [make_group(n) for n in range(12)])
    bot.command()
    cloudflare.gate.clear()
    cloudflare.group_faults = [("status", 500, 10001, {})] * 3  # every try of the first answer
    first, *crowd = [bot.send_command(f"idp:{OTHER_PROVIDER}")[1] for _ in range(5)]
    cloudflare.gate.set()

    assert bot.posts_to(first, 1)[0].body["text"].startswith("Cloudflare is not answering properly right now")
    for hook in crowd:  # tried again once the first answer failed: one call for all of them
        assert [group_names(post.body) for post in bot.posts_to(hook, 1)] == [GROUPS_0_TO_9]
    assert len([path for path, _ in cloudflare.calls if OTHER_PROVIDER in path]) == 4


def test_a_repeat_is_served_from_the_cache_until_the_ttl_passes(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    answers.command()
    answers.command()
    assert len(cloudflare.group_calls()) == 1

    clock.advance(61)
    answers.command()
    assert len(cloudflare.group_calls()) == 2


def test_refresh_refetches_and_replaces_the_message(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    first = answers.command()
    cloudflare.groups[PROVIDER_ID][0]["displayName"] = "renamed-group"

    refreshed = answers.click(buttons(first)["scim_groups_refresh"])

    assert refreshed["replace_original"] is True
    assert group_names(refreshed)[0] == "renamed-group"
    assert len(cloudflare.group_calls()) == 2


def test_share_posts_the_page_in_channel_and_keeps_the_private_message(bot: SlackDriver) -> None:
    second = bot.click(buttons(bot.command())["scim_groups_next"])

    shared = bot.click(buttons(second)["scim_groups_share"], user_id="U0ALICE")

    assert shared["response_type"] == "in_channel"
    assert shared["replace_original"] is False
    assert group_names(shared) == group_names(second)
    assert context(shared) == "Page 2 of 5 · 45 groups · shared by <@U0ALICE>"
    assert "scim_groups_share" not in buttons(shared)


def test_paging_a_shared_message_answers_the_clicker_privately(bot: SlackDriver) -> None:
    shared = bot.click(buttons(bot.command())["scim_groups_share"])

    private = bot.click(buttons(shared)["scim_groups_next"], user_id="U0BOB")

    assert private["response_type"] == "ephemeral"
    assert private["replace_original"] is False
    assert context(private) == "Page 2 of 5 · 45 groups"
    assert "scim_groups_share" in buttons(private)


def test_slow_cloudflare_is_acked_at_once_and_answered_later(
    bot: SlackDriver, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    cloudflare.gate.clear()

    response, hook = bot.send_command()

    assert response.status_code == 200
    assert response.content == b""
    assert slack.posts == []
    cloudflare.gate.set()
    (post,) = bot.posts_to(hook, 1)
    assert post.body["response_type"] == "ephemeral"
    assert group_names(post.body)[0] == "group-00000"


def test_help_explains_usage(answers: ServiceDriver) -> None:
    message = answers.command("help")

    help_text = "".join(texts(message))
    for example in (
        "`/scim-groups oncall`",
        "`/scim-groups id:",
        "`/scim-groups external:",
        'idp:"Azure AD"',
    ):
        assert example in help_text
    assert buttons(message) == {}


@pytest.mark.parametrize(
    ("status", "code", "sentence"),
    [
        (403, 10000, "Cloudflare refused the bot's credentials (Cloudflare code 10000)"),
        (
            429,
            971,
            "Cloudflare is rate-limiting this bot's API token (Cloudflare code 971); "
            "please try again in about 30 seconds.",
        ),
        (404, 7003, "Cloudflare does not know this account or identity provider (Cloudflare code 7003)"),
        (502, 1000, "Cloudflare is not answering properly right now (HTTP 502) (Cloudflare code 1000)"),
        (400, 12130, "Cloudflare refused the request (Cloudflare code 12130): boom. An admin should check"),
    ],
)
def test_cloudflare_failures_get_one_plain_sentence(
    answers: ServiceDriver, cloudflare: FakeCloudflare, status: int, code: int, sentence: str
) -> None:
    cloudflare.failure = (status, code, "boom")

    message = answers.command()

    assert sentence in message["text"]
    assert len(message["blocks"]) == 1
    assert "Traceback" not in message["text"]


def test_unreachable_cloudflare_gets_one_plain_sentence(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.close()

    message = answers.command()

    assert message["text"] == "Cloudflare is not answering properly right now; please try again in a minute."


def test_a_tampered_button_gets_a_clear_answer(answers: ServiceDriver) -> None:
    message = answers.click({"action_id": "scim_groups_next", "value": '{"v":1,"i":"x","p":-4}'})

    assert message["text"] == "This button is from an older or altered message; run `/scim-groups` again."
    assert message["replace_original"] is False


def test_an_expired_response_url_is_logged_and_the_app_keeps_answering(
    bot: SlackDriver, slack: FakeSlack, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    first = bot.command()
    slack.clock = clock
    slack.response_url("T0ACME/2/hook")  # made by Slack now, the click sent with it 30 minutes on
    clock.advance(30 * 60 + 1)

    response, _ = bot.send_click(buttons(first)["scim_groups_next"])
    assert response.status_code == 200
    wait_until(lambda: "response_url_failed status=404" in caplog.text, "the expired URL to be logged")

    assert group_names(bot.command()) == group_names(first)


def test_no_secret_reaches_a_log_line_or_a_slack_message(
    bot: SlackDriver, cloudflare: FakeCloudflare, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = bot.command()
    bot.click(buttons(page)["scim_groups_next"])
    bot.command("no such thing")
    cloudflare.failure = (403, 10000, "Authentication error")
    bot.click(buttons(page)["scim_groups_refresh"])
    bot.click({"action_id": "scim_groups_next", "value": "tampered"})

    said = caplog.text + json.dumps([post.body for post in slack.posts]) + json.dumps(page)
    assert "cloudflare_failed" in caplog.text
    assert "bad_input" in caplog.text
    for secret in (API_TOKEN, BOT_TOKEN, SIGNING_SECRET):
        assert secret not in said


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-01:00", "yesterday"])
def test_a_date_that_cannot_be_shown_is_unknown_and_the_page_still_renders(
    answers: ServiceDriver, cloudflare: FakeCloudflare, moment: str
) -> None:
    cloudflare.groups[PROVIDER_ID][0]["meta"]["lastModified"] = moment

    message = answers.command()

    assert group_names(message)[:2] == ["group-00000", "group-00001"]
    assert block_text(message["blocks"][1]).startswith("*group-00000*\nLast change unknown\nExternal ID")


def test_the_fake_response_url_keeps_slacks_limits(slack: FakeSlack, clock: FakeClock) -> None:
    slack.clock = clock
    five, late = slack.response_url("five"), slack.response_url("late")
    clock.advance(30 * 60)

    statuses = [httpx.post(five, json={"text": "x"}).status_code for _ in range(6)]
    on_time = httpx.post(late, json={"text": "x"}).status_code
    clock.advance(1)

    assert (statuses, on_time) == ([200] * 5 + [404], 200)
    assert httpx.post(late, json={"text": "x"}).text == "expired_url"
