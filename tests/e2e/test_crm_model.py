"""The CRM model (transform/) over a full sync of both sandbox providers: `meltano run
crm-model-duckdb` (the job: crm-to-duckdb, then dbt-duckdb:build) and `meltano run crm-to-postgres
dbt-postgres:build`.

One extraction and one build per warehouse for the whole module (module-scoped fixtures); the
tests then read what dbt wrote: its run results, the crm_* tables, the docs catalog.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
import yaml

from crm_sandbox.testing import SandboxHandle, running_sandbox
from tests.conftest import SANDBOX_SEED, SANDBOX_SIZE
from tests.e2e.conftest import sandbox_env, warehouse_env
from tests.e2e.meltano_project import ROOT, MeltanoProject
from tests.e2e.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

pytestmark = pytest.mark.e2e

WAREHOUSES = ("duckdb", "postgres")
MODELS = (
    "crm_users",
    "crm_organizations",
    "crm_persons",
    "crm_person_emails",
    "crm_person_phones",
    "crm_deals",
    "crm_activities",
    "crm_notes",
    "crm_pipelines",
    "crm_stages",
    "crm_deal_changes",
    "crm_custom_field_values",
)
# crm model -> the sandbox's Pipedrive entity / Onpipeline entity it holds (None: not there).
ENTITIES: dict[str, tuple[str | None, str | None]] = {
    "crm_users": ("users", "users"),
    "crm_organizations": ("organizations", "organizations"),
    "crm_persons": ("persons", "persons"),
    "crm_deals": ("deals", "deals"),
    "crm_activities": ("activities", "events"),
    "crm_notes": ("notes", "notes"),
    "crm_pipelines": ("pipelines", "pipelines"),
    "crm_stages": ("stages", None),
}
KEYS = {
    "crm_users": "user_key",
    "crm_organizations": "organization_key",
    "crm_persons": "person_key",
    "crm_person_emails": "person_email_key",
    "crm_person_phones": "person_phone_key",
    "crm_deals": "deal_key",
    "crm_activities": "activity_key",
    "crm_notes": "note_key",
    "crm_pipelines": "pipeline_key",
    "crm_stages": "stage_key",
    "crm_deal_changes": "deal_change_key",
    "crm_custom_field_values": "custom_field_value_key",
}
CUSTOM_FIELD_ENTITIES = {"deal": "deals", "person": "persons", "organization": "organizations"}


class Built:
    """One warehouse after `meltano run crm-to-<warehouse> dbt-<warehouse>:build`."""

    def __init__(self, name: str, project: MeltanoProject, warehouse: Warehouse) -> None:
        self.name = name
        self.project = project
        self.warehouse = warehouse
        self.target = Path(project.env[f"DBT_{name.upper()}_TARGET_PATH"])

    def rows(self, model: str) -> list[dict[str, Any]]:
        return self.warehouse.rows("unified", model)

    def by_key(self, model: str) -> dict[str, dict[str, Any]]:
        return self.warehouse.by_id("unified", model, KEYS[model])


@pytest.fixture(scope="module")
def model_sandbox() -> Iterator[SandboxHandle]:
    """The module's own sandbox: no other test resets it between the build and the checks."""
    with running_sandbox(size=SANDBOX_SIZE, seed=SANDBOX_SEED) as handle:
        yield handle


