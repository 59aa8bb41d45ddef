"""Talking to Onpipeline: the one place that knows its wire rules (tap and target both use it).

Onpipeline is an RPC-style API: every resource is ``POST <api_url>/<Resource>`` with a JSON
body (``{}`` when there is nothing to send) and the token in the ``Authorization`` header.
Answers are an envelope: ``{"Header": {...}, "Data": ...}`` on success, ``{"Error": {"Code",
"Message"}}`` on failure (the code is also the HTTP status). Datetimes are the account's local
time, ``YYYY-MM-DD HH:MM:SS`` without an offset; "0000-00-00" means "no date".

Public API (stable; keep it small):

* :class:`OnpipelineClient` - ``call(resource, payload) -> data`` and ``call_list(resource,
  payload) -> records``: paced by a :class:`~crm_api.governor.RequestBudget`, retries
  429/5xx/dropped connections/garbled bodies by the one :class:`~crm_api.retry.RetryPolicy`
  (the user's ``max_request_tries`` and ``request_timeout``; :meth:`OnpipelineClient.from_config`
  reads them), raises the typed errors below. ``server_now()`` is the API's own
  clock (from the HTTP ``Date``, else ``Header.Time``).
* Errors: :class:`OnpipelineError` (``resource``, ``code``, ``message``) and its subclasses
  :class:`OnpipelineAuthError` (401/403), :class:`OnpipelineRetriableError` (429, 5xx, dropped
  connection; :class:`OnpipelineRateLimitError` for 429), :class:`OnpipelineResponseError`
  (an answer that is not the documented envelope, checked by :func:`parse_envelope` for every
  call: a JSON list, ``{}``, ``Data`` not a list of records for a list resource;
  :class:`OnpipelineGarbledError` for an HTML page, an empty or truncated body, also
  retriable), :class:`OnpipelineBudgetSpentError` (a 429 asking to wait hours).
  Apart from those: :class:`OnpipelineAnswerTooLargeError`, an answer bigger than the
  ``max_bytes`` its caller set (the API has no paging: a caller that can ask for less, as the
  tap's creation windows can, bounds what one answer may cost in memory).
* Values: :func:`check_api_url`, :func:`to_utc`, :func:`to_local`, :func:`clean_date`,
  :func:`to_number`, :func:`to_integer`, :func:`custom_field_columns` (names by
  :func:`crm_api.field_names.column_name`, the rule Pipedrive's columns use too).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import pendulum
import requests

from crm_api.field_names import column_name
from crm_api.governor import BudgetExhaustedError, RequestBudget
from crm_api.retry import (
    LOG_WAITS_OVER_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    RetryPolicy,
    retry_after_seconds,
)
from crm_api.urls import shown  # a password inside the URL is never printed

DEFAULT_API_URL = "https://api.onpipeline.com"
REQUESTS_PER_MINUTE = 60  # the vendor's published limit per account
RATE_SETTING = "onpipeline_requests_per_minute"  # its setting, the same name in tap and target
READ_CHUNK_BYTES = 64 * 1024  # how much of a bounded answer is read at a time
# The budget's window: a minute plus a second, because the API counts a request when it
# arrives, a little after we counted it; at exactly 60 s the oldest may still be in its minute.
BUDGET_WINDOW_SECONDS = 61.0
LAST_UPDATE_HOURS = (3, 6, 12, 24)  # the only windows the LastUpdate resource accepts
CUSTOM_FIELD_TABLES = ("Persons", "Organizations", "Deals")

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Errors


class OnpipelineError(Exception):
    """The API refused a call. ``str()`` is one line: resource, code and the API's message."""

    def __init__(self, resource: str, code: str, message: str, hint: str = "") -> None:
        self.resource = resource
        self.code = str(code)
        self.message = message
        text = f"Onpipeline {resource} failed: {self.code} {message}".rstrip()
        super().__init__(f"{text} ({hint})" if hint else text)

    def gave_up(self, tries: int) -> OnpipelineError:
        """This error, its line saying that every try was spent (and which setting sets it)."""
        tried = "1 try" if tries == 1 else f"{tries} tries"
        self.args = (f"{self.args[0]} (gave up after {tried}; see max_request_tries)",)
        return self


