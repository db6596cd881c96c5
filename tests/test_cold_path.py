"""Sporadic use: a command every few minutes finds its answer past the TTL. Up to
SCIM_GROUPS_SERVE_STALE_SECONDS past it, the answer is shown at once, marked with its age, and
refreshed behind (one load per key); Refresh still asks Cloudflare; logs are never shown aging."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import pytest

from bot.cache import Caches, NotCached, SingleFlightCache, Staleness, Stamped, cached_only
from bot.cloudflare import AuthFailed, RateLimited, Unavailable
from tests.conftest import FakeClock, SlackDriver, StartBot, wait_until
from tests.fakes import PROVIDER_ID, FakeCloudflare, buttons, texts
from tests.helpers import Later, group_names

TTL, BOUND = 60.0, 900.0
START = 1_767_226_600.0  # FakeClock's wall clock at its start


class Loads:
    """A loader that gives back 0, 1, 2… or raises what it is told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail: Exception | None = None

    def __call__(self) -> int:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return self.calls - 1


def aging_cache(clock: FakeClock, later: Later, bound: float = BOUND) -> SingleFlightCache[str, int]:
    return SingleFlightCache(
        ttl=TTL, clock=clock, maxsize=8, stale_maxsize=8, serve_aging_seconds=bound, background=later
    )


def test_an_answer_past_its_ttl_is_shown_at_once_and_refreshed_behind_once(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    first = answers.get("k", load)
    clock.advance(3 * TTL)

    aging = answers.get("k", load)
    again = answers.get("k", load)  # a second command before the refresh is back

    assert (first.value, first.fetched_at, first.aging) == (0, START, False)
    assert (aging.value, aging.from_cache, aging.fetched_at, aging.aging) == (0, True, START, True)
    assert (again.value, again.aging) == (0, True)
    assert (load.calls, len(later.queued)) == (1, 1)  # one refresh behind, not yet run
    later.run()
    fresh = answers.get("k", load)
    assert (fresh.value, fresh.from_cache, fresh.fetched_at, fresh.aging) == (1, True, START + 3 * TTL, False)
    assert load.calls == 2


def test_the_ack_path_answers_from_an_aging_copy(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)

    with cached_only():
        aging = answers.get("k", load)

    assert (aging.value, aging.aging) == (0, True)
    assert len(later.queued) == 1


def test_past_the_bound_the_answer_waits_for_cloudflare(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + BOUND + 1)

    with cached_only(), pytest.raises(NotCached):
        answers.get("k", load)
    loaded = answers.get("k", load)

    assert (loaded.value, loaded.from_cache, loaded.aging) == (1, False, False)
    assert later.queued == []


def test_exactly_at_the_bound_the_copy_is_still_shown(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(BOUND)

    assert answers.get("k", load).aging


def test_refresh_never_takes_an_aging_copy(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)

    refreshed = answers.get("k", load, refresh=True)

    assert (refreshed.value, refreshed.from_cache, refreshed.aging) == (1, False, False)
    assert later.queued == []


def test_a_refresh_behind_that_fails_keeps_the_copy_and_the_next_command_tries_again(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)
    load.fail = Unavailable("down", status=503)

    answers.get("k", load)
    later.run()
    still = answers.get("k", load)

    assert (still.value, still.aging, still.fetched_at) == (0, True, START)
    assert still.stale == Staleness(TTL + 1, load.fail)  # and it says why it is old
    assert len(later.queued) == 1  # tried again
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "refresh_behind_failed error=Unavailable")
    ]


def test_a_copy_says_it_is_stale_only_until_a_refresh_succeeds(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)
    load.fail = RateLimited("slow down", status=429)
    answers.get("k", load)
    later.run()  # fails
    load.fail = None
    answers.get("k", load)
    later.run()  # succeeds
    clock.advance(TTL + 1)

    aging = answers.get("k", load)

    assert (aging.value, aging.aging, aging.stale) == (2, True, None)  # the third load, fine


