"""`user:`, `failures`, `changed:`, History and Used by, asked of the bot's service as Slack's
listeners ask it, against the fake Cloudflare; the two that depend on delivery (a deadline, a
shared message) over signed HTTP."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.logs import FIELD_LIMIT, event
from tests.conftest import FakeClock, ServiceDriver, StartAnswers, StartBot
from tests.fake_access import APPS_PERMISSION, LOGS_PERMISSION, make_update, make_user
from tests.fakes import PROVIDER_ID, FakeCloudflare, FakeSlack, block_text, buttons, make_group, texts
from tests.helpers import AS_OF, check_limits

# The fake clock's wall time at the start: 2026-01-01T00:16:40Z.
NOW = datetime(2026, 1, 1, 0, 16, 40, tzinfo=UTC)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def words(message: dict[str, Any]) -> str:
    return "\n".join(texts(message))


def footer(message: dict[str, Any]) -> str:
    """Give back the last context line, without the time its answer was fetched."""
    return AS_OF.sub(
        "", str([b for b in message["blocks"] if b["type"] == "context"][-1]["elements"][0]["text"])
    )


def headlines(message: dict[str, Any]) -> list[str]:
    """Give back the first line of each section or rich text but a user's pushes (a block of its own)."""
    firsts = [
        block_text(b).splitlines()[0] for b in message["blocks"] if b["type"] in ("section", "rich_text")
    ]
    return [line for line in firsts if not line.startswith(("SCIM pushes, last", "No SCIM pushes about"))]


def log_calls(cloudflare: FakeCloudflare) -> list[dict[str, list[str]]]:
    return [query for path, query in cloudflare.calls if path.endswith("/logs/scim/updates")]


@pytest.fixture
def bot(start_answers: StartAnswers) -> ServiceDriver:
    """The bot's service, asked directly: what an answer says does not depend on HTTP."""
    return start_answers()


@pytest.fixture
def people(cloudflare: FakeCloudflare) -> list[dict[str, Any]]:
    users = [make_user(n) for n in range(12)]
    users[4]["active"] = False
    cloudflare.users[PROVIDER_ID] = users
    group = make_group(3)
    cloudflare.updates = [
        make_update(PROVIDER_ID, ago(hours=2), user=users[3], method="PUT"),
        make_update(
            PROVIDER_ID,
            ago(hours=1),
            user=users[3],
            status="FAILURE",
            error="userName <must> be unique & set",
        ),
        make_update(PROVIDER_ID, ago(days=8), user=users[3], status="FAILURE", error="too old to show"),
        make_update(PROVIDER_ID, ago(minutes=30), group=group, status="FAILURE", error="group name taken"),
        make_update(PROVIDER_ID, ago(hours=30), group=group, status="FAILURE", error="outside a day"),
        make_update("another-idp", ago(minutes=5), group=group, status="FAILURE", error="not this provider"),
    ]
    return users


