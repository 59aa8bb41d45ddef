"""tap_crm.onpipeline.windows: splitting, growing, the local filter range (no HTTP)."""

from __future__ import annotations

import itertools

import pendulum
import pytest

from crm_api.onpipeline import OnpipelineAnswerTooLargeError
from tap_crm.onpipeline import windows


def fake_fetch(  # type: ignore[no-untyped-def]
    points: list[int],
    calls: list[tuple[int, int]],
    cap: int | None = None,
    *,
    bytes_each: int = 100,
    ceilings: list[int | None] | None = None,
):
    """An API answering the points in [start, stop); with ``cap``, cut short as the real one.
    Each point is ``bytes_each`` bytes of answer: past the caller's ceiling the client gives
    up on the answer (``OnpipelineAnswerTooLargeError``) before any record is parsed."""

    def fetch(start: int, stop: int, max_bytes: int | None = None) -> list[int]:
        calls.append((start, stop))
        if ceilings is not None:
            ceilings.append(max_bytes)
        found = [p for p in points if start <= p < stop]
        found = found if cap is None else found[:cap]
        if max_bytes is not None and len(found) * bytes_each > max_bytes:
            raise OnpipelineAnswerTooLargeError("PersonList", max_bytes)
        return found

    return fetch


def covered(results: list[windows.WindowResult], start: int, stop: int) -> None:
    assert all(a.stop == b.start for a, b in itertools.pairwise(results))
    assert results[0].start == start
    assert results[-1].stop == stop


def test_a_small_account_is_one_request_however_long_the_span() -> None:
    calls: list[tuple[int, int]] = []
    points = [9_000_000 + 7 * i for i in range(1000)]
    results = list(windows.walk(0, 10**9, fake_fetch(points, calls), max_records=2000))
    assert calls == [(0, 10**9)]
    assert [p for r in results for p in r.records] == points


def test_walk_covers_every_point_exactly_once_and_splits_dense_windows() -> None:
    points = [5] * 3 + list(range(100, 140)) + [900]
    calls: list[tuple[int, int]] = []
    results = list(windows.walk(0, 1000, fake_fetch(points, calls), max_records=10))
    seen = [p for r in results for p in r.records]
    assert sorted(seen) == sorted(points)
    assert all(len(r.records) < 10 for r in results)  # every kept answer is below the max
    covered(results, 0, 1000)


def test_an_answer_cut_short_at_the_limit_is_never_trusted() -> None:
    # The API answers at most ``cap`` records: a full answer is split, never kept.
    points = list(range(0, 10_000, 3))
    calls: list[tuple[int, int]] = []
    results = list(windows.walk(0, 10_000, fake_fetch(points, calls, cap=50), max_records=50))
    assert [p for r in results for p in r.records] == points
    assert all(len(r.records) < 50 for r in results)
    covered(results, 0, 10_000)


def test_a_single_unit_over_the_max_is_kept_and_flagged() -> None:
    calls: list[tuple[int, int]] = []
    results = list(windows.walk(0, 4, fake_fetch([2] * 5, calls), max_records=3))
    flagged = [r for r in results if r.overfull]
    assert len(flagged) == 1
    assert (flagged[0].start, flagged[0].stop, len(flagged[0].records)) == (2, 3, 5)


def test_an_answer_past_the_byte_ceiling_is_split_and_never_trusted() -> None:
    # Points of 100 bytes, a ceiling of 10 records' worth: the whole span is far too big.
    points = list(range(0, 10_000, 2))
    calls: list[tuple[int, int]] = []
    ceilings: list[int | None] = []
    fetch = fake_fetch(points, calls, ceilings=ceilings)
    results = list(windows.walk(0, 10_000, fetch, max_records=20, max_bytes=1000))
    assert [p for r in results for p in r.records] == points  # each once, in order
    assert all(len(r.records) * 100 <= 1000 for r in results)
    covered(results, 0, 10_000)
    assert calls[:2] == [(0, 10_000), (0, 5_000)]  # abandoned: halved, nothing learned
    assert set(ceilings) == {1000}  # every request bounded (no one-unit window needed here)


def test_past_the_part_a_thrown_away_answer_showed_windows_keep_the_rate_seen() -> None:
    # The whole span is abandoned, its first half read and thrown away (it says where its
    # records are); past that half the walk goes on at the rate just seen, not asking again
    # for all the rest (another answer thrown away, or abandoned, for nothing).
    points = list(range(10_000))
    calls: list[tuple[int, int]] = []
    fetch = fake_fetch(points, calls, bytes_each=1)
    results = list(windows.walk(0, 10_000, fetch, max_records=100, max_bytes=6000, unit_of=int))
    assert [p for r in results for p in r.records] == points
    thrown_away = [(a, b) for a, b in calls if len([p for p in points if a <= p < b]) >= 100]
    assert thrown_away == [(0, 10_000), (0, 5_000)]


