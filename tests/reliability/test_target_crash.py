"""target-crm killed, signalled or out of daily budget mid-load, then run again.

What must hold every time: no STATE the killed run printed covers a record that is not in the
CRM (Meltano saves it and the next run would skip the rest), and the re-run with the same
input and id map leaves exactly one CRM record per source key, every field as in the input.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.integration.test_target_support import op_call, pd_all, writes
from tests.reliability.harness import (
    TRACEBACK,
    Run,
    collect,
    op_config,
    pd_config,
    run,
    start,
    stop,
    tally,
    target_command,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string"},
    },
}


def people(n: int, prefix: str) -> list[dict[str, str]]:
    return [
        {"customer_id": f"{prefix}{i}", "name": f"Ada {prefix}{i}", "email": f"{prefix}{i}@x.test"}
        for i in range(n)
    ]


def singer_input(records: list[dict[str, str]]) -> str:
    """SCHEMA, then each RECORD followed by a STATE naming how many records came so far."""
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "persons", "schema": SCHEMA, "key_properties": ["customer_id"]}
    ]
    for number, record in enumerate(records, 1):
        lines.append({"type": "RECORD", "stream": "persons", "record": record})
        lines.append({"type": "STATE", "value": {"bookmarks": {"persons": {"sent": number}}}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def in_crm(sb: SandboxHandle, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """CRM persons of this test by primary email."""
    found: dict[str, list[dict[str, Any]]] = {}
    for person in pd_all(sb, "persons"):
        for email in person.get("emails") or []:
            if email.get("primary") and str(email.get("value", "")).startswith(prefix):
                found.setdefault(email["value"], []).append(person)
    return found


def printed_states(result: Run) -> list[dict[str, Any]]:
    """What a target prints on stdout is state values, one a line (not Singer messages)."""
    return result.messages


def assert_states_true(result: Run, records: list[dict[str, str]], sb: SandboxHandle) -> None:
    """Every STATE the run printed covers only records that are in the CRM."""
    prefix = records[0]["customer_id"][:-1]
    crm = in_crm(sb, prefix)
    for state in printed_states(result):
        covered = state["bookmarks"]["persons"]["sent"]
        unwritten = [r["email"] for r in records[:covered] if r["email"] not in crm]
        tally("acknowledged_but_unwritten", len(unwritten))
        assert not unwritten, f"STATE {state} covers records not in the CRM: {unwritten[:5]}"


def assert_loaded_once(sb: SandboxHandle, records: list[dict[str, str]]) -> None:
    """One CRM record per source key, with the input's fields."""
    crm = in_crm(sb, records[0]["customer_id"][:-1])
    tally("records_lost", sum(1 for r in records if r["email"] not in crm))
    tally("duplicates_created", sum(max(0, len(found) - 1) for found in crm.values()))
    for record in records:
        found = crm.get(record["email"], [])
        assert len(found) == 1, f"{record['customer_id']}: {len(found)} CRM records"
        assert found[0]["name"] == record["name"]
    assert len(crm) == len(records)


def wait_for_writes(sb: SandboxHandle, at_least: int, process: Any, timeout: float = 60) -> None:
    """Until the sandbox applied ``at_least`` writes (or the process ended)."""
    deadline = time.monotonic() + timeout
    while writes(sb) < at_least and process.poll() is None:
        assert time.monotonic() < deadline, "the target wrote nothing in time"
        time.sleep(0.02)


def start_load(tmp_path: Path, name: str, config: dict[str, Any], text: str) -> Any:
    workdir = tmp_path / name
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "input.singer"
    source.write_text(text)
    return workdir, start(target_command(workdir, config), workdir, stdin_file=source)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_load_never_acknowledges_unwritten_records(
    rsb: SandboxHandle, tmp_path: Path, sig: signal.Signals
) -> None:
    rsb.configure(latency_ms=80)
    records = people(40, f"sig{sig.value}-")
    text = singer_input(records)
    config = pd_config(
        rsb, id_map_path=str(tmp_path / "ids.sqlite"), max_concurrent_requests=4, request_timeout=2
    )
    workdir, process = start_load(tmp_path, "killed", config, text)
    wait_for_writes(rsb, 6, process)
    stop(process, sig)
    killed = collect(process, workdir)
    tally("target_signals_survived")

    assert killed.returncode != 0, "a run stopped half-way must not look like a success"
    assert TRACEBACK not in killed.stderr, killed.stderr[-3000:]
    killed.assert_one_clear_line("stopped", "run again")
    assert_states_true(killed, records, rsb)
    assert printed_states(killed) == [], "no input record was fully written before the signal"

    rsb.configure(latency_ms=0)
    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-3000:]
    assert printed_states(again)[-1] == {"bookmarks": {"persons": {"sent": len(records)}}}
    assert_loaded_once(rsb, records)


