"""The generated Pipedrive account: sizes, references that resolve, deterministic bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm_sandbox.core import Request, SandboxContext, Settings
from crm_sandbox.pipedrive import PipedriveAPI


def make(size: int, seed: int = 42) -> PipedriveAPI:
    return PipedriveAPI(SandboxContext(Settings(size=size, seed=seed)))


def control(api: PipedriveAPI, path: str) -> Any:
    response = api.control(Request.from_raw("GET", path, "", {}, b""))
    assert response is not None
    assert response.status == 200
    return json.loads(response.body)


def records(api: PipedriveAPI, entity: str) -> list[dict[str, Any]]:
    ids = control(api, f"/ids/{entity}")["ids"]
    return [control(api, f"/records/{entity}/{rid}") for rid in ids]


def test_entities_scale_with_size() -> None:
    api = make(200)
    counts = {e: len(control(api, f"/ids/{e}")["ids"]) for e in (
        "deals", "persons", "organizations", "activities", "notes", "products", "users",
        "pipelines", "stages")}  # fmt: skip
    assert counts["deals"] == 200
    assert counts["persons"] == 200
    assert counts["organizations"] == 100
    assert counts["activities"] == 400
    assert counts["notes"] == 200
    assert counts["products"] == 20
    assert 10 <= counts["users"] <= 50
    assert 2 <= counts["pipelines"] <= 3
    assert 4 * counts["pipelines"] <= counts["stages"] <= 6 * counts["pipelines"]


def test_size_zero_is_an_empty_account() -> None:
    api = make(0)
    for entity in ("deals", "persons", "organizations", "activities", "notes", "products"):
        assert control(api, f"/ids/{entity}")["ids"] == []


def test_references_point_at_records_that_exist() -> None:
    api = make(120)
    ids = {e: set(control(api, f"/ids/{e}")["ids"]) for e in (
        "deals", "persons", "organizations", "users", "stages", "pipelines")}  # fmt: skip
    stages = {s["id"]: s["pipeline_id"] for s in records(api, "stages")}
    for deal in records(api, "deals"):
        assert deal["owner_id"] in ids["users"]
        assert deal["person_id"] is None or deal["person_id"] in ids["persons"]
        assert deal["org_id"] is None or deal["org_id"] in ids["organizations"]
        assert stages[deal["stage_id"]] == deal["pipeline_id"]
        assert deal["update_time"] >= deal["add_time"]
    for activity in records(api, "activities"):
        assert activity["deal_id"] is None or activity["deal_id"] in ids["deals"]
        assert activity["person_id"] is None or activity["person_id"] in ids["persons"]
    for note in records(api, "notes"):
        attached = [note["deal_id"], note["person_id"], note["org_id"]]
        assert any(attached)
        assert note["deal_id"] is None or note["deal"]["title"]


def test_hard_cases_are_in_the_data() -> None:
    deals = records(make(300), "deals")
    seconds: dict[str, int] = {}
    for deal in deals:
        seconds[deal["update_time"]] = seconds.get(deal["update_time"], 0) + 1
    assert max(seconds.values()) >= 5
    assert any(d["is_deleted"] for d in deals)
    assert any(d["is_archived"] for d in deals)
    assert any(d["update_time"] > d["add_time"] for d in deals)
    assert any(not s.isascii() for d in deals for s in [d["title"]])


@pytest.mark.parametrize("path", ["/api/v2/deals", "/api/v2/activities", "/v1/notes"])
def test_same_seed_same_bytes(path: str) -> None:
    def body(api: PipedriveAPI) -> bytes:
        request = Request.from_raw("GET", path, "limit=200", {"x-api-token": "sandbox-token"}, b"")
        response = api.handle(request)
        assert response.status == 200, response.body
        return response.body

    assert body(make(80)) == body(make(80))
    assert body(make(80)) != body(make(80, seed=43))


@pytest.mark.parametrize("seed", [42, 7])
def test_deal_fast_path_matches_the_record(seed: int) -> None:
    from crm_sandbox.pipedrive import data

    api = make(1500, seed=seed)
    deals = api.account.store["deals"]
    for rid in deals.ids():
        assert data.fragment(deals, rid) == data.dumps_record(deals.get(rid)), rid
