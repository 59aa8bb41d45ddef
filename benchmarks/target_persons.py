"""target-crm write throughput against a rate-limited sandbox Pipedrive: creates, then updates
by match key.

Defaults follow issue 12: 2,000 person creates, then 2,000 updates of those persons found by
their email (``match_keys: {"persons": "email"}``, no id map: the CRM is listed to match),
then the same updates once more (nothing left to change). 100 ms latency per response, a burst
limit of 40 requests per rolling 2 s (20 per second). The floor of each scenario is the
requests it needs divided by the rate: creates one POST per record; updates one listing pass
(pages of 500) plus one PATCH per changed record; the re-run the listing only.

    .venv/bin/python benchmarks/target_persons.py [--records 2000] [--latency-ms 100]
        [--burst-limit 40] [--concurrency 8] [--json]

``run(...)`` returns the same figures as a dict (for the benchmark command).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import time
from typing import Any

import requests

from crm_sandbox.testing import SandboxHandle, running_sandbox
from target_crm.target import TargetCRM

LIST_PAGE = 500  # what the target asks for per listing page (Pipedrive's maximum)
WINDOW_SECONDS = 2.1  # Pipedrive's rolling rate-limit window, and a little


def singer_persons(n: int, name: str = "Bench Person {i}") -> str:
    schema = {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string"},
        },
    }
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "persons", "schema": schema, "key_properties": ["customer_id"]}
    ]
    lines += [
        {
            "type": "RECORD",
            "stream": "persons",
            "record": {
                "customer_id": f"c{i}",
                "name": name.format(i=i),
                "email": f"bench{i}@x.test",
            },
        }
        for i in range(n)
    ]
    lines.append({"type": "STATE", "value": {"loaded": n}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def run(
    records: int = 2000,
    latency_ms: float = 100.0,
    burst_limit: int = 40,
    concurrency: int = 8,
) -> dict[str, Any]:
    """Run the three scenarios on one sandbox; figures per scenario, and checks that failed.

    Returns ``{"scenarios": [{"scenario", "work", "wall", "floor", "floor_over_wall",
    "requests", "429s", "outcome"}, ...], "problems": [...]}``.
    """
    rate = burst_limit / 2 if burst_limit else 0.0
    problems: list[str] = []
    scenarios: list[dict[str, Any]] = []
    # its own process, so the server does not share this interpreter's GIL with the target
    with running_sandbox(
        in_process=False, size=10, latency_ms=latency_ms, burst_limit=burst_limit
    ) as sb:
        config = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
            "max_concurrent_requests": concurrency,
        }
        before = {p["id"] for p in _persons(sb)}

        figures = _load(sb, config, singer_persons(records), rate, needed=records)
        created = len({p["id"] for p in _persons(sb)} - before)
        scenarios.append({"scenario": "target creates", "work": f"{records} persons", **figures})
        if created != records or figures["outcome"]["created"] != records:
            problems.append(f"creates: expected {records} new persons, found {created}")

        in_crm = len(before) + created
        pages = max(1, math.ceil(in_crm / LIST_PAGE))
        by_email = {**config, "match_keys": {"persons": "email"}}
        renamed = singer_persons(records, name="Renamed Person {i}")
        figures = _load(sb, by_email, renamed, rate, needed=pages + records)
        scenarios.append(
            {"scenario": "target updates by match key", "work": f"{records} persons", **figures}
        )
        if figures["outcome"] != {"created": 0, "updated": records, "unchanged": 0, "rejected": 0}:
            problems.append(f"updates: expected {records} updated, got {figures['outcome']}")
        after = _persons(sb)
        renamed_now = sum(1 for p in after if str(p.get("name", "")).startswith("Renamed Person"))
        if len(after) != in_crm or renamed_now != records:
            problems.append(f"updates: {len(after)} persons, {renamed_now} renamed")

        figures = _load(sb, by_email, renamed, rate, needed=pages)
        scenarios.append(
            {"scenario": "target updates re-run", "work": f"{records} unchanged", **figures}
        )
        if figures["outcome"] != {"created": 0, "updated": 0, "unchanged": records, "rejected": 0}:
            problems.append(f"re-run: expected {records} unchanged, got {figures['outcome']}")
    return {
        "latency_ms": latency_ms,
        "burst_limit": burst_limit,
        "concurrency": concurrency,
        "scenarios": scenarios,
        "problems": problems,
    }


def _load(
    sb: SandboxHandle, config: dict[str, Any], text: str, rate: float, *, needed: int
) -> dict[str, Any]:
    """One target run in this process; its wall time and what the sandbox counted."""
    # The benchmark's own reads (not paced by the target's budget) and the previous run's
    # last requests leave the server's window first, so that they cost this run nothing.
    time.sleep(WINDOW_SECONDS)
    sb.reset_counters()
    target = TargetCRM(config=config)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO(text))
    wall = time.perf_counter() - started
    counters = sb.counters()
    floor = needed / rate if rate else 0.0
    return {
        "wall": round(wall, 2),
        "floor": round(floor, 2),
        "floor_over_wall": round(floor / wall, 3) if wall else 0.0,
        "requests": sum(counters["requests"].values()),
        "requests_needed": needed,
        "429s": counters["statuses"].get("429", 0),
        "outcome": target.run.report.counts().get("persons", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--burst-limit", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run(args.records, args.latency_ms, args.burst_limit, args.concurrency)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"latency {result['latency_ms']:.0f} ms per response, burst limit "
            f"{result['burst_limit']} per 2 s, {result['concurrency']} requests in flight at most"
        )
        print(
            f"{'scenario':30} {'work':16} {'wall s':>8} {'floor s':>8} {'floor/wall':>10} "
            f"{'requests':>9} {'needed':>7} {'429s':>5}"
        )
        for row in result["scenarios"]:
            print(
                f"{row['scenario']:30} {row['work']:16} {row['wall']:8.1f} {row['floor']:8.1f} "
                f"{row['floor_over_wall']:10.2f} {row['requests']:9d} "
                f"{row['requests_needed']:7d} {row['429s']:5d}"
            )
    if result["problems"]:
        raise SystemExit("; ".join(result["problems"]))


def _persons(sb: SandboxHandle) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": LIST_PAGE}
    while True:
        body = requests.get(
            f"{sb.pipedrive_url}/api/v2/persons",
            params=params,
            headers={"x-api-token": sb.api_token},
            timeout=120,
        )
        if body.status_code == 429:
            time.sleep(float(body.headers.get("Retry-After", "1")))
            continue
        body.raise_for_status()
        data = body.json()
        items += data["data"]
        cursor = (data.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return items
        params["cursor"] = cursor


if __name__ == "__main__":
    main()
