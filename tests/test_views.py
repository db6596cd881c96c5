"""Rendering: Slack's limits, escaping, buttons; properties checked over arbitrary data."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers import parse_command
from bot.cloudflare import (
    ApiMessage,
    AuthFailed,
    BudgetSpent,
    CloudflareError,
    IdentityProvider,
    NotFound,
    RateLimited,
    Rejected,
    ScimGroup,
    Unavailable,
)
from bot.providers import ProviderChoice
from bot.query import BadInput, Detail, Query, Show, decode_button
from bot.rules import Holder, Use
from bot.views import (
    escape,
    render_bad_input,
    render_failure,
    render_listing,
    render_provider_choice,
    render_used_by,
    shorten,
)
from bot.views.rich import visible
from bot.web import MAX_BODY_BYTES
from tests.fakes import PROVIDER_ID, block_text, buttons, texts
from tests.helpers import QUERY, check_inert, check_limits, listing, mrkdwn_texts

group_text = st.text(st.characters(codec="utf-8"), max_size=3_000)
groups = st.builds(
    ScimGroup,
    id=group_text,
    display_name=group_text,
    external_id=group_text,
    last_modified=st.none() | st.datetimes(timezones=st.just(UTC)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(groups, max_size=20),
    group_text,
    st.integers(1, 100_000),
    st.booleans(),
    st.booleans(),
)
def test_any_group_data_renders_within_limits_and_inert(
    group_list: list[ScimGroup], provider: str, page: int, has_next: bool, shared: bool
) -> None:
    query = Show(Query(PROVIDER_ID), page=page, page_size=20, shared=shared)
    message = render_listing(
        listing(group_list, page=page, page_size=20, has_next=has_next), query, provider, shared_by="U0ALICE"
    )

    check_limits(message)
    check_inert(message)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=5_000))
def test_any_bad_input_reason_renders_inert(reason: str) -> None:
    message = render_bad_input(BadInput(reason))

    check_limits(message)
    check_inert(message)


def test_escape_replaces_only_mrkdwns_control_characters() -> None:
    assert escape("a & <b> \"c\" 'd'") == "a &amp; &lt;b&gt; \"c\" 'd'"


def test_shorten_cuts_with_an_ellipsis() -> None:
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abcd", 4) == "abcd"


def test_a_group_with_no_fields_still_renders() -> None:
    message = render_listing(listing([ScimGroup(id="", display_name="", external_id="")]), QUERY, "Okta")

    assert block_text(message["blocks"][1]) == (
        "(no display name)\nLast change unknown\nExternal ID —  ·  Cloudflare ID —"
    )


def test_buttons_carry_the_page_they_lead_to() -> None:
    message = render_listing(
        listing([], page=3, has_next=True, total=200, total_is_lower_bound=True), QUERY, "Okta"
    )

    found = buttons(message)
    assert decode_button(found["scim_groups_previous"]["value"]) == Show(
        Query(PROVIDER_ID), page=2, page_size=10
    )
    assert decode_button(found["scim_groups_next"]["value"]) == Show(Query(PROVIDER_ID), page=4, page_size=10)
    assert decode_button(found["scim_groups_refresh"]["value"]) == Show(
        Query(PROVIDER_ID), page=3, page_size=10
    )


def test_an_empty_directory_says_so() -> None:
    message = render_listing(listing([], total=0), QUERY, "Okta <prod>")

    assert block_text(message["blocks"][1]) == "No SCIM groups are synced from *Okta <prod>* yet."
    assert [block["type"] for block in message["blocks"]] == [
        "header",
        "rich_text",
        "actions",
    ]  # no "Page 1 of 1"
    assert list(buttons(message)) == ["scim_groups_refresh", "scim_groups_share"]
    assert message["text"] == "No SCIM groups in Okta &lt;prod&gt; yet"


def test_a_naive_timestamp_is_taken_as_utc() -> None:
    group = ScimGroup(id="i", display_name="n", external_id="e", last_modified=datetime(2025, 1, 2))

    text = block_text(render_listing(listing([group]), QUERY, "Okta")["blocks"][1])

    assert "\nChanged <!date^1735776000^{ago} · {date_short_pretty} at {time}|2025-01-02 00:00 UTC>\n" in text


def test_failure_messages_escape_cloudflares_text() -> None:
    error = Unavailable("x", status=503, errors=())
    assert render_failure(error)["text"] == (
        "Cloudflare is not answering properly right now (HTTP 503); please try again in a minute."
    )
    limited = RateLimited("x", retry_after=None, status=429)
    assert "please try again in a few minutes" in render_failure(limited)["text"]


hostile_text = st.text(st.sampled_from('\\"&<>`*_~ aé😀'), max_size=300)
external_ids = st.lists(st.text(st.sampled_from('\\"&<>x'), min_size=1, max_size=200), max_size=60)
uuids = st.lists(st.uuids().map(str), max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        hostile_text,
        external_ids.map(lambda ids: "ext:" + ",".join(ids)),
        uuids.map(lambda ids: "id:" + ",".join(ids)),
        uuids.map(" ".join),
    ),
    st.lists(groups, max_size=20),
    hostile_text,
    st.integers(1, 100_000),
)
def test_any_answer_to_any_command_stays_within_block_kits_limits(
    text: str, group_list: list[ScimGroup], provider: str, page: int
) -> None:
    parsed = parse_command(text, page_size=20)
    if isinstance(parsed, BadInput):
        message = render_bad_input(parsed)
    elif isinstance(parsed, Show):
        request = Show(replace(parsed.query, provider=PROVIDER_ID), page=page, page_size=20, shared=False)
        values = parsed.query.ids or parsed.query.external_ids or parsed.query.either_ids
        message = render_listing(
            listing(group_list, page=page, page_size=20, has_next=True), request, provider, missing=values
        )
    else:
        return
    check_limits(message)
    check_inert(message)


providers = st.builds(
    IdentityProvider,
    id=st.uuids().map(str) | hostile_text,
    name=st.text(max_size=1_000) | hostile_text,
    type=st.text(max_size=1_000),
    scim_enabled=st.just(True),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(providers, max_size=12), hostile_text, st.sampled_from(["several", "unknown", "ambiguous"]))
def test_any_provider_choice_stays_within_block_kits_limits(
    choices: list[IdentityProvider], asked: str, reason: str
) -> None:
    choice = ProviderChoice(reason, asked, tuple(choices))  # type: ignore[arg-type]

    message = render_provider_choice(choice, Show(Query(search=asked[:200]), page=1, page_size=20))

    check_limits(message)
    check_inert(message)


def test_cloudflares_longest_refusal_stays_within_a_section() -> None:
    errors = tuple(ApiMessage(12130, "&<>" * 400) for _ in range(100))

    message = render_failure(Rejected("x", status=400, errors=errors))

    check_limits(message)
    check_inert(message)


def test_the_largest_shared_page_fits_in_a_click_within_the_body_limit() -> None:
    ids = tuple(str(uuid.UUID(int=n)) for n in range(50))
    worst = ScimGroup(id="&" * 1_000, display_name="&" * 1_000, external_id="<" * 1_000)
    request = Show(Query(PROVIDER_ID, ids=ids), page=99_999, page_size=20, shared=True)
    message = render_listing(
        listing([worst] * 20, page=99_999, page_size=20, has_next=True), request, "&" * 1_000, missing=ids
    )
    # Slack sends a click on a message in a channel with the whole message in its payload.
    payload = {"type": "block_actions", "message": message, "actions": [buttons(message)["scim_groups_next"]]}

    body = urlencode({"payload": json.dumps(payload)})

    check_limits(message)
    # Verbatim names cost more than mrkdwn's (a rich text element each); Slack's own fields in
    # the payload (user, team, container, state, response_url) take 2-3 KB of the rest.
    assert len(body) <= MAX_BODY_BYTES * 3 // 4, len(body)


def test_a_long_retry_after_is_worded_as_an_age() -> None:
    assert (
        "please try again in about 60 minutes"
        in render_failure(RateLimited("x", retry_after=3_600.0))["text"]
    )
    assert (
        "please try again in about 42 seconds" in render_failure(RateLimited("x", retry_after=42.0))["text"]
    )


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (
            BudgetSpent("x", retry_after=30.0),
            "The bot has used its share of the Cloudflare API quota for the moment (the quota is shared "
            "with the dashboard); please try again in 30 seconds.",
        ),
        (
            RateLimited("x", retry_after=None, status=429, errors=(ApiMessage(971, "slow down"),)),
            "Cloudflare is rate-limiting this bot's API token (Cloudflare code 971); please try again in "
            "a few minutes.",
        ),
        (
            AuthFailed("x", status=403, errors=(ApiMessage(10000, "Authentication error"),)),
            "Cloudflare refused the bot's credentials (Cloudflare code 10000): an admin should check that "
            "the API token is valid and has the “Access: Organizations, Identity Providers, and Groups "
            "Read” permission.",
        ),
        (
            NotFound("x", status=404, errors=(ApiMessage(7003, "no route"), ApiMessage(7000, "no"))),
            "Cloudflare does not know this account or identity provider (Cloudflare code 7003, 7000): an "
            "admin should check CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_IDENTITY_PROVIDER_ID.",
        ),
        (
            Rejected("x", status=400, errors=(ApiMessage(12130, "bad"), ApiMessage(None, "worse"))),
            "Cloudflare refused the request (Cloudflare code 12130): bad; worse. An admin should check the "
            "bot's settings.",
        ),
        (
            Rejected("x", status=400, errors=()),
            "Cloudflare refused the request. An admin should check the bot's settings.",
        ),
        (
            Unavailable("x"),
            "Cloudflare is not answering properly right now; please try again in a minute.",
        ),
    ],
)
def test_each_failure_has_its_exact_sentence(error: CloudflareError, sentence: str) -> None:
    message = render_failure(error)

    assert message["blocks"][0]["text"]["text"] == escape(sentence)
    assert message["text"] == escape(sentence)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.2, "1 second"),
        (1, "1 second"),
        (89.4, "89 seconds"),
        (90, "2 minutes"),
        (89 * 60, "89 minutes"),
        (90 * 60, "2 hours"),
        (3 * 3600, "3 hours"),
    ],
)
def test_ages_are_worded_at_their_boundaries(seconds: float, said: str) -> None:
    message = render_failure(BudgetSpent("x", retry_after=seconds))

    assert message["text"].endswith(f"please try again in {said}.")


def test_a_date_before_1970_is_shown_as_text() -> None:
    group = ScimGroup(
        id="i", display_name="n", external_id="e", last_modified=datetime(1969, 7, 20, 20, 17, tzinfo=UTC)
    )

    text = block_text(render_listing(listing([group]), QUERY, "Okta")["blocks"][1])

    assert "\nChanged 1969-07-20 20:17 UTC\n" in text


def test_more_than_twenty_missing_ids_are_counted_not_listed() -> None:
    ids = tuple(str(uuid.UUID(int=n)) for n in range(25))
    request = Show(Query(PROVIDER_ID, ids=ids), page=1, page_size=10)
    group = ScimGroup(id="i", display_name="n", external_id="e")

    message = render_listing(listing([group]), request, "Okta", missing=ids[1:])

    shown = ", ".join(f"`{value}`" for value in ids[1:21])
    assert block_text(message["blocks"][2]) == f"Not found: {shown} and 4 more."


def test_missing_ids_are_not_listed_twice_when_nothing_was_found() -> None:
    ids = (str(uuid.UUID(int=1)),)
    request = Show(Query(PROVIDER_ID, ids=ids), page=1, page_size=10)

    message = render_listing(listing([]), request, "Okta", missing=ids)

    assert not any(text.startswith("Not found") for text in texts(message))
    assert block_text(message["blocks"][1]) == (
        f"No group in *Okta* has the Cloudflare id `{ids[0]}`. It may not be synced yet: check the id, "
        "try another identity provider with `idp:` or `external:` for the identity provider's id."
    )


def test_the_page_past_the_end_says_so_exactly() -> None:
    message = render_listing(listing([], page=3, total=20), Show(Query(PROVIDER_ID), 3, 10), "Okta")

    assert (
        block_text(message["blocks"][1]) == "There are no more groups: the page before this one was the last."
    )


@pytest.mark.parametrize(
    ("reason", "asked", "sentence"),
    [
        ("several", None, "This account has several identity providers with SCIM: pick one."),
        ("unknown", "okta-2", "There is no identity provider *okta-2* with SCIM in this account."),
        ("ambiguous", "a", "More than one identity provider matches *a*: pick one."),
        ("not_scim", "Google", "The identity provider *Google* does not have SCIM provisioning enabled."),
    ],
)
def test_the_provider_choice_says_why_and_names_each_provider_once(
    reason: str, asked: str | None, sentence: str
) -> None:
    okta = IdentityProvider(PROVIDER_ID, "Okta Production", "okta", True)
    odd = IdentityProvider(str(uuid.UUID(int=7)), 'Say "hi"', "", True)
    choice = ProviderChoice(reason, asked, (okta, odd))  # type: ignore[arg-type]

    message = render_provider_choice(choice, Show(Query(search="x"), page=1, page_size=10))

    assert message["blocks"][0]["text"]["text"] == sentence
    assert [button["text"]["text"] for button in buttons(message).values()] == [
        "Okta Production (okta)",
        'Say "hi" (type unknown)',
    ]
    assert message["blocks"][2]["elements"][0]["text"] == (
        "Or name one in the command: `/scim-groups idp:NAME …`, quoted when it has spaces."
    )
    assert len(message["blocks"]) == 3
    assert message["text"] == sentence.replace("*", "")


def test_providers_of_one_name_are_told_apart_by_their_ids() -> None:
    first = IdentityProvider(PROVIDER_ID, "Okta", "okta", True)
    second = IdentityProvider(str(uuid.UUID(int=7)), "Okta", "okta", True)
    unnamed = IdentityProvider(str(uuid.UUID(int=8)), "", "saml", True)
    choice = ProviderChoice("several", None, (first, second, unnamed))

    message = render_provider_choice(choice, Show(Query(), page=1, page_size=10))

    assert [button["text"]["text"] for button in buttons(message).values()] == [
        f"Okta {PROVIDER_ID} (okta)",
        f"Okta {second.id} (okta)",
        f"Unnamed {unnamed.id} (saml)",
    ]


def test_an_account_without_scim_offers_no_choice() -> None:
    choice = ProviderChoice("none", None, ())

    message = render_provider_choice(choice, Show(Query(), page=1, page_size=10))

    assert len(message["blocks"]) == 1
    assert message["blocks"][0]["text"]["text"].startswith(
        "No identity provider of this Cloudflare account has SCIM provisioning enabled, so there are no "
        "SCIM groups to show. An admin can turn it on in Zero Trust → Settings → Authentication."
    )


@pytest.mark.parametrize(
    ("aging", "said"),
    [
        (False, "Page 1 of 1 · 1 group · as of <!date^1767226600^{time}|00:16 UTC>"),
        (True, "Page 1 of 1 · 1 group · as of <!date^1767226600^{ago}|00:16 UTC>"),
    ],
)
def test_the_footer_says_when_the_answer_was_fetched_and_how_long_ago_once_it_is_aging(
    aging: bool, said: str
) -> None:
    group = ScimGroup(id="i", display_name="n", external_id="e")

    message = render_listing(listing([group], fetched_at=1_767_226_600.4, aging=aging), QUERY, "Okta")

    assert message["blocks"][-2]["elements"][0]["text"] == said


@pytest.mark.parametrize("fetched_at", [None, -1.0, 2.0**33])
def test_a_fetch_time_that_is_not_known_or_not_a_time_is_left_out(fetched_at: float | None) -> None:
    group = ScimGroup(id="i", display_name="n", external_id="e")

    message = render_listing(listing([group], fetched_at=fetched_at), QUERY, "Okta")

    assert message["blocks"][-2]["elements"][0]["text"] == "Page 1 of 1 · 1 group"


def test_an_empty_answer_still_says_when_it_was_fetched() -> None:
    message = render_listing(listing([], total=0, fetched_at=1_767_226_600.0), QUERY, "Okta")

    assert [block["type"] for block in message["blocks"]] == ["header", "rich_text", "context", "actions"]
    assert message["blocks"][2]["elements"][0]["text"] == "As of <!date^1767226600^{time}|00:16 UTC>"


# --- the parts: windows, dates, lists of ids, Used by's sections ----------------------------


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(60, "1 minute"), (120, "2 minutes"), (5_400, "90 minutes"), (3_600, "1 hour"), (7_200, "2 hours"),
     (86_400, "24 hours"), (172_800, "2 days")],
)  # fmt: skip
def test_a_window_is_said_as_it_was_asked(seconds: int, said: str) -> None:
    from bot.views.blocks import window

    assert window(seconds) == said


def test_dates_slack_cannot_show_are_unknown_and_the_epoch_itself_is_a_slack_date() -> None:
    from bot.views.blocks import changed_line
    from bot.views.rich import When, moment

    assert moment(None, ago=False) == "unknown"
    assert moment(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), ago=False) == "unknown"
    assert changed_line(None) == ["Last change unknown"]
    assert moment(datetime(1970, 1, 1, tzinfo=UTC), ago=False) == When(
        0, "{date_short_pretty} at {time}", "1970-01-01 00:00 UTC"
    )


def test_a_naive_time_is_utc_whatever_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from bot.views.rich import When, moment

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        shown = moment(datetime(2025, 1, 2, 3, 4), ago=False)
    finally:
        monkeypatch.undo()
        time.tzset()

    assert shown == When(1735787040, "{date_short_pretty} at {time}", "2025-01-02 03:04 UTC")


def test_twenty_ids_are_listed_and_the_twenty_first_is_counted() -> None:
    from bot.views.blocks import codes
    from bot.views.rich import rich

    ids = tuple(f"i{n}" for n in range(21))

    assert block_text(rich(codes(ids[:20]))) == ", ".join(f"`i{n}`" for n in range(20))
    assert block_text(rich(codes(ids))) == ", ".join(f"`i{n}`" for n in range(20)) + " and 1 more"


def _places(count: int, name_length: int = 10) -> tuple[Use, ...]:
    return tuple(
        Use(Holder("access_group", f"a{n}", f"{n:03d}".ljust(name_length, "n"), ()), "include")
        for n in range(count)
    )


def _used_by(uses: tuple[Use, ...]) -> dict[str, Any]:
    group = ScimGroup(id="i", display_name="n", external_id="e")
    detail = Detail("used_by", "i", Show(Query(PROVIDER_ID), page=1, page_size=10))
    return render_used_by(group, detail, "Okta", uses=uses, missing_permission="", problem=None)


def test_used_by_shows_twenty_places_and_counts_the_rest() -> None:
    twenty, twenty_one = _used_by(_places(20)), _used_by(_places(21))

    assert "more places" not in json.dumps(twenty)
    notes = [b["elements"][0]["text"] for b in twenty_one["blocks"] if b["type"] == "context"]
    assert "And 1 more places, not shown." in notes


def test_a_policys_decision_is_cut_at_twenty_characters() -> None:
    holder = Holder("policy", "p", "P", (), "x" * 21)

    text = json.dumps(_used_by((Use(holder, "include"),)), ensure_ascii=False)

    assert "(" + "x" * 19 + "…)" in text


def test_an_empty_shared_answer_says_when_it_was_fetched_and_who_shared_it() -> None:
    message = render_listing(
        listing([], total=0, fetched_at=1_767_226_600.0),
        Show(Query(PROVIDER_ID), page=1, page_size=10, shared=True),
        "Okta",
        shared_by="U0ALICE",
    )

    assert message["blocks"][2]["elements"][0]["text"] == (
        "As of <!date^1767226600^{time}|00:16 UTC> · Shared by <@U0ALICE>"
    )


def test_the_fetch_time_may_be_the_epoch_itself_and_is_said_in_utc_in_any_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from bot.views.blocks import as_of

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        said = as_of(0.0, aging=False), as_of(1_767_226_600.0, aging=True)
    finally:
        monkeypatch.undo()
        time.tzset()

    assert said == ("as of <!date^0^{time}|00:00 UTC>", "as of <!date^1767226600^{ago}|00:16 UTC>")


# --- outside text through every answer that shows it ------------------------------------------

HOSTILE_TEXT = [
    "eng-oncall\nChanged 1 minute ago",
    "*Shared by @admin* _see_ https://evil.example ~now~",
    "ops` *bold* `",
    "gro\u202eup",
    "eng\u200boncall",
    "nul\x00esc\x1b[2J",
    ":rotating_light: <!channel>",
]


def _every_answer_showing(text: str) -> dict[str, dict[str, Any]]:
    from bot.paging import Paged
    from bot.pushes import ScimPush
    from bot.users import ScimUser
    from bot.views import render_failures, render_history, render_users

    group = ScimGroup(str(uuid.UUID(int=1)), text, text)
    push = ScimPush(None, "GROUP", text, "FAILURE", text, group.id, text, text, text)
    user = ScimUser(group.id, text, text, text, True, (text,), None, None)
    holder = Holder("app_policy", "p1", text, (), text, text, text)
    detail = Detail("history", group.id, QUERY)

    def paged(items: tuple[Any, ...]) -> Paged[Any]:
        counted: dict[str, Any] = {"total": len(items), "total_is_lower_bound": False, "from_cache": False}
        return Paged(items, 1, 10, has_next=False, **counted)

    return {
        "groups": render_listing(listing([group]), QUERY, text, missing=(text,)),
        "users": render_users(
            paged((user,)), QUERY, text, missing=(text,), pushes=((push,),), log_problem=None
        ),
        "failures": render_failures(paged((push,)), QUERY, text),
        "history": render_history(group, detail, text, pushes=(push,), problem=None),
        "used by": render_used_by(
            group, detail, text, uses=(Use(holder, "include", via=text),), missing_permission="", problem=None
        ),
        "a refusal": render_failure(Rejected("no", status=400, errors=(ApiMessage(1, text),))),
    }


@pytest.mark.parametrize("text", HOSTILE_TEXT)
@pytest.mark.parametrize("answer", ["groups", "users", "failures", "history", "used by", "a refusal"])
def test_outside_text_reaches_no_mrkdwn_and_what_cannot_be_seen_is_shown(answer: str, text: str) -> None:
    message = _every_answer_showing(text)[answer]

    check_limits(message)
    assert not [shown for shown in mrkdwn_texts(message)[1:] if text in shown or visible(text) in shown]
    outside = [piece for piece in _shown_verbatim(message) if visible(text) in piece]
    assert outside, "the text is shown, in rich or plain text"
    assert all(piece.replace("\n", "").isprintable() for piece in _shown_verbatim(message))


def _shown_verbatim(message: dict[str, Any]) -> list[str]:
    """Give back every rich text element's text and every plain_text object's text."""
    found: list[str] = []

    def walk(item: object) -> None:
        if isinstance(item, dict):
            if item.get("type") in ("text", "plain_text") and isinstance(item.get("text"), str):
                found.append(item["text"])
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(message["blocks"])
    return found
