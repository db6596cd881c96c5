"""Failure alerts: the SCIM log's new failures, posted to a channel before anyone asks.

Once an interval a watcher reads each SCIM provider's update log from where it last stopped (one
call per provider: the rows since its cursor, oldest first, every status), posts the new failures
to the alert channel as one message per provider and interval — grouped by Cloudflare's reason,
each group and user named with its History or `user:` button — and edits an alert once every
resource in it has had a successful push since (✅ and when).

One poster across every process: with Redis, a lease elects it (a key holding its owner and, on
the injected clock, when the lease ends; taken or renewed by one atomic script), and the cursors
and open alerts live in Redis, so a restart or a failover neither reposts nor skips. Without Redis
there is one process, and it keeps them itself.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis

from bot import metrics
from bot.clock import Clock
from bot.cloudflare import CloudflareClient, CloudflareError, IdentityProvider, Params
from bot.logs import event, slack_error
from bot.pushes import ScimPush, read_log, rfc3339
from bot.query import Detail, Query, Show, encode_button, encode_detail
from bot.views.blocks import BUTTON_TEXT_LIMIT, fallback, shorten
from bot.views.rich import Outside, Part, bullets, moment, rich, visible

log = logging.getLogger(__name__)

# The rows one read of a provider's log takes, and the reasons and resources one alert names.
ROWS_PER_READ = 1_000
REASONS_SHOWN = 5
NAMES_SHOWN = 3
BUTTONS_SHOWN = 5
# Alerts kept open (waiting for their resources to succeed), newest first.
OPEN_ALERTS = 50
# Between two alerts posted in one look: Slack's pace for chat.postMessage in one channel.
POST_SPACING_SECONDS = 1.0
# A lease lasts this many intervals: a poster that stops is replaced within that.
LEASE_INTERVALS = 3
_TAKE_LEASE = """
local held = redis.call('GET', KEYS[1])
if held then
  local owner, ends = string.match(held, '^(%S+) (%S+)$')
  if owner ~= ARGV[1] and tonumber(ends) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[3], 'PX', ARGV[4])
return 1
"""


class Poster(Protocol):
    """What is asked of Slack's Web API: `slack_sdk.WebClient` (`chat:write`)."""

    def chat_postMessage(self, *, channel: str, text: str, blocks: list[dict[str, Any]]) -> Any: ...

    def chat_update(self, *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> Any: ...


@dataclass
class Alert:
    """A posted alert: its message, its provider, and each resource it names (kind and Cloudflare
    id) with the name shown; resolved once each has had a successful push since."""

    ts: str
    provider_id: str
    posted_at: float
    resources: dict[str, str] = field(default_factory=dict)  # "GROUP:<id>" → its name or email
    resolved: set[str] = field(default_factory=set)
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def encode(self) -> dict[str, Any]:
        return {"ts": self.ts, "p": self.provider_id, "at": self.posted_at, "r": self.resources,
                "ok": sorted(self.resolved), "t": self.text, "b": self.blocks}  # fmt: skip

    @classmethod
    def decode(cls, item: dict[str, Any]) -> Alert:
        return cls(str(item["ts"]), str(item["p"]), float(item["at"]), dict(item["r"]), set(item["ok"]),
                   str(item["t"]), list(item["b"]))  # fmt: skip


@dataclass
class State:
    """Where each provider's log was last read to (its cursor: the newest `logged_at` seen, and
    the rows seen at that moment, which the next read starts from again) and the open alerts."""

    cursors: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)


class Store(Protocol):
    """Where the state lives, and who may post."""

    def hold_lease(self, now: float, seconds: float) -> bool: ...

    def load(self) -> State: ...

    def save(self, state: State) -> None: ...


class LocalStore:
    """The state of the one process there is."""

    def __init__(self) -> None:
        self._state = State()

    def hold_lease(self, now: float, seconds: float) -> bool:
        return True

    def load(self) -> State:
        return self._state

    def save(self, state: State) -> None:
        self._state = state


class RedisStore:
    """The state in Redis, and a lease that elects one poster among every process sharing it."""

    def __init__(self, client: redis.Redis, account_id: str) -> None:
        self._client = client
        self._owner = uuid.uuid4().hex
        self._lease = f"scim-groups:alerts:{account_id}:lease"
        self._state = f"scim-groups:alerts:{account_id}:state"
        self._take = client.register_script(_TAKE_LEASE)

    def hold_lease(self, now: float, seconds: float) -> bool:
        """Give back whether this process holds the lease now (taking it if it is free or over)."""
        taken = self._take(
            keys=[self._lease], args=[self._owner, now, now + seconds, int(seconds * 1000) * 10]
        )
        return bool(taken)

    def load(self) -> State:
        raw = self._client.get(self._state)
        if raw is None:
            return State()
        item = json.loads(raw)
        cursors = {provider: (str(at), list(seen)) for provider, (at, seen) in item["c"].items()}
        return State(cursors, [Alert.decode(alert) for alert in item["a"]])

    def save(self, state: State) -> None:
        encoded = {"c": state.cursors, "a": [alert.encode() for alert in state.alerts]}
        self._client.set(self._state, json.dumps(encoded, separators=(",", ":")))


