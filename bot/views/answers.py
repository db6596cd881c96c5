"""The answers that are not data: usage, bad input, failures at Cloudflare, refusals."""

from __future__ import annotations

from bot.cloudflare import (
    AuthFailed,
    BudgetSpent,
    CloudflareError,
    NotFound,
    PermissionMissing,
    RateLimited,
    Rejected,
)
from bot.query import EXAMPLE_ID, BadInput
from bot.views.blocks import (
    COMMAND,
    FALLBACK_LIMIT,
    REASON_LIMIT,
    Message,
    age,
    escaped,
    fallback,
    note,
    plain_section,
    section,
    sentence,
    shorten,
)

# Of Cloudflare's messages about one refused request, the first few say enough.
MESSAGES_SHOWN = 3


def render_help() -> Message:
    """Give back the usage message."""
    text = (
        f"*{COMMAND}* shows the SCIM groups and users your identity provider syncs into Cloudflare "
        "Zero Trust, and the pushes that failed. Only you see the answers until you share them.\n"
        f"• `{COMMAND}` — every group, a page at a time\n"
        f"• `{COMMAND} oncall` — groups whose name contains _oncall_ (any case; whole-name matches first; "
        "words in any order, with any separators; a misspelling gets the names closest to it)\n"
        f"• `{COMMAND} id:{EXAMPLE_ID}` — by Cloudflare id; several ids with commas or spaces\n"
        f"• `{COMMAND} external:all_employees` — by the identity provider's id (`ext:` works too)\n"
        f"• `{COMMAND} {EXAMPLE_ID}` — a pasted id, looked up as either kind; an identity "
        "provider's id (`00g1HxmbubgVjZccWQvM`) as an external id and a name; a pasted link to a "
        "group or a person in the Okta or Entra admin console finds them by the id in it\n"
        f"• `{COMMAND} user:jane@example.com` — a SCIM user by email or id (or `user:@jane`, picked "
        "from Slack's list, or `user:Jane Doe` by name; active or not), with "
        "the last 7 days of SCIM pushes about them\n"
        f"• `{COMMAND} failures` — failed SCIM pushes of the last 24 hours; `failures:6h` for "
        "another window (`30m`, `6h`, `3d`, `2w`)\n"
        f"• `{COMMAND} changed:3d` — groups changed in the last 3 days, newest first\n"
        f"• `{COMMAND} why jane@example.com grafana.example.com` — would Access let this person (an "
        "email, or `@jane` picked from Slack's list) into that application (its name, domain or a "
        "link), and why: each policy in the order Access checks it, every rule marked ✓ ✗ ?, their "
        "SCIM state, failed pushes and recent logins\n"
        f'• `{COMMAND} idp:"Azure AD" oncall` — any of these in another identity provider, by name or id\n'
        f"• `{COMMAND} help` — this message\n"
        "Buttons: *Previous* / *Next* to page, *Refresh* for fresh data from Cloudflare, "
        "*Share* to post the page to the channel. Each group shows its name, its id in the identity "
        "provider (external ID), its Cloudflare id and when it last changed, with *History* (its SCIM "
        "pushes of the last 7 days, who each added and removed) and *Used by* (the Access groups, "
        "policies and applications whose rules name it). The bot's Home tab shows each identity "
        "provider's recent failures."
    )
    return {"text": f"How to use {COMMAND}", "blocks": [section(text)]}


def render_bad_input(bad: BadInput) -> Message:
    """Give back the answer to input that could not be understood: why, and where the examples are."""
    reason = escaped(bad.reason.strip(), REASON_LIMIT) or "That could not be understood."
    return {
        "text": shorten(reason, FALLBACK_LIMIT),
        "blocks": [section(reason), note(f"`{COMMAND} help` shows examples.")],
    }


def render_failure(error: CloudflareError) -> Message:
    """Give back one plain sentence saying what failed at Cloudflare and what to do (plain text:
    Cloudflare's words in it are shown as they are)."""
    said = failure_sentence(error)
    return {"text": fallback(said), "blocks": [plain_section(said)]}


def render_too_slow(seconds: float) -> Message:
    """Give back the answer when Cloudflare has not answered within the user's deadline."""
    return sentence(
        f"Cloudflare is slow to answer: nothing came back within {seconds:g} seconds. The bot keeps "
        "fetching in the background, so please try again in a minute."
    )


def render_refusal(reason: str) -> Message:
    """Give back the polite answer to someone the bot may not serve (it shows no data)."""
    if reason == "team":
        return sentence("Sorry, this bot only answers in the Slack workspace it was installed for.")
    where = "in this channel" if reason == "channel" else "for you"
    return sentence(
        f"Sorry, `{COMMAND}` is not available {where}: its admins have limited it to some people and "
        "channels. Ask them if you need access."
    )


def render_internal_error() -> Message:
    """Give back the answer to a failure of the bot itself (its details go to the log only)."""
    return sentence("Something went wrong inside the bot; it has been logged, so please try again.")


def failure_sentence(error: CloudflareError) -> str:
    """Give back what failed at Cloudflare and what to do, in one sentence."""
    code = f" (Cloudflare code {', '.join(map(str, error.codes))})" if error.codes else ""
    if isinstance(error, PermissionMissing):
        return (
            f"The bot's API token does not have the “{error.permission}” permission that this needs: "
            "an admin can add it to the token in the Cloudflare dashboard. Everything else keeps working."
        )
    if isinstance(error, BudgetSpent):
        return (
            "The bot has used its share of the Cloudflare API quota for the moment (the quota is shared "
            f"with the dashboard); please try again in {age(error.retry_after or 60)}."
        )
    if isinstance(error, RateLimited):
        wait = f"about {age(error.retry_after)}" if error.retry_after else "a few minutes"
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
        messages = [e.message for e in error.errors if e.message]
        detail = "; ".join(shorten(message, 200) for message in messages[:MESSAGES_SHOWN])
        more = len(messages) - MESSAGES_SHOWN
        detail = f": {detail}{f' (and {more} more)' if more > 0 else ''}" if detail else ""
        return f"Cloudflare refused the request{code}{detail}. An admin should check the bot's settings."
    status = f" (HTTP {error.status})" if error.status else ""
    return f"Cloudflare is not answering properly right now{status}{code}; please try again in a minute."
