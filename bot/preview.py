"""The terminal preview: the bot's Slack replies as readable text (or Block Kit JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TextIO

from bot.service import GroupsService
from bot.views import (
    ACTION_BACK,
    ACTION_HISTORY,
    ACTION_NEXT,
    ACTION_OPEN,
    ACTION_PREVIOUS,
    ACTION_REFRESH,
    ACTION_USED_BY,
    Message,
)

KEYS = {"n": ACTION_NEXT, "p": ACTION_PREVIOUS, "r": ACTION_REFRESH, "b": ACTION_BACK}
PROMPT = (
    "[n]ext  [p]revious  [r]efresh  [h3]istory / [u3]sed by (3rd group)  [b]ack  [1-9] provider  [q]uit > "
)
HINT = "n, p, r, h3, u3, b, a digit, or q"
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")


def to_text(message: Message, *, bold: Callable[[str], str] = str) -> str:
    """Give back the message as a person would read it in Slack, in plain text."""
    lines: list[str] = []
    for block in message.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [bold(title), "=" * len(title)]
        elif kind == "section":
            lines += [_readable(block["text"]["text"], bold), ""]
        elif kind == "context":
            lines.append("  ".join(_readable(element["text"], bold) for element in block["elements"]))
        elif kind == "actions":
            lines.append("  ".join(f"[ {element['text']['text']} ]" for element in block["elements"]))
    return "\n".join(lines) if lines else _readable(message.get("text", ""), bold)


def run(
    service: GroupsService,
    text: str,
    *,
    as_json: bool,
    interactive: bool,
    out: TextIO,
    ask: Callable[[str], str] = input,
    bold: Callable[[str], str] = str,
) -> int:
    """Show the answer to `/scim-groups <text>`; on a terminal, page with n / p / r until q."""
    message = service.answer_command(text)
    _show(message, as_json=as_json, out=out, bold=bold)
    while interactive:
        try:
            typed = ask(PROMPT).strip().lower()
        except (EOFError, KeyboardInterrupt):
            break
        key, number = typed[:1], int(typed[1:]) if typed[1:3].isdigit() else 0
        if key == "q":
            break
        action = KEYS.get(key) or (f"{ACTION_OPEN}:{int(key) - 1}" if key.isdigit() and key != "0" else "")
        button = _button(message, action)
        if key in ("h", "u"):
            action = ACTION_HISTORY if key == "h" else ACTION_USED_BY
            found = _buttons(message, action)
            button = found[number - 1] if 0 < number <= len(found) else None
        if button is None:
            out.write("That button is not on this page.\n" if action else f"Type {HINT}.\n")
            continue
        message = service.answer_click(button["action_id"], button["value"]).message
        _show(message, as_json=as_json, out=out, bold=bold)
    return 0


def _show(message: Message, *, as_json: bool, out: TextIO, bold: Callable[[str], str]) -> None:
    out.write(
        (json.dumps(message, indent=2, ensure_ascii=False) if as_json else to_text(message, bold=bold)) + "\n"
    )


def _button(message: Message, action_id: str) -> dict[str, Any] | None:
    return next(iter(_buttons(message, action_id)), None)


def _buttons(message: Message, action_id: str) -> list[dict[str, Any]]:
    return [
        element
        for block in message.get("blocks", [])
        for element in (block.get("elements", []) if block.get("type") == "actions" else [])
        if element.get("action_id") == action_id
    ]


def _readable(mrkdwn: str, bold: Callable[[str], str]) -> str:
    text = _DATE.sub(r"\1", mrkdwn)
    text = _MENTION.sub(r"@\1", text)
    text = _BOLD.sub(lambda match: bold(match.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
