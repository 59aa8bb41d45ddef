"""The simulated Pipedrive API answers a fixed script of requests exactly as recorded.

A guard for refactoring the sandbox: the script touches every route (reads, writes, errors,
405s, control paths, OAuth, the daily budget) on a seeded sandbox with a frozen clock and
deterministic OAuth tokens, and each answer (status, the headers that matter, body) must hash to
what ``sandbox_pipedrive_answers.json`` holds. A change of behaviour that is meant shows up here
too: re-record with ``CRM_SANDBOX_RECORD_ANSWERS=1`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_sandbox.core import Settings
from crm_sandbox.server import SandboxServer

GOLDEN = Path(__file__).with_name("sandbox_pipedrive_answers.json")
FROZEN = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
TOKEN = "answers-token"
V2 = ("deals", "persons", "organizations", "activities", "products")
FIELDS = ("dealFields", "personFields", "organizationFields", "productFields", "activityFields")
SKIPPED_HEADERS = {"date", "content-length", "connection", "keep-alive"}

Step = tuple[str, str, dict[str, Any]]


def _script(lead: str) -> Iterator[Step]:
    """(method, path under /pipedrive or /_sandbox, requests kwargs)."""
    yield "GET", "/api/v2/deals", {"headers": {}}  # no token: 401
    yield "GET", "/api/v2/deals", {"params": {"api_token": "wrong"}}
    yield "GET", "/nowhere", {}
    yield "PUT", "/api/v2/deals", {}
    yield "PUT", "/api/v2/deals/1", {}
    yield "POST", "/api/v2/deals/1/followers/changelog", {}
    yield "PATCH", "/v1/notes", {}
    yield "POST", "/v1/notes/1", {}
    for e in V2:
        yield "GET", f"/api/v2/{e}", {}
        yield "GET", f"/api/v2/{e}", {"params": {"limit": 3, "sort_by": "update_time"}}
        yield "GET", f"/api/v2/{e}", {"params": {"limit": 2, "sort_direction": "desc"}}
        yield "GET", f"/api/v2/{e}", {"params": {"ids": "3,1,2,999", "limit": 2}}
        yield "GET", f"/api/v2/{e}", {"params": {"updated_since": "2020-01-01T00:00:00Z"}}
        yield "GET", f"/api/v2/{e}", {"params": {"updated_until": "2099-01-01T00:00:00Z"}}
        yield "GET", f"/api/v2/{e}", {"params": {"owner_id": 2}}
        yield "GET", f"/api/v2/{e}", {"params": {"custom_fields": "a,b"}}
        yield "GET", f"/api/v2/{e}", {"params": {"include_fields": "bogus"}}
        yield "GET", f"/api/v2/{e}", {"params": {"limit": 501}}
        yield "GET", f"/api/v2/{e}", {"params": {"cursor": "!!"}}
        yield "GET", f"/api/v2/{e}", {"params": {"updated_since": "yesterday"}}
        yield "GET", f"/api/v2/{e}", {"params": {"filter_id": 3}}
        yield "GET", f"/api/v2/{e}/1", {}
        yield "GET", f"/api/v2/{e}/999999", {}
    yield "GET", "/api/v2/deals", {"params": {"status": "won,deleted"}}
    yield "GET", "/api/v2/deals", {"params": {"status": "maybe"}}
    yield "GET", "/api/v2/deals", {"params": {"include_fields": "products_count,files_count"}}
    yield "GET", "/api/v2/deals/2", {"params": {"include_fields": "first_won_time"}}
    yield "GET", "/api/v2/persons", {"params": {"deal_id": 1}}
    yield "GET", "/api/v2/activities", {"params": {"done": "true", "limit": 5}}
    yield "GET", "/api/v2/activities", {"params": {"include_fields": "attendees", "limit": 3}}
    yield "GET", "/api/v2/products", {"params": {"sort_by": "name", "limit": 3}}
    yield "GET", "/api/v2/deals/archived", {"params": {"limit": 5}}
    yield "GET", "/api/v2/deals/products", {"params": {"deal_ids": "1,2,3", "limit": 4}}
    yield "GET", "/api/v2/deals/products", {"params": {"deal_ids": "1,2", "sort_by": "deal_id"}}
    yield "GET", "/api/v2/deals/products", {}
    yield "GET", "/api/v2/deals/products", {"params": {"deal_ids": "x"}}
    yield "GET", "/api/v2/deals/1/products", {}
    yield "GET", "/api/v2/deals/999999/products", {}
    yield "GET", "/api/v2/deals/installments", {"params": {"deal_ids": "1,2,3,4,5,6"}}
    yield "GET", "/api/v2/deals/installments", {"params": {"deal_ids": "1,2", "limit": 1}}
    for e in ("deals", "persons", "organizations", "products"):
        yield "GET", f"/api/v2/{e}/1/followers", {}
        yield "GET", f"/api/v2/{e}/1/followers", {"params": {"limit": 1}}
        yield "GET", f"/api/v2/{e}/1/followers/changelog", {}
        yield "GET", f"/api/v2/{e}/999999/followers", {}
    for e in ("pipelines", "stages"):
        yield "GET", f"/api/v2/{e}", {}
        yield "GET", f"/api/v2/{e}/1", {}
        yield "GET", f"/api/v2/{e}/999", {}
    yield "GET", "/api/v2/stages", {"params": {"pipeline_id": 1, "sort_by": "order_nr"}}
    for path in FIELDS:
        yield "GET", f"/api/v2/{path}", {}
        yield "GET", f"/api/v2/{path}", {"params": {"limit": 3}}
        yield "GET", f"/api/v2/{path}/name", {}
        yield "GET", f"/api/v2/{path}/title", {}
        yield "GET", f"/api/v2/{path}/nope", {}
    for prefix in ("/v1", "/api/v1"):
        yield "GET", f"{prefix}/notes", {}
        yield "GET", f"{prefix}/notes", {"params": {"sort": "update_time DESC", "limit": 3}}
        yield "GET", f"{prefix}/notes", {"params": {"sort": "content ASC", "start": 2}}
        yield "GET", f"{prefix}/notes", {"params": {"deal_id": 1, "start_date": "2020-01-01"}}
        yield "GET", f"{prefix}/notes", {"params": {"sort": "nope"}}
        yield "GET", f"{prefix}/notes", {"params": {"start": -1}}
        yield "GET", f"{prefix}/notes/1", {}
        yield "GET", f"{prefix}/notes/999999", {}
        yield "GET", f"{prefix}/users", {}
        yield "GET", f"{prefix}/users/me", {}
        yield "GET", f"{prefix}/users/2", {}
        yield "GET", f"{prefix}/users/999", {}
        yield "GET", f"{prefix}/deals/1/flow", {}
        yield "GET", f"{prefix}/deals/1/flow", {"params": {"items": "note,file", "limit": 2}}
        yield "GET", f"{prefix}/deals/1/flow", {"params": {"all_changes": 1}}
        yield "GET", f"{prefix}/deals/1/flow", {"params": {"items": "nonsense"}}
        yield "GET", f"{prefix}/deals/1/changelog", {"params": {"limit": 2}}
        yield "GET", f"{prefix}/deals/999999/changelog", {}
        yield "GET", f"{prefix}/leads", {"params": {"limit": 3}}
        yield "GET", f"{prefix}/leads", {"params": {"archived_status": "all", "sort": "title"}}
        yield "GET", f"{prefix}/leads", {"params": {"archived_status": "maybe"}}
        yield "GET", f"{prefix}/leads/archived", {}
        yield "GET", f"{prefix}/leads/{lead}", {}
        yield "GET", f"{prefix}/leads/00000000-0000-0000-0000-000000000000", {}
        yield "GET", f"{prefix}/leadLabels", {}
        yield "GET", f"{prefix}/leadSources", {}
        yield "GET", f"{prefix}/leadFields", {"params": {"limit": 4}}
        yield "GET", f"{prefix}/noteFields", {}
        yield "GET", f"{prefix}/activityTypes", {}
        yield "GET", f"{prefix}/currencies", {"params": {"term": "eu"}}
        yield "GET", f"{prefix}/filters", {}
        yield "GET", f"{prefix}/filters", {"params": {"type": "deals"}}
        yield "GET", f"{prefix}/filters", {"params": {"type": "nope"}}
        yield "GET", f"{prefix}/files", {"params": {"limit": 3, "sort": "file_name DESC"}}
        yield "GET", f"{prefix}/files", {"params": {"include_deleted_files": 1}}
        yield "GET", f"{prefix}/files/1", {}
        for path in FIELDS:
            yield "GET", f"{prefix}/{path}", {"params": {"start": 1, "limit": 5}}
    # writes
    yield "POST", "/api/v2/deals", {"json": {"title": "Answers deal", "value": 12.5}}
    yield "POST", "/api/v2/deals", {"json": {"value": 1}}
    yield "POST", "/api/v2/deals", {"data": "not json"}
    yield "POST", "/api/v2/persons", {"json": {"first_name": "Ada", "last_name": "Lovelace"}}
    yield "POST", "/api/v2/organizations", {"json": {"name": "Answers AG"}}
    yield "POST", "/api/v2/activities", {"json": {"subject": "Call", "deal_id": 1}}
    yield "POST", "/api/v2/products", {"json": {"name": "Widget"}}
    yield "PATCH", "/api/v2/deals/1", {"json": {"title": "Renamed", "status": "won"}}
    yield "PATCH", "/api/v2/deals/1", {"json": {"add_time": "2020-01-01T00:00:00Z"}}
    yield "PATCH", "/api/v2/persons/2", {"json": {"name": "Grace Hopper"}}
    yield "DELETE", "/api/v2/organizations/3", {}
    yield "DELETE", "/api/v2/organizations/3", {}
    yield "GET", "/v1/deals/1/flow", {}
    yield "GET", "/v1/deals/1/changelog", {}
    yield "POST", "/api/v2/deals/2/followers", {"json": {"user_id": 3}}
    yield "POST", "/api/v2/deals/2/followers", {"json": {"user_id": 3}}
    yield "DELETE", "/api/v2/deals/2/followers/3", {}
    yield "DELETE", "/api/v2/deals/2/followers/3", {}
    yield "GET", "/api/v2/deals/2/followers/changelog", {}
    yield "POST", "/v1/notes", {"json": {"content": "Hello", "deal_id": 1}}
    yield "POST", "/v1/notes", {"data": {"content": "Form note", "person_id": "2"}}
    yield "POST", "/v1/notes", {"json": {"content": "orphan"}}
    yield "PUT", "/v1/notes/1", {"json": {"content": "Edited", "pinned_to_deal_flag": 1}}
    yield "DELETE", "/v1/notes/2", {}
    yield "GET", "/v1/notes", {"params": {"sort": "update_time DESC", "limit": 3}}
    yield "GET", "/api/v2/deals", {"params": {"sort_by": "update_time", "limit": 3}}
    # control
    yield "GET", "/_sandbox/pipedrive/ids/pipelines", {}
    yield "GET", "/_sandbox/pipedrive/ids/deal_products", {}
    yield "GET", "/_sandbox/pipedrive/ids/leads", {}
    yield "GET", "/_sandbox/pipedrive/ids/nope", {}
    yield "GET", "/_sandbox/pipedrive/records/deals/1", {}
    yield "GET", "/_sandbox/pipedrive/records/users/1", {}
    yield "GET", "/_sandbox/pipedrive/records/installments/1", {}
    yield "GET", f"/_sandbox/pipedrive/records/leads/{lead}", {}
    yield "GET", "/_sandbox/pipedrive/records/deals/999999", {}
    yield "GET", "/_sandbox/pipedrive/fields", {}
    yield "POST", "/_sandbox/pipedrive/touch", {"json": {"entity": "deals", "count": 2}}
    yield "POST", "/_sandbox/pipedrive/touch", {"json": {"entity": "notes", "ids": [3]}}
    yield "POST", "/_sandbox/pipedrive/touch", {"json": {"entity": "leads", "ids": [lead]}}
    yield "POST", "/_sandbox/pipedrive/touch", {"json": {"entity": "deal_products", "count": 1}}
    yield "POST", "/_sandbox/pipedrive/touch", {"json": {"entity": "users", "count": 1}}
    yield "GET", "/_sandbox/pipedrive/nope", {}
    yield "GET", "/api/v2/deals", {"params": {"sort_by": "update_time", "sort_direction": "desc"}}
    yield "GET", "/v1/notes", {"params": {"sort": "update_time DESC", "limit": 3}}
    yield "POST", "/_sandbox/pipedrive/features", {"json": {"installments": False}}
    yield "POST", "/_sandbox/pipedrive/features", {"json": {"contact_sync": False}}
    yield "GET", "/api/v2/deals/installments", {"params": {"deal_ids": "1"}}
    yield "GET", "/api/v2/persons", {"params": {"limit": 2}}
    yield "PATCH", "/api/v2/persons/1", {"json": {"marketing_status": "subscribed"}}
    yield "GET", "/_sandbox/pipedrive/features", {}
    # OAuth (tokens are made deterministic by the test)
    yield "GET", "/oauth/authorize", {"params": {"client_id": "sandbox-client"}}
    yield "POST", "/oauth/token", {"data": {"grant_type": "authorization_code", "code": "x"}}
    yield "POST", "/_sandbox/pipedrive/oauth/code", {"json": {}}
    yield "POST", "/oauth/revoke", {"data": {"token": "nope"}}
    redirect = {"client_id": "sandbox-client", "redirect_uri": "http://127.0.0.1/cb", "state": "s"}
    yield "GET", "/oauth/authorize", {"params": redirect, "allow_redirects": False}
    client = ("sandbox-client", "sandbox-secret")
    code = {"grant_type": "authorization_code", "code": "tok0000"}
    yield "POST", "/oauth/token", {"data": code, "auth": client}
    yield "POST", "/oauth/token", {"data": code, "auth": client}  # used: 400
    yield "GET", "/api/v2/deals/1", {"headers": {"Authorization": "Bearer {access_token}"}}
    refresh = {"grant_type": "refresh_token", "refresh_token": "{refresh_token}"}
    yield "POST", "/oauth/token", {"data": refresh, "auth": client}
    yield "POST", "/oauth/revoke", {"data": {"token": "{refresh_token}"}, "auth": client}
    yield "GET", "/api/v2/deals/1", {"headers": {"Authorization": "Bearer {access_token}"}}
    # the writes not made above, so every route is answered once
    for e, body in (("organizations", {"name": "Renamed AG"}), ("activities", {"done": True}),
                    ("products", {"name": "Gadget"})):  # fmt: skip
        yield "PATCH", f"/api/v2/{e}/4", {"json": body}
    for e in ("deals", "persons", "activities", "products"):
        yield "DELETE", f"/api/v2/{e}/5", {}
    for e in ("persons", "organizations", "products"):
        yield "POST", f"/api/v2/{e}/2/followers", {"json": {"user_id": 2}}
        yield "DELETE", f"/api/v2/{e}/2/followers/2", {}
    yield "POST", "/api/v1/notes", {"json": {"content": "v1 path", "org_id": 1}}
    yield "PUT", "/api/v1/notes/4", {"json": {"content": "Edited again"}}
    yield "DELETE", "/api/v1/notes/4", {}
    # the daily budget
    yield "POST", "/_sandbox/config", {"json": {"daily_budget": 25}}
    yield "GET", "/api/v2/deals/1", {}
    yield "GET", "/v1/deals/1/flow", {}
    yield "GET", "/api/v2/deals", {}
    yield "GET", "/_sandbox/counters", {}


def _fingerprint(response: requests.Response, base: str) -> str:
    """Status and a digest of the headers that matter and the body (the port made neutral)."""
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in SKIPPED_HEADERS
    )
    body = response.content.replace(base.encode(), b"BASE")
    blob = json.dumps([response.status_code, headers]).encode() + b"\n" + body
    return f"{response.status_code} {hashlib.sha256(blob).hexdigest()[:16]}"


def _answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    counter = itertools.count()
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n=32: f"tok{next(counter):04d}")
    monkeypatch.setattr(secrets, "token_hex", lambda n=32: f"{next(counter):04d}")
    settings = Settings(seed=7, size=40, api_token=TOKEN)
    with SandboxServer(settings).start() as server:
        monkeypatch.setattr(server.sandbox.ctx.clock, "now", lambda: FROZEN)
        base = server.base_url
        session = requests.Session()
        lead = session.get(f"{base}/_sandbox/pipedrive/ids/leads", timeout=10).json()["ids"][0]
        lines = []
        tokens: dict[str, str] = {}  # from the last OAuth token answer
        for method, path, kwargs in _script(lead):
            url = base + (path if path.startswith("/_sandbox") else "/pipedrive" + path)
            shown = f"{method} {path} {json.dumps(kwargs, sort_keys=True)}"
            headers = kwargs.pop("headers", {"x-api-token": TOKEN})
            headers = {k: v.format(**tokens) for k, v in headers.items()}
            if isinstance(kwargs.get("data"), dict):
                kwargs["data"] = {k: v.format(**tokens) for k, v in kwargs["data"].items()}
            answer = session.request(method, url, headers=headers, timeout=30, **kwargs)
            if "access_token" in answer.text:
                tokens = answer.json()
            lines.append(f"{shown} -> {_fingerprint(answer, base)}")
        return lines


def test_pipedrive_answers_are_as_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = _answers(monkeypatch)
    if os.environ.get("CRM_SANDBOX_RECORD_ANSWERS") == "1":
        GOLDEN.write_text(json.dumps(answers, indent=0) + "\n")
    recorded = json.loads(GOLDEN.read_text())
    changed = [(old, new) for old, new in zip(recorded, answers, strict=True) if old != new]
    assert not changed, "answers changed:\n" + "\n".join(f"{o}\n  now {n}" for o, n in changed)
