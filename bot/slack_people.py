"""Slack's people: the email behind a mention (`user:<@U0123>`), read with Slack's `users.info`.

Cloudflare knows people by email and SCIM id, never by Slack account; a mention picked from
Slack's list as you type `@` arrives as `<@U0123|jane>`, and `users.info` gives that person's
profile. The bot scopes it needs are optional: `users:read` for the call and `users:read.email`
for the address in it. Without them the answer says which scope to add, and the rest of the bot
works as before. Emails read are kept for a while in this process only (they are people's data:
they are never written to Redis or to a log line).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from cachetools import TTLCache
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.logs import event

log = logging.getLogger(__name__)

# The optional bot scopes for mentions: the call, and the address in its answer.
SCOPES = ("users:read", "users:read.email")
# How long an email read is kept, and for how many people.
EMAIL_SECONDS = 600.0
EMAILS_KEPT = 10_000
NEEDS_SCOPES = (
    "the bot needs Slack's optional scopes `users:read` and `users:read.email` for that (add them "
    "under *OAuth & Permissions* and reinstall the app)"
)


class Unresolved(Exception):
    """A mention that could not be read as an email: whose, and why (a sentence about them)."""

    def __init__(self, user_id: str, why: str) -> None:
        super().__init__(why)
        self.user_id = user_id
        self.why = why


class Workspace(Protocol):
    """What is asked of Slack's Web API here: `slack_sdk.WebClient`, or the demo's workspace."""

    def users_info(self, *, user: str) -> Any: ...


class SlackPeople:
    """The email of the person behind a Slack user id, through one Web API client."""

    def __init__(self, client: Workspace | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._emails: TTLCache[str, str] = TTLCache(maxsize=EMAILS_KEPT, ttl=EMAIL_SECONDS, timer=clock)
        self._lock = threading.Lock()

    def email_of(self, user_id: str) -> str:
        """Give back the email of Slack user `user_id`; raise `Unresolved` saying why not."""
        with self._lock:
            if (email := self._emails.get(user_id)) is not None:
                return email
        if self._client is None:
            raise Unresolved(user_id, "there is no Slack workspace here to ask who this is.")
        try:
            answer = self._client.users_info(user=user_id)
        except SlackApiError as error:
            reason = str(error.response.get("error", ""))
            event(log, "slack_users_info_failed", logging.WARNING, error=reason)
            if reason == "missing_scope":
                raise Unresolved(user_id, f"Slack did not say who this is: {NEEDS_SCOPES}.") from None
            if reason in ("user_not_found", "users_not_found"):
                raise Unresolved(user_id, "Slack knows no such person in this workspace.") from None
            raise Unresolved(user_id, f"Slack did not say who this is ({reason[:60]}).") from None
        except (SlackClientError, OSError) as error:
            event(log, "slack_users_info_failed", logging.WARNING, error=type(error).__name__)
            raise Unresolved(user_id, "Slack could not be asked who this is right now.") from None
        user = answer.get("user")
        profile = user.get("profile") if isinstance(user, dict) else None
        email = profile.get("email") if isinstance(profile, dict) else None
        if not isinstance(email, str) or "@" not in email:
            bot = isinstance(user, dict) and (user.get("is_bot") or user.get("id") == "USLACKBOT")
            why = "a bot, with no email" if bot else f"Slack gave no email for them: {NEEDS_SCOPES}"
            raise Unresolved(user_id, f"no email to look them up by: {why}.")
        with self._lock:
            self._emails[user_id] = email
        return email