def test_a_one_unit_window_past_the_ceiling_is_read_whole_so_the_walk_goes_on() -> None:
    calls: list[tuple[int, int]] = []
    ceilings: list[int | None] = []
    fetch = fake_fetch([1, 2, 2, 2, 2, 3], calls, ceilings=ceilings)
    results = list(windows.walk(0, 8, fetch, max_records=100, max_bytes=250))
    assert sorted(p for r in results for p in r.records) == [1, 2, 2, 2, 2, 3]
    assert [r.records for r in results if r.start == 2] == [[2, 2, 2, 2]]
    unbounded = [call for call, ceiling in zip(calls, ceilings, strict=True) if ceiling is None]
    assert unbounded == [(2, 3)]  # only the unit that cannot be split


def test_a_small_account_under_the_ceiling_is_still_one_request() -> None:
    calls: list[tuple[int, int]] = []
    points = [9_000_000 + 7 * i for i in range(1000)]
    fetch = fake_fetch(points, calls)
    results = list(windows.walk(0, 10**9, fetch, max_records=2000, max_bytes=2000 * 8192))
    assert calls == [(0, 10**9)]
    assert [p for r in results for p in r.records] == points


@pytest.mark.parametrize("kind", ["created", "dated"])
def test_the_reader_asks_for_max_records_times_the_per_record_bound(kind: str) -> None:
    asked: list[int | None] = []

    def fetch(body: object, max_bytes: int | None) -> list[dict[str, str]]:
        asked.append(max_bytes)
        return []

    reader = windows.WindowReader(fetch, "UTC", 500, None, lambda result: None)
    if kind == "created":
        list(reader.created(pendulum.datetime(2020, 1, 1), pendulum.datetime(2024, 1, 1)))
    else:
        list(reader.dated(pendulum.date(2020, 1, 1), pendulum.date(2024, 1, 1)))
    assert asked == [500 * windows.BYTES_PER_RECORD_BOUND]


def test_a_users_largest_window_still_bounds_every_request() -> None:
    calls: list[tuple[int, int]] = []
    list(windows.walk(0, 1000, fake_fetch([1], calls), max_records=10, largest_size=100))
    assert len(calls) == 10
    assert all(stop - start <= 100 for start, stop in calls)


def test_a_remembered_density_sizes_windows_so_no_answer_is_overfull() -> None:
    # Dense recent "years" (buckets of 1000 units), empty early ones.
    points = [p for year in range(5, 10) for p in range(year * 1000, year * 1000 + 1000, 2)]
    learned = windows.Density(1000)
    for p in points:
        learned.add(p)
    calls: list[tuple[int, int]] = []
    fetch = fake_fetch(points, calls, cap=400)
    results = list(windows.walk(0, 10_000, fetch, max_records=400, density=learned))
    assert [p for r in results for p in r.records] == points
    answers = [len([p for p in points if a <= p < b]) for a, b in calls]
    assert max(answers) < 400  # none thrown away
    assert calls[0] == (0, 5000 + 560)  # the empty years in one request with the first part


def test_density_state_round_trips_and_odd_state_is_ignored() -> None:
    density = windows.Density(10, {3: 5})
    assert windows.Density.from_state(10, density.to_state()) == density
    assert windows.Density.from_state(10, {"x": 1}) is None
    assert windows.Density.from_state(10, "odd") is None


def test_created_filter_overlaps_one_second_each_side_in_local_time() -> None:
    start = int(pendulum.datetime(2024, 7, 1, 10, 0, 0).timestamp())
    body = windows.created_filter(start, start + 3600, "Europe/Rome")
    assert body == {"MinCreated": "2024-07-01 11:59:59", "MaxCreated": "2024-07-01 13:00:00"}


def test_created_filter_widens_across_a_dst_change() -> None:
    # Europe/Rome leaves summer time on 2024-10-27 at 01:00 UTC (03:00 -> 02:00 local).
    start = int(pendulum.datetime(2024, 10, 27, 0, 30).timestamp())
    stop = int(pendulum.datetime(2024, 10, 27, 1, 30).timestamp())
    body = windows.created_filter(start, stop, "Europe/Rome")
    # Local times of that hour run 02:30 CEST .. 02:59 CEST, 02:00 CET .. 02:29 CET.
    assert body["MinCreated"] <= "2024-10-27 02:00:00"
    assert body["MaxCreated"] >= "2024-10-27 02:59:59"


def test_date_filter_is_inclusive_days() -> None:
    start = windows.day_number(pendulum.date(2022, 5, 1))
    assert windows.date_filter(start, start + 31) == {
        "MinDate": "2022-05-01",
        "MaxDate": "2022-05-31",
    }
