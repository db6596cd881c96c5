"""`python -m bot.health`: a container's health probe, light enough to run every 30 seconds.

It asks the HTTP server on this machine's `$PORT` for `/healthz` and exits 0 when it says ok. In
Socket Mode nothing listens, so there is nothing to probe: it exits 0. Any failure is one line
on stderr and exit status 1. It imports only the settings reader, not the bot.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Mapping

from bot.settings import SettingsError, load_settings, read_environment


def probe(env: Mapping[str, str], timeout_seconds: float = 3.0) -> str | None:
    """Give back why the bot is unhealthy, or None when it is healthy."""
    try:
        port = load_settings(env, slack=False).port
    except SettingsError as error:
        return str(error)
    if env.get("SLACK_APP_TOKEN"):
        return None
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            said = json.load(response)
    except (OSError, ValueError) as error:
        return f"{url} did not answer ({type(error).__name__})"
    if not isinstance(said, dict) or said.get("status") != "ok":
        return f"{url} did not say ok"
    return None


def main() -> int:
    try:
        why = probe(read_environment())
    except SettingsError as error:
        why = str(error)
    if why is None:
        return 0
    print(f"scim-groups: unhealthy: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
