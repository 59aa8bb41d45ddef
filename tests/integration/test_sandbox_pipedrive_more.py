"""The simulated Pipedrive API, second part (issue 7), over real HTTP: leads, deal products,
installments, deal flow, activity types, currencies, filters, files, lead and note fields."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from crm_sandbox.testing import SandboxHandle

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Client:
    def __init__(self, sb: SandboxHandle) -> None:
        self.sb = sb
        self.http = requests.Session()
        self.http.headers["x-api-token"] = sb.api_token

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.sb.pipedrive_url + path, params=params, timeout=30)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        return body

    def walk_v2(self, path: str, **params: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.ok(path, **params, **({"cursor": cursor} if cursor else {}))
            assert set(page["additional_data"]) == {"next_cursor"}
            records += page["data"]
            cursor = page["additional_data"]["next_cursor"]
            if cursor is None:
                return records

    def walk_v1(self, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        start = 0
        while True:
            page = self.ok(path, start=start, limit=limit, **params)
            pagination = page["additional_data"]["pagination"]
            assert pagination["start"] == start
            assert pagination["limit"] == limit
            assert len(page["data"]) <= limit
            records += page["data"]
            if not pagination["more_items_in_collection"]:
                assert "next_start" not in pagination
                return records
            start = pagination["next_start"]

    def ids(self, entity: str) -> list[Any]:
        found: list[Any] = self.sb.control("GET", f"/pipedrive/ids/{entity}")["ids"]
        return found

    def raw(self, entity: str, rid: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.sb.control("GET", f"/pipedrive/records/{entity}/{rid}")
        return found

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.http.patch(self.sb.pipedrive_url + path, json=body, timeout=30)


@pytest.fixture
def pd(sandbox: SandboxHandle) -> Client:
    return Client(sandbox)


def live_deals(pd: Client) -> list[int]:
    return [d for d in pd.ids("deals") if not pd.raw("deals", d)["is_deleted"]]


def in_chunks(ids: list[int], size: int = 100) -> list[str]:
    return [",".join(map(str, ids[k : k + size])) for k in range(0, len(ids), size)]


# ---- leads ---------------------------------------------------------------------------------
def test_lead_pages_hold_every_lead_once_oldest_first(pd: Client) -> None:
    live = pd.walk_v1("/v1/leads", limit=7)
    archived = pd.walk_v1("/v1/leads/archived", limit=7)
    assert live
    assert archived
    assert not any(lead["is_archived"] for lead in live)
    assert all(lead["is_archived"] for lead in archived)
    ids = [lead["id"] for lead in live + archived]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(pd.ids("leads"))
    assert all(UUID.match(i) for i in ids)
    for leads in (live, archived):
        keys = [(lead["add_time"], i) for i, lead in enumerate(leads)]
        assert keys == sorted(keys), "leads come oldest first"
    assert all(RFC3339.match(x["add_time"]) and RFC3339.match(x["update_time"]) for x in live)
    assert all(lead["person_id"] or lead["organization_id"] for lead in live + archived)
    assert pd.walk_v1("/api/v1/leads", limit=500) == live


def test_leads_legacy_archived_status_still_splits_the_list(pd: Client) -> None:
    """The older docs' parameter (dropped from the newer ones) keeps working on /v1/leads."""
    everything = pd.walk_v1("/v1/leads", limit=500, archived_status="all")
    archived = pd.walk_v1("/v1/leads", limit=500, archived_status="archived")
    live = pd.walk_v1("/v1/leads", limit=500, archived_status="not_archived")
    assert archived == pd.walk_v1("/v1/leads/archived", limit=500)
    assert live == pd.walk_v1("/v1/leads", limit=500)
    assert sorted(x["id"] for x in archived + live) == sorted(x["id"] for x in everything)
    assert pd.get("/v1/leads", archived_status="gone").status_code == 400


def test_lead_sort_and_filters(pd: Client) -> None:
    newest = pd.walk_v1("/v1/leads", limit=6, sort="update_time DESC")
    times = [lead["update_time"] for lead in newest]
    assert times == sorted(times, reverse=True)
    owner = newest[0]["owner_id"]
    mine = pd.walk_v1("/v1/leads", limit=500, owner_id=owner)
    assert {x["id"] for x in mine} == {x["id"] for x in newest if x["owner_id"] == owner}
    assert pd.get("/v1/leads", sort="colour ASC").status_code == 400


