"""Helpers the test modules share: servers started as the Procfile starts them, a real
redis-server, checks every reply must pass, and small readers of messages. Test modules import
from here (or from the fakes), never from one another."""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from slack_sdk.models.blocks import Block
from websockets.sync.server import ServerConnection, serve

from bot import tls
from bot.cloudflare import (
    ScimGroup,
)
from bot.directory import Listing
from bot.query import Query, Show
from tests.fake_access import group_rule, make_access_group, make_app, make_policy, make_update, make_user
from tests.fakes import (
    PROVIDER_ID,
    FakeCloudflare,
    FakeSlack,
    buttons,
    environment,
    texts,
)


class RedisServer:
    """A redis-server of our own on a free loopback port, which tests may stop and start."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tmp_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self._dir,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.025)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


# Slack dates (a change: how long ago and when; an answer: fetched at, or how long ago) and mentions.
OUR_MARKUP = re.compile(
    r"<!date\^\d+\^((\{ago\} · )?\{date_short_pretty\} at \{time\}|\{time\}|\{ago\})\|[^<>]*>"
    r"|<@U[A-Z0-9]+>"
)
ESCAPED_OR_PLAIN = re.compile(r"&(?!amp;|lt;|gt;)|[<>]")


def setting_names() -> set[str]:
    return set(re.findall(r'env, "([A-Z_]+)"', SETTINGS_SOURCE))


def check_limits(message: dict[str, Any]) -> None:
    blocks = message["blocks"]
    assert message["text"].strip()
    assert len(message["text"]) <= 3_000
    assert 1 <= len(blocks) <= 50
    assert sum(len(text) for text in texts(message)) <= 12_000
    block_ids = [block["block_id"] for block in blocks if "block_id" in block]
    assert len(block_ids) == len(set(block_ids))
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()  # slack_sdk's own limit checks
        parsed.to_dict()
        for empty in _empty_texts(block):  # Slack refuses a text object with no text
            raise AssertionError(f"an empty text in {block}: {empty}")
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert 1 <= len(block["text"]["text"]) <= 3_000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
    for button in buttons(message).values():
        assert 1 <= len(button["text"]["text"]) <= 75
        assert len(button["value"]) <= 2_000
        assert len(button["action_id"]) <= 255


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    found = [message["text"]]  # notifications render the fallback as mrkdwn
    for block in message["blocks"]:
        for holder in [block.get("text"), *block.get("elements", []), *block.get("fields", [])]:
            if isinstance(holder, dict) and holder.get("type") == "mrkdwn":
                found.append(holder["text"])
    return found


def check_inert(message: dict[str, Any]) -> None:
    for text in mrkdwn_texts(message):
        assert ESCAPED_OR_PLAIN.search(OUR_MARKUP.sub("", text)) is None, text
    for block in message["blocks"]:  # verbatim: Slack turns no name into a link or a mention
        for holder in [block.get("text"), *block.get("elements", []), *block.get("fields", [])]:
            if isinstance(holder, dict) and holder.get("type") == "mrkdwn":
                assert holder.get("verbatim") is True, holder


class Later(Executor):
    """An executor that runs what it is given only when the test says so."""

    def __init__(self) -> None:
        self.queued: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.queued.append((fn, args))
        return Future()

    def run(self) -> None:
        queued, self.queued = self.queued, []
        for fn, args in queued:
            fn(*args)


def group_names(message: dict[str, Any]) -> list[str]:
    """Give back the names of the groups shown: each is the bold first line of its block."""
    return [
        block["elements"][0]["elements"][0]["text"]
        for block in message["blocks"]
        if block["type"] == "rich_text" and block["elements"][0]["elements"][0].get("style") == {"bold": True}
    ]


AS_OF = re.compile(r" · as of <!date\^\d+\^\{time\}\|\d\d:\d\d UTC>")


def context(message: dict[str, Any]) -> str:
    """Give back the first context line, without the time its answer was fetched (tested on its own)."""
    line = str(next(b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context"))
    return AS_OF.sub("", line, count=1)


ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SETTINGS_SOURCE = (ROOT / "bot" / "settings.py").read_text()


def free_port() -> int:
    """Give back a loopback port that is free now, for a server the test starts.

    It is picked below the kernel's ephemeral range (32768 and up here), never by binding port 0:
    a port from that range can be taken by any outgoing connection the other tests open before
    the server binds it, and the server then exits with "Address already in use".
    """
    while True:
        port = random.randrange(15_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def procfile_command(process: str) -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return shlex.split(command)
    raise AssertionError(f"no {process} process in the Procfile")


def clean_env(**variables: str) -> dict[str, str]:
    return {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1", **variables}


@contextmanager
def running(command: list[str], env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "process.log").open("wb")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(timeout=1, verify=tls.context()) as client:  # one TLS context, not one a try
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited"
            try:
                client.post(url, content=b"")
                return
            except httpx.TransportError:
                time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@contextmanager
def serving(
    entry: str, cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start an HTTP entry point ("web" from the Procfile, or "python -m bot") against the fakes;
    give back its /slack/events URL and the process, once it answers."""
    port = free_port()
    env = clean_env(PORT=str(port), **environment(cloudflare, slack), **extra)
    url = f"http://127.0.0.1:{port}/slack/events"
    command = procfile_command("web") if entry == "web" else [sys.executable, "-m", "bot"]
    with running(command, env, tmp_path) as server:
        wait_until_serving(url, server)
        yield url, server


