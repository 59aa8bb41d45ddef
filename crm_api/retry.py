"""The one retry policy of every client: how many tries, how long each may take, how long to
wait between them, and what a 429's ``Retry-After`` asks for.

Both providers' clients (``crm_api.pipedrive``, ``crm_api.onpipeline``) and the tap's Singer SDK
hooks take their numbers from here, so the user's ``max_request_tries`` and ``request_timeout``
mean the same on every path (streams, discovery, parent listings, writes, OAuth).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

logger = logging.getLogger(__name__)

DEFAULT_TRIES = 10
DEFAULT_TIMEOUT_SECONDS = 300.0

# Answers worth another try: rate limited, or the server (or a proxy) failing for a moment.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 524})

# A 429 asking to wait longer than this is a spent daily budget, not a burst window: waiting
# hours inside a run helps nobody, so the run stops with a line saying so.
MAX_RETRY_AFTER_SECONDS = 300.0

# A wait longer than this is worth a log line saying what for (a silent run looks hung).
LOG_WAITS_OVER_SECONDS = 3.0

# The longest pause between two tries after a 5xx or a dropped connection.
MAX_BACKOFF_SECONDS = 60.0


def backoff_seconds(attempt: int) -> float:
    """Seconds before try ``attempt + 1`` after a 5xx or a dropped connection: 1, 2, 4 ... 60."""
    return float(min(2 ** max(0, attempt - 1), MAX_BACKOFF_SECONDS))


@dataclass(frozen=True)
class RetryPolicy:
    """The user's ``max_request_tries`` (tries in all, the first included) and
    ``request_timeout`` (seconds for one try), for every request of a run."""

    tries: int = DEFAULT_TRIES
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        tries = config.get("max_request_tries")
        timeout = config.get("request_timeout")
        return cls(
            tries=max(1, int(tries)) if tries else DEFAULT_TRIES,
            timeout=float(timeout) if timeout else DEFAULT_TIMEOUT_SECONDS,
        )

    def wait(self, attempt: int) -> float:
        """Seconds before try ``attempt + 1`` (``attempt`` counts the tries made so far)."""
        return backoff_seconds(attempt)

    def gave_up(self, problem: str) -> str:
        """The one line of a request that failed on every try."""
        return f"{problem} (gave up after {self.tries} tries; see max_request_tries)"


def header_number(value: str | None) -> float | None:
    """A numeric header's value (``Retry-After``, ``x-ratelimit-*``), or None when absent or
    not a number."""
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (delay-seconds or an HTTP date, RFC 9110 §10.2.3),
    else None. ``headers`` must look names up case-insensitively (``requests`` headers do)."""
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = header_number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


# ------------------------------------------------------------------- what a failure means


class ApiError(Exception):
    """Base of the errors a client raises for one request."""


class UnrecoverableError(ApiError):
    """The API refuses the whole load (auth, permission, budget), or keeps failing.

    ``maybe_applied``: the failing request was a create that may have been applied (no
    answer, or 5xx, on every attempt); otherwise it surely was not.
    """

    def __init__(self, message: str, *, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class OutcomeUnknownError(ApiError):
    """A non-replayable write may or may not have been applied.

    ``settle_seconds``: how long the server may still be working on it (after a read
    timeout the request can still be applied later), so look only after that.
    """

    def __init__(self, message: str, settle_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.settle_seconds = settle_seconds


def settle_seconds(timeout: float) -> float:
    """How long a create that got no answer may still be applied by the server: our client
    gives up after ``timeout``; twice that (at most 2 min) leaves the server time to finish."""
    return min(2 * timeout, 120.0)


def write_once(
    send: Callable[[], requests.Response],
    find_applied: Callable[[], Any | None],
    *,
    attempts: int,
    pause: Callable[[int], None],
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response | Any:
    """Send a create so that it is applied at most once.

    When the answer is lost (:class:`OutcomeUnknownError`) ``find_applied`` looks for the record
    in the CRM; if it is there, its result is returned instead of sending again.
    """
    for attempt in range(attempts):
        try:
            return send()
        except OutcomeUnknownError as exc:
            logger.info("%s; checking whether the write was applied before retrying", exc)
            if exc.settle_seconds:
                sleep(exc.settle_seconds)  # a timed-out request may still be in the server's hands
            found = find_applied()
            if found is not None:
                return found
            pause(attempt)
    raise UnrecoverableError(f"a create kept failing after {attempts} attempts", maybe_applied=True)
