"""``/_sandbox/pipedrive/...``: what tests and benchmarks need to see or change directly.

- ``GET ids/<entity>``, ``GET records/<entity>/<id>`` (leads by UUID): the stored records.
- ``POST touch`` ``{"entity": ..., "ids": [...]}`` or ``{"entity": ..., "count": n}``: a change
  made "in the CRM" (not an API write): one value and ``update_time`` change.
- ``GET/POST features``: plan features (``{"installments": false}`` makes installments 403).
- ``GET fields``: the custom fields per entity; ``POST oauth/code``: an authorization code
  without the browser round trip.
"""

from __future__ import annotations

import copy
import json
import random
import re
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import data, deal_items, flow, leads, timefmt, writes
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.oauth import OAuthServer
from crm_sandbox.pipedrive.store import Record
from crm_sandbox.pipedrive.validate import Problem, failure

CONTROL_ENTITIES = (
    "deals", "persons", "organizations", "activities", "products", "pipelines", "stages",
    "notes", "leads", "files", "deal_products", "installments", "lead_labels", "users",
)  # fmt: skip
TOUCHABLE = (
    "deals", "persons", "organizations", "activities", "products", "pipelines", "stages",
    "notes", "leads", "files", "deal_products",
)  # fmt: skip
CHILDREN_OF = {"deal_products": deal_items.products_of, "installments": deal_items.installments_of}
SLOTS_OF = {"deal_products": deal_items.PER_DEAL, "installments": deal_items.INSTALLMENT_SLOTS}


