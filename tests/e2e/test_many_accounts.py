"""Many accounts (docs/many-accounts.md): the Dagster code location in orchestrate/ fans one
`meltano run --state-id-suffix=<account> account-to-postgres` out per account.

Real components: Dagster in-process (one partition run per account, three at once, as the run
queue would launch them), the real `meltano` with the state in PostgreSQL, three crm-sandbox
accounts, target-postgres. Every worker is a fresh copy of the project (nothing local is kept),
and Meltano runs in strict environment-variable mode.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml
from dagster import DagsterInstance, ExecuteInProcessResult, build_schedule_context

from crm_sandbox.testing import SandboxHandle
from orchestrate.accounts import Account, AccountListError, load_accounts, parse_accounts
from orchestrate.definitions import ACCOUNT_TAG, MeltanoProjectResource, build_definitions
from tests.e2e.conftest import warehouse_env
from tests.e2e.meltano_project import ROOT, RUN_TIMEOUT, worker_project
from tests.e2e.warehouse import PostgresWarehouse

pytestmark = pytest.mark.e2e

PIPEDRIVE_ENTITIES = ("deals", "persons", "organizations", "activities", "products")
ONPIPELINE_ENTITIES = {"persons": "PersonID", "organizations": "OrgID", "deals": "DealID"}
STATE_ID = "prod:tap-crm-to-target-postgres:{}"


@dataclass
class Fleet:
    """Accounts on their sandboxes, the shared PostgreSQL (state and warehouse), the workers."""

    accounts: dict[str, Account]
    sandboxes: dict[str, SandboxHandle]
    dsn: str
    meltano: Path
    workers: Path
    monkeypatch: pytest.MonkeyPatch

    def worker(self, name: str) -> MeltanoProjectResource:
        """A fresh working directory: a new copy of the project, nothing of earlier runs."""
        directory = self.workers / name
        if directory.exists():
            shutil.rmtree(directory)
        worker_project(directory)
        return MeltanoProjectResource(
            project_dir=str(directory), meltano=str(self.meltano), timeout_seconds=RUN_TIMEOUT
        )

    def run(self, account: str, worker: str, job: str = "crm_accounts") -> ExecuteInProcessResult:
        definitions = build_definitions(list(self.accounts.values()), self.worker(worker))
        # One instance per run, closed in the thread that opened it (its SQLite is per thread).
        with DagsterInstance.ephemeral() as instance:
            return definitions.resolve_job_def(job).execute_in_process(
                partition_key=account, instance=instance, raise_on_error=False
            )

    def fan_out(self, names: list[str], round_name: str) -> dict[str, ExecuteInProcessResult]:
        """One Dagster run per account, all at once (what the run queue does across accounts)."""
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            futures = {n: pool.submit(self.run, n, f"{round_name}-{n}") for n in names}
            return {name: future.result() for name, future in futures.items()}

    def warehouse(self) -> PostgresWarehouse:
        return PostgresWarehouse(self.dsn)

    def states(self) -> dict[str, dict[str, Any]]:
        """Meltano's state table in PostgreSQL: state ID -> the state a new run starts from."""
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "select state_id, partial_state, completed_state from state"
            ).fetchall()
        found = {}
        for state_id, partial, completed in rows:
            merged = dict(_json(completed))
            merged.update(_json(partial))
            found[state_id] = merged
        return found


def _json(value: Any) -> dict[str, Any]:
    loaded = json.loads(value) if isinstance(value, str) else value
    return dict(loaded or {})


def _add_account(
    fleet_accounts: dict[str, Account],
    sandboxes: dict[str, SandboxHandle],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    provider: str,
    sandbox: SandboxHandle,
    **settings: Any,
) -> None:
    token_variable = f"{name.upper()}_{provider.upper()}_API_TOKEN"
    monkeypatch.setenv(token_variable, sandbox.api_token)
    url = sandbox.pipedrive_url if provider == "pipedrive" else sandbox.onpipeline_url
    settings = {"api_url": url, **settings}
    if provider == "onpipeline":
        settings.setdefault("timezone", str(sandbox.settings()["timezone"]))
        settings.setdefault("onpipeline_requests_per_minute", 0)
    (account,) = parse_accounts(
        {
            "accounts": [
                {
                    "name": name,
                    "provider": provider,
                    "api_token_env": token_variable,
                    "settings": settings,
                }
            ]
        }
    )
    fleet_accounts[name] = account
    sandboxes[name] = sandbox


