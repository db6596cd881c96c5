"""The bot's answers: a command's text or a button click in, a Slack message out.

Slack's listeners and the terminal preview both call this, so what a person sees in the
preview is what Slack would get. Every failure becomes a message; none escapes as an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from bot.cloudflare import CloudflareError
from bot.directory import Directory
from bot.query import BadInput, Browse, ShowHelp, decode_button, parse_command
from bot.views import (
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTIONS,
    Message,
    render_bad_input,
    render_failure,
    render_help,
    render_internal_error,
    render_listing,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A message and how to deliver it in answer to a click."""

    message: Message
    # True: replace the message that was clicked; False: post a new message.
    replace_original: bool = True
    in_channel: bool = False


class GroupsService:
    """Answers commands and clicks from the directory."""

    def __init__(self, directory: Directory, *, identity_provider_id: str, page_size: int) -> None:
        self._directory = directory
        self._identity_provider_id = identity_provider_id
        self._page_size = page_size

    def answer_command(self, text: str) -> Message:
        """Give back the answer to `/scim-groups <text>`."""
        query = parse_command(
            text, identity_provider_id=self._identity_provider_id, page_size=self._page_size
        )
        if isinstance(query, ShowHelp):
            return render_help()
        if isinstance(query, BadInput):
            log.info("bad_input source=command reason=%r", query.reason)
            return render_bad_input(query)
        return self._show(query, refresh=False)

    def answer_click(self, action_id: str, value: str, *, user_id: str = "") -> Reply:
        """Give back the answer to a click on one of the message's buttons."""
        query = decode_button(value)
        if action_id not in ACTIONS:
            query = BadInput("That button is not one this bot knows; run `/scim-groups` again.")
        if isinstance(query, BadInput):
            log.info("bad_input source=button action=%r reason=%r", action_id[:64], query.reason)
            return Reply(render_bad_input(query), replace_original=False)
        if action_id == ACTION_SHARE:
            shared = replace(query, shared=True)
            return Reply(
                self._show(shared, refresh=False, shared_by=user_id),
                replace_original=False,
                in_channel=True,
            )
        if query.shared:
            # A click on a shared message answers the clicker privately and leaves the
            # channel's copy as it is.
            return Reply(self._show(replace(query, shared=False), refresh=action_id == ACTION_REFRESH), False)
        return Reply(self._show(query, refresh=action_id == ACTION_REFRESH))

    def _show(self, query: Browse, *, refresh: bool, shared_by: str | None = None) -> Message:
        try:
            listing = self._directory.browse(
                query.identity_provider_id,
                page=query.page,
                page_size=query.page_size,
                refresh=refresh,
            )
        except CloudflareError as error:
            log.warning("cloudflare_failed %s", error.describe())
            return render_failure(error)
        except Exception:
            log.exception("internal_error while showing groups")
            return render_internal_error()
        return render_listing(
            listing, query, self._provider_name(query.identity_provider_id), shared_by=shared_by
        )

    def _provider_name(self, identity_provider_id: str) -> str:
        try:
            provider = self._directory.identity_provider(identity_provider_id)
        except CloudflareError as error:
            log.warning("identity_provider_lookup_failed %s", error.describe())
            provider = None
        if provider is None or not provider.name:
            return f"identity provider {identity_provider_id}"
        return provider.name
