"""Small v1 lists of the account's set-up: activity types, currencies, saved filters, and the
lead and note field definitions."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import catalog
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.field_lists import FIELDS_STAMP
from crm_sandbox.pipedrive.endpoints.paging import v1_list_page
from crm_sandbox.pipedrive.fields import v1_items
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.timefmt import v1 as v1_time
from crm_sandbox.pipedrive.validate import failure


class CatalogEndpoints:
    def __init__(self, account: Account) -> None:
        self.account = account

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

    def filters(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        kind = req.arg("type")
        if kind and kind not in catalog.FILTER_TYPES:
            raise failure(400, f"type must be one of {', '.join(catalog.FILTER_TYPES)}")
        return ok([f for f in catalog.filters(self.account.world) if not kind or f["type"] == kind])

    def lead_fields(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        items = v1_items(catalog.lead_fields(self.account.world), v1_time(FIELDS_STAMP))
        return v1_list_page(req, items)

    def note_fields(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return v1_list_page(req, v1_items(catalog.note_fields(), v1_time(FIELDS_STAMP)))
