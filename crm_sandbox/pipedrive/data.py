"""Deterministic, related, deliberately awkward Pipedrive data built from (seed, size).

Generation fills only the columns lists sort and filter on (times, flags, foreign keys), with
one ``random.Random`` per entity; everything else in a record is derived on demand from a
64-bit hash of (seed, entity, id), so the same seed gives the same bytes and generating a
million deals takes seconds. Hard cases on purpose: a tenth of the records share one of three
"bulk import" seconds as update_time, most records were updated after creation, some are
deleted, some deals are archived, names carry non-ASCII letters, notes can be long.
"""

from __future__ import annotations

import json
import random
from array import array
from typing import Any

from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.fields import CustomField, EntityFields, build_fields
from crm_sandbox.pipedrive.store import NULL, Record, Store, Table

M64 = (1 << 64) - 1
START = timefmt.epoch_of(2022, 1, 3) + 8 * 3600
END = timefmt.epoch_of(2025, 6, 30) + 17 * 3600
# Seconds in which many records were "bulk imported/updated" at once.
BULK = (END - 30 * 86400 + 37, END - 7 * 86400 + 12345, END - 3600)

STATUSES = ("open", "won", "lost")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "SEK")
FIRST = (
    "Zoë", "Anna", "Łukasz", "José", "Søren", "Aiko", "Mohammed", "Chloé", "Björn", "Fatima",
    "Wei", "Olga", "Renée", "Ömer", "Sakura", "Jean-Luc", "María", "Nikolaj", "Priya", "Liam",
)  # fmt: skip
FIRST_ASCII = (
    "zoe", "anna", "lukasz", "jose", "soren", "aiko", "mohammed", "chloe", "bjorn", "fatima",
    "wei", "olga", "renee", "omer", "sakura", "jean-luc", "maria", "nikolaj", "priya", "liam",
)  # fmt: skip
LAST = (
    "Ångström", "渡辺", "Müller", "O'Brien", "García", "Kowalski", "Nguyễn", "Schmidt", "Rossi",
    "Dubois", "Ivanova", "Smith", "Papadopoulos", "Yılmaz",  # noqa: RUF001 (Turkish dotless i, on purpose)
    "Öberg", "van der Berg", "Hernández", "佐藤", "Kim", "Novák",
)  # fmt: skip
ORG_STEM = (
    "渡辺商事", "Müller & Söhne", "Ørsted Fjord", "Łódź Logistics", "Café Zoë", "Acme",
    "Nordlicht", "Blue Harbor", "Société Générale de Café", "Αθηνά Trading", "Hilltop",
    "Quantum Pear", "Ñandú Foods", "Kraków Steel", "Riverside",
)  # fmt: skip
ORG_SUFFIX = ("GmbH", "Ltd", "AS", "S.p.A.", "Inc.", "KK", "", "SARL", "Oy", "LLC")
DEAL_WORDS = (
    "Renewal", "Upsell", "Pilot", "Expansion", "Licence", "Onboarding", "Migration", "Support plan",
    "Ausschreibung", "Déploiement", "導入", "Rollout",
)  # fmt: skip
CITIES = (
    ("Berlin", "DE", "10115"), ("Tallinn", "EE", "10111"), ("Milano", "IT", "20121"),
    ("Kraków", "PL", "30-001"), ("東京", "JP", "100-0001"), ("São Paulo", "BR", "01000-000"),
    ("Zürich", "CH", "8001"), ("Austin", "US", "78701"),
)  # fmt: skip
STREETS = ("Hauptstraße", "Via Roma", "Main St", "Rue de la Paix", "Ulica Długa", "銀座")
ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
LOST_REASONS = ("Price", "Went with competitor", "No budget", "", "Timing")
LONG_PARAGRAPH = (
    "<p>Meeting notes — discussed pricing tiers, rollout plan, SSO, data residency (EU), "
    "and the migration of 12 years of history. Ærø office joins next quarter; 渡辺さん asked "
    "for a Japanese invoice template. Follow-up items: legal review, security questionnaire, "
    "reference call.</p>"
)


