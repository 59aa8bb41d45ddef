"""Organisations: ``OrgList``, ``OrgAdd``, ``OrgChange``, ``OrgDelete``; an OrgName and
Postcode already taken answers 409."""

from __future__ import annotations

import copy
from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    ApiError,
    missing,
    not_acceptable,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import accepted, created, listed_fragments
from crm_sandbox.onpipeline.records import existing, merge_extra, save_change
from crm_sandbox.onpipeline.select import extra_pairs, select
from crm_sandbox.onpipeline.state import ApiState
from crm_sandbox.onpipeline.store import Store

ORG_FILTERS = {
    k: k for k in ("OrgID", "OrgName", "Postcode", "City", "Region", "Country", "FullAddress")
}


class Organizations:
    def __init__(self, state: ApiState) -> None:
        self.state = state
        self._org_keys: dict[tuple[str, str], int] | None = None
        self._keys_of: Store | None = None  # the store the keys are of (reset makes a new one)

    def listing(self, body: dict[str, Any]) -> Response:
        return listed_fragments(self.state, select(self.state, "organizations", body, ORG_FILTERS))

    def org_keys(self) -> dict[tuple[str, str], int]:
        """(OrgName folded, Postcode) -> index of live organisations with a postcode."""
        if self._org_keys is None or self._keys_of is not self.state.store:
            self._keys_of = self.state.store
            self._org_keys = {}
            for index, record in self.state.store.records(
                "organizations", range(self.state.store.count("organizations"))
            ):
                if record["Postcode"]:
                    self._org_keys.setdefault(_org_key(record), index)
        return self._org_keys

    def _fields(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        address_changed = False
        for name in ("OrgName", "Address1", "Address2", "Postcode", "City", "Region", "Country"):
            if name in body:
                value = body[name]
                if isinstance(value, (dict, list)):
                    raise not_acceptable(f"{name} must be text")
                given = "" if value is None else str(value).strip()
                if name == "OrgName" and not given:
                    raise missing("OrgName")
                if record.get(name) != given:
                    record[name] = given
                    address_changed |= name != "OrgName"
        if text(body.get("FullAddress")) is not None:
            record["FullAddress"] = text(body["FullAddress"])
        elif address_changed:
            parts = [record["Address1"], f"{record['Postcode'] or ''} {record['City'] or ''}"]
            record["FullAddress"] = ", ".join(p.strip() for p in parts if p and p.strip())
        if "Extra" in body:
            merge_extra(record, extra_pairs(self.state, "Organizations", body["Extra"]))

    def _check_duplicate(self, record: dict[str, Any], index: int | None) -> None:
        if not record["Postcode"]:
            return
        other = self.org_keys().get(_org_key(record))
        if other is not None and other != index:
            raise ApiError(
                409,
                "Conflict - an organization with this OrgName and Postcode exists: "
                + self.state.store.id_of("organizations", other),
            )

    def add(self, body: dict[str, Any]) -> Response:
        require(body, "OrgName")
        now = self.state.now_ts()
        record: dict[str, Any] = {
            "OrgName": "", "Address1": "", "Address2": "", "Postcode": "", "City": "",
            "Region": "", "Country": "", "FullAddress": "", "Source": "API", "SourceName": "",
            "created": now, "modified": now, "extra": {},
        }  # fmt: skip
        self._fields(body, record)
        self._check_duplicate(record, None)
        index = self.state.store.add("organizations", record)
        if record["Postcode"]:
            self.org_keys()[_org_key(record)] = index
        return created(self.state, OrgID=self.state.store.id_of("organizations", index))

    def change(self, body: dict[str, Any]) -> Response:
        index, old = existing(self.state, "organizations", body, "OrgID")
        record = copy.deepcopy(old)
        self._fields(body, record)
        self._check_duplicate(record, index)
        save_change(self.state, "organizations", index, old, record)
        keys = self.org_keys()
        if old["Postcode"] and keys.get(_org_key(old)) == index:
            del keys[_org_key(old)]
        if record["Postcode"]:
            keys.setdefault(_org_key(record), index)
        return accepted(self.state, OrgID=self.state.store.id_of("organizations", index))

    def delete(self, body: dict[str, Any]) -> Response:
        index, old = existing(self.state, "organizations", body, "OrgID")
        keys = self.org_keys()
        if old["Postcode"] and keys.get(_org_key(old)) == index:
            del keys[_org_key(old)]
        self.state.store.delete("organizations", index)
        return accepted(self.state, OrgID=self.state.store.id_of("organizations", index))


def _org_key(record: dict[str, Any]) -> tuple[str, str]:
    return str(record["OrgName"]).strip().casefold(), str(record["Postcode"]).strip()
