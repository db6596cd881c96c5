"""Wiring: settings in, a ready Bolt app (and its WSGI entry point) out."""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import redis
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot import __version__, listeners, logs, metrics, web
from bot.access import AccessPolicy
from bot.access_users import AccessUsers
from bot.alerts import LocalStore, RedisStore, Watcher
from bot.answers.kinds import Subjects
from bot.cache import Caches
from bot.clock import Clock, SystemClock
from bot.cloudflare import DEFAULT_TIMEOUT, CloudflareClient
from bot.codec import Seal
from bot.directory import Directory
from bot.limits import (
    REFRESH_COOLDOWN_SECONDS,
    RedisHealth,
    RefreshLimit,
    RefreshThrottle,
    SharedCallBudget,
    SharedRefreshThrottle,
)
from bot.logs import event
from bot.pacing import QUOTA_WINDOW_SECONDS, REQUESTS_PER_SECOND, Budget, CallBudget, Pacer
from bot.pushes import Pushes
from bot.replies import Replies, Reply
from bot.rules import AccessRules
from bot.service import GroupsService
from bot.settings import Secret, Settings, SettingsError, load_settings, read_environment
from bot.slack_people import SlackPeople, Workspace
from bot.users import MAX_USER_PAGES, UserDirectory
from bot.views import render_too_slow
from bot.walks import walk_pages
from bot.workers import Workers

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

# Threads that compute and post answers, most of the time waiting on Cloudflare. When all are
# busy, new answers queue, and their deadline notice still comes on time.
ANSWER_THREADS = 32
# However Cloudflare behaves, the user hears something within this many seconds.
ANSWER_DEADLINE_SECONDS = 20.0
# Long enough for a reply that is still inside its 20 s deadline to reach Slack.
SHUTDOWN_GRACE_SECONDS = 25.0


