"""The real ``tap-crm`` SIGKILLed at seeded random points of a sync, each restart from the last
STATE the killed run printed (what Meltano saves): every record is emitted at least once across
the runs, and what is read twice is bounded.

The bound (Pipedrive): the tap prints a STATE after every page (``STATE_MSG_FREQUENCY`` is the
page size) and resumes an incremental stream from its bookmark, inclusively (a change later in
the bookmark's second must not be lost). So a kill costs, per stream, at most one page of
records (those emitted after the last STATE) plus the records whose ``update_time`` is the
bookmark's second. Onpipeline's streams are not sorted by their bookmark, so their STATE comes
at each stream's end: a kill costs at most the stream in progress, never a finished one.
"""

from __future__ import annotations

import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    Run,
    finished,
    kill_after_lines,
    op_config,
    pd_config,
    run,
    start,
    tally,
    tap_command,
)

PAGE = 5
PIPEDRIVE_STREAMS = ["deals", "persons", "organizations", "activities", "notes", "products"]
ONPIPELINE_STREAMS = ["persons", "organizations", "deals", "events"]
ONPIPELINE_KEYS = {"persons": "PersonID", "organizations": "OrgID", "deals": "DealID",
                   "events": "EventID"}  # fmt: skip


def _killed_run(
    command: list[str], workdir: Path, lines: int, sig: int = signal.SIGKILL
) -> tuple[Run, bool]:
    process = start(command, workdir)
    killed = kill_after_lines(process, workdir, lines, sig)
    code = process.wait(timeout=120)
    stdout = (workdir / "stdout.txt").read_text()
    stderr = (workdir / "stderr.txt").read_text()
    return finished(code, stdout, stderr, workdir), killed


def _bookmark(state: dict[str, Any] | None, stream: str) -> str | None:
    value = ((state or {}).get("bookmarks", {}).get(stream) or {}).get("replication_key_value")
    return str(value) if value is not None else None


