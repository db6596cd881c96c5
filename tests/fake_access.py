"""The fake Cloudflare's answers beyond groups: SCIM users, SCIM update logs, and Access groups,
reusable policies and applications, as `shared/reference/cloudflare-access-api.md` gives them.

Where the reference says a behaviour is not documented, the fake takes the harder reading:
the `email` filter matches exactly (case included), and `result_info.total_count` of the logs
counts every row, whatever the filters (as documented).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

Answer = tuple[int, dict[str, Any]]
Query = dict[str, list[str]]

LOGS_PERMISSION = "Access: SCIM Logs Read"
APPS_PERMISSION = "Access: Apps and Policies Read"


def make_user(number: int, *, active: bool = True, email: str | None = None) -> dict[str, Any]:
    """Give back a SCIM user as Cloudflare's API returns it."""
    address = email if email is not None else f"user{number:04d}@example.com"
    return {
        "id": str(uuid.UUID(int=0xA000_0000 + number)),
        "externalId": f"00u{number:06d}",
        "displayName": f"User {number:04d}",
        "userName": address,
        "active": active,
        "emails": [{"value": address, "primary": True, "type": "work"}],
        "meta": {"created": "2025-03-01T09:00:00Z", "lastModified": "2026-11-20T08:30:00Z"},
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    }


def make_update(
    provider_id: str,
    logged_at: datetime,
    *,
    status: str = "SUCCESS",
    group: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    method: str = "PATCH",
    error: str = "",
    body: str | None = None,
) -> dict[str, Any]:
    """Give back one row of the SCIM update log, about a group or a user; `body` the SCIM request
    (a JSON string, as the log holds it)."""
    resource = group or user or {}
    return {
        "logged_at": logged_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "idp_id": provider_id,
        "resource_type": "GROUP" if group is not None else "USER",
        "request_method": method,
        "status": status,
        "error_description": error,
        "cf_resource_id": resource.get("id", ""),
        "idp_resource_id": resource.get("externalId", ""),
        "resource_group_name": group.get("displayName", "") if group is not None else "",
        "resource_user_email": user["emails"][0]["value"] if user is not None else "",
        "request_body": body if body is not None else _body(method, group, user),
    }


def _body(method: str, group: dict[str, Any] | None, user: dict[str, Any] | None) -> str:
    """Give back a SCIM request body as identity providers send one: a PATCH of no operation, or
    the whole resource for a PUT or POST (a group without its members)."""
    if method not in ("PUT", "POST"):
        return '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}'
    resource = group or user or {}
    kind = "Group" if group is not None else "User"
    fields = {key: resource[key] for key in ("displayName", "externalId") if key in resource}
    return json.dumps({"schemas": [f"urn:ietf:params:scim:schemas:core:2.0:{kind}"], **fields})


# How each kind of identity provider names a group in an Access rule (its rule key, and the field).
GROUP_RULES = {
    "okta": ("okta", "name"),
    "azureAD": ("azureAD", "id"),
    "google-apps": ("gsuite", "email"),
    "saml": ("saml", "attribute_value"),
    "oidc": ("oidc", "claim_value"),
}
# What else a rule of theirs carries: the attribute or claim the value is read from.
RULE_EXTRAS = {"saml": {"attribute_name": "groups"}, "oidc": {"claim_name": "groups"}}
STAMP = {"created_at": "2025-06-01T10:00:00Z", "updated_at": "2026-11-02T16:20:00Z"}


def make_provider(provider_id: str, name: str, kind: str = "okta", *, scim: bool = True) -> dict[str, Any]:
    """Give back an identity provider as the list endpoint returns it (its secrets redacted)."""
    configs: dict[str, dict[str, Any]] = {
        "okta": {"okta_account": "https://example.okta.com", "client_id": "0oa1", "client_secret": "******"},
        "azureAD": {"directory_id": "9b1c0d2e", "client_id": "c1", "support_groups": True},
        "saml": {"issuer_url": "https://idp.example.com", "sso_target_url": "https://idp.example.com/sso",
                 "attributes": ["groups"], "sign_request": False},
        "oidc": {"auth_url": "https://idp.example.com/auth", "token_url": "https://idp.example.com/token",
                 "certs_url": "https://idp.example.com/certs", "claims": ["groups"], "scopes": ["openid"]},
        "onelogin": {"onelogin_account": "https://example.onelogin.com", "client_id": "ol1"},
        "pingone": {"ping_env_id": "342b5660-0c32-4936-a5a4-ce21fae57b0a", "client_id": "p1"},
        "google-apps": {"apps_domain": "example.com", "client_id": "g1"},
    }  # fmt: skip
    return {
        "id": provider_id,
        "name": name,
        "type": kind,
        "config": configs.get(kind, {}),
        "scim_config": {"enabled": scim, "user_deprovision": True, "seat_deprovision": False,
                        "identity_update_behavior": "automatic"},
    }  # fmt: skip