def test_a_refresh_behind_refused_for_its_credentials_shows_no_copy(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)
    load.fail = AuthFailed("revoked", status=403)
    answers.get("k", load)
    later.run()

    with pytest.raises(AuthFailed):  # asked again at once, and the refusal is the answer
        answers.get("k", load)


def test_a_refresh_behind_that_succeeds_logs_nothing(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)
    answers.get("k", load)  # shown aging; its refresh queued

    later.run()
    fresh = answers.get("k", load)

    assert (fresh.value, fresh.from_cache, fresh.aging) == (1, True, False)
    assert load.calls == 2
    assert caplog.records == []


def test_a_stale_copy_says_when_it_was_fetched(clock: FakeClock) -> None:
    answers = aging_cache(clock, Later(), bound=0)
    answers.get("k", Loads())
    clock.advance(TTL + 5)
    down = Loads()
    down.fail = Unavailable("down", status=503)

    stale = answers.get("k", down)

    assert (stale.value, stale.fetched_at, stale.aging) == (0, START, False)
    assert stale.stale is not None
    assert stale.stale.age_seconds == TTL + 5


def test_without_a_bound_an_expired_answer_is_loaded_as_before(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later, bound=0)
    answers.get("k", load)
    clock.advance(TTL + 1)

    expired = answers.get("k", load)

    assert (expired.value, expired.from_cache, expired.aging) == (1, False, False)
    assert later.queued == []


def test_an_older_copy_never_replaces_a_newer_one(clock: FakeClock) -> None:
    later = Later()
    answers = aging_cache(clock, later)
    answers.get("k", lambda: 7)  # fetched at START
    clock.advance(TTL + 1)

    answers.get("k", lambda: Stamped(3, fetched_at=START - 100), refresh=True)  # an older copy, from Redis
    clock.advance(TTL + 1)
    aging = answers.get("k", lambda: 9)

    assert (aging.value, aging.fetched_at) == (7, START)


