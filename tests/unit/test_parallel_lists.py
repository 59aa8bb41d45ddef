"""``WindowedList``: one ``update_time``-sorted list read as concurrent windows, the rows
leaving in order, each once, none lost, memory bounded (a fake list; no HTTP, no timing)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tap_crm.pipedrive.parallel_lists import READ_AHEAD, WindowedList, to_epoch, to_text

NOW = "2026-01-01T00:00:00Z"


class FakeList:
    """A sorted list served like the API: ``updated_since`` inclusive, ``updated_until``
    exclusive, pages of ``page_size``; counts pages served and reads in flight."""

    def __init__(self, times: list[int], page_size: int, *, fail_at: int | None = None) -> None:
        self.rows = sorted(
            ({"id": n, "update_time": to_text(t)} for n, t in enumerate(times)),
            key=lambda row: (row["update_time"], row["id"]),
        )
        self.page_size = page_size
        self.pages = 0
        self.served = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_at = fail_at  # a row's time: any page holding it fails
        self.closed = 0
        self._lock = threading.Lock()

    def read(self, since: str | None, until: str | None) -> Iterator[dict[str, Any]]:
        rows = [
            row
            for row in self.rows
            if (since is None or row["update_time"] >= since)
            and (until is None or row["update_time"] < until)
        ]
        try:
            for start in range(0, max(1, len(rows)), self.page_size):
                with self._lock:
                    self.pages += 1
                    self.in_flight += 1
                    self.most_in_flight = max(self.most_in_flight, self.in_flight)
                time.sleep(0.001)  # let other readers run: windows interleave
                page = rows[start : start + self.page_size]
                with self._lock:
                    self.in_flight -= 1
                    self.served += len(page)
                if self.fail_at is not None and any(
                    to_epoch(row["update_time"]) == self.fail_at for row in page
                ):
                    raise RuntimeError("HTTP 500 on this page")
                yield from (dict(row) for row in page)
        finally:
            with self._lock:
                self.closed += 1


def windowed(fake: FakeList, readers: int, since: str | None = None) -> WindowedList:
    return WindowedList(
        fake.read,
        since=since,
        now=NOW,
        time_of=lambda row: row["update_time"],
        page_size=fake.page_size,
        readers=readers,
    )


def bursty_times(dice: random.Random, count: int) -> list[int]:
    """Times spread over years, with many rows sharing a second (bulk imports, mass edits)."""
    start, end = to_epoch("2020-01-01T00:00:00Z"), to_epoch("2025-06-01T00:00:00Z")
    bursts = [dice.randint(start, end) for _ in range(6)]
    return [
        dice.choice(bursts) if dice.random() < 0.4 else dice.randint(start, end)
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(12))
def test_rows_leave_in_order_each_once_none_lost(seed: int) -> None:
    dice = random.Random(seed)
    page_size = dice.choice([1, 3, 7, 20])
    fake = FakeList(bursty_times(dice, dice.randint(0, 400)), page_size)
    reader = windowed(fake, readers=dice.choice([1, 2, 4, 8]))
    rows = list(reader)
    assert sorted(row["id"] for row in rows) == sorted(row["id"] for row in fake.rows)
    times = [row["update_time"] for row in rows]
    assert times == sorted(times)


def test_a_large_list_is_read_by_several_readers_at_once_with_few_extra_pages() -> None:
    dice = random.Random(1)
    fake = FakeList(bursty_times(dice, 2000), 20)
    reader = windowed(fake, readers=4)
    rows = list(reader)
    assert len(rows) == 2000
    assert reader.windows_opened > 1
    assert fake.most_in_flight > 1
    # a window costs about one page more than one chain would: a handful, not a multiple
    assert fake.pages <= 2000 // 20 + 1 + reader.windows_opened


def test_a_list_that_fits_one_page_costs_one_request() -> None:
    fake = FakeList([to_epoch("2024-01-01T00:00:00Z") + n for n in range(5)], 10)
    reader = windowed(fake, readers=8)
    assert len(list(reader)) == 5
    assert fake.pages == 1
    assert reader.windows_opened == 1


def test_the_bookmark_bounds_the_first_window() -> None:
    times = [to_epoch("2024-01-01T00:00:00Z") + n for n in range(100)]
    fake = FakeList(times, 7)
    since = to_text(times[40])  # inclusive, as updated_since
    rows = list(windowed(fake, readers=4, since=since))
    assert [row["id"] for row in rows] == list(range(40, 100))


def test_one_crowded_second_across_many_pages_is_kept_whole_in_one_window() -> None:
    crowded = to_epoch("2024-05-05T05:05:05Z")
    times = [crowded - 1000 + n for n in range(30)] + [crowded] * 200 + [crowded + 1] * 3
    fake = FakeList(times, 10)
    rows = list(windowed(fake, readers=8))
    assert sorted(row["id"] for row in rows) == list(range(233))
    assert [row["update_time"] for row in rows] == sorted(row["update_time"] for row in rows)


def test_an_error_in_a_later_window_comes_after_every_row_before_it() -> None:
    dice = random.Random(3)
    times = sorted(dice.randint(to_epoch("2021-01-01T00:00:00Z"), to_epoch("2025-01-01T00:00:00Z"))
                   for _ in range(600))  # fmt: skip
    failing = times[450]
    fake = FakeList(times, 10, fail_at=failing)
    emitted: list[dict[str, Any]] = []
    with pytest.raises(RuntimeError, match="HTTP 500"):
        emitted.extend(windowed(fake, readers=4))
    # a prefix of the list, in order, short of the failing row by at most the failing page
    assert [row["id"] for row in emitted] == [row["id"] for row in fake.rows[: len(emitted)]]
    first_failing = next(
        n for n, row in enumerate(fake.rows) if to_epoch(row["update_time"]) == failing
    )
    assert first_failing - fake.page_size <= len(emitted) <= first_failing


def test_a_slow_writer_bounds_what_is_read_ahead_and_closing_stops_the_readers() -> None:
    dice = random.Random(5)
    fake = FakeList(bursty_times(dice, 3000), 10)
    readers = 4
    reader = iter(windowed(fake, readers=readers))
    # windows x (queued + held + being read) pages
    bound = (readers + 1) * (READ_AHEAD + 2) * fake.page_size
    for consumed in range(1, 400):
        next(reader)
        if consumed % 50 == 0:
            time.sleep(0.05)  # the readers fill what they may
            assert fake.served - consumed <= bound
    reader.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while fake.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    served = fake.served
    time.sleep(0.5)
    assert fake.served - served <= readers * 2 * fake.page_size  # no reader keeps paging
