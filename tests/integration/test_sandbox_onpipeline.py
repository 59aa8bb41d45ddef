"""crm-sandbox's Onpipeline API over real HTTP: what a client of the real API would check.

Everything is read through ``POST <onpipeline>/<Resource>`` and compared with the control
endpoint's view of the same account (``/_sandbox/onpipeline/ids/...``, ``records/...``).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from crm_sandbox.testing import SandboxHandle


def call(
    sandbox: SandboxHandle,
    resource: str,
    body: Any = None,
    *,
    token: str | None = "default",
    method: str = "POST",
    raw: bytes | None = None,
) -> requests.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = sandbox.api_token if token == "default" else token
    data = raw if raw is not None else json.dumps({} if body is None else body).encode()
    return requests.request(
        method, f"{sandbox.onpipeline_url}/{resource}", data=data, headers=headers, timeout=60
    )


def data(sandbox: SandboxHandle, resource: str, body: Any = None) -> Any:
    response = call(sandbox, resource, body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["Header"]["Code"] == "200"
    assert payload["Header"]["Endpoint"] == resource
    return payload["Data"]


def ids(sandbox: SandboxHandle, entity: str) -> list[str]:
    return list(sandbox.control("GET", f"/onpipeline/ids/{entity}")["ids"])


def error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert list(payload) == ["Error"]
    assert payload["Error"]["Code"] == str(status)
    assert set(payload["Error"]) == {"Code", "Message", "Time", "IP"}
    return str(payload["Error"]["Message"])


def admin_id(sandbox: SandboxHandle) -> str:
    return str(data(sandbox, "UsersList")[0]["ID"])


# -- lists --


@pytest.mark.parametrize(
    ("resource", "entity", "key"),
    [
        ("PersonList", "persons", "PersonID"),
        ("OrgList", "organizations", "OrgID"),
        ("EventList", "events", "EventID"),
        ("NotesList", "notes", "NoteID"),
    ],
)
def test_a_list_returns_every_record_once(
    sandbox: SandboxHandle, resource: str, entity: str, key: str
) -> None:
    listed = [r[key] for r in data(sandbox, resource)]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(ids(sandbox, entity))
    assert listed, "the seeded account has records"


def test_deals_list_hides_deleted_deals_unless_asked(sandbox: SandboxHandle) -> None:
    live = data(sandbox, "DealsList")
    deleted = data(sandbox, "DealsList", {"Status": "deleted"})
    assert deleted, "the seeded account has deleted deals"
    assert {d["Status"] for d in live} <= {"open", "won", "lost"}
    assert {d["Status"] for d in deleted} == {"deleted"}
    every = [d["DealID"] for d in live + deleted]
    assert sorted(every) == sorted(ids(sandbox, "deals"))
    one = data(sandbox, "DealsList", {"DealID": deleted[0]["DealID"]})
    assert one == [deleted[0]]


def test_records_link_to_real_records(sandbox: SandboxHandle) -> None:
    persons = {p["PersonID"] for p in data(sandbox, "PersonList")}
    orgs = {o["OrgID"] for o in data(sandbox, "OrgList")}
    deals = {
        d["DealID"]
        for d in data(sandbox, "DealsList") + data(sandbox, "DealsList", {"Status": "deleted"})
    }
    users = {u["ID"] for u in data(sandbox, "UsersList")}
    pipelines = data(sandbox, "PipelineList")
    stages = {(p["PipelineName"], s["Name"]) for p in pipelines for s in p["Stages"]}
    for deal in data(sandbox, "DealsList"):
        assert deal["LinkedPersonID"] in persons | {""}
        assert deal["LinkedOrgID"] in orgs | {""}
        assert set(deal["Involved"]) <= persons
        assert {deal["OwnerID"], deal["CreatedbyID"]} <= users
        assert (deal["Pipeline"], deal["Stage"]) in stages
    for event in data(sandbox, "EventList"):
        assert event["LinkedDeal"] in deals | {""}
        assert event["LinkedPerson"] in persons | {""}
    for note in data(sandbox, "NotesList"):
        linked = {"deal": deals, "person": persons, "org": orgs}[note["Type"]]
        assert note["LinkedID"] in linked
    team_members = {m["UserID"] for t in data(sandbox, "TeamsList") for m in t["Members"]}
    assert team_members <= users


def test_values_are_strings_in_the_documented_formats(sandbox: SandboxHandle) -> None:
    deals = data(sandbox, "DealsList")
    for deal in deals:
        assert isinstance(deal["Value"], str)
        assert deal["Value"].count(".") == 1
        assert len(deal["Value"].split(".")[1]) == 2
        assert deal["Probability"].isdigit()
        datetime.strptime(deal["Created"], "%Y-%m-%d %H:%M:%S")
        assert deal["Closed"] == "0000-00-00" or len(deal["Closed"]) == 10
    assert any(d["NextEvent"] == "0000-00-00 00:00:00" for d in deals)
    assert any(d["Closed"] == "0000-00-00" for d in deals)
    assert any(d["LastUpdate"] > d["Created"] for d in deals), "some deals changed later"
    assert any(d["Description"] is None for d in deals), "null fields exist"
    persons = data(sandbox, "PersonList")
    assert any(any(e["Value"] for e in p["Extra"]) for p in persons)
    assert any(not p["Email"] for p in persons)
    assert any(not p["Fullname"].isascii() for p in persons)


# -- filters --


def _created_counts(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["Created"] for r in records)


@pytest.mark.parametrize(
    ("resource", "key"), [("PersonList", "PersonID"), ("EventList", "EventID")]
)
def test_created_windows_are_inclusive_at_both_ends(
    sandbox: SandboxHandle, resource: str, key: str
) -> None:
    everything = data(sandbox, resource)
    shared, count = _created_counts(everything).most_common(1)[0]
    assert count > 1, "some records share one creation second"
    before = data(sandbox, resource, {"MaxCreated": shared})
    after = data(sandbox, resource, {"MinCreated": shared})
    exactly = data(sandbox, resource, {"MinCreated": shared, "MaxCreated": shared})
    assert {r[key] for r in before} == {r[key] for r in everything if r["Created"] <= shared}
    assert {r[key] for r in after} == {r[key] for r in everything if r["Created"] >= shared}
    assert len(exactly) == count
    day = shared[:10]  # a bare date covers the whole day at both ends
    on_day = data(sandbox, resource, {"MinCreated": day, "MaxCreated": day})
    assert {r[key] for r in on_day} == {r[key] for r in everything if r["Created"][:10] == day}


def test_windows_split_a_list_without_gaps_or_overlaps(sandbox: SandboxHandle) -> None:
    everything = data(sandbox, "DealsList")
    bounds = ["2019-01-01 00:00:00", "2021-06-30 12:00:00", "2023-03-01 00:00:00"]
    windows = [(bounds[0], "2021-06-30 11:59:59"), (bounds[1], "2023-02-28 23:59:59")]
    windows.append((bounds[2], "2026-12-31 23:59:59"))
    seen = [
        d["DealID"]
        for lo, hi in windows
        for d in data(sandbox, "DealsList", {"MinCreated": lo, "MaxCreated": hi})
    ]
    assert sorted(seen) == sorted(d["DealID"] for d in everything)


def test_field_filters_match_exactly(sandbox: SandboxHandle) -> None:
    deals = data(sandbox, "DealsList")
    deal = next(d for d in deals if d["Products"] and d["LinkedPersonID"])
    checks: list[tuple[dict[str, Any], Any]] = [
        ({"Status": "won"}, lambda d: d["Status"] == "won"),
        ({"OwnerID": deal["OwnerID"]}, lambda d: d["OwnerID"] == deal["OwnerID"]),
        ({"Pipeline": deal["Pipeline"]}, lambda d: d["Pipeline"] == deal["Pipeline"]),
        ({"Stage": deal["Stage"]}, lambda d: d["Stage"] == deal["Stage"]),
        (
            {"LinkedPersonID": deal["LinkedPersonID"]},
            lambda d: d["LinkedPersonID"] == deal["LinkedPersonID"],
        ),
        ({"Products": deal["Products"][0]}, lambda d: deal["Products"][0] in d["Products"]),
        (
            {"MinClosed": "2020-01-01", "MaxClosed": "2022-12-31"},
            lambda d: "2020-01-01" <= d["Closed"] <= "2022-12-31",
        ),
    ]  # fmt: skip
    for body, predicate in checks:
        got = {d["DealID"] for d in data(sandbox, "DealsList", body)}
        assert got == {d["DealID"] for d in deals if predicate(d)}, body
        assert got, body

    persons = data(sandbox, "PersonList")
    person = next(p for p in persons if p["OrgID"])
    got = data(sandbox, "PersonList", {"OrganizationID": person["OrgID"]})
    assert {p["PersonID"] for p in got} == {
        p["PersonID"] for p in persons if p["OrgID"] == person["OrgID"]
    }
    assert data(sandbox, "PersonList", {"PersonID": person["PersonID"]}) == [person]
    with_extra = next(p for p in persons if any(e["Value"] for e in p["Extra"]))
    field = next(e for e in with_extra["Extra"] if e["Value"])
    got = data(sandbox, "PersonList", {"Extra": [field]})
    expected = {p["PersonID"] for p in persons if field in p["Extra"]}
    assert {p["PersonID"] for p in got} == expected

    notes = data(sandbox, "NotesList")
    note = notes[0]
    got = data(sandbox, "NotesList", {"Type": note["Type"], "LinkedID": note["LinkedID"]})
    assert {n["NoteID"] for n in got} == {
        n["NoteID"] for n in notes if (n["Type"], n["LinkedID"]) == (note["Type"], note["LinkedID"])
    }
    orgs = data(sandbox, "OrgList")
    got = data(sandbox, "OrgList", {"City": orgs[0]["City"]})
    assert {o["OrgID"] for o in got} == {o["OrgID"] for o in orgs if o["City"] == orgs[0]["City"]}


def test_invoices_need_a_date_range_and_their_items_add_up(sandbox: SandboxHandle) -> None:
    assert "MinDate" in error(call(sandbox, "InvoiceList", {"MaxDate": "2025-12-31"}), 400)
    assert "MaxDate" in error(call(sandbox, "InvoiceList", {"MinDate": "2019-01-01"}), 400)
    everything = data(sandbox, "InvoiceList", {"MinDate": "2000-01-01", "MaxDate": "2030-12-31"})
    assert sorted(i["ID"] for i in everything) == sorted(ids(sandbox, "invoices"))
    some_day = everything[len(everything) // 2]["Date"]
    got = data(sandbox, "InvoiceList", {"MinDate": some_day, "MaxDate": some_day})
    assert {i["ID"] for i in got} == {i["ID"] for i in everything if i["Date"] == some_day}
    lines = 0
    for invoice in everything:
        items = data(sandbox, "InvoiceItems", {"ID": invoice["ID"]})
        assert 1 <= len(items) <= 5
        lines += len(items)
        net = sum(round(float(item["Total"]) * 100) for item in items)
        assert net == round(float(invoice["NetTotal"]) * 100)
    assert lines == len(ids(sandbox, "invoice_items"))
    assert any(float(i["Paid"]) > 0 for i in everything), "some invoices were paid later"
    error(call(sandbox, "InvoiceItems", {"ID": "0" * 32}), 404)


# -- writes --


def test_person_writes_are_visible_in_lists(sandbox: SandboxHandle) -> None:
    org_id = data(sandbox, "OrgList")[0]["OrgID"]
    field_id = data(sandbox, "ListCustomFields", {"Table": "Persons"})[0]["ID"]
    body = {
        "FirstName": "Zoë",
        "LastName": "Ōtsuka",
        "OrgID": org_id,
        "Email": [{"Address": "zoe@example.test", "Type": "work"}],
        "Phone": [{"Number": "+39 02 1234", "Type": "mobile"}],
        "Extra": [{"ID": field_id, "Value": "Managing Director"}],
    }
    response = call(sandbox, "PersonAdd", body)
    assert response.status_code == 201
    assert response.json()["Header"]["Status"] == "Created"
    person_id = response.json()["Data"]["PersonID"]
    [person] = data(sandbox, "PersonList", {"PersonID": person_id})
    assert (person["Fullname"], person["OrgID"], person["Source"]) == ("Zoë Ōtsuka", org_id, "API")
    assert {"ID": field_id, "Value": "Managing Director"} in person["Extra"]

    changed = call(sandbox, "PersonChange", {"PersonID": person_id, "LastName": "Otsuka"})
    assert changed.status_code == 202
    assert changed.json()["Header"]["PersonID"] == person_id
    assert data(sandbox, "PersonList", {"PersonID": person_id})[0]["Fullname"] == "Zoë Otsuka"

    assert call(sandbox, "PersonDelete", {"PersonID": person_id}).status_code == 202
    assert data(sandbox, "PersonList", {"PersonID": person_id}) == []
    assert person_id not in ids(sandbox, "persons")
    error(call(sandbox, "PersonChange", {"PersonID": person_id, "LastName": "X"}), 404)
    assert sandbox.counters()["events"]["writes"] == 3


def test_org_writes_and_duplicates(sandbox: SandboxHandle) -> None:
    body = {"OrgName": "Ñandú Logística S.L.", "Postcode": "08006", "City": "Barcelona"}
    response = call(sandbox, "OrgAdd", body)
    assert response.status_code == 201
    org_id = response.json()["Data"]["OrgID"]
    assert "OrgName and Postcode" in error(call(sandbox, "OrgAdd", body), 409)
    assert call(sandbox, "OrgAdd", {"OrgName": body["OrgName"]}).status_code == 201  # no postcode
    changed = call(sandbox, "OrgChange", {"OrgID": org_id, "Address1": "Av Diagonal 458"})
    assert changed.status_code == 202
    [org] = data(sandbox, "OrgList", {"OrgID": org_id})
    assert org["FullAddress"] == "Av Diagonal 458, 08006 Barcelona"
    assert call(sandbox, "OrgDelete", {"OrgID": org_id}).status_code == 202
    assert data(sandbox, "OrgList", {"OrgID": org_id}) == []


def test_deal_writes_delete_and_undelete(sandbox: SandboxHandle) -> None:
    pipeline = data(sandbox, "PipelineList")[0]
    person = data(sandbox, "PersonList")[0]
    body = {
        "DealName": "Nuovo contratto \u2013 2026",
        "PipelineID": pipeline["PipelineID"],
        "StageID": pipeline["Stages"][0]["ID"],
        "OwnerID": admin_id(sandbox),
        "LinkedPersonID": person["PersonID"],
        "Value": "100.000",
        "Products": ["Equipment"],
    }
    response = call(sandbox, "DealAdd", body)
    assert response.status_code == 201
    deal_id = response.json()["Data"]["DealID"]
    [deal] = data(sandbox, "DealsList", {"DealID": deal_id})
    assert (deal["Value"], deal["Status"], deal["LinkedPerson"]) == (
        "100.00",
        "open",
        person["Fullname"],
    )
    assert call(sandbox, "DealChange", {"DealID": deal_id, "Status": "won"}).status_code == 202
    [won] = data(sandbox, "DealsList", {"DealID": deal_id})
    assert won["Status"] == "won"
    assert won["Closed"] != "0000-00-00"
    assert call(sandbox, "DealDelete", {"DealID": deal_id}).status_code == 202
    assert deal_id not in {d["DealID"] for d in data(sandbox, "DealsList")}
    assert deal_id in {d["DealID"] for d in data(sandbox, "DealsList", {"Status": "deleted"})}
    assert call(sandbox, "DealUndelete", {"DealID": deal_id}).status_code == 202
    [restored] = data(sandbox, "DealsList", {"DealID": deal_id})
    assert restored["Status"] == "open"
    error(call(sandbox, "DealUndelete", {"DealID": deal_id}), 406)  # not deleted
    bad_stage = dict(body, StageID="999")
    error(call(sandbox, "DealAdd", bad_stage), 406)


def test_notes_and_custom_fields(sandbox: SandboxHandle) -> None:
    deal_id = data(sandbox, "DealsList")[0]["DealID"]
    response = call(sandbox, "NoteAdd", {"Type": "deal", "LinkedID": deal_id, "Text": "Ciao 👋"})
    assert response.status_code == 201
    note_id = response.json()["Data"]["NoteID"]
    notes = data(sandbox, "NotesList", {"Type": "deal", "LinkedID": deal_id})
    assert {"NoteID": note_id, "Text": "Ciao 👋", "Deleted": "0"}.items() <= next(
        n for n in notes if n["NoteID"] == note_id
    ).items()
    added = call(sandbox, "FieldAdd", {"Table": "organizations", "Name": "BillingID"})
    assert added.status_code == 201
    field_id = added.json()["Data"]["ID"]
    fields = data(sandbox, "ListCustomFields", {"Table": "Organizations"})
    assert {"Name": "BillingID", "ID": field_id} in fields
    assert all(field_id in {e["ID"] for e in o["Extra"]} for o in data(sandbox, "OrgList"))
    assert call(sandbox, "FieldDelete", {"ID": field_id}).status_code == 202
    assert field_id not in {
        f["ID"] for f in data(sandbox, "ListCustomFields", {"Table": "Organizations"})
    }


# -- errors --


def test_documented_error_codes(sandbox: SandboxHandle) -> None:
    person_id = data(sandbox, "PersonList")[0]["PersonID"]
    first_name = data(sandbox, "PersonList", {"PersonID": person_id})[0]["FirstName"]
    assert "Invalid JSON" in error(call(sandbox, "PersonList", raw=b"{not json"), 406)
    assert "Invalid JSON" in error(call(sandbox, "PersonList", raw=b""), 406)
    same = {"PersonID": person_id, "FirstName": first_name}
    assert "nothing to change" in error(call(sandbox, "PersonChange", same), 406)
    assert "LastName" in error(call(sandbox, "PersonAdd", {"FirstName": "Mike"}), 400)
    assert "DealName" in error(call(sandbox, "DealAdd", {"PipelineID": "1"}), 400)
    assert error(call(sandbox, "PersonList", token="wrong"), 401) == "Invalid Token"
    assert "Missing Token" in error(call(sandbox, "PersonList", token=None), 400)
    assert "Resource" in error(call(sandbox, "PersonLists"), 404)
    assert "not simulated" in error(call(sandbox, "WebhookList"), 404)
    refused = call(sandbox, "PersonList", method="PUT")
    error(refused, 405)
    assert refused.headers["Allow"] == "POST, GET"
    assert "OrgID" in error(
        call(sandbox, "PersonAdd", {"FirstName": "A", "LastName": "B", "OrgID": "nope"}), 406
    )
    assert "MinCreated" in error(call(sandbox, "PersonList", {"MinCreated": "yesterday"}), 406)
    assert sandbox.counters()["events"].get("writes", 0) == 0


def test_read_only_token_reads_but_cannot_write(sandbox: SandboxHandle) -> None:
    tokens = sandbox.control("GET", "/onpipeline/tokens")
    assert tokens["read_only"] == sandbox.api_token + "-readonly"
    read_only = tokens["read_only"]
    assert call(sandbox, "PersonList", token=read_only).status_code == 200
    body = {"FirstName": "Mike", "LastName": "Smith"}
    assert "read only" in error(call(sandbox, "PersonAdd", body, token=read_only), 403)
    assert call(sandbox, "PersonAdd", body).status_code == 201


def test_get_is_served_like_post_and_requests_are_counted(sandbox: SandboxHandle) -> None:
    got = call(sandbox, "UsersList", method="GET")
    assert got.status_code == 200
    assert got.json()["Data"] == data(sandbox, "UsersList")
    requests_seen = sandbox.counters()["requests"]
    assert requests_seen["onpipeline GET /UsersList"] == 1
    assert requests_seen["onpipeline POST /UsersList"] == 1


# -- time --


def test_last_update_windows_follow_the_sandbox_clock(sandbox: SandboxHandle) -> None:
    assert data(sandbox, "LastUpdate", {"Resource": "PersonList", "Hours": 24}) == []
    touched = sandbox.control("POST", "/onpipeline/touch", {"entity": "persons", "count": 3})
    assert len(touched["touched"]) == 3
    sandbox.advance_clock(4 * 3600)
    deal_id = data(sandbox, "DealsList")[0]["DealID"]
    assert call(sandbox, "DealChange", {"DealID": deal_id, "Probability": "55"}).status_code == 202

    def changed(resource: str, hours: Any, key: str) -> set[str]:
        rows = data(sandbox, "LastUpdate", {"Resource": resource, "Hours": hours})
        return {r[key] for r in rows}

    assert changed("PersonList", "3", "PersonID") == set()
    assert changed("PersonList", "6", "PersonID") == set(touched["touched"])
    assert changed("DealsList", 3, "DealID") == {deal_id}
    sandbox.advance_clock(21 * 3600)
    assert changed("PersonList", 24, "PersonID") == set()
    assert changed("DealsList", 24, "DealID") == {deal_id}
    assert "Hours" in error(
        call(sandbox, "LastUpdate", {"Resource": "PersonList", "Hours": 5}), 406
    )
    assert "Resource" in error(call(sandbox, "LastUpdate", {"Hours": 3}), 400)


def test_datetimes_are_local_to_the_account_time_zone(sandbox: SandboxHandle) -> None:
    person = data(sandbox, "PersonList")[0]
    truth = sandbox.control("GET", f"/onpipeline/records/persons/{person['PersonID']}")
    created = datetime.fromisoformat(truth["created_utc"])
    assert created.tzinfo is not None
    rome = created.astimezone(ZoneInfo("Europe/Rome")).strftime("%Y-%m-%d %H:%M:%S")
    assert person["Created"] == rome
    sandbox.configure(timezone="America/New_York")
    [again] = data(sandbox, "PersonList", {"PersonID": person["PersonID"]})
    new_york = created.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S")
    assert again["Created"] == new_york
    assert again["Created"] != person["Created"]
    header_time = datetime.strptime(
        call(sandbox, "UsersList").json()["Header"]["Time"], "%Y-%m-%d %H:%M:%S"
    )
    local_now = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
    assert abs((local_now - header_time).total_seconds()) < 300  # the envelope's Time is local too


# -- limits and seeds --


def test_rate_limit_refuses_the_request_over_the_limit(sandbox: SandboxHandle) -> None:
    sandbox.configure(onpipeline_rate_limit=3)
    for _ in range(3):
        assert call(sandbox, "UsersList").status_code == 200
    refused = call(sandbox, "UsersList")
    assert "Too Many Requests" in error(refused, 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert sandbox.counters()["events"]["rate_limited"] == 1
    sandbox.advance_clock(61)
    assert call(sandbox, "UsersList").status_code == 200


def test_the_same_seed_gives_the_same_account(sandbox: SandboxHandle) -> None:
    def snapshot() -> list[Any]:
        return [
            data(sandbox, "PersonList"),
            data(sandbox, "DealsList", {"Status": "deleted"}),
            data(sandbox, "EventList"),
            data(sandbox, "InvoiceList", {"MinDate": "2019-01-01", "MaxDate": "2025-12-31"}),
        ]

    sandbox.reset(seed=7, size=30)
    first = snapshot()
    sandbox.reset(seed=7, size=30)
    assert snapshot() == first
    sandbox.reset(seed=8, size=30)
    assert snapshot() != first


def test_sizes_scale_with_the_number_of_deals(sandbox: SandboxHandle) -> None:
    sandbox.reset(size=200)
    counts = {e: len(ids(sandbox, e)) for e in ("persons", "organizations", "deals", "events")}
    assert counts == {"persons": 200, "organizations": 100, "deals": 200, "events": 400}
    assert len(ids(sandbox, "notes")) == 200
    assert len(ids(sandbox, "invoices")) == 40
    assert 5 <= len(ids(sandbox, "users")) <= 30
    assert 2 <= len(ids(sandbox, "teams")) <= 5
    assert 2 <= len(ids(sandbox, "pipelines")) <= 3
    assert len(ids(sandbox, "products")) == 10


def test_lists_read_twice_show_what_changed_in_between(sandbox: SandboxHandle) -> None:
    deal = next(d for d in data(sandbox, "DealsList") if d["LinkedPersonID"])
    persons = data(sandbox, "PersonList")  # a first read of everything
    person_id = deal["LinkedPersonID"]
    change = {"PersonID": person_id, "FirstName": "Renamed"}
    assert call(sandbox, "PersonChange", change).status_code == 202
    [linked] = data(sandbox, "DealsList", {"DealID": deal["DealID"]})
    assert linked["LinkedPerson"].startswith("Renamed ")
    before = {p["PersonID"]: p for p in persons}[person_id]
    after = {p["PersonID"]: p for p in data(sandbox, "PersonList")}[person_id]
    assert before["FirstName"] != "Renamed"
    assert after["FirstName"] == "Renamed"
    touched = sandbox.control(
        "POST", "/onpipeline/touch", {"entity": "deals", "ids": [deal["DealID"]]}
    )
    assert touched["touched"] == [deal["DealID"]]
    [again] = data(sandbox, "DealsList", {"DealID": deal["DealID"]})
    assert again["Value"] != linked["Value"]
    assert again["LastUpdate"] > linked["LastUpdate"]
    sandbox.configure(timezone="Asia/Tokyo")
    [tokyo] = data(sandbox, "DealsList", {"DealID": deal["DealID"]})
    assert tokyo["Created"] != again["Created"]
