"""Fakes of Cloudflare's API and of Slack, served on loopback, built from shared/reference/.

They follow the documented contracts (paths, envelope, paging, auth headers, payloads), plus
switches for the undocumented misbehaviour the reference warns about: missing or wrong totals,
the same page for every page number, slowness.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_access import (
    APPS_PERMISSION,
    AUDIT_PERMISSION,
    LOGS_PERMISSION,
    envelope,
    failure,
    listing_answer,
    make_access_user,
    make_identity,
    make_login,
    make_provider,
    make_update,
    paging,
    registry_answer,
    requests_answer,
    updates_answer,
    users_answer,
)

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
PROVIDER_ID = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
API_TOKEN = "cf-token-Zq8xSECRET"
SIGNING_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
BOT_TOKEN = "xoxb-1111-2222-SECRETbot"
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60  # and for 30 minutes from when Slack made it
APP_TOKEN = "xapp-1-A0SCIM-SECRETapp"


def make_group(number: int, name: str | None = None) -> dict[str, Any]:
    """Give back a SCIM group as Cloudflare's API returns it."""
    return {
        "id": str(uuid.UUID(int=number + 1)),
        "displayName": name if name is not None else f"group-{number:05d}",
        "externalId": f"ext-{number:05d}",
        "meta": {"created": "2025-01-01T00:00:00Z", "lastModified": "2025-01-02T03:04:05Z"},
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # as a real server's backlog: a burst of connections is not refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer (a timeout, a test that ended) is no error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[_Server, str]:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class FakeCloudflare:
    """Cloudflare's v4 API for SCIM groups and users, SCIM logs, Access rules, on loopback."""

    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)  # the SCIM update log, any order
    access_groups: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)
    # What Access knows of people: the user registry, last-seen identities by user id, the login log.
    access_users: list[dict[str, Any]] = field(default_factory=list)
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_requests: list[dict[str, Any]] = field(default_factory=list)
    # The most Access groups, policies or apps one page holds, whatever per_page asks for.
    access_page_cap: int = 1_000
    # Permissions the token lacks (LOGS_PERMISSION, APPS_PERMISSION): their endpoints answer 403.
    missing_permissions: set[str] = field(default_factory=set)
    providers: list[dict[str, Any]] = field(default_factory=list)
    account_id: str = ACCOUNT_ID  # the one account this fake serves
    token: str = API_TOKEN
    token_kind: str = "user"  # or "account": which verify endpoint knows the token
    token_status: str = "active"
    legacy_email: str | None = None
    legacy_key: str | None = None
    omit_totals: bool = False
    omit_total_pages: bool = False  # Access lists: `total_count` without `total_pages`
    reported_total: int | None = None
    same_page_always: bool = False
    # Page numbers answered once with the page before them (a glitch), then rightly.
    wrong_once: set[int] = field(default_factory=set)
    endless: bool = False
    ignore_filters: bool = False
    delay_seconds: float = 0.0
    failure: tuple[int, int, str] | None = None
    # Faults for the next requests, one each: ("status", status, code, {header: value}),
    # ("malformed",) (a 200 whose JSON is cut short), ("body", {...}[, status]) (that body, 200
    # unless a status is given),
    # ("truncated",) (the connection closed mid-body) or ("hang", seconds).
    faults: list[tuple[Any, ...]] = field(default_factory=list)
    # The same, for the next requests for groups only; and for the paths holding a fragment.
    group_faults: list[tuple[Any, ...]] = field(default_factory=list)
    path_faults: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    gate: threading.Event = field(default_factory=threading.Event)
    calls: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    call_times: list[float] = field(default_factory=list)  # when each call arrived (perf_counter)
    in_flight: int = 0  # calls being answered now
    most_in_flight: int = 0  # the most calls ever answered at once
    connections: int = 0  # connections open now, busy or idle

    def __post_init__(self) -> None:
        self.gate.set()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Cloudflare's API does
            # Headers and body go out as separate writes: without this, Nagle's algorithm holds
            # the body for the client's delayed ACK (~40 ms), as no real server would.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake.connections += 1

            def finish(self) -> None:
                with fake._lock:
                    fake.connections -= 1
                super().finish()

            def do_GET(self) -> None:
                fault = fake._next_fault(self.path)
                with fake._lock:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    status, body = fake._answer(self)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                payload = json.dumps(body).encode()
                # As Cloudflare sends them with a 429: when to retry, and the quota's state.
                headers = (
                    {"Retry-After": "30", "Ratelimit": "limit=1200, remaining=0, reset=30",
                     "Ratelimit-Policy": "1200;w=300"}
                    if status == 429
                    else {}
                )  # fmt: skip
                if fault and fault[0] == "status":
                    status, payload = fault[1], json.dumps(failure(fault[2], "injected fault")).encode()
                    headers = fault[3]
                elif fault and fault[0] == "malformed":
                    payload = b'{"success": true, "result": [{"id": "x"'
                elif fault and fault[0] == "body":  # ("body", {...}) or ("body", {...}, status)
                    status, payload = (fault[2] if len(fault) > 2 else 200), json.dumps(fault[1]).encode()
                elif fault and fault[0] == "hang":
                    time.sleep(fault[1])
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    length = len(payload) + (1_000 if fault and fault[0] == "truncated" else 0)
                    self.send_header("Content-Length", str(length))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(
                        payload[: len(payload) // 2] if fault and fault[0] == "truncated" else payload
                    )
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first, as clients do
                if fault and fault[0] == "truncated":
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self._server, self.url = _serve(Handler)
        self.base_url = f"{self.url}/client/v4"

    def add_provider(
        self,
        provider_id: str,
        name: str,
        groups: list[dict[str, Any]],
        *,
        scim: bool = True,
        kind: str = "okta",
    ) -> None:
        """Add an identity provider with these groups."""
        self.providers.append(make_provider(provider_id, name, kind, scim=scim))
        self.groups[provider_id] = groups

    def push(self, provider_id: str, group: dict[str, Any], *, at: float, method: str = "PATCH") -> None:
        """Do what an identity provider's SCIM push does to `group` (POST adds it, PUT or PATCH
        replaces the group with its id, DELETE removes it) and log it as Cloudflare does, at Unix
        time `at`."""
        with self._lock:
            groups = [old for old in self.groups[provider_id] if old["id"] != group["id"]]
            if method == "DELETE":
                self.groups[provider_id] = groups
            elif method == "POST":
                self.groups[provider_id] = [*groups, group]
            else:
                self.groups[provider_id] = [
                    group if old["id"] == group["id"] else old for old in self.groups[provider_id]
                ]
            logged_at = datetime.fromtimestamp(at, UTC)
            self.updates.append(make_update(provider_id, logged_at, group=group, method=method))

    def add_person(
        self,
        number: int,
        email: str,
        *,
        provider_id: str = PROVIDER_ID,
        kind: str = "okta",
        logged_in: bool = True,
        logins: tuple[tuple[dict[str, Any], bool, str], ...] = (),
        **identity: Any,
    ) -> dict[str, Any]:
        """Add a person Access has seen log in through `provider_id` (`logged_in`: else only a
        SCIM user, never in the registry), their last-seen identity (`identity`: its
        undocumented fields, `groups` say), and their logins: (app, allowed, RFC 3339 time) each."""
        user = make_access_user(number, email)
        if logged_in:
            self.access_users.append(user)
            self.identities[user["id"]] = make_identity(user, provider_id, kind=kind, **identity)
        for app, allowed, at in logins:
            self.access_requests.append(make_login(email, app, allowed=allowed, at=at, connection=kind))
        return user

    def group_calls(self) -> list[dict[str, list[str]]]:
        """Give back the query of every list-groups call so far."""
        with self._lock:
            return [query for path, query in self.calls if path.endswith("/scim/groups")]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self, path: str) -> tuple[Any, ...] | None:
        with self._lock:
            if self.group_faults and "/scim/groups" in path:
                return self.group_faults.pop(0)
            for fragment, faults in self.path_faults.items():
                if fragment in path and faults:
                    return faults.pop(0)
            return self.faults.pop(0) if self.faults else None

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        with self._lock:
            self.calls.append((url.path, query))
            self.call_times.append(time.perf_counter())
        self.gate.wait(timeout=30)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        # User tokens are verified at /user/tokens/verify, account tokens at the account's own
        # endpoint; either endpoint answers any other token 401, code 1000.
        verify = {
            "/client/v4/user/tokens/verify": "user",
            f"/client/v4/accounts/{self.account_id}/tokens/verify": "account",
        }
        if url.path in verify:
            if (
                request.headers.get("Authorization") != f"Bearer {self.token}"
                or verify[url.path] != self.token_kind
            ):
                return 401, failure(1000, "Invalid API Token")
            return 200, {
                "success": True,
                "errors": [],
                "messages": [],
                "result": {"id": "t1", "status": self.token_status},
            }
        if not self._authenticated(request):
            return 403, failure(10000, "Authentication error")
        if self.failure is not None:
            status, code, message = self.failure
            return status, failure(code, message)
        parts = url.path.removeprefix("/client/v4").strip("/").split("/")
        if len(parts) < 4 or parts[0] != "accounts" or parts[1] != self.account_id or parts[2] != "access":
            return 404, failure(
                7003,
                "Could not route to /" + "/".join(parts) + ", perhaps your object identifier is invalid?",
            )
        rest = parts[3:]
        needs = {
            "logs": AUDIT_PERMISSION if rest[1:2] == ["access_requests"] else LOGS_PERMISSION,
            "policies": APPS_PERMISSION,
            "apps": APPS_PERMISSION,
            "users": AUDIT_PERMISSION,
        }.get(rest[0])
        if needs in self.missing_permissions:  # as for a bad token: only the endpoint tells them apart
            return 403, failure(10000, "Authentication error")
        if rest == ["identity_providers"]:
            return self._providers(query)
        if (
            len(rest) == 4
            and rest[0] == "identity_providers"
            and rest[2] == "scim"
            and rest[1] in self.groups
        ):
            if rest[3] == "groups":
                return self._groups(self.groups[rest[1]], query)
            if rest[3] == "users":
                return users_answer(self.users.get(rest[1], []), query, totals=not self.omit_totals)
        if rest == ["logs", "scim", "updates"]:
            return updates_answer(self.updates, query)
        if rest == ["logs", "access_requests"]:
            return requests_answer(self.access_requests, query)
        if rest == ["users"]:
            return registry_answer(self.access_users, query)
        if len(rest) == 3 and rest[0] == "users" and rest[2] == "last_seen_identity":
            if rest[1] not in self.identities:
                return 404, failure(7003, "No identity found for this user")
            return 200, {"success": True, "errors": [], "messages": [], "result": self.identities[rest[1]]}
        listings = {"groups": self.access_groups, "policies": self.policies, "apps": self.apps}
        if len(rest) == 1 and rest[0] in listings:
            return listing_answer(
                listings[rest[0]],
                query,
                cap=self.access_page_cap,
                totals=not self.omit_totals,
                pages=not self.omit_total_pages,
                same_page=self.same_page_always,
            )
        return 404, failure(7003, "No route for that URI")

    def _authenticated(self, request: BaseHTTPRequestHandler) -> bool:
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            return True
        return (
            self.legacy_email is not None
            and request.headers.get("X-Auth-Email") == self.legacy_email
            and request.headers.get("X-Auth-Key") == self.legacy_key
        )

    def _providers(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """The identity provider list: paged (200 a page by default, at most 1,000), and only the
        SCIM-enabled ones with `scim_enabled=true`."""
        paged = paging(query, default_per_page=200, max_per_page=1_000)
        if isinstance(paged, str):
            return 400, failure(12130, f"access.api.error.invalid_request: {paged}")
        page, per_page = paged
        providers = self.providers
        if query.get("scim_enabled") == ["true"]:
            providers = [p for p in providers if p.get("scim_config", {}).get("enabled") is True]
        chunk = providers[(page - 1) * per_page : page * per_page]
        return 200, envelope(chunk, page=page, per_page=per_page, total=len(providers))

    def _groups(
        self, groups: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        paged = paging(query, default_per_page=100, max_per_page=100)
        if isinstance(paged, str):
            return 400, failure(12130, f"access.api.error.invalid_request: {paged}")
        page, per_page = paged
        filters = [key for key in ("cf_resource_id", "idp_resource_id", "name") if key in query]
        if len(filters) > 1:
            return 400, failure(12130, "access.api.error.invalid_request: filters cannot be combined")
        if filters and any(len(query[key]) > 50 for key in filters):
            return 400, failure(12130, "access.api.error.invalid_request: at most 50 values")
        if filters and not self.ignore_filters:
            field_name = {"cf_resource_id": "id", "idp_resource_id": "externalId", "name": "displayName"}[
                filters[0]
            ]
            groups = [group for group in groups if group.get(field_name) in query[filters[0]]]
        if self.same_page_always:
            page = 1
        if page in self.wrong_once:
            self.wrong_once.discard(page)
            page -= 1
        if self.endless:
            chunk = [make_group(n) for n in range((page - 1) * per_page, page * per_page)]
        else:
            chunk = groups[(page - 1) * per_page : page * per_page]
        total = (
            None
            if self.omit_totals
            else (self.reported_total if self.reported_total is not None else len(groups))
        )
        return 200, envelope(chunk, page=page, per_page=per_page, total=total)


@dataclass
class Post:
    """What was posted to a response_url."""

    hook: str
    body: dict[str, Any]
    received_at: float = field(default_factory=time.perf_counter)


class FakeSlack:
    """Slack's Web API (auth.test, apps.connections.open) and response_url sinks, on loopback."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.posts: list[Post] = []
        self.bot_token = BOT_TOKEN
        self.clock = clock  # what a response_url's 30 minutes are counted on
        self.issued: dict[str, float] = {}  # when each response_url was made
        self.hook_status: dict[str, int] = {}
        self.api_calls: list[str] = []  # Web API methods called, in order
        self.uses: dict[str, int] = {}  # posts to each response_url so far
        self.hanging: set[str] = set()  # hooks whose posts hang until `release` is set
        self.release = threading.Event()
        self.socket_url = ""
        # The workspace's people, as users.info gives them, and the bot's scopes.
        self.people: dict[str, dict[str, Any]] = {}
        self.scopes = {"commands", "users:read", "users:read.email", "chat:write"}
        # Channels the bot was invited to, and the messages it posted there (by ts), as edited.
        self.joined: set[str] = {"C0ALERTS"}
        self.messages: dict[str, dict[str, Any]] = {}
        # Modals opened (and each version they were updated to), by view id; trigger ids used.
        self.modals: dict[str, list[dict[str, Any]]] = {}
        self.triggers_used: set[str] = set()
        # Home tabs published, by user id.
        self.homes: dict[str, dict[str, Any]] = {}
        # Workflow steps ended, by functions.completeSuccess or completeError.
        self.completed: list[dict[str, Any]] = []
        self.in_flight = 0  # posts being answered now
        self.most_in_flight = 0  # the most ever answered at once
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Slack's servers do
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with fake._changed:
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    status, answer = fake._answer(self.path, raw, self.headers.get("Authorization", ""))
                finally:
                    with fake._changed:
                        fake.in_flight -= 1
                payload = answer.encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/json" if answer.startswith("{") else "text/plain"
                )
                self.send_header("Content-Length", str(len(payload)))
                if self.path.startswith("/api/"):  # as Slack says which scopes a token has
                    self.send_header("x-oauth-scopes", ",".join(sorted(fake.scopes)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # slack_sdk asks users.info with GET, its arguments in the query

            def log_message(self, *args: object) -> None:
                pass

        self._server, self.url = _serve(Handler)
        self.api_url = f"{self.url}/api/"

    def response_url(self, hook: str) -> str:
        """Give back a response_url whose posts land in this fake under `hook`: good for
        RESPONSE_URL_USES posts within RESPONSE_URL_SECONDS of now (its first making)."""
        self.issued.setdefault(hook, self.clock())
        return f"{self.url}/hooks/{hook}"

    def wait_for_posts(self, count: int, timeout: float = 10.0) -> list[Post]:
        """Give back the posts once there are at least `count` of them."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.posts) >= count, timeout=timeout)
            assert len(self.posts) >= count, f"expected {count} posts to response_urls, got {len(self.posts)}"
            return list(self.posts)

    def posts_for(self, hook: str) -> list[Post]:
        """Give back the posts to `hook` so far."""
        with self._changed:
            return [post for post in self.posts if post.hook == hook]

    def wait_for_hook(self, hook: str, timeout: float = 30.0) -> Post:
        """Give back the first post to `hook`, once it has come."""
        with self._changed:
            self._changed.wait_for(lambda: any(post.hook == hook for post in self.posts), timeout=timeout)
            posted = [post for post in self.posts if post.hook == hook]
            assert posted, f"nothing was posted to {hook} within {timeout:g} s"
            return posted[0]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str, raw: bytes, authorization: str) -> tuple[int, str]:
        if path.startswith("/api/"):
            self.api_calls.append(path.removeprefix("/api/"))
        if path.startswith("/api/auth.test"):
            if authorization != f"Bearer {self.bot_token}":
                return 200, json.dumps({"ok": False, "error": "invalid_auth"})
            return 200, json.dumps(
                {
                    "ok": True,
                    "url": "https://acme.slack.com/",
                    "team": "Acme",
                    "user": "scim-groups",
                    "team_id": "T0ACME",
                    "user_id": "U0BOT",
                    "bot_id": "B0BOT",
                }
            )
        if path.startswith("/api/users.info"):
            return 200, json.dumps(self._users_info(path, raw, authorization))
        if path.startswith("/api/conversations.info"):
            return 200, json.dumps(self._conversation(path, raw, authorization))
        if path.startswith(("/api/views.open", "/api/views.update")):
            return 200, json.dumps(self._modal(path.removeprefix("/api/"), raw, authorization))
        if path.startswith("/api/views.publish"):
            return 200, json.dumps(self._publish(raw, authorization))
        if path.startswith(("/api/functions.completeSuccess", "/api/functions.completeError")):
            return 200, json.dumps(self._complete(path.removeprefix("/api/"), raw, authorization))
        if path.startswith(("/api/chat.postMessage", "/api/chat.update")):
            return 200, json.dumps(self._chat(path.removeprefix("/api/"), raw, authorization))
        if path.startswith("/api/apps.connections.open"):
            if authorization != f"Bearer {APP_TOKEN}":
                return 200, json.dumps({"ok": False, "error": "invalid_auth"})
            return 200, json.dumps({"ok": True, "url": self.socket_url})
        if path.startswith("/hooks/"):
            hook = path.removeprefix("/hooks/")
            with self._changed:
                hang = hook in self.hanging
                self.uses[hook] = self.uses.get(hook, 0) + 1
                if self.uses[hook] > RESPONSE_URL_USES:  # a response_url is good for 5 uses
                    return 404, "expired_url"
                if self.clock() - self.issued.get(hook, self.clock()) > RESPONSE_URL_SECONDS:
                    return 404, "expired_url"
            if hang:
                self.release.wait(timeout=60)
                return 200, "ok"
            if hook in self.hook_status:
                return self.hook_status[hook], "internal_error"
            with self._changed:
                self.posts.append(Post(hook, json.loads(raw)))
                self._changed.notify_all()
            return 200, "ok"
        return 404, json.dumps({"ok": False, "error": "unknown_method"})

    def add_person(self, user_id: str, name: str, email: str | None, *, bot: bool = False) -> None:
        """Add a person to the workspace, as users.info describes them."""
        profile = {"real_name": name, "display_name": name.split()[0].lower(), "team": "T0ACME"}
        if email is not None:
            profile["email"] = email
        self.people[user_id] = {
            "id": user_id, "team_id": "T0ACME", "name": name.split()[0].lower(), "deleted": False,
            "real_name": name, "tz": "Europe/London", "is_admin": False, "is_bot": bot,
            "updated": 1_700_000_000, "profile": profile,
        }  # fmt: skip

    def _conversation(self, path: str, raw: bytes, authorization: str) -> dict[str, Any]:
        """Describe a channel, as Slack does with `channels:read`: whether the bot is in it."""
        if authorization != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        if "channels:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:read"}
        fields = parse_qs(urlsplit(path).query) | parse_qs(raw.decode())
        channel = (fields.get("channel") or [""])[0]
        if not channel.startswith("C"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {"id": channel, "name": "alerts", "is_member": channel in self.joined}}

    def _modal(self, method: str, raw: bytes, authorization: str) -> dict[str, Any]:
        """Open a modal (with a trigger id, used once) or replace one, as Slack does."""
        if authorization != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        body = json.loads(raw or b"{}")
        view = _view(body, "modal")
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        with self._changed:
            if method.startswith("views.open"):
                trigger = str(body.get("trigger_id") or "")
                if not trigger or trigger in self.triggers_used:
                    return {"ok": False, "error": "exchanged_trigger_id" if trigger else "invalid_trigger_id"}
                self.triggers_used.add(trigger)
                view_id = f"V0MODAL{len(self.modals)}"
            else:
                view_id = str(body.get("view_id") or "")
                if view_id not in self.modals:
                    return {"ok": False, "error": "not_found"}
            self.modals[view_id] = [*self.modals.get(view_id, []), view]
            self._changed.notify_all()
        return {"ok": True, "view": {"id": view_id, **view}}

    def wait_for_modal(self, view_id: str, versions: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Give back the versions a modal has been shown in, once there are `versions` of them."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.modals.get(view_id, [])) >= versions, timeout=timeout)
            shown = self.modals.get(view_id, [])
            assert len(shown) >= versions, f"modal {view_id}: {len(shown)} versions, not {versions}"
            return list(shown)

    def _publish(self, raw: bytes, authorization: str) -> dict[str, Any]:
        """Publish a user's Home tab, as Slack does: a home view of at most 100 blocks."""
        if authorization != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        body = json.loads(raw or b"{}")
        view = _view(body, "home")
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        with self._changed:
            self.homes[str(body.get("user_id"))] = view
            self._changed.notify_all()
        return {"ok": True, "view": {"id": "V0HOME", **view}}

    def wait_for_home(self, user_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Give back the Home view published for `user_id`, once it has been."""
        with self._changed:
            self._changed.wait_for(lambda: user_id in self.homes, timeout=timeout)
            assert user_id in self.homes, f"no Home tab was published for {user_id} within {timeout:g} s"
            return self.homes[user_id]

    def _complete(self, method: str, raw: bytes, authorization: str) -> dict[str, Any]:
        """End a workflow step, as Slack does: with the token of its event (`xwfp-…`), once."""
        if not authorization.startswith("Bearer xwfp-"):
            return {"ok": False, "error": "invalid_auth"}
        fields = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
        with self._changed:
            if any(
                done["function_execution_id"] == fields.get("function_execution_id")
                for done in self.completed
            ):
                return {"ok": False, "error": "execution_not_in_running_state"}
            outputs = json.loads(fields.get("outputs", "{}"))
            self.completed.append({**fields, "method": method, "outputs": outputs})
            self._changed.notify_all()
        return {"ok": True}

    def wait_for_completion(self, execution: str, timeout: float = 10.0) -> dict[str, Any]:
        """Give back how the workflow step `execution` ended, once it has."""
        with self._changed:
            self._changed.wait_for(
                lambda: any(done["function_execution_id"] == execution for done in self.completed),
                timeout=timeout,
            )
            ended = [done for done in self.completed if done["function_execution_id"] == execution]
            assert ended, f"the step {execution} did not end within {timeout:g} s"
            return ended[0]

    def _chat(self, method: str, raw: bytes, authorization: str) -> dict[str, Any]:
        """Post or edit a message as Slack does (slack_sdk sends these as JSON): `chat:write`
        needed, the bot a member of the channel, an edit only of a message it posted."""
        if authorization != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        if "chat:write" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "chat:write",
                    "provided": ",".join(sorted(self.scopes))}  # fmt: skip
        body = json.loads(raw or b"{}")
        channel = body.get("channel", "")
        if channel not in self.joined:
            return {
                "ok": False,
                "error": "not_in_channel" if channel.startswith("C") else "channel_not_found",
            }
        with self._changed:
            if method.startswith("chat.update"):
                if body.get("ts") not in self.messages:
                    return {"ok": False, "error": "message_not_found"}
                self.messages[body["ts"]] = {**body, "edited": True}
                ts = body["ts"]
            else:
                ts = f"{1_767_225_600 + len(self.messages)}.{len(self.messages):06d}"
                self.messages[ts] = body
            self._changed.notify_all()
        return {"ok": True, "channel": channel, "ts": ts, "message": {"type": "message", "ts": ts,
                "text": body.get("text", ""), "blocks": body.get("blocks", [])}}  # fmt: skip

    def _users_info(self, path: str, raw: bytes, authorization: str) -> dict[str, Any]:
        """Answer users.info as Slack does: the user, their email only with users:read.email."""
        if authorization != f"Bearer {self.bot_token}":
            return {"ok": False, "error": "invalid_auth"}
        if "users:read" not in self.scopes:
            provided = ",".join(sorted(self.scopes))
            return {"ok": False, "error": "missing_scope", "needed": "users:read", "provided": provided}
        asked = parse_qs(urlsplit(path).query) or parse_qs(raw.decode())
        person = self.people.get((asked.get("user") or [""])[0])
        if person is None:
            return {"ok": False, "error": "user_not_found"}
        if "users:read.email" not in self.scopes:
            person = {**person, "profile": {k: v for k, v in person["profile"].items() if k != "email"}}
        return {"ok": True, "user": person}


def _view(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """Give back the view a views.* call sends (slack_sdk may send it as a JSON string), if it is
    one Slack takes: of `kind`, at most 100 blocks."""
    view = body.get("view")
    view = json.loads(view) if isinstance(view, str) else view
    if not isinstance(view, dict) or view.get("type") != kind or len(view.get("blocks", [])) > 100:
        return None
    return view


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Give back Slack's signature of a request, computed by hand from Slack's documented recipe
    (not with the library the app verifies with): v0= and the hex HMAC-SHA256 of
    `v0:{timestamp}:{body}` keyed by the signing secret."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + digest.hexdigest()


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Give back the headers Slack sends with `body`, signed as Slack signs it."""
    moment = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": moment,
        "X-Slack-Signature": slack_signature(secret, moment, body.encode()),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_form(
    text: str,
    response_url: str,
    *,
    user_id: str = "U0ALICE",
    enterprise_id: str | None = None,
    as_sent: bool = False,
) -> dict[str, str]:
    """Give back the form fields of a `/scim-groups` slash command, its text escaped as Slack does
    (`as_sent`: the text is already as Slack sends it, its own markup unescaped among the rest).

    With `enterprise_id`, as Slack sends it from a workspace of an Enterprise Grid organisation
    where the app is installed org-wide.
    """
    grid = {"enterprise_id": enterprise_id, "enterprise_name": "Acme Corp"} if enterprise_id else {}
    return {
        **grid,
        "token": "legacy-verification-token",
        "team_id": "T0ACME",
        "team_domain": "acme",
        "channel_id": "C0ONCALL",
        "channel_name": "oncall",
        "user_id": user_id,
        "user_name": "alice",
        "command": "/scim-groups",
        "text": text if as_sent else text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "api_app_id": "A0SCIM",
        "is_enterprise_install": "true" if enterprise_id else "false",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def click_payload(
    action_id: str,
    value: str,
    response_url: str,
    *,
    user_id: str = "U0ALICE",
    enterprise_id: str | None = None,
) -> dict[str, Any]:
    """Give back a block_actions payload for a click on an ephemeral message (no `message`),
    from an Enterprise Grid organisation with `enterprise_id`."""
    grid: dict[str, Any] = (
        {"enterprise": {"id": enterprise_id, "name": "Acme Corp"}, "is_enterprise_install": True}
        if enterprise_id
        else {"enterprise": None, "is_enterprise_install": False}
    )
    return {
        "type": "block_actions",
        **grid,
        "user": {"id": user_id, "username": "alice", "team_id": "T0ACME"},
        "team": {"id": "T0ACME", "domain": "acme"},
        "api_app_id": "A0SCIM",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": "C0ONCALL",
            "is_ephemeral": True,
        },
        "channel": {"id": "C0ONCALL", "name": "oncall"},
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "scim_groups_paging",
                "value": value,
                "text": {"type": "plain_text", "text": "x"},
                "action_ts": "1700000001.000200",
            }
        ],
    }


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Give back the message's buttons by action_id."""
    found: dict[str, dict[str, Any]] = {}
    for block in message.get("blocks", []):
        if block.get("type") == "actions":
            found.update({element["action_id"]: element for element in block["elements"]})
        if block.get("accessory", {}).get("type") == "button":
            found[block["accessory"]["action_id"]] = block["accessory"]
    return found


