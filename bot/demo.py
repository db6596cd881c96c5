"""A built-in sample directory, served as Cloudflare's API would serve it, for trying the bot.

`transport()` answers the real `CloudflareClient` through httpx, so the demo runs the same
client, cache, paging and rendering code as production; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.settings import CloudflareSettings, Secret, Settings

# The account and identity provider ids of Cloudflare's own API example (see shared/seed).
ACCOUNT_ID = "023e105f4ecef8ad9ca31a8372d0c353"
IDENTITY_PROVIDER_ID = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
PROVIDER_NAME = "Okta (demo directory)"
# A second provider, so that `idp:` can be tried too.
AZURE_PROVIDER_ID = "5e0c8e4a-4f62-4b8e-9d52-2f1a3c7b9e10"
AZURE_PROVIDER_NAME = "Azure AD (demo directory)"

_TEAMS = (
    "engineering",
    "platform",
    "sre",
    "security",
    "data",
    "finance",
    "legal",
    "people",
    "sales",
    "support",
    "marketing",
    "design",
    "product",
    "it",
    "infra",
    "mobile",
)
_APPS = ("aws", "gcp", "github", "datadog", "pagerduty", "grafana", "vault", "jira", "snowflake")
_OFFICES = ("London", "Lisbon", "New York", "Austin", "Singapore", "Sydney", "Toronto", "Berlin")
_ROLES = ("admins", "readonly", "oncall", "break-glass")
_GROUPS_PATH = re.compile(
    r"/accounts/(?P<account>[^/]+)/access/identity_providers/(?P<idp>[^/]+)/scim/groups$"
)
_PROVIDERS_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/identity_providers$")
_USERS_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/identity_providers/(?P<idp>[^/]+)/scim/users$")
_LOGS_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/logs/scim/updates$")
_ACCESS_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/(?P<list>groups|policies|apps)$")
_REGISTRY_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/users$")
_IDENTITY_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/users/(?P<user>[^/]+)/last_seen_identity$")
_LOGINS_PATH = re.compile(r"/accounts/(?P<account>[^/]+)/access/logs/access_requests$")
GRAFANA_APP_ID = "8f0b2c4d-6e8a-4b1c-9d3e-5f7a9b1c3d5e"
_PEOPLE = (
    "Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Torvalds",
    "Margaret Hamilton", "Dennis Ritchie", "Barbara Liskov", "Ken Thompson", "Frances Allen",
    "John McCarthy", "Radia Perlman", "Donald Knuth", "Hedy Lamarr", "Tim Berners-Lee",
    "Shafi Goldwasser", "Edsger Dijkstra", "Anita Borg", "Vint Cerf", "Sophie Wilson",
)  # fmt: skip
# Why Cloudflare refused a push, in its words (the demo's failures), about users and groups.
_REFUSALS = {
    "USER": (
        "Attribute 'userName' must be unique: another user already has it",
        "Invalid attribute 'emails': at least one email is required",
    ),
    "GROUP": (
        "Group displayName already exists in this identity provider",
        "Request body exceeds the maximum SCIM payload size",
        "Resource not found: the group was deleted before this PATCH",
    ),
}


def settings(page_size: int = 10) -> Settings:
    """Give back settings that point the bot at the demo directory."""
    return Settings(
        slack=None,
        cloudflare=CloudflareSettings(
            account_id=ACCOUNT_ID,
            identity_provider_id=IDENTITY_PROVIDER_ID,
            api_token=Secret("demo"),
        ),
        page_size=page_size,
    )


def sample_groups() -> list[dict[str, Any]]:
    """Give back the demo directory: a few hundred groups, `ALL EMPLOYEES` first."""
    groups = [
        {
            "id": "bd97ef8d-7986-43e3-9ee0-c25dda33e4b0",
            "displayName": "ALL EMPLOYEES",
            "externalId": "all_employees",
            "meta": {"created": "2025-01-01T00:00:00Z", "lastModified": "2025-01-02T00:00:00Z"},
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        }
    ]
    names = [f"{team.upper() if len(team) <= 3 else team.title()} - All" for team in _TEAMS]
    names += [f"{team}-oncall" for team in _TEAMS]
    names += [f"{app}-{env}-{role}" for app in _APPS for env in ("prod", "staging") for role in _ROLES]
    names += [f"zt-access-{app}-{team}" for app in _APPS for team in _TEAMS[:10]]
    names += [f"{team}-{level}" for team in _TEAMS for level in ("leads", "managers")]
    names += [f"{app}-users" for app in _APPS]
    names += [f"Office - {city}" for city in _OFFICES]
    names += ["Contractors", "Interns 2026", "Leadership", "Board Observers", "R&D <Labs>"]
    groups.extend(_group(name) for name in names)
    return groups


def azure_groups() -> list[dict[str, Any]]:
    """Give back the second demo provider's groups, with Azure AD's GUIDs as external ids."""
    groups = [_group(f"AAD-{team.title()}") for team in _TEAMS] + [
        _group(f"AAD-{app}-users") for app in _APPS
    ]
    for group in groups:
        group["externalId"] = str(uuid.uuid5(uuid.NAMESPACE_OID, group["displayName"]))
    return groups


def sample_users() -> list[dict[str, Any]]:
    """Give back the demo's SCIM users: twenty people, two of them deactivated."""
    users = []
    for number, name in enumerate(_PEOPLE):
        email = name.lower().replace(" ", ".") + "@example.com"
        users.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"scim-groups-demo/user/{email}")),
                "externalId": f"00u{hashlib.sha256(email.encode()).hexdigest()[:17]}",
                "displayName": name,
                "userName": email,
                "active": number not in (3, 11),
                "emails": [{"value": email, "primary": True, "type": "work"}],
                "meta": {
                    "created": "2024-02-01T09:00:00Z",
                    "lastModified": f"2026-10-{number + 1:02}T10:00:00Z",
                },
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            }
        )
    return users


