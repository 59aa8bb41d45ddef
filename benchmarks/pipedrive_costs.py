"""What a Pipedrive sync costs: requests and daily-budget tokens per endpoint, measured.

    .venv/bin/python benchmarks/pipedrive_costs.py [--deals 5000] [--touch 10] [--cap 20000]

crm-sandbox runs as a child process with its daily budget on (so it counts ``tokens_spent``),
every stream selected. Three runs: a full sync, an idle incremental run from its state (nothing
changed), and a run after ``--touch`` deals were changed. With ``--cap`` a fourth scenario
syncs from scratch in runs capped at that many tokens (``max_tokens_per_run``) until one ends
done. The sandbox's counters give the requests per endpoint; tokens are requests times the
sandbox's price of the endpoint. Prints figures; asserts nothing.
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

from crm_sandbox.pipedrive.routes import ROUTES
from crm_sandbox.testing import SandboxHandle, running_sandbox

PRICES = {f"pipedrive {route.method} {route.template}": route.cost for route in ROUTES}


def run(
    sb: SandboxHandle, tmp: Path, config: dict[str, Any], state: dict[str, Any] | None
) -> dict[str, Any]:
    args = [sys.executable, "-m", "tap_crm.tap"]
    for name, payload in (("config", config), ("state", state)):
        if payload is not None:
            path = Path(tmp, f"{name}.json")
            path.write_text(json.dumps(payload))
            args += [f"--{name}", str(path)]
    sb.reset_counters()
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(done.stderr[-3000:])
    records = 0
    last_state: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records += 1
        elif message["type"] == "STATE":
            last_state = message["value"]
    counters = sb.counters()
    requests = {k: v for k, v in counters["requests"].items() if k.startswith("pipedrive ")}
    estimate = [line for line in done.stderr.splitlines() if "this run expects" in line]
    return {
        "elapsed": elapsed,
        "records": records,
        "state": last_state,
        "requests": requests,
        "tokens": counters["events"].get("tokens_spent", 0),
        "returncode": done.returncode,
        "estimate": estimate[-1].split("Cost estimate: ")[-1] if estimate else "",
    }


def report(label: str, outcome: dict[str, Any]) -> None:
    requests = outcome["requests"]
    print(
        f"{label}: {sum(requests.values()):,} requests, {outcome['tokens']:,} tokens, "
        f"{outcome['records']:,} records, {outcome['elapsed']:.1f} s, "
        f"exit {outcome['returncode']}"
    )
    if outcome["estimate"]:
        print(f"  estimate line: {outcome['estimate']}")
    for endpoint, count in sorted(requests.items(), key=lambda kv: -kv[1] * PRICES.get(kv[0], 0)):
        price = PRICES.get(endpoint, 0)
        name = endpoint.removeprefix("pipedrive ")
        print(f"  {name:<48} {count:>7,} x {price:>2} = {count * price:>8,}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=5_000)
    parser.add_argument("--touch", type=int, default=10)
    parser.add_argument("--cap", type=int, default=0, help="also sync in runs of this many tokens")
    parser.add_argument("--setting", action="append", default=[], help="tap setting k=JSON")
    args = parser.parse_args()
    with (
        running_sandbox(size=args.deals, in_process=False, daily_budget=10**9) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config: dict[str, Any] = {
            "provider": "pipedrive",
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
        }
        for pair in args.setting:
            key, _, value = pair.partition("=")
            config[key] = json.loads(value)
        full = run(sb, Path(tmp), config, None)
        report(f"full sync ({args.deals:,} deals)", full)
        idle = run(sb, Path(tmp), config, full["state"])
        report("idle incremental run (nothing changed)", idle)
        sb.control("POST", "/pipedrive/touch", {"entity": "deals", "count": args.touch})
        changed = run(sb, Path(tmp), config, idle["state"])
        report(f"incremental run after {args.touch} changed deals", changed)
        if args.cap:
            sb.reset()
            state: dict[str, Any] | None = None
            total = 0
            for n in range(1, 1000):
                capped = run(sb, Path(tmp), {**config, "max_tokens_per_run": args.cap}, state)
                total += capped["tokens"]
                print(f"capped run {n}: {capped['tokens']:,} tokens, exit {capped['returncode']}")
                state = capped["state"]
                if capped["returncode"] == 0:
                    break
            print(f"capped sync: {n} runs, {total:,} tokens in all")


if __name__ == "__main__":
    main()