def test_one_lead_by_uuid_and_its_labels(pd: Client) -> None:
    labels = pd.ok("/v1/leadLabels")
    assert "additional_data" not in labels, "lead labels are not paginated"
    label_ids = {label["id"] for label in labels["data"]}
    assert all(UUID.match(i) for i in label_ids)
    assert {"id", "name", "color", "add_time", "update_time"} <= set(labels["data"][0])
    leads = pd.walk_v1("/v1/leads", limit=500)
    assert pd.raw("lead_labels", labels["data"][0]["id"]) == labels["data"][0]
    labelled = [lead for lead in leads if lead["label_ids"]]
    assert labelled
    assert all(set(lead["label_ids"]) <= label_ids for lead in leads)
    one = pd.ok(f"/v1/leads/{labelled[0]['id']}")["data"]
    assert one == labelled[0]
    assert pd.get("/v1/leads/00000000-0000-4000-8000-000000000000").status_code == 404
    sources = pd.ok("/v1/leadSources")["data"]
    assert {lead["source_name"] for lead in leads} <= {s["name"] for s in sources}


# ---- deal products ------------------------------------------------------------------------
def test_bulk_deal_products_return_products_of_exactly_those_deals(pd: Client) -> None:
    deals = live_deals(pd)
    asked = deals[::3]
    found = pd.walk_v2("/api/v2/deals/products", deal_ids=",".join(map(str, asked)), limit=5)
    assert found, "a third of the deals should have some products"
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)
    assert {p["deal_id"] for p in found} <= set(asked)
    one_by_one = [p for d in asked for p in pd.walk_v2(f"/api/v2/deals/{d}/products")]
    assert sorted(found, key=lambda p: p["id"]) == sorted(one_by_one, key=lambda p: p["id"])
    products = set(pd.ids("products"))
    for p in found:
        assert p["product_id"] in products
        assert RFC3339.match(p["add_time"])
        assert p["add_time"] <= p["update_time"]
        assert p["discount_type"] in ("percentage", "amount")
        assert p["tax_method"] in ("exclusive", "inclusive", "none")
        assert isinstance(p["sum"], float | int)
        assert p["quantity"] >= 1


def test_every_deal_product_once_in_chunks_of_100_deals(pd: Client) -> None:
    deals = live_deals(pd)
    found = [
        p
        for chunk in in_chunks(deals)
        for p in pd.walk_v2("/api/v2/deals/products", deal_ids=chunk, limit=500)
    ]
    expected = [
        i for i in pd.ids("deal_products") if pd.raw("deal_products", i)["deal_id"] in deals
    ]
    assert sorted(p["id"] for p in found) == sorted(expected)


def test_deal_products_sorted_by_update_time_desc_page_without_gaps(pd: Client) -> None:
    deals = ",".join(map(str, live_deals(pd)[:100]))
    every = pd.walk_v2("/api/v2/deals/products", deal_ids=deals, limit=500)
    by_time = pd.walk_v2(
        "/api/v2/deals/products", deal_ids=deals, sort_by="update_time", sort_direction="desc",
        limit=3,
    )  # fmt: skip
    keys = [(p["update_time"], p["id"]) for p in by_time]
    assert keys == sorted(keys, reverse=True)
    assert sorted(p["id"] for p in by_time) == sorted(p["id"] for p in every)


