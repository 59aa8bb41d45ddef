"""The simulated Onpipeline API answers a fixed script of requests exactly as recorded.

Like ``test_sandbox_pipedrive_answers``: every resource (lists with their filters, adds,
changes, deletes, errors, the read-only token, methods, the rate limit, control paths) on a
seeded sandbox with a frozen clock; each answer (status, the headers that matter, body) must
hash to what ``sandbox_onpipeline_answers.json`` holds. A change of behaviour that is meant:
re-record with ``CRM_SANDBOX_RECORD_ANSWERS=1`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_sandbox.core import Settings
from crm_sandbox.server import SandboxServer

GOLDEN = Path(__file__).with_name("sandbox_onpipeline_answers.json")
FROZEN = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
TOKEN = "answers-token"
SKIPPED_HEADERS = {"date", "content-length", "connection", "keep-alive"}
LISTS = ("PersonList", "OrgList", "DealsList", "EventList", "NotesList")

Step = tuple[str, str, Any]  # method, path under /onpipeline or /_sandbox, JSON body


def _script(ids: dict[str, list[str]]) -> Iterator[Step]:
    person, person2 = ids["persons"][0], ids["persons"][1]
    org, org2 = ids["organizations"][0], ids["organizations"][1]
    deal, deal2 = ids["deals"][0], ids["deals"][1]
    user, field = ids["users"][0], ids["custom_fields"][0]
    invoice = ids["invoices"][0]
    yield "DELETE", "/PersonList", {}
    yield "POST", "/NoSuchThing", {}
    yield "POST", "/Leadsin", {}
    yield "POST", "/personlist", {}
    yield "POST", "/PersonList", None  # no body: 406
    yield "POST", "/PersonList", "[1]"
    for name in LISTS:
        yield "POST", f"/{name}", {}
        yield "GET", f"/{name}", {}
        yield "POST", f"/{name}", {"MinCreated": "2022-01-01", "MaxCreated": "2024-06-30 12:00:00"}
        yield "POST", f"/{name}", {"MinCreated": "yesterday"}
    yield "POST", "/PersonList", {"PersonID": person}
    yield "POST", "/PersonList", {"OrgID": org}
    yield "POST", "/PersonList", {"Fullname": "  nobody  "}
    yield "POST", "/PersonList", {"MinNextEvent": "2020-01-01"}
    yield "POST", "/PersonList", {"Extra": [{"ID": field, "Value": "x"}]}
    yield "POST", "/PersonList", {"Extra": "nope"}
    yield "POST", "/OrgList", {"City": "milano "}
    yield "POST", "/OrgList", {"OrgID": org}
    yield "POST", "/DealsList", {"Status": "won"}
    yield "POST", "/DealsList", {"Status": "deleted"}
    yield "POST", "/DealsList", {"DealID": deal}
    yield "POST", "/DealsList", {"MinClosed": "2021-01-01", "MaxClosed": "2025-12-31"}
    yield "POST", "/DealsList", {"Products": "food"}
    yield "POST", "/DealsList", {"MinClosed": "soon"}
    yield "POST", "/EventList", {"EventCompleted": "1"}
    yield "POST", "/NotesList", {"Type": "deal"}
    yield "POST", "/InvoiceList", {"MinDate": "2020-01-01", "MaxDate": "2030-12-31"}
    yield "POST", "/InvoiceList", {"MinDate": "2020-01-01"}
    yield "POST", "/InvoiceItems", {"ID": invoice}
    yield "POST", "/InvoiceItems", {"ID": "nope"}
    for name in ("UsersList", "TeamsList", "PipelineList", "ProductList"):
        yield "POST", f"/{name}", {}
    for table in ("Persons", "organizations", "Deals", "Nope"):
        yield "POST", "/ListCustomFields", {"Table": table}
    yield "POST", "/LastUpdate", {"Resource": "PersonList", "Hours": "24"}
    yield "POST", "/LastUpdate", {"Resource": "EventList", "Hours": "24"}
    yield "POST", "/LastUpdate", {"Resource": "DealsList", "Hours": "5"}
    # writes
    yield "POST", "/PersonAdd", {"FirstName": "Ada", "LastName": "Lovelace", "OrgID": org,
                                 "Email": [{"Address": "ada@example.com", "Type": "work"}],
                                 "Phone": [{"Number": "+39 02 1234"}],
                                 "Extra": [{"ID": field, "Value": "v"}]}  # fmt: skip
    yield "POST", "/PersonAdd", {"FirstName": "Ada"}
    yield "POST", "/PersonAdd", {"FirstName": "A", "LastName": "B", "Email": [{"Type": "x"}]}
    yield "POST", "/PersonAdd", {"FirstName": "A", "LastName": "B", "OrgID": "nope"}
    yield "POST", "/PersonChange", {"PersonID": person, "LastName": "Changed"}
    yield "POST", "/PersonChange", {"PersonID": person, "LastName": "Changed"}  # nothing new
    yield "POST", "/PersonChange", {"PersonID": "nope", "LastName": "X"}
    yield "POST", "/PersonDelete", {"PersonID": person2}
    yield "POST", "/PersonList", {"PersonID": person2}
    yield "POST", "/OrgAdd", {"OrgName": "Answers AG", "Postcode": "8001", "City": "Zürich"}
    yield "POST", "/OrgAdd", {"OrgName": "answers ag ", "Postcode": "8001"}  # duplicate: 409
    yield "POST", "/OrgAdd", {"OrgName": ""}
    yield "POST", "/OrgChange", {"OrgID": org, "Address1": "Via Nuova 1"}
    yield "POST", "/OrgChange", {"OrgID": org, "OrgName": {"x": 1}}
    yield "POST", "/OrgDelete", {"OrgID": org2}
    big = {"DealName": "Big one", "PipelineID": "1", "StageID": "1", "OwnerID": user,
           "Value": "1,234.5", "LinkedPersonID": person, "Products": ["Food", " Food "],
           "ExpClosing": "2026-05-01"}  # fmt: skip
    yield "POST", "/DealAdd", big
    yield "POST", "/DealAdd", {"DealName": "x", "PipelineID": "99", "StageID": "1", "OwnerID": user}
    yield "POST", "/DealAdd", {"DealName": "x", "PipelineID": "1", "StageID": "1", "OwnerID": "0"}
    yield "POST", "/DealChange", {"DealID": deal, "Status": "won", "Probability": "80"}
    yield "POST", "/DealChange", {"DealID": deal, "Probability": "101"}
    yield "POST", "/DealChange", {"DealID": deal, "Value": "lots"}
    yield "POST", "/DealDelete", {"DealID": deal2}
    yield "POST", "/DealDelete", {"DealID": deal2}
    yield "POST", "/DealChange", {"DealID": deal2, "DealName": "x"}
    yield "POST", "/DealUndelete", {"DealID": deal2}
    yield "POST", "/NoteAdd", {"Type": "deal", "LinkedID": deal, "Text": "Hello"}
    yield "POST", "/NoteAdd", {"Type": "lead", "LinkedID": deal, "Text": "Hello"}
    yield "POST", "/FieldAdd", {"Table": "Deals", "Name": "Answers field"}
    yield "POST", "/FieldDelete", {"ID": field}
    yield "POST", "/FieldDelete", {"ID": field}
    yield "POST", "/PersonList", {}
    yield "POST", "/OrgList", {}
    yield "POST", "/DealsList", {}
    yield "POST", "/NotesList", {}
    yield "POST", "/LastUpdate", {"Resource": "DealsList", "Hours": "3"}
    # the read-only token
    yield "POST", "/PersonList#readonly", {}
    yield "POST", "/PersonAdd#readonly", {"FirstName": "A", "LastName": "B"}
    yield "POST", "/PersonList#none", {}
    yield "POST", "/PersonList#wrong", {}
    # control
    for entity in ("persons", "deals", "invoice_items", "stages", "products", "nope"):
        yield "GET", f"/_sandbox/onpipeline/ids/{entity}", None
    yield "GET", f"/_sandbox/onpipeline/records/persons/{person}", None
    yield "GET", f"/_sandbox/onpipeline/records/deals/{deal}", None
    yield "GET", "/_sandbox/onpipeline/records/persons/nope", None
    yield "POST", "/_sandbox/onpipeline/touch", {"entity": "persons", "count": 2}
    yield "POST", "/_sandbox/onpipeline/touch", {"entity": "deals", "ids": [deal]}
    yield "POST", "/_sandbox/onpipeline/touch", {"entity": "nope", "count": 1}
    yield "GET", "/_sandbox/onpipeline/tokens", None
    yield "GET", "/_sandbox/onpipeline/summary", None
    yield "POST", "/PersonList", {}
    yield "POST", "/LastUpdate", {"Resource": "PersonList", "Hours": "3"}
    # the time zone and the rate limit
    yield "POST", "/_sandbox/config", {"timezone": "America/New_York"}
    yield "POST", "/OrgList", {"OrgID": org}
    yield "POST", "/_sandbox/config", {"onpipeline_rate_limit": 2}
    yield "POST", "/UsersList", {}
    yield "POST", "/UsersList", {}
    yield "POST", "/UsersList", {}  # the third in a minute: 429
    yield "GET", "/_sandbox/counters", None


def _fingerprint(response: requests.Response) -> str:
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in SKIPPED_HEADERS
    )
    blob = json.dumps([response.status_code, headers]).encode() + b"\n" + response.content
    return f"{response.status_code} {hashlib.sha256(blob).hexdigest()[:16]}"


def _answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    settings = Settings(seed=11, size=30, api_token=TOKEN)
    with SandboxServer(settings).start() as server:
        monkeypatch.setattr(server.sandbox.ctx.clock, "now", lambda: FROZEN)
        base = server.base_url
        session = requests.Session()
        control = f"{base}/_sandbox/onpipeline/ids"
        named = ("persons", "organizations", "deals", "users", "custom_fields", "invoices")
        ids = {e: session.get(f"{control}/{e}", timeout=10).json()["ids"] for e in named}
        tokens = {"": TOKEN, "readonly": TOKEN + "-readonly", "wrong": "nope", "none": ""}
        lines = []
        for method, path, body in _script(ids):
            path, _, token = path.partition("#")
            url = base + (path if path.startswith("/_sandbox") else "/onpipeline" + path)
            headers = {"Authorization": tokens[token]} if tokens[token] else {}
            data = body.encode() if isinstance(body, str) else None
            payload = None if isinstance(body, str) else body
            answer = session.request(
                method, url, headers=headers, json=payload, data=data, timeout=30
            )
            shown = f"{method} {path}#{token} {json.dumps(body, sort_keys=True)}"
            lines.append(f"{shown} -> {_fingerprint(answer)}")
        return lines


def test_onpipeline_answers_are_as_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = _answers(monkeypatch)
    if os.environ.get("CRM_SANDBOX_RECORD_ANSWERS") == "1":
        GOLDEN.write_text(json.dumps(answers, indent=0) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    changed = [(old, new) for old, new in zip(recorded, answers, strict=True) if old != new]
    assert not changed, "answers changed:\n" + "\n".join(f"{o}\n  now {n}" for o, n in changed)
