"""Pipedrive streams and ``discover_streams`` (the settings are ``tap_crm.settings``).

v2 entity lists are incremental on ``update_time``; small reference lists are read whole;
``notes`` come from v1; the per-parent streams (followers changelogs, deal flow or changelog,
deal products and installments) hold a ``ChangedParents`` that visits only the parents changed
since their bookmark, several requests in flight under the shared rate budget.
"""

from __future__ import annotations

import heapq
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator

from crm_api import pipedrive as api
from crm_api import pipedrive_include
from tap_crm.pipedrive import costs, custom_fields
from tap_crm.pipedrive.changed_parents import (
    DEALS,
    ORGANIZATIONS,
    PARENT_BOOKMARK,
    PERSONS,
    PRODUCTS,
    ChangedParents,
    ParentLists,
)
from tap_crm.pipedrive.client import (
    AccountReader,
    IncrementalV2Stream,
    PipedriveStream,
    V1Stream,
    V2Stream,
    bookmark_or_start,
    normalize_time,
    parsed_body,
    rfc3339,
    v1_pagination,
)
from tap_crm.pipedrive.parallel_lists import WindowedList

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Stream, Tap
    from singer_sdk.helpers.types import Context


def config_problems(config: dict[str, Any]) -> list[str]:
    """Pipedrive settings that cannot work, one clear line each (checked before any request)."""
    return api.credential_problems(
        api_token=config.get("api_token"),
        client_id=config.get("client_id"),
        client_secret=config.get("client_secret"),
        refresh_token=config.get("refresh_token"),
        oauth_token_file=config.get("oauth_token_file"),
    ) + pipedrive_include.setting_problems(config.get("include_fields", "all"))


# ----------------------------------------------------------------------------- entity streams


class ProbedV2Stream(IncrementalV2Stream):
    """An entity list whose changed records the run's estimate counts (``costs``): the
    parents of the per-parent streams."""

    probe_paths: tuple[str, ...] = ()

    def plan_estimate(self, counts: costs.ParentCounts) -> None:
        for path in self.probe_paths or (self.path,):
            if counts.probed(path):
                counts.want(self.name, path, costs.Tally(bookmark_or_start(self)))

    def estimate(self, counts: costs.ParentCounts) -> tuple[int, int, bool]:
        requests = tokens = 0
        precise = True
        for path in self.probe_paths or (self.path,):
            tally = counts.get(self.name, path)
            precise = precise and tally is not None
            n = costs.pages(tally.listed if tally else 0, self.page_size)
            requests += n
            tokens += n * api.endpoint_cost("GET", path)
        return requests, tokens, precise


class ExtrasV2Stream(ProbedV2Stream):
    """A v2 entity list that also asks for its ``include_fields`` extras (the setting
    ``include_fields``). The API documents no limit on how many one request may name (unlike
    ``custom_fields=``, max 15, which the tap never sends: all custom fields come by default),
    so one list call carries them all. Extras not asked for leave the schema too."""

    @property
    def extras(self) -> tuple[str, ...]:
        setting = self.reader.config.get("include_fields", "all")  # before SDK init too
        return pipedrive_include.chosen(self.name, setting)

    def build_schema(self) -> dict[str, Any]:
        schema = super().build_schema()  # custom-field names planned against every extra
        custom_fields.remember(self.reader, self.name, self._custom_columns)
        dropped = set(pipedrive_include.INCLUDE_FIELDS.get(self.name, ())) - set(self.extras)
        for name in dropped:
            schema["properties"].pop(name, None)
        return schema

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if self.extras:
            params["include_fields"] = ",".join(self.extras)
        return params


WINDOW_SINCE = "updated_since"  # context keys of one window's request sequence
WINDOW_UNTIL = "updated_until"


def _update_time(row: dict[str, Any]) -> str | None:
    return normalize_time(row.get("update_time"))


