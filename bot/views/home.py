"""The App Home tab: failed SCIM pushes per provider, the bot's health, and what to type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.cloudflare import CloudflareError, IdentityProvider
from bot.views.answers import failure_sentence
from bot.views.blocks import COMMAND, header, note, plain
from bot.views.rich import Outside, Part, bullets, moment, rich


@dataclass(frozen=True)
class Failures:
    """A provider's failed pushes counted over the last hour and day (`at_least`: more were not
    read), or why they could not be."""

    provider: IdentityProvider
    hour: int = 0
    day: int = 0
    at_least: bool = False
    problem: CloudflareError | None = None
    # Groups changed in the last 24 hours (None: not read), and whether the read stopped short.
    changed: int | None = None
    changed_partly: bool = False


@dataclass(frozen=True)
class Home:
    """What the Home tab shows: each SCIM provider's failures, or why the providers could not be
    listed; and whether the shared cache answers (None: there is none)."""

    failures: tuple[Failures, ...]
    providers_problem: CloudflareError | None
    redis_usable: bool | None
    at: float
    # This process's calls to Cloudflare in the last 5 minutes, the median time one took, and
    # the budget they count against.
    calls: int = 0
    latency: float | None = None
    budget: int = 0


REDIS = {
    None: "no shared cache (one process)",
    True: "the shared cache (Redis) answers",
    False: "the shared cache (Redis) is not answering: each process answers on its own",
}
# Slack takes at most 100 blocks in a Home view; a few accounts have more providers than that.
MAX_PROVIDERS = 40


def render_home(home: Home) -> dict[str, Any]:
    """Give back the Home tab's view for `views.publish`."""
    blocks: list[dict[str, Any]] = [header("SCIM groups: on-call")]
    if home.providers_problem is not None:
        blocks.append(rich([f"Cloudflare: {failure_sentence(home.providers_problem)}"]))
    else:
        items: list[list[Part]] = []
        for found in home.failures[:MAX_PROVIDERS]:
            name: Part = Outside(found.provider.name or found.provider.id, 75, bold=True)
            if found.problem is not None:
                items.append([name, " — ", Outside(failure_sentence(found.problem), 300)])
                continue
            plus = "+" if found.at_least else ""
            line: list[Part] = [
                name,
                f" — {found.hour:,}{plus} failed pushes in the last hour, {found.day:,}{plus} in 24 hours",
            ]
            if found.changed is not None:
                more = "+" if found.changed_partly else ""
                line.append(f"; {found.changed:,}{more} groups changed in 24 hours")
            items.append(line)
        if len(home.failures) > MAX_PROVIDERS:
            items.append([f"and {len(home.failures) - MAX_PROVIDERS} more identity providers"])
        lead: list[list[Part]] = [["*Failed SCIM pushes*, as of ", moment_of(home.at), ":"]]
        blocks.append(bullets(lead, items or [["No identity provider of the account has SCIM on."]]))
    redis = REDIS[home.redis_usable]
    cloudflare = "Cloudflare answers" if home.providers_problem is None else "Cloudflare is not answering"
    if home.latency is not None:
        cloudflare += f" (a call takes {home.latency * 1000:,.0f} ms)"
    quota = f"{home.calls:,} of this process's {home.budget:,} calls in 5 minutes used" if home.budget else ""
    blocks.append(note(" · ".join(part for part in (cloudflare, quota, redis) if part) + "."))
    blocks.append(
        {
            "type": "actions",
            "block_id": "scim_groups_home",
            "elements": [
                {
                    "type": "button",
                    "action_id": WHY_BUTTON,
                    "text": plain("Why can't someone get in?"),
                    "style": "primary",
                    "value": "why",
                },
                {
                    "type": "button",
                    "action_id": SEARCH_BUTTON,
                    "text": plain("Search groups"),
                    "value": "search",
                },
            ],
        }
    )
    blocks.append(
        rich(
            [
                f"*Ask in any channel:* `{COMMAND} failures` for the failures themselves, `{COMMAND} why "
                "jane@example.com grafana` for why someone cannot get into an application, "
                f"`{COMMAND} help` for the rest."
            ]
        )
    )
    return {"type": "home", "blocks": blocks}


# The Home tab's button, the global shortcut and the modal they open (their ids are the manifest's
# and the listeners'; none begins with `scim_groups_`, so no page's click listener takes them).
WHY_BUTTON = "home_why"
WHY_SHORTCUT = "why_shortcut"
WHY_MODAL = "why_modal"
SEARCH_BUTTON = "home_search"
SEARCH_MODAL = "search_modal"
MODAL_TITLE = "Why can't they get in?"


def render_why_modal() -> dict[str, Any]:
    """Give back the modal that asks `why`: a person picked from Slack's list, an application."""
    return {
        "type": "modal",
        "callback_id": WHY_MODAL,
        "title": plain(MODAL_TITLE[:24]),
        "submit": plain("Check"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "person", "label": plain("Person"),
             "element": {"type": "users_select", "action_id": "person"}},
            {"type": "input", "block_id": "application", "label": plain("Application (its name or domain)"),
             "element": {"type": "plain_text_input", "action_id": "application", "max_length": 200,
                         "placeholder": plain("grafana.example.com")}},
        ],
    }  # fmt: skip


def render_search_modal() -> dict[str, Any]:
    """Give back the modal that searches groups: what the command would take after its name."""
    return {
        "type": "modal",
        "callback_id": SEARCH_MODAL,
        "title": plain("Search SCIM groups"),
        "submit": plain("Search"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "text", "label": plain("Group name, id, or any command's words"),
             "element": {"type": "plain_text_input", "action_id": "text", "max_length": 2_000,
                         "placeholder": plain("oncall")}},
        ],
    }  # fmt: skip


def render_modal_answer(message: dict[str, Any] | None, title: str = MODAL_TITLE) -> dict[str, Any]:
    """Give back the modal that shows an answer (its buttons left out: a modal has no message to
    page in), or that the answer is on its way (None)."""
    blocks = [block for block in (message or {}).get("blocks", []) if block.get("type") != "actions"]
    if message is None:
        blocks = [rich(["Checking with Cloudflare…"])]
    return {"type": "modal", "title": plain(title[:24]), "close": plain("Done"), "blocks": blocks[:100]}


def moment_of(at: float) -> Part:
    return moment(datetime.fromtimestamp(at, UTC), ago=False)