def row_key(push: ScimPush) -> str:
    """Give back what tells one log row from another logged at the same moment."""
    return "|".join(
        (push.resource_type, push.method, push.status, push.cf_resource_id, push.idp_resource_id, push.error)
    )


def resource(push: ScimPush) -> str:
    return f"{push.resource_type.upper()}:{push.cf_resource_id or push.idp_resource_id}"


class Watcher:
    """Reads each SCIM provider's log once an interval and posts its new failures to a channel."""

    def __init__(
        self,
        client: CloudflareClient,
        poster: Poster,
        *,
        channel: str,
        interval: float,
        providers: Callable[[], Iterable[IdentityProvider]],
        store: Store,
        clock: Clock,
        page_size: int = 10,
    ) -> None:
        self._client, self._poster, self._channel = client, poster, channel
        self._interval, self._providers, self._store, self._clock = interval, providers, store, clock
        self._page_size = page_size
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refused = ""  # the last Slack error, logged once until posting works again

    def start(self) -> None:
        """Watch in a thread of its own until `stop`."""
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception:  # a bug must not end the watching
                log.exception("alerts_failed")

    def tick(self) -> int:
        """Read each provider's new log rows once, post their failures, resolve what succeeded;
        give back how many alerts were posted. Does nothing unless this process holds the lease."""
        now = self._clock.time()
        try:
            if not self._store.hold_lease(now, self._interval * LEASE_INTERVALS):
                return 0
            state = self._store.load()
        except (redis.RedisError, ValueError, KeyError, TypeError) as error:  # down, or not our entry
            event(log, "alerts_state_unreadable", logging.WARNING, error=type(error).__name__)
            return 0
        posted = 0
        try:
            providers = [provider for provider in self._providers() if provider.scim_enabled]
        except CloudflareError as error:
            event(log, "alerts_providers_failed", logging.WARNING, error=error.describe())
            return 0
        for provider in providers:
            before = state.cursors.get(provider.id)
            rows = self._new_rows(provider.id, state, now)
            if rows is None:
                continue
            failures = [row for row in rows if row.failed]
            if failures and posted:  # Slack takes about one message a second in a channel
                self._clock.sleep(POST_SPACING_SECONDS)
            if failures and not self._post(provider, failures, state):
                # Slack refused: the same rows are read and posted again next time, not lost.
                if before is not None:
                    state.cursors[provider.id] = before
                continue
            posted += bool(failures)
            self._resolve(provider.id, [row for row in rows if row.succeeded], state)
        try:
            self._store.save(state)
        except redis.RedisError as error:
            event(log, "alerts_state_unsaved", logging.WARNING, error=type(error).__name__)
        return posted

    def _new_rows(self, provider_id: str, state: State, now: float) -> list[ScimPush] | None:
        """Give back the provider's log rows not seen before, oldest first (None: unreadable); a
        provider seen for the first time starts from now, so old failures are not posted."""
        cursor = state.cursors.get(provider_id)
        if cursor is None:
            state.cursors[provider_id] = (rfc3339(int(now)), [])
            return []
        since, seen = cursor
        params: Params = [
            ("idp_id", provider_id),
            ("since", since),
            ("direction", "asc"),
            ("per_page", ROWS_PER_READ),
        ]
        try:
            rows = read_log(self._client, params, members=False)
        except CloudflareError as error:
            event(log, "alerts_log_failed", logging.WARNING, error=error.describe())
            return None
        fresh = [
            row
            for row in rows
            if row.logged_at is not None
            and not (rfc3339(int(row.logged_at.timestamp())) == since and row_key(row) in seen)
        ]
        if fresh:
            newest = max(int(row.logged_at.timestamp()) for row in fresh if row.logged_at is not None)
            at = rfc3339(newest)
            at_newest = [
                row_key(row)
                for row in rows
                if row.logged_at is not None and int(row.logged_at.timestamp()) == newest
            ]
            state.cursors[provider_id] = (
                at,
                at_newest if at != since else list(dict.fromkeys(seen + at_newest)),
            )
        return fresh

    def _post(self, provider: IdentityProvider, failures: list[ScimPush], state: State) -> bool:
        """Post the failures as one alert; give back whether Slack took it."""
        text, blocks, resources = render_alert(provider, failures, self._page_size)
        try:
            answer = self._poster.chat_postMessage(channel=self._channel, text=text, blocks=blocks)
        except Exception as error:  # slack_sdk's SlackApiError, or the network
            self._refusal(error)
            return False
        self._refused = ""
        metrics.ALERTS.labels("posted").inc()
        alert = Alert(str(answer["ts"]), provider.id, self._clock.time(), resources, set(), text, blocks)
        state.alerts = [alert, *state.alerts][:OPEN_ALERTS]
        return True

    def _resolve(self, provider_id: str, successes: list[ScimPush], state: State) -> None:
        """Mark each open alert whose every resource has had a successful push since, once."""
        succeeded = {resource(push): push for push in successes}
        for alert in state.alerts:
            if alert.provider_id != provider_id or set(alert.resources) <= alert.resolved:
                continue
            alert.resolved |= set(alert.resources) & set(succeeded)
            if set(alert.resources) <= alert.resolved:
                moments = [succeeded[key].logged_at for key in alert.resources if key in succeeded]
                when = max((moment for moment in moments if moment is not None), default=None)
                blocks = [
                    *alert.blocks,
                    rich(
                        [
                            "✅ Resolved: each of these has had a successful push since, the last ",
                            moment(when, ago=False),
                            ".",
                        ]
                    ),
                ]
                try:
                    self._poster.chat_update(
                        channel=self._channel, ts=alert.ts, text="✅ " + alert.text, blocks=blocks
                    )
                    metrics.ALERTS.labels("resolved").inc()
                except Exception as error:
                    self._refusal(error)
        state.alerts = [alert for alert in state.alerts if not set(alert.resources) <= alert.resolved]

    def _refusal(self, error: Exception) -> None:
        """Log why Slack refused (once until it works again) and count it."""
        code = slack_error(error)
        metrics.ALERTS.labels("refused").inc()
        if code != self._refused:
            event(log, "alert_post_failed", logging.WARNING, error=code)
            self._refused = code


