"""Whether Access would let a person into an application: the application's policies checked in
the order Access evaluates them, each rule marked against what is known of the person.

A pure function of (application, Access groups, facts); nothing here calls anyone. The order is
Cloudflare's (`shared/reference/cloudflare-access-diagnosis.md` A4): Bypass and Service Auth
policies first, then Allow and Block, each group by precedence; the first that matches ends it,
and Access denies by default. Within a policy, any `include` rule, every `require` rule and no
`exclude` rule must match. A rule is marked `yes`, `no` or `unknown` — unknown whenever the bot
cannot know (an IP range, a service token, the groups of a person whose identity records none) —
and the marks combine as three-valued logic, so a verdict rests on an unknown only where that
unknown could change it, and then says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.access_users import Identity, IdentityGroup
from bot.rules import AccessGroupRules, App, AppPolicy, Rule, RuleLists

Mark = Literal["yes", "no", "unknown"]
Outcome = Literal["allowed", "denied", "unknown"]
# Access groups naming Access groups: followed this deep at most (a loop is a rule that cannot match).
MAX_DEPTH = 8
# The rules that name an identity provider's group, and the field that names it.
IDP_GROUP_FIELDS = {
    "okta": "name",
    "azureAD": "id",
    "gsuite": "email",
    "saml": "attribute_value",
    "oidc": "claim_value",
}
# The rules the bot has no way to check, and why (our words).
UNCHECKABLE = {
    "ip": "the address a request comes from is checked on each request",
    "ip_list": "the address a request comes from is checked on each request",
    "email_list": "the bot does not read Access lists",
    "certificate": "a client certificate is checked on each request",
    "common_name": "a client certificate is checked on each request",
    "service_token": "a service token is a machine's, checked on each request",
    "any_valid_service_token": "a service token is a machine's, checked on each request",
    "external_evaluation": "an outside service decides it at login",
    "linked_app_token": "a token from another application is checked on each request",
    "user_risk_score": "the risk score is not readable through the API",
    "auth_method": "how the person signed in is known only at login",
    "auth_context": "Entra's authentication context is known only at login",
    "github-organization": "GitHub organisations and teams are not readable through the API",
    "cloudflare_account_member": "Cloudflare account membership is not checked by this bot",
}


@dataclass(frozen=True)
class Facts:
    """What is known of the person: their email, the identity Access last saw for them (None
    when there is none or it could not be read: `unknown_why` says which, in a phrase), and the
    identity providers of the account by id (their names, for the marks' notes)."""

    email: str
    identity: Identity | None
    unknown_why: str = "Access has no identity for them"
    providers: Mapping[str, str] | None = None

    def provider_name(self, provider_id: str) -> str:
        return (self.providers or {}).get(provider_id.lower(), "") or "another identity provider"


@dataclass(frozen=True)
class Checked:
    """One rule with its mark and why (a phrase, our words and outside values, shown as plain
    text); an Access group's own rules as `through`."""

    rule: Rule
    mark: Mark
    why: str
    through: tuple[tuple[str, Checked], ...] = ()  # (list name, checked rule) of an Access group


@dataclass(frozen=True)
class PolicyCheck:
    """One policy checked: its mark, and each rule by list."""

    policy: AppPolicy
    mark: Mark
    include: tuple[Checked, ...]
    require: tuple[Checked, ...]
    exclude: tuple[Checked, ...]

    @property
    def lets_in(self) -> bool:
        """Give back whether the policy lets a request in when it matches (all but Block)."""
        return self.policy.decision != "deny"

    def unknowns(self) -> tuple[Checked, ...]:
        """Give back the rules of this policy whose mark is unknown, Access groups' included."""
        found: list[Checked] = []
        waiting = [*self.include, *self.require, *self.exclude]
        while waiting:
            checked = waiting.pop(0)
            if checked.mark == "unknown" and not checked.through:
                found.append(checked)
            waiting.extend(inner for _where, inner in checked.through if inner.mark == "unknown")
        return tuple(found)


@dataclass(frozen=True)
class Verdict:
    """What Access would decide: `outcome`; `decided_by` the policy that decides it (None: denied
    by default, no policy matching); `doubts` the policies before it whose unknown marks could
    change the outcome (then `outcome` is unknown and `decided_by` what holds if none of them
    match); `checks` every policy in evaluation order; `gate` why the person cannot reach the
    policies at all (a provider the application does not offer, a deactivated account)."""

    outcome: Outcome
    decided_by: PolicyCheck | None
    doubts: tuple[PolicyCheck, ...]
    checks: tuple[PolicyCheck, ...]
    gate: str = ""


def offered(app: App, identity: Identity | None) -> Mark:
    """Give back whether the application offers the identity provider the person last logged in
    through (an application that lists none offers every one)."""
    if not app.allowed_idps:
        return "yes"
    if identity is None or not identity.idp_id:
        return "unknown"
    return "yes" if identity.idp_id.lower() in {idp.lower() for idp in app.allowed_idps} else "no"


def evaluation_order(policies: Iterable[AppPolicy]) -> tuple[AppPolicy, ...]:
    """Give back the policies in the order Access evaluates them: Bypass and Service Auth first,
    then Allow and Block, each by precedence (policies without one after, as listed)."""
    listed = list(policies)

    def key(indexed: tuple[int, AppPolicy]) -> tuple[int, int, int]:
        index, policy = indexed
        first = 0 if policy.decision in ("bypass", "non_identity") else 1
        precedence = policy.precedence
        return (first, 0 if precedence is not None else 1, precedence if precedence is not None else index)

    return tuple(policy for _index, policy in sorted(enumerate(listed), key=key))


def decide(app: App, access_groups: Iterable[AccessGroupRules], facts: Facts, *, gate: str = "") -> Verdict:
    """Give back what Access would decide for the person at `app`, each policy checked."""
    groups = {group.id: group for group in access_groups}
    checks = tuple(check_policy(policy, groups, facts) for policy in evaluation_order(app.policies))
    if gate:
        return Verdict("denied", None, (), checks, gate)
    earlier: list[PolicyCheck] = []
    for check in checks:
        if check.mark == "no":
            continue
        if check.mark == "yes":
            # Only an earlier policy of the other effect that might match could change the outcome.
            doubts = tuple(unknown for unknown in earlier if unknown.lets_in != check.lets_in)
            sure: Outcome = "allowed" if check.lets_in else "denied"
            return Verdict("unknown" if doubts else sure, check, doubts, checks, gate)
        earlier.append(check)
    doubts = tuple(unknown for unknown in earlier if unknown.lets_in)
    return Verdict("unknown" if doubts else "denied", None, doubts, checks, gate)


def check_policy(policy: AppPolicy, groups: Mapping[str, AccessGroupRules], facts: Facts) -> PolicyCheck:
    """Give back one policy checked against the facts, rule by rule."""
    if not policy.rules_known:
        unread = Checked(
            Rule("unread"), "unknown", "not known: Cloudflare listed this policy without its rules"
        )
        return PolicyCheck(policy, "unknown", (unread,), (), ())
    include, require, exclude = (
        tuple(check_rule(rule, groups, facts) for rule in part)
        for part in (policy.rules.include, policy.rules.require, policy.rules.exclude)
    )
    return PolicyCheck(policy, _matches(include, require, exclude), include, require, exclude)


def _matches(
    include: tuple[Checked, ...], require: tuple[Checked, ...], exclude: tuple[Checked, ...]
) -> Mark:
    """Give back whether rules so marked match: any include (a policy needs one), all require,
    no exclude."""
    return both(
        both(any_of(c.mark for c in include), all_of(c.mark for c in require)),
        negate(any_of(c.mark for c in exclude)),
    )


def any_of(marks: Iterable[Mark]) -> Mark:
    """Give back whether any mark is yes: no if all are no (or there are none), else unknown."""
    seen = set(marks)
    return "yes" if "yes" in seen else "unknown" if "unknown" in seen else "no"


def all_of(marks: Iterable[Mark]) -> Mark:
    """Give back whether every mark is yes (none: yes): no if any is no, else unknown."""
    seen = set(marks)
    return "no" if "no" in seen else "unknown" if "unknown" in seen else "yes"


def both(first: Mark, second: Mark) -> Mark:
    return all_of((first, second))


def negate(mark: Mark) -> Mark:
    return "no" if mark == "yes" else "yes" if mark == "no" else "unknown"


def check_rule(rule: Rule, groups: Mapping[str, AccessGroupRules], facts: Facts, depth: int = 0) -> Checked:
    """Give back one rule marked against the facts, with why."""
    kind, email, identity = rule.kind, facts.email.casefold(), facts.identity
    if kind == "everyone":
        return Checked(rule, "yes", "everyone matches")
    if kind == "email":
        wanted = rule.field("email")
        return _told(rule, wanted.casefold() == email, f"the email is {facts.email}")
    if kind == "email_domain":
        domain = rule.field("domain").lstrip("@").casefold()
        return _told(rule, bool(domain) and email.endswith("@" + domain), f"the email is {facts.email}")
    if kind == "group":
        return _through_access_group(rule, groups, facts, depth)
    if kind in UNCHECKABLE:
        return Checked(rule, "unknown", f"not checked: {UNCHECKABLE[kind]}")
    if kind in IDP_GROUP_FIELDS:
        return _idp_group(rule, facts)
    if identity is None and kind in ("login_method", "geo", "device_posture"):
        return Checked(rule, "unknown", f"not known: {facts.unknown_why}")
    if identity is not None and kind == "login_method":
        used = facts.provider_name(identity.idp_id) if identity.idp_id else "an unknown identity provider"
        return _told(
            rule, rule.field("id").lower() == identity.idp_id.lower(), f"last logged in through {used}"
        )
    if identity is not None and kind == "geo":
        if not identity.country:
            return Checked(rule, "unknown", "not known: the last-seen identity has no country")
        wanted_countries = {code.strip().upper() for code in rule.field("country_code").split(",")}
        return _told(rule, identity.country.upper() in wanted_countries, f"last seen in {identity.country}")
    if identity is not None and kind == "device_posture":
        wanted = rule.field("integration_uid")
        posture = next((check for check in identity.posture if check.rule_id == wanted), None)
        if posture is None or posture.success is None:
            return Checked(rule, "unknown", "not known: the last-seen device did not report this check")
        return _told(
            rule, posture.success, "the last-seen device " + ("passed" if posture.success else "failed")
        )
    return Checked(rule, "unknown", "not checked: a kind of rule this bot does not know")


def _told(rule: Rule, matched: bool, why: str) -> Checked:
    return Checked(rule, "yes" if matched else "no", why)


def _idp_group(rule: Rule, facts: Facts) -> Checked:
    """Give back a rule naming an identity provider's group, checked against the groups the
    last-seen identity records (only a login through that provider can match it)."""
    identity, provider_id = facts.identity, rule.field("identity_provider_id").lower()
    if identity is None:
        return Checked(rule, "unknown", f"not known: {facts.unknown_why}")
    if provider_id and identity.idp_id and provider_id != identity.idp_id.lower():
        return Checked(
            rule, "no", f"last logged in through {facts.provider_name(identity.idp_id)}, not this provider"
        )
    wanted = rule.field(IDP_GROUP_FIELDS[rule.kind])
    if rule.kind in ("saml", "oidc") and identity.attributes is not None:
        name = rule.field("attribute_name" if rule.kind == "saml" else "claim_name")
        held = any(key == name and value == wanted for key, value in identity.attributes)
        return _told(
            rule,
            held,
            "among the last-seen identity's attributes"
            if held
            else "not among the last-seen identity's attributes",
        )
    if identity.groups is None:
        return Checked(
            rule, "unknown", "not known: the last-seen identity records no groups, and SCIM lists no members"
        )
    held = any(_holds(group, rule.kind, wanted) for group in identity.groups)
    return _told(
        rule, held, "in the group at the last login" if held else "not in the group at the last login"
    )


def _holds(group: IdentityGroup, kind: str, wanted: str) -> bool:
    if kind == "azureAD":
        return bool(group.id) and group.id.lower() == wanted.lower()
    if kind == "gsuite":
        return bool(group.email) and group.email.casefold() == wanted.casefold()
    if kind == "okta":
        return bool(group.name) and group.name.casefold() == wanted.casefold()
    return wanted in (group.name, group.id)


def _through_access_group(
    rule: Rule, groups: Mapping[str, AccessGroupRules], facts: Facts, depth: int
) -> Checked:
    """Give back a rule naming an Access group, checked through the group's own rules."""
    group = groups.get(rule.field("id"))
    if group is None:
        return Checked(rule, "unknown", "not known: an Access group the bot could not read")
    if depth >= MAX_DEPTH:
        return Checked(rule, "unknown", "not checked: Access groups naming each other too deep")
    lists: RuleLists = group.rules
    inner = {
        where: tuple(check_rule(inner_rule, groups, facts, depth + 1) for inner_rule in getattr(lists, where))
        for where in ("include", "require", "exclude")
    }
    mark = _matches(inner["include"], inner["require"], inner["exclude"])
    through = tuple((where, checked) for where, part in inner.items() for checked in part)
    return Checked(rule, mark, "through its own rules", through)
