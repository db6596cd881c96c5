"""A directory read before is brought up to date from the SCIM update log: only the groups the
log names are asked for again (50 a call), deleted ones are dropped, new ones added; every page
is read again when the log cannot say (no permission, too many changes) and once an hour."""

from __future__ import annotations

import json
import logging
import platform
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.cache import Caches
from bot.cloudflare import CloudflareClient, Unavailable
from bot.codec import VERSION, Unusable
from bot.directory import Directory
from bot.pacing import CallBudget
from bot.settings import CloudflareSettings, Secret
from bot.walks import FULL_WALK_SECONDS, WALK, Names, Walk, give_back_memory
from tests.conftest import FakeClock
from tests.fake_access import LOGS_PERMISSION, make_update
from tests.fakes import ACCOUNT_ID, API_TOKEN, PROVIDER_ID, FakeCloudflare, make_group

TTL = 60.0
LOG_PATH = f"/client/v4/accounts/{ACCOUNT_ID}/access/logs/scim/updates"
GROUPS_PATH = f"/client/v4/accounts/{ACCOUNT_ID}/access/identity_providers/{PROVIDER_ID}/scim/groups"


def make_directory(
    cloudflare: FakeCloudflare, clock: FakeClock, *, ttl: float = TTL, **options: Any
) -> Directory:
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID,
        identity_provider_id=PROVIDER_ID,
        base_url=cloudflare.base_url,
        api_token=Secret(API_TOKEN),
    )
    return Directory(CloudflareClient(settings, clock=clock), caches=Caches(ttl=ttl, clock=clock), **options)


@pytest.fixture
def directory(cloudflare: FakeCloudflare, clock: FakeClock) -> Iterator[Directory]:
    directory = make_directory(cloudflare, clock)
    yield directory
    directory.close()


def read(
    directory: Directory, cloudflare: FakeCloudflare, *, refresh: bool = False
) -> tuple[list[str], list[Any]]:
    """Search every group; give back their names in order, and the calls the search made."""
    before = len(cloudflare.calls)
    found = directory.search(PROVIDER_ID, "", refresh=refresh)
    return [group.display_name for group in found.groups], cloudflare.calls[before:]


def paths(calls: list[Any]) -> list[str]:
    return [path for path, _ in calls]


def renamed(number: int, name: str) -> dict[str, Any]:
    return make_group(number, name)


