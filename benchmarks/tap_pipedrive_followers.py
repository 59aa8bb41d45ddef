"""Time to sync the followers changelog of N deals under latency and a burst limit.

    .venv/bin/python benchmarks/tap_pipedrive_followers.py [--deals 2000] [--latency-ms 100]
        [--burst-limit 40] [--concurrency 8]

crm-sandbox runs as a child process with the given latency and burst limit (requests per
rolling 2 s per token). One changelog request per deal is unavoidable, so the limit's own
floor is deals / (burst_limit / 2) seconds: 2,000 / 20 = 100 s. A sequential client at 100 ms
per request would need 2,000 x 0.1 = 200 s; tap-crm keeps several requests in flight under
one shared rate budget. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crm_sandbox.testing import running_sandbox
from tap_crm.tap import TapCRM

STREAM = "deal_followers_changelog"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--burst-limit", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with (
        running_sandbox(size=args.deals, in_process=False) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
            "max_concurrent_requests": args.concurrency,
        }
        catalog = TapCRM(config=config).catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == STREAM
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        config_file.write_text(json.dumps(config))
        catalog_file.write_text(json.dumps(catalog))
        sb.configure(latency_ms=args.latency_ms, burst_limit=args.burst_limit)
        time.sleep(2.5)  # let the discovery requests leave the server's 2 s window
        sb.reset_counters()
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tap_crm.tap",
                "--config",
                str(config_file),
                "--catalog",
                str(catalog_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        counters = sb.counters()
    records = sum(1 for line in done.stdout.splitlines() if '"RECORD"' in line[:40])
    changelog = counters["requests"].get("pipedrive GET /api/v2/deals/{id}/followers/changelog", 0)
    total = sum(counters["requests"].values())
    floor = changelog / (args.burst_limit / 2)
    print(f"deals (parents)                       {args.deals:>8,}")
    print(
        f"latency / burst limit                 {args.latency_ms:>5.0f} ms, {args.burst_limit}/2 s"
    )
    print(f"changelog requests / all requests     {changelog:>8,} / {total:,}")
    print(f"429 answers                           {counters['statuses'].get('429', 0):>8,}")
    print(f"changelog records emitted             {records:>8,}")
    print(f"wall time, process start to exit      {elapsed:>8.1f} s")
    floor_all = total / (args.burst_limit / 2)
    print(f"the limit's floor for these requests  {floor:>8.1f} s  ({floor_all:.1f} s for all)")
    print(f"sequential client at this latency     {changelog * args.latency_ms / 1000:>8.1f} s")
    print(f"tap exit code                         {done.returncode:>8}")
    if done.returncode:
        print(done.stderr[-2000:])


if __name__ == "__main__":
    main()