def test_sigkill_with_creates_in_flight_then_rerun_creates_no_duplicates(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    """The killed run's in-flight POSTs land after it died, so they are in no id map."""
    rsb.configure(latency_ms=200)
    records = people(30, "kill-")
    text = singer_input(records)
    config = pd_config(
        rsb, id_map_path=str(tmp_path / "ids.sqlite"), max_concurrent_requests=8, request_timeout=2
    )
    workdir, process = start_load(tmp_path, "killed", config, text)
    wait_for_writes(rsb, 4, process)
    stop(process, signal.SIGKILL)
    killed = collect(process, workdir)
    tally("target_kills_survived")
    assert killed.returncode == -signal.SIGKILL
    assert_states_true(killed, records, rsb)

    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_loaded_once(rsb, records)


def test_sigterm_then_sigkill_then_rerun_loads_each_record_once(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    """Cancel (SIGTERM), then a container killed (SIGKILL), then a clean run, with match keys."""
    rsb.configure(latency_ms=120)
    records = people(36, "both-")
    text = singer_input(records)
    config = pd_config(
        rsb,
        id_map_path=str(tmp_path / "ids.sqlite"),
        match_keys={"persons": "email"},
        max_concurrent_requests=6,
        request_timeout=2,
    )
    for number, sig in enumerate((signal.SIGTERM, signal.SIGKILL)):
        workdir, process = start_load(tmp_path, f"run{number}", config, text)
        wait_for_writes(rsb, writes(rsb) + 5, process)
        stop(process, sig)
        assert_states_true(collect(process, workdir), records, rsb)
        tally("target_signals_survived" if sig == signal.SIGTERM else "target_kills_survived")

    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_loaded_once(rsb, records)


def test_spent_daily_budget_ends_the_load_at_once_with_one_line(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # personFields costs 10, each POST /persons 5: room for the field list and 10 creates.
    rsb.configure(daily_budget=60, latency_ms=20)
    records = people(30, "budget-")
    text = singer_input(records)
    config = pd_config(rsb, id_map_path=str(tmp_path / "ids.sqlite"), max_concurrent_requests=4)
    command = target_command(tmp_path / "spent", config)
    spent = run(command, tmp_path / "spent", stdin=text, timeout=60)  # a hang fails
    tally("budget_exhaustions")

    assert spent.returncode != 0
    spent.assert_one_clear_line("daily", "budget", "run again")
    assert printed_states(spent) == []
    rsb.configure(daily_budget=0)  # the next day (and reading the CRM back costs tokens too)
    assert 0 < len(in_crm(rsb, "budget-")) < len(records)
    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_loaded_once(rsb, records)


def test_onpipeline_sigkill_with_creates_in_flight_then_rerun_creates_no_duplicates(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    """The same for Onpipeline's writer (the sinks and the id map are shared)."""
    rsb.configure(latency_ms=200)
    records = [
        {"customer_id": f"opk-{i}", "FirstName": "Ada", "LastName": f"Opk{i}",
         "Email": f"opk-{i}@x.test"}
        for i in range(24)
    ]  # fmt: skip
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "persons", "key_properties": ["customer_id"],
         "schema": {"type": "object", "properties": {k: {"type": "string"} for k in records[0]}}}
    ]  # fmt: skip
    lines += [{"type": "RECORD", "stream": "persons", "record": r} for r in records]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    config = op_config(
        rsb,
        id_map_path=str(tmp_path / "ids.sqlite"),
        onpipeline_requests_per_minute=0,
        max_concurrent_requests=8,
        request_timeout=2,
    )
    workdir, process = start_load(tmp_path, "killed", config, text)
    wait_for_writes(rsb, 4, process)
    stop(process, signal.SIGKILL)
    collect(process, workdir)
    tally("target_kills_survived")

    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-3000:]
    found = Counter(
        mail["Address"]
        for p in op_call(rsb, "PersonList") or []
        for mail in p.get("Email") or []
        if str(mail.get("Address")).startswith("opk-")
    )
    tally("records_lost", sum(1 for r in records if r["Email"] not in found))
    tally("duplicates_created", sum(n - 1 for n in found.values()))
    assert found == Counter(r["Email"] for r in records)


def test_a_run_never_waits_for_its_own_creates_in_flight(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    """Pending marks are for creates an earlier run left; this run's own are tracked in memory
    (with the default request_timeout, waiting for them would take two minutes a record)."""
    rsb.configure(latency_ms=50)
    records = people(12, "own-")
    text = singer_input(records)
    config = pd_config(rsb, match_keys={"persons": "email"}, max_concurrent_requests=4)
    done = run(target_command(tmp_path / "run", config), tmp_path / "run", stdin=text, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "waiting" not in done.stderr
    assert_loaded_once(rsb, records)
