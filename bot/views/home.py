"""The App Home tab: failed SCIM pushes per provider, the bot's health, and what to type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.cloudflare import CloudflareError, IdentityProvider
from bot.views.answers import failure_sentence
from bot.views.blocks import COMMAND, header, note
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


@dataclass(frozen=True)
class Home:
    """What the Home tab shows: each SCIM provider's failures, or why the providers could not be
    listed; and whether the shared cache answers (None: there is none)."""

    failures: tuple[Failures, ...]
    providers_problem: CloudflareError | None
    redis_usable: bool | None
    at: float


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
            items.append(
                [
                    name,
                    f" — {found.hour:,}{plus} failed pushes in the last hour, "
                    f"{found.day:,}{plus} in 24 hours",
                ]
            )
        if len(home.failures) > MAX_PROVIDERS:
            items.append([f"and {len(home.failures) - MAX_PROVIDERS} more identity providers"])
        lead: list[list[Part]] = [["*Failed SCIM pushes*, as of ", moment_of(home.at), ":"]]
        blocks.append(bullets(lead, items or [["No identity provider of the account has SCIM on."]]))
    redis = REDIS[home.redis_usable]
    cloudflare = "Cloudflare answers" if home.providers_problem is None else "Cloudflare is not answering"
    blocks.append(note(f"{cloudflare} · {redis}."))
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


def moment_of(at: float) -> Part:
    return moment(datetime.fromtimestamp(at, UTC), ago=False)
