"""tap_crm.onpipeline.windows: splitting, growing, the local filter range (no HTTP)."""

from __future__ import annotations

import itertools

import pendulum

from tap_crm.onpipeline import windows


def fake_fetch(points: list[int], calls: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    def fetch(start: int, stop: int) -> list[int]:
        calls.append((start, stop))
        return [p for p in points if start <= p < stop]

    return fetch


def test_walk_covers_every_point_exactly_once_and_splits_dense_windows() -> None:
    points = [5] * 3 + list(range(100, 140)) + [900]
    calls: list[tuple[int, int]] = []
    results = list(
        windows.walk(
            0, 1000, fake_fetch(points, calls), max_records=10, first_size=8, largest_size=512
        )
    )
    seen = [p for r in results for p in r.records]
    assert sorted(seen) == sorted(points)
    assert all(len(r.records) < 10 for r in results)  # every kept answer is below the max
    assert all(a.stop == b.start for a, b in itertools.pairwise(results))
    assert results[0].start == 0
    assert results[-1].stop == 1000
    assert any(stop - start > 8 for start, stop in calls)  # sparse stretches grew


def test_a_single_unit_over_the_max_is_kept_and_flagged() -> None:
    calls: list[tuple[int, int]] = []
    results = list(
        windows.walk(0, 4, fake_fetch([2] * 5, calls), max_records=3, first_size=4, largest_size=4)
    )
    flagged = [r for r in results if r.overfull]
    assert len(flagged) == 1
    assert (flagged[0].start, flagged[0].stop, len(flagged[0].records)) == (2, 3, 5)


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


def test_empty_stretches_cost_few_calls_even_with_a_tiny_max() -> None:
    calls: list[tuple[int, int]] = []
    results = list(
        windows.walk(
            0, 10_000, fake_fetch([9_999], calls), max_records=2, first_size=1, largest_size=512
        )
    )
    assert [p for r in results for p in r.records] == [9_999]
    assert len(calls) < 40  # doubling to 512, then steps of 512: not one call per unit
