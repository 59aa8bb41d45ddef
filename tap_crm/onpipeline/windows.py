"""Creation-date windows: how the tap bounds each answer of an API that has no paging.

A window is a half-open range ``[start, stop)`` of integer *units* (epoch seconds for the
``MinCreated``/``MaxCreated`` filters, day numbers for invoices' ``MinDate``/``MaxDate``).

The walk asks for as much as it can in one request: with nothing known, the first window is
the whole span (a small account is one request, however many empty years it starts with).
Each next window is sized from what is known: a :class:`Density` remembered from the last
complete walk (records per year of creation, kept in the stream's state) or else the answer
just seen (aiming at 70% of ``max_records``; an empty answer means "the rest of the span"). No
fixed cap: ``largest`` only when the user sets ``onpipeline_window_days``. An answer that
reaches ``max_records`` may have been cut short by the API, so it is never trusted: it is
thrown away and the window asked again, smaller by what the answer's size says (at least
halved), down to a single unit. Only one answer is held at a time, and it is bounded in
bytes too: the API has no paging, so the whole-span first window of a big account would
otherwise carry the whole account into memory. Each request gets a byte ceiling
(``max_records`` x ``BYTES_PER_RECORD_BOUND``); an answer passing it is abandoned unread by
the client (:class:`~crm_api.onpipeline.OnpipelineAnswerTooLargeError`) and its window
split like an overfull one. A one-unit window cannot be split, so it is read unbounded.

:class:`WindowReader` is what a stream holds (composition, not a base class): one resource
read window by window, by creation time or by date, each record kept once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pendulum

from crm_api.onpipeline import OnpipelineAnswerTooLargeError, parse_local, to_local

# One call with a filter body and a byte ceiling for its answer (None: read it whole).
Fetch = Callable[[Mapping[str, Any], int | None], Sequence[dict[str, Any]]]
FILL = 0.7  # aim each window at 70% of max_records: room for growth since the density was seen
# Bytes one record's JSON is sure to stay under (a sandbox person is about 0.6 KiB; custom
# fields and long notes make some bigger). An answer of max_records x this certainly holds more
# than max_records records, so it would be thrown away anyway: it is abandoned unread instead.
BYTES_PER_RECORD_BOUND = 8 * 1024


@dataclass(frozen=True)
class WindowResult:
    start: int  # inclusive unit
    stop: int  # exclusive unit
    records: Sequence[Any]
    overfull: bool  # reached max_records in a one-unit window: could not split further


@dataclass
class Density:
    """Records per bucket of units (a year) seen by the last complete walk: how the next walk
    sizes its windows from the start, dense years in small windows, empty years in none."""

    bucket: int  # units per bucket
    counts: dict[int, int] = field(default_factory=dict)

    def add(self, unit: int) -> None:
        key = unit // self.bucket
        self.counts[key] = self.counts.get(key, 0) + 1

    def size_for(self, start: int, stop: int, target: int) -> int:
        """Units from ``start`` expected to hold about ``target`` records (``stop - start``
        when the rest of the span is expected to hold fewer)."""
        room = float(target)
        # Only the buckets that hold records: empty years cost nothing to step over.
        for key in sorted(
            k for k in self.counts if start < (k + 1) * self.bucket and k * self.bucket < stop
        ):
            low, high = max(start, key * self.bucket), min(stop, (key + 1) * self.bucket)
            expected = self.counts[key] * (high - low) / self.bucket
            if expected > room:
                return max(1, int(low - start + room * self.bucket / self.counts[key]))
            room -= expected
        return stop - start

    def to_state(self) -> dict[str, int]:
        return {str(key): count for key, count in sorted(self.counts.items())}

    @classmethod
    def from_state(cls, bucket: int, value: Any) -> Density | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(bucket, {int(k): int(v) for k, v in value.items() if int(v) > 0})
        except (TypeError, ValueError):
            return None  # an odd hand-edited state: size from the answers instead


def walk(
    start: int,
    stop: int,
    fetch: Callable[[int, int, int | None], Sequence[Any]],
    *,
    max_records: int,
    max_bytes: int | None = None,
    largest_size: int | None = None,
    density: Density | None = None,
    unit_of: Callable[[Any], int | None] | None = None,
) -> Iterator[WindowResult]:
    """Cover ``[start, stop)`` with windows whose answers stay below ``max_records``.

    ``fetch(start, stop, max_bytes)`` raises :class:`OnpipelineAnswerTooLargeError` for an
    answer over ``max_bytes``: that window is split as an overfull one (nothing learned from
    it, since nothing of it was read). ``unit_of`` tells where a record lies: a discarded
    answer then still says where the records are, and the windows after it are sized from
    that (an account without a remembered density costs one thrown-away answer, not a cascade
    of halvings)."""
    target = max(1, int(max_records * FILL))
    # How far the density speaks: all the span for a remembered one, only up to its end for one
    # learned from a thrown-away answer (past it, "nothing there" would be a guess).
    known_until = stop

    def expected(cursor: int, fallback: int) -> int:
        """Units from ``cursor`` the density expects to hold ``target`` records, else fallback."""
        if density is None or cursor >= known_until:
            return fallback
        return density.size_for(cursor, known_until, target)

    def planned(cursor: int, seen: int | None, width: int) -> int:
        if density is not None and cursor < known_until:
            size = expected(cursor, stop - cursor)
        elif seen is None or seen == 0:
            size = stop - cursor  # nothing known, or nothing there: ask for all the rest
        else:
            size = width * target // seen
        return max(1, min(size, largest_size or size))

    cursor = start
    size = planned(cursor, None, 0)
    while cursor < stop:
        end = min(stop, cursor + size)
        width = end - cursor
        try:
            # A one-unit window cannot be split: read it whole, or the walk could never pass it.
            records = fetch(cursor, end, max_bytes if width > 1 else None)
        except OnpipelineAnswerTooLargeError:
            # More than max_records for sure, so never trusted: ask again for half (or less,
            # when a density, remembered or just learned, expects fewer).
            size = max(1, min(width // 2, expected(cursor, width)))
            continue
        seen = len(records)
        if seen >= max_records and width > 1:
            # Possibly cut short: ask again, smaller by what this answer says (at least half).
            size = max(1, min(width // 2, width * target // seen))
            if unit_of is not None:
                density, known_until = Density(max(1, width // 256)), end
                for record in records:
                    unit = unit_of(record)
                    if unit is not None and cursor <= unit < end:
                        density.add(unit)
                size = max(1, min(width // 2, expected(cursor, width)))
            del records
            continue
        yield WindowResult(cursor, end, records, overfull=seen >= max_records)
        cursor = end
        size = planned(cursor, seen, width)


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


def day_of_record(record: Any) -> int | None:
    try:
        return day_number(pendulum.Date.fromisoformat(str(record.get("Date") or "")[:10]))
    except ValueError:
        return None


YEAR_SECONDS = 365 * 86_400
YEAR_DAYS = 365


@dataclass(frozen=True)
class WindowReader:
    """One resource read window by window; a stream holds one (see ``OnpipelineStream``).

    ``fetch`` makes one call with a filter body and a byte ceiling for its answer (see
    ``BYTES_PER_RECORD_BOUND``); ``on_overfull`` hears of a one-unit window
    that reached ``max_records`` (the API may have cut that answer short). ``largest_days``
    caps a window only when the user set one (None: windows grow as far as answers allow).

    Each walk may be given the density remembered from the last one (``density``), a
    :class:`Density` to fill for the next (``learn``), and ``done``: called with the window's
    end after its last record was taken, so a state saying "done up to here" never covers a
    record not yet emitted.
    """

    fetch: Fetch
    timezone: str
    max_records: int
    largest_days: int | None
    on_overfull: Callable[[WindowResult], None]
    bytes_per_record: int = BYTES_PER_RECORD_BOUND  # the answer's byte ceiling per max_records

    def created(
        self,
        start: pendulum.DateTime,
        stop: pendulum.DateTime,
        body: Mapping[str, Any] | None = None,
        *,
        density: Density | None = None,
        learn: Density | None = None,
        done: Callable[[pendulum.DateTime], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record created in ``[start, stop)``, by ``MinCreated``/``MaxCreated`` windows
        of epoch seconds."""

        def fetch(first: int, end: int, max_bytes: int | None) -> Sequence[dict[str, Any]]:
            filters = created_filter(first, end, self.timezone)
            return self.fetch({**(body or {}), **filters}, max_bytes)

        def second_of(record: Any) -> int | None:
            created = parse_local(record.get("Created"), self.timezone)
            return int(created.timestamp()) if created else None

        first, last = int(start.timestamp()), int(stop.timestamp())
        for result in self._walk(first, last, fetch, 86_400, density, second_of):
            for record in result.records:
                created = parse_local(record.get("Created"), self.timezone)
                second = int(created.timestamp()) if created else None
                # Keep only what belongs to this window: the request overlaps its neighbours.
                if second is None or result.start <= second < result.stop:
                    if learn is not None and second is not None:
                        learn.add(second)
                    yield record
            if done is not None:
                done(pendulum.from_timestamp(result.stop))

    def dated(
        self,
        first: date,
        last: date,
        *,
        density: Density | None = None,
        learn: Density | None = None,
        done: Callable[[pendulum.Date], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record whose ``Date`` is ``first`` .. ``last`` (both included), by
        ``MinDate``/``MaxDate`` windows of days."""

        def fetch(start: int, end: int, max_bytes: int | None) -> Sequence[dict[str, Any]]:
            return self.fetch(date_filter(start, end), max_bytes)

        span = day_number(first), day_number(last) + 1
        for result in self._walk(*span, fetch, 1, density, day_of_record):
            low, high = day_of(result.start).isoformat(), day_of(result.stop).isoformat()
            for record in result.records:
                day = str(record.get("Date") or "")[:10]
                # ISO dates compare as text; a record without a date is kept, not lost.
                if not day[:4].isdigit() or low <= day < high:
                    if learn is not None and (number := day_of_record(record)) is not None:
                        learn.add(number)
                    yield record
            if done is not None:
                done(day_of(result.stop))

    def _walk(
        self,
        start: int,
        stop: int,
        fetch: Callable[[int, int, int | None], Sequence[Any]],
        unit: int,
        density: Density | None,
        unit_of: Callable[[Any], int | None],
    ) -> Iterator[WindowResult]:
        for result in walk(
            start,
            stop,
            fetch,
            max_records=self.max_records,
            max_bytes=self.max_records * self.bytes_per_record,
            largest_size=self.largest_days * unit if self.largest_days else None,
            density=density,
            unit_of=unit_of,
        ):
            if result.overfull:
                self.on_overfull(result)
            yield result
