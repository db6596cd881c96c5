"""Groups: a page of them, and the choice of identity provider."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.cache import Staleness
from bot.cloudflare import CloudflareError, IdentityProvider, ScimGroup
from bot.directory import Held, Listing
from bot.providers import ProviderChoice
from bot.pushes import LOGS_PERMISSION
from bot.query import (
    ACTION_BACK,
    ACTION_HISTORY,
    ACTION_OPEN,
    ACTION_USED_BY,
    MAX_VALUE_LENGTH,
    Detail,
    Query,
    Show,
    detail_encoder,
    encode_button,
)
from bot.settings import UUID_PATTERN
from bot.views.answers import failure_sentence
from bot.views.blocks import (
    BUTTON_TEXT_LIMIT,
    COMMAND,
    FALLBACK_LIMIT,
    GONE,
    MAX_BUTTON_VALUE,
    NAME_LIMIT,
    Message,
    Nouns,
    age,
    button,
    changed_line,
    code,
    codes,
    escaped,
    fallback,
    footer,
    header,
    id_line,
    note,
    notes,
    paging_buttons,
    plain,
    plain_note,
    plain_section,
    section,
    shorten,
    summary,
    window,
)
from bot.views.rich import Outside, Part, rich

MAX_CHOICES = 10
DetailEncoder = Callable[[Literal["history", "used_by"], str], str]


@dataclass(frozen=True)
class ByExternalId:
    """A search's text looked up as an External ID too: how many groups have it, how many names
    contain it, or why it could not be looked up."""

    text: str
    found: int = 0
    names: int = 0
    problem: CloudflareError | None = None


@dataclass(frozen=True)
class Elsewhere:
    """Another identity provider of the account holding what was not found in the one asked:
    how many of the groups asked for it has."""

    provider: IdentityProvider
    found: int


def render_listing(
    listing: Listing,
    request: Show,
    provider_name: str,
    *,
    shared_by: str | None = None,
    missing: tuple[str, ...] = (),
    searched: int | None = None,
    refresh_wait: float | None = None,
    held: Held | None = None,
    by_id: ByExternalId | None = None,
    elsewhere: tuple[Elsewhere, ...] = (),
    close: tuple[str, ...] = (),
) -> Message:
    """Give back the message that shows one page of groups, with its paging buttons.

    `refresh_wait`: the user asked to refresh too soon and may again in that many seconds.
    `held`: the directory is read whole only now and then, since the log cannot be read.
    `by_id`: a search's text was looked up as an External ID too.
    `elsewhere`: nothing was found, but these other providers of the account have it.
    `close`: a search found nothing; these names are the closest to it.
    """
    query = request.query
    title, nouns = wording(query)
    blocks: list[dict[str, Any]] = [header(f"{title} · {provider_name}")]
    blocks.extend(notes(listing.stale, refresh_wait))
    if held is not None and listing.aging and listing.stale is None:
        blocks.append(note(_held_note(held)))
    empty = not listing.items and listing.page == 1
    if request.meant:
        blocks.append(
            note(
                f"Looking for `{COMMAND} {request.meant}`? Without a colon or quotes, a word close "
                "to an option is searched for as a group's name, as here."
            )
        )
    if by_id is not None and by_id.problem is not None:
        blocks.append(
            plain_note(f"It could not be looked up as an External ID: {failure_sentence(by_id.problem)}")
        )
    elif by_id is not None and not empty:
        blocks.append(rich(_by_id_line(by_id)))
    encode = detail_encoder(request)
    for index, group in enumerate(listing.items):
        blocks.append(_group_block(group))
        if UUID_PATTERN.match(group.id):  # only ids a button can carry
            blocks.extend(_detail_buttons(index, group, encode))
    if empty:
        blocks.append(rich(_nothing_found(query, provider_name, by_id)))
        suggested = _did_you_mean(close, request)
        blocks.extend(suggested)
        # One numbering for every Open button of the message (the preview presses them by number).
        blocks.extend(
            elsewhere_blocks(elsewhere, request, first=len(suggested and suggested[-1]["elements"]))
        )
    elif not listing.items:
        blocks.append(section("There are no more groups: the page before this one was the last."))
    if missing and not empty:
        blocks.append(rich(["Not found: ", *codes(missing), "."]))
    # An empty answer has no pages to count, but may still say when it was fetched and by whom.
    blocks.extend(footer(listing, nouns, shared_by, searched, counted=not empty))
    blocks.append(paging_buttons(listing, request))
    text = (
        _nothing_said(query, provider_name)
        if empty
        else summary(title, provider_name, listing, missing=len(missing))
    )
    return {"text": text, "blocks": blocks}


def _held_note(held: Held) -> str:
    """Give back why a search answered from a copy: the log cannot be read, the quota is shared."""
    when = f" (next in {age(held.next_in)})" if held.next_in > 0 else ""
    return (
        "This is a copy of the directory: the bot's API token cannot read the SCIM log "
        f"(“{LOGS_PERMISSION}”), so a directory this large is read again whole at most every "
        f"{age(held.every)}{when}, sparing the Cloudflare quota everyone shares."
    )


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
    blocks: list[dict[str, Any]] = [section(reason)]
    choices = choice.choices[:MAX_CHOICES]
    if choices:  # none when no provider has SCIM
        # Each provider is named once, on its button; a name two providers share gets its id.
        names = Counter(p.name for p in choices)
        buttons = [
            button(
                f"{ACTION_OPEN}:{index}",  # action_ids must be unique within a block
                _provider_label(p, unique=names[p.name] == 1),
                Show(replace(request.query, provider=p.id), page=1, page_size=request.page_size),
            )
            for index, p in enumerate(choices)
        ]
        blocks.append({"type": "actions", "block_id": "scim_groups_providers", "elements": buttons})
        blocks.append(note(f"Or name one in the command: `{COMMAND} idp:NAME …`, quoted when it has spaces."))
    return {"text": shorten(re.sub(r"[*]", "", reason), FALLBACK_LIMIT), "blocks": blocks}


def wording(query: Query) -> tuple[str, Nouns]:
    """Give back what a page of the groups found for this query is called, and what it counts."""
    if query.kind == "browse":
        return "SCIM groups", ("group", "groups")
    if query.kind == "search":
        return f"Groups matching “{query.search}”", ("match", "matches")
    if query.kind == "changed":
        return f"Groups changed in the last {window(query.changed)}", ("group", "groups")
    by = "Groups by id" if query.kind in ("id", "any") else "Groups by external id"
    return by, ("group found", "groups found")


def _group_block(group: ScimGroup) -> dict[str, Any]:
    name: Part = (
        Outside(group.display_name, NAME_LIMIT, bold=True) if group.display_name else "(no display name)"
    )
    return rich([name], changed_line(group.last_modified), id_line(group.external_id, group.id))


def _detail_buttons(index: int, group: ScimGroup, encode: DetailEncoder) -> list[dict[str, Any]]:
    history, used_by = encode("history", group.id), encode("used_by", group.id)
    if len(used_by) > MAX_BUTTON_VALUE:  # cannot happen within the query's own limits; no buttons then
        return []
    buttons = [
        {"type": "button", "action_id": ACTION_HISTORY, "text": plain("History"), "value": history},
        {"type": "button", "action_id": ACTION_USED_BY, "text": plain("Used by"), "value": used_by},
    ]
    return [{"type": "actions", "block_id": f"scim_groups_group_{index}", "elements": buttons}]


def _did_you_mean(close: tuple[str, ...], request: Show) -> list[dict[str, Any]]:
    """Give back the names closest to a search that found nothing, each a button searching for it."""
    named = [name for name in close if name.strip() and len(name) <= MAX_VALUE_LENGTH]
    if not named:
        return []
    line: list[Part] = ["Did you mean "]
    for index, name in enumerate(named):
        joint = "" if index == 0 else " or " if index == len(named) - 1 else ", "
        line += [joint, Outside(name, NAME_LIMIT, bold=True)]
    buttons = [
        button(
            f"{ACTION_OPEN}:{index}",  # action_ids must be unique within a block
            shorten(name, BUTTON_TEXT_LIMIT),
            Show(replace(request.query, search=name), page=1, page_size=request.page_size),
        )
        for index, name in enumerate(named)
    ]
    return [rich([*line, "?"]), {"type": "actions", "block_id": "scim_groups_close", "elements": buttons}]


def elsewhere_blocks(
    elsewhere: tuple[Elsewhere, ...], request: Show, *, first: int = 0, nouns: Nouns = ("group", "groups")
) -> list[dict[str, Any]]:
    """Give back where else in the account it was found (how many `nouns`: one, many), with a
    button to open it there; the buttons numbered from `first`."""
    if not elsewhere:
        return []
    line: list[Part] = ["Found in another identity provider of the account: "]
    for index, other in enumerate(elsewhere):
        name = other.provider.name or other.provider.id
        count = f"1 {nouns[0]}" if other.found == 1 else f"{other.found:,} {nouns[1]}"
        line += [", " if index else "", Outside(name, NAME_LIMIT, bold=True), f" ({count})"]
    buttons = [
        button(
            f"{ACTION_OPEN}:{first + index}",
            shorten(f"Open in {other.provider.name or other.provider.id}", BUTTON_TEXT_LIMIT),
            Show(replace(request.query, provider=other.provider.id), page=1, page_size=request.page_size),
        )
        for index, other in enumerate(elsewhere)
    ]
    return [
        rich([*line, "."]),
        {"type": "actions", "block_id": "scim_groups_elsewhere", "elements": buttons},
    ]


def _by_id_line(by_id: ByExternalId) -> list[Part]:
    """Give back what a search looked up as an External ID too found: "1 group has the External
    ID `00g…` · no group name contains it"."""
    groups = {0: "No group has", 1: "1 group has"}.get(by_id.found, f"{by_id.found:,} groups have")
    names = {0: "no group name contains it", 1: "1 group name contains it"}.get(
        by_id.names, f"{by_id.names:,} group names contain it"
    )
    return [f"{groups} the External ID ", code(by_id.text), f" · {names}."]