def test_a_user_is_found_by_email_in_any_case_with_their_recent_pushes(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    message = bot.command("user:User0003@Example.COM")

    assert message["blocks"][0]["text"]["text"] == "SCIM users · Okta Production"
    user, pushes = block_text(message["blocks"][1]), block_text(message["blocks"][2]).splitlines()
    assert user.splitlines() == [
        "*User 0003* — active",
        "user0003@example.com",
        "Changed <!date^1795163400^{ago} · {date_short_pretty} at {time}|2026-11-20 08:30 UTC> · created "
        "<!date^1740819600^{date_short_pretty} at {time}|2025-03-01 09:00 UTC>",
        f"External ID `00u000003`  ·  Cloudflare ID `{people[3]['id']}`",
    ]
    assert pushes[0] == "SCIM pushes, last 7 days (newest first):"
    assert pushes[1].startswith("• <!date^")
    assert pushes[1].endswith("· PATCH ❌ failed: userName <must> be unique & set")
    assert pushes[2].endswith("· PUT ✅ succeeded")
    assert pushes[3] == "No group added or removed them in the last 7 days."
    assert len(pushes) == 4  # the failure of 8 days ago is not shown
    assert footer(message) == "Page 1 of 1 · 1 user found"
    [history] = [query for query in log_calls(cloudflare) if "cf_resource_id" in query]
    [groups] = [query for query in log_calls(cloudflare) if "cf_resource_id" not in query]
    assert (groups["resource_type"], groups["status"], groups["per_page"]) == (
        ["GROUP"],
        ["SUCCESS"],
        ["1000"],
    )
    assert groups["since"] == ["2025-12-25T00:17:00Z"]
    assert history["idp_id"] == [PROVIDER_ID]
    assert history["cf_resource_id"] == [people[3]["id"]]
    assert history["direction"] == ["desc"]
    assert history["per_page"] == ["5"]
    assert history["since"] == ["2025-12-25T00:17:00Z"]  # 7 days before the next whole minute
    assert history["until"] == ["2026-01-01T00:17:00Z"]
    assert "request_body" not in json.dumps(message)


def test_a_deactivated_user_is_said_to_be_deactivated(
    bot: ServiceDriver, people: list[dict[str, Any]]
) -> None:
    message = bot.command(f"user:{people[4]['externalId']}")

    assert block_text(message["blocks"][1]).splitlines()[0] == (
        "*User 0004* — *deactivated* by the identity provider"
    )
    assert "No SCIM pushes about this user in the last 7 days." in words(message)


def test_a_user_with_fields_of_unexpected_types_is_shown_with_those_unknown(
    bot: ServiceDriver, people: list[dict[str, Any]]
) -> None:
    odd = people[5]
    odd.update({"emails": 5, "displayName": 7, "active": "yes", "meta": ["not", "an", "object"]})

    message = bot.command(f"user:{odd['id']}")

    shown = "\n".join(texts(message))
    assert "Emails unknown" in shown
    assert "active or not: not reported" in shown
    assert odd["externalId"] in shown  # the rest of the answer stands
    assert "Something went wrong" not in shown


def test_several_users_by_email_cloudflare_id_and_idp_id_come_in_the_order_asked(
    bot: ServiceDriver, people: list[dict[str, Any]]
) -> None:
    asked = f"user:{people[7]['id']},user0001@example.com nobody@example.com {people[2]['externalId']}"

    message = bot.command(asked)

    assert headlines(message) == [
        "*User 0007* — active",
        "*User 0001* — active",
        "*User 0002* — active",
        "Not found: `nobody@example.com`.",
    ]
    assert footer(message) == "Page 1 of 1 · 3 users found"
    assert message["text"] == "SCIM users from Okta Production: page 1 of 1 · 1 not found"


def test_an_unknown_user_gets_one_sentence_naming_what_was_looked_up(
    bot: ServiceDriver, people: list[dict[str, Any]]
) -> None:
    message = bot.command("user:ghost@example.com")

    assert block_text(message["blocks"][1]) == (
        "No SCIM user in *Okta Production* has the email or id `ghost@example.com`. Cloudflare only knows "
        "the users the identity provider pushed to it: check the address, or whether the person is "
        "assigned to the app in the identity provider."
    )
    assert [b["type"] for b in message["blocks"]] == ["header", "rich_text", "context", "actions"]
    assert re.fullmatch(r"As of <!date\^\d+\^\{time\}\|\d\d:\d\d UTC>", footer(message))  # no "Page 1 of 1"
    assert message["text"] == "1 user not found in Okta Production"


def test_many_users_are_paged_with_the_usual_buttons_four_at_a_time(
    bot: ServiceDriver, people: list[dict[str, Any]]
) -> None:
    asked = "user:" + ",".join(user["emails"][0]["value"] for user in people)

    first = bot.command(asked)
    second = bot.click(buttons(first)["scim_groups_next"])
    third = bot.click(buttons(second)["scim_groups_next"])

    assert footer(first) == "Page 1 of 3 · 12 users found"
    assert footer(third) == "Page 3 of 3 · 12 users found"
    assert headlines(second) == [
        f"*User {n:04d}* — {'*deactivated* by the identity provider' if n == 4 else 'active'}"
        for n in range(4, 8)
    ]
    assert "scim_groups_next" not in buttons(third)


def test_without_the_logs_permission_users_are_shown_and_the_permission_is_named(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    cloudflare.missing_permissions = {LOGS_PERMISSION}

    message = bot.command("user:user0003@example.com")

    assert message["blocks"][1]["elements"][0]["text"] == (
        "SCIM pushes are not shown. The bot's API token does not have the “Access: SCIM Logs Read” "
        "permission that this needs: an admin can add it to the token in the Cloudflare dashboard. "
        "Everything else keeps working."
    )
    assert block_text(message["blocks"][2]).splitlines()[0] == "*User 0003* — active"
    assert "SCIM pushes, last" not in words(message)


def test_failed_pushes_of_the_last_day_are_listed_newest_first(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    message = bot.command("failures")

    assert message["blocks"][0]["text"]["text"] == "Failed SCIM pushes, last 24 hours · Okta Production"
    lines = [block_text(b) for b in message["blocks"] if b["type"] == "rich_text"]
    assert len(lines) == 2
    assert lines[0].endswith("· PATCH of group *group-00003* (`ext-00003`) ❌ failed: group name taken")
    assert lines[1].endswith(
        "· PATCH of user *user0003@example.com* (`00u000003`) ❌ failed: userName <must> be unique & set"
    )
    assert footer(message) == "Page 1 of 1 · 2 failed pushes"
    [call] = log_calls(cloudflare)
    assert call == {
        "idp_id": [PROVIDER_ID],
        "status": ["FAILURE"],
        "since": ["2025-12-31T00:17:00Z"],
        "until": ["2026-01-01T00:17:00Z"],
        "direction": ["desc"],
        "page": ["1"],
        "per_page": ["100"],
    }


def test_no_failed_pushes_is_an_answer_too(bot: ServiceDriver, people: list[dict[str, Any]]) -> None:
    message = bot.command("failures:10m")

    assert block_text(message["blocks"][1]) == (
        "No failed SCIM pushes from *Okta Production* in the last 10 minutes."
    )


def test_failures_are_paged_over_the_same_window_however_late_the_click(
    bot: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.updates = [
        make_update(PROVIDER_ID, ago(minutes=n), group=make_group(n), status="FAILURE", error=f"error {n}")
        for n in range(1, 13)
    ]
    first = bot.command("failures:1h")
    clock.advance(3_600)  # an hour later, a new failure; Next still pages the first hour
    cloudflare.updates.append(
        make_update(PROVIDER_ID, NOW + timedelta(minutes=30), group=make_group(99), status="FAILURE")
    )

    second = bot.click(buttons(first)["scim_groups_next"])

    assert footer(first) == "Page 1 of 2 · 12 failed pushes"
    assert [block_text(b).rsplit(": ", 1)[1] for b in second["blocks"] if b["type"] == "rich_text"] == [
        "error 11",
        "error 12",
    ]


def test_without_the_logs_permission_failures_get_one_sentence_naming_it(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    cloudflare.missing_permissions = {LOGS_PERMISSION, APPS_PERMISSION}

    message = bot.command("failures")

    assert message["blocks"] == [
        {
            "type": "section",
            "text": {
                "type": "plain_text",
                "text": "The bot's API token does not have the “Access: SCIM Logs Read” permission that this "
                "needs: an admin can add it to the token in the Cloudflare dashboard. Everything else "
                "keeps working.",
                "emoji": False,
            },
        }
    ]
    assert bot.command("")["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"


def test_a_failing_log_is_retried_then_said_plainly(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    cloudflare.path_faults["/logs/"] = [("status", 502, 1000, {})] * 3

    message = bot.command("failures")

    assert "Cloudflare is not answering properly right now (HTTP 502)" in words(message)
    assert len(log_calls(cloudflare)) == 3  # tried three times


def test_a_log_refusal_with_many_long_errors_is_cut_to_slacks_limits(
    bot: ServiceDriver, cloudflare: FakeCloudflare, people: list[dict[str, Any]]
) -> None:
    errors = [{"code": 7_000 + n, "message": f"error {n} " + "&<>" * 80} for n in range(40)]
    refusal = {"success": False, "errors": errors, "messages": [], "result": None}
    cloudflare.path_faults["cf_resource_id="] = [("body", refusal, 400)]  # their own pushes

    message = bot.command("user:user0003@example.com")

    check_limits(message)
    shown = "\n".join(texts(message))
    assert "SCIM pushes are not shown" in shown
    assert "error 0" in shown
    assert "(and 37 more)" in shown
    assert "error 39" not in shown


def test_a_failing_log_costs_a_user_answer_only_its_pushes(
    bot: ServiceDriver,
    people: list[dict[str, Any]],
    cloudflare: FakeCloudflare,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    # Their pushes and the group pushes are both asked for, three tries each: every try fails.
    cloudflare.path_faults["/logs/"] = [("status", 502, 1000, {})] * 6

    message = bot.command("user:user0003@example.com")

    (warned,) = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "scim_log_failed"]
    assert warned.levelno == logging.WARNING
    assert getattr(warned, "fields", {})["error"] == "Cloudflare failed; HTTP 502; 1000: injected fault"

    assert message["blocks"][1]["elements"][0]["text"].startswith(
        "SCIM pushes are not shown. Cloudflare is not answering properly right now (HTTP 502)"
    )
    assert block_text(message["blocks"][2]).splitlines()[0] == "*User 0003* — active"


def test_groups_changed_in_a_window_are_listed_newest_first(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    groups = cloudflare.groups[PROVIDER_ID]
    for number, hours in ((5, 30), (9, 2), (12, 50), (20, 80)):
        groups[number]["meta"]["lastModified"] = ago(hours=hours).isoformat()

    message = bot.command("changed:3d")

    assert message["blocks"][0]["text"]["text"] == "Groups changed in the last 3 days · Okta Production"
    names = [block_text(b).splitlines()[0] for b in message["blocks"] if b["type"] == "rich_text"]
    assert names == ["*group-00009*", "*group-00005*", "*group-00012*"]
    assert footer(message) == "Page 1 of 1 · 3 groups"


def test_no_group_changed_is_said_plainly(bot: ServiceDriver) -> None:
    message = bot.command("changed:30m")

    assert block_text(message["blocks"][1]) == "No group in *Okta Production* changed in the last 30 minutes."


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "failures:soon",
            "`soon` is not a window: give a number and a unit (m, h, d or w) of at most 90 days",
        ),
        ("changed:100d", "`100d` is too long a window: at most 90 days, like `changed:90d`."),
        ("fail:6h", "`fail:` is not an option: did you mean `failures:`, as in `/scim-groups failures:6h`?"),
        ("user:a@b.c failures", "Ask one thing at a time"),
        ("failures oncall", "Ask one thing at a time"),
        ("user:", "`user:` needs a value after it, like `user:jane@example.com`."),
    ],
)
def test_bad_new_questions_say_what_is_wrong(bot: ServiceDriver, text: str, reason: str) -> None:
    assert bot.command(text)["blocks"][0]["text"]["text"].startswith(reason)


def test_a_group_named_like_a_new_word_can_still_be_searched_in_quotes(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID].append(make_group(50, "failures-team"))

    message = start_answers().command('"failures"')

    assert message["blocks"][0]["text"]["text"] == "Groups matching “failures” · Okta Production"


def history_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "scim_groups_history"
    ]


def test_every_group_has_a_history_that_goes_back_to_the_exact_page(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    group = make_group(13)
    cloudflare.updates = [
        make_update(PROVIDER_ID, ago(hours=3), group=group, method="PUT"),
        make_update(PROVIDER_ID, ago(hours=1), group=group, status="FAILURE", error="members <too> many"),
        make_update(PROVIDER_ID, ago(days=9), group=group, status="FAILURE", error="too old"),
        make_update(PROVIDER_ID, ago(minutes=5), group=make_group(14), error="another group"),
    ]
    second_page = bot.click(buttons(bot.command("group-000"))["scim_groups_next"])
    assert len(history_buttons(second_page)) == 10

    history = bot.click(history_buttons(second_page)[3])  # group-00013
    back = bot.click(buttons(history)["scim_groups_back"])

    assert history["blocks"][0]["text"]["text"] == "History of group-00013 · Okta Production"
    top, pushes = (block_text(b) for b in history["blocks"] if b["type"] == "rich_text")
    assert top.startswith("Changed <!date^")
    assert top.endswith(f"\nExternal ID `ext-00013`  ·  Cloudflare ID `{group['id']}`")
    lines = pushes.splitlines()
    assert lines[0].endswith("· PATCH ❌ failed: members <too> many")
    assert lines[1].endswith("· PUT ✅ succeeded · changed (details not shown)")  # a PUT without members
    assert len(lines) == 2
    assert list(buttons(history)) == ["scim_groups_back"]
    assert back["blocks"] == second_page["blocks"]


def test_a_history_shown_from_an_older_copy_while_the_log_fails_says_so(
    bot: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    group = make_group(3)
    cloudflare.updates = [make_update(PROVIDER_ID, ago(hours=3), group=group, method="PUT")]
    button = history_buttons(bot.command("group-00003"))[0]
    first = bot.click(button)
    clock.advance(120)  # past the log's 30 seconds
    cloudflare.path_faults["/logs/scim/updates"] = [("status", 503, 7_000, {})] * 10

    again = bot.click(button)

    shown = "\n".join(texts(again))
    assert "not answering" not in "\n".join(texts(first))
    assert "This is a copy from 2 minutes ago: Cloudflare is not answering properly (HTTP 503)" in shown
    assert "PUT ✅ succeeded" in shown  # the copy is still shown


def test_a_users_pushes_shown_from_an_older_copy_while_the_log_fails_say_so(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    bot.command("user:user0003@example.com")
    clock.advance(120)  # past the user's TTL and the log's 30 seconds
    cloudflare.path_faults["/logs/scim/updates"] = [("status", 503, 7_000, {})] * 10

    shown = "\n".join(texts(bot.command("user:user0003@example.com")))

    assert "SCIM pushes: This is a copy from 2 minutes ago: Cloudflare is not answering properly" in shown
    assert "PUT ✅ succeeded" in shown


def test_a_history_without_the_logs_permission_names_it_and_still_goes_back(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.missing_permissions = {LOGS_PERMISSION}
    first = bot.command("")

    history = bot.click(history_buttons(first)[0])

    assert "“Access: SCIM Logs Read”" in words(history)
    assert bot.click(buttons(history)["scim_groups_back"])["blocks"] == first["blocks"]


@pytest.mark.parametrize(
    "value",
    [
        '{"v":2,"d":"history","g":"nothex","b":{"v":2,"i":"' + PROVIDER_ID + '","p":1,"n":10}}',
        '{"v":2,"d":"history","g":"' + "a" * 32 + '","b":{"v":2,"i":"not-a-uuid","p":1,"n":10}}',
        '{"v":2,"d":"delete","g":"' + "a" * 32 + '","b":{"v":2,"i":"' + PROVIDER_ID + '","p":1,"n":10}}',
        "[]",
        "{",
    ],
)
def test_a_forged_history_button_changes_nothing(
    bot: ServiceDriver, cloudflare: FakeCloudflare, value: str
) -> None:
    calls = len(cloudflare.calls)

    message = bot.click({"action_id": "scim_groups_history", "value": value})

    assert message["blocks"][0]["text"]["text"].startswith("This button is from an older or altered message")
    assert len(cloudflare.calls) == calls


@pytest.mark.parametrize("action", ["history", "used_by"])
def test_a_detail_button_naming_a_provider_without_scim_reads_none_of_its_data(
    bot: ServiceDriver, cloudflare: FakeCloudflare, action: str
) -> None:
    legacy = "77777777-7777-4777-8777-777777777777"
    cloudflare.add_provider(legacy, "Legacy SAML", [make_group(1)], scim=False, kind="saml")
    bot.command()  # the provider list is known now, as it is once anyone has asked
    group, provider = make_group(1)["id"].replace("-", ""), legacy
    forged = {"v": 2, "d": action, "g": group, "b": {"v": 2, "i": provider, "p": 1, "n": 10}}
    calls = len(cloudflare.calls)

    message = bot.click({"action_id": f"scim_groups_{action}", "value": json.dumps(forged)})

    assert "does not have SCIM provisioning enabled" in message["blocks"][0]["text"]["text"]
    assert cloudflare.calls[calls:] == []


def used_by(message: dict[str, Any], index: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "scim_groups_used_by"
    ]
    return found[index]


def okta(name: str, provider: str = PROVIDER_ID) -> dict[str, Any]:
    return {"okta": {"name": name, "identity_provider_id": provider}}


ENGINEERS = "6b1f0e2a-0000-4000-8000-0000000000a1"
EVERYONE_IN_ENG = "6b1f0e2a-0000-4000-8000-0000000000a2"


@pytest.fixture
def rules(cloudflare: FakeCloudflare) -> None:
    cloudflare.access_groups = [
        {
            "id": ENGINEERS,
            "name": "Engineers",
            "include": [okta("group-00003")],
            "exclude": [],
            "require": [],
        },
        {"id": EVERYONE_IN_ENG, "name": "All of eng", "include": [{"group": {"id": ENGINEERS}}]},
        {
            "id": "6b1f0e2a-0000-4000-8000-0000000000a3",
            "name": "Elsewhere",
            "include": [okta("group-00003", "x")],
        },
    ]
    cloudflare.policies = [
        {
            "id": "p1",
            "name": "Prod admins",
            "decision": "allow",
            "include": [{"group": {"id": EVERYONE_IN_ENG}}],
            "exclude": [okta("group-00004")],
            "require": [],
            "reusable": True,
        },
        {
            "id": "p2",
            "name": "Contractors out",
            "decision": "deny",
            "include": [{"everyone": {}}],
            "exclude": [],
        },
    ]
    cloudflare.apps = [
        {
            "id": "app1",
            "name": "Grafana",
            "domain": "grafana.example.com",
            "type": "self_hosted",
            "policies": [
                {
                    "id": "ap1",
                    "name": "SRE only",
                    "decision": "allow",
                    "precedence": 1,
                    "include": [{"email_domain": {"domain": "example.com"}}],
                    "require": [okta("GROUP-00003")],
                    "exclude": [],
                }
            ],
        }
    ]


def access_calls(cloudflare: FakeCloudflare) -> list[str]:
    return [
        path.rsplit("/", 1)[1]
        for path, _ in cloudflare.calls
        if path.endswith(("/groups", "/policies", "/apps")) and "/access/identity_providers/" not in path
    ]


@pytest.mark.usefixtures("rules")
def test_used_by_names_every_access_group_policy_and_application_with_its_list(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    page = bot.command("group-00003")

    detail = bot.click(used_by(page, 0))

    assert detail["blocks"][0]["text"]["text"] == "Used by: group-00003 · Okta Production"
    assert [block_text(block) for block in detail["blocks"][2:5]] == [
        "*Access groups*\n"
        "• *All of eng* — include, through Access group *Engineers*\n"
        "• *Engineers* — include",
        "*Reusable policies*\n• *Prod admins* (allow) — include, through Access group *All of eng*",
        "*Applications*\n• *Grafana* (`grafana.example.com`) — policy *SRE only* (allow): require",
    ]
    assert "Access checks the groups the identity provider sends at login" in words(detail)
    assert "†" not in words(detail)
    assert sorted(access_calls(cloudflare)) == ["apps", "groups", "policies"]
    assert bot.click(buttons(detail)["scim_groups_back"])["blocks"] == page["blocks"]


@pytest.mark.usefixtures("rules")
def test_the_access_graph_is_read_once_for_every_group_while_it_is_cached(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    page = bot.command("")
    bot.click(used_by(page, 3))

    other = bot.click(used_by(page, 4))

    assert "*Prod admins* (allow) — exclude" in words(other)
    assert sorted(access_calls(cloudflare)) == ["apps", "groups", "policies"]


@pytest.mark.usefixtures("rules")
def test_without_the_apps_permission_access_groups_are_still_shown_and_the_permission_named(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.missing_permissions = {APPS_PERMISSION}

    detail = bot.click(used_by(bot.command("group-00003"), 0))

    assert block_text(detail["blocks"][2]) == (
        "*Access groups*\n• *All of eng* — include, through Access group *Engineers*\n• *Engineers* — include"
    )
    assert (
        "Applications and reusable policies are not shown: the bot's API token does not have the "
        "“Access: Apps and Policies Read” permission."
    ) in words(detail)


def test_a_group_used_nowhere_is_said_so(bot: ServiceDriver) -> None:
    detail = bot.click(used_by(bot.command(""), 0))

    assert block_text(detail["blocks"][2]) == (
        "No Access group, reusable policy or application names this group."
    )


def test_an_entra_match_by_object_id_is_marked_as_inferred(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    entra = "00000000-0000-4000-8000-00000000e1a0"
    object_id = "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60"
    cloudflare.add_provider(entra, "Entra ID", [{**make_group(1), "externalId": object_id}], kind="azureAD")
    cloudflare.access_groups = [
        {
            "id": ENGINEERS,
            "name": "Engineers",
            "include": [{"azureAD": {"id": object_id, "identity_provider_id": entra}}],
        }
    ]
    bot = start_answers()

    detail = bot.click(used_by(bot.command(f"idp:{entra}"), 0))

    assert "• *Engineers* — include †" in words(detail)
    assert "† Matched by Entra object id" in words(detail)


def test_a_rate_limited_log_is_said_with_the_wait(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    cloudflare.path_faults["/logs/"] = [("status", 429, 971, {"Retry-After": "120"})]

    message = bot.command("failures")

    assert message["text"] == (
        "Cloudflare is rate-limiting this bot's API token (Cloudflare code 971); please try again in "
        "about 2 minutes."
    )
    assert len(log_calls(cloudflare)) == 1  # a wait past a minute is not waited out


def test_a_log_that_never_answers_still_gets_an_answer_within_the_deadline(
    start_bot: StartBot, people: list[dict[str, Any]], cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    bot = start_bot()
    bot.command("")  # the provider list is cached; only the log will hang
    cloudflare.gate.clear()
    response, hook = bot.send_command("failures")
    assert response.status_code == 200

    clock.advance(20)
    (post,) = bot.posts_to(hook, 1)

    assert post.body["text"].startswith("Cloudflare is slow to answer: nothing came back within 20 seconds.")


def test_the_audit_line_names_the_new_questions(
    bot: ServiceDriver, people: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")

    bot.command("user:user0003@example.com")
    bot.command("failures:6h")
    bot.click(used_by(bot.command(""), 0))

    audits = [getattr(record, "fields", {}) for record in caplog.records]
    kinds = [
        (fields.get("query"), fields.get("outcome"))
        for fields in audits
        if fields.get("event") in ("command", "click")
    ]
    assert ("user", "ok") in kinds
    assert ("failures", "ok") in kinds
    assert ("used_by", "empty") in kinds
    user_line = next(fields for fields in audits if fields.get("query") == "user")
    assert user_line["results"] == 1
    # Nobody's address or group name reaches an INFO line; at DEBUG, what was asked is there.
    infos = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert not [line for line in infos if "user0003" in line or "Okta Production" in line]
    asked = [getattr(r, "fields", {}) for r in caplog.records if r.levelno == logging.DEBUG]
    assert {"event": "asked", "user": "U0ALICE", "text": "user0003@example.com"} in asked


def test_a_log_field_is_cut_and_outside_text_is_never_written_raw(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    hostile = "\x1b]52;c;Zm9v\x07\x1b[2Jname\nforged=line"

    event(logging.getLogger("bot.test"), "probe", logging.INFO, short=hostile, long="x" * 1_000_000)

    (line,) = [record.getMessage() for record in caplog.records]
    assert len(line) < 2 * FIELD_LIMIT
    assert line.isprintable()
    assert "\n" not in line
    assert "\x1b" not in line
    fields = getattr(caplog.records[0], "fields", {})
    assert fields["short"] == hostile
    assert len(fields["long"]) == FIELD_LIMIT


@pytest.mark.usefixtures("rules")
def test_a_failing_access_list_is_said_plainly_and_back_still_works(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    page = bot.command("group-00003")
    cloudflare.path_faults["/access/apps"] = [("status", 502, 1000, {})] * 3

    detail = bot.click(used_by(page, 0))

    assert block_text(detail["blocks"][2]).startswith(
        "Cloudflare is not answering properly right now (HTTP 502)"
    )
    assert bot.click(buttons(detail)["scim_groups_back"])["blocks"] == page["blocks"]


def test_a_detail_opened_from_a_shared_page_is_the_clickers_own_and_goes_back_to_their_copy(
    start_bot: StartBot,
) -> None:
    bot = start_bot()
    _, hook = bot.send_click(buttons(bot.command(""))["scim_groups_share"])
    shared = bot.posts_to(hook, 1)[0].body

    _, hook = bot.send_click(used_by(shared, 0))
    (post,) = bot.posts_to(hook, 1)
    back = bot.click(buttons(post.body)["scim_groups_back"])

    assert post.body["replace_original"] is False  # the channel's message stays as it is
    assert post.body["blocks"][0]["text"]["text"] == "Used by: group-00000 · Okta Production"
    assert "scim_groups_share" in buttons(back)  # the clicker's own copy of the page
    assert "shared by" not in words(back)


def test_log_answers_are_kept_per_question_and_refresh_asks_again(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    page = bot.command("")
    first, again = bot.click(history_buttons(page)[3]), bot.click(history_buttons(page)[3])
    other = bot.click(history_buttons(page)[0])
    assert len(log_calls(cloudflare)) == 2  # the same group's history kept; another group's asked
    assert first["blocks"] == again["blocks"]
    assert "group name taken" in words(first)
    assert "group name taken" not in words(other)

    failures = bot.command("failures")
    bot.click(buttons(failures)["scim_groups_refresh"])
    assert len(log_calls(cloudflare)) == 4

    users = bot.command("user:user0003@example.com")  # their pushes, and the group pushes
    bot.click(buttons(users)["scim_groups_refresh"], user_id="U0BOB")  # Alice refreshed just now
    assert len(log_calls(cloudflare)) == 8


def test_a_missing_permission_is_logged_with_its_status(
    bot: ServiceDriver,
    people: list[dict[str, Any]],
    cloudflare: FakeCloudflare,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    cloudflare.missing_permissions = {LOGS_PERMISSION}

    bot.command("failures")

    failed = [
        getattr(r, "fields", {})
        for r in caplog.records
        if getattr(r, "fields", {}).get("event") == "cloudflare_failed"
    ]
    assert failed[-1]["error"] == "the API token lacks “Access: SCIM Logs Read”; HTTP 403"


@pytest.mark.parametrize(
    "sent",
    [
        # What Slack sends when its client linked the address someone pasted.
        "user:<mailto:user0003@example.com|user0003@example.com>",
        "user: <mailto:User0003@Example.com|User0003@Example.com>, <mailto:user0007@example.com|x>",
    ],
)
def test_an_address_slack_linked_is_looked_up_as_the_address(
    start_bot: StartBot, people: list[dict[str, Any]], sent: str
) -> None:
    message = start_bot().command(sent, as_sent=True)

    assert headlines(message)[0] == "*User 0003* — active"
    assert "Not found" not in words(message)
    assert "mailto" not in json.dumps(message)


# A person picked from Slack's list as you type `@` arrives as `<@U…|name>` (the command escapes
# mentions): the bot asks Slack for their email (optional scopes) and looks that up.
@pytest.mark.parametrize("sent", ["user:<@U0123ABC|kj>", "user:<@U0123ABC>", "user: <@U0123ABC|kj>"])
def test_a_slack_mention_is_looked_up_by_the_email_slack_gives_for_that_person(
    start_bot: StartBot, people: list[dict[str, Any]], slack: FakeSlack, sent: str
) -> None:
    slack.add_person("U0123ABC", "User Three", "USER0003@example.com")

    message = start_bot().command(sent, as_sent=True)

    assert headlines(message)[0] == "*User 0003* — active"
    assert "Not found" not in words(message)
    assert slack.api_calls.count("users.info") == 1


def test_a_mention_and_an_email_are_looked_up_together_and_a_person_asked_again_is_not_asked_of_slack(
    bot: ServiceDriver, people: list[dict[str, Any]], slack: FakeSlack
) -> None:
    slack.add_person("U0123ABC", "User Three", "user0003@example.com")

    first = bot.command("user:<@U0123ABC> user0004@example.com")
    again = bot.command("user:<@U0123ABC>")

    assert [line.split(" — ")[0] for line in headlines(first)[:2]] == ["*User 0003*", "*User 0004*"]
    assert headlines(again)[0] == "*User 0003* — active"
    assert slack.api_calls.count("users.info") == 1  # the email is kept a while


@pytest.mark.parametrize(
    ("scopes", "person", "said"),
    [
        ({"commands"}, ("User Three", "user0003@example.com"), "Slack did not say who this is: the bot needs "
         "Slack's optional scopes `users:read` and `users:read.email` for that"),
        ({"commands", "users:read"}, ("User Three", "user0003@example.com"),
         "no email to look them up by: Slack gave no email for them: the bot needs Slack's optional scopes"),
        (None, None, "Slack knows no such person in this workspace."),
    ],
)  # fmt: skip
def test_a_mention_slack_cannot_turn_into_an_email_says_why_in_one_sentence_and_asks_cloudflare_nothing(
    bot: ServiceDriver,
    people: list[dict[str, Any]],
    slack: FakeSlack,
    cloudflare: FakeCloudflare,
    scopes: set[str] | None,
    person: tuple[str, str] | None,
    said: str,
) -> None:
    if scopes is not None:
        slack.scopes = scopes
    if person is not None:
        slack.add_person("U0123ABC", *person)

    message = bot.command("user:<@U0123ABC>")

    (line,) = [block for block in message["blocks"] if block["type"] == "rich_text"]
    mention, *sentence = line["elements"][0]["elements"]
    assert mention == {"type": "user", "user_id": "U0123ABC"}
    assert "".join(element["text"] for element in sentence).startswith(f" — {said.replace('`', '')}")
    assert not [path for path, _ in cloudflare.calls if path.endswith("/scim/users")]  # nothing to ask


def test_a_mention_that_cannot_be_read_does_not_hold_up_the_others(
    bot: ServiceDriver, people: list[dict[str, Any]], slack: FakeSlack
) -> None:
    message = bot.command("user:<@U0NOBODY> user0003@example.com")

    assert headlines(message)[0] == "*User 0003* — active"
    assert "Slack knows no such person in this workspace." in words(message)


def test_a_bot_mentioned_is_said_to_have_no_email(
    bot: ServiceDriver, people: list[dict[str, Any]], slack: FakeSlack
) -> None:
    slack.add_person("U0BOT2", "Deploy Bot", None, bot=True)

    assert "no email to look them up by: a bot, with no email." in words(bot.command("user:<@U0BOT2>"))


def test_a_name_typed_after_an_at_sign_is_answered_with_what_to_do_instead(
    start_bot: StartBot, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    message = start_bot().command("user:@katherine.johnson", as_sent=True)

    assert words(message).startswith("Pick the person from Slack's list as you type `@`")
    assert not [path for path, _ in cloudflare.calls if path.endswith("/scim/users")]  # nothing asked


@pytest.mark.parametrize(
    "sent",
    [
        "<https://acme-admin.okta.com/admin/user/profile/view/00u000003|https://acme-admin.okta.com/…>",
        "user:https://acme-admin.okta.com/admin/user/profile/view/00u000003#tab-account",
        "user:mailto:user0003@example.com",
    ],
)
def test_a_pasted_admin_console_link_to_a_person_finds_them_by_their_id_there(
    start_bot: StartBot, people: list[dict[str, Any]], sent: str
) -> None:
    message = start_bot().command(sent, as_sent=True)

    assert headlines(message)[0] == "*User 0003* — active"
    assert "Not found" not in words(message)


def test_a_user_cloudflare_sent_without_an_id_is_shown_and_costs_no_call_to_the_log(
    bot: ServiceDriver, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    del people[3]["id"]

    message = bot.command("user:user0003@example.com")

    assert headlines(message)[0] == "*User 0003* — active"
    assert log_calls(cloudflare) == []


# People by name: `user:Katherine Johnson` (quotes optional) finds the SCIM users whose display
# name or user name holds the words, from the provider's whole list, read a few pages at a time.
def named_people(cloudflare: FakeCloudflare) -> list[dict[str, Any]]:
    users = [make_user(n) for n in range(250)]
    users[7].update(displayName="Katherine Johnson", userName="kjohnson@example.com")
    users[123].update(displayName="Katherine Johnson-Moore")
    users[201].update(displayName="Johnson, Katherine")
    cloudflare.users[PROVIDER_ID] = users
    return users


def test_people_are_found_by_name_whole_names_first_from_every_page(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    named_people(cloudflare)

    message = start_bot().command("user:Katherine Johnson")  # signed, over HTTP

    assert [line.split(" — ")[0] for line in headlines(message)] == [
        "*Katherine Johnson*", "*Katherine Johnson-Moore*", "*Johnson, Katherine*",
    ]  # fmt: skip
    assert footer(message) == "Page 1 of 1 · 3 users found"
    pages = [query["page"] for path, query in cloudflare.calls if path.endswith("/scim/users")]
    assert sorted(pages) == [[str(n)] for n in (1, 2, 3)]  # 250 people: three pages, read at once


def test_a_second_search_by_name_is_answered_from_the_list_read_for_the_first(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    named_people(cloudflare)
    bot.command('user:"katherine johnson"')
    calls = len(cloudflare.calls)

    message = bot.command("user:moore")

    assert [line.split(" — ")[0] for line in headlines(message)] == ["*Katherine Johnson-Moore*"]
    assert len(cloudflare.calls) == calls


def test_a_name_no_one_has_says_so_and_what_to_try(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    named_people(cloudflare)

    message = bot.command("user:Grace Hopper")

    assert list(texts(message))[2].startswith(
        "No SCIM user in *Okta Production* has “Grace Hopper” in their name. Cloudflare only knows"
    )
    assert message["text"] == "No SCIM user in Okta Production is called “Grace Hopper”"


def test_emails_and_ids_are_still_looked_up_directly(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    users = named_people(cloudflare)

    message = bot.command(f"user:user0003@example.com {users[5]['id']} 00u000009")

    assert [line.split(" — ")[0] for line in headlines(message)] == [
        "*User 0003*",
        "*User 0005*",
        "*User 0009*",
    ]
    assert not [query for path, query in cloudflare.calls if path.endswith("/scim/users") and "page" in query]


def test_a_user_not_in_the_provider_asked_is_found_in_another_and_opened_there(
    start_bot: StartBot, people: list[dict[str, Any]], cloudflare: FakeCloudflare
) -> None:
    azure = "0f7c2a1e-0000-4000-8000-00000000a2a2"
    cloudflare.add_provider(azure, "Azure AD", [], kind="azureAD")
    cloudflare.users[azure] = [make_user(7, email="grace.hopper@example.com")]
    bot = start_bot()  # signed, over HTTP

    message = bot.command("user:grace.hopper@example.com")
    opened = bot.click(buttons(message)["scim_groups_open:0"])

    assert "Found in another identity provider of the account: *Azure AD* (1 user)." in texts(message)
    assert buttons(message)["scim_groups_open:0"]["text"]["text"] == "Open in Azure AD"
    assert opened["blocks"][0]["text"]["text"] == "SCIM users · Azure AD"
    assert headlines(opened)[0] == "*User 0007* — active"


def test_one_word_no_name_holds_is_looked_up_as_an_identity_provider_id_too(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    users = named_people(cloudflare)
    users[9]["externalId"] = "ghopper"  # an IdP id with no digit in it

    found = bot.command("user:ghopper")
    nobody = bot.command("user:nosuchword")

    assert [line.split(" — ")[0] for line in headlines(found)] == ["*User 0009*"]
    assert words(nobody).count("has the email or id `nosuchword`") == 1
