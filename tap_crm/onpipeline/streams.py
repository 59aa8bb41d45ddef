"""Onpipeline streams, their settings, and discovery (custom fields become columns).

How each stream stays complete (the README's "Streams and replication: Onpipeline" says the
same for users):

* persons, organizations, deals: new records by creation-date windows from the last sync,
  changed ones through ``LastUpdate`` with the smallest Hours (3/6/12/24) covering the time
  since the last sync by the API's clock; beyond 24 h, a full read (logged, one line).
* events: the API cannot select by change time, so every run walks all creation windows and
  emits only events whose ``LastUpdate`` is at or after the last sync.
* notes: no change time at all (``Deleted`` flips silently): full table every run.
* invoices: date windows from the last sync minus ``invoice_lookback_days`` (payments change
  old invoices); invoice_items are re-read for every invoice emitted.
* users, teams, pipelines, products, custom_fields: one small call each, full table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pendulum
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from crm_api.onpipeline import (
    CUSTOM_FIELD_TABLES,
    LAST_UPDATE_HOURS,
    OnpipelineClient,
    OnpipelineConfigError,
    OnpipelineError,
    check_api_url,
    check_timezone,
    custom_field_columns,
    parse_local,
)
from crm_api.schemas import load_schema
from tap_crm.onpipeline.client import NO_TOKEN, OnpipelineStream

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap
    from singer_sdk.helpers.types import Context, Record


LAST_UPDATE_MARGIN_SECONDS = 120  # slack for clock reading and run time inside LastUpdate's reach


# ---------------------------------------------------------------------------------------------
# Entity streams read by creation-date windows


class ChangeTrackedStream(OnpipelineStream):
    """persons, organizations, deals: creation windows + the LastUpdate resource."""

    replication_key = "Created"
    is_sorted = False

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        now = self.server_now()
        stop = now.add(seconds=1)
        start = self.start
        last = self.last_sync() if self.incremental else None
        hours = self.last_update_hours(now, last)
        if last is None or hours is None:
            yield from self.walk_created(start, stop, now)
        else:
            since = max(last, start)
            changed = self.call_list("LastUpdate", {"Resource": self.resource, "Hours": str(hours)})
            for record in changed:
                when = parse_local(record.get("Created"), self.timezone)
                # Records created since the last sync come from the windows below, once.
                if when is None or start <= when < since:
                    yield record
            yield from self.walk_created(since, stop, now)
        self.remember_sync(self.sync_time(now))

    def last_update_hours(
        self, now: pendulum.DateTime, last: pendulum.DateTime | None
    ) -> int | None:
        """The smallest LastUpdate window covering the gap, or None (and why, logged)."""
        if last is None:
            reason = "no earlier sync in the state" if self.incremental else "full table requested"
            self.logger.info("%s: full read since %s (%s)", self.name, self.start, reason)
            return None
        gap = (now - last).total_seconds()
        for hours in LAST_UPDATE_HOURS:
            if gap + LAST_UPDATE_MARGIN_SECONDS <= hours * 3600:
                self.logger.info(
                    "%s: incremental: changes via LastUpdate %d h, new records since %s",
                    self.name,
                    hours,
                    last,
                )
                return hours
        self.logger.warning(
            "%s: full read: the last sync was %.1f h ago by the API's clock, beyond LastUpdate's "
            "%d h reach (run at least every %d h to stay incremental)",
            self.name,
            gap / 3600,
            LAST_UPDATE_HOURS[-1],
            LAST_UPDATE_HOURS[-1] - 1,
        )
        return None


class PersonsStream(ChangeTrackedStream):
    name = "persons"
    resource = "PersonList"
    primary_keys = ("PersonID",)


class OrganizationsStream(ChangeTrackedStream):
    name = "organizations"
    resource = "OrgList"
    primary_keys = ("OrgID",)


class DealsStream(ChangeTrackedStream):
    name = "deals"
    resource = "DealsList"
    primary_keys = ("DealID",)
    replication_key = "LastUpdate"

    def fetch_window(
        self, body: Mapping[str, Any], max_bytes: int | None = None
    ) -> list[dict[str, Any]]:
        # The document lists Status=deleted as a filter and is silent on whether the
        # unfiltered list includes deleted deals: ask for both, keep each deal once.
        records = self.call_list(self.resource, body, max_bytes)
        seen = {str(record.get("DealID")) for record in records}
        deleted = self.call_list(self.resource, {**body, "Status": "deleted"}, max_bytes)
        records.extend(r for r in deleted if str(r.get("DealID")) not in seen)
        return records


class EventsStream(OnpipelineStream):
    """The API selects events only by creation time: read them all, emit what changed."""

    name = "events"
    resource = "EventList"
    primary_keys = ("EventID",)
    replication_key = "LastUpdate"
    is_sorted = False

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        now = self.server_now()
        last = self.last_sync() if self.incremental else None
        if last is not None:
            self.logger.info(
                "%s: reading every event, emitting those changed since %s", self.name, last
            )
        for record in self.walk_created(self.start, now.add(seconds=1), now):
            if last is not None:
                changed = parse_local(
                    record.get("LastUpdate") or record.get("Created"), self.timezone
                )
                if changed is not None and changed < last:
                    continue
            yield record
        self.remember_sync(self.sync_time(now))


class NotesStream(OnpipelineStream):
    """Notes carry no change time (``Deleted`` flips silently): full table every run."""

    name = "notes"
    resource = "NotesList"
    primary_keys = ("NoteID",)

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        now = self.server_now()
        yield from self.walk_created(self.start, now.add(seconds=1), now)


# ---------------------------------------------------------------------------------------------
# Invoices by invoice date, and their lines


class InvoicesStream(OnpipelineStream):
    name = "invoices"
    resource = "InvoiceList"
    primary_keys = ("ID",)
    replication_key = "Date"
    is_sorted = False

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        now = self.server_now()
        tz = self.timezone
        first = self.start.in_tz(tz).date()
        last = self.last_sync() if self.incremental else None
        if last is not None:
            lookback = int(self.config.get("invoice_lookback_days") or 0)
            first = max(first, last.in_tz(tz).date().subtract(days=lookback))
        yield from self.walk_dated(first, now.in_tz(tz).date(), now)  # today included
        self.remember_sync(self.sync_time(now))

    def get_child_context(self, record: Record, context: Context | None) -> Context | None:
        return {"invoice_id": str(record["ID"])}


class InvoiceItemsStream(OnpipelineStream):
    name = "invoice_items"
    resource = "InvoiceItems"
    primary_keys = ("invoice_id", "line")
    parent_stream_type = InvoicesStream

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One bookmark for the whole stream, not one state entry per invoice (SDK A7 trap).
        self.state_partitioning_keys = []

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        invoice_id = str((context or {})["invoice_id"])
        items = self.call_list(self.resource, {"ID": invoice_id})
        for line, item in enumerate(items, start=1):
            yield {**item, "invoice_id": invoice_id, "line": line}


# ---------------------------------------------------------------------------------------------
# Small lists, one call each


class ListStream(OnpipelineStream):
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        yield from self.call_list(self.resource, {})


class UsersStream(ListStream):
    name = "users"
    resource = "UsersList"
    primary_keys = ("ID",)


class TeamsStream(ListStream):
    name = "teams"
    resource = "TeamsList"
    primary_keys = ("ID",)


class PipelinesStream(ListStream):
    name = "pipelines"
    resource = "PipelineList"
    primary_keys = ("PipelineID",)


class ProductsStream(OnpipelineStream):
    """The API lists product (deal category) names only: one record per name."""

    name = "products"
    resource = "ProductList"
    primary_keys = ("Name",)

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        for item in self.call_list(self.resource, {}):
            yield item if isinstance(item, dict) else {"Name": str(item)}


class CustomFieldsStream(OnpipelineStream):
    name = "custom_fields"
    resource = "ListCustomFields"
    primary_keys = ("Table", "ID")

    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        for table in CUSTOM_FIELD_TABLES:
            fields = self.call_list(self.resource, {"Table": table})
            columns = custom_field_columns(fields, _base_properties(TABLE_STREAMS[table]))
            for field in fields:
                yield {**field, "Table": table, "column": columns.get(str(field.get("ID")))}


# ---------------------------------------------------------------------------------------------
# Discovery

STREAM_TYPES: tuple[type[OnpipelineStream], ...] = (
    PersonsStream,
    OrganizationsStream,
    DealsStream,
    EventsStream,
    NotesStream,
    InvoicesStream,
    InvoiceItemsStream,
    UsersStream,
    TeamsStream,
    PipelinesStream,
    ProductsStream,
    CustomFieldsStream,
)
TABLE_STREAMS = {"Persons": "persons", "Organizations": "organizations", "Deals": "deals"}


def base_schema(name: str) -> dict[str, Any]:
    """The stream's schema file, before custom-field columns are added."""
    return load_schema("onpipeline", name)


