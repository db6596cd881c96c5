"""`/scim-groups user:jane@example.com`: SCIM users by email or id, each with their SCIM pushes of
the last 7 days when the log can be read."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from bot.answers.kinds import Drawing, PageKind, Subjects, elsewhere
from bot.cache import Cached, Staleness
from bot.cloudflare import CloudflareError
from bot.logs import event
from bot.paging import Paged, page_of
from bot.pushes import HISTORY_DAYS, MEMBER_ROWS, ScimPush, Window
from bot.query import (
    ID_SHAPED,
    MAX_IDS,
    MAX_IDS_IN_BUTTON,
    MAX_VALUE_LENGTH,
    SLACK_MENTION,
    BadInput,
    Option,
    Parts,
    Query,
    Reading,
    Show,
    console_link,
    unique,
)
from bot.settings import UUID_PATTERN
from bot.slack_people import Unresolved
from bot.users import ScimUser
from bot.views import Elsewhere, GroupChange, Message, render_users

log = logging.getLogger(__name__)

USER = Option(("user", "users"), "jane@example.com")
# A person's page in their identity provider's admin console holds their id there, which is
# their external id here: Okta's `…/admin/user/profile/view/00u…`, Entra's `…/userId/<object id>`.
USER_URL = console_link("/admin/user/profile/view/", "/userId/")
# Slack drops a message whose blocks hold much more than 12,000 characters of text in all: a
# user with five pushes takes more room than a group, so a page holds fewer.
USERS_PER_PAGE = 4
# A person's group changes shown: the newest.
MAX_CHANGES = 5


@dataclass(frozen=True)
class Users:
    """The users found, a page of them, with each one's recent SCIM pushes when they could be read."""

    page: Paged[ScimUser]
    missing: tuple[str, ...]
    pushes: tuple[tuple[ScimPush, ...], ...]
    log_problem: CloudflareError | None
    # Set when the pushes shown are an older copy (the log failing): the oldest one's staleness.
    pushes_stale: Staleness | None = None
    # The Slack mentions that could not be read as an email, and why.
    unresolved: tuple[Unresolved, ...] = ()
    # Set for a search by name: the words, and how many users were read when the list was cut short.
    named: str | None = None
    searched: int | None = None
    # When none was found: the account's other providers that have them.
    elsewhere: tuple[Elsewhere, ...] = ()
    # For each user, the group pushes of the last days that added or removed them (in step with
    # the page), and what that rests on: how far back the pushes read go, and how many large
    # pushes named more members than were kept.
    group_changes: tuple[tuple[GroupChange, ...], ...] = ()
    changes_since: datetime | None = None
    changes_unread: int = 0
    changes_problem: CloudflareError | None = None


def read(parts: Parts, page_size: int) -> Show | BadInput | None:
    """Give back the lookup of the users after `user:` (every word after it is one more user; a
    link to a person in an admin console is their id), or of a command of such links alone;
    None for any other command."""
    pasted = [USER_URL.fullmatch(word) for word in parts.words]
    if USER.name not in parts.options and not (parts.words and all(pasted)):
        return None
    asked = parts.values.get(USER.name, []) + parts.words
    users = unique([_pasted(value) for value in asked])
    if not users:
        return BadInput(f"`user:` needs a value after it, like `user:{USER.example}`.")
    if any(value.startswith("@") for value in users):  # typed, not picked: Slack sent no one
        return BadInput(
            "Pick the person from Slack's list as you type `@`, so that Slack says who they are, or "
            f"give their email or SCIM id, like `user:{USER.example}`."
        )
    if len(users) > MAX_IDS:
        return BadInput(f"Look up at most {MAX_IDS} users at a time (you gave {len(users)}).")
    if any(len(value) > MAX_VALUE_LENGTH for value in users):
        return BadInput(f"An email or id is at most {MAX_VALUE_LENGTH} characters long.")
    if len(json.dumps(users, ensure_ascii=False)) > MAX_IDS_IN_BUTTON:
        return BadInput(
            f"Those {len(users)} users are too many to look up together: split them over two commands."
        )
    query = Query(provider=parts.provider, users=tuple(users))
    return Show(query, page=1, page_size=min(page_size, USERS_PER_PAGE))


def _pasted(value: str) -> str:
    """Give back the email or id a pasted value stands for: a link's address or id."""
    url = USER_URL.fullmatch(value)
    return url.group(1) if url else value.removeprefix("mailto:")


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Users:
    """Give back the page of users asked for (a Slack mention by its person's email), and their
    pushes (read in parallel)."""
    asked, unresolved = _emails_of_mentions(subjects, request.query.users)
    if not asked:  # only mentions, none of which could be read: nothing to ask Cloudflare
        nobody: Paged[ScimUser] = Paged((), 1, request.page_size, False, 0, False, from_cache=False)
        return Users(nobody, (), (), None, unresolved=unresolved)
    if all(_is_name(value) for value in asked) and not unresolved:  # `user:Katherine Johnson`
        named = subjects.users.named(provider_id, " ".join(asked), refresh=refresh)
        # One word no name holds may still be an identity provider's id without a digit in it.
        if named.users or len(asked) > 1:
            page = page_of(named.users, named.cached, request.page, request.page_size)
            everyone = named.cached.value
            searched = None if everyone.complete else len(everyone.users)
            users = _with_pushes(subjects, provider_id, refresh, page, ())
            return replace(users, named=" ".join(asked), searched=searched)
    found = subjects.users.lookup(provider_id, asked, refresh=refresh)
    page = page_of(found.users, found.cached, request.page, request.page_size)
    users = _with_pushes(subjects, provider_id, refresh, page, found.missing)
    if not found.users:  # maybe another provider of the account has them

        def count(other: str) -> int:
            return len(subjects.users.lookup(other, asked, refresh=refresh).users)

        users = replace(users, elsewhere=elsewhere(subjects, provider_id, count))
    return replace(users, unresolved=unresolved) if unresolved else users


