"""v2 single records: ``GET``, ``POST``, ``PATCH`` and ``DELETE /api/v2/<entity>[/{id}]``."""

from __future__ import annotations

import copy
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import extras, flow, timefmt, writes
from crm_sandbox.pipedrive import validate as v
from crm_sandbox.pipedrive.account import Account, body_json, without
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.validate import failure, feature_off, invalid
from crm_sandbox.pipedrive.writes import CUSTOM_OF, REQUIRED_ON_CREATE, SCHEMAS


class EntityRecords:
    def __init__(self, account: Account) -> None:
        self.account = account

    def get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        account = self.account
        include = extras.requested(req.arg("include_fields"), entity)
        if include:
            account.ctx.counters.add("include_fields_requests")
        with account.store.lock:
            rid = int(params["id"])
            record = account.record_or_404(entity, rid)
            if include:
                shown = extras.compute(account.store, account.world, entity, rid, record, include)
                record = {**record, **shown}
            return ok(without(record, account.hidden_fields(entity)))

    def create(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        account = self.account
        body = body_json(req)
        self._refuse_hidden(entity, body)
        customs = account.world.fields[CUSTOM_OF[entity]].by_key() if entity in CUSTOM_OF else None
        with account.store.lock:
            clean = v.check_body(body, SCHEMAS[entity], customs, account.exists)
            required = REQUIRED_ON_CREATE.get(entity)
            if required and not clean.get(required):
                raise invalid(f"{required}: is required")
            if entity == "persons" and not clean.get("name"):
                if clean.get("first_name") and clean.get("last_name"):
                    clean["name"] = f"{clean['first_name']} {clean['last_name']}"
                else:
                    raise invalid("name: is required (or both first_name and last_name)")
            if clean.get("is_deleted"):
                raise invalid("is_deleted: can not create an already deleted entity")
            t = account.table(entity)
            rid = t.n + 1
            now = account.now()
            attendees = clean.pop("attendees", None)
            record = writes.blank(account.world, entity, rid, now)
            writes.apply(account.world, entity, record, clean, now, creating=True)
            t.put(rid, record)
            if attendees is not None:  # shown only through include_fields
                t.aux.setdefault("attendees", {})[rid] = attendees
            account.written()
            return ok(record)

    def update(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        account = self.account
        body = body_json(req)
        self._refuse_hidden(entity, body)
        customs = account.world.fields[CUSTOM_OF[entity]].by_key() if entity in CUSTOM_OF else None
        rid = int(params["id"])
        with account.store.lock:
            current = account.record_or_404(entity, rid, allow_deleted=False)
            clean = v.check_body(body, SCHEMAS[entity], customs, account.exists)
            if clean.get("is_deleted"):
                raise invalid("is_deleted: use DELETE to delete an entity")
            if "add_time" in clean:
                raise v.not_allowed("add_time")
            if (
                entity == "deals"
                and current.get("is_archived")
                and clean.get("is_archived") is not False
            ):
                raise failure(403, "Archived deals can not be edited; set is_archived false first")
            now = account.now()
            attendees = clean.pop("attendees", None)
            record = copy.deepcopy(current)
            writes.apply(account.world, entity, record, clean, now, creating=False)
            t = account.table(entity)
            t.put(rid, record)
            if attendees is not None:  # shown only through include_fields
                t.aux.setdefault("attendees", {})[rid] = attendees
            if entity == "deals":
                flow.record_changes(t, rid, current, record, now)
            account.written()
            return ok(record)

    def delete(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        account = self.account
        rid = int(params["id"])
        with account.store.lock:
            current = account.record_or_404(entity, rid, allow_deleted=False)
            record = copy.deepcopy(current)
            record["is_deleted"] = True
            record["update_time"] = timefmt.iso(account.now())
            t = account.table(entity)
            t.put(rid, record)
            if entity == "deals":
                flow.record_changes(t, rid, current, record, account.now())
            account.written()
        return ok({"id": rid})

    def _refuse_hidden(self, entity: str, body: Any) -> None:
        hidden = self.account.hidden_fields(entity)
        if hidden and isinstance(body, dict) and set(body) & set(hidden):
            raise feature_off("Contact-sync fields (" + ", ".join(hidden) + ")")
