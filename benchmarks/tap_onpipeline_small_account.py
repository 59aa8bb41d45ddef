"""Requests and wall against the floor of a small Onpipeline account's full sync, paced at the
vendor's 60 requests a minute (tap-crm as a real CLI process against crm-sandbox).

The sandbox enforces the same limit (``onpipeline_rate_limit``), so a 429 would show. The
floor is the fewest requests the API allows for the data (per windowed stream: one per
``onpipeline_max_records_per_window`` records, two lists for deals; one per invoice for its
items; discovery's three custom-field lists, which also set the clock) and the least time the
limit allows for them (60 in any 61 s: the tap's budget window). ``run(...)`` returns the
figures as a dict for the benchmark command:

    .venv/bin/python benchmarks/tap_onpipeline_small_account.py --size 1000
    .venv/bin/python benchmarks/tap_onpipeline_small_account.py --size 1000 --no-items
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_sandbox.testing import running_sandbox

TAP = str(Path(sys.executable).with_name("tap-crm"))
WINDOWED = {  # stream: (resource, sandbox entity, lists per window)
    "persons": ("PersonList", "persons", 1),
    "organizations": ("OrgList", "organizations", 1),
    "deals": ("DealsList", "deals", 2),  # the list and Status=deleted
    "events": ("EventList", "events", 1),
    "notes": ("NotesList", "notes", 1),
    "invoices": ("InvoiceList", "invoices", 1),
}
BUDGET_WINDOW_SECONDS = 61.0  # crm_api.onpipeline: 60 requests in any 61 s


def select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in streams
    return catalog


def floor_seconds(requests: int, per_minute: int) -> float:
    """Least wall the sliding window allows: the first ``per_minute`` at once, then one window
    per further batch."""
    if per_minute <= 0 or requests <= per_minute:
        return 0.0
    return (math.ceil(requests / per_minute) - 1) * BUDGET_WINDOW_SECONDS


def run(
    size: int = 1000,
    *,
    requests_per_minute: int = 60,
    items: bool = True,
    max_records_per_window: int = 2000,
    start_date: str = "2000-01-01T00:00:00Z",
) -> dict[str, Any]:
    """One paced full sync; the figures (requests per resource, wall, floor, 429s)."""
    streams = set(WINDOWED) | ({"invoice_items"} if items else set())
    with running_sandbox(in_process=False, size=size) as sandbox:
        counts = {
            entity: len(sandbox.control("GET", f"/onpipeline/ids/{entity}")["ids"])
            for _, entity, _ in WINDOWED.values()
        }
        config = {
            "provider": "onpipeline",
            "api_token": sandbox.api_token,
            "api_url": sandbox.onpipeline_url,
            "timezone": sandbox.settings()["timezone"],
            "start_date": start_date,
            "onpipeline_requests_per_minute": requests_per_minute,
            "onpipeline_max_records_per_window": max_records_per_window,
        }
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp, "config.json")
            config_path.write_text(json.dumps(config))
            discovered = subprocess.run(
                [TAP, "--config", str(config_path), "--discover"],
                capture_output=True,
                check=True,
                text=True,
            ).stdout
            catalog_path = Path(tmp, "catalog.json")
            catalog_path.write_text(json.dumps(select(json.loads(discovered), streams)))
            # The limit holds from here on: discovery's calls are not in this run's minute.
            sandbox.configure(onpipeline_rate_limit=requests_per_minute)
            sandbox.reset_counters()
            begin = time.perf_counter()
            tap = subprocess.run(
                [TAP, "--config", str(config_path), "--catalog", str(catalog_path)],
                capture_output=True,
                env={**os.environ, "LOGLEVEL": "WARNING"},
            )
            wall = time.perf_counter() - begin
        counters = sandbox.counters()
    by_resource = {
        path.removeprefix("onpipeline POST /"): n
        for path, n in counters["requests"].items()
        if path.startswith("onpipeline POST /")
    }
    records = sum(1 for line in tap.stdout.splitlines() if b'"type":"RECORD"' in line[:40])
    floor_requests = 3  # ListCustomFields for three tables (they also set the clock)
    for _, entity, lists in WINDOWED.values():
        # An answer at the limit is never trusted: each window must hold fewer records.
        floor_requests += lists * (counts[entity] // max_records_per_window + 1)
    if items:
        floor_requests += counts["invoices"]
    requests = sum(by_resource.values())
    floor = floor_seconds(floor_requests, requests_per_minute)
    return {
        "scenario": f"onpipeline small account {size}",
        "exit_code": tap.returncode,
        "records": records,
        "account": counts,
        "requests": requests,
        "requests_by_resource": by_resource,
        "floor_requests": floor_requests,
        "rate_limited": counters["events"].get("rate_limited", 0),  # 429s the sandbox sent
        "wall_seconds": round(wall, 2),
        "floor_seconds": round(floor, 2),
        "floor_over_wall": round(floor / wall, 3) if wall else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--requests-per-minute", type=int, default=60, help="0 = no pacing")
    parser.add_argument("--no-items", action="store_true", help="leave invoice_items out")
    parser.add_argument("--max-records-per-window", type=int, default=2000)
    args = parser.parse_args()
    result = run(
        args.size,
        requests_per_minute=args.requests_per_minute,
        items=not args.no_items,
        max_records_per_window=args.max_records_per_window,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