def render_alert(
    provider: IdentityProvider, failures: list[ScimPush], page_size: int
) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
    """Give back an alert's fallback text, its blocks, and the resources it names (by key)."""
    name = provider.name or f"identity provider {provider.id}"
    count = len(failures)
    reasons = Counter(push.error or "Cloudflare gave no reason" for push in failures)
    resources: dict[str, str] = {}
    for push in failures:
        resources.setdefault(resource(push), push.group_name or push.user_email or push.idp_resource_id)
    lead: list[Part] = [
        f"⚠️ *{count:,} failed SCIM {'push' if count == 1 else 'pushes'}* to ",
        Outside(name, 75, bold=True),
        " since the last look:",
    ]
    items: list[list[Part]] = []
    for reason, times in reasons.most_common(REASONS_SHOWN):
        named = list(
            dict.fromkeys(
                push.group_name or push.user_email or push.idp_resource_id
                for push in failures
                if (push.error or "Cloudflare gave no reason") == reason
            )
        )
        line: list[Part] = [f"{times:,} × ", Outside(reason, 200, bold=True), " ("]
        for index, item in enumerate(named[:NAMES_SHOWN]):
            line += ([", "] if index else []) + [Outside(item or "unnamed", 75)]
        line += [f", and {len(named) - NAMES_SHOWN:,} more)" if len(named) > NAMES_SHOWN else ")"]
        items.append(line)
    if len(reasons) > REASONS_SHOWN:
        items.append([f"and {len(reasons) - REASONS_SHOWN:,} more reasons"])
    newest = max((push.logged_at for push in failures if push.logged_at), default=None)
    blocks: list[dict[str, Any]] = [
        bullets([lead], items),
        rich(["Newest: ", moment(newest or datetime.now(UTC), ago=True)]),
    ]
    buttons = _buttons(provider.id, failures, page_size)
    if buttons:
        blocks.append({"type": "actions", "block_id": "scim_groups_alert", "elements": buttons})
    return fallback(f"{count} failed SCIM pushes to {name}"), blocks, resources


def _buttons(provider_id: str, failures: list[ScimPush], page_size: int) -> list[dict[str, Any]]:
    """Give back a History button for each group named and a `user:` button for each user, the
    first few; each answers the one who clicks, privately (the alert is a shared message)."""
    back = Show(Query(provider_id), page=1, page_size=page_size, shared=True)
    buttons: list[dict[str, Any]] = []
    seen: set[str] = set()
    for push in failures:
        key = resource(push)
        if key in seen or len(buttons) >= BUTTONS_SHOWN:
            continue
        seen.add(key)
        if push.resource_type.upper() == "GROUP" and push.cf_resource_id:
            label = shorten(visible(f"History: {push.group_name or push.idp_resource_id}"), BUTTON_TEXT_LIMIT)
            value = encode_detail(Detail("history", push.cf_resource_id, back))
            buttons.append(
                {
                    "type": "button",
                    "action_id": f"scim_groups_history:{len(buttons)}",
                    "text": {"type": "plain_text", "text": label, "emoji": False},
                    "value": value,
                }
            )
        elif push.user_email:
            target = Show(Query(provider_id, users=(push.user_email,)), page=1, page_size=4, shared=True)
            label = shorten(visible(f"user: {push.user_email}"), BUTTON_TEXT_LIMIT)
            buttons.append(
                {
                    "type": "button",
                    "action_id": f"scim_groups_follow:{len(buttons)}",
                    "text": {"type": "plain_text", "text": label, "emoji": False},
                    "value": encode_button(target),
                }
            )
    return buttons
