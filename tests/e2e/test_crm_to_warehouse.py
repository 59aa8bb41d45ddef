"""`meltano run crm-to-duckdb` / `crm-to-postgres`: both providers land, then only changes move."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.e2e.meltano_project import MeltanoProject
from tests.e2e.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse, norm

pytestmark = pytest.mark.e2e

JOBS = {"duckdb": "crm-to-duckdb", "postgres": "crm-to-postgres"}
PIPEDRIVE_ENTITIES = ("deals", "persons", "organizations", "activities", "products")
ONPIPELINE_ENTITIES = {
    "persons": "PersonID",
    "organizations": "OrgID",
    "deals": "DealID",
    "events": "EventID",
}


def warehouse_for(loader: str, meltano: MeltanoProject) -> Warehouse:
    if loader == "duckdb":
        return DuckDBWarehouse(meltano.duckdb_path)
    env = meltano.env
    dsn = (
        f"postgresql://{env['WAREHOUSE_USER']}:{env['WAREHOUSE_PASSWORD']}@"
        f"{env['WAREHOUSE_HOST']}:{env['WAREHOUSE_PORT']}/{env['WAREHOUSE_DATABASE']}"
    )
    return PostgresWarehouse(dsn)


def pipedrive_live(sandbox: SandboxHandle, entity: str) -> dict[int, dict[str, Any]]:
    """The CRM's own view: every record of the entity that is not deleted."""
    records = {}
    for rid in sandbox.control("GET", f"/pipedrive/ids/{entity}")["ids"]:
        record = sandbox.control("GET", f"/pipedrive/records/{entity}/{rid}")
        if not record.get("is_deleted"):
            records[rid] = record
    return records


def onpipeline_records(sandbox: SandboxHandle, entity: str) -> dict[str, dict[str, Any]]:
    records = {}
    for rid in sandbox.control("GET", f"/onpipeline/ids/{entity}")["ids"]:
        records[rid] = sandbox.control("GET", f"/onpipeline/records/{entity}/{rid}")
    return records


def same_money(loaded: Any, api_value: Any) -> bool:
    return Decimal(str(loaded)).quantize(Decimal("0.01")) == Decimal(str(api_value)).quantize(
        Decimal("0.01")
    )


def records_emitted(output: str) -> dict[tuple[str, str], int]:
    """(provider, stream) -> records the tap reports in its record_count metric lines."""
    counts: dict[tuple[str, str], int] = {}
    for line in output.splitlines():
        found = re.search(r"tap-crm--(\w+) +METRIC: (\{.*\})$", line)
        if found:
            metric = json.loads(found.group(2))
            if metric["metric"] == "record_count":
                key = (found.group(1), metric["tags"]["stream"])
                counts[key] = counts.get(key, 0) + metric["value"]
    return counts


def batched_after(rows: dict[Any, dict[str, Any]], moment: Any) -> set[Any]:
    return {key for key, row in rows.items() if row["sdcbatchedat"] > moment}


