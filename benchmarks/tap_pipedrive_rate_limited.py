"""A rate-limited Pipedrive deals sync through tap-crm against the limit's own floor.

    .venv/bin/python benchmarks/tap_pipedrive_rate_limited.py [--size 20000]
        [--latency-ms 100] [--per-2s 40] [--stream deals]

crm-sandbox runs as a child process with the given latency and burst limit (requests per
rolling 2 s per token); the tap runs as the real command with one stream selected and its
stdout is read here. The floor is what the limit alone allows for the requests the run made:
requests / (per_2s / 2) seconds; a run can only be at or above it. Prints figures; asserts
nothing. ``run(size, latency_ms, per_2s)`` returns them for the benchmark command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_sandbox.testing import running_sandbox
from tap_crm.tap import TapCRM


def run(
    size: int,
    latency_ms: float,
    per_2s: int,
    *,
    stream: str = "deals",
    tap_root: str | None = None,
) -> dict[str, Any]:
    """One sync of ``stream`` from an account of ``size`` records: wall, floor, requests,
    429s, records (wall from process start to exit, discovery's requests included).
    ``tap_root``: run the tap of another checkout (a before/after comparison)."""
    with (
        running_sandbox(size=size, in_process=False) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # no include_fields extras: crm-sandbox computes them walking the account (seconds a
        # page at scale), which would time the sandbox, not the tap (as make bench does)
        config = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
            "include_fields": "none",
        }
        catalog = TapCRM(config=config).catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == stream
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        config_file.write_text(json.dumps(config))
        catalog_file.write_text(json.dumps(catalog))
        sb.configure(latency_ms=latency_ms, burst_limit=per_2s)
        time.sleep(2.5)  # let the discovery requests leave the server's 2 s window
        sb.reset_counters()
        err_file = Path(tmp, "stderr.txt")
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_crm.tap", "--config", str(config_file),
             "--catalog", str(catalog_file)],
            stdout=subprocess.PIPE,
            # a file, not a pipe: a pipe read only at the end fills up and stalls the tap
            stderr=err_file.open("wb"),
            env={**os.environ, "PYTHONPATH": tap_root} if tap_root else None,
            cwd=tap_root,  # python -m puts the working folder first on the path
        )  # fmt: skip
        assert process.stdout is not None
        records = states = 0
        for line in process.stdout:
            head = line[:40]
            if b'"RECORD"' in head:
                records += 1
            elif b'"STATE"' in head:
                states += 1
        process.wait()
        wall = time.perf_counter() - started
        stderr = err_file.read_bytes()
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the tap's
        counters = sb.counters()
    requests = sum(counters["requests"].values())
    floor = requests / (per_2s / 2)
    lists = [key for key in counters["requests"] if "Fields" not in key]
    others = requests - sum(counters["requests"][key] for key in lists)
    return {
        "scenario": f"{stream} {size:,} at {latency_ms:.0f} ms, {per_2s}/2 s",
        "records": records,
        "states": states,
        "wall": wall,
        "floor": floor,
        "floor_over_wall": floor / wall if wall else 0.0,
        "wall_over_floor": wall / floor if floor else 0.0,
        "requests": requests,
        # one list read as one chain: its pages (an extra one where a page ends full)
        "fewest_requests": others + max(len(lists), math.ceil(records / 500)),
        "429s": counters["statuses"].get("429", 0),
        "peak_mb": peak_mb,
        "exit": process.returncode,
        "stderr_tail": stderr.decode(errors="replace")[-1500:] if process.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--per-2s", type=int, default=40)
    parser.add_argument("--stream", default="deals")
    parser.add_argument("--tap-root", help="run the tap of this checkout instead")
    args = parser.parse_args()
    figures = run(
        args.size, args.latency_ms, args.per_2s, stream=args.stream, tap_root=args.tap_root
    )
    print(f"scenario            {figures['scenario']}")
    print(f"records / STATEs    {figures['records']:,} / {figures['states']:,}")
    print(f"requests / 429s     {figures['requests']:,} / {figures['429s']:,}")
    print(f"fewest requests     ~{figures['fewest_requests']:,}")
    print(f"wall                {figures['wall']:.2f} s")
    print(f"tap peak memory     {figures['peak_mb']:.0f} MB")
    print(f"floor               {figures['floor']:.2f} s")
    print(f"wall / floor        {figures['wall_over_floor']:.2f}x")
    print(f"floor / wall        {figures['floor_over_wall']:.2f}")
    print(f"tap exit code       {figures['exit']}")
    if figures["exit"]:
        print(figures["stderr_tail"])


if __name__ == "__main__":
    main()
