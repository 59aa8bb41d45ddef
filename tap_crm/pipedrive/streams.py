"""Pipedrive streams, the Pipedrive settings, and ``discover_streams``.

v2 entity lists are incremental on ``update_time``; small reference lists are read whole;
``notes`` come from v1; the followers changelogs visit only the parents changed since their
bookmark, several requests in flight under the shared rate budget.
"""

from __future__ import annotations

import collections
import concurrent.futures
import heapq
import logging
import math
import re
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import BaseAPIPaginator

from crm_api import pipedrive as api
from crm_api import pipedrive_include
from tap_crm.pipedrive import costs, custom_fields
from tap_crm.pipedrive.client import (
    IncrementalV2Stream,
    OffsetPaginator,
    PipedriveAccount,
    PipedriveStream,
    V2Stream,
    normalize_time,
    parsed_body,
    read_ahead,
    rfc3339,
    v1_pagination,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime

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


def _since(stream: PipedriveStream) -> str | None:
    """Where the stream's next sync starts (read before it starts, when the SDK does not
    know it yet): its bookmark, else start_date."""
    value = stream.stream_state.get("replication_key_value") or stream.config.get("start_date")
    return normalize_time(value) if isinstance(value, str) else None


class ProbedV2Stream(IncrementalV2Stream):
    """An entity list whose changed records the run's estimate counts (``costs``): the
    parents of the per-parent streams."""

    probe_paths: tuple[str, ...] = ()

    def plan_estimate(self, counts: costs.ParentCounts) -> None:
        for path in self.probe_paths or (self.path,):
            if counts.probed(path):
                counts.want(self.name, path, costs.Tally(_since(self)))

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
        setting = self.account.config.get("include_fields", "all")  # before SDK init too
        return pipedrive_include.chosen(self.name, setting)

    def build_schema(self) -> dict[str, Any]:
        schema = super().build_schema()  # custom-field names planned against every extra
        custom_fields.remember(self.account, self.name, self._custom_columns)
        dropped = set(pipedrive_include.INCLUDE_FIELDS.get(self.name, ())) - set(self.extras)
        for name in dropped:
            schema["properties"].pop(name, None)
        return schema

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if self.extras:
            params["include_fields"] = ",".join(self.extras)
        return params


class DealsStream(ExtrasV2Stream):
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
        # request sequence"; each list still goes through request_records.
        def by_update_time(row: dict[str, Any]) -> str:
            return normalize_time(row.get("update_time")) or ""

        return heapq.merge(
            read_ahead(self.request_records(None), chunk=self.page_size),
            read_ahead(self.request_records({"archived": True}), chunk=self.page_size),
            key=by_update_time,
        )

    def get_url(self, context: Context | None) -> str:
        url = super().get_url(None)
        return url + "/archived" if context and context.get("archived") else url

    def get_starting_timestamp(self, context: Context | None) -> datetime | None:
        # The "archived" marker only picks the endpoint: one bookmark for the whole stream.
        return super().get_starting_timestamp(None)


class PersonsStream(ExtrasV2Stream):
    name = "persons"
    path = "/api/v2/persons"


class OrganizationsStream(ExtrasV2Stream):
    name = "organizations"
    path = "/api/v2/organizations"


class ActivitiesStream(ExtrasV2Stream):
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


class UsersStream(PipedriveStream):
    """Users exist only in v1 (``/v1/users``)."""

    name = "users"
    path = "/v1/users"
    _TIMES = ("created", "modified", "last_login")

    def get_new_paginator(self) -> OffsetPaginator:
        return OffsetPaginator()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {"limit": self.page_size, "start": next_page_token or 0}

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        for key in self._TIMES:
            if key in row:
                row[key] = normalize_time(row[key])
        return super().post_process(row, context)


class V1ListStream(PipedriveStream):
    """A v1 list read whole (FULL_TABLE) with start/limit paging where the API pages; its
    v1 times (``YYYY-MM-DD HH:MM:SS`` UTC) become RFC 3339."""

    _TIMES = ("add_time", "update_time")

    def get_new_paginator(self) -> OffsetPaginator:
        return OffsetPaginator()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        return {**self.extra_params, "limit": self.page_size, "start": next_page_token or 0}

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
        self._custom_columns = custom_fields.lead_columns(self.account, schema["properties"])
        custom_fields.add_to_schema(schema, self._custom_columns, with_labels=self.with_labels)
        return schema

    @property
    def with_labels(self) -> bool:
        return bool(self.account.config.get("custom_field_option_labels", True))

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


# ----------------------------------------------------------------------------- followers changelog

PARENTS_READ = "parents_read"  # state key of the per-parent streams, see _parent_done


class FollowersChangelogStream(V2Stream):
    """The followers changelog of every parent changed since this stream's bookmark.

    Not an SDK child stream, on purpose: the SDK syncs children inline, one request at a time,
    and keeps one state partition per parent (state growing with the account). Instead this
    stream lists its changed parents itself (``updated_since`` = its bookmark, sorted by
    ``update_time``), fetches several changelogs at once in a bounded thread pool (all requests
    share the account's RequestBudget, so together they stay under the rate limit), and yields
    the records in parent order. Each record carries the parent's id and the parent's
    ``update_time`` (``parent_update_time``), which is the bookmark: one value, resumable.
    """

    parent_paths: tuple[str, ...] = ()
    parent_id_key = ""
    parent_params: dict[str, Any] = {}
    replication_key = "parent_update_time"
    is_sorted = True
    tolerate_missing = True  # a parent deleted between listing and reading has no changelog
    child_path_example = ""  # a child request's path, for its token cost in the estimate

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # Overriding get_records is the SDK's documented way to change how records are
        # produced; the per-parent requests still go through request_records (pagination,
        # retries, error mapping, metrics).
        in_flight = int(self.config.get("max_concurrent_requests") or 8)
        pending: collections.deque[
            tuple[int, str | None, concurrent.futures.Future[list[dict[str, Any]]]]
        ] = collections.deque()
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=in_flight, thread_name_prefix=self.name
        ) as pool:
            try:
                for parent_id, parent_update_time in self._changed_parents(context):
                    future = pool.submit(self._changelog, parent_id)
                    pending.append((parent_id, parent_update_time, future))
                    if len(pending) >= 2 * in_flight:
                        yield from self._finish(pending.popleft())
                while pending:
                    yield from self._finish(pending.popleft())
            finally:
                for _, _, future in pending:
                    future.cancel()

    def _finish(
        self,
        item: tuple[int, str | None, concurrent.futures.Future[list[dict[str, Any]]]],
    ) -> Iterator[dict[str, Any]]:
        parent_id, parent_update_time, future = item
        for row in future.result():
            row[self.parent_id_key] = parent_id
            row["parent_update_time"] = parent_update_time
            yield row
        # Resumed here only once the SDK has written the last of them: the parent is done.
        self._parent_done(parent_id, parent_update_time)

    # -- progress per parent, not per record: a parent without children moves the bookmark
    # too, and the parents already read at the bookmark's own second are named in the state
    # (``parents_read``: that second and their ids, never more than that second holds), so
    # the next run, which lists from that second again (``updated_since`` is inclusive),
    # skips them instead of reading their children again.

    per_parent_stream = True  # the estimate plans these first (costs.log_estimate)
    per_parent = True  # one request per parent (else per batch of batch_size deals)
    batch_size = 100
    skip_deleted = False

    def plan_estimate(self, counts: costs.ParentCounts) -> None:
        read_at, read_ids = self._already_read()
        for path in self.parent_paths:
            tally = costs.Tally(_since(self), read_at, read_ids, self.skip_deleted)
            counts.want(self.name, path, tally)

    def estimate(self, counts: costs.ParentCounts) -> tuple[int, int, bool]:
        requests = tokens = to_read = 0
        precise = True
        for path in self.parent_paths:
            tally = counts.get(self.name, path)
            precise = precise and tally is not None
            n = costs.pages(tally.listed if tally else 0, self.page_size)
            requests += n
            tokens += n * api.endpoint_cost("GET", path)
            to_read += tally.to_read if tally else 0
        calls = to_read if self.per_parent else math.ceil(to_read / self.batch_size)
        requests += calls
        tokens += calls * api.endpoint_cost("GET", self.child_path_example or self.path)
        return requests, tokens, precise

    def _already_read(self) -> tuple[str | None, set[int]]:
        entry = self.stream_state.get(PARENTS_READ) or {}
        at = entry.get("at") if isinstance(entry, dict) else None
        ids = entry.get("ids") if isinstance(entry, dict) else None
        return (at if isinstance(at, str) else None), {int(i) for i in ids or []}

    def _parent_done(self, parent_id: int, updated: str | None) -> None:
        if updated is None:
            return
        state = self.stream_state
        entry = state.get(PARENTS_READ)
        if isinstance(entry, dict) and entry.get("at") == updated:
            if parent_id not in entry["ids"]:
                entry["ids"].append(parent_id)
        elif not isinstance(entry, dict) or str(entry.get("at") or "") < updated:
            state[PARENTS_READ] = {"at": updated, "ids": [parent_id]}
        current = state.get("replication_key_value")
        if current is None or str(current) < updated:
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = updated
        self.state_manager.is_flushed = False  # the stream's last STATE must carry this

    def _changelog(self, parent_id: int) -> list[dict[str, Any]]:
        return list(self.request_records({self.parent_id_key: parent_id}))

    def _changed_parents(self, context: Context | None) -> Iterator[tuple[int, str | None]]:
        params: dict[str, Any] = {
            **self.parent_params,
            "sort_by": "update_time",
            "sort_direction": "asc",
        }
        start = self.get_starting_timestamp(context)
        if start is not None:
            params["updated_since"] = rfc3339(start)
        read_at, read_ids = self._already_read()
        lists = [
            api.iter_v2(
                self.requests_session,
                self.url_base + path,
                params,
                page_size=self.page_size,
                what=f"stream '{self.name}' listing changed parents",
                **self.account.request_settings,
            )
            for path in self.parent_paths
        ]
        # Several parent lists (deals and archived deals) merge into one update_time order.
        for parent in heapq.merge(
            *lists, key=lambda row: normalize_time(row.get("update_time")) or ""
        ):
            parent_id, updated = int(parent["id"]), normalize_time(parent.get("update_time"))
            if updated is not None and updated == read_at and parent_id in read_ids:
                continue  # read at the bookmark's second by an earlier run, unchanged since
            yield parent_id, updated

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row["time"] = normalize_time(row.get("time"))
        return super().post_process(row, context)


