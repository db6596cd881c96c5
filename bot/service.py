"""The bot's answers: a command's text or a button click in, a Slack message out.

Slack's listeners and the terminal preview both call this, so what a person sees in the
preview is what Slack would get. Every failure becomes a message; none escapes as an exception.
Every command and click leaves one audit line: who, where, what, how it was served, how long.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from bot import metrics
from bot.access import Caller
from bot.cache import Cached, NotCached, Staleness, cached_only, is_cached_only
from bot.clock import Clock
from bot.cloudflare import CALLS, CloudflareError, IdentityProvider, ScimGroup
from bot.directory import Directory, Found, Held, Listing, LookupKind, ProviderChoice, choose_provider
from bot.limits import RefreshLimit, RefreshThrottle
from bot.logs import event
from bot.paging import Paged, page_of
from bot.pushes import GROUP_HISTORY_ROWS, HISTORY_DAYS, Pushes, ScimPush, Window
from bot.query import OUTDATED, BadInput, Detail, Show, ShowHelp, decode_button, decode_detail, parse_command
from bot.rules import AccessRules, Use, uses
from bot.settings import UUID_PATTERN
from bot.users import ScimUser, UserDirectory
from bot.views import (
    ACTION_HISTORY,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_USED_BY,
    ACTIONS,
    Message,
    render_bad_input,
    render_failure,
    render_failures,
    render_help,
    render_history,
    render_internal_error,
    render_listing,
    render_provider_choice,
    render_used_by,
    render_users,
)

log = logging.getLogger(__name__)

NOBODY = Caller(user_id="", channel_id="", team_id="", enterprise_id="")


@dataclass(frozen=True)
class Reply:
    """A message and how to deliver it in answer to a click."""

    message: Message
    # True: replace the message that was clicked; False: post a new message.
    replace_original: bool = True
    in_channel: bool = False


@dataclass(frozen=True)
class Answer:
    """What was found for a page request, before it is drawn."""

    listing: Listing
    missing: tuple[str, ...] = ()
    # Set when a search stopped before the directory's end: how many groups it read.
    searched: int | None = None
    # Set when the directory searched is read whole only now and then (the log cannot be read).
    held: Held | None = None


@dataclass(frozen=True)
class UsersAnswer:
    """The users found, a page of them, with each one's recent SCIM pushes when they could be read."""

    page: Paged[ScimUser]
    missing: tuple[str, ...]
    pushes: tuple[tuple[ScimPush, ...], ...]
    log_problem: CloudflareError | None
    # Set when the pushes shown are an older copy (the log failing): the oldest one's staleness.
    pushes_stale: Staleness | None = None


# What was found for a request, before it is drawn.
Finding = Answer | UsersAnswer | Paged[ScimPush]


@dataclass
class Outcome:
    """How one command or click went, for its audit line and metrics."""

    name: str = "ok"
    query: str = ""
    text: str = ""
    provider: str = ""
    results: int | None = None
    cache: str = "none"