def test_answers_from_the_scim_log_are_never_shown_aging(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    caches = Caches(ttl=TTL, clock=clock, serve_stale=BOUND, background=later)
    logs: Any = caches.make("pushes", codec=None, maxsize=4, stale_maxsize=4, ttl=30)  # type: ignore[arg-type]
    groups: Any = caches.make("page", codec=None, maxsize=4, stale_maxsize=4)  # type: ignore[arg-type]
    logs.get("k", load)
    groups.get("k", load)
    clock.advance(TTL + 1)

    assert (logs.get("k", load).aging, groups.get("k", load).aging) == (False, True)


# --- the real app over HTTP -------------------------------------------------------------------

AGO = re.compile(r"[Aa]s of <!date\^(\d+)\^\{ago\}\|(\d\d:\d\d) UTC>")
AT = re.compile(r"[Aa]s of <!date\^(\d+)\^\{time\}\|(\d\d:\d\d) UTC>")


def footer(message: dict[str, Any]) -> str:
    return str([b for b in message["blocks"] if b["type"] == "context"][-1]["elements"][0]["text"])


def refreshed_behind(bot: SlackDriver, text: str = "") -> dict[str, Any]:
    """Give back the first answer to `text` that is fresh again: the refresh behind has finished."""
    answers: list[dict[str, Any]] = []

    def fresh() -> bool:
        answers.append(bot.command(text))
        return AT.search(footer(answers[-1])) is not None

    wait_until(fresh, "the refresh behind to finish")
    return answers[-1]


@pytest.fixture
def sporadic(start_bot: StartBot) -> SlackDriver:
    return start_bot(SCIM_GROUPS_SERVE_STALE_SECONDS="900")


def test_a_command_three_ttls_later_is_answered_in_the_ack_and_says_how_old_it_is(
    sporadic: SlackDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    first = sporadic.command()
    calls = len(cloudflare.calls)
    clock.advance(3 * TTL)

    response, _ = sporadic.send_command()
    aging = response.json()  # answered inside the ack, not on the response_url
    fresh = refreshed_behind(sporadic)

    assert AT.search(footer(first)) is not None
    assert AT.search(footer(first)).group(1) == str(int(START))  # type: ignore[union-attr]
    assert aging["blocks"][1:-2] == first["blocks"][1:-2]  # the same groups
    assert AGO.search(footer(aging)) is not None
    assert AGO.search(footer(aging)).group(1) == str(int(START))  # type: ignore[union-attr]
    assert AT.search(footer(fresh)).group(1) == str(int(START + 3 * TTL))  # type: ignore[union-attr]
    # No more calls than the cold command made: each of what it read (the provider list, the
    # page, the next page it prefetched, whenever that finished) at most once more. Counted by
    # what was asked, not by a total a late prefetch can shift.
    later = [(path, query.get("page", [""])[0]) for path, query in cloudflare.calls[calls:]]
    cold = {(path, query.get("page", [""])[0]) for path, query in cloudflare.calls[:calls]}
    assert len(later) == len(set(later)), later
    groups = next(path for path, _ in cloudflare.calls if path.endswith("/scim/groups"))
    assert {key for key in later if key not in cold} <= {(groups, "2")}, later  # the prefetch, late


def test_an_aging_answer_says_so_once_cloudflare_failed_to_refresh_it(
    sporadic: SlackDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    sporadic.command()
    clock.advance(3 * TTL)
    cloudflare.failure = (503, 7_000, "Service unavailable")
    answers: list[dict[str, Any]] = []

    def warned() -> bool:
        answers.append(sporadic.command())
        return "not answering" in "\n".join(texts(answers[-1]))

    wait_until(warned, "an answer that says the refresh behind it failed")

    first, last = answers[0], answers[-1]
    assert "not answering" not in "\n".join(texts(first))  # before the refresh behind failed
    note = last["blocks"][1]["elements"][0]["text"]
    assert note.startswith("⚠️ This is a copy from 3 minutes ago: Cloudflare is not answering properly")
    assert AGO.search(footer(last)) is not None
    cloudflare.failure = None
    assert "not answering" not in "\n".join(texts(refreshed_behind(sporadic)))


def test_used_by_from_an_aging_access_graph_says_how_old_it_is(
    sporadic: SlackDriver, clock: FakeClock
) -> None:
    used_by = next(
        element
        for block in sporadic.command()["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "scim_groups_used_by"
    )
    first = sporadic.click(used_by)
    clock.advance(3 * TTL)

    aging = sporadic.click(used_by)

    assert AT.search(footer(first)) is not None
    assert AT.search(footer(first)).group(1) == str(int(START))  # type: ignore[union-attr]
    assert AGO.search(footer(aging)) is not None
    assert AGO.search(footer(aging)).group(1) == str(int(START))  # type: ignore[union-attr]


def test_refresh_on_an_aging_answer_asks_cloudflare(
    sporadic: SlackDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    sporadic.command()
    clock.advance(2 * TTL)
    aging = sporadic.command()
    refreshed_behind(sporadic)
    calls = len(cloudflare.group_calls())

    refreshed = sporadic.click(buttons(aging)["scim_groups_refresh"])

    assert len(cloudflare.group_calls()) == calls + 1
    assert AT.search(footer(refreshed)) is not None


def test_the_refresh_behind_runs_while_the_answer_is_already_shown(
    sporadic: SlackDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    sporadic.command()
    clock.advance(2 * TTL)
    cloudflare.gate = threading.Event()  # Cloudflare holds every answer until the test lets go

    response, _ = sporadic.send_command()

    assert AGO.search(footer(response.json())) is not None
    cloudflare.gate.set()


def test_a_search_refreshed_behind_reads_every_page_afresh(
    sporadic: SlackDriver, cloudflare: FakeCloudflare, clock: FakeClock
) -> None:
    sporadic.command()  # page 1 of the directory, cached on its own
    sporadic.command("group-0000")  # the whole directory, read once
    cloudflare.groups[PROVIDER_ID][3]["displayName"] = "renamed-at-3am"
    clock.advance(3 * TTL)

    aging = sporadic.command("renamed-at-3am")  # the old directory, marked with its age
    fresh = refreshed_behind(sporadic, "renamed-at-3am")

    assert AGO.search(footer(aging)) is not None
    assert group_names(aging) == []
    assert group_names(fresh) == ["renamed-at-3am"]  # the walk did not reuse the aging page 1


def test_an_aging_answer_is_audited_and_counted_as_aging(
    sporadic: SlackDriver, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sporadic.command()
    clock.advance(2 * TTL)

    sporadic.command()

    audit = [
        getattr(r, "fields", {}) for r in caplog.records if getattr(r, "fields", {}).get("event") == "command"
    ]
    assert [line["cache"] for line in audit] == ["miss", "aging"]
    assert audit[1]["upstream_calls"] == 0  # the refresh behind is nobody's answer


def test_a_copy_from_elsewhere_is_kept_only_when_newer_than_this_process_own(clock: FakeClock) -> None:
    answers = aging_cache(clock, Later())
    answers.get("k", Loads())  # 0, fetched at START
    clock.advance(10)

    answers.adopt("k", Stamped(7, START - 1))
    older = answers.last("k")
    answers.adopt("k", Stamped(8, START))
    same = answers.last("k")
    answers.adopt("k", Stamped(9, START + 1))
    newer = answers.last("k")
    answers.adopt("other", Stamped(5, START - 100))

    assert (older, same, newer) == (Stamped(0, START), Stamped(0, START), Stamped(9, START + 1))
    assert answers.last("other") == Stamped(5, START - 100)
    assert answers.knows("k")
    assert answers.knows("other")
    assert not answers.knows("nobody")


def test_a_backward_step_of_the_wall_clock_pins_no_old_copy(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)  # 0, fetched at START
    clock.advance(TTL + 1)
    clock.wall_step = -3_600  # the wall clock goes back an hour

    aging = answers.get("k", load)  # shown aging, refreshed behind
    later.run()
    fresh = answers.get("k", load)
    clock.advance(TTL + 1)
    again = answers.get("k", load)  # the new copy is the one that ages, never the old one

    assert aging.value == 0
    assert aging.fetched_at == START - 3_600  # shown as TTL + 1 seconds old, never in the future
    assert fresh.value == 1
    assert fresh.from_cache
    assert again.value == 1
    assert again.aging
    assert again.fetched_at is not None
    assert again.fetched_at <= clock.time()
    assert answers.last("k") == Stamped(1, clock.time() - TTL - 1)


def test_a_copy_from_a_host_whose_clock_runs_ahead_is_as_new_as_now(clock: FakeClock) -> None:
    answers = aging_cache(clock, Later())

    answers.adopt("k", Stamped(7, clock.time() + 600))

    assert answers.last("k") == Stamped(7, clock.time())


def test_a_refresh_while_a_refresh_behind_is_queued_waits_for_it(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers = aging_cache(clock, later)
    answers.get("k", load)
    clock.advance(TTL + 1)
    answers.get("k", load)  # shown aging; its refresh queued, not yet run
    joined: list[Any] = []
    joiner = threading.Thread(target=lambda: joined.append(answers.get("k", load, refresh=True)), daemon=True)
    joiner.start()

    joiner.join(timeout=0.2)
    waited = joiner.is_alive()
    later.run()
    joiner.join(timeout=10)

    assert waited, "the Refresh did not wait for the load under way"
    assert [cached.value for cached in joined] == [1]
    assert load.calls == 2  # the first load and the one behind: the Refresh made none of its own


def test_a_bound_of_a_second_still_shows_a_copy_past_a_shorter_ttl(clock: FakeClock) -> None:
    later, load = Later(), Loads()
    answers: SingleFlightCache[str, int] = SingleFlightCache(
        ttl=0.5, clock=clock, maxsize=8, stale_maxsize=8, serve_aging_seconds=1, background=later
    )
    answers.get("k", load)
    clock.advance(0.75)

    aging = answers.get("k", load)

    assert (aging.value, aging.aging) == (0, True)


def test_of_two_loads_fetched_at_one_moment_the_later_is_kept(clock: FakeClock) -> None:
    answers = aging_cache(clock, Later())
    load = Loads()
    answers.get("k", load)

    answers.get("k", load, refresh=True)  # the clock has not moved

    assert answers.last("k") == Stamped(1, START)
