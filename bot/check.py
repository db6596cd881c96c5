"""`python -m bot check`: a pre-flight checklist, before the bot is connected to Slack.

One line per check, ✓ or ✗; under each ✗, the fix in one sentence. Nothing secret is printed:
the lines are built from ids, names, counts and the services' error codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.access_users import AUDIT_PERMISSION, USERS_PATH
from bot.clock import SystemClock
from bot.cloudflare import (
    AuthFailed,
    CloudflareClient,
    CloudflareError,
    NotFound,
    Params,
    RetryPolicy,
    TokenKind,
    Unavailable,
)
from bot.logs import slack_error
from bot.providers import ProviderChoice, choose_provider
from bot.pushes import LOGS_PATH, LOGS_PERMISSION
from bot.rules import APPS_PERMISSION
from bot.settings import (
    CloudflareSettings,
    SettingsError,
    SlackSettings,
    load_cloudflare_settings,
    load_settings,
    load_slack_settings,
)
from bot.slack_people import SCOPES as MENTION_SCOPES

T = TypeVar("T")
PERMISSION = "“Access: Organizations, Identity Providers, and Groups Read”"
FIX_SETTING = "Set it in the environment or in .env (see .env.example and the README)."
FIX_SLACK_BOT = (
    "Copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page; "
    "reinstall the app if it was revoked."
)
FIX_SLACK_APP = (
    "Create an app-level token with the connections:write scope (Basic Information) and turn on Socket Mode."
)
FIX_CLOUDFLARE_STATUS = (
    "Create a new token, or reactivate this one: Manage Account → Account API Tokens (recommended), "
    "or My Profile → API Tokens."
)
FIX_REFUSED_CREDENTIAL = (
    "Paste the whole token into CLOUDFLARE_API_TOKEN: an account API token (Manage Account → Account "
    "API Tokens, recommended) or a user API token (My Profile → API Tokens)."
)
FIX_PROVIDER_ID = (
    "Copy the provider's id from Zero Trust → Settings → Authentication, or unset it to pick automatically."
)
FIX_SCIM = "Enable SCIM on it in Zero Trust → Settings → Authentication, or choose another provider."
FIX_ACCOUNT = "Copy the Account ID from the Cloudflare dashboard into CLOUDFLARE_ACCOUNT_ID."
FIX_NO_SCIM = "Enable SCIM on the identity provider in Zero Trust → Settings → Authentication."
FIX_DEFAULT_SCIM = "Enable SCIM on it, or set CLOUDFLARE_IDENTITY_PROVIDER_ID to one that has it."


@dataclass(frozen=True)
class Result:
    """One line of the checklist."""

    ok: bool
    line: str
    fix: str = ""
    # An optional permission the token lacks: not a failure, marked ○.
    optional: bool = False


def run_checks(env: Mapping[str, str], out: TextIO, *, transport: httpx.BaseTransport | None = None) -> int:
    """Run every check that can run, print the checklist, and give back the exit status."""
    results: list[Result] = []

    def report(result: Result) -> None:
        results.append(result)
        out.write(f"{'○' if result.optional else '✓' if result.ok else '✗'} {result.line}\n")
        if result.fix:
            out.write(f"    → {result.fix}\n")
        out.flush()

    slack = _load(report, "Slack", lambda: load_slack_settings(env))
    cloudflare = _load(report, "Cloudflare", lambda: load_cloudflare_settings(env))
    if slack is not None and cloudflare is not None:
        _load(report, "Other", lambda: load_settings(env))
    if slack is not None:
        _check_slack(slack, report, channel=env.get("SCIM_GROUPS_ALERT_CHANNEL", "").strip())
    if cloudflare is not None:
        _check_cloudflare(cloudflare, report, transport)
    failed = sum(not result.ok for result in results)
    out.write("\nAll checks passed: the bot is ready.\n" if not failed else f"\n{failed} check(s) failed.\n")
    return 0 if not failed else 1


def _check_scopes(
    headers: Mapping[str, Any], report: Callable[[Result], None], *, alerts: bool = False
) -> None:
    """Say whether the bot token has the optional scopes that look up a Slack mention, and the
    one alerts need when an alert channel is set (Slack lists a token's scopes in the
    `x-oauth-scopes` header of every answer)."""
    granted = _granted(headers)
    if granted is None:
        return  # not said: nothing to report either way
    if alerts and "chat:write" in granted:
        report(Result(True, "The bot has chat:write, to post alerts to SCIM_GROUPS_ALERT_CHANNEL"))
    elif alerts:
        fix = (
            "Add chat:write under OAuth & Permissions, reinstall the app, and invite the bot to the channel."
        )
        report(Result(False, "The bot lacks chat:write, which SCIM_GROUPS_ALERT_CHANNEL needs", fix))
    missing = [scope for scope in MENTION_SCOPES if scope not in granted]
    if not missing:
        report(Result(True, f"Optional: the bot has {' and '.join(MENTION_SCOPES)} (user: by Slack mention)"))
        return
    fix = (
        f"Add {' and '.join(missing)} under OAuth & Permissions and reinstall the app, for user: by "
        "Slack mention; everything else works without them."
    )
    report(Result(True, f"Optional: the bot does not have {' and '.join(missing)}", fix, optional=True))


def _granted(headers: Mapping[str, Any]) -> set[str] | None:
    """Give back the scopes Slack says the token has (its `x-oauth-scopes` header), or None."""
    named = {name.lower(): value for name, value in headers.items()}.get("x-oauth-scopes")
    listed = named[0] if isinstance(named, list) and named else named
    return {scope.strip() for scope in listed.split(",")} if isinstance(listed, str) else None


def _check_alert_channel(
    client: WebClient, headers: Mapping[str, Any], channel: str, report: Callable[[Result], None]
) -> None:
    """Say whether the bot is in the alert channel, when its token may read channels (the
    optional `channels:read`); else that this cannot be checked."""
    if "channels:read" not in (_granted(headers) or set()):
        fix = "Add channels:read to let check see the bot's channels, or post a test failure and look."
        report(Result(True, f"Optional: cannot tell whether the bot is in {channel}", fix, optional=True))
        return
    try:
        member = bool(client.conversations_info(channel=channel)["channel"].get("is_member"))
    except (SlackApiError, SlackClientError, OSError, KeyError, TypeError) as error:
        said = f"Slack cannot show the alert channel {channel} ({slack_error(error)})"
        report(Result(False, said, "Check SCIM_GROUPS_ALERT_CHANNEL: a channel id, such as C01ABCDEF."))
        return
    if member:
        report(Result(True, f"The bot is in the alert channel {channel}"))
    else:
        report(
            Result(
                False,
                f"The bot is not in the alert channel {channel}",
                f"Invite it: /invite @scim-groups in {channel}.",
            )
        )


def _load(report: Callable[[Result], None], what: str, load: Callable[[], T]) -> T | None:
    try:
        settings = load()
    except SettingsError as error:
        report(Result(False, str(error), FIX_SETTING))
        return None
    report(Result(True, f"{what} settings are present and well-formed"))
    return settings


def _check_slack(settings: SlackSettings, report: Callable[[Result], None], *, channel: str = "") -> None:
    alerts = bool(channel)
    client = WebClient(token=settings.bot_token.reveal(), base_url=settings.api_url, timeout=10)
    try:
        who = client.auth_test()
        report(
            Result(
                True,
                f"Slack accepts the bot token: workspace {who.get('team')} ({who.get('team_id')}), "
                f"bot @{who.get('user')}",
            )
        )
        _check_scopes(who.headers, report, alerts=alerts)
        if alerts:
            _check_alert_channel(client, who.headers, channel, report)
    except SlackApiError as error:
        report(
            Result(
                False,
                f"Slack refused SLACK_BOT_TOKEN ({error.response.get('error')})",
                FIX_SLACK_BOT,
            )
        )
    except (SlackClientError, OSError) as error:  # URLError, refused, timed out: not Slack's answer
        report(
            Result(
                False,
                f"Slack could not be reached ({type(error).__name__})",
                f"Check SLACK_API_URL ({settings.api_url}) and the network.",
            )
        )
    if settings.app_token is not None:
        try:
            WebClient(
                token=settings.app_token.reveal(), base_url=settings.api_url, timeout=10
            ).apps_connections_open(app_token=settings.app_token.reveal())
            report(Result(True, "Slack accepts the Socket Mode app token"))
        except SlackApiError as error:
            report(
                Result(
                    False,
                    f"Slack refused SLACK_APP_TOKEN ({error.response.get('error')})",
                    FIX_SLACK_APP,
                )
            )
        except (SlackClientError, OSError) as error:
            report(
                Result(
                    False,
                    f"Slack could not be reached ({type(error).__name__})",
                    "Check SLACK_API_URL and the network.",
                )
            )


def _check_cloudflare(
    settings: CloudflareSettings, report: Callable[[Result], None], transport: httpx.BaseTransport | None
) -> None:
    client = CloudflareClient(
        settings, transport=transport, clock=SystemClock(), retry=RetryPolicy(attempts=1)
    )
    try:
        if settings.api_token is not None and not _verify_token(client, settings, report):
            return
        providers = client.list_identity_providers()
        report(
            Result(
                True,
                f"The credentials can read Access identity providers of account {settings.account_id} "
                f"({len(providers)} found)",
            )
        )
        chosen = choose_provider(providers, None, settings.identity_provider_id)
        if isinstance(chosen, ProviderChoice):
            _report_choice(chosen, report)
            if chosen.reason != "several":
                return
            targets = chosen.choices
        else:
            if settings.identity_provider_id and not chosen.name:
                report(
                    Result(
                        False,
                        f"CLOUDFLARE_IDENTITY_PROVIDER_ID {settings.identity_provider_id} is not an identity "
                        "provider of this account",
                        FIX_PROVIDER_ID,
                    )
                )
                return
            if not chosen.scim_enabled:
                report(
                    Result(
                        False,
                        f"The identity provider {chosen.name} does not have SCIM provisioning enabled",
                        FIX_SCIM,
                    )
                )
                return
            how = "default" if settings.identity_provider_id else "only SCIM-enabled"
            report(
                Result(True, f"The {how} identity provider is {chosen.name} ({chosen.type}), SCIM enabled")
            )
            targets = (chosen,)
        for provider in targets:
            page = client.list_groups(provider.id, page=1, per_page=100)
            total = page.total_count if page.total_count is not None else f"{len(page.rows)}+"
            report(
                Result(
                    True,
                    f"Read the first page of SCIM groups from {provider.name}: "
                    f"{len(page.rows)} shown, {total} in all",
                )
            )
        _check_optional(client, targets[0].id, report)
    except AuthFailed as error:
        report(
            Result(
                False,
                f"Cloudflare refused the credentials ({error.detail() or error.summary})",
                f"Give the API token the {PERMISSION} permission for account {settings.account_id}, "
                "or check CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY.",
            )
        )
    except NotFound as error:
        report(
            Result(
                False,
                f"Cloudflare does not know account {settings.account_id} ({error.detail() or error.summary})",
                FIX_ACCOUNT,
            )
        )
    except Unavailable as error:  # its summary says what failed: DNS, refused, TLS, a proxy, the time
        said = "; ".join(filter(None, (error.summary, error.detail())))
        report(
            Result(
                False,
                said,
                f"Check CLOUDFLARE_BASE_URL ({settings.base_url}) and the network; behind a proxy, set "
                "HTTPS_PROXY (and NO_PROXY for what must bypass it). Then try again.",
            )
        )
    except CloudflareError as error:
        report(
            Result(
                False,
                f"Cloudflare did not answer properly ({error.detail() or error.summary})",
                f"Check CLOUDFLARE_BASE_URL ({settings.base_url}) and the network, then try again.",
            )
        )
    finally:
        client.close()


def _check_optional(client: CloudflareClient, provider_id: str, report: Callable[[Result], None]) -> None:
    """Say which optional permissions the token has: each unlocks more, none is required."""
    probe: Params = [("idp_id", provider_id), ("per_page", 1)]
    _optional(
        client,
        report,
        LOGS_PERMISSION,
        LOGS_PATH,
        probe,
        "`failures`, History, users' SCIM pushes, cheap refreshes of large directories",
    )
    _optional(
        client,
        report,
        APPS_PERMISSION,
        "/access/apps",
        [("per_page", 1)],
        "Used by: applications and policies; `why`",
    )
    _optional(
        client,
        report,
        AUDIT_PERMISSION,
        USERS_PATH,
        [("per_page", 1)],
        "`why`: whether a person ever logged in, the identity Access last saw, their recent logins",
    )


def _optional(
    client: CloudflareClient,
    report: Callable[[Result], None],
    permission: str,
    path: str,
    params: Params,
    unlocks: str,
) -> None:
    try:
        client.list_items(path, params)
    except AuthFailed as error:
        if error.status != 403:  # a 403 here alone means this permission is missing
            raise
        fix = f"Add it to the token for {unlocks}; everything else works without it."
        report(Result(True, f"Optional: the token does not have “{permission}”", fix, optional=True))
        return
    report(Result(True, f"Optional: the token has “{permission}” ({unlocks})"))


def _verify_token(
    client: CloudflareClient, settings: CloudflareSettings, report: Callable[[Result], None]
) -> bool:
    """Check the API token at the endpoint for its kind; give back whether the checks may go on."""
    assert settings.api_token is not None
    prefix = settings.api_token.reveal()[:5]
    kind: TokenKind | None = {"cfut_": "user", "cfat_": "account"}.get(prefix)  # type: ignore[assignment]
    try:
        kind, status = client.verify_token(kind)
    except NotFound as error:
        report(
            Result(
                False,
                f"Cloudflare has no token check at CLOUDFLARE_BASE_URL ({error.detail() or error.summary})",
                f"Check CLOUDFLARE_BASE_URL ({settings.base_url}): Cloudflare's ends in /client/v4.",
            )
        )
        return False
    except AuthFailed as error:
        report(
            Result(
                False,
                f"Cloudflare refused the API token ({error.detail() or error.summary})",
                FIX_REFUSED_CREDENTIAL,
            )
        )
        return False
    if status != "active":
        report(Result(False, f"The Cloudflare API token is {status}", FIX_CLOUDFLARE_STATUS))
        return False
    report(Result(True, f"Cloudflare accepts the API token ({kind} token, active)"))
    return True


def _report_choice(choice: ProviderChoice, report: Callable[[Result], None]) -> None:
    if choice.reason == "several":
        names = ", ".join(provider.name for provider in choice.choices)
        report(
            Result(
                True,
                f"No default identity provider: users pick among {len(choice.choices)} with SCIM ({names})",
            )
        )
    elif choice.reason == "none":
        report(
            Result(
                False,
                "No identity provider of this account has SCIM provisioning enabled",
                FIX_NO_SCIM,
            )
        )
    else:
        report(
            Result(
                False,
                f"The default identity provider {choice.asked} does not have SCIM provisioning enabled",
                FIX_DEFAULT_SCIM,
            )
        )
