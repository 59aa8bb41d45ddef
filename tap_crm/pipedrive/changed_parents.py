"""Reading the children of the parents changed since a stream's bookmark: a component the
per-parent streams (followers changelogs, deal flow and changelog, deal products and
installments) hold and call, whatever kind of list their children come from.

Not SDK child streams, on purpose: the SDK syncs children inline, one request at a time, and
keeps one state partition per parent (state growing with the account). Instead the stream's
``ChangedParents`` lists the parents changed since the bookmark (``updated_since``, sorted by
``update_time``), the stream's own requests read their children (several at once in a bounded
thread pool, or many parents per call), and the records come out in parent order, each with
the parent's ``update_time`` (``parent_update_time``), which is the bookmark: one value,
resumable.

Progress is kept per parent, not per record: a parent without children moves the bookmark
too, and the parents already read at the bookmark's own second are named in the state
(``parents_read``: that second and their ids, never more than that second holds), so the next
run, which lists from that second again (``updated_since`` is inclusive), skips them instead of
reading their children again.
"""

from __future__ import annotations

import collections
import concurrent.futures
import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crm_api import pipedrive as api
from tap_crm.pipedrive import costs
from tap_crm.pipedrive.client import bookmark_or_start, normalize_time, rfc3339

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_crm.pipedrive.client import PipedriveStream

PARENTS_READ = "parents_read"  # state key: the bookmark's second and the parents read in it
PARENT_BOOKMARK = "parent_update_time"  # the replication key of every per-parent stream

Parent = tuple[int, str | None]  # a parent's id and its update_time
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ParentLists:
    """Where a per-parent stream's parents come from: v2 lists (merged in ``update_time``
    order), the query they are listed with, and the key naming the parent in a record."""

    paths: tuple[str, ...]
    id_key: str
    params: Mapping[str, Any] = field(default_factory=dict)


DEALS = ParentLists(
    ("/api/v2/deals", "/api/v2/deals/archived"), "deal_id", {"status": "open,won,lost,deleted"}
)
PERSONS = ParentLists(("/api/v2/persons",), "person_id")
ORGANIZATIONS = ParentLists(("/api/v2/organizations",), "organization_id")
PRODUCTS = ParentLists(("/api/v2/products",), "product_id")


