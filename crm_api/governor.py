"""A shared request budget that the tap and the target both obey.

The CRMs count requests in a rolling window per token (Pipedrive: N per 2 s; Onpipeline:
60 per minute). The budget mirrors that: a sliding-window log of send times, so that any
number of threads together never send more than ``limit`` requests in any ``window``
seconds. Two feedback paths keep it honest when the server knows better:

* ``observe`` takes the server's own view (limit, remaining, seconds to reset) from
  rate-limit headers and holds everyone back when the server says the window is spent;
* ``hold`` stops every sender until a moment the server named (a 429's ``Retry-After``).

When the server says no request will pass for hours (Pipedrive's daily token budget),
``exhaust`` ends the wait for everyone: every ``acquire``, including those already waiting,
raises ``BudgetExhaustedError`` with the caller's one-line reason.

It knows nothing of HTTP or Singer; callers read headers and pass numbers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class BudgetExhaustedError(Exception):
    """The budget is spent for longer than a run should wait; ``str(error)`` is one line."""


class RequestBudget:
    """Sliding-window limiter: at most ``limit`` sends in any ``window`` seconds.

    ``limit=0`` means unlimited (only ``hold`` and ``observe`` can then slow callers down).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.window = window
        self._limit = max(0, int(limit))
        self._clock = clock
        # Waiting on an Event (not time.sleep) lets ``exhaust`` wake every waiter at once;
        # an injected ``sleep`` (unit tests with a fake clock) is called instead.
        self._exhausted_event = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._exhausted_event.wait
        self._exhausted: str | None = None
        self._sent: deque[float] = deque()
        self._held_until = 0.0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0  # total time callers spent waiting, for logs and benchmarks

    @property
    def limit(self) -> int:
        return self._limit

    def set_limit(self, limit: int) -> None:
        """Adopt a limit learned from the server (e.g. ``x-ratelimit-limit``)."""
        with self._lock:
            self._limit = max(0, int(limit))

    def acquire(self, cost: int = 1) -> float:
        """Block until ``cost`` more requests may be sent now; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                if self._exhausted is not None:
                    raise BudgetExhaustedError(self._exhausted)
                now = self._clock()
                delay = self._held_until - now
                if delay <= 0:
                    horizon = now - self.window
                    while self._sent and self._sent[0] <= horizon:
                        self._sent.popleft()
                if delay <= 0 and self._limit and len(self._sent) + cost > self._limit:
                    # Wait until enough old sends leave the window.
                    index = min(len(self._sent) + cost - self._limit, len(self._sent)) - 1
                    delay = self._sent[index] + self.window - now
                if delay <= 0:
                    # Counted also while unlimited: the requests in flight when the server's
                    # limit is learned are in its window too.
                    self._sent.extend([now] * cost)
                    self.waited_seconds += waited
                    return waited
            # Sleep outside the lock so other threads can check in; re-check after.
            self._sleep(delay)
            waited += delay

    def exhaust(self, message: str) -> None:
        """No request will pass for longer than a run should wait: from now on every
        ``acquire`` (also those waiting now) raises ``BudgetExhaustedError(message)``."""
        with self._lock:
            if self._exhausted is None:
                self._exhausted = message
        self._exhausted_event.set()

    @property
    def exhausted(self) -> str | None:
        """The reason given to ``exhaust``, or None while requests may still be sent."""
        return self._exhausted

    def hold(self, seconds: float) -> None:
        """Stop every sender for ``seconds`` from now (e.g. a 429's Retry-After)."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + max(0.0, seconds))

    def observe(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_seconds: float | None = None,
    ) -> None:
        """Take the server's view from rate-limit headers.

        A new ``limit`` is adopted. When ``remaining`` reaches 0 the window is spent in the
        server's eyes (our clock and theirs can disagree), so everyone waits ``reset_seconds``.
        """
        if limit is not None and limit > 0 and limit != self._limit:
            self.set_limit(limit)
        if remaining is not None and remaining <= 0 and reset_seconds is not None:
            # When our own window is full too, the server only confirms what the sliding
            # window already enforces (and exactly: the oldest send leaves it). Holding for
            # the server's whole-second reset on top would idle up to 2 s per window. Hold
            # only when the server counts sends we did not make (another client, a restart).
            with self._lock:
                horizon = self._clock() - self.window
                ours = sum(1 for sent in self._sent if sent > horizon)
                already_full = bool(self._limit) and ours >= self._limit
            if not already_full:
                self.hold(reset_seconds)


class TokenAllowance:
    """How many tokens of the provider's daily budget one run may spend.

    ``limit`` (the user's ``max_tokens_per_run``) and ``share`` (of what the API says is left
    of the day at the run's first response, ``daily_budget_share``) each cap the run; None
    means no cap. ``take(cost)`` is asked before every request: False when that request
    would pass the cap (nothing is counted then). It also keeps the day's figures the API
    last announced, for the run's estimate line.
    """

    def __init__(self, limit: int | None = None, share: float | None = None) -> None:
        self._lock = threading.Lock()
        self.spent = 0
        self.requests = 0
        self._limit = limit if limit and limit > 0 else None
        self._share = share if share and 0 < share < 1 else None
        self.day_limit: int | None = None
        self.day_remaining: int | None = None
        self.reached: str | None = None

    @property
    def limit(self) -> int | None:
        """The run's cap in tokens now (the share's part known after the first response)."""
        caps = [self._limit] if self._limit else []
        if self._share is not None and self._day_at_start is not None:
            caps.append(int(self._share * self._day_at_start))
        return min(caps) if caps else None

    _day_at_start: int | None = None

    def take(self, cost: int) -> bool:
        with self._lock:
            limit = self.limit
            if self.reached is not None or (limit is not None and self.spent + cost > limit):
                return False
            self.spent += cost
            self.requests += 1
            return True

    def reach(self, message: str) -> None:
        """Remember why the run stopped (the first thread to find the cap says it)."""
        with self._lock:
            if self.reached is None:
                self.reached = message

    def observe_day(self, limit: int | None, remaining: int | None) -> None:
        """The API's daily figures from one response (``remaining``: after that request)."""
        with self._lock:
            if limit is not None:
                self.day_limit = limit
            if remaining is not None:
                self.day_remaining = remaining
                if self._day_at_start is None:  # what was left before this run spent any
                    self._day_at_start = remaining + self.spent
