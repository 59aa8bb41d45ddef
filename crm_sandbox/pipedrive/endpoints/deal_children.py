"""What hangs off deals in v2: products (of one deal, or of up to 100 deals per call) and
installments (many deals per call; a plan feature that can be switched off)."""

from __future__ import annotations

import re

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import deal_items
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.paging import keyset_page
from crm_sandbox.pipedrive.validate import feature_off, invalid

PRODUCT_SORTS = ("id", "deal_id", "add_time", "update_time")
ONE_DEAL_PRODUCT_SORTS = ("id", "add_time", "update_time")  # the reference page's list
INSTALLMENT_SORTS = ("id", "deal_id", "billing_date")


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


class DealChildren:
    def __init__(self, account: Account) -> None:
        self.account = account

    def of_deals(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        ids = q_deal_ids(req)
        with self.account.store.lock:
            deals, products = self.account.table("deals"), self.account.table("products")
            items = [
                p
                for d in self._visible_deals(ids)
                for p in deal_items.products_of(deals, products, d)
            ]
            return self._served(keyset_page(req, items, PRODUCT_SORTS))

    def of_deal(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.account.store.lock:
            self.account.record_or_404("deals", rid, allow_deleted=False)
            deals, products = self.account.table("deals"), self.account.table("products")
            items = deal_items.products_of(deals, products, rid)
            return self._served(keyset_page(req, items, ONE_DEAL_PRODUCT_SORTS))

    def installments(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        if not self.account.features.get("installments", True):
            raise feature_off("Installments")
        ids = q_deal_ids(req)
        with self.account.store.lock:
            deals, products = self.account.table("deals"), self.account.table("products")
            items = [
                i
                for d in self._visible_deals(ids)
                for i in deal_items.installments_of(deals, products, d)
            ]
            return self._served(keyset_page(req, items, INSTALLMENT_SORTS))

    def _visible_deals(self, ids: list[int]) -> list[int]:
        """Deals that exist and are not deleted (others are silently left out, as with ``ids``)."""
        deals = self.account.table("deals")
        return [d for d in ids if deals.exists(d) and not deals.col("deleted", d)]

    def _served(self, answer: tuple[Response, int]) -> Response:
        self.account.ctx.counters.add("records_served", answer[1])
        return answer[0]