def group_rule(kind: str, provider_id: str, value: str) -> dict[str, Any]:
    """Give back an Access rule that names an identity-provider group, as Cloudflare sends it."""
    key, field_name = GROUP_RULES[kind]
    return {key: {field_name: value, **RULE_EXTRAS.get(kind, {}), "identity_provider_id": provider_id}}


def make_access_group(group_id: str, name: str, **lists: list[dict[str, Any]]) -> dict[str, Any]:
    """Give back an Access group with its rule lists (`include`, `exclude`, `require`)."""
    rules = {key: lists.get(key, []) for key in ("include", "exclude", "require")}
    return {"id": group_id, "name": name, **rules, "is_default": [], **STAMP}


def make_policy(
    policy_id: str, name: str, decision: str, *, precedence: int | None = None, **lists: list[dict[str, Any]]
) -> dict[str, Any]:
    """Give back an Access policy: reusable (the policies list), or an application's when it has
    a `precedence`. `decision` is allow, deny, non_identity (service auth) or bypass."""
    policy: dict[str, Any] = {
        "id": policy_id,
        "name": name,
        "decision": decision,
        **{key: lists.get(key, []) for key in ("include", "exclude", "require")},
        "session_duration": "24h",
        "approval_required": False,
        "isolation_required": False,
        **STAMP,
    }
    if precedence is None:
        return {**policy, "reusable": True, "app_count": 1}
    return {**policy, "precedence": precedence}


def make_app(
    app_id: str, name: str, domain: str, policies: list[dict[str, Any]], *, idps: list[str]
) -> dict[str, Any]:
    """Give back a self-hosted Access application as the list endpoint returns it: its audience
    tag, the identity providers it allows, its destinations and its policies."""
    return {
        "id": app_id,
        "name": name,
        "domain": domain,
        "type": "self_hosted",
        "aud": uuid.uuid5(uuid.NAMESPACE_URL, app_id).hex * 2,
        "allowed_idps": idps,
        "auto_redirect_to_identity": False,
        "destinations": [
            {"type": "public", "uri": domain},
            {"type": "private", "hostname": f"internal.{domain}", "port_range": "443", "vnet_id": "v1"},
        ],
        "self_hosted_domains": [domain],
        "session_duration": "24h",
        "app_launcher_visible": True,
        "tags": ["engineering"],
        "policies": policies,
        **STAMP,
    }


def paging(query: Query, *, default_per_page: int, max_per_page: int) -> tuple[int, int] | str:
    """Give back (page, per_page) as Cloudflare reads them, or why it answers 400."""
    page, per_page = query.get("page", ["1"])[0], query.get("per_page", [str(default_per_page)])[0]
    if not (page.isdigit() and per_page.isdigit()):
        return "page and per_page must be whole numbers"
    if int(page) < 1 or not 1 <= int(per_page) <= max_per_page:
        return f"per_page must be from 1 to {max_per_page}, page at least 1"
    return int(page), int(per_page)