class WindowedV2Stream(ExtrasV2Stream):
    """An entity list read as ``update_time`` windows side by side (``WindowedList``):
    a cursor list alone waits a round trip per page, so with many pages the rate budget
    idles. Records still leave in ``update_time`` order, so the bookmark stays resumable.
    Only for lists whose ``updated_until`` the API documents (deals, persons, organizations,
    activities; products document ``updated_since`` only)."""

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # get_records is the SDK's extension point for how records are produced; each
        # window is still one request sequence through request_records (pagination,
        # retries, error mapping, metrics, costs).
        return self.windowed(None)

    def windowed(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The list (``context`` picks it, as for ``get_url``) read as concurrent windows."""
        start = self.get_starting_timestamp(None)

        def read(since: str | None, until: str | None) -> Iterable[dict[str, Any]]:
            return self.request_records(
                {**(context or {}), WINDOW_SINCE: since, WINDOW_UNTIL: until}
            )

        windows = WindowedList(
            read,
            since=rfc3339(start) if start is not None else None,
            now=rfc3339(datetime.now(UTC)),
            time_of=_update_time,
            page_size=self.page_size,
            readers=int(self.config.get("max_concurrent_requests") or 8),
            name=self.name,
        )
        which = "archived " if context and context.get("archived") else ""

        def rows() -> Iterator[dict[str, Any]]:
            yield from windows
            self.log("%slist read as %d update_time windows", which, windows.windows_opened)

        # The probe is sent now, not at the first next(): two lists merged (deals and
        # archived deals) then start side by side instead of one racing ahead of the other.
        return rows()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if context and WINDOW_SINCE in context:
            since, until = context[WINDOW_SINCE], context[WINDOW_UNTIL]
            if since:
                params["updated_since"] = since
            else:
                params.pop("updated_since", None)
            if until:
                params["updated_until"] = until
        return params

    def get_starting_timestamp(self, context: Context | None) -> datetime | None:
        # Windows (and the archived marker) only shape requests: one bookmark for the stream.
        return super().get_starting_timestamp(None)


class DealsStream(WindowedV2Stream):
    """Deals, including deleted ones (the API keeps them 30 days) and archived ones, so a
    warehouse learns of deletions (``is_deleted``) and archiving (``is_archived``).

    Since 2025-07 ``/deals`` omits archived deals; they come from ``/deals/archived``. Both
    lists are read sorted by ``update_time`` and merged, so the stream stays in bookmark order
    (resumable) while reading two endpoints.
    """

    name = "deals"
    path = "/api/v2/deals"
    extra_params = {"status": "open,won,lost,deleted"}
    probe_paths = ("/api/v2/deals", "/api/v2/deals/archived")

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # get_records is the SDK's extension point for "records come from more than one
        # request sequence": two lists, each read as windows, merged in update_time order.
        def by_update_time(row: dict[str, Any]) -> str:
            return normalize_time(row.get("update_time")) or ""

        return heapq.merge(
            self.windowed(None), self.windowed({"archived": True}), key=by_update_time
        )

    def get_url(self, context: Context | None) -> str:
        url = super().get_url(None)
        return url + "/archived" if context and context.get("archived") else url


class PersonsStream(WindowedV2Stream):
    name = "persons"
    path = "/api/v2/persons"


class OrganizationsStream(WindowedV2Stream):
    name = "organizations"
    path = "/api/v2/organizations"


class ActivitiesStream(WindowedV2Stream):
    name = "activities"
    path = "/api/v2/activities"

    def plan_estimate(self, counts: costs.ParentCounts) -> None:
        pass  # not a parent: not worth a probe (one page counted, "at least")

    def estimate(self, counts: costs.ParentCounts) -> tuple[int, int, bool]:
        return PipedriveStream.estimate(self, counts)


class ProductsStream(ProbedV2Stream):
    name = "products"
    path = "/api/v2/products"


class PipelinesStream(V2Stream):
    name = "pipelines"
    path = "/api/v2/pipelines"


class StagesStream(V2Stream):
    name = "stages"
    path = "/api/v2/stages"


class _FieldsStream(V2Stream):
    primary_keys = ("field_code",)


class DealFieldsStream(_FieldsStream):
    name = "deal_fields"
    path = "/api/v2/dealFields"


class PersonFieldsStream(_FieldsStream):
    name = "person_fields"
    path = "/api/v2/personFields"


class OrganizationFieldsStream(_FieldsStream):
    name = "organization_fields"
    path = "/api/v2/organizationFields"


class ActivityFieldsStream(_FieldsStream):
    name = "activity_fields"
    path = "/api/v2/activityFields"


class ProductFieldsStream(_FieldsStream):
    name = "product_fields"
    path = "/api/v2/productFields"


class UsersStream(V1Stream):
    """Users exist only in v1 (``/v1/users``)."""

    name = "users"
    path = "/v1/users"
    _TIMES = ("created", "modified", "last_login")

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        for key in self._TIMES:
            if key in row:
                row[key] = normalize_time(row[key])
        return super().post_process(row, context)


class V1ListStream(V1Stream):
    """A v1 list read whole (FULL_TABLE) with start/limit paging where the API pages; its
    v1 times (``YYYY-MM-DD HH:MM:SS`` UTC) become RFC 3339."""

    _TIMES = ("add_time", "update_time")

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        for key in self._TIMES:
            if key in row:
                row[key] = normalize_time(row[key])
        return super().post_process(row, context)


_CUSTOM_KEY = re.compile(r"^[0-9a-f]{40}$")


class NewestFirstV1Stream(V1ListStream):
    """A v1 list without a change filter read incrementally: sorted by ``update_time``
    newest first, it stops at the first record older than the bookmark, so a run reads the
    changed records plus one page at most. Offset pages over a newest-first order cannot skip
    a record edited during the sync (it moves to the front; the others shift to later pages,
    so one may come twice, never not at all). Records come newest first, so the bookmark moves
    only when the stream is done (the SDK's unsorted mode): a run stopped inside it reads it
    again from the old bookmark. A record whose ``update_time`` is null sorts last: read by a
    first sync, then again only once it changes (and so gets one)."""

    replication_key = "update_time"
    is_sorted = False
    newest_first_sort = "update_time DESC"

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        params["sort"] = self.newest_first_sort
        return params

    def until_bookmark(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``rows`` up to the first one older than the bookmark (then no more pages)."""
        start = self.get_starting_timestamp(None)
        since = rfc3339(start) if start is not None else None
        for row in rows:
            if since is not None and (normalize_time(row.get("update_time")) or "") < since:
                return
            yield row

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # No read-ahead: a page fetched past the bookmark would be spent for nothing.
        return self.until_bookmark(self.request_records(context))


class LeadsStream(NewestFirstV1Stream):
    """Leads, archived ones included (v1: the API has no v2 leads list and no change filter),
    read incrementally newest first (see ``NewestFirstV1Stream``): the two lists one after
    the other, each up to the bookmark. Leads use the deal fields; their values arrive as
    top-level hash keys and are gathered into ``custom_fields`` like the v2 entities', and
    become readable typed columns from the deal fields, named by the same rule as the deals'
    columns (no extra request).

    Since 2025-04 the docs say ``/v1/leads`` lists only leads that are not archived and
    ``/v1/leads/archived`` the archived ones (``archived_status`` removed). Older accounts'
    docs honour ``archived_status``; asking ``not_archived`` on the main list keeps the two
    reads disjoint under either reading, so no lead comes twice.
    """

    name = "leads"
    path = "/v1/leads"
    _custom_columns: list[custom_fields.CustomColumn] = []  # set by build_schema

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # Two request sequences, one stream: get_records is the SDK's place for that.
        yield from self.until_bookmark(self.request_records(None))
        yield from self.until_bookmark(self.request_records({"archived": True}))

    def estimate(self, counts: Any) -> tuple[int, int, bool]:
        return 2, 2 * api.endpoint_cost("GET", self.path), False

    def get_url(self, context: Context | None) -> str:
        url = super().get_url(None)
        return url + "/archived" if context and context.get("archived") else url

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if not (context and context.get("archived")):
            params["archived_status"] = "not_archived"
        return params

    def build_schema(self) -> dict[str, Any]:
        schema = super().build_schema()
        self._custom_columns = custom_fields.lead_columns(self.reader, schema["properties"])
        custom_fields.add_to_schema(schema, self._custom_columns, with_labels=self.with_labels)
        return schema

    @property
    def with_labels(self) -> bool:
        return bool(self.reader.config.get("custom_field_option_labels", True))

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        hashes = [key for key in row if _CUSTOM_KEY.match(key)]
        row["custom_fields"] = {key: row.pop(key) for key in hashes}
        if self._custom_columns:
            custom_fields.apply(row, self._custom_columns, with_labels=self.with_labels)
        return super().post_process(row, context)


class LeadLabelsStream(V1ListStream):
    name = "lead_labels"
    path = "/v1/leadLabels"


class LeadSourcesStream(V1ListStream):
    name = "lead_sources"
    path = "/v1/leadSources"
    primary_keys = ("name",)


class ActivityTypesStream(V1ListStream):
    name = "activity_types"
    path = "/v1/activityTypes"


class CurrenciesStream(V1ListStream):
    name = "currencies"
    path = "/v1/currencies"


class FiltersStream(V1ListStream):
    name = "filters"
    path = "/v1/filters"


class FilesStream(NewestFirstV1Stream):
    """File metadata (never the files), deleted ones included (``active_flag`` false), read
    incrementally newest first (see ``NewestFirstV1Stream``)."""

    name = "files"
    path = "/v1/files"
    extra_params = {"include_deleted_files": 1}


class LeadFieldsStream(V1ListStream):
    name = "lead_fields"
    path = "/v1/leadFields"
    primary_keys = ("key",)


class NoteFieldsStream(V1ListStream):
    name = "note_fields"
    path = "/v1/noteFields"
    primary_keys = ("key",)


# ----------------------------------------------------------------------------- notes (v1)


class NotesPaginator(BaseAPIPaginator[tuple[str, int] | None]):
    """Keyset paging over ``/v1/notes`` sorted by update time.

    Plain start/limit paging over a list sorted by ``update_time`` skips a record whenever an
    earlier one is edited during the sync (everything shifts left by one). So each next page
    asks again with ``updated_since`` = the last update time seen and ``start`` = how many
    records of that very second were already read.
    """

    def __init__(self) -> None:
        super().__init__(None)

    def get_next(self, response: requests.Response) -> tuple[str, int] | None:
        body = parsed_body(response)
        pagination = v1_pagination(body)
        rows = body.get("data") or []
        if not pagination.get("more_items_in_collection") or not rows:
            return None
        last = normalize_time(rows[-1].get("update_time"))
        if last is None:
            return None
        same_second = sum(1 for row in rows if normalize_time(row.get("update_time")) == last)
        previous = self.current_value
        if previous and previous[0] == last:
            return (last, previous[1] + same_second)
        return (last, same_second)


class NotesStream(PipedriveStream):
    """Notes: v1 only (there is no v2 notes endpoint). Incremental on ``update_time`` through
    the v1 ``updated_since`` filter, sorted by update time then id."""

    name = "notes"
    path = "/v1/notes"
    replication_key = "update_time"
    is_sorted = True
    _TIMES = ("add_time", "update_time")

    def get_new_paginator(self) -> NotesPaginator:
        return NotesPaginator()

    def get_url_params(
        self, context: Context | None, next_page_token: tuple[str, int] | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "limit": self.page_size,
            "sort": "update_time ASC, id ASC",
            "start": 0,
        }
        if next_page_token:
            params["updated_since"], params["start"] = next_page_token
        else:
            start = self.get_starting_timestamp(context)
            if start is not None:
                params["updated_since"] = rfc3339(start)
        return params

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        for key in self._TIMES:
            row[key] = normalize_time(row.get(key))
        return super().post_process(row, context)


# ----------------------------------------------------------------------------- per-parent streams
# Each holds a ChangedParents (tap_crm/pipedrive/changed_parents.py): the parents changed
# since its bookmark, read concurrently (or many per call), with per-parent progress.


class FollowersChangelogStream(V2Stream):
    """The followers changelog of every parent changed since this stream's bookmark."""

    parents: ChangedParents
    parent_lists: ParentLists
    replication_key = PARENT_BOOKMARK
    is_sorted = True
    tolerate_missing = True  # a parent deleted between listing and reading has no changelog

    def __init__(self, tap: Tap, reader: AccountReader) -> None:
        super().__init__(tap, reader)
        example = self.path.replace("{" + self.parent_lists.id_key + "}", "1")
        self.parents = ChangedParents(self, self.parent_lists, child_path=example)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # Overriding get_records is the SDK's documented way to change how records are
        # produced; the per-parent requests still go through request_records (pagination,
        # retries, error mapping, metrics).
        return self.parents.read_each(context, self._changelog)

    def _changelog(self, parent_id: int) -> Iterable[dict[str, Any]]:
        return self.request_records({self.parent_lists.id_key: parent_id})

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row["time"] = normalize_time(row.get("time"))
        return super().post_process(row, context)


class DealFollowersChangelogStream(FollowersChangelogStream):
    name = "deal_followers_changelog"
    path = "/api/v2/deals/{deal_id}/followers/changelog"
    parent_lists = DEALS
    primary_keys = ("deal_id", "follower_user_id", "action", "time")


class PersonFollowersChangelogStream(FollowersChangelogStream):
    name = "person_followers_changelog"
    path = "/api/v2/persons/{person_id}/followers/changelog"
    parent_lists = PERSONS
    primary_keys = ("person_id", "follower_user_id", "action", "time")


class OrganizationFollowersChangelogStream(FollowersChangelogStream):
    name = "organization_followers_changelog"
    path = "/api/v2/organizations/{organization_id}/followers/changelog"
    parent_lists = ORGANIZATIONS
    primary_keys = ("organization_id", "follower_user_id", "action", "time")


class ProductFollowersChangelogStream(FollowersChangelogStream):
    name = "product_followers_changelog"
    path = "/api/v2/products/{product_id}/followers/changelog"
    parent_lists = PRODUCTS
    primary_keys = ("product_id", "follower_user_id", "action", "time")


class DealFlowStream(V1Stream):
    """The change history of each deal changed since the bookmark (v1 ``/deals/{id}/flow``:
    field changes, notes and files), several deals at once under the rate budget; one
    bookmark (``parent_update_time``), as for the followers changelogs."""

    name = "deal_flow"
    path = "/v1/deals/{deal_id}/flow"
    parents: ChangedParents
    primary_keys = ("deal_id", "object", "id")
    extra_params = {"all_changes": 1}  # custom-field changes too (the API leaves them out)
    replication_key = PARENT_BOOKMARK
    is_sorted = True
    tolerate_missing = True  # a deal deleted between listing and reading has no flow

    def __init__(self, tap: Tap, reader: AccountReader) -> None:
        super().__init__(tap, reader)
        self.parents = ChangedParents(self, DEALS, child_path="/v1/deals/1/flow")

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        return self.parents.read_each(context, self._of_deal)

    def _of_deal(self, deal_id: int) -> Iterable[dict[str, Any]]:
        return self.request_records({"deal_id": deal_id})

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        data = row.get("data")
        row["id"] = data.get("id") if isinstance(data, dict) else None
        row["timestamp"] = normalize_time(row.get("timestamp"))
        return super().post_process(row, context)


class DealChangelogStream(V2Stream):
    """The field changes of each deal changed since the bookmark (v1 ``/deals/{id}/changelog``,
    custom fields included, values as text), at half the price of ``deal_flow`` (20 tokens a
    deal, not 40), which also carries the deal's notes, files and activities. Offered instead
    of ``deal_flow`` with ``deal_history: changelog``. A v1 path, paged by cursor as the v2
    lists are; newest first."""

    name = "deal_changelog"
    path = "/v1/deals/{deal_id}/changelog"
    parents: ChangedParents
    # The endpoint gives a change no id: two changes of one field in one second are one here.
    primary_keys = ("deal_id", "field_key", "time")
    replication_key = PARENT_BOOKMARK
    is_sorted = True
    tolerate_missing = True  # a deal deleted between listing and reading has no changelog

    def __init__(self, tap: Tap, reader: AccountReader) -> None:
        super().__init__(tap, reader)
        self.parents = ChangedParents(self, DEALS, child_path="/v1/deals/1/changelog")

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        return self.parents.read_each(context, self._of_deal)

    def _of_deal(self, deal_id: int) -> Iterable[dict[str, Any]]:
        return self.request_records({"deal_id": deal_id})

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row["time"] = normalize_time(row.get("time"))
        return super().post_process(row, context)


# The deals whose items are read: a deleted deal's items are not served.
LIVE_DEALS = ParentLists(DEALS.paths, "deal_id", {"status": "open,won,lost"})
DEALS_PER_CALL = 100  # the most ``deal_ids`` one call takes


class _BulkDealChildStream(V2Stream):
    """Items of many deals per call (``deal_ids``, up to 100): the deals changed since the
    bookmark are listed, then read 100 at a time, not one request per deal."""

    parents: ChangedParents
    replication_key = PARENT_BOOKMARK
    is_sorted = True

    def __init__(self, tap: Tap, reader: AccountReader) -> None:
        super().__init__(tap, reader)
        self.parents = ChangedParents(
            self, LIVE_DEALS, child_path=self.path, per_call=DEALS_PER_CALL, skip_deleted=True
        )

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if context and context.get("deal_ids"):
            params["deal_ids"] = context["deal_ids"]
        return params

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        return self.parents.read_batches(context, self._items)

    def _items(self, deal_ids: list[int]) -> Iterable[dict[str, Any]]:
        return self.request_records({"deal_ids": ",".join(map(str, deal_ids))})


class DealProductsStream(_BulkDealChildStream):
    name = "deal_products"
    path = "/api/v2/deals/products"
    primary_keys = ("id",)


class DealInstallmentsStream(_BulkDealChildStream):
    """Installments exist on some plans only: a 403 skips the stream with one log line."""

    name = "deal_installments"
    path = "/api/v2/deals/installments"
    primary_keys = ("id",)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        try:
            yield from super().get_records(context)
        except FatalAPIError as exc:
            if "HTTP 403" not in str(exc) and "HTTP 402" not in str(exc):
                raise
            self.log("Skipped: %s", exc, level=logging.WARNING)


STREAM_TYPES: list[type[PipedriveStream]] = [
    DealsStream,
    PersonsStream,
    OrganizationsStream,
    ActivitiesStream,
    ProductsStream,
    PipelinesStream,
    StagesStream,
    UsersStream,
    DealFieldsStream,
    PersonFieldsStream,
    OrganizationFieldsStream,
    ActivityFieldsStream,
    ProductFieldsStream,
    NotesStream,
    LeadsStream,
    LeadLabelsStream,
    LeadSourcesStream,
    ActivityTypesStream,
    CurrenciesStream,
    FiltersStream,
    FilesStream,
    LeadFieldsStream,
    NoteFieldsStream,
    DealFollowersChangelogStream,
    DealFlowStream,
    DealChangelogStream,
    DealProductsStream,
    DealInstallmentsStream,
    PersonFollowersChangelogStream,
    OrganizationFollowersChangelogStream,
    ProductFollowersChangelogStream,
]


def before_sync(tap: Tap) -> None:
    """Log what the run expects to spend (docs/costs.md), before its first request."""
    streams = [s for s in tap.streams.values() if isinstance(s, PipedriveStream)]
    if streams:
        costs.log_estimate(streams[0].reader)


def discover_streams(tap: Tap) -> list[Stream]:
    reader = AccountReader(tap)
    if not reader.has_credentials:
        tap.logger.info(
            "No Pipedrive credentials: listing every stream with its base schema "
            "(custom-field columns need api_token or OAuth settings)"
        )
    history = tap.config.get("deal_history") or "flow"
    unused = DealFlowStream if history == "changelog" else DealChangelogStream
    return [stream_type(tap, reader) for stream_type in STREAM_TYPES if stream_type is not unused]
