"""Search, lookups and the choice of identity provider, asked of the bot's service as Slack's
listeners ask it; over signed HTTP where Slack's escaping or the reply threads matter."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.directory import WALK_CONCURRENCY
from bot.walks import MAX_WALK_PAGES, walk_pages
from tests.conftest import FakeClock, ServiceDriver, StartAnswers, StartBot, wait_until
from tests.fakes import ACCOUNT_ID, PROVIDER_ID, FakeCloudflare, buttons, make_group, texts
from tests.helpers import context, group_names

AZURE_ID = "0b5c3a52-8f3e-4a55-9d0e-3c2b1a0f9e8d"
GOOGLE_ID = "7d6c5b4a-3f2e-4d1c-8b0a-9f8e7d6c5b4a"
LOG_PATH = f"/client/v4/accounts/{ACCOUNT_ID}/access/logs/scim/updates"


def directory(count: int) -> list[dict[str, object]]:
    """A directory of `count` groups, a few of them on-call groups in mixed case."""
    groups = [make_group(n) for n in range(count)]
    for n, name in ((7, "Payments-OnCall"), (1_234, "oncall"), (2_001, "SRE oncall rota"), (2_400, "ONCALL")):
        if n < count:
            groups[n]["displayName"] = name
    return groups


def page_calls(cloudflare: FakeCloudflare) -> list[int]:
    return [int(call["page"][0]) for call in cloudflare.group_calls()]


def test_search_over_thousands_of_groups_is_case_insensitive_with_whole_names_first(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(2_500)

    message = bot.command("OnCall")

    assert group_names(message) == ["oncall", "ONCALL", "Payments-OnCall", "SRE oncall rota"]
    assert context(message) == "Page 1 of 1 · 4 matches"
    assert message["blocks"][0]["text"]["text"] == "Groups matching “OnCall” · Okta Production"
    assert all(call["per_page"] == ["100"] for call in cloudflare.group_calls())
    # 25 full pages, then page 26 (empty) confirms the end: no call is wasted when the total is right.
    assert sorted(page_calls(cloudflare)) == list(range(1, 27))


def test_search_results_page_and_the_buttons_carry_the_search(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(300)

    first = bot.command("group-001")
    second = bot.click(buttons(first)["scim_groups_next"])

    assert context(first) == "Page 1 of 10 · 100 matches"
    assert group_names(second) == [f"group-{n:05d}" for n in range(110, 120)]
    assert context(second) == "Page 2 of 10 · 100 matches"


def test_a_second_search_is_served_from_the_cached_directory(
    bot: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(1_000)
    bot.command("oncall")
    calls = len(cloudflare.group_calls())

    assert group_names(bot.command("group-0099")) == [f"group-0099{n}" for n in range(10)]
    assert len(cloudflare.group_calls()) == calls
    clock.advance(61)
    before = len(cloudflare.calls)
    bot.command("oncall")
    # Past the TTL it is brought up to date from the SCIM update log: nothing changed, one call.
    assert len(cloudflare.group_calls()) == calls
    assert [path for path, _ in cloudflare.calls[before:]].count(LOG_PATH) == 1


def test_refresh_on_a_search_reads_the_directory_again(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(150)
    first = bot.command("oncall")
    cloudflare.groups[PROVIDER_ID][3]["displayName"] = "db-oncall"
    calls = len(cloudflare.group_calls())

    refreshed = bot.click(buttons(first)["scim_groups_refresh"])

    assert group_names(refreshed) == ["db-oncall", "Payments-OnCall"]
    assert len(cloudflare.group_calls()) > calls


def test_concurrent_searches_read_the_directory_once(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(950)
    cloudflare.gate.clear()
    with ThreadPoolExecutor(max_workers=6) as pool:
        pending = [
            pool.submit(bot.command, text) for text in ("oncall", "group", "ONCALL", "x", "oncall", "y")
        ]
        wait_until(lambda: cloudflare.calls, "the first call to Cloudflare")
        cloudflare.gate.set()
        results = [future.result() for future in pending]

    assert group_names(results[0]) == ["Payments-OnCall"]
    assert sorted(page_calls(cloudflare)) == list(range(1, 11))


def test_search_without_totals_and_with_a_short_last_page(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(2_450)
    cloudflare.omit_totals = True

    message = bot.command("oncall")

    assert group_names(message) == ["oncall", "ONCALL", "Payments-OnCall", "SRE oncall rota"]
    assert max(page_calls(cloudflare)) <= 25 + WALK_CONCURRENCY


def test_search_against_an_upstream_that_repeats_pages_ends(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = directory(5_000)
    cloudflare.same_page_always = True

    message = bot.command("group-000")

    assert context(message) == "Page 1 of 10 · 99 matches · searched only the first 100 groups"
    assert len(cloudflare.group_calls()) <= 1 + WALK_CONCURRENCY + 1  # the repeat is asked once more


def test_search_against_an_upstream_that_never_ends_stops_and_says_so(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    bot = start_answers(SCIM_GROUPS_UPSTREAM_CALLS_PER_5_MINUTES="120")  # a whole read: 100 pages
    cloudflare.endless = True
    cloudflare.omit_totals = True

    message = bot.command("group-00042")

    assert group_names(message)[0] == "group-00042"
    assert context(message).endswith("· searched only the first 10,000 groups")
    assert len(cloudflare.group_calls()) == 100


def test_a_whole_read_spends_five_sixths_of_the_call_budget_at_most() -> None:
    assert [walk_pages(calls) for calls in (10, 120, 600, 1_200, 1_201, 100_000)] == [
        8,
        100,
        500,
        1_000,
        1_000,
        1_000,
    ]
    assert walk_pages(1) == 1
    assert MAX_WALK_PAGES == 1_000


def test_a_search_with_no_match_says_so_and_suggests_what_next(bot: ServiceDriver) -> None:
    message = bot.command("nosuchgroup")

    text = "".join(texts(message))
    assert "No group name in *Okta Production* contains “nosuchgroup”." in text
    assert (
        "Check the spelling, try another identity provider with `idp:`, or run `/scim-groups` to browse."
        in text
    )
    assert set(buttons(message)) == {"scim_groups_refresh", "scim_groups_share"}


def test_lookup_by_one_cloudflare_id(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    message = bot.command("id:00000000-0000-0000-0000-00000000000C")

    assert group_names(message) == ["group-00011"]
    assert message["blocks"][0]["text"]["text"] == "Groups by id · Okta Production"
    assert context(message) == "Page 1 of 1 · 1 group found"
    (call,) = cloudflare.group_calls()
    assert call["cf_resource_id"] == ["00000000-0000-0000-0000-00000000000c"]


def test_lookup_by_several_ids_says_which_were_not_found(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    missing = "99999999-0000-0000-0000-000000000000"
    message = bot.command(
        f"id:00000000-0000-0000-0000-000000000002, {missing} 00000000-0000-0000-0000-000000000004"
    )

    assert group_names(message) == ["group-00001", "group-00003"]
    assert f"Not found: `{missing}`." in "".join(texts(message))
    assert context(message) == "Page 1 of 1 · 2 groups found"
    (call,) = cloudflare.group_calls()
    assert len(call["cf_resource_id"]) == 3


def test_lookup_by_external_id(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    message = bot.command("ext:ext-00005,ext-00006")

    assert group_names(message) == ["group-00005", "group-00006"]
    assert message["blocks"][0]["text"]["text"] == "Groups by external id · Okta Production"
    (call,) = cloudflare.group_calls()
    assert call["idp_resource_id"] == ["ext-00005", "ext-00006"]


def test_a_pasted_id_is_looked_up_as_either_kind(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    azure_style = "5f3e6a1b-2c4d-4e8f-9a0b-1c2d3e4f5a6b"
    cloudflare.groups[PROVIDER_ID][8]["externalId"] = azure_style

    message = bot.command(f"00000000-0000-0000-0000-000000000001 {azure_style}")

    assert group_names(message) == ["group-00000", "group-00008"]
    assert {tuple(call) for call in cloudflare.group_calls()} == {
        ("page", "per_page", "cf_resource_id"),
        ("page", "per_page", "idp_resource_id"),
    }


def test_calls_made_on_other_threads_count_in_the_answers_audit_line(
    bot: ServiceDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    bot.command()  # the provider list, and the first page fetched beside it
    bot.command("00000000-0000-0000-0000-000000000001")  # by either id: two calls at once

    audit = [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "fields", {}).get("event") == "command"
    ]
    assert [(line["query"], line["upstream_calls"]) for line in audit] == [("browse", 2), ("any", 2)]


def test_a_lookup_never_shows_groups_cloudflare_should_have_filtered_out(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.ignore_filters = True

    message = bot.command("id:00000000-0000-0000-0000-000000000002")

    assert group_names(message) == ["group-00001"]


def test_a_lookup_with_no_match_says_so_and_suggests_what_next(bot: ServiceDriver) -> None:
    message = bot.command("ext:nope")

    text = "".join(texts(message))
    assert "No group in *Okta Production* has the external id `nope`. It may not be synced yet" in text
    assert "or `id:` for Cloudflare's id." in text


def test_paging_refresh_and_share_work_for_lookups(bot: ServiceDriver, cloudflare: FakeCloudflare) -> None:
    ids = ",".join(f"00000000-0000-0000-0000-{n:012x}" for n in range(1, 16))
    first = bot.command(f"id:{ids}")
    second = bot.click(buttons(first)["scim_groups_next"])
    refreshed = bot.click(buttons(second)["scim_groups_refresh"])
    shared = bot.click(buttons(refreshed)["scim_groups_share"])

    assert group_names(second) == [f"group-{n:05d}" for n in range(10, 15)]
    assert group_names(refreshed) == group_names(second)
    assert shared["response_type"] == "in_channel"
    assert group_names(shared) == group_names(second)
    assert len(cloudflare.group_calls()) == 2  # the command, and Refresh


@pytest.fixture
def bot(start_answers: StartAnswers) -> ServiceDriver:
    """The bot's service, asked directly: what an answer says does not depend on HTTP."""
    return start_answers()


