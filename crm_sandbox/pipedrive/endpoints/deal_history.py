"""A deal's history in v1: ``/deals/{id}/flow`` (changes, notes, files; 40 tokens) and
``/deals/{id}/changelog`` (field changes only, cursor paging; half the price)."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import flow
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.paging import v1_list_page
from crm_sandbox.pipedrive.endpoints.v1_query import q_int
from crm_sandbox.pipedrive.params import MAX_LIMIT, decode_cursor, dumps, encode_cursor, envelope
from crm_sandbox.pipedrive.store import Record
from crm_sandbox.pipedrive.validate import failure

# the values the reference lists
FLOW_ITEMS = (
    "call", "activity", "plannedActivity", "change", "note", "deal", "file", "dealChange",
    "personChange", "organizationChange", "follower", "dealFollower", "personFollower",
    "organizationFollower", "participant", "comment", "mailMessage", "mailMessageWithAttachment",
    "invoice", "document", "marketing_campaign_stat", "marketing_status_change",
)  # fmt: skip


class DealHistory:
    def __init__(self, account: Account) -> None:
        self.account = account

    def changelog(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        limit = min(q_int(req, "limit") or 100, MAX_LIMIT)
        start = 0
        raw = req.arg("cursor")
        if raw:
            offset = decode_cursor(raw).get("offset")
            if type(offset) is not int or offset < 0:
                raise failure(400, "Bad request: invalid cursor")
            start = offset
        with self.account.store.lock:
            self.account.record_or_404("deals", rid)
            changes = list(reversed(flow.flow_of(self.account.table("deals"), rid)))  # newest first
        page = [flow.changelog_item(c) for c in changes[start : start + limit]]
        more = start + limit < len(changes)
        cursor = encode_cursor({"offset": start + limit}) if more else None
        return envelope([dumps(i) for i in page], {"next_cursor": cursor})

    def flow(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        wanted = req.arg("items")
        kinds = {"change", "note", "file"}  # what the sandbox keeps of a deal's history
        if wanted:
            kinds = {k.strip() for k in wanted.split(",") if k.strip()}
            unknown = kinds - set(FLOW_ITEMS)
            if unknown:
                first = sorted(unknown)[0]
                raise failure(400, f"Bad request: unknown item type {first!r} in items")
        all_changes = req.arg("all_changes") == "1"  # custom-field changes only on request
        account = self.account
        with account.store.lock:
            account.record_or_404("deals", rid)
            rows: list[Record] = []
            if kinds & {"change", "dealChange"}:
                rows += [
                    {"object": "dealChange", "timestamp": c["log_time"], "data": c}
                    for c in flow.flow_of(account.table("deals"), rid)
                    if all_changes or not flow.is_custom(c)
                ]
            for kind, attached_to in (("note", "notes"), ("file", "files")):
                if kind in kinds:
                    t = account.table(attached_to)
                    for row in flow.attached(t, rid):
                        item = t.get(row)
                        rows.append({"object": kind, "timestamp": item["add_time"], "data": item})
            # newest first, as the app's history; ties by kind and id, so pages are stable
            rows.sort(key=lambda r: (r["timestamp"], r["object"], r["data"]["id"]), reverse=True)
        return v1_list_page(req, rows)
