"""Who is asking, read from what Slack signs: a slash command's form fields or a click's JSON."""

from __future__ import annotations

from bot.access import AccessPolicy, Caller


def test_a_command_names_its_caller_in_form_fields() -> None:
    body = {
        "command": "/scim-groups",
        "user_id": "U1",
        "channel_id": "C1",
        "team_id": "T1",
        "enterprise_id": "E1",
    }

    assert Caller.from_body(body) == Caller("U1", "C1", "T1", "E1")


def test_a_command_without_some_fields_leaves_them_empty() -> None:
    assert Caller.from_body({"user_id": "U1"}) == Caller("U1", "", "", "")


def test_a_click_is_read_from_its_json_even_with_a_form_field_beside_it() -> None:
    body = {
        "type": "block_actions",
        "actions": [{"action_id": "scim_groups_next"}],
        "user_id": "U0FORGED",  # not where a click says who clicked
        "user": {"id": "U1", "team_id": "T2"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "enterprise": {"id": "E1"},
    }

    assert Caller.from_body(body) == Caller("U1", "C1", "T1", "E1")


def test_a_click_without_a_team_takes_the_users_and_without_a_channel_the_containers() -> None:
    body = {"actions": [{}], "user": {"id": "U1", "team_id": "T2"}, "container": {"channel_id": "C9"}}

    assert Caller.from_body(body) == Caller("U1", "C9", "T2", "")


def test_a_click_with_nothing_in_it_is_nobody() -> None:
    assert Caller.from_body({"actions": []}) == Caller("", "", "", "")


def test_an_enterprise_grid_org_is_matched_by_its_enterprise_id_and_a_workspace_by_its_team_id() -> None:
    grid, workspace = AccessPolicy(team_id="E1"), AccessPolicy(team_id="T1")
    inside = Caller("U1", "C1", "T7", "E1")

    assert grid.refusal(inside) is None
    assert grid.refusal(Caller("U1", "C1", "E1", "E2")) == "team"
    assert workspace.refusal(Caller("U1", "C1", "T1", "")) is None
    assert workspace.refusal(inside) == "team"


def test_an_empty_user_id_stays_empty() -> None:
    assert Caller.from_body({"user_id": "", "channel_id": None}) == Caller("", "", "", "")