class FakeSocketMode:
    """Slack's Socket Mode endpoint: says hello, sends envelopes, collects the acks."""

    def __init__(self) -> None:
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self.outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected: queue.Queue[bool] = queue.Queue()
        self.disconnected = threading.Event()
        self._server = serve(self._session, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/link"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()

    def _session(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0SCIM"}})
        )
        self.connected.put(True)
        while True:
            try:
                envelope = self.outbox.get(timeout=0.05)
                connection.send(json.dumps(envelope))
            except queue.Empty:
                pass
            try:
                self.acks.put(json.loads(connection.recv(timeout=0.05)))
            except TimeoutError:
                continue
            except Exception:  # the bot closed the connection
                self.disconnected.set()
                return


def listing(groups: list[ScimGroup], **changes: Any) -> Listing:
    fields: dict[str, Any] = {
        "items": tuple(groups),
        "page": 1,
        "page_size": 10,
        "has_next": False,
        "total": len(groups),
        "total_is_lower_bound": False,
        "from_cache": False,
    }
    return Listing(**{**fields, **changes})


QUERY = Show(Query(PROVIDER_ID), page=1, page_size=10)


def _empty_texts(item: object) -> Iterator[object]:
    if isinstance(item, dict):
        text = item.get("text")
        # A rich text element may be a line break; a text object needs something to show.
        if isinstance(text, str) and not (text if item.get("type") == "text" else text.strip()):
            yield item
        for value in item.values():
            yield from _empty_texts(value)
    elif isinstance(item, list):
        for value in item:
            yield from _empty_texts(value)


@contextmanager
def trickling(url: str, count: int, *, headers_only: bool) -> Iterator[list[socket.socket]]:
    """Hold `count` connections that sent a request's start and then go quiet, as Slowloris does."""
    parts = urlsplit(url)
    with ExitStack() as stack:
        held = []
        for _ in range(count):
            connection = stack.enter_context(socket.create_connection((parts.hostname, parts.port)))
            start = f"POST {parts.path} HTTP/1.1\r\nHost: x\r\n"
            if not headers_only:
                start += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\nte"
            connection.sendall(start.encode())
            held.append(connection)
        yield held


# `why`: an account where one application's policies decide for people Access knows in each way.
WHY_AZURE = "0f7c2a1e-0000-4000-8000-00000000a2a2"
WHY_APP = "6c1f9a52-7d0e-4b8a-9f3e-2a1b0c9d8e7f"
WHY_STAGING = "7d2a0b63-8e1f-4c9b-a04f-3b2c1d0e9f80"
WHY_ACCESS_GROUP = "1a2b3c4d-0000-4000-8000-0000000000a1"
PLATFORM_ID = "00gPLATFORM1"


def why_story(cloudflare: FakeCloudflare, clock_time: float) -> dict[str, Any]:
    """Set up the `why` account: Grafana, whose Block policy stops contractors and whose Allow
    policy lets in the Okta group Platform (through the Access group SRE on call) logging in
    through Okta; and Jane (allowed), Bob (in no group, denied), Nora (never logged in), Gus
    (deactivated by Okta) and Wendy (logs in through Azure AD, which Grafana does not offer).
    Give back the application."""
    cloudflare.groups[PROVIDER_ID][7].update(displayName="Platform", externalId=PLATFORM_ID)
    cloudflare.add_provider(WHY_AZURE, "Azure AD", [], kind="azureAD", scim=False)
    platform = group_rule("okta", PROVIDER_ID, "Platform")
    cloudflare.access_groups.append(make_access_group(WHY_ACCESS_GROUP, "SRE on call", include=[platform]))
    policies = [
        make_policy("p-contractors", "Contractors", "deny", precedence=1,
                    include=[{"email_domain": {"domain": "contractor.example.com"}}]),
        make_policy("p-platform", "Platform engineers", "allow", precedence=2,
                    include=[{"group": {"id": WHY_ACCESS_GROUP}}],
                    require=[{"login_method": {"id": PROVIDER_ID}}]),
    ]  # fmt: skip
    grafana = make_app(WHY_APP, "Grafana", "grafana.example.com", policies, idps=[PROVIDER_ID])
    staging = make_app(WHY_STAGING, "Grafana Staging", "grafana-staging.example.com", policies, idps=[])
    cloudflare.apps += [grafana, staging]
    people = [make_user(n, email=email) for n, email in enumerate(WHY_PEOPLE)]
    people[3]["active"] = False
    cloudflare.users[PROVIDER_ID] = people
    platform_group = [{"id": PLATFORM_ID, "name": "Platform", "email": ""}]
    cloudflare.add_person(
        0, "jane@example.com", groups=platform_group, logins=((grafana, True, "2025-12-31T22:10:00Z"),)
    )
    cloudflare.add_person(
        1,
        "bob@example.com",
        groups=[],
        logins=((grafana, False, "2025-12-31T23:40:00Z"), (staging, True, "2025-12-31T23:41:00Z")),
    )
    cloudflare.add_person(2, "nora@example.com", logged_in=False)
    cloudflare.add_person(3, "gus@example.com", groups=platform_group)
    cloudflare.add_person(4, "wendy@example.com", provider_id=WHY_AZURE, kind="azureAD", groups=[])
    failed_at = datetime.fromtimestamp(clock_time - 3_600, UTC)
    cloudflare.updates.append(
        make_update(PROVIDER_ID, failed_at, status="FAILURE", group=cloudflare.groups[PROVIDER_ID][7],
                    error="Group name conflicts with an existing group")
    )  # fmt: skip
    return grafana


WHY_PEOPLE = (
    "jane@example.com",
    "bob@example.com",
    "nora@example.com",
    "gus@example.com",
    "wendy@example.com",
)
