"""Creation-date windows: how the tap bounds each answer of an API that has no paging.

A window is a half-open range ``[start, stop)`` of integer *units* (epoch seconds for the
``MinCreated``/``MaxCreated`` filters, day numbers for invoices' ``MinDate``/``MaxDate``). The
walk starts with a small window and sizes each next one from the density just seen (aiming at
70% of ``max_records``, at most doubling, so empty years cost a few calls, not hundreds); when
an answer reaches ``max_records`` it throws that answer away and asks again for the first
half, recursively, down to a single unit. Only one answer
is held at a time, so memory stays flat however large the account is.

:class:`WindowReader` is what a stream holds (composition, not a base class): one resource
read window by window, by creation time or by date, each record kept once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pendulum

from crm_api.onpipeline import parse_local, to_local

Fetch = Callable[[Mapping[str, Any]], Sequence[dict[str, Any]]]  # one call with a filter body


@dataclass(frozen=True)
class WindowResult:
    start: int  # inclusive unit
    stop: int  # exclusive unit
    records: Sequence[Any]
    overfull: bool  # reached max_records in a one-unit window: could not split further


def walk(
    start: int,
    stop: int,
    fetch: Callable[[int, int], Sequence[Any]],
    *,
    max_records: int,
    first_size: int,
    largest_size: int,
) -> Iterator[WindowResult]:
    """Cover ``[start, stop)`` with windows whose answers stay below ``max_records``."""
    largest = max(1, largest_size)
    size = max(1, min(first_size, largest))
    target = max(1, int(max_records * 0.7))
    cursor = start
    while cursor < stop:
        end = min(stop, cursor + size)
        records = fetch(cursor, end)
        if len(records) >= max_records and end - cursor > 1:
            size = max(1, (end - cursor) // 2)  # too large: ask again for the first half
            del records
            continue
        yield WindowResult(cursor, end, records, overfull=len(records) >= max_records)
        # Aim the next window at ~70% of the max from the density just seen (at most
        # doubling), so a steady account settles on full answers with few discarded ones.
        scaled = (end - cursor) * target // len(records) if records else size * 2
        size = max(1, min(largest, size * 2, scaled))
        cursor = end


def created_filter(start: int, stop: int, tz: str) -> dict[str, str]:
    """``MinCreated``/``MaxCreated`` (local time) covering epoch seconds ``[start, stop)``.

    The document does not say whether the bounds are inclusive, so the range reaches one
    second beyond each end and the caller keeps only records whose UTC creation time falls in
    the window: exactly once either way. When a DST change falls inside the window, local
    time is not monotonic, so the range is widened by the offset difference.
    """
    first = pendulum.from_timestamp(start, tz=tz)
    last = pendulum.from_timestamp(stop, tz=tz)
    shift = abs(int(first.utcoffset().total_seconds()) - int(last.utcoffset().total_seconds()))  # type: ignore[union-attr]
    return {
        "MinCreated": to_local(pendulum.from_timestamp(start - 1 - shift), tz),
        "MaxCreated": to_local(pendulum.from_timestamp(stop + shift), tz),
    }


EPOCH_DAY = pendulum.date(1970, 1, 1)


def day_number(day: date) -> int:
    return EPOCH_DAY.diff(pendulum.instance(day), abs=False).in_days()


def day_of(number: int) -> pendulum.Date:
    return EPOCH_DAY.add(days=number)


def date_filter(start: int, stop: int) -> dict[str, str]:
    """``MinDate``/``MaxDate`` (inclusive dates, as the document's month example) for days
    ``[start, stop)``."""
    return {"MinDate": day_of(start).isoformat(), "MaxDate": day_of(stop - 1).isoformat()}


@dataclass(frozen=True)
class WindowReader:
    """One resource read window by window; a stream holds one (see ``OnpipelineStream``).

    ``fetch`` makes one call with a filter body; ``on_overfull`` hears of a one-unit window
    that reached ``max_records`` (the API may have cut that answer short).
    """

    fetch: Fetch
    timezone: str
    max_records: int
    largest_days: int
    on_overfull: Callable[[WindowResult], None]

    def created(
        self,
        start: pendulum.DateTime,
        stop: pendulum.DateTime,
        body: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record created in ``[start, stop)``, by ``MinCreated``/``MaxCreated`` windows
        of epoch seconds."""

        def fetch(first: int, end: int) -> Sequence[dict[str, Any]]:
            return self.fetch({**(body or {}), **created_filter(first, end, self.timezone)})

        for result in self._walk(int(start.timestamp()), int(stop.timestamp()), fetch, 86_400):
            for record in result.records:
                created = parse_local(record.get("Created"), self.timezone)
                second = int(created.timestamp()) if created else None
                # Keep only what belongs to this window: the request overlaps its neighbours.
                if second is None or result.start <= second < result.stop:
                    yield record

    def dated(self, first: date, last: date) -> Iterator[dict[str, Any]]:
        """Every record whose ``Date`` is ``first`` .. ``last`` (both included), by
        ``MinDate``/``MaxDate`` windows of days."""

        def fetch(start: int, end: int) -> Sequence[dict[str, Any]]:
            return self.fetch(date_filter(start, end))

        for result in self._walk(day_number(first), day_number(last) + 1, fetch, 1):
            low, high = day_of(result.start).isoformat(), day_of(result.stop).isoformat()
            for record in result.records:
                day = str(record.get("Date") or "")[:10]
                # ISO dates compare as text; a record without a date is kept, not lost.
                if not day[:4].isdigit() or low <= day < high:
                    yield record

    def _walk(
        self, start: int, stop: int, fetch: Callable[[int, int], Sequence[Any]], unit: int
    ) -> Iterator[WindowResult]:
        for result in walk(
            start,
            stop,
            fetch,
            max_records=self.max_records,
            first_size=unit,
            largest_size=self.largest_days * unit,
        ):
            if result.overfull:
                self.on_overfull(result)
            yield result
