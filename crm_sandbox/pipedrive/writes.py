"""What a v2 write may contain (research §6) and what it does to a record."""

from __future__ import annotations

from typing import Any

from crm_sandbox.pipedrive import data, timefmt
from crm_sandbox.pipedrive import validate as v
from crm_sandbox.pipedrive.store import Record
from crm_sandbox.pipedrive.validate import invalid

# Keys a POST/PATCH body may carry per entity, and how each value is checked.
OPT_INT = v.nullable(v.c_int)
SCHEMAS: dict[str, dict[str, v.Checker]] = {
    "deals": {
        "title": v.c_str,
        "owner_id": v.ref_to("users"),
        "person_id": v.nullable(v.ref_to("persons")),
        "org_id": v.nullable(v.ref_to("organizations")),
        "pipeline_id": v.ref_to("pipelines"),
        "stage_id": v.ref_to("stages"),
        "value": v.c_num,
        "currency": v.c_str,
        "is_deleted": v.c_bool,
        "is_archived": v.c_bool,
        "archive_time": v.nullable(v.c_v1_time),
        "status": v.one_of("open", "won", "lost"),
        "probability": v.nullable(v.c_num),
        "lost_reason": v.nullable(v.c_str),
        "visible_to": v.c_visible,
        "close_time": v.nullable(v.c_rfc3339),
        "won_time": v.nullable(v.c_rfc3339),
        "lost_time": v.nullable(v.c_rfc3339),
        "expected_close_date": v.nullable(v.c_date),
        "label_ids": v.c_int_list,
        "add_time": v.c_rfc3339,
    },
    "persons": {
        "name": v.c_str,
        "first_name": v.nullable(v.c_str),
        "last_name": v.nullable(v.c_str),
        "owner_id": v.ref_to("users"),
        "org_id": v.nullable(v.ref_to("organizations")),
        "emails": v.c_contacts,
        "phones": v.c_contacts,
        "visible_to": v.c_visible,
        "label_ids": v.c_int_list,
        "add_time": v.c_rfc3339,
        # contact-sync fields (research §6)
        "im": v.c_contacts,
        "birthday": v.nullable(v.c_date),
        "job_title": v.nullable(v.c_str),
        "notes": v.nullable(v.c_str),
        "postal_address": v.nullable(v.c_address),
    },
    "organizations": {
        "name": v.c_str,
        "owner_id": v.ref_to("users"),
        "visible_to": v.c_visible,
        "label_ids": v.c_int_list,
        "address": v.nullable(v.c_address),
        "add_time": v.c_rfc3339,
        # since 2026-08 (research §6)
        "website": v.nullable(v.c_str),
        "linkedin": v.nullable(v.c_str),
        "industry": v.nullable(v.c_str_or_int),
        "annual_revenue": v.nullable(v.c_num),
        "employee_count": v.nullable(v.c_count),
    },
    "activities": {
        "subject": v.c_str,
        "type": v.c_str,
        "owner_id": v.ref_to("users"),
        "deal_id": v.nullable(v.ref_to("deals")),
        "lead_id": v.nullable(v.c_str),
        "person_id": v.nullable(v.ref_to("persons")),
        "org_id": v.nullable(v.ref_to("organizations")),
        "project_id": OPT_INT,
        "due_date": v.nullable(v.c_date),
        "due_time": v.nullable(v.c_time_of_day),
        "duration": v.nullable(v.c_time_of_day),
        "busy": v.c_bool,
        "done": v.c_bool,
        "location": v.nullable(v.c_address),
        "participants": v.c_participants,
        "attendees": v.c_attendees,
        "public_description": v.nullable(v.c_str),
        "priority": OPT_INT,
        "note": v.nullable(v.c_str),
        "outcome": v.nullable(v.c_str),
    },
    "products": {
        "name": v.c_str,
        "code": v.nullable(v.c_str),
        "description": v.nullable(v.c_str),
        "unit": v.nullable(v.c_str),
        "tax": v.c_num,
        "category": v.nullable(v.c_str),
        "owner_id": v.ref_to("users"),
        "is_linkable": v.c_bool,
        "visible_to": v.c_visible,
        "prices": v.c_prices,
        "billing_frequency": v.one_of(
            "one-time", "annually", "semi-annually", "quarterly", "monthly", "weekly"
        ),
        "billing_frequency_cycles": OPT_INT,
    },
}
# Person fields that exist only with contact sync on (research §2, §6).
CONTACT_SYNC = ("im", "birthday", "job_title", "notes", "postal_address")
CUSTOM_OF = {
    "deals": "deal",
    "persons": "person",
    "organizations": "organization",
    "products": "product",
}
REQUIRED_ON_CREATE = {
    "deals": "title",
    "organizations": "name",
    "products": "name",
    "activities": "subject",
}


