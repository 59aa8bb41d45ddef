"""Entity lists read as concurrent ``update_time`` windows (tap_crm/pipedrive/parallel_lists.py),
through the real ``tap-crm``: records leave in bookmark order, every STATE is a true promise
(its bookmark is at most every later record's ``update_time``), nothing is emitted twice in one
run, nothing is lost against the sandbox's own ids, and a run SIGKILLed at seeded random points
resumes from its last STATE with every record emitted at least once. The sandbox's bulk-import
seconds (and a mass edit, all in one second) put many records sharing one ``update_time`` across
page and window edges."""

from __future__ import annotations

import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    Run,
    catalog_for,
    finished,
    kill_after_lines,
    run,
    start,
    tap_command,
)

PAGE = 10


def _config(sb: SandboxHandle, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "pipedrive",
        "api_url": sb.pipedrive_url,
        "api_token": sb.api_token,
        "page_size": PAGE,
        "max_concurrent_requests": 4,
        "custom_field_columns": False,
        **extra,
    }


def _all_ids(sb: SandboxHandle, entity: str) -> set[int]:
    """Every id the list serves (deals: deleted and archived ones too)."""
    ids: list[int] = sb.control("GET", f"/pipedrive/ids/{entity}")["ids"]
    if entity == "deals":
        return set(ids)
    return {
        rid
        for rid in ids
        if not sb.control("GET", f"/pipedrive/records/{entity}/{rid}").get("is_deleted")
    }


def _bookmark(state: dict[str, Any] | None, stream: str) -> str | None:
    value = ((state or {}).get("bookmarks", {}).get(stream) or {}).get("replication_key_value")
    return str(value) if value is not None else None


def _check_order_and_promises(done: Run, stream: str) -> None:
    """Records in update_time order; each STATE's bookmark at most every later record's."""
    times: list[str] = []
    promised: str | None = None
    for message in done.messages:
        if message.get("type") == "RECORD" and message["stream"] == stream:
            moment = message["record"]["update_time"]
            assert promised is None or moment >= promised, (promised, moment)
            assert not times or moment >= times[-1], (times[-1], moment)
            times.append(moment)
        elif message.get("type") == "STATE":
            promised = _bookmark(message["value"], stream) or promised


def _windows_line(done: Run) -> list[int]:
    return [
        int(line.split("read as ")[1].split()[0])
        for line in done.stderr.splitlines()
        if "update_time windows" in line
    ]


def _crowded_seconds(records: list[dict[str, Any]]) -> int:
    return max(Counter(r["update_time"] for r in records).values())


def test_windowed_lists_keep_order_promises_and_every_record_once(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sb: SandboxHandle = sandbox_factory(size=400, seed=7)
    config = _config(sb)
    # a mass edit: many records share one second at the end of the list (the open window)
    sb.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": list(range(1, 40))})
    command = tap_command(tmp_path, config, streams=["deals", "persons"])
    done = run(command, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for stream, entity in (("deals", "deals"), ("persons", "persons")):
        records = done.records[stream]
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), "a record came twice in one run"
        assert set(ids) == _all_ids(sb, entity)
        _check_order_and_promises(done, stream)
        assert _crowded_seconds(records) > PAGE  # one second over several pages
    assert max(_windows_line(done)) > 1, "the lists were not read as several windows"


def test_a_windowed_sync_killed_at_random_points_resumes_without_loss(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sb: SandboxHandle = sandbox_factory(size=800, seed=11, latency_ms=10)
    config = _config(sb)
    sb.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": list(range(50, 90))})
    catalog = catalog_for(config, ["deals"])
    expected = _all_ids(sb, "deals")
    dice = random.Random(12)
    state: dict[str, Any] | None = None
    seen: set[int] = set()
    for attempt in range(3):
        workdir = tmp_path / f"run{attempt}"
        process = start(tap_command(workdir, config, catalog=catalog, state=state), workdir)
        killed = kill_after_lines(process, workdir, dice.randint(20, 150), signal.SIGKILL)
        code = process.wait(timeout=120)
        done = finished(
            code,
            (workdir / "stdout.txt").read_text(),
            (workdir / "stderr.txt").read_text(),
            workdir,
        )
        assert killed, "the run ended before its kill point: make it longer"
        assert done.records.get("deals"), "killed before its first record: no mid-window kill"
        _check_order_and_promises(done, "deals")
        # what the killed run emitted after its last STATE is not promised: read again later
        seen.update(r["id"] for r in done.records.get("deals", []))
        state = done.last_state or state
    last = run(tap_command(tmp_path / "last", config, catalog=catalog, state=state),
               tmp_path / "last")  # fmt: skip
    assert last.returncode == 0, last.stderr[-3000:]
    _check_order_and_promises(last, "deals")
    resumed = {r["id"] for r in last.records["deals"]}
    # every record emitted at least once across the runs, none of another account
    assert _bookmark(state, "deals") is not None
    assert resumed | seen == expected
