"""Wiring: settings in, a ready Bolt app (and its WSGI entry point) out."""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot import listeners
from bot.access import AccessPolicy
from bot.clock import Clock, SystemClock
from bot.cloudflare import DEFAULT_TIMEOUT, CallBudget, CloudflareClient
from bot.directory import Directory
from bot.service import GroupsService
from bot.settings import Settings, SettingsError, load_settings, read_environment

# Threads that wait on Cloudflare. Bolt's own default (5) would let five slow answers stall
# every other command's ack.
ANSWER_THREADS = 32
# Threads that wait for slow answers and post them to Slack; waiting costs no CPU.
DELIVERY_THREADS = 64


def build_service(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> GroupsService:
    """Give back the answering service over a cached Cloudflare directory."""
    clock = clock or SystemClock()
    budget = CallBudget(settings.upstream_calls_per_5_minutes, clock=clock)
    client = CloudflareClient(
        settings.cloudflare, transport=transport, clock=clock, budget=budget, timeout=timeout
    )
    directory = Directory(client, ttl=settings.cache_ttl_seconds, clock=clock)
    return GroupsService(
        directory,
        default_provider_id=settings.cloudflare.identity_provider_id,
        page_size=settings.page_size,
        clock=clock,
    )


def build_app(
    settings: Settings,
    service: GroupsService,
    *,
    clock: Clock | None = None,
    answer_in_ack_seconds: float = listeners.ANSWER_IN_ACK_SECONDS,
) -> App:
    """Give back the Bolt app with its access check and listeners registered."""
    if settings.slack is None:
        raise SettingsError("SLACK_BOT_TOKEN is not set.")
    slack = settings.slack
    app = App(
        client=WebClient(token=slack.bot_token.reveal(), base_url=slack.api_url),
        signing_secret=slack.signing_secret.reveal() if slack.signing_secret else None,
        request_verification_enabled=not slack.socket_mode,
        # The token is checked on the first request (and by `python -m bot check`), so a
        # Slack hiccup at boot cannot crash-loop the workers.
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="listener"),
    )
    listeners.register(
        app,
        service,
        answers=ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="answer"),
        deliveries=ThreadPoolExecutor(max_workers=DELIVERY_THREADS, thread_name_prefix="delivery"),
        access=AccessPolicy(settings.allowed_users, settings.allowed_channels, slack.team_id),
        clock=clock or SystemClock(),
        answer_in_ack_seconds=answer_in_ack_seconds,
    )
    return app


def build_wsgi(app: App) -> SlackRequestHandler:
    """Give back the WSGI application serving the app at `POST /slack/events`."""
    return SlackRequestHandler(app)


def settings_or_exit() -> Settings:
    """Give back validated settings, or stop the process with one plain line naming the variable."""
    try:
        return load_settings(read_environment())
    except SettingsError as error:
        print(f"scim-groups: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def configure_logging() -> None:
    """Send log lines to stderr, one per event."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
