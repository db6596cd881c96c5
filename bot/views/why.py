"""`why`: would Access let a person into an application — the verdict in one sentence, then the
evidence, most decisive first: each policy in evaluation order with its rules marked ✓ ✗ ?, the
person as SCIM and Access know them, failed SCIM pushes, and their recent logins to the app.

Every name, email, rule value and Cloudflare message is outside text, shown verbatim in
rich_text; every source the bot could not read is named, with the permission it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar

from bot.access_users import AUDIT_PERMISSION, AccessUser, Identity, Login
from bot.cache import Staleness
from bot.cloudflare import CloudflareError, IdentityProvider, PermissionMissing
from bot.pushes import HISTORY_DAYS, LOGS_PERMISSION, ScimPush
from bot.query import ACTION_FOLLOW, ACTION_OPEN, ACTION_REFRESH, ACTION_SHARE, Query, Show
from bot.rules import APPS_PERMISSION, AccessGraph, App, Rule
from bot.users import ScimUser
from bot.verdicts import PolicyCheck, Verdict
from bot.views.answers import failure_sentence
from bot.views.blocks import (
    BUTTON_TEXT_LIMIT,
    SLACK_USER_ID,
    Message,
    as_of,
    button,
    fallback,
    header,
    mrkdwn,
    note,
    notes,
    shorten,
)
from bot.views.rich import Outside, Part, bullets, moment, rich, visible

T = TypeVar("T")
# Slack's combined limit on a message's text (about 12,000 characters) bounds what is shown.
MAX_POLICIES_SHOWN = 6
MAX_RULES_SHOWN = 8
MAX_THROUGH_SHOWN = 4
MAX_PUSHES_SHOWN = 5
MAX_GROUPS_SHOWN = 8
MAX_GROUP_BUTTONS = 4
VALUE_LIMIT = 80
NAME_LIMIT = 75
REASON_LIMIT = 200
MARKS = {"yes": "✓", "no": "✗", "unknown": "?"}
DECISIONS = {"allow": "Allow", "deny": "Block", "non_identity": "Service Auth", "bypass": "Bypass"}
# How a rule reads, by kind: its words, and the field that holds its value.
RULE_WORDS = {
    "email": ("email is", "email"),
    "email_domain": ("email domain is", "domain"),
    "email_list": ("email in list", "id"),
    "okta": ("Okta group", "name"),
    "azureAD": ("Entra group", "id"),
    "gsuite": ("Google group", "email"),
    "github-organization": ("GitHub organisation", "name"),
    "geo": ("country", "country_code"),
    "ip": ("IP range", "ip"),
    "ip_list": ("IP list", "id"),
    "device_posture": ("device posture check", "integration_uid"),
    "service_token": ("service token", "token_id"),
    "auth_method": ("authentication method", "auth_method"),
    "auth_context": ("Entra authentication context", "ac_id"),
    "common_name": ("certificate common name", "common_name"),
    "user_risk_score": ("user risk score", "user_risk_score"),
    "external_evaluation": ("external evaluation at", "evaluate_url"),
    "linked_app_token": ("token of application", "app_uid"),
}
NO_VALUE = {
    "everyone": "everyone",
    "certificate": "a valid client certificate",
    "any_valid_service_token": "any valid service token",
    "cloudflare_account_member": "a member of the Cloudflare account",
    "unread": "its rules",
}


@dataclass(frozen=True)
class Read(Generic[T]):
    """What one source gave: its value, or why it could not be read; and how old a copy it is."""

    value: T | None
    problem: CloudflareError | None = None
    stale: Staleness | None = None
    fetched_at: float | None = None
    from_cache: bool = False


@dataclass(frozen=True)
class Why:
    """What was found for `why`: the person and application asked, the application (or those to
    choose from), the verdict, and every source it rests on."""

    email: str
    asked_app: str
    graph: Read[AccessGraph]
    app: App | None = None
    choices: tuple[App, ...] = ()
    verdict: Verdict | None = None
    unresolved: str = ""  # why a mention could not be read as an email
    provider: IdentityProvider | None = None
    providers: tuple[IdentityProvider, ...] = ()
    scim: Read[ScimUser | None] = Read(None)
    registered: Read[AccessUser | None] = Read(None)
    identity: Read[Identity | None] = Read(None)
    logins: Read[tuple[Login, ...]] = Read(None)
    app_logins: tuple[Login, ...] = ()
    pushes: Read[tuple[ScimPush, ...]] = Read(None)
    group_failures: Read[tuple[ScimPush, ...]] = Read(None)
    # The groups of the provider asked that the application's policies name: by name or external id.
    groups_named: tuple[tuple[Literal["name", "external"], str], ...] = ()

    @property
    def stale(self) -> Staleness | None:
        """Give back the oldest copy's staleness among the sources, if any is an older copy."""
        sources = (self.graph, self.scim, self.registered, self.identity, self.logins, self.pushes)
        stale = [read.stale for read in (*sources, self.group_failures) if read.stale is not None]
        return max(stale, key=lambda staleness: staleness.age_seconds, default=None)

    def provider_name(self, provider_id: str) -> str:
        """Give back the name of one of the account's identity providers, or its id."""
        named = next((p.name for p in self.providers if p.id.lower() == provider_id.lower() and p.name), "")
        return named or f"identity provider {provider_id}"


