"""Reading one ``update_time``-sorted v2 list as several time windows at once, the records
still leaving in ``update_time`` order.

A cursor list is a chain: page n+1 needs page n's cursor, so one list read alone waits a
round trip per page however much of the rate budget is free. But v2 entity lists take
``updated_since`` (``>=``) and ``updated_until`` (``<``) with ``sort_by=update_time``, so the
span from the bookmark to now splits into windows that are independent chains, read side by
side under the shared ``RequestBudget``.

How the span is cut (no count endpoint exists, so it is learned while reading):

* The first window is the whole span. Its first page is the probe: a list that fits one page
  costs one request, as before.
* When that page is full, the rest of the span (from its last ``update_time`` to the run's
  start) is cut into equal slices, one reader each (``readers``, the user's
  ``max_concurrent_requests``).
* Whenever a reader finishes, the window expected to hold the most records still unread (its
  records per second so far, times the seconds it has left) is cut in two at a whole second,
  so readers follow the records where they are dense. A cut window's reader keeps its cursor
  and stops at the cut (at most part of one page read twice: the cut is where its next
  window starts, and a window's records at or past its end are dropped).

Order and state: windows are cut at whole seconds, so the records of one second are all in
one window and the windows partition the span; each window's records are emitted only once
every earlier window is done, so the stream leaves in ``update_time`` order (the SDK checks
``is_sorted``) and every STATE (the last emitted ``update_time``) is a true promise: a run
killed anywhere resumes from it, reading that second again (``updated_since`` is inclusive).
The last window has no ``updated_until``: a record changed during the sync moves to its end
and is read again, as with one sequential read.

Memory stays flat: a window holds at most ``READ_AHEAD`` pages read ahead of the writer (and
its reader one more), and a list opens at most ``readers`` + 1 windows (each costs about one
request: the extra requests stay a handful).
"""

from __future__ import annotations

import calendar
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
# Reads one window: (updated_since or None, updated_until or None) -> its rows, sorted.
ReadWindow = Callable[[str | None, str | None], Iterable[Row]]

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Pages a window may hold read ahead of the writer (one more waits in its reader): deeper
# read-ahead lets later windows get further while the writer is on an earlier one (4: ~15%
# faster at 20,000 deals, 100 ms, but +60 MB peak); this keeps memory near what it was.
READ_AHEAD = 2
_DONE = object()


def to_epoch(moment: str) -> int:
    """``YYYY-MM-DDTHH:MM:SSZ`` (the tap's bookmark shape) as whole seconds since 1970."""
    return calendar.timegm(time.strptime(moment, _TIME_FORMAT))


def to_text(epoch: int) -> str:
    return time.strftime(_TIME_FORMAT, time.gmtime(epoch))


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@dataclass(eq=False)
class _Window:
    """``[since, until)`` in epoch seconds (None: unbounded); ``until`` only ever shrinks."""

    since: int | None
    until: int | None
    pages: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(maxsize=READ_AHEAD))
    reached: int | None = None  # update_time of the last row read (None before the first)
    rows_before: int = 0  # rows read before the second ``reached`` (a burst there is no trend)
    rows_at: int = 0  # rows read at the second ``reached``
    full_pages: int = 0  # pages that came full: the window is known to hold more
    reading: bool = True
    skip_at: int | None = None  # a second whose rows ``skip_ids`` the window before emitted
    skip_ids: frozenset[Any] = frozenset()
    thread: threading.Thread | None = None


