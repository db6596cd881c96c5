"""Queries: command text and button values turned into typed requests; bad input as values.

A button's value carries everything needed to draw the page it leads to, as compact versioned
JSON, so a click works on any worker, after a restart, and on ephemeral messages (whose click
payloads carry no `message`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeGuard

from bot.settings import MAX_PAGE_SIZE, UUID_PATTERN

BUTTON_VERSION = 1
MAX_PAGE = 100_000
# Slack caps a command's text well below this; anything longer is not a real command.
MAX_TEXT_LENGTH = 500


@dataclass(frozen=True)
class Browse:
    """Show page `page` of a provider's groups."""

    identity_provider_id: str
    page: int
    page_size: int
    shared: bool = False


@dataclass(frozen=True)
class ShowHelp:
    """Explain how to use the command."""


@dataclass(frozen=True)
class BadInput:
    """The input could not be understood; `reason` says why in one plain sentence."""

    reason: str


Query = Browse | ShowHelp


def parse_command(text: str, *, identity_provider_id: str, page_size: int) -> Query | BadInput:
    """Give back what the command's text asks for."""
    if len(text) > MAX_TEXT_LENGTH:
        return BadInput(f"That is too long for a command: keep it under {MAX_TEXT_LENGTH} characters.")
    words = " ".join(text.split()).lower()
    if words == "":
        return Browse(identity_provider_id=identity_provider_id, page=1, page_size=page_size)
    if words in ("help", "?", "-h", "--help"):
        return ShowHelp()
    return BadInput("Search is not available yet: `/scim-groups` on its own lists every group.")


def encode_button(query: Browse) -> str:
    """Give back a button value that `decode_button` turns back into `query`."""
    state = {
        "v": BUTTON_VERSION,
        "i": query.identity_provider_id,
        "p": query.page,
        "n": query.page_size,
    }
    if query.shared:
        state["s"] = 1
    return json.dumps(state, separators=(",", ":"))


def decode_button(value: str) -> Browse | BadInput:
    """Give back the query a button value carries, or why it cannot be used."""
    outdated = BadInput("This button is from an older or altered message; run `/scim-groups` again.")
    try:
        state = json.loads(value)
    except (TypeError, ValueError):
        return outdated
    if not isinstance(state, dict) or state.get("v") != BUTTON_VERSION:
        return outdated
    provider, page, size, shared = state.get("i"), state.get("p"), state.get("n"), state.get("s", 0)
    if not isinstance(provider, str) or not UUID_PATTERN.match(provider):
        return outdated
    if not _whole(page, 1, MAX_PAGE) or not _whole(size, 1, MAX_PAGE_SIZE) or shared not in (0, 1):
        return outdated
    return Browse(identity_provider_id=provider.lower(), page=page, page_size=size, shared=bool(shared))


def _whole(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