def test_deal_ids_are_required_and_at_most_100(pd: Client) -> None:
    missing = pd.get("/api/v2/deals/products")
    assert missing.status_code == 400
    assert missing.json()["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    too_many = pd.get("/api/v2/deals/products", deal_ids=",".join(map(str, range(1, 102))))
    assert too_many.status_code == 400
    assert pd.get("/api/v2/deals/products", deal_ids="1", limit=501).status_code == 400
    assert pd.get("/api/v2/deals/999999/products").status_code == 404


# ---- installments -----------------------------------------------------------------------
def test_installments_of_many_deals_once_each_and_only_on_one_time_deals(pd: Client) -> None:
    deals = live_deals(pd)
    found = [
        i
        for chunk in in_chunks(deals)
        for i in pd.walk_v2("/api/v2/deals/installments", deal_ids=chunk, limit=4)
    ]
    assert found, "some deals sell one-time products only and are paid in installments"
    assert sorted(i["id"] for i in found) == sorted(
        i for i in pd.ids("installments") if pd.raw("installments", i)["deal_id"] in deals
    )
    for deal in {i["deal_id"] for i in found}:
        products = pd.walk_v2(f"/api/v2/deals/{deal}/products")
        assert all(p["billing_frequency"] == "one-time" for p in products)
        total = sum(p["sum"] for p in products if p["is_enabled"])
        paid = sum(i["amount"] for i in found if i["deal_id"] == deal)
        assert paid == pytest.approx(total, abs=0.01)
    assert all(set(i) == {"id", "deal_id", "amount", "billing_date", "description"} for i in found)


def test_installments_answer_403_when_the_plan_lacks_them(pd: Client) -> None:
    deals = ",".join(map(str, live_deals(pd)[:10]))
    features = pd.sb.control("POST", "/pipedrive/features", {"installments": False})
    assert features["installments"] is False
    refused = pd.get("/api/v2/deals/installments", deal_ids=deals)
    assert refused.status_code == 403
    body = refused.json()
    assert body["success"] is False
    assert "not available" in body["error"]
    pd.sb.control("POST", "/pipedrive/features", {"installments": True})
    assert pd.get("/api/v2/deals/installments", deal_ids=deals).status_code == 200
    pd.sb.control("POST", "/pipedrive/features", {"installments": False})
    pd.sb.reset()
    assert pd.sb.control("GET", "/pipedrive/features")["installments"] is True  # reset: on


# ---- deal flow ---------------------------------------------------------------------------
def test_a_deal_patch_shows_in_its_flow(pd: Client) -> None:
    deal = next(d for d in live_deals(pd) if not pd.raw("deals", d)["is_archived"])
    before = pd.raw("deals", deal)
    pd.sb.advance_clock(60)
    answer = pd.patch(f"/api/v2/deals/{deal}", {"value": 4321.5, "status": "won"})
    assert answer.status_code == 200, answer.text
    stamp = answer.json()["data"]["update_time"].replace("T", " ").removesuffix("Z")
    entries = pd.walk_v1(f"/v1/deals/{deal}/flow", limit=2)
    changes = [e for e in entries if e["object"] == "dealChange"]
    latest = {c["data"]["field_key"]: c for c in changes if c["timestamp"] == stamp}
    assert set(latest) >= {"value", "status"}
    assert latest["value"]["data"]["old_value"] == before["value"]
    assert latest["value"]["data"]["new_value"] == 4321.5
    assert latest["status"]["data"]["new_value"] == "won"
    assert all(c["data"]["item_id"] == deal for c in changes)
    stamps = [e["timestamp"] for e in entries]
    assert stamps == sorted(stamps, reverse=True), "newest first"
    assert all(V1_TIME.match(s) for s in stamps)
    only = pd.walk_v1(f"/v1/deals/{deal}/flow", limit=100, items="change")
    assert only == changes


def test_deal_changelog_lists_the_field_changes_with_a_cursor(pd: Client) -> None:
    deal = next(d for d in live_deals(pd) if not pd.raw("deals", d)["is_archived"])
    for value in (10, 20, 30):
        pd.sb.advance_clock(5)
        assert pd.patch(f"/api/v2/deals/{deal}", {"value": value}).status_code == 200
    changes = pd.walk_v2(f"/v1/deals/{deal}/changelog", limit=2)
    flow = pd.walk_v1(f"/v1/deals/{deal}/flow", limit=500, items="change", all_changes=1)
    assert len(changes) == len(flow)
    assert [(c["field_key"], c["time"]) for c in changes] == [
        (e["data"]["field_key"], e["data"]["log_time"]) for e in flow
    ]
    values = [c for c in changes if c["field_key"] == "value"][:3]
    assert [(c["old_value"], c["new_value"]) for c in values[:2]] == [("20", "30"), ("10", "20")]
    assert values[2]["new_value"] == "10"
    assert {"actor_user_id", "change_source", "is_bulk_update_flag"} <= set(changes[0])


def test_custom_field_changes_show_in_the_flow_only_with_all_changes(pd: Client) -> None:
    deal = next(d for d in live_deals(pd) if not pd.raw("deals", d)["is_archived"])
    field = next(
        f for f in pd.sb.control("GET", "/pipedrive/fields")["deal"] if f["field_type"] == "varchar"
    )
    answer = pd.patch(f"/api/v2/deals/{deal}", {"custom_fields": {field["key"]: "FLOW-1"}})
    assert answer.status_code == 200, answer.text
    plain = pd.walk_v1(f"/v1/deals/{deal}/flow", limit=100, items="change")
    assert all(e["data"]["field_key"] != field["key"] for e in plain)
    everything = pd.walk_v1(f"/v1/deals/{deal}/flow", limit=100, items="change", all_changes=1)
    custom = [e["data"] for e in everything if e["data"]["field_key"] == field["key"]]
    assert [c["new_value"] for c in custom] == ["FLOW-1"]


def test_flow_of_seeded_deals_agrees_with_the_deal(pd: Client) -> None:
    closed = [
        d for d in live_deals(pd)
        if pd.raw("deals", d)["status"] != "open"
        and pd.raw("deals", d)["update_time"] > pd.raw("deals", d)["add_time"]
    ]  # fmt: skip
    assert closed
    deal = pd.raw("deals", closed[0])
    entries = pd.walk_v1(f"/v1/deals/{deal['id']}/flow", limit=500, items="change")
    status = [e["data"] for e in entries if e["data"]["field_key"] == "status"]
    assert status
    assert status[0]["new_value"] == deal["status"]
    assert status[0]["log_time"] == deal["update_time"].replace("T", " ").removesuffix("Z")
    notes = pd.walk_v1(f"/v1/deals/{deal['id']}/flow", limit=500, items="note")
    assert all(e["object"] == "note" and e["data"]["deal_id"] == deal["id"] for e in notes)
    assert pd.get(f"/v1/deals/{deal['id']}/flow", items="gossip").status_code == 400
    assert pd.get("/v1/deals/999999/flow").status_code == 404


def test_touching_a_deal_touches_its_products_and_flow(pd: Client) -> None:
    deal = next(
        d
        for d in live_deals(pd)
        if not pd.raw("deals", d)["is_archived"] and pd.walk_v2(f"/api/v2/deals/{d}/products")
    )
    pd.sb.advance_clock(3600)
    touched = pd.sb.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": [deal]})
    products = pd.walk_v2(f"/api/v2/deals/{deal}/products")
    assert {p["update_time"] for p in products} == {touched["update_time"]}
    newest = pd.ok(f"/v1/deals/{deal}/flow", limit=1)["data"][0]
    assert newest["object"] == "dealChange"
    assert newest["data"]["field_key"] == "value"


def test_touching_deal_products_re_saves_their_deals(pd: Client) -> None:
    pd.sb.advance_clock(600)
    touched = pd.sb.control("POST", "/pipedrive/touch", {"entity": "deal_products", "count": 3})
    assert len(touched["ids"]) == 3
    for pid in touched["ids"]:
        item = pd.raw("deal_products", pid)
        assert item["update_time"] == touched["update_time"]
        assert item["comments"].endswith("(edited)")
        assert pd.raw("deals", item["deal_id"])["update_time"] == touched["update_time"]
    changed = pd.walk_v2("/api/v2/deals", updated_since=touched["update_time"])
    assert {pd.raw("deal_products", p)["deal_id"] for p in touched["ids"]} <= {
        d["id"] for d in changed
    }


# ---- small v1 lists and files -------------------------------------------------------------
def test_activity_types_currencies_and_filters(pd: Client) -> None:
    types = pd.ok("/v1/activityTypes")["data"]
    kinds = {a["type"] for a in pd.walk_v2("/api/v2/activities", limit=500)}
    assert kinds <= {t["key_string"] for t in types}
    assert any(not t["active_flag"] for t in types), "a deactivated type stays listed"
    codes = {c["code"] for c in pd.ok("/api/v1/currencies")["data"]}
    assert {d["currency"] for d in pd.walk_v2("/api/v2/deals", limit=500)} <= codes
    assert [c["code"] for c in pd.ok("/v1/currencies", term="eur")["data"]] == ["EUR"]
    filters = pd.ok("/v1/filters")["data"]
    assert {"deals", "leads", "people"} <= {f["type"] for f in filters}
    only = pd.ok("/v1/filters", type="deals")["data"]
    assert only
    assert all(f["type"] == "deals" for f in only)
    assert all(V1_TIME.match(f["add_time"]) for f in filters)


def test_lead_fields_inherit_deal_custom_fields_and_note_fields_page(pd: Client) -> None:
    deal_keys = {f["key"] for f in pd.sb.control("GET", "/pipedrive/fields")["deal"]}
    lead_fields = pd.walk_v1("/v1/leadFields", limit=4)
    assert deal_keys <= {f["key"] for f in lead_fields}
    note_fields = pd.walk_v1("/v1/noteFields", limit=5)
    assert {"content", "deal_id", "person_id", "org_id"} <= {f["key"] for f in note_fields}


def test_file_pages_hold_every_live_file_once(pd: Client) -> None:
    pd.sb.reset(size=100)  # a seed with a few deleted files among 50
    files = pd.walk_v1("/v1/files", limit=6)
    all_ids = pd.ids("files")
    live = [i for i in all_ids if pd.raw("files", i)["active_flag"]]
    assert [f["id"] for f in files] == sorted(live)
    assert len(live) < len(all_ids), "some files are deleted"
    with_deleted = pd.walk_v1("/v1/files", limit=500, include_deleted_files=1)
    assert [f["id"] for f in with_deleted] == sorted(all_ids)
    newest = pd.walk_v1("/v1/files", limit=500, sort="update_time DESC")
    assert [f["update_time"] for f in newest] == sorted(
        (f["update_time"] for f in files), reverse=True
    )
    one = pd.ok(f"/v1/files/{files[0]['id']}")["data"]
    assert one == files[0]
    assert {"file_name", "file_type", "file_size", "deal_id", "person_id", "org_id"} <= set(one)
    assert all(f["deal_id"] or f["person_id"] or f["org_id"] for f in files)


# ---- budget, auth, control ------------------------------------------------------------------
COSTS = {
    "/v1/leads": 20, "/v1/leads/archived": 20, "/v1/leadLabels": 10, "/v1/leadSources": 2,
    "/v1/activityTypes": 20, "/v1/currencies": 20, "/v1/filters": 20, "/v1/files": 20,
    "/v1/leadFields": 20, "/v1/noteFields": 20, "/v1/deals/1/flow": 40,
    "/v1/deals/1/changelog": 20, "/api/v2/deals/products?deal_ids=1,2": 10,
    "/api/v2/deals/1/products": 10, "/api/v2/deals/installments?deal_ids=1,2": 10,
}  # fmt: skip


def test_new_endpoints_cost_tokens_of_the_daily_budget(pd: Client) -> None:
    pd.sb.configure(daily_budget=10_000)
    pd.sb.control("POST", "/counters/reset")
    for path in COSTS:
        response = pd.http.get(pd.sb.pipedrive_url + path, timeout=30)
        assert response.status_code == 200, (path, response.text)
    lead = pd.ids("leads")[0]
    assert pd.get(f"/v1/leads/{lead}").status_code == 200
    counters = pd.sb.counters()
    assert counters["events"]["tokens_spent"] == sum(COSTS.values()) + 2
    requests_seen = counters["requests"]
    assert requests_seen["pipedrive GET /api/v2/deals/products"] == 1
    assert requests_seen["pipedrive GET /v1/deals/{id}/flow"] == 1
    assert requests_seen["pipedrive GET /v1/leads/{lead_id}"] == 1
    assert requests_seen["pipedrive GET /v1/leads/archived"] == 1
    left = int(pd.get("/v1/leads").headers["x-daily-ratelimit-token-remaining"])
    assert left == 10_000 - sum(COSTS.values()) - 2 - 20


def test_new_endpoints_refuse_a_missing_token(pd: Client) -> None:
    anonymous = requests.Session()
    for path in [*COSTS, f"/v1/leads/{pd.ids('leads')[0]}", "/v1/files/1"]:
        response = anonymous.get(pd.sb.pipedrive_url + path, timeout=30)
        assert response.status_code == 401, path
        assert response.json()["success"] is False


def test_touch_and_records_work_for_leads_and_files(pd: Client) -> None:
    lead = pd.ids("leads")[3]
    pd.sb.advance_clock(120)
    touched = pd.sb.control("POST", "/pipedrive/touch", {"entity": "leads", "ids": [lead]})
    assert touched["ids"] == [lead]
    shown = pd.ok(f"/v1/leads/{lead}")["data"]
    assert shown["update_time"] == touched["update_time"] == pd.raw("leads", lead)["update_time"]
    newest = pd.ok("/v1/leads", sort="update_time DESC", limit=1)["data"][0]
    assert newest["id"] == lead
    files = pd.sb.control("POST", "/pipedrive/touch", {"entity": "files", "count": 2})
    v1_stamp = files["update_time"].replace("T", " ").removesuffix("Z")
    for rid in files["ids"]:
        shown = pd.ok(f"/v1/files/{rid}")["data"]
        assert shown["description"].endswith("(edited)")
        assert shown["update_time"] == v1_stamp


def test_new_data_is_seeded_and_scales_with_size(pd: Client) -> None:
    def snapshot() -> tuple[Any, ...]:
        deals = ",".join(map(str, live_deals(pd)[:100]))
        return (
            pd.walk_v1("/v1/leads", limit=500),
            pd.walk_v2("/api/v2/deals/products", deal_ids=deals, limit=500),
            pd.walk_v1("/v1/files", limit=500),
            pd.walk_v1("/v1/deals/2/flow", limit=500),
        )

    first = snapshot()
    pd.sb.reset()
    assert snapshot() == first
    pd.sb.reset(seed=7)
    assert snapshot() != first
    pd.sb.reset(size=80)
    assert len(pd.ids("leads")) == len(pd.ids("files")) == 40
