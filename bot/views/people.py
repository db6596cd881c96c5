"""SCIM users and SCIM pushes: who the identity provider pushed, and what failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.cache import Staleness
from bot.cloudflare import CloudflareError, ScimGroup
from bot.members import MemberChange
from bot.paging import Paged
from bot.pushes import GROUP_HISTORY_ROWS, HISTORY_DAYS, ScimPush
from bot.query import Detail, Show
from bot.users import ScimUser
from bot.views.answers import failure_sentence
from bot.views.blocks import (
    MAX_MISSING_SHOWN,
    NAME_LIMIT,
    Message,
    changed_line,
    code,
    codes,
    fallback,
    fetched,
    footer,
    header,
    id_line,
    note,
    notes,
    paging_buttons,
    plain_note,
    section,
    stale_note,
    summary,
    window,
)
from bot.views.groups import Elsewhere, back_row, detail_top, elsewhere_blocks
from bot.views.rich import Outside, Part, Person, bullets, moment, rich

USERS = "SCIM users"  # a page of them is called


@dataclass(frozen=True)
class GroupChange:
    """A group push that added a person to its group, or removed them."""

    push: ScimPush
    change: Literal["added", "removed"]


EMAILS_SHOWN = 3
# Five pushes and a user's details must fit one section (3,000 characters).
ERROR_LIMIT = 200


def render_users(
    page: Paged[ScimUser],
    request: Show,
    provider_name: str,
    *,
    missing: tuple[str, ...],
    pushes: tuple[tuple[ScimPush, ...], ...],
    log_problem: CloudflareError | None,
    pushes_stale: Staleness | None = None,
    shared_by: str | None = None,
    refresh_wait: float | None = None,
    unresolved: tuple[tuple[str, str], ...] = (),
    named: str | None = None,
    searched: int | None = None,
    elsewhere: tuple[Elsewhere, ...] = (),
    group_changes: tuple[tuple[GroupChange, ...], ...] = (),
    changes_since: datetime | None = None,
    changes_unread: int = 0,
    changes_problem: CloudflareError | None = None,
) -> Message:
    """Give back a page of SCIM users, each with their recent pushes and the groups that added or
    removed them (`group_changes`, in step with the page; empty when not read) (`pushes`, in step with the
    page's users), or why those could not be read (`log_problem`), or why they are an older
    copy (`pushes_stale`); and the Slack mentions that could not be read as an email, and why
    (`unresolved`: their user ids and a sentence each). `named`: the words of a search by name,
    `searched` how many users it read when the list was cut short; `elsewhere`: the account's
    other providers that have the users not found here."""
    blocks: list[dict[str, Any]] = [header(f"{USERS} · {provider_name}")]
    blocks.extend(notes(page.stale, refresh_wait))
    if pushes_stale is not None and page.items and log_problem is None:
        blocks.append(note(f"SCIM pushes: {stale_note(pushes_stale).removeprefix('⚠️ ')}"))
    if page.items and log_problem is not None:
        blocks.append(plain_note(f"SCIM pushes are not shown. {failure_sentence(log_problem)}"))
    elif page.items and changes_problem is not None:
        blocks.append(plain_note(f"Group changes are not shown. {failure_sentence(changes_problem)}"))
    for index, user in enumerate(page.items):
        history = None if log_problem is not None or index >= len(pushes) else pushes[index]
        blocks.append(rich(*_user(user)))
        if history is not None:
            blocks.append(_history(history))
        if history is not None and index < len(group_changes):  # under the pushes, in their block
            more = _group_changes(group_changes[index], changes_since, changes_unread)
            blocks[-1]["elements"] += more["elements"]
    blocks.extend(rich([Person(user_id), f" — {why}"]) for user_id, why in unresolved[:MAX_MISSING_SHOWN])
    where = Outside(provider_name, NAME_LIMIT, bold=True)
    if not page.items and page.page == 1 and named is not None:
        blocks.append(
            rich(
                [
                    "No SCIM user in ",
                    where,
                    " has “",
                    Outside(named, NAME_LIMIT),
                    "” in their name. Cloudflare only knows the users the identity provider pushed to "
                    "it: check the spelling, give their email, or check whether the person is assigned "
                    "to the app in the identity provider.",
                ]
            )
        )
    elif not page.items and page.page == 1 and (missing or not unresolved):
        blocks.append(
            rich(
                [
                    "No SCIM user in ",
                    where,
                    " has the email or id ",
                    *codes(missing),
                    ". Cloudflare only knows the users the identity provider pushed to it: check the "
                    "address, or whether the person is assigned to the app in the identity provider.",
                ]
            )
        )
    elif missing:
        blocks.append(rich(["Not found: ", *codes(missing), "."]))
    blocks.extend(elsewhere_blocks(elsewhere, request, nouns=("user", "users")))
    empty = not page.items and page.page == 1
    blocks.extend(
        footer(page, ("user found", "users found"), shared_by, searched, counted=not empty, read="users")
    )
    blocks.append(paging_buttons(page, request))
    if empty and named is not None:
        return {"text": fallback(f"No SCIM user in {provider_name} is called “{named}”"), "blocks": blocks}
    if empty:
        said = f"{len(missing)} {'user' if len(missing) == 1 else 'users'} not found in {provider_name}"
        return {"text": fallback(said), "blocks": blocks}
    return {"text": summary(USERS, provider_name, page, missing=len(missing)), "blocks": blocks}


def render_failures(
    page: Paged[ScimPush],
    request: Show,
    provider_name: str,
    *,
    shared_by: str | None = None,
    refresh_wait: float | None = None,
) -> Message:
    """Give back a page of failed SCIM pushes, newest first; none is an answer too."""
    query = request.query
    title = f"Failed SCIM pushes, last {window(query.failures)}"
    blocks: list[dict[str, Any]] = [header(f"{title} · {provider_name}")]
    blocks.extend(notes(page.stale, refresh_wait))
    blocks.extend(rich(_push(push, about=True)) for push in page.items)
    if not page.items:
        where = Outside(provider_name, NAME_LIMIT, bold=True)
        blocks.append(
            rich(
                ["No failed SCIM pushes from ", where, f" in the last {window(query.failures)}."]
                if page.page == 1
                else ["There are no more failed pushes: the page before this one was the last."]
            )
        )
    empty = not page.items and page.page == 1
    blocks.extend(footer(page, ("failed push", "failed pushes"), shared_by, counted=not empty))
    blocks.append(paging_buttons(page, request))
    if empty:
        said = f"No failed SCIM pushes from {provider_name} in the last {window(query.failures)}"
        return {"text": fallback(said), "blocks": blocks}
    return {"text": summary(title, provider_name, page), "blocks": blocks}


def _user(user: ScimUser) -> list[list[Part]]:
    name = user.display_name or user.user_name
    state = {
        True: ["active"],
        False: ["*deactivated* by the identity provider"],
        None: ["active or not: not reported"],
    }
    known = user.emails or ()
    emails: list[Part] = []
    for index, email in enumerate(known[:EMAILS_SHOWN]):
        emails += [", "] if index else []
        emails.append(Outside(email, NAME_LIMIT))
    more = len(known) - EMAILS_SHOWN
    emails += [f" and {more} more"] if more > 0 else []
    if not emails:
        emails = [
            "No email"
            if user.emails is not None
            else "Emails unknown: Cloudflare sent them in a form the bot cannot read"
        ]
    return [
        [Outside(name, NAME_LIMIT, bold=True) if name else "(no name)", " — ", *state[user.active]],
        emails,
        [*changed_line(user.last_modified), " · created ", moment(user.created, ago=False)],
        id_line(user.external_id, user.id),
    ]


def _group_changes(changes: tuple[GroupChange, ...], since: datetime | None, unread: int) -> dict[str, Any]:
    """Give back the groups that added or removed a person in the last days, newest first, and
    what the answer rests on when the pushes read do not cover the whole window."""
    limits: list[list[Part]] = []
    if since is not None:
        limits.append(
            ["(Only the group pushes since ", moment(since, ago=False), " were read: there are more.)"]
        )
    if unread:
        pushes = "push" if unread == 1 else "pushes"
        limits.append([f"({unread:,} large group {pushes} named more members than were read.)"])
    if not changes:
        return rich([f"No group added or removed them in the last {HISTORY_DAYS} days."], *limits)
    items: list[list[Part]] = []
    for found in changes:
        name = found.push.group_name or found.push.idp_resource_id
        where: Part = Outside(name, NAME_LIMIT, bold=True) if name else "a group"
        verb = "added to " if found.change == "added" else "removed from "
        items.append([verb, where, " · ", moment(found.push.logged_at, ago=True)])
    return bullets([[f"Group changes, last {HISTORY_DAYS} days (newest first):"], *limits], items)


def _history(pushes: tuple[ScimPush, ...]) -> dict[str, Any]:
    if not pushes:
        return rich([f"No SCIM pushes about this user in the last {HISTORY_DAYS} days."])
    return bullets(
        [[f"SCIM pushes, last {HISTORY_DAYS} days (newest first):"]],
        [_push(push, about=False) for push in pushes],
    )


def _push(push: ScimPush, *, about: bool) -> list[Part]:
    outcome = "❌ failed" if push.failed else "✅ succeeded" if push.succeeded else "(outcome not reported)"
    what: list[Part] = []
    if about:
        if push.group_name or push.resource_type.upper() == "GROUP":
            what = (
                [" of group ", Outside(push.group_name, NAME_LIMIT, bold=True)]
                if push.group_name
                else [" of a group"]
            )
        else:
            what = (
                [" of user ", Outside(push.user_email, NAME_LIMIT, bold=True)]
                if push.user_email
                else [" of a user"]
            )
        what += [" (", code(push.idp_resource_id), ")"] if push.idp_resource_id else []
    method: Part = Outside(push.method, 10) if push.method else "push"
    line: list[Part] = [moment(push.logged_at, ago=False), " · ", method, *what, f" {outcome}"]
    if push.failed:
        line += [": ", Outside(push.error, ERROR_LIMIT) if push.error else "Cloudflare gave no reason"]
    return line


# Members named on one push's line: Slack's limit on a message's text bounds twenty pushes.
MEMBERS_SHOWN = 5


def _members(change: MemberChange | None, emails: Mapping[str, str]) -> list[Part]:
    """Give back what a push did to the group's members, as the end of its line."""
    if change is None:
        return []
    parts: list[Part] = []
    if change.cleared:
        parts.append(" · every member removed")
    if change.replaced is not None and not change.cleared:
        parts += [
            f" · members set to {change.replaced_count:,}: ",
            *_named(change.replaced, change.replaced_count, emails),
        ]
    if change.added_count:
        parts += [" · + ", *_named(change.added, change.added_count, emails)]
    if change.removed_count:
        parts += [" · − ", *_named(change.removed, change.removed_count, emails)]
    if change.other:
        parts.append(" · other changes (details not shown)" if parts else " · changed (details not shown)")
    return parts


def _named(ids: tuple[str, ...], count: int, emails: Mapping[str, str]) -> list[Part]:
    parts: list[Part] = []
    for index, member in enumerate(ids[:MEMBERS_SHOWN]):
        parts += ([", "] if index else []) + [Outside(emails.get(member, member), NAME_LIMIT)]
    if count > MEMBERS_SHOWN:
        parts.append(f" and {count - MEMBERS_SHOWN:,} more")
    return parts or ["none"]


def render_history(
    group: ScimGroup | None,
    detail: Detail,
    provider_name: str,
    *,
    pushes: tuple[ScimPush, ...],
    problem: CloudflareError | None,
    stale: Staleness | None = None,
    fetched_at: float | None = None,
    emails: Mapping[str, str] | None = None,
) -> Message:
    """Give back one group's SCIM pushes of the last days, newest first, each with who it added
    and removed (`emails` by member id; an id without one is shown as the id), with ◀ Back to the
    page it was opened from; `problem`: why the pushes (or the group) could not be read; `stale`:
    why they are an older copy."""
    name, blocks, body = detail_top("History of ", group, detail, provider_name, problem, stale)
    if body and not pushes:
        blocks.append(section(f"No SCIM pushes about this group in the last {HISTORY_DAYS} days."))
    elif body:
        # What a push did to the members, once Cloudflare took it (a refused push changed nothing).
        lines = [
            _push(push, about=False) + (_members(push.members, emails or {}) if push.succeeded else [])
            for push in pushes
        ]
        blocks.append(bullets([], lines))
        newest = f"the newest {len(pushes)} of " if len(pushes) >= GROUP_HISTORY_ROWS else ""
        blocks.append(
            note(f"SCIM pushes about this group: {newest}the last {HISTORY_DAYS} days, newest first.")
        )
    if body:
        blocks.extend(fetched(fetched_at, aging=False))
    blocks.append(back_row(detail))
    return {"text": fallback(f"History of {name} in {provider_name}"), "blocks": blocks}
