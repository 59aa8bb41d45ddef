"""tap-crm for Onpipeline against a running crm-sandbox, over HTTP on 127.0.0.1.

What a user checks: every record arrives once; a later run brings what changed, whether it
comes within LastUpdate's 24 hours or after a longer gap; values arrive typed and in UTC;
mistakes end in one line that names the setting to fix.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest
from singer_sdk.exceptions import ConfigValidationError

from crm_api.governor import RequestBudget
from crm_api.onpipeline import BUDGET_WINDOW_SECONDS, OnpipelineClient
from crm_api.retry import RetryPolicy
from crm_sandbox.testing import SandboxHandle
from tap_crm.tap import TapCRM

ENTITY_STREAMS = ("persons", "organizations", "deals", "events", "notes", "invoices")
ALL_STREAMS = (
    *ENTITY_STREAMS,
    "invoice_items",
    "users",
    "teams",
    "pipelines",
    "products",
    "custom_fields",
)
KEYS = {
    "persons": "PersonID",
    "organizations": "OrgID",
    "deals": "DealID",
    "events": "EventID",
    "notes": "NoteID",
    "invoices": "ID",
    "users": "ID",
    "teams": "ID",
    "pipelines": "PipelineID",
    "products": "Name",
    "custom_fields": "ID",
}


@dataclass
class Run:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    def ids(self, stream: str) -> list[str]:
        if stream == "invoice_items":
            return [f"{r['invoice_id']}:{r['line']}" for r in self.records.get(stream, [])]
        return [str(r[KEYS[stream]]) for r in self.records.get(stream, [])]


def config_for(sandbox: SandboxHandle, **overrides: Any) -> dict[str, Any]:
    return {
        "provider": "onpipeline",
        "api_token": sandbox.api_token,
        "api_url": sandbox.onpipeline_url,
        "timezone": sandbox.settings()["timezone"],
        "onpipeline_requests_per_minute": 0,  # the sandbox runs without a rate limit here
        **overrides,
    }


def sync(config: dict[str, Any], state: dict[str, Any] | None = None) -> Run:
    """One tap run in this process: its records per stream and its last STATE."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(out):
        tap = TapCRM(config=config, state=state or {}, setup_mapper=True)
        tap.sync_all()
    out.seek(0)
    run = Run()
    for line in out.read().splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            run.state = message["value"]
    return run


def sandbox_ids(sandbox: SandboxHandle, entity: str) -> list[str]:
    return [str(i) for i in sandbox.control("GET", f"/onpipeline/ids/{entity}")["ids"]]


def requests_to(sandbox: SandboxHandle, resource: str) -> int:
    return sandbox.counters()["requests"].get(f"onpipeline POST /{resource}", 0)


# -- completeness ------------------------------------------------------------------------------


def test_full_sync_emits_every_sandbox_record_exactly_once(sandbox: SandboxHandle) -> None:
    run = sync(config_for(sandbox))
    for stream in ALL_STREAMS:
        emitted = run.ids(stream)
        assert len(emitted) == len(set(emitted)), f"{stream}: duplicates"
        assert sorted(emitted) == sorted(sandbox_ids(sandbox, stream)), stream


def test_dense_windows_are_split_and_still_complete(sandbox: SandboxHandle) -> None:
    sandbox.reset_counters()
    wide = sync(config_for(sandbox))
    wide_requests = requests_to(sandbox, "PersonList")
    sandbox.reset_counters()
    narrow = sync(config_for(sandbox, onpipeline_max_records_per_window=3))
    for stream in ("persons", "organizations", "deals", "events", "notes"):
        assert Counter(narrow.ids(stream)) == Counter(wide.ids(stream)), stream
        assert max(Counter(narrow.ids(stream)).values()) == 1
    assert requests_to(sandbox, "PersonList") > wide_requests  # windows were split


# -- incremental -------------------------------------------------------------------------------


def touch(sandbox: SandboxHandle, entity: str, count: int) -> list[str]:
    answer = sandbox.control("POST", "/onpipeline/touch", {"entity": entity, "count": count})
    return [str(i) for i in answer["touched"]]


def add_person(sandbox: SandboxHandle, name: str) -> str:
    client = OnpipelineClient(
        sandbox.api_token,
        sandbox.onpipeline_url,
        requests_per_minute=0,
        policy=RetryPolicy(tries=1),
    )
    return str(client.call("PersonAdd", {"FirstName": name, "LastName": "New"})["PersonID"])


