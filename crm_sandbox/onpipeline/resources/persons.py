"""Persons: ``PersonList``, ``PersonAdd``, ``PersonChange``, ``PersonDelete``."""

from __future__ import annotations

import copy
from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    contacts,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import accepted, created, listed_fragments
from crm_sandbox.onpipeline.records import existing, link, merge_extra, save_change
from crm_sandbox.onpipeline.select import extra_pairs, select
from crm_sandbox.onpipeline.state import ApiState

# Equality filters: request field -> field of the rendered object (case-insensitive match).
PERSON_FILTERS = {
    "PersonID": "PersonID",
    "Organization": "OrgName",
    "OrganizationID": "OrgID",
    "OrgID": "OrgID",  # the document's tip: "list all person of an organization with OrgID"
    "Fullname": "Fullname",
}
EMAIL_TYPES = ("work", "home", "other")
PHONE_TYPES = ("work", "home", "mobile", "other")


class Persons:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def listing(self, body: dict[str, Any]) -> Response:
        return listed_fragments(
            self.state,
            select(
                self.state, "persons", body, PERSON_FILTERS, ranges=[("NextEvent", "NextEvent")]
            ),
        )

    def _fields(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        for name in ("FirstName", "LastName"):
            if name in body and text(body[name]) is not None:
                record[name] = text(body[name])
        if "OrgID" in body:
            record["org"] = link(self.state, "organizations", body["OrgID"], "OrgID")
        if "Email" in body:
            record["Email"] = contacts(body["Email"], "Email", "Address", EMAIL_TYPES)
        if "Phone" in body:
            record["Phone"] = contacts(body["Phone"], "Phone", "Number", PHONE_TYPES)
        if "Extra" in body:
            merge_extra(record, extra_pairs(self.state, "Persons", body["Extra"]))

    def add(self, body: dict[str, Any]) -> Response:
        require(body, "FirstName", "LastName")
        now = self.state.now_ts()
        record: dict[str, Any] = {
            "FirstName": "", "LastName": "", "org": -1, "NextEvent": None, "EmailsSent": "0",
            "EmailsReceived": "0", "Source": "API", "SourceName": "", "created": now,
            "modified": now, "Email": [], "Phone": [], "extra": {},
        }  # fmt: skip
        self._fields(body, record)
        index = self.state.store.add("persons", record)
        return created(self.state, PersonID=self.state.store.id_of("persons", index))

    def change(self, body: dict[str, Any]) -> Response:
        index, old = existing(self.state, "persons", body, "PersonID")
        record = copy.deepcopy(old)
        self._fields(body, record)
        save_change(self.state, "persons", index, old, record)
        return accepted(self.state, PersonID=self.state.store.id_of("persons", index))

    def delete(self, body: dict[str, Any]) -> Response:
        index, _ = existing(self.state, "persons", body, "PersonID")
        self.state.store.delete("persons", index)
        return accepted(self.state, PersonID=self.state.store.id_of("persons", index))
