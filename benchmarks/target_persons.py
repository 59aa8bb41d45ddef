"""target-crm write throughput: N person creates into the sandbox's Pipedrive.

Defaults follow issue 5: 2,000 creates, 100 ms latency per response, a burst limit of 40
requests per rolling 2 s. The limit's own floor is N / 20 per second (2,000 -> 100 s); the
script prints the measured time and records/s next to it, the 429s the server sent, and
checks that exactly N persons were created.

    .venv/bin/python benchmarks/target_persons.py [--records 2000] [--latency-ms 100]
        [--burst-limit 40] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time

import requests

from crm_sandbox.testing import running_sandbox
from target_crm.target import TargetCRM


def singer_persons(n: int) -> str:
    schema = {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string"},
        },
    }
    lines = [
        {"type": "SCHEMA", "stream": "persons", "schema": schema, "key_properties": ["customer_id"]}
    ]
    lines += [
        {
            "type": "RECORD",
            "stream": "persons",
            "record": {
                "customer_id": f"c{i}",
                "name": f"Bench Person {i}",
                "email": f"bench{i}@x.test",
            },
        }
        for i in range(n)
    ]
    lines.append({"type": "STATE", "value": {"loaded": n}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--burst-limit", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    text = singer_persons(args.records)
    # its own process, so the server does not share this interpreter's GIL with the target
    with running_sandbox(
        in_process=False, size=10, latency_ms=args.latency_ms, burst_limit=args.burst_limit
    ) as sb:
        before = {p["id"] for p in _persons(sb.pipedrive_url, sb.api_token)}
        sb.reset_counters()
        config = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
            "max_concurrent_requests": args.concurrency,
        }
        target = TargetCRM(config=config)
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            target.listen(io.StringIO(text))
        elapsed = time.perf_counter() - started
        counters = sb.counters()
        created = [p for p in _persons(sb.pipedrive_url, sb.api_token) if p["id"] not in before]

    floor = args.records / (args.burst_limit / 2) if args.burst_limit else 0.0
    requests_sent = sum(counters["requests"].values())
    print(
        f"records             {args.records} person creates ({len(created)} persons new in the CRM)"
    )
    rate = args.records / elapsed
    print(f"latency / burst     {args.latency_ms:.0f} ms per response, {args.burst_limit} per 2 s")
    print(f"concurrency         {args.concurrency} requests in flight at most")
    print(
        f"requests sent       {requests_sent} ({counters['statuses'].get('429', 0)} answered 429)"
    )
    print(f"wall time           {elapsed:.1f} s   (the limit's floor: {floor:.1f} s)")
    if floor:
        print(f"throughput          {rate:.1f} records/s   (floor: {args.records / floor:.1f}/s)")
        print(f"of the floor        {floor / elapsed * 100:.0f} %")
    else:
        print(f"throughput          {rate:.1f} records/s")
    if len(created) != args.records:
        raise SystemExit(f"expected {args.records} new persons, found {len(created)}")


def _persons(base: str, token: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    params: dict[str, object] = {"limit": 500}
    while True:
        body = requests.get(
            f"{base}/api/v2/persons", params=params, headers={"x-api-token": token}, timeout=120
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
