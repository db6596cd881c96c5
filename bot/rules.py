"""Access rules: where an identity provider's group is used — the Access groups, reusable
policies and applications whose rules name it, directly or through an Access group.

Cloudflare has no reverse lookup, so the three lists are read (in parallel, every page) and
cached as one graph; a where-used answer then scans it without a call. A rule names an IdP
group by the provider's own terms (`shared/reference/cloudflare-access-api.md`): Okta by group
name, Entra (azureAD) by object id — matched to the SCIM `externalId`, which is an inference —
SAML and OIDC by an attribute or claim value (Google Workspace rules name a group by email, and
Cloudflare takes no SCIM from Google, so they are not matched). `{"group": {"id"}}` names an
Access group, which is followed. Reading policies and applications needs *Access: Apps and
Policies Read*; without it the graph holds the Access groups alone and says which permission is
missing.

The graph also keeps every rule of each application's policies and of each Access group, of any
kind (`Rule`), for `why` to check a person against an application's policies
(`bot.verdicts`) from the same one read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.cache import AnswerCache, Cached, Caches
from bot.cloudflare import AuthFailed, CloudflareClient, IdentityProvider, ScimGroup, text_of
from bot.codec import Codec, flag, many, text, whole

APPS_PERMISSION = "Access: Apps and Policies Read"
PER_PAGE = 1_000
MAX_PAGES = 20
LISTS = ("include", "require", "exclude")
# The rule kinds that name an IdP group, and the field that names it.
GROUP_RULES = {"okta": "name", "azureAD": "id", "saml": "attribute_value", "oidc": "claim_value"}
ListName = Literal["include", "require", "exclude"]


@dataclass(frozen=True)
class Ref:
    """One rule that names a group: an IdP group (`kind` okta, azureAD, saml, oidc) or an
    Access group (`kind` group, `value` its id); in which list it stands."""

    where: str  # include, require or exclude
    kind: str
    value: str
    provider_id: str = ""
    label: str = ""  # the SAML attribute or OIDC claim


@dataclass(frozen=True)
class Holder:
    """Something whose rules may name a group: an Access group, a reusable policy, or an
    application's policy (`app` its application)."""

    kind: Literal["access_group", "policy", "app_policy"]
    id: str
    name: str
    refs: tuple[Ref, ...]
    decision: str = ""
    app: str = ""
    domain: str = ""


@dataclass(frozen=True)
class Rule:
    """One Access rule of any kind: its key as Cloudflare gives it (`email`, `group`, `okta`,
    `ip`, …) and its fields as text (a list of values joined by commas)."""

    kind: str
    fields: tuple[tuple[str, str], ...] = ()

    def field(self, name: str) -> str:
        """Give back the field `name`, or the empty string."""
        return next((value for key, value in self.fields if key == name), "")


@dataclass(frozen=True)
class RuleLists:
    """A policy's or an Access group's rules: any of `include`, all of `require`, none of `exclude`."""

    include: tuple[Rule, ...] = ()
    require: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class AppPolicy:
    """One policy of an application, with its place in the application's order."""

    id: str
    name: str
    decision: str  # allow, deny, non_identity (Service Auth) or bypass
    precedence: int | None
    rules: RuleLists
    # False when Cloudflare listed the policy without its rules and no reusable policy has its id.
    rules_known: bool = True


@dataclass(frozen=True)
class App:
    """An Access application: what finds it (name, domains, audience tag), the identity
    providers it offers (none listed: every one), and its policies."""

    id: str
    name: str
    type: str
    aud: str
    domains: tuple[str, ...]
    allowed_idps: tuple[str, ...]
    policies: tuple[AppPolicy, ...]

    @property
    def domain(self) -> str:
        """Give back the application's main domain."""
        return self.domains[0] if self.domains else ""


@dataclass(frozen=True)
class AccessGroupRules:
    """An Access group's own rules, for a policy that names the group to be checked through it."""

    id: str
    name: str
    rules: RuleLists


@dataclass(frozen=True)
class AccessGraph:
    """Every Access group and policy of the account, and what could not be read."""

    holders: tuple[Holder, ...]
    # The permission that policies and applications need, when the token lacks it.
    missing_permission: str = ""
    apps: tuple[App, ...] = ()
    access_groups: tuple[AccessGroupRules, ...] = ()


@dataclass(frozen=True)
class Use:
    """One place a group is used: who, in which list, through which Access group, and whether the
    match rests on an inference (an Entra object id taken for the SCIM externalId)."""

    holder: Holder
    where: str
    via: str = ""
    inferred: bool = False


