"""The small v1 lists (activity types, currencies, filters, lead and note fields) and file
metadata (``GET /v1/files``: a ``Table`` like the other entities; no file content is kept)."""

from __future__ import annotations

import random
from array import array

from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.data import (
    ACTIVITY_TYPES,
    START,
    TIME_SORTS,
    World,
    _flags,
    _id,
    _pick,
    _t,
    _times,
    deal_title,
    mix,
    org_name,
    person_name,
    ref,
    salt_of,
)
from crm_sandbox.pipedrive.fields import EntityFields
from crm_sandbox.pipedrive.store import Record, Store, Table

SETUP = START - 86400 * 30  # when the account's settings were made
ICONS = {"call": "call", "meeting": "meeting", "task": "task", "deadline": "deadline",
         "email": "email", "lunch": "lunch"}  # fmt: skip


def activity_types() -> list[Record]:
    stamp = timefmt.v1(SETUP)
    out: list[Record] = []
    for k, key in enumerate(ACTIVITY_TYPES):
        out.append(
            {
                "id": k + 1,
                "order_nr": k + 1,
                "name": key.capitalize(),
                "key_string": key,
                "icon_key": ICONS[key],
                "active_flag": True,
                "color": None,
                "is_custom_flag": False,
                "add_time": stamp,
                "update_time": None,
            }
        )
    out.append(
        {
            "id": len(out) + 1,
            "order_nr": len(out) + 1,
            "name": "Démo produit",
            "key_string": "demo_produit",
            "icon_key": "presentation",
            "active_flag": False,  # deactivated custom types stay in the list
            "color": "FFC107",
            "is_custom_flag": True,
            "add_time": stamp,
            "update_time": timefmt.v1(SETUP + 86400 * 90),
        }
    )
    return out


CURRENCY_TABLE = (
    ("EUR", "Euro", "€", 2), ("USD", "US Dollar", "$", 2), ("GBP", "British Pound", "£", 2),
    ("CHF", "Swiss Franc", "CHF", 2), ("JPY", "Japanese Yen", "¥", 0),
    ("SEK", "Swedish Krona", "kr", 2), ("PLN", "Polish Zloty", "zł", 2),
    ("BRL", "Brazilian Real", "R$", 2),
)  # fmt: skip


def currencies() -> list[Record]:
    out: list[Record] = [
        {"id": k + 1, "code": code, "name": name, "symbol": symbol, "decimal_points": points,
         "active_flag": True, "is_custom_flag": False}
        for k, (code, name, symbol, points) in enumerate(CURRENCY_TABLE)
    ]  # fmt: skip
    out.append(
        {"id": len(out) + 1, "code": "[Tokens]", "name": "Sandbox tokens", "symbol": "TK",
         "decimal_points": 0, "active_flag": True, "is_custom_flag": True}
    )  # fmt: skip
    return out


FILTER_TYPES = ("deals", "leads", "org", "people", "products", "activity", "projects")
FILTERS = (
    ("All open deals", "deals"), ("Won this quarter", "deals"), ("Hot leads", "leads"),
    ("Key accounts", "org"), ("Ansprechpartner DACH", "people"), ("Licences", "products"),
    ("Overdue calls", "activity"), ("Temporary deal filter", "deals"),
)  # fmt: skip


def filters(w: World) -> list[Record]:
    out: list[Record] = []
    for k, (name, kind) in enumerate(FILTERS):
        at = SETUP + k * 86400 * 7
        out.append(
            {
                "id": k + 1,
                "name": name,
                "active_flag": True,
                "type": kind,
                "temporary_flag": name.startswith("Temporary"),
                "user_id": 1 + k % max(1, w.n_users),
                "add_time": timefmt.v1(at),
                "update_time": timefmt.v1(at + 3600 * k),
                "visible_to": "7" if k % 3 else "1",
                "custom_view_id": None,
            }
        )
    return out


