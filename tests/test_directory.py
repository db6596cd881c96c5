"""The cache (TTL on an injected clock, single flight) and the directory's paging rules."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.cache import Caches
from bot.cloudflare import CloudflareClient, IdentityProvider, ScimGroup, Unavailable
from bot.directory import (
    MAX_UPSTREAM_PAGES,
    Directory,
    Found,
    Listing,
    upstream_page_size,
)
from bot.providers import ProviderChoice, choose_provider
from bot.settings import CloudflareSettings, Secret
from bot.workers import Workers
from tests.conftest import FakeClock, wait_until
from tests.fakes import ACCOUNT_ID, API_TOKEN, PROVIDER_ID, FakeCloudflare, make_group
from tests.helpers import Later

START = 1_767_226_600.0  # FakeClock's wall clock at its start


@pytest.fixture
def workers() -> Iterator[Workers]:
    pools = Workers()
    yield pools
    pools.close()


@pytest.fixture
def directory(cloudflare: FakeCloudflare, clock: FakeClock, workers: Workers) -> Iterator[Directory]:
    client = CloudflareClient(
        CloudflareSettings(
            account_id=ACCOUNT_ID,
            identity_provider_id=PROVIDER_ID,
            base_url=cloudflare.base_url,
            api_token=Secret(API_TOKEN),
        ),
        clock=clock,
    )
    directory = Directory(client, caches=Caches(ttl=60, clock=clock), workers=workers)
    yield directory
    directory.close()


@pytest.mark.parametrize(("page_size", "per_page"), [(10, 100), (15, 90), (20, 100), (7, 98), (1, 100)])
def test_upstream_pages_hold_whole_slack_pages(page_size: int, per_page: int) -> None:
    assert upstream_page_size(page_size) == per_page


def test_a_slack_page_is_cut_from_one_upstream_page(directory: Directory, cloudflare: FakeCloudflare) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]

    listing = directory.browse(PROVIDER_ID, page=13, page_size=15)

    assert [group.display_name for group in listing.items] == [f"group-{n:05d}" for n in range(180, 195)]
    # Page 3 holds the whole Slack page; page 2 is read (once per TTL) to see that 3 is no repeat.
    assert [(c["page"], c["per_page"]) for c in cloudflare.group_calls()] == [
        (["3"], ["90"]),
        (["2"], ["90"]),
    ]
    assert (listing.total, listing.total_is_lower_bound, listing.page_count) == (250, False, 17)


def test_a_short_page_is_the_end_whatever_the_total_says(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(130)]
    cloudflare.reported_total = 2_000

    listing = directory.browse(PROVIDER_ID, page=13, page_size=10)

    assert (listing.has_next, listing.total, listing.page_count) == (False, 130, 13)


@pytest.mark.parametrize(
    ("omit_totals", "expected"),
    [(True, (True, 100, True, None)), (False, (True, 250, False, 25))],
    ids=["without totals: a lower bound", "a larger total: believed"],
)
def test_a_full_page_counts_what_it_can(
    directory: Directory, cloudflare: FakeCloudflare, omit_totals: bool, expected: tuple[object, ...]
) -> None:
    cloudflare.omit_totals = omit_totals
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]

    listing = directory.browse(PROVIDER_ID, page=1, page_size=10)

    assert (listing.has_next, listing.total, listing.total_is_lower_bound, listing.page_count) == expected


def test_an_empty_directory_without_a_total_counts_zero(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = []
    cloudflare.omit_totals = True

    listing = directory.browse(PROVIDER_ID, page=1, page_size=10)

    assert (listing.items, listing.has_next, listing.total, listing.total_is_lower_bound) == (
        (),
        False,
        0,
        False,
    )


@pytest.mark.parametrize(
    ("reported", "total"),
    [
        (200, 200),  # the directory shrank to two pages: believed
        (150, 150),
        (201, None),  # more than the pages before hold, yet this one is empty: not believed
        (250, None),
    ],
)
def test_an_empty_page_past_the_end_believes_only_a_total_that_agrees_with_it(
    directory: Directory, cloudflare: FakeCloudflare, reported: int, total: int | None
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(150)]
    cloudflare.reported_total = reported

    listing = directory.browse(PROVIDER_ID, page=21, page_size=10)  # upstream page 3, empty

    assert (listing.items, listing.has_next, listing.total, listing.total_is_lower_bound) == (
        (),
        False,
        total,
        False,
    )


def test_a_page_that_repeats_the_one_before_is_the_end(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.same_page_always = True
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(500)]

    listing = directory.browse(PROVIDER_ID, page=11, page_size=10)

    assert listing.items == ()
    # Cloudflare's 500 disagrees with an empty page, and only page 2 was seen: no total is made up.
    assert (listing.has_next, listing.total) == (False, None)


def test_a_page_that_overlaps_the_one_before_in_part_is_shown(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    groups = [make_group(n) for n in range(150)]
    cloudflare.groups[PROVIDER_ID] = groups
    directory.browse(PROVIDER_ID, page=1, page_size=10)
    groups.insert(0, make_group(999))  # a group added between two clicks shifts the pages by one

    listing = directory.browse(PROVIDER_ID, page=11, page_size=10)

    assert [group.display_name for group in listing.items][:2] == ["group-00099", "group-00100"]


def test_paging_stops_at_the_hard_cap_without_calling_cloudflare(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    listing = directory.browse(PROVIDER_ID, page=MAX_UPSTREAM_PAGES * 10 + 1, page_size=10)

    assert listing.items == ()
    assert not listing.has_next
    assert cloudflare.group_calls() == []


def test_identity_providers_are_listed_once_per_ttl(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    assert [provider.id for provider in directory.identity_providers()] == [PROVIDER_ID]
    directory.identity_providers()
    clock.advance(61)
    directory.identity_providers()

    assert sum(path.endswith("/identity_providers") for path, _ in cloudflare.calls) == 2


OKTA = IdentityProvider("11111111-1111-4111-8111-111111111111", "Okta Production", "okta", True)
OKTA_STAGING = IdentityProvider("22222222-2222-4222-8222-222222222222", "Okta Staging", "okta", True)
GOOGLE = IdentityProvider("33333333-3333-4333-8333-333333333333", "Google", "google-apps", False)
ALL = (OKTA, OKTA_STAGING, GOOGLE)


@pytest.mark.parametrize(
    ("providers", "asked", "default", "expected"),
    [
        (ALL, None, OKTA.id, OKTA),
        (ALL, None, GOOGLE.id, GOOGLE),  # the admin's explicit default is honoured
        (
            ALL,
            None,
            "44444444-4444-4444-8444-444444444444",
            IdentityProvider("44444444-4444-4444-8444-444444444444", "", "", True),
        ),
        (  # a default id configured in capitals is Cloudflare's id, in Cloudflare's case
            (),
            None,
            "4444AAAA-4444-4444-8444-444444444444",
            IdentityProvider("4444aaaa-4444-4444-8444-444444444444", "", "", True),
        ),
        ((OKTA, GOOGLE), None, None, OKTA),
        (ALL, None, None, ProviderChoice("several", None, (OKTA, OKTA_STAGING))),
        ((GOOGLE,), None, None, ProviderChoice("none", None, ())),
        (ALL, OKTA_STAGING.id.upper(), OKTA.id, OKTA_STAGING),
        (ALL, "okta staging", OKTA.id, OKTA_STAGING),
        (ALL, "staging", None, OKTA_STAGING),
        (ALL, "okta", None, ProviderChoice("ambiguous", "okta", (OKTA, OKTA_STAGING))),
        (ALL, "google", None, ProviderChoice("not_scim", "google", (OKTA, OKTA_STAGING))),
        (ALL, GOOGLE.id, None, ProviderChoice("not_scim", "Google", (OKTA, OKTA_STAGING))),
        (ALL, "azure", None, ProviderChoice("unknown", "azure", (OKTA, OKTA_STAGING))),
        (
            ALL,
            "44444444-4444-4444-8444-444444444444",
            None,
            ProviderChoice("unknown", "44444444-4444-4444-8444-444444444444", (OKTA, OKTA_STAGING)),
        ),
    ],
)
def test_choose_provider(
    providers: tuple[IdentityProvider, ...],
    asked: str | None,
    default: str | None,
    expected: IdentityProvider | ProviderChoice,
) -> None:
    assert choose_provider(providers, asked, default) == expected


def pages_called(cloudflare: FakeCloudflare) -> list[int]:
    return sorted(int(call["page"][0]) for call in cloudflare.group_calls())


def test_the_next_upstream_page_is_fetched_before_the_click_that_needs_it(
    directory: Directory, cloudflare: FakeCloudflare, workers: Workers
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]

    directory.browse(PROVIDER_ID, page=9, page_size=10)  # one of the last two of upstream page 1
    workers.close()  # waits for the prefetch

    assert pages_called(cloudflare) == [1, 2]


@pytest.mark.parametrize(
    ("pages", "called"),
    [
        (range(1, 9), [1]),  # Slack pages 1 to 8: more than two pages from upstream page 2
        ([21], [2, 3]),  # the last upstream page: nothing after it (2 only to see 3 is no repeat)
    ],
)
def test_no_page_is_prefetched_that_nobody_is_near(
    directory: Directory, cloudflare: FakeCloudflare, workers: Workers, pages: range, called: list[int]
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]

    for page in pages:
        directory.browse(PROVIDER_ID, page=page, page_size=10)
    workers.close()  # waits for any prefetch

    assert pages_called(cloudflare) == called


def test_a_prefetched_page_expires_like_any_other(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock, workers: Workers
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]
    directory.browse(PROVIDER_ID, page=10, page_size=10)
    workers.close()  # the prefetch is done
    clock.advance(61)
    cloudflare.groups[PROVIDER_ID][100]["displayName"] = "renamed after the prefetch"

    listing = directory.browse(PROVIDER_ID, page=11, page_size=10)

    assert listing.items[0].display_name == "renamed after the prefetch"
    assert listing.stale is None


OTHER = "00000000-0000-4000-8000-00000000beef"


def test_a_cached_directory_leaves_the_garbage_collector_next_to_nothing_to_walk(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    # A full collection walks every tracked object while holding the GIL: one object per cached
    # group made it stop every request for ~8 ms per 20,000 groups (docs/PERFORMANCE.md).
    cloudflare.add_provider(OTHER, "Azure AD", [make_group(n) for n in range(1_500)])
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(3_000)]
    directory.search(OTHER, "group")  # the connections and threads that any search needs
    gc.collect()
    before = len(gc.get_objects())

    found = directory.search(PROVIDER_ID, "group-0299")  # reads and caches all 30 upstream pages
    gc.collect()

    assert [group.display_name for group in found.groups] == [f"group-0299{n}" for n in range(10)]
    # The 30 pages, the walk and their cache entries, not one object per group.
    assert len(gc.get_objects()) - before < 3_000 / 3


def directory_with_ttl(cloudflare: FakeCloudflare, clock: FakeClock, ttl: float) -> Directory:
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    return Directory(CloudflareClient(settings, clock=clock), caches=Caches(ttl=ttl, clock=clock))


@pytest.mark.parametrize(("ttl", "pages"), [(0, [1]), (1, [1, 2])])
def test_pages_are_prefetched_only_when_they_would_be_kept(
    cloudflare: FakeCloudflare, clock: FakeClock, ttl: float, pages: list[int]
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]
    directory = directory_with_ttl(cloudflare, clock, ttl)

    directory.browse(PROVIDER_ID, page=9, page_size=10)
    directory.close()

    assert pages_called(cloudflare) == pages


def test_a_failed_prefetch_costs_nothing_and_is_logged_at_debug_only(
    directory: Directory, cloudflare: FakeCloudflare, workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]
    cloudflare.faults = [("none",), ("status", 404, 7003, {})]  # the page asked for, then the prefetch

    listing = directory.browse(PROVIDER_ID, page=9, page_size=10)
    workers.close()  # the prefetch is done

    assert listing.items[0].display_name == "group-00080"
    [failed] = [record for record in caplog.records if record.getMessage().startswith("prefetch_failed")]
    assert failed.levelno == logging.DEBUG
    assert failed.getMessage() == "prefetch_failed error=NotFound"


def test_a_repeated_lookup_is_answered_from_the_cache_and_another_is_not(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(20)]
    one, two = make_group(3)["id"], make_group(7)["id"]

    first = directory.lookup(PROVIDER_ID, "id", (one, two))
    again = directory.lookup(PROVIDER_ID, "id", (two, one))  # the same ids, in another order
    other = directory.lookup(PROVIDER_ID, "id", (one,))
    refreshed = directory.lookup(PROVIDER_ID, "id", (one,), refresh=True)

    assert [g.display_name for g in first.groups] == ["group-00003", "group-00007"]
    assert (first.from_cache, again.from_cache, other.from_cache, refreshed.from_cache) == (
        False,
        True,
        False,
        False,
    )
    assert again.groups == first.groups
    assert [g.display_name for g in other.groups] == ["group-00003"]
    assert len(cloudflare.group_calls()) == 3


def test_a_group_found_by_both_of_its_ids_is_shown_once(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    # Entra sends each group's object id, a UUID, as its externalId.
    group = {**make_group(1), "externalId": "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60"}
    cloudflare.groups[PROVIDER_ID] = [make_group(0), group]

    found = directory.lookup(PROVIDER_ID, "any", (group["id"], group["externalId"]))

    assert [g.id for g in found.groups] == [group["id"]]


def test_groups_without_a_cloudflare_id_are_each_kept(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [
        {**make_group(n), "id": "", "externalId": "5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60"} for n in range(2)
    ]

    found = directory.lookup(PROVIDER_ID, "any", ("5d2f1a3c-0e4b-4c6d-8f9a-1b2c3d4e5f60",))

    assert [g.display_name for g in found.groups] == ["group-00000", "group-00001"]


def test_an_upstream_that_ignores_the_filter_passes_off_no_other_group(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.ignore_filters = True
    cloudflare.groups[PROVIDER_ID] = [
        {**make_group(0), "id": "0000000A-0000-4000-8000-000000000001", "externalId": "Ext-Mixed"},
        {**make_group(1), "externalId": "ext-mixed"},
    ]

    by_id = directory.lookup(PROVIDER_ID, "id", ("0000000a-0000-4000-8000-000000000001",))
    by_id_upper = directory.lookup(PROVIDER_ID, "id", ("0000000A-0000-4000-8000-000000000001",))
    by_external = directory.lookup(PROVIDER_ID, "external", ("Ext-Mixed",))

    assert [g.display_name for g in by_id.groups] == ["group-00000"]  # a UUID in any case
    assert [g.display_name for g in by_id_upper.groups] == ["group-00000"]
    assert [g.display_name for g in by_external.groups] == ["group-00000"]  # an IdP's id exactly


def test_groups_found_are_built_from_their_rows_only_when_read() -> None:
    from bot.cloudflare import ScimGroup
    from bot.directory import Built

    rows = [(f"id-{n}", f"group-{n}", f"ext-{n}", None) for n in range(5)]
    built = Built(rows)

    assert len(built) == 5
    assert built[1] == ScimGroup(id="id-1", display_name="group-1", external_id="ext-1")
    assert built[3:10] == (
        ScimGroup(id="id-3", display_name="group-3", external_id="ext-3"),
        ScimGroup(id="id-4", display_name="group-4", external_id="ext-4"),
    )
    assert [group.id for group in built] == [f"id-{n}" for n in range(5)]


def test_found_groups_may_be_some_rows_in_another_order() -> None:
    from bot.directory import Built

    rows = [(f"id-{n}", f"group-{n}", f"ext-{n}", None) for n in range(5)]

    built = Built(rows, [4, 0])

    assert len(built) == 2
    assert [group.id for group in built] == ["id-4", "id-0"]
    assert [group.id for group in built[1:]] == ["id-0"]


def changed_at(number: int, moment: str | None) -> dict[str, Any]:
    group = make_group(number)
    group["meta"] = {"lastModified": moment} if moment else {}
    return group


def test_changed_gives_the_groups_changed_at_or_after_a_moment_newest_first(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [
        changed_at(0, "2026-11-01T00:00:00Z"),
        changed_at(1, "2026-11-03T00:00:00Z"),
        changed_at(2, None),  # never said: not listed
        changed_at(3, "2026-10-31T23:59:59Z"),  # a second too early
        changed_at(4, "2026-11-02T00:00:00Z"),
    ]
    since = datetime(2026, 11, 1, tzinfo=UTC).timestamp()

    found = directory.changed(PROVIDER_ID, since)

    assert [group.display_name for group in found.groups] == ["group-00001", "group-00004", "group-00000"]
    assert (found.from_cache, found.stale, found.searched, found.aging) == (False, None, None, False)
    assert found.fetched_at == START


def test_changed_reads_the_cached_directory_and_refresh_reads_it_again(
    directory: Directory, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [changed_at(0, "2026-11-01T00:00:00Z")]
    directory.changed(PROVIDER_ID, 0)
    clock.advance(10)

    cached = directory.changed(PROVIDER_ID, 0)
    cloudflare.groups[PROVIDER_ID].append(changed_at(1, "2026-11-02T00:00:00Z"))
    again = directory.changed(PROVIDER_ID, 0, refresh=True)

    assert (cached.from_cache, cached.fetched_at, len(cached.groups)) == (True, START, 1)
    assert (again.from_cache, again.fetched_at, len(again.groups)) == (False, START + 10, 2)
    assert len(cloudflare.group_calls()) == 2


def test_changed_says_how_many_groups_it_read_when_it_stopped_early(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [changed_at(n, "2026-11-01T00:00:00Z") for n in range(300)]
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    directory = Directory(
        CloudflareClient(settings, clock=clock), caches=Caches(ttl=60, clock=clock), walk_pages=2
    )

    found = directory.changed(PROVIDER_ID, 0)
    directory.close()

    assert (found.searched, len(found.groups)) == (200, 200)


def test_a_lookup_says_when_it_was_fetched_and_whether_it_is_aging(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(3)]
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    caches = Caches(ttl=60, clock=clock, serve_stale=900, background=Later())
    directory = Directory(CloudflareClient(settings, clock=clock), caches=caches)
    ids = (make_group(1)["id"],)

    fresh = directory.lookup(PROVIDER_ID, "id", ids)
    clock.advance(61)
    aging = directory.lookup(PROVIDER_ID, "id", ids)
    directory.close()

    assert (fresh.fetched_at, fresh.aging, fresh.searched) == (START, False, None)
    assert (aging.fetched_at, aging.aging, aging.from_cache) == (START, True, True)
    assert [group.id for group in aging.groups] == list(ids)


@pytest.mark.parametrize("work", ["prefetch", "walk", "background"])
def test_close_waits_for_the_work_under_way(
    directory: Directory, cloudflare: FakeCloudflare, workers: Workers, work: str
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(250)]
    directory.browse(PROVIDER_ID, page=1, page_size=10)  # page 1 cached: nothing prefetched yet
    cloudflare.gate.clear()
    started: dict[str, Callable[[], object]] = {
        "prefetch": lambda: directory.browse(PROVIDER_ID, page=9, page_size=10),  # prefetches page 2
        # Page 1 is cached: the walk's later pages are the calls under way, on its own pool.
        "walk": lambda: threading.Thread(
            target=directory.search, args=(PROVIDER_ID, "x"), daemon=True
        ).start(),
        "background": lambda: workers.in_background(lambda: directory.lookup(PROVIDER_ID, "id", ("x",))),
    }
    started[work]()
    wait_until(lambda: cloudflare.in_flight > 0, f"the {work}'s call to reach Cloudflare")
    closer = threading.Thread(target=workers.close)  # the app's pools, which the directory uses
    closer.start()

    closer.join(timeout=0.3)
    closed_early = not closer.is_alive()
    cloudflare.gate.set()
    closer.join(timeout=10)

    assert not closed_early, f"close() returned while the {work} was under way"
    assert not closer.is_alive()


def small_pool_directory(cloudflare: FakeCloudflare, clock: FakeClock, concurrency: int) -> Directory:
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    client = CloudflareClient(settings, clock=clock)
    return Directory(client, caches=Caches(ttl=60, clock=clock), walk_concurrency=concurrency)


def test_a_page_read_wrongly_once_mid_walk_loses_no_group_after_it(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(2_450)]
    cloudflare.wrong_once = {5}  # page 5 comes back as page 4 the first time
    directory = small_pool_directory(cloudflare, clock, 4)

    found = directory.search(PROVIDER_ID, "")
    directory.close()

    assert [group.display_name for group in found.groups] == [f"group-{n:05d}" for n in range(2_450)]
    assert found.searched is None


def test_each_provider_has_its_own_directory_read_once_per_ttl(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    other = "0b5c3a52-8f3e-4a55-9d0e-3c2b1a0f9e8d"
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(3)]
    cloudflare.groups[other] = [make_group(n, f"other-{n}") for n in range(2)]

    first = directory.search(PROVIDER_ID, "")
    second = directory.search(other, "")
    again = directory.search(PROVIDER_ID, "")

    assert [group.display_name for group in first.groups] == ["group-00000", "group-00001", "group-00002"]
    assert [group.display_name for group in second.groups] == ["other-0", "other-1"]
    assert (first.from_cache, second.from_cache, again.from_cache) == (False, False, True)
    assert [group.display_name for group in again.groups] == [group.display_name for group in first.groups]
    assert len(cloudflare.group_calls()) == 2


def test_changed_keeps_the_directory_order_among_groups_changed_at_the_same_moment(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [changed_at(n, "2026-11-01T00:00:00Z") for n in (3, 1, 2)]
    cloudflare.groups[PROVIDER_ID].append(changed_at(0, "2026-11-02T00:00:00Z"))

    found = directory.changed(PROVIDER_ID, 0)

    assert [group.display_name for group in found.groups] == [
        "group-00000",
        "group-00003",
        "group-00001",
        "group-00002",
    ]


def test_changed_says_whether_its_directory_is_aging_or_a_stale_copy(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [changed_at(0, "2026-11-01T00:00:00Z")]
    settings = CloudflareSettings(
        account_id=ACCOUNT_ID, base_url=cloudflare.base_url, api_token=Secret(API_TOKEN)
    )
    aging_caches = Caches(ttl=60, clock=clock, serve_stale=900, background=Later())
    aging_directory = Directory(CloudflareClient(settings, clock=clock), caches=aging_caches)
    plain = Directory(CloudflareClient(settings, clock=clock), caches=Caches(ttl=60, clock=clock))
    aging_directory.changed(PROVIDER_ID, 0)
    plain.changed(PROVIDER_ID, 0)
    clock.advance(61)
    cloudflare.failure = (503, 1002, "down")

    aging = aging_directory.changed(PROVIDER_ID, 0)
    stale = plain.changed(PROVIDER_ID, 0)
    aging_directory.close()
    plain.close()

    assert (aging.aging, aging.stale, aging.fetched_at) == (True, None, START)
    assert stale.aging is False
    assert stale.stale is not None
    assert isinstance(stale.stale.error, Unavailable)  # its age counts the retries' waits too


def test_a_walk_one_page_at_a_time_reads_every_page_once(
    cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(450)]
    directory = small_pool_directory(cloudflare, clock, 1)

    found = directory.search(PROVIDER_ID, "")
    directory.close()

    assert len(found.groups) == 450
    assert pages_called(cloudflare) == [1, 2, 3, 4, 5]
    assert cloudflare.most_in_flight == 1


def test_a_walk_whose_total_ends_on_page_two_asks_for_page_two_alone(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(150)]

    found = directory.search(PROVIDER_ID, "")

    assert len(found.groups) == 150
    assert pages_called(cloudflare) == [1, 2]


def test_a_walk_keeps_every_group_without_an_id_on_any_page(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.groups[PROVIDER_ID] = [make_group(n) for n in range(150)]
    for number in (5, 120):
        cloudflare.groups[PROVIDER_ID][number]["id"] = ""

    found = directory.search(PROVIDER_ID, "")

    assert [group.display_name for group in found.groups] == [f"group-{n:05d}" for n in range(150)]


def test_the_last_upstream_page_before_the_cap_is_read_and_offers_no_next(
    directory: Directory, cloudflare: FakeCloudflare
) -> None:
    cloudflare.endless = True  # every page full, for ever

    last = directory.browse(PROVIDER_ID, page=MAX_UPSTREAM_PAGES * 10, page_size=10)
    past = directory.browse(PROVIDER_ID, page=MAX_UPSTREAM_PAGES * 10 + 1, page_size=10)

    # The page before is read too, to see that the last does not merely repeat it; none after.
    assert pages_called(cloudflare) == [MAX_UPSTREAM_PAGES - 1, MAX_UPSTREAM_PAGES]
    assert (len(last.items), last.has_next, last.from_cache) == (10, False, False)
    assert (past.items, past.has_next, past.from_cache, past.stale) == ((), False, True, None)


def test_a_page_of_found_groups_says_exactly_what_is_known() -> None:
    groups = tuple(ScimGroup(id=f"id-{n}", display_name=f"g{n}", external_id="") for n in range(3))
    found = Found(groups, from_cache=False, fetched_at=START, aging=True)

    assert found.listing(2, 2) == Listing(
        items=groups[2:],
        page=2,
        page_size=2,
        has_next=False,
        total=3,
        total_is_lower_bound=False,
        from_cache=False,
        stale=None,
        fetched_at=START,
        aging=True,
    )