class GroupsService:
    """Answers commands and clicks from the directory."""

    def __init__(
        self,
        directory: Directory,
        *,
        users: UserDirectory,
        pushes: Pushes,
        rules: AccessRules,
        default_provider_id: str | None,
        page_size: int,
        clock: Clock,
        refreshes: RefreshLimit | None = None,
    ) -> None:
        self._directory = directory
        self._users = users
        self._pushes = pushes
        self._rules = rules
        self._default_provider_id = default_provider_id
        self._page_size = page_size
        self._clock = clock
        self._refreshes = refreshes or RefreshThrottle(clock)

    def now(self) -> float:
        """Give back the clock's reading: when a command or click was asked, for its audit line."""
        return self._clock()

    def answer_command(self, text: str, caller: Caller = NOBODY, *, asked_at: float | None = None) -> Message:
        """Give back the answer to `/scim-groups <text>`, timed from `asked_at` (else from now)."""
        with self._audit("command", caller, asked_at=asked_at) as outcome:
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
        action_id = action_id.partition(":")[0]
        action = action_id.removeprefix("scim_groups_")
        with self._audit("click", caller, action=action, asked_at=asked_at) as outcome:
            if action_id in (ACTION_HISTORY, ACTION_USED_BY):
                detail = decode_detail(value)
                if isinstance(detail, BadInput) or detail.kind != action:  # History's value on Used by
                    outcome.name, outcome.text = "bad_input", OUTDATED.reason
                    return Reply(render_bad_input(OUTDATED), replace_original=False)
                # Opened from a shared page, the detail is the clicker's own, as paging is; and
                # its Back leads to their own copy of the page.
                own = replace(detail, back=replace(detail.back, shared=False))
                return Reply(self._detail(own, outcome), replace_original=not detail.back.shared)
            request = decode_button(value)
            if action_id not in ACTIONS:
                request = BadInput("That button is not one this bot knows; run `/scim-groups` again.")
            if isinstance(request, BadInput):
                outcome.name, outcome.text = "bad_input", request.reason
                return Reply(render_bad_input(request), replace_original=False)
            if action_id == ACTION_SHARE:
                shared = self._show(
                    replace(request, shared=True), outcome, refresh=False, shared_by=caller.user_id
                )
                return Reply(shared, replace_original=False, in_channel=True)
            wait = self._refreshes.wait(caller.user_id) if action_id == ACTION_REFRESH else None
            refresh = action_id == ACTION_REFRESH and wait is None
            if request.shared:
                # A click on a shared message answers the clicker privately and leaves the
                # channel's copy as it is.
                private = replace(request, shared=False)
                return Reply(
                    self._show(private, outcome, refresh=refresh, refresh_wait=wait), replace_original=False
                )
            return Reply(self._show(request, outcome, refresh=refresh, refresh_wait=wait))

    @contextmanager
    def _audit(
        self, kind: str, caller: Caller, *, action: str = "", asked_at: float | None = None
    ) -> Iterator[Outcome]:
        # Timed from when it was asked: an answer that waited its turn waited for the user too.
        started = self._clock() if asked_at is None else asked_at
        calls, outcome = list[str](), Outcome()
        token = CALLS.set(calls)
        try:
            yield outcome
        except NotCached:
            raise  # not an answer: the full one follows, and is the one accounted for
        except Exception:
            outcome.name = "internal_error"
            self._account(kind, caller, action, outcome, started, len(calls))
            raise
        else:
            self._account(kind, caller, action, outcome, started, len(calls))
        finally:
            CALLS.reset(token)

    def _account(
        self, kind: str, caller: Caller, action: str, outcome: Outcome, started: float, calls: int
    ) -> None:
        """Count the request in the metrics and write its audit line."""
        metrics.REQUESTS.labels(kind, outcome.name).inc()
        if outcome.cache != "none":
            metrics.CACHE.labels(outcome.cache).inc()
        fields = {"action": action} if action else {}
        # What was asked names people and groups: at DEBUG only (README, LOG_LEVEL).
        event(log, "asked", logging.DEBUG, user=caller.user_id, text=outcome.text)
        event(
            log,
            kind,
            user=caller.user_id,
            channel=caller.channel_id,
            team=caller.team_id,
            **fields,
            query=outcome.query,
            provider=outcome.provider,
            results=outcome.results,
            cache=outcome.cache,
            upstream_calls=calls,
            latency_ms=round((self._clock() - started) * 1000),
            outcome=outcome.name,
        )

    def _show(
        self,
        request: Show,
        outcome: Outcome,
        *,
        refresh: bool,
        shared_by: str | None = None,
        refresh_wait: float | None = None,
    ) -> Message:
        query = request.query
        if query.kind in ("failures", "changed") and not query.until:
            # Every page of this answer covers the same span, ending at the next whole minute.
            request = replace(request, query=replace(query, until=self._next_minute()))
            query = request.query
        outcome.query = query.kind
        values = query.ids or query.external_ids or query.either_ids or query.users
        outcome.text = query.search or ",".join(values)
        known_id = query.provider if query.provider is not None else self._default_provider_id
        try:
            early: Future[Finding] | None = None
            parallel = not is_cached_only() and not self._directory.knows_identity_providers()
            if parallel and known_id is not None and UUID_PATTERN.match(known_id):
                # The groups need not wait for the provider list (it only names the provider):
                # fetching both at once makes a cold answer one round trip, not two.
                guess = replace(request, query=replace(query, provider=known_id.lower()))
                early = self._directory.in_background(lambda: self._find(guess, known_id.lower(), refresh))
            provider = self._provider(query.provider)
            if isinstance(provider, ProviderChoice):
                outcome.name, outcome.provider = "provider_choice", provider.reason
                return render_provider_choice(provider, request)
            outcome.provider = provider.id
            request = replace(request, query=replace(query, provider=provider.id))
            answer = early.result() if early is not None else self._find(request, provider.id, refresh)
        except NotCached:
            raise
        except CloudflareError as error:
            outcome.name = f"failed_{type(error).__name__}"
            event(log, "cloudflare_failed", logging.WARNING, error=error.describe())
            return render_failure(error)
        except Exception:
            outcome.name = "internal_error"
            log.exception("internal_error while showing groups")
            return render_internal_error()
        name = provider.name or f"identity provider {provider.id}"
        if isinstance(answer, UsersAnswer):
            self._note(outcome, answer.page)
            return render_users(
                answer.page,
                request,
                name,
                missing=answer.missing,
                pushes=answer.pushes,
                log_problem=answer.log_problem,
                pushes_stale=answer.pushes_stale,
                shared_by=shared_by,
                refresh_wait=refresh_wait,
            )
        if isinstance(answer, Paged):
            self._note(outcome, answer)
            return render_failures(answer, request, name, shared_by=shared_by, refresh_wait=refresh_wait)
        listing = answer.listing
        self._note(outcome, listing)
        event(log, "shown", logging.DEBUG, groups=[group.display_name for group in listing.groups])
        return render_listing(
            listing,
            request,
            name,
            shared_by=shared_by,
            missing=answer.missing,
            searched=answer.searched,
            refresh_wait=refresh_wait,
            held=answer.held,
        )

    @staticmethod
    def _note(outcome: Outcome, page: Listing | Paged[ScimUser] | Paged[ScimPush]) -> None:
        """Note what was shown, for the audit line and the metrics."""
        outcome.results = page.total
        outcome.cache = (
            "stale" if page.stale else "aging" if page.aging else "hit" if page.from_cache else "miss"
        )
        outcome.name = "stale" if page.stale else "ok" if page.total else "empty"

    def _next_minute(self) -> int:
        return math.ceil(self._clock.time() / 60) * 60

    def _detail(self, detail: Detail, outcome: Outcome) -> Message:
        """Give back a group's History or Used by, with the way back to its page."""
        outcome.query, outcome.text = detail.kind, detail.group_id
        provider_id = detail.back.query.provider or ""  # a button always carries the UUID
        group: ScimGroup | None = None
        provider: IdentityProvider | ProviderChoice | None = None
        pushes: tuple[ScimPush, ...] = ()
        found: tuple[Use, ...] = ()
        missing_permission, problem = "", None
        copy: Cached[Any] | None = None  # the pushes or the graph: how fresh they are
        group_stale: Staleness | None = None

        def look_up() -> Found:
            return self._directory.lookup(provider_id, "id", (detail.group_id,))

        # The group, its provider's name, and its pushes or the Access graph: fetched at once,
        # unless the provider list is at hand to check the provider first (a button may be forged).
        listed = self._directory.knows_identity_providers()
        lookup = None if listed else self._directory.in_background(look_up)
        try:
            provider = self._provider(provider_id)
            if isinstance(provider, ProviderChoice):  # not a SCIM provider of this account
                outcome.name, outcome.provider = "provider_choice", provider.reason
                return render_provider_choice(provider, detail.back)
            lookup = lookup or self._directory.in_background(look_up)
            try:
                if detail.kind == "history":
                    until = self._next_minute()
                    span = Window(until - HISTORY_DAYS * 86_400, until)
                    recent = self._pushes.recent(provider_id, detail.group_id, span, limit=GROUP_HISTORY_ROWS)
                    pushes, copy = recent.value, recent
                else:
                    cached_graph = self._rules.graph()
                    graph, copy = cached_graph.value, cached_graph
                    missing_permission = graph.missing_permission
            except CloudflareError as error:
                problem = error
            looked_up = lookup.result()
            group, group_stale = next(iter(looked_up.groups), None), looked_up.stale
            if detail.kind == "used_by" and problem is None and group is not None:
                found = uses(graph, group, provider)
        except CloudflareError as error:
            problem = problem or error
        except Exception:
            outcome.name = "internal_error"
            log.exception("internal_error while showing a group's detail")
            return render_internal_error()
        if problem is not None:
            outcome.name = f"failed_{type(problem).__name__}"
            event(log, "cloudflare_failed", logging.WARNING, error=problem.describe())
        else:
            results = len(pushes) if detail.kind == "history" else len(found)
            outcome.name, outcome.results = ("ok" if results else "empty"), results
        named = isinstance(provider, IdentityProvider) and provider.name
        where = provider.name if isinstance(provider, IdentityProvider) and named else "its identity provider"
        # An older copy of the group or of what is shown about it makes the answer an older copy.
        stale = copy.stale if copy is not None else None
        stale = stale or group_stale
        fetched_at = copy.fetched_at if copy is not None else None
        if stale is not None:
            outcome.name = "stale"
        if detail.kind == "history":
            return render_history(
                group, detail, where, pushes=pushes, problem=problem, stale=stale, fetched_at=fetched_at
            )
        return render_used_by(
            group,
            detail,
            where,
            uses=found,
            missing_permission=missing_permission,
            problem=problem,
            stale=stale,
            fetched_at=fetched_at,
            aging=copy is not None and copy.aging,
        )

    def _provider(self, asked: str | None) -> IdentityProvider | ProviderChoice:
        try:
            providers = self._directory.identity_providers()
        except CloudflareError as error:
            wanted = self._default_provider_id if asked is None else asked
            if wanted is None or not UUID_PATTERN.match(wanted):
                raise
            # The groups can still be shown by id; only the provider's name is missing.
            event(log, "identity_providers_failed", logging.WARNING, error=error.describe())
            return IdentityProvider(id=wanted.lower(), name="", type="", scim_enabled=True)
        return choose_provider(providers, asked, self._default_provider_id)

    def _find(self, request: Show, provider_id: str, refresh: bool) -> Answer | UsersAnswer | Paged[ScimPush]:
        query = request.query
        kind = query.kind
        if kind == "browse":
            listing = self._directory.browse(
                provider_id, page=request.page, page_size=request.page_size, refresh=refresh
            )
            return Answer(listing)
        if kind in ("search", "changed"):
            found = (
                self._directory.search(provider_id, query.search, refresh=refresh)
                if kind == "search"
                else self._directory.changed(provider_id, query.until - query.changed, refresh=refresh)
            )
            return Answer(
                found.listing(request.page, request.page_size), searched=found.searched, held=found.held
            )
        if kind == "user":
            return self._find_users(request, provider_id, refresh)
        if kind == "failures":
            span = Window(query.until - query.failures, query.until)
            return self._pushes.failures(
                provider_id, span, page=request.page, page_size=request.page_size, refresh=refresh
            )
        values = query.ids or query.external_ids or query.either_ids
        lookup_kind: LookupKind = "id" if query.ids else "external" if query.external_ids else "any"
        found = self._directory.lookup(provider_id, lookup_kind, values, refresh=refresh)
        present = {group.id.lower() for group in found.groups} | {group.external_id for group in found.groups}
        missing = tuple(value for value in values if value not in present and value.lower() not in present)
        return Answer(found.listing(request.page, request.page_size), missing=missing)

    def _find_users(self, request: Show, provider_id: str, refresh: bool) -> UsersAnswer:
        found = self._users.lookup(provider_id, request.query.users, refresh=refresh)
        page = page_of(found.users, found.cached, request.page, request.page_size)
        until = self._next_minute()
        span = Window(until - HISTORY_DAYS * 86_400, until)

        def history(user: ScimUser) -> Cached[tuple[ScimPush, ...]] | None:
            return self._pushes.recent(provider_id, user.id, span, refresh=refresh) if user.id else None

        try:
            histories = self._directory.in_parallel(history, page.items)
        except CloudflareError as error:  # the users are still an answer
            event(log, "scim_log_failed", logging.WARNING, error=error.describe())
            return UsersAnswer(page, found.missing, (), error)
        pushes = tuple(cached.value if cached is not None else () for cached in histories)
        stale = [cached.stale for cached in histories if cached is not None and cached.stale is not None]
        oldest = max(stale, key=lambda staleness: staleness.age_seconds, default=None)
        return UsersAnswer(page, found.missing, pushes, None, oldest)