def _is_name(value: str) -> bool:
    """Give back whether `value` can only be (part of) a person's name: no email, no id."""
    return "@" not in value and not UUID_PATTERN.match(value) and not ID_SHAPED.fullmatch(value)


def _emails_of_mentions(
    subjects: Subjects, values: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[Unresolved, ...]]:
    """Give back the values to look up, each mention read as its person's email, and the
    mentions that could not be."""
    asked: list[str] = []
    unresolved: list[Unresolved] = []
    for value in values:
        mention = SLACK_MENTION.fullmatch(value)
        try:
            asked.append(subjects.people.email_of(mention.group(1)) if mention else value)
        except Unresolved as why:
            unresolved.append(why)
    return tuple(dict.fromkeys(asked)), tuple(unresolved)


def _with_pushes(
    subjects: Subjects, provider_id: str, refresh: bool, page: Paged[ScimUser], missing: tuple[str, ...]
) -> Users:
    """Give back the page of users found with each one's recent pushes, read in parallel."""
    until = subjects.next_minute()
    span = Window(until - HISTORY_DAYS * 86_400, until)

    def history(user: ScimUser) -> Cached[tuple[ScimPush, ...]] | None:
        return subjects.pushes.recent(provider_id, user.id, span, refresh=refresh) if user.id else None

    # The group pushes of the window, read once for every user on the page, alongside their own.
    read_members = subjects.pushes.reads_members and any(user.id for user in page.items)
    groups = (
        subjects.workers.in_background(
            lambda: subjects.pushes.group_changes(provider_id, span, refresh=refresh)
        )
        if read_members
        else None
    )
    try:
        histories = subjects.workers.in_parallel(history, page.items)
    except CloudflareError as error:  # the users are still an answer
        event(log, "scim_log_failed", logging.WARNING, error=error.describe())
        return Users(page, missing, (), error)
    pushes = tuple(cached.value if cached is not None else () for cached in histories)
    stale = [cached.stale for cached in histories if cached is not None and cached.stale is not None]
    oldest = max(stale, key=lambda staleness: staleness.age_seconds, default=None)
    found = Users(page, missing, pushes, None, oldest)
    if groups is None:
        return found
    try:
        group_pushes = groups.result()
    except CloudflareError as error:  # their own pushes are still shown
        event(log, "group_changes_failed", logging.WARNING, error=error.describe())
        return replace(found, changes_problem=error)
    rows = group_pushes.value
    # A full page of pushes may not reach back to the window's start: say how far it goes.
    return replace(
        found,
        pushes_stale=max(
            (s for s in (oldest, group_pushes.stale) if s is not None),
            key=lambda staleness: staleness.age_seconds,
            default=None,
        ),
        group_changes=tuple(changes_of(user, rows) for user in page.items),
        changes_since=rows[-1].logged_at if len(rows) >= MEMBER_ROWS else None,
        changes_unread=sum(1 for push in rows if push.members is not None and push.members.truncated),
    )


def changes_of(user: ScimUser, group_pushes: tuple[ScimPush, ...]) -> tuple[GroupChange, ...]:
    """Give back the group pushes that added or removed `user` (by their Cloudflare id), newest
    first, MAX_CHANGES at most."""
    found: list[GroupChange] = []
    for push in group_pushes:
        change = push.members
        if change is None or not user.id:
            continue
        if user.id in change.added or (change.replaced is not None and user.id in change.replaced):
            found.append(GroupChange(push, "added"))
        elif user.id in change.removed:
            found.append(GroupChange(push, "removed"))
    return tuple(found[:MAX_CHANGES])


def draw(found: Users, request: Show, drawing: Drawing) -> Message:
    """Give back the page of users as a message."""
    return render_users(
        found.page,
        request,
        drawing.provider_name,
        missing=found.missing,
        pushes=found.pushes,
        log_problem=found.log_problem,
        pushes_stale=found.pushes_stale,
        shared_by=drawing.shared_by,
        refresh_wait=drawing.refresh_wait,
        unresolved=tuple((why.user_id, why.why) for why in found.unresolved),
        named=found.named,
        searched=found.searched,
        elsewhere=found.elsewhere,
        group_changes=found.group_changes,
        changes_since=found.changes_since,
        changes_unread=found.changes_unread,
        changes_problem=found.changes_problem,
    )


ANSWER = PageKind(
    find=find,
    draw=draw,
    page=lambda found: found.page,
    asked=lambda query: ",".join(query.users),
    reading=Reading(options=(USER,), read=read),
)