@pytest.mark.parametrize("loader", ["duckdb", "postgres"])
def test_both_providers_land_and_a_second_run_moves_only_changed_rows(
    loader: str, meltano: MeltanoProject, sandbox: SandboxHandle
) -> None:
    first_run = meltano.run("run", JOBS[loader])
    warehouse = warehouse_for(loader, meltano)

    # Every table holds as many rows as its stream's records: the loader lost none.
    emitted = records_emitted(first_run.stderr)
    assert {provider for provider, _ in emitted} == {"pipedrive", "onpipeline"}
    for (provider, stream), count in emitted.items():
        assert len(warehouse.rows(provider, stream)) == count, f"{provider}.{stream}"

    # Pipedrive: every live record of each entity, with the CRM's values.
    assert set(PIPEDRIVE_ENTITIES) <= warehouse.tables("pipedrive")
    for entity in PIPEDRIVE_ENTITIES:
        live = pipedrive_live(sandbox, entity)
        loaded = warehouse.by_id("pipedrive", entity, "id")
        assert set(loaded) == set(live), f"pipedrive.{entity}"
    deals = warehouse.by_id("pipedrive", "deals", "id")
    for rid, deal in pipedrive_live(sandbox, "deals").items():
        assert deals[rid]["title"] == deal["title"]
        assert same_money(deals[rid]["value"], deal["value"])
        assert deals[rid]["personid"] == deal["person_id"]
    persons = warehouse.by_id("pipedrive", "persons", "id")
    for rid, person in pipedrive_live(sandbox, "persons").items():
        assert persons[rid]["name"] == person["name"]

    # Onpipeline: every live record (the sandbox's own count), with the CRM's values.
    summary = sandbox.control("GET", "/onpipeline/summary")["counts"]
    for entity, key in ONPIPELINE_ENTITIES.items():
        loaded = warehouse.by_id("onpipeline", entity, key)
        assert len(loaded) == summary[entity], f"onpipeline.{entity}"
    op_persons = warehouse.by_id("onpipeline", "persons", "PersonID")
    op_deals = warehouse.by_id("onpipeline", "deals", "DealID")
    for person_id, answer in onpipeline_records(sandbox, "persons").items():
        record = answer["record"]
        assert op_persons[person_id]["firstname"] == record["FirstName"]
        assert op_persons[person_id]["lastname"] == record["LastName"]
    for deal_id, row in op_deals.items():
        record = sandbox.control("GET", f"/onpipeline/records/deals/{deal_id}")["record"]
        assert row["dealname"] == record["DealName"]
        assert same_money(row["value"], record["Value"])

    # Change a few records in the CRM, run again: those move, with their new values.
    first_deals_batch = max(row["sdcbatchedat"] for row in deals.values())
    bookmark = max(row["updatetime"] for row in deals.values())
    at_bookmark = {rid for rid, row in deals.items() if row["updatetime"] == bookmark}
    first_op_batch = max(row["sdcbatchedat"] for row in op_persons.values())
    touched_deals = set(
        sandbox.control("POST", "/pipedrive/touch", {"entity": "deals", "count": 3})["ids"]
    )
    touched_persons = set(
        sandbox.control("POST", "/onpipeline/touch", {"entity": "persons", "count": 3})["touched"]
    )

    meltano.run("run", JOBS[loader])

    deals_after = warehouse.by_id("pipedrive", "deals", "id")
    assert set(deals_after) == set(deals)
    moved = batched_after(deals_after, first_deals_batch)
    # Incremental by update_time: the changed deals, plus those sharing the last bookmark's
    # second (read again on purpose so none is missed), and nothing else.
    assert touched_deals <= moved <= touched_deals | at_bookmark
    for rid in touched_deals:
        assert same_money(deals_after[rid]["value"], Decimal(str(deals[rid]["value"])) + 1)

    persons_after = warehouse.by_id("onpipeline", "persons", "PersonID")
    assert set(persons_after) == set(op_persons)
    moved_persons = batched_after(persons_after, first_op_batch)
    assert touched_persons <= moved_persons
    assert len(moved_persons) < len(persons_after), "every Onpipeline person moved again"
    for rid in touched_persons:
        assert persons_after[rid]["emailsreceived"] == op_persons[rid]["emailsreceived"] + 1


def test_state_is_kept_per_provider_and_loader(meltano: MeltanoProject) -> None:
    meltano.run("run", "tap-crm--pipedrive", "target-duckdb")
    listed = meltano.run("state", "list").stdout
    assert "dev:tap-crm--pipedrive-to-target-duckdb" in listed
    state = meltano.run("state", "get", "dev:tap-crm--pipedrive-to-target-duckdb").stdout
    assert '"bookmarks"' in state
    assert '"deals"' in state
    assert norm("update_time") in norm(state)


def test_batch_files_load_into_postgres(meltano: MeltanoProject, sandbox: SandboxHandle) -> None:
    """The `batch` capability: the tap writes JSONL files, target-postgres loads them."""
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{meltano.workdir / 'batches'}", "prefix": "onpipeline-"},
    }
    meltano.run(
        "run",
        "tap-crm--onpipeline",
        "target-postgres",
        env={"TAP_CRM__ONPIPELINE_BATCH_CONFIG": json.dumps(batch_config)},
    )
    assert list((meltano.workdir / "batches").glob("onpipeline-*.json.gz"))
    warehouse = warehouse_for("postgres", meltano)
    summary = sandbox.control("GET", "/onpipeline/summary")["counts"]
    for entity, key in ONPIPELINE_ENTITIES.items():
        assert len(warehouse.by_id("onpipeline", entity, key)) == summary[entity], entity