@pytest.fixture
def fleet(
    meltano_installed: Path,
    pg_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Fleet:
    # The workers' environment: what a deployment sets on every worker, and nothing else of ours.
    for variable in list(os.environ):
        if variable.startswith(("MELTANO_", "TAP_", "TARGET_")):
            monkeypatch.delenv(variable)
    state_uri = urlsplit(pg_database)._replace(scheme="postgresql+psycopg").geturl()
    for variable, value in {
        **warehouse_env(pg_database),
        "MELTANO_DATABASE_URI": state_uri,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_FF_STRICT_ENV_VAR_MODE": "true",
        "NO_COLOR": "1",
    }.items():
        monkeypatch.setenv(variable, value)
    workers = tmp_path / "workers"
    workers.mkdir()
    fleet = Fleet({}, {}, pg_database, meltano_installed, workers, monkeypatch)
    # Deployment step, once: the system database's tables (three first runs at once would race
    # to create them).
    upgrade = worker_project(tmp_path / "deploy")
    subprocess.run(
        [str(meltano_installed), "upgrade", "database"],
        cwd=upgrade,
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    return fleet


def pipedrive_live_ids(sandbox: SandboxHandle, entity: str) -> set[int]:
    ids = set()
    for rid in sandbox.control("GET", f"/pipedrive/ids/{entity}")["ids"]:
        if not sandbox.control("GET", f"/pipedrive/records/{entity}/{rid}").get("is_deleted"):
            ids.add(rid)
    return ids


def assert_complete(fleet: Fleet, name: str) -> dict[str, int]:
    """Every entity of the account's sandbox is in its schema, once; returns rows per table."""
    warehouse = fleet.warehouse()
    sandbox = fleet.sandboxes[name]
    counts: dict[str, int] = {}
    if fleet.accounts[name].provider == "pipedrive":
        for entity in PIPEDRIVE_ENTITIES:
            loaded = warehouse.by_id(name, entity, "id")  # fails on a duplicate
            # An incremental read also brings a record deleted since (is_deleted: true).
            kept = {rid for rid, row in loaded.items() if not row.get("isdeleted")}
            assert kept == pipedrive_live_ids(sandbox, entity), f"{name}.{entity}"
    else:
        summary = sandbox.control("GET", "/onpipeline/summary")["counts"]
        for entity, key in ONPIPELINE_ENTITIES.items():
            loaded = warehouse.by_id(name, entity, key)
            assert len(loaded) == summary[entity], f"{name}.{entity}"
    for table in warehouse.tables(name):
        counts[table] = len(warehouse.rows(name, table))
    return counts


def outcome(result: ExecuteInProcessResult) -> str:
    for event in result.all_node_events:
        if event.event_type_value == "STEP_OUTPUT":
            return str(event.event_specific_data.metadata["outcome"].value)  # type: ignore[union-attr]
    raise AssertionError("the step produced no output")


def batched_after(rows: dict[Any, dict[str, Any]], moment: Any) -> set[Any]:
    return {key for key, row in rows.items() if row["sdcbatchedat"] > moment}


def test_three_accounts_fan_out_into_their_own_schemas_and_states(
    fleet: Fleet, sandbox_factory: Callable[..., SandboxHandle]
) -> None:
    for name, provider, size, seed in [
        ("alpha", "pipedrive", 12, 1),
        ("beta", "pipedrive", 8, 2),
        ("gamma", "onpipeline", 10, 3),
    ]:
        sandbox = sandbox_factory(size=size, seed=seed)
        _add_account(fleet.accounts, fleet.sandboxes, fleet.monkeypatch, name, provider, sandbox)
    names = sorted(fleet.accounts)
    started = time.monotonic()
    first = fleet.fan_out(names, "first")
    wall = time.monotonic() - started
    for name, result in first.items():
        assert result.success, name
        assert outcome(result) == "complete"
        assert result.dagster_run.tags[ACCOUNT_TAG] == name
    counts = {name: assert_complete(fleet, name) for name in names}
    # Each account's data is its own: the three sandboxes were seeded differently.
    assert len({frozenset(fleet.warehouse().by_id(n, "deals", "id")) for n in names[:2]}) == 2
    # The default job leaves the per-deal history streams to their own job.
    assert not {"deal_flow", "deal_followers_changelog"} & set(counts["alpha"])
    print(
        f"\nfan-out: {len(names)} accounts, {sum(sum(c.values()) for c in counts.values())} "
        f"records, {wall:.1f} s wall, duplicates 0, lost 0"
    )

    # One state per account, kept apart, in the PostgreSQL state backend.
    states = fleet.states()
    assert {STATE_ID.format(n) for n in names} <= set(states)
    for name in names:
        assert states[STATE_ID.format(name)]["singer_state"]["bookmarks"], name

    # Second round: each account moves only its own changes.
    alpha_deals = fleet.warehouse().by_id("alpha", "deals", "id")
    beta_deals = fleet.warehouse().by_id("beta", "deals", "id")
    gamma_persons = fleet.warehouse().by_id("gamma", "persons", "PersonID")
    alpha_bookmark = max(row["updatetime"] for row in alpha_deals.values())
    beta_bookmark = max(row["updatetime"] for row in beta_deals.values())
    touched_alpha = set(
        fleet.sandboxes["alpha"].control(
            "POST", "/pipedrive/touch", {"entity": "deals", "count": 2}
        )["ids"]
    )
    touched_gamma = set(
        fleet.sandboxes["gamma"].control(
            "POST", "/onpipeline/touch", {"entity": "persons", "count": 2}
        )["touched"]
    )
    second = fleet.fan_out(names, "second")
    assert all(result.success for result in second.values())
    for name in names:
        assert_complete(fleet, name)

    def moved(name: str, table: str, key: str, before: dict[Any, dict[str, Any]]) -> set[Any]:
        after = fleet.warehouse().by_id(name, table, key)
        return batched_after(after, max(row["sdcbatchedat"] for row in before.values()))

    at_alpha_bookmark = {k for k, r in alpha_deals.items() if r["updatetime"] == alpha_bookmark}
    at_beta_bookmark = {k for k, r in beta_deals.items() if r["updatetime"] == beta_bookmark}
    alpha_moved = moved("alpha", "deals", "id", alpha_deals)
    assert touched_alpha <= alpha_moved <= touched_alpha | at_alpha_bookmark
    # beta changed nothing: only the deals of its bookmark's own second are read again
    assert moved("beta", "deals", "id", beta_deals) <= at_beta_bookmark
    gamma_moved = moved("gamma", "persons", "PersonID", gamma_persons)
    assert touched_gamma <= gamma_moved
    assert len(gamma_moved) < len(gamma_persons)


def meltano_pids(suffix: str) -> list[int]:
    """Processes whose command line is `meltano ... --state-id-suffix=<suffix> ...`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--state-id-suffix={suffix}".encode() in argv and any(
            arg.endswith(b"meltano") for arg in argv
        ):
            found.append(int(entry.name))
    return found


def test_a_killed_worker_is_resumed_on_a_fresh_working_directory(
    fleet: Fleet, sandbox_factory: Callable[..., SandboxHandle]
) -> None:
    # A slower account, so the run is surely mid-way when its first acknowledged state lands.
    _add_account(
        fleet.accounts,
        fleet.sandboxes,
        fleet.monkeypatch,
        "delta",
        "pipedrive",
        sandbox_factory(size=30, seed=4, latency_ms=150),
    )
    # Small batches: the target writes and acknowledges (STATE) often, so the killed run leaves
    # a state behind that covers what it wrote.
    fleet.monkeypatch.setenv("TARGET_POSTGRES_BATCH_SIZE_ROWS", "10")
    results: list[ExecuteInProcessResult] = []
    worker = threading.Thread(target=lambda: results.append(fleet.run("delta", "doomed")))
    worker.start()
    deadline = time.monotonic() + RUN_TIMEOUT
    while not fleet.states().get(STATE_ID.format("delta"), {}).get("singer_state"):
        assert worker.is_alive(), "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (pid,) = meltano_pids("delta")
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the worker dies: Meltano, tap and target
    worker.join(RUN_TIMEOUT)
    (killed,) = results
    assert not killed.success
    saved = fleet.states()[STATE_ID.format("delta")]["singer_state"]
    assert saved.get("bookmarks"), "the killed run left no state to resume from"
    shutil.rmtree(fleet.workers / "doomed")  # the container is gone with its files

    rerun = fleet.run("delta", "replacement")
    assert rerun.success
    assert outcome(rerun) == "complete"
    assert_complete(fleet, "delta")
    resumed = fleet.states()[STATE_ID.format("delta")]["singer_state"]
    assert set(saved["bookmarks"]) <= set(resumed["bookmarks"])


def test_a_run_stopped_at_the_token_cap_is_a_retry_later_then_the_deal_history_job(
    fleet: Fleet, sandbox_factory: Callable[..., SandboxHandle]
) -> None:
    sandbox = sandbox_factory(size=12, seed=5)
    add = _add_account
    add(fleet.accounts, fleet.sandboxes, fleet.monkeypatch, "capped", "pipedrive", sandbox,
        max_tokens_per_run=300)  # fmt: skip
    first = fleet.run("capped", "capped-1")
    assert first.success
    assert outcome(first) == "stopped_at_cap"
    stopped = fleet.states()[STATE_ID.format("capped")]["singer_state"]
    assert stopped["bookmarks"]
    # The next run continues from there (here with the cap raised, so it is the last one).
    del fleet.accounts["capped"]
    add(fleet.accounts, fleet.sandboxes, fleet.monkeypatch, "capped", "pipedrive", sandbox)
    second = fleet.run("capped", "capped-2")
    assert second.success
    assert outcome(second) == "complete"
    assert_complete(fleet, "capped")
    done = fleet.states()[STATE_ID.format("capped")]["singer_state"]
    assert set(stopped["bookmarks"]) <= set(done["bookmarks"])

    # The per-deal history, left out above, is its own job: its streams only, its own state.
    history = fleet.run("capped", "capped-history", job="crm_accounts_deal_history")
    assert history.success
    tables = fleet.warehouse().tables("capped")
    assert {"deal_flow", "deal_followers_changelog"} <= tables
    flow_deals = {row["dealid"] for row in fleet.warehouse().rows("capped", "deal_flow")}
    assert flow_deals
    assert flow_deals <= set(fleet.warehouse().by_id("capped", "deals", "id"))  # its own deals
    history_state = fleet.states()["prod:tap-crm--deal-history-to-target-postgres:capped"]
    assert set(history_state["singer_state"]["bookmarks"]) & {"deal_flow"}


def test_the_hourly_schedule_asks_for_one_run_per_account_tagged_for_the_queue() -> None:
    accounts = parse_accounts(
        {
            "accounts": [
                {"name": name, "provider": "pipedrive", "api_token_env": "T"}
                for name in ("alpha", "beta", "gamma")
            ]
        }
    )
    definitions = build_definitions(accounts, MeltanoProjectResource())
    schedule = definitions.resolve_schedule_def("crm_accounts_hourly")
    tick = build_schedule_context(
        repository_def=definitions.get_repository_def(),
        scheduled_execution_time=datetime(2026, 12, 1, 13, tzinfo=UTC),
    )
    requests = list(schedule.evaluate_tick(tick).run_requests or [])
    assert sorted(r.partition_key or "" for r in requests) == ["alpha", "beta", "gamma"]
    assert all(r.tags[ACCOUNT_TAG] == r.partition_key for r in requests)
    # The instance settings this relies on: one run per value of that tag.
    rules = yaml.safe_load((ROOT / "orchestrate" / "dagster.yaml").read_text())
    (rule,) = rules["concurrency"]["runs"]["tag_concurrency_limits"]
    assert rule == {"key": ACCOUNT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"name": "a", "provider": "pipedrive", "api_token": "x"}, "api_token_env"),
        ({"name": "a", "provider": "hubspot", "api_token_env": "T"}, "provider"),
        ({"name": "A-1", "provider": "pipedrive", "api_token_env": "T"}, "lower-case"),
        ({"name": "a", "provider": "pipedrive"}, "name its credentials"),
        ({"name": "a", "provider": "pipedrive", "api_token_env": "T", "tokn": 1}, "unknown key"),
    ],
)
def test_a_bad_account_list_says_what_to_change(entry: dict[str, Any], says: str) -> None:
    with pytest.raises(AccountListError, match=says):
        parse_accounts({"accounts": [entry]})


def test_dagster_loads_the_code_location_as_dagster_dev_would() -> None:
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "orchestrate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Validation successful for code location orchestrate" in result.stdout + result.stderr


def test_the_shipped_account_lists_load() -> None:
    for name in ("accounts.yml", "accounts.example.yml"):
        assert load_accounts(ROOT / "orchestrate" / name), name


def test_an_unset_credential_variable_is_named_not_leaked() -> None:
    (account,) = parse_accounts(
        {"accounts": [{"name": "a", "provider": "pipedrive", "api_token_env": "NOT_SET_HERE"}]}
    )
    with pytest.raises(AccountListError, match="NOT_SET_HERE"):
        account.tap_env({})
    assert json.loads(json.dumps(account.tap_env({"NOT_SET_HERE": "s3cret"}))) == {
        "TAP_CRM_PROVIDER": "pipedrive",
        "TAP_CRM_API_TOKEN": "s3cret",
    }
