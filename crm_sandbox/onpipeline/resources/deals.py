"""Deals: ``DealsList``, ``DealAdd``, ``DealChange``, ``DealDelete``, ``DealUndelete``.

``DealsList`` leaves deleted deals out unless ``Status`` or ``DealID`` is given."""

from __future__ import annotations

import copy
from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    missing,
    money,
    not_acceptable,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import accepted, created, listed_fragments
from crm_sandbox.onpipeline.records import existing, link, merge_extra, save_change
from crm_sandbox.onpipeline.render import EMPTY_DATE
from crm_sandbox.onpipeline.select import date_bound, extra_pairs, select
from crm_sandbox.onpipeline.state import ApiState

DEAL_FILTERS = {
    k: k
    for k in ("DealID", "Status", "OwnerID", "LinkedPersonID", "LinkedOrgID", "Pipeline", "Stage")
} | {"LostReason": "LostReason"}


class Deals:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def listing(self, body: dict[str, Any]) -> Response:
        min_closed = date_bound(body, "MinClosed")
        max_closed = date_bound(body, "MaxClosed")
        product = text(body.get("Products"))
        product = product.casefold() if product else None
        show_deleted = text(body.get("Status")) is not None or text(body.get("DealID")) is not None

        def keep(r: dict[str, Any]) -> bool:
            if (min_closed or max_closed) and not r["Closed"]:
                return False
            if min_closed and r["Closed"] < min_closed:
                return False
            if max_closed and r["Closed"] > max_closed:
                return False
            return not product or any(p.casefold() == product for p in r["Products"])

        return listed_fragments(
            self.state,
            select(
                self.state,
                "deals",
                body,
                DEAL_FILTERS,
                keep=keep if (min_closed or max_closed or product) else None,
                ranges=[("NextEvent", "NextEvent")],
                without_deleted_deals=not show_deleted,
            ),
        )

    def _fields(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        if "DealName" in body:
            name = text(body["DealName"])
            if name is None:
                raise missing("DealName")
            record["DealName"] = name
        if text(body.get("Status")) is not None:
            status = str(text(body["Status"])).lower()
            if status not in ("open", "won", "lost"):
                raise not_acceptable("Status must be open, won or lost")
            if status != record["Status"]:
                record["Status"] = status
                today = self.state.local.format(self.state.now_ts())[:10]  # the account's local day
                record["Closed"] = "" if status == "open" else today
        if text(body.get("Value")) is not None:
            record["Value"] = money(body["Value"])
        if text(body.get("Probability")) is not None:
            probability = str(text(body["Probability"]))
            if not probability.isdigit() or int(probability) > 100:
                raise not_acceptable("Probability must be an integer 0-100")
            record["Probability"] = str(int(probability))
        if text(body.get("StageID")) is not None:
            stage = str(text(body["StageID"]))
            if self.state.store.stages.get(stage, ("",))[0] != record["pipeline"]:
                raise not_acceptable(f"StageID {stage} is not a stage of this pipeline")
            record["stage"] = stage
        if text(body.get("OwnerID")) is not None:
            owner = str(text(body["OwnerID"]))
            if owner not in self.state.store.users:
                raise not_acceptable(f"OwnerID {owner} is not a user")
            record["OwnerID"] = owner
        if "LinkedPersonID" in body:
            record["person"] = link(self.state, "persons", body["LinkedPersonID"], "LinkedPersonID")
        if "LinkedOrgID" in body:
            record["org"] = link(self.state, "organizations", body["LinkedOrgID"], "LinkedOrgID")
        if "Involved" in body:
            if not isinstance(body["Involved"], list):
                raise not_acceptable("Involved must be a list of person IDs")
            involved = [link(self.state, "persons", p, "Involved") for p in body["Involved"]]
            record["Involved"] = sorted({p for p in involved if p >= 0})
        if "ExpClosing" in body:
            value = text(body["ExpClosing"])
            if value in (None, EMPTY_DATE):
                record["ExpClosing"] = ""
            else:
                record["ExpClosing"] = date_bound(body, "ExpClosing")
        if "Products" in body:
            products = body["Products"]
            if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
                raise not_acceptable("Products must be a list of product names")
            record["Products"] = list(dict.fromkeys(p.strip() for p in products if p.strip()))
        if "Extra" in body:
            merge_extra(record, extra_pairs(self.state, "Deals", body["Extra"]))

    def add(self, body: dict[str, Any]) -> Response:
        require(body, "DealName", "PipelineID", "StageID", "OwnerID")
        pipeline = str(text(body["PipelineID"]))
        if pipeline not in self.state.store.pipelines:
            raise not_acceptable(f"PipelineID {pipeline} is not a pipeline")
        now = self.state.now_ts()
        admin = next(iter(self.state.store.users))
        record: dict[str, Any] = {
            "DealName": "", "Status": "open", "Value": "0.00", "Probability": "0",
            "pipeline": pipeline, "stage": "", "OwnerID": "", "person": -1, "org": -1,
            "Involved": [], "created": now, "CreatedbyID": admin, "ExpClosing": "",
            "Closed": "", "NextEvent": None, "modified": now, "Products": [], "LostReason": "",
            "Description": "", "EmailsSent": "0", "EmailsReceived": "0", "extra": {},
        }  # fmt: skip
        self._fields(body, record)
        if record["org"] < 0 and record["person"] >= 0:  # the person's organisation
            person = self.state.store.get("persons", record["person"])
            org = person["org"] if person else -1
            record["org"] = org if self.state.store.org_name(org) is not None else -1
        index = self.state.store.add("deals", record)
        return created(self.state, DealID=self.state.store.id_of("deals", index))

    def change(self, body: dict[str, Any]) -> Response:
        index, old = existing(self.state, "deals", body, "DealID")
        if old["Status"] == "deleted":
            raise not_acceptable("the deal is deleted (DealUndelete restores it)")
        record = copy.deepcopy(old)
        self._fields(body, record)
        save_change(self.state, "deals", index, old, record)
        return accepted(self.state, DealID=self.state.store.id_of("deals", index))

    def _set_status(self, body: dict[str, Any], deleted: bool) -> Response:
        index, old = existing(self.state, "deals", body, "DealID")
        if (old["Status"] == "deleted") == deleted:
            state = "already deleted" if deleted else "not deleted"
            raise not_acceptable(f"the deal is {state}")
        record = dict(old, Status="deleted" if deleted else "open", modified=self.state.now_ts())
        if not deleted:
            record["Closed"] = ""
        self.state.store.put("deals", index, record)
        return accepted(self.state, DealID=self.state.store.id_of("deals", index))

    def delete(self, body: dict[str, Any]) -> Response:
        return self._set_status(body, deleted=True)

    def undelete(self, body: dict[str, Any]) -> Response:
        return self._set_status(body, deleted=False)
