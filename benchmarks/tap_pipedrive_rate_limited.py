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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_sandbox.testing import running_sandbox
from tap_crm.tap import TapCRM


def run(size: int, latency_ms: float, per_2s: int, *, stream: str = "deals") -> dict[str, Any]:
    """One sync of ``stream`` from an account of ``size`` records: wall, floor, requests,
    429s, records (wall from process start to exit, discovery's requests included)."""
    with (
        running_sandbox(size=size, in_process=False) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = {"provider": "pipedrive", "api_url": sb.pipedrive_url, "api_token": sb.api_token}
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
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_crm.tap", "--config", str(config_file),
             "--catalog", str(catalog_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        records = states = 0
        for line in process.stdout:
            head = line[:40]
            if b'"RECORD"' in head:
                records += 1
            elif b'"STATE"' in head:
                states += 1
        stderr = process.stderr.read() if process.stderr else b""
        process.wait()
        wall = time.perf_counter() - started
        counters = sb.counters()
    requests = sum(counters["requests"].values())
    floor = requests / (per_2s / 2)
    return {
        "scenario": f"{stream} {size:,} at {latency_ms:.0f} ms, {per_2s}/2 s",
        "records": records,
        "states": states,
        "wall": wall,
        "floor": floor,
        "floor_over_wall": floor / wall if wall else 0.0,
        "wall_over_floor": wall / floor if floor else 0.0,
        "requests": requests,
        "429s": counters["statuses"].get("429", 0),
        "exit": process.returncode,
        "stderr_tail": stderr.decode(errors="replace")[-1500:] if process.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--per-2s", type=int, default=40)
    parser.add_argument("--stream", default="deals")
    args = parser.parse_args()
    figures = run(args.size, args.latency_ms, args.per_2s, stream=args.stream)
    print(f"scenario            {figures['scenario']}")
    print(f"records / STATEs    {figures['records']:,} / {figures['states']:,}")
    print(f"requests / 429s     {figures['requests']:,} / {figures['429s']:,}")
    print(f"wall                {figures['wall']:.2f} s")
    print(f"floor               {figures['floor']:.2f} s")
    print(f"wall / floor        {figures['wall_over_floor']:.2f}x")
    print(f"floor / wall        {figures['floor_over_wall']:.2f}")
    print(f"tap exit code       {figures['exit']}")
    if figures["exit"]:
        print(figures["stderr_tail"])


if __name__ == "__main__":
    main()
