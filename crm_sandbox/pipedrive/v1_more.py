"""The other v1 endpoints a full extract reads: leads (+ labels, sources), activity types,
currencies, filters, file metadata, lead and note fields. Offset paging where the API pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import catalog, leads
from crm_sandbox.pipedrive.children import DealChildHandlers
from crm_sandbox.pipedrive.data import START
from crm_sandbox.pipedrive.fields import v1_items
from crm_sandbox.pipedrive.params import MAX_LIMIT, dumps, envelope, ok
from crm_sandbox.pipedrive.store import Table
from crm_sandbox.pipedrive.timefmt import v1 as v1_time
from crm_sandbox.pipedrive.v1 import _index_order, _notes_ids, q_int
from crm_sandbox.pipedrive.validate import failure

LEAD_SORTS = ("id", "title", "owner_id", "creator_id", "was_seen", "expected_close_date",
              "next_activity_id", "add_time", "update_time")  # fmt: skip
LEAD_FILTERS = (("owner_id", "owner_id"), ("person_id", "person_id"), ("org_id", "organization_id"))
ARCHIVED_STATUS = {"archived": (1,), "not_archived": (0,), "all": (0, 1)}
FILE_SORTS = ("id", "user_id", "deal_id", "person_id", "org_id", "product_id", "add_time",
              "update_time", "file_name", "file_type", "file_size")  # fmt: skip


def parse_sort(raw: str | None, allowed: tuple[str, ...], default: str) -> list[tuple[str, bool]]:
    """v1 ``sort``: "field ASC, field2 DESC" (ASC when no direction)."""
    out = []
    for part in (raw or default).split(","):
        words = part.split()
        if not words or len(words) > 2 or words[0] not in allowed:
            fields = ", ".join(allowed)
            raise failure(400, f"Invalid sort field: {part.strip()!r}; use one of {fields}")
        way = words[1].upper() if len(words) == 2 else "ASC"
        if way not in ("ASC", "DESC"):
            raise failure(400, f"Invalid sort direction in {part.strip()!r}; use ASC or DESC")
        out.append((words[0], way == "DESC"))
    return out


class MoreV1Handlers(DealChildHandlers):
    def _table_page(
        self,
        req: Request,
        t: Table,
        sort: list[tuple[str, bool]],
        keep: Callable[[int], bool],
    ) -> Response:
        """Offset page of a table: index walk for id/add_time/update_time, else all matches."""
        start = q_int(req, "start", minimum=0) or 0
        limit = min(q_int(req, "limit") or 100, MAX_LIMIT)
        simple = _index_order(sort)
        if simple is not None:
            field, desc = simple
            found: list[int] = []
            for rid in t.scan(field, desc, None):
                if keep(rid):
                    found.append(rid)
                    if len(found) > start + limit:
                        break
        else:
            found = _notes_ids(t, sort, keep, None, None)
        page, more = found[start : start + limit], len(found) > start + limit
        items = [dumps(t.get(rid)) for rid in page]
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        self.ctx.counters.add("records_served", len(items))
        return envelope(items, {"pagination": pagination})

    # ---- leads ------------------------------------------------------------------------
    def leads_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        """``/leads`` lists the not archived leads, ``/leads/archived`` the archived ones (the
        docs since July 2025). The older docs' ``archived_status`` (archived, not_archived, all)
        is still honoured on ``/leads``: the newer docs dropped it, the live API may ignore it."""
        if req.arg("filter_id"):
            raise failure(400, "filter_id: saved filters are not simulated by crm-sandbox")
        want: tuple[int, ...] = (1,) if req.path.rstrip("/").endswith("/archived") else (0,)
        status = req.arg("archived_status")
        if status and want == (0,):
            if status not in ARCHIVED_STATUS:
                raise failure(400, "archived_status must be one of archived, not_archived, all")
            want = ARCHIVED_STATUS[status]
        sort = parse_sort(req.arg("sort"), LEAD_SORTS, "add_time ASC")
        checks = [
            (column, value)
            for column, name in LEAD_FILTERS
            if (value := q_int(req, name)) is not None
        ]
        with self.store.lock:
            t = self.table("leads")
            archived = t.cols["archived"]
            cols = [(t.cols[c], v) for c, v in checks]

            def keep(rid: int) -> bool:
                i = rid - 1
                return archived[i] in want and all(col[i] == v for col, v in cols)

            return self._table_page(req, t, sort, keep)

    def lead_get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.store.lock:
            t = self.table("leads")
            rid = leads.row_of(t, params["lead_id"])
            if rid is None:
                raise failure(404, "Lead not found")
            return ok(t.get(rid))

    def lead_labels(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(self.table("leads").aux["labels"])

    def lead_sources(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(leads.lead_sources())

    # ---- small lists -------------------------------------------------------------------
    def activity_types(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(catalog.activity_types())

    def currencies(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        term = (req.arg("term") or "").casefold()
        return ok(
            [
                c
                for c in catalog.currencies()
                if term in c["code"].casefold() or term in c["name"].casefold()
            ]
        )

    def filters_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        kind = req.arg("type")
        if kind and kind not in catalog.FILTER_TYPES:
            raise failure(400, f"type must be one of {', '.join(catalog.FILTER_TYPES)}")
        return ok([f for f in catalog.filters(self.world) if not kind or f["type"] == kind])

    def lead_fields(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        stamp = v1_time(START - 86400 * 30)
        return self._v1_page(req, v1_items(catalog.lead_fields(self.world), stamp))

    def note_fields(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        stamp = v1_time(START - 86400 * 30)
        return self._v1_page(req, v1_items(catalog.note_fields(), stamp))

    # ---- files ----------------------------------------------------------------------------
    def files_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        sort = parse_sort(req.arg("sort"), FILE_SORTS, "id ASC")
        flag = req.arg("include_deleted_files") or "0"
        if flag not in ("0", "1"):
            raise failure(400, "include_deleted_files must be 0 or 1")
        with self.store.lock:
            t = self.table("files")
            deleted = t.cols["deleted"]
            with_deleted = flag == "1"
            return self._table_page(req, t, sort, lambda rid: with_deleted or not deleted[rid - 1])

    def file_get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.store.lock:
            return ok(self.record_or_404("files", int(params["id"])))
