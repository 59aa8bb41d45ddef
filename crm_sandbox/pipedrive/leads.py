"""Leads, lead labels and lead sources (v1 leads API: UUID ids, RFC 3339 times).

Leads live in a ``Table`` like the other entities (rows 1..n, columns for what lists sort and
filter on); the API only ever shows a row's UUID, which encodes the row so GET by id needs no
lookup table. A lead is linked to a person, an organization or both (the API requires one);
15% are archived; they inherit the deal custom fields, shown at the top level and only when
set (the docs: "in the same format as with the Deals endpoints"), limited here to the field
types whose value looks the same in v1 and v2.
"""

from __future__ import annotations

import random
import re
import uuid
from array import array
from typing import Any

from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.data import (
    CURRENCIES,
    DEAL_WORDS,
    ORG_STEM,
    START,
    TIME_SORTS,
    World,
    _id,
    _pick,
    _t,
    _times,
    mix,
    ref,
    salt_of,
)
from crm_sandbox.pipedrive.store import Record, Store, Table

LABEL_COLORS = ("green", "blue", "red", "yellow", "purple", "gray")
LABEL_NAMES = ("Hot", "Warm", "Cold", "Partner referral", "Événement", "要フォロー")
# the fixed list of the docs, in their order
SOURCES = (
    "Manually created", "Deal", "Web forms", "Prospector", "Leadbooster", "Live chat", "Import",
    "Website visitors", "Workflow automation", "API",
)  # fmt: skip
ORIGINS = {"Manually created": "ManuallyCreated", "API": "API", "Import": "Import"}
PLAIN_TYPES = ("varchar", "text", "double", "date", "phone", "user", "org", "people")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


M48 = (1 << 48) - 1
SCRAMBLE = 0x5DEECE66D  # odd, so multiplying by it mod 2**48 can be undone
UNSCRAMBLE = pow(SCRAMBLE, -1, 1 << 48)


def lead_uuid(t: Table, rid: int) -> str:
    """A version-4 UUID whose last 48 bits are the row, scrambled with the seed (invertible)."""
    h = mix(t.salt ^ rid)
    node = ((rid * SCRAMBLE) & M48) ^ (t.salt & M48)
    return str(uuid.UUID(int=h << 64 | (h & 0xFFFF) << 48 | node, version=4))


def row_of(t: Table, lead_id: str) -> int | None:
    """The row of a lead UUID, or None when it is not one of this account's."""
    if not UUID_RE.match(lead_id):
        return None
    rid = ((int(lead_id[-12:], 16) ^ (t.salt & M48)) * UNSCRAMBLE) & M48
    if not t.exists(rid) or lead_uuid(t, rid) != lead_id:
        return None
    return rid


def labels(w: World) -> list[Record]:
    salt = salt_of(w.seed, "lead labels")
    at = timefmt.iso(START - 86400 * 20)
    out = []
    for k, (name, color) in enumerate(zip(LABEL_NAMES, LABEL_COLORS, strict=True)):
        h = mix(salt + k)
        out.append(
            {
                "id": str(uuid.UUID(int=h << 64 | mix(h), version=4)),
                "name": name,
                "color": color,
                "add_time": at,
                "update_time": at,
            }
        )
    return out


def render_lead(t: Table, rid: int) -> Record:
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    source = SOURCES[(h >> 5) % len(SOURCES)]
    person, org = ref(c["person_id"][i]), ref(c["org_id"][i])
    label_ids = [lbl["id"] for k, lbl in enumerate(t.aux["labels"]) if (h >> (20 + k)) & 7 == 0]
    amount = round(((h >> 30) % 2_000_000) / 100, 2)
    title = (
        f"{DEAL_WORDS[(h >> 9) % len(DEAL_WORDS)]} lead {rid}"
        if h % 5
        else f"{ORG_STEM[(h >> 9) % len(ORG_STEM)]} lead"
    )
    rec: Record = {
        "id": lead_uuid(t, rid),
        "title": title,
        "owner_id": c["owner_id"][i],
        "creator_id": 1 + (h >> 14) % w.n_users,
        "label_ids": label_ids,
        "person_id": person,
        "organization_id": org,
        "source_name": source,
        "origin": ORIGINS.get(source, "API"),
        "origin_id": None,
        "channel": None,
        "channel_id": None,
        "is_archived": bool(c["archived"][i]),
        "was_seen": bool((h >> 40) % 3),
        "value": None if h % 4 == 0 else {"amount": amount, "currency": CURRENCIES[(h >> 44) % 6]},
        "expected_close_date": (
            timefmt.day(c["add_time"][i] + (h >> 46) % 120 * 86400) if h % 3 == 0 else None
        ),
        "next_activity_id": None,
        "add_time": timefmt.iso(c["add_time"][i]),
        "update_time": timefmt.iso(c["update_time"][i]),
        "visible_to": "3" if h % 5 else "1",
        "cc_email": f"sandbox+lead{rid}@pipedrivemail.com",
    }
    plain = t.aux["plain_fields"]
    for key, value in w.custom["deal"].values(mix(h)).items():
        if key in plain and value is not None:
            rec[key] = value
    return rec


def extract_lead(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": 0,
        "archived": int(bool(r.get("is_archived"))),
        "owner_id": _id(r, "owner_id"),
        "person_id": _id(r, "person_id"),
        "org_id": _id(r, "organization_id"),
    }


def build_leads(store: Store, w: World) -> Table:
    """size / 2 leads; each on a person (70%), an organization, or both."""
    rnd = random.Random(salt_of(w.seed, "leads"))
    r = rnd.random
    n = w.size // 2
    add, upd = _times(rnd, n)
    person = _pick(r, n, w.n_persons, 0.3)
    org = _pick(r, n, w.n_orgs, 0.5)
    for k in range(n):
        if not person[k] and not org[k] and w.n_orgs:
            org[k] = 1 + int(r() * w.n_orgs)
    archived = array("q", (int(r() < 0.15) for _ in range(n)))
    columns = {
        "update_time": upd,
        "add_time": add,
        "deleted": array("q", bytes(8 * n)),
        "archived": archived,
        "owner_id": _pick(r, n, w.n_users, 0.0),
        "person_id": person,
        "org_id": org,
    }
    salt = salt_of(w.seed, "leads")
    t = Table("leads", columns, render_lead, extract_lead, dict(TIME_SORTS), salt)
    t.aux.update(
        world=w,
        store=store,
        generated=n,
        labels=labels(w),
        plain_fields=frozenset(
            f.key for f in w.fields["deal"].custom if f.field_type in PLAIN_TYPES
        ),
    )
    store.tables["leads"] = t
    return t


def lead_sources() -> list[dict[str, Any]]:
    return [{"name": name} for name in SOURCES]