def envelope(result: list[dict[str, Any]], *, page: int, per_page: int, total: int | None) -> dict[str, Any]:
    info: dict[str, Any] = {"count": len(result), "page": page, "per_page": per_page}
    if total is not None:
        info["total_count"] = total
        info["total_pages"] = -(-total // per_page)
    return {"success": True, "errors": [], "messages": [], "result": result, "result_info": info}


def failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def invalid(reason: str) -> Answer:
    return 400, failure(12130, f"access.api.error.invalid_request: {reason}")


def users_answer(users: list[dict[str, Any]], query: Query, *, totals: bool = True) -> Answer:
    """List SCIM users: 100 a page at most; one filter at a time; ids at most 50; without a
    total when `totals` is off (where it is counted is not documented)."""
    paged = paging(query, default_per_page=100, max_per_page=100)
    if isinstance(paged, str):
        return invalid(paged)
    page, per_page = paged
    filters = [
        key for key in ("cf_resource_id", "idp_resource_id", "email", "username", "name") if key in query
    ]
    if len(filters) > 1:
        return invalid("filters cannot be combined")
    if filters and len(query[filters[0]]) > 50:
        return invalid("at most 50 values")
    if filters:
        key, wanted = filters[0], query[filters[0]]
        users = [user for user in users if any(value in wanted for value in _user_values(user, key))]
    chunk = users[(page - 1) * per_page : page * per_page]
    return 200, envelope(chunk, page=page, per_page=per_page, total=len(users) if totals else None)


def _user_values(user: dict[str, Any], key: str) -> list[Any]:
    if key == "email":
        return [email.get("value") for email in user.get("emails", [])]
    field = {
        "cf_resource_id": "id",
        "idp_resource_id": "externalId",
        "username": "userName",
        "name": "displayName",
    }
    return [user.get(field[key])]


def updates_answer(rows: list[dict[str, Any]], query: Query) -> Answer:
    """List SCIM update logs: `idp_id` required; 1,000 a page at most; filters; newest first or last."""
    if not query.get("idp_id"):
        return invalid("idp_id is required")
    paged = paging(query, default_per_page=100, max_per_page=1_000)
    if isinstance(paged, str):
        return invalid(paged)
    page, per_page = paged
    selected = [row for row in rows if row["idp_id"] in query["idp_id"]]
    for key in (
        "cf_resource_id",
        "idp_resource_id",
        "resource_group_name",
        "resource_user_email",
        "resource_type",
        "request_method",
        "status",
    ):
        if key in query:
            selected = [row for row in selected if row[key] in query[key]]
    for key in ("since", "until"):
        if key in query:
            try:
                bound = datetime.fromisoformat(query[key][0])
            except ValueError:
                return invalid(f"{key} must be an RFC 3339 date-time")
            if bound.tzinfo is None:
                return invalid(f"{key} must carry its offset")
            selected = [
                row
                for row in selected
                if (datetime.fromisoformat(row["logged_at"]) >= bound) == (key == "since")
                or datetime.fromisoformat(row["logged_at"]) == bound
            ]
    direction = query.get("direction", ["desc"])[0]
    if direction not in ("asc", "desc"):
        return invalid("direction must be asc or desc")
    selected.sort(key=lambda row: row["logged_at"], reverse=direction == "desc")
    if "limit" in query:
        if not query["limit"][0].isdigit():
            return invalid("limit must be a whole number")
        selected = selected[: int(query["limit"][0])]
    chunk = selected[(page - 1) * per_page : page * per_page]
    # Documented: the total of every row, not of the rows that match the filters.
    return 200, envelope(chunk, page=page, per_page=per_page, total=len(rows))


def listing_answer(
    items: list[dict[str, Any]],
    query: Query,
    *,
    cap: int = 1_000,
    totals: bool = True,
    pages: bool = True,
    same_page: bool = False,
) -> Answer:
    """List Access groups, policies or applications: paged, 25 a page by default.

    Cloudflare documents no maximum `per_page` here, so the fake can take the harder reading: a
    larger one is cut to `cap` without a word (as many APIs do), and `totals=False` leaves the
    counts out of `result_info` (`pages=False` only `total_pages`, which the SDK's model has as
    optional); `same_page` answers page 1 for every page (a known upstream bug).
    """
    paged = paging(query, default_per_page=25, max_per_page=1_000_000)
    if isinstance(paged, str):
        return invalid(paged)
    page, per_page = paged
    per_page, page = min(per_page, cap), 1 if same_page else page
    chunk = items[(page - 1) * per_page : page * per_page]
    answer = envelope(chunk, page=page, per_page=per_page, total=len(items) if totals else None)
    if not pages:
        answer["result_info"].pop("total_pages", None)
    return 200, answer


AUDIT_PERMISSION = "Access: Audit Logs Read"


def make_access_user(
    number: int, email: str, *, last_login: str | None = "2025-12-31T22:10:00Z"
) -> dict[str, Any]:
    """Give back a person of the Zero Trust user registry, as `GET /access/users` lists them."""
    return {
        "id": str(uuid.UUID(int=0xB000_0000 + number)),
        "email": email,
        "name": email.split("@")[0].replace(".", " ").title(),
        "access_seat": True,
        "gateway_seat": False,
        "active_device_count": 1,
        "last_successful_login": last_login,
        "seat_uid": f"seat{number}",
        "uid": f"uid{number}",
        **STAMP,
    }


def make_identity(
    user: dict[str, Any],
    provider_id: str,
    *,
    kind: str = "okta",
    country: str = "US",
    iat: float = 1_767_219_000.0,
    posture: dict[str, bool] | None = None,
    **undocumented: Any,
) -> dict[str, Any]:
    """Give back the identity Access last saw for a person, with the documented fields only
    (`groups`, `saml_attributes`, `oidc_fields` and `custom` are not in the schema: pass them
    as `undocumented` to model an account whose identities hold them)."""
    return {
        "email": user["email"],
        "user_uuid": user["id"],
        "account_id": "a" * 32,
        "idp": {"id": provider_id, "type": kind},
        "ip": "203.0.113.7",
        "geo": {"country": country},
        "iat": iat,
        "auth_status": "NONE",
        "common_name": "",
        "device_id": "d1",
        "device_sessions": {"d1": {"last_authenticated": iat}},
        "devicePosture": {
            rule: {"id": rule, "rule_name": f"posture {rule}", "type": "warp", "success": success,
                   "description": "", "error": "", "timestamp": "2026-11-30T08:15:00Z",
                   "check": {"exists": success, "path": ""}, "data": {}}
            for rule, success in (posture or {}).items()
        },
        "is_warp": False,
        "is_gateway": False,
        "mtls_auth": {"auth_status": "NONE", "cert_issuer_dn": "", "cert_issuer_ski": "",
                      "cert_presented": False, "cert_serial": ""},
        "service_token_id": "",
        "service_token_status": False,
        "version": 2,
        **undocumented,
    }  # fmt: skip


def make_login(
    email: str,
    app: dict[str, Any],
    *,
    allowed: bool,
    at: str,
    connection: str = "okta",
    ray_id: str = "8c1a2b3c4d5e6f70",
) -> dict[str, Any]:
    """Give back one row of the Access authentication log, with the documented fields only
    (no reason, no policy, no country)."""
    return {
        "action": "login",
        "allowed": allowed,
        "app_domain": app["domain"],
        "app_uid": app["id"],
        "connection": connection,
        "created_at": at,
        "ip_address": "203.0.113.7",
        "ray_id": ray_id,
        "user_email": email,
    }


def registry_answer(people: list[dict[str, Any]], query: Query) -> Answer:
    """List the user registry: paged with `result_info`; `email` and `name` may match part of a
    value (exact or not is not documented: the fake takes the harder reading)."""
    paged = paging(query, default_per_page=25, max_per_page=1_000)
    if isinstance(paged, str):
        return invalid(paged)
    page, per_page = paged
    for key in ("email", "name"):
        if key in query:
            people = [
                person for person in people if query[key][0].casefold() in str(person.get(key, "")).casefold()
            ]
    chunk = people[(page - 1) * per_page : page * per_page]
    return 200, envelope(chunk, page=page, per_page=per_page, total=len(people))


def requests_answer(rows: list[dict[str, Any]], query: Query) -> Answer:
    """List the authentication log: a bare array without `result_info`; `email` matches part of
    the address unless `email_exact=true`; newest first unless `direction=asc`; `limit` rows."""
    paged = paging(query, default_per_page=25, max_per_page=1_000)
    if isinstance(paged, str):
        return invalid(paged)
    page, per_page = paged
    if "email" in query:
        wanted = query["email"][0]
        exact = query.get("email_exact") == ["true"]
        rows = [
            row for row in rows if (row["user_email"] == wanted if exact else wanted in row["user_email"])
        ]
    direction = query.get("direction", ["desc"])[0]
    if direction not in ("asc", "desc"):
        return invalid("direction must be asc or desc")
    rows = sorted(rows, key=lambda row: row["created_at"], reverse=direction == "desc")
    if "limit" in query:
        rows = rows[: int(query["limit"][0])]
    chunk = rows[(page - 1) * per_page : page * per_page]
    return 200, {"success": True, "errors": [], "messages": [], "result": chunk}
