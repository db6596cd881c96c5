"""The terminal preview: the bot's Slack replies as readable text (or Block Kit JSON)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TextIO

from bot.alerts import render_alert
from bot.cloudflare import CloudflareClient
from bot.pushes import read_log, rfc3339
from bot.service import GroupsService
from bot.views import (
    ACTION_BACK,
    ACTION_HISTORY,
    ACTION_NEXT,
    ACTION_OPEN,
    ACTION_PREVIOUS,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_USED_BY,
    Message,
)
from bot.views.rich import visible

# The keys the interactive preview takes, and the button each presses.
KEYS = {"n": ACTION_NEXT, "p": ACTION_PREVIOUS, "r": ACTION_REFRESH, "s": ACTION_SHARE, "b": ACTION_BACK}
LABELS = {"n": "[n]ext", "p": "[p]revious", "r": "[r]efresh", "s": "[s]hare", "b": "[b]ack"}
_DATE = re.compile(r"<!date\^(-?\d+)\^([^|>]*)\|([^>]*)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")


def to_text(message: Message, *, bold: Callable[[str], str] = str, now: float | None = None) -> str:
    """Give back the message as a person would read it in Slack, in plain text, at `now`."""
    at = time.time() if now is None else now
    lines: list[str] = []
    for block in message.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            lines += [bold(title), "=" * len(title)]
        elif kind == "section":
            if lines and lines[-1] and not lines[-1].startswith("="):  # a blank line between sections
                lines.append("")
            lines.append(_shown(block["text"], bold, at))
            # Fields side by side, each as "label value" (Slack shows the label above its value).
            fields = [_shown(field, bold, at).replace("\n", " ") for field in block.get("fields", [])]
            lines += ["  ·  ".join(fields)] if fields else []
        elif kind == "rich_text":
            if lines and lines[-1] and not lines[-1].startswith("="):
                lines.append("")
            lines.append(_rich(block, bold, at))
        elif kind == "context":
            if lines and lines[-1] and not lines[-1].startswith("="):
                lines.append("")
            lines.append("  ".join(_shown(element, bold, at) for element in block["elements"]))
        elif kind == "actions":
            lines.append("  ".join(f"[ {element['text']['text']} ]" for element in block["elements"]))
    text = "\n".join(lines) if lines else _readable(message.get("text", ""), bold, at)
    # What the bot shows makes invisible characters visible; this keeps the terminal safe from
    # anything that still carries one (an escape sequence would clear it or set its clipboard).
    return "\n".join(visible(line) for line in text.split("\n"))


def _shown(text: dict[str, Any], bold: Callable[[str], str], now: float) -> str:
    """Give back a text object as Slack shows it: mrkdwn read, plain text as it is."""
    return _readable(text["text"], bold, now) if text.get("type") == "mrkdwn" else str(text["text"])


def _rich(block: dict[str, Any], bold: Callable[[str], str], now: float) -> str:
    """Give back a rich_text block as Slack shows it: styled text, dates, bulleted lists."""
    lines: list[str] = []
    for part in block.get("elements", []):
        listed = part.get("type") == "rich_text_list"
        for item in part["elements"] if listed else [part]:
            line = ""
            for element in item.get("elements", []):
                if element.get("type") == "date":
                    line += _date(element["timestamp"], element["format"], element["fallback"], now)
                    continue
                if element.get("type") == "user":  # Slack shows the person's name; the preview their id
                    line += f"@{element['user_id']}"
                    continue
                text, style = str(element.get("text", "")), element.get("style", {})
                text = f"`{text}`" if style.get("code") else text
                line += bold(text) if style.get("bold") else text
            lines.append(("• " if listed else "") + line)
    return "\n".join(lines)


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
    """Show the answer to `/scim-groups <text>`; on a terminal, press its buttons by key until q.

    Only the keys of the buttons on the page shown are offered; a message without buttons (help,
    bad input, a failure) ends the preview at once.
    """
    message = service.answer_command(text)
    _show(message, as_json=as_json, out=out, bold=bold)
    while interactive and (prompt := _prompt(message)):
        try:
            typed = ask(prompt).strip().lower()
        except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C: end the line the prompt left open
            out.write("\n")
            break
        key, number = typed[:1], int(typed[1:]) if typed[1:3].isdigit() else 0
        if key == "q":
            break
        button = _pressed(message, key, number)
        if button is None:
            out.write(f"That is not a button on this page: type {_hint(message)}.\n")
            continue
        reply = service.answer_click(button["action_id"], button["value"])
        if reply.in_channel:  # Share posts a new message; the private copy stays as it was
            out.write("Posted to the channel for everyone:\n")
            _show(reply.message, as_json=as_json, out=out, bold=bold)
            continue
        message = reply.message
        if button["action_id"] == ACTION_REFRESH:
            out.write("↻ Refreshed from Cloudflare.\n")
        _show(message, as_json=as_json, out=out, bold=bold)
    return 0


def _offers(message: Message) -> list[tuple[str, str]]:
    """Give back the keys that press a button of this message, each with its label."""
    actions = {element.get("action_id", "").split(":")[0] for element in _elements(message)}
    offers = [(key, LABELS[key]) for key, action in KEYS.items() if action in actions]
    groups = len(_buttons(message, ACTION_HISTORY))
    if groups:
        span = f"1-{groups}" if groups > 1 else "1"
        offers += [(f"h{span}", f"[h{span}] history"), (f"u{span}", f"[u{span}] used by")]
    opens = [
        block["block_id"]
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id", "").startswith(f"{ACTION_OPEN}:")
    ]
    if opens:
        span = f"1-{len(opens)}" if len(opens) > 1 else "1"
        what = "provider" if all(block != "scim_groups_close" for block in opens) else "open"
        offers.append((span, f"[{span}] {what}"))
    return offers


def _prompt(message: Message) -> str:
    """Give back the prompt that offers this message's buttons, or "" when it has none."""
    offers = _offers(message)
    return "  ".join([*(label for _, label in offers), "[q]uit"]) + " > " if offers else ""


