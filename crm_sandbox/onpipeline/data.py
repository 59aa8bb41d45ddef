"""A seeded, deterministic Onpipeline account, generated lazily.

Nothing here is stored per record: record ``i`` of an entity is a pure function of
``(seed, entity, i)``, drawn from a BLAKE2b digest of that key. Only what must be known for
the whole account is materialised at generation time, in flat arrays:

- the creation time of every record (UTC epoch seconds, sorted), so creation-date windows
  are a bisection, not a scan;
- deal counts per person and organisation (DealsOpen/DealsWon/DealsLost), one pass over the
  deals' cores;
- the small lists (users, teams, pipelines, products, custom fields).

So generating 100,000 deals takes about a second and the memory is a few flat arrays; a
list request renders its records on the fly. Writes live in :mod:`.store` as overrides.

Internal record values: datetimes are UTC epoch seconds (``None`` = empty), dates are
``YYYY-MM-DD`` strings (``""`` = empty), money is API text ("1000.00"), links are indexes of
the linked entity (``-1`` = none); ``extra`` maps custom field id -> value.
"""

from __future__ import annotations

import bisect
import random
from array import array
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from hashlib import blake2b
from typing import Any

# The generated history: seven years, fixed so that the same seed gives the same bytes on any day.
EPOCH_START = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
EPOCH_END = int(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
SPAN = EPOCH_END - EPOCH_START
DAY = 86400

KINDS = ("persons", "organizations", "deals", "events", "notes", "invoices")

FIRST_NAMES = (
    "Giulia", "Marco", "José", "Zoë", "Łukasz", "Søren", "François", "Anaïs", "Jürgen",
    "Ólafur", "Chloé", "Ngô", "Siobhán", "Matteo", "Ελένη", "Иван", "美咲", "Ahmed", "Noémie",
    "Paul", "Mike", "Ana María", "Björk", "Dvořák", "Renée", "Zeynep", "Ção", "Åsa", "Nuño",
    "Elif", "Kateřina", "Þór", "Mary-Jane", "Luca", "Sofía", "Jean-Luc", "Wiktoria", "Chen",
)  # fmt: skip
LAST_NAMES = (
    "Rossi", "O'Brien", "D'Amico", "Müller", "García Márquez", "Nguyễn", "Kowalski", "Smith",
    "Dubois", "Sørensen", "Papadopoulos", "Иванова", "山田", "Al-Farsi", "van der Berg", "Øster",
    "Bianchi", "Fernández", "Schäfer", "Lefèvre", "Novák", "Y\u0131lmaz", "Esposito", "de la Cruz",
    "Ferrari", "Jónsdóttir", "Łęcka", "Brontë", "Zhang", "Costa", "Romano", "Kühn",
)  # fmt: skip
ORG_WORDS = (
    "Acme", "Nordlicht", "Soluciones", "Ferramenta", "Bäckerei", "Tecnologie", "Żabka", "Ōkami",
    "Café Olé", "Atelier", "Logística", "Grün & Partner", "Studio", "Meccanica", "Øresund",
    "Global", "Hôtel", "Costruzioni", "Ñandú", "Pixel", "Rivoli", "Seaside", "Blue \"Fish\"",
)  # fmt: skip
ORG_SUFFIXES = ("S.r.l.", "S.p.A.", "GmbH", "Ltd", "Inc.", "S.L.", "SARL", "sp. z o.o.", "", "AB")
PLACES = (  # city, region, country, postcode pattern ('9' = digit)
    ("Milano", "Lombardia", "Italy", "20199"),
    ("Roma", "Lazio", "Italy", "00199"),
    ("Barcelona", "Barcelona", "Spain", "08099"),
    ("München", "Bayern", "Germany", "80999"),
    ("Kraków", "Małopolskie", "Poland", "31-999"),
    ("Paris", "Île-de-France", "France", "75099"),
    ("København", "Hovedstaden", "Denmark", "1999"),
    ("London", None, "United Kingdom", "EC1A 9BB"),
    ("New York", "NY", "US", "10099"),
    ("São Paulo", "SP", "Brazil", "01999-999"),
    ("Zürich", "ZH", "Switzerland", "8099"),
    ("Reykjavík", None, "Iceland", "199"),
)
STREETS = (
    "Via Roma", "Av. Diagonal", "Hauptstraße", "ul. Długa", "Rue de Rivoli", "Strøget",
    "Baker Street", "Rua Augusta", "Bahnhofstrasse", "Corso Italia", "Calle Mayor",
)  # fmt: skip
WORDS = (
    "offerta", "follow-up", "contratto", "budget", "renewal", "Angebot", "démo", "presupuesto",
    "meeting", "call", "prezzo", "sconto", "licenza", "installazione", "¿cuándo?", "naïve",
    "über", "café", "😀", "→", "«ok»", "50%", "€1.200,00", "O'Reilly", "\"quoted\"", "a\\b",
)  # fmt: skip
LOST_REASONS = ("Price too high", "Competitor", "No budget", "Timing", "Nessuna risposta")
EVENT_TYPES = ("task", "call", "email", "meeting", "deadline")
CURRENCIES = ("EUR", "EUR", "EUR", "EUR", "USD", "USD", "GBP")
STAGE_NAMES = (
    "Lead in", "Contatto", "Qualified", "Demo", "Proposal sent", "Negotiation started", "Closing",
)  # fmt: skip
PRODUCT_WORDS = (
    "Equipment", "Food", "Consulenza", "Software licence", "Formazione", "Wartung", "Hardware",
    "Support plan", "Installation", "Diseño", "Abonnement", "Catering", "Licenza annuale",
)  # fmt: skip
CUSTOM_FIELDS = {  # table -> field names, values drawn per record
    "Persons": ("Role", "Frequent Buyer", "LinkedIn"),
    "Organizations": ("Area", "VAT number", "Segment", "Billing ID"),
    "Deals": ("Temperature", "Campaign", "Contract ref"),
}
TABLE_OF = {"persons": "Persons", "organizations": "Organizations", "deals": "Deals"}


class Draw:
    """Random draws from a BLAKE2b digest of a key: random access by record, no global state.

    512 bits are consumed in mixed radix (``below(n)`` takes log2(n) bits), refilled by
    hashing the key with a counter. Deterministic on every platform and Python version.
    """

    __slots__ = ("_key", "_n", "_x")

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._n = 0
        self._x = self._refill()

    def _refill(self) -> int:
        self._n += 1
        digest = blake2b(self._key, digest_size=64, salt=self._n.to_bytes(16, "little")).digest()
        return int.from_bytes(digest, "little")

    def below(self, n: int) -> int:
        if self._x < (1 << 64):
            self._x = self._refill()
        self._x, r = divmod(self._x, n)
        return r

    def chance(self, percent: int) -> bool:
        return self.below(100) < percent

    def pick(self, seq: tuple[Any, ...] | list[Any]) -> Any:
        return seq[self.below(len(seq))]


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def utc_date(ts: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=ts // DAY)).isoformat()


@dataclass
class IdCodec:
    """IDs that look like Onpipeline's ("HSY758430698") and decode back to an index.

    The nine digits are an affine bijection of the index mod 10^9; the letters are a hash of
    (seed, kind, index), so a made-up or mistyped ID does not decode to a record.
    """

    seed: int
    kind: str
    multiplier: int
    offset: int
    letters: int = 3
    lower: bool = False
    digits: int = 9
    _inverse: int = field(init=False)
    _salt: int = field(init=False)

    def __post_init__(self) -> None:
        self._inverse = pow(self.multiplier, -1, 10**self.digits)
        self._salt = Draw(f"{self.seed}:id:{self.kind}").below(1 << 32)

    def _letters(self, index: int) -> str:
        # A cheap 32-bit mix of (salt, index): one ID is formatted per record served.
        h = ((index + 1) * 0x9E3779B1 + self._salt) & 0xFFFFFFFF
        h = ((h ^ (h >> 15)) * 0x85EBCA77) & 0xFFFFFFFF
        h = ((h ^ (h >> 13)) * 0xC2B2AE3D) & 0xFFFFFFFF
        h ^= h >> 16
        base = 97 if self.lower else 65
        out = []
        for _ in range(self.letters):
            h, r = divmod(h, 26)
            out.append(chr(base + r))
            if h < 26:
                h = (h * 0x9E3779B1 + index) & 0xFFFFFFFF
        return "".join(out)

    def encode(self, index: int) -> str:
        number = (index * self.multiplier + self.offset) % 10**self.digits
        return f"{self._letters(index)}{number:0{self.digits}d}"

    def decode(self, text: str) -> int | None:
        digits = text[self.letters :]
        if len(digits) != self.digits or not digits.isdigit():
            return None
        index = ((int(digits) - self.offset) * self._inverse) % 10**self.digits
        return index if self.encode(index) == text else None


class Account:
    """The generated account of one (seed, size): counts, timelines, small lists, generators."""

    def __init__(self, seed: int, size: int) -> None:
        self.seed = seed
        self.size = size = max(0, size)
        self.counts = {
            "deals": size,
            "persons": size,
            "organizations": (size + 1) // 2,
            "events": 2 * size,
            "notes": size,
            "invoices": (size + 4) // 5,
        }
        rng = random.Random(f"onpipeline:{seed}")
        self.codecs = {
            "persons": IdCodec(seed, "persons", 7_654_321, 123_456_789),
            "organizations": IdCodec(seed, "organizations", 3_456_789, 987_654_321),
            "deals": IdCodec(seed, "deals", 1_234_567, 758_430_698),
            "events": IdCodec(seed, "events", 7_777_777, 1_360_795_284, 7, True, 10),
        }
        self.created = {kind: self._timeline(rng, kind, n) for kind, n in self.counts.items()}
        self._small_lists(rng)
        self._long_texts = [
            "\n".join(
                " ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(rng.randint(20, 100))
            )
            for _ in range(64)
        ]
        # Cores are read by many records (a deal shows its person's name): computed once each.
        self._person_cores: dict[int, tuple[str, str, int]] = {}
        self._org_cores: dict[int, tuple[str, str, tuple[str, str | None, str, str]]] = {}
        self._deal_cores: dict[int, tuple[str, int, int]] = {}
        self._count_deals()

    # -- whole-account structures --

    @staticmethod
    def _timeline(rng: random.Random, kind: str, n: int) -> array[int]:
        """Sorted creation times, denser in recent years, with bursts sharing one second."""
        times = sorted(EPOCH_START + int(SPAN * rng.random() ** 0.75) for _ in range(n))
        bursts = max(1, n // 2000) if n >= 5 else 0
        for _ in range(bursts):  # an import: a run of records created in the same second
            length = rng.randint(min(5, n), max(5, min(300, n // 10)))
            start = rng.randrange(0, max(1, n - length))
            for i in range(start + 1, min(n, start + length)):
                times[i] = times[start]
        return array("q", times)

    def _small_lists(self, rng: random.Random) -> None:
        n_users = min(30, max(5, 5 + self.size // 4000))
        user_ids = rng.sample(range(1_000_000, 9_999_999), n_users)
        self.users: list[dict[str, Any]] = []
        for k, uid in enumerate(user_ids):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            admin = k == 0
            perms: tuple[str, ...] = ("Pipeline", "CustomFields", "Delete", "WriteTeamEmails")
            perms += ("BulkImport", "BulkExport", "Leads", "WebForms")
            self.users.append(
                {
                    "ID": str(uid),
                    "Name": f"{first} {last}",
                    "Email": f"user{k + 1}@example-crm.test",
                    "Status": "0" if k and rng.random() < 0.15 else "1",
                    "AdminFlag": "1" if admin else "0",
                    "Permissions": {p: "1" if admin or rng.random() < 0.4 else "0" for p in perms},
                }
            )
        n_teams = min(5, 2 + n_users // 10)
        self.teams: list[dict[str, Any]] = []
        team_ids = rng.sample(range(1_000_000, 9_999_999), n_teams)
        for k, tid in enumerate(team_ids):
            members = rng.sample(self.users, rng.randint(1, min(6, n_users)))
            self.teams.append(
                {
                    "Name": f"Team {('Nord', 'Sud', 'Export', 'Inside Sales', 'Key accounts')[k]}",
                    "ID": str(tid),
                    "Members": [
                        {"UserID": u["ID"], "Leader": "1" if j == 0 else "0"}
                        for j, u in enumerate(members)
                    ],
                }
            )
        self.pipelines: list[dict[str, Any]] = []
        stage_id = 0
        for p in range(2 + self.seed % 2):
            stages = []
            for name in STAGE_NAMES[: rng.randint(4, len(STAGE_NAMES))]:
                stage_id += 1
                stages.append({"ID": str(stage_id), "Name": name})
            self.pipelines.append(
                {
                    "PipelineName": ("Sales Pipeline", "Partner", "Rinnovi")[p],
                    "PipelineID": str(p + 1),
                    "Team": self.teams[0]["ID"] if p == 2 else "",
                    "Stages": stages,
                }
            )
        n_products = max(3, self.size // 20)
        self.products = [
            PRODUCT_WORDS[k] if k < len(PRODUCT_WORDS) else f"{PRODUCT_WORDS[k % 13]} {k:04d}"
            for k in range(n_products)
        ]
        self.custom_fields: dict[str, list[dict[str, str]]] = {}
        for table, names in CUSTOM_FIELDS.items():
            ids = rng.sample(range(100_000_000, 999_999_999), len(names))
            self.custom_fields[table] = [
                {"Name": name, "ID": str(fid)} for name, fid in zip(names, ids, strict=True)
            ]

    def _count_deals(self) -> None:
        """DealsOpen/DealsWon/DealsLost per person and organisation (deleted deals not counted)."""
        self.deal_counts: dict[str, dict[str, array[int]]] = {
            kind: {s: array("l", bytes(8 * self.counts[kind])) for s in ("open", "won", "lost")}
            for kind in ("persons", "organizations")
        }
        for i in range(self.counts["deals"]):
            status, person, org = self.deal_core(i)
            if status == "deleted":
                continue
            if person >= 0:
                self.deal_counts["persons"][status][person] += 1
            if org >= 0:
                self.deal_counts["organizations"][status][org] += 1

    # -- relationships: a record links only to records created before it --

    def _earlier(self, d: Draw, kind: str, ts: int, recent: int = 400) -> int:
        """An index of ``kind`` created at or before ``ts`` (recent ones likelier); -1 if none."""
        known = bisect.bisect_right(self.created[kind], ts)
        if known == 0:
            return -1
        if d.chance(50):
            return known - 1 - d.below(min(known, recent))
        return d.below(known)

    # -- cores: the few fields other records show, cheap to compute --

    def person_core(self, i: int) -> tuple[str, str, int]:
        core = self._person_cores.get(i)
        if core is None:
            core = self._person_cores[i] = self._person_core(i)
        return core

    def org_core(self, i: int) -> tuple[str, str, tuple[str, str | None, str, str]]:
        core = self._org_cores.get(i)
        if core is None:
            core = self._org_cores[i] = self._org_core(i)
        return core

    def _person_core(self, i: int) -> tuple[str, str, int]:
        d = Draw(f"{self.seed}:pc:{i}")
        first, last = d.pick(FIRST_NAMES), d.pick(LAST_NAMES)
        org = self._earlier(d, "organizations", self.created["persons"][i]) if d.chance(75) else -1
        return first, last, org

    def _org_core(self, i: int) -> tuple[str, str, tuple[str, str | None, str, str]]:
        """Name, postcode and place (city, region, country, postcode pattern)."""
        d = Draw(f"{self.seed}:oc:{i}")
        name = f"{d.pick(ORG_WORDS)} {d.pick(LAST_NAMES)} {d.pick(ORG_SUFFIXES)}".strip()
        place = d.pick(PLACES)
        postcode = (
            "" if d.chance(10) else "".join(str(d.below(10)) if c == "9" else c for c in place[3])
        )
        return name, postcode, place

    def deal_core(self, i: int) -> tuple[str, int, int]:
        """Status, linked person index and linked organisation index."""
        core = self._deal_cores.get(i)
        if core is None:
            core = self._deal_cores[i] = self._deal_core(i)
        return core

    def _deal_core(self, i: int) -> tuple[str, int, int]:
        d = Draw(f"{self.seed}:dc:{i}")
        roll = d.below(100)
        status = "open" if roll < 45 else "won" if roll < 75 else "lost" if roll < 95 else "deleted"
        ts = self.created["deals"][i]
        person = self._earlier(d, "persons", ts) if d.chance(90) else -1
        if person >= 0 and d.chance(85):
            org = self.person_core(person)[2]
        else:
            org = self._earlier(d, "organizations", ts) if d.chance(50) else -1
        return status, person, org

    # -- full records --

    def _extra(self, d: Draw, table: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for f in self.custom_fields[table]:
            if d.chance(35):
                continue
            name = f["Name"]
            if name == "Temperature":
                values[f["ID"]] = d.pick(("Cold", "Warm", "Hot"))
            elif name == "Frequent Buyer":
                values[f["ID"]] = d.pick(("Yes", "No"))
            elif name in ("VAT number", "Billing ID", "Contract ref"):
                values[f["ID"]] = f"IT{d.below(10**11):011d}"
            else:
                values[f["ID"]] = " ".join(d.pick(WORDS) for _ in range(1 + d.below(3)))
        return values

    def _text(self, d: Draw, long_percent: int) -> str:
        if d.chance(long_percent):  # long, multi-line text (a few KB), from a pool: it is cheap
            return f"{d.pick(WORDS)} #{d.below(10**6)}\n{d.pick(self._long_texts)}"
        return " ".join(d.pick(WORDS) for _ in range(3 + d.below(12)))

    def _user(self, d: Draw) -> dict[str, Any]:
        return self.users[d.below(len(self.users))]

    def _modified(self, d: Draw, created: int, percent: int) -> int:
        """Later than creation for ``percent`` % of records, never after the generated history."""
        if not d.chance(percent) or created >= EPOCH_END:
            return created
        return created + 1 + d.below(EPOCH_END - created)

    def person(self, i: int) -> dict[str, Any]:
        first, last, org = self.person_core(i)
        d = Draw(f"{self.seed}:p:{i}")
        created = self.created["persons"][i]
        slug = f"{i}.{d.below(1000)}"
        emails = [
            {"Address": f"contact{slug}@{t}.example.test", "Type": t}
            for t in ("work", "home", "other")[: d.below(4)]
        ]
        phones = [
            {"Number": f"+{d.pick(('39', '34', '49', '1'))} {d.below(10**9):09d}", "Type": t}
            for t in ("work", "mobile", "home", "other")[: d.below(4)]
        ]
        source = d.pick(("User", "User", "User", "API", "Form"))
        source_name = {"User": self._user(d)["Name"], "API": "", "Form": "Website contact form"}
        next_event = (created + d.below(90 * DAY)) // 900 * 900 if d.chance(30) else None
        return {
            "FirstName": first,
            "LastName": last,
            "org": org,
            "NextEvent": next_event,
            "EmailsSent": str(d.below(40)),
            "EmailsReceived": str(d.below(40)),
            "Source": source,
            "SourceName": source_name[source],
            "created": created,
            "modified": self._modified(d, created, 40),
            "Email": emails,
            "Phone": phones,
            "extra": self._extra(d, "Persons"),
        }

    def organization(self, i: int) -> dict[str, Any]:
        name, postcode, (city, region, country, _) = self.org_core(i)
        d = Draw(f"{self.seed}:o:{i}")
        created = self.created["organizations"][i]
        address1 = f"{d.pick(STREETS)} {1 + d.below(250)}"
        roll = d.below(10)
        staircase = f"Scala {d.pick(('A', 'B', 'C'))}, int. {roll}"
        address2 = None if roll < 4 else "" if roll < 8 else staircase
        source = d.pick(("User", "User", "API", "Form"))
        source_name = {"User": self._user(d)["Name"], "API": "", "Form": "Website contact form"}
        return {
            "OrgName": name,
            "Address1": address1,
            "Address2": address2,
            "Postcode": postcode,
            "City": city,
            "Region": region,
            "Country": country,
            "FullAddress": f"{address1}, {postcode} {city}".replace(",  ", ", "),
            "Source": source,
            "SourceName": source_name[source],
            "created": created,
            "modified": self._modified(d, created, 30),
            "extra": self._extra(d, "Organizations"),
        }

    def deal(self, i: int) -> dict[str, Any]:
        status, person, org = self.deal_core(i)
        d = Draw(f"{self.seed}:d:{i}")
        created = self.created["deals"][i]
        pipeline = d.pick(self.pipelines)
        stage = d.pick(pipeline["Stages"])
        owner, creator = self._user(d), self._user(d)
        value = 0 if d.chance(10) else 10_000 + d.below(25_000_000)
        closed, closed_ts = "", created
        if status in ("won", "lost"):
            closed_ts = min(EPOCH_END, created + DAY * (1 + d.below(200)))
            closed = utc_date(closed_ts)
        exp_closing = "" if d.chance(20) else utc_date(created + DAY * (7 + d.below(180)))
        involved = [self._earlier(d, "persons", created) for _ in range(d.below(4))]
        products = [d.pick(self.products) for _ in range(d.below(4))]
        roll = d.below(10)
        description = None if roll < 2 else "" if roll < 3 else self._text(d, 12)
        modified = max(self._modified(d, created, 55), closed_ts)  # closing is an update
        org_name = self.org_core(org)[0] if org >= 0 else "New customer"
        return {
            "DealName": f"{org_name} - {products[0] if products else 'New Deal'}",
            "Status": status,
            "Value": money(value),
            "Probability": str(10 * d.below(11)),
            "pipeline": pipeline["PipelineID"],
            "stage": stage["ID"],
            "OwnerID": owner["ID"],
            "person": person,
            "org": org,
            "Involved": sorted({p for p in involved if p >= 0}),
            "created": created,
            "CreatedbyID": creator["ID"],
            "ExpClosing": exp_closing,
            "Closed": closed,
            "NextEvent": (created + d.below(60 * DAY)) // 900 * 900 if d.chance(40) else None,
            "modified": modified,
            "Products": list(dict.fromkeys(products)),
            "LostReason": d.pick(LOST_REASONS) if status == "lost" else "",
            "Description": description,
            "EmailsSent": str(d.below(25)),
            "EmailsReceived": str(d.below(25)),
            "extra": self._extra(d, "Deals"),
        }

    def event(self, i: int) -> dict[str, Any]:
        d = Draw(f"{self.seed}:e:{i}")
        created = self.created["events"][i]
        deal = self._earlier(d, "deals", created) if d.chance(70) else -1
        if deal >= 0:
            _, person, org = self.deal_core(deal)
        else:
            person = self._earlier(d, "persons", created) if d.chance(70) else -1
            org = self.person_core(person)[2] if person >= 0 else -1
        kind = d.pick(EVENT_TYPES)
        start = (created + d.below(30 * DAY)) // 900 * 900
        end = start if kind == "deadline" else start + 900 * (1 + d.below(8))
        owner, creator = self._user(d), self._user(d)
        who = self.person_core(person)[0] if person >= 0 else d.pick(FIRST_NAMES)
        guests = ",".join(f"guest{d.below(999)}@example.test" for _ in range(d.below(3)))
        roll = d.below(10)
        return {
            "OwnerID": owner["ID"],
            "Name": f"{kind.capitalize()} with {who}",
            "Start": start,
            "End": end,
            "Location": None if roll < 3 else "" if roll < 5 else d.pick(PLACES)[0],
            "Type": kind,
            "deal": deal,
            "person": person,
            "org": org,
            "Guests": guests,
            "created": created,
            "CreatedByID": creator["ID"],
            "modified": self._modified(d, created, 35),
            "EventCompleted": "1" if d.chance(55) else "0",
            "NotifyExternal": "1" if guests and d.chance(50) else "0",
        }

    def note(self, i: int) -> dict[str, Any]:
        d = Draw(f"{self.seed}:n:{i}")
        created = self.created["notes"][i]
        roll = d.below(100)
        kind = "deal" if roll < 50 else "person" if roll < 85 else "org"
        target_kind = {"deal": "deals", "person": "persons", "org": "organizations"}[kind]
        linked = self._earlier(d, target_kind, created)
        if linked < 0:  # nothing of that kind yet: the note is on the first record
            linked = 0 if self.counts[target_kind] else -1
        return {
            "Type": kind,
            "linked": linked,
            "Text": self._text(d, 5),
            "Deleted": "1" if d.chance(4) else "0",
            "created": created,
            "UserID": self._user(d)["ID"],
        }

    def invoice(self, i: int) -> dict[str, Any]:
        """An invoice and its lines; dates are the UTC date of creation (dates have no zone)."""
        d = Draw(f"{self.seed}:i:{i}")
        created = self.created["invoices"][i]
        org = self._earlier(d, "organizations", created)
        items: list[dict[str, str]] = []
        net_total = tax_total = 0
        for _ in range(1 + d.below(5)):
            price = 100 + d.below(200_000)
            quantity = d.pick((100, 100, 200, 500, 250, 1000, 150))  # hundredths
            discount = d.pick((0, 0, 0, 10, 20, 5))
            rate = d.pick((22, 22, 10, 0))
            line = (price * quantity * (100 - discount) + 5000) // 10000
            tax = (line * rate + 50) // 100
            net_total += line
            tax_total += tax
            items.append(
                {
                    "Description": d.pick(self.products),
                    "Price": money(price),
                    "Quantity": money(quantity),
                    "Discount": money(discount * 100),
                    "Tax": money(tax),
                    "Total": money(line),
                }
            )
        withholding = net_total * 20 // 100 if d.chance(10) else 0
        total = net_total + tax_total - withholding
        paid_roll = d.below(10)  # payments arrive after the invoice date: none, part or all
        paid = 0 if paid_roll < 3 else total if paid_roll < 8 else total * (1 + d.below(9)) // 10
        roll = d.below(10)
        if org >= 0:
            name, postcode, (city, region, country, _) = self.org_core(org)
        else:
            name, postcode, (city, region, country, _) = "Cliente occasionale", "", d.pick(PLACES)
        return {
            "Number": f"INV-{i + 1}",
            "Date": utc_date(created),
            "org": org,
            "VAT_id": "" if d.chance(30) else f"{d.below(10**11):011d}",
            "TAX_id": "" if d.chance(50) else f"{d.below(10**8):08d}",
            "Name": name,
            "Address1": f"{d.pick(STREETS)} {1 + d.below(250)}",
            "Address2": "",
            "City": city,
            "Postcode": postcode,
            "Region": region,
            "Country": country,
            "Currency": d.pick(CURRENCIES),
            "NetTotal": money(net_total),
            "Tax": money(tax_total),
            "Withholding": money(withholding),
            "Total": money(total),
            "DueDate": "" if d.chance(10) else utc_date(created + DAY * d.pick((30, 60, 90))),
            "Paid": money(paid),
            "Reference": None if roll < 3 else "" if roll < 6 else f"PO {d.below(10_000)}",
            "created": created,
            "items": items,
        }

    def record(self, kind: str, i: int) -> dict[str, Any]:
        generate: Any = getattr(self, _GENERATORS[kind])
        return generate(i)


_GENERATORS = {
    "persons": "person",
    "organizations": "organization",
    "deals": "deal",
    "events": "event",
    "notes": "note",
    "invoices": "invoice",
}
