"""Who a group's SCIM push added and removed: read from the push's request body in every shape
identity providers send, shown in the group's History with the members' emails, and not read at
all when membership is not to be shown."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.members import MAX_IDS, MemberChange, member_change
from tests.conftest import FakeClock, ServiceDriver, StartAnswers
from tests.fake_access import make_update, make_user
from tests.fakes import PROVIDER_ID, FakeCloudflare, texts
from tests.helpers import check_inert, check_limits

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(*operations: dict[str, Any]) -> str:
    return json.dumps({"schemas": [PATCH_OP], "Operations": list(operations)})


def members(*ids: str) -> list[dict[str, str]]:
    return [{"value": id_, "display": f"someone {id_}"} for id_ in ids]


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        # Okta: add and remove with a `value` list.
        ("PATCH", patch({"op": "add", "path": "members", "value": members("u1", "u2")}),
         MemberChange(added=("u1", "u2"), added_count=2)),
        ("PATCH", patch({"op": "remove", "path": "members", "value": members("u3")}),
         MemberChange(removed=("u3",), removed_count=1)),
        # Entra: capitalised operations, removal by filter.
        ("PATCH", patch({"op": "Add", "path": "members", "value": members("u1")},
                        {"op": "Remove", "path": 'members[value eq "u4"]'}),
         MemberChange(added=("u1",), removed=("u4",), added_count=1, removed_count=1)),
        ("PATCH", patch({"op": "remove", "path": "members"}), MemberChange(replaced=(), cleared=True)),
        ("PATCH", patch({"op": "replace", "path": "members", "value": members("u5")}),
         MemberChange(replaced=("u5",), replaced_count=1)),
        # No path: the value is the attributes to change.
        ("PATCH", patch({"op": "replace", "value": {"displayName": "x", "members": members("u6")}}),
         MemberChange(replaced=("u6",), other=True, replaced_count=1)),
        ("PATCH", patch({"op": "replace", "value": {"displayName": "renamed"}}), MemberChange(other=True)),
        ("PATCH", patch({"op": "replace", "path": "displayName", "value": "x"}), MemberChange(other=True)),
        # PUT and POST: the whole group.
        ("PUT", json.dumps({"displayName": "eng", "members": members("u7", "u7")}),
         MemberChange(replaced=("u7",), replaced_count=1)),
        ("POST", json.dumps({"schemas": [], "members": []}), MemberChange(replaced=())),
        ("PUT", json.dumps({"displayName": "eng"}), MemberChange(other=True)),
        ("PUT", json.dumps({"members": {"value": "u1"}}), MemberChange(other=True)),
        # What the bot cannot read as members.
        ("PATCH", "not json", None),
        ("PATCH", json.dumps([1]), None),
        ("PATCH", json.dumps({"Operations": "add"}), None),
        ("PATCH", patch({"op": "add", "path": "members", "value": [{"value": 5}]}), None),
        ("PATCH", patch({"op": "copy", "path": "members", "value": members("u1")}), None),
        ("PATCH", patch({"path": "members"}), None),
        ("PATCH", "", None),
        ("PUT", json.dumps({"members": members("u1")}), MemberChange(replaced=("u1",), replaced_count=1)),
    ],
)  # fmt: skip
def test_every_shape_of_a_push_is_read_for_its_members_alone(
    method: str, body: str, expected: MemberChange | None
) -> None:
    assert member_change(method, body) == expected


def test_a_push_of_a_huge_group_keeps_a_bounded_list_and_the_whole_count() -> None:
    change = member_change(
        "PATCH", patch({"op": "add", "path": "members", "value": members(*map(str, range(5_000)))})
    )

    assert change is not None
    assert (len(change.added), change.added_count) == (MAX_IDS, 5_000)
    assert member_change("PATCH", "[" * 100_000) is None  # nested past what the parser takes: unread


NOW = datetime(2026, 1, 1, 0, 16, 40, tzinfo=UTC)


def history_of(answers: ServiceDriver, cloudflare: FakeCloudflare, number: int = 3) -> dict[str, Any]:
    """Open the History of group `number` from the first page, as a click does."""
    page = answers.command("")
    history = [
        element
        for block in page["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "scim_groups_history"
    ]
    return answers.click(history[number])


@pytest.fixture
def pushed(cloudflare: FakeCloudflare) -> dict[str, Any]:
    """Group 3 had Jane and Ann added and Bob removed an hour ago; a refused push tried to add Bob."""
    people = [
        make_user(n, email=email)
        for n, email in enumerate(["jane@example.com", "bob@example.com", "ann@example.com"])
    ]
    cloudflare.users[PROVIDER_ID] = people
    jane, bob, ann = people
    group = cloudflare.groups[PROVIDER_ID][3]
    cloudflare.updates += [
        make_update(PROVIDER_ID, NOW - timedelta(hours=1), group=group,
                    body=patch({"op": "add", "path": "members", "value": members(jane["id"], ann["id"])},
                               {"op": "remove", "path": f'members[value eq "{bob["id"]}"]'})),
        make_update(PROVIDER_ID, NOW - timedelta(hours=2), group=group, status="FAILURE", error="conflict",
                    body=patch({"op": "add", "path": "members", "value": members(bob["id"])})),
        make_update(PROVIDER_ID, NOW - timedelta(hours=3), group=group, method="PUT",
                    body=json.dumps({"displayName": group["displayName"], "members": members("u-gone")})),
    ]  # fmt: skip
    return group


def test_a_groups_history_shows_who_each_push_added_and_removed_by_email(
    answers: ServiceDriver,
    cloudflare: FakeCloudflare,
    pushed: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")

    said = "\n".join(texts(history_of(answers, cloudflare)))
    lines = [line for line in said.split("\n") if line.startswith("• ")]

    assert lines[0].endswith("· PATCH ✅ succeeded · + jane@example.com, ann@example.com · − bob@example.com")
    assert lines[1].endswith("· PATCH ❌ failed: conflict"), "a refused push changed no one"
    assert lines[2].endswith("· PUT ✅ succeeded · members set to 1: u-gone")
    assert "Operations" not in caplog.text, "a request body reached the log"


def test_with_membership_off_history_reads_no_body_and_shows_no_one(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, pushed: dict[str, Any]
) -> None:
    answers = start_answers(SCIM_GROUPS_SHOW_MEMBERS="off")

    said = "\n".join(texts(history_of(answers, cloudflare)))

    assert "jane@example.com" not in said
    assert "details not shown" not in said
    assert "PATCH ✅ succeeded" in said
    assert not any(path.endswith("/scim/users") for path, _query in cloudflare.calls), (
        "members were looked up"
    )


def test_member_ids_no_user_answers_are_shown_inert_as_they_are(
    answers: ServiceDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    group = cloudflare.groups[PROVIDER_ID][3]
    hostile = ["<!channel>", "*bold*", "\u202eevil", "x" * 200, *map(str, range(40))]
    cloudflare.updates.append(
        make_update(PROVIDER_ID, NOW - timedelta(minutes=5), group=group,
                    body=patch({"op": "add", "path": "members", "value": members(*hostile)}))
    )  # fmt: skip

    message = history_of(answers, cloudflare)

    check_limits(message)
    check_inert(message)
    assert "and 39 more" in "\n".join(texts(message))


def test_a_persons_answer_says_which_groups_added_and_removed_them(
    answers: ServiceDriver, cloudflare: FakeCloudflare, pushed: dict[str, Any]
) -> None:
    jane = "\n".join(texts(answers.command("user:jane@example.com")))
    bob = "\n".join(texts(answers.command("user:bob@example.com")))
    ann = "\n".join(texts(answers.command("user:ann@example.com")))

    assert "Group changes, last 7 days (newest first):" in jane
    assert "• added to *group-00003* · " in jane
    assert "• removed from *group-00003* · " in bob
    assert "added to" not in bob, "a refused push to add Bob counted"
    assert "• added to *group-00003* · " in ann


def test_a_person_no_group_push_names_is_said_so_and_how_far_back_the_pushes_read_go(
    answers: ServiceDriver, cloudflare: FakeCloudflare
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(0, email="jane@example.com")]
    group = cloudflare.groups[PROVIDER_ID][3]
    cloudflare.updates += [
        make_update(PROVIDER_ID, NOW - timedelta(minutes=n), group=group,
                    body=patch({"op": "add", "path": "members", "value": members(f"u{n}")}))
        for n in range(1, 1_001)
    ]  # fmt: skip

    said = "\n".join(texts(answers.command("user:jane@example.com")))

    assert "No group added or removed them in the last 7 days." in said
    assert "(Only the group pushes since " in said


def test_with_membership_off_a_persons_answer_says_nothing_of_groups(
    start_answers: StartAnswers, cloudflare: FakeCloudflare, pushed: dict[str, Any]
) -> None:
    said = "\n".join(texts(start_answers(SCIM_GROUPS_SHOW_MEMBERS="off").command("user:jane@example.com")))

    assert "group" not in said.lower().replace("scim groups", "")
    assert not any(query.get("resource_type") == ["GROUP"] for _path, query in cloudflare.calls)