@pytest.fixture
def three_providers(cloudflare: FakeCloudflare) -> FakeCloudflare:
    cloudflare.add_provider(
        AZURE_ID, "Azure AD", [make_group(n, f"azure-{n}") for n in range(12)], kind="azureAD"
    )
    cloudflare.add_provider(
        GOOGLE_ID, "Google Workspace", [make_group(n, f"google-{n}") for n in range(3)], scim=False
    )
    return cloudflare


def test_another_provider_by_name_in_quotes(three_providers: FakeCloudflare, bot: ServiceDriver) -> None:
    message = bot.command('idp:"azure ad" azure-1')

    assert message["blocks"][0]["text"]["text"] == "Groups matching “azure-1” · Azure AD"
    assert group_names(message) == ["azure-1", "azure-10", "azure-11"]


def test_another_provider_by_id_and_paging_stays_there(
    three_providers: FakeCloudflare, bot: ServiceDriver
) -> None:
    first = bot.command(f"idp:{AZURE_ID.upper()}")
    second = bot.click(buttons(first)["scim_groups_next"])

    assert group_names(second) == ["azure-10", "azure-11"]
    assert second["blocks"][0]["text"]["text"] == "SCIM groups · Azure AD"


def test_a_unique_part_of_a_name_is_enough(three_providers: FakeCloudflare, bot: ServiceDriver) -> None:
    assert bot.command("idp:azure")["blocks"][0]["text"]["text"] == "SCIM groups · Azure AD"


