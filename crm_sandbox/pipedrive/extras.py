"""The v2 ``include_fields`` extras (research §2): fields a list or record shows only when
asked, computed when asked from the account's own data, so they always agree with it.

Counts come from per-column group indexes (``Table.related``: a parent's children without a
scan), the products of a deal from its deal products, the followers from their state, the
first won time from the deal's flow. Deleted children are not counted. The sandbox has no
mailbox (mail counts 0, mail times null) and no Campaigns app (``marketing_status`` and
``doi_status`` null). Written attendees of an activity are kept beside the record
(``aux["attendees"]``), because the record itself shows them only when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crm_sandbox.pipedrive import deal_items, flow, leads, timefmt
from crm_sandbox.pipedrive.data import World, mix, person_name
from crm_sandbox.pipedrive.followers import peek
from crm_sandbox.pipedrive.store import NULL, Record, Store, Table
from crm_sandbox.pipedrive.validate import invalid

_ACTIVITY = (
    "next_activity_id", "last_activity_id", "activities_count", "done_activities_count",
    "undone_activities_count",
)  # fmt: skip
_DEALS = (
    "open_deals_count", "related_open_deals_count", "closed_deals_count",
    "related_closed_deals_count", "won_deals_count", "related_won_deals_count",
    "lost_deals_count", "related_lost_deals_count",
)  # fmt: skip
_OTHER = ("files_count", "notes_count", "followers_count", "email_messages_count")
ALLOWED: dict[str, tuple[str, ...]] = {
    "deals": (
        *_ACTIVITY, "first_won_time", "products_count", *_OTHER, "participants_count",
        "last_incoming_mail_time", "last_outgoing_mail_time", "smart_bcc_email",
        "source_lead_id",
    ),
    "persons": (
        *_ACTIVITY, *_DEALS, "participant_open_deals_count", "participant_closed_deals_count",
        *_OTHER, "last_incoming_mail_time", "last_outgoing_mail_time", "marketing_status",
        "doi_status", "smart_bcc_email",
    ),
    "organizations": (*_ACTIVITY, *_DEALS, *_OTHER, "people_count", "smart_bcc_email"),
    "activities": ("attendees",),
}  # fmt: skip
FK = {"deals": "deal_id", "persons": "person_id", "organizations": "org_id"}
WON, LOST = 1, 2  # deal status codes in the "status" column (data.STATUSES)


def requested(raw: str | None, entity: str) -> tuple[str, ...]:
    """The ``include_fields`` query value as names, in the order given (400 on unknown)."""
    if raw is None or raw.strip() == "":
        return ()
    allowed = ALLOWED.get(entity, ())
    names = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [name for name in names if name not in allowed]
    if bad:
        if not allowed:
            raise invalid(f"include_fields: {entity} have no optional fields")
        raise invalid(
            f"include_fields: '{bad[0]}' is not allowed; must be one of {', '.join(allowed)}"
        )
    return tuple(dict.fromkeys(names))


def _live(t: Table, ids: Iterable[int]) -> list[int]:
    deleted = t.cols["deleted"]
    return [rid for rid in ids if not deleted[rid - 1]]


def _activity_counts(acts: Table, ids: Sequence[int]) -> dict[str, Any]:
    done_col, due_col = acts.cols["done"], acts.cols["due_date"]
    done = [rid for rid in ids if done_col[rid - 1]]
    undone = [rid for rid in ids if not done_col[rid - 1]]
    late = 1 << 40  # activities without a due date come after dated ones

    def due(rid: int) -> int:
        day = due_col[rid - 1]
        return late if day == NULL else int(day)

    return {
        "next_activity_id": min(undone, key=lambda r: (due(r), r)) if undone else None,
        "last_activity_id": max(done, key=lambda r: (due(r) if due(r) != late else -1, r))
        if done
        else None,
        "activities_count": len(ids),
        "done_activities_count": len(done),
        "undone_activities_count": len(undone),
    }


def _deal_counts(deals: Table, ids: Sequence[int], prefix: str = "") -> dict[str, int]:
    status = deals.cols["status"]
    won = sum(1 for rid in ids if status[rid - 1] == WON)
    lost = sum(1 for rid in ids if status[rid - 1] == LOST)
    return {
        f"{prefix}open_deals_count": len(ids) - won - lost,
        f"{prefix}closed_deals_count": won + lost,
        f"{prefix}won_deals_count": won,
        f"{prefix}lost_deals_count": lost,
    }


def first_won_time(deals: Table, rid: int, record: Record) -> str | None:
    """The first time the deal became won: its flow's first status change to won, or (a
    deal won from the start, with no such change) its won time."""
    stored = deals.aux.get("flow", {})
    if rid not in stored and record.get("status") != "won":
        return None  # a seeded history changes the status only to the current one
    for change in flow.flow_of(deals, rid):
        if change["field_key"] == "status" and change["new_value"] == "won":
            return timefmt.iso(timefmt.parse_v1(change["log_time"]) or 0)
    return record.get("won_time") if record.get("status") == "won" else None


def source_lead(store: Store, deals: Table, rid: int) -> str | None:
    """A seeded deal converted from a lead (one in eight) names an existing lead."""
    lead_table = store.tables.get("leads")
    if rid > deals.aux.get("generated", 0) or lead_table is None or not lead_table.n:
        return None
    h = mix(deals.salt ^ (rid * 0x9E37))
    if h % 8:
        return None
    return leads.lead_uuid(lead_table, 1 + (h >> 8) % lead_table.aux.get("generated", 1))


def attendees(store: Store, world: World, rid: int, record: Record) -> list[Record]:
    """Written attendees, else: a meeting's participants (their primary e-mail) with its
    owner as organizer; other activity types have none."""
    acts = store["activities"]
    written: dict[int, list[Record]] = acts.aux.setdefault("attendees", {})
    if rid in written:
        return written[rid]
    if record.get("type") != "meeting" or not record.get("participants"):
        return []
    out: list[Record] = []
    owner = record.get("owner_id")
    if isinstance(owner, int) and 1 <= owner <= len(world.users):
        user = world.users[owner - 1]
        out.append(
            {"email": user["email"], "name": user["name"], "status": "accepted",
             "is_organizer": True, "person_id": None, "user_id": owner}
        )  # fmt: skip
    persons = store["persons"]
    for participant in record["participants"]:
        pid = participant.get("person_id")
        if not isinstance(pid, int) or not persons.exists(pid) or persons.col("deleted", pid):
            continue  # a deleted person is no longer invited
        person = persons.get(pid)
        emails = person.get("emails") or []
        if not emails:
            continue  # an attendee is invited by e-mail
        out.append(
            {"email": emails[0]["value"], "name": person_name(persons, pid)[0],
             "status": "accepted" if (rid + pid) % 3 else "noreply", "is_organizer": False,
             "person_id": pid, "user_id": None}
        )  # fmt: skip
    return out


def compute(
    store: Store, world: World, entity: str, rid: int, record: Record, names: Sequence[str]
) -> dict[str, Any]:
    """The asked extras of one record (``record``: as the API shows it)."""
    if not names:
        return {}
    if entity == "activities":
        return {"attendees": attendees(store, world, rid, record)}
    t = store[entity]
    acts, deals = store["activities"], store["deals"]
    fk = FK[entity]
    values: dict[str, Any] = {}
    wanted = set(names)
    if wanted & set(_ACTIVITY):
        values.update(_activity_counts(acts, _live(acts, acts.related(fk, rid))))
    if entity in ("persons", "organizations") and wanted & {
        *_DEALS,
        "participant_open_deals_count",
        "participant_closed_deals_count",
    }:
        own = _live(deals, deals.related(fk, rid))
        values.update(_deal_counts(deals, own))
        # participants of a deal: its person (the only one the sandbox links)
        values["participant_open_deals_count"] = values["open_deals_count"]
        values["participant_closed_deals_count"] = values["closed_deals_count"]
        if entity == "persons":  # deals of the person's organization
            org = record.get("org_id")
            related = _live(deals, deals.related("org_id", org)) if isinstance(org, int) else []
        else:  # deals of the organization's persons
            persons = store["persons"]
            related = sorted(
                {d for p in _live(persons, persons.related("org_id", rid))
                 for d in _live(deals, deals.related("person_id", p))}
            )  # fmt: skip
        values.update(_deal_counts(deals, related, "related_"))
    if "files_count" in wanted:
        files = store["files"]
        values["files_count"] = len(_live(files, files.related(fk, rid)))
    if "notes_count" in wanted:
        notes = store["notes"]
        values["notes_count"] = len(_live(notes, notes.related(fk, rid)))
    if "followers_count" in wanted:
        values["followers_count"] = len(peek(t, rid).current)
    values["email_messages_count"] = 0
    values["last_incoming_mail_time"] = None
    values["last_outgoing_mail_time"] = None
    values["smart_bcc_email"] = f"sandbox+{entity[:-1]}{rid}@pipedrivemail.com"
    if entity == "deals":
        if "products_count" in wanted:
            values["products_count"] = len(deal_items.products_of(deals, store["products"], rid))
        person = record.get("person_id")
        values["participants_count"] = 1 if isinstance(person, int) else 0
        if "first_won_time" in wanted:
            values["first_won_time"] = first_won_time(deals, rid, record)
        if "source_lead_id" in wanted:
            values["source_lead_id"] = source_lead(store, deals, rid)
    if entity == "persons":
        values["marketing_status"] = None
        values["doi_status"] = None
    if entity == "organizations" and "people_count" in wanted:
        persons = store["persons"]
        values["people_count"] = len(_live(persons, persons.related("org_id", rid)))
    return {name: values.get(name) for name in names}
