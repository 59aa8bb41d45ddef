"""Requests tap-crm spends on deal products and deal history, next to one request per deal.

    .venv/bin/python benchmarks/tap_pipedrive_deal_children.py [--deals 10000] [--touch 100]

crm-sandbox runs as a child process (no latency, no rate limit). A full sync of
``deal_products`` and ``deal_flow``, then ``--touch`` deals are changed and an incremental run
follows from the first run's state. The sandbox's own counters give the requests per endpoint.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle, running_sandbox
from tap_crm.tap import TapCRM

STREAMS = ("deal_products", "deal_flow")


Outcome = tuple[float, dict[str, int], dict[str, Any], dict[str, int]]


def run(
    sb: SandboxHandle,
    tmp: Path,
    config: dict[str, Any],
    catalog: dict[str, Any],
    state: dict[str, Any] | None,
) -> Outcome:
    files = {"config": config, "catalog": catalog, "state": state}
    args = [sys.executable, "-m", "tap_crm.tap"]
    for name, payload in files.items():
        if payload is not None:
            path = Path(tmp, f"{name}.json")
            path.write_text(json.dumps(payload))
            args += [f"--{name}", str(path)]
    sb.reset_counters()
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    records: dict[str, int] = {}
    last_state: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["stream"]] = records.get(message["stream"], 0) + 1
        elif message["type"] == "STATE":
            last_state = message["value"]
    return elapsed, records, last_state, sb.counters()["requests"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--touch", type=int, default=100)
    args = parser.parse_args()
    with (
        running_sandbox(size=args.deals, in_process=False) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
            "custom_field_columns": False,
        }
        catalog = TapCRM(config=config).catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
        deals = len(sb.control("GET", "/pipedrive/ids/deals")["ids"])
        full = run(sb, Path(tmp), config, catalog, None)
        sb.control("POST", "/pipedrive/touch", {"entity": "deals", "count": args.touch})
        incremental = run(sb, Path(tmp), config, catalog, full[2])
    print(f"deals in the sandbox: {deals:,}; touched before the second run: {args.touch}")
    for label, (elapsed, records, _, requests) in (("full", full), ("incremental", incremental)):
        bulk = requests.get("pipedrive GET /api/v2/deals/products", 0)
        flow = requests.get("pipedrive GET /v1/deals/{id}/flow", 0)
        listing = requests.get("pipedrive GET /api/v2/deals", 0) + requests.get(
            "pipedrive GET /api/v2/deals/archived", 0
        )
        visited = flow  # deals changed since the bookmark (incl. those at its own second)
        print(f"{label} run ({elapsed:.1f} s):")
        print(f"  deal_products: {records.get('deal_products', 0):>7,} records, {bulk:>6,} "
              f"bulk requests (+ deal listing) vs {visited:,} at one per deal")  # fmt: skip
        print(f"  deal_flow:     {records.get('deal_flow', 0):>7,} records, {flow:>6,} "
              f"requests (one per changed deal: the API has no bulk history)")  # fmt: skip
        print(f"  deal listing pages (both streams): {listing:,}")


if __name__ == "__main__":
    main()
