"""Custom fields: ``ListCustomFields``, ``FieldAdd``, ``FieldDelete``."""

from __future__ import annotations

from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.onpipeline.checks import (
    ApiError,
    not_acceptable,
    require,
    text,
)
from crm_sandbox.onpipeline.envelopes import accepted, created, ok
from crm_sandbox.onpipeline.select import TABLES
from crm_sandbox.onpipeline.state import ApiState


class CustomFields:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    def _table(self, body: dict[str, Any]) -> str:
        require(body, "Table")
        table = TABLES.get(str(text(body["Table"])).lower())
        if table is None:
            raise not_acceptable("Table must be Persons, Organizations or Deals")
        return table

    def listing(self, body: dict[str, Any]) -> Response:
        table = self._table(body)
        return ok(self.state, self.state.store.custom_fields[table], Table=table)

    def add(self, body: dict[str, Any]) -> Response:
        table = self._table(body)
        require(body, "Name")
        self.state.store.field_serial += 1
        field_id = str(1_000_000_000 + self.state.store.field_serial)
        self.state.store.custom_fields[table].append(
            {"Name": str(text(body["Name"])), "ID": field_id}
        )
        return created(self.state, ID=field_id)

    def delete(self, body: dict[str, Any]) -> Response:
        require(body, "ID")
        field_id = str(text(body["ID"]))
        for fields in self.state.store.custom_fields.values():
            for position, f in enumerate(fields):
                if f["ID"] == field_id:
                    del fields[position]
                    return accepted(self.state, ID=field_id)
        raise ApiError(404, f"Not Found - no custom field with ID {field_id}")
