"""The base Pipedrive stream: every HTTP concern in one place.

``crm_api.pipedrive`` is the one Pipedrive client (auth, URLs, sessions under the shared
budget, error envelope, paging, costs) and ``crm_api.retry`` its retry policy; this module plugs
them into the Singer SDK at its documented extension points: ``url_base``, ``authenticator``,
``requests_session``, ``timeout``, ``get_http_request``, ``validate_response``,
``response_error_message``, the ``backoff_*`` hooks and ``request_decorator``,
``calculate_sync_cost``, ``get_new_paginator`` and ``post_process``. What the tap asks outside
the SDK's request loop (discovery's custom fields, parent listings, the cost probe) goes
through ``AccountReader.iter_v2``, with the same policy.
"""

from __future__ import annotations

import decimal
import itertools
import logging
import queue
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any

import msgspec
import pendulum
import requests
from singer_sdk import metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.pagination import JSONPathPaginator, OffsetPaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext

from crm_api import pipedrive as api
from crm_api.retry import RetryPolicy
from crm_api.schemas import load_schema
from crm_api.urls import shown
from tap_crm import PROGRESS_LOG_SECONDS
from tap_crm.pipedrive import custom_fields
from tap_crm.sdk_seams import SeamedRESTStream

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from backoff.types import Details
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Auth, Context, RequestFunc

    from tap_crm.pipedrive.changed_parents import ChangedParents

MAX_PAGE_SIZE = 500  # the API's maximum for v2 and v1 lists

# Pages are decoded by msgspec (in C, from the bytes; the stdlib decoder was a seventh of the
# tap's CPU, issue 12), numbers with fractions as Decimal as before; what is not JSON raises
# a ValueError, which the client's envelope check turns into its one line.
_decode_page = msgspec.json.Decoder(float_hook=decimal.Decimal).decode


# Pipedrive's own shape of a time, and the one every bookmark is kept in: v2 lists send it
# as is, so most values take the fast path of normalize_time (a hot path: issue 12).
_UTC_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def normalize_time(value: Any) -> str | None:
    """Any Pipedrive timestamp (v2 RFC 3339 with or without fractions, v1 ``YYYY-MM-DD
    HH:MM:SS`` UTC) as ``YYYY-MM-DDTHH:MM:SSZ``: one shape, so bookmarks compare safely as
    strings (the SDK compares them lexically). Pipedrive keeps whole seconds (fractions are
    dropped, not rounded); a value that is no time (v1's ``0000-00-00 00:00:00`` for users
    who never logged in) is None."""
    if not isinstance(value, str):
        return None
    if len(value) == 20 and _UTC_SECONDS.fullmatch(value):
        return value  # already in shape: no parse
    text = value.strip()
    if not text:
        return None
    try:
        moment = pendulum.parse(text, tz=pendulum.UTC, exact=True)  # no offset: UTC
    except ValueError:
        return None
    if isinstance(moment, pendulum.DateTime):
        return rfc3339(moment)
    if isinstance(moment, pendulum.Date):  # a bare date: its midnight, as before
        return rfc3339(pendulum.datetime(moment.year, moment.month, moment.day))
    return None  # a time of day or a duration names no moment


