"""Slack listeners: acknowledge at once, turn commands and clicks into answers, deliver them.

Registered in one place (`register`); each handler is thin and delegates to `GroupsService`.
Access is checked once, by a global middleware that runs after Slack's signature is verified
and before any listener, so a refused request costs no Cloudflare call. No listener ever
waits for Cloudflare: a cached answer rides in the ack, any other is posted by `Replies`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Complete, Fail, Respond
from slack_sdk import WebClient

from bot import metrics
from bot.access import AccessPolicy, Caller
from bot.logs import event, slack_error
from bot.query import from_slack
from bot.replies import Replies, Reply
from bot.service import GroupsService, StepFailed
from bot.views import (
    SEARCH_BUTTON,
    SEARCH_MODAL,
    WHY_BUTTON,
    WHY_MODAL,
    WHY_SHORTCUT,
    Message,
    render_internal_error,
    render_modal_answer,
    render_refusal,
    render_search_modal,
    render_why_modal,
)

log = logging.getLogger(__name__)

# The workflow step's callback id (the manifest's `functions:` key), and the threads that run it.
STEP_CALLBACK_ID = "check_access"
STEP_THREADS = 4
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# What Slack sends from the Home tab and modals, with no response_url to answer on.
VIEWLESS = ("block_actions", "shortcut", "view_submission")


def register(app: App, service: GroupsService, *, replies: Replies, access: AccessPolicy) -> None:
    """Register the access check and the command and button listeners on `app`."""

    @app.middleware
    def admit(body: dict[str, Any], respond: Respond, next: Callable[[], None]) -> BoltResponse | None:
        """Let allowed callers through; answer everyone else politely, privately, with no data."""
        event_sent = body.get("type") == "event_callback"  # a workflow step: no user, no channel
        caller = (
            Caller("", "", str(body.get("team_id") or ""), str(body.get("enterprise_id") or ""))
            if event_sent
            else Caller.from_body(body)
        )
        reason = access.refusal(caller, team_only=event_sent)
        if reason is None:
            next()
            return None
        # An event, or from the Home tab or a modal: no message to answer on, so nothing is shown.
        viewless = not body.get("response_url") and body.get("type") in VIEWLESS
        kind = "event" if event_sent else str(body.get("type")) if viewless else ""
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
            kind=kind or ("click" if "actions" in body else "command"),
        )
        if kind:
            return BoltResponse(status=200, body="")
        refusal = render_refusal(reason)
        if "actions" in body:  # a click's HTTP body is ignored by Slack: answer on its response_url
            replies.post(respond, Reply(refusal, replace_original=False))
            return BoltResponse(status=200, body="")
        body_json = json.dumps({**refusal, "response_type": "ephemeral"})
        return BoltResponse(status=200, body=body_json, headers={"content-type": "application/json"})

    # Any command routed to this app is ours, so a workspace may rename `/scim-groups`.
    @app.command(re.compile(r"^/"))
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        """Answer a slash command: inside the ack when the cache has the answer, else right after."""
        caller, asked_at = Caller.from_body(command), service.now()
        text = from_slack(str(command.get("text") or ""))
        message = _safely(lambda: service.answer_from_cache(text, caller))
        if message is not None:
            ack(response_type="ephemeral", **message)
            return
        ack()  # at once: the ack never waits for Cloudflare
        replies.answer(
            respond,
            lambda: Reply(service.answer_command(text, caller, asked_at=asked_at), replace_original=False),
            alike=("command", text),
        )

    @app.action(re.compile(r"^scim_groups_"))
    def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        """Answer a click on a button through the click's own response_url."""
        ack()
        action, caller, asked_at = (body.get("actions") or [{}])[0], Caller.from_body(body), service.now()
        replies.answer(
            respond,
            lambda: service.answer_click(
                action.get("action_id", ""), action.get("value", ""), caller, asked_at=asked_at
            ),
        )

    steps = ThreadPoolExecutor(max_workers=STEP_THREADS, thread_name_prefix="step")

    @app.action(WHY_BUTTON)
    @app.shortcut(WHY_SHORTCUT)
    def on_ask_why(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Open the modal that asks `why`: from the Home tab's button, or the global shortcut (a
        trigger must be used within 3 seconds, so this one call is made before returning)."""
        ack()
        try:
            client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=render_why_modal())
        except Exception as error:
            _slack_refused("modal_open_failed", error)

    @app.action(SEARCH_BUTTON)
    def on_ask_search(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Open the modal that searches groups, from the Home tab's button."""
        ack()
        try:
            client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=render_search_modal())
        except Exception as error:
            _slack_refused("modal_open_failed", error)

    @app.view(SEARCH_MODAL)
    def on_search_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """Answer the search modal as `why`'s is answered: "Checking…", then the answer in it."""
        values = (view.get("state") or {}).get("values") or {}
        text = from_slack(str(((values.get("text") or {}).get("text") or {}).get("value") or ""))
        ack(response_action="update", view=render_modal_answer(None, "Search SCIM groups"))
        caller, view_id = Caller.from_body(body), str(view.get("id") or "")

        def answer() -> None:
            try:
                answered = service.answer_command(text, caller)
                client.views_update(view_id=view_id, view=render_modal_answer(answered, "Search SCIM groups"))
            except Exception as error:
                _slack_refused("modal_update_failed", error)

        steps.submit(answer)

    @app.view(WHY_MODAL)
    def on_why_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """Answer the modal at once with "Checking…", then with `why`'s answer, in the modal."""
        values = (view.get("state") or {}).get("values") or {}
        person = str(((values.get("person") or {}).get("person") or {}).get("selected_user") or "")
        application = str(((values.get("application") or {}).get("application") or {}).get("value") or "")
        ack(response_action="update", view=render_modal_answer(None))
        caller = Caller.from_body(body)
        view_id = str(view.get("id") or "")

        def answer() -> None:
            text = f"why <@{person}> {application}" if SLACK_USER_ID.match(person) else f"why {application}"
            try:
                client.views_update(
                    view_id=view_id, view=render_modal_answer(service.answer_command(text, caller))
                )
            except Exception as error:
                _slack_refused("modal_update_failed", error)

        steps.submit(answer)

    @app.event("app_home_opened")
    def on_home(event: dict[str, Any], client: WebClient) -> None:
        """Publish the opener's Home tab, off the request (its facts may need Cloudflare)."""
        user_id = str(event.get("user") or "")
        if event.get("tab") != "home" or not user_id:
            return

        def publish() -> None:
            try:
                client.views_publish(user_id=user_id, view=service.home(Caller(user_id, "", "", "")))
            except Exception as error:  # Slack refusing (not_enabled, …), or a bug: logged, not raised
                _slack_refused("home_publish_failed", error)

        steps.submit(publish)

    @app.function(STEP_CALLBACK_ID)
    def on_step(inputs: dict[str, Any], complete: Complete, fail: Fail) -> None:
        """Run the workflow step "Check access in Cloudflare" off the request, then complete it."""
        person, application = str(inputs.get("person") or ""), str(inputs.get("application") or "")
        if SLACK_USER_ID.match(person):  # a `slack#/types/user_id` input: the person Slack knows
            person = f"<@{person}>"

        def run() -> None:
            try:
                if access.users or access.channels:
                    raise StepFailed(
                        "The bot answers only the people and channels in its allow-lists, and a workflow "
                        "step has neither: unset SCIM_GROUPS_ALLOWED_USERS and SCIM_GROUPS_ALLOWED_CHANNELS "
                        "to use it."
                    )
                complete(outputs=service.check_access(person, application))
            except StepFailed as why:
                fail(why.reason)
            except Exception:
                log.exception("internal_error while running a workflow step")
                fail("The bot hit an internal error; its logs say more.")

        steps.submit(run)


def _slack_refused(name: str, error: Exception) -> None:
    """Log, in one line, why Slack refused a call (or why it could not be made)."""
    event(log, name, logging.WARNING, error=slack_error(error))


def _safely(answer: Callable[[], Message | None]) -> Message | None:
    try:
        return answer()
    except Exception:
        log.exception("internal_error while answering from the cache")
        return render_internal_error()