def blank(world: data.World, entity: str, rid: int, now: int) -> Record:
    """A new record with every field the API shows, before the POST body applies."""
    stamp = timefmt.iso(now)
    common: Record = {
        "id": rid,
        "owner_id": 1,
        "add_time": stamp,
        "update_time": stamp,
        "is_deleted": False,
    }
    customs = world.fields[CUSTOM_OF[entity]].custom if entity in CUSTOM_OF else []
    if entity == "deals":
        first_stage = 1
        record = {
            "id": rid,
            "title": "",
            "creator_user_id": 1,
            "owner_id": 1,
            "value": 0,
            "person_id": None,
            "org_id": None,
            "stage_id": first_stage,
            "pipeline_id": world.stage_pipeline[first_stage],
            "currency": "EUR",
            "add_time": stamp,
            "update_time": stamp,
            "stage_change_time": None,
            "is_deleted": False,
            "is_archived": False,
            "status": "open",
            "probability": None,
            "lost_reason": None,
            "visible_to": 3,
            "close_time": None,
            "won_time": None,
            "lost_time": None,
            "local_won_date": None,
            "local_lost_date": None,
            "local_close_date": None,
            "expected_close_date": None,
            "archive_time": None,
            "label_ids": [],
            "origin": "API",
            "origin_id": None,
            "channel": None,
            "channel_id": None,
            "acv": None,
            "arr": None,
            "mrr": None,
        }
    elif entity == "persons":
        record = {
            **common,
            "name": "",
            "first_name": None,
            "last_name": None,
            "org_id": None,
            "emails": [],
            "phones": [],
            "visible_to": 3,
            "label_ids": [],
            "picture_id": None,
            "im": [],
            "birthday": None,
            "job_title": None,
            "notes": None,
            "postal_address": None,
        }
    elif entity == "organizations":
        record = {
            **common,
            "name": "",
            "visible_to": 3,
            "address": None,
            "label_ids": [],
            "picture_id": None,
            "website": None,
            "linkedin": None,
            "industry": None,
            "annual_revenue": None,
            "employee_count": None,
        }
    elif entity == "activities":
        record = {
            **common,
            "subject": "",
            "type": "task",
            "creator_user_id": 1,
            "deal_id": None,
            "lead_id": None,
            "person_id": None,
            "org_id": None,
            "project_id": None,
            "due_date": None,
            "due_time": None,
            "duration": None,
            "busy": False,
            "done": False,
            "marked_as_done_time": None,
            "location": None,
            "participants": [],
            "conference_meeting_client": None,
            "conference_meeting_url": None,
            "conference_meeting_id": None,
            "public_description": None,
            "priority": None,
            "note": None,
            "outcome": None,
        }
    else:
        record = {
            **common,
            "name": "",
            "code": None,
            "unit": None,
            "tax": 0,
            "is_linkable": True,
            "visible_to": 3,
            "description": None,
            "category": None,
            "billing_frequency": "one-time",
            "billing_frequency_cycles": None,
            "prices": [],
        }
    if customs:
        record["custom_fields"] = {f.key: None for f in customs}
    return record


