"""Running it in production: check, health, metrics, audit log, clean shutdown, version."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from bot import __version__
from bot.check import run_checks
from tests.conftest import SlackDriver, wait_until
from tests.fake_access import AUDIT_PERMISSION, LOGS_PERMISSION
from tests.fakes import (
    API_TOKEN,
    APP_TOKEN,
    BOT_TOKEN,
    PROVIDER_ID,
    SIGNING_SECRET,
    FakeCloudflare,
    FakeSlack,
    command_form,
    environment,
    signed_headers,
)
from tests.helpers import (
    FakeSocketMode,
    clean_env,
    free_port,
    procfile_command,
    running,
    serving,
    wait_until_serving,
)

SECRETS = (API_TOKEN, BOT_TOKEN, SIGNING_SECRET, APP_TOKEN)


def check(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, **changes: str | None
) -> tuple[int, str]:
    """Run `python -m bot check`'s checks in this process, on these settings (None: unset); give
    back the exit status and what it printed. The command itself is run by two tests."""
    variables = {**environment(cloudflare, slack), **changes}
    env = {name: value for name, value in variables.items() if value is not None}
    out, logged, root = io.StringIO(), io.StringIO(), logging.getLogger()
    handler, level = logging.StreamHandler(logged), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # every line it would log, secrets or not
    try:
        status = run_checks(env, out)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    for secret in SECRETS:
        assert secret not in out.getvalue() + logged.getvalue()
    assert "Traceback" not in logged.getvalue()
    return status, out.getvalue()


def check_command(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, **changes: str | None
) -> tuple[int, str]:
    """Run `python -m bot check` as a process of its own, as its user does."""
    variables = {**environment(cloudflare, slack), **changes}
    env = clean_env(**{name: value for name, value in variables.items() if value is not None})
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout


def test_check_passes_when_everything_is_right(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    status, out = check_command(cloudflare, slack, tmp_path)

    assert status == 0, out
    assert out.splitlines() == [
        "✓ Slack settings are present and well-formed",
        "✓ Cloudflare settings are present and well-formed",
        "✓ Other settings are present and well-formed",
        "✓ Slack accepts the bot token: workspace Acme (T0ACME), bot @scim-groups",
        "✓ Optional: the bot has users:read and users:read.email (user: by Slack mention)",
        "✓ Cloudflare accepts the API token (user token, active)",
        "✓ The credentials can read Access identity providers of account "
        "0123456789abcdef0123456789abcdef (1 found)",
        "✓ The default identity provider is Okta Production (okta), SCIM enabled",
        "✓ Read the first page of SCIM groups from Okta Production: 45 shown, 45 in all",
        "✓ Optional: the token has “Access: SCIM Logs Read” (`failures`, History, users' SCIM pushes, "
        "cheap refreshes of large directories)",
        "✓ Optional: the token has “Access: Apps and Policies Read” (Used by: applications and policies; "
        "`why`)",
        "✓ Optional: the token has “Access: Audit Logs Read” (`why`: whether a person ever logged in, the "
        "identity Access last saw, their recent logins)",
        "",
        "All checks passed: the bot is ready.",
    ]


def test_check_names_a_missing_optional_permission_without_failing(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    cloudflare.missing_permissions = {LOGS_PERMISSION}

    status, out = check(cloudflare, slack, tmp_path)

    assert status == 0, out
    assert (
        "○ Optional: the token does not have “Access: SCIM Logs Read”\n"
        "    → Add it to the token for `failures`, History, users' SCIM pushes, cheap refreshes of large "
        "directories; everything else works "
        "without it.\n"
    ) in out
    assert out.endswith("All checks passed: the bot is ready.\n")


def test_check_names_the_missing_audit_logs_permission_for_why(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    cloudflare.missing_permissions = {AUDIT_PERMISSION}

    status, out = check(cloudflare, slack, tmp_path)

    assert status == 0, out
    assert "○ Optional: the token does not have “Access: Audit Logs Read”\n" in out
    assert "✓ Optional: the token has “Access: SCIM Logs Read”" in out


def test_check_names_the_missing_optional_slack_scopes_without_failing(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    slack.scopes = {"commands", "users:read"}

    status, out = check(cloudflare, slack, tmp_path)

    assert status == 0, out
    assert (
        "○ Optional: the bot does not have users:read.email\n"
        "    → Add users:read.email under OAuth & Permissions and reinstall the app, for user: by Slack "
        "mention; everything else works without them.\n"
    ) in out
    assert out.endswith("All checks passed: the bot is ready.\n")


def test_check_explains_a_refused_bot_token(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    status, out = check_command(cloudflare, slack, tmp_path, SLACK_BOT_TOKEN="xoxb-revoked")

    assert status == 1
    assert (
        "✗ Slack refused SLACK_BOT_TOKEN (invalid_auth)\n    → Copy the Bot User OAuth Token (xoxb-…)" in out
    )


def test_check_explains_a_missing_permission(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    cloudflare.failure = (403, 10000, "Authentication error")

    status, out = check(cloudflare, slack, tmp_path)

    assert status == 1
    assert "✗ Cloudflare refused the credentials" in out
    assert (
        "→ Give the API token the “Access: Organizations, Identity Providers, and Groups Read” permission"
        in out
    )


def test_check_explains_a_wrong_account(cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path) -> None:
    status, out = check(cloudflare, slack, tmp_path, CLOUDFLARE_ACCOUNT_ID="ffffffffffffffffffffffffffffffff")

    assert status == 1
    assert "✗ Cloudflare does not know account ffffffffffffffffffffffffffffffff" in out
    assert "→ Copy the Account ID from the Cloudflare dashboard into CLOUDFLARE_ACCOUNT_ID." in out


def test_check_explains_an_invalid_cloudflare_token(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    status, out = check(cloudflare, slack, tmp_path, CLOUDFLARE_API_TOKEN="not-the-token")

    assert status == 1
    assert "✗ Cloudflare refused the API token (HTTP 401; 1000: Invalid API Token)" in out


def test_check_explains_a_provider_without_scim(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    cloudflare.providers[0]["scim_config"]["enabled"] = False

    status, out = check(cloudflare, slack, tmp_path)

    assert status == 1
    assert "✗ The identity provider Okta Production does not have SCIM provisioning enabled" in out


def test_check_names_a_missing_setting_and_still_checks_the_rest(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    status, out = check(cloudflare, slack, tmp_path, CLOUDFLARE_ACCOUNT_ID=None)

    assert status == 1
    assert "✗ CLOUDFLARE_ACCOUNT_ID is not set.\n    → Set it in the environment or in .env" in out
    assert "✓ Slack accepts the bot token" in out


def test_check_tests_the_socket_mode_app_token(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    good, out = check(cloudflare, slack, tmp_path, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=None)
    assert good == 0, out
    assert "✓ Slack accepts the Socket Mode app token" in out

    bad, out = check(cloudflare, slack, tmp_path, SLACK_APP_TOKEN="xapp-wrong", SLACK_SIGNING_SECRET=None)
    assert bad == 1
    assert "✗ Slack refused SLACK_APP_TOKEN (invalid_auth)" in out


@pytest.mark.parametrize("token", ["cfat_" + "a" * 40, "an-older-account-token-without-a-prefix"])
def test_check_passes_with_an_account_api_token(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, token: str
) -> None:
    cloudflare.token, cloudflare.token_kind = token, "account"

    status, out = check(cloudflare, slack, tmp_path, CLOUDFLARE_API_TOKEN=token)

    assert status == 0, out
    assert "✓ Cloudflare accepts the API token (account token, active)" in out


def test_check_says_a_disabled_token_is_disabled(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    cloudflare.token_status = "disabled"

    status, out = check(cloudflare, slack, tmp_path)

    assert status == 1
    assert "✗ The Cloudflare API token is disabled" in out


def test_check_does_not_blame_the_account_for_a_verify_endpoint_that_is_missing(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    status, out = check(cloudflare, slack, tmp_path, CLOUDFLARE_BASE_URL=cloudflare.url + "/wrong/v4")

    assert status == 1
    assert "does not know account" not in out
    assert "✗ Cloudflare has no token check at CLOUDFLARE_BASE_URL (HTTP 404" in out
    assert "→ Check CLOUDFLARE_BASE_URL" in out


def test_check_reports_an_unreachable_slack_and_still_checks_cloudflare(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    status, out = check(cloudflare, slack, tmp_path, SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")

    assert status == 1
    assert "✗ Slack could not be reached (URLError)" in out
    assert "✓ Cloudflare accepts the API token" in out
    assert "✓ Read the first page of SCIM groups" in out


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, timeout=30
    )

    assert result.stdout == f"scim-groups {__version__}\n"


def test_healthz_and_metrics_from_the_procfile_server_with_two_workers(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    port = free_port()
    env = clean_env(PORT=str(port), WEB_CONCURRENCY="2", **environment(cloudflare, slack))
    base = f"http://127.0.0.1:{port}"
    with running(procfile_command("web"), env, tmp_path) as server:
        wait_until_serving(f"{base}/slack/events", server)
        health = httpx.get(f"{base}/healthz")
        for _ in range(4):  # spread over both workers
            body = urlencode(command_form("", slack.response_url("hook")))
            assert httpx.post(
                f"{base}/slack/events", content=body, headers=signed_headers(body), timeout=10
            ).is_success
        # An answer is counted when it is made, which may be after its ack: wait for all four.
        counted = re.compile(
            r'^scim_groups_requests_total\{kind="command",outcome="ok"\} 4\.0$', re.MULTILINE
        )
        wait_until(lambda: counted.search(httpx.get(f"{base}/metrics").text), "four answers counted")
        scrape = httpx.get(f"{base}/metrics").text

    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": __version__}
    assert counted.search(scrape)
    assert re.search(r'^scim_groups_cache_total\{result="(hit|miss)"\} \d', scrape, re.MULTILINE)
    assert re.search(r'^scim_groups_upstream_requests_total\{status="200"\} \d', scrape, re.MULTILINE)
    assert "scim_groups_upstream_latency_seconds_bucket" in scrape


def test_healthz_needs_no_signature_and_calls_no_one(
    bot: SlackDriver, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    response = bot.http.get(f"{bot.url}/healthz")

    assert response.json() == {"status": "ok", "version": __version__}
    assert cloudflare.calls == []
    assert slack.posts == []


def test_every_command_and_click_leaves_one_audit_line(
    bot: SlackDriver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    from tests.fakes import buttons

    page = bot.command()
    bot.click(buttons(page)["scim_groups_next"])
    bot.command()

    audit = [
        record
        for record in caplog.records
        if getattr(record, "fields", {}).get("event") in ("command", "click")
    ]
    assert [record.fields for record in audit] == [  # type: ignore[attr-defined]
        {"event": "command", "user": "U0ALICE", "channel": "C0ONCALL", "team": "T0ACME", "query": "browse",
         "provider": PROVIDER_ID, "results": 45, "cache": "miss", "upstream_calls": 2,
         "latency_ms": 0, "outcome": "ok"},
        {"event": "click", "user": "U0ALICE", "channel": "C0ONCALL", "team": "T0ACME", "action": "next",
         "query": "browse", "provider": PROVIDER_ID, "results": 45, "cache": "hit",
         "upstream_calls": 0, "latency_ms": 0, "outcome": "ok"},
        {"event": "command", "user": "U0ALICE", "channel": "C0ONCALL", "team": "T0ACME", "query": "browse",
         "provider": PROVIDER_ID, "results": 45, "cache": "hit", "upstream_calls": 0,
         "latency_ms": 0, "outcome": "ok"},
    ]  # fmt: skip
    assert "group-00000" not in caplog.text  # group names only at debug level


def test_group_names_are_logged_at_debug_level(bot: SlackDriver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    bot.command()

    assert "group-00000" in caplog.text


def test_json_logs_from_the_real_process(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    with serving("python -m bot", cloudflare, slack, tmp_path, LOG_FORMAT="json") as (url, _):
        body = urlencode(command_form("oncall", slack.response_url("hook")))
        httpx.post(url, content=body, headers=signed_headers(body), timeout=10)
    lines = [
        json.loads(line)
        for line in (tmp_path / "process.log").read_text().splitlines()
        if line.startswith("{")
    ]

    starting = next(line for line in lines if line.get("event") == "starting")
    command = next(line for line in lines if line.get("event") == "command")
    assert starting["version"] == __version__
    assert command["query"] == "search"
    assert "text" not in command  # what was asked is logged at DEBUG only
    assert "oncall" not in json.dumps(command)
    assert command["outcome"] == "empty"
    assert command["level"] == "INFO"


@pytest.mark.parametrize("entry", ["web", "python -m bot"])
def test_with_json_logs_every_line_the_process_writes_is_json(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, entry: str
) -> None:
    with serving(entry, cloudflare, slack, tmp_path, LOG_FORMAT="json") as (url, _):
        body = urlencode(command_form("", slack.response_url("hook")))
        httpx.post(url, content=body, headers=signed_headers(body), timeout=10)
        slack.wait_for_hook("hook")
    written = [line for line in (tmp_path / "process.log").read_text().splitlines() if line.strip()]

    not_json = []
    for line in written:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert written
    assert not_json == [], not_json
    assert not any("Control socket" in line for line in written), "gunicorn opened its control socket"


@pytest.mark.parametrize("entry", ["web", "python -m bot"])
def test_a_reply_in_flight_at_sigterm_still_reaches_slack(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, entry: str
) -> None:
    with serving(entry, cloudflare, slack, tmp_path) as (url, server):
        cloudflare.gate.clear()
        body = urlencode(command_form("", slack.response_url("late")))
        ack = httpx.post(url, content=body, headers=signed_headers(body), timeout=10)
        assert ack.status_code == 200
        assert ack.content == b""  # acked; the answer is still to come

        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.poll() is None  # still finishing its reply
        cloudflare.gate.set()
        (post,) = slack.wait_for_posts(1, timeout=20)
        assert server.wait(timeout=30) == 0

    assert post.hook == "late"
    assert post.body["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"


def test_socket_mode_disconnects_cleanly_on_sigterm(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    socket_mode = FakeSocketMode()
    slack.socket_url = socket_mode.url
    variables = environment(cloudflare, slack, SLACK_APP_TOKEN=APP_TOKEN)
    variables.pop("SLACK_SIGNING_SECRET")
    try:
        with running([sys.executable, "-m", "bot"], clean_env(**variables), tmp_path) as process:
            assert socket_mode.connected.get(timeout=30)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert socket_mode.disconnected.wait(timeout=10)
    finally:
        socket_mode.close()
    assert "stopping mode=socket" in (tmp_path / "process.log").read_text()


def test_a_bot_about_to_serve_starts_its_answer_threads_and_freezes_its_start_up_heap(
    cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    from bot.app import ANSWER_THREADS, build_app, build_service, settle
    from bot.settings import load_settings

    settings = load_settings(environment(cloudflare, slack))
    bot = build_app(settings, build_service(settings))
    answer_threads = len([thread for thread in threading.enumerate() if thread.name.startswith("answer")])
    try:
        settle(bot)
        started = [thread for thread in threading.enumerate() if thread.name.startswith("answer")]
        assert len(started) == answer_threads + ANSWER_THREADS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
