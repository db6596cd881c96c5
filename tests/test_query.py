"""The command grammar and button values: what people type, and what a tamperer sends."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.answers import READINGS, parse_command
from bot.answers.failures import FAILURES
from bot.answers.users import USER
from bot.query import (
    BUTTON_VERSION,
    MAX_WINDOW_SECONDS,
    NOT_A_QUESTION,
    BadInput,
    Detail,
    Option,
    Parts,
    Query,
    Reading,
    Show,
    ShowHelp,
    decode_button,
    decode_detail,
    encode_button,
    encode_detail,
    from_slack,
    one_at_a_time,
    read_command,
    window_seconds,
)
from tests.fakes import PROVIDER_ID

A = "bd97ef8d-7986-43e3-9ee0-c25dda33e4b0"
B = "bd97ef8d-7986-43e3-9ee0-c25dda33e4b1"


def parse(text: str) -> Show | ShowHelp | BadInput:
    return parse_command(text, page_size=10)


def query(text: str) -> Query:
    parsed = parse(text)
    assert isinstance(parsed, Show), parsed
    return parsed.query


def reason(text: str) -> str:
    parsed = parse(text)
    assert isinstance(parsed, BadInput), parsed
    return parsed.reason


def test_no_text_browses_the_first_page_of_the_default_provider() -> None:
    assert parse("   ") == Show(Query(), page=1, page_size=10)


@pytest.mark.parametrize("text", ["help", " HELP ", "?", "-h", "--help", '"help"'])
def test_help(text: str) -> None:
    assert parse(text) == ShowHelp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oncall", Query(search="oncall")),
        ("  On   Call  ", Query(search="On Call")),
        ('"aws:prod"', Query(search="aws:prod")),
        ("People's group", Query(search="People's group")),
        ("help me", Query(search="help me")),
        ("on\u200bcall\u202e\x00", Query(search="on call")),
        ("ｏｎｃａｌｌ", Query(search="oncall")),
        (f"id:{A}", Query(ids=(A,))),
        (f"ID: {A.upper()}", Query(ids=(A,))),
        (f"id:{A},{B}", Query(ids=(A, B))),
        (f"id:{A} {B}, {A}", Query(ids=(A, B))),
        (f"ids:{A}", Query(ids=(A,))),
        ("external:all_employees", Query(external_ids=("all_employees",))),
        ("ext:00gabc,00gdef", Query(external_ids=("00gabc", "00gdef"))),
        ('ext:"Group With Spaces"', Query(external_ids=("Group With Spaces",))),
        (A, Query(either_ids=(A,))),
        (f"{A}, {B}", Query(either_ids=(A, B))),
        ("idp:okta", Query(provider="okta")),
        ('idp:"Azure AD" oncall', Query(provider="Azure AD", search="oncall")),
        ("idp:“Azure AD” oncall", Query(provider="Azure AD", search="oncall")),
        (f"oncall idp:{PROVIDER_ID}", Query(provider=PROVIDER_ID, search="oncall")),
        (f"idp:okta id:{A}", Query(provider="okta", ids=(A,))),
    ],
)
def test_what_people_type(text: str, expected: Query) -> None:
    assert query(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id:", "`id:` needs a value after it, like `id:bd97ef8d-7986-43e3-9ee0-c25dda33e4b0`."),
        ("ext: ", "`ext:` needs a value after it, like `ext:all_employees`."),
        ("idp:", '`idp:` needs a value after it, like `idp:"Azure AD"`.'),
        ("id:abc", "`abc` is not a Cloudflare group id: those are UUIDs like"),
        (f"id:{A} oncall", "`oncall` is not a Cloudflare group id"),
        (f"id:{A} ext:x", "Cloudflare cannot look up by `id:` and `external:` at once"),
        (
            "aws:prod",
            "`aws:` is not an option. The options are `id:`, `external:` (or `ext:`), `user:`, `failures:`, "
            "`changed:` and `idp:`; "
            'to search for a name with a colon in it, put it in quotes: `"aws:prod"`.',
        ),
        ("idp:a idp:b", "Name one identity provider with `idp:`"),
        ("ext:" + ",".join(f"g{n}" for n in range(51)), "Look up at most 50 ids at a time (you gave 51)."),
        ("x" * 2_001, "That is too long for one command"),
        ("y" * 201, "Search for at most 200 characters"),
    ],
)
def test_malformed_input_says_what_is_wrong_and_what_works(text: str, expected: str) -> None:
    assert reason(text).startswith(expected)


@given(st.text(max_size=1_500))
def test_any_text_parses_to_a_query_or_a_reason(text: str) -> None:
    assert isinstance(parse(text), Show | ShowHelp | BadInput)


@given(st.text(max_size=2_000))
def test_every_query_fits_in_a_button(text: str) -> None:
    parsed = parse(text)
    if isinstance(parsed, Show):
        value = encode_button(Show(Query(PROVIDER_ID, *_fields(parsed.query)), page=99_999, page_size=20))
        assert len(value) <= 2_000
        assert decode_button(value) == Show(Query(PROVIDER_ID, *_fields(parsed.query)), 99_999, 20)


def _fields(query: Query) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return query.search, query.ids, query.external_ids, query.either_ids


@given(st.integers(1, 100_000), st.integers(1, 20), st.booleans())
def test_buttons_round_trip(page: int, size: int, shared: bool) -> None:
    show = Show(Query(PROVIDER_ID, search="on call"), page=page, page_size=size, shared=shared)

    assert decode_button(encode_button(show)) == show


VALID_BUTTON = {"v": BUTTON_VERSION, "i": PROVIDER_ID, "p": 1, "n": 10}
OUTDATED = BadInput("This button is from an older or altered message; run `/scim-groups` again.")


def test_the_untampered_button_decodes() -> None:
    assert decode_button(json.dumps(VALID_BUTTON)) == Show(Query(PROVIDER_ID), page=1, page_size=10)


@pytest.mark.parametrize("value", ["", "not json", "[]", "[" * 10_000, json.dumps([VALID_BUTTON])])
def test_a_button_value_that_is_not_a_state_is_bad_input(value: str) -> None:
    assert decode_button(value) == OUTDATED


@pytest.mark.parametrize(
    "change",
    [
        {"v": BUTTON_VERSION - 1},
        {"i": "../../etc"},
        {"p": 0},
        {"p": True},
        {"p": 100_001},
        {"n": 500},
        {"p": "1"},
        {"s": "yes"},
        {"c": "not-a-uuid"},
        {"c": A},  # a UUID with dashes: buttons carry 32 hex digits
        {"c": ",".join([A.replace("-", "")] * 51)},
        {"a": A.replace("-", "").upper()},
        {"c": [A.replace("-", "")]},
        {"x": [""]},
        {"x": ["a"] * 51},
        {"x": "a"},
        {"q": "x", "c": A.replace("-", "")},
        {"q": 5},
        {"q": "x" * 201},
    ],
)
def test_tampered_or_outdated_buttons_are_bad_input(change: dict[str, object]) -> None:
    assert decode_button(json.dumps({**VALID_BUTTON, **change})) == OUTDATED


def test_fifty_pasted_uuids_fit_in_a_command_and_in_every_button() -> None:
    ids = [str(uuid.UUID(int=n + 1)) for n in range(50)]

    for text in ("id:" + ",".join(ids), " ".join(ids), "id: " + ", ".join(ids)):
        parsed = parse(text)
        assert isinstance(parsed, Show), parsed
        assert len(parsed.query.ids or parsed.query.either_ids) == 50
        far = Show(replace(parsed.query, provider=PROVIDER_ID), page=99_999, page_size=20, shared=True)
        assert len(encode_button(far)) <= 2_000
        assert decode_button(encode_button(far)) == far


@pytest.mark.parametrize("text", ["id:,,,", "ext:,", "id: ,", "external:, ,"])
def test_an_option_without_a_value_is_bad_input(text: str) -> None:
    parsed = parse(text)

    assert isinstance(parsed, BadInput)
    assert "needs a value after it" in parsed.reason


@given(st.text(max_size=2_000))
def test_any_button_value_decodes_to_a_query_or_a_reason(value: str) -> None:
    assert isinstance(decode_button(value), Show | BadInput)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ext:,", "`ext:` needs a value after it, like `ext:all_employees`."),
        ("id: ,", f"`id:` needs a value after it, like `id:{A[:-1]}0`."),
        ('ext:","', "`external:` needs a value after it, like `external:all_employees`."),
        ("idp:", '`idp:` needs a value after it, like `idp:"Azure AD"`.'),
        (
            "id:" + "z" * 100,
            f"`{'z' * 60}` is not a Cloudflare group id: those are UUIDs like `{A[:-1]}0`. "
            "For the identity provider's id use `external:`; to search by name, leave out `id:`.",
        ),
        (
            "ext:" + ",".join(f"{n:02d}" + "y" * 60 for n in range(30)),
            "Those 30 external ids are too long to look up together: split them over two commands.",
        ),
        ("ext:" + "x" * 201, "An external id is at most 200 characters long."),
    ],
)
def test_each_mistake_gets_its_own_exact_sentence(text: str, expected: str) -> None:
    assert reason(text) == expected


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("ext:" + "x" * 200, ("x" * 200,)),  # the longest external id there may be
        ("ext:X-team,Xylophone", ("X-team", "Xylophone")),
        ('ext:"a,b"', ("a,b",)),
        ("ext:a,,b,", ("a", "b")),
    ],
)
def test_external_ids_are_taken_as_typed(text: str, ids: tuple[str, ...]) -> None:
    assert query(text).external_ids == ids


def test_the_largest_valid_button_state_decodes() -> None:
    state = {**VALID_BUTTON, "x": ["e"] + ["x" * 30] * 49}
    assert decode_button(json.dumps(state)) == Show(
        Query(PROVIDER_ID, external_ids=("e", *["x" * 30] * 49)), page=1, page_size=10
    )
    assert decode_button(json.dumps({**VALID_BUTTON, "q": "q" * 200})) == Show(
        Query(PROVIDER_ID, search="q" * 200), page=1, page_size=10
    )


def test_the_longest_command_is_accepted() -> None:
    assert parse(" " * 1_999 + "a") == Show(Query(search="a"), page=1, page_size=10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"idp:okta {A}", Query(provider="okta", either_ids=(A,))),
        (f"{A},{B}", Query(either_ids=(A, B))),
    ],
)
def test_pasted_ids_keep_the_provider_and_split_on_commas(text: str, expected: Query) -> None:
    assert query(text) == expected


def test_id_option_with_only_a_quoted_comma_names_the_option() -> None:
    assert reason('id:","') == f"`id:` needs a value after it, like `id:{A[:-1]}0`."


def test_a_search_in_any_script_fits_in_a_button() -> None:
    show = Show(Query(PROVIDER_ID, search="😀" * 200), page=99_999, page_size=20, shared=True)

    assert len(encode_button(show)) <= 2_000
    assert decode_button(encode_button(show)) == show


def test_an_external_id_of_the_longest_length_survives_a_button() -> None:
    show = Show(Query(PROVIDER_ID, external_ids=("x" * 200,)), page=2, page_size=10)

    assert decode_button(encode_button(show)) == show


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("30m", 1_800), ("30 min", 1_800), ("6h", 21_600), ("2 hours", 7_200), ("1D", 86_400),
     ("90d", 90 * 86_400), ("3days", 259_200)],
)  # fmt: skip
def test_a_window_is_a_number_and_a_unit(text: str, seconds: int) -> None:
    assert window_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0m", "59s", "91d", "1y", "h", "6", "-6h", "6.5h", "123456m"])
def test_anything_else_is_not_a_window(text: str) -> None:
    assert window_seconds(text) is None


@pytest.mark.parametrize(
    ("text", "query", "size"),
    [
        ("failures", Query(failures=86_400), 10),
        ("FAILURES idp:okta", Query("okta", failures=86_400), 10),
        ("failures:6h", Query(failures=21_600), 10),
        ("changed:3d", Query(changed=259_200), 20),
        ("user:a@b.c, B@C.d 00u1", Query(users=("a@b.c", "B@C.d", "00u1")), 4),
        ("users: a@b.c,a@b.c", Query(users=("a@b.c",)), 4),
    ],
)
def test_the_new_questions_parse_with_their_page_sizes(text: str, query: Query, size: int) -> None:
    assert parse_command(text, page_size=20) == Show(query, page=1, page_size=size)


def test_small_page_sizes_are_kept_for_users_and_failures() -> None:
    for text in ("user:a@b.c", "failures"):
        parsed = parse_command(text, page_size=3)
        assert isinstance(parsed, Show)
        assert parsed.page_size == 3


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "user:" + ",".join(f"u{n}@x.io" for n in range(51)),
            "Look up at most 50 users at a time (you gave 51).",
        ),
        ("user:" + "x" * 201, "An email or id is at most 200 characters long."),
        (
            "user:" + ",".join("u" * 199 + str(n) for n in range(9)),
            "Those 9 users are too many to look up together",
        ),
        ("user:,", "`user:` needs a value after it, like `user:jane@example.com`."),
        ("changed:", "`changed:` needs a value after it, like `changed:3d`."),
        ("changed:3d failures", "Ask one thing at a time"),
        ("id:" + A + " failures", "Ask one thing at a time"),
    ],
)
def test_bad_new_questions_say_what_is_wrong(text: str, reason: str) -> None:
    assert reason_for(text).startswith(reason)


def reason_for(text: str) -> str:
    parsed = parse_command(text, page_size=10)
    assert isinstance(parsed, BadInput), parsed
    return parsed.reason


@pytest.mark.parametrize(
    "query",
    [
        Query(PROVIDER_ID, users=("a@b.c", "00u1")),
        Query(PROVIDER_ID, failures=86_400, until=1_767_225_600),
        Query(PROVIDER_ID, changed=60, until=2**33),
    ],
)
def test_the_new_questions_round_trip_through_buttons(query: Query) -> None:
    show = Show(query, page=3, page_size=4)

    assert decode_button(encode_button(show)) == show


@pytest.mark.parametrize(
    "change",
    [
        {"f": 86_400},  # a window without its end
        {"t": 1_767_225_600},  # an end without a window
        {"f": 59, "t": 1},
        {"h": MAX_WINDOW_SECONDS + 1, "t": 1},
        {"f": 60, "h": 60, "t": 1},
        {"f": 60, "t": 2**33 + 1},
        {"f": "60", "t": 1},
        {"u": "a@b.c"},
        {"u": ["a@b.c"], "q": "x"},
        {"u": ["a@b.c"], "f": 60, "t": 1},
    ],
)
def test_tampered_new_buttons_are_bad_input(change: dict[str, object]) -> None:
    assert decode_button(json.dumps({**VALID_BUTTON, **change})) == OUTDATED


@given(st.sampled_from(["history", "used_by"]), st.uuids(), st.text(max_size=200), st.booleans())
def test_details_round_trip_with_the_page_to_go_back_to(
    kind: str, group: uuid.UUID, search: str, shared: bool
) -> None:
    back = Show(Query(PROVIDER_ID, search=search), page=7, page_size=20, shared=shared)
    detail = Detail(kind, str(group), back)  # type: ignore[arg-type]

    assert decode_detail(encode_detail(detail)) == detail


@pytest.mark.parametrize(
    "value",
    [
        "",
        "[]",
        json.dumps({"v": BUTTON_VERSION, "d": "history", "g": A.replace("-", "")}),  # no page to go back to
        json.dumps({"v": BUTTON_VERSION, "d": "history", "g": A, "b": VALID_BUTTON}),  # dashes
        json.dumps({"v": BUTTON_VERSION, "d": "members", "g": A.replace("-", ""), "b": VALID_BUTTON}),
        json.dumps({"v": 1, "d": "history", "g": A.replace("-", ""), "b": VALID_BUTTON}),
        json.dumps(
            {"v": BUTTON_VERSION, "d": "history", "g": f"{A},{A}".replace("-", ""), "b": VALID_BUTTON}
        ),
        json.dumps(
            {"v": BUTTON_VERSION, "d": "history", "g": A.replace("-", ""), "b": {**VALID_BUTTON, "p": 0}}
        ),
    ],
)
def test_tampered_details_are_bad_input(value: str) -> None:
    assert decode_detail(value) == OUTDATED


@pytest.mark.parametrize(
    ("text", "users"),
    [
        ("user:a@b.c b@c.d, ,", ("a@b.c", "b@c.d")),  # stray commas after the option are no user
        ("user:Xa@x.io X", ("Xa@x.io", "X")),
        ('user:"Q@x.io,"', ("Q@x.io",)),
    ],
)
def test_users_are_the_values_without_their_commas(text: str, users: tuple[str, ...]) -> None:
    assert parse_command(text, page_size=10) == Show(Query(users=users), page=1, page_size=4)


def test_a_user_lookup_keeps_its_provider() -> None:
    assert parse_command("user:a@b.c idp:okta", page_size=10) == Show(
        Query("okta", users=("a@b.c",)), page=1, page_size=4
    )


def test_a_quoted_user_of_commas_alone_is_no_user() -> None:
    assert reason_for('user:","') == "`user:` needs a value after it, like `user:jane@example.com`."


def test_an_external_id_of_one_letter_is_looked_up() -> None:
    assert parse_command("ext:X", page_size=10) == Show(Query(external_ids=("X",)), page=1, page_size=10)


# Ten values of 166 characters are exactly 1,700 characters of JSON (["…", "…"]): the most a
# button may carry. One more character is too many.
@pytest.mark.parametrize("option", ["user", "external"])
def test_the_longest_values_a_button_carries_are_accepted_and_one_more_character_is_not(
    option: str,
) -> None:
    fits = [f"{n}".ljust(166, "v") for n in range(10)]
    assert len(json.dumps(fits)) == 1_700

    accepted = parse_command(f"{option}:" + ",".join(fits), page_size=10)
    refused = parse_command(f"{option}:" + ",".join(value + "w" for value in fits), page_size=10)

    assert isinstance(accepted, Show), accepted
    assert isinstance(refused, BadInput)
    assert "too" in refused.reason


def test_fifty_users_are_looked_up_together() -> None:
    parsed = parse_command("user:" + ",".join(f"u{n}@x.io" for n in range(50)), page_size=10)

    assert isinstance(parsed, Show)
    assert len(parsed.query.users) == 50


def test_asking_two_things_at_once_says_how_to_ask_one() -> None:
    assert reason_for("changed:3d failures") == (
        "Ask one thing at a time: `failures` and `changed:` each make a command of their own "
        "(with `idp:` if you like). To search for a group with one of those words in its name, put it "
        'in quotes: `"changed"`.'
    )
    assert reason_for("failures oncall") == (
        "Ask one thing at a time: `failures` makes a command of its own (with `idp:` if you like). To "
        'search for a group with one of those words in its name, put it in quotes: `"failures"`.'
    )


def test_a_window_that_is_not_one_is_quoted_to_twenty_characters() -> None:
    assert reason_for("failures:abcdefghijklmnopqrstuvwxyz") == (
        "`abcdefghijklmnopqrst` is not a window: give a number and a unit (m, h, d or w) of at most "
        "90 days, like `failures:6h`."
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("2w", 14 * 86_400), ("1 week", 7 * 86_400), ("12wks", 84 * 86_400)]
)
def test_a_window_may_be_given_in_weeks(text: str, seconds: int) -> None:
    assert window_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("changed:91d", "`91d` is too long a window: at most 90 days, like `changed:90d`."),
        ("failures:13w", "`13w` is too long a window: at most 90 days, like `failures:90d`."),
        ("failures:0m", "`0m` is too short a window: at least a minute, like `failures:1m`."),
    ],
)
def test_a_window_past_its_limits_says_the_limit(text: str, reason: str) -> None:
    assert reason_for(text) == reason
    assert window_seconds("90d") == 90 * 86_400  # the limit itself is a window


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "usr:jane@example.com",
            "`usr:` is not an option: did you mean `user:`, as in `/scim-groups user:jane@example.com`?",
        ),
        ("fail:6h", "`fail:` is not an option: did you mean `failures:`, as in `/scim-groups failures:6h`?"),
        (
            "Chnged:3d",
            "`Chnged:` is not an option: did you mean `changed:`, as in `/scim-groups changed:3d`?",
        ),
        ("exts:00g1", "`exts:` is not an option: did you mean `ext:`, as in `/scim-groups ext:00g1`?"),
    ],
)
def test_an_option_close_to_a_known_one_gets_the_command_corrected(text: str, reason: str) -> None:
    assert reason_for(text) == reason


def test_an_external_id_keeps_the_colons_after_its_option() -> None:
    assert parse_command("external:urn:okta:group:7", page_size=10) == Show(
        Query(external_ids=("urn:okta:group:7",)), page=1, page_size=10
    )


def test_options_after_a_quoted_name_still_count() -> None:
    assert parse_command('"aws:prod" idp:okta', page_size=10) == Show(
        Query("okta", search="aws:prod"), page=1, page_size=10
    )


@pytest.mark.parametrize("text", ["id card", "external partners", "user research", "idp team"])
def test_an_option_word_without_its_colon_is_searched_for(text: str) -> None:
    assert parse_command(text, page_size=10) == Show(Query(search=text), page=1, page_size=10)


def test_an_unknown_option_in_capitals_is_named_as_typed() -> None:
    assert reason_for("AWS:prod").startswith("`AWS:` is not an option.")


def test_a_search_of_two_hundred_characters_is_the_longest() -> None:
    assert parse_command("a" * 200, page_size=10) == Show(Query(search="a" * 200), page=1, page_size=10)
    assert reason_for("a" * 201) == "Search for at most 200 characters of a group's name."


# A kind of answer added by its reading alone: the grammar has no list of options of its own.
WHY = Option(("why",), "jane@example.com", listed=("whynot",))


def why(parts: Parts, page_size: int) -> Show | BadInput | None:
    if WHY.name not in parts.options:
        return None
    return BadInput(f"why {parts.values[WHY.name]} {parts.words} {parts.provider} {page_size}")


def read_with_why(text: str, *, words: bool = True) -> Show | ShowHelp | BadInput:
    return read_command(text, (Reading((WHY,), why, words=words), *READINGS), page_size=7)


def test_a_new_kinds_option_is_read_by_its_own_reading() -> None:
    assert read_with_why('why:jane@example.com "wiki app" idp:Okta') == BadInput(
        "why ['jane@example.com'] ['wiki app'] Okta 7"
    )
    assert read_with_why("WHY: jane@example.com") == BadInput("why ['jane@example.com'] [] None 7")
    assert read_with_why("oncall") == Show(Query(search="oncall"), page=1, page_size=7)


def test_a_new_kinds_option_is_listed_suggested_and_checked_for_a_value() -> None:
    unknown = read_with_why("aws:prod")
    assert isinstance(unknown, BadInput)
    assert "The options are `why:` (or `whynot:`), `id:`, `external:` (or `ext:`), `user:`" in unknown.reason
    assert read_with_why("wyh:jane") == BadInput(
        "`wyh:` is not an option: did you mean `why:`, as in `/scim-groups why:jane`?"
    )
    assert read_with_why("why:") == BadInput("`why:` needs a value after it, like `why:jane@example.com`.")


def test_a_new_kind_is_asked_for_alone() -> None:
    assert read_with_why("why:jane user:bob") == one_at_a_time([WHY, USER])
    assert read_with_why("why:jane failures") == one_at_a_time([WHY, FAILURES])
    assert read_with_why("why:jane wiki", words=False) == one_at_a_time([WHY])
    assert read_with_why("why:jane wiki") == BadInput("why ['jane'] ['wiki'] None 7")


def test_words_go_to_the_first_reading_that_takes_them_and_the_fallback_last() -> None:
    search = Reading((), lambda parts, size: BadInput("searched"), fallback=True)
    pasted = Reading((), lambda parts, size: BadInput("pasted") if parts.words == [A] else None)
    assert read_command(A, (search, pasted), page_size=10) == BadInput("pasted")
    assert read_command("oncall", (search, pasted), page_size=10) == BadInput("searched")
    # With no reading to take it, a command is not a question; never an exception.
    assert read_command("oncall", (pasted,), page_size=10) == NOT_A_QUESTION
    assert read_command("", (), page_size=10) == NOT_A_QUESTION


@pytest.mark.parametrize("text", ['""', "''", ",", " , "])
def test_a_command_of_quotes_or_commas_alone_is_a_search_not_a_lookup(text: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, Show), parsed
    assert parsed.query.kind in ("browse", "search")


@pytest.mark.parametrize(
    ("sent", "meant"),
    [
        ("user:<mailto:a@example.com|a@example.com>", "user:a@example.com"),
        ("<mailto:a@example.com|someone else>", "a@example.com"),  # the address, not its label
        (
            "<https://acme.okta.com/admin/group/00g1|acme.okta.com/…>",
            "https://acme.okta.com/admin/group/00g1",
        ),
        ("<https://example.com>", "https://example.com"),
        ("<#C0123|oncall>", "#oncall"),
        ("<!subteam^S0123|@sre>", "@sre"),
        ("<!here> oncall", " oncall"),
        ("user:<@U0123|kj>", "user:<@U0123>"),
        ("&lt;ops&gt; &amp; friends", "<ops> & friends"),  # typed: escaped, never markup
        ("&lt;mailto:a@example.com&gt;", "<mailto:a@example.com>"),
        ("R&amp;amp;D", "R&amp;D"),
    ],
)
def test_slacks_markup_is_unwrapped_to_what_was_pasted(sent: str, meant: str) -> None:
    assert from_slack(sent) == meant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://acme-admin.okta.com/admin/group/00g1Hx", Query(external_ids=("00g1Hx",))),
        ("HTTPS://acme-admin.OKTA.com/admin/group/00g1Hx/", Query(external_ids=("00g1Hx",))),
        ("idp:okta https://a.okta.com/admin/group/00gA1aaa https://a.okta.com/admin/group/00gB2bbb?x=1",
         Query(provider="okta", external_ids=("00gA1aaa", "00gB2bbb"))),
        ("https://portal.azure.com/#view/X/~/Overview/groupId/" + A, Query(external_ids=(A,))),
        ("https://a.okta.com/admin/user/profile/view/00u1abc", Query(users=("00u1abc",))),
        ("user:https://portal.azure.com/#view/X/~/overview/userId/" + A, Query(users=(A,))),
        ("https://a.okta.com/admin/groups", Query(search="https://a.okta.com/admin/groups")),
        ("https://a.okta.com/admin/group/00gA1aaa oncall",
         Query(search="https://a.okta.com/admin/group/00gA1aaa oncall")),
        ("ftp://files/x", Query(search="ftp://files/x")),
    ],
)  # fmt: skip
def test_pasted_admin_console_links_are_read_as_the_id_they_hold(text: str, expected: Query) -> None:
    assert query(text) == expected


@given(st.text(max_size=300))
def test_any_text_slack_sends_is_read_without_error_and_typed_text_is_only_unescaped(text: str) -> None:
    read = from_slack(text)
    assert len(read) <= len(text)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # as typed
    assert from_slack(escaped) == text


@pytest.mark.parametrize(
    ("sent", "meant"),
    [("<@W0123ABC|kj>", "<@W0123ABC>"), ("<#C0123>", "#C0123"), ("<!subteam^S0123>", "")],
)
def test_grid_users_and_channels_without_their_names_are_unwrapped_too(sent: str, meant: str) -> None:
    assert from_slack(sent) == meant


def test_an_option_with_several_listed_aliases_names_each() -> None:
    many = Option(("why",), "jane@example.com", listed=("whynot", "how"))
    unknown = read_command("aws:prod", (Reading((many,), why), *READINGS), page_size=7)
    assert isinstance(unknown, BadInput)
    assert "`why:` (or `whynot:`) (or `how:`), `id:`" in unknown.reason


def test_a_window_of_one_minute_is_the_shortest() -> None:
    assert query("failures:1m") == Query(failures=60)
    assert query("changed:1m") == Query(changed=60)
