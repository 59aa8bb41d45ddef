"""What tap-crm (Pipedrive) spends of the daily token budget (issue 16), against crm-sandbox
with its daily budget on (so it counts ``tokens_spent``), every stream selected.

An idle incremental run spends list pages only; a changed deal makes the next run read that
deal's children and no other's; a run capped at a token figure stops within one request of
it, and the runs after it emit every record an uncapped sync emits; the estimate line is
within 20% of what the run then spends.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tap_crm.tap import EXIT_STOPPED_AT_CAP

SIZE = 30  # deals; a full sync of every stream then costs about 2,500 tokens
BUDGET = 10**9  # on (the sandbox counts tokens only then), never reached

# Endpoints read once per parent, or per batch of parents: never in an idle run.
PER_PARENT = (
    "/flow",
    "/changelog",
    "/api/v2/deals/products",
    "/api/v2/deals/installments",
)


@dataclass
class Outcome:
    returncode: int
    stderr: str
    requests: dict[str, int]
    tokens: int
    keys: dict[str, set[str]] = field(default_factory=dict)
    deal_ids: dict[str, set[int]] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    def estimate(self) -> int:
        found = re.findall(r"this run expects .*?([\d,]+) tokens in all", self.stderr)
        assert found, self.stderr[-3000:]
        return int(found[-1].replace(",", ""))


def _sync(
    sb: SandboxHandle, tmp: Path, state: dict[str, Any] | None = None, **settings: Any
) -> Outcome:
    config = {
        "provider": "pipedrive",
        "api_url": sb.pipedrive_url,
        "api_token": sb.api_token,
        **settings,
    }
    command = [sys.executable, "-m", "tap_crm.tap"]
    for name, payload in (("config", config), ("state", state)):
        if payload is not None:
            path = tmp / f"{name}-{time.monotonic_ns()}.json"
            path.write_text(json.dumps(payload))
            command += [f"--{name}", str(path)]
    sb.reset_counters()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    counters = sb.counters()
    outcome = Outcome(
        done.returncode,
        done.stderr,
        {k.removeprefix("pipedrive "): v for k, v in counters["requests"].items()},
        counters["events"].get("tokens_spent", 0),
    )
    key_properties: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            key_properties[message["stream"]] = message["key_properties"]
        elif message["type"] == "RECORD":
            record = message["record"]
            key = json.dumps([record.get(k) for k in key_properties[message["stream"]]])
            outcome.keys.setdefault(message["stream"], set()).add(key)
            if "deal_id" in record:
                outcome.deal_ids.setdefault(message["stream"], set()).add(record["deal_id"])
        elif message["type"] == "STATE":
            outcome.state = message["value"]
    return outcome


@pytest.fixture
def budgeted(sandbox: SandboxHandle) -> SandboxHandle:
    sandbox.reset(size=SIZE, daily_budget=BUDGET)
    return sandbox


def _per_parent(requests: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in requests.items() if any(part in k for part in PER_PARENT)}


def test_an_idle_run_spends_list_pages_only(budgeted: SandboxHandle, tmp_path: Path) -> None:
    full = _sync(budgeted, tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    assert _per_parent(full.requests)  # the full sync did read the children

    idle = _sync(budgeted, tmp_path, full.state)
    assert idle.returncode == 0, idle.stderr[-3000:]
    assert _per_parent(idle.requests) == {}  # no parent's children read again
    # one page per list and reader: leads and files too now stop at their bookmark
    for endpoint in ("GET /v1/leads", "GET /v1/leads/archived", "GET /v1/files", "GET /v1/notes"):
        assert idle.requests[endpoint] == 1, endpoint
    # the deal list: the deals stream, four per-parent streams, the estimate's probe
    assert idle.requests["GET /api/v2/deals"] <= 6
    assert idle.tokens < full.tokens / 4
    # the parents read at the bookmark's second are named in the state, nothing more
    for stream in ("deal_flow", "deal_followers_changelog", "deal_products"):
        read = idle.state["bookmarks"][stream]["parents_read"]
        assert read["at"] == idle.state["bookmarks"][stream]["replication_key_value"]
        assert 0 < len(read["ids"]) <= SIZE


def test_a_changed_deal_has_its_children_read_and_no_other(
    budgeted: SandboxHandle, tmp_path: Path
) -> None:
    full = _sync(budgeted, tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    deal = 7
    budgeted.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": [deal]})
    after = _sync(budgeted, tmp_path, full.state)
    assert after.returncode == 0, after.stderr[-3000:]
    assert after.requests["GET /v1/deals/{id}/flow"] == 1
    assert after.requests["GET /api/v2/deals/{id}/followers/changelog"] == 1
    assert after.requests.get("GET /api/v2/deals/products") == 1  # one batch: this deal
    for other in ("persons", "organizations", "products"):
        assert f"GET /api/v2/{other}/{{id}}/followers/changelog" not in after.requests
    # the children emitted are that deal's (and the deal has history and products)
    for stream in ("deal_flow", "deal_followers_changelog", "deal_products"):
        assert after.deal_ids.get(stream, set()) <= {deal}, stream
    assert after.deal_ids["deal_flow"] == {deal}


def test_a_capped_run_stops_within_one_request_and_the_next_runs_finish_the_sync(
    budgeted: SandboxHandle, tmp_path: Path
) -> None:
    uncapped = _sync(budgeted, tmp_path)
    assert uncapped.returncode == 0, uncapped.stderr[-3000:]
    cap = 700
    seen: dict[str, set[str]] = {}
    state: dict[str, Any] | None = None
    for _ in range(20):
        run = _sync(budgeted, tmp_path, state, max_tokens_per_run=cap)
        for stream, keys in run.keys.items():
            seen.setdefault(stream, set()).update(keys)
        state = run.state
        assert run.tokens <= cap
        if run.returncode == 0:
            break
        assert run.returncode == EXIT_STOPPED_AT_CAP, run.stderr[-3000:]
        assert run.tokens > cap - 40  # stopped before the request that would pass it
        lines = [line for line in run.stderr.splitlines() if "token cap" in line]
        assert len(lines) == 1, run.stderr[-3000:]
        assert "run again to continue" in lines[0]
        assert "Traceback" not in run.stderr
        assert "| ERROR" not in run.stderr  # a stop on purpose, not an error
    else:
        pytest.fail("the capped runs never finished the sync")
    assert seen == uncapped.keys  # every record of every stream, as the uncapped sync


def test_the_estimate_is_within_a_fifth_of_what_the_run_spends(
    budgeted: SandboxHandle, tmp_path: Path
) -> None:
    full = _sync(budgeted, tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    assert abs(full.estimate() - full.tokens) <= 0.2 * full.tokens
    assert "stream 'deal_flow' expects" in full.stderr
    assert "tokens of 1,000,000,000 are left today" in full.stderr
    budgeted.control("POST", "/pipedrive/touch", {"entity": "deals", "count": 3})
    after = _sync(budgeted, tmp_path, full.state)
    assert after.returncode == 0, after.stderr[-3000:]
    assert abs(after.estimate() - after.tokens) <= 0.2 * after.tokens


def test_the_cheaper_deal_history_reads_the_changelog_at_half_the_price(
    budgeted: SandboxHandle, tmp_path: Path
) -> None:
    flow = _sync(budgeted, tmp_path)
    changelog = _sync(budgeted, tmp_path, deal_history="changelog")
    assert changelog.returncode == 0, changelog.stderr[-3000:]
    assert "deal_flow" not in changelog.keys
    assert "GET /v1/deals/{id}/flow" not in changelog.requests
    deals = flow.requests["GET /v1/deals/{id}/flow"]
    assert changelog.requests["GET /v1/deals/{id}/changelog"] == deals  # one page a deal
    assert changelog.tokens == flow.tokens - deals * (40 - 20)
    # the same field changes: every dealChange of the flow is a change of the changelog
    assert changelog.keys["deal_changelog"]
    assert len(changelog.keys["deal_changelog"]) <= len(flow.keys["deal_flow"])


def test_a_share_of_the_day_caps_the_run_from_what_the_api_says_is_left(
    budgeted: SandboxHandle, tmp_path: Path
) -> None:
    budgeted.configure(daily_budget=2000)
    run = _sync(budgeted, tmp_path, daily_budget_share=0.25)
    assert run.returncode == EXIT_STOPPED_AT_CAP, run.stderr[-3000:]
    assert 500 - 40 < run.tokens <= 500  # a quarter of the 2,000 left when it began
    assert "token cap" in run.stderr
    assert "tokens of 2,000 are left today" in run.stderr