def render_why(
    found: Why,
    request: Show,
    provider_name: str,
    *,
    refresh_wait: float | None = None,
    shared_by: str | None = None,
) -> Message:
    """Give back the verdict and its evidence, or the applications to choose from."""
    person: Part = Outside(found.email, NAME_LIMIT, bold=True)
    if found.unresolved:
        return _sentence(found.unresolved)
    if found.app is None or found.verdict is None:
        return _choice(found, request)
    app, verdict = found.app, found.verdict
    blocks: list[dict[str, Any]] = [
        header(f"Why: {found.email} → {app.name or app.domain or app.id} · {provider_name}")
    ]
    blocks.append(rich(_verdict_line(person, app, verdict, found)))
    blocks += notes(found.stale, refresh_wait)
    blocks += [note(line) for line in _not_read(found)]
    blocks.append(rich(*_app_lines(app, found)))
    shown = verdict.checks[:MAX_POLICIES_SHOWN]
    decisive = verdict.decided_by
    if decisive is not None and decisive not in shown:
        shown = (*shown[: MAX_POLICIES_SHOWN - 1], decisive)
    for number, check in enumerate(verdict.checks, start=1):
        if check in shown:
            blocks.append(_policy_block(number, check, found, decisive=check is decisive))
    if len(verdict.checks) > len(shown):
        blocks.append(
            note(f"And {len(verdict.checks) - len(shown)} more policies, not shown: none of them decides it.")
        )
    blocks.append(_person_block(found, provider_name))
    blocks.append(_pushes_block(found))
    blocks.append(_logins_block(found))
    shown_at = as_of(found.graph.fetched_at, aging=False)
    by = f"shared by <@{shared_by}>" if shared_by and SLACK_USER_ID.match(shared_by) else ""
    if line := " · ".join(part for part in (shown_at, by) if part):
        blocks.append({"type": "context", "elements": [mrkdwn(line[:1].upper() + line[1:])]})
    # The buttons ask about the application found, by its id: the name asked may match more later.
    blocks.append(
        _buttons(found, replace(request, query=replace(request.query, why=(request.query.why[0], app.id))))
    )
    said = {"allowed": "allowed", "denied": "denied", "unknown": "can't tell"}[verdict.outcome]
    return {"text": fallback(f"Why: {found.email} at {app.name or app.domain}: {said}"), "blocks": blocks}


def _sentence(text: str) -> Message:
    return {"text": fallback(text), "blocks": [rich([Outside(text, 2_000)])]}


def _verdict_line(person: Part, app: App, verdict: Verdict, found: Why) -> list[Part]:
    at: Part = Outside(app.name or app.domain or app.id, NAME_LIMIT, bold=True)
    decided = verdict.decided_by
    if verdict.gate:
        return ["⛔ ", person, " would be *denied* at ", at, ": ", Outside(verdict.gate, REASON_LIMIT), "."]
    if verdict.outcome == "allowed" and decided is not None:
        return ["✅ ", person, " would be *allowed* at ", at, " by ", *_policy_name(decided), "."]
    if verdict.outcome == "denied" and decided is not None:
        return ["⛔ ", person, " would be *denied* at ", at, " by ", *_policy_name(decided), "."]
    if verdict.outcome == "denied":
        return [
            "⛔ ",
            person,
            " would be *denied* at ",
            at,
            ": no Allow policy matches (Access denies by default).",
        ]
    rules = [rule for check in verdict.doubts for rule in check.unknowns()]
    because = rules[0].why.removeprefix("not known: ").removeprefix("not checked: ") if rules else ""
    first = verdict.doubts[0]
    resting: list[Part] = (
        [", and ", *_policy_name(first), " rests on it"]
        if len(verdict.doubts) == 1
        else [f", and {len(verdict.doubts)} policies rest on it, first ", *_policy_name(first)]
    )
    otherwise: list[Part] = (
        [
            " If it does not match, ",
            *_policy_name(decided),
            " decides: ",
            "allowed." if decided.lets_in else "denied.",
        ]
        if decided is not None
        else [" If it does not match: denied, as no other Allow policy matches."]
    )
    return [
        "❔ *Can't tell* whether ",
        person,
        " would get into ",
        at,
        ": ",
        Outside(because or "a rule the bot cannot check", REASON_LIMIT),
        *resting,
        ".",
        *otherwise,
    ]


