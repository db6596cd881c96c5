"""The bot as it is deployed: the Procfile's gunicorn, `python -m bot`, Socket Mode; as subprocesses."""

from __future__ import annotations

import json
import os
import queue
import random
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from websockets.sync.server import ServerConnection, serve

from bot.settings import PLACEHOLDERS
from tests.conftest import environment
from tests.fakes import APP_TOKEN, FakeCloudflare, FakeSlack, command_form, signed_headers

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV_EXAMPLE = (ROOT / ".env.example").read_text()


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
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            httpx.post(url, content=b"", timeout=1)
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


@pytest.mark.parametrize("entry", ["web", "python -m bot"])
def test_http_server_serves_signed_commands(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, entry: str
) -> None:
    with serving(entry, cloudflare, slack, tmp_path) as (url, _):
        body = urlencode(command_form("", slack.response_url("hook")))

        unsigned = httpx.post(
            url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        signed = httpx.post(url, content=body, headers=signed_headers(body), timeout=10)

    assert unsigned.status_code == 401
    assert signed.status_code == 200
    (post,) = slack.wait_for_posts(1)
    assert post.body["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"


@pytest.mark.parametrize(
    ("unset", "extra", "line"),
    [
        ("SLACK_BOT_TOKEN", {}, "scim-groups: SLACK_BOT_TOKEN is not set."),
        ("", {"SCIM_GROUPS_PAGE_SIZE": "50"}, "scim-groups: SCIM_GROUPS_PAGE_SIZE must be a whole number"),
        (
            "",
            {"CLOUDFLARE_IDENTITY_PROVIDER_ID": "okta"},
            "scim-groups: CLOUDFLARE_IDENTITY_PROVIDER_ID must be a UUID",
        ),
        *(
            ("", {name: value}, f"scim-groups: {name} is still the example value from .env.example")
            for name, value in PLACEHOLDERS.items()
            if name in ENV_EXAMPLE
        ),
    ],
)
@pytest.mark.parametrize("process", ["web", "python -m bot"])
def test_a_bad_setting_stops_the_process_with_one_plain_line(
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    tmp_path: Path,
    unset: str,
    extra: dict[str, str],
    line: str,
    process: str,
) -> None:
    variables = {**environment(cloudflare, slack), **extra, "PORT": str(free_port())}
    variables.pop(unset, None)
    command = procfile_command("web") if process == "web" else [sys.executable, "-m", "bot"]

    result = subprocess.run(
        command, cwd=tmp_path, env=clean_env(**variables), capture_output=True, timeout=30
    )

    assert result.returncode != 0
    output = result.stdout.decode() + result.stderr.decode()
    assert output.strip().splitlines() == [output.strip()]
    assert output.startswith(line)
    assert "Traceback" not in output


def one_line_failure(command: list[str], variables: dict[str, str], cwd: Path) -> str:
    """Run `command`; give back its output, checked to be one plain line and a failure."""
    result = subprocess.run(command, cwd=cwd, env=clean_env(**variables), capture_output=True, timeout=30)
    output = (result.stdout.decode() + result.stderr.decode()).strip()
    assert result.returncode != 0, output
    assert output.splitlines() == [output], output
    assert "Traceback" not in output
    return output


def test_the_placeholders_are_the_ones_in_env_example() -> None:
    for name, value in PLACEHOLDERS.items():
        assert f"{name}={value}\n" in ENV_EXAMPLE


@pytest.mark.parametrize("process", ["web", "python -m bot"])
def test_a_dotenv_that_is_not_utf8_stops_the_process_with_one_plain_line(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, process: str
) -> None:
    (tmp_path / ".env").write_bytes("SCIM_GROUPS_PAGE_SIZE=10\nLOG_LEVEL=INFO # é\n".encode("latin-1"))
    command = procfile_command("web") if process == "web" else [sys.executable, "-m", "bot"]
    variables = {**environment(cloudflare, slack), "PORT": str(free_port())}

    output = one_line_failure(command, variables, tmp_path)

    assert output == "scim-groups: .env is not UTF-8 text: save it as UTF-8 and start again."


def test_a_busy_port_stops_python_m_bot_with_one_plain_line(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        variables = {**environment(cloudflare, slack), "PORT": str(port)}

        output = one_line_failure([sys.executable, "-m", "bot"], variables, tmp_path)

    assert output.startswith(f"scim-groups: cannot listen on port {port}")
    assert output.endswith("stop the process that uses it, or set PORT to another port.")


@pytest.mark.parametrize(
    ("token", "reachable", "line"),
    [
        (
            "xapp-wrong",
            True,
            "scim-groups: Slack refused SLACK_APP_TOKEN (invalid_auth): create an app-level",
        ),
        (APP_TOKEN, False, "scim-groups: Slack could not be reached for Socket Mode (URLError)"),
    ],
)
def test_socket_mode_with_a_bad_or_unreachable_app_token_stops_with_one_plain_line(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, token: str, reachable: bool, line: str
) -> None:
    variables = environment(cloudflare, slack, SLACK_APP_TOKEN=token)
    variables.pop("SLACK_SIGNING_SECRET")
    if not reachable:
        variables["SLACK_API_URL"] = f"http://127.0.0.1:{free_port()}/api/"

    assert one_line_failure([sys.executable, "-m", "bot"], variables, tmp_path).startswith(line)


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


def test_socket_mode_round_trip(cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path) -> None:
    socket_mode = FakeSocketMode()
    slack.socket_url = socket_mode.url
    variables = environment(cloudflare, slack, SLACK_APP_TOKEN=APP_TOKEN)
    variables.pop("SLACK_SIGNING_SECRET")
    try:
        with running([sys.executable, "-m", "bot"], clean_env(**variables), tmp_path):
            assert socket_mode.connected.get(timeout=30)
            socket_mode.outbox.put(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": command_form("", slack.response_url("hook")),
                }
            )
            ack = socket_mode.acks.get(timeout=20)
    finally:
        socket_mode.close()

    assert ack["envelope_id"] == "env-1"
    (post,) = slack.wait_for_posts(1)
    assert post.body["response_type"] == "ephemeral"
    assert post.body["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"


def test_web_concurrency_in_dotenv_sets_the_procfiles_workers(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("WEB_CONCURRENCY=3\n")
    with serving("web", cloudflare, slack, tmp_path) as (_, server):
        deadline = time.monotonic() + 20
        children: list[str] = []
        while len(children) < 3 and time.monotonic() < deadline:
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            time.sleep(0.1)

    assert len(children) == 3