def refs_of(item: Mapping[str, Any]) -> tuple[Ref, ...]:
    """Give back the rules of an Access group or policy that name a group, in list order."""
    refs = []
    for where in LISTS:
        rules = item.get(where)
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, dict) or len(rule) != 1:
                continue
            ((kind, body),) = rule.items()
            if not isinstance(body, dict):
                continue
            if kind == "group":
                refs.append(Ref(where, "group", text_of(body.get("id"))))
            elif kind in GROUP_RULES:
                label = text_of(body.get("attribute_name") or body.get("claim_name"))
                provider = text_of(body.get("identity_provider_id"))
                refs.append(Ref(where, kind, text_of(body.get(GROUP_RULES[kind])), provider, label))
    return tuple(ref for ref in refs if ref.value)


def holders_of(
    access_groups: Iterable[Mapping[str, Any]],
    policies: Iterable[Mapping[str, Any]],
    apps: Iterable[Mapping[str, Any]],
) -> tuple[Holder, ...]:
    """Give back what Cloudflare's three lists hold, as holders of rules."""
    holders = [
        Holder("access_group", text_of(item.get("id")), text_of(item.get("name")), refs_of(item))
        for item in access_groups
    ]
    holders += [
        Holder("policy", text_of(p.get("id")), text_of(p.get("name")), refs_of(p), text_of(p.get("decision")))
        for p in policies
    ]
    for app in apps:
        app_policies = app.get("policies")
        for policy in app_policies if isinstance(app_policies, list) else []:
            if isinstance(policy, dict):
                holders.append(
                    Holder(
                        "app_policy",
                        text_of(policy.get("id")),
                        text_of(policy.get("name")),
                        refs_of(policy),
                        text_of(policy.get("decision")),
                        text_of(app.get("name")),
                        text_of(app.get("domain")),
                    )
                )
    return tuple(holders)


# The most rules a list keeps (as many as a holder's group rules), and the most fields a rule.
MAX_RULES = 10_000
MAX_FIELDS = 8


def rule_of(item: object) -> Rule | None:
    """Give back the rule an item of a rule list is (`{"email": {"email": "…"}}`), or None when it
    is not one; fields that are not text, numbers, booleans or lists of text are left out."""
    if not isinstance(item, dict) or len(item) != 1:
        return None
    ((kind, body),) = item.items()
    if not isinstance(kind, str) or not isinstance(body, dict):
        return None
    fields = []
    for key, value in body.items():
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            value = ",".join(value)
        elif isinstance(value, bool | int | float):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(key, str) and isinstance(value, str):
            fields.append((key[:64], text_of(value)))
    return Rule(kind[:64], tuple(fields[:MAX_FIELDS]))


def rule_lists_of(item: Mapping[str, Any]) -> RuleLists:
    """Give back every rule of a policy's or an Access group's three lists."""

    def listed(where: str) -> tuple[Rule, ...]:
        rules = item.get(where)
        found = (rule_of(rule) for rule in (rules if isinstance(rules, list) else ()))
        return tuple(rule for rule in found if rule is not None)[:MAX_RULES]

    return RuleLists(listed("include"), listed("require"), listed("exclude"))


def app_of(item: Mapping[str, Any], reusable: Mapping[str, Mapping[str, Any]] | None = None) -> App:
    """Give back an application as the list of applications gives it. A policy listed without
    any rule list (only its id, say) takes the rules of the reusable policy with its id; without
    one, its rules are not known."""
    domains = [text_of(item.get("domain"))]
    hosted = item.get("self_hosted_domains")
    domains += [text_of(domain) for domain in (hosted if isinstance(hosted, list) else ())]
    idps = item.get("allowed_idps")
    listed = item.get("policies")
    policies = []
    for policy in listed if isinstance(listed, list) else ():
        if isinstance(policy, dict):
            known = any(where in policy for where in LISTS)
            full = policy if known else {**(reusable or {}).get(text_of(policy.get("id")), {}), **policy}
            precedence = policy.get("precedence")
            policies.append(
                AppPolicy(
                    text_of(full.get("id")),
                    text_of(full.get("name")),
                    text_of(full.get("decision")),
                    precedence if isinstance(precedence, int) and not isinstance(precedence, bool) else None,
                    rule_lists_of(full),
                    known or any(where in full for where in LISTS),
                )
            )
    return App(
        id=text_of(item.get("id")),
        name=text_of(item.get("name")),
        type=text_of(item.get("type")),
        aud=text_of(item.get("aud")),
        domains=tuple(dict.fromkeys(domain for domain in domains if domain)),
        allowed_idps=tuple(text_of(idp) for idp in (idps if isinstance(idps, list) else ()) if text_of(idp)),
        policies=tuple(policies[:MAX_RULES]),
    )