def _policy_name(check: PolicyCheck) -> list[Part]:
    decision = DECISIONS.get(check.policy.decision, check.policy.decision or "unknown")
    name: Part = (
        Outside(check.policy.name, NAME_LIMIT, bold=True) if check.policy.name else "an unnamed policy"
    )
    return [f"the {decision} policy ", name]


def _not_read(found: Why) -> list[str]:
    """Give back a line for each source the bot could not read, and what that leaves unchecked."""
    lines = []
    graph = found.graph.value
    if graph is not None and graph.missing_permission:
        lines.append(f"Applications and policies cannot be read: the API token lacks “{APPS_PERMISSION}”.")
    audit = [
        read.problem for read in (found.registered, found.identity, found.logins) if read.problem is not None
    ]
    if any(isinstance(problem, PermissionMissing) for problem in audit):
        lines.append(
            f"Not checked: whether they ever logged in, the identity Access last saw for them and their "
            f"recent logins — the API token lacks “{AUDIT_PERMISSION}”; rules that rest on them are marked ?."
        )
    elif audit:
        lines.append(
            "Not checked: what Access knows of them (" + failure_sentence(audit[0]).rstrip(".") + "); rules "
            "that rest on it are marked ?."
        )
    scim_log = [read.problem for read in (found.pushes, found.group_failures) if read.problem is not None]
    if any(isinstance(problem, PermissionMissing) for problem in scim_log):
        lines.append(f"Failed SCIM pushes not checked: the API token lacks “{LOGS_PERMISSION}”.")
    elif scim_log:
        lines.append("Failed SCIM pushes not checked: " + failure_sentence(scim_log[0]))
    if found.scim.problem is not None:
        lines.append("SCIM state not checked: " + failure_sentence(found.scim.problem))
    return lines


def _app_lines(app: App, found: Why) -> list[list[Part]]:
    domain: list[Part] = [" (", Outside(app.domain, NAME_LIMIT, code=True), ")"] if app.domain else []
    kind: list[Part] = [" · ", Outside(app.type, 30)] if app.type else []
    offered: list[Part]
    if app.allowed_idps:
        offered = ["Offers only: "]
        for index, idp in enumerate(app.allowed_idps[:5]):
            offered += ([", "] if index else []) + [Outside(found.provider_name(idp), NAME_LIMIT)]
        offered += [f" and {len(app.allowed_idps) - 5} more"] if len(app.allowed_idps) > 5 else []
        offered += [" — a login through another identity provider cannot match."]
    else:
        offered = ["Offers every identity provider of the account."]
    return [
        ["*Application* ", Outside(app.name, NAME_LIMIT, bold=True), *domain, *kind],
        offered,
        [
            "Policies in the order Access evaluates them: Bypass and Service Auth first, then Allow and "
            "Block by precedence; the first that matches decides (any include, every require, no exclude)."
        ],
    ]


def _policy_block(number: int, check: PolicyCheck, found: Why, *, decisive: bool) -> dict[str, Any]:
    lead: list[Part] = [
        f"{number}. {MARKS[check.mark]} ",
        *_policy_name(check),
        " — ",
        {"yes": "matches", "no": "does not match", "unknown": "may match"}[check.mark],
        " (decides it)" if decisive else "",
    ]
    items: list[list[Part]] = []
    rules = [
        (where, checked) for where in ("include", "require", "exclude") for checked in getattr(check, where)
    ]
    for where, checked in rules[:MAX_RULES_SHOWN]:
        items.append(
            [
                f"{MARKS[checked.mark]} {where}: ",
                *_rule(checked.rule, found),
                " — ",
                Outside(checked.why, REASON_LIMIT),
            ]
        )
        # The Access group's rules that decided its mark first: they are what to look at.
        deciding = sorted(
            checked.through, key=lambda pair: pair[0] == "include" and pair[1].mark != checked.mark
        )
        for inner_where, inner in deciding[:MAX_THROUGH_SHOWN]:
            items.append(
                [
                    f"    ↳ {MARKS[inner.mark]} {inner_where}: ",
                    *_rule(inner.rule, found),
                    " — ",
                    Outside(inner.why, REASON_LIMIT),
                ]
            )
        if len(checked.through) > MAX_THROUGH_SHOWN:
            items.append([f"    ↳ and {len(checked.through) - MAX_THROUGH_SHOWN} more of its rules"])
    if len(rules) > MAX_RULES_SHOWN:
        items.append([f"and {len(rules) - MAX_RULES_SHOWN} more rules, not shown"])
    if not rules:
        items.append(["no rules: it cannot match"])
    return bullets([lead], items)