class ChangedParents:
    """The changed parents of one stream: listing them, reading their children through the
    stream's requests, the per-parent progress in the stream's state, and the estimate."""

    def __init__(
        self,
        stream: PipedriveStream,
        lists: ParentLists,
        *,
        child_path: str,
        per_call: int = 1,
        skip_deleted: bool = False,
    ) -> None:
        self.stream = stream
        self.lists = lists
        self.child_path = child_path  # one child request's path, for its token cost
        self.per_call = per_call  # parents read by one child request
        self.skip_deleted = skip_deleted  # deleted parents are not listed (the estimate)

    # -- listing

    def changed(self, context: Context | None) -> Iterator[Parent]:
        """The parents changed since the bookmark, in ``update_time`` order, but those read at
        the bookmark's own second by an earlier run."""
        stream = self.stream
        params: dict[str, Any] = {
            **self.lists.params,
            "sort_by": "update_time",
            "sort_direction": "asc",
        }
        start = stream.get_starting_timestamp(context)
        if start is not None:
            params["updated_since"] = rfc3339(start)
        read_at, read_ids = self.already_read()
        lists = [
            stream.reader.iter_v2(
                path,
                params,
                what=f"stream '{stream.name}' listing changed parents",
                page_size=stream.page_size,
            )
            for path in self.lists.paths
        ]
        # Several parent lists (deals and archived deals) merge into one update_time order.
        for parent in heapq.merge(
            *lists, key=lambda row: normalize_time(row.get("update_time")) or ""
        ):
            parent_id, updated = int(parent["id"]), normalize_time(parent.get("update_time"))
            if updated is not None and updated == read_at and parent_id in read_ids:
                continue  # read at the bookmark's second by an earlier run, unchanged since
            yield parent_id, updated

    # -- reading children

    def read_each(
        self, context: Context | None, children: Callable[[int], Iterable[dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        """The children of every changed parent (``children(parent_id)``, several parents in
        flight), in parent order, each marked with its parent; a parent is done (in the state)
        once the SDK has written the last of its records."""
        in_flight = int(self.stream.config.get("max_concurrent_requests") or 8)
        pending: collections.deque[tuple[Parent, concurrent.futures.Future[Rows]]] = (
            collections.deque()
        )
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=in_flight, thread_name_prefix=self.stream.name
        ) as pool:
            try:
                for parent in self.changed(context):
                    pending.append((parent, pool.submit(lambda p: list(children(p)), parent[0])))
                    if len(pending) >= 2 * in_flight:
                        yield from self._finish(*pending.popleft())
                while pending:
                    yield from self._finish(*pending.popleft())
            finally:
                for _, future in pending:
                    future.cancel()

    def _finish(
        self, parent: Parent, future: concurrent.futures.Future[Rows]
    ) -> Iterator[dict[str, Any]]:
        parent_id, updated = parent
        for row in future.result():
            row[self.lists.id_key] = parent_id
            row[PARENT_BOOKMARK] = updated
            yield row
        # Resumed here only once the SDK has written the last of them: the parent is done.
        self.done(parent_id, updated)

    def read_batches(
        self, context: Context | None, children: Callable[[list[int]], Iterable[dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        """The children of the changed parents, ``per_call`` parents a request
        (``children(parent_ids)``): a batch's records are put in parent order before they are
        emitted, so the bookmark stays resumable."""
        batch: list[Parent] = []
        for parent in self.changed(context):
            batch.append(parent)
            if len(batch) == self.per_call:
                yield from self._read_batch(batch, children)
                batch = []
        if batch:
            yield from self._read_batch(batch, children)

    def _read_batch(
        self, batch: list[Parent], children: Callable[[list[int]], Iterable[dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        key = self.lists.id_key
        order = {parent_id: (n, updated) for n, (parent_id, updated) in enumerate(batch)}
        rows = list(children([parent_id for parent_id, _ in batch]))
        missing: Parent = (len(order), None)
        rows.sort(key=lambda row: order.get(int(row.get(key) or 0), missing)[0])
        for row in rows:
            row[PARENT_BOOKMARK] = order.get(int(row.get(key) or 0), missing)[1]
            yield row
        for parent_id, updated in batch:  # every parent of the batch is done (children or none)
            self.done(parent_id, updated)

    # -- progress in the stream's state

    def already_read(self) -> tuple[str | None, set[int]]:
        entry = self.stream.stream_state.get(PARENTS_READ) or {}
        at = entry.get("at") if isinstance(entry, dict) else None
        ids = entry.get("ids") if isinstance(entry, dict) else None
        return (at if isinstance(at, str) else None), {int(i) for i in ids or []}

    def done(self, parent_id: int, updated: str | None) -> None:
        if updated is None:
            return
        stream = self.stream
        state = stream.stream_state
        entry = state.get(PARENTS_READ)
        if isinstance(entry, dict) and entry.get("at") == updated:
            if parent_id not in entry["ids"]:
                entry["ids"].append(parent_id)
        elif not isinstance(entry, dict) or str(entry.get("at") or "") < updated:
            state[PARENTS_READ] = {"at": updated, "ids": [parent_id]}
        current = state.get("replication_key_value")
        if current is None or str(current) < updated:
            state["replication_key"] = stream.replication_key
            state["replication_key_value"] = updated
        stream.state_manager.is_flushed = False  # the stream's last STATE must carry this

    # -- the run's estimate (costs)

    def plan_estimate(self, counts: costs.ParentCounts) -> None:
        read_at, read_ids = self.already_read()
        for path in self.lists.paths:
            tally = costs.Tally(
                bookmark_or_start(self.stream), read_at, read_ids, self.skip_deleted
            )
            counts.want(self.stream.name, path, tally)

    def estimate(self, counts: costs.ParentCounts) -> tuple[int, int, bool]:
        requests = tokens = to_read = 0
        precise = True
        for path in self.lists.paths:
            tally = counts.get(self.stream.name, path)
            precise = precise and tally is not None
            n = costs.pages(tally.listed if tally else 0, self.stream.page_size)
            requests += n
            tokens += n * api.endpoint_cost("GET", path)
            to_read += tally.to_read if tally else 0
        calls = math.ceil(to_read / self.per_call)
        requests += calls
        tokens += calls * api.endpoint_cost("GET", self.child_path)
        return requests, tokens, precise