LEAD_STANDARD = [
    ("id", "ID", "varchar"),
    ("title", "Title", "varchar"),
    ("owner_id", "Owner", "user"),
    ("person_id", "Person", "people"),
    ("organization_id", "Organization", "org"),
    ("value", "Value", "monetary"),
    ("expected_close_date", "Expected close date", "date"),
    ("label_ids", "Labels", "set"),
    ("source_name", "Source", "varchar"),
    ("add_time", "Lead created", "date"),
    ("update_time", "Update time", "date"),
]
NOTE_STANDARD = [
    ("id", "ID", "int"),
    ("content", "Content", "text"),
    ("deal_id", "Deal", "int"),
    ("lead_id", "Lead", "varchar"),
    ("person_id", "Person", "int"),
    ("org_id", "Organization", "int"),
    ("user_id", "User", "user"),
    ("add_time", "Add time", "date"),
    ("update_time", "Update time", "date"),
    ("pinned_to_deal_flag", "Pinned to deal", "boolean"),
    ("pinned_to_person_flag", "Pinned to person", "boolean"),
    ("pinned_to_organization_flag", "Pinned to organization", "boolean"),
]


def lead_fields(w: World) -> EntityFields:
    """Leads have no custom fields of their own: they inherit the deal ones."""
    return EntityFields("lead", list(LEAD_STANDARD), list(w.fields["deal"].custom))


def note_fields() -> EntityFields:
    return EntityFields("note", list(NOTE_STANDARD), [])


# ---------------------------------------------------------------------------- files
FILE_KINDS = (
    ("pdf", "application/pdf", "Vertrag"), ("docx", "application/vnd.openxmlformats", "Angebot"),
    ("png", "image/png", "screenshot"), ("xlsx", "application/vnd.ms-excel", "pricing"),
    ("jpg", "image/jpeg", "フォト"),
)  # fmt: skip


def render_file(t: Table, rid: int) -> Record:
    store: Store = t.aux["store"]
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    ext, _, stem = FILE_KINDS[h % len(FILE_KINDS)]
    file_name = f"{stem}_{rid}.{ext}"
    deal, person, org = ref(c["deal_id"][i]), ref(c["person_id"][i]), ref(c["org_id"][i])
    return {
        "id": rid,
        "user_id": 1 + (h >> 8) % w.n_users,
        "deal_id": deal,
        "person_id": person,
        "org_id": org,
        "product_id": None,
        "activity_id": None,
        "lead_id": None,
        "add_time": timefmt.v1(c["add_time"][i]),
        "update_time": timefmt.v1(c["update_time"][i]),
        "file_name": file_name,
        "file_type": ext,
        "file_size": 1024 + (h >> 16) % 5_000_000,
        "active_flag": not c["deleted"][i],
        "inline_flag": False,
        "remote_location": "s3",
        "remote_id": f"sandbox/{h >> 20 & 0xFFFFFFFF:08x}",
        "cid": None,
        "s3_bucket": None,
        "mail_message_id": None,
        "mail_template_id": None,
        "deal_name": deal_title(store["deals"], deal) if deal else None,
        "person_name": person_name(store["persons"], person)[0] if person else None,
        "org_name": org_name(store["organizations"], org) if org else None,
        "product_name": None,
        "lead_name": None,
        "url": f"https://sandbox.pipedrive.com/v1/files/{rid}/download",
        "name": file_name,
        "description": None if h % 4 else "Signed copy — gescannt",
    }


def extract_file(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(not r.get("active_flag", True)),
        "deal_id": _id(r, "deal_id"),
        "person_id": _id(r, "person_id"),
        "org_id": _id(r, "org_id"),
    }


def build_files(store: Store, w: World) -> Table:
    """size / 2 files, on a deal (60%, then maybe its person) or on a person or organization."""
    rnd = random.Random(salt_of(w.seed, "files"))
    r = rnd.random
    n = w.size // 2
    add, upd = _times(rnd, n)
    deals = store["deals"].cols
    deal_col = _pick(r, n, w.size, 0.4)
    person_col = array("q", (deals["person_id"][d - 1] if d and r() < 0.5 else 0 for d in deal_col))
    org_col = array("q", bytes(8 * n))
    for k in range(n):
        if not deal_col[k]:
            if w.n_persons and r() < 0.6:
                person_col[k] = 1 + int(r() * w.n_persons)
            elif w.n_orgs:
                org_col[k] = 1 + int(r() * w.n_orgs)
    columns = {
        "update_time": upd,
        "add_time": add,
        "deleted": _flags(r, n, 0.03),
        "deal_id": deal_col,
        "person_id": person_col,
        "org_id": org_col,
    }
    salt = salt_of(w.seed, "files")
    t = Table("files", columns, render_file, extract_file, dict(TIME_SORTS), salt)
    t.aux.update(world=w, store=store, generated=n)
    store.tables["files"] = t
    return t