def _rule(rule: Rule, found: Why) -> list[Part]:
    """Give back how a rule reads: its kind in our words, its value as outside text."""
    if rule.kind in NO_VALUE:
        return [NO_VALUE[rule.kind]]
    if rule.kind == "group":
        graph = found.graph.value
        group_id = rule.field("id")
        name = next(
            (g.name for g in (graph.access_groups if graph else ()) if g.id == group_id and g.name), ""
        )
        return ["Access group ", Outside(name or group_id, VALUE_LIMIT, bold=True)]
    if rule.kind == "login_method":
        return ["login method ", Outside(found.provider_name(rule.field("id")), VALUE_LIMIT, bold=True)]
    if rule.kind in ("saml", "oidc"):
        label = rule.field("attribute_name" if rule.kind == "saml" else "claim_name")
        value = rule.field("attribute_value" if rule.kind == "saml" else "claim_value")
        kind = "SAML attribute " if rule.kind == "saml" else "OIDC claim "
        return [kind, Outside(label, VALUE_LIMIT), " = ", Outside(value, VALUE_LIMIT, bold=True)]
    if rule.kind in RULE_WORDS:
        words, field_name = RULE_WORDS[rule.kind]
        return [f"{words} ", Outside(rule.field(field_name) or "(not given)", VALUE_LIMIT, bold=True)]
    return ["a rule of kind ", Outside(rule.kind, VALUE_LIMIT, code=True)]


def _person_block(found: Why, where: str) -> dict[str, Any]:
    lines: list[list[Part]] = [["*The person* ", Outside(found.email, NAME_LIMIT, bold=True)]]
    scim = found.scim
    if scim.problem is None:
        user = scim.value
        if user is None:
            lines.append(
                [
                    "SCIM (",
                    Outside(where, NAME_LIMIT),
                    "): no such user — never pushed, or pushed under another email.",
                ]
            )
        else:
            state = {
                True: "active",
                False: "*deactivated* by the identity provider",
                None: "active or not: not reported",
            }
            lines.append(
                [
                    "SCIM (",
                    Outside(where, NAME_LIMIT),
                    f"): {state[user.active]} · changed ",
                    moment(user.last_modified, ago=True),
                ]
            )
    registered = found.registered
    if registered.problem is None:
        access = registered.value
        if access is None:
            lines.append(["Access: *never logged in* (not in the Zero Trust user registry)."])
        else:
            seat = (
                ""
                if access.access_seat is None
                else (" · holds an Access seat" if access.access_seat else " · no Access seat")
            )
            lines.append(["Access: last logged in ", moment(access.last_login, ago=True), seat])
    identity = found.identity.value
    if identity is not None:
        through = found.provider_name(identity.idp_id) if identity.idp_id else "an unknown identity provider"
        country: list[Part] = [" · in ", Outside(identity.country, 10)] if identity.country else []
        lines.append(
            [
                "Last seen: through ",
                Outside(through, NAME_LIMIT),
                *country,
                " · ",
                moment(identity.issued_at, ago=True),
            ]
        )
        if identity.groups is None:
            lines.append(
                [
                    "Groups: not known — the identity Access last saw records none, and SCIM lists no "
                    "members; rules that name a group are marked ?."
                ]
            )
        else:
            held: list[Part] = [f"Groups ({len(identity.groups)}, from the identity Access last saw, "]
            held += [moment(identity.issued_at, ago=True), "): "]
            for index, group in enumerate(identity.groups[:MAX_GROUPS_SHOWN]):
                held += ([", "] if index else []) + [
                    Outside(group.name or group.id or group.email, NAME_LIMIT)
                ]
            more = len(identity.groups) - MAX_GROUPS_SHOWN
            held += [f" and {more} more"] if more > 0 else ["none"] if not identity.groups else []
            lines.append(held)
        failed = [check for check in identity.posture if check.success is False]
        if failed:
            names = [Outside(check.name or check.rule_id, NAME_LIMIT) for check in failed[:3]]
            line: list[Part] = ["Device posture checks failed: "]
            for index, name in enumerate(names):
                line += ([", "] if index else []) + [name]
            lines.append(line)
    return rich(*lines)