def test_pipedrive_tap_killed_five_times_loses_nothing_and_rereads_little(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    rsb.configure(latency_ms=25)  # pages take a while: the kills land mid-stream
    config = pd_config(rsb, page_size=PAGE)
    dice = random.Random(10)
    state: dict[str, Any] | None = None
    runs: list[tuple[Run, dict[str, Any] | None]] = []  # each run and the state it began from
    kills = 0
    for attempt in range(5):
        workdir = tmp_path / f"run{attempt}"
        command = tap_command(workdir, config, streams=PIPEDRIVE_STREAMS, state=state)
        # a point after the SCHEMA lines, somewhere in the next ~2 pages of each of 3 streams
        done, killed = _killed_run(command, workdir, dice.randint(10, 70))
        assert killed, "the run ended before its kill point: make it longer"
        assert done.returncode == -9
        kills += 1
        runs.append((done, state))
        state = done.last_state or state  # Meltano keeps the last STATE it read
    last = run(tap_command(tmp_path / "last", config, streams=PIPEDRIVE_STREAMS, state=state),
               tmp_path / "last")  # fmt: skip
    assert last.returncode == 0, last.stderr[-3000:]
    runs.append((last, state))
    tally("tap_kills_survived", kills)

    rsb.configure(latency_ms=0)
    clean = run(tap_command(tmp_path / "clean", config, streams=PIPEDRIVE_STREAMS),
                tmp_path / "clean")  # fmt: skip
    deals = rsb.control("GET", "/pipedrive/ids/deals")["ids"]
    assert sorted(clean.ids("deals")) == sorted(deals)
    for stream in PIPEDRIVE_STREAMS:
        emitted: Counter[int] = Counter()
        for done, _ in runs:
            emitted.update(done.ids(stream))
        assert set(emitted) == set(clean.ids(stream)), f"{stream}: records lost across kills"
        times = {r["id"]: r["update_time"] for r in clean.records[stream]}
        for index, (done, began) in enumerate(runs[1:], start=1):
            before: set[int] = set()
            for earlier, _ in runs[:index]:
                before.update(earlier.ids(stream))
            reread = [i for i in done.ids(stream) if i in before]
            mark = _bookmark(began, stream)
            ties = sum(1 for t in times.values() if mark is not None and t == mark)
            assert len(reread) <= PAGE + ties, (
                f"{stream}: run {index} read {len(reread)} records again; the bound is one "
                f"page ({PAGE}) plus the {ties} records of the bookmark's second"
            )


def test_onpipeline_tap_killed_mid_sync_resumes_without_loss(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    rsb.configure(latency_ms=10)
    config = op_config(rsb, onpipeline_requests_per_minute=0, timezone="Europe/Rome")
    first_dir = tmp_path / "killed"
    command = tap_command(first_dir, config, streams=ONPIPELINE_STREAMS)
    killed, was_killed = _killed_run(command, first_dir, random.Random(7).randint(60, 110))
    assert was_killed
    assert killed.returncode == -9
    assert killed.last_state is not None, "the kill came before any stream finished"
    tally("tap_kills_survived")
    resumed = run(
        tap_command(tmp_path / "resumed", config, streams=ONPIPELINE_STREAMS,
                    state=killed.last_state),
        tmp_path / "resumed",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert any(killed.records.values()), "killed before the first record: nothing was tried"
    rsb.configure(latency_ms=0)
    clean = run(tap_command(tmp_path / "clean", config, streams=ONPIPELINE_STREAMS),
                tmp_path / "clean")  # fmt: skip
    bookmarks = killed.last_state.get("bookmarks", {})
    in_progress = []
    for stream in ONPIPELINE_STREAMS:
        key = ONPIPELINE_KEYS[stream]
        first = {str(i) for i in killed.ids(stream, key)}
        second = [str(i) for i in resumed.ids(stream, key)]
        assert first | set(second) == {str(i) for i in clean.ids(stream, key)}, (
            f"{stream}: records lost across the kill"
        )
        reread = [i for i in second if i in first]
        if stream in bookmarks:  # finished before the kill: at most its bookmark's ties again
            mark = bookmarks[stream].get("replication_key_value")
            field = bookmarks[stream].get("replication_key")
            ties = sum(1 for r in clean.records[stream] if mark is not None and r[field] == mark)
            assert len(reread) <= ties, f"{stream} finished before the kill, yet was read again"
        elif reread:
            in_progress.append(stream)
    assert len(in_progress) <= 1, f"only the stream in progress may be read again: {in_progress}"


def test_tap_sigterm_mid_sync_leaves_a_state_to_resume_from(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # What Meltano or an orchestrator does on cancel: SIGTERM. Every STATE the tap printed
    # must be a true resume point.
    rsb.configure(latency_ms=25)
    config = pd_config(rsb, page_size=PAGE)
    streams = ["deals", "persons"]
    command = tap_command(tmp_path / "cancelled", config, streams=streams)
    cancelled, signalled = _killed_run(command, tmp_path / "cancelled", 30, signal.SIGTERM)
    assert signalled
    # A cancelled extract is not a complete one: exit 128 + SIGTERM, one line saying so (the
    # SDK's own handler exits 0, so a dbt run after it would take partial data for whole),
    # and a last STATE that covers only emitted records.
    assert cancelled.returncode == 128 + signal.SIGTERM, cancelled.stderr[-3000:]
    cancelled.assert_one_clear_line("SIGTERM", "run again")
    assert cancelled.last_state is not None
    for stream in streams:
        mark = _bookmark(cancelled.last_state, stream)
        times = [r["update_time"] for r in cancelled.records.get(stream, [])]
        assert mark is None or (times and mark <= max(times)), f"{stream}: STATE past records"
    tally("tap_sigterms_survived")
    rsb.configure(latency_ms=0)
    resumed = run(tap_command(tmp_path / "resumed", config, streams=streams,
                              state=cancelled.last_state), tmp_path / "resumed")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean = run(tap_command(tmp_path / "clean", config, streams=streams), tmp_path / "clean")
    for stream in streams:
        got = set(cancelled.ids(stream)) | set(resumed.ids(stream))
        assert got == set(clean.ids(stream)), f"{stream}: records lost after the SIGTERM"
