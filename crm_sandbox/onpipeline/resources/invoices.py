"""Invoices: ``InvoiceList`` (a date window) and ``InvoiceItems`` (the lines of one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    ApiError,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import listed, listed_fragments
from crm_sandbox.onpipeline.select import date_bound
from crm_sandbox.onpipeline.state import ApiState


class Invoices:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def listing(self, body: dict[str, Any]) -> Response:
        require(body, "MinDate", "MaxDate")
        lo = date_bound(body, "MinDate")
        hi = date_bound(body, "MaxDate")
        assert lo is not None  # _require checked both
        assert hi is not None
        # Invoice dates are the UTC day of creation, so the window is a bisection.
        lo_ts = int(datetime.fromisoformat(lo).replace(tzinfo=UTC).timestamp())
        hi_ts = int(datetime.fromisoformat(hi).replace(tzinfo=UTC).timestamp()) + 86399
        store = self.state.store
        records = store.records("invoices", store.indexes("invoices", lo_ts, hi_ts))
        fragments = (self.state.fragment("invoices", i, r) for i, r in records)
        return listed_fragments(self.state, fragments)

    def items(self, body: dict[str, Any]) -> Response:
        require(body, "ID")
        index = self.state.store.index_of("invoices", text(body["ID"]))
        invoice = None if index is None else self.state.store.get("invoices", index)
        if index is None or invoice is None:
            raise ApiError(404, f"Not Found - no invoice with ID {text(body['ID'])}")
        return listed(self.state, invoice["items"], ID=self.state.store.id_of("invoices", index))
