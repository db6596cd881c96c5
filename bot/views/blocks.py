"""The parts every view is made of: escaping, Block Kit blocks, ages and dates, the paging
footer and buttons; within Slack's limits.

Everything from Cloudflare or the user is escaped for mrkdwn before it reaches a message, and
the text objects that carry it are `verbatim`, so Slack does not turn names into links or
mentions.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.cache import Staleness
from bot.cloudflare import BudgetSpent, RateLimited
from bot.query import (
    ACTION_NEXT,
    ACTION_PREVIOUS,
    ACTION_REFRESH,
    ACTION_SHARE,
    Show,
    encode_button,
)
from bot.views.rich import Outside, Part, moment, visible

Message = dict[str, Any]

COMMAND = "/scim-groups"
# A group opened from a page, and since gone from Cloudflare.
GONE = "Cloudflare no longer knows this group in this identity provider: it may have been deleted since."
# Slack refuses a button whose value is longer.
MAX_BUTTON_VALUE = 2_000

HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
NAME_LIMIT = 150
ID_LIMIT = 100
FALLBACK_LIMIT = 300
REASON_LIMIT = 500
SECTION_LIMIT = 3_000
CONTEXT_LIMIT = 3_000  # one element of a context block
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
MAX_MISSING_SHOWN = 20
# What a page counts: one, many.
Nouns = tuple[str, str]


class Paging(Protocol):
    """What the footer and the buttons need to know of a page."""

    @property
    def page(self) -> int: ...
    @property
    def has_next(self) -> bool: ...
    @property
    def total(self) -> int | None: ...
    @property
    def total_is_lower_bound(self) -> bool: ...
    @property
    def page_count(self) -> int | None: ...
    @property
    def fetched_at(self) -> float | None: ...
    @property
    def aging(self) -> bool: ...


def escape(text: str) -> str:
    """Give back `text` with mrkdwn's control characters (`&`, `<`, `>`) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escaped(text: str, limit: int) -> str:
    """Give back `text` escaped for mrkdwn in at most `limit` characters, cut (with an ellipsis)
    between characters, never inside an escape: `&` alone takes five."""
    out = escape(text)
    if len(out) <= limit:
        return out
    pieces, size = [], 1
    for character in text:
        piece = escape(character)
        if size + len(piece) > limit:
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces) + "…"


