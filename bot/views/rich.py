"""Outside text shown verbatim: Block Kit `rich_text`, whose `text` elements Slack never parses.

Names, emails, ids and Cloudflare's messages come from other people's systems. In mrkdwn a `*`,
`_`, `~` or backtick in them would restyle the message, and a line break would forge a line of
its own. Here they go into `text` elements, styled by us alone, after `visible()` has made every
character that cannot be seen (what Unicode calls "other" or a separator: line breaks,
zero-width and bidi controls, NUL, ESC, private-use characters, spaces other than the space)
into a visible `\\u200b`, so that a look-alike cannot pass for the real name.

A line is a list of parts: our own words (a `str`, in which `*bold*` and `` `code` `` are ours to
use), outside text (`Outside`), or a date Slack shows in each reader's time zone (`When`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

_OUR_MARKUP = re.compile(r"(\*[^*\n]+\*|`[^`\n]+`)")


class Outside(NamedTuple):
    """Text from another system, shown as it is (invisible characters made visible), cut to `limit`."""

    text: str
    limit: int
    bold: bool = False
    code: bool = False


class When(NamedTuple):
    """A moment Slack shows in each reader's own time zone, with `fallback` where it cannot."""

    timestamp: int
    format: str
    fallback: str


class Person(NamedTuple):
    """A Slack user, shown as Slack shows a mention (an id checked to be one, never outside text)."""

    user_id: str


Part = str | Outside | When | Person


def visible(text: str) -> str:
    """Give back `text` with every character that cannot be seen written as `\\uXXXX`."""
    if text.isprintable():  # the common case, at C speed: the same test, for the whole text
        return text
    return "".join(_shown(character) for character in text)


def _shown(character: str) -> str:
    if character.isprintable():  # printable: neither an "other" nor a separator, but the space
        return character
    code = ord(character)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def cut(text: str, limit: int) -> str:
    """Give back `text` cut to `limit` characters, with an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def moment(when: datetime | None, *, ago: bool) -> Part:
    """Give back a date as Slack shows it to each reader ("3 hours ago · Today at 14:02" with
    `ago`), or as text where Slack cannot (before 1970), or "unknown"."""
    if when is None:
        return "unknown"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        fallback = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError):  # a date Python cannot move to UTC: no date to show
        return "unknown"
    if when.timestamp() < 0:
        return fallback
    tokens = "{ago} · {date_short_pretty} at {time}" if ago else "{date_short_pretty} at {time}"
    return When(int(when.timestamp()), tokens, fallback)


def elements(parts: list[Part]) -> list[dict[str, Any]]:
    """Give back a line's parts as rich text elements (none empty: Slack refuses those)."""
    found: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, When):
            found.append(
                {
                    "type": "date",
                    "timestamp": part.timestamp,
                    "format": part.format,
                    "fallback": part.fallback,
                }
            )
        elif isinstance(part, Person):
            found.append({"type": "user", "user_id": part.user_id})
        elif isinstance(part, Outside):
            found.append(_text(cut(visible(part.text), part.limit), bold=part.bold, code=part.code))
        else:
            for piece in _OUR_MARKUP.split(part):
                if piece.startswith("*") and piece.endswith("*") and len(piece) > 2:
                    found.append(_text(piece[1:-1], bold=True))
                elif piece.startswith("`") and piece.endswith("`") and len(piece) > 2:
                    found.append(_text(piece[1:-1], code=True))
                else:
                    found.append(_text(piece))
    merged: list[dict[str, Any]] = []
    for element in found:
        if element.get("text") == "":
            continue
        if merged and element.keys() == merged[-1].keys() == {"type", "text"} and element["type"] == "text":
            merged[-1] = _text(merged[-1]["text"] + element["text"])  # fewer elements: a smaller message
        else:
            merged.append(element)
    return merged


def _text(text: str, *, bold: bool = False, code: bool = False) -> dict[str, Any]:
    style = {name: True for name, on in (("bold", bold), ("code", code)) if on}
    return {"type": "text", "text": text, **({"style": style} if style else {})}


def rich(*lines: list[Part]) -> dict[str, Any]:
    """Give back a rich_text block of these lines, one under the other."""
    parts: list[Part] = []
    for index, line in enumerate(lines):
        parts += (["\n"] if index else []) + line
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements(parts)}]}


def bullets(lead: list[list[Part]], items: list[list[Part]]) -> dict[str, Any]:
    """Give back a rich_text block: the `lead` lines, then `items` as a bulleted list."""
    sections = [rich(*lead)["elements"][0]] if lead else []
    listed = [{"type": "rich_text_section", "elements": elements(item)} for item in items]
    if listed:
        sections.append({"type": "rich_text_list", "style": "bullet", "elements": listed})
    return {"type": "rich_text", "elements": sections}
