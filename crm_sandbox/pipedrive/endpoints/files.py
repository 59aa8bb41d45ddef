"""v1 file metadata: the list (deleted files on request) and one file."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.paging import v1_table_page
from crm_sandbox.pipedrive.endpoints.v1_query import parse_sort
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.validate import failure

FILE_SORTS = ("id", "user_id", "deal_id", "person_id", "org_id", "product_id", "add_time",
              "update_time", "file_name", "file_type", "file_size")  # fmt: skip


class FileEndpoints:
    def __init__(self, account: Account) -> None:
        self.account = account

    def page(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        sort = parse_sort(req.arg("sort"), FILE_SORTS, "id ASC")
        flag = req.arg("include_deleted_files") or "0"
        if flag not in ("0", "1"):
            raise failure(400, "include_deleted_files must be 0 or 1")
        with self.account.store.lock:
            t = self.account.table("files")
            deleted = t.cols["deleted"]
            with_deleted = flag == "1"
            response, served = v1_table_page(
                req, t, sort, lambda rid: with_deleted or not deleted[rid - 1]
            )
        self.account.ctx.counters.add("records_served", served)
        return response

    def get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.account.store.lock:
            return ok(self.account.record_or_404("files", int(params["id"])))