@pytest.fixture(scope="module")
def model_pg_dsn(pg_server: str) -> Iterator[str]:
    name = "e2e_crm_model"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlsplit(pg_server)._replace(path=f"/{name}").geturl()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def model_project(
    meltano_installed: Path,
    model_sandbox: SandboxHandle,
    model_pg_dsn: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> MeltanoProject:
    workdir = tmp_path_factory.mktemp("crm-model")
    env = {**sandbox_env(model_sandbox), **warehouse_env(model_pg_dsn)}
    return MeltanoProject(meltano_installed, workdir, env)


@pytest.fixture(scope="module")
def built_duckdb(model_project: MeltanoProject) -> Built:
    # The job (crm-model-duckdb) is `crm-to-duckdb dbt-duckdb:build`; PostgreSQL below runs the
    # job and the transformer command the way the README writes them.
    model_project.run("run", "crm-model-duckdb")
    return Built("duckdb", model_project, DuckDBWarehouse(model_project.duckdb_path))


@pytest.fixture(scope="module")
def built_postgres(model_project: MeltanoProject, model_pg_dsn: str) -> Built:
    model_project.run("run", "crm-to-postgres", "dbt-postgres:build")
    return Built("postgres", model_project, PostgresWarehouse(model_pg_dsn))


@pytest.fixture(params=WAREHOUSES)
def built(request: pytest.FixtureRequest) -> Built:
    return request.getfixturevalue(f"built_{request.param}")


def pipedrive_live(sandbox: SandboxHandle, entity: str) -> list[dict[str, Any]]:
    """The CRM's own records of an entity, less the deleted ones (which the API no longer lists;
    a deleted note is one whose active_flag is false)."""
    records = []
    for rid in sandbox.control("GET", f"/pipedrive/ids/{entity}")["ids"]:
        record = sandbox.control("GET", f"/pipedrive/records/{entity}/{rid}")
        deleted = record.get("is_deleted") or (entity == "notes" and not record["active_flag"])
        if not deleted:
            records.append(record)
    return records


def onpipeline_records(sandbox: SandboxHandle, entity: str) -> list[dict[str, Any]]:
    return [
        sandbox.control("GET", f"/onpipeline/records/{entity}/{rid}")["record"]
        for rid in sandbox.control("GET", f"/onpipeline/ids/{entity}")["ids"]
    ]


def sandbox_record(sandbox: SandboxHandle, entity: str, rid: str) -> str:
    """When an Onpipeline record was created, in UTC, as the sandbox knows it."""
    return str(sandbox.control("GET", f"/onpipeline/records/{entity}/{rid}")["created_utc"])


def pipedrive_deal_changes(sandbox: SandboxHandle) -> int:
    """dealChange entries of every live deal's flow, as the API lists them."""
    count = 0
    for deal in pipedrive_live(sandbox, "deals"):
        answer = requests.get(
            f"{sandbox.pipedrive_url}/api/v1/deals/{deal['id']}/flow",
            params={"limit": 500},
            headers={"x-api-token": sandbox.api_token},
            timeout=60,
        ).json()
        assert not answer["additional_data"]["pagination"]["more_items_in_collection"]
        count += sum(1 for item in answer["data"] or [] if item["object"] == "dealChange")
    return count


def per_provider(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["provider"]] = counts.get(row["provider"], 0) + 1
    return counts


def test_dbt_build_runs_every_model_and_every_test_passes(built: Built) -> None:
    results = json.loads((built.target / "run_results.json").read_text())["results"]
    failed = [
        (r["unique_id"], r["status"], r["message"])
        for r in results
        if r["status"] not in ("success", "pass")
    ]
    assert not failed, failed
    ran = {r["unique_id"] for r in results}
    built_models = {uid.rsplit(".", 1)[1] for uid in ran if uid.startswith("model.")}
    assert set(MODELS) <= built_models
    # Every model has tests of its own (the staging ones their key, the crm ones many more).
    manifest = json.loads((built.target / "manifest.json").read_text())
    tested = {
        parent.rsplit(".", 1)[1]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        for parent in node["depends_on"]["nodes"]
        if parent.startswith("model.") and node.get("attached_node") == parent
    }
    assert built_models <= tested, built_models - tested
    kinds = {
        node["test_metadata"]["name"]
        for node in manifest["nodes"].values()
        if "test_metadata" in node
    }
    assert {"unique", "not_null", "relationships", "accepted_values"} <= kinds
    assert all(
        uid in ran for uid, node in manifest["nodes"].items() if node["resource_type"] == "test"
    )


def test_row_counts_equal_the_sandbox(built: Built, model_sandbox: SandboxHandle) -> None:
    for model, (pipedrive, onpipeline) in ENTITIES.items():
        counts = per_provider(built.rows(model))
        assert counts.get("pipedrive", 0) == len(pipedrive_live(model_sandbox, pipedrive or "")), (
            model
        )
        if onpipeline:
            assert counts.get("onpipeline", 0) == len(
                onpipeline_records(model_sandbox, onpipeline)
            ), model
    # Onpipeline stages live in their pipelines.
    op_stages = sum(len(p["Stages"]) for p in onpipeline_records(model_sandbox, "pipelines"))
    assert per_provider(built.rows("crm_stages"))["onpipeline"] == op_stages

    # Every email and phone of every person, not only the first.
    pd_persons = pipedrive_live(model_sandbox, "persons")
    op_persons = onpipeline_records(model_sandbox, "persons")
    assert per_provider(built.rows("crm_person_emails")) == {
        "pipedrive": sum(len(p["emails"] or []) for p in pd_persons),
        "onpipeline": sum(len(p["Email"]) for p in op_persons),
    }
    assert per_provider(built.rows("crm_person_phones")) == {
        "pipedrive": sum(len(p["phones"] or []) for p in pd_persons),
        "onpipeline": sum(len(p["Phone"]) for p in op_persons),
    }
    assert per_provider(built.rows("crm_deal_changes")) == {
        "pipedrive": pipedrive_deal_changes(model_sandbox)
    }
    assert per_provider(built.rows("crm_custom_field_values")) == {
        "pipedrive": sum(
            len(pipedrive_custom_values(record))
            for entity in CUSTOM_FIELD_ENTITIES.values()
            for record in pipedrive_live(model_sandbox, entity)
        ),
        "onpipeline": len(onpipeline_custom_values(model_sandbox)),
    }


def pipedrive_custom_values(record: dict[str, Any]) -> dict[str, Any]:
    """The custom fields of a record that hold a value (an object: its main `value`)."""
    values = {}
    for key, value in (record.get("custom_fields") or {}).items():
        if isinstance(value, dict):
            value = value.get("value")
        if value not in (None, "", []):
            values[key] = value
    return values


def onpipeline_custom_values(sandbox: SandboxHandle) -> dict[tuple[str, str, str], str]:
    """(entity, record id, field name) -> value of every Onpipeline custom field that is set."""
    names = {
        (table, field["ID"]): field["Name"]
        for table, fields in sandbox.control("GET", "/onpipeline/summary")["custom_fields"].items()
        for field in fields
    }
    ids = {"deal": "DealID", "person": "PersonID", "organization": "OrgID"}
    values = {}
    for entity, stream in CUSTOM_FIELD_ENTITIES.items():
        for record in onpipeline_records(sandbox, stream):
            for extra in record["Extra"]:
                if extra["Value"] != "":
                    name = names[(stream.capitalize(), extra["ID"])]
                    values[(entity, record[ids[entity]], name)] = extra["Value"]
    return values


def test_unified_rows_carry_the_crm_values(built: Built, model_sandbox: SandboxHandle) -> None:
    deals = built.by_key("crm_deals")
    users = {u["id"]: u for u in pipedrive_live(model_sandbox, "users")}
    stages = {s["id"]: s for s in pipedrive_live(model_sandbox, "stages")}
    pipelines = {p["id"]: p for p in pipedrive_live(model_sandbox, "pipelines")}
    for deal in pipedrive_live(model_sandbox, "deals"):
        row = deals[f"pipedrive:pipedrive:{deal['id']}"]
        assert (row["provider"], row["account"], row["dealid"]) == (
            "pipedrive",
            "pipedrive",
            str(deal["id"]),
        )
        assert row["title"] == deal["title"]
        assert row["status"] == deal["status"]
        assert Decimal(str(row["value"])) == Decimal(str(deal["value"])).quantize(Decimal("0.01"))
        assert row["currency"] == deal["currency"]
        assert row["pipelinename"] == pipelines[deal["pipeline_id"]]["name"]
        assert row["stagename"] == stages[deal["stage_id"]]["name"]
        assert row["ownername"] == users[deal["owner_id"]]["name"]
    for record in onpipeline_records(model_sandbox, "deals"):
        row = deals[f"onpipeline:onpipeline:{record['DealID']}"]
        assert row["title"] == record["DealName"]
        assert row["status"] == record["Status"]
        assert Decimal(str(row["value"])) == Decimal(str(record["Value"])).quantize(Decimal("0.01"))
        assert (row["pipelinename"], row["stagename"]) == (record["Pipeline"], record["Stage"])
        assert row["ownername"] == record["Owner"]
        assert row["personkey"] == (
            f"onpipeline:onpipeline:{record['LinkedPersonID']}"
            if record["LinkedPersonID"]
            else None
        )
    assert {row["status"] for row in deals.values()} == {"open", "won", "lost", "deleted"}

    # A person's emails, in the CRM's order, with the primary one first in crm_persons.
    persons = built.by_key("crm_persons")
    emails: dict[str, list[tuple[int, str]]] = {}
    for row in built.rows("crm_person_emails"):
        emails.setdefault(row["personkey"], []).append((row["position"], row["email"]))
    for person in pipedrive_live(model_sandbox, "persons"):
        key = f"pipedrive:pipedrive:{person['id']}"
        expected = [e["value"] for e in person["emails"] or []]
        assert [email for _, email in sorted(emails.get(key, []))] == expected
        primary = [e["value"] for e in person["emails"] or [] if e["primary"]]
        assert persons[key]["email"] == (primary[0] if primary else None)
    for record in onpipeline_records(model_sandbox, "persons"):
        key = f"onpipeline:onpipeline:{record['PersonID']}"
        expected = [e["Address"] for e in record["Email"]]
        assert [email for _, email in sorted(emails.get(key, []))] == expected
        assert persons[key]["emails"] == (", ".join(expected) or None)
        # Onpipeline's local times arrive in UTC (the account is in Europe/Rome).
        created = datetime.fromisoformat(
            sandbox_record(model_sandbox, "persons", record["PersonID"])
        )
        assert persons[key]["createdat"] == created.replace(tzinfo=None)


def test_custom_fields_by_readable_name(built: Built, model_sandbox: SandboxHandle) -> None:
    values = {
        (row["provider"], row["entity"], row["recordid"], row["fieldname"]): row["value"]
        for row in built.rows("crm_custom_field_values")
    }
    onpipeline = {key: value for key, value in values.items() if key[0] == "onpipeline"}
    assert onpipeline == {
        ("onpipeline", *key): value
        for key, value in onpipeline_custom_values(model_sandbox).items()
    }
    # Pipedrive option fields by label, as tap-crm's own <name>_label(s) columns give them.
    for deal in built.warehouse.rows("pipedrive", "deals"):
        industry = values.get(("pipedrive", "deal", str(deal["id"]), "Industry"))
        assert industry == deal["industrylabel"]
        channels = deal["channelslabels"]
        if isinstance(channels, str):  # DuckDB hands JSON back as text
            channels = json.loads(channels)
        expected = ", ".join(channels) if channels else None
        assert values.get(("pipedrive", "deal", str(deal["id"]), "Channels")) == expected


def test_both_warehouses_build_the_same_model(built_duckdb: Built, built_postgres: Built) -> None:
    for model in MODELS:
        duck = built_duckdb.by_key(model)
        pg = built_postgres.by_key(model)
        assert set(duck) == set(pg), model
        for key, row in duck.items():
            assert set(row) == set(pg[key]), model
            differing = {
                column: (value, pg[key][column])
                for column, value in row.items()
                if not same_value(value, pg[key][column])
            }
            assert not differing, (model, key, differing)


def same_value(left: Any, right: Any) -> bool:
    numbers = (int, float, Decimal)
    if isinstance(left, numbers) and isinstance(right, numbers) and not isinstance(left, bool):
        return Decimal(str(left)).quantize(Decimal("0.000001")) == Decimal(str(right)).quantize(
            Decimal("0.000001")
        )
    return bool(left == right)


def documented_columns() -> dict[str, list[str]]:
    """docs/crm-model.md: the columns of each model's table (the first cell of each row)."""
    columns: dict[str, list[str]] = {}
    model = None
    for line in (ROOT / "docs" / "crm-model.md").read_text().splitlines():
        heading = re.match(r"^### `?(crm_\w+)`?", line)
        if heading:
            model = heading.group(1)
            columns[model] = []
        cell = re.match(r"^\| `(\w+)` \|", line)
        if model and cell:
            columns[model].append(cell.group(1))
    return columns


def test_docs_generate_and_the_model_page_list_every_column(built_duckdb: Built) -> None:
    built_duckdb.project.run("invoke", "dbt-duckdb:docs-generate")
    catalog = json.loads((built_duckdb.target / "catalog.json").read_text())
    in_catalog = {
        node["metadata"]["name"]: [c.lower() for c in node["columns"]]
        for node in catalog["nodes"].values()
    }
    documented = documented_columns()
    assert set(documented) == set(MODELS)
    for model in MODELS:
        assert sorted(documented[model]) == sorted(in_catalog[model]), model
    assert (built_duckdb.target / "index.html").exists()


def test_dbt_duckdb_runs_the_duckdb_target_duckdb_writes_with() -> None:
    """A DuckDB file written by one DuckDB version may not open in another: the pins agree."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    pip_urls = {
        plugin["name"]: plugin["pip_url"]
        for kind in ("loaders", "transformers")
        for plugin in project["plugins"][kind]
        if "pip_url" in plugin
    }

    def duckdb_pin(pip_url: str) -> str:
        (pin,) = re.findall(r"(?:^| )duckdb==(\S+)", pip_url)
        return pin

    assert duckdb_pin(pip_urls["dbt-duckdb"]) == duckdb_pin(pip_urls["target-duckdb"])


def test_an_account_with_one_crm_builds_the_model_without_the_other(
    meltano: MeltanoProject, sandbox: SandboxHandle
) -> None:
    """Only Pipedrive extracted (no onpipeline tables at all): providers=pipedrive builds."""
    meltano.run(
        "run",
        "tap-crm--pipedrive",
        "target-postgres",
        "dbt-postgres:build",
        env={"CRM_PROVIDERS": "pipedrive"},
    )
    warehouse = PostgresWarehouse(
        "postgresql://{WAREHOUSE_USER}:{WAREHOUSE_PASSWORD}@{WAREHOUSE_HOST}:{WAREHOUSE_PORT}/"
        "{WAREHOUSE_DATABASE}".format(**meltano.env)
    )
    assert per_provider(warehouse.rows("unified", "crm_deals")) == {
        "pipedrive": len(pipedrive_live(sandbox, "deals"))
    }
    assert per_provider(warehouse.rows("unified", "crm_persons")) == {
        "pipedrive": len(pipedrive_live(sandbox, "persons"))
    }
    results = json.loads(
        (Path(meltano.env["DBT_POSTGRES_TARGET_PATH"]) / "run_results.json").read_text()
    )
    assert {r["status"] for r in results["results"]} <= {"success", "pass"}
