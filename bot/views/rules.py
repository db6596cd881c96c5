"""Used by: the Access groups, reusable policies and applications whose rules name a group."""

from __future__ import annotations

from bot.cache import Staleness
from bot.cloudflare import CloudflareError, ScimGroup
from bot.query import Detail
from bot.rules import Use
from bot.views.blocks import (
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    Message,
    code,
    escaped,
    fetched,
    note,
    section,
)
from bot.views.groups import back_row, detail_top

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
        blocks.extend(section(text) for text in _sections(uses[:MAX_USES_SHOWN]))
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
    return {"text": escaped(f"Where {name} is used in {provider_name}", FALLBACK_LIMIT), "blocks": blocks}


def _sections(uses: tuple[Use, ...]) -> list[str]:
    """Give back the uses as lines under their headings, cut into sections Slack accepts."""
    texts: list[str] = []
    lines: list[str] = []
    heading = ""
    for use in uses:
        if HEADINGS[use.holder.kind] != heading:
            heading = HEADINGS[use.holder.kind]
            lines.append(f"*{heading}*")
        lines.append(f"• {_use(use)}")
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > SECTION_LIMIT:
            texts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return [*texts, current]


def _use(use: Use) -> str:
    holder = use.holder
    name = f"*{escaped(holder.name, USE_NAME_LIMIT)}*" if holder.name else code(holder.id)
    decision = f" ({escaped(holder.decision, 20)})" if holder.decision else ""
    if holder.kind == "app_policy":
        app = f"*{escaped(holder.app, USE_NAME_LIMIT)}*" if holder.app else "an application"
        domain = f" (`{escaped(holder.domain, USE_NAME_LIMIT)}`)" if holder.domain else ""
        line = f"{app}{domain} — policy {name}{decision}: {use.where}"
    else:
        line = f"{name}{decision} — {use.where}"
    if use.via:
        line += f", through Access group *{escaped(use.via, USE_NAME_LIMIT)}*"
    return line + (" †" if use.inferred else "")
