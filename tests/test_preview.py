"""The terminal preview, run as a person would: `python -m bot preview`, and its paging loop."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

from bot import demo
from bot.app import build_service
from bot.preview import ago, run, to_text

AS_OF = re.compile(r" · as of \d\d:\d\d UTC")


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
    assert re.fullmatch(r"Changed \d+ years? ago · 2025-01-02 00:00 UTC", lines[3]), lines[3]
    assert lines[4] == "External ID `all_employees`  ·  Cloudflare ID `bd97ef8d-7986-43e3-9ee0-c25dda33e4b0`"
    assert lines[5] == "[ History ]  [ Used by ]"
    assert [AS_OF.sub("", line) for line in lines if line.startswith("Page ")] == [
        "Page 1 of 25 · 249 groups"
    ]
    assert re.search(r" · as of \d\d:\d\d UTC$", lines[-2])
    assert lines[-1] == "[ Next ▶ ]  [ ↻ Refresh ]  [ Share in channel ]"


def shown(text: str, *, as_json: bool = False) -> str:
    """Give back what the preview prints for `text` when no one is at a terminal (in this process)."""
    out = io.StringIO()
    assert (
        run(
            build_service(demo.settings(), transport=demo.transport()),
            text,
            as_json=as_json,
            interactive=False,
            out=out,
        )
        == 0
    )
    return out.getvalue()


def test_demo_json_is_the_block_kit_message() -> None:
    message = json.loads(shown("", as_json=True))

    assert message["blocks"][0]["type"] == "header"
    assert message["text"] == "SCIM groups from Okta (demo directory): page 1 of 25"


def test_preview_help() -> None:
    assert "• `/scim-groups help` — this message" in shown("help")


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

    pages = [AS_OF.sub("", line) for line in out.getvalue().splitlines() if line.startswith("Page ")]
    assert pages == [f"Page {n} of 25 · 249 groups" for n in (1, 2, 3, 2)]
    assert "That is not a button on this page: type n, p, r, s, h1-10, u1-10, q." in out.getvalue()


def test_previous_on_the_first_page_says_it_is_not_there() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["p", "q"])
    out = io.StringIO()

    run(service, "", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys))

    assert "That is not a button on this page: type n, r, s, h1-10, u1-10, q." in out.getvalue()


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
    users = shown("user:ada.lovelace@example.com katherine.johnson@example.com")
    failures = shown("failures:3d")
    changed = shown("changed:2d")

    assert "Ada Lovelace — active" in users
    assert "Katherine Johnson — deactivated by the identity provider" in users
    assert "SCIM pushes, last 7 days (newest first):" in users
    assert failures.startswith("Failed SCIM pushes, last 3 days · Okta (demo directory)")
    assert "❌ failed: " in failures
    assert changed.startswith("Groups changed in the last 2 days · Okta (demo directory)")
    assert "Page 1 of 1 · 0 groups" not in changed


def test_the_demo_has_a_person_allowed_and_one_denied_at_grafana() -> None:
    allowed = shown("why ada.lovelace@example.com grafana")
    denied = shown("why alan.turing@example.com grafana.example.com")

    assert "✅ ada.lovelace@example.com would be allowed at Grafana by the Allow policy Engineers." in allowed
    assert "↳ ✓ include: Okta group Engineering - All — in the group at the last login" in allowed
    assert "⛔ alan.turing@example.com would be denied at Grafana: no Allow policy matches" in denied
    assert "• ⛔ denied · " in denied


def test_a_groups_history_opens_with_h_and_its_number_and_b_goes_back() -> None:
    service = build_service(demo.settings(), transport=demo.transport())
    keys = iter(["n", "h2", "b", "h99", "q"])
    out = io.StringIO()

    run(service, "", as_json=False, interactive=True, out=out, ask=lambda prompt: next(keys))

    lines = out.getvalue().splitlines()
    assert [AS_OF.sub("", line) for line in lines if line.startswith("Page ")] == [
        f"Page {n} of 25 · 249 groups" for n in (1, 2, 2)
    ]
    assert any(line.startswith("History of ") and line.endswith(" · Okta (demo directory)") for line in lines)
    assert "That is not a button on this page: type n, p, r, s, h1-10, u1-10, q." in lines


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


def answer(text: str, keys: list[str]) -> tuple[str, list[str]]:
    """Run the interactive demo on `text`, typing `keys`; give back what it wrote and its prompts."""
    service = build_service(demo.settings(), transport=demo.transport())
    typed, prompts = iter(keys), []
    out = io.StringIO()

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        key = next(typed)
        if key == "^D":
            raise EOFError
        return key

    assert run(service, text, as_json=False, interactive=True, out=out, ask=ask) == 0
    return out.getvalue(), prompts


def test_only_the_keys_of_the_buttons_shown_are_offered() -> None:
    _, prompts = answer("", ["n", "q"])

    assert prompts == [
        "[n]ext  [r]efresh  [s]hare  [h1-10] history  [u1-10] used by  [q]uit > ",
        "[n]ext  [p]revious  [r]efresh  [s]hare  [h1-10] history  [u1-10] used by  [q]uit > ",
    ]


def test_digits_are_offered_only_for_a_choice_of_providers() -> None:
    _, prompts = answer("idp:demo", ["q"])

    assert prompts == ["[1-2] provider  [q]uit > "]


def test_s_shares_the_page_and_the_private_copy_keeps_working() -> None:
    out, prompts = answer("", ["s", "n", "q"])

    assert "Posted to the channel for everyone:" in out
    shared = out.split("Posted to the channel for everyone:\n", 1)[1].split("Page 2 of 25", 1)[0]
    assert "\n[ Next ▶ ]  [ ↻ Refresh ]\n" in AS_OF.sub("", shared)  # no Share on a shared page
    assert [AS_OF.sub("", line) for line in out.splitlines() if line.startswith("Page ")] == [
        "Page 1 of 25 · 249 groups",
        "Page 1 of 25 · 249 groups",
        "Page 2 of 25 · 249 groups",
    ]
    assert len(prompts) == 3


def test_r_says_it_refreshed() -> None:
    out, _ = answer("", ["r", "q"])

    assert out.count("↻ Refreshed from Cloudflare.") == 1
    assert out.index("↻ Refreshed from Cloudflare.") < out.rindex("Page 1 of 25 · 249 groups")


def test_ctrl_d_ends_the_preview_cleanly_on_a_new_line() -> None:
    out, prompts = answer("", ["^D"])

    assert len(prompts) == 1
    assert out.endswith("[ Next ▶ ]  [ ↻ Refresh ]  [ Share in channel ]\n\n")


def test_help_and_bad_input_wait_for_no_key() -> None:
    help_text, help_prompts = answer("help", [])
    bad, bad_prompts = answer("foo:bar", [])

    assert (help_prompts, bad_prompts) == ([], [])
    assert "• `/scim-groups help` — this message" in help_text
    assert bad.endswith("`/scim-groups help` shows examples.\n")


def test_dates_say_how_long_ago_they_were_as_slack_does() -> None:
    message = {
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Changed <!date^1000^{ago} · {date_short_pretty}|1970-01-01>",
                },
                "fields": [{"type": "mrkdwn", "text": "*External ID*\n`x`"}],
            }
        ]
    }

    assert to_text(message, now=1000 + 3 * 3_600 + 59) == "Changed 3 hours ago · 1970-01-01\nExternal ID `x`"


def test_ago_is_rounded_down_to_its_largest_unit() -> None:
    spans = [0, 59, 60, 3_599, 3_600, 7_200, 86_399, 86_400, 30 * 86_400, 400 * 86_400, 800 * 86_400, -1]

    assert [ago(seconds) for seconds in spans] == [
        "just now", "just now", "1 minute ago", "59 minutes ago", "1 hour ago", "2 hours ago",
        "23 hours ago", "1 day ago", "1 month ago", "1 year ago", "2 years ago", "in the future",
    ]  # fmt: skip


def test_the_preview_never_writes_a_control_character_to_the_terminal() -> None:
    from bot.cloudflare import ScimGroup
    from bot.preview import to_text
    from bot.views import render_listing
    from tests.helpers import QUERY, listing

    escape = "\x1b]0;owned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07"  # window title, clear screen, clipboard
    raw = {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": f"t{escape}"}}]}
    shown = render_listing(listing([ScimGroup("i", f"n{escape}", "e")]), QUERY, f"Okta{escape}")

    for message in (raw, shown):
        text = to_text(message)
        assert "\x1b" not in text
        assert "\x07" not in text
        assert all(line.isprintable() for line in text.splitlines())
        assert "\\u001b" in text  # shown, not dropped


def test_the_demo_finds_an_id_the_other_provider_holds_and_opens_it_there_with_a_digit() -> None:
    okta_id = next(g["externalId"] for g in demo.sample_groups() if g["displayName"] == "engineering-oncall")
    azure_id = demo.azure_groups()[0]["externalId"]

    pasted, _ = answer(okta_id, ["q"])
    elsewhere, prompts = answer(f"external:{azure_id}", ["1", "q"])

    assert f"1 group has the External ID `{okta_id}` · no group name contains it." in pasted
    assert (
        "Found in another identity provider of the account: Azure AD (demo directory) (1 group)." in elsewhere
    )
    assert prompts[0] == "[r]efresh  [s]hare  [1] provider  [q]uit > "
    assert "Groups by external id · Azure AD (demo directory)" in elsewhere


def test_the_demo_looks_up_a_person_picked_as_you_type_at_as_slack_sends_them() -> None:
    from bot.query import from_slack

    workspace = demo.Workspace()
    sent = workspace.escaped("user:@katherine.johnson")
    out = io.StringIO()
    service = build_service(demo.settings(), transport=demo.transport(), workspace=workspace)

    run(service, from_slack(sent), as_json=False, interactive=False, out=out)

    assert sent == "user:<@U0KATHERINE|katherine.johnson>"
    assert workspace.escaped("@nobody.here") == "@nobody.here"  # only a person Slack knows
    assert "Katherine Johnson — deactivated by the identity provider" in out.getvalue()