class OnpipelineAuthError(OnpipelineError):
    """401/403: the token is wrong, inactive, read-only for a write, or the IP is not allowed."""

    def __init__(self, resource: str, code: str, message: str) -> None:
        hint = (
            "check the `api_token` setting: it must be an active Onpipeline API token"
            if str(code) == "401"
            else "check the `api_token` setting: the token lacks permission for this "
            "resource (read-only token, lead-source token or IP not whitelisted)"
        )
        super().__init__(resource, code, message, hint)


class OnpipelineRetriableError(OnpipelineError):
    """A failure worth trying again later: 429, 5xx, a dropped connection."""

    def __init__(
        self, resource: str, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(resource, code, message)
        self.retry_after = retry_after


class OnpipelineRateLimitError(OnpipelineRetriableError):
    """429: the account's request budget is spent."""


class OnpipelineResponseError(OnpipelineError):
    """The answer is not the documented envelope: a JSON list, ``{}``, ``Data`` of the wrong
    type for the resource. Not retried: the same request gets the same answer."""


class OnpipelineGarbledError(OnpipelineResponseError, OnpipelineRetriableError):
    """A 2xx whose body is not JSON at all (an HTML page, an empty or truncated body): what a
    proxy or a cut connection gives, so worth trying again (reads only)."""

    def __init__(self, resource: str, code: str, message: str) -> None:
        OnpipelineRetriableError.__init__(self, resource, code, message)


class OnpipelineBudgetSpentError(OnpipelineError):
    """A 429 asking to wait longer than a run should (``MAX_RETRY_AFTER_SECONDS``): not
    retried, the run ends with this one line."""


class OnpipelineAnswerTooLargeError(Exception):
    """An answer whose body passed the ``max_bytes`` its caller set: the client stopped
    reading it and closed the connection, and parsed none of it (a partial body is never
    records). Not an :class:`OnpipelineError`: the API refused nothing and the user has
    nothing to change; not retried: the same request gets the same answer. The caller asks
    for less (the tap's window reader splits the window)."""

    def __init__(self, resource: str, max_bytes: int) -> None:
        self.resource = resource
        self.max_bytes = max_bytes
        super().__init__(f"Onpipeline {resource}: the answer passed {max_bytes} bytes")


class OnpipelineConfigError(ValueError):
    """A setting the user must change (e.g. a plain-http ``api_url``)."""


# --------------------------------------------------------------------------------------------
# URL rule


def check_api_url(api_url: str | None) -> str:
    """Return the base URL without a trailing slash, refusing anything but https.

    The API answers only over HTTPS; plain http is allowed for loopback addresses only (a
    crm-sandbox on this machine), so a token is never sent in clear over a network.
    """
    url = (api_url or DEFAULT_API_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise OnpipelineConfigError(
        f"api_url {shown(url)} is not allowed: Onpipeline accepts only https:// URLs "
        "(plain http only for a loopback address such as http://127.0.0.1:PORT/onpipeline)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------
# Envelope


@dataclass(frozen=True)
class Envelope:
    header: dict[str, Any]
    data: Any


# Resources whose ``Data`` is a list of records (the document's PHP samples loop over it).
# ProductList's is a list of names, and its documented sample is that bare list.
LIST_RESOURCES = frozenset(
    {
        "PersonList",
        "OrgList",
        "DealsList",
        "EventList",
        "NotesList",
        "InvoiceList",
        "InvoiceItems",
        "UsersList",
        "TeamsList",
        "PipelineList",
        "ProductList",
        "LastUpdate",
        "ListCustomFields",
    }
)
BARE_LIST_RESOURCES = frozenset({"ProductList"})


def parse_envelope(resource: str, status: int, body: bytes, content_type: str = "") -> Envelope:
    """Turn one HTTP answer into ``Envelope`` or raise the matching :class:`OnpipelineError`.

    This is the one envelope check every call goes through: an answer that is not the
    documented ``Header``/``Data`` (or ``Error``) envelope, or whose ``Data`` is not a list
    for a list resource, raises :class:`OnpipelineResponseError` rather than passing for an
    empty answer (which would end a sync as complete and move its bookmark).
    """
    try:
        payload = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        payload = None
        if status < 400:
            if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
                kind = "an HTML page"
            else:
                kind = "a body that is not JSON (truncated?)"
            raise OnpipelineGarbledError(
                resource, str(status), f"unexpected answer: {kind} instead of the JSON envelope"
            ) from None
    error = payload.get("Error") if isinstance(payload, dict) else None
    if status >= 400 or error is not None:
        code = str((error or {}).get("Code") or status) if isinstance(error, dict) else str(status)
        message = str((error or {}).get("Message") or "") if isinstance(error, dict) else ""
        if not message:
            message = _describe_body(body, content_type)
        raise _error_for(resource, code, message)
    if payload is None:
        raise OnpipelineGarbledError(
            resource, str(status), "unexpected answer: an empty body instead of the JSON envelope"
        )
    if isinstance(payload, list) and resource in BARE_LIST_RESOURCES:
        return Envelope({}, _checked_list(resource, status, payload))
    if not isinstance(payload, dict) or ("Header" not in payload and "Data" not in payload):
        what = f"{describe_value(payload)} instead of the Header/Data envelope"
        raise OnpipelineResponseError(resource, str(status), f"unexpected answer: {what}")
    header = payload.get("Header")
    data = payload.get("Data")
    if resource in LIST_RESOURCES:
        data = _checked_list(resource, status, data, "Data" in payload)
    return Envelope(header if isinstance(header, dict) else {}, data)


def _checked_list(resource: str, status: int, data: Any, present: bool = True) -> list[Any]:
    """``Data`` of a list resource: a list of objects (ProductList: of names too)."""
    if not isinstance(data, list):
        what = f"Data is {describe_value(data)}" if present else "no Data"
        raise OnpipelineResponseError(
            resource, str(status), f"unexpected answer: {what}, not a list of records"
        )
    names_allowed = resource in BARE_LIST_RESOURCES
    for item in data:
        if not (isinstance(item, dict) or (names_allowed and isinstance(item, str))):
            raise OnpipelineResponseError(
                resource,
                str(status),
                f"unexpected answer: Data holds {describe_value(item)}, not records",
            )
    return data


def describe_value(value: Any) -> str:
    """``value``'s JSON type in words, for an error line (never the value: it may be big)."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an empty object" if not value else "an object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _describe_body(body: bytes, content_type: str) -> str:
    if not body.strip():
        return "(empty body)"
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        title = re.search(rb"<title>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
        text = title.group(1).decode("utf-8", "replace").strip() if title else "an HTML page"
        return f"(HTML page: {text[:80]})"
    return body[:120].decode("utf-8", "replace").strip()


def _error_for(resource: str, code: str, message: str) -> OnpipelineError:
    if code in ("401", "403"):
        return OnpipelineAuthError(resource, code, message)
    if code == "429":
        return OnpipelineRateLimitError(resource, code, message)
    if code.isdigit() and int(code) >= 500:
        return OnpipelineRetriableError(resource, code, message)
    return OnpipelineError(resource, code, message)


# --------------------------------------------------------------------------------------------
# Client


class OnpipelineClient:
    """Calls Onpipeline resources; usable from the tap, the target or a script.

    ``call`` waits for the request budget (``requests_per_minute``, the vendor's 60 by default;
    0 = no pacing), sends the JSON body, and returns the envelope's ``Data`` (or its
    ``Header`` for calls that answer without ``Data``, e.g. ``PersonChange``); ``call_list``
    returns a list resource's records. 429, 5xx, dropped connections and garbled bodies
    are tried ``policy.tries`` times in all, each try given ``policy.timeout`` seconds, with
    the policy's backoff (``Retry-After`` honoured; a wait over ``LOG_WAITS_OVER_SECONDS``
    logged as a warning); for non-idempotent writes pass ``idempotent=False`` and only
    refusals (429) are retried, since a dropped connection may have been applied.
    ``rate_setting`` names the setting behind ``requests_per_minute`` in the line a long pacing
    wait logs; ``timezone_setting`` the one behind ``timezone`` in the warning when the API's
    clock disagrees (None = the caller converts no local times, so there is nothing to check).
    """

    def __init__(
        self,
        api_token: str,
        api_url: str | None = None,
        *,
        timezone: str = "UTC",
        timezone_setting: str | None = "timezone",
        requests_per_minute: int = REQUESTS_PER_MINUTE,
        rate_setting: str = RATE_SETTING,
        budget: RequestBudget | None = None,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        user_agent: str = "crm-singer",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_token:
            raise OnpipelineConfigError(
                "api_token is empty: set it to the Onpipeline account's API token"
            )
        self.api_url = check_api_url(api_url)
        self.timezone = check_timezone(timezone)
        self.timezone_setting = timezone_setting
        if budget is None:
            pacing = _PacingLog(requests_per_minute, setting=rate_setting)
            budget = RequestBudget(requests_per_minute, BUDGET_WINDOW_SECONDS, sleep=pacing)
            _PACING[budget] = pacing
        self.budget = budget
        self.session = session or requests.Session()
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._headers = {
            "Authorization": api_token,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        self._clock_offset: float | None = None  # server clock minus ours, in seconds
        self._zone_checked = timezone_setting is None
        self.request_count = 0
        self.abandoned_count = 0  # answers stopped past their max_bytes, unread and unparsed

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        timezone_setting: str | None = "timezone",
        budget: RequestBudget | None = None,
    ) -> OnpipelineClient:
        """The client a tap or target config asks for: ``api_token``, ``api_url``,
        ``onpipeline_requests_per_minute``, ``max_request_tries`` and ``request_timeout``
        (the same names in both), and ``timezone`` when ``timezone_setting`` names it."""
        rate = config.get(RATE_SETTING)
        return cls(
            str(config.get("api_token") or ""),
            config.get("api_url"),
            timezone=str(config.get("timezone") or "UTC") if timezone_setting else "UTC",
            timezone_setting=timezone_setting,
            requests_per_minute=REQUESTS_PER_MINUTE if rate is None else int(rate),
            budget=budget,
            policy=RetryPolicy.from_config(config),
        )

    @property
    def timeout(self) -> float:
        """Seconds one try may take (the user's ``request_timeout``)."""
        return self.policy.timeout

    @property
    def max_tries(self) -> int:
        """Tries per request, the first included (the user's ``max_request_tries``)."""
        return self.policy.tries

    def pause(self, attempt: int) -> None:
        """The policy's wait after try number ``attempt + 1`` failed (``write_once``'s pause)."""
        self._sleep(self.policy.wait(attempt + 1))

    def call(
        self, resource: str, payload: Mapping[str, Any] | None = None, *, idempotent: bool = True
    ) -> Any:
        """POST ``payload`` to ``resource``; return ``Data`` (or ``Header`` when no Data)."""
        envelope = self.call_envelope(resource, payload, idempotent=idempotent)
        return envelope.header if envelope.data is None else envelope.data

    def call_list(
        self,
        resource: str,
        payload: Mapping[str, Any] | None = None,
        *,
        max_bytes: int | None = None,
    ) -> list[Any]:
        """The records of a list resource (``LIST_RESOURCES``), checked by the envelope rule:
        a list of objects (ProductList: names too), never a Header passed off as a record.
        ``max_bytes``: see :meth:`call_envelope`."""
        if resource not in LIST_RESOURCES:
            raise ValueError(f"{resource} is not a list resource")
        data: list[Any] = self.call_envelope(resource, payload, max_bytes=max_bytes).data
        return data

    def call_envelope(
        self,
        resource: str,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
        max_bytes: int | None = None,
    ) -> Envelope:
        """The one retry loop of every Onpipeline request (tap, discovery, target).

        ``max_bytes`` (None = no limit): the body is read a chunk at a time and, once it passes
        that many bytes, the client stops reading, closes the connection and raises
        :class:`OnpipelineAnswerTooLargeError` (not retried), so one answer never costs more
        memory than its caller allowed."""
        body = json.dumps(dict(payload or {}), default=str).encode("utf-8")
        tries = self.policy.tries
        for attempt in range(1, tries + 1):
            try:
                return self._send(resource, body, max_bytes)
            except OnpipelineRetriableError as exc:
                limited = isinstance(exc, OnpipelineRateLimitError)
                if limited and (exc.retry_after or 0) > MAX_RETRY_AFTER_SECONDS:
                    raise self._budget_spent(resource, exc) from None
                if not idempotent and not limited:
                    raise
                if attempt == tries:
                    raise exc.gave_up(tries) from None
                wait = self.policy.wait(attempt) if exc.retry_after is None else exc.retry_after
                log = logger.warning if wait > LOG_WAITS_OVER_SECONDS else logger.info
                log(
                    "Onpipeline %s: %s %s; waiting %.0f s%s before try %d of %d "
                    "(max_request_tries)",
                    resource,
                    exc.code,
                    exc.message,
                    wait,
                    " as Retry-After asks" if exc.retry_after is not None else "",
                    attempt + 1,
                    tries,
                )
                if limited:
                    # Everyone sharing the budget waits, not just us: the next acquire() does
                    # (already announced above, so the budget's own wait line stays quiet).
                    pacing = _PACING.get(self.budget)
                    if pacing is not None:
                        pacing.quiet_for(wait)
                    self.budget.hold(wait)
                else:
                    self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _budget_spent(
        self, resource: str, exc: OnpipelineRetriableError
    ) -> OnpipelineBudgetSpentError:
        """A 429 asking for hours: nobody sharing the budget waits in it, each next acquire()
        fails at once with this line."""
        reason = (
            f"{exc.message}: the API asks to wait {exc.retry_after:.0f} s; "
            "the request budget is spent, run again after it resets"
        )
        self.budget.exhaust(reason)
        pacing = _PACING.get(self.budget)
        if pacing is not None:
            pacing.wake()
        return OnpipelineBudgetSpentError(resource, exc.code, reason)

    def _send(self, resource: str, body: bytes, max_bytes: int | None = None) -> Envelope:
        try:
            self.budget.acquire()
        except BudgetExhaustedError as exc:  # another sender met the spent budget
            raise OnpipelineBudgetSpentError(resource, "429", str(exc)) from None
        self.request_count += 1
        # A bounded answer is streamed, so reading can stop at the bound; others read at once.
        streamed: dict[str, Any] = {} if max_bytes is None else {"stream": True}
        try:
            response = self.session.post(
                f"{self.api_url}/{resource}",
                data=body,
                headers=self._headers,
                timeout=self.policy.timeout,
                **streamed,
            )
            content = (
                response.content
                if max_bytes is None
                else self._read_at_most(resource, response, max_bytes)
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            # requests' messages name the URL, never the Authorization header.
            raise OnpipelineRetriableError(
                resource, "connection", f"no answer ({type(exc).__name__})"
            ) from exc
        try:
            envelope = parse_envelope(
                resource,
                response.status_code,
                content,
                response.headers.get("Content-Type", ""),
            )
        except OnpipelineRetriableError as exc:
            exc.retry_after = retry_after_seconds(response.headers)
            raise
        self._learn_clock(envelope.header.get("Time"), response.headers.get("Date"))
        return envelope

    def _read_at_most(self, resource: str, response: requests.Response, max_bytes: int) -> bytes:
        """The body of a streamed answer, or :class:`OnpipelineAnswerTooLargeError` as soon as
        it passes ``max_bytes`` (a declared ``Content-Length`` says so before any byte)."""
        declared = str(response.headers.get("Content-Length") or "")
        chunks: list[bytes] = []
        read = int(declared) if declared.isdigit() else 0
        if read <= max_bytes:
            read = 0
            for chunk in response.iter_content(chunk_size=READ_CHUNK_BYTES):
                chunks.append(chunk)
                read += len(chunk)
                if read > max_bytes:
                    break
            else:
                return b"".join(chunks)
        chunks.clear()
        response.close()  # the rest is never read: the connection goes, not back to the pool
        self.abandoned_count += 1
        logger.info(
            "Onpipeline %s: the answer passed %d bytes; stopped reading it (asking for less)",
            resource,
            max_bytes,
        )
        raise OnpipelineAnswerTooLargeError(resource, max_bytes)

    def _learn_clock(self, header_time: Any, http_date: str | None) -> None:
        """Track the API's clock, and warn once if ``timezone`` is not the account's zone.

        The HTTP ``Date`` header is UTC; ``Header.Time`` is the account's local time. Their
        difference is the account's UTC offset, which must match the configured zone's, or
        every datetime the tap converts would be off by the difference.
        """
        local = parse_local(header_time, self.timezone)
        server_utc = _http_date(http_date)
        if server_utc is not None:
            self._clock_offset = server_utc.timestamp() - time.time()
        elif local is not None:
            self._clock_offset = local.timestamp() - time.time()
        if local is None or server_utc is None or self._zone_checked:
            return
        self._zone_checked = True
        wall = local.replace(tzinfo=UTC)
        observed = round((wall - server_utc).total_seconds() / 900) * 900
        offset = local.utcoffset()
        expected = int(offset.total_seconds()) if offset else 0
        if abs(observed - expected) >= 900:
            logger.warning(
                "the timezone setting %r (UTC%+.2g h) does not match the API's clock, which "
                "reads UTC%+.2g h: set %s to the account's IANA time zone, or every "
                "datetime will be off by %.2g h",
                self.timezone,
                expected / 3600,
                observed / 3600,
                self.timezone_setting,
                abs(observed - expected) / 3600,
            )

    def server_now(self, probe_resource: str = "UsersList") -> pendulum.DateTime:
        """The API's current time (UTC), from the HTTP ``Date`` (else ``Header.Time``).

        Windows must end at the *server's* now, not ours: clocks drift (and the sandbox's can
        be moved forward). If no call has taught us the offset yet, one cheap call does.
        """
        if self._clock_offset is None:
            self.call(probe_resource, {})
        offset = self._clock_offset or 0.0
        return pendulum.from_timestamp(int(time.time() + offset), tz="UTC")

    def custom_fields(self, table: str) -> list[dict[str, str]]:
        """``ListCustomFields`` for ``Persons``, ``Organizations`` or ``Deals``."""
        fields: list[dict[str, str]] = self.call_list("ListCustomFields", {"Table": table})
        return fields

    def close(self) -> None:
        self.session.close()


class _PacingLog:
    """The budget's sleep: a long wait for the per-minute limit says so before it starts.

    At 60 requests a minute the sliding window lets a burst through and then makes the next
    request wait up to a minute: without a line, a run looks hung. Logged at most once per
    wait (a 429's hold is logged by the retry loop).
    """

    def __init__(
        self,
        per_minute: int,
        sleep: Callable[[float], None] | None = None,
        setting: str = RATE_SETTING,
    ) -> None:
        self.per_minute = per_minute
        self.setting = setting
        # An Event, not time.sleep: a spent budget wakes every waiter at once (``wake``).
        self._woken = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._woken.wait
        self._quiet_until = 0.0
        self._lock = threading.Lock()

    def wake(self) -> None:
        self._woken.set()

    def quiet_for(self, seconds: float) -> None:
        with self._lock:
            self._quiet_until = max(self._quiet_until, time.monotonic() + seconds)

    def __call__(self, seconds: float) -> None:
        now = time.monotonic()
        with self._lock:
            say = seconds > LOG_WAITS_OVER_SECONDS and now >= self._quiet_until
            if say:
                self._quiet_until = now + seconds
        if say:
            logger.info(
                "Onpipeline: waiting %.0f s for the request budget (%s: %d requests per "
                "minute; the vendor's limit is %d)",
                seconds,
                self.setting,
                self.per_minute,
                REQUESTS_PER_MINUTE,
            )
        self._sleep(seconds)


# The pacing log of each budget a client made (shared budgets are passed to other clients).
_PACING: weakref.WeakKeyDictionary[RequestBudget, _PacingLog] = weakref.WeakKeyDictionary()


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Values


def check_timezone(name: str | None) -> str:
    """Return a valid IANA time-zone name or raise a one-line :class:`OnpipelineConfigError`."""
    tz = name or "UTC"
    try:
        _zone(tz)
    except Exception:
        raise OnpipelineConfigError(
            f"timezone {tz!r} is not an IANA time-zone name (e.g. Europe/Rome, America/New_York)"
        ) from None
    return tz


def _is_empty_date(value: Any) -> bool:
    return value is None or (isinstance(value, str) and (not value.strip() or value[:4] == "0000"))


_LOCAL = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)$")


@lru_cache(maxsize=64)
def _zone(tz: str) -> tzinfo:
    # Loading a zone reads its tzfile: once per name, not once per value (100k records/run).
    return pendulum.timezone(tz)


def parse_local(local: Any, tz: str) -> datetime | None:
    """``"2015-02-09 12:35:41"`` in ``tz`` -> an aware datetime; empty/zero/garbage -> None.

    A local time that occurs twice (the hour when clocks go back) is read as the first one.
    Values that already carry an offset (RFC 3339) keep it.
    """
    if _is_empty_date(local):
        return None
    text = str(local).strip()
    match = _LOCAL.match(text) if len(text) == 19 else None
    try:
        if match:
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=_zone(tz))
        value = pendulum.parse(text, tz=tz)
    except ValueError:
        return None
    return value if isinstance(value, datetime) else None


def to_utc(local: Any, tz: str) -> str | None:
    """``"2015-02-09 12:35:41"`` in ``tz`` -> ``"2015-02-09T11:35:41Z"``; empty/zero -> None."""
    parsed = parse_local(local, tz)
    return None if parsed is None else parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_local(moment: datetime, tz: str) -> str:
    """A datetime (aware) -> the API's local ``YYYY-MM-DD HH:MM:SS`` in ``tz``."""
    return moment.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M:%S")


def clean_date(value: Any) -> str | None:
    """``"2015-05-28"`` stays; ``"0000-00-00"``, ``""`` and None become None."""
    if _is_empty_date(value):
        return None
    text = str(value).strip()[:10]
    return text if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None


def to_number(value: Any) -> Decimal | int | None:
    """``"1000.00"`` -> ``Decimal("1000.00")``; ``""``/None/garbage -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return value
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def to_integer(value: Any) -> int | None:
    """``"50"`` -> 50; ``"50.00"`` -> 50; ``""``/None/garbage -> None."""
    number = to_number(value)
    if number is None:
        return None
    try:
        return int(number)
    except (ValueError, OverflowError):
        return None


def custom_field_columns(
    fields: Iterable[Mapping[str, Any]], reserved: Iterable[str] = ()
) -> dict[str, str]:
    """Map custom-field ID -> a column name: :func:`~crm_api.field_names.column_name` of its
    label (``field`` when nothing is left of it), unique and stable.

    Fields are named in ID order; a name already taken (by a base property in ``reserved``,
    compared case-insensitively, or by an earlier field) gets ``_<ID>`` appended, so the same
    account always yields the same columns.
    """
    taken = {name.lower() for name in reserved}
    columns: dict[str, str] = {}
    for field in sorted(fields, key=lambda f: str(f.get("ID", ""))):
        field_id = str(field.get("ID", ""))
        if not field_id or field_id in columns:
            continue
        name = column_name(str(field.get("Name") or "")) or "field"
        if name.lower() in taken:
            name = f"{name}_{re.sub(r'[^0-9a-zA-Z]+', '_', field_id).lower()}"
        while name.lower() in taken:
            name = f"{name}_"
        taken.add(name.lower())
        columns[field_id] = name
    return columns


__all__ = [
    "BARE_LIST_RESOURCES",
    "BUDGET_WINDOW_SECONDS",
    "CUSTOM_FIELD_TABLES",
    "DEFAULT_API_URL",
    "LAST_UPDATE_HOURS",
    "LIST_RESOURCES",
    "RATE_SETTING",
    "REQUESTS_PER_MINUTE",
    "Envelope",
    "OnpipelineAnswerTooLargeError",
    "OnpipelineAuthError",
    "OnpipelineBudgetSpentError",
    "OnpipelineClient",
    "OnpipelineConfigError",
    "OnpipelineError",
    "OnpipelineGarbledError",
    "OnpipelineRateLimitError",
    "OnpipelineResponseError",
    "OnpipelineRetriableError",
    "check_api_url",
    "check_timezone",
    "clean_date",
    "custom_field_columns",
    "describe_value",
    "parse_envelope",
    "parse_local",
    "to_integer",
    "to_local",
    "to_number",
    "to_utc",
]
