"""Sending one Pipedrive request for the target: retries, and what a failure means.

The per-thread sessions come from ``crm_api.pipedrive`` (auth, the shared request budget,
rate-limit headers, Retry-After, OAuth refresh); this module adds what a *writer* needs on
top: a write is retried only when retrying cannot apply it twice (Onpipeline's client has the
same rule built in, see ``target_crm.onpipeline``).

# TODO(crm_api): move - ``write_once`` and the replay rule are provider-neutral.

Outcomes a caller sees:

* a ``requests.Response`` with status < 500 other than 401/402/403/429: the caller reads it
  (2xx success, 404 not found, 400/406/409/422 the API's verdict on this record);
* :class:`UnrecoverableError`: the load cannot go on (bad token, no permission, budget exhausted
  for the day, server failing after every retry); the run stops before acknowledging state;
* :class:`OutcomeUnknownError`: a write that is not safe to replay (a create) got no answer or a
  5xx. The server may have applied it; the caller must look before writing again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from crm_api.pipedrive import PipedriveError
from crm_api.retry import OutcomeUnknownError, UnrecoverableError, settle_seconds

logger = logging.getLogger("target-crm.http")


RETRY_AFTER_CEILING = 300.0  # a 429 asking for longer is a spent daily budget: stop, don't wait


@dataclass
class Transport:
    """One provider's HTTP sender, shared by every sink thread.

    ``new_session`` makes the per-thread session (``crm_api``'s sessions already wait for the
    shared budget, learn the limit from rate-limit headers, hold everyone on a 429 and
    refresh OAuth on a 401); ``describe_error`` turns an error response into one line with
    the API's own message. This class adds the writer's rules on top.
    """

    base_url: str
    new_session: Callable[[], requests.Session]
    describe_error: Callable[[requests.Response], str]
    max_retries: int = 5  # retries after the first try: the user's max_request_tries - 1
    timeout: float = 60.0
    pool_size: int = 8
    backoff_base: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self.new_session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def pause(self, attempt: int) -> None:
        """Exponential backoff with jitter before retry number ``attempt + 1``."""
        delay = min(self.backoff_base * 2**attempt, 30.0)
        self.sleep(delay * (0.5 + random.random() / 2))

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        replay_safe: bool = True,
    ) -> requests.Response:
        """Send one request; retry 429 always, 5xx and dropped connections when replay-safe."""
        url = self.base_url.rstrip("/") + path
        where = f"{method} {path}"
        attempt = 0
        waits = 0
        while True:
            try:
                response = self._session().request(
                    method,
                    url,
                    json=json,
                    params=params,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except PipedriveError as exc:
                # The session's own verdicts: the daily budget is spent (this thread's 429 or
                # another's), or OAuth refused the refresh token. Both end the load.
                raise UnrecoverableError(str(exc)) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not replay_safe:
                    timed_out = isinstance(exc, requests.Timeout)
                    raise OutcomeUnknownError(
                        f"{where}: no answer ({type(exc).__name__})",
                        settle_seconds(self.timeout) if timed_out else 0.0,
                    ) from None
                if attempt >= self.max_retries:
                    raise UnrecoverableError(
                        f"{where}: no answer ({type(exc).__name__}; gave up after "
                        f"{attempt + 1} tries; see max_request_tries)"
                    ) from None
                logger.info("%s: no answer (%s); retrying", where, type(exc).__name__)
                self.pause(attempt)
                attempt += 1
                continue
            status = response.status_code
            if status == 429:
                # Never applied, so always safe to resend; the session already holds every
                # sender of the shared budget for Retry-After.
                wait = _retry_after(response)
                if wait is not None and wait > RETRY_AFTER_CEILING:
                    raise UnrecoverableError(
                        f"{self.describe_error(response)}: asked to wait {wait:.0f} s; the "
                        "request budget is spent, run again after it resets"
                    )
                waits += 1
                if waits > 50:
                    raise UnrecoverableError(f"{where}: still rate limited after {waits} waits")
                continue
            if status >= 500:
                if not replay_safe:
                    raise OutcomeUnknownError(f"{where}: HTTP {status}")
                if attempt >= self.max_retries:
                    raise UnrecoverableError(
                        f"{self.describe_error(response)} (gave up after {attempt + 1} tries; "
                        "see max_request_tries)"
                    )
                logger.info("%s: HTTP %s; retrying", where, status)
                self.pause(attempt)
                attempt += 1
                continue
            if status in (401, 402, 403):
                raise UnrecoverableError(self.describe_error(response))
            return response


def _retry_after(response: requests.Response) -> float | None:
    for name in ("Retry-After", "x-ratelimit-reset"):
        value = response.headers.get(name)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None
