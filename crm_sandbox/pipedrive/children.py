"""Handlers of what hangs off deals: products (one deal, or up to 100 deals per call),
installments (many deals per call; a plan feature that can be switched off), and the v1 flow
and changelog of one deal."""

from __future__ import annotations

import re
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import deal_items, flow
from crm_sandbox.pipedrive.params import (
    MAX_LIMIT,
    decode_cursor,
    dumps,
    encode_cursor,
    envelope,
    q_choice,
)
from crm_sandbox.pipedrive.params import q_limit as v2_limit
from crm_sandbox.pipedrive.store import Record
from crm_sandbox.pipedrive.v1 import V1Handlers, q_int
from crm_sandbox.pipedrive.validate import ERROR_INFO, Problem, failure, invalid

PRODUCT_SORTS = ("id", "deal_id", "add_time", "update_time")
ONE_DEAL_PRODUCT_SORTS = ("id", "add_time", "update_time")  # the reference page's list
INSTALLMENT_SORTS = ("id", "deal_id", "billing_date")
# the values the reference lists
FLOW_ITEMS = (
    "call", "activity", "plannedActivity", "change", "note", "deal", "file", "dealChange",
    "personChange", "organizationChange", "follower", "dealFollower", "personFollower",
    "organizationFollower", "participant", "comment", "mailMessage", "mailMessageWithAttachment",
    "invoice", "document", "marketing_campaign_stat", "marketing_status_change",
)  # fmt: skip


def feature_off(what: str) -> Problem:
    """A plan without the feature: 403 in the generic envelope, with a machine-readable code."""
    return Problem(
        Response.json(
            403,
            {
                "success": False,
                "error": f"{what} are not available in your current plan",
                "code": "feature_not_enabled",
                "error_info": ERROR_INFO,
                "data": None,
                "additional_data": None,
            },
        )
    )


def q_deal_ids(req: Request) -> list[int]:
    """``deal_ids``: required, integers, at most 100 (a comma list or repeated parameter)."""
    raw = ",".join(req.query.get("deal_ids", []))
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise invalid("deal_ids: is required")
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise invalid("deal_ids: must be an array of integers")
    if len(parts) > 100:
        raise invalid("deal_ids: must contain at most 100 ids")
    return sorted({int(p) for p in parts})


def keyset_page(req: Request, items: list[Record], sorts: tuple[str, ...]) -> tuple[Response, int]:
    """One v2 page of a small materialised list: keyset cursor over (sort field, id)."""
    limit = v2_limit(req)
    sort_by = q_choice(req, "sort_by", sorts, None)
    direction = q_choice(req, "sort_direction", ("asc", "desc"), None)
    after: tuple[Any, int] | None = None
    raw = req.arg("cursor")
    if raw:
        cursor = decode_cursor(raw)
        field, way = cursor.get("field"), cursor.get("sortDirection")
        if sort_by not in (None, field) or direction not in (None, way):
            raise invalid("cursor: does not match sort_by/sort_direction")
        if field not in sorts or way not in ("asc", "desc") or type(cursor.get("id")) is not int:
            raise invalid("cursor: invalid cursor")
        sort_by, direction = field, way
        after = (deal_items.sort_key({"v": cursor.get("fieldValue")}, "v"), cursor["id"])
    sort_by = sort_by or "id"
    desc = (direction or "asc") == "desc"
    keyed = sorted(
        ((deal_items.sort_key(i, sort_by), i["id"], i) for i in items),
        key=lambda x: (x[0], x[1]),
        reverse=desc,
    )
    if after is not None:
        try:
            keyed = [x for x in keyed if ((x[0], x[1]) < after if desc else (x[0], x[1]) > after)]
        except TypeError:  # a cursor whose value is not of the field's type
            raise invalid("cursor: invalid cursor") from None
    page = keyed[:limit]
    next_cursor = None
    if len(keyed) > limit:
        last = page[-1][2]
        next_cursor = encode_cursor(
            {"field": sort_by, "fieldValue": last.get(sort_by), "sortDirection": direction or "asc",
             "id": last["id"]}
        )  # fmt: skip
    return envelope([dumps(x[2]) for x in page], {"next_cursor": next_cursor}), len(page)


class DealChildHandlers(V1Handlers):
    def _served(self, answer: tuple[Response, int]) -> Response:
        self.ctx.counters.add("records_served", answer[1])
        return answer[0]

    def _visible_deals(self, ids: list[int]) -> list[int]:
        """Deals that exist and are not deleted (others are silently left out, as with ``ids``)."""
        deals = self.table("deals")
        return [d for d in ids if deals.exists(d) and not deals.col("deleted", d)]

    # ---- v2 deal products --------------------------------------------------------------
    def deals_products(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        ids = q_deal_ids(req)
        with self.store.lock:
            deals, products = self.table("deals"), self.table("products")
            items = [
                p
                for d in self._visible_deals(ids)
                for p in deal_items.products_of(deals, products, d)
            ]
            return self._served(keyset_page(req, items, PRODUCT_SORTS))

    def deal_products(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.store.lock:
            self.record_or_404("deals", rid, allow_deleted=False)
            items = deal_items.products_of(self.table("deals"), self.table("products"), rid)
            return self._served(keyset_page(req, items, ONE_DEAL_PRODUCT_SORTS))

    # ---- v2 installments ----------------------------------------------------------------
    def installments(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        if not self.features.get("installments", True):
            raise feature_off("Installments")
        ids = q_deal_ids(req)
        with self.store.lock:
            deals, products = self.table("deals"), self.table("products")
            items = [
                i
                for d in self._visible_deals(ids)
                for i in deal_items.installments_of(deals, products, d)
            ]
            return self._served(keyset_page(req, items, INSTALLMENT_SORTS))

    # ---- v1 deal changelog (field changes only; cursor paging; half the flow's price) -----
    def deal_changelog(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        limit = min(q_int(req, "limit") or 100, MAX_LIMIT)
        start = 0
        raw = req.arg("cursor")
        if raw:
            offset = decode_cursor(raw).get("offset")
            if type(offset) is not int or offset < 0:
                raise failure(400, "Bad request: invalid cursor")
            start = offset
        with self.store.lock:
            self.record_or_404("deals", rid)
            changes = list(reversed(flow.flow_of(self.table("deals"), rid)))  # newest first
        page = [flow.changelog_item(c) for c in changes[start : start + limit]]
        more = start + limit < len(changes)
        cursor = encode_cursor({"offset": start + limit}) if more else None
        return envelope([dumps(i) for i in page], {"next_cursor": cursor})

    # ---- v1 deal flow -------------------------------------------------------------------
    def deal_flow(self, req: Request, entity: str, params: dict[str, str]) -> Response:
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
        with self.store.lock:
            self.record_or_404("deals", rid)
            rows: list[Record] = []
            if kinds & {"change", "dealChange"}:
                rows += [
                    {"object": "dealChange", "timestamp": c["log_time"], "data": c}
                    for c in flow.flow_of(self.table("deals"), rid)
                    if all_changes or not flow.is_custom(c)
                ]
            for kind, entity in (("note", "notes"), ("file", "files")):
                if kind in kinds:
                    t = self.table(entity)
                    for row in flow.attached(t, rid):
                        item = t.get(row)
                        rows.append({"object": kind, "timestamp": item["add_time"], "data": item})
            # newest first, as the app's history; ties by kind and id, so pages are stable
            rows.sort(key=lambda r: (r["timestamp"], r["object"], r["data"]["id"]), reverse=True)
        return self._v1_page(req, rows)
