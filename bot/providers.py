"""Which identity provider a question is about: the one named (by id or name), the configured
default, or the only one with SCIM; and when none fits, why, with the ones to pick from."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal, TypeVar

from bot.cache import is_cached_only
from bot.cloudflare import CloudflareError, IdentityProvider
from bot.directory import Directory
from bot.logs import event
from bot.settings import UUID_PATTERN
from bot.workers import Workers

F = TypeVar("F")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderChoice:
    """No single identity provider fits: why, and the SCIM-enabled ones to pick from."""

    reason: Literal["several", "none", "unknown", "ambiguous", "not_scim"]
    asked: str | None
    choices: tuple[IdentityProvider, ...]


def choose_provider(
    providers: tuple[IdentityProvider, ...], asked: str | None, default_id: str | None
) -> IdentityProvider | ProviderChoice:
    """Give back the identity provider that `asked` (an id, a name, or None) means.

    None means the default: the configured one, else the only SCIM-enabled one. A name matches
    case-insensitively, whole first, then as a unique part of a name.
    """
    scim = tuple(provider for provider in providers if provider.scim_enabled)
    wanted = default_id if asked is None else asked
    if wanted is None:
        if len(scim) == 1:
            return scim[0]
        return ProviderChoice("several" if scim else "none", None, scim)
    if UUID_PATTERN.match(wanted):
        by_id = [provider for provider in providers if provider.id.lower() == wanted.lower()]
        if by_id and (by_id[0].scim_enabled or asked is None):
            return by_id[0]
        if by_id:
            return ProviderChoice("not_scim", by_id[0].name or wanted, scim)
        if asked is None:  # the configured default, even if the list is partial
            return IdentityProvider(id=wanted.lower(), name="", type="", scim_enabled=True)
        return ProviderChoice("unknown", asked, scim)
    name = wanted.casefold()
    for matches in (
        [p for p in scim if p.name.casefold() == name],
        [p for p in scim if name in p.name.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            return ProviderChoice("ambiguous", wanted, tuple(matches))
    if any(name == provider.name.casefold() for provider in providers):
        return ProviderChoice("not_scim", wanted, scim)
    return ProviderChoice("unknown", wanted, scim)


def resolve(
    directory: Directory, asked: str | None, default_id: str | None
) -> IdentityProvider | ProviderChoice:
    """Give back the provider `asked` means, from the account's list; when the list cannot be
    read, a provider named by id is still one (only its name is missing)."""
    try:
        providers = directory.identity_providers()
    except CloudflareError as error:
        wanted = default_id if asked is None else asked
        if wanted is None or not UUID_PATTERN.match(wanted):
            raise
        event(log, "identity_providers_failed", logging.WARNING, error=error.describe())
        return IdentityProvider(id=wanted.lower(), name="", type="", scim_enabled=True)
    return choose_provider(providers, asked, default_id)


def resolve_and_find(
    directory: Directory,
    workers: Workers,
    asked: str | None,
    default_id: str | None,
    find: Callable[[str], F],
) -> tuple[IdentityProvider, F] | ProviderChoice:
    """Give back the provider `asked` means and what `find` finds in it (given its UUID), or
    the choice to offer instead.

    While the account's provider list is not known yet, a provider named by its UUID is read
    from at once, alongside the list: the answer need not wait for the list, which only names
    the provider, so a cold answer is one round trip, not two.
    """
    known = default_id if asked is None else asked
    early: Future[F] | None = None
    listed = is_cached_only() or directory.knows_identity_providers()
    if not listed and known is not None and UUID_PATTERN.match(known):
        early = workers.in_background(lambda: find(known.lower()))
    provider = resolve(directory, asked, default_id)
    if isinstance(provider, ProviderChoice):
        return provider
    return provider, early.result() if early is not None else find(provider.id)
