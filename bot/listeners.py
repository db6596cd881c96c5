"""Slack listeners: acknowledge at once, turn commands and clicks into answers, deliver them.

Registered in one place (`register`); each handler is thin and delegates to `GroupsService`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import Executor, TimeoutError
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.service import GroupsService
from bot.views import Message, render_internal_error

log = logging.getLogger(__name__)

# Slack waits 3 s for the ack. An answer ready sooner rides inside the ack (shown at once, no
# extra round trip); a slower one is acked empty and then posted to the response_url.
ANSWER_IN_ACK_SECONDS = 1.5


def register(
    app: App,
    service: GroupsService,
    *,
    answers: Executor,
    answer_in_ack_seconds: float = ANSWER_IN_ACK_SECONDS,
) -> None:
    """Register the command and button listeners on `app`."""

    # Any command routed to this app is ours, so a workspace may rename `/scim-groups`.
    @app.command(re.compile(r"^/"))
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        """Answer a slash command, inside the ack when the answer is quick."""
        pending = answers.submit(_safely, service.answer_command, command.get("text") or "")
        try:
            message = pending.result(timeout=answer_in_ack_seconds)
        except TimeoutError:
            ack()
            deliver(respond, pending.result(), response_type="ephemeral")
            return
        ack(response_type="ephemeral", **message)

    @app.action(re.compile(r"^scim_groups_"))
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        """Answer a click on Previous, Next, Refresh or Share through the click's response_url."""
        ack()
        action = (body.get("actions") or [{}])[0]
        user_id = (body.get("user") or {}).get("id", "")
        try:
            reply = service.answer_click(
                action.get("action_id", ""), action.get("value", ""), user_id=user_id
            )
        except Exception:
            log.exception("internal_error while answering a click")
            deliver(respond, render_internal_error(), response_type="ephemeral", replace_original=False)
            return
        deliver(
            respond,
            reply.message,
            response_type="in_channel" if reply.in_channel else "ephemeral",
            replace_original=reply.replace_original,
        )


def deliver(respond: Respond, message: Message, **how: Any) -> None:
    """Post `message` to the response_url; a refusal is logged, never raised."""
    try:
        response = respond(**message, **how)
    except Exception as error:  # an unreachable URL must not kill the worker
        log.warning("response_url_failed error=%s", type(error).__name__)
        return
    if response.status_code != 200:
        log.warning("response_url_failed status=%s body=%.100r", response.status_code, response.body)


def _safely(answer: Callable[[str], Message], text: str) -> Message:
    try:
        return answer(text)
    except Exception:
        log.exception("internal_error while answering a command")
        return render_internal_error()