def _nothing_found(query: Query, provider_name: str, by_id: ByExternalId | None) -> list[Part]:
    where = Outside(provider_name, NAME_LIMIT, bold=True)
    if query.kind == "browse":
        return ["No SCIM groups are synced from ", where, " yet."]
    if query.kind == "search":
        also = (
            ", and no group has it as its External ID" if by_id is not None and by_id.problem is None else ""
        )
        return [
            "No group name in ",
            where,
            " contains “",
            Outside(query.search, NAME_LIMIT),
            f"”{also}. Check the spelling, try another identity provider with `idp:`, "
            "or run `/scim-groups` to browse.",
        ]
    if query.kind == "changed":
        return ["No group in ", where, f" changed in the last {window(query.changed)}."]
    values = query.ids or query.external_ids or query.either_ids
    label = {"id": "Cloudflare id", "external": "external id", "any": "Cloudflare or external id"}[query.kind]
    other = {
        "id": " or `external:` for the identity provider's id",
        "external": " or `id:` for Cloudflare's id",
    }
    return [
        "No group in ",
        where,
        f" has the {label} ",
        *codes(values),
        ". It may not be synced yet: check the id, try another identity provider with "
        f"`idp:`{other.get(query.kind, '')}.",
    ]


def _nothing_said(query: Query, provider_name: str) -> str:
    """Give back the fallback text of an empty answer: what was not found."""
    if query.kind == "browse":
        said = f"No SCIM groups in {provider_name} yet"
    elif query.kind == "search":
        said = f"No group in {provider_name} matches “{query.search}”"
    elif query.kind == "changed":
        said = f"No group in {provider_name} changed in the last {window(query.changed)}"
    else:  # a lookup: none of the ids asked for was found
        count = len(query.ids or query.external_ids or query.either_ids)
        said = f"{count} {'id' if count == 1 else 'ids'} not found in {provider_name}"
    return fallback(said)