class DealFollowersChangelogStream(FollowersChangelogStream):
    name = "deal_followers_changelog"
    child_path_example = "/api/v2/deals/1/followers/changelog"
    path = "/api/v2/deals/{deal_id}/followers/changelog"
    parent_paths = ("/api/v2/deals", "/api/v2/deals/archived")
    parent_id_key = "deal_id"
    parent_params = {"status": "open,won,lost,deleted"}
    primary_keys = ("deal_id", "follower_user_id", "action", "time")


class PersonFollowersChangelogStream(FollowersChangelogStream):
    name = "person_followers_changelog"
    child_path_example = "/api/v2/persons/1/followers/changelog"
    path = "/api/v2/persons/{person_id}/followers/changelog"
    parent_paths = ("/api/v2/persons",)
    parent_id_key = "person_id"
    primary_keys = ("person_id", "follower_user_id", "action", "time")


class OrganizationFollowersChangelogStream(FollowersChangelogStream):
    name = "organization_followers_changelog"
    child_path_example = "/api/v2/organizations/1/followers/changelog"
    path = "/api/v2/organizations/{organization_id}/followers/changelog"
    parent_paths = ("/api/v2/organizations",)
    parent_id_key = "organization_id"
    primary_keys = ("organization_id", "follower_user_id", "action", "time")