def apply(
    world: data.World, entity: str, record: Record, clean: dict[str, Any], now: int, creating: bool
) -> None:
    stamp = timefmt.iso(now)
    before = dict(record)
    for key, value in clean.items():
        if key == "custom_fields":
            record.setdefault("custom_fields", {}).update(value)
        elif key == "participants":
            record["participants"] = value
            primary = next((p["person_id"] for p in value if p["primary"]), None)
            record["person_id"] = (
                primary if primary is not None else (value[0]["person_id"] if value else None)
            )
        elif key == "prices":
            record["prices"] = [{"product_id": record["id"], **p} for p in value]
        else:
            record[key] = value
    record["update_time"] = stamp
    if creating and "add_time" in clean:
        record["update_time"] = max(stamp, record["add_time"])
    if entity == "deals":
        deal_rules(world, record, before, clean, now, creating)
    if entity == "activities":
        if record["done"] and not before.get("done"):
            record["marked_as_done_time"] = stamp
        elif not record["done"]:
            record["marked_as_done_time"] = None
        if "person_id" in clean and "participants" not in clean:
            pid = record["person_id"]
            record["participants"] = [{"person_id": pid, "primary": True}] if pid else []
    if (
        entity == "persons"
        and ("first_name" in clean or "last_name" in clean)
        and "name" not in clean
    ):
        parts = [record.get("first_name"), record.get("last_name")]
        record["name"] = " ".join(p for p in parts if p) or record["name"]


def deal_rules(
    world: data.World,
    record: Record,
    before: Record,
    clean: dict[str, Any],
    now: int,
    creating: bool,
) -> None:
    stamp = timefmt.iso(now)
    pipelines = world.stage_pipeline
    if "stage_id" in clean:
        stage_pipeline = pipelines[record["stage_id"]]
        if "pipeline_id" in clean and clean["pipeline_id"] != stage_pipeline:
            raise invalid("stage_id: the stage does not belong to the given pipeline_id")
        record["pipeline_id"] = stage_pipeline
        if not creating and clean["stage_id"] != before.get("stage_id"):
            record["stage_change_time"] = stamp
    elif "pipeline_id" in clean:
        first = min(s for s, p in pipelines.items() if p == record["pipeline_id"])
        record["stage_id"] = first
        if not creating:
            record["stage_change_time"] = stamp
    status = record["status"]
    if "status" in clean and clean["status"] != before.get("status"):
        record["close_time"] = clean.get("close_time") or (stamp if status != "open" else None)
        record["won_time"] = clean.get("won_time") or (stamp if status == "won" else None)
        record["lost_time"] = clean.get("lost_time") or (stamp if status == "lost" else None)
    if status != "lost" and "lost_reason" in clean and clean["lost_reason"]:
        raise invalid("lost_reason: can only be set when status is lost")
    closed = record.get("close_time")
    day = timefmt.day(timefmt.parse_rfc3339(closed) or now) if closed else None
    record["local_close_date"] = day
    record["local_won_date"] = day if status == "won" else None
    record["local_lost_date"] = day if status == "lost" else None
    if record.get("is_archived") and not before.get("is_archived"):
        given = clean.get("archive_time")  # input is "YYYY-MM-DD HH:MM:SS" UTC, output RFC 3339
        record["archive_time"] = timefmt.iso(timefmt.parse_v1(given) or now) if given else stamp
    if not record.get("is_archived"):
        record["archive_time"] = None


def change_something(entity: str, record: Record, world: data.World) -> None:
    """What ``touch`` changes besides update_time: a visible value, differently each time."""
    if entity == "deals":
        record["value"] = round(float(record.get("value") or 0) + 1.0, 2)
    elif entity == "notes":
        record["content"] = (record.get("content") or "") + "<p>edited</p>"
    elif entity == "activities":
        record["note"] = (record.get("note") or "") + "<p>edited</p>"
    elif entity == "files":
        record["description"] = (record.get("description") or "") + " (edited)"
    elif entity == "leads":
        record["title"] = str(record.get("title", "")) + " ✎"
    elif "custom_fields" in record:
        kind = CUSTOM_OF.get(entity)
        numeric = (
            next((f for f in world.fields[kind].custom if f.field_type == "double"), None)
            if kind
            else None
        )
        if numeric is not None:
            record["custom_fields"] = dict(record["custom_fields"])
            record["custom_fields"][numeric.key] = (
                record["custom_fields"].get(numeric.key) or 0
            ) + 1
    if entity in ("pipelines", "stages"):
        record["name"] = str(record.get("name", "")).rstrip("*") + "*"
