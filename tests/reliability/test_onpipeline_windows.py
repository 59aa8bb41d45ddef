"""The real ``tap-crm`` (Onpipeline) SIGKILLed in the middle of a windowed walk: the last
STATE it printed says which windows were done, and a run from it asks only for the rest."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    collect,
    kill_after_lines,
    op_config,
    run,
    start,
    tally,
    tap_command,
)

WINDOW = 20  # onpipeline_max_records_per_window: many windows in a small sandbox


def test_a_walk_killed_mid_way_resumes_after_the_windows_its_state_names(
    rsb_factory: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    # Windows take a while: the kill lands inside the walk.
    rsb = rsb_factory(size=300, latency_ms=15)
    config = op_config(
        rsb,
        onpipeline_requests_per_minute=0,
        onpipeline_max_records_per_window=WINDOW,
        timezone="Europe/Rome",
    )
    streams = ["persons"]
    killed_dir = tmp_path / "killed"
    process = start(tap_command(killed_dir, config, streams=streams), killed_dir)
    assert kill_after_lines(process, killed_dir, 150, signal.SIGKILL), "ended before the kill"
    killed = collect(process, killed_dir)
    assert killed.returncode == -9
    assert killed.last_state is not None
    walk = killed.last_state["bookmarks"]["persons"]["window_walk"]
    assert "server_time_of_last_sync" not in killed.last_state["bookmarks"]["persons"]
    tally("tap_kills_survived")

    rsb.configure(latency_ms=0)
    rsb.reset_counters()
    resumed_dir = tmp_path / "resumed"
    resumed = run(
        tap_command(resumed_dir, config, streams=streams, state=killed.last_state), resumed_dir
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean_dir = tmp_path / "clean"
    clean = run(tap_command(clean_dir, config, streams=streams), clean_dir)
    every = {str(i) for i in clean.ids("persons", "PersonID")}
    first = {str(i) for i in killed.ids("persons", "PersonID")}
    second = [str(i) for i in resumed.ids("persons", "PersonID")]
    assert first | set(second) == every, "records lost across the kill"
    assert len(second) == len(set(second)), "a record emitted twice in one run"
    reread = first & set(second)
    # Read again: the window in progress at the last STATE and what came after it, never the
    # windows that STATE called done.
    assert len(reread) < 2 * WINDOW, f"{len(reread)} records read again"
    assert len(second) < len(every), "the resumed run walked everything again"
    bookmark = resumed.last_state["bookmarks"]["persons"]
    assert "window_walk" not in bookmark
    assert bookmark["server_time_of_last_sync"] == walk["started"]
