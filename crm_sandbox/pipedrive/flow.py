"""The change history of deals (v1 ``GET /deals/{id}/flow``): "dealChange" entries, plus the
deal's notes and files (already in their v1 shapes) at their add times.

A generated deal that was updated after creation has a seeded history, derived from its hash on
first use: a stage change at its ``stage_change_time``, sometimes an earlier value change, and,
for won or lost deals, the status change at its close (= update) time, so the flow agrees with
the deal. Every API write to a deal (and every ``touch``) appends one entry per changed field,
stamped with the sandbox clock. Stored per deal only once it changed.
"""

from __future__ import annotations

import json
from typing import Any

from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.data import World, mix
from crm_sandbox.pipedrive.store import Record, Table
from crm_sandbox.pipedrive.validate import HEX40

SLOTS = 16  # seeded change ids are (deal_id - 1) * SLOTS + k; API writes number on from there
TRACKED = (
    "title", "value", "currency", "status", "stage_id", "pipeline_id", "owner_id", "person_id",
    "org_id", "expected_close_date", "lost_reason", "probability", "visible_to", "is_archived",
    "is_deleted", "label_ids",
)  # fmt: skip


def flow_of(deals: Table, deal_id: int) -> list[Record]:
    """The deal's dealChange data objects, oldest first."""
    stored: dict[int, list[Record]] = deals.aux.setdefault("flow", {})
    found = stored.get(deal_id)
    return found if found is not None else _seeded(deals, deal_id)


def record_changes(deals: Table, deal_id: int, before: Record, after: Record, now: int) -> None:
    """Append one dealChange per tracked field a write changed (custom fields by their key)."""
    old_custom, new_custom = before.get("custom_fields") or {}, after.get("custom_fields") or {}
    changed = [(k, before.get(k), after.get(k)) for k in TRACKED if before.get(k) != after.get(k)]
    changed += [
        (k, old_custom.get(k), new_custom.get(k))
        for k in sorted(set(old_custom) | set(new_custom))
        if old_custom.get(k) != new_custom.get(k)
    ]
    if not changed:
        return
    stored: dict[int, list[Record]] = deals.aux.setdefault("flow", {})
    entries = stored.get(deal_id)
    if entries is None:
        entries = [dict(e) for e in _seeded(deals, deal_id)]
        stored[deal_id] = entries
    next_id = deals.aux.get("flow_next_id") or (deals.aux.get("generated", 0) + 1) * SLOTS
    for key, old, new in changed:
        entries.append(_change(next_id, deal_id, 1, key, old, new, now, "api"))
        next_id += 1
    deals.aux["flow_next_id"] = next_id


def attached(t: Table, deal_id: int) -> list[int]:
    """Live rows of a table (notes, files) on a deal; the deal -> rows index is rebuilt from
    the columns after writes to the table (``version``)."""
    cached = t.aux.get("by_deal")
    if cached is None or cached[0] != t.version:
        index: dict[int, list[int]] = {}
        for row, deal in enumerate(t.cols["deal_id"], start=1):
            if deal:
                index.setdefault(deal, []).append(row)
        cached = (t.version, index)
        t.aux["by_deal"] = cached
    deleted = t.cols["deleted"]
    return [row for row in cached[1].get(deal_id, ()) if not deleted[row - 1]]


def is_custom(change: Record) -> bool:
    """A custom-field change (shown only with ``all_changes=1``)."""
    return HEX40.match(change["field_key"]) is not None


def as_text(value: Any) -> str | None:
    """The changelog endpoint shows old/new values as strings (its reference example)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list) and all(isinstance(x, int | str) for x in value):
        return ",".join(str(x) for x in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def changelog_item(change: Record) -> Record:
    """A dealChange as ``GET /deals/{id}/changelog`` shows it."""
    return {
        "field_key": change["field_key"],
        "old_value": as_text(change["old_value"]),
        "new_value": as_text(change["new_value"]),
        "actor_user_id": change["user_id"],
        "time": change["log_time"],
        "change_source": change["change_source"],
        "change_source_user_agent": change["change_source_user_agent"],
        "is_bulk_update_flag": bool(change["is_bulk_update_flag"]),
    }


def _change(
    cid: int, deal_id: int, user: int, key: str, old: Any, new: Any, at: int, source: str
) -> Record:
    return {
        "id": cid,
        "item_id": deal_id,
        "user_id": user,
        "field_key": key,
        "old_value": old,
        "new_value": new,
        "is_bulk_update_flag": None,
        "log_time": timefmt.v1(at),
        "change_source": source,
        "change_source_user_agent": None,
        "additional_data": {},
    }


def _seeded(deals: Table, deal_id: int) -> list[Record]:
    if deal_id > deals.aux.get("generated", 0) or deals.generate is None:
        return []
    c = deals.cols
    i = deal_id - 1
    added, updated = c["add_time"][i], c["update_time"][i]
    if updated <= added:
        return []
    w: World = deals.aux["world"]
    deal = deals.generate(deals, deal_id, False)
    h = mix(deals.salt ^ (deal_id * 0x2545F491))
    user = 1 + (h >> 6) % w.n_users
    base = (deal_id - 1) * SLOTS + 1
    out: list[Record] = []
    if h % 3 == 0:  # an early value change
        old_value = round(float(deal["value"] or 0) * 0.8, 2)
        at = added + (updated - added) // 4
        out.append(_change(base, deal_id, user, "value", old_value, deal["value"], at, "app"))
    middle = added + (updated - added) // 2
    stage = deal["stage_id"]
    siblings = [s for s, p in w.stage_pipeline.items() if p == deal["pipeline_id"] and s != stage]
    if siblings:
        old_stage = siblings[(h >> 12) % len(siblings)]
        out.append(_change(base + 1, deal_id, user, "stage_id", old_stage, stage, middle, "app"))
    if deal["status"] != "open":
        out.append(
            _change(base + 2, deal_id, user, "status", "open", deal["status"], updated, "app")
        )
    return out