def mix(x: int) -> int:
    """splitmix64: a cheap, well-spread hash of an int."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def salt_of(seed: int, entity: str) -> int:
    return mix(seed * 1_000_003 + sum(ord(c) * 31**i for i, c in enumerate(entity)) & M64)


def opt(epoch: int) -> str | None:
    return timefmt.iso(epoch) if epoch else None


def ref(value: int) -> int | None:
    return value if value > 0 else None


class World:
    """Sizes and shared lookups of one generated account."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = max(0, size)
        self.n_users = min(50, max(10, self.size // 20))
        self.n_persons = self.size
        self.n_orgs = max(1, self.size // 2) if self.size else 0
        self.n_activities = 2 * self.size
        self.n_notes = self.size
        self.n_products = max(3, self.size // 10) if self.size else 0
        self.fields: dict[str, EntityFields] = build_fields(seed)
        self.users: list[Record] = []
        self.stage_pipeline: dict[int, int] = {}
        self.stage_probability: dict[int, int] = {}
        self.custom: dict[str, CustomGen] = {}


# ---------------------------------------------------------------------------- columns
def _times(rnd: random.Random, n: int) -> tuple[array, array]:
    """add_time rises with id (ids are given at creation); update_time >= add_time."""
    r = rnd.random
    span = (END - START - 86400) / max(n, 1)
    # arrays filled from generators: no list of a million Python ints on the way
    add = array("q", (START + int((i + r() * 0.9) * span) for i in range(n)))
    upd = array("q")
    append = upd.append
    for a in add:
        x = r()
        if x < 0.3:
            append(a)
        elif x < 0.9:
            append(a + int(r() * r() * (END - a)))
        else:
            b = BULK[int(x * 1000) % 3]
            append(b if b >= a else a)
    return add, upd


def _pick(r: Any, n: int, count: int, null_share: float) -> array:
    """Foreign keys 1..count, with a share of nulls (0)."""
    if count <= 0:
        return array("q", bytes(8 * n))
    return array("q", (0 if r() < null_share else 1 + int(r() * count) for _ in range(n)))


def _flags(r: Any, n: int, share: float) -> array:
    return array("q", (1 if r() < share else 0 for _ in range(n)))


# ---------------------------------------------------------------------------- custom fields
class CustomGen:
    """Seeded custom-field values of one entity, pre-built as 64 variants per field.

    A record picks one variant per field from its hash, so rendering (and JSON-encoding) its
    custom fields is a handful of lookups; variants are shared objects, which is why writes
    deep-copy a record before changing it.
    """

    VARIANTS = 64

    def __init__(self, w: World, customs: list[CustomField], salt: int) -> None:
        self.keys = [f.key for f in customs]
        self.mults = [mix(salt + idx) | 1 for idx in range(len(customs))]
        self.values_of = [
            [
                _custom_value(w, f, mix(salt ^ (idx * 7919 + k * 104729)))
                for k in range(self.VARIANTS)
            ]
            for idx, f in enumerate(customs)
        ]
        self.encoded = [
            [_json(f.key) + ":" + _json(value) for value in values]
            for f, values in zip(customs, self.values_of, strict=True)
        ]
        self.plan = list(zip(self.keys, self.mults, self.values_of, self.encoded, strict=True))

    def values(self, h: int) -> dict[str, Any]:
        return {key: vals[((h * m) & M64) >> 58] for key, m, vals, _ in self.plan}

    def json(self, h: int) -> str:
        return "{" + ",".join([enc[((h * m) & M64) >> 58] for _, m, _, enc in self.plan]) + "}"


_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _custom_value(w: World, f: CustomField, x: int) -> Any:
    if x % 4 == 0:
        return None
    x >>= 2
    t = f.field_type
    if t == "double":
        return round((x % 100000) / 100, 2) if x % 3 else x % 100
    if t == "varchar":
        return "" if x % 17 == 0 else f"REF-{x % 99999:05d}"
    if t == "text":
        return "Multi-line\ntext with “quotes” and émoji 🚀" if x % 2 else "Short text"
    if t == "monetary":
        return {"value": round((x % 10_000_000) / 100, 2), "currency": CURRENCIES[x % 6]}
    if t == "enum":
        return f.options[x % len(f.options)][0]
    if t == "set":
        ids = f.option_ids
        return [ids[j] for j in range(len(ids)) if (x >> j) & 1] or [ids[0]]
    if t == "date":
        return timefmt.day(START + (x % 1400) * 86400)
    if t == "user":
        return 1 + x % w.n_users
    if t == "org":
        return 1 + x % w.n_orgs if w.n_orgs else None
    if t == "people":
        return 1 + x % w.n_persons if w.n_persons else None
    if t == "phone":
        return f"+49 30 {x % 9000000 + 1000000}"
    if t == "address":
        return address(x)
    if t == "time":
        return {
            "value": f"{8 + x % 10:02d}:{(x >> 4) % 4 * 15:02d}:00",
            "timezone_id": 318,
            "timezone_name": "Europe/London",
        }
    if t == "daterange":
        first = START + (x % 1200) * 86400
        return {"value": timefmt.day(first), "until": timefmt.day(first + 86400 * 90)}
    return None  # pragma: no cover - every seeded type is handled above


def dumps_record(record: Record) -> bytes:
    return _json(record).encode("utf-8")


def fragment(t: Table, rid: int) -> bytes:
    """The record's JSON; generated records splice in pre-encoded custom fields (fast path)."""
    found = t.over.get(rid)
    if found is not None:
        return _json(found).encode("utf-8")
    if t.generate is render_deal:
        return deal_json(t, rid).encode("utf-8")
    gen: CustomGen | None = t.aux.get("custom_gen")
    assert t.generate is not None
    if gen is None:
        return _json(t.generate(t, rid)).encode("utf-8")
    base = _json(t.generate(t, rid, False))
    return (base[:-1] + ',"custom_fields":' + gen.json(mix(t.salt ^ rid)) + "}").encode("utf-8")


def address(x: int) -> dict[str, Any]:
    city, country, postal = CITIES[x % len(CITIES)]
    street = STREETS[(x >> 3) % len(STREETS)]
    number = str(1 + (x >> 6) % 200)
    return {
        "value": f"{street} {number}, {postal} {city}",
        "street_number": number,
        "route": street,
        "subpremise": None,
        "sublocality": None,
        "locality": city,
        "admin_area_level_1": None,
        "admin_area_level_2": None,
        "country": country,
        "postal_code": postal,
        "formatted_address": f"{street} {number}, {postal} {city}, {country}",
    }


# ---------------------------------------------------------------------------- renderers
def _generated_title(h: int, rid: int) -> str:
    if h % 7:
        return f"{DEAL_WORDS[(h >> 4) % len(DEAL_WORDS)]} #{rid}"
    return f"{ORG_STEM[(h >> 9) % len(ORG_STEM)]} deal"


def deal_title(t: Table, rid: int) -> str:
    """A deal's title without rendering the whole deal (notes show it)."""
    found = t.over.get(rid)
    if found is not None:
        return str(found["title"])
    return _generated_title(mix(t.salt ^ rid), rid)


def render_deal(t: Table, rid: int, custom: bool = True) -> Record:
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    status = STATUSES[c["status"][i]]
    add = c["add_time"][i]
    upd = c["update_time"][i]
    stage = c["stage_id"][i]
    closed = upd if status != "open" else 0
    archived = c["archived"][i]
    value = 0 if h % 13 == 0 else round(((h >> 8) % 5_000_000) / 100 + (h >> 40) % 7 * 0.05, 2)
    rec: Record = {
        "id": rid,
        "title": _generated_title(h, rid),
        "creator_user_id": 1 + (h >> 12) % w.n_users,
        "owner_id": c["owner_id"][i],
        "value": value,
        "person_id": ref(c["person_id"][i]),
        "org_id": ref(c["org_id"][i]),
        "stage_id": stage,
        "pipeline_id": c["pipeline_id"][i],
        "currency": CURRENCIES[(h >> 20) % 6],
        "add_time": timefmt.iso(add),
        "update_time": timefmt.iso(upd),
        "stage_change_time": timefmt.iso(add + (upd - add) // 2) if upd > add else None,
        "is_deleted": bool(c["deleted"][i]),
        "is_archived": bool(archived),
        "status": status,
        "probability": None if h % 3 else w.stage_probability.get(stage),
        "lost_reason": LOST_REASONS[(h >> 24) % 5] or None if status == "lost" else None,
        "visible_to": 3 if h % 5 else 7,
        "close_time": opt(closed),
        "won_time": opt(closed) if status == "won" else None,
        "lost_time": opt(closed) if status == "lost" else None,
        "local_won_date": timefmt.day(closed) if status == "won" else None,
        "local_lost_date": timefmt.day(closed) if status == "lost" else None,
        "local_close_date": timefmt.day(closed) if closed else None,
        "expected_close_date": timefmt.day(add + (h >> 30) % 180 * 86400) if h % 4 else None,
        "archive_time": timefmt.iso(upd) if archived else None,
        "label_ids": [] if h % 3 else [1 + (h >> 33) % 5],
        "origin": "ManuallyCreated" if h % 6 else "API",
        "origin_id": None,
        "channel": None,
        "channel_id": None,
        "acv": None,
        "arr": None,
        "mrr": None,
    }
    if custom:
        rec["custom_fields"] = w.custom["deal"].values(h)
    return rec


# Pre-encoded JSON pieces of the deal fast path (``deal_json``).
_TITLE_HEAD = [_json(word)[:-1] for word in DEAL_WORDS]  # opening quote, no closing one
_ORG_TITLE = [_json(f"{stem} deal") for stem in ORG_STEM]
_CURRENCY = [_json(code) for code in CURRENCIES]
_LOST = [_json(reason) if reason else "null" for reason in LOST_REASONS]
_BOOL = ("false", "true")


def deal_json(t: Table, rid: int) -> str:
    """``_json(render_deal(t, rid))`` built as one string: deal pages are the hot path.

    Must stay byte-identical to the dict form (a unit test compares them on many records).
    """
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    iso = timefmt.iso
    code = c["status"][i]
    add = c["add_time"][i]
    upd = c["update_time"][i]
    stage = c["stage_id"][i]
    person = c["person_id"][i]
    org = c["org_id"][i]
    archived = c["archived"][i]
    closed = upd if code else 0
    value = 0 if h % 13 == 0 else round(((h >> 8) % 5_000_000) / 100 + (h >> 40) % 7 * 0.05, 2)
    title = (
        f'{_TITLE_HEAD[(h >> 4) % len(DEAL_WORDS)]} #{rid}"'
        if h % 7
        else _ORG_TITLE[(h >> 9) % len(ORG_STEM)]
    )
    null = "null"
    close_time = f'"{iso(closed)}"' if closed else null
    close_day = f'"{timefmt.day(closed)}"' if closed else null
    won = code == 1
    lost = code == 2
    probability = w.stage_probability.get(stage) if not h % 3 else None
    change = f'"{iso(add + (upd - add) // 2)}"' if upd > add else null
    expected = f'"{timefmt.day(add + (h >> 30) % 180 * 86400)}"' if h % 4 else null
    archive = f'"{iso(upd)}"' if archived else null
    labels = "[]" if h % 3 else f"[{1 + (h >> 33) % 5}]"
    origin = '"ManuallyCreated"' if h % 6 else '"API"'
    gen: CustomGen = t.aux["custom_gen"]
    return (
        f'{{"id":{rid},"title":{title},"creator_user_id":{1 + (h >> 12) % w.n_users},'
        f'"owner_id":{c["owner_id"][i]},"value":{value!r},'
        f'"person_id":{person if person > 0 else null},"org_id":{org if org > 0 else null},'
        f'"stage_id":{stage},"pipeline_id":{c["pipeline_id"][i]},'
        f'"currency":{_CURRENCY[(h >> 20) % 6]},"add_time":"{iso(add)}","update_time":"{iso(upd)}",'
        f'"stage_change_time":{change},"is_deleted":{_BOOL[c["deleted"][i]]},'
        f'"is_archived":{_BOOL[archived]},"status":"{STATUSES[code]}",'
        f'"probability":{null if probability is None else probability},'
        f'"lost_reason":{_LOST[(h >> 24) % 5] if lost else null},"visible_to":{3 if h % 5 else 7},'
        f'"close_time":{close_time},"won_time":{close_time if won else null},'
        f'"lost_time":{close_time if lost else null},"local_won_date":{close_day if won else null},'
        f'"local_lost_date":{close_day if lost else null},"local_close_date":{close_day},'
        f'"expected_close_date":{expected},"archive_time":{archive},"label_ids":{labels},'
        f'"origin":{origin},"origin_id":null,"channel":null,"channel_id":null,"acv":null,'
        f'"arr":null,"mrr":null,"custom_fields":{gen.json(h)}}}'
    )


def person_name(t: Table, rid: int) -> tuple[str, str | None, str | None, int]:
    found = t.over.get(rid)
    h = mix(t.salt ^ rid)
    if found is not None:
        return found["name"], found.get("first_name"), found.get("last_name"), h
    first_i = (h >> 3) % len(FIRST)
    last = LAST[(h >> 9) % len(LAST)]
    if h % 20 == 0:
        return last, None, last, h
    first = FIRST[first_i]
    return f"{first} {last}", first, last, h


def render_person(t: Table, rid: int, custom: bool = True) -> Record:
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    name, first, last, h = person_name(t, rid)
    local = FIRST_ASCII[(h >> 3) % len(FIRST_ASCII)]
    n_mail = (h >> 14) % 3
    emails = [
        {"value": f"{local}.{rid}{'.alt' if k else ''}@example.com", "primary": k == 0,
         "label": "work" if k == 0 else "home"}
        for k in range(n_mail)
    ]  # fmt: skip
    n_phone = (h >> 16) % 3
    phones = [
        {"value": f"+39 02 {(h >> 20) % 900000 + 100000 + k}", "primary": k == 0,
         "label": "work" if k == 0 else "mobile"}
        for k in range(n_phone)
    ]  # fmt: skip
    rec: Record = {
        "id": rid,
        "name": name,
        "first_name": first,
        "last_name": last,
        "owner_id": c["owner_id"][i],
        "org_id": ref(c["org_id"][i]),
        "add_time": timefmt.iso(c["add_time"][i]),
        "update_time": timefmt.iso(c["update_time"][i]),
        "emails": emails,
        "phones": phones,
        "is_deleted": bool(c["deleted"][i]),
        "visible_to": 3 if h % 5 else 7,
        "label_ids": [] if h % 4 else [1 + (h >> 30) % 3],
        "picture_id": None,
        # contact-sync fields (research §2 PersonItem): present, mostly empty
        "im": (
            [{"value": f"{local}.{rid}", "primary": True, "label": "skype"}]
            if (h >> 24) % 5 == 0
            else []
        ),
        "birthday": timefmt.day(BIRTHDAYS + (h >> 26) % 14000 * 86400) if h % 3 == 0 else None,
        "job_title": JOB_TITLES[(h >> 40) % len(JOB_TITLES)] if h % 4 else None,
        "notes": "Prefers e-mail — «no calls before 10»" if (h >> 44) % 7 == 0 else None,
        "postal_address": address(h >> 21) if (h >> 48) % 4 == 0 else None,
    }
    if custom:
        rec["custom_fields"] = w.custom["person"].values(h)
    return rec


JOB_TITLES = ("CEO", "Head of Sales", "Einkäufer", "CTO", "Office manager", "購買担当")
BIRTHDAYS = timefmt.epoch_of(1950, 1, 1)
INDUSTRIES = ("Software", "Manufacturing", "Logistics", "Retail", "Food & beverage", "Energy")


def org_name(t: Table, rid: int) -> str:
    found = t.over.get(rid)
    if found is not None:
        return str(found["name"])
    h = mix(t.salt ^ rid)
    suffix = ORG_SUFFIX[(h >> 7) % len(ORG_SUFFIX)]
    stem = ORG_STEM[(h >> 3) % len(ORG_STEM)]
    return f"{stem} {suffix} {rid}" if suffix else f"{stem} {rid}"


def render_org(t: Table, rid: int, custom: bool = True) -> Record:
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    rec: Record = {
        "id": rid,
        "name": org_name(t, rid),
        "owner_id": c["owner_id"][i],
        "add_time": timefmt.iso(c["add_time"][i]),
        "update_time": timefmt.iso(c["update_time"][i]),
        "is_deleted": bool(c["deleted"][i]),
        "visible_to": 3 if h % 5 else 7,
        "address": address(h >> 5) if h % 10 < 7 else None,
        "label_ids": [] if h % 4 else [1 + (h >> 30) % 3],
        "picture_id": None,
        # since 2026 (research §2 Organization): nullable, set on some records
        "website": f"https://org{rid}.example.com" if h % 3 else None,
        "linkedin": f"https://www.linkedin.com/company/org-{rid}" if h % 4 == 0 else None,
        "industry": INDUSTRIES[(h >> 34) % len(INDUSTRIES)] if h % 5 else None,
        "annual_revenue": float((h >> 38) % 50_000 * 1000) if h % 6 else None,
        "employee_count": 1 + (h >> 40) % 5000 if h % 7 else None,
    }
    if custom:
        rec["custom_fields"] = w.custom["organization"].values(h)
    return rec


def render_activity(t: Table, rid: int) -> Record:
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    kind = ACTIVITY_TYPES[h % len(ACTIVITY_TYPES)]
    due = c["due_date"][i]
    done = bool(c["done"][i])
    upd = c["update_time"][i]
    person = ref(c["person_id"][i])
    return {
        "id": rid,
        "subject": f"{kind.capitalize()} — follow-up {rid}" if h % 9 else f"Anruf mit Zoë {rid}",
        "type": kind,
        "owner_id": c["owner_id"][i],
        "creator_user_id": c["owner_id"][i] if h % 3 else 1,
        "is_deleted": bool(c["deleted"][i]),
        "add_time": timefmt.iso(c["add_time"][i]),
        "update_time": timefmt.iso(upd),
        "deal_id": ref(c["deal_id"][i]),
        "lead_id": None,
        "person_id": person,
        "org_id": ref(c["org_id"][i]),
        "project_id": None,
        "due_date": None if due == NULL else timefmt.day(due * 86400),
        "due_time": None if h % 4 == 0 else f"{8 + (h >> 8) % 10:02d}:{(h >> 12) % 4 * 15:02d}:00",
        "duration": None if h % 4 == 0 else f"{(h >> 14) % 3:02d}:{(h >> 16) % 2 * 30:02d}:00",
        "busy": bool(h >> 18 & 1),
        "done": done,
        "marked_as_done_time": timefmt.iso(upd) if done else None,
        "location": address(h >> 20) if h % 11 == 0 else None,
        "participants": [{"person_id": person, "primary": True}] if person else [],
        "conference_meeting_client": None,
        "conference_meeting_url": None,
        "conference_meeting_id": None,
        "public_description": None,
        "priority": None,
        "note": None if h % 3 else "<p>Call notes: agreed next steps.</p>",
        "outcome": OUTCOMES[(h >> 22) % len(OUTCOMES)] if done and h % 2 else None,
    }


OUTCOMES = ("Interested", "Call back later", "Not interested", "Sent proposal")


PRODUCT_WORDS = ("Widget", "Gadget", "Lizenz", "Abonnement", "Support", "Ωmega", "Café", "Sensor")


def render_product(t: Table, rid: int, custom: bool = True) -> Record:
    w: World = t.aux["world"]
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    base_price = round(((h >> 8) % 100000) / 100, 2)
    cost = round(base_price / 2, 2)
    prices = [
        {"product_id": rid, "price": base_price, "currency": "EUR", "cost": cost,
         "direct_cost": None, "notes": ""},
    ]  # fmt: skip
    if h % 3 == 0:
        prices.append(
            {"product_id": rid, "price": round(base_price * 1.1, 2), "currency": "USD",
             "cost": 0, "direct_cost": None, "notes": "US list price"}
        )  # fmt: skip
    rec: Record = {
        "id": rid,
        "name": product_name(t, rid),
        "code": f"SKU-{rid:05d}" if h % 8 else None,
        "unit": "pcs" if h % 2 else "licence",
        "tax": (0, 19, 22, 7.5)[(h >> 4) % 4],
        "is_deleted": bool(c["deleted"][i]),
        "is_linkable": True,
        "visible_to": 3,
        "owner_id": c["owner_id"][i],
        "add_time": timefmt.iso(c["add_time"][i]),
        "update_time": timefmt.iso(c["update_time"][i]),
        "description": None if h % 5 else "Präzise & robust — Made in 🇪🇺",
        "category": None,
        "billing_frequency": ("one-time", "monthly", "annually")[(h >> 6) % 3],
        "billing_frequency_cycles": None,
        "prices": prices,
    }
    if custom:
        rec["custom_fields"] = w.custom["product"].values(h)
    return rec


def product_name(t: Table, rid: int) -> str:
    found = t.over.get(rid)
    if found is not None:
        return str(found["name"])
    h = mix(t.salt ^ rid)
    return f"{PRODUCT_WORDS[h % len(PRODUCT_WORDS)]} {(h >> 5) % 1000}"


def render_note(t: Table, rid: int) -> Record:
    """A v1 note (BaseNote): v1 times, nested names of what it is attached to."""
    c = t.cols
    i = rid - 1
    h = mix(t.salt ^ rid)
    if h % 25 == 0:
        content = LONG_PARAGRAPH * (20 + h % 40)
    elif h % 9 == 0:
        content = ""
    else:
        content = (
            f"<p>Note {rid}: {LAST[(h >> 5) % len(LAST)]} wants a call back &amp; a quote.</p>"
        )
    return note_shape(
        t,
        {
            "id": rid,
            "user_id": c["user_id"][i],
            "deal_id": ref(c["deal_id"][i]),
            "person_id": ref(c["person_id"][i]),
            "org_id": ref(c["org_id"][i]),
            "lead_id": None,
            "project_id": None,
            "task_id": None,
            "content": content,
            "add_time": timefmt.v1(c["add_time"][i]),
            "update_time": timefmt.v1(c["update_time"][i]),
            "active_flag": not c["deleted"][i],
            "pinned_to_deal_flag": bool(c["deal_id"][i]) and h % 10 == 1,
            "pinned_to_organization_flag": False,
            "pinned_to_person_flag": False,
            "pinned_to_lead_flag": False,
            "pinned_to_project_flag": False,
            "pinned_to_task_flag": False,
            "last_update_user_id": c["user_id"][i] if h % 2 else None,
        },
    )


def note_shape(t: Table, note: Record) -> Record:
    """Add the v1 nested objects (deal title, person/org names, author) to a note."""
    store: Store = t.aux["store"]
    w: World = t.aux["world"]
    out = dict(note)
    deal_id, person_id, org_id = note.get("deal_id"), note.get("person_id"), note.get("org_id")
    deals = store["deals"]
    out["deal"] = (
        {"title": deal_title(deals, deal_id)} if deal_id and deals.exists(deal_id) else None
    )
    persons = store["persons"]
    out["person"] = (
        {"name": person_name(persons, person_id)[0]}
        if person_id and persons.exists(person_id)
        else None
    )
    orgs = store["organizations"]
    out["organization"] = (
        {"name": org_name(orgs, org_id)} if org_id and orgs.exists(org_id) else None
    )
    user = w.users[note["user_id"] - 1] if 1 <= (note.get("user_id") or 0) <= len(w.users) else None
    out["user"] = (
        {"email": user["email"], "icon_url": None, "is_you": user["id"] == 1, "name": user["name"]}
        if user
        else None
    )
    return out


# ---------------------------------------------------------------------------- extractors
def _t(record: Record, key: str) -> int:
    value = record.get(key)
    return (timefmt.parse_any(value) or 0) if isinstance(value, str) else 0


def _id(record: Record, key: str) -> int:
    value = record.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def extract_deal(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(bool(r.get("is_deleted"))),
        "archived": int(bool(r.get("is_archived"))),
        "status": STATUSES.index(r.get("status") or "open"),
        "owner_id": _id(r, "owner_id"),
        "person_id": _id(r, "person_id"),
        "org_id": _id(r, "org_id"),
        "pipeline_id": _id(r, "pipeline_id"),
        "stage_id": _id(r, "stage_id"),
    }


def extract_person(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(bool(r.get("is_deleted"))),
        "owner_id": _id(r, "owner_id"),
        "org_id": _id(r, "org_id"),
    }


def extract_simple(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(bool(r.get("is_deleted"))),
        "owner_id": _id(r, "owner_id"),
    }


def extract_activity(r: Record) -> dict[str, int]:
    due = r.get("due_date")
    day = timefmt.parse_date(due) if isinstance(due, str) else None
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(bool(r.get("is_deleted"))),
        "owner_id": _id(r, "owner_id"),
        "deal_id": _id(r, "deal_id"),
        "person_id": _id(r, "person_id"),
        "org_id": _id(r, "org_id"),
        "done": int(bool(r.get("done"))),
        "due_date": NULL if day is None else day,
    }


def extract_note(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(not r.get("active_flag", True)),
        "user_id": _id(r, "user_id"),
        "deal_id": _id(r, "deal_id"),
        "person_id": _id(r, "person_id"),
        "org_id": _id(r, "org_id"),
    }


def extract_pipeline(r: Record) -> dict[str, int]:
    return {
        "update_time": _t(r, "update_time"),
        "add_time": _t(r, "add_time"),
        "deleted": int(bool(r.get("is_deleted"))),
        "order_nr": _id(r, "order_nr"),
        "pipeline_id": _id(r, "pipeline_id"),
    }


def _time_value(field: str) -> Any:
    return lambda t, rid: t.cols[field][rid - 1]


TIME_SORTS = {"update_time": _time_value("update_time"), "add_time": _time_value("add_time")}


# ---------------------------------------------------------------------------- build
def build(seed: int, size: int) -> tuple[Store, World]:
    w = World(seed, size)
    store = Store()
    for kind, entity_fields in w.fields.items():
        w.custom[kind] = CustomGen(w, entity_fields.custom, salt_of(seed, kind + " fields"))
    _users(w)
    pipelines, stages = _pipelines(w)

    def table(
        entity: str, columns: dict[str, array], gen: Any, extract: Any, **sorts: Any
    ) -> Table:
        t = Table(entity, columns, gen, extract, {**TIME_SORTS, **sorts}, salt_of(seed, entity))
        t.aux.update(world=w, store=store, generated=len(columns["update_time"]))
        kind = {"deals": "deal", "persons": "person", "organizations": "organization",
                "products": "product"}.get(entity)  # fmt: skip
        if kind:
            t.aux["custom_gen"] = w.custom[kind]
        store.tables[entity] = t
        return t

    # deals
    rnd = random.Random(salt_of(seed, "deals"))
    r = rnd.random
    n = w.size
    add, upd = _times(rnd, n)
    stage_ids = list(w.stage_pipeline)
    stage = array("q", (stage_ids[int(r() * len(stage_ids))] for _ in range(n)))
    deleted = _flags(r, n, 0.03)
    archived = array("q", (0 if d else int(r() < 0.04) for d in deleted))
    table(
        "deals",
        {
            "update_time": upd,
            "add_time": add,
            "deleted": deleted,
            "archived": archived,
            "status": array(
                "q", (0 if x < 0.6 else 1 if x < 0.85 else 2 for x in (r() for _ in range(n)))
            ),
            "owner_id": _pick(r, n, w.n_users, 0.0),
            "person_id": _pick(r, n, w.n_persons, 0.15),
            "org_id": _pick(r, n, w.n_orgs, 0.25),
            "pipeline_id": array("q", (w.stage_pipeline[s] for s in stage)),
            "stage_id": stage,
        },
        render_deal,
        extract_deal,
    )

    # persons
    rnd = random.Random(salt_of(seed, "persons"))
    r = rnd.random
    n = w.n_persons
    add, upd = _times(rnd, n)
    table(
        "persons",
        {
            "update_time": upd,
            "add_time": add,
            "deleted": _flags(r, n, 0.02),
            "owner_id": _pick(r, n, w.n_users, 0.0),
            "org_id": _pick(r, n, w.n_orgs, 0.3),
        },
        render_person,
        extract_person,
    )

    # organizations
    rnd = random.Random(salt_of(seed, "organizations"))
    r = rnd.random
    n = w.n_orgs
    add, upd = _times(rnd, n)
    table(
        "organizations",
        {"update_time": upd, "add_time": add, "deleted": _flags(r, n, 0.02),
         "owner_id": _pick(r, n, w.n_users, 0.0)},
        render_org,
        extract_simple,
    )  # fmt: skip

    # activities: attached to a deal (then its person/org) or to a person
    rnd = random.Random(salt_of(seed, "activities"))
    r = rnd.random
    n = w.n_activities
    add, upd = _times(rnd, n)
    deals = store["deals"].cols
    deal_col = _pick(r, n, w.size, 0.3)
    person_col = array("q", (deals["person_id"][d - 1] if d else 0 for d in deal_col))
    org_col = array("q", (deals["org_id"][d - 1] if d else 0 for d in deal_col))
    for k in range(n):
        if not deal_col[k] and w.n_persons and r() < 0.7:
            person_col[k] = 1 + int(r() * w.n_persons)
    done = _flags(r, n, 0.55)
    shifts = (r() for _ in range(n))  # due date: up to 60 days after creation, 5% without
    due = array(
        "q",
        (
            NULL if x < 0.05 else (a + int(x * 60 * 86400)) // 86400
            for a, x in zip(add, shifts, strict=True)
        ),
    )
    table(
        "activities",
        {"update_time": upd, "add_time": add, "deleted": _flags(r, n, 0.02),
         "owner_id": _pick(r, n, w.n_users, 0.0), "deal_id": deal_col, "person_id": person_col,
         "org_id": org_col, "done": done, "due_date": due},
        render_activity,
        extract_activity,
        due_date=lambda t, rid: t.cols["due_date"][rid - 1],
    )  # fmt: skip

    # products
    rnd = random.Random(salt_of(seed, "products"))
    r = rnd.random
    n = w.n_products
    add, upd = _times(rnd, n)
    table(
        "products",
        {"update_time": upd, "add_time": add, "deleted": _flags(r, n, 0.03),
         "owner_id": _pick(r, n, w.n_users, 0.0)},
        render_product,
        extract_simple,
        name=lambda t, rid: str(t.get(rid)["name"]).casefold(),
    )  # fmt: skip

    # notes (v1): attached to a deal (then maybe its person/org) or to a person or org
    rnd = random.Random(salt_of(seed, "notes"))
    r = rnd.random
    n = w.n_notes
    add, upd = _times(rnd, n)
    deal_col = _pick(r, n, w.size, 0.4)
    person_col = array("q", (deals["person_id"][d - 1] if d and r() < 0.5 else 0 for d in deal_col))
    org_col = array("q", bytes(8 * n))
    for k in range(n):
        if not deal_col[k]:
            if w.n_persons and r() < 0.6:
                person_col[k] = 1 + int(r() * w.n_persons)
            elif w.n_orgs:
                org_col[k] = 1 + int(r() * w.n_orgs)
    table(
        "notes",
        {"update_time": upd, "add_time": add, "deleted": _flags(r, n, 0.02),
         "user_id": _pick(r, n, w.n_users, 0.0), "deal_id": deal_col, "person_id": person_col,
         "org_id": org_col},
        render_note,
        extract_note,
    )  # fmt: skip

    # pipelines and stages: few, stored as full records
    for name, records in (("pipelines", pipelines), ("stages", stages)):
        cols = {
            k: array("q") for k in ("update_time", "add_time", "deleted", "order_nr", "pipeline_id")
        }
        t = table(
            name, cols, None, extract_pipeline, order_nr=lambda t, rid: t.cols["order_nr"][rid - 1]
        )
        for rec in records:
            t.put(rec["id"], rec)
        t.version = 0
    return store, w


def _users(w: World) -> None:
    rnd = random.Random(salt_of(w.seed, "users"))
    for uid in range(1, w.n_users + 1):
        first = FIRST[int(rnd.random() * len(FIRST))]
        last = LAST[int(rnd.random() * len(LAST))]
        local = FIRST_ASCII[FIRST.index(first)]
        created = START - 86400 * (30 + uid)
        w.users.append(
            {
                "id": uid,
                "name": f"{first} {last}",
                "default_currency": "EUR",
                "locale": "en_US",
                "lang": 1,
                "email": f"{local}.{uid}@sandbox.example",
                "phone": None,
                "activated": True,
                "last_login": timefmt.v1(END - uid * 3600),
                "created": timefmt.v1(created),
                "modified": timefmt.v1(created + 86400),
                "has_created_company": uid == 1,
                "access": [{"app": "sales", "admin": uid == 1, "permission_set_id": "1"}],
                "active_flag": uid % 17 != 0,
                "timezone_name": "Europe/Berlin",
                "timezone_offset": "+01:00",
                "role_id": 1,
                "icon_url": None,
                "is_you": uid == 1,
                "is_admin": int(uid == 1),
            }
        )


def _pipelines(w: World) -> tuple[list[Record], list[Record]]:
    rnd = random.Random(salt_of(w.seed, "pipelines"))
    names = ("Sales", "Partners", "Renewals")
    stage_names = ("Lead in", "Qualified", "Contact made", "Demo", "Proposal", "Negotiation")
    pipelines: list[Record] = []
    stages: list[Record] = []
    for pid in range(1, 2 + int(rnd.random() * 2) + 1):
        created = START - 86400 * 10 + pid * 60
        pipelines.append(
            {
                "id": pid,
                "name": names[pid - 1],
                "order_nr": pid,
                "is_deleted": False,
                "is_deal_probability_enabled": pid == 1,
                "add_time": timefmt.iso(created),
                "update_time": timefmt.iso(created + (86400 * pid if pid > 1 else 0)),
            }
        )
        for order in range(1, 4 + int(rnd.random() * 3) + 1):
            sid = len(stages) + 1
            probability = min(100, order * 20)
            w.stage_pipeline[sid] = pid
            w.stage_probability[sid] = probability
            stages.append(
                {
                    "id": sid,
                    "order_nr": order,
                    "name": stage_names[order - 1],
                    "is_deleted": False,
                    "deal_probability": probability,
                    "pipeline_id": pid,
                    "is_deal_rot_enabled": order > 2,
                    "days_to_rotten": 14 if order > 2 else None,
                    "add_time": timefmt.iso(created + order),
                    "update_time": timefmt.iso(created + order) if order % 2 else None,
                }
            )
    return pipelines, stages