def test_second_run_within_a_day_emits_the_changed_and_new_records(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = config_for(sandbox)
    first = sync(config)
    sandbox.advance_clock(2 * 3600)
    changed = {
        entity: touch(sandbox, entity, 3) for entity in ("persons", "organizations", "deals")
    }
    changed_events = touch(sandbox, "events", 2)
    new_person = add_person(sandbox, "Ada")
    sandbox.reset_counters()

    second = sync(config, first.state)

    assert sorted(second.ids("persons")) == sorted([*changed["persons"], new_person])
    assert sorted(second.ids("organizations")) == sorted(changed["organizations"])
    assert sorted(second.ids("deals")) == sorted(changed["deals"])
    assert sorted(second.ids("events")) == sorted(changed_events)
    assert requests_to(sandbox, "LastUpdate") == 3  # persons, organizations, deals
    assert "persons: incremental: changes via LastUpdate 3 h" in caplog.text
    # Full-table streams come whole every run.
    assert sorted(second.ids("notes")) == sorted(sandbox_ids(sandbox, "notes"))


def test_second_run_after_more_than_a_day_misses_nothing(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(sandbox)
    first = sync(config)
    sandbox.advance_clock(25 * 3600)
    changed = touch(sandbox, "persons", 4)
    new_person = add_person(sandbox, "Grace")
    sandbox.reset_counters()

    second = sync(config, first.state)

    emitted = second.ids("persons")
    assert set(changed) <= set(emitted)
    assert new_person in emitted
    assert sorted(emitted) == sorted(sandbox_ids(sandbox, "persons"))  # a full read, once each
    assert requests_to(sandbox, "LastUpdate") == 0
    assert "persons: full read: the last sync was 25.0 h ago" in caplog.text
    assert "beyond LastUpdate's 24 h reach" in caplog.text


def test_a_third_run_after_a_full_read_is_incremental_again(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = config_for(sandbox)
    first = sync(config)
    sandbox.advance_clock(30 * 3600)
    second = sync(config, first.state)
    sandbox.advance_clock(5 * 3600)
    changed = touch(sandbox, "deals", 2)
    third = sync(config, second.state)
    assert sorted(third.ids("deals")) == sorted(changed)
    assert "deals: incremental: changes via LastUpdate 6 h" in caplog.text


def test_a_deal_deleted_since_the_last_run_arrives_with_status_deleted(
    sandbox: SandboxHandle,
) -> None:
    config = config_for(sandbox)
    first = sync(config)
    open_deal = next(d["DealID"] for d in first.records["deals"] if d["Status"] == "open")
    sandbox.advance_clock(600)
    client = OnpipelineClient(sandbox.api_token, sandbox.onpipeline_url, requests_per_minute=0)
    client.call("DealDelete", {"DealID": open_deal})
    second = sync(config, first.state)
    assert [(d["DealID"], d["Status"]) for d in second.records["deals"]] == [(open_deal, "deleted")]


def test_an_interrupted_sync_does_not_move_the_bookmark(sandbox: SandboxHandle) -> None:
    config = config_for(sandbox, onpipeline_max_records_per_window=5)
    first = sync(config)
    with redirect_stderr(io.StringIO()):
        tap = TapCRM(config=config, state=first.state)
    persons = tap.streams["persons"]
    before = persons.stream_state["server_time_of_last_sync"]
    sandbox.advance_clock(3600)
    touch(sandbox, "persons", 2)
    records = iter(persons.get_records(None))
    assert next(records, None) is not None
    records.close()  # the run stops here, e.g. killed
    assert persons.stream_state["server_time_of_last_sync"] == before
    list(persons.get_records(None))  # a run that completes
    assert persons.stream_state["server_time_of_last_sync"] > before


# -- invoices ----------------------------------------------------------------------------------


def test_invoices_walk_date_windows_and_reread_the_look_back(sandbox: SandboxHandle) -> None:
    config = config_for(sandbox, onpipeline_max_records_per_window=2, invoice_lookback_days=0)
    first = sync(config)
    assert sorted(first.ids("invoices")) == sorted(sandbox_ids(sandbox, "invoices"))
    assert sorted(first.ids("invoice_items")) == sorted(sandbox_ids(sandbox, "invoice_items"))
    items_per_invoice = Counter(r["invoice_id"] for r in first.records["invoice_items"])
    assert set(items_per_invoice) <= set(first.ids("invoices"))

    dates = sorted({r["Date"] for r in first.records["invoices"]})
    synced = pendulum.parse(first.state["bookmarks"]["invoices"]["server_time_of_last_sync"])
    lookback = (synced.date() - pendulum.parse(dates[len(dates) // 2]).date()).days
    again = sync({**config, "invoice_lookback_days": lookback}, first.state)
    since = synced.date().subtract(days=lookback).isoformat()
    expected = [r["ID"] for r in first.records["invoices"] if r["Date"] >= since]
    assert expected
    assert sorted(again.ids("invoices")) == sorted(expected)
    assert {r["invoice_id"] for r in again.records.get("invoice_items", [])} <= set(expected)


# -- values ------------------------------------------------------------------------------------


def test_datetimes_are_converted_from_the_account_time_zone_to_utc(
    sandbox: SandboxHandle,
) -> None:
    sandbox.configure(timezone="America/New_York")
    run = sync(config_for(sandbox))
    for stream in ("persons", "deals"):
        for record in run.records[stream][:5]:
            record_id = record[KEYS[stream]]
            truth = sandbox.control("GET", f"/onpipeline/records/{stream}/{record_id}")
            assert pendulum.parse(record["Created"]) == pendulum.parse(truth["created_utc"])
            assert record["Created"].endswith("Z")


def test_a_wrong_timezone_setting_is_called_out(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.configure(timezone="America/New_York")
    with redirect_stderr(io.StringIO()):
        TapCRM(config=config_for(sandbox, timezone="UTC"))
    assert "does not match the API's clock" in caplog.text
    assert "set timezone to the account's IANA time zone" in caplog.text


def test_values_are_typed_and_custom_fields_become_columns(sandbox: SandboxHandle) -> None:
    run = sync(config_for(sandbox))
    deals = run.records["deals"]
    assert all(isinstance(d["Value"], int | float | Decimal) for d in deals)
    assert all(isinstance(d["Probability"], int) for d in deals)
    assert all(isinstance(d["DealID"], str) for d in deals)
    assert any(d["Closed"] is None for d in deals)  # "0000-00-00" became null
    assert all(d["Closed"] is None or len(d["Closed"]) == 10 for d in deals)
    fields = {f["ID"]: f for f in run.records["custom_fields"] if f["Table"] == "Persons"}
    assert fields
    person = next(p for p in run.records["persons"] if p["Extra"])
    for item in person["Extra"]:
        column = fields[item["ID"]]["column"]
        assert person[column] == item["Value"]


# -- discovery and errors ----------------------------------------------------------------------


def test_discovery_adds_custom_field_columns_and_works_without_credentials(
    sandbox: SandboxHandle,
) -> None:
    with redirect_stderr(io.StringIO()):
        with_token = TapCRM(config=config_for(sandbox)).streams
        without = TapCRM(config={"provider": "onpipeline"}).streams
    assert sorted(without) == sorted(with_token) == sorted(ALL_STREAMS)
    columns = {f["column"] for f in sync(config_for(sandbox)).records["custom_fields"]}
    for stream in ("persons", "organizations", "deals"):
        base = set(without[stream].schema["properties"])
        added = set(with_token[stream].schema["properties"]) - base
        assert added
        assert added <= columns


def test_a_wrong_token_ends_in_one_line_naming_the_setting(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_for(sandbox, api_token="wrong")))
    result = subprocess.run(
        [sys.executable, "-m", "tap_crm.tap", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "401" in result.stderr
    assert "api_token" in result.stderr
    assert "wrong" not in result.stderr.replace("wrong or inactive", "")


def test_plain_http_to_a_remote_host_is_refused() -> None:
    # The line names the setting and the rule (its wording is the shared crm_api helper's).
    with pytest.raises(ConfigValidationError, match=r"api_url .*https://"):
        TapCRM(config={"provider": "onpipeline", "api_url": "http://api.onpipeline.com"})


def test_faults_and_dropped_connections_are_retried(sandbox: SandboxHandle) -> None:
    sandbox.configure(fault_rate=0.3, drop_rate=0.2)
    client = OnpipelineClient(
        sandbox.api_token,
        sandbox.onpipeline_url,
        timezone=sandbox.settings()["timezone"],
        requests_per_minute=0,
        policy=RetryPolicy(tries=20, timeout=10),
        sleep=lambda _seconds: None,  # the policy's 1, 2, 4 ... s backoff, skipped here
    )
    persons = client.call("PersonList", {})
    assert sorted(p["PersonID"] for p in persons) == sorted(sandbox_ids(sandbox, "persons"))
    events = sandbox.counters()["events"]
    assert events.get("faults", 0) + events.get("drops", 0) > 0


# -- the 60 requests/minute limit ---------------------------------------------------------------


class SandboxTime:
    """A budget clock whose sleeps move the sandbox's clock too: a minute passes instantly."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.sandbox = sandbox
        self.skipped = 0.0

    def clock(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds
        self.sandbox.advance_clock(seconds)


def limited_client(sandbox: SandboxHandle, per_minute: int) -> tuple[OnpipelineClient, SandboxTime]:
    fake = SandboxTime(sandbox)
    budget = RequestBudget(per_minute, BUDGET_WINDOW_SECONDS, clock=fake.clock, sleep=fake.sleep)
    client = OnpipelineClient(sandbox.api_token, sandbox.onpipeline_url, budget=budget)
    return client, fake


def test_pacing_to_the_limit_never_meets_a_429(sandbox: SandboxHandle) -> None:
    sandbox.configure(onpipeline_rate_limit=5)
    client, fake = limited_client(sandbox, per_minute=5)
    for _ in range(12):
        client.call("UsersList")
    assert sandbox.counters()["events"].get("rate_limited", 0) == 0
    assert fake.skipped >= 120  # 12 calls at 5 a minute span two waits of about a minute


def test_a_429_is_waited_out_and_retried(sandbox: SandboxHandle) -> None:
    sandbox.configure(onpipeline_rate_limit=5)
    client, fake = limited_client(sandbox, per_minute=0)  # no pacing: the API refuses
    answers = [client.call("UsersList") for _ in range(12)]
    assert all(answers)
    assert sandbox.counters()["events"]["rate_limited"] >= 1
    assert fake.skipped >= 1  # each refusal waited its Retry-After
