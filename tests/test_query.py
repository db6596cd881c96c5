from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.query import BadInput, Browse, ShowHelp, decode_button, encode_button, parse_command
from tests.fakes import PROVIDER_ID


def parse(text: str) -> object:
    return parse_command(text, identity_provider_id=PROVIDER_ID, page_size=10)


def test_no_text_browses_the_first_page() -> None:
    assert parse("   ") == Browse(PROVIDER_ID, page=1, page_size=10)


@pytest.mark.parametrize("text", ["help", " HELP ", "?", "--help"])
def test_help(text: str) -> None:
    assert parse(text) == ShowHelp()


def test_other_text_is_bad_input_for_now() -> None:
    assert isinstance(parse("oncall"), BadInput)


def test_overlong_text_is_bad_input() -> None:
    assert parse("x" * 501) == BadInput("That is too long for a command: keep it under 500 characters.")


@given(st.text(max_size=1_000))
def test_any_text_parses_to_a_query_or_a_reason(text: str) -> None:
    assert isinstance(parse(text), Browse | ShowHelp | BadInput)


@given(st.integers(1, 100_000), st.integers(1, 20), st.booleans())
def test_buttons_round_trip(page: int, size: int, shared: bool) -> None:
    query = Browse(PROVIDER_ID, page=page, page_size=size, shared=shared)

    value = encode_button(query)

    assert decode_button(value) == query
    assert len(value) < 120


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        "[]",
        json.dumps({"v": 2, "i": PROVIDER_ID, "p": 1, "n": 10}),
        json.dumps({"v": 1, "i": "../../etc", "p": 1, "n": 10}),
        json.dumps({"v": 1, "i": PROVIDER_ID, "p": 0, "n": 10}),
        json.dumps({"v": 1, "i": PROVIDER_ID, "p": True, "n": 10}),
        json.dumps({"v": 1, "i": PROVIDER_ID, "p": 1, "n": 500}),
        json.dumps({"v": 1, "i": PROVIDER_ID, "p": "1", "n": 10}),
        json.dumps({"v": 1, "i": PROVIDER_ID, "p": 1, "n": 10, "s": "yes"}),
    ],
)
def test_tampered_or_outdated_buttons_are_bad_input(value: str) -> None:
    assert decode_button(value) == BadInput(
        "This button is from an older or altered message; run `/scim-groups` again."
    )


@given(st.text(max_size=2_000))
def test_any_button_value_decodes_to_a_query_or_a_reason(value: str) -> None:
    assert isinstance(decode_button(value), Browse | BadInput)