def test_an_unknown_provider_lists_the_ones_to_pick(
    three_providers: FakeCloudflare, bot: ServiceDriver
) -> None:
    message = bot.command("idp:okta-staging oncall")

    text = "".join(texts(message))
    assert "There is no identity provider *okta-staging* with SCIM in this account." in text
    assert "Google Workspace" not in text  # SCIM is off there: it cannot be picked
    assert [b["text"]["text"] for b in buttons(message).values()] == [
        "Okta Production (okta)",
        "Azure AD (azureAD)",
    ]


def test_an_ambiguous_name_lists_the_matches(three_providers: FakeCloudflare, bot: ServiceDriver) -> None:
    message = bot.command("idp:a")

    assert "More than one identity provider matches *a*: pick one." in "".join(texts(message))
    assert sorted(b["text"]["text"] for b in buttons(message).values()) == [
        "Azure AD (azureAD)",
        "Okta Production (okta)",
    ]


def test_a_provider_without_scim_is_refused(three_providers: FakeCloudflare, bot: ServiceDriver) -> None:
    bot.command("idp:azure")  # the provider list is known from now on
    calls = len(three_providers.group_calls())

    message = bot.command(f"idp:{GOOGLE_ID}")

    assert (
        message["text"] == "The identity provider Google Workspace does not have SCIM provisioning enabled."
    )
    assert len(three_providers.group_calls()) == calls


