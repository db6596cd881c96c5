"""Views: queries and results turned into Slack messages (Block Kit), within Slack's limits.

Everything from Cloudflare or the user is escaped for mrkdwn before it reaches a message, and
the text objects that carry it are `verbatim`, so Slack does not turn names into links or
mentions. All user-facing wording lives here, once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.cloudflare import (
    AuthFailed,
    CloudflareError,
    NotFound,
    RateLimited,
    Rejected,
    ScimGroup,
)
from bot.directory import Listing
from bot.query import BadInput, Browse, encode_button

Message = dict[str, Any]

COMMAND = "/scim-groups"
ACTION_PREVIOUS = "scim_groups_previous"
ACTION_NEXT = "scim_groups_next"
ACTION_REFRESH = "scim_groups_refresh"
ACTION_SHARE = "scim_groups_share"
ACTIONS = (ACTION_PREVIOUS, ACTION_NEXT, ACTION_REFRESH, ACTION_SHARE)

HEADER_LIMIT = 150
NAME_LIMIT = 150
ID_LIMIT = 100
FALLBACK_LIMIT = 300
REASON_LIMIT = 500
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def escape(text: str) -> str:
    """Give back `text` with mrkdwn's control characters (`&`, `<`, `>`) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """Give back `text` cut to `limit` characters, with an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_listing(
    listing: Listing, query: Browse, provider_name: str, *, shared_by: str | None = None
) -> Message:
    """Give back the message that shows one page of groups, with its paging buttons."""
    title = shorten(f"SCIM groups · {provider_name}", HEADER_LIMIT)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(title)}]
    if listing.groups:
        blocks.extend(_group_section(group) for group in listing.groups)
    elif listing.page == 1:
        blocks.append(
            _section(f"No SCIM groups are synced from *{escape(shorten(provider_name, NAME_LIMIT))}* yet.")
        )
    else:
        blocks.append(_section("There are no more groups: the page before this one was the last."))
    blocks.append({"type": "context", "elements": [_mrkdwn(_position(listing, shared_by))]})
    blocks.append({"type": "actions", "block_id": "scim_groups_paging", "elements": _buttons(listing, query)})
    return {"text": shorten(_summary(listing, provider_name), FALLBACK_LIMIT), "blocks": blocks}


def render_help() -> Message:
    """Give back the usage message."""
    text = (
        f"*{COMMAND}* shows the SCIM groups your identity provider syncs into Cloudflare Zero Trust.\n"
        f"• `{COMMAND}` lists every group, a page at a time: *Previous* / *Next* to page, "
        "*Refresh* for fresh data from Cloudflare, *Share* to post the page to the channel.\n"
        f"• `{COMMAND} help` shows this message.\n"
        "Each group shows its name, its id in your identity provider (external ID), "
        "its Cloudflare id and when it last changed. Only you see the answers until you share them."
    )
    return {"text": f"How to use {COMMAND}", "blocks": [_section(text)]}


def render_bad_input(bad: BadInput) -> Message:
    """Give back the answer to input that could not be understood: why, then the usage."""
    reason = escape(shorten(bad.reason.strip(), REASON_LIMIT)) or "That could not be understood."
    return {
        "text": shorten(reason, FALLBACK_LIMIT),
        "blocks": [_section(reason), *render_help()["blocks"]],
    }


def render_failure(error: CloudflareError) -> Message:
    """Give back one plain sentence saying what failed at Cloudflare and what to do."""
    return _sentence(_failure_sentence(error))


def render_internal_error() -> Message:
    """Give back the answer to a failure of the bot itself (its details go to the log only)."""
    return _sentence("Something went wrong inside the bot; it has been logged, so please try again.")


def _failure_sentence(error: CloudflareError) -> str:
    code = f" (Cloudflare code {', '.join(map(str, error.codes))})" if error.codes else ""
    if isinstance(error, RateLimited):
        wait = f"about {round(error.retry_after)} seconds" if error.retry_after else "a few minutes"
        return f"Cloudflare is rate-limiting this bot's API token{code}; please try again in {wait}."
    if isinstance(error, AuthFailed):
        return (
            f"Cloudflare refused the bot's credentials{code}: an admin should check that the API token "
            "is valid and has the “Access: Organizations, Identity Providers, and Groups Read” "
            "permission."
        )
    if isinstance(error, NotFound):
        return (
            f"Cloudflare does not know this account or identity provider{code}: an admin should "
            "check CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_IDENTITY_PROVIDER_ID."
        )
    if isinstance(error, Rejected):
        detail = "; ".join(shorten(e.message, 200) for e in error.errors if e.message)
        detail = f": {detail}" if detail else ""
        return f"Cloudflare refused the request{code}{detail}. An admin should check the bot's settings."
    status = f" (HTTP {error.status})" if error.status else ""
    return f"Cloudflare is not answering properly right now{status}{code}; please try again in a minute."


def _sentence(text: str) -> Message:
    escaped = escape(text)
    return {"text": shorten(escaped, FALLBACK_LIMIT), "blocks": [_section(escaped)]}


def _group_section(group: ScimGroup) -> dict[str, Any]:
    name = escape(shorten(group.display_name, NAME_LIMIT)) if group.display_name else "_(no display name)_"
    lines = [
        f"*{name}*",
        f"External ID {_code(group.external_id)} · ID {_code(group.id)}",
        f"Last changed {_date(group.last_modified)}",
    ]
    return _section("\n".join(lines))


def _code(value: str) -> str:
    return f"`{escape(shorten(value, ID_LIMIT))}`" if value else "—"


def _date(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if moment.timestamp() < 0:  # Slack's date token is for Unix time; show older dates as they are
        return fallback
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _position(listing: Listing, shared_by: str | None) -> str:
    pages = listing.page_count
    if pages and listing.page > pages:
        where = f"Past the last page ({pages})"
    else:
        where = f"Page {listing.page} of {pages}" if pages else f"Page {listing.page}"
    if listing.total is None:
        count = ""
    elif listing.total_is_lower_bound:
        count = f" · {listing.total:,}+ groups"
    else:
        count = f" · {listing.total:,} group{'s' if listing.total != 1 else ''}"
    by = f" · shared by <@{shared_by}>" if shared_by and SLACK_USER_ID.match(shared_by) else ""
    return where + count + by


def _summary(listing: Listing, provider_name: str) -> str:
    pages = listing.page_count
    where = f"page {listing.page} of {pages}" if pages else f"page {listing.page}"
    return escape(f"SCIM groups from {provider_name}: {where}")


def _buttons(listing: Listing, query: Browse) -> list[dict[str, Any]]:
    def button(action_id: str, label: str, page: int) -> dict[str, Any]:
        target = Browse(query.identity_provider_id, page=page, page_size=query.page_size, shared=query.shared)
        return {
            "type": "button",
            "action_id": action_id,
            "text": _plain(label),
            "value": encode_button(target),
        }

    buttons = []
    if listing.page > 1:
        buttons.append(button(ACTION_PREVIOUS, "◀ Previous", listing.page - 1))
    if listing.has_next:
        buttons.append(button(ACTION_NEXT, "Next ▶", listing.page + 1))
    buttons.append(button(ACTION_REFRESH, "↻ Refresh", listing.page))
    if not query.shared:
        buttons.append(button(ACTION_SHARE, "Share in channel", listing.page))
    return buttons


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