def build_service(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    workspace: Workspace | None = None,
) -> GroupsService:
    """Give back the answering service over a cached Cloudflare directory (`workspace`: whom a
    Slack mention is asked of, when not the settings' Slack: the demo's)."""
    clock = clock or SystemClock()
    budget: Budget = CallBudget(settings.upstream_calls_per_5_minutes, clock=clock)
    refreshes: RefreshLimit = RefreshThrottle(clock)
    shared, health = None, RedisHealth(clock)
    if settings.redis_url:
        shared = redis.Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        budget = SharedCallBudget(
            shared,
            settings.cloudflare.account_id,
            calls=settings.upstream_calls_per_5_minutes,
            per=QUOTA_WINDOW_SECONDS,
            local=budget,
            health=health,
        )
        refreshes = SharedRefreshThrottle(
            shared, cooldown=REFRESH_COOLDOWN_SECONDS, local=refreshes, health=health
        )
    # Cloudflare's limit per IP address, shared by the Procfile's processes (they share one IP).
    pacer = Pacer(REQUESTS_PER_SECOND // settings.web_concurrency, clock=clock)
    client = CloudflareClient(
        settings.cloudflare, transport=transport, clock=clock, budget=budget, pacer=pacer, timeout=timeout
    )
    # Entries in Redis are sealed with a key only holders of the Cloudflare credential can derive.
    seal = Seal.from_secret(settings.cloudflare.credential().reveal())
    caches = Caches(
        ttl=settings.cache_ttl_seconds,
        serve_stale=settings.serve_stale_seconds,
        clock=clock,
        shared=shared,
        health=health,
        seal=seal,
    )
    workers = Workers(walk_concurrency=settings.walk_concurrency)
    directory = Directory(
        client,
        caches=caches,
        workers=workers,
        walk_concurrency=settings.walk_concurrency,
        walk_pages=walk_pages(settings.upstream_calls_per_5_minutes),
        calls_per_5_minutes=settings.upstream_calls_per_5_minutes,
    )
    subjects = Subjects(
        groups=directory,
        users=UserDirectory(
            client,
            caches=caches,
            parallel=workers.in_parallel,
            max_pages=min(MAX_USER_PAGES, walk_pages(settings.upstream_calls_per_5_minutes)),
        ),
        pushes=Pushes(client, caches=caches, members=settings.show_members),
        rules=AccessRules(client, caches=caches, parallel=workers.in_parallel),
        people=SlackPeople(workspace or slack_client(settings), clock=clock),
        workers=workers,
        clock=clock,
        access_users=AccessUsers(client, caches=caches),
    )
    watcher = None
    poster = slack_client(settings)
    if settings.alert_channel and poster is not None:
        watcher = Watcher(
            client,
            poster,
            channel=settings.alert_channel,
            interval=settings.alert_interval_seconds,
            providers=directory.identity_providers,
            store=RedisStore(shared, settings.cloudflare.account_id) if shared is not None else LocalStore(),
            clock=clock,
            page_size=settings.page_size,
        )
    return GroupsService(
        subjects,
        default_provider_id=settings.cloudflare.identity_provider_id,
        page_size=settings.page_size,
        refreshes=refreshes,
        watcher=watcher,
        redis_usable=(lambda: health.usable()) if shared is not None else (lambda: None),
        upstream=client.recent,
        budget=settings.upstream_calls_per_5_minutes,
    )


def slack_client(settings: Settings) -> WebClient | None:
    """Give back the Web API client the answers ask Slack with (who a mention is), or None
    where there is no workspace (the preview)."""
    if settings.slack is None:
        return None
    return WebClient(token=settings.slack.bot_token.reveal(), base_url=settings.slack.api_url, timeout=5)


@dataclass(frozen=True)
class Bot:
    """The running bot: the Bolt app, what serves it over HTTP, and a clean way to stop."""

    app: App
    replies: Replies
    signing_secret: Secret | None = None
    # Posts new SCIM push failures to the alert channel, when one is set.
    watcher: Watcher | None = None

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

    def front(self) -> web.Front:
        """Give back the HTTP front (ASGI) that serves `wsgi()` safely to the open internet."""
        return web.Front(self.wsgi(), signing_secret=self.signing_secret, on_shutdown=self.drain)

    def drain(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Wait, at most `grace_seconds`, for the replies still owed to Slack to be posted."""
        if self.watcher is not None:
            self.watcher.stop()
        left = self.replies.wait_until_posted(grace_seconds)
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

    # Bolt reads SLACK_BOT_TOKEN from the environment itself, and warns that the client's wins.
    with logs.quiet("slack_bolt"):
        app = App(
            client=WebClient(base_url=slack.api_url),
            authorize=authorize,
            # Over HTTP the front checks Slack's signature before Bolt sees a request
            # (bot/web.py); Socket Mode needs none.
            request_verification_enabled=False,
            # Listeners never block (a cached answer, or an ack and work handed to a pool), so
            # Bolt can answer the moment they return instead of polling for the ack every 10 ms.
            process_before_response=True,
        )
    replies = Replies(
        ThreadPoolExecutor(max_workers=ANSWER_THREADS, thread_name_prefix="answer"),
        clock or SystemClock(),
        ANSWER_DEADLINE_SECONDS,
        Reply(render_too_slow(ANSWER_DEADLINE_SECONDS), replace_original=False),
    )
    access = AccessPolicy(settings.allowed_users, settings.allowed_channels, slack.team_id)
    listeners.register(app, service, replies=replies, access=access)
    return Bot(app, replies, slack.signing_secret, service.watcher)


def settle(bot: Bot) -> None:
    """Get a freshly built bot ready for its first burst of requests; call once, to serve.

    Its answer threads start now rather than inside the first acks. And what the process built
    at start-up leaves the garbage collector's full passes: the libraries and the app are
    ~100,000 objects that live as long as the process, and a full pass walks every tracked
    object holding the GIL; with them in, it stopped every request for ~50 ms on a two-core
    machine (docs/PERFORMANCE.md).
    """
    bot.replies.start(ANSWER_THREADS)
    if bot.watcher is not None:
        bot.watcher.start()
    gc.collect()
    gc.freeze()


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
