"""How teams deploy it: the container image, compose, the Makefile, and the image's health probe.

No container daemon runs here, so these check what can be checked without one: the files the
Dockerfile copies exist and reach the build, compose sets only real settings, the probe the
image runs works against a real server. `make image-check` runs the image's install step in a
clean venv; `make lint` runs hadolint.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot import health
from tests.conftest import SlackDriver
from tests.fakes import FakeCloudflare, FakeSlack, environment
from tests.helpers import free_port, setting_names

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(index for index, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from:]


def test_the_dockerfile_copies_only_files_that_exist_and_that_reach_the_build() -> None:
    ignore = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    copied = [
        source
        for name, arguments in instructions()
        if name == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    ]

    assert copied, "the Dockerfile copies nothing"
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        assert f"!{source.rstrip('/')}" in {line.rstrip("/") for line in ignore}, (
            f".dockerignore leaves {source} out of the build context"
        )
    assert ignore[0] == "*", ".dockerignore should let in only what the Dockerfile copies"


def test_the_image_runs_the_bot_as_a_user_with_a_health_probe() -> None:
    stage = dict(final_stage())

    assert re.fullmatch(r"python:3\.\d+-slim\S*", stage["FROM"]), stage["FROM"]
    assert stage["CMD"] == '["python", "-m", "bot"]'
    assert stage["USER"].split(":")[0] not in ("root", "0")
    assert stage["HEALTHCHECK"].endswith('CMD ["python", "-m", "bot.health"]')
    assert stage["STOPSIGNAL"] == "SIGTERM"
    assert "dev" not in " ".join(arguments for name, arguments in instructions() if name == "RUN"), (
        "the image installs the dev extras"
    )


def test_compose_runs_gunicorn_workers_with_redis_and_sets_only_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot, redis = compose["services"]["bot"], compose["services"]["redis"]
    procfile = (ROOT / "Procfile").read_text().split(":", 1)[1].split()

    unknown = set(bot["environment"]) - setting_names()
    assert not unknown, f"compose sets variables the bot does not read: {unknown}"
    assert bot["command"] == procfile
    assert int(bot["environment"]["WEB_CONCURRENCY"]) > 1
    redis_url = urlsplit(bot["environment"]["SCIM_GROUPS_REDIS_URL"])
    assert (redis_url.scheme, redis_url.hostname) == ("redis", "redis")
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert f"{bot['environment']['PORT']}:" in bot["ports"][0]
    assert bot["env_file"] == ".env"
    grace = int(bot["stop_grace_period"].rstrip("s"))
    assert grace > 25, "compose would kill the bot before it drains (SHUTDOWN_GRACE_SECONDS)"


def test_the_license_is_apache_2() -> None:
    assert "Apache License\n                           Version 2.0" in (ROOT / "LICENSE").read_text()
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()


# --- the health probe the image runs -------------------------------------------------------


def probe_env(cloudflare: FakeCloudflare, slack: FakeSlack, port: int, **extra: str) -> dict[str, str]:
    return {**environment(cloudflare, slack), "PORT": str(port), **extra}


def test_the_probe_passes_when_the_bot_answers(
    bot: SlackDriver, cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    port = urlsplit(bot.url).port
    assert port is not None

    assert health.probe(probe_env(cloudflare, slack, port)) is None
    assert cloudflare.calls == []


def test_the_probe_fails_in_one_line_when_nothing_listens(
    cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    port = free_port()

    why = health.probe(probe_env(cloudflare, slack, port), timeout_seconds=1)

    assert why == f"http://127.0.0.1:{port}/healthz did not answer (URLError)"


def test_the_probe_fails_when_something_else_answers(cloudflare: FakeCloudflare, slack: FakeSlack) -> None:
    port = urlsplit(slack.api_url).port  # a server, but not the bot: /healthz is not found
    assert port is not None

    why = health.probe(probe_env(cloudflare, slack, port), timeout_seconds=1)

    assert why is not None
    assert why.startswith(f"http://127.0.0.1:{port}/healthz did not ")


def test_the_probe_passes_in_socket_mode_where_nothing_listens(
    cloudflare: FakeCloudflare, slack: FakeSlack
) -> None:
    env = probe_env(cloudflare, slack, free_port(), SLACK_APP_TOKEN="xapp-1-A0-1-abc")

    assert health.probe(env, timeout_seconds=1) is None


def test_the_probe_names_a_bad_setting(cloudflare: FakeCloudflare, slack: FakeSlack) -> None:
    why = health.probe({**environment(cloudflare, slack), "PORT": "eighty"})

    assert why is not None
    assert "PORT" in why


# --- the Makefile --------------------------------------------------------------------------


def make(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)  # its time too: the venv is not older
    assert MAKE is not None
    return subprocess.run(
        [MAKE, "--no-print-directory", *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )


def fake_python(tmp_path: Path, version: str) -> Path:
    """A `python` that reports `version` and can do nothing else."""
    script = tmp_path / f"python{version}"
    major, minor = (int(part) for part in version.split(".")[:2])
    script.write_text(
        "#!/bin/sh\n"
        f'case "$*" in --version) echo "Python {version}";; '
        f'*) echo "{(major, minor) >= (3, 11)} {script}";; esac\n'
    )
    script.chmod(0o755)
    return script


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_with_a_python_too_old_says_so_in_one_line(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "3.9.18")

    result = make(tmp_path, f"PYTHON={python}", "test")

    assert result.returncode != 0
    assert result.stdout == (
        f"scim-groups needs Python 3.11 or newer, and {python} is 3.9.18: install a newer one and run "
        "e.g. make PYTHON=python3.12 test\n"
    )
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_without_that_python_says_so(tmp_path: Path) -> None:
    result = make(tmp_path, "PYTHON=no-such-python3", "demo")

    assert result.returncode != 0
    assert result.stdout.startswith("There is no no-such-python3 here: install Python 3.11 or newer")


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_rebuilds_a_venv_another_python_made(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "3.12.1")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".python").write_text("False /usr/bin/python3.9\n")
    (tmp_path / ".venv" / ".installed").touch()

    stale = make(tmp_path, "--dry-run", f"PYTHON={python}", "unit")
    (tmp_path / ".venv" / ".python").write_text(f"True {python}\n")
    (tmp_path / ".venv" / ".installed").touch()
    same = make(tmp_path, "--dry-run", f"PYTHON={python}", "unit")

    assert "rm -rf .venv" in stale.stdout
    assert f"{python} -m venv .venv" in stale.stdout
    assert "pip install" not in same.stdout
    assert same.stdout.strip().endswith("\nPYTHONDONTWRITEBYTECODE= .venv/bin/python -m pytest -n 5")


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_help_lists_every_target(tmp_path: Path) -> None:
    phony = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert phony is not None

    listed = make(tmp_path, "help").stdout

    for target in phony.group(1).split():
        assert re.search(rf"^  make {target} +\S", listed, re.MULTILINE), f"make help does not list {target}"
