"""What goes into Redis comes back the same, and nothing else comes back at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cloudflare import GroupPage, IdentityProvider, ScimGroup
from bot.codec import (
    GROUPS,
    MAX_CLOCK_SKEW,
    MAX_FIELD,
    PAGE,
    PROVIDERS,
    ROWS,
    VERSION,
    Seal,
    Unusable,
    instant,
    text,
    whole,
    why,
)

fields = st.text(max_size=40)
moments = st.none() | st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
groups = st.builds(ScimGroup, fields, fields, fields, moments)
providers = st.builds(IdentityProvider, fields, fields, fields, st.booleans())
pages = st.builds(
    GroupPage,
    rows=st.lists(groups.map(ScimGroup.row), max_size=5).map(tuple),
    page=st.integers(1, 100_000),
    per_page=st.integers(1, 100),
    total_count=st.none() | st.integers(0, 10_000_000),
)
SEAL = Seal.from_secret("the Cloudflare credential")


@given(st.lists(groups, max_size=5).map(tuple))
def test_groups_come_back_as_they_went(value: tuple[ScimGroup, ...]) -> None:
    assert GROUPS.loads(GROUPS.dumps(value)) == value


@given(pages)
def test_pages_come_back_as_they_went(value: GroupPage) -> None:
    assert PAGE.loads(PAGE.dumps(value)) == value


@given(st.lists(providers, max_size=5).map(tuple))
def test_providers_come_back_as_they_went(value: tuple[IdentityProvider, ...]) -> None:
    assert PROVIDERS.loads(PROVIDERS.dumps(value)) == value


def test_a_stored_entry_is_versioned_compact_json() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    stored = ROWS.dumps((("id-1", "Ünïcode", "ext", moment), ("id-2", "", "", None)))

    assert stored == f'[{VERSION},[["id-1","Ünïcode","ext","2026-01-02T03:04:05+00:00"],["id-2","","",null]]]'


def test_dates_in_another_offset_come_back_in_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))

    [row] = ROWS.loads(ROWS.dumps((("id", "n", "e", moment),)))

    assert row[3] == datetime(2026, 1, 2, 1, 4, tzinfo=UTC)
    assert row[3] is not None
    assert row[3].tzinfo == UTC


GOOD_ROW: list[Any] = ["id", "name", "ext", "2026-01-02T03:04:05+00:00"]
MALFORMED_ROWS: dict[str, Any] = {
    "another version": [VERSION - 1, [GOOD_ROW]],
    "a newer version": [VERSION + 1, [GOOD_ROW]],
    "not a list of rows": [VERSION, {"id": "x"}],
    "a row that is not a list": [VERSION, ["id"]],
    "a row too short": [VERSION, [GOOD_ROW[:3]]],
    "a row too long": [VERSION, [[*GOOD_ROW, None]]],
    "an id that is a number": [VERSION, [[7, *GOOD_ROW[1:]]]],
    "a name that is too long": [VERSION, [["id", "n" * (MAX_FIELD + 1), *GOOD_ROW[2:]]]],
    "an external id that is null": [VERSION, [["id", "name", None, *GOOD_ROW[3:]]]],
    "a date that is not a date": [VERSION, [[*GOOD_ROW[:3], "yesterday"]]],
    "a date that is a number": [VERSION, [[*GOOD_ROW[:3], 1_700_000_000]]],
    "a date an hour past the last": [VERSION, [[*GOOD_ROW[:3], "9999-12-31T23:00:00-01:00"]]],
    "no version": [[GOOD_ROW]],
}


@pytest.mark.parametrize("case", MALFORMED_ROWS, ids=list(MALFORMED_ROWS))
def test_rows_that_this_bot_could_not_have_stored_are_unusable(case: str) -> None:
    with pytest.raises(Unusable) as refused:
        ROWS.loads(json.dumps(MALFORMED_ROWS[case]))

    assert refused.value.reason == "malformed"


def test_a_name_of_the_longest_length_is_kept() -> None:
    row = ("id", "n" * MAX_FIELD, "ext", None)

    assert ROWS.loads(ROWS.dumps((row,))) == (row,)


MALFORMED_PAGES: dict[str, Any] = {
    "not a list": {"page": 1},
    "page 0": [0, 100, 45, []],
    "page past the walk's end": [100_001, 100, 45, []],
    "per_page 0": [1, 0, 45, []],
    "per_page past Cloudflare's": [1, 101, 45, []],
    "a negative total": [1, 100, -1, []],
    "a total past any account": [1, 100, 10_000_001, []],
    "a page that is a boolean": [True, 100, 45, []],
    "a total that is text": [1, 100, "45", []],
    "rows that are not a list": [1, 100, 45, "rows"],
}


@pytest.mark.parametrize("case", MALFORMED_PAGES, ids=list(MALFORMED_PAGES))
def test_pages_that_this_bot_could_not_have_stored_are_unusable(case: str) -> None:
    with pytest.raises(Unusable):
        PAGE.loads(json.dumps([VERSION, MALFORMED_PAGES[case]]))


def test_a_page_at_every_bound_is_kept() -> None:
    for page, per_page, total in ((1, 1, 0), (100_000, 100, 10_000_000)):
        value = GroupPage(rows=(), page=page, per_page=per_page, total_count=total)
        assert PAGE.loads(PAGE.dumps(value)) == value


MALFORMED_PROVIDERS: dict[str, Any] = {
    "not a list": {"id": "x"},
    "a provider that is not a list": [{"id": "x"}],
    "a provider too short": [["id", "name", "okta"]],
    "SCIM that is not a boolean": [["id", "name", "okta", 1]],
    "SCIM that is text": [["id", "name", "okta", "true"]],
    "a name that is a list": [["id", ["name"], "okta", True]],
    "a type that is null": [["id", "name", None, True]],
    "an id that is a number": [[1, "name", "okta", True]],
}


@pytest.mark.parametrize("case", MALFORMED_PROVIDERS, ids=list(MALFORMED_PROVIDERS))
def test_providers_that_this_bot_could_not_have_stored_are_unusable(case: str) -> None:
    with pytest.raises(Unusable):
        PROVIDERS.loads(json.dumps([VERSION, MALFORMED_PROVIDERS[case]]))


def test_a_sealed_entry_opens_only_under_its_own_key_name_and_seal() -> None:
    sealed = SEAL.close("scim-groups:v2:page:a", "[2,[]]")

    assert SEAL.open("scim-groups:v2:page:a", sealed) == "[2,[]]"
    assert SEAL.open("scim-groups:v2:page:a", sealed.encode()) == "[2,[]]"
    for name, entry, seal in (
        ("scim-groups:v2:page:b", sealed, SEAL),  # moved to another key
        ("scim-groups:v2:page:a", sealed.replace("[2,[]]", "[2,[1]]"), SEAL),  # text changed
        ("scim-groups:v2:page:a", sealed, Seal.from_secret("another credential")),
        ("scim-groups:v2:page:a", sealed.replace(".", "", 1), SEAL),  # no seal at all
        ("scim-groups:v2:page:a", b"\xff\xfe" + sealed.encode(), SEAL),  # not UTF-8
    ):
        with pytest.raises(Unusable) as refused:
            seal.open(name, entry)
        assert refused.value.reason == "forged"
    with pytest.raises(Unusable) as refused:
        SEAL.open("scim-groups:v2:page:a", b"\xff\xfe" + sealed.encode())
    assert str(refused.value) == "forged: not UTF-8"


def test_the_seal_is_an_hmac_of_the_key_name_and_text() -> None:
    import hashlib
    import hmac

    key = hmac.new(b"secret", b"scim-groups redis entries v2", hashlib.sha256).digest()
    mac = hmac.new(key, b"name\0text", hashlib.sha256).hexdigest()

    assert Seal.from_secret("secret").close("name", "text") == f"{mac}.text"


def test_field_checks_take_their_bounds_inclusively() -> None:
    assert text("") == ""
    assert text("x" * MAX_FIELD) == "x" * MAX_FIELD
    assert whole(1, 1, 3) == 1
    assert whole(3, 1, 3) == 3
    assert instant(0, now=100.0) == 0.0
    assert instant(100 + MAX_CLOCK_SKEW, now=100.0) == 100 + MAX_CLOCK_SKEW  # another host's clock ahead
    for bad in (lambda: text("", empty=False), lambda: whole(4, 1, 3), lambda: whole(0, 1, 3)):
        with pytest.raises(TypeError):
            bad()
    for value in (-1, 101 + MAX_CLOCK_SKEW, float("nan"), float("inf"), True, "5"):
        with pytest.raises(TypeError):
            instant(value, now=100.0)


@pytest.mark.parametrize(
    ("codec", "payload", "detail"),
    [
        (ROWS, [VERSION - 1, []], f"version {VERSION - 1}"),
        (ROWS, [VERSION, {"id": "x"}], "TypeError: not a list of rows"),
        (ROWS, [VERSION, [["id"]]], "TypeError: not a group row"),
        (ROWS, [VERSION, [[1, "n", "e", None]]], "TypeError: not a string field"),
        (
            ROWS,
            [VERSION, [["i", "n", "e", "soon"]]],
            "ValueError: not a date this bot could have stored",
        ),
        (PAGE, [VERSION, {"page": 1}], "TypeError: not a page"),
        (PAGE, [VERSION, [0, 100, 45, []]], "TypeError: not a whole number in range"),
        (PROVIDERS, [VERSION, {"id": "x"}], "TypeError: not a list of providers"),
        (PROVIDERS, [VERSION, [{"id": "x"}]], "TypeError: not a provider"),
        (PROVIDERS, [VERSION, [["id", "name", "okta"]]], "TypeError: not a provider"),
        (PROVIDERS, [VERSION, [["id", "name", "okta", "yes"]]], "TypeError: not a boolean"),
    ],
)
def test_the_log_says_which_check_an_entry_failed(codec: Any, payload: object, detail: str) -> None:
    with pytest.raises(Unusable) as refused:
        codec.loads(json.dumps(payload))

    assert str(refused.value) == f"malformed: {detail}"


def test_what_the_log_keeps_of_a_failed_check_is_bounded() -> None:
    assert why(ValueError("x" * 500)) == "ValueError: " + "x" * 108
    assert str(Unusable("forged")) == "forged"
    with pytest.raises(TypeError, match=r"^not a past Unix time$"):
        instant(-1, now=0)
