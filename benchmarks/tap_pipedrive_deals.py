"""Records per second and CPU per record of a full Pipedrive deals sync through tap-crm.

    .venv/bin/python benchmarks/tap_pipedrive_deals.py [--size 100000]
    .venv/bin/python benchmarks/tap_pipedrive_deals.py --cpu-runs 5 [--size 100000]

crm-sandbox runs as a child process (its own interpreter and core) with no rate limit and
``--latency-ms`` (default 0); the tap runs as the real command with only ``deals`` selected
(custom-field columns on, the default) and its stdout is read by this script, which counts
RECORD lines. ``--without-read-ahead`` runs the same tap with the SDK's own one-page-at-a-time
``get_records`` instead, to show what fetching the next page during the record work saves.

``--cpu-runs N`` runs tap-crm and the SDK-default peer (``benchmarks/sdk_default_tap.py``, the
same deals and schema file) N times each, interleaved, on one sandbox, and prints each
process's whole CPU (user + sys of the child, all its threads, from ``wait4``) per RECORD, the
medians and their ratio. ``--profile FILE`` runs tap-crm once under cProfile instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle, running_sandbox
from tap_crm.tap import TapCRM

# The tap with the SDK's default get_records (one page fetched, then written, then the next).
WITHOUT_READ_AHEAD = """
import sys
from singer_sdk import RESTStream
from tap_crm.pipedrive import client, streams
client.PipedriveStream.get_records = RESTStream.get_records
streams.read_ahead = lambda records, **_: iter(records)
from tap_crm.tap import TapCRM
sys.argv[0] = "tap-crm"
TapCRM.cli()
"""

PEER = Path(__file__).resolve().parent / "sdk_default_tap.py"


def write_inputs(sb: SandboxHandle, folder: str, page_size: int) -> tuple[Path, Path]:
    """tap-crm's config for the sandbox and a catalog selecting ``deals`` only."""
    config = {
        "provider": "pipedrive",
        "api_url": sb.pipedrive_url,
        "api_token": sb.api_token,
        "page_size": page_size,
    }
    catalog = TapCRM(config=config).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == "deals"
    config_file, catalog_file = Path(folder, "config.json"), Path(folder, "catalog.json")
    config_file.write_text(json.dumps(config))
    catalog_file.write_text(json.dumps(catalog))
    return config_file, catalog_file


def run_counting(command: list[str]) -> dict[str, Any]:
    """Run a tap, count its RECORD and STATE lines, and take its own CPU from wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    records = states = 0
    first_record = 0.0
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in line[:40]:
            records += 1
            if records == 1:
                first_record = time.perf_counter()
        elif b'"STATE"' in line[:40]:
            states += 1
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    return {
        "records": records,
        "states": states,
        "elapsed": elapsed,
        "streaming": elapsed - (first_record - started),
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "returncode": process.returncode,
    }


def compare_cpu(sb: SandboxHandle, config_file: Path, catalog_file: Path, runs: int) -> None:
    commands = {
        "tap-crm": [
            sys.executable,
            "-m",
            "tap_crm.tap",
            "--config",
            str(config_file),
            "--catalog",
            str(catalog_file),
        ],
        "sdk-default": [sys.executable, str(PEER), "--config", str(config_file)],
    }
    per_record: dict[str, list[float]] = {name: [] for name in commands}
    for run in range(runs):
        for name, command in commands.items():
            result = run_counting(command)
            if result["returncode"] != 0 or not result["records"]:
                raise SystemExit(f"{name} failed: {result}")
            us = result["cpu"] / result["records"] * 1e6
            per_record[name].append(us)
            print(
                f"run {run + 1} {name:<12} {result['records']:>8,} records  "
                f"{result['cpu']:6.2f} s CPU  {us:6.1f} us/record  {result['elapsed']:6.1f} s wall"
                f"  {result['peak_mb']:.0f} MB",
                flush=True,
            )
    medians = {name: statistics.median(values) for name, values in per_record.items()}
    for name, value in medians.items():
        print(f"median CPU per record, {name:<12} {value:8.1f} us  (of {runs} runs)")
    print(
        f"ratio tap-crm / sdk-default          {medians['tap-crm'] / medians['sdk-default']:8.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--without-read-ahead", action="store_true")
    parser.add_argument("--cpu-runs", type=int, default=0, metavar="N")
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args()
    with (
        running_sandbox(size=args.size, in_process=False, latency_ms=args.latency_ms) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config_file, catalog_file = write_inputs(sb, tmp, args.page_size)
        if args.cpu_runs:
            compare_cpu(sb, config_file, catalog_file, args.cpu_runs)
            return
        sb.reset_counters()
        head = ["-m", "tap_crm.tap"]
        if args.profile:
            head = ["-m", "cProfile", "-o", args.profile, "-m", "tap_crm.tap"]
        if args.without_read_ahead:
            head = ["-c", WITHOUT_READ_AHEAD]
        result = run_counting(
            [sys.executable, *head, "--config", str(config_file), "--catalog", str(catalog_file)]
        )
        counters = sb.counters()
    records, elapsed = result["records"], result["elapsed"]
    mode = "without read-ahead" if args.without_read_ahead else "with read-ahead"
    print(f"deals in the sandbox                 {args.size:>10,}  ({mode})")
    print(f"latency per request                  {args.latency_ms:>10.0f} ms")
    print(f"RECORD messages                      {records:>10,}")
    print(f"STATE messages                       {result['states']:>10,}")
    print(f"HTTP requests (deals + archived)     {sum(counters['requests'].values()):>10,}")
    print(f"wall time, process start to exit     {elapsed:>10.1f} s")
    print(f"records/s, whole run                 {records / elapsed:>10,.0f}")
    print(f"records/s, first record to exit      {records / result['streaming']:>10,.0f}")
    print(f"CPU per record (user + sys)          {result['cpu'] / max(records, 1) * 1e6:>10.1f} us")
    print(f"tap exit code                        {result['returncode']:>10}")


if __name__ == "__main__":
    main()