class WindowedList:
    """The rows of one ``update_time``-sorted list, read as concurrent windows, yielded in
    ``update_time`` order (see the module's docstring). ``time_of`` gives a row's
    ``update_time`` in the bookmark shape (or None); ``now`` is where the span's equal
    slices end (the run's start)."""

    def __init__(
        self,
        read: ReadWindow,
        *,
        since: str | None,
        now: str,
        time_of: Callable[[Row], str | None],
        id_of: Callable[[Row], Any] = lambda row: row.get("id"),
        page_size: int,
        readers: int = 8,
        name: str = "window",
    ) -> None:
        self._read = read
        self._time_of = time_of
        self._id_of = id_of
        self._page_size = max(1, page_size)
        self._readers = max(1, readers)
        self._max_alive = 2 * self._readers
        self._max_windows = self._readers + 1  # each costs about a request: a handful
        self._now = to_epoch(now)
        self._name = name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sliced = False
        self._probe_tail: list[Row] = []  # the first page, until the span is sliced
        self._windows: list[_Window] = []  # alive (not yet emitted), in time order
        first = _Window(to_epoch(since) if since else None, None)
        self._windows.append(first)
        self.windows_opened = 1  # for tests and logs: how many windows the span became
        self._start(first)

    # -- the writer's side

    def __iter__(self) -> Iterator[Row]:
        try:
            while True:
                with self._lock:
                    if not self._windows:
                        return
                    window = self._windows[0]
                while True:
                    try:
                        item = window.pages.get(timeout=1.0)
                    except queue.Empty:
                        self._check_alive(window)
                        continue
                    if item is _DONE:
                        break
                    if isinstance(item, _Failure):
                        raise item.error
                    yield from item
                with self._lock:
                    self._windows.pop(0)
                    self._rebalance()
        finally:
            self._stop.set()  # the writer stopped (done, failed or closed): readers stop

    @staticmethod
    def _check_alive(window: _Window) -> None:
        """A reader always hands over an end (done or failed); if its thread is gone
        without one, say so instead of waiting forever."""
        thread = window.thread
        if thread is not None and not thread.is_alive() and window.pages.empty():
            raise RuntimeError("a window of the list ended without handing over its end")

    # -- readers

    def _start(self, window: _Window) -> None:
        since = to_text(window.since) if window.since is not None else None
        until = to_text(window.until) if window.until is not None else None
        window.thread = threading.Thread(
            target=self._run, args=(window, since, until), name=self._name, daemon=True
        )
        window.thread.start()

    def _run(self, window: _Window, since: str | None, until: str | None) -> None:
        outcome: Any = _DONE
        try:
            page: list[Row] = []
            for row in self._read(since, until):
                page.append(row)
                if len(page) >= self._page_size:
                    if not self._take(window, page):
                        break  # cut: the rest belongs to the next window
                    page = []
            else:
                if page:
                    self._take(window, page, last=True)
        except BaseException as exc:  # handed to the writer, raised after earlier rows
            outcome = _Failure(exc)
        self._finish(window, outcome)

    def _take(self, window: _Window, page: list[Row], *, last: bool = False) -> bool:
        """Hand a page to the writer, cut at the window's end; False: the window is done."""
        with self._lock:
            kept = page
            if window.until is not None:
                end = to_text(window.until)  # same shape as time_of's: compares as text
                newest = self._time_of(page[-1])
                if newest is not None and newest >= end:  # sorted: the cut is in this page
                    for n, row in enumerate(page):
                        moment = self._time_of(row)
                        if moment is not None and moment >= end:
                            kept = page[:n]
                            break
            more = kept is page and not last
            if window.skip_ids:
                kept = self._without_emitted(window, kept)
            if kept:
                self._advance(window, kept)
            if more:
                window.full_pages += 1
                if not self._sliced:
                    self._probe_tail = kept
                self._rebalance()
                self._probe_tail = []
                # The first slice may have taken over the rest of this window (the probe's).
                more = (
                    window.until is None
                    or window.reached is None
                    or (window.reached < window.until)
                )
        if kept and not self._put(window, kept):
            return False  # the writer stopped: so does this reader
        return more

    def _without_emitted(self, window: _Window, rows: list[Row]) -> list[Row]:
        """``rows`` but those of the window's first second the window before emitted."""
        at = to_text(window.skip_at) if window.skip_at is not None else None
        kept = [r for r in rows if self._time_of(r) != at or self._id_of(r) not in window.skip_ids]
        if rows and self._time_of(rows[-1]) != at:
            window.skip_ids = frozenset()  # past that second: nothing more to skip
        return kept

    def _advance(self, window: _Window, kept: list[Row]) -> None:
        moment = self._time_of(kept[-1])
        if moment is None:
            window.rows_before += len(kept)
            return
        same = 1
        while same < len(kept) and self._time_of(kept[-1 - same]) == moment:
            same += 1
        reached = to_epoch(moment)
        if reached == window.reached:
            window.rows_at += same
            window.rows_before += len(kept) - same
        else:
            window.rows_before += window.rows_at + len(kept) - same
            window.rows_at = same
        window.reached = reached

    def _finish(self, window: _Window, item: Any) -> None:
        try:
            with self._lock:
                window.reading = False
                if item is _DONE:
                    self._rebalance()
        except BaseException as exc:  # never leave the writer waiting for this window
            item = _Failure(exc)
        finally:
            self._put(window, item)

    def _put(self, window: _Window, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                window.pages.put(item, timeout=0.2)
            except queue.Full:
                continue
            return True
        return False

    # -- cutting the span (called with the lock held)

    def _rebalance(self) -> None:
        if self._stop.is_set():
            return
        if self._readers == 1:
            return  # one reader: the list read as one chain, as the SDK would
        if not self._sliced:
            self._slice_first()
            return
        while (
            sum(1 for w in self._windows if w.reading) < self._readers
            and len(self._windows) < self._max_alive
        ):
            candidates = [w for w in self._windows if w.reading and w.full_pages]
            best = max(candidates, key=self._unread_estimate, default=None)
            # A cut costs about one request (two pages end partly filled instead of one):
            # worth it only where two pages or more are expected, and a handful of times.
            if (
                best is None
                or self.windows_opened >= self._max_windows
                or self._unread_estimate(best) < 2 * self._page_size
                or not self._cut(best)
            ):
                return

    def _slice_first(self) -> None:
        """After the probe page came full: the rest of the span in equal slices."""
        if not self._windows:
            return
        first = self._windows[0]
        if first.reached is None or not first.full_pages:
            return
        self._sliced = True
        # The slices start at the probe's last second, not after it: the probe's own reader
        # stops here (no request for what may be one more row of that second), and the
        # first slice skips the rows of that second the probe already gave.
        start, end = first.reached, self._now
        slices = min(self._readers, end - start)  # blind: the rest by re-cuts
        if slices < 1:
            return
        at_start = frozenset(
            self._id_of(row) for row in self._probe_tail if self._time_of(row) == to_text(start)
        )
        bounds = [start + (end - start) * n // slices for n in range(slices)]
        tail = first.until
        first.until = bounds[0]
        for n, since in enumerate(bounds):
            until = bounds[n + 1] if n + 1 < len(bounds) else tail
            window = _Window(since, until)
            if n == 0:
                window.skip_at, window.skip_ids = start, at_start
            self._open(len(self._windows), window)

    def _end(self, window: _Window) -> int:
        """Where a window's unread seconds end (an open last window: the run's start)."""
        assert window.reached is not None
        return window.until if window.until is not None else max(self._now, window.reached)

    def _unread_estimate(self, window: _Window) -> float:
        """Rows a window is expected to hold still: its rows per second so far, times the
        seconds it has left."""
        if window.reached is None:
            return 0.0
        seconds = self._end(window) - window.reached - 1
        if seconds < 1:
            return 0.0
        since = window.since if window.since is not None else window.reached
        return seconds * window.rows_before / max(1, window.reached - since)

    def _cut(self, window: _Window) -> bool:
        assert window.reached is not None
        end = self._end(window)
        middle = (window.reached + 1 + end) // 2
        if not window.reached < middle < end:
            return False
        tail = window.until
        window.until = middle
        self._open(self._windows.index(window) + 1, _Window(middle, tail))
        return True

    def _open(self, index: int, window: _Window) -> None:
        self._windows.insert(index, window)
        self.windows_opened += 1
        self._start(window)
