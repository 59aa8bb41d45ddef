"""records/s of a full Onpipeline persons sync by tap-crm against crm-sandbox (no latency).

Starts ``crm-sandbox serve`` as a child process (its own interpreter, so its own core) with
``--size`` persons, runs ``tap-crm`` as a real CLI process with a catalog selecting only
``persons``, counts the RECORD lines it writes, and prints records/s, requests, and the tap's
peak memory (``run(...)`` returns them as a dict). Run once per pacing setting:

    .venv/bin/python benchmarks/tap_onpipeline_persons.py --size 100000
    .venv/bin/python benchmarks/tap_onpipeline_persons.py --size 100000 --requests-per-minute 60
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from crm_sandbox.testing import running_sandbox

TAP = str(Path(sys.executable).with_name("tap-crm"))


def persons_only(catalog: dict) -> dict:
    for stream in catalog["streams"]:
        selected = stream["tap_stream_id"] == "persons"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = selected
    return catalog


def run(
    size: int = 100_000, *, requests_per_minute: int = 0, max_records_per_window: int = 2000
) -> dict[str, Any]:
    """One full persons sync; its figures (records, wall, requests per resource, peak RSS)."""
    with running_sandbox(in_process=False, size=size) as sandbox:
        persons = len(sandbox.control("GET", "/onpipeline/ids/persons")["ids"])
        config = {
            "provider": "onpipeline",
            "api_token": sandbox.api_token,
            "api_url": sandbox.onpipeline_url,
            "timezone": sandbox.settings()["timezone"],
            "onpipeline_requests_per_minute": requests_per_minute,
            "onpipeline_max_records_per_window": max_records_per_window,
        }
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp, "config.json")
            config_path.write_text(json.dumps(config))
            catalog = subprocess.run(
                [TAP, "--config", str(config_path), "--discover"],
                capture_output=True,
                check=True,
                text=True,
            ).stdout
            catalog_path = Path(tmp, "catalog.json")
            catalog_path.write_text(json.dumps(persons_only(json.loads(catalog))))
            sandbox.reset_counters()

            begin = time.perf_counter()
            tap = subprocess.Popen(
                [TAP, "--config", str(config_path), "--catalog", str(catalog_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "LOGLEVEL": "WARNING"},
            )
            assert tap.stdout is not None
            records = sum(1 for line in tap.stdout if b'"type":"RECORD"' in line[:40])
            tap.wait()
            seconds = time.perf_counter() - begin
            # Only waited-for children count: the tap (and discovery), not the running sandbox.
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        requests = sandbox.counters()["requests"]
    return {
        "scenario": f"onpipeline persons {size}",
        "exit_code": tap.returncode,
        "records": records,
        "persons": persons,
        "wall_seconds": round(seconds, 2),
        "requests": sum(requests.values()),
        "requests_by_resource": requests,
        "peak_rss_mb": round(peak_mb),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests-per-minute", type=int, default=0, help="0 = no pacing")
    parser.add_argument("--max-records-per-window", type=int, default=2000)
    args = parser.parse_args()
    result = run(
        args.size,
        requests_per_minute=args.requests_per_minute,
        max_records_per_window=args.max_records_per_window,
    )
    print(
        f"exit code {result['exit_code']}; {result['records']} of {result['persons']} persons "
        f"in {result['wall_seconds']:.1f} s"
    )
    print(f"records/s: {result['records'] / result['wall_seconds']:,.0f}")
    print(f"requests: {result['requests_by_resource']}")
    print(f"tap peak RSS: {result['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
