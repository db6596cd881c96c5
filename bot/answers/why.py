"""`/scim-groups why jane@example.com grafana.example.com`: would Access let this person into that
application, and why — its policies in the order Access evaluates them, each rule checked
against what Cloudflare knows of the person (`bot.verdicts`), with their SCIM state, their
recent logins and the failed SCIM pushes that may explain it.

What is read, in two rounds of parallel calls: the Access graph (applications, policies, Access
groups: cached, the same one Used by reads), the person's SCIM user, the Zero Trust user registry
and the authentication log; then the identity Access last saw for them, their recent SCIM pushes,
and the failed pushes of the groups the application's policies name. Each source is optional:
what cannot be read (a permission missing, Cloudflare failing) is named in the answer, and every
rule that rests on it is marked unknown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Literal, TypeVar

from bot.access_users import AccessUser, Identity, Login
from bot.answers.kinds import Drawing, PageKind, Subjects
from bot.cache import Cached, NotCached
from bot.cloudflare import CloudflareError, IdentityProvider
from bot.paging import Paged
from bot.pushes import HISTORY_DAYS, ScimPush, Window
from bot.query import MAX_VALUE_LENGTH, SLACK_MENTION, BadInput, Parts, Query, Reading, Show
from bot.rules import AccessGraph, App, Rule, RuleLists
from bot.slack_people import Unresolved
from bot.users import ScimUser
from bot.verdicts import Facts, Verdict, decide, offered
from bot.views import Message, Read, Why, render_why

T = TypeVar("T")
EXAMPLE = "/scim-groups why jane@example.com grafana.example.com"
# An email as people type it: something, an @, a domain with a dot.
EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
# A link someone pasted to the application: its host and path are what an application's domain holds.
APP_URL = re.compile(r"https?://([^\s?#]+)", re.IGNORECASE)
# The most logins to the application shown, and the most applications offered to choose from.
MAX_LOGINS = 5
MAX_CHOICES = 5
# A step's reason output: one line.
MAX_REASON = 500
# Rules naming a group by name, by identity-provider id: how the SCIM log is asked about them.
BY_NAME = {"okta": "name", "saml": "attribute_value", "oidc": "claim_value"}
BY_ID = {"azureAD": "id"}
BY_NAME_FILTER: Literal["resource_group_name"] = "resource_group_name"
BY_ID_FILTER: Literal["idp_resource_id"] = "idp_resource_id"


def read(parts: Parts, page_size: int) -> Show | BadInput | None:
    """Give back `why <person> <application>` (in either order), or why it cannot be read; None
    for a command that does not begin with `why`."""
    if not parts.words or parts.words[0].lower() != "why" or parts.options:
        return None
    words = parts.words[1:]
    people = [word for word in words if EMAIL.fullmatch(word) or SLACK_MENTION.fullmatch(word)]
    if any(word.startswith("@") and not EMAIL.fullmatch(word) for word in words):
        return BadInput(
            "Pick the person from Slack's list as you type `@`, so that Slack says who they are, or "
            f"give their email, like `{EXAMPLE}`."
        )
    app = " ".join(word for word in words if word not in people).strip()
    if not people:
        return BadInput(
            f"`why` needs the person's email (or pick them with `@`) and the application: `{EXAMPLE}`."
        )
    if len(people) > 1:
        return BadInput(f"Ask `why` about one person at a time: `{EXAMPLE}`.")
    if not app:
        return BadInput(f"`why` needs the application too, by its name or domain: `{EXAMPLE}`.")
    if len(people[0]) > MAX_VALUE_LENGTH or len(app) > MAX_VALUE_LENGTH:
        return BadInput(f"An email or an application's name is at most {MAX_VALUE_LENGTH} characters long.")
    return Show(Query(provider=parts.provider, why=(people[0], app)), page=1, page_size=page_size)


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Why:
    """Give back the verdict for the person at the application, with what it rests on."""
    person, asked_app = request.query.why
    mention = SLACK_MENTION.fullmatch(person)
    try:
        email = subjects.people.email_of(mention.group(1)) if mention else person
    except Unresolved as why:
        return Why(person, asked_app, Read(None), unresolved=why.why)
    soon = subjects.workers.in_background
    # The first round, all at once: the Access graph, the SCIM user, the registry, the logins.
    graph_read = soon(lambda: subjects.rules.graph(refresh=refresh))
    scim_read = soon(lambda: _scim_user(subjects, provider_id, email, refresh))
    registry_read = soon(lambda: subjects.access_users.registered(email, refresh=refresh))
    logins_read = soon(lambda: subjects.access_users.logins(email, refresh=refresh))
    graph, scim = _result(graph_read), _result(scim_read)
    registered, logins = _result(registry_read), _result(logins_read)
    if graph.value is None:  # without the applications there is nothing to check
        raise graph.problem or CloudflareError("the Access graph could not be read")
    providers = _providers(subjects)
    provider = next((p for p in providers if p.id.lower() == provider_id.lower()), None)
    found = Why(email, asked_app, graph, provider=provider, providers=providers)
    found = replace(found, scim=scim, registered=registered, logins=logins)
    apps = _matching(graph.value.apps, asked_app)
    if len(apps) != 1:
        return replace(found, choices=apps[:MAX_CHOICES])
    app = apps[0]
    # The second round: what the first one's answers name.
    until = subjects.next_minute()
    span = Window(until - HISTORY_DAYS * 86_400, until)
    user, scim_user = registered.value, scim.value
    identity_read = soon(lambda: subjects.access_users.identity(user.id, refresh=refresh)) if user else None
    pushes_read = (
        soon(lambda: subjects.pushes.recent(provider_id, scim_user.id, span, refresh=refresh))
        if scim_user is not None and scim_user.id
        else None
    )
    names, ids = _groups_named(app, graph.value, provider_id)
    failure_reads = [
        soon(
            functools.partial(
                subjects.pushes.failed_groups, provider_id, span, by=by, values=values, refresh=refresh
            )
        )
        for by, values in ((BY_NAME_FILTER, names), (BY_ID_FILTER, ids))
        if values
    ]
    identity = _result(identity_read) if identity_read is not None else Read(None, registered.problem)
    no_pushes: Read[tuple[ScimPush, ...]] = Read(())
    pushes = _result(pushes_read) if pushes_read is not None else no_pushes
    facts = Facts(
        email=email,
        identity=identity.value,
        unknown_why=_unknown_why(registered, identity),
        providers={p.id.lower(): p.name for p in providers},
    )
    verdict = decide(app, graph.value.access_groups, facts, gate=_gate(app, facts, scim_user, provider))
    return replace(
        found,
        app=app,
        verdict=verdict,
        identity=identity,
        pushes=pushes,
        group_failures=_merged([_result(read) for read in failure_reads], names, ids),
        app_logins=tuple(login for login in logins.value or () if _to_app(login, app))[:MAX_LOGINS],
        groups_named=(
            *(("name", name) for name in names if len(name) <= MAX_VALUE_LENGTH),
            *(("external", value) for value in ids if len(value) <= MAX_VALUE_LENGTH),
        ),
    )


def _scim_user(subjects: Subjects, provider_id: str, email: str, refresh: bool) -> Cached[ScimUser | None]:
    """Give back the provider's SCIM user with this email (None: no such user)."""
    found = subjects.users.lookup(provider_id, (email,), refresh=refresh)
    cached = found.cached
    return Cached(found.users[0] if found.users else None, cached.from_cache, cached.stale, cached.fetched_at)