def _pushes_block(found: Why) -> dict[str, Any]:
    user_id = found.scim.value.id.lower() if found.scim.value is not None else ""
    own = [
        push for push in found.pushes.value or () if push.failed and push.cf_resource_id.lower() == user_id
    ]
    groups = list(found.group_failures.value or ())
    if not own and not groups:
        if found.pushes.problem is not None and found.group_failures.problem is not None:
            return rich(["Failed SCIM pushes: not checked."])
        return rich(
            [
                f"No failed SCIM pushes in the last {HISTORY_DAYS} days for this person or the groups "
                "the policies name."
            ]
        )
    items: list[list[Part]] = []
    for push in (own + groups)[:MAX_PUSHES_SHOWN]:
        about: list[Part] = (
            ["group ", Outside(push.group_name or push.idp_resource_id, NAME_LIMIT, bold=True)]
            if push.resource_type.upper() == "GROUP"
            else ["this person"]
        )
        reason: Part = Outside(push.error, REASON_LIMIT) if push.error else "Cloudflare gave no reason"
        items.append([moment(push.logged_at, ago=True), " · ", *about, " · ", reason])
    return bullets([[f"*Failed SCIM pushes*, last {HISTORY_DAYS} days (newest first):"]], items)


def _logins_block(found: Why) -> dict[str, Any]:
    if found.logins.problem is not None:
        return rich(["Recent logins: not checked."])
    if not found.app_logins:
        read = len(found.logins.value or ())
        return rich([f"No login to this application among their {read} newest logins in the Access log."])
    items = [_login(login, found) for login in found.app_logins]
    return bullets([["*Their recent logins to it* (newest first):"]], items)


def _login(login: Login, found: Why) -> list[Part]:
    outcome = (
        "✅ allowed" if login.allowed else "⛔ denied" if login.allowed is False else "outcome not reported"
    )
    line: list[Part] = [outcome, " · ", moment(login.at, ago=True)]
    if login.connection:
        line += [" · via ", Outside(login.connection, 30)]
    if login.country:
        line += [" · ", Outside(login.country, 10)]
    if login.ray_id:
        line += [" · Ray ID ", Outside(login.ray_id, 20, code=True)]
    return line


def _buttons(found: Why, request: Show) -> dict[str, Any]:
    """Give back Refresh and Share, and buttons that open, each in a message of its own, the
    person's `user:` answer and each group the policies name (its page has Used by and History)."""
    provider = request.query.provider
    buttons = [button(ACTION_REFRESH, "↻ Refresh", request)]
    if not request.shared:
        buttons.append(button(ACTION_SHARE, "Share in channel", request))
    user = Show(Query(provider=provider, users=(found.email,)), page=1, page_size=min(request.page_size, 4))
    buttons.append(button(f"{ACTION_FOLLOW}:user", "Their SCIM user", user))
    for index, (by, value) in enumerate(found.groups_named[:MAX_GROUP_BUTTONS]):
        query = (
            Query(provider=provider, search=value) if by == "name" else Query(provider, external_ids=(value,))
        )
        label = shorten(visible(f"Group {value}"), BUTTON_TEXT_LIMIT)
        buttons.append(
            button(f"{ACTION_FOLLOW}:g{index}", label, Show(query, page=1, page_size=request.page_size))
        )
    return {"type": "actions", "block_id": "scim_groups_why", "elements": buttons}


def _choice(found: Why, request: Show) -> Message:
    """Give back the applications to choose from, or that none is named so."""
    asked: Part = Outside(found.asked_app, NAME_LIMIT, bold=True)
    graph = found.graph.value
    if graph is not None and graph.missing_permission:
        text = f"The bot cannot read Access applications: the API token lacks “{APPS_PERMISSION}”."
        return {"text": fallback(text), "blocks": [rich([text])]}
    if not found.choices:
        said: list[Part] = ["No Access application is named ", asked, " or covers that domain."]
        return {"text": fallback(f"No Access application is named {found.asked_app}"), "blocks": [rich(said)]}
    blocks: list[dict[str, Any]] = [
        rich([f"{len(found.choices)} Access applications match ", asked, ": which one?"])
    ]
    buttons = []
    for index, app in enumerate(found.choices):
        label = shorten(visible(app.name or app.domain or app.id), BUTTON_TEXT_LIMIT)
        target = replace(request, query=replace(request.query, why=(request.query.why[0], app.id)))
        buttons.append(button(f"{ACTION_OPEN}:{index}", label, target))
    blocks.append({"type": "actions", "block_id": "scim_groups_why_choice", "elements": buttons})
    return {"text": fallback(f"Which application: {found.asked_app}?"), "blocks": blocks}
