"""The terminal preview, run as a person would: `python -m bot preview`, and its paging loop."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from bot import demo
from bot.app import build_service
from bot.preview import run, to_text


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "preview", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).parent,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_demo_prints_the_first_page_and_exits_without_a_terminal() -> None:
    result = preview("--demo")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "SCIM groups · Okta (demo directory)"
    assert lines[2] == "ALL EMPLOYEES"
    assert lines[3] == "External ID `all_employees` · ID `bd97ef8d-7986-43e3-9ee0-c25dda33e4b0`"
    assert lines[4] == "Last changed 2025-01-02 00:00 UTC"
    assert "Page 1 of 25 · 249 groups" in lines
    assert lines[-1] == "[ Next ▶ ]  [ ↻ Refresh ]  [ Share in channel ]"


def test_demo_json_is_the_block_kit_message() -> None:
    message = json.loads(preview("--demo", "--json").stdout)

    assert message["blocks"][0]["type"] == "header"
    assert message["text"] == "SCIM groups from Okta (demo directory): page 1 of 25"


def test_preview_help() -> None:
    assert "• `/scim-groups help` — this message" in preview("--demo", "help").stdout


def test_preview_without_settings_says_what_is_missing() -> None:
    result = preview()

    assert result.returncode == 2
    assert result.stderr == (
        "scim-groups: CLOUDFLARE_API_TOKEN is not set (or set CLOUDFLARE_EMAIL and CLOUDFLARE_API_KEY for a "
        "legacy global API key). (or try `python -m bot preview --demo`)\n"
    )


def test_interactive_paging_follows_the_buttons() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["n", "n", "p", "x", "q"])
    out = io.StringIO()

    run(service, "", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys))

    pages = [line for line in out.getvalue().splitlines() if line.startswith("Page ")]
    assert pages == [f"Page {n} of 25 · 249 groups" for n in (1, 2, 3, 2)]
    assert "Type n, p, r, h3, u3, b, a digit, or q." in out.getvalue()


def test_previous_on_the_first_page_says_it_is_not_there() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["p", "q"])
    out = io.StringIO()

    run(service, "", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys))

    assert "That button is not on this page." in out.getvalue()


def test_to_text_reads_slack_markup_as_a_person_would() -> None:
    message = {
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*R&amp;D &lt;Labs&gt;* by <@U1>"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<!date^0^{date}|1970-01-01>"}]},
        ]
    }

    assert to_text(message) == "R&D <Labs> by @U1\n\n1970-01-01"


def test_a_provider_is_picked_with_a_digit() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["2", "q"])
    out = io.StringIO()

    run(service, "idp:demo", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys))

    assert "SCIM groups · Azure AD (demo directory)" in out.getvalue().splitlines()


def test_the_demo_answers_the_new_questions_too() -> None:
    users = preview("--demo", "user:ada.lovelace@example.com katherine.johnson@example.com").stdout
    failures = preview("--demo", "failures:3d").stdout
    changed = preview("--demo", "changed:2d").stdout

    assert "Ada Lovelace — active" in users
    assert "Katherine Johnson — deactivated by the identity provider" in users
    assert "SCIM pushes, last 7 days (newest first):" in users
    assert failures.startswith("Failed SCIM pushes, last 3 days · Okta (demo directory)")
    assert "❌ failed: " in failures
    assert changed.startswith("Groups changed in the last 2 days · Okta (demo directory)")
    assert "Page 1 of 1 · 0 groups" not in changed


def test_a_groups_history_opens_with_h_and_its_number_and_b_goes_back() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["n", "h2", "b", "h99", "q"])
    out = io.StringIO()

    run(service, "", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys))

    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("Page ")] == [
        f"Page {n} of 25 · 249 groups" for n in (1, 2, 2)
    ]
    assert any(line.startswith("History of ") and line.endswith(" · Okta (demo directory)") for line in lines)
    assert "That button is not on this page." in lines


def test_used_by_opens_with_u_and_its_number() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["u1", "q"])
    out = io.StringIO()

    run(
        service, "engineering-oncall", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys)
    )

    text = out.getvalue()
    assert "Used by: engineering-oncall · Okta (demo directory)" in text
    assert "• Production access (allow) — include, through Access group On call" in text