def uses(graph: AccessGraph, group: ScimGroup, provider: IdentityProvider) -> tuple[Use, ...]:
    """Give back every place `group` of `provider` is used: Access groups first, then policies and
    applications, each naming it directly or through an Access group (followed to any depth, in
    time linear in the rules). A match that rests on an inference stays one through every group
    it passes."""
    found: list[Use] = []
    # Access groups that hold the group, directly or through others, each with how it does.
    reaching: dict[str, Use] = {}
    # For each Access group, the Access groups whose include or require names it (what excludes
    # a group passes nothing on).
    named_by: dict[str, list[tuple[Holder, Ref]]] = {}
    for holder in graph.holders:
        for ref in holder.refs:
            inferred = _names(ref, group, provider)
            if inferred is not None:
                found.append(Use(holder, ref.where, inferred=inferred))
                if holder.kind == "access_group":
                    reaching.setdefault(holder.id, found[-1])
            elif ref.kind == "group" and holder.kind == "access_group" and ref.where != "exclude":
                named_by.setdefault(ref.value, []).append((holder, ref))
    waiting = deque(reaching)
    while waiting:
        through = reaching[waiting.popleft()]
        for holder, ref in named_by.get(through.holder.id, ()):
            if holder.id not in reaching:
                reaching[holder.id] = Use(holder, ref.where, through.holder.name, through.inferred)
                found.append(reaching[holder.id])
                waiting.append(holder.id)
    for holder in graph.holders:
        for ref in holder.refs:
            if ref.kind == "group" and ref.value in reaching and holder.id not in reaching:
                via = reaching[ref.value]
                found.append(Use(holder, ref.where, via.holder.name, via.inferred))
    order = {"access_group": 0, "policy": 1, "app_policy": 2}
    return tuple(sorted(found, key=lambda use: (order[use.holder.kind], use.holder.app, use.holder.name)))


def _names(ref: Ref, group: ScimGroup, provider: IdentityProvider) -> bool | None:
    """Give back None if `ref` does not name the group, else whether naming it is an inference."""
    if ref.provider_id and ref.provider_id.lower() != provider.id.lower():
        return None
    if ref.kind == "azureAD":
        return True if group.external_id and ref.value.lower() == group.external_id.lower() else None
    if ref.kind == "okta":
        return False if group.display_name and ref.value.casefold() == group.display_name.casefold() else None
    if ref.kind in ("saml", "oidc"):
        return False if ref.value == group.display_name or ref.value == group.external_id else None
    return None


def _encode_ref(ref: Ref) -> list[str]:
    return [ref.where, ref.kind, ref.value, ref.provider_id, ref.label]


def _decode_ref(item: object) -> Ref:
    if not isinstance(item, list) or len(item) != 5 or item[0] not in LISTS:
        raise TypeError("not a rule")
    return Ref(*(text(value) for value in item))


def _encode_holder(holder: Holder) -> list[Any]:
    refs = [_encode_ref(ref) for ref in holder.refs]
    return [holder.kind, holder.id, holder.name, refs, holder.decision, holder.app, holder.domain]


def _decode_holder(item: object) -> Holder:
    if (
        not isinstance(item, list)
        or len(item) != 7
        or item[0] not in ("access_group", "policy", "app_policy")
    ):
        raise TypeError("not a holder of rules")
    kind, holder_id, name, refs, decision, app, domain = item
    if not isinstance(refs, list) or len(refs) > 10_000:
        raise TypeError("not a list of rules")
    return Holder(
        kind,
        text(holder_id),
        text(name),
        tuple(map(_decode_ref, refs)),
        text(decision),
        text(app),
        text(domain),
    )


def _encode_lists(rules: RuleLists) -> list[Any]:
    return [
        [[rule.kind, [list(pair) for pair in rule.fields]] for rule in part]
        for part in (rules.include, rules.require, rules.exclude)
    ]


def _decode_rule(item: object) -> Rule:
    if (
        not isinstance(item, list)
        or len(item) != 2
        or not isinstance(item[1], list)
        or len(item[1]) > MAX_FIELDS
    ):
        raise TypeError("not a rule")
    pairs = []
    for pair in item[1]:
        if not isinstance(pair, list) or len(pair) != 2:
            raise TypeError("not a rule's field")
        pairs.append((text(pair[0]), text(pair[1])))
    return Rule(text(item[0], empty=False), tuple(pairs))


def _decode_lists(item: object) -> RuleLists:
    if (
        not isinstance(item, list)
        or len(item) != 3
        or any(not isinstance(part, list) or len(part) > MAX_RULES for part in item)
    ):
        raise TypeError("not a policy's rules")
    return RuleLists(*(many(part, _decode_rule, "rules") for part in item))