def sample_updates(
    now: datetime, groups: list[dict[str, Any]], users: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Give back the demo's SCIM update log: a push every few hours for nine days, some failed.

    A group that a push changed carries that push's time as its last change.
    """
    rows = []
    for number in range(60):
        group, user = groups[(number * 7) % len(groups)], users[(number * 3) % len(users)]
        about_user = number % 3 == 0
        failed = number % 5 == 1
        kind = "USER" if about_user else "GROUP"
        refusals = _REFUSALS[kind]
        logged_at = _rfc3339(now - timedelta(hours=number * 3.5 + 0.25))
        if not about_user and not failed and group["meta"]["lastModified"] < logged_at:
            group["meta"]["lastModified"] = logged_at
        rows.append(
            {
                "logged_at": logged_at,
                "idp_id": IDENTITY_PROVIDER_ID,
                "resource_type": kind,
                "request_method": ("PATCH", "PUT", "POST", "PATCH")[number % 4],
                "status": "FAILURE" if failed else "SUCCESS",
                "error_description": refusals[number // 5 % len(refusals)] if failed else "",
                "cf_resource_id": (user if about_user else group)["id"],
                "idp_resource_id": (user if about_user else group)["externalId"],
                "resource_group_name": "" if about_user else group["displayName"],
                "resource_user_email": user["userName"] if about_user else "",
                "request_body": _request_body(
                    number, group, user, users[(number * 5 + 1) % len(users)], about_user
                ),
            }
        )
    return rows


def _request_body(
    number: int, group: dict[str, Any], user: dict[str, Any], other: dict[str, Any], about_user: bool
) -> str:
    """Give back a push's SCIM request as Okta sends it: a user's new attributes; a group whole
    (PUT, POST: its name and members); or a group's members added and removed (PATCH), the users
    by their Cloudflare id."""
    if about_user:
        return json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "active": True})
    if number % 4 in (1, 2):  # the PUT and the POST
        whole = {
            "displayName": group["displayName"],
            "members": [{"value": user["id"]}, {"value": other["id"]}],
        }
        return json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], **whole})
    operations: list[dict[str, Any]] = [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}]
    if number % 2:
        operations.append({"op": "remove", "path": f'members[value eq "{other["id"]}"]'})
    return json.dumps(
        {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}
    )


def access_lists() -> dict[str, list[dict[str, Any]]]:
    """Give back the demo's Access groups, reusable policies and applications, whose rules name
    some of the demo's SCIM groups (by name, as Okta rules do)."""

    def okta(name: str) -> dict[str, Any]:
        return {"okta": {"name": name, "identity_provider_id": IDENTITY_PROVIDER_ID}}

    engineering = str(uuid.uuid5(uuid.NAMESPACE_URL, "scim-groups-demo/access/engineering"))
    oncall = str(uuid.uuid5(uuid.NAMESPACE_URL, "scim-groups-demo/access/oncall"))
    groups = [
        {
            "id": engineering,
            "name": "Engineering",
            "include": [okta("Engineering - All"), okta("Platform - All")],
        },
        {
            "id": oncall,
            "name": "On call",
            "include": [okta(f"{team}-oncall") for team in _TEAMS[:6]],
            "exclude": [okta("Contractors")],
        },
    ]
    policies = [
        {
            "id": "demo-policy-prod",
            "name": "Production access",
            "decision": "allow",
            "include": [{"group": {"id": oncall}}],
            "require": [okta("ALL EMPLOYEES")],
            "reusable": True,
        }
    ]
    apps = [
        {
            "id": f"demo-app-{app}",
            "name": app.title(),
            "domain": f"{app}.example.com",
            "type": "self_hosted",
            "policies": [
                {
                    "id": f"demo-app-{app}-policy",
                    "name": f"{app.title()} users",
                    "decision": "allow",
                    "precedence": 1,
                    "include": [okta(f"{app}-users"), {"group": {"id": engineering}}],
                    "exclude": [okta(f"{app}-prod-readonly")],
                }
            ],
        }
        for app in _APPS[:5]
    ]
    # What `why` is tried on: contractors blocked, then engineers logging in through Okta let in.
    apps.append(
        {
            "id": GRAFANA_APP_ID,
            "name": "Grafana",
            "domain": "grafana.example.com",
            "type": "self_hosted",
            "aud": hashlib.sha256(b"demo grafana").hexdigest(),
            "allowed_idps": [IDENTITY_PROVIDER_ID],
            "policies": [
                {
                    "id": "demo-app-grafana-contractors",
                    "name": "Contractors",
                    "decision": "deny",
                    "precedence": 1,
                    "include": [{"email_domain": {"domain": "contractors.example.com"}}],
                },
                {
                    "id": "demo-app-grafana-engineers",
                    "name": "Engineers",
                    "decision": "allow",
                    "precedence": 2,
                    "include": [{"group": {"id": engineering}}],
                    "require": [{"login_method": {"id": IDENTITY_PROVIDER_ID}}],
                },
            ],
        }
    )
    return {"groups": groups, "policies": policies, "apps": apps}


# Who Access has seen log in, with the groups their last login carried (the API documents no
# groups on an identity; some accounts' identities hold them, and the demo's do), and their logins.
_SEEN = {
    "ada.lovelace@example.com": (["Engineering - All"], [True]),
    "alan.turing@example.com": (["Sales - All"], [False, False]),
    "grace.hopper@example.com": (["Platform - All"], [True]),
}


def access_people(
    now: datetime,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Give back the demo's Zero Trust user registry, the identity Access last saw for each, and
    their logins to Grafana."""
    registry, identities, logins = [], {}, []
    for number, (email, (groups, allowed)) in enumerate(_SEEN.items()):
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"scim-groups-demo/access-user/{email}"))
        seen = now - timedelta(hours=2 + number)
        registry.append(
            {"id": user_id, "email": email, "name": email.split("@")[0].replace(".", " ").title(),
             "access_seat": True, "gateway_seat": False, "last_successful_login": _rfc3339(seen)}
        )  # fmt: skip
        identities[user_id] = {
            "email": email,
            "user_uuid": user_id,
            "idp": {"id": IDENTITY_PROVIDER_ID, "type": "okta"},
            "geo": {"country": ("GB", "US", "PT")[number]},
            "iat": int(seen.timestamp()),
            "devicePosture": {},
            "groups": [{"id": f"00g{name[:6].lower()}", "name": name, "email": ""} for name in groups],
        }
        for index, ok in enumerate(allowed):
            logins.append(
                {"action": "login", "allowed": ok, "app_domain": "grafana.example.com",
                 "app_uid": GRAFANA_APP_ID, "connection": "okta",
                 "created_at": _rfc3339(seen - timedelta(minutes=index * 7)), "ip_address": "192.0.2.1",
                 "ray_id": f"8d{number}{index}aa0demo0000", "user_email": email}
            )  # fmt: skip
    return registry, identities, logins


def transport() -> httpx.MockTransport:
    """Give back an httpx transport that answers like Cloudflare's API, from the demo directory."""
    directories = {IDENTITY_PROVIDER_ID: sample_groups(), AZURE_PROVIDER_ID: azure_groups()}
    people = {IDENTITY_PROVIDER_ID: sample_users(), AZURE_PROVIDER_ID: []}
    updates = sample_updates(
        datetime.now(UTC), directories[IDENTITY_PROVIDER_ID], people[IDENTITY_PROVIDER_ID]
    )
    rules = access_lists()
    registry, identities, logins = access_people(datetime.now(UTC))
    providers = [
        {
            "id": IDENTITY_PROVIDER_ID,
            "name": PROVIDER_NAME,
            "type": "okta",
            "config": {"okta_account": "https://demo.okta.com"},
            "scim_config": {"enabled": True},
        },
        {
            "id": AZURE_PROVIDER_ID,
            "name": AZURE_PROVIDER_NAME,
            "type": "azureAD",
            "config": {"directory_id": "9b1c0d2e-demo", "support_groups": True},
            "scim_config": {"enabled": True},
        },
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        groups = _GROUPS_PATH.search(request.url.path)
        if groups and groups["account"] == ACCOUNT_ID and groups["idp"] in directories:
            return _page(directories[groups["idp"]], request.url.params)
        users = _USERS_PATH.search(request.url.path)
        if users and users["account"] == ACCOUNT_ID and users["idp"] in people:
            return _users(people[users["idp"]], request.url.params)
        if (logs := _LOGS_PATH.search(request.url.path)) and logs["account"] == ACCOUNT_ID:
            return _updates(updates, request.url.params)
        if (access := _ACCESS_PATH.search(request.url.path)) and access["account"] == ACCOUNT_ID:
            items = rules[access["list"]]
            return _envelope(
                items, {"count": len(items), "page": 1, "per_page": 1000, "total_count": len(items)}
            )
        path = request.url.path
        if (found := _REGISTRY_PATH.search(path)) and found["account"] == ACCOUNT_ID:
            email = request.url.params.get("email", "").casefold()
            people_seen = [person for person in registry if email in person["email"]]
            return _envelope(
                people_seen,
                {"count": len(people_seen), "page": 1, "per_page": 50, "total_count": len(people_seen)},
            )
        if (found := _IDENTITY_PATH.search(path)) and found["account"] == ACCOUNT_ID:
            if found["user"] not in identities:
                return _failure(404, 7003, "No identity found for this user")
            return httpx.Response(
                200, json={"success": True, "errors": [], "messages": [], "result": identities[found["user"]]}
            )
        if (found := _LOGINS_PATH.search(path)) and found["account"] == ACCOUNT_ID:
            email = request.url.params.get("email", "")
            rows = [row for row in logins if row["user_email"] == email]
            return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": rows})
        listing = _PROVIDERS_PATH.search(request.url.path)
        if listing and listing["account"] == ACCOUNT_ID:
            info = {"count": len(providers), "page": 1, "per_page": 1000, "total_count": len(providers)}
            return _envelope(providers, info)
        return _failure(404, 7003, "Could not route to this path: no such resource")

    return httpx.MockTransport(answer)


def _page(directory: list[dict[str, Any]], params: httpx.QueryParams) -> httpx.Response:
    try:
        page = int(params.get("page", "1"))
        per_page = int(params.get("per_page", "100"))
    except ValueError:
        return _failure(400, 12130, "access.api.error.invalid_request: page must be an integer")
    if page < 1 or not 1 <= per_page <= 100:
        return _failure(400, 12130, "access.api.error.invalid_request: per_page must be 1 to 100")
    selected = directory
    for field, key in (
        ("id", "cf_resource_id"),
        ("externalId", "idp_resource_id"),
        ("displayName", "name"),
    ):
        wanted = params.get_list(key)
        if wanted:
            selected = [group for group in selected if group[field] in wanted]
    chunk = selected[(page - 1) * per_page : page * per_page]
    info = {"count": len(chunk), "page": page, "per_page": per_page, "total_count": len(selected)}
    return _envelope(chunk, info)


def _users(users: list[dict[str, Any]], params: httpx.QueryParams) -> httpx.Response:
    selected = users
    for key, field in (("cf_resource_id", "id"), ("idp_resource_id", "externalId"), ("email", "userName")):
        wanted = params.get_list(key)
        if wanted:
            selected = [user for user in selected if user[field] in wanted]
    info = {"count": len(selected), "page": 1, "per_page": 100, "total_count": len(selected)}
    return _envelope(selected[:100], info)


def _updates(rows: list[dict[str, Any]], params: httpx.QueryParams) -> httpx.Response:
    if not params.get("idp_id"):
        return _failure(400, 12130, "access.api.error.invalid_request: idp_id is required")
    selected = [row for row in rows if row["idp_id"] in params.get_list("idp_id")]
    for key in ("cf_resource_id", "idp_resource_id", "resource_group_name", "resource_type", "status"):
        if params.get(key):
            selected = [row for row in selected if row[key] in params.get_list(key)]
    since, until = params.get("since", ""), params.get("until", "9999")
    selected = [row for row in selected if since <= row["logged_at"] <= until]  # all are UTC, "Z"
    page, per_page = int(params.get("page", "1")), int(params.get("per_page", "100"))
    chunk = selected[(page - 1) * per_page : page * per_page]  # newest first, as asked
    return _envelope(
        chunk, {"count": len(chunk), "page": page, "per_page": per_page, "total_count": len(rows)}
    )


def _envelope(result: list[dict[str, Any]], info: dict[str, int]) -> httpx.Response:
    body = {"success": True, "errors": [], "messages": [], "result": result, "result_info": info}
    return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})


def _failure(status: int, code: int, message: str) -> httpx.Response:
    body = {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }
    return httpx.Response(status, content=json.dumps(body), headers={"Content-Type": "application/json"})


def _group(name: str) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode()).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    external_id = "00g" + "".join(alphabet[byte % 62] for byte in digest[:17])
    created = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=int.from_bytes(digest[17:20]) % 1_000_000)
    modified = created + timedelta(minutes=int.from_bytes(digest[20:23]) % 400_000)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"scim-groups-demo/{name}")),
        "displayName": name,
        "externalId": external_id,
        "meta": {"created": _rfc3339(created), "lastModified": _rfc3339(modified)},
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    }


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Workspace:
    """The demo's Slack workspace: its people, answered as Slack's `users.info` answers (each
    demo user has a Slack account named like `ada.lovelace`, id `U0` and the initials)."""

    def __init__(self) -> None:
        self.people = {
            slack_id(name): {
                "id": slack_id(name),
                "name": name.lower().replace(" ", "."),
                "real_name": name,
                "is_bot": False,
                "profile": {"real_name": name, "email": name.lower().replace(" ", ".") + "@example.com"},
            }
            for name in _PEOPLE
        }

    def users_info(self, *, user: str) -> dict[str, Any]:
        """Give back what Slack says of `user`, or raise as slack_sdk does for `user_not_found`."""
        from slack_sdk.errors import SlackApiError

        if user not in self.people:
            raise SlackApiError("user_not_found", {"ok": False, "error": "user_not_found"})  # type: ignore[no-untyped-call]
        return {"ok": True, "user": self.people[user]}

    def escaped(self, text: str) -> str:
        """Give back `text` as Slack sends a command: a person picked as you type `@`
        (`@ada.lovelace`) becomes their mention, `<@U0…|ada.lovelace>`."""
        handles = {person["name"]: user_id for user_id, person in self.people.items()}
        return re.sub(
            r"@([a-z.\-]+[a-z])",
            lambda m: f"<@{handles[m.group(1)]}|{m.group(1)}>" if m.group(1) in handles else m.group(0),
            text,
        )


def slack_id(name: str) -> str:
    """Give back a demo person's Slack user id: U0 and their name's letters, in capitals."""
    return "U0" + re.sub(r"[^A-Z]", "", name.upper())[:9]