def rich_text(block: dict[str, Any]) -> str:
    """Give back a rich_text block written as mrkdwn would say it (`*bold*`, `` `code` ``, Slack's
    date token), for tests to read: its text is shown verbatim, so nothing in it is escaped."""
    lines: list[str] = []
    for part in block.get("elements", []):
        items = part["elements"] if part["type"] == "rich_text_list" else [part]
        bullet = "• " if part["type"] == "rich_text_list" else ""
        for item in items:
            line = ""
            for element in item.get("elements", []):
                if element["type"] == "date":
                    line += f"<!date^{element['timestamp']}^{element['format']}|{element['fallback']}>"
                    continue
                text, style = element.get("text", ""), element.get("style", {})
                text = f"`{text}`" if style.get("code") else text
                line += f"*{text}*" if style.get("bold") else text
            lines.append(bullet + line)
    return "\n".join(lines)


def block_text(block: dict[str, Any]) -> str:
    """Give back what a section, context or rich_text block says (rich text as `rich_text` writes it)."""
    if block.get("type") == "rich_text":
        return rich_text(block)
    if block.get("type") == "context":
        return "  ".join(str(element.get("text", "")) for element in block["elements"])
    return str(block["text"]["text"])


def texts(message: dict[str, Any]) -> Iterator[str]:
    """Give back every piece of text in the message, the fallback `text` included (a rich_text
    block as one piece, see `rich_text`)."""
    yield message.get("text", "")
    for block in message.get("blocks", []):
        if block.get("type") == "rich_text":
            yield rich_text(block)
            continue
        for holder in [block.get("text"), *block.get("elements", []), *block.get("fields", [])]:
            if isinstance(holder, dict):
                text = holder.get("text")
                yield text if isinstance(text, str) else (text or {}).get("text", "")


def environment(cloudflare: FakeCloudflare, slack: FakeSlack, **extra: str) -> dict[str, str]:
    """Give back the environment that points the bot at the fakes."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "CLOUDFLARE_API_TOKEN": API_TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT_ID,
        "CLOUDFLARE_IDENTITY_PROVIDER_ID": PROVIDER_ID,
        "CLOUDFLARE_BASE_URL": cloudflare.base_url,
        "SCIM_GROUPS_CACHE_TTL_SECONDS": "60",
        # Answers past their TTL are not shown while refreshed behind, unless a test says so
        # (tests/test_cold_path.py): the other tests see each TTL end.
        "SCIM_GROUPS_SERVE_STALE_SECONDS": "0",
        **extra,
    }
