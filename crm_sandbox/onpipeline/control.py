"""``/_sandbox/onpipeline/...``: what tests and benchmarks need to see or change directly.

- ``GET ids/<entity>`` -> ``{"ids": [...]}``: persons, organizations, deals (deleted ones
  too), events, notes (deleted ones too), invoices, invoice_items ("<invoice ID>:<line>"),
  users, teams, pipelines, stages, products (names), custom_fields.
- ``GET records/<entity>/<id>`` -> ``{"record": <the API object>, "created_utc": ...,
  "modified_utc": ...}`` (the modification time persons and organisations do not show).
- ``POST touch`` ``{"entity": "persons", "ids": [...]}`` or ``{"entity": ..., "count": n}``:
  a change made in the CRM's own UI: one value changes and the modification time becomes the
  sandbox's now. ``count`` picks n live records spread evenly over the account.
- ``GET tokens`` -> the read-write and the read-only token.
- ``GET summary`` -> live record counts per entity and the custom fields.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crm_sandbox.core import Request, Response
from crm_sandbox.onpipeline.data import money
from crm_sandbox.onpipeline.store import RECORD_KINDS

if TYPE_CHECKING:
    from crm_sandbox.onpipeline.state import ApiState

SMALL_LISTS = ("users", "teams", "pipelines")


def _error(status: int, message: str) -> Response:
    return Response.json(status, {"error": message})


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def control(api: ApiState, request: Request) -> Response | None:
    parts = [p for p in request.path.split("/") if p]
    if parts[:2] == ["_sandbox", "onpipeline"]:  # tolerate an unstripped path
        parts = parts[2:]
    if not parts:
        return None
    head = parts[0]
    if request.method == "GET" and head == "ids" and len(parts) == 2:
        return _ids(api, parts[1])
    if request.method == "GET" and head == "records" and len(parts) == 3:
        return _record(api, parts[1], parts[2])
    if request.method == "POST" and head == "touch":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "touch needs a JSON body")
        return _touch(api, body if isinstance(body, dict) else {})
    if request.method == "GET" and head == "tokens":
        token = api.ctx.settings.api_token
        return Response.json(200, {"read_write": token, "read_only": token + "-readonly"})
    if request.method == "GET" and head == "summary":
        store = api.store
        counts = {kind: len(store.live(kind)) for kind in RECORD_KINDS}
        return Response.json(200, {"counts": counts, "custom_fields": store.custom_fields})
    return None


def _ids(api: ApiState, entity: str) -> Response:
    store = api.store
    account = store.account
    ids: list[str]
    if entity in RECORD_KINDS:
        ids = [store.id_of(entity, i) for i in store.live(entity)]
    elif entity == "invoice_items":
        ids = [
            f"{store.id_of('invoices', i)}:{line}"
            for i, record in store.records("invoices", range(store.count("invoices")))
            for line in range(1, len(record["items"]) + 1)
        ]
    elif entity in SMALL_LISTS:
        key = "PipelineID" if entity == "pipelines" else "ID"
        ids = [item[key] for item in getattr(account, entity)]
    elif entity == "stages":
        ids = list(store.stages)
    elif entity == "products":
        ids = list(account.products)
    elif entity == "custom_fields":
        ids = [f["ID"] for fields in store.custom_fields.values() for f in fields]
    else:
        return _error(404, f"unknown entity {entity!r}")
    return Response.json(200, {"ids": ids})


def _record(api: ApiState, entity: str, record_id: str) -> Response:
    store = api.store
    if entity == "invoice_items":
        invoice_id, _, line = record_id.partition(":")
        index = store.index_of("invoices", invoice_id)
        invoice = None if index is None else store.get("invoices", index)
        if invoice is None or not line.isdigit() or not 1 <= int(line) <= len(invoice["items"]):
            return _error(404, f"no invoice item {record_id}")
        return Response.json(200, {"record": invoice["items"][int(line) - 1]})
    if entity in SMALL_LISTS:
        key = "PipelineID" if entity == "pipelines" else "ID"
        for item in getattr(store.account, entity):
            if item[key] == record_id:
                return Response.json(200, {"record": item})
        return _error(404, f"no {entity} record {record_id}")
    if entity not in RECORD_KINDS:
        return _error(404, f"unknown entity {entity!r}")
    index = store.index_of(entity, record_id)
    record = None if index is None else store.get(entity, index)
    if index is None or record is None:
        return _error(404, f"no {entity} record {record_id}")
    return Response.json(
        200,
        {
            "record": api.renderer.any(entity, index, record),
            "created_utc": _iso(record["created"]),
            "modified_utc": _iso(record.get("modified")),
        },
    )


def _touch(api: ApiState, body: dict[str, Any]) -> Response:
    store = api.store
    entity = body.get("entity")
    if entity not in RECORD_KINDS:
        return _error(400, f"entity must be one of {', '.join(RECORD_KINDS)}")
    if "ids" in body:
        if not isinstance(body["ids"], list):
            return _error(400, "ids must be a list")
        indexes = []
        for record_id in body["ids"]:
            index = store.index_of(entity, str(record_id))
            if index is None:
                return _error(404, f"no {entity} record {record_id}")
            indexes.append(index)
    else:
        count = body.get("count")
        if not isinstance(count, int) or count < 0:
            return _error(400, 'give "ids": [...] or "count": n')
        live = store.live(entity)
        step = len(live) / count if count else 0
        indexes = sorted({live[int(k * step)] for k in range(min(count, len(live)))})
    now = api.now_ts()
    touched = []
    for index in indexes:
        old = store.get(entity, index)
        if old is None:
            continue
        record = _touched(entity, dict(old))
        record["modified"] = now
        store.put(entity, index, record)
        touched.append(store.id_of(entity, index))
    api.ctx.counters.add("touches", len(touched))
    return Response.json(200, {"touched": touched, "modified_utc": _iso(now)})


def _touched(entity: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record with one value changed, as a user editing it in the CRM would."""
    if entity == "persons":
        record["EmailsReceived"] = str(int(record["EmailsReceived"]) + 1)
    elif entity == "organizations":
        record["Address2"] = f"{record['Address2'] or ''} (edited)".strip()
    elif entity == "deals":
        cents = round(float(record["Value"]) * 100) + 100
        record["Value"] = money(cents)
    elif entity == "events":
        record["EventCompleted"] = "0" if record["EventCompleted"] == "1" else "1"
    elif entity == "notes":
        record["Text"] = f"{record['Text']} (edited)"
    elif entity == "invoices":  # a payment arrives, after the invoice date
        total, paid = float(record["Total"]), float(record["Paid"])
        record["Paid"] = money(round(min(total, paid + max(1.0, total / 4)) * 100))
        if record["Paid"] == money(round(paid * 100)):
            record["Reference"] = f"{record['Reference'] or ''} (paid)".strip()
    return record
