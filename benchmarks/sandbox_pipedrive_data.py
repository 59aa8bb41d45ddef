"""How fast the simulated Pipedrive account is generated and served, without HTTP.

Builds the account for each --size (all entities), then walks ``GET /api/v2/deals?limit=500``
by cursor through ``PipedriveAPI.handle()`` (sorted by id, then by update_time) and prints
seconds, peak memory and records/s of handle() alone (the JSON parsing of the walk excluded).

    .venv/bin/python benchmarks/sandbox_pipedrive_data.py --size 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from crm_sandbox.core import Request, SandboxContext, Settings
from crm_sandbox.pipedrive import PipedriveAPI


def walk(api: PipedriveAPI, sort_by: str) -> tuple[int, float]:
    records, spent, cursor = 0, 0.0, None
    while True:
        query = f"limit=500&sort_by={sort_by}" + (f"&cursor={cursor}" if cursor else "")
        request = Request.from_raw("GET", "/api/v2/deals", query, {"x-api-token": "t"}, b"")
        started = time.perf_counter()
        response = api.handle(request)
        spent += time.perf_counter() - started
        body = json.loads(response.body)
        records += len(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if not cursor:
            return records, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    for size in args.size:
        started = time.perf_counter()
        api = PipedriveAPI(SandboxContext(Settings(size=size, seed=args.seed, api_token="t")))
        built = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"size {size:,}: generated in {built:.2f} s, peak RSS {peak} MB", flush=True)
        for sort_by in ("id", "update_time"):
            records, spent = walk(api, sort_by)
            print(f"  deals by {sort_by}: {records:,} records, {records / spent:,.0f} records/s")


if __name__ == "__main__":
    main()
