"""Settings: read once from the environment (and `.env`), validated, then passed down.

No other module reads `os.environ`. A bad setting raises `SettingsError` whose message is one
plain sentence naming the variable and never showing a secret's value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.logs import FORMATS, LEVELS

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_CLOUDFLARE_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_PAGE_SIZE = 10
# Slack shows at most 50 blocks and ~12k characters a message; 20 groups stay well inside.
MAX_PAGE_SIZE = 20
# SCIM pushes are rare and Refresh bypasses the cache, so a minute keeps answers fresh while
# a busy channel costs the shared 1,200-per-5-minutes quota one call per page per minute.
DEFAULT_CACHE_TTL_SECONDS = 60.0
# How long past its TTL an answer is still shown at once, while a fresh one is fetched behind.
DEFAULT_SERVE_STALE_SECONDS = 900.0
# Pages of one directory read at once by a search (bot.directory.WALK_CONCURRENCY explains 20).
DEFAULT_WALK_CONCURRENCY = 20
MAX_CACHE_TTL_SECONDS = 86_400.0
DEFAULT_ALERT_INTERVAL_SECONDS = 60.0
DEFAULT_PORT = 3000
# Half of Cloudflare's 1,200 calls per 5 minutes per token: the rest stays for the dashboard
# and the other tools that share the token.
DEFAULT_UPSTREAM_CALLS = 600
SLACK_ID_PATTERN = re.compile(r"^[A-Z0-9]{2,32}$")
# The example values in .env.example: a bot started with them would look healthy and fail
# every request, so they are refused by name.
PLACEHOLDERS = {
    "SLACK_BOT_TOKEN": "xoxb-your-bot-token",
    "SLACK_SIGNING_SECRET": "your-signing-secret",
    "CLOUDFLARE_API_TOKEN": "your-cloudflare-api-token",
    "CLOUDFLARE_ACCOUNT_ID": "023e105f4ecef8ad9ca31a8372d0c353",
    "CLOUDFLARE_IDENTITY_PROVIDER_ID": "5b9e0c2a-1d3f-4e6a-8b7c-9d0e1f2a3b4c",
}
DEFAULT_WEB_CONCURRENCY = 1

UUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
ACCOUNT_ID_PATTERN = re.compile(r"^[0-9A-Za-z]{1,32}$")


N = TypeVar("N", int, float)


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A credential that never shows itself in `repr()`, `str()`, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Give back the credential, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class CloudflareSettings:
    """Where and as whom to call the Cloudflare API."""

    account_id: str
    # None: the account's only SCIM-enabled identity provider, or the user picks one.
    identity_provider_id: str | None = None
    base_url: str = DEFAULT_CLOUDFLARE_BASE_URL
    api_token: Secret | None = None
    email: str | None = None
    api_key: Secret | None = None

    def credential(self) -> Secret:
        """Give back the secret that authenticates the bot to Cloudflare: the token, else the key."""
        secret = self.api_token or self.api_key
        assert secret is not None, "load_cloudflare_settings requires one"
        return secret

    def auth_headers(self) -> dict[str, str]:
        """Give back the headers that authenticate a request: a token, else email and key."""
        if self.api_token is not None:
            return {"Authorization": f"Bearer {self.api_token.reveal()}"}
        if self.email is not None and self.api_key is not None:
            return {"X-Auth-Email": self.email, "X-Auth-Key": self.api_key.reveal()}
        return {}


@dataclass(frozen=True)
class SlackSettings:
    """How to talk to Slack: over HTTP (signing secret) or Socket Mode (app token)."""

    bot_token: Secret
    signing_secret: Secret | None = None
    app_token: Secret | None = None
    api_url: str = DEFAULT_SLACK_API_URL
    # The only workspace (T…) or Enterprise Grid organisation (E…) whose requests are served.
    team_id: str | None = None

    @property
    def socket_mode(self) -> bool:
        """Give back whether the app connects out over Socket Mode instead of serving HTTP."""
        return self.app_token is not None


@dataclass(frozen=True)
class Settings:
    """Everything the bot needs to run; `slack` is None for the terminal preview."""

    slack: SlackSettings | None
    cloudflare: CloudflareSettings
    page_size: int = DEFAULT_PAGE_SIZE
    cache_ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS
    serve_stale_seconds: float = DEFAULT_SERVE_STALE_SECONDS
    walk_concurrency: int = DEFAULT_WALK_CONCURRENCY
    upstream_calls_per_5_minutes: int = DEFAULT_UPSTREAM_CALLS
    # Empty: anyone in the workspace may use the bot (anywhere).
    allowed_users: frozenset[str] = frozenset()
    allowed_channels: frozenset[str] = frozenset()
    port: int = DEFAULT_PORT
    log_level: str = "INFO"
    log_format: str = "text"
    # Unset: each process keeps its own cache. Set: answers are shared through Redis.
    redis_url: str | None = None
    # Processes the Procfile's gunicorn runs (WEB_CONCURRENCY, read from .env too).
    web_concurrency: int = DEFAULT_WEB_CONCURRENCY
    # Whether a group's History shows who its pushes added and removed (read from the SCIM log).
    show_members: bool = True
    # Set: new SCIM push failures are posted to this channel, the log read once an interval.
    alert_channel: str | None = None
    alert_interval_seconds: float = DEFAULT_ALERT_INTERVAL_SECONDS


def read_environment(environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> dict[str, str]:
    """Give back the variables to read settings from: `.env` first, the real environment wins."""
    environ = os.environ if environ is None else environ
    path = Path(".env") if dotenv is None else dotenv
    try:
        from_file = dotenv_values(path, encoding="utf-8") if path.is_file() else {}
    except UnicodeDecodeError:
        raise SettingsError(f"{path} is not UTF-8 text: save it as UTF-8 and start again.") from None
    except OSError as error:
        raise SettingsError(f"{path} cannot be read ({error.strerror}).") from None
    merged = {key: value for key, value in from_file.items() if value is not None}
    merged.update(environ)
    return merged


def load_settings(env: Mapping[str, str], *, slack: bool = True) -> Settings:
    """Give back validated settings (Slack's only with `slack`), or raise `SettingsError`."""
    settings = _settings(env, slack=slack)
    if settings.alert_channel and settings.redis_url is None and settings.web_concurrency > 1:
        raise SettingsError(
            "SCIM_GROUPS_ALERT_CHANNEL with WEB_CONCURRENCY above 1 needs SCIM_GROUPS_REDIS_URL, so "
            "that one process posts each alert: set it, or run one process (WEB_CONCURRENCY=1)."
        )
    return settings


def _settings(env: Mapping[str, str], *, slack: bool) -> Settings:
    return Settings(
        slack=load_slack_settings(env) if slack else None,
        cloudflare=load_cloudflare_settings(env),
        page_size=_integer(env, "SCIM_GROUPS_PAGE_SIZE", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        cache_ttl_seconds=_number(
            env,
            "SCIM_GROUPS_CACHE_TTL_SECONDS",
            DEFAULT_CACHE_TTL_SECONDS,
            0,
            MAX_CACHE_TTL_SECONDS,
        ),
        serve_stale_seconds=_number(
            env, "SCIM_GROUPS_SERVE_STALE_SECONDS", DEFAULT_SERVE_STALE_SECONDS, 0, MAX_CACHE_TTL_SECONDS
        ),
        walk_concurrency=_integer(env, "SCIM_GROUPS_WALK_CONCURRENCY", DEFAULT_WALK_CONCURRENCY, 1, 20),
        upstream_calls_per_5_minutes=_integer(
            env, "SCIM_GROUPS_UPSTREAM_CALLS_PER_5_MINUTES", DEFAULT_UPSTREAM_CALLS, 10, 100_000
        ),
        allowed_users=_slack_ids(env, "SCIM_GROUPS_ALLOWED_USERS", "U01ABCDEF"),
        allowed_channels=_slack_ids(env, "SCIM_GROUPS_ALLOWED_CHANNELS", "C01ABCDEF"),
        port=_integer(env, "PORT", DEFAULT_PORT, 1, 65_535),
        log_level=_choice(env, "LOG_LEVEL", LEVELS, "INFO"),
        log_format=_choice(env, "LOG_FORMAT", FORMATS, "text"),
        show_members=_choice(env, "SCIM_GROUPS_SHOW_MEMBERS", ("on", "off"), "on") == "on",
        redis_url=_redis_url(env),
        web_concurrency=_integer(env, "WEB_CONCURRENCY", DEFAULT_WEB_CONCURRENCY, 1, 64),
        alert_channel=_alert_channel(env),
        alert_interval_seconds=_number(
            env, "SCIM_GROUPS_ALERT_INTERVAL_SECONDS", DEFAULT_ALERT_INTERVAL_SECONDS, 10, 3_600
        ),
    )


def _alert_channel(env: Mapping[str, str]) -> str | None:
    channel = _value(env, "SCIM_GROUPS_ALERT_CHANNEL")
    if channel is not None and not re.match(r"^[CG][A-Z0-9]{2,32}$", channel):
        raise SettingsError(
            "SCIM_GROUPS_ALERT_CHANNEL must be a channel id, such as C01ABCDEF (in Slack: the channel's "
            f"details, at the bottom; got {channel[:40]!r})."
        )
    return channel


def load_slack_settings(env: Mapping[str, str]) -> SlackSettings:
    """Give back validated Slack settings, or raise `SettingsError`."""
    bot_token = _secret(env, "SLACK_BOT_TOKEN", prefix="xoxb-", required=True)
    app_token = _secret(env, "SLACK_APP_TOKEN", prefix="xapp-", required=False)
    signing_secret = _secret(env, "SLACK_SIGNING_SECRET", prefix="", required=app_token is None)
    assert bot_token is not None
    return SlackSettings(
        bot_token=bot_token,
        signing_secret=signing_secret,
        app_token=app_token,
        api_url=_url(env, "SLACK_API_URL", DEFAULT_SLACK_API_URL).rstrip("/") + "/",
        team_id=_team_id(env),
    )


def load_cloudflare_settings(env: Mapping[str, str]) -> CloudflareSettings:
    """Give back validated Cloudflare settings, or raise `SettingsError`."""
    api_token = _secret(env, "CLOUDFLARE_API_TOKEN", prefix="", required=False)
    email = _value(env, "CLOUDFLARE_EMAIL")
    api_key = _secret(env, "CLOUDFLARE_API_KEY", prefix="", required=False)
    if api_token is None:
        if email is None and api_key is None:
            raise SettingsError(
                "CLOUDFLARE_API_TOKEN is not set (or set CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY "
                "for a legacy global API key)."
            )
        if api_key is None:
            raise SettingsError("CLOUDFLARE_API_KEY is not set; it goes with CLOUDFLARE_EMAIL.")
        if email is None:
            raise SettingsError("CLOUDFLARE_EMAIL is not set; it goes with CLOUDFLARE_API_KEY.")
        if "@" not in email:
            raise SettingsError("CLOUDFLARE_EMAIL must be the email address of the Cloudflare login.")
    else:
        email, api_key = None, None
    account_id = _required(env, "CLOUDFLARE_ACCOUNT_ID")
    if not ACCOUNT_ID_PATTERN.match(account_id):
        raise SettingsError(
            "CLOUDFLARE_ACCOUNT_ID must be the account id from the Cloudflare dashboard "
            "(up to 32 letters and digits)."
        )
    identity_provider_id = _value(env, "CLOUDFLARE_IDENTITY_PROVIDER_ID")
    if identity_provider_id is not None and not UUID_PATTERN.match(identity_provider_id):
        raise SettingsError(
            "CLOUDFLARE_IDENTITY_PROVIDER_ID must be a UUID such as f174e90a-fafe-4643-bbbc-4a0ed4fc8415."
        )
    return CloudflareSettings(
        account_id=account_id,
        identity_provider_id=identity_provider_id.lower() if identity_provider_id else None,
        base_url=_url(env, "CLOUDFLARE_BASE_URL", DEFAULT_CLOUDFLARE_BASE_URL).rstrip("/"),
        api_token=api_token,
        email=email,
        api_key=api_key,
    )


def _value(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and value == PLACEHOLDERS.get(name):
        raise SettingsError(f"{name} is still the example value from .env.example: put in the real one.")
    return value or None


def _required(env: Mapping[str, str], name: str) -> str:
    value = _value(env, name)
    if value is None:
        raise SettingsError(f"{name} is not set.")
    return value


def _secret(env: Mapping[str, str], name: str, *, prefix: str, required: bool) -> Secret | None:
    value = _value(env, name)
    if value is None:
        if required:
            raise SettingsError(f"{name} is not set.")
        return None
    if any(character.isspace() for character in value):
        raise SettingsError(f"{name} contains white space; paste the value again.")
    if not value.startswith(prefix):
        raise SettingsError(f"{name} must start with {prefix!r}.")
    return Secret(value)


def _slack_ids(env: Mapping[str, str], name: str, example: str) -> frozenset[str]:
    ids = [part.strip() for part in (_value(env, name) or "").split(",") if part.strip()]
    for slack_id in ids:
        if not SLACK_ID_PATTERN.match(slack_id):
            raise SettingsError(
                f"{name} must be Slack ids separated by commas, such as {example} (got {slack_id[:40]!r})."
            )
    return frozenset(ids)


def _team_id(env: Mapping[str, str]) -> str | None:
    team_id = _value(env, "SLACK_TEAM_ID")
    if team_id is not None and not re.match(r"^[TE][A-Z0-9]{2,32}$", team_id):
        raise SettingsError("SLACK_TEAM_ID must be a workspace id (T…) or an Enterprise Grid id (E…).")
    return team_id


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = _value(env, name)
    if value is None:
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise SettingsError(f"{name} must be one of {', '.join(choices)} (got {value[:20]!r}).")


def _redis_url(env: Mapping[str, str]) -> str | None:
    value = _value(env, "SCIM_GROUPS_REDIS_URL")
    if value is not None and urlsplit(value).scheme not in ("redis", "rediss"):
        raise SettingsError("SCIM_GROUPS_REDIS_URL must be a redis:// or rediss:// URL.")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = _value(env, name) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL such as {default}.")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return _bounded(env, name, default, low, high, int, f"a whole number from {low} to {high}")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    return _bounded(env, name, default, low, high, float, f"a number of seconds from {low:g} to {high:g}")


def _bounded(
    env: Mapping[str, str], name: str, default: N, low: N, high: N, parse: Callable[[str], N], what: str
) -> N:
    value = _value(env, name)
    if value is None:
        return default
    try:
        number = parse(value)
    except ValueError:
        raise SettingsError(f"{name} must be {what} (got {value!r}).") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be {what} (got {value!r}).")
    return number
