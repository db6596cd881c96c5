"""The bot's answers: a command's text or a button click in, a Slack message out.

Slack's listeners and the terminal preview both call this, so what a person sees in the
preview is what Slack would get. The service only dispatches: it reads the question, resolves
the identity provider, hands the question to its kind of answer (`bot.answers`) and audits it
(`bot.audit`). Every failure becomes a message; none escapes as an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.access import Caller
from bot.alerts import Watcher
from bot.answers import ANSWERS, DETAILS, details, home, parse_command
from bot.answers.kinds import Drawing, Subjects
from bot.audit import Outcome, audited
from bot.cache import NotCached, cached_only
from bot.cloudflare import CloudflareError, IdentityProvider
from bot.limits import RefreshLimit, RefreshThrottle
from bot.providers import ProviderChoice, resolve, resolve_and_find
from bot.query import (
    ACTION_FOLLOW,
    ACTION_REFRESH,
    ACTION_SHARE,
    BadInput,
    Detail,
    Query,
    Show,
    ShowHelp,
    decode_click,
)
from bot.replies import Reply
from bot.views import (
    Message,
    failure_sentence,
    render_bad_input,
    render_failure,
    render_help,
    render_home,
    render_internal_error,
    render_provider_choice,
)

log = logging.getLogger(__name__)

NOBODY = Caller(user_id="", channel_id="", team_id="", enterprise_id="")


class GroupsService:
    """Answers commands and clicks, each by its kind of answer."""

    def __init__(
        self,
        subjects: Subjects,
        *,
        default_provider_id: str | None,
        page_size: int,
        refreshes: RefreshLimit | None = None,
        watcher: Watcher | None = None,
        redis_usable: Callable[[], bool | None] = lambda: None,
        upstream: Callable[[], tuple[int, float | None]] = lambda: (0, None),
        budget: int = 0,
    ) -> None:
        self._subjects = subjects
        self._default_provider_id = default_provider_id
        self._page_size = page_size
        self._clock = subjects.clock
        self._refreshes = refreshes or RefreshThrottle(subjects.clock)
        # Not an answer: carried to the bot that starts it (bot.alerts).
        self.watcher = watcher
        self._redis_usable = redis_usable
        self._upstream, self._budget = upstream, budget

    def now(self) -> float:
        """Give back the clock's reading: when a command or click was asked, for its audit line."""
        return self._clock()

    def answer_command(self, text: str, caller: Caller = NOBODY, *, asked_at: float | None = None) -> Message:
        """Give back the answer to `/scim-groups <text>`, timed from `asked_at` (else from now)."""
        with audited(self._clock, "command", caller, asked_at=asked_at) as outcome:
            request = parse_command(text, page_size=self._page_size)
            if isinstance(request, ShowHelp):
                outcome.name = "help"
                return render_help()
            if isinstance(request, BadInput):
                outcome.name, outcome.text = "bad_input", request.reason
                return render_bad_input(request)
            return self._show(request, outcome, refresh=False)

    def answer_from_cache(self, text: str, caller: Caller = NOBODY) -> Message | None:
        """Give back the answer to `/scim-groups <text>` if it needs no call to Cloudflare, else None.

        This is what lets a repeat command be answered inside Slack's ack.
        """
        try:
            with cached_only():
                return self.answer_command(text, caller)
        except NotCached:
            return None

    def answer_click(
        self, action_id: str, value: str, caller: Caller = NOBODY, *, asked_at: float | None = None
    ) -> Reply:
        """Give back the answer to a click on one of the message's buttons, timed from `asked_at`."""
        click = decode_click(action_id, value)
        with audited(self._clock, "click", caller, action=click.action, asked_at=asked_at) as outcome:
            asks = click.asks
            if isinstance(asks, BadInput):
                outcome.name, outcome.text = "bad_input", asks.reason
                return Reply(render_bad_input(asks), replace_original=False)
            if isinstance(asks, Detail):
                # Opened from a shared page, the detail is the clicker's own, as paging is; and
                # its Back leads to their own copy of the page.
                own = replace(asks, back=replace(asks.back, shared=False))
                return Reply(self._detail(own, outcome), replace_original=not asks.back.shared)
            if click.action_id == ACTION_FOLLOW:  # another answer, beside the one clicked on
                return Reply(
                    self._show(replace(asks, shared=False), outcome, refresh=False), replace_original=False
                )
            if click.action_id == ACTION_SHARE:
                shared = self._show(
                    replace(asks, shared=True), outcome, refresh=False, shared_by=caller.user_id
                )
                return Reply(shared, replace_original=False, in_channel=True)
            wait = self._refreshes.wait(caller.user_id) if click.action_id == ACTION_REFRESH else None
            refresh = click.action_id == ACTION_REFRESH and wait is None
            if asks.shared:
                # A click on a shared message answers the clicker privately and leaves the
                # channel's copy as it is.
                private = replace(asks, shared=False)
                return Reply(
                    self._show(private, outcome, refresh=refresh, refresh_wait=wait), replace_original=False
                )
            return Reply(self._show(asks, outcome, refresh=refresh, refresh_wait=wait))

    def home(self, caller: Caller = NOBODY) -> dict[str, Any]:
        """Give back the caller's App Home view: failures per provider, the bot's health."""
        with audited(self._clock, "home", caller) as outcome:
            outcome.query = "home"
            try:
                found = home.find(self._subjects, self._redis_usable(), self._upstream, self._budget)
            except NotCached:
                raise
            except Exception:
                _internal_error(outcome, "the Home tab")
                raise
            outcome.name, outcome.results = "ok", len(found.failures)
            return render_home(found)

    def check_access(self, person: str, application: str, caller: Caller = NOBODY) -> dict[str, Any]:
        """Give back what the workflow step "Check access in Cloudflare" outputs for `why
        <person> <application>` in the default identity provider; raise `StepFailed` with one
        sentence when it cannot be answered."""
        kind = ANSWERS["why"]
        assert kind.outputs is not None
        request = Show(Query(why=(person, application)), page=1, page_size=self._page_size)
        with audited(self._clock, "step", caller) as outcome:
            outcome.query, outcome.text = "why", kind.asked(request.query)
            if not person.strip() or not application.strip():
                outcome.name = "bad_input"
                raise StepFailed("The step needs a person (a Slack user or an email) and an application.")

            def find(provider_id: str) -> Any:
                asked = replace(request, query=replace(request.query, provider=provider_id))
                return kind.find(self._subjects, asked, provider_id, False)

            try:
                subjects = self._subjects
                chosen = resolve_and_find(
                    subjects.groups, subjects.workers, None, self._default_provider_id, find
                )
            except CloudflareError as error:
                outcome.failed(error)
                raise StepFailed(failure_sentence(error)) from None
            if isinstance(chosen, ProviderChoice):
                outcome.name = "provider_choice"
                raise StepFailed(
                    "The account has several SCIM identity providers and a step cannot ask which: set "
                    "CLOUDFLARE_IDENTITY_PROVIDER_ID."
                )
            provider, found = chosen
            outcome.provider, outcome.name, outcome.results = provider.id, "ok", 1
            return kind.outputs(found)

    def _show(
        self,
        request: Show,
        outcome: Outcome,
        *,
        refresh: bool,
        shared_by: str | None = None,
        refresh_wait: float | None = None,
    ) -> Message:
        """Give back a page of the answer to `request`, by its kind."""
        subjects, query = self._subjects, request.query
        kind = ANSWERS[query.kind]
        if kind.windowed and not query.until:
            # Every page of this answer covers the same span, ending at the next whole minute.
            request = replace(request, query=replace(query, until=subjects.next_minute()))
            query = request.query
        outcome.query, outcome.text = query.kind, kind.asked(query)

        def asked_of(provider_id: str) -> Show:
            return replace(request, query=replace(query, provider=provider_id))

        def find(provider_id: str) -> Any:
            return kind.find(subjects, asked_of(provider_id), provider_id, refresh)

        try:
            groups, default = subjects.groups, self._default_provider_id
            chosen = resolve_and_find(groups, subjects.workers, query.provider, default, find)
            if isinstance(chosen, ProviderChoice):
                outcome.name, outcome.provider = "provider_choice", chosen.reason
                return render_provider_choice(chosen, request)
            provider, found = chosen
            outcome.provider, request = provider.id, asked_of(provider.id)
            outcome.shown(kind.page(found))
            drawing = Drawing(provider.name or f"identity provider {provider.id}", shared_by, refresh_wait)
            return kind.draw(found, request, drawing)
        except NotCached:
            raise
        except CloudflareError as error:
            outcome.failed(error)
            return render_failure(error)
        except Exception:
            return _internal_error(outcome, "groups")

    def _detail(self, detail: Detail, outcome: Outcome) -> Message:
        """Give back a group's detail (History, Used by), with the way back to its page."""
        kind = DETAILS[detail.kind]
        outcome.query, outcome.text = detail.kind, detail.group_id
        outcome.provider = detail.provider_id
        try:
            found = details.find(self._subjects, kind, detail, self._choose)
            if isinstance(found, ProviderChoice):  # not a SCIM provider of this account
                outcome.name, outcome.provider = "provider_choice", found.reason
                return render_provider_choice(found, detail.back)
            results, message = kind.draw(found)
        except Exception:
            return _internal_error(outcome, "a group's detail")
        outcome.detail_shown(results, found.problem, stale=found.stale is not None)
        return message

    def _choose(self, asked: str | None) -> IdentityProvider | ProviderChoice:
        return resolve(self._subjects.groups, asked, self._default_provider_id)


class StepFailed(Exception):
    """A workflow step could not be answered; `reason` says why, in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _internal_error(outcome: Outcome, what: str) -> Message:
    """Log the exception being handled, and give back the apology that stands for the answer."""
    outcome.name = "internal_error"
    log.exception("internal_error while showing %s", what)
    return render_internal_error()