class PipedriveControl:
    def __init__(self, account: Account, oauth: OAuthServer) -> None:
        self.account = account
        self.oauth = oauth

    def answer(self, request: Request) -> Response | None:
        """The answer to a control request, or None when the path is not one of these."""
        path = request.path.rstrip("/")
        try:
            m = re.fullmatch(r"/ids/(\w+)", path)
            if m and request.method == "GET":
                entity = _entity(m[1])
                return Response.json(200, {"ids": self.all_ids(entity)})
            m = re.fullmatch(r"/records/(\w+)/([\w-]+)", path)
            if m and request.method == "GET":
                entity = _entity(m[1])
                if entity == "lead_labels":
                    record = self.lead_label(m[2])
                elif entity == "leads":  # named by UUID
                    record = self.raw_record(entity, self.resolve_lead(m[2]) or 0)
                else:
                    record = self.raw_record(entity, int(m[2]) if m[2].isdigit() else 0)
                if record is None:
                    return Response.json(404, {"error": f"no {m[1]} with id {m[2]}"})
                return Response.json(200, record)
            if path == "/touch" and request.method == "POST":
                return self._touch_request(request)
            if path == "/features":
                return self._features(request)
            if path == "/fields" and request.method == "GET":
                return Response.json(200, self._custom_fields())
            if path == "/oauth/code" and request.method == "POST":
                return self._mint_code(request)
        except Problem as problem:
            return problem.response
        return None

    # ---- looking ------------------------------------------------------------------------
    def all_ids(self, entity: str) -> list[Any]:
        account = self.account
        if entity == "users":
            return [u["id"] for u in account.world.users]
        with account.store.lock:
            if entity in ("deal_products", "installments"):
                deals, products = account.table("deals"), account.table("products")
                of = CHILDREN_OF[entity]
                return [item["id"] for d in deals.ids() for item in of(deals, products, d)]
            if entity == "lead_labels":
                return [label["id"] for label in account.table("leads").aux["labels"]]
            t = account.table(entity)
            if entity == "leads":
                return [leads.lead_uuid(t, rid) for rid in t.ids()]
            return list(t.ids())

    def raw_record(self, entity: str, rid: int) -> Record | None:
        account = self.account
        if entity == "users":
            users = account.world.users
            return users[rid - 1] if 1 <= rid <= len(users) else None
        with account.store.lock:
            if entity in ("deal_products", "installments"):
                deals, products = account.table("deals"), account.table("products")
                slots = SLOTS_OF[entity]
                deal = (rid - 1) // slots + 1
                if not deals.exists(deal):
                    return None
                of = CHILDREN_OF[entity]
                found = [i for i in of(deals, products, deal) if i["id"] == rid]
                return copy.deepcopy(found[0]) if found else None
            t = account.table(entity)
            return copy.deepcopy(t.get(rid)) if t.exists(rid) else None

    def lead_label(self, label_id: str) -> Record | None:
        labels = self.account.table("leads").aux["labels"]
        return next((dict(label) for label in labels if label["id"] == label_id), None)

    def resolve_lead(self, lead_id: str) -> int | None:
        with self.account.store.lock:
            return leads.row_of(self.account.table("leads"), lead_id)

    def _custom_fields(self) -> dict[str, Any]:
        return {
            entity: [
                {"key": f.key, "name": f.name, "field_type": f.field_type} for f in fields.custom
            ]
            for entity, fields in self.account.world.fields.items()
        }

    # ---- changing -----------------------------------------------------------------------
    def _touch_request(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return Response.json(400, {"error": "the body must be JSON"})
        entity = body.get("entity") if isinstance(body, dict) else None
        if entity not in TOUCHABLE:
            return Response.json(400, {"error": f"entity must be one of {TOUCHABLE}"})
        ids, count = body.get("ids"), body.get("count")
        if entity == "leads" and isinstance(ids, list):  # leads are named by their UUIDs
            rows = [self.resolve_lead(i) if isinstance(i, str) else None for i in ids]
            if None in rows:
                return Response.json(404, {"error": "ids must be UUIDs of existing leads"})
            ids = rows
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
            return Response.json(400, {"error": "ids must be a list of integers"})
        if ids is None and not (isinstance(count, int) and count > 0):
            return Response.json(400, {"error": 'give "ids": [...] or "count": n'})
        if entity == "deal_products":
            return Response.json(200, self.touch_deal_products(ids, count))
        return Response.json(200, self.touch(entity, ids, count))

    def touch(self, entity: str, ids: list[int] | None, count: int | None) -> dict[str, Any]:
        account = self.account
        with account.store.lock:
            t = account.table(entity)
            if ids is None:
                editable = entity == "deals"  # archived deals can't be edited
                live = [
                    rid
                    for rid in t.ids()
                    if not t.col("deleted", rid) and not (editable and t.col("archived", rid))
                ]
                picker = random.Random(f"{account.ctx.settings.seed}:{entity}:{t.version}")
                ids = sorted(picker.sample(live, min(count or 1, len(live))))
            missing = [rid for rid in ids if not t.exists(rid)]
            if missing:
                raise failure(404, f"{entity} {missing} not found")
            now = account.now()
            v1_times = entity in ("notes", "files")
            for rid in ids:
                before = t.get(rid)
                record = copy.deepcopy(before)
                writes.change_something(entity, record, account.world)
                record["update_time"] = timefmt.v1(now) if v1_times else timefmt.iso(now)
                if entity == "notes":
                    record = data.note_shape(t, record)
                t.put(rid, record)
                if entity == "deals":  # the deal's history and its products change with it
                    flow.record_changes(t, rid, before, record, now)
                    deal_items.touch_products(t, account.table("products"), rid, now)
            stamp = timefmt.iso(now)
            shown: list[Any] = list(ids)
            if entity == "leads":
                shown = [leads.lead_uuid(t, rid) for rid in ids]
        return {"entity": entity, "ids": shown, "update_time": stamp}

    def touch_deal_products(self, ids: list[int] | None, count: int | None) -> dict[str, Any]:
        """Products edited "in the CRM": their update_time and comments change, and so does
        their deal's update_time (the app re-saves the deal with its products)."""
        account = self.account
        with account.store.lock:
            deals, products = account.table("deals"), account.table("products")
            if ids is None:
                editable = [
                    item["id"]
                    for d in deals.ids()
                    if not deals.col("deleted", d) and not deals.col("archived", d)
                    for item in deal_items.products_of(deals, products, d)
                ]
                picker = random.Random(f"{account.ctx.settings.seed}:deal_products:{deals.version}")
                ids = sorted(picker.sample(editable, min(count or 1, len(editable))))
            owners = {}
            for pid in ids:
                deal = (pid - 1) // deal_items.PER_DEAL + 1
                known = deals.exists(deal) and any(
                    i["id"] == pid for i in deal_items.products_of(deals, products, deal)
                )
                if not known:
                    raise failure(404, f"deal_products [{pid}] not found")
                owners[pid] = deal
            now = account.now()
            stamp = timefmt.iso(now)
            for pid, deal in owners.items():
                for item in deal_items.store_products(deals, products, deal):
                    if item["id"] == pid:
                        item["update_time"] = stamp
                        item["comments"] = (item["comments"] or "") + " (edited)"
            for deal in sorted(set(owners.values())):
                record = copy.deepcopy(deals.get(deal))
                record["update_time"] = stamp
                deals.put(deal, record)
        return {"entity": "deal_products", "ids": ids, "update_time": stamp}

    def _features(self, request: Request) -> Response:
        """Plan features: ``{"installments": false}`` makes installments answer 403."""
        features = self.account.features
        if request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return Response.json(400, {"error": "the body must be JSON"})
            if not isinstance(body, dict) or not all(
                k in features and isinstance(v, bool) for k, v in body.items()
            ):
                return Response.json(400, {"error": f"give booleans for {sorted(features)}"})
            features.update(body)
        elif request.method != "GET":
            return Response.json(405, {"error": "use GET or POST"})
        return Response.json(200, dict(features))

    def _mint_code(self, request: Request) -> Response:
        """An authorization code without the browser round trip (same as /oauth/authorize)."""
        body = json.loads(request.body or b"{}")
        redirect = body.get("redirect_uri", "http://127.0.0.1/callback")
        code = self.oauth.new_code(redirect)
        return Response.json(200, {"code": code, "redirect_uri": redirect})


def _entity(name: str) -> str:
    if name not in CONTROL_ENTITIES:
        raise Problem(
            Response.json(404, {"error": f"unknown entity {name!r}; one of {CONTROL_ENTITIES}"})
        )
    return name
