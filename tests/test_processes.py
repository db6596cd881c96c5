"""The bot as it is deployed: the Procfile's gunicorn, `python -m bot`, Socket Mode; as subprocesses."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import settings_or_exit
from bot.settings import PLACEHOLDERS
from tests.fakes import APP_TOKEN, FakeCloudflare, FakeSlack, command_form, environment, signed_headers
from tests.helpers import (
    ROOT,
    FakeSocketMode,
    clean_env,
    free_port,
    procfile_command,
    running,
    serving,
    setting_names,
)

ENV_EXAMPLE = (ROOT / ".env.example").read_text()


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


BAD_SETTINGS = [
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
]


@pytest.mark.parametrize(("unset", "extra", "line"), [BAD_SETTINGS[0], BAD_SETTINGS[-1]])
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


@pytest.mark.parametrize(("unset", "extra", "line"), BAD_SETTINGS)
def test_each_bad_setting_is_named_in_the_one_line_the_process_stops_with(
    cloudflare: FakeCloudflare,
    slack: FakeSlack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unset: str,
    extra: dict[str, str],
    line: str,
) -> None:
    # What both entry points run before anything else (the test above runs them as processes).
    monkeypatch.chdir(tmp_path)
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in {**environment(cloudflare, slack), **extra}.items():
        if name != unset:
            monkeypatch.setenv(name, value)

    with pytest.raises(SystemExit) as stopped:
        settings_or_exit()

    output = capsys.readouterr()
    assert stopped.value.code == 2
    assert output.out == ""
    assert output.err.startswith(line)
    assert output.err.strip().splitlines() == [output.err.strip()]


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