def shorten(text: str, limit: int) -> str:
    """Give back `text` cut to `limit` characters, with an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def age(seconds: float) -> str:
    """Give back a duration as people say it: "1 second", "5 minutes", "2 hours"."""
    if seconds < 90:
        count, unit = max(1, round(seconds)), "second"
    elif seconds < 90 * 60:
        count, unit = round(seconds / 60), "minute"
    else:
        count, unit = round(seconds / 3600), "hour"
    return f"{count} {unit}{'s' if count != 1 else ''}"


def window(seconds: int) -> str:
    """Give back a window as it was asked for: "30 minutes", "24 hours", "3 days"."""
    if seconds % 86_400 == 0 and seconds > 86_400:
        count, unit = seconds // 86_400, "day"
    elif seconds % 3_600 == 0:
        count, unit = seconds // 3_600, "hour"
    else:
        count, unit = round(seconds / 60), "minute"
    return f"{count} {unit}{'s' if count != 1 else ''}"


def changed_line(when: datetime | None) -> list[Part]:
    """Give back when something last changed, how long ago first; or that it is not known."""
    shown = moment(when, ago=True)
    return ["Last change unknown"] if shown == "unknown" else ["Changed ", shown]


def id_line(external_id: str, cloudflare_id: str) -> list[Part]:
    """Give back the line with a group's or user's two ids, each set as code."""
    return ["External ID ", code(external_id), "  ·  Cloudflare ID ", code(cloudflare_id)]


def code(value: str) -> Part:
    """Give back an id set as code, or a dash when there is none."""
    return Outside(value, ID_LIMIT, code=True) if value else "—"


def codes(values: tuple[str, ...]) -> list[Part]:
    """Give back ids set as code, the first MAX_MISSING_SHOWN of them, and how many more."""
    parts: list[Part] = []
    for index, value in enumerate(values[:MAX_MISSING_SHOWN]):
        parts += [", "] if index else []
        parts.append(code(value))
    more = len(values) - MAX_MISSING_SHOWN
    return parts + ([f" and {more} more"] if more > 0 else [])


def stale_note(stale: Staleness, *, refresh: bool = True) -> str:
    """Give back why an answer is an older copy, and how old; and how to try again (`refresh`:
    the answer has a Refresh button)."""
    error = stale.error
    if isinstance(error, BudgetSpent):
        why = "the bot has used its share of the Cloudflare API quota for the moment"
    elif isinstance(error, RateLimited):
        why = "Cloudflare is rate-limiting the bot"
    else:
        why = f"Cloudflare is not answering properly{f' (HTTP {error.status})' if error.status else ''}"
    again = "Refresh to try again" if refresh else "Open it again in a minute to try again"
    return f"⚠️ This is a copy from {age(stale.age_seconds)} ago: {why}. {again}."


def notes(
    stale: Staleness | None, refresh_wait: float | None, *, refresh: bool = True
) -> list[dict[str, Any]]:
    """Give back the notes above an answer: a stale copy, a refresh asked for too soon."""
    blocks = [note(stale_note(stale, refresh=refresh))] if stale is not None else []
    if refresh_wait is not None:
        blocks.append(
            note(
                "You refreshed a moment ago, so this is the cached copy: refresh again in "
                f"{age(refresh_wait)}."
            )
        )
    return blocks


def footer(
    paging: Paging,
    nouns: Nouns,
    shared_by: str | None,
    searched: int | None = None,
    *,
    counted: bool,
    read: str = "groups",
) -> list[dict[str, Any]]:
    """Give back the line under a page: where it is, how many there are (`nouns`: one, many),
    how many `read` a search read when cut short, who shared it; only the last two when not
    `counted` (an empty answer has no pages), and no line when there is nothing to say (Slack
    refuses an empty one)."""
    pages = paging.page_count
    fresh = as_of(paging.fetched_at, aging=paging.aging)
    if not counted:
        parts = [fresh] if fresh else []
        if searched is not None:
            parts.append(f"Searched only the first {searched:,} {read}")
        if shared_by and SLACK_USER_ID.match(shared_by):
            parts.append(f"Shared by <@{shared_by}>")
        line = " · ".join(parts)
        return [{"type": "context", "elements": [mrkdwn(line[:1].upper() + line[1:])]}] if line else []
    if pages and paging.page > pages:
        where = f"Past the last page ({pages})"
    else:
        where = f"Page {paging.page} of {pages}" if pages else f"Page {paging.page}"
    one, many = nouns
    if paging.total is None:
        count = ""
    elif paging.total_is_lower_bound:
        count = f" · {paging.total:,}+ {many}"
    else:
        count = f" · {paging.total:,} {one if paging.total == 1 else many}"
    partial = "" if searched is None else f" · searched only the first {searched:,} {read}"
    by = f" · shared by <@{shared_by}>" if shared_by and SLACK_USER_ID.match(shared_by) else ""
    when = f" · {fresh}" if fresh else ""
    return [{"type": "context", "elements": [mrkdwn(where + count + partial + when + by)]}]


def as_of(fetched_at: float | None, *, aging: bool) -> str:
    """Give back when an answer was fetched from Cloudflare: the time ("as of 14:02", in each
    reader's time zone), or how long ago when it is an aging copy ("as of 3 minutes ago")."""
    if fetched_at is None or not 0 <= fetched_at < 2**33:
        return ""
    fallback = datetime.fromtimestamp(fetched_at, UTC).strftime("%H:%M UTC")
    return (
        f"as of <!date^{int(fetched_at)}^{{ago}}|{fallback}>"
        if aging
        else (f"as of <!date^{int(fetched_at)}^{{time}}|{fallback}>")
    )


def fetched(fetched_at: float | None, *, aging: bool) -> list[dict[str, Any]]:
    """Give back the line under a detail saying when it was fetched ("As of 14:02", or how long
    ago for a copy past its TTL); none when that is not known."""
    shown = as_of(fetched_at, aging=aging)
    return [{"type": "context", "elements": [mrkdwn(shown[:1].upper() + shown[1:])]}] if shown else []


def paging_buttons(paging: Paging, request: Show) -> dict[str, Any]:
    """Give back the row of buttons under a page: Previous, Next, Refresh, Share."""

    def to(page: int) -> Show:
        return replace(request, page=page)

    buttons = []
    if paging.page > 1:
        buttons.append(button(ACTION_PREVIOUS, "◀ Previous", to(paging.page - 1)))
    if paging.has_next:
        buttons.append(button(ACTION_NEXT, "Next ▶", to(paging.page + 1)))
    buttons.append(button(ACTION_REFRESH, "↻ Refresh", to(paging.page)))
    if not request.shared:
        buttons.append(button(ACTION_SHARE, "Share in channel", to(paging.page)))
    return {"type": "actions", "block_id": "scim_groups_paging", "elements": buttons}


def summary(title: str, provider_name: str, paging: Paging, *, missing: int = 0) -> str:
    """Give back the message's fallback text: what it shows, which page, and how many of the
    values asked for were not found."""
    pages = paging.page_count
    if pages and paging.page > pages:
        where = f"past the last page ({pages})"
    else:
        where = f"page {paging.page} of {pages}" if pages else f"page {paging.page}"
    not_found = f" · {missing:,} not found" if missing else ""
    return fallback(f"{title} from {provider_name}: {where}{not_found}")


def fallback(text: str) -> str:
    """Give back a message's fallback text (notifications show it as mrkdwn): escaped, invisible
    characters made visible, cut to its limit."""
    return escaped(visible(text), FALLBACK_LIMIT)


def button(action_id: str, label: str, target: Show) -> dict[str, Any]:
    """Give back a button that leads to `target`."""
    return {"type": "button", "action_id": action_id, "text": plain(label), "value": encode_button(target)}


def header(title: str) -> dict[str, Any]:
    """Give back a header block (plain text: names in it are shown as they are), cut to Slack's limit."""
    return {"type": "header", "text": plain(shorten(visible(title), HEADER_LIMIT))}


def plain(text: str) -> dict[str, Any]:
    """Give back a plain-text object; `:shortcodes:` in it stay text."""
    return {"type": "plain_text", "text": text, "emoji": False}


def plain_section(text: str) -> dict[str, Any]:
    """Give back a section of plain text: outside text in it (Cloudflare's messages) is shown as
    it is, invisible characters made visible, cut to Slack's limit."""
    return {"type": "section", "text": plain(shorten(visible(text), SECTION_LIMIT))}


def plain_note(text: str) -> dict[str, Any]:
    """Give back a context line of plain text, for words that carry outside text."""
    return {"type": "context", "elements": [plain(shorten(visible(text), CONTEXT_LIMIT))]}


def mrkdwn(text: str) -> dict[str, Any]:
    """Give back a verbatim mrkdwn object (`text` must already be escaped)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def section(text: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Give back a section of mrkdwn (`text` must already be escaped), with `fields` under it."""
    return {"type": "section", "text": mrkdwn(text), **({"fields": fields} if fields else {})}


def note(text: str) -> dict[str, Any]:
    """Give back a context line of plain words (escaped here, cut to Slack's limit)."""
    return {"type": "context", "elements": [mrkdwn(escaped(text, CONTEXT_LIMIT))]}


def sentence(text: str) -> Message:
    """Give back a message of one plain sentence (escaped here)."""
    return {"text": escaped(text, FALLBACK_LIMIT), "blocks": [section(escaped(text, SECTION_LIMIT))]}