def rfc3339(moment: datetime) -> str:
    """Whole seconds in UTC: the API rejects ``updated_since`` with fractions. A moment
    without a zone is taken as UTC."""
    utc = pendulum.instance(moment, tz=pendulum.UTC)
    if utc.utcoffset():
        utc = utc.in_timezone(pendulum.UTC)
    return utc.strftime(_UTC_FORMAT)


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def read_ahead(
    records: Iterable[dict[str, Any]], *, chunk: int, chunks: int = 1
) -> Iterator[dict[str, Any]]:
    """Yield ``records`` while a thread already fetches the next ones: with ``chunk`` = a
    page, at most one page waits in the buffer and one more is being fetched (memory stays
    flat, and the API budget is not spent far ahead of what is written). An error in the
    fetching thread is raised here, in the caller's thread, after the records before it."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=chunks)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        batch: list[dict[str, Any]] = []
        try:
            for record in records:
                batch.append(record)
                if len(batch) >= chunk:
                    if not put(batch):
                        return
                    batch = []
            if batch and not put(batch):
                return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            if not batch or put(batch):  # the records read before the error come first
                put(_Failure(exc))

    # Started now, not at the first next(): several lists merged together (deals and
    # archived deals) then fetch side by side instead of one racing ahead of the other.
    threading.Thread(target=produce, name="read-ahead", daemon=True).start()
    return _drain(buffer, stop)


def _drain(buffer: queue.Queue[Any], stop: threading.Event) -> Iterator[dict[str, Any]]:
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield from item
    finally:
        stop.set()


class AccountReader:
    """What every stream of one tap shares to read one Pipedrive account: the client's
    connection and client, the user's retry policy, and the custom-field columns planned at
    discovery. (Writing is the target's ``PipedriveDestination``.)"""

    def __init__(self, tap: Tap) -> None:
        self.tap = tap
        self.config = tap.config
        self.logger = tap.logger
        # max_request_tries and request_timeout, for the SDK's hooks and every call below
        self.policy = RetryPolicy.from_config(self.config)

    @property
    def has_credentials(self) -> bool:
        return bool(
            self.config.get("api_token")
            or (self.config.get("client_id") and self.config.get("client_secret"))
        )

    @cached_property
    def connection(self) -> api.Connection:
        return api.connect_from_config(self.config)

    @cached_property
    def client(self) -> api.PipedriveClient:
        """The one Pipedrive client, for what the tap reads outside the SDK's request loop."""
        return api.PipedriveClient(self.connection, log=self.logger.warning)

    def iter_v2(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a v2 list read outside the SDK's request loop (discovery's custom
        fields, parent listings, the cost probe): the client's paging and retry loop, with
        the user's tries and timeout."""
        return self.client.iter_v2(path, params, page_size=page_size, what=what)

    def custom_columns(self, stream_name: str, standard: Iterable[str]) -> list[Any]:
        """The readable custom-field columns of an entity stream (none without credentials,
        or when the user asked for the raw hash only)."""
        path = custom_fields.FIELD_ENDPOINTS.get(stream_name)
        if (
            not path
            or not self.has_credentials
            or not self.config.get("custom_field_columns", True)
        ):
            return []
        try:
            items = list(self.iter_v2(path, what=f"reading custom fields of {stream_name}"))
        except api.AuthError:
            raise
        except api.PipedriveError as exc:
            if exc.status in {402, 403, 404}:
                self.logger.warning("%s; %s get no readable custom-field columns", exc, stream_name)
                return []
            raise
        return custom_fields.plan_columns(items, standard)


def parsed_body(response: requests.Response) -> Any:
    """The body ``validate_response`` checked and parsed (parsed again if it was not)."""
    body = getattr(response, "parsed_body", None)
    return response.json() if body is None else body


def v1_pagination(body: Any) -> dict[str, Any]:
    """v1's ``additional_data.pagination`` (empty when absent or not an object)."""
    extra = body.get("additional_data") if isinstance(body, dict) else None
    pagination = extra.get("pagination") if isinstance(extra, dict) else None
    return pagination if isinstance(pagination, dict) else {}


def next_cursor(body: Any) -> str | None:
    """The v2 cursor of the page after ``body``, read by the client's one cursor function."""
    return api.next_cursor(body) if isinstance(body, Mapping) else None


class CursorPaginator(JSONPathPaginator):
    """v2 ``additional_data.next_cursor``; keeps going past an empty page that has a cursor
    (the SDK would otherwise stop silently at the first empty page) and ends at a null one."""

    def __init__(self) -> None:
        super().__init__("$.additional_data.next_cursor")

    def get_next(self, response: requests.Response) -> str | None:
        return next_cursor(parsed_body(response))

    def continue_if_empty(self, response: requests.Response) -> bool:
        # Let advance() decide: it ends the pagination when there is no cursor. (The SDK's
        # own stop would also log a line per empty list: one per parent without followers.)
        return True


class V1StartPaginator(OffsetPaginator):
    """v1 ``start``/``limit`` paging (``additional_data.pagination``): more pages while
    ``more_items_in_collection``, from the API's ``next_start``. Built on the SDK's offset
    paginator (``BaseOffsetPaginator`` is its deprecated alias in singer-sdk 0.54)."""

    def __init__(self, page_size: int) -> None:
        super().__init__(0, page_size)

    def has_more(self, response: requests.Response) -> bool:
        return bool(v1_pagination(parsed_body(response)).get("more_items_in_collection"))

    def get_next(self, response: requests.Response) -> int | None:
        body = parsed_body(response)
        return api.next_start(body) if isinstance(body, Mapping) else None


def bookmark_or_start(stream: PipedriveStream) -> str | None:
    """Where the stream's next sync starts (read before it starts, when the SDK does not
    know it yet): its bookmark, else start_date."""
    value = stream.stream_state.get("replication_key_value") or stream.config.get("start_date")
    return normalize_time(value) if isinstance(value, str) else None


def retry_wait(policy: RetryPolicy, exc: Exception, tries_made: int) -> float:
    """Seconds the SDK's backoff waits before the next try. After a 429 none: the session
    already holds the shared budget for Retry-After (or x-ratelimit-reset), and that wait,
    unlike a backoff sleep, ends at once when another thread finds the daily budget spent."""
    response = getattr(exc, "response", None)
    if response is not None and response.status_code == 429:
        return 0.0
    return policy.wait(tries_made)


class PipedriveStream(SeamedRESTStream):
    """Base of every Pipedrive stream."""

    # The SDK re-checks every value of every record against the schema, recursively: for
    # records that are JSON straight from the API that was ~45% of the tap's CPU. We keep its
    # one useful effect here, dropping top-level keys the schema does not list, in post_process.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    records_jsonpath = "$.data[*]"
    primary_keys: tuple[str, ...] = ("id",)
    extra_params: dict[str, Any] = {}
    # A stream that reads the children of changed parents holds the component doing it.
    parents: ChangedParents | None = None

    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = PROGRESS_LOG_SECONDS
    ) -> metrics.Counter:
        # The SDK's documented hook: a record count every few seconds, not every minute.
        return super().get_record_counter(endpoint=endpoint, log_interval=log_interval)

    def __init__(self, tap: Tap, reader: AccountReader) -> None:
        self.reader = reader
        self._cost_lock = threading.Lock()
        self._built_schema: dict[str, Any] | None = None
        self._schema_lock = threading.RLock()
        super().__init__(tap)  # the schema is built when first asked for (``schema``)
        # A checkpoint (STATE) per page instead of per 10,000 records: an interrupted run
        # then repeats at most one page.
        self.STATE_MSG_FREQUENCY = self.page_size

    def estimate(self, counts: Any) -> tuple[int, int, bool]:
        """(requests, tokens, exact) this stream expects to spend in this run: by default one
        page of each list it reads (exact only for small lists that fit one page)."""
        if self.parents is not None:
            return self.parents.estimate(counts)
        cost = api.endpoint_cost("GET", self.path or "")
        return 1, cost, False

    def plan_estimate(self, counts: Any) -> None:
        """Ask the cost probe to count the parents this stream will see (``costs``)."""
        if self.parents is not None:
            self.parents.plan_estimate(counts)

    # -- schema

    def build_schema(self) -> dict[str, Any]:
        return load_schema("pipedrive", self.name)

    @property
    def schema(self) -> dict[str, Any]:
        """The stream's schema, built on first use: an entity stream's custom-field columns
        need its field definitions from the API, and a sync with a catalog asks only for the
        schemas of the streams it syncs (the SDK reads the catalog's for the others), so an
        unselected stream costs no request. Discovery asks for every stream's."""
        with self._schema_lock:  # list readers may start in threads
            if self._built_schema is None:
                self._built_schema = self.build_schema()
        return self._built_schema

    def request_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # With a catalog the SDK writes the catalog's schema and need not ask for ours: it is
        # built now, before the first record needs its custom-field plan (post_process).
        self.schema  # noqa: B018
        return super().request_records(context)

    # -- where and how to call

    @property
    def url_base(self) -> str:
        return self.reader.connection.base_url

    @property
    def authenticator(self) -> Auth:
        return self.reader.connection.auth

    @property
    def requests_session(self) -> requests.Session:
        # The client's session of this thread (streams with parallel child requests use a
        # thread pool); all of them share the account's RequestBudget, which keeps the rate
        # limit, and every try passes through it.
        return self.reader.client.session()

    @property
    def page_size(self) -> int:
        return int(self.config.get("page_size") or MAX_PAGE_SIZE)

    @property
    def timeout(self) -> int:
        return int(self.reader.policy.timeout)

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        request = super().get_http_request(page=page)
        request.headers["Accept"] = "application/json"
        return request

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {"limit": self.page_size, **self.extra_params}

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        if response.status_code == 404 and self.tolerate_missing:
            return
        body = getattr(response, "parsed_body", None)
        if body is None:  # validate_response parses and checks; this is for direct callers
            body = self._envelope(response)
        yield from body.get("data") or []

    # -- errors and retries

    tolerate_missing = False  # True where a 404 means "the parent is gone", not a bad setting

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # get_records is the SDK's extension point for how records are produced. Pagination,
        # retries and errors stay in request_records; it just runs one thread ahead, so the
        # next page is on its way while the SDK turns the current one into messages (the
        # SDK alone waits for the network, then works, then waits again).
        return read_ahead(self.request_records(context), chunk=self.page_size)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        """Drop keys the schema does not list (what the SDK's conformance would do), saying
        once per stream which ones, so a new API field is noticed without flooding the log."""
        known = self._known_keys
        if known.issuperset(row):  # the usual case, checked in C
            return row
        unknown = [key for key in row if key not in known]
        if unknown:
            for key in unknown:
                del row[key]
            fresh = sorted(set(unknown) - self._reported_unknown)
            if fresh:
                self._reported_unknown.update(fresh)
                self.log("Fields not in the schema, dropped: %s", ", ".join(fresh))
        return row

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        # The SDK's documented hook. No Pipedrive stream has SDK child streams (per-parent
        # streams hold a ChangedParents instead), yet the default hands every record, copied,
        # to the (empty) list of children: per record work for nothing.
        if self.child_streams:
            yield from super().generate_child_contexts(record, context)

    @cached_property
    def _known_keys(self) -> frozenset[str]:
        return frozenset(self.schema.get("properties", {}))

    @cached_property
    def _reported_unknown(self) -> set[str]:
        return set()

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 429 and (spent := api.daily_budget_message(response.headers, self._what)):
            raise FatalAPIError(spent)
        if status == 429 or status >= 500:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status == 404 and self.tolerate_missing:
            return
        if status >= 400:
            raise FatalAPIError(self.response_error_message(response))
        # A 200 that is not the envelope (a proxy's page, a cut-short body, data of the wrong
        # type) must end the run with one line, not read as an empty last page.
        self._envelope(response)

    def _envelope(self, response: requests.Response) -> dict[str, Any]:
        try:
            body = api.envelope(response, self._what, data="list", decode=_decode_page)
        except api.UnexpectedBodyError as exc:
            raise FatalAPIError(str(exc)) from None
        response.parsed_body = body  # type: ignore[attr-defined]  # parsed once, for paginators
        return body

    def response_error_message(self, response: requests.Response) -> str:
        # The SDK's default adds the whole body and the header names; ours keeps to the
        # error envelope so no token or personal data reaches the logs.
        return api.error_message(response, what=self._what)

    @property
    def _what(self) -> str:
        return f"stream '{self.name}'"

    def backoff_wait_generator(self) -> Any:
        # backoff_runtime is the SDK's documented way to take the wait from the exception:
        # the policy's after a 5xx or a dropped connection, none after a 429 (retry_wait).
        tries_made = itertools.count(1)
        policy = self.reader.policy
        return self.backoff_runtime(value=lambda exc: retry_wait(policy, exc, next(tries_made)))

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        # When backoff gives up, the SDK re-raises the last retriable error: a traceback. End
        # in one line instead, saying how many tries were made and which setting allows more.
        retried = super().request_decorator(func)

        @wraps(func)
        def call(*args: Any, **kwargs: Any) -> requests.Response:
            try:
                return retried(*args, **kwargs)
            except RetriableAPIError as exc:
                problem = str(exc)
            except (requests.RequestException, ConnectionResetError) as exc:
                problem = (
                    f"{self._what}: {type(exc).__name__} talking to Pipedrive at "
                    f"{shown(self.url_base)}"
                )
            raise FatalAPIError(self.reader.policy.gave_up(problem)) from None

        return call

    def backoff_max_tries(self) -> int:
        return self.reader.policy.tries

    def backoff_handler(self, details: Details) -> None:
        exc = details.get("exception")
        reason = str(exc) if isinstance(exc, RetriableAPIError) else type(exc).__name__
        self.log(
            "Retrying in %.1f s (try %d): %s",
            details.get("wait") or 0.0,
            details.get("tries") or 0,
            reason,
            level=logging.WARNING,
        )

    def calculate_sync_cost(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        return {
            "requests": 1,
            "tokens": api.endpoint_cost(request.method or "GET", request.path_url),
        }

    def update_sync_costs(
        self,
        request: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> dict[str, int]:
        with self._cost_lock:  # child requests run in several threads
            return super().update_sync_costs(request, response, context)


class V2Stream(PipedriveStream):
    """A v2 cursor-paginated list, read whole (FULL_TABLE)."""

    def get_new_paginator(self) -> CursorPaginator:
        return CursorPaginator()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if next_page_token:
            params["cursor"] = next_page_token
        return params


class V1Stream(PipedriveStream):
    """A v1 list paged by ``start``/``limit``."""

    def get_new_paginator(self) -> V1StartPaginator:
        return V1StartPaginator(self.page_size)

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**self.extra_params, "limit": self.page_size, "start": next_page_token or 0}


class IncrementalV2Stream(V2Stream):
    """A v2 entity list read incrementally on ``update_time``.

    ``updated_since`` (inclusive) with ``sort_by=update_time`` ascending: records arrive in
    bookmark order, so the SDK may advance the bookmark per record (``is_sorted``) and a run
    interrupted mid-stream resumes where its last STATE left off. A record changed during the
    sync moves to the end of the order and is read again later in the same run.
    """

    replication_key = "update_time"
    is_sorted = True

    def __init__(self, tap: Tap, reader: AccountReader) -> None:
        self._custom_columns: list[custom_fields.CustomColumn] = []
        super().__init__(tap, reader)

    def build_schema(self) -> dict[str, Any]:
        schema = super().build_schema()
        self._custom_columns = self.reader.custom_columns(self.name, schema["properties"])
        custom_fields.add_to_schema(schema, self._custom_columns, with_labels=self.with_labels)
        return schema

    @cached_property
    def _apply_custom_columns(self) -> Any:
        """The record's readable custom-field columns, planned once per stream (None: none)."""
        self.schema  # noqa: B018  # built first: it plans the columns
        if not self._custom_columns:
            return None
        return custom_fields.compile_apply(self._custom_columns, with_labels=self.with_labels)

    @property
    def with_labels(self) -> bool:
        return bool(self.reader.config.get("custom_field_option_labels", True))

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        params["sort_by"] = "update_time"
        params["sort_direction"] = "asc"
        start = self.get_starting_timestamp(context)
        if start is not None:
            params["updated_since"] = rfc3339(start)
        return params

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row["update_time"] = normalize_time(row.get("update_time"))
        apply_columns = self._apply_custom_columns
        if apply_columns is not None:
            apply_columns(row)
        return super().post_process(row, context)
