"""Wiring: settings in, a ready Bolt app (and its WSGI entry point) out."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot import __version__, listeners, logs, metrics
from bot.access import AccessPolicy
from bot.clock import Clock, SystemClock
from bot.cloudflare import DEFAULT_TIMEOUT, CallBudget, CloudflareClient
from bot.directory import Directory
from bot.logs import event
from bot.service import GroupsService
from bot.settings import Settings, SettingsError, load_settings, read_environment

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

# Threads that compute answers, most of the time waiting on Cloudflare.
ANSWER_THREADS = 32
# Threads that wait for slow answers and post them to Slack; waiting costs no CPU.
DELIVERY_THREADS = 64
# Long enough for a reply that is still inside its 20 s deadline to reach Slack.
SHUTDOWN_GRACE_SECONDS = 25.0


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


@dataclass(frozen=True)
class Bot:
    """The running bot: the Bolt app, what serves it over HTTP, and a clean way to stop."""

    app: App
    in_flight: listeners.InFlight

    def wsgi(self) -> WSGIApplication:
        """Give back the WSGI application: POST /slack/events, GET /healthz and GET /metrics."""
        slack = SlackRequestHandler(self.app)

        def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            route = (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            if route == ("GET", "/healthz"):
                body = json.dumps({"status": "ok", "version": __version__}).encode()
                return _respond(start_response, body, "application/json")
            if route == ("GET", "/metrics"):
                body, content_type = metrics.exposition()
                return _respond(start_response, body, content_type)
            return slack(environ, start_response)

        return application

    def drain(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Wait, at most `grace_seconds`, for the replies still owed to Slack to be posted."""
        left = self.in_flight.wait_until_idle(grace_seconds)
        event(log, "drained" if not left else "drain_timed_out", logging.INFO, replies_left=left)


def build_app(
    settings: Settings,
    service: GroupsService,
    *,
    clock: Clock | None = None,
) -> Bot:
    """Give back the bot, its access check and listeners registered."""
    if settings.slack is None:
        raise SettingsError("SLACK_BOT_TOKEN is not set.")
    slack = settings.slack
    bot_token = slack.bot_token.reveal()

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """Give Bolt the bot token, without asking Slack who the bot is.

        Bolt's default calls auth.test inside the ack of the first requests (once per request
        until one returns). This app answers only through response_urls and never needs that
        identity, so no ack waits on Slack's Web API; `python -m bot check` verifies the token.
        """
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=bot_token)

    app = App(
        client=WebClient(base_url=slack.api_url),
        authorize=authorize,
        signing_secret=slack.signing_secret.reveal() if slack.signing_secret else None,
        request_verification_enabled=not slack.socket_mode,
        # Listeners never block (a cached answer, or an ack and work handed to a pool), so Bolt
        # can answer the moment they return instead of polling for the ack every 10 ms.
        process_before_response=True,
    )
    in_flight = listeners.register(
        app,
        service,
        answers=ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="answer"),
        deliveries=ThreadPoolExecutor(max_workers=DELIVERY_THREADS, thread_name_prefix="delivery"),
        access=AccessPolicy(settings.allowed_users, settings.allowed_channels, slack.team_id),
        clock=clock or SystemClock(),
    )
    return Bot(app, in_flight)


def settings_or_exit() -> Settings:
    """Give back validated settings, or stop the process with one plain line naming the variable."""
    try:
        settings = load_settings(read_environment())
    except SettingsError as error:
        print(f"scim-groups: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(settings.log_level, settings.log_format)
    return settings


def _respond(start_response: StartResponse, body: bytes, content_type: str) -> list[bytes]:
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
