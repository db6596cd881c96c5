"""The README, manifest and .env.example tell the truth about the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.settings import PLACEHOLDERS, SettingsError, load_settings, read_environment
from bot.slack_people import SCOPES as MENTION_SCOPES
from tests.helpers import setting_names

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_SOURCE = (ROOT / "bot" / "settings.py").read_text()
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()


def test_settings_are_found_in_the_source() -> None:
    assert {"SLACK_BOT_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "SCIM_GROUPS_PAGE_SIZE", "PORT"} <= setting_names()


def test_every_setting_is_documented_in_the_readme_and_env_example() -> None:
    for name in setting_names():
        assert f"`{name}`" in README, name
        assert re.search(rf"^{name}=", ENV_EXAMPLE, flags=re.MULTILINE), name


def test_env_example_is_valid_once_its_example_values_are_replaced(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(ENV_EXAMPLE)
    with pytest.raises(SettingsError, match=r"is still the example value from \.env\.example"):
        load_settings(read_environment({}, dotenv=dotenv))
    filled = ENV_EXAMPLE
    for name, value in PLACEHOLDERS.items():
        filled = filled.replace(f"{name}={value}", f"{name}={value[:-1]}0")  # any other value
    dotenv.write_text(filled)

    settings = load_settings(read_environment({}, dotenv=dotenv))

    assert settings.page_size == 10


def test_quick_start_is_make_demo_and_make_test() -> None:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]

    commands = re.findall(r"^(make \w+)", quick_start, flags=re.MULTILINE)

    assert commands == ["make demo", "make test"]


def test_manifest_creates_the_app() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())

    assert manifest["_metadata"]["major_version"] == 1
    assert len(manifest["display_information"]["name"]) <= 35
    assert manifest["features"]["bot_user"]["display_name"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/scim-groups"
    assert command["description"]
    for option in ("id:", "external:", "idp:", "why", "help"):
        assert option in command["usage_hint"]
    assert command["url"].endswith("/slack/events")
    # `commands` is all the bot needs; the two others are optional (Slack mentions), as the bot's own.
    assert manifest["oauth_config"]["scopes"]["bot"] == ["commands", *MENTION_SCOPES, "chat:write"]
    assert command["should_escape"] is True  # a person picked as you type @ arrives as <@U…|name>
    assert manifest["settings"]["interactivity"] == {
        "is_enabled": True,
        "request_url": command["url"],
    }
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_procfile_runs_gunicorn_on_the_app() -> None:
    assert (
        ROOT / "Procfile"
    ).read_text() == "web: gunicorn --config python:bot.gunicorn_config bot.asgi:application\n"
    assert "web: gunicorn --config python:bot.gunicorn_config bot.asgi:application" in README


def test_the_readme_and_help_show_the_same_examples() -> None:
    from bot.views import render_help

    help_text = render_help()["blocks"][0]["text"]["text"]
    examples = re.findall(r"`(/scim-groups [^`]+)`", help_text)
    assert len(examples) >= 5
    for example in examples:
        assert example.replace("_oncall_", "oncall") in README, example


def test_the_changelog_names_the_formats_a_deploy_changes() -> None:
    from bot import __version__
    from bot.codec import VERSION
    from bot.query import BUTTON_VERSION

    changelog = (ROOT / "CHANGELOG.md").read_text()

    assert f"(`BUTTON_VERSION` in `bot/query.py`, now {BUTTON_VERSION})" in changelog
    assert f"(`VERSION` in `bot/codec.py`, now {VERSION}), under keys `scim-groups:v{VERSION}:…`" in changelog
    assert f"`scim-groups:v{VERSION}:…`" in (ROOT / "docs" / "DEPLOYING.md").read_text()
    assert re.search(rf"^## {re.escape(__version__)} — \d{{4}}-\d\d-\d\d$", changelog, re.MULTILINE)


@pytest.mark.parametrize(
    "page",
    ["README.md", "SECURITY.md", "CHANGELOG.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))],
)
def test_every_relative_link_leads_to_a_file(page: str) -> None:
    text = (ROOT / page).read_text()

    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert ((ROOT / page).parent / target).exists(), f"{page} links to {target}, which does not exist"


def test_the_readme_example_is_what_make_demo_prints() -> None:
    import subprocess
    import sys

    example = README.split("## An example reply", 1)[1].split("```\n", 2)[1].splitlines()
    printed = subprocess.run(
        [sys.executable, "-m", "bot", "preview", "--demo"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    ).stdout.splitlines()

    def timeless(line: str) -> str:  # how long ago depends on the day the test runs
        line = re.sub(r"\d+ (minute|hour|day|month|year)s? ago", "N ago", line)
        return re.sub(r"as of \d\d:\d\d UTC", "as of HH:MM UTC", line)

    cut = example.index("…")
    assert [timeless(line) for line in example[:cut]] == [timeless(line) for line in printed[:cut]]
    assert [timeless(line) for line in example[cut + 1 :]] == [timeless(line) for line in printed[-2:]]


TRIED = re.findall(r"^\.venv/bin/python -m bot preview --demo(.*?)(?:\s+#.*)?$", README, re.MULTILINE)


@pytest.mark.parametrize("line", TRIED)
def test_every_demo_command_the_readme_shows_answers(line: str) -> None:
    import io
    import json
    import shlex

    from bot import demo
    from bot.app import build_service
    from bot.cloudflare import CloudflareClient
    from bot.preview import run, show_alert, show_home
    from bot.query import from_slack

    words = shlex.split(line)
    as_json = "--json" in words
    text = " ".join(word for word in words if word not in ("--json", "--home", "--alert"))
    workspace = demo.Workspace()  # as `python -m bot preview --demo` reads it
    service = build_service(demo.settings(), transport=demo.transport(), workspace=workspace)
    out = io.StringIO()

    if "--home" in words:
        assert show_home(service, as_json=as_json, out=out) == 0
    elif "--alert" in words:
        client = CloudflareClient(demo.settings().cloudflare, transport=demo.transport())
        assert show_alert(client, hours=24, as_json=as_json, out=out) == 0
        assert "failed SCIM push" in out.getvalue()
    else:
        assert (
            run(service, from_slack(workspace.escaped(text)), as_json=as_json, interactive=False, out=out)
            == 0
        )
    shown = out.getvalue()
    assert "`/scim-groups help` shows examples" not in shown or text == "help", shown  # no bad input
    assert "No SCIM user" not in shown, shown
    assert "could not" not in shown, shown
    if as_json:
        json.loads(shown)


def test_the_readme_shows_the_demo_commands() -> None:
    assert len(TRIED) >= 10


def test_the_systemd_unit_the_docs_give_is_one_systemd_accepts(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    deploying = (ROOT / "docs" / "DEPLOYING.md").read_text()
    unit = deploying.split("```ini\n", 1)[1].split("```", 1)[0]
    text = "\n".join(line.removeprefix("  ") for line in unit.splitlines())
    assert "[Install]" in text
    assert "User=scim-groups" in text
    assert "NoNewPrivileges=true" in text
    # Verified as written, with its program and environment file pointed at ones that exist here.
    checked = (
        text.replace("/opt/scim-groups/.venv/bin/python", sys.executable)
        .replace("/etc/scim-groups.env", str(tmp_path / "env"))
        .replace("/opt/scim-groups", str(tmp_path))
        .replace("User=scim-groups", "")
        .replace("Group=scim-groups", "")
    )
    (tmp_path / "env").write_text("")
    path = tmp_path / "scim-groups.service"
    path.write_text(checked)

    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)

    problems = [line for line in result.stderr.splitlines() if str(path) in line or "scim-groups" in line]
    assert not problems, result.stderr