def _encode_app(app: App) -> list[Any]:
    policies = [
        [
            policy.id,
            policy.name,
            policy.decision,
            policy.precedence,
            _encode_lists(policy.rules),
            policy.rules_known,
        ]
        for policy in app.policies
    ]
    return [app.id, app.name, app.type, app.aud, list(app.domains), list(app.allowed_idps), policies]


def _decode_policy(item: object) -> AppPolicy:
    if not isinstance(item, list) or len(item) != 6:
        raise TypeError("not an application's policy")
    precedence = None if item[3] is None else whole(item[3], -(2**31), 2**31)
    return AppPolicy(
        text(item[0]), text(item[1]), text(item[2]), precedence, _decode_lists(item[4]), flag(item[5])
    )


def _decode_app(item: object) -> App:
    if (
        not isinstance(item, list)
        or len(item) != 7
        or not isinstance(item[6], list)
        or len(item[6]) > MAX_RULES
    ):
        raise TypeError("not an application")
    return App(
        text(item[0]),
        text(item[1]),
        text(item[2]),
        text(item[3]),
        many(item[4], text, "domains"),
        many(item[5], text, "identity providers"),
        many(item[6], _decode_policy, "policies"),
    )


def _decode_access_group(item: object) -> AccessGroupRules:
    if not isinstance(item, list) or len(item) != 3:
        raise TypeError("not an Access group")
    return AccessGroupRules(text(item[0]), text(item[1]), _decode_lists(item[2]))


def _decode_graph(item: object) -> AccessGraph:
    if not isinstance(item, list) or len(item) != 4:
        raise TypeError("not an Access graph")
    return AccessGraph(
        many(item[0], _decode_holder, "holders of rules"),
        text(item[1]),
        many(item[2], _decode_app, "applications"),
        many(item[3], _decode_access_group, "Access groups"),
    )


GRAPH: Codec[AccessGraph] = Codec(
    lambda graph: [
        [_encode_holder(holder) for holder in graph.holders],
        graph.missing_permission,
        [_encode_app(app) for app in graph.apps],
        [[group.id, group.name, _encode_lists(group.rules)] for group in graph.access_groups],
    ],
    _decode_graph,
)


class AccessRules:
    """The account's Access groups, reusable policies and applications, read as one graph, cached."""

    def __init__(
        self,
        client: CloudflareClient,
        *,
        caches: Caches,
        parallel: Callable[[Callable[[str], Any], Iterable[str]], list[Any]],
    ) -> None:
        self._client = client
        self._parallel = parallel
        self._graphs: AnswerCache[str, AccessGraph] = caches.make("access", GRAPH, maxsize=4, stale_maxsize=4)

    def graph(self, *, refresh: bool = False) -> Cached[AccessGraph]:
        """Give back the Access graph: from the cache, or read now (the three lists in parallel)."""
        return self._graphs.get(self._client.account_id, self._read, refresh=refresh)

    def _read(self) -> AccessGraph:
        groups, policies, apps = self._parallel(
            self._all, ["/access/groups", "/access/policies", "/access/apps"]
        )
        missing = APPS_PERMISSION if policies is None or apps is None else ""
        return AccessGraph(
            holders_of(groups or (), policies or (), apps or ()),
            missing,
            tuple(app_of(app, {text_of(p.get("id")): p for p in policies or ()}) for app in apps or ()),
            tuple(
                AccessGroupRules(text_of(group.get("id")), text_of(group.get("name")), rule_lists_of(group))
                for group in groups or ()
            ),
        )

    def _all(self, path: str) -> tuple[Mapping[str, Any], ...] | None:
        """Give back every item of one list (None: the token may not read policies or apps).

        Cloudflare documents no largest `per_page` for these lists, so a page shorter than asked
        for is not taken for the end: `result_info`'s totals say where it is, and without them an
        empty page (or one that repeats the page before) does.
        """
        items: tuple[Mapping[str, Any], ...] = ()
        before: list[object] = []
        for page in range(1, MAX_PAGES + 1):  # a few thousand rules fit in one or two pages
            try:
                listed = self._client.list_page(path, [("page", page), ("per_page", PER_PAGE)])
            except AuthFailed as error:
                if error.status == 403 and path != "/access/groups":  # this permission alone is missing
                    return None
                raise
            ids = [item.get("id") for item in listed.items]
            if not listed.items or ids == before:
                break
            items, before = items + listed.items, ids
            if listed.total_pages is not None:
                if page >= listed.total_pages:
                    break
            elif listed.total_count is not None and len(items) >= listed.total_count:
                break
        return items