class ProductFollowersChangelogStream(FollowersChangelogStream):
    name = "product_followers_changelog"
    child_path_example = "/api/v2/products/1/followers/changelog"
    path = "/api/v2/products/{product_id}/followers/changelog"
    parent_paths = ("/api/v2/products",)
    parent_id_key = "product_id"
    primary_keys = ("product_id", "follower_user_id", "action", "time")


class DealFlowStream(FollowersChangelogStream):
    """The change history of each deal changed since the bookmark (v1 ``/deals/{id}/flow``:
    field changes, notes and files), several deals at once under the rate budget; one
    bookmark (``parent_update_time``), as for the followers changelogs."""

    name = "deal_flow"
    child_path_example = "/v1/deals/1/flow"
    path = "/v1/deals/{deal_id}/flow"
    parent_paths = ("/api/v2/deals", "/api/v2/deals/archived")
    parent_id_key = "deal_id"
    parent_params = {"status": "open,won,lost,deleted"}
    primary_keys = ("deal_id", "object", "id")

    def get_new_paginator(self) -> OffsetPaginator:  # type: ignore[override]
        return OffsetPaginator()

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        # all_changes=1: custom-field changes too (the API leaves them out otherwise)
        return {"limit": self.page_size, "start": next_page_token or 0, "all_changes": 1}

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        data = row.get("data")
        row["id"] = data.get("id") if isinstance(data, dict) else None
        row["timestamp"] = normalize_time(row.get("timestamp"))
        return PipedriveStream.post_process(self, row, context)


