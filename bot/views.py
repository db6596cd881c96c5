"""Views: queries and results turned into Slack messages (Block Kit), within Slack's limits.

Everything from Cloudflare or the user is escaped for mrkdwn before it reaches a message, and
the text objects that carry it are `verbatim`, so Slack does not turn names into links or
mentions. All user-facing wording lives here, once.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.cache import Staleness
from bot.cloudflare import (
    AuthFailed,
    BudgetSpent,
    CloudflareError,
    IdentityProvider,
    NotFound,
    RateLimited,
    Rejected,
    ScimGroup,
)
from bot.directory import Listing, ProviderChoice
from bot.query import EXAMPLE_ID, BadInput, GroupQuery, Show, encode_button

Message = dict[str, Any]

COMMAND = "/scim-groups"
ACTION_PREVIOUS = "scim_groups_previous"
ACTION_NEXT = "scim_groups_next"
ACTION_REFRESH = "scim_groups_refresh"
ACTION_SHARE = "scim_groups_share"
ACTION_OPEN = "scim_groups_open"
ACTIONS = (ACTION_PREVIOUS, ACTION_NEXT, ACTION_REFRESH, ACTION_SHARE, ACTION_OPEN)

HEADER_LIMIT = 150
NAME_LIMIT = 150
ID_LIMIT = 100
FALLBACK_LIMIT = 300
REASON_LIMIT = 500
SECTION_LIMIT = 3_000
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
MAX_CHOICES = 10
NOUNS = {"browse": ("group", "groups"), "search": ("match", "matches")}
MAX_MISSING_SHOWN = 20


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


def render_listing(
    listing: Listing,
    request: Show,
    provider_name: str,
    *,
    shared_by: str | None = None,
    missing: tuple[str, ...] = (),
    searched: int | None = None,
    refresh_wait: float | None = None,
) -> Message:
    """Give back the message that shows one page of groups, with its paging buttons.

    `refresh_wait`: the user asked to refresh too soon and may again in that many seconds.
    """
    query = request.query
    title = shorten(f"{_title(query)} · {provider_name}", HEADER_LIMIT)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(title)}]
    if listing.stale is not None:
        blocks.append(_note(_stale_note(listing.stale)))
    if refresh_wait is not None:
        wait = _age(refresh_wait)
        blocks.append(
            _note(f"You refreshed a moment ago, so this is the cached copy: refresh again in {wait}.")
        )
    if listing.groups:
        blocks.extend(_group_section(group) for group in listing.groups)
    elif listing.page == 1:
        blocks.append(_section(_nothing_found(query, provider_name)))
    else:
        blocks.append(_section("There are no more groups: the page before this one was the last."))
    if missing and (listing.groups or listing.page > 1):
        shown = ", ".join(_code(value) for value in missing[:MAX_MISSING_SHOWN])
        more = f" and {len(missing) - MAX_MISSING_SHOWN} more" if len(missing) > MAX_MISSING_SHOWN else ""
        blocks.append(_section(f"Not found: {shown}{more}."))
    blocks.append({"type": "context", "elements": [_mrkdwn(_position(listing, query, shared_by, searched))]})
    blocks.append(
        {"type": "actions", "block_id": "scim_groups_paging", "elements": _buttons(listing, request)}
    )
    return {"text": _summary(listing, query, provider_name), "blocks": blocks}


def render_provider_choice(choice: ProviderChoice, request: Show) -> Message:
    """Give back the answer when no single identity provider fits: why, and buttons to pick one."""
    asked = f"*{escaped(choice.asked, NAME_LIMIT)}*" if choice.asked else ""
    reason = {
        "several": "This account has several identity providers with SCIM: pick one.",
        "none": "No identity provider of this Cloudflare account has SCIM provisioning enabled, so there "
        "are no SCIM groups to show. An admin can turn it on in Zero Trust → Settings → Authentication.",
        "unknown": f"There is no identity provider {asked} with SCIM in this account.",
        "ambiguous": f"More than one identity provider matches {asked}: pick one.",
        "not_scim": f"The identity provider {asked} does not have SCIM provisioning enabled.",
    }[choice.reason]
    blocks: list[dict[str, Any]] = [_section(reason)]
    choices = choice.choices[:MAX_CHOICES]
    if choices and choice.reason != "none":
        lines = [f"• {_provider_line(p)}" for p in choices]
        blocks.append(_section("Choose one below, or add `idp:` to the command:\n" + "\n".join(lines)))
        buttons = [
            _button(
                f"{ACTION_OPEN}:{index}",  # action_ids must be unique within a block
                shorten(p.name or p.id or "(unnamed)", 75),
                Show(replace(request.query, provider=p.id), page=1, page_size=request.page_size),
            )
            for index, p in enumerate(choices)
        ]
        blocks.append({"type": "actions", "block_id": "scim_groups_providers", "elements": buttons})
    return {"text": shorten(re.sub(r"[*]", "", reason), FALLBACK_LIMIT), "blocks": blocks}


def render_help() -> Message:
    """Give back the usage message."""
    text = (
        f"*{COMMAND}* shows the SCIM groups your identity provider syncs into Cloudflare Zero Trust. "
        "Only you see the answers until you share them.\n"
        f"• `{COMMAND}` — every group, a page at a time\n"
        f"• `{COMMAND} oncall` — groups whose name contains _oncall_ (any case; whole-name matches first)\n"
        f"• `{COMMAND} id:{EXAMPLE_ID}` — by Cloudflare id; several ids with commas or spaces\n"
        f"• `{COMMAND} external:all_employees` — by the identity provider's id (`ext:` works too)\n"
        f"• `{COMMAND} {EXAMPLE_ID}` — a pasted id, looked up as either kind\n"
        f'• `{COMMAND} idp:"Azure AD" oncall` — any of these in another identity provider, by name or id\n'
        f"• `{COMMAND} help` — this message\n"
        "Buttons: *Previous* / *Next* to page, *Refresh* for fresh data from Cloudflare, "
        "*Share* to post the page to the channel. Each group shows its name, its id in the identity "
        "provider (external ID), its Cloudflare id and when it last changed."
    )
    return {"text": f"How to use {COMMAND}", "blocks": [_section(text)]}


def render_bad_input(bad: BadInput) -> Message:
    """Give back the answer to input that could not be understood: why, then the usage."""
    reason = escaped(bad.reason.strip(), REASON_LIMIT) or "That could not be understood."
    return {
        "text": shorten(reason, FALLBACK_LIMIT),
        "blocks": [_section(reason), *render_help()["blocks"]],
    }


def render_failure(error: CloudflareError) -> Message:
    """Give back one plain sentence saying what failed at Cloudflare and what to do."""
    return _sentence(_failure_sentence(error))


def render_too_slow(seconds: float) -> Message:
    """Give back the answer when Cloudflare has not answered within the user's deadline."""
    return _sentence(
        f"Cloudflare is slow to answer: nothing came back within {seconds:g} seconds. The bot keeps "
        "fetching in the background, so please try again in a minute."
    )