def _result(future: Future[Cached[T]]) -> Read[T]:
    """Give back what a source's call gave, or why it could not (a cache miss while answering
    from the cache only is not a failure: it goes on up)."""
    try:
        cached = future.result()
    except NotCached:
        raise
    except CloudflareError as error:
        return Read(None, error)
    return Read(cached.value, None, cached.stale, cached.fetched_at, cached.from_cache)


def _merged(
    reads: list[Read[tuple[ScimPush, ...]]], names: tuple[str, ...], ids: tuple[str, ...]
) -> Read[tuple[ScimPush, ...]]:
    """Give back the failed pushes of the groups named, newest first, from both reads (only those
    groups' failures: a log that ignored a filter shows no one else's)."""
    problem = next((one.problem for one in reads if one.problem is not None), None)
    named = {name.casefold() for name in names} | {f"id:{value.lower()}" for value in ids}
    pushes = sorted(
        {
            push
            for one in reads
            for push in one.value or ()
            if push.failed
            and (push.group_name.casefold() in named or f"id:{push.idp_resource_id.lower()}" in named)
        },
        key=lambda push: push.logged_at.timestamp() if push.logged_at else 0.0,
        reverse=True,
    )
    stale = next((one.stale for one in reads if one.stale is not None), None)
    return Read(tuple(pushes), problem, stale)


def _unknown_why(registered: Read[AccessUser | None], identity: Read[Identity | None]) -> str:
    """Give back, as a phrase, why what Access saw of the person is not known."""
    if registered.problem is not None or identity.problem is not None:
        return "the bot could not read the identity Access last saw for them"
    if registered.value is None:
        return "Access has never seen them log in"
    return "Access holds no identity for them"


def _gate(app: App, facts: Facts, scim_user: ScimUser | None, provider: IdentityProvider | None) -> str:
    """Give back why the person cannot reach the application's policies at all, or ""."""
    identity = facts.identity
    if offered(app, identity) == "no" and identity is not None:
        return (
            f"they last logged in through {facts.provider_name(identity.idp_id)}, which this application "
            "does not offer"
        )
    through_provider = (
        identity is None
        or not identity.idp_id
        or (provider is not None and identity.idp_id.lower() == provider.id.lower())
    )
    if scim_user is not None and scim_user.active is False and through_provider:
        where = provider.name if provider is not None and provider.name else "their identity provider"
        return f"{where} has deactivated them (SCIM active: false), so they cannot log in through it"
    return ""


def _providers(subjects: Subjects) -> tuple[IdentityProvider, ...]:
    try:
        return subjects.groups.identity_providers()
    except CloudflareError:
        return ()