def _base_properties(name: str) -> list[str]:
    return list(base_schema(name)["properties"])


def make_client(config: Any) -> OnpipelineClient | None:
    """The API client for this config, or None when there is no token (discovery only)."""
    if not config.get("api_token"):
        return None
    # One client for discovery and every stream: the user's max_request_tries and
    # request_timeout hold for each request, custom-field definitions and parents included.
    return OnpipelineClient.from_config(config)


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """Onpipeline settings that cannot work, one clear line each (TapCRM asks at start)."""
    problems = []
    for check in (
        lambda: check_timezone(config.get("timezone")),
        lambda: check_api_url(config.get("api_url")),
    ):
        try:
            check()
        except OnpipelineConfigError as exc:
            problems.append(str(exc))
    return problems


def sync_problems(config: Mapping[str, Any]) -> list[str]:
    """What stops a sync (not a discovery) before its first stream: one line each."""
    return [] if config.get("api_token") else [NO_TOKEN]


def _syncing(tap: Tap) -> bool:
    """A catalog with a selected stream was given: this is a sync (``--discover`` has none)."""
    catalog = tap.input_catalog
    return catalog is not None and any(entry.metadata.root.selected for entry in catalog.values())


def discover_streams(tap: Tap) -> list[Stream]:
    """Every stream; with a token, persons/organizations/deals get one column per custom field."""
    columns: dict[str, dict[str, str]] = {}
    if not tap.config.get("api_token") and _syncing(tap):
        # Discovery works without a token; a sync cannot: say so before any stream starts.
        raise ConfigValidationError(NO_TOKEN, errors=[NO_TOKEN])
    try:
        client = make_client(tap.config)
        if client is not None:
            for table, stream_name in TABLE_STREAMS.items():
                columns[stream_name] = custom_field_columns(
                    client.custom_fields(table), _base_properties(stream_name)
                )
    except OnpipelineConfigError as exc:  # a setting to change: the SDK's config line
        raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
    except OnpipelineError as exc:
        # A refused token, an odd answer, no answer: a runtime problem, one line from the
        # tap's CLI (not followed by the SDK's "Config validation failed").
        raise FatalAPIError(str(exc)) from None
    streams: list[Stream] = []
    for stream_type in STREAM_TYPES:
        name: str = stream_type.name  # type: ignore[misc]  # a class attribute on our streams
        schema = base_schema(name)
        for field_id, column in columns.get(name, {}).items():
            schema["properties"][column] = {
                "type": ["string", "null"],
                "description": f"Custom field {field_id} (from Extra).",
            }
        streams.append(
            stream_type(
                tap,
                schema=schema,
                client=client,
                custom_columns=columns.get(name),
            )
        )
    return streams
