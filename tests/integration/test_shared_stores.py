"""The shared stores against a real PostgreSQL (``CRM_TEST_PG_DSN``, else a throwaway server):
the id map's claims, the token store's lock, the rejected-records table; the target's part
against crm-sandbox. The real commands racing each other are tests/reliability/."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_api.token_store import open_token_store
from crm_sandbox.testing import SandboxHandle
from target_crm.entities import WaitError
from target_crm.idmap import IdMap
from target_crm.report import Report
from tests.integration.test_target_support import (
    counts,
    onpipeline_config,
    pd_all,
    pipedrive_config,
    run_cli,
    run_target,
    singer,
    writes,
)
from tests.pg import fresh_database, pg_server, rows, with_password

PASSWORD = "pw-SECRET-5c2e"
ACCOUNT = {"api_url": "http://127.0.0.1:1", "api_token": "tok"}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with pg_server() as dsn:
        yield dsn


@pytest.fixture
def db(server: str) -> Iterator[str]:
    with fresh_database(server) as uri:
        yield uri


def test_first_runs_starting_together_create_the_tables_once_without_an_error(db: str) -> None:
    """CREATE TABLE IF NOT EXISTS from two sessions at once can still collide in the catalog."""
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def first_run() -> None:
        start.wait()
        try:
            IdMap(db, "pipedrive", account=ACCOUNT).close()
            Report(db).close()
            open_token_store(db, client_id="app").load()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=first_run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    names = {r[0] for r in rows(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"crm_id_maps", "crm_rejected_records", "crm_oauth_tokens"} <= names


def test_two_workers_racing_for_the_same_keys_create_each_once(db: str) -> None:
    """Every key is raced by two workers doing what the sinks do: look up, claim, create."""
    keys = [f"k{i}" for i in range(40)]
    created: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        ids = IdMap(db, "pipedrive", account=ACCOUNT)
        start.wait()
        for key in keys:
            for _ in range(3):  # a WaitError puts the record back: written again at the end
                if ids.get("persons", key) is not None:
                    with lock:
                        outcome["updated"] += 1
                    break
                try:
                    ids.mark_pending("persons", key)
                except WaitError:
                    continue
                time.sleep(0.002)  # the create in flight
                with lock:
                    created[key] += 1
                    outcome["created"] += 1
                ids.put("persons", key, f"{name}-{key}")
                break
            else:
                raise AssertionError(f"{key} never settled")
        ids.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert created == Counter(keys), "a key was created twice, or never"
    assert outcome == {"created": 40, "updated": 40}


KILLED_WORKER = """
import sys, time
from target_crm.idmap import IdMap
from target_crm.report import Report
ids = IdMap(sys.argv[1], "pipedrive", account={"api_url": "http://127.0.0.1:1", "api_token": "tok"})
ids.put("persons", "done", "7")
ids.mark_pending("persons", "in-flight")
print("claimed", flush=True)
time.sleep(60)
"""


def test_a_killed_workers_claim_is_left_to_look_up_not_to_wait_for(db: str) -> None:
    ids = IdMap(db, "pipedrive", account=ACCOUNT)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, db], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "claimed"
    assert ids.pending_since("persons", "in-flight") is None  # live: its worker will answer
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    for _ in range(100):  # the server notices the closed connection at once, or nearly
        if ids.pending_since("persons", "in-flight") is not None:
            break
        time.sleep(0.05)
    sent_at = ids.pending_since("persons", "in-flight")
    assert sent_at is not None
    assert abs(sent_at - time.time()) < 60
    assert ids.get("persons", "in-flight") is None  # not waited for
    assert ids.latest_pending("persons") == sent_at
    assert ids.get("persons", "done") == "7"
    ids.mark_pending("persons", "in-flight")  # the claim is taken over after the look-up
    ids.put("persons", "in-flight", "8")
    assert ids.pending_since("persons", "in-flight") is None
    ids.close()


def test_the_map_is_one_table_per_account_with_a_unique_source_key(db: str) -> None:
    one = IdMap(db, "pipedrive", account=ACCOUNT)
    other = IdMap(db, "pipedrive", account={**ACCOUNT, "api_token": "tok-of-another-account"})
    named = IdMap(db + "#acme", "pipedrive", account=ACCOUNT)
    one.put("persons", "k", "1")
    other.put("persons", "k", "2")
    one.put("persons", "k", "3")  # a key is one row: the newest id wins
    assert (one.get("persons", "k"), other.get("persons", "k")) == ("3", "2")
    assert named.get("persons", "k") is None
    tables = rows(db, "SELECT table_name, provider, api_host, account FROM crm_id_maps")
    assert len(tables) == 3
    assert {t[3] for t in tables} == {None, "acme"}
    assert {t[2] for t in tables} == {"http://127.0.0.1:1"}
    (table,) = [t[0] for t in tables if t[0] == one._store.table]  # type: ignore[union-attr]
    assert rows(db, f"SELECT stream, source_key, crm_id FROM {table}") == [("persons", "k", "3")]
    keys = rows(
        db,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisunique",
        table,
    )
    assert sorted(k[0] for k in keys) == ["source_key", "stream"]
    for ids in (one, other, named):
        ids.close()


def test_refreshes_through_the_database_store_are_one_at_a_time(db: str) -> None:
    """Each 'refresh' reads the token, takes a while, saves the next one: none is lost."""
    open_token_store(db, client_id="app").save("0")

    def refresh() -> None:
        store = open_token_store(db, client_id="app")  # a process of its own, as it were
        for _ in range(5):
            with store.locked():
                current = int(store.load() or "0")
                time.sleep(0.005)
                store.save(str(current + 1))

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert open_token_store(db, client_id="app").load() == "20"
    assert open_token_store(db, client_id="another-app").load() is None
    (row,) = rows(db, "SELECT app_key, refresh_token FROM crm_oauth_tokens")
    assert "app" not in str(row[0])  # the client id is hashed


HOLDER = """
import sys, time
from crm_api.token_store import open_token_store
store = open_token_store(sys.argv[1], client_id="app")
with store.locked():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_killed_process_never_keeps_the_token_lock(db: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, db], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    got = threading.Event()

    def take() -> None:
        with open_token_store(db, client_id="app").locked():
            got.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    assert got.wait(30), "the lock of a killed process was never released"