def _matching(apps: Iterable[App], asked: str) -> tuple[App, ...]:
    """Give back the applications `asked` names: by id, or exactly by name or domain; else the
    one whose domain a pasted link is under (the longest); else those whose name or domain holds it."""
    listed = tuple(apps)
    link = APP_URL.match(asked)
    wanted = (link.group(1) if link else asked).strip().rstrip("/").casefold()
    if not wanted:
        return ()

    def domains(app: App) -> list[str]:
        return [domain.strip().rstrip("/").casefold() for domain in app.domains]

    exact = [app for app in listed if wanted in (app.id.casefold(), app.name.casefold(), *domains(app))]
    if exact:
        return tuple(exact)
    under = [(len(d), app) for app in listed for d in domains(app) if d and wanted.startswith(d + "/")]
    if under:
        return (max(under, key=lambda pair: pair[0])[1],)
    return tuple(
        app for app in listed if wanted in app.name.casefold() or any(wanted in d for d in domains(app))
    )


def _groups_named(app: App, graph: AccessGraph, provider_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Give back the groups of this provider the application's policies name (through Access
    groups too): by name, and by identity-provider id."""
    groups = {group.id: group for group in graph.access_groups}
    names: dict[str, None] = {}
    ids: dict[str, None] = {}
    seen: set[str] = set()
    waiting: list[Rule] = [rule for policy in app.policies for rule in _all(policy.rules)]
    while waiting:
        rule = waiting.pop(0)
        if rule.kind == "group" and rule.field("id") not in seen and rule.field("id") in groups:
            seen.add(rule.field("id"))
            waiting.extend(_all(groups[rule.field("id")].rules))
        provider = rule.field("identity_provider_id").lower()
        if provider and provider != provider_id.lower():
            continue
        if rule.kind in BY_NAME and (value := rule.field(BY_NAME[rule.kind])):
            names[value] = None
        elif rule.kind in BY_ID and (value := rule.field(BY_ID[rule.kind])):
            ids[value] = None
    return tuple(names)[:50], tuple(ids)[:50]


def _all(rules: RuleLists) -> list[Rule]:
    return [*rules.include, *rules.require, *rules.exclude]


def _to_app(login: Login, app: App) -> bool:
    """Give back whether a login was to this application: by its id or audience tag, else its domain."""
    if login.app_uid:
        return login.app_uid.lower() in (app.id.lower(), app.aud.lower())
    domain = login.app_domain.casefold().rstrip("/")
    return any(
        domain == d.casefold() or domain.startswith(d.casefold().rstrip("/") + "/") for d in app.domains
    )


def draw(found: Why, request: Show, drawing: Drawing) -> Message:
    """Give back the verdict and its evidence as a message."""
    return render_why(
        found, request, drawing.provider_name, refresh_wait=drawing.refresh_wait, shared_by=drawing.shared_by
    )


def shown(found: Why) -> Paged[object]:
    """Give back what the audit line counts: the policies checked, and how fresh the copy is."""
    checked = len(found.verdict.checks) if found.verdict is not None else 0
    graph = found.graph
    return Paged(
        (),
        1,
        1,
        False,
        checked,
        False,
        from_cache=graph.from_cache,
        stale=found.stale,
        fetched_at=graph.fetched_at,
    )


def outputs(found: Why) -> dict[str, Any]:
    """Give back what the workflow step "Check access in Cloudflare" outputs: the verdict
    (`allowed`, `denied` or `unknown`), the reason in one line, and whether the person is
    provisioned (a SCIM user) and active."""
    user = found.scim.value
    verdict = found.verdict
    if found.unresolved:
        reason, said = found.unresolved, "unknown"
    elif found.app is None or verdict is None:
        count = len(found.choices)
        reason = (
            f"{count} Access applications match “{found.asked_app}”: name one exactly, or give its domain."
            if count
            else f"No Access application is named “{found.asked_app}” or covers that domain."
        )
        said = "unknown"
    else:
        said, reason = verdict.outcome, _reason(verdict)
    return {
        "verdict": said,
        "reason": reason[:MAX_REASON],
        "provisioned": user is not None,
        "active": user is not None and user.active is True,
    }


def _reason(verdict: Verdict) -> str:
    """Give back the verdict's reason as one plain line."""
    decided = verdict.decided_by
    if verdict.gate:
        return verdict.gate[:1].upper() + verdict.gate[1:] + "."
    if decided is not None and verdict.outcome != "unknown":
        return f"{'Allowed' if decided.lets_in else 'Denied'} by the policy “{decided.policy.name}”."
    if verdict.outcome == "denied":
        return "No Allow policy matches (Access denies by default)."
    rules = [rule for check in verdict.doubts for rule in check.unknowns()]
    because = rules[0].why.removeprefix("not known: ").removeprefix("not checked: ") if rules else ""
    return f"Cannot tell: {because or 'a rule the bot cannot check'}."


ANSWER = PageKind(
    find=find,
    draw=draw,
    page=shown,
    asked=lambda query: " ".join(query.why),
    reading=Reading(options=(), read=read),
    outputs=outputs,
)
