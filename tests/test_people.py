"""SCIM users and pushes as read from Cloudflare and kept in Redis, and Slack pages cut from them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.answers import parse_command
from bot.cache import Cached, Caches, Staleness
from bot.cloudflare import CloudflareClient, PermissionMissing, ScimGroup, Unavailable
from bot.codec import VERSION, Unusable
from bot.members import MemberChange
from bot.paging import Paged, page_of, slack_page
from bot.pushes import GROUP_HISTORY_ROWS, LOGS_PERMISSION, PUSHES, ScimPush, Window, push_of
from bot.query import MAX_VALUE_LENGTH, Detail, Query, Show
from bot.rules import APPS_PERMISSION, GRAPH, Holder, Use
from bot.settings import MAX_PAGE_SIZE, UUID_PATTERN, CloudflareSettings, Secret
from bot.users import USERS, ScimUser, UserDirectory, user_of
from bot.views import render_failures, render_history, render_used_by, render_users
from bot.workers import Workers
from tests.conftest import FakeClock
from tests.fake_access import make_update, make_user
from tests.fakes import ACCOUNT_ID, API_TOKEN, PROVIDER_ID, FakeCloudflare
from tests.helpers import check_limits

JANE = ScimUser(
    "a0000000-0000-4000-8000-000000000003",
    "00u3",
    "Jane",
    "jane@example.com",
    False,
    ("jane@example.com", "Jane.Doe@Example.com"),
    datetime(2025, 3, 1, 9, 0, tzinfo=UTC),
    None,
)


def test_a_user_is_read_with_the_primary_email_first_and_an_unknown_state_as_unknown() -> None:
    item = {
        "id": JANE.id,
        "externalId": "00u3",
        "displayName": "Jane",
        "userName": "jane@example.com",
        "active": "yes",  # not a boolean: Cloudflare did not say
        "emails": [
            {"value": "Jane.Doe@Example.com"},
            "not an email",
            {"value": "jane@example.com", "primary": True},
            {"value": ""},
            {"value": "Jane.Doe@Example.com"},
        ],
        "meta": {"created": "2025-03-01T09:00:00Z", "lastModified": "yesterday"},
    }

    user = user_of(item)

    assert user == ScimUser(
        JANE.id, "00u3", "Jane", "jane@example.com", None, JANE.emails, JANE.created, None
    )
    # Emails that are not a list are not known; no list at all is no email.
    assert user_of({"emails": "none", "meta": "none", "active": False}) == ScimUser(
        "", "", "", "", False, None, None, None
    )
    assert user_of({}).emails == ()


@pytest.mark.parametrize(
    ("value", "answers"),
    [
        ("JANE@example.COM", True),  # an email, any case
        ("jane.doe@example.com", True),
        (JANE.id.upper(), True),  # a Cloudflare id, any case
        ("00u3", True),  # the IdP's id, exactly
        ("00U3", False),
        ("jane", False),
    ],
)
def test_a_user_answers_to_any_of_their_emails_and_ids(value: str, answers: bool) -> None:
    assert JANE.answers(value) is answers


def test_users_and_pushes_go_through_redis_unchanged() -> None:
    push = ScimPush(
        datetime(2026, 1, 1, tzinfo=UTC), "USER", "PATCH", "FAILURE", "é <x>", "c", "i", "", "j@x"
    )

    changed = replace(JANE, last_modified=datetime(2026, 2, 3, 4, 5, tzinfo=UTC))
    assert USERS.loads(USERS.dumps((JANE, changed))) == (JANE, changed)
    empty = ScimPush(None, "", "", "", "", "", "", "", "")
    members = replace(push, members=MemberChange(("a",), ("b",), ("c",), True, True, 1, 2, 3))
    assert PUSHES.loads(PUSHES.dumps((push, empty, members))) == (push, empty, members)


@pytest.mark.parametrize(
    ("codec", "payload"),
    [
        (USERS, {"users": []}),
        (USERS, [["id", "ext", "name", "user", True, []]]),  # too short
        (USERS, [["id", "ext", "name", "user", "yes", [], None, None]]),  # active not a boolean
        (USERS, [["id", "ext", "name", "user", True, "a@b", None, None]]),  # emails not a list
        (USERS, [["id", "ext", "name", "user", True, [""], None, None]]),  # an empty email
        (USERS, [["id", "ext", "name", "user", True, ["a"] * 51, None, None]]),
        (USERS, [["id", "ext", "name", "user", True, [], "soon", None]]),
        (PUSHES, "rows"),
        (PUSHES, [[None, "USER", "PATCH", "FAILURE", "e", "c", "i", "g"]]),  # too short
        (PUSHES, [["yesterday", "USER", "PATCH", "FAILURE", "e", "c", "i", "g", "u", None]]),
        (PUSHES, [[None, 5, "PATCH", "FAILURE", "e", "c", "i", "g", "u", None]]),
    ],
)
def test_entries_this_bot_could_not_have_stored_are_unusable(codec: Any, payload: object) -> None:
    with pytest.raises(Unusable):
        codec.loads(json.dumps([VERSION, payload]))


def test_a_log_row_is_read_without_its_request_body() -> None:
    row = {
        "logged_at": "2026-01-01T00:00:00Z",
        "resource_type": "GROUP",
        "request_method": "PATCH",
        "status": "FAILURE",
        "error_description": "taken",
        "cf_resource_id": "c",
        "idp_resource_id": "i",
        "resource_group_name": "g",
        "resource_user_email": 5,
        "request_body": '{"members": ["everyone"]}',
    }

    push = push_of(row)

    assert push == ScimPush(
        datetime(2026, 1, 1, tzinfo=UTC), "GROUP", "PATCH", "FAILURE", "taken", "c", "i", "g", ""
    )
    assert push.failed
    assert not ScimPush(None, "", "", "success", "", "", "", "", "").failed


@pytest.mark.parametrize("status", [None, "", "PENDING", 3])
def test_a_log_row_is_failed_only_when_cloudflare_says_failure(status: object) -> None:
    row: dict[str, object] = {"resource_type": "GROUP", "request_method": "PATCH", "resource_group_name": "g"}
    if status is not None:
        row["status"] = status

    push = push_of(row)
    group = ScimGroup("c", "g", "e")
    detail = Detail("history", "c", Show(Query("browse"), 1, 10))
    shown = json.dumps(render_history(group, detail, "Okta", pushes=(push,), problem=None))

    assert not push.failed
    assert not push.succeeded
    assert "outcome not reported" in shown
    assert "failed" not in shown
    assert "succeeded" not in shown


def test_a_window_is_sent_as_rfc3339_in_utc() -> None:
    assert Window(1_767_225_600, 1_767_312_000).params() == [
        ("since", "2026-01-01T00:00:00Z"),
        ("until", "2026-01-02T00:00:00Z"),
    ]


LOST = Staleness(30, Unavailable("down", status=503))


def test_a_whole_list_is_cut_into_slack_pages() -> None:
    items = tuple(range(25))

    first = page_of(items, Cached(items, from_cache=True, stale=LOST), 1, 10)
    last = page_of(items, Cached(items, from_cache=False), 3, 10)

    assert (first.items, first.has_next, first.total, first.page_count) == (tuple(range(10)), True, 25, 3)
    assert (first.from_cache, first.stale) == (True, LOST)
    assert (last.items, last.has_next, last.from_cache, last.stale) == (
        (20, 21, 22, 23, 24),
        False,
        False,
        None,
    )
    assert page_of((), Cached((), from_cache=False), 1, 10).page_count == 1


def test_slack_pages_cut_from_upstream_pages_count_only_what_was_read() -> None:
    full = Cached(tuple(range(100)), from_cache=False)
    short = Cached(tuple(range(30)), from_cache=True)

    middle = slack_page(full, 0, 100, 90, 10, 10)  # the last Slack page of a full upstream page
    end = slack_page(short, 2, 100, 20, 23, 10)  # the last Slack page of it all
    nothing: Cached[tuple[int, ...]] = Cached((), from_cache=False)
    past = slack_page(nothing, 3, 100, 0, 31, 10)

    assert (middle.items, middle.has_next, middle.total, middle.total_is_lower_bound) == (
        tuple(range(90, 100)),
        True,
        100,
        True,
    )
    assert middle.page_count is None
    assert (end.items, end.has_next, end.total, end.total_is_lower_bound, end.from_cache) == (
        tuple(range(20, 30)),
        False,
        230,
        False,
        True,
    )
    assert (past.items, past.has_next, past.total) == ((), False, None)
    assert slack_page(Cached((1,), from_cache=True, stale=LOST), 0, 100, 0, 1, 10).stale == LOST
    assert slack_page(nothing, 0, 100, 0, 1, 10).total == 0


@pytest.fixture
def people(cloudflare: FakeCloudflare, clock: FakeClock) -> Iterator[UserDirectory]:
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    client = CloudflareClient(settings, clock=clock)
    workers = Workers()
    yield UserDirectory(client, caches=Caches(ttl=60, clock=clock), parallel=workers.in_parallel)
    workers.close()
    client.close()


def user_calls(cloudflare: FakeCloudflare) -> list[dict[str, list[str]]]:
    return [query for path, query in cloudflare.calls if path.endswith("/scim/users")]


def test_emails_are_asked_one_a_call_and_again_in_lower_case_only_when_not_found(
    people: UserDirectory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(n) for n in range(5)] + [
        make_user(9, email="Mixed@Example.com")
    ]

    found = people.lookup(PROVIDER_ID, ("USER0001@example.com", "Mixed@Example.com", "user0002@example.com"))

    assert [user.display_name for user in found.users] == ["User 0001", "User 0009", "User 0002"]
    assert found.missing == ()
    emails = sorted(query["email"][0] for query in user_calls(cloudflare))
    assert emails == [
        "Mixed@Example.com",
        "USER0001@example.com",
        "user0001@example.com",
        "user0002@example.com",
    ]
    assert all(query["per_page"] == ["100"] for query in user_calls(cloudflare))


def test_ids_are_asked_in_one_call_per_kind_and_the_answer_is_cached(
    people: UserDirectory, cloudflare: FakeCloudflare
) -> None:
    users = [make_user(n) for n in range(5)]
    cloudflare.users[PROVIDER_ID] = users
    asked = (users[1]["id"], users[3]["externalId"], "00000000-0000-4000-8000-00000000dead")

    found = people.lookup(PROVIDER_ID, asked)
    again = people.lookup(PROVIDER_ID, tuple(reversed(asked)))

    assert [user.display_name for user in found.users] == ["User 0001", "User 0003"]
    assert found.missing == ("00000000-0000-4000-8000-00000000dead",)
    assert sorted(sorted(query) for query in user_calls(cloudflare)) == [
        ["cf_resource_id", "per_page"],
        ["idp_resource_id", "per_page"],
    ]
    assert (found.cached.from_cache, again.cached.from_cache) == (False, True)
    assert [user.display_name for user in again.users] == ["User 0003", "User 0001"]


def test_an_upstream_that_ignores_the_filter_passes_off_no_one(
    people: UserDirectory, cloudflare: FakeCloudflare
) -> None:
    everyone = [make_user(n) for n in range(5)]
    cloudflare.users[PROVIDER_ID] = everyone
    cloudflare.path_faults["/scim/users"] = [("body", {"success": True, "errors": [], "result": everyone})]

    found = people.lookup(PROVIDER_ID, ("user0004@example.com",))

    assert [user.display_name for user in found.users] == ["User 0004"]


LONG = "&<>" * 400
NOT_A_DATE = "ValueError: not a date this bot could have stored"


def test_the_largest_page_of_users_fits_slacks_limits() -> None:
    user = ScimUser("i" * 100, "e" * 1_000, LONG, LONG, True, (LONG,) * 9, None, None)
    push = ScimPush(None, "USER", LONG, "FAILURE", LONG, LONG, LONG, LONG, LONG)
    values = tuple(f"{n}{'x' * (MAX_VALUE_LENGTH - 3)}" for n in range(8))  # as many as a button holds
    request = parse_command("user:" + ",".join(values), page_size=MAX_PAGE_SIZE)
    assert isinstance(request, Show)
    size = request.page_size
    page = Paged((user,) * size, 1, size, True, 50, False, False)

    message = render_users(
        page, request, LONG, missing=values, pushes=((push,) * 5,) * size, log_problem=None
    )

    check_limits(message)


def test_the_largest_page_of_failures_fits_slacks_limits() -> None:
    push = ScimPush(None, "GROUP", LONG, "FAILURE", LONG, LONG, LONG, LONG, LONG)
    request = parse_command("failures:90d", page_size=MAX_PAGE_SIZE)
    assert isinstance(request, Show)
    request = replace(request, query=replace(request.query, until=2**33))
    page = Paged((push,) * request.page_size, 1, request.page_size, True, 50, False, False)

    check_limits(render_failures(page, request, LONG))


def test_the_largest_history_and_used_by_fit_slacks_limits() -> None:
    group = ScimGroup("8a7c3f0e-4b1d-4e5a-9c2f-1d3e5f7a9b0c", LONG, LONG)
    push = ScimPush(None, "GROUP", LONG, "FAILURE", LONG, LONG, LONG, LONG, LONG)
    back = Show(Query(PROVIDER_ID, search=LONG[:200]), page=1, page_size=MAX_PAGE_SIZE)
    detail = Detail("history", group.id, back)
    holder = Holder("app_policy", "i" * 100, LONG, (), LONG, LONG, LONG)
    uses = tuple(Use(holder, "include", via=LONG, inferred=True) for _ in range(100))

    check_limits(render_history(group, detail, LONG, pushes=(push,) * GROUP_HISTORY_ROWS, problem=None))
    check_limits(
        render_used_by(
            group,
            replace(detail, kind="used_by"),
            LONG,
            uses=uses,
            missing_permission=APPS_PERMISSION,
            problem=None,
        )
    )


@pytest.mark.parametrize(
    ("codec", "payload", "detail"),
    [
        (USERS, {"users": []}, "TypeError: not a list of users"),
        (USERS, [["id", "ext", "name", "user", True, []]], "TypeError: not a user"),
        (USERS, [["id", "ext", "name", "user", True, "a@b", None, None]], "TypeError: not a list of emails"),
        (
            USERS,
            [["id", "ext", "name", "user", True, ["a"] * 51, None, None]],
            "TypeError: not a list of emails",
        ),
        (USERS, [["id", "ext", "name", "user", True, ["a"] * 50, "soon", None]], NOT_A_DATE),
        (USERS, [["id", "ext", "name", "user", True, [], None, 5]], "TypeError: not a string field"),
        (PUSHES, "rows", "TypeError: not a list of pushes"),
        (PUSHES, [[None, "USER", "PATCH", "FAILURE", "e", "c", "i", "g"]], "TypeError: not a push"),
        (PUSHES, [["yesterday", "USER", "PATCH", "FAILURE", "e", "c", "i", "g", "u", None]], NOT_A_DATE),
        (
            PUSHES,
            [[None, "GROUP", "PATCH", "SUCCESS", "", "c", "i", "g", "", [[], [], None, False]]],
            "TypeError: not a change of members",
        ),
        (
            PUSHES,
            [
                [
                    None,
                    "GROUP",
                    "PATCH",
                    "SUCCESS",
                    "",
                    "c",
                    "i",
                    "g",
                    "",
                    [[5], [], None, False, False, 1, 0, 0],
                ]
            ],
            "TypeError: not a string field",
        ),
        (GRAPH, [[], "", "extra"], "TypeError: not an Access graph"),
        (GRAPH, ["holders", "", [], []], "TypeError: not a list of holders of rules"),
        (GRAPH, [[["user", "a1", "n", [], "", "", ""]], "", [], []], "TypeError: not a holder of rules"),
        (GRAPH, [[["policy", "p1", "n", [], "", ""]], "", [], []], "TypeError: not a holder of rules"),
        (GRAPH, [[["policy", "p1", "n", "rules", "", "", ""]], "", [], []], "TypeError: not a list of rules"),
        (
            GRAPH,
            [[["policy", "p1", "n", [["sideways", "okta", "v", "", ""]], "", "", ""]], "", [], []],
            "TypeError: not a rule",
        ),
        (
            GRAPH,
            [[["policy", "p1", "n", [["include", "okta", "v", ""]], "", "", ""]], "", [], []],
            "TypeError: not a rule",
        ),
        (GRAPH, [[], 5, [], []], "TypeError: not a string field"),
        (GRAPH, [[], "", "apps", []], "TypeError: not a list of applications"),
        (GRAPH, [[], "", [["a", "n", "t", "aud", [], [], "policies"]], []], "TypeError: not an application"),
        (
            GRAPH,
            [[], "", [["a", "n", "t", "aud", [], [], [["p", "n", "allow", 1.5, [[], [], []], True]]]], []],
            "TypeError: not a whole number in range",
        ),
        (
            GRAPH,
            [[], "", [], [["g", "n", [[["email", [["email", "a", "b"]]]], [], []]]]],
            "TypeError: not a rule's field",
        ),
        (GRAPH, [[], "", [], [["g", "n", [[["", []]], [], []]]]], "TypeError: not a string field"),
        (GRAPH, [[], "", [], [["g", "n", [[], []]]]], "TypeError: not a policy's rules"),
    ],
)
def test_the_log_says_which_check_a_stored_entry_failed(codec: Any, payload: object, detail: str) -> None:
    with pytest.raises(Unusable) as refused:
        codec.loads(json.dumps([VERSION, payload]))

    assert str(refused.value) == f"malformed: {detail}"


def test_the_longest_list_of_emails_a_user_may_have_is_kept() -> None:
    user = replace(JANE, emails=tuple(f"e{n}@x.io" for n in range(50)))

    assert USERS.loads(USERS.dumps((user,))) == (user,)


def test_a_missing_permission_says_which_in_the_log() -> None:
    error = PermissionMissing("Access: SCIM Logs Read", status=403)

    assert error.describe() == "the API token lacks “Access: SCIM Logs Read”; HTTP 403"
    assert error.permission == "Access: SCIM Logs Read"


def test_a_user_with_no_list_of_emails_and_a_known_last_change_is_read() -> None:
    item = {"id": "u", "emails": None, "meta": {"lastModified": "2026-11-20T08:30:00Z"}}

    assert user_of(item) == ScimUser(
        "u", "", "", "", None, (), None, datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    )
    assert USERS.loads(USERS.dumps((user_of(item),))) == (user_of(item),)


def test_a_refreshed_user_lookup_asks_cloudflare_again(
    people: UserDirectory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(1)]
    people.lookup(PROVIDER_ID, ("user0001@example.com",))

    again = people.lookup(PROVIDER_ID, ("user0001@example.com",), refresh=True)

    assert again.cached.from_cache is False
    assert len(user_calls(cloudflare)) == 2


@pytest.mark.parametrize(
    "value", ["nobody@example.com", "00U-Unknown", "00000000-0000-4000-8000-0000000000AB"]
)
def test_a_value_found_nowhere_costs_one_call_unless_it_is_an_email_in_mixed_case(
    people: UserDirectory, cloudflare: FakeCloudflare, value: str
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(1)]

    found = people.lookup(PROVIDER_ID, (value,))

    assert found.missing == (value,)
    assert len(user_calls(cloudflare)) == (2 if UUID_PATTERN.match(value) else 1)  # both kinds of id


def test_users_without_ids_are_each_kept(people: UserDirectory, cloudflare: FakeCloudflare) -> None:
    nameless = [{**make_user(n), "id": "", "externalId": ""} for n in (1, 2)]
    ext_only = [{**make_user(n), "id": ""} for n in (3, 4)]
    cloudflare.users[PROVIDER_ID] = nameless + ext_only

    found = people.lookup(PROVIDER_ID, tuple(f"user000{n}@example.com" for n in (1, 2, 3, 4)))

    assert [user.display_name for user in found.users] == ["User 0001", "User 0002", "User 0003", "User 0004"]


def test_a_page_of_users_or_pushes_keeps_when_its_list_was_fetched_and_whether_it_is_aging() -> None:
    from bot.cache import Cached
    from bot.paging import page_of, slack_page

    rows: tuple[str, ...] = ("a", "b", "c")
    whole = Cached(rows, from_cache=True, fetched_at=1_767_226_000.0, aging=True)
    cut = page_of(whole.value, whole, page=2, page_size=2)
    upstream = slack_page(whole, number=0, per_page=3, offset=2, page=2, page_size=2)

    assert (cut.items, cut.fetched_at, cut.aging, cut.total_is_lower_bound) == (
        ("c",),
        1_767_226_000.0,
        True,
        False,
    )
    assert (upstream.items, upstream.fetched_at, upstream.aging) == (("c",), 1_767_226_000.0, True)


def directory_of(
    cloudflare: FakeCloudflare, clock: FakeClock, **options: Any
) -> tuple[UserDirectory, Workers]:
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    workers = Workers()
    client = CloudflareClient(settings, clock=clock)
    return UserDirectory(
        client, caches=Caches(ttl=60, clock=clock), parallel=workers.in_parallel, **options
    ), workers


@pytest.mark.parametrize("count", [0, 99, 100, 101, 1_000])
def test_a_search_by_name_reads_every_page_and_no_more(
    cloudflare: FakeCloudflare, clock: FakeClock, count: int
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(n) for n in range(count)]
    people, workers = directory_of(cloudflare, clock)
    try:
        named = people.named(PROVIDER_ID, "user")
    finally:
        workers.close()

    pages = sorted(int(query["page"][0]) for query in user_calls(cloudflare))
    assert len(named.users) == count
    assert named.cached.value.complete
    assert pages == list(range(1, count // 100 + 2))  # the last page is short (or empty)


def test_a_list_whose_total_is_missing_is_read_to_its_short_page_and_one_cut_short_says_so(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(n) for n in range(450)]
    cloudflare.omit_totals = True
    whole, workers = directory_of(cloudflare, clock, wave=3)
    cut, more_workers = directory_of(cloudflare, clock, max_pages=2)
    try:
        read = whole.named(PROVIDER_ID, "004 user")
        pages = sorted(int(query["page"][0]) for query in user_calls(cloudflare))
        short = cut.named(PROVIDER_ID, "user")
    finally:
        workers.close()
        more_workers.close()

    # Every page read: the names holding both words are User 0004 and User 0040 to 0049.
    assert [user.display_name for user in read.users] == ["User 0004"] + [
        f"User {n:04d}" for n in range(40, 50)
    ]
    assert read.cached.value.complete
    # No total to say where the list ends: waves of three pages until one comes back short.
    assert pages == [1, 2, 3, 4, 5, 6, 7]
    assert (len(short.users), short.cached.value.complete) == (200, False)


def test_names_are_matched_by_every_word_in_any_order_whole_display_names_first(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    users = [make_user(n) for n in range(5)]
    users[0].update(displayName="Johnson, Katherine")
    users[1].update(displayName="Katherine   Johnson")
    users[2].update(displayName="Kat", userName="katherine.johnson@example.com")
    users[3].update(displayName="Katherine Jones")
    cloudflare.users[PROVIDER_ID] = users
    people, workers = directory_of(cloudflare, clock)
    try:
        found = people.named(PROVIDER_ID, "katherine JOHNSON")
    finally:
        workers.close()

    assert [user.display_name for user in found.users] == ["Katherine   Johnson", "Johnson, Katherine", "Kat"]


def logged(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock.time(), UTC)


def test_a_list_past_its_ttl_is_brought_up_to_date_from_the_log_not_read_again(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    users = [make_user(n) for n in range(250)]
    cloudflare.users[PROVIDER_ID] = users
    people, workers = directory_of(cloudflare, clock)
    try:
        people.named(PROVIDER_ID, "user")
        clock.advance(61)  # past the TTL
        users[10] = {**users[10], "displayName": "Katherine Johnson"}  # renamed
        gone = users.pop(20)
        new = make_user(900)
        users.append(new)
        cloudflare.users[PROVIDER_ID] = users
        cloudflare.updates = [
            make_update(PROVIDER_ID, logged(clock), user=person) for person in (users[10], gone, new)
        ]
        before = len(cloudflare.calls)

        found = people.named(PROVIDER_ID, "katherine")
        everyone = people.named(PROVIDER_ID, "user").cached.value
    finally:
        workers.close()

    later = [query for path, query in cloudflare.calls[before:] if path.endswith("/scim/users")]
    assert [user.display_name for user in found.users] == ["Katherine Johnson"]
    (asked,) = later  # one call: the three users the log named, by id
    assert len(asked["cf_resource_id"]) == 3
    assert gone["id"] not in {user.id for user in everyone.users}
    assert everyone.users[-1].id == new["id"]
    assert len(everyone.users) == 250


@pytest.mark.parametrize("why", ["no log permission", "an hour since every page was read"])
def test_without_the_log_or_an_hour_on_the_list_is_read_whole_again(
    cloudflare: FakeCloudflare, clock: FakeClock, why: str
) -> None:
    cloudflare.users[PROVIDER_ID] = [make_user(n) for n in range(150)]
    if why == "no log permission":
        cloudflare.missing_permissions = {LOGS_PERMISSION}
    people, workers = directory_of(cloudflare, clock)
    try:
        people.named(PROVIDER_ID, "user")
        clock.advance(61 if why == "no log permission" else 3_601)
        before = len(cloudflare.calls)
        people.named(PROVIDER_ID, "user")
    finally:
        workers.close()

    pages = sorted(int(query["page"][0]) for path, query in cloudflare.calls[before:] if "page" in query)
    assert pages == [1, 2]


def test_a_stored_user_list_comes_back_as_it_went_and_a_forged_one_is_not_used() -> None:
    from bot.users import EVERYONE, Everyone

    everyone = Everyone((JANE,), complete=True, synced_at=1_767_225_700.0, walked_at=1_767_225_600.0)

    assert EVERYONE.loads(EVERYONE.dumps(everyone)) == everyone
    forgeries: list[object] = [
        [True, [], 0.0],
        [True, [], "now", 0.0],
        [True, [["x"]], 0.0, 0.0],
        {"users": []},
    ]
    for forged in forgeries:
        with pytest.raises(Unusable):
            EVERYONE.loads(json.dumps([VERSION, forged]))