def test_a_directory_past_its_ttl_is_brought_up_to_date_from_the_log(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    names, first = read(directory, cloudflare)
    cloudflare.push(PROVIDER_ID, renamed(5, "renamed"), at=clock.time() + 10)
    cloudflare.push(PROVIDER_ID, make_group(7), at=clock.time() + 20, method="DELETE")
    cloudflare.push(PROVIDER_ID, make_group(1_000), at=clock.time() + 30, method="POST")
    clock.advance(TTL + 1)

    now, calls = read(directory, cloudflare)

    assert len(first) == 11
    assert set(paths(first)) == {GROUPS_PATH}
    assert now == [*names[:5], "renamed", names[6], *names[8:], "group-01000"]
    assert paths(calls) == [LOG_PATH, GROUPS_PATH]
    assert calls[0][1] == {
        "idp_id": [PROVIDER_ID],
        "resource_type": ["GROUP"],
        "status": ["SUCCESS"],
        "since": ["2026-01-01T00:11:40Z"],  # five minutes before the first read began (00:16:40)
        "direction": ["asc"],
        "per_page": ["1000"],
    }
    assert calls[1][1] == {
        "page": ["1"],
        "per_page": ["100"],
        "cf_resource_id": sorted(make_group(n)["id"] for n in (5, 7, 1_000)),
    }


def test_the_next_window_starts_where_the_last_one_read_up_to(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    clock.advance(TTL + 1)
    read(directory, cloudflare)
    clock.advance(TTL + 1)

    _, calls = read(directory, cloudflare)

    assert paths(calls) == [LOG_PATH]  # nothing changed: one call
    assert calls[0][1]["since"] == ["2026-01-01T00:12:41Z"]  # the second read (00:17:41), less five minutes


def test_a_change_logged_late_within_the_overlap_is_seen(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    # Logged as at 4 minutes before the read began; the row reached the log only after it.
    cloudflare.push(PROVIDER_ID, renamed(3, "late"), at=clock.time() - 240)
    clock.advance(TTL + 1)

    names, _ = read(directory, cloudflare)

    assert names[3] == "late"


@pytest.mark.parametrize(("changed", "group_calls"), [(1, 1), (50, 1), (51, 2), (100, 2)])
def test_fifty_changed_groups_are_asked_for_in_one_call(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock, changed: int, group_calls: int
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(2_000)]
    read(directory, cloudflare)
    for number in range(changed):
        cloudflare.push(PROVIDER_ID, renamed(number * 7, f"changed-{number}"), at=clock.time())
    clock.advance(TTL + 1)

    names, calls = read(directory, cloudflare)

    assert paths(calls) == [LOG_PATH] + [GROUPS_PATH] * group_calls
    assert all(len(query["cf_resource_id"]) <= 50 for _, query in calls[1:])
    assert [names[number * 7] for number in range(changed)] == [f"changed-{n}" for n in range(changed)]
    assert len(names) == 2_000


def test_a_group_logged_without_its_cloudflare_id_is_asked_for_by_its_idp_id(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    cloudflare.push(PROVIDER_ID, renamed(9, "by external id"), at=clock.time())
    cloudflare.updates[-1]["cf_resource_id"] = ""
    clock.advance(TTL + 1)

    names, calls = read(directory, cloudflare)

    assert names[9] == "by external id"
    assert paths(calls) == [LOG_PATH, GROUPS_PATH]
    assert calls[1][1]["idp_resource_id"] == ["ext-00009"]


def test_a_group_deleted_and_created_again_under_its_idp_id_is_there_once(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    again = {**make_group(4, "again"), "id": "0f0f0f0f-0000-4000-8000-000000000004"}
    cloudflare.push(PROVIDER_ID, make_group(4), at=clock.time(), method="DELETE")
    cloudflare.push(PROVIDER_ID, again, at=clock.time(), method="POST")
    cloudflare.updates[-1]["cf_resource_id"] = ""  # logged by its IdP id alone
    clock.advance(TTL + 1)

    names, calls = read(directory, cloudflare)

    assert names.count("again") == 1
    assert "group-00004" not in names
    assert names[-1] == "again"
    assert len(names) == 1_000
    assert paths(calls) == [LOG_PATH, GROUPS_PATH, GROUPS_PATH]


def test_an_upstream_that_ignores_the_filter_passes_off_no_other_group(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    names, _ = read(directory, cloudflare)
    cloudflare.ignore_filters = True
    cloudflare.push(PROVIDER_ID, renamed(2, "changed"), at=clock.time())
    cloudflare.push(PROVIDER_ID, make_group(500), at=clock.time(), method="DELETE")
    clock.advance(TTL + 1)

    now, _ = read(directory, cloudflare)

    # The first 100 groups came back for any filter: only group 2 was asked for; 500 is gone.
    assert now == [*names[:2], "changed", *names[3:500], *names[501:]]


def test_refresh_asks_the_log_too(directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    cloudflare.push(PROVIDER_ID, renamed(1, "changed"), at=clock.time())

    names, calls = read(directory, cloudflare, refresh=True)

    assert names[1] == "changed"
    assert paths(calls) == [LOG_PATH, GROUPS_PATH]


def test_a_small_directory_is_read_whole_the_log_would_cost_as_much(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(200)]
    read(directory, cloudflare)
    clock.advance(TTL + 1)

    _, calls = read(directory, cloudflare)

    assert paths(calls) == [GROUPS_PATH] * 3


def test_every_page_is_read_again_once_an_hour(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    for _ in range(int(FULL_WALK_SECONDS // (TTL + 1))):
        clock.advance(TTL + 1)
        _, calls = read(directory, cloudflare)
        assert paths(calls) == [LOG_PATH]
    clock.advance(TTL + 1)  # past the hour since every page was read

    _, calls = read(directory, cloudflare)

    assert paths(calls) == [GROUPS_PATH] * 11


def test_without_the_log_permission_every_page_is_read_and_the_log_left_alone_for_an_hour(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    cloudflare.missing_permissions = {LOGS_PERMISSION}
    read(directory, cloudflare)
    clock.advance(TTL + 1)

    with caplog.at_level(logging.INFO, logger="bot.directory"):
        _, refused = read(directory, cloudflare)
    clock.advance(TTL + 1)
    _, later = read(directory, cloudflare)
    cloudflare.missing_permissions = set()
    clock.advance(FULL_WALK_SECONDS - TTL - 1)
    _, after_an_hour = read(directory, cloudflare)

    assert paths(refused) == [LOG_PATH] + [GROUPS_PATH] * 11
    assert [record.getMessage() for record in caplog.records] == [
        'catch_up_unavailable error="Access: SCIM Logs Read"'
    ]
    assert paths(later) == [GROUPS_PATH] * 11
    assert paths(after_an_hour) == [LOG_PATH]


def test_a_log_too_full_for_one_call_means_every_page_is_read(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    cloudflare.updates = [
        make_update(PROVIDER_ID, _at(clock.time()), group=make_group(n % 10)) for n in range(1_000)
    ]
    clock.advance(TTL + 1)

    _, calls = read(directory, cloudflare)
    cloudflare.updates = []
    clock.advance(TTL + 1)
    _, after = read(directory, cloudflare)

    assert paths(calls) == [LOG_PATH] + [GROUPS_PATH] * 11
    assert paths(after) == [LOG_PATH]  # the read it fell back to counts as the latest


@pytest.mark.parametrize("why", ["no permission", "too many changes"])
def test_refresh_that_falls_back_to_every_page_reads_them_from_cloudflare(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock, why: str
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    if why == "no permission":
        cloudflare.missing_permissions = {LOGS_PERMISSION}
    else:
        cloudflare.updates = [make_update(PROVIDER_ID, _at(clock.time()), group=make_group(1))] * 1_000
    # The pages read a moment ago are still cached; without the log, 10 pages may be read whole
    # again every 20 seconds (a quarter of 600 calls in 5 minutes pays for 10 pages in 20 s).
    clock.advance(21 if why == "no permission" else 10)

    _, calls = read(directory, cloudflare, refresh=True)

    assert paths(calls) == [LOG_PATH] + [GROUPS_PATH] * 11


def test_without_the_log_a_large_directory_is_read_whole_only_as_often_as_its_share_of_the_budget_pays(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(20_000)]
    cloudflare.missing_permissions = {LOGS_PERMISSION}
    budget = CallBudget(600, clock=clock)
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, identity_provider_id=PROVIDER_ID, base_url=cloudflare.base_url,
        api_token=Secret(API_TOKEN),
    )  # fmt: skip
    client = CloudflareClient(settings, clock=clock, budget=budget)
    directory = Directory(
        client, caches=Caches(ttl=TTL, clock=clock), walk_pages=500, calls_per_5_minutes=600
    )
    try:
        directory.search(PROVIDER_ID, "group-1")  # the first read: 200 pages and the empty one after
        first = len(cloudflare.calls)
        whole = paths(cloudflare.calls).count(GROUPS_PATH)
        answers = []
        for minute in range(1, 11):  # a search and a lookup a minute for ten minutes
            clock.advance(60)
            answers.append(directory.search(PROVIDER_ID, "group-1", refresh=minute % 3 == 0))
            directory.lookup(PROVIDER_ID, "id", (make_group(minute)["id"],))  # never refused
        later = [query for path, query in cloudflare.calls[first:] if path == GROUPS_PATH]
    finally:
        directory.close()

    # Ten minutes hold a read every 400 s at most: one whole read again (200 pages), then the
    # copy; the lookups cost one call each. A quarter of 600 calls in any 5 minutes, at most.
    # Counted by what was read, not by calls (a call tried again on a loaded machine is one more).
    pages = Counter(query["page"][0] for query in later if "cf_resource_id" not in query)
    assert pages["1"] == 1, f"the whole directory was read again {pages['1']} times in ten minutes"
    assert set(pages) == {str(number) for number in range(1, whole + 1)}, "a whole read again, not part"
    assert max(pages.values()) <= 2, pages.most_common(3)  # a page tried again at most once
    held = [answer for answer in answers if answer.aging]
    assert held
    assert all(answer.held is not None and answer.held.every == 400 for answer in answers)
    assert held[0].fetched_at is not None
    assert held[0].fetched_at < clock.time() - TTL  # its real age, not passed off as fresh


def test_every_page_is_read_again_exactly_an_hour_after_the_last_whole_read(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    clock.advance(FULL_WALK_SECONDS - 1)
    _, before_the_hour = read(directory, cloudflare)
    clock.advance(1)
    _, at_the_hour = read(directory, cloudflare, refresh=True)  # Refresh: the hour decides how

    assert paths(before_the_hour) == [LOG_PATH]
    assert paths(at_the_hour) == [GROUPS_PATH] * 11


def test_as_many_calls_as_pages_still_catch_up(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(300)]
    read(directory, cloudflare)
    for number in range(150):  # three calls to ask for them; three pages hold them all
        cloudflare.push(PROVIDER_ID, renamed(number, f"changed-{number}"), at=clock.time())
    clock.advance(TTL + 1)

    names, calls = read(directory, cloudflare)

    assert paths(calls) == [LOG_PATH] + [GROUPS_PATH] * 3
    assert names[149] == "changed-149"


def test_a_group_deleted_and_logged_by_its_idp_id_alone_is_dropped(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    names, _ = read(directory, cloudflare)
    cloudflare.push(PROVIDER_ID, make_group(6), at=clock.time(), method="DELETE")
    cloudflare.updates[-1]["cf_resource_id"] = ""
    clock.advance(TTL + 1)

    now, calls = read(directory, cloudflare)

    assert now == [*names[:6], *names[7:]]
    assert calls[1][1]["idp_resource_id"] == ["ext-00006"]


def test_more_changes_than_pages_means_every_page_is_read(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(300)]
    read(directory, cloudflare)
    for number in range(151):  # four calls to ask for them; three pages hold them all
        cloudflare.push(PROVIDER_ID, renamed(number, f"changed-{number}"), at=clock.time())
    clock.advance(TTL + 1)

    names, calls = read(directory, cloudflare)

    assert paths(calls) == [LOG_PATH] + [GROUPS_PATH] * 4  # three pages and the empty one
    assert names[150] == "changed-150"


def test_when_the_log_fails_the_last_copy_is_shown_marked(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    names, _ = read(directory, cloudflare)
    cloudflare.path_faults["/logs/"] = [("status", 503, 1002, {})] * 3
    clock.advance(TTL + 1)

    found = directory.search(PROVIDER_ID, "")

    assert [group.display_name for group in found.groups] == names
    assert found.stale is not None
    assert isinstance(found.stale.error, Unavailable)
    assert len(cloudflare.group_calls()) == 11  # no page read again


def test_a_walk_keeps_when_it_was_read_through_the_shared_cache() -> None:
    row = ("id-1", "name", "ext-1", None)
    walk = Walk.of([row], complete=False, synced_at=5.5, walked_at=2.0)

    again = WALK.loads(WALK.dumps(walk))

    assert (again.rows, again.complete, again.synced_at, again.walked_at) == ((row,), False, 5.5, 2.0)


@pytest.mark.parametrize("synced_at", [-1, float("nan"), float("inf"), "5", True, None, 1e12])
def test_a_stored_walk_with_an_impossible_time_is_not_used(synced_at: object) -> None:
    for stored in ([True, [], synced_at, 0.0], [True, [], 0.0, synced_at]):
        with pytest.raises(Unusable):
            WALK.loads(json.dumps([VERSION, stored]))


def naive_find(names: list[str], needle: str) -> list[int]:
    """What a search finds, written the slow, obvious way: the names holding it, whole ones
    first, then those in which each of its words begins a word."""
    folded = [name.casefold() for name in names]
    matches = [index for index, name in enumerate(folded) if needle in name]
    found = [i for i in matches if folded[i] == needle] + [i for i in matches if folded[i] != needle]
    words = re.findall(r"[^\W_]+", needle)
    if words and words != [needle]:
        found += [
            index
            for index, name in enumerate(folded)
            if index not in found
            and all(any(own.startswith(word) for own in re.findall(r"[^\W_]+", name)) for word in words)
        ]
    return found


@pytest.mark.parametrize(
    "needle",
    [
        "oncall",  # whole names (first, second to last, consecutive) go first
        "on",  # in most names: one pass over them all
        "call",  # after a line break inside a name: still that name
        "sre",  # the last name, a whole match
        "team",  # most names, after a name with a space in it
        "ps",
        "zzz",
        "s",
        "call on",  # words in another order
        "payments oncall",  # other separators
        "on_call",  # a separator inside a word
        "team 3",  # each word begins a word: team-3, team-30…, never team-13
        "rota oncall",
        "sre-",
    ],
)
def test_a_search_finds_what_a_name_by_name_search_finds(needle: str) -> None:
    names = ["OnCall", "payments-oncall", "on\ncall", "ONCALL", "oncall", "eng", "oncall rota", "SRE"]
    names += [f"team-{n}" for n in range(40)] + ["ops", "sre"]

    assert list(Names(names).find(needle)) == naive_find(names, needle)


def test_whole_names_go_first_after_a_group_with_no_name() -> None:
    names = ["", "sre", "payments-sre", "SRE", "sre team", "Sre"]  # three whole, the last one too

    assert list(Names(names).find("sre")) == [1, 3, 5, 2, 4]


def test_a_search_over_many_names_finds_the_few_that_match_and_the_many() -> None:
    names = [f"group-{n:05d}" for n in range(20_000)]
    names[7] = "Payments-OnCall"
    found = Names(names)

    assert list(found.find("group-0001")) == list(range(10, 20))  # one name in eight or fewer
    assert list(found.find("group")) == [n for n in range(20_000) if n != 7]  # nearly all
    assert list(found.find("payments-oncall")) == [7]
    assert list(found.find("")) == list(range(20_000))


def test_names_are_found_by_their_words_in_any_order_and_with_any_separators() -> None:
    found = Names(["Engineering - All", "eng-oncall", "all engineering", "Engineers", "Sales: EMEA"])

    assert list(found.find("engineering all")) == [0, 2]  # any order: the words, not the string
    assert list(found.find("engineering - all")) == [0, 2]  # whole first, then the words
    assert list(found.find("eng_oncall")) == [1]
    assert list(found.find("emea sales")) == [4]
    assert list(found.find("neer all")) == []  # a word begins a word, or it is no match


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("enginering - all", "Engineering - All"),
        ("engneering all", "Engineering - All"),
        ("eng onclal", "eng-oncall"),
        ("fnance", "Finance"),
    ],
)
def test_a_search_that_finds_nothing_offers_the_closest_names(typed: str, meant: str) -> None:
    names = ["Engineering - All", "eng-oncall", "Finance", "Sales EMEA"] + [
        f"group-{n:05d}" for n in range(2_000)
    ]
    found = Names(names)

    assert list(found.find(typed)) == []
    assert names[found.close(typed)[0]] == meant


@pytest.mark.parametrize("typed", ["xyzzy", "qqqqqqqqqqqq", "fin"])  # nothing close; too short to guess
def test_nothing_is_offered_when_no_name_is_close(typed: str) -> None:
    assert Names(["Engineering - All", "Finance", "Sales EMEA"]).close(typed) == ()


def test_the_same_words_again_are_not_searched_again() -> None:
    found = Names(["oncall", "sre"])

    first = found.find("on")
    assert found.find("on") is first
    assert list(found.find("sre")) == [1]
    assert found.find("on") is not first  # only the last search is kept
    assert list(found.find("on")) == [0]


def _at(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def test_with_the_cache_off_every_search_reads_every_page(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    directory = make_directory(cloudflare, clock, ttl=0)
    read(directory, cloudflare)

    _, calls = read(directory, cloudflare)
    directory.close()

    assert paths(calls) == [GROUPS_PATH] * 11


def test_a_log_cloudflare_does_not_know_means_every_page_is_read_and_says_why(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    read(directory, cloudflare)
    cloudflare.path_faults["/logs/"] = [("status", 404, 7003, {})]
    clock.advance(TTL + 1)

    with caplog.at_level(logging.INFO, logger="bot.directory"):
        _, calls = read(directory, cloudflare)

    assert paths(calls) == [LOG_PATH] + [GROUPS_PATH] * 11
    assert [record.getMessage() for record in caplog.records] == ["catch_up_unavailable error=NotFound"]


def test_a_directory_brought_up_to_date_is_as_complete_as_it_was(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    whole, capped = make_directory(cloudflare, clock), make_directory(cloudflare, clock, walk_pages=5)
    for directory in (whole, capped):
        directory.search(PROVIDER_ID, "")
    cloudflare.push(PROVIDER_ID, make_group(1_000), at=clock.time(), method="POST")
    clock.advance(TTL + 1)

    complete, partial = (directory.search(PROVIDER_ID, "") for directory in (whole, capped))
    whole.close()
    capped.close()

    assert (complete.searched, len(complete.groups)) == (None, 1_001)
    assert (partial.searched, len(partial.groups)) == (501, 501)  # the first 500, and the new one


def test_a_walk_never_builds_on_stale_pages(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]  # small: read whole
    read(directory, cloudflare)
    clock.advance(TTL + 1)
    cloudflare.failure = (503, 1002, "down")

    found = directory.search(PROVIDER_ID, "")

    assert found.stale is not None  # the walk failed: its own last copy, marked
    assert isinstance(found.stale.error, Unavailable)
    assert len(found.groups) == 250


def test_a_cache_of_a_second_is_brought_up_to_date_like_any_other(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(1_000)]
    directory = make_directory(cloudflare, clock, ttl=1)
    read(directory, cloudflare)
    clock.advance(2)

    _, calls = read(directory, cloudflare)
    directory.close()

    assert paths(calls) == [LOG_PATH]


def test_the_heap_a_whole_read_freed_can_be_given_back_where_the_c_library_allows() -> None:
    assert give_back_memory() is (platform.libc_ver()[0] == "glibc")