def _hint(message: Message) -> str:
    return ", ".join([*(key for key, _ in _offers(message)), "q"])


def _pressed(message: Message, key: str, number: int) -> dict[str, Any] | None:
    """Give back the button that `key` (and `number`) press on this message, if it is there."""
    if key in KEYS:
        return _button(message, KEYS[key])
    if key in ("h", "u"):
        found = _buttons(message, ACTION_HISTORY if key == "h" else ACTION_USED_BY)
        return found[number - 1] if 0 < number <= len(found) else None
    if key.isdigit() and key != "0":
        return _button(message, f"{ACTION_OPEN}:{int(key) - 1}")
    return None


def show_home(service: GroupsService, *, as_json: bool, out: TextIO, bold: Callable[[str], str] = str) -> int:
    """Show the Home tab the bot would publish for someone opening it."""
    view = service.home()
    _show({"text": "Home", "blocks": view["blocks"]}, as_json=as_json, out=out, bold=bold)
    return 0


def show_alert(
    client: CloudflareClient, *, hours: int, as_json: bool, out: TextIO, bold: Callable[[str], str] = str
) -> int:
    """Show the alert the bot would post for each SCIM provider's failures of the last `hours`."""
    until = int(time.time())
    shown = 0
    for provider in client.list_identity_providers():
        if not provider.scim_enabled:
            continue
        window = [("since", rfc3339(until - hours * 3_600)), ("until", rfc3339(until))]
        rows = read_log(
            client, [("idp_id", provider.id), ("status", "FAILURE"), *window, ("per_page", 1_000)]
        )
        if rows:
            text, blocks, _resources = render_alert(provider, list(rows), page_size=10)
            _show({"text": text, "blocks": blocks}, as_json=as_json, out=out, bold=bold)
            shown += 1
    if not shown:
        out.write(f"No failed SCIM push in the last {hours} hours: there would be no alert.\n")
    return 0


def _show(message: Message, *, as_json: bool, out: TextIO, bold: Callable[[str], str]) -> None:
    out.write(
        (json.dumps(message, indent=2, ensure_ascii=False) if as_json else to_text(message, bold=bold)) + "\n"
    )


def _button(message: Message, action_id: str) -> dict[str, Any] | None:
    return next(iter(_buttons(message, action_id)), None)


def _elements(message: Message) -> list[dict[str, Any]]:
    return [
        element
        for block in message.get("blocks", [])
        for element in (block.get("elements", []) if block.get("type") == "actions" else [])
    ]


def _buttons(message: Message, action_id: str) -> list[dict[str, Any]]:
    return [element for element in _elements(message) if element.get("action_id") == action_id]


def _readable(mrkdwn: str, bold: Callable[[str], str], now: float) -> str:
    text = _DATE.sub(lambda match: _date(int(match.group(1)), match.group(2), match.group(3), now), mrkdwn)
    text = _MENTION.sub(r"@\1", text)
    text = _BOLD.sub(lambda match: bold(match.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _date(timestamp: int, tokens: str, fallback: str, now: float) -> str:
    """Give back a Slack date as the preview can show it: the fallback (UTC), after how long ago
    it was when the tokens ask for that, as Slack does."""
    return f"{ago(now - timestamp)} · {fallback}" if "{ago}" in tokens else fallback


def ago(seconds: float) -> str:
    """Give back how long ago something was, roughly, as Slack's `{ago}` says it."""
    if seconds < 0:
        return "in the future"
    for size, unit in (
        (365 * 86_400, "year"),
        (30 * 86_400, "month"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"