def test_with_no_default_the_only_scim_provider_is_used(
    three_providers: FakeCloudflare, start_answers: StartAnswers
) -> None:
    three_providers.providers = [p for p in three_providers.providers if p["id"] != AZURE_ID]
    bot = start_answers(CLOUDFLARE_IDENTITY_PROVIDER_ID=None)

    assert bot.command()["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"


def test_with_no_default_and_several_providers_the_user_picks(
    three_providers: FakeCloudflare, start_answers: StartAnswers
) -> None:
    bot = start_answers(CLOUDFLARE_IDENTITY_PROVIDER_ID=None)
    choice = bot.command("azure-1")
    assert choice["text"] == "This account has several identity providers with SCIM: pick one."
    assert three_providers.group_calls() == []

    azure = next(
        button for button in buttons(choice).values() if button["text"]["text"] == "Azure AD (azureAD)"
    )
    picked = bot.click(azure)

    assert picked["replace_original"] is True
    assert picked["blocks"][0]["text"]["text"] == "Groups matching “azure-1” · Azure AD"


def test_an_account_without_scim_says_so(
    three_providers: FakeCloudflare, start_answers: StartAnswers
) -> None:
    for provider in three_providers.providers:
        provider["scim_config"]["enabled"] = False
    bot = start_answers(CLOUDFLARE_IDENTITY_PROVIDER_ID=None)

    message = bot.command()

    assert message["text"].startswith(
        "No identity provider of this Cloudflare account has SCIM provisioning enabled"
    )


def test_more_concurrent_searches_than_pool_threads_all_finish(
    cloudflare: FakeCloudflare,
    start_bot: StartBot,  # over HTTP: the reply threads are part of it
) -> None:
    providers = [f"00000000-0000-4000-8000-{n:012d}" for n in range(WALK_CONCURRENCY + 4)]
    for provider in providers:
        cloudflare.add_provider(provider, f"okta-{provider[-2:]}", [make_group(n) for n in range(450)])
    bot = start_bot()
    with ThreadPoolExecutor(max_workers=len(providers)) as pool:
        answers = list(pool.map(bot.command, [f"idp:{provider} group-0044" for provider in providers]))

    assert [context(answer) for answer in answers] == ["Page 1 of 1 · 10 matches"] * len(providers)


def test_a_search_with_ampersands_and_angle_brackets_finds_what_was_typed(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    bot = start_bot()
    groups = [make_group(n) for n in range(5)]
    groups[1]["displayName"], groups[3]["displayName"] = "R&D", "<ops> & friends"
    cloudflare.groups[PROVIDER_ID] = groups

    rnd = bot.command("R&D")  # Slack sends it as R&amp;D
    ops = bot.command("<ops>")

    assert group_names(rnd) == ["R&D"]  # shown as it is, in rich text
    assert rnd["blocks"][0]["text"]["text"] == "Groups matching “R&D” · Okta Production"  # plain text
    assert group_names(ops) == ["<ops> & friends"]


def test_names_holding_what_cannot_be_seen_are_found_by_what_people_type_and_shown_for_what_they_are(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    groups = [make_group(n) for n in range(4)]
    groups[1]["displayName"] = "eng\u200boncall"  # a zero-width space: a look-alike of the next
    groups[2]["displayName"] = "engoncall"
    groups[3]["displayName"] = "sre\u00a0team\nnight"  # a no-break space and a line break
    cloudflare.groups[PROVIDER_ID] = groups

    look_alikes = bot.command("engoncall")
    spaced = bot.command("sre team night")

    assert group_names(look_alikes) == ["eng\\u200boncall", "engoncall"]  # both whole names, as listed
    assert group_names(spaced) == ["sre\\u00a0team\\u000anight"]


def test_paging_an_external_id_lookup_stays_an_external_id_lookup(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    first = bot.command("ext:" + ",".join(f"ext-{n:05d}" for n in range(15)))
    second = bot.click(buttons(first)["scim_groups_next"])

    assert second["blocks"][0]["text"]["text"] == "Groups by external id · Okta Production"
    assert group_names(second) == [f"group-{n:05d}" for n in range(10, 15)]
    # One call, by external id: the second page came from the same cached lookup.
    assert [sorted(call) for call in cloudflare.group_calls()] == [["idp_resource_id", "page", "per_page"]]


@pytest.mark.parametrize(
    ("text", "clicks"),
    [("group-0001", 0), ("id:" + ",".join(str(uuid.UUID(int=n + 1)) for n in range(20)), 1)],
)
def test_matches_that_fill_the_last_page_exactly_offer_no_next(
    bot: ServiceDriver, text: str, clicks: int
) -> None:
    page = bot.command(text)  # group-00010 … group-00019 match the search; or 20 ids, two pages
    for _ in range(clicks):
        page = bot.click(buttons(page)["scim_groups_next"])

    assert len(group_names(page)) == 10
    assert "scim_groups_next" not in buttons(page)


def test_a_cold_search_asks_for_every_page_after_the_first_at_once(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    bot = start_bot()
    cloudflare.groups[PROVIDER_ID] = directory(2_000)  # 20 pages, and Cloudflare says so
    bot.command("idp:okta")  # the provider list and the first page are known from here on
    cloudflare.gate.clear()  # Cloudflare holds every answer until the test lets go

    response, hook = bot.send_command("oncall")
    try:
        wait_until(lambda: cloudflare.in_flight == 20, "twenty pages asked for at once")
    finally:
        cloudflare.gate.set()
    (post,) = bot.posts_to(hook, 1)

    assert response.status_code == 200
    assert group_names(post.body) == ["oncall", "Payments-OnCall"]
    # Page 1 is the one browsed; page 21, empty, confirms that page 20 (full) was the last.
    assert sorted(page_calls(cloudflare)[1:]) == list(range(2, 22))


def test_pages_past_the_first_wave_wait_until_its_first_page_reads_right(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    bot = start_answers(SCIM_GROUPS_WALK_CONCURRENCY="4")
    cloudflare.groups[PROVIDER_ID] = directory(5_000)
    cloudflare.same_page_always = True  # the known bug: every page number gets page 1

    bot.command("group-000")

    assert len(cloudflare.group_calls()) <= 1 + 4 + 1  # the first wave, and the repeat asked once more


def test_a_page_served_wrongly_once_is_asked_again_and_the_walk_goes_on(
    start_answers: StartAnswers, cloudflare: FakeCloudflare
) -> None:
    bot = start_answers(SCIM_GROUPS_WALK_CONCURRENCY="4")
    cloudflare.groups[PROVIDER_ID] = directory(2_450)
    cloudflare.wrong_once = {5}  # page 5 comes back as page 4 the first time

    message = bot.command("oncall")

    assert group_names(message) == ["oncall", "ONCALL", "Payments-OnCall", "SRE oncall rota"]
    assert context(message) == "Page 1 of 1 · 4 matches"  # complete: no "searched only the first"
    calls = page_calls(cloudflare)
    assert calls.count(5) == 2
    assert sorted(set(calls)) == list(range(1, 26))
    assert len(calls) <= 25 + 1 + 4  # each page once, page 5 twice, and at most a wave asked again


OKTA_GROUP = "https://acme-admin.okta.com/admin/group/00g1HxmbubgVjZccWQvM"
ENTRA_GROUP = (
    "https://portal.azure.com/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/"
    "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60/menuId/"
)


@pytest.mark.parametrize(
    ("sent", "external_id"),
    [
        (f"<{OKTA_GROUP}|{OKTA_GROUP}>", "00g1HxmbubgVjZccWQvM"),  # as Slack sends a link it made
        (f"<{OKTA_GROUP}?tab=people>", "00g1HxmbubgVjZccWQvM"),
        (ENTRA_GROUP, "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60"),  # as typed, not linked
    ],
)
def test_a_pasted_admin_console_link_to_a_group_finds_the_group_by_its_id_there(
    start_bot: StartBot, cloudflare: FakeCloudflare, sent: str, external_id: str
) -> None:
    cloudflare.groups[PROVIDER_ID][4].update(displayName="Engineering - All", externalId=external_id)

    message = start_bot().command(sent, as_sent=True)

    assert group_names(message) == ["Engineering - All"]
    assert message["blocks"][0]["text"]["text"] == "Groups by external id · Okta Production"
    (call,) = cloudflare.group_calls()
    assert call["idp_resource_id"] == [external_id]


def test_a_link_that_is_no_group_is_searched_for_and_never_read_as_an_option(bot: ServiceDriver) -> None:
    message = bot.command("https://example.com/wiki/oncall")

    assert (
        message["blocks"][0]["text"]["text"]
        == "Groups matching “https://example.com/wiki/oncall” · Okta Production"
    )


def test_an_external_id_in_capitals_found_is_not_also_said_missing(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID][5]["externalId"] = "Eng-ALL"

    message = bot.command("ext:Eng-ALL,ext-00006")

    assert group_names(message) == ["group-00005", "group-00006"]
    assert "Not found" not in "\n".join(texts(message))


# An id pasted from the identity provider (Okta's group id is the group's External ID here) is
# looked up as one as well as searched for as a name, in one answer.
OKTA_ID = "00g1HxmbubgVjZccWQvM"


def test_a_pasted_okta_group_id_finds_the_group_by_its_external_id_and_says_how(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID][4].update(displayName="Engineering - All", externalId=OKTA_ID)

    message = start_bot().command(OKTA_ID)  # signed, over HTTP, as Slack sends it

    assert group_names(message) == ["Engineering - All"]
    assert message["blocks"][0]["text"]["text"] == f"Groups matching “{OKTA_ID}” · Okta Production"
    assert f"1 group has the External ID `{OKTA_ID}` · no group name contains it." in texts(message)
    assert [
        call.get("idp_resource_id") for call in cloudflare.group_calls() if "idp_resource_id" in call
    ] == [[OKTA_ID]]


def test_an_id_shaped_word_shows_the_group_with_that_external_id_first_then_the_names_with_it(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    groups = cloudflare.groups[PROVIDER_ID]
    groups[3].update(displayName="team42 on call")
    groups[4].update(displayName="Team 42", externalId="team42")
    groups[5].update(displayName="old team42", externalId="x")

    message = bot.command("team42")

    assert group_names(message) == ["Team 42", "team42 on call", "old team42"]
    assert "1 group has the External ID `team42` · 2 group names contain it." in texts(message)
    assert any(line.startswith("Page 1 of 1 · 3 matches") for line in texts(message))


def test_an_id_shaped_word_found_nowhere_says_it_was_tried_both_ways(bot: ServiceDriver) -> None:
    message = bot.command(OKTA_ID)

    assert (
        "No group name in *Okta Production* contains “00g1HxmbubgVjZccWQvM”, and no group has it as "
        "its External ID."
    ) in " ".join(texts(message))


@pytest.mark.parametrize("text", ["oncall", "eng-oncall", "group-7", "abc12", "Engineering All"])
def test_a_name_that_cannot_be_an_id_is_only_searched_for(
    bot: ServiceDriver, cloudflare: FakeCloudflare, text: str
) -> None:
    message = bot.command(text)

    assert not [call for call in cloudflare.group_calls() if "idp_resource_id" in call]
    assert not any("External ID `" in line for line in texts(message))


def test_an_id_that_cannot_be_looked_up_still_shows_the_names_and_says_what_was_not_read(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID][4].update(displayName="copy of 1234567")
    cloudflare.path_faults["idp_resource_id"] = [("status", 503, 1000, {})] * 10

    message = bot.command("1234567")

    assert group_names(message) == ["copy of 1234567"]
    assert (
        "It could not be looked up as an External ID: Cloudflare is not answering properly right now "
        "(HTTP 503)"
    ) in " ".join(texts(message))


# What the provider asked does not have, another SCIM provider of the account may: it is asked
# too, and the answer says where it was found, with a button to open it there.
AZURE_ID = "0f7c2a1e-0000-4000-8000-00000000a2a2"
SAML_ID = "0f7c2a1e-0000-4000-8000-00000000c3c3"  # no SCIM


def two_providers(cloudflare: FakeCloudflare, external_id: str) -> None:
    azure = [make_group(n) for n in (100, 101)]
    azure[1].update(displayName="Engineering - All", externalId=external_id)
    cloudflare.add_provider(AZURE_ID, "Azure AD", azure, kind="azureAD")
    cloudflare.add_provider(SAML_ID, "Office SAML", [], scim=False)


@pytest.mark.parametrize("text", [f"external:{OKTA_ID}", OKTA_ID])
def test_an_id_not_in_the_provider_asked_is_found_in_another_and_opened_there(
    start_bot: StartBot, cloudflare: FakeCloudflare, text: str
) -> None:
    two_providers(cloudflare, OKTA_ID)
    bot = start_bot()  # signed, over HTTP, as Slack sends it

    message = bot.command(text)
    opened = bot.click(buttons(message)["scim_groups_open:0"])

    assert group_names(message) == []
    assert "Found in another identity provider of the account: *Azure AD* (1 group)." in texts(message)
    assert buttons(message)["scim_groups_open:0"]["text"]["text"] == "Open in Azure AD"
    assert "Office SAML" not in str(message)  # no SCIM: never asked, never offered
    assert group_names(opened) == ["Engineering - All"]
    assert opened["blocks"][0]["text"]["text"].endswith(" · Azure AD")
    assert not [path for path, _ in cloudflare.calls if SAML_ID in path]


def test_a_pasted_uuid_found_in_another_provider_says_where(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    two_providers(cloudflare, "x")
    azure_group_id = cloudflare.groups[AZURE_ID][0]["id"]

    message = bot.command(azure_group_id)

    assert "Found in another identity provider of the account: *Azure AD* (1 group)." in texts(message)


def test_an_id_found_nowhere_in_the_account_offers_no_other_provider(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    two_providers(cloudflare, "x")

    message = bot.command(f"external:{OKTA_ID}")

    assert not any(line.startswith("Found in another") for line in texts(message))
    assert "scim_groups_open:0" not in buttons(message)


def test_another_provider_that_cannot_be_asked_leaves_the_answer_as_it_was(
    bot: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    two_providers(cloudflare, OKTA_ID)
    cloudflare.path_faults["-00000000a2a2/scim/groups"] = [("status", 503, 1000, {})] * 10

    message = bot.command(f"external:{OKTA_ID}")

    assert message["blocks"][0]["text"]["text"] == "Groups by external id · Okta Production"
    assert any(
        line.startswith("No group in *Okta Production* has the external id") for line in texts(message)
    )
    assert not any(line.startswith("Found in another") for line in texts(message))


def test_a_name_typed_with_other_separators_or_a_typo_is_found_or_offered(
    start_bot: StartBot, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID][4].update(displayName="Engineering - All")
    cloudflare.groups[PROVIDER_ID][5].update(displayName="eng-oncall")
    bot = start_bot()  # signed, over HTTP, as Slack sends it

    in_any_order = bot.command("all engineering")
    other_separator = bot.command("eng_oncall")
    typo = bot.command("enginering all")
    meant = bot.click(buttons(typo)["scim_groups_open:0"])

    assert group_names(in_any_order) == ["Engineering - All"]
    assert group_names(other_separator) == ["eng-oncall"]
    assert group_names(typo) == []
    assert "Did you mean *Engineering - All*?" in texts(typo)
    assert buttons(typo)["scim_groups_open:0"]["text"]["text"] == "Engineering - All"
    assert group_names(meant) == ["Engineering - All"]
    assert meant["blocks"][0]["text"]["text"] == "Groups matching “Engineering - All” · Okta Production"


@pytest.mark.parametrize(
    ("text", "said"), [("failure", True), ("Failurs", True), ('"failure"', False), ("fail", False)]
)
def test_a_word_close_to_an_option_is_still_a_search_that_says_what_was_maybe_meant(
    start_bot: StartBot, cloudflare: FakeCloudflare, text: str, said: bool
) -> None:
    cloudflare.groups[PROVIDER_ID][4].update(displayName="failure-alerts")

    message = start_bot().command(text)  # signed, over HTTP

    assert group_names(message) == (["failure-alerts"] if text.strip('"').lower() in "failure-alerts" else [])
    hint = "Looking for `/scim-groups failures`? Without a colon or quotes, a word close to an option"
    assert any(line.startswith(hint) for line in texts(message)) is said
