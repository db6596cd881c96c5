"""Used by: the Access groups, reusable policies and applications whose rules name a group."""

from __future__ import annotations

from typing import Any

from bot.cache import Staleness
from bot.cloudflare import CloudflareError, ScimGroup
from bot.query import Detail
from bot.rules import Use
from bot.views.blocks import (
    Message,
    code,
    fallback,
    fetched,
    note,
    section,
)
from bot.views.groups import back_row, detail_top
from bot.views.rich import Outside, Part, bullets

# Slack's combined limit on a message's text (about 12,000 characters) bounds the list.
MAX_USES_SHOWN = 20
# Names in the list are cut shorter than elsewhere, for the same reason.
USE_NAME_LIMIT = 75
HEADINGS = {"access_group": "Access groups", "policy": "Reusable policies", "app_policy": "Applications"}
# What SCIM does and does not decide, for the question behind the lookup.
AT_LOGIN = (
    "Access checks the groups the identity provider sends at login (in its SAML or OIDC token); "
    "SCIM gives the policy builder the group names, keeps Gateway's view of people current and "
    "can end sessions when someone is deprovisioned."
)


def render_used_by(
    group: ScimGroup | None,
    detail: Detail,
    provider_name: str,
    *,
    uses: tuple[Use, ...],
    missing_permission: str,
    problem: CloudflareError | None,
    stale: Staleness | None = None,
    fetched_at: float | None = None,
    aging: bool = False,
) -> Message:
    """Give back where a group is used, each place with the list its rule stands in, with ◀ Back
    to the page it was opened from; `problem`: why the rules (or the group) could not be read."""
    name, blocks, body = detail_top("Used by: ", group, detail, provider_name, problem, stale)
    if body and not uses:
        places = "Access group" if missing_permission else "Access group, reusable policy or application"
        blocks.append(section(f"No {places} names this group."))
    elif body:
        blocks.extend(_lists(uses[:MAX_USES_SHOWN]))
        if len(uses) > MAX_USES_SHOWN:
            blocks.append(note(f"And {len(uses) - MAX_USES_SHOWN} more places, not shown."))
    if problem is None and missing_permission:
        blocks.append(
            note(
                f"Applications and reusable policies are not shown: the bot's API token does not have "
                f"the “{missing_permission}” permission."
            )
        )
    if any(use.inferred for use in uses) and problem is None:
        blocks.append(
            note(
                "† Matched by Entra object id: Entra sends a group's object id as its SCIM externalId, "
                "so this match is inferred."
            )
        )
    blocks.append(note(AT_LOGIN))
    if body:
        blocks.extend(fetched(fetched_at, aging=aging))
    blocks.append(back_row(detail))
    return {"text": fallback(f"Where {name} is used in {provider_name}"), "blocks": blocks}


def _lists(uses: tuple[Use, ...]) -> list[dict[str, Any]]:
    """Give back the uses as lists under their headings, one rich_text block a heading."""
    headings: dict[str, list[list[Part]]] = {}
    for use in uses:
        headings.setdefault(HEADINGS[use.holder.kind], []).append(_use(use))
    return [bullets([[f"*{heading}*"]], items) for heading, items in headings.items()]


def _use(use: Use) -> list[Part]:
    holder = use.holder
    name = Outside(holder.name, USE_NAME_LIMIT, bold=True) if holder.name else code(holder.id)
    decision: list[Part] = [" (", Outside(holder.decision, 20), ")"] if holder.decision else []
    if holder.kind == "app_policy":
        app = Outside(holder.app, USE_NAME_LIMIT, bold=True) if holder.app else "an application"
        domain: list[Part] = (
            [" (", Outside(holder.domain, USE_NAME_LIMIT, code=True), ")"] if holder.domain else []
        )
        line: list[Part] = [app, *domain, " — policy ", name, *decision, f": {use.where}"]
    else:
        line = [name, *decision, f" — {use.where}"]
    if use.via:
        line += [", through Access group ", Outside(use.via, USE_NAME_LIMIT, bold=True)]
    return line + ([" †"] if use.inferred else [])