def render_refusal(reason: str) -> Message:
    """Give back the polite answer to someone the bot may not serve (it shows no data)."""
    if reason == "team":
        return _sentence("Sorry, this bot only answers in the Slack workspace it was installed for.")
    where = "in this channel" if reason == "channel" else "for you"
    return _sentence(
        f"Sorry, `{COMMAND}` is not available {where}: its admins have limited it to some people and "
        "channels. Ask them if you need access."
    )


def render_internal_error() -> Message:
    """Give back the answer to a failure of the bot itself (its details go to the log only)."""
    return _sentence("Something went wrong inside the bot; it has been logged, so please try again.")


def _failure_sentence(error: CloudflareError) -> str:
    code = f" (Cloudflare code {', '.join(map(str, error.codes))})" if error.codes else ""
    if isinstance(error, BudgetSpent):
        return (
            "The bot has used its share of the Cloudflare API quota for the moment (the quota is shared "
            f"with the dashboard); please try again in {_age(error.retry_after or 60)}."
        )
    if isinstance(error, RateLimited):
        wait = f"about {_age(error.retry_after)}" if error.retry_after else "a few minutes"
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


def _stale_note(stale: Staleness) -> str:
    error = stale.error
    if isinstance(error, BudgetSpent):
        why = "the bot has used its share of the Cloudflare API quota for the moment"
    elif isinstance(error, RateLimited):
        why = "Cloudflare is rate-limiting the bot"
    else:
        why = f"Cloudflare is not answering properly{f' (HTTP {error.status})' if error.status else ''}"
    return f"⚠️ This is a copy from {_age(stale.age_seconds)} ago: {why}. Refresh to try again."


def _age(seconds: float) -> str:
    if seconds < 90:
        count, unit = max(1, round(seconds)), "second"
    elif seconds < 90 * 60:
        count, unit = round(seconds / 60), "minute"
    else:
        count, unit = round(seconds / 3600), "hour"
    return f"{count} {unit}{'s' if count != 1 else ''}"


def _note(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(escape(text))]}


def _sentence(text: str) -> Message:
    return {"text": escaped(text, FALLBACK_LIMIT), "blocks": [_section(escaped(text, SECTION_LIMIT))]}


