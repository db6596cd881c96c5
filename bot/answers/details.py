"""What every detail of a group (History, Used by) finds before its own part: the group itself
and its identity provider, read alongside what the detail shows about it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.answers.kinds import DetailFound, DetailKind, Subjects
from bot.cache import Cached, Staleness
from bot.cloudflare import CloudflareError, IdentityProvider, ScimGroup
from bot.directory import Found
from bot.providers import ProviderChoice
from bot.query import Detail

T = TypeVar("T")


def find(
    subjects: Subjects,
    kind: DetailKind[T],
    detail: Detail,
    choose: Callable[[str], IdentityProvider | ProviderChoice],
) -> DetailFound[T] | ProviderChoice:
    """Give back what was found for `detail`, or the choice of provider when the button's is not
    a SCIM provider of this account (`choose` says which it is). A failing Cloudflare is part of
    what was found, not raised: the detail still shows what could be read."""
    provider_id = detail.provider_id
    provider: IdentityProvider | None = None
    group: ScimGroup | None = None
    group_stale: Staleness | None = None
    copy: Cached[T] | None = None
    problem: CloudflareError | None = None

    def look_up() -> Found:
        return subjects.groups.lookup(provider_id, "id", (detail.group_id,))

    # The group, its provider's name, and what is shown about it: fetched at once, unless the
    # provider list is at hand to check the provider first (a button may be forged).
    listed = subjects.groups.knows_identity_providers()
    lookup = None if listed else subjects.workers.in_background(look_up)
    try:
        chosen = choose(provider_id)
        if isinstance(chosen, ProviderChoice):
            return chosen
        provider = chosen
        lookup = lookup or subjects.workers.in_background(look_up)
        try:
            copy = kind.fetch(subjects, detail)
        except CloudflareError as error:
            problem = error
        looked_up = lookup.result()
        group, group_stale = next(iter(looked_up.groups), None), looked_up.stale
    except CloudflareError as error:
        problem = problem or error
    return DetailFound(detail, provider, group, copy, problem, group_stale)
