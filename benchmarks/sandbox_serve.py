"""How fast crm-sandbox serves Pipedrive v2 deal pages (the server must never be the bottleneck).

Starts ``crm-sandbox serve`` as a child process (its own interpreter, so its own core), walks
``GET /api/v2/deals?limit=500`` with the cursor over one keep-alive session, and prints
records/s and pages/s. Also measures the HTTP layer alone (the same server answering a fixed,
pre-encoded page of 500 records, and bare control requests), so a slow figure can be pinned on
the server core or on the deals endpoint.

    .venv/bin/python benchmarks/sandbox_serve.py --size 100000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from typing import Any

import requests

from crm_sandbox.core import Request, Response, SandboxContext, Settings
from crm_sandbox.server import SandboxServer
from crm_sandbox.testing import running_sandbox

FIXED_RECORDS = 500
FIXED_PAGE = json.dumps(
    {
        "success": True,
        "data": [{"id": i, "padding": "x" * 1800} for i in range(FIXED_RECORDS)],
        "additional_data": {"next_cursor": None},
    }
).encode()


class FixedPage:
    """A provider that answers every request with the same pre-encoded page: no rendering."""

    name = "pipedrive"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx

    def handle(self, request: Request) -> Response:
        self.ctx.counters.hit("pipedrive GET fixed")
        return Response(200, FIXED_PAGE, {"Content-Type": "application/json; charset=utf-8"})

    def reset(self) -> None:
        return None

    def control(self, request: Request) -> Response | None:
        return None


def _serve_fixed(queue: Any) -> None:
    server = SandboxServer(Settings(), providers={"pipedrive": FixedPage})
    queue.put(server.base_url)
    server.serve_forever()


def http_layer_records_per_s(pages: int = 300) -> float:
    """Records/s of the server core alone, in a child process, client not parsing."""
    queue: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_serve_fixed, args=(queue,), daemon=True)
    child.start()
    try:
        base_url = queue.get(timeout=60)
        with requests.Session() as session:
            started = time.perf_counter()
            for _ in range(pages):
                session.get(f"{base_url}/pipedrive/api/v2/deals", timeout=30).raise_for_status()
            return pages * FIXED_RECORDS / (time.perf_counter() - started)
    finally:
        child.terminate()
        child.join()


def walk_deals(
    session: requests.Session, url: str, limit: int, parse: bool
) -> tuple[int, int, int]:
    """Every deal page by cursor: (records, pages, bytes).

    ``parse=False`` reads only the cursor at the end of each page (so the figure is the
    server's); records are then counted by the sandbox itself (``records_served``).
    """
    records = pages = size = 0
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = session.get(f"{url}/api/v2/deals", params=params, timeout=120)
        response.raise_for_status()
        content = response.content
        if parse:
            body = json.loads(content)
            records += len(body["data"])
            additional = body.get("additional_data") or {}
        else:
            tail = content[content.rindex(b',"additional_data":') + 19 : -1]
            additional = json.loads(tail) or {}
        pages += 1
        size += len(content)
        cursor = additional.get("next_cursor")
        if not cursor:
            return records, pages, size


def bare_requests(session: requests.Session, control_url: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        session.get(f"{control_url}/health", timeout=30).raise_for_status()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="deals in the sandbox")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=500, help="deals per page")
    parser.add_argument("--rounds", type=int, default=1, help="walks of all deals (best counts)")
    args = parser.parse_args()

    http_layer = http_layer_records_per_s()
    started = time.perf_counter()
    walks: dict[bool, tuple[int, int, int, float]] = {}
    with running_sandbox(in_process=False, size=args.size, seed=args.seed) as sb:
        startup = time.perf_counter() - started
        with requests.Session() as session:
            session.headers["x-api-token"] = sb.api_token
            health_rps = bare_requests(session, sb.control_url, 500)
            for _ in range(args.rounds):
                for parse in (False, True):
                    sb.reset_counters()
                    began = time.perf_counter()
                    records, pages, size = walk_deals(session, sb.pipedrive_url, args.limit, parse)
                    elapsed = time.perf_counter() - began
                    if not parse:
                        records = sb.counters()["events"].get("records_served", 0)
                    if parse not in walks or elapsed < walks[parse][3]:
                        walks[parse] = (records, pages, size, elapsed)
    print(f"crm-sandbox serve --size {args.size} --seed {args.seed}: started in {startup:.1f} s")
    print(f"bare control requests (GET /_sandbox/health): {health_rps:,.0f} requests/s")
    print(
        f"HTTP layer alone (fixed {len(FIXED_PAGE) / 1e6:.1f} MB page of {FIXED_RECORDS} records):"
        f" {http_layer:,.0f} records/s"
    )
    for parse, label in ((False, "client reads the cursor only"), (True, "client parses pages")):
        records, pages, size, elapsed = walks[parse]
        print(
            f"GET /api/v2/deals?limit={args.limit} by cursor, {label}: {records:,} records in "
            f"{pages:,} pages, {size / 1e6:,.1f} MB, {elapsed:.2f} s"
            f" => {records / elapsed:,.0f} records/s, {pages / elapsed:,.1f} pages/s"
        )


if __name__ == "__main__":
    main()