def _group_section(group: ScimGroup) -> dict[str, Any]:
    name = escaped(group.display_name, NAME_LIMIT) if group.display_name else "_(no display name)_"
    lines = [
        f"*{name}*",
        f"External ID {_code(group.external_id)} · ID {_code(group.id)}",
        f"Last changed {_date(group.last_modified)}",
    ]
    return _section("\n".join(lines))


def _code(value: str) -> str:
    return f"`{escaped(value, ID_LIMIT)}`" if value else "—"


def _date(moment: datetime | None) -> str:
    if moment is None:
        return "unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except (OverflowError, ValueError):  # a date Python cannot move to UTC: no date to show
        return "unknown"
    if moment.timestamp() < 0:  # Slack's date token is for Unix time; show older dates as they are
        return fallback
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _title(query: GroupQuery) -> str:
    if query.kind == "browse":
        return "SCIM groups"
    if query.kind == "search":
        return f"Groups matching “{query.search}”"
    return "Groups by id" if query.kind in ("id", "any") else "Groups by external id"


def _nothing_found(query: GroupQuery, provider_name: str) -> str:
    where = f"*{escaped(provider_name, NAME_LIMIT)}*"
    if query.kind == "browse":
        return f"No SCIM groups are synced from {where} yet."
    if query.kind == "search":
        return (
            f"No group name in {where} contains “{escaped(query.search, NAME_LIMIT)}”. "
            "Check the spelling, try another identity provider with `idp:`, or run `/scim-groups` to browse."
        )
    values = query.ids or query.external_ids or query.either_ids
    shown = ", ".join(_code(value) for value in values[:MAX_MISSING_SHOWN])
    label = {"id": "Cloudflare id", "external": "external id", "any": "Cloudflare or external id"}[query.kind]
    other = {
        "id": " or `external:` for the identity provider's id",
        "external": " or `id:` for Cloudflare's id",
    }
    return (
        f"No group in {where} has the {label} {shown}. It may not be synced yet: check the id, "
        f"try another identity provider with `idp:`{other.get(query.kind, '')}."
    )


def _position(listing: Listing, query: GroupQuery, shared_by: str | None, searched: int | None) -> str:
    pages = listing.page_count
    if pages and listing.page > pages:
        where = f"Past the last page ({pages})"
    else:
        where = f"Page {listing.page} of {pages}" if pages else f"Page {listing.page}"
    one, many = NOUNS.get(query.kind, ("group found", "groups found"))
    if listing.total is None:
        count = ""
    elif listing.total_is_lower_bound:
        count = f" · {listing.total:,}+ {many}"
    else:
        count = f" · {listing.total:,} {one if listing.total == 1 else many}"
    partial = "" if searched is None else f" · searched only the first {searched:,} groups"
    by = f" · shared by <@{shared_by}>" if shared_by and SLACK_USER_ID.match(shared_by) else ""
    return where + count + partial + by


def _summary(listing: Listing, query: GroupQuery, provider_name: str) -> str:
    pages = listing.page_count
    where = f"page {listing.page} of {pages}" if pages else f"page {listing.page}"
    return escaped(f"{_title(query)} from {provider_name}: {where}", FALLBACK_LIMIT)


def _buttons(listing: Listing, request: Show) -> list[dict[str, Any]]:
    def to(page: int) -> Show:
        return replace(request, page=page)

    buttons = []
    if listing.page > 1:
        buttons.append(_button(ACTION_PREVIOUS, "◀ Previous", to(listing.page - 1)))
    if listing.has_next:
        buttons.append(_button(ACTION_NEXT, "Next ▶", to(listing.page + 1)))
    buttons.append(_button(ACTION_REFRESH, "↻ Refresh", to(listing.page)))
    if not request.shared:
        buttons.append(_button(ACTION_SHARE, "Share in channel", to(listing.page)))
    return buttons


def _button(action_id: str, label: str, target: Show) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": _plain(label), "value": encode_button(target)}


def _provider_line(provider: IdentityProvider) -> str:
    """Give back the provider as the `idp:` option that picks it, and its type: named once."""
    kind = escaped(provider.type, 40) or "type unknown"
    name = provider.name
    if name and '"' not in name and "`" not in name:
        option = escaped(f'idp:"{name}"' if " " in name else f"idp:{name}", NAME_LIMIT)
        return f"`{option}` ({kind})"
    shown = f"*{escaped(name, NAME_LIMIT)}* " if name else ""
    return f"{shown}`{escaped(f'idp:{provider.id}', ID_LIMIT)}` ({kind})"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