class DealChangelogStream(FollowersChangelogStream):
    """The field changes of each deal changed since the bookmark (v1 ``/deals/{id}/changelog``,
    custom fields included, values as text), at half the price of ``deal_flow`` (20 tokens a
    deal, not 40), which also carries the deal's notes, files and activities. Offered instead
    of ``deal_flow`` with ``deal_history: changelog``. Cursor-paged, newest first."""

    name = "deal_changelog"
    path = "/v1/deals/{deal_id}/changelog"
    child_path_example = "/v1/deals/1/changelog"
    parent_paths = ("/api/v2/deals", "/api/v2/deals/archived")
    parent_id_key = "deal_id"
    parent_params = {"status": "open,won,lost,deleted"}
    # The endpoint gives a change no id: two changes of one field in one second are one here.
    primary_keys = ("deal_id", "field_key", "time")

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row["time"] = normalize_time(row.get("time"))
        return PipedriveStream.post_process(self, row, context)


class _BulkDealChildStream(FollowersChangelogStream):
    """Items of many deals per call (``deal_ids``, up to 100): the deals changed since the
    bookmark are listed, then read 100 at a time, not one request per deal. A batch's items
    are put in deal order before they are emitted, so the bookmark stays resumable."""

    parent_paths = ("/api/v2/deals", "/api/v2/deals/archived")
    parent_id_key = "deal_id"
    parent_params = {"status": "open,won,lost"}  # a deleted deal's items are not served
    deals_per_call = 100
    tolerate_missing = False
    per_parent = False
    skip_deleted = True

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        params = super().get_url_params(context, next_page_token)
        if context and context.get("deal_ids"):
            params["deal_ids"] = context["deal_ids"]
        return params

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        batch: list[tuple[int, str | None]] = []
        for parent in self._changed_parents(context):
            batch.append(parent)
            if len(batch) == self.deals_per_call:
                yield from self._read_batch(batch)
                batch = []
        if batch:
            yield from self._read_batch(batch)

    def _read_batch(self, batch: list[tuple[int, str | None]]) -> Iterator[dict[str, Any]]:
        order = {deal_id: (n, updated) for n, (deal_id, updated) in enumerate(batch)}
        ids = ",".join(str(deal_id) for deal_id, _ in batch)
        rows = list(self.request_records({"deal_ids": ids}))  # at most 100 deals' items
        missing: tuple[int, str | None] = (len(order), None)
        rows.sort(key=lambda row: order.get(int(row.get("deal_id") or 0), missing)[0])
        for row in rows:
            row["parent_update_time"] = order.get(int(row.get("deal_id") or 0), missing)[1]
            yield row
        for deal_id, updated in batch:  # every deal of the batch is done (items or none)
            self._parent_done(deal_id, updated)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        return PipedriveStream.post_process(self, row, context)


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
        costs.log_estimate(streams[0].account)


def discover_streams(tap: Tap) -> list[Stream]:
    account = PipedriveAccount(tap)
    if not account.has_credentials:
        tap.logger.info(
            "No Pipedrive credentials: listing every stream with its base schema "
            "(custom-field columns need api_token or OAuth settings)"
        )
    history = tap.config.get("deal_history") or "flow"
    unused = DealFlowStream if history == "changelog" else DealChangelogStream
    return [stream_type(tap, account) for stream_type in STREAM_TYPES if stream_type is not unused]
