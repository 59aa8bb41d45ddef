"""v1 leads: ``/leads`` (not archived), ``/leads/archived``, one lead, labels and sources."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import leads
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.paging import v1_table_page
from crm_sandbox.pipedrive.endpoints.v1_query import parse_sort, q_int
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.validate import failure

LEAD_SORTS = ("id", "title", "owner_id", "creator_id", "was_seen", "expected_close_date",
              "next_activity_id", "add_time", "update_time")  # fmt: skip
LEAD_FILTERS = (("owner_id", "owner_id"), ("person_id", "person_id"), ("org_id", "organization_id"))
ARCHIVED_STATUS = {"archived": (1,), "not_archived": (0,), "all": (0, 1)}


class LeadEndpoints:
    def __init__(self, account: Account) -> None:
        self.account = account

    def page(self, req: Request, entity: str, params: dict[str, str]) -> Response:
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
        with self.account.store.lock:
            t = self.account.table("leads")
            archived = t.cols["archived"]
            cols = [(t.cols[c], v) for c, v in checks]

            def keep(rid: int) -> bool:
                i = rid - 1
                return archived[i] in want and all(col[i] == v for col, v in cols)

            response, served = v1_table_page(req, t, sort, keep)
        self.account.ctx.counters.add("records_served", served)
        return response

    def get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.account.store.lock:
            t = self.account.table("leads")
            rid = leads.row_of(t, params["lead_id"])
            if rid is None:
                raise failure(404, "Lead not found")
            return ok(t.get(rid))

    def labels(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(self.account.table("leads").aux["labels"])

    def sources(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(leads.lead_sources())
