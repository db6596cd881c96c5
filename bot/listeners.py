"""Slack listeners: acknowledge at once, turn commands and clicks into answers, deliver them.

Registered in one place (`register`); each handler is thin and delegates to `GroupsService`.
Access is checked once, by a global middleware that runs after Slack's signature is verified
and before any listener, so a refused request costs no Cloudflare call.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, TimeoutError
from typing import Any, TypeVar

from slack_bolt import Ack, App, BoltResponse, Respond

from bot import metrics
from bot.access import AccessPolicy, Caller
from bot.clock import Clock
from bot.logs import event
from bot.service import GroupsService, Reply
from bot.views import Message, render_internal_error, render_refusal, render_too_slow

log = logging.getLogger(__name__)
M = TypeVar("M", Message, Message | None)

# However Cloudflare behaves, the user hears something within this many seconds.
ANSWER_DEADLINE_SECONDS = 20.0


def register(
    app: App,
    service: GroupsService,
    *,
    answers: Executor,
    deliveries: Executor,
    access: AccessPolicy,
    clock: Clock,
    deadline_seconds: float = ANSWER_DEADLINE_SECONDS,
) -> InFlight:
    """Register the access check and the command and button listeners on `app`.

    Gives back the tracker of replies still to be posted, for a clean shutdown to wait on.
    """
    in_flight = InFlight()

    @app.middleware
    def admit(body: dict[str, Any], respond: Respond, next: Callable[[], None]) -> BoltResponse | None:
        """Let allowed callers through; answer everyone else politely, privately, with no data."""
        caller = Caller.from_body(body)
        reason = access.refusal(caller)
        if reason is None:
            next()
            return None
        metrics.REFUSALS.labels(reason).inc()
        event(
            log,
            "refused",
            logging.WARNING,
            reason=reason,
            user=caller.user_id,
            channel=caller.channel_id,
            team=caller.team_id,
            enterprise=caller.enterprise_id,
            kind="click" if "actions" in body else "command",
        )
        refusal = render_refusal(reason)
        if "actions" in body:  # a click's HTTP body is ignored by Slack: answer on its response_url
            in_flight.track(
                deliveries.submit(
                    deliver, respond, refusal, response_type="ephemeral", replace_original=False
                )
            )
            return BoltResponse(status=200, body="")
        body_json = json.dumps({**refusal, "response_type": "ephemeral"})
        return BoltResponse(status=200, body=body_json, headers={"content-type": "application/json"})

    # Any command routed to this app is ours, so a workspace may rename `/scim-groups`.
    @app.command(re.compile(r"^/"))
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        """Answer a slash command: inside the ack when the cache has the answer, else right after."""
        until = clock() + deadline_seconds
        caller, text = Caller.from_body(command), command.get("text") or ""
        message = _safely(service.answer_from_cache, text, caller)
        if message is not None:
            ack(response_type="ephemeral", **message)
            return
        ack()  # at once: the ack never waits for Cloudflare
        pending = answers.submit(_safely, service.answer_command, text, caller)
        # Bolt's threads are for acks: the wait for the answer happens on another pool.
        in_flight.track(
            deliveries.submit(
                _deliver_when_ready, respond, _as_reply(pending), clock, until, deadline_seconds
            )
        )

    @app.action(re.compile(r"^scim_groups_"))
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        """Answer a click on a button through the click's own response_url."""
        ack()
        until = clock() + deadline_seconds
        action = (body.get("actions") or [{}])[0]
        caller = Caller.from_body(body)
        pending = answers.submit(
            _safe_click, service, action.get("action_id", ""), action.get("value", ""), caller
        )
        in_flight.track(
            deliveries.submit(_deliver_when_ready, respond, pending, clock, until, deadline_seconds)
        )

    return in_flight


class InFlight:
    """Counts the replies still to be posted, so that shutdown can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def track(self, work: Future[None]) -> None:
        """Count `work` until it is done."""
        with self._idle:
            self._count += 1
        work.add_done_callback(self._done)

    def wait_until_idle(self, timeout: float) -> int:
        """Wait until no reply is pending, at most `timeout` seconds; give back how many still are."""
        with self._idle:
            self._idle.wait_for(lambda: self._count == 0, timeout=timeout)
            return self._count

    def _done(self, _: Future[None]) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()


def deliver(respond: Respond, message: Message, **how: Any) -> None:
    """Post `message` to the response_url; a refusal is logged, never raised."""
    try:
        response = respond(**message, **how)
    except Exception as error:  # an unreachable URL must not kill the worker
        metrics.RESPONSE_URL_FAILURES.labels("unreachable").inc()
        event(log, "response_url_failed", logging.WARNING, error=type(error).__name__)
        return
    if response.status_code != 200:
        metrics.RESPONSE_URL_FAILURES.labels(str(response.status_code)).inc()
        event(
            log, "response_url_failed", logging.WARNING, status=response.status_code, body=response.body[:100]
        )


def _deliver_when_ready(
    respond: Respond, pending: Future[Reply], clock: Clock, until: float, deadline_seconds: float
) -> None:
    """Deliver the reply once it is ready, or say it is too slow once `clock` passes `until`."""
    while True:
        try:
            # A finished answer wakes this at once; the timeout only serves to read the
            # (injectable) clock now and then, and stays coarse so waiting threads stay idle.
            reply = pending.result(timeout=min(1.0, max(0.05, until - clock())))
            break
        except TimeoutError:
            if clock() >= until:
                reply = Reply(render_too_slow(deadline_seconds), replace_original=False)
                break
    deliver(
        respond,
        reply.message,
        response_type="in_channel" if reply.in_channel else "ephemeral",
        replace_original=reply.replace_original,
    )


def _as_reply(pending: Future[Message]) -> Future[Reply]:
    """Give back a future of the command's answer as a reply posted anew (not replacing)."""
    reply: Future[Reply] = Future()
    pending.add_done_callback(lambda done: reply.set_result(Reply(done.result(), replace_original=False)))
    return reply


def _safely(answer: Callable[[str, Caller], M], text: str, caller: Caller) -> M | Message:
    try:
        return answer(text, caller)
    except Exception:
        log.exception("internal_error while answering a command")
        return render_internal_error()


def _safe_click(service: GroupsService, action_id: str, value: str, caller: Caller) -> Reply:
    try:
        return service.answer_click(action_id, value, caller)
    except Exception:
        log.exception("internal_error while answering a click")
        return Reply(render_internal_error(), replace_original=False)
