"""Records per second of a full Pipedrive deals sync through tap-crm (prints figures).

    .venv/bin/python benchmarks/tap_pipedrive_deals.py [--size 100000]

crm-sandbox runs as a child process (its own interpreter and core) with no rate limit and
``--latency-ms`` (default 0); the tap runs as the real command with only ``deals`` selected
(custom-field columns on, the default) and its stdout is read by this script, which counts
RECORD lines. ``--without-read-ahead`` runs the same tap with the SDK's own one-page-at-a-time
``get_records`` instead, to show what fetching the next page during the record work saves.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--without-read-ahead", action="store_true")
    args = parser.parse_args()
    with (
        running_sandbox(size=args.size, in_process=False, latency_ms=args.latency_ms) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
            "page_size": args.page_size,
        }
        catalog = TapCRM(config=config).catalog_dict
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = entry["tap_stream_id"] == "deals"
        config_file, catalog_file = Path(tmp, "config.json"), Path(tmp, "catalog.json")
        config_file.write_text(json.dumps(config))
        catalog_file.write_text(json.dumps(catalog))
        sb.reset_counters()
        started = time.perf_counter()
        head = ["-m", "tap_crm.tap"]
        if args.without_read_ahead:
            head = ["-c", WITHOUT_READ_AHEAD]
        process = subprocess.Popen(
            [
                sys.executable,
                *head,
                "--config",
                str(config_file),
                "--catalog",
                str(catalog_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
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
        process.wait()
        elapsed = time.perf_counter() - started
        counters = sb.counters()
    streaming = elapsed - (first_record - started)
    mode = "without read-ahead" if args.without_read_ahead else "with read-ahead"
    print(f"deals in the sandbox                 {args.size:>10,}  ({mode})")
    print(f"latency per request                  {args.latency_ms:>10.0f} ms")
    print(f"RECORD messages                      {records:>10,}")
    print(f"STATE messages                       {states:>10,}")
    print(f"HTTP requests (deals + archived)     {sum(counters['requests'].values()):>10,}")
    print(f"wall time, process start to exit     {elapsed:>10.1f} s")
    print(f"records/s, whole run                 {records / elapsed:>10,.0f}")
    print(f"records/s, first record to exit      {records / streaming:>10,.0f}")
    print(f"tap exit code                        {process.returncode:>10}")


if __name__ == "__main__":
    main()
