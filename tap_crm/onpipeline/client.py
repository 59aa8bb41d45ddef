"""The base Onpipeline stream: settings, the shared API client, value conversion.

Why ``Stream`` and not ``RESTStream``: Onpipeline has no pages. A sync is a plan of calls
(LastUpdate, then creation windows that may split in two on the fly), each a POST to a
different resource body; ``crm_api.onpipeline.OnpipelineClient`` already owns the HTTP rules
(envelope, typed errors, retries, the request budget) for the tap and the target alike, so
the streams only plan calls and shape records. A stream *uses* its helpers rather than
inheriting them: the API client, a :class:`~tap_crm.onpipeline.windows.WindowReader` for
windowed reads, a :class:`RecordShaper` for ``post_process``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import pendulum
from singer_sdk import Stream, metrics
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from crm_api.onpipeline import (
    OnpipelineClient,
    OnpipelineError,
    clean_date,
    to_integer,
    to_number,
    to_utc,
)
from tap_crm import PROGRESS_LOG_SECONDS
from tap_crm.onpipeline import windows

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

DEFAULT_START = "2000-01-01T00:00:00Z"  # before Onpipeline existed: "everything"
SYNCED_AT = "server_time_of_last_sync"  # our key in the stream's state (see README)
WALK = "window_walk"  # an unfinished walk: {"from", "started", "done_until"} (see walk_created)
DENSITY = "window_density"  # records per year of the last complete walk: how to size windows

NO_TOKEN = "api_token is empty: set it to the Onpipeline account's API token"


class OnpipelineStream(Stream):
    """A stream fed by ``client.call``; each stream implements ``get_records``."""

    resource: ClassVar[str] = ""

    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = PROGRESS_LOG_SECONDS
    ) -> metrics.Counter:
        # The SDK's documented hook: a record count every few seconds, not every minute.
        return super().get_record_counter(endpoint=endpoint, log_interval=log_interval)

    def __init__(
        self,
        tap: Tap,
        *,
        schema: dict[str, Any],
        client: OnpipelineClient | None,
        custom_columns: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self.custom_columns = dict(custom_columns or {})  # custom-field ID -> column name
        super().__init__(tap, schema=schema)
        # A STATE message (the SDK's documented frequency) about every half window of records:
        # it carries how far the walk got, so a killed run resumes near where it stopped.
        self.STATE_MSG_FREQUENCY = max(1, self.max_records // 2)

    # -- settings ---------------------------------------------------------------------------

    @property
    def client(self) -> OnpipelineClient:
        if self._client is None:
            # Discovery works without a token; a sync cannot: one line, not a traceback (a
            # sync is stopped before its first stream: see streams.sync_problems).
            raise ConfigValidationError(NO_TOKEN, errors=[NO_TOKEN])
        return self._client

    @property
    def timezone(self) -> str:
        return self.client.timezone

    @property
    def max_records(self) -> int:
        return max(2, int(self.config.get("onpipeline_max_records_per_window") or 2000))

    @property
    def largest_window_days(self) -> int | None:
        # Unset: no cap, windows grow as far as the answers allow (one request for a small
        # account); a user's value still bounds every window.
        value = self.config.get("onpipeline_window_days")
        return max(1, int(value)) if value else None

    @property
    def start(self) -> pendulum.DateTime:
        value = self.config.get("start_date") or DEFAULT_START
        return moment(str(value))

    @property
    def incremental(self) -> bool:
        return self.replication_method == "INCREMENTAL"

    def last_sync(self) -> pendulum.DateTime | None:
        """The API's time at the start of the last complete sync of this stream, if any."""
        value = self.stream_state.get(SYNCED_AT)
        return moment(value) if value else None

    def remember_sync(self, server_now: pendulum.DateTime) -> None:
        # Written only after the last record was yielded: an interrupted run keeps the old
        # value, so the next run re-reads from there and nothing is skipped.
        self.stream_state[SYNCED_AT] = server_now.in_tz("UTC").isoformat()

    # -- reading ----------------------------------------------------------------------------

    def walk_created(
        self, since: pendulum.DateTime, stop: pendulum.DateTime, now: pendulum.DateTime
    ) -> Iterator[dict[str, Any]]:
        """Creation windows over ``[since, stop)``, resumed where an interrupted run left off.

        After each window the state says how far records were emitted (``WALK``); a STATE
        message carries it every ``STATE_MSG_FREQUENCY`` records, so a killed run's successor
        asks only for the windows not yet done. It then remembers the interrupted run's start
        as the sync time (changes since then are the next run's), and the density seen.
        """
        resume, started = self._resume_point(since.isoformat(), moment)
        remembered = windows.Density.from_state(
            windows.YEAR_SECONDS, self.stream_state.get(DENSITY)
        )
        learn = windows.Density(windows.YEAR_SECONDS)

        def done(until: pendulum.DateTime) -> None:
            self._walk_progress(since.isoformat(), started or now, until.isoformat())

        yield from self.window_reader.created(
            resume or since, stop, density=remembered, learn=learn, done=done
        )
        self._walk_finished(remembered, learn, int(since.timestamp()) // learn.bucket)
        self.stream_state.pop(WALK, None)
        self._started_instead = started

    def walk_dated(
        self, first: date, last: date, now: pendulum.DateTime
    ) -> Iterator[dict[str, Any]]:
        """Date windows ``first`` .. ``last`` (both included), resumable as ``walk_created``."""
        resume, started = self._resume_point(first.isoformat(), pendulum.Date.fromisoformat)
        remembered = windows.Density.from_state(windows.YEAR_DAYS, self.stream_state.get(DENSITY))
        learn = windows.Density(windows.YEAR_DAYS)

        def done(until: pendulum.Date) -> None:
            self._walk_progress(first.isoformat(), started or now, until.isoformat())

        begin = resume if isinstance(resume, date) and resume > first else first
        yield from self.window_reader.dated(begin, last, density=remembered, learn=learn, done=done)
        self._walk_finished(remembered, learn, windows.day_number(first) // learn.bucket)
        self.stream_state.pop(WALK, None)
        self._started_instead = started

    _started_instead: pendulum.DateTime | None = None

    def _resume_point(self, origin: str, parse: Callable[[str], Any]) -> tuple[Any, Any]:
        """Where an interrupted walk of the same origin stopped, and when that run started."""
        walk = self.stream_state.get(WALK)
        if not isinstance(walk, dict) or walk.get("from") != origin:
            return None, None
        try:
            until, started = parse(str(walk["done_until"])), moment(str(walk["started"]))
        except (KeyError, ValueError, TypeError):
            return None, None  # an odd hand-edited state: walk it all again
        self.logger.info("%s: resuming an interrupted walk at %s", self.name, until)
        return until, started

    def _walk_progress(self, origin: str, started: pendulum.DateTime, until: str) -> None:
        self.stream_state[WALK] = {
            "from": origin,
            "started": started.in_tz("UTC").isoformat(),
            "done_until": until,
        }

    def _walk_finished(
        self, remembered: windows.Density | None, learned: windows.Density, first_key: int
    ) -> None:
        # Years before this walk's first one keep what an earlier walk saw; the first (maybe
        # partly walked) year keeps the larger count: windows sized from it never shrink wrongly.
        old = remembered.counts if remembered else {}
        counts = {key: count for key, count in old.items() if key <= first_key}
        for key, count in learned.counts.items():
            counts[key] = max(count, counts.get(key, 0)) if key == first_key else count
        self.stream_state[DENSITY] = windows.Density(learned.bucket, counts).to_state()

    def sync_time(self, now: pendulum.DateTime) -> pendulum.DateTime:
        """The time to remember after a walk: the interrupted run's start when it resumed one."""
        return self._started_instead or now

    @cached_property
    def window_reader(self) -> windows.WindowReader:
        """This stream's resource read window by window (``fetch_window`` per call)."""
        return windows.WindowReader(
            fetch=self.fetch_window,
            timezone=self.timezone,
            max_records=self.max_records,
            largest_days=self.largest_window_days,
            on_overfull=self._warn_overfull,
        )

    def call_list(
        self, resource: str, body: Mapping[str, Any] | None = None, max_bytes: int | None = None
    ) -> list[Any]:
        """``client.call_list`` (the envelope checked: never an odd answer passed off as an
        empty list), with API refusals as the SDK's FatalAPIError: the tap's CLI prints those
        as one line (stream, resource, code, what was wrong, the setting to fix)."""
        try:
            return self.client.call_list(resource, body or {}, max_bytes=max_bytes)
        except OnpipelineError as exc:
            raise FatalAPIError(f"{self.name}: {exc}") from None

    def fetch_window(
        self, body: Mapping[str, Any], max_bytes: int | None = None
    ) -> list[dict[str, Any]]:
        return self.call_list(self.resource, body, max_bytes)

    def _warn_overfull(self, result: windows.WindowResult) -> None:
        self.logger.warning(
            "%s: %d records in one window unit starting %s; the API may have cut the "
            "answer short (raise onpipeline_max_records_per_window to check)",
            self.name,
            len(result.records),
            result.start,
        )

    def server_now(self) -> pendulum.DateTime:
        try:
            return self.client.server_now()
        except OnpipelineError as exc:
            raise FatalAPIError(f"{self.name}: {exc}") from None

    # -- shaping ----------------------------------------------------------------------------

    @cached_property
    def shaper(self) -> RecordShaper:
        return RecordShaper(
            self.schema, self.timezone if self._client else "UTC", self.custom_columns
        )

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        return self.shaper(row)


class RecordShaper:
    """An API record as the stream's schema says: values typed (see :func:`shaper`), an
    event's times in its own zone, and each custom field's value (from ``Extra``) in its column.
    """

    def __init__(self, schema: Mapping[str, Any], tz: str, custom_columns: Mapping[str, str]):
        self._shape = shaper(schema, tz)
        self._custom_columns = dict(custom_columns)  # custom-field ID -> column name

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = self._shape(row)
        if "Start" in row and row.get("TimeZone"):
            # An event's Start/End are in the event's own time zone, not the account's.
            for field in ("Start", "End"):
                record[field] = to_utc(row.get(field), str(row["TimeZone"])) or record.get(field)
        if self._custom_columns:
            values = {
                str(item.get("ID")): item.get("Value")
                for item in row.get("Extra") or []
                if isinstance(item, dict)
            }
            for field_id, column in self._custom_columns.items():
                value = values.get(field_id)
                record[column] = None if value is None else str(value)
        return record


def moment(text: str) -> pendulum.DateTime:
    """An RFC 3339 string (as ``to_utc`` returns, or a setting) as an aware UTC datetime."""
    parsed = pendulum.parse(text)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"{text!r} is not a date-time")
    return parsed.in_tz("UTC")


Shaper = Callable[[Any], Any]


def convert(value: Any, schema: Mapping[str, Any], tz: str) -> Any:
    """Shape an API value by its JSON schema (see :func:`shaper`)."""
    return shaper(schema, tz)(value)


def shaper(schema: Mapping[str, Any], tz: str) -> Shaper:
    """A function shaping values of this schema: numeric strings -> numbers, zero dates ->
    null, local datetimes -> RFC 3339 UTC, ids (strings in the schema) stay strings.

    Built once per stream, so each of 100,000 records costs a dict walk, not a schema walk.
    """
    raw = schema.get("type", [])
    types = [raw] if isinstance(raw, str) else list(raw)
    if "object" in types:
        fields = {name: shaper(sub, tz) for name, sub in schema.get("properties", {}).items()}

        def shape_object(value: Any) -> Any:
            if not isinstance(value, dict):
                return None
            out = dict(value)
            for name, shape in fields.items():
                if name in value:
                    out[name] = shape(value[name])
            return out

        return shape_object
    if "array" in types:
        item = shaper(schema.get("items", {}), tz)

        def shape_array(value: Any) -> Any:
            if isinstance(value, list):
                return [item(v) for v in value]
            return None if value in ("", None) else [item(value)]

        return shape_array
    if "integer" in types:
        return to_integer
    if "number" in types:
        return to_number
    fmt = schema.get("format")
    if fmt == "date-time":
        return lambda value: to_utc(value, tz)
    if fmt == "date":
        return lambda value: clean_date(value.isoformat() if isinstance(value, date) else value)
    if "string" in types:
        return _shape_string
    return _same


def _shape_string(value: Any) -> Any:
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, dict | list):
        return None
    return str(value)


def _same(value: Any) -> Any:
    return value
