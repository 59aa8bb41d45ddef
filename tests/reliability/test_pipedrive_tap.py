"""tap-crm (Pipedrive) on the edges of issue 10, through the real command against crm-sandbox:
a daily budget spent mid-run (sequential and concurrent streams), bodies that are not the API's
envelope, plain http to a remote host, an unreachable host, a runtime error after a good config.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import Run, pd_config, run, tap_command

BUDGET_LINE = "daily API budget is spent"


def _to_noon(sb: SandboxHandle) -> None:
    """Move the sandbox clock to the next noon UTC: its day then has ~12 h left, so a spent
    budget's Retry-After is hours whatever time the test runs (near midnight it would be a
    short wait, rightly waited out)."""
    now = datetime.fromisoformat(str(sb.advance_clock(0)["now"]).replace("Z", "+00:00"))
    noon = (now + timedelta(days=1)).astimezone(UTC).replace(hour=12, minute=0, second=0)
    sb.advance_clock((noon - now).total_seconds())


def _bookmark(state: dict[str, Any] | None, stream: str) -> Any:
    if not state:
        return None
    entry = state.get("bookmarks", {}).get(stream, {})
    return entry.get("replication_key_value")


def _spend_budget_then_resume(
    rsb: SandboxHandle,
    tmp_path: Path,
    stream: str,
    key: tuple[str, ...],
    bookmark_field: str,
    budget: int,
) -> tuple[Run, Run]:
    config = pd_config(rsb, page_size=5, max_concurrent_requests=4)
    full = run(tap_command(tmp_path / "full", config, streams=[stream]), tmp_path / "full")
    assert full.returncode == 0, full.stderr[-3000:]
    everything = {tuple(r[k] for k in key) for r in full.records[stream]}
    assert everything

    _to_noon(rsb)
    command = tap_command(tmp_path / "spent", config, streams=[stream])
    rsb.configure(daily_budget=budget)
    spent = run(command, tmp_path / "spent", timeout=120)
    assert spent.returncode != 0
    spent.assert_one_clear_line(BUDGET_LINE, "run again")
    emitted = spent.records.get(stream, [])
    assert len(emitted) < len(full.records[stream])  # the budget really ran out mid-stream
    bookmark = _bookmark(spent.last_state, stream)
    if bookmark is not None:  # a STATE covers only records already emitted
        assert bookmark <= max(str(r[bookmark_field]) for r in emitted)

    rsb.advance_clock(13 * 3600)  # past the sandbox's midnight: the next day's run
    rsb.configure(daily_budget=10 * budget)  # room for the rest
    command = tap_command(tmp_path / "next", config, streams=[stream], state=spent.last_state or {})
    resumed = run(command, tmp_path / "next", timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    seen = {tuple(r[k] for k in key) for r in emitted + resumed.records.get(stream, [])}
    assert seen == everything  # every record emitted at least once over the two runs
    return spent, resumed


@pytest.mark.timeout(300)
def test_budget_spent_in_a_sequential_stream_stops_with_one_line(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # discovery's custom-field reads cost 50 tokens, each page of deals 10
    _spend_budget_then_resume(rsb, tmp_path, "deals", ("id",), "update_time", budget=50 + 40)


@pytest.mark.timeout(300)
def test_budget_spent_in_a_concurrent_stream_stops_with_one_line(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # discovery 50, the two parent lists 20 each page, each deal's changelog 10
    _spend_budget_then_resume(
        rsb,
        tmp_path,
        "deal_followers_changelog",
        ("deal_id", "follower_user_id", "action", "time"),
        "parent_update_time",
        budget=50 + 20 + 150,
    )
