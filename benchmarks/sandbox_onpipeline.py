"""How fast crm-sandbox generates and serves an Onpipeline account (prints figures only).

    .venv/bin/python benchmarks/sandbox_onpipeline.py [--size 100000]

Calls the provider in-process (no HTTP), so the figures are the sandbox's own cost: the time
to generate the account, to answer a PersonList of every person (first time: generated and
encoded; second time: from the cached encoded records), and a one-month window. CPU seconds
are shown beside wall seconds because the machine may be shared.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any, TypeVar

from crm_sandbox.core import Request, SandboxContext, Settings
from crm_sandbox.onpipeline import OnpipelineAPI

T = TypeVar("T")


def timed(label: str, action: Callable[..., T], *args: Any) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<46} {wall:7.2f} s wall {cpu:7.2f} s CPU")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    size = parser.parse_args().size
    ctx = SandboxContext(Settings(size=size))
    api = timed(f"generate --size {size}", OnpipelineAPI, ctx)
    print(f"{'max RSS after generation':<46} {_rss_mb():7.0f} MB")

    def person_list(body: bytes) -> int:
        request = Request.from_raw(
            "POST", "/PersonList", "", {"Authorization": ctx.settings.api_token}, body
        )
        return len(api.handle(request).body)

    size_bytes = timed(f"PersonList, all {size} persons (first)", person_list, b"{}")
    timed(f"PersonList, all {size} persons (again)", person_list, b"{}")
    month = b'{"MinCreated": "2024-03-01", "MaxCreated": "2024-03-31"}'
    timed("PersonList, one month", person_list, month)
    print(f"{'PersonList answer size':<46} {size_bytes / 1e6:7.1f} MB")
    print(f"{'max RSS':<46} {_rss_mb():7.0f} MB")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