def _provider_label(provider: IdentityProvider, *, unique: bool) -> str:
    """Give back a provider's button label: its name and type, or its id when the name is not enough."""
    kind = provider.type or "type unknown"
    name = provider.name if provider.name and unique else f"{provider.name or 'Unnamed'} {provider.id}"
    return shorten(f"{name} ({kind})", BUTTON_TEXT_LIMIT)


def detail_top(
    heading: str,
    group: ScimGroup | None,
    detail: Detail,
    provider_name: str,
    problem: CloudflareError | None,
    stale: Staleness | None = None,
) -> tuple[str, list[dict[str, Any]], bool]:
    """Give back the top of a group's detail (History, Used by): the group's name, its header,
    notes and ids, then the sentence that ends it early — a failure, or the group gone — and
    whether the detail's own body follows."""
    name = group.display_name if group is not None and group.display_name else detail.group_id
    blocks: list[dict[str, Any]] = [
        header(f"{heading}{name} · {provider_name}"),
        *notes(stale, None, refresh=False),
    ]
    if group is not None:
        blocks.append(rich(changed_line(group.last_modified), id_line(group.external_id, group.id)))
    if problem is not None:
        blocks.append(plain_section(failure_sentence(problem)))
    elif group is None:
        blocks.append(section(GONE))
    return name, blocks, problem is None and group is not None


def back_row(detail: Detail) -> dict[str, Any]:
    """Give back the row under a detail with ◀ Back to the page it was opened from."""
    back = {
        "type": "button",
        "action_id": ACTION_BACK,
        "text": plain("◀ Back"),
        "value": encode_button(detail.back),
    }
    return {"type": "actions", "block_id": "scim_groups_detail", "elements": [back]}
