"""`why`, end to end: signed commands and clicks over HTTP into the real app, against a fake
Cloudflare that holds one application, its policies, and people Access knows in every way
(`tests.helpers.why_story`), and the fake Slack that posts the answers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.access_users import (
    IDENTITY,
    LOGINS,
    REGISTRY,
    AccessUser,
    Identity,
    IdentityGroup,
    Login,
    Posture,
    access_user_of,
    identity_of,
    login_of,
)
from bot.codec import VERSION, Unusable
from tests.conftest import FakeClock, SlackDriver, StartAnswers, StartBot
from tests.fake_access import (
    APPS_PERMISSION,
    AUDIT_PERMISSION,
    LOGS_PERMISSION,
    make_access_user,
    make_identity,
    make_login,
)
from tests.fakes import FakeCloudflare, FakeSlack, buttons, texts
from tests.helpers import WHY_APP, RedisServer, check_inert, check_limits, why_story


@pytest.fixture
def story(cloudflare: FakeCloudflare, slack: FakeSlack, clock: FakeClock) -> dict[str, Any]:
    slack.add_person("U0JANE", "Jane", "jane@example.com")
    return why_story(cloudflare, clock.time())


@pytest.fixture
def bot(start_bot: StartBot, story: dict[str, Any]) -> SlackDriver:
    return start_bot()


def said(message: dict[str, Any]) -> str:
    return "\n".join(texts(message))


def verdict(message: dict[str, Any]) -> str:
    """Give back the verdict line: the first line under the header."""
    return list(texts(message))[2]


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("jane@example.com",
         "✅ *jane@example.com* would be *allowed* at *Grafana* by the Allow policy *Platform engineers*."),
        ("bob@example.com",
         "⛔ *bob@example.com* would be *denied* at *Grafana*: no Allow policy matches (Access denies by "
         "default)."),
        ("nora@example.com",
         "❔ *Can't tell* whether *nora@example.com* would get into *Grafana*: Access has never seen them "
         "log in, and the Allow policy *Platform engineers* rests on it. If it does not match: denied, as no "
         "other Allow policy matches."),
        ("gus@example.com",
         "⛔ *gus@example.com* would be *denied* at *Grafana*: Okta Production has deactivated them (SCIM "
         "active: false), so they cannot log in through it."),
        ("wendy@example.com",
         "⛔ *wendy@example.com* would be *denied* at *Grafana*: they last logged in through Azure AD, which "
         "this application does not offer."),
    ],
)  # fmt: skip
def test_the_verdict_comes_first_in_plain_words(bot: SlackDriver, person: str, expected: str) -> None:
    message = bot.command(f"why {person} grafana.example.com")

    assert verdict(message) == expected
    check_limits(message)


def test_an_allowed_person_sees_each_rule_marked_and_their_login(bot: SlackDriver) -> None:
    text = said(bot.command("why jane@example.com Grafana"))

    assert "1. ✗ the Block policy *Contractors* — does not match" in text
    assert "2. ✓ the Allow policy *Platform engineers* — matches (decides it)" in text
    assert "✓ include: Access group *SRE on call* — through its own rules" in text
    assert "↳ ✓ include: Okta group *Platform* — in the group at the last login" in text
    assert "✓ require: login method *Okta Production* — last logged in through Okta Production" in text
    assert "Groups (1, from the identity Access last saw, " in text
    assert text.split("Groups (1, ")[1].split("\n")[0].endswith("): Platform")
    assert "• ✅ allowed · " in text
    assert "Ray ID `8c1a2b3c4d5e6f70`" in text


def test_a_denied_person_sees_the_group_they_lack_whose_push_failed_and_the_login_denied(
    bot: SlackDriver,
) -> None:
    text = said(bot.command("why bob@example.com grafana"))

    assert "↳ ✗ include: Okta group *Platform* — not in the group at the last login" in text
    assert "group *Platform* · Group name conflicts with an existing group" in text
    assert "• ⛔ denied · " in text
    assert (
        "allowed" not in text.split("*Their recent logins to it*")[1]
    )  # the login to Staging is another app's


def test_a_person_never_logged_in_is_said_so_and_their_group_rules_are_unknown(bot: SlackDriver) -> None:
    text = said(bot.command("why nora@example.com grafana"))

    assert "Access: *never logged in* (not in the Zero Trust user registry)." in text
    assert "↳ ? include: Okta group *Platform* — not known: Access has never seen them log in" in text
    assert "No login to this application among their 0 newest logins in the Access log." in text


def test_a_person_picked_with_at_is_asked_of_slack_for_their_email(bot: SlackDriver) -> None:
    message = bot.command("why <@U0JANE|jane> grafana", as_sent=True)

    assert verdict(message).startswith("✅ *jane@example.com* would be *allowed*")


@pytest.mark.parametrize(
    ("missing", "expected", "outcome"),
    [
        (AUDIT_PERMISSION,
         "Not checked: whether they ever logged in, the identity Access last saw for them and their recent "
         "logins — the API token lacks “Access: Audit Logs Read”; rules that rest on them are marked ?.",
         "❔ *Can't tell*"),
        (LOGS_PERMISSION, "Failed SCIM pushes not checked: the API token lacks “Access: SCIM Logs Read”.",
         "✅ *jane@example.com* would be *allowed*"),
        (APPS_PERMISSION, "The bot cannot read Access applications: the API token lacks “Access: Apps and "
         "Policies Read”.", "The bot cannot read Access applications"),
    ],
)  # fmt: skip
def test_each_permission_missing_is_named_and_the_rest_is_still_answered(
    start_bot: StartBot,
    cloudflare: FakeCloudflare,
    story: dict[str, Any],
    missing: str,
    expected: str,
    outcome: str,
) -> None:
    cloudflare.missing_permissions = {missing}
    bot = start_bot()

    message = bot.command("why jane@example.com grafana")

    assert expected in said(message)
    assert any(line.startswith(outcome) for line in texts(message)), list(texts(message))


def test_without_the_audit_permission_the_reason_is_the_unreadable_identity(
    start_bot: StartBot, cloudflare: FakeCloudflare, story: dict[str, Any]
) -> None:
    cloudflare.missing_permissions = {AUDIT_PERMISSION}

    message = start_bot().command("why jane@example.com grafana")

    assert verdict(message).startswith(
        "❔ *Can't tell* whether *jane@example.com* would get into *Grafana*: the bot could not read the "
        "identity Access last saw for them"
    )


def test_several_applications_matching_are_offered_as_a_choice_that_answers(bot: SlackDriver) -> None:
    choice = bot.command("why jane@example.com graf")
    offered = buttons(choice)

    assert "2 Access applications match *graf*: which one?" in said(choice)
    assert [button["text"]["text"] for button in offered.values()] == ["Grafana", "Grafana Staging"]
    answered = bot.click(next(iter(offered.values())))
    assert verdict(answered).startswith("✅ *jane@example.com* would be *allowed* at *Grafana*")


def test_an_application_is_found_by_a_pasted_link_under_its_domain(bot: SlackDriver) -> None:
    message = bot.command(
        "why jane@example.com <https://grafana.example.com/d/abc?orgId=1|grafana.example.com/d/abc>",
        as_sent=True,
    )

    assert "*Application* *Grafana* (`grafana.example.com`)" in said(message)


def test_no_application_of_that_name_says_so(bot: SlackDriver) -> None:
    assert "No Access application is named *Kibana* or covers that domain." in said(
        bot.command("why jane@example.com Kibana")
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("why", "`why` needs the person's email (or pick them with `@`) and the application"),
        ("why grafana", "`why` needs the person's email (or pick them with `@`) and the application"),
        ("why jane@example.com", "`why` needs the application too, by its name or domain"),
        ("why @jane grafana", "Pick the person from Slack's list as you type `@`"),
        ("why jane@example.com bob@example.com grafana", "Ask `why` about one person at a time"),
    ],
)
def test_a_why_missing_its_person_or_application_says_what_would_work(
    bot: SlackDriver, cloudflare: FakeCloudflare, text: str, expected: str
) -> None:
    before = len(cloudflare.calls)

    message = bot.command(text)

    assert expected in said(message)
    assert "/scim-groups why jane@example.com grafana.example.com" in said(message)
    assert len(cloudflare.calls) == before, "a command that cannot be answered called Cloudflare"


def test_a_second_person_at_the_same_application_reuses_the_application_and_its_policies(
    bot: SlackDriver, cloudflare: FakeCloudflare
) -> None:
    bot.command("why jane@example.com grafana")
    before = len(cloudflare.calls)

    bot.command("why bob@example.com grafana")

    asked = {path.rsplit("/access/", 1)[1] for path, _query in cloudflare.calls[before:]}
    assert not asked & {"apps", "policies", "groups"}, sorted(asked)
    assert {"users", "logs/access_requests"} <= asked


def test_the_logins_and_registry_are_asked_about_the_person_alone(
    bot: SlackDriver, cloudflare: FakeCloudflare
) -> None:
    bot.command("why jane@example.com grafana")

    queries = {path.rsplit("/access/", 1)[1]: query for path, query in cloudflare.calls if "/access/" in path}
    assert queries["logs/access_requests"]["email"] == ["jane@example.com"]
    assert queries["logs/access_requests"]["email_exact"] == ["true"]
    assert queries["users"]["email"] == ["jane@example.com"]


def test_a_login_log_that_matches_part_of_an_address_shows_only_the_persons_own(
    start_bot: StartBot, cloudflare: FakeCloudflare, story: dict[str, Any]
) -> None:
    # The documented default is a substring match: `ane@example.com` is part of Jane's address.
    cloudflare.access_requests.append(
        make_login("ane@example.com", story, allowed=False, at="2025-12-31T23:59:00Z")
    )
    cloudflare.access_requests.append(
        make_login("jane@example.com.evil", story, allowed=False, at="2025-12-31T23:58:00Z")
    )

    text = said(start_bot().command("why ane@example.com grafana"))

    assert text.count("• ⛔ denied · ") == 1


def test_hostile_names_in_the_policies_and_the_identity_stay_inert(
    start_bot: StartBot, cloudflare: FakeCloudflare, story: dict[str, Any]
) -> None:
    hostile = "*bold* <!channel> <https://evil.example|ok> \u202eevil\n#eng"
    story["policies"][1]["name"] = hostile
    cloudflare.access_groups[0]["name"] = hostile
    cloudflare.access_groups[0]["include"][0]["okta"]["name"] = hostile
    jane = next(user for user in cloudflare.access_users if user["email"] == "jane@example.com")
    cloudflare.identities[jane["id"]]["groups"] = [{"id": "g", "name": hostile}]
    cloudflare.identities[jane["id"]]["geo"] = {"country": hostile}

    message = start_bot().command("why jane@example.com grafana")

    check_limits(message)
    check_inert(message)
    assert verdict(message).startswith("✅ *jane@example.com* would be *allowed*")


def test_the_refresh_user_and_group_buttons_answer(bot: SlackDriver, cloudflare: FakeCloudflare) -> None:
    message = bot.command("why jane@example.com grafana")
    offered = {button["text"]["text"]: button for button in buttons(message).values()}

    refreshed = bot.click(offered["↻ Refresh"])
    user = bot.click(offered["Their SCIM user"])
    group = bot.click(offered["Group Platform"])

    assert verdict(refreshed).startswith("✅ *jane@example.com* would be *allowed*")
    assert refreshed["replace_original"] is True
    assert "SCIM users" in said(user)
    assert "jane@example.com" in said(user)
    assert (user["replace_original"], group["replace_original"]) == (False, False), "the verdict was replaced"
    assert "*Platform*" in said(group)
    assert "Used by" in [button["text"]["text"] for button in buttons(group).values()]


def test_a_large_application_stays_within_slacks_limits(
    start_bot: StartBot, cloudflare: FakeCloudflare, story: dict[str, Any]
) -> None:
    many = [{"email": {"email": f"person{n:05d}@example.com"}} for n in range(5_000)]
    for number in range(30):
        story["policies"].append(
            {
                **story["policies"][1],
                "id": f"p{number}",
                "name": "P" * 300,
                "precedence": 10 + number,
                "include": many,
            }
        )

    message = start_bot().command("why jane@example.com grafana")

    check_limits(message)
    assert "And 26 more policies, not shown: none of them decides it." in said(message)
    assert app_of_message(message) == WHY_APP


def app_of_message(message: dict[str, Any]) -> str:
    """Give back the application id the Refresh button asks about again."""
    refresh = next(b for b in buttons(message).values() if b["text"]["text"] == "↻ Refresh")
    return str(json.loads(refresh["value"])["w"][1])


def test_what_access_knows_of_a_person_is_stored_and_read_back_whole() -> None:
    seen = identity_of(
        make_identity(
            make_access_user(1, "jane@example.com"),
            "okta-id",
            posture={"warp": True, "disk": False},
            groups=[{"id": "g1", "name": "Platform"}, "Finance"],
            saml_attributes={"department": ["Eng", "SRE"], "level": 3},
        )
    )

    assert seen.groups == (IdentityGroup("g1", "Platform", ""), IdentityGroup("", "Finance", ""))
    assert seen.attributes == (("department", "Eng"), ("department", "SRE"), ("level", "3"))
    assert [(check.rule_id, check.success) for check in seen.posture] == [("warp", True), ("disk", False)]
    assert IDENTITY.loads(IDENTITY.dumps(seen)) == seen
    assert IDENTITY.loads(IDENTITY.dumps(None)) is None
    person = access_user_of(make_access_user(1, "jane@example.com"))
    assert REGISTRY.loads(REGISTRY.dumps(person)) == person
    login = login_of(
        make_login("jane@example.com", {"id": "a", "domain": "d"}, allowed=True, at="2025-12-31T22:10:00Z")
    )
    assert LOGINS.loads(LOGINS.dumps((login,))) == (login,)


def test_an_identity_without_the_undocumented_fields_holds_no_groups_rather_than_none() -> None:
    seen = identity_of(make_identity(make_access_user(1, "jane@example.com"), "okta-id"))

    assert (seen.groups, seen.attributes) == (None, None)
    assert identity_of({"idp": "okta", "geo": ["DE"], "iat": "yesterday", "devicePosture": [1]}) == Identity(
        "", "", "", "", None, (), None, None
    )


@pytest.mark.parametrize(
    ("codec", "stored"),
    [
        (REGISTRY, ["id", "e", "n", "yes", None, None]),
        (REGISTRY, ["id", "e", "n"]),
        (REGISTRY, ["id", "e", "n", True, None]),
        (REGISTRY, "a user"),
        (IDENTITY, ["e", "i", "t", "c", None, [["r", "n"]], None, None]),
        (IDENTITY, ["e", "i", "t", "c", None, [], [["g", "n"]], None]),
        (IDENTITY, ["e", "i", "t", "c", "soon", [], None, None]),
        (LOGINS, [[None, True, "a", "d", "c", "x"]]),
        (LOGINS, "logins"),
    ],
)
def test_a_stored_copy_that_is_not_one_this_bot_wrote_is_refused(codec: Any, stored: object) -> None:
    with pytest.raises(Unusable):
        codec.loads(json.dumps([VERSION, stored]))


def test_a_token_without_the_audit_permission_is_not_asked_again_for_ten_minutes_but_on_refresh(
    start_bot: StartBot, cloudflare: FakeCloudflare, clock: FakeClock, story: dict[str, Any]
) -> None:
    cloudflare.missing_permissions = {AUDIT_PERMISSION, LOGS_PERMISSION}
    bot = start_bot()

    def refused() -> int:
        return sum("/access/users" in path or "/access/logs/" in path for path, _query in cloudflare.calls)

    first = bot.command("why jane@example.com grafana")
    after_first = refused()
    second = bot.command("why bob@example.com grafana")
    after_second = refused()
    bot.click(next(b for b in buttons(second).values() if b["text"]["text"] == "↻ Refresh"))
    after_refresh = refused()
    clock.advance(601)
    bot.command("why nora@example.com grafana")

    assert after_first >= 2  # the registry, the login log (and the SCIM log) were each asked once
    assert after_second == after_first, "a refused permission was asked again at once"
    assert after_refresh > after_second, "Refresh did not ask again"
    assert refused() > after_refresh, "ten minutes on, it was not asked again"
    for message in (first, second):
        assert "the API token lacks “Access: Audit Logs Read”" in said(message)
        assert "the API token lacks “Access: SCIM Logs Read”" in said(message)


def test_a_mention_slack_has_no_email_for_is_answered_in_one_sentence_without_cloudflare(
    bot: SlackDriver, slack: FakeSlack, cloudflare: FakeCloudflare
) -> None:
    slack.add_person("U0NOMAIL", "Hidden", None)
    before = len(cloudflare.calls)

    message = bot.command("why <@U0NOMAIL|hidden> grafana", as_sent=True)

    assert len(message["blocks"]) == 1
    assert "email" in said(message)
    asked = [path for path, _query in cloudflare.calls[before:] if not path.endswith("/identity_providers")]
    assert asked == [], "a person nobody could name was asked about"


def test_why_asks_the_provider_named_with_idp(bot: SlackDriver) -> None:
    message = bot.command('why gus@example.com grafana idp:"Okta Production"')

    assert "would be *denied* at *Grafana*: Okta Production has deactivated them" in verdict(message)


def test_a_second_process_sharing_redis_answers_the_same_why_without_asking_cloudflare(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, story: dict[str, Any], redis_server: RedisServer
) -> None:
    first = start_answers(SCIM_GROUPS_REDIS_URL=redis_server.url)
    second = start_answers(SCIM_GROUPS_REDIS_URL=redis_server.url)
    answered = first.command("why jane@example.com grafana")
    before = len(cloudflare.calls)

    again = second.command("why jane@example.com grafana")

    assert said(again) == said(answered)
    asked = [path for path, _query in cloudflare.calls[before:] if not path.endswith("/identity_providers")]
    assert asked == [], f"the second process asked Cloudflare again: {asked}"


def test_what_access_sends_about_a_person_is_read_field_by_field() -> None:
    user = make_access_user(1, "jane.doe@example.com")
    seen = make_identity(user, "okta-id", kind="okta", country="DE", posture={"warp": False},
                         groups=[{"id": "g1", "name": "Platform", "email": "p@example.com"}])  # fmt: skip
    app = {"id": "app-1", "domain": "grafana.example.com"}
    at = "2025-12-31T20:00:00Z"
    logged = make_login("jane.doe@example.com", app, allowed=False, at=at, connection="saml", ray_id="8c1a")
    row = {**logged, "country": "PT"}

    assert access_user_of(user) == AccessUser(
        user["id"],
        "jane.doe@example.com",
        "Jane Doe",
        True,
        False,
        datetime(2025, 12, 31, 22, 10, tzinfo=UTC),
    )
    assert identity_of(seen) == Identity(
        "jane.doe@example.com",
        "okta-id",
        "okta",
        "DE",
        datetime.fromtimestamp(1_767_219_000, UTC),
        (Posture("warp", "posture warp", False),),
        (IdentityGroup("g1", "Platform", "p@example.com"),),
        None,
    )
    assert login_of(row) == Login(
        datetime(2025, 12, 31, 20, 0, tzinfo=UTC), False, "app-1", "grafana.example.com", "saml", "PT", "8c1a"
    )
    assert access_user_of({"access_seat": "yes"}) == AccessUser("", "", "", None, None, None)


def test_the_newest_logins_come_first_and_a_registered_person_without_an_identity_has_none(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, story: dict[str, Any]
) -> None:
    cloudflare.access_requests.append(
        make_login("jane@example.com", story, allowed=False, at="2025-12-31T23:59:00Z")
    )
    jane = next(user for user in cloudflare.access_users if user["email"] == "jane@example.com")
    del cloudflare.identities[jane["id"]]
    subjects = start_answers().service._subjects

    logins = subjects.access_users.logins("jane@example.com").value
    identity = subjects.access_users.identity(jane["id"]).value

    moments = [login.at for login in logins if login.at is not None]
    assert len(moments) == len(logins) >= 2
    assert moments == sorted(moments, reverse=True)
    assert logins[0].allowed is False
    assert identity is None


def test_an_identity_is_read_in_every_shape_its_undocumented_fields_come_in() -> None:
    seen = identity_of(
        {
            "idp": {"id": "okta-id", "type": "okta"},
            "iat": 0,
            "devicePosture": {"rule-key": {"rule_name": "Disk", "success": True}},
            "oidc_fields": {"groups": ["sre", "eng"]},
            "custom": {"level": 3, "flag": True},
        }
    )

    assert seen.issued_at is None  # no moment was given
    assert seen.posture == (Posture("rule-key", "Disk", True),)  # the check named by its key
    assert seen.attributes == (("groups", "sre"), ("groups", "eng"), ("level", "3"))
    assert login_of({"country_code": "FR"}).country == "FR"
    registered = access_user_of({"id": "u", "email": "e"})  # seats not said
    assert REGISTRY.loads(REGISTRY.dumps(registered)) == registered
    no_groups = replace(seen, groups=None, attributes=None)
    assert IDENTITY.loads(IDENTITY.dumps(no_groups)) == no_groups