PERSONS = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "score": {"type": "number"},
    },
}


def test_rejected_records_land_in_the_table_with_their_reasons_and_the_run_id(
    sandbox: SandboxHandle, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = "6f0c2a4e-1b7d-4c55-9a0e-3d2f1e0b9c77"
    monkeypatch.setenv("MELTANO_RUN_ID", run_id)  # as `meltano run --run-id` would
    table_uri = with_password(db, PASSWORD) + "#acme"
    records = [
        {"customer_id": "ok1", "name": "Kept One"},
        {"customer_id": "bad-type", "name": "Wrong", "score": "high"},
        {"customer_id": "no-name"},
    ]
    text = singer("persons", records, key_properties=["customer_id"], schema=PERSONS)
    config = pipedrive_config(sandbox, rejected_records_path=table_uri)
    failed = run_cli(config, text, tmp_path)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert PASSWORD not in failed.stderr + failed.stdout
    assert "see postgresql://crm:***@" in failed.stderr
    assert "(table crm_rejected_records)" in failed.stderr
    assert f"run {run_id}" in failed.stderr  # the summary names the run
    found = rows(
        db,
        "SELECT run_id, account, stream, reason, source_key, record FROM "
        "crm_rejected_records ORDER BY source_key",
    )
    assert [(r[0], r[1], r[2], r[4]) for r in found] == [
        (run_id, "acme", "persons", "bad-type"),
        (run_id, "acme", "persons", "no-name"),
    ]
    reasons = {r[4]: r[3] for r in found}
    assert "'high'" in str(reasons["bad-type"])
    assert "name" in str(reasons["no-name"])
    assert found[0][5] == records[1]  # the record itself, as JSONB
    assert "Kept One" in {p["name"] for p in pd_all(sandbox, "persons")}


def test_a_load_through_a_shared_map_is_updated_not_created_again_from_a_new_folder(
    sandbox: SandboxHandle, db: str
) -> None:
    config = pipedrive_config(sandbox, id_map_path=db)  # the account: api_url and token
    people = [{"customer_id": f"c{i}", "name": f"Shared {i}"} for i in range(6)]
    text = singer("persons", people, key_properties=["customer_id"], schema=PERSONS)
    _, first = run_target(config, text)
    assert counts(first, "persons")["created"] == 6
    before = writes(sandbox)
    _, again = run_target(config, text)  # nothing local is kept between the two
    assert counts(again, "persons")["unchanged"] == 6
    assert writes(sandbox) == before
    dry = {**config, "dry_run": True}
    _, dry_run = run_target(dry, text.replace("Shared 0", "Renamed 0"))
    assert counts(dry_run, "persons") == {"created": 0, "updated": 1, "unchanged": 5, "rejected": 0}
    (table,) = rows(db, "SELECT table_name FROM crm_id_maps")
    assert sandbox.api_token not in str(table[0])
    assert rows(db, f"SELECT count(*) FROM {table[0]} WHERE crm_id IS NOT NULL") == [(6,)]


def test_onpipeline_loads_share_the_map_as_well(sandbox: SandboxHandle, db: str) -> None:
    config = onpipeline_config(sandbox, id_map_path=db)
    people = [{"key": f"op{i}", "FirstName": "Op", "LastName": f"Shared{i}"} for i in range(4)]
    text = singer("persons", people, key_properties=["key"])
    _, first = run_target(config, text)
    assert counts(first, "persons")["created"] == 4
    _, again = run_target(config, text)
    assert counts(again, "persons")["created"] == 0
    (table,) = rows(db, "SELECT table_name FROM crm_id_maps WHERE provider = 'onpipeline'")
    assert str(table[0]).startswith("crm_ids_onpipeline_")
