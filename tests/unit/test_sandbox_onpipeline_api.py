"""The Onpipeline provider's handle() without HTTP: cases the generated data cannot set up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from crm_sandbox.core import Request, SandboxContext, Settings
from crm_sandbox.onpipeline import OnpipelineAPI


def post(api: OnpipelineAPI, resource: str, body: Any, method: str = "POST") -> Any:
    headers = {"Authorization": api.ctx.settings.api_token}
    request = Request.from_raw(method, f"/{resource}", "", headers, json.dumps(body).encode())
    response = api.handle(request)
    return response.status, json.loads(response.body)


def add_person(api: OnpipelineAPI, created: datetime, name: str) -> str:
    ts = int(created.timestamp())
    record = {
        "FirstName": name, "LastName": "DST", "org": -1, "NextEvent": None, "EmailsSent": "0",
        "EmailsReceived": "0", "Source": "API", "SourceName": "", "created": ts,
        "modified": ts, "Email": [], "Phone": [], "extra": {},
    }  # fmt: skip
    return api.store.id_of("persons", api.store.add("persons", record))


def test_windows_compare_local_times_also_in_the_repeated_autumn_hour() -> None:
    api = OnpipelineAPI(SandboxContext(Settings(size=0, timezone="Europe/Rome")))
    # 00:30 and 01:30 UTC on 2024-10-27 are both 02:30 in Rome (summer time ends at 03:00).
    first = add_person(api, datetime(2024, 10, 27, 0, 30, tzinfo=UTC), "First")
    second = add_person(api, datetime(2024, 10, 27, 1, 30, tzinfo=UTC), "Second")
    later = add_person(api, datetime(2024, 10, 27, 2, 30, tzinfo=UTC), "Later")  # 03:30 CET

    def window(lo: str, hi: str) -> list[str]:
        status, payload = post(api, "PersonList", {"MinCreated": lo, "MaxCreated": hi})
        assert status == 200
        return [p["PersonID"] for p in payload["Data"]]

    assert window("2024-10-27 02:30:00", "2024-10-27 02:30:00") == [first, second]
    assert window("2024-10-27 02:00:00", "2024-10-27 02:59:59") == [first, second]
    assert window("2024-10-27 03:00:00", "2024-10-27 23:59:59") == [later]
    assert window("2024-10-27", "2024-10-27") == [first, second, later]
    _, payload = post(api, "PersonList", {"PersonID": second})
    assert payload["Data"][0]["Created"] == "2024-10-27 02:30:00"


def test_resource_names_ignore_case_and_get_reads_a_json_body() -> None:
    api = OnpipelineAPI(SandboxContext(Settings(size=10)))
    status, payload = post(api, "personlist", {"MinCreated": "2000-01-01"}, method="GET")
    assert status == 200
    assert payload["Header"]["Endpoint"] == "PersonList"
    assert len(payload["Data"]) == 10
    assert api.ctx.counters.snapshot()["requests"] == {"onpipeline GET /PersonList": 1}


def test_an_empty_account_answers_empty_lists() -> None:
    api = OnpipelineAPI(SandboxContext(Settings(size=0)))
    for resource in ("PersonList", "OrgList", "DealsList", "EventList", "NotesList"):
        status, payload = post(api, resource, {})
        assert (status, payload["Data"]) == (200, [])
    status, payload = post(api, "InvoiceList", {"MinDate": "2019-01-01", "MaxDate": "2030-01-01"})
    assert (status, payload["Data"]) == (200, [])
