"""The one benchmark command: `make bench` (full sizes) and `make bench-quick` (small sizes).

    .venv/bin/python benchmarks/bench.py [--quick] [--only NAME ...] [--docs]

For each scenario it starts crm-sandbox as a child process with what the scenario needs (size,
latency, rate limits, a daily budget so the sandbox counts tokens), runs the REAL commands
(`tap-crm`, `target-crm`) and the peers over the same endpoint (benchmarks/sdk_default_tap.py,
a minimal Singer SDK tap with defaults; singer-io tap-pipedrive 2.1.0 from PyPI in .venv-peers
via benchmarks/singer_io_tap_pipedrive.py), interleaved (tap-crm, peer, peer, tap-crm, ...),
and prints one table of medians. The same rows go to output/bench/results.json and a chart to
output/bench/chart.png; with ``--docs`` the chart is copied to docs/performance.png and the
table written into docs/performance.md between its bench markers. Asserts nothing.

How each floor is computed is in docs/performance.md ("The floors").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from measure import (  # noqa: E402
    Row,
    Run,
    latency_floor,
    markdown,
    pages,
    rate_floor,
    run_process,
    summarize,
    table,
)

from crm_sandbox.testing import SandboxHandle, running_sandbox  # noqa: E402

BIN = Path(sys.executable).parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
RESULTS = ROOT / "output" / "bench"
DOC = ROOT / "docs" / "performance.md"
DOC_CHART = ROOT / "docs" / "performance.png"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
BUDGET = 10**9  # a daily budget no run reaches: on only so the sandbox counts tokens
# tap-crm reads what the peers read: no include_fields extras (the SDK default tap asks none).
# crm-sandbox computes the extras by walking the account for every page (0.9 s a page at
# 200,000 deals), which would make the large scenarios measure the sandbox, not the tap.
TAP_CRM_DEALS = {"provider": "pipedrive", "include_fields": "none"}
BURST_WINDOW_S = 2.0  # Pipedrive's burst limit counts a rolling 2 s
ONPIPELINE_WINDOW_S = 60.0  # Onpipeline's 60 requests a minute


@dataclass
class Contender:
    name: str
    command: Callable[[Path], list[str]]  # given the run's folder (config, catalog written)
    runs: int = 3
    env: dict[str, str] = field(default_factory=dict)
    stdin: Callable[[int], bytes] | None = None  # for a target: the Singer input of round n
    work_records: int | None = None  # a target emits no RECORD lines: the records it was given


def selecting(catalog: dict[str, Any], streams: set[str] | None) -> dict[str, Any]:
    """The catalog with only ``streams`` selected (None: all)."""
    for entry in catalog["streams"]:
        chosen = streams is None or entry["tap_stream_id"] in streams
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = chosen
    return catalog


def discover(command: list[str], config: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    import subprocess

    done = subprocess.run(
        [*command, "--config", str(config), "--discover"],
        capture_output=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    catalog: dict[str, Any] = json.loads(done.stdout)
    return catalog


def write(folder: Path, name: str, payload: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(payload))
    return path


def measure(sb: SandboxHandle, contender: Contender, folder: Path, round_: int) -> Run:
    sb.reset_counters()
    run = run_process(
        contender.command(folder),
        env={**os.environ, **contender.env},
        stdin=contender.stdin(round_) if contender.stdin else None,
    )
    if contender.work_records is not None:
        run.records = contender.work_records
    counters = sb.counters()
    run.requests = sum(counters["requests"].values())
    run.too_many = counters["statuses"].get("429", 0)
    run.tokens = counters["events"].get("tokens_spent", 0)
    return run


def interleaved(
    sb: SandboxHandle, contenders: list[Contender], folders: dict[str, Path], pause: float
) -> dict[str, list[Run]]:
    """tap-crm, peer, peer, tap-crm, peer, ...: each round runs every contender once, so the
    machine's load changes hit all of them alike; medians are taken afterwards."""
    runs: dict[str, list[Run]] = {c.name: [] for c in contenders}
    for round_ in range(max(c.runs for c in contenders)):
        for contender in contenders:
            if round_ < contender.runs:
                time.sleep(pause)  # a rolling rate window empties before the next run
                run = measure(sb, contender, folders[contender.name], round_)
                runs[contender.name].append(run)
                print(
                    f"  {contender.name:<16} round {round_ + 1}: {run.records:,} records, "
                    f"{run.wall:.1f} s, {run.requests:,} requests, exit {run.exit}",
                    flush=True,
                )
                if run.exit:
                    print("    " + run.stderr_tail.strip().replace("\n", "\n    "))
    return runs


# --- the processes -------------------------------------------------------------------------


def tap_crm(runs: int) -> Contender:
    return Contender(
        "tap-crm",
        lambda f: [
            str(BIN / "tap-crm"),
            "--config",
            str(f / "config.json"),
            "--catalog",
            str(f / "catalog.json"),
        ],
        runs,
    )


def sdk_default(runs: int) -> Contender:
    return Contender(
        "sdk-default-tap",
        lambda f: [
            sys.executable,
            str(HERE / "sdk_default_tap.py"),
            "--config",
            str(f / "config.json"),
            "--catalog",
            str(f / "catalog.json"),
        ],
        runs,
    )


def singer_io(runs: int, base_url: str) -> Contender:
    return Contender(
        "singer-io 2.1.0",
        lambda f: [
            str(PEERS_PYTHON),
            str(HERE / "singer_io_tap_pipedrive.py"),
            "--config",
            str(f / "config.json"),
            "--catalog",
            str(f / "catalog.json"),
        ],
        runs,
        env={"PIPEDRIVE_BASE_URL": base_url, "PIPEDRIVE_NO_EXTRAS": "1"},
    )


def peers_ready() -> bool:
    return PEERS_PYTHON.exists()


@contextmanager
def folders(root: Path, *names: str) -> Iterator[dict[str, Path]]:
    made = {}
    for name in names:
        made[name] = root / name.replace(" ", "_")
        made[name].mkdir(parents=True, exist_ok=True)
    yield made


def pipedrive_deals_contenders(
    sb: SandboxHandle, work: Path, runs: int, peer_runs: int
) -> tuple[list[Contender], dict[str, Path]]:
    """tap-crm, the SDK-default tap and singer-io, each with config and a deals-only catalog."""
    contenders = [tap_crm(runs), sdk_default(runs)]
    if peers_ready():
        contenders.append(singer_io(peer_runs, sb.pipedrive_url))
    with folders(work, *(c.name for c in contenders)) as made:
        config: dict[str, Any] = {
            **TAP_CRM_DEALS,
            "api_url": sb.pipedrive_url,
            "api_token": sb.api_token,
        }
        for name in ("tap-crm", "sdk-default-tap"):
            path = write(made[name], "config.json", config)
        catalog = discover([str(BIN / "tap-crm")], path)
        write(made["tap-crm"], "catalog.json", selecting(catalog, {"deals"}))
        sdk = discover([sys.executable, str(HERE / "sdk_default_tap.py")], path)
        write(made["sdk-default-tap"], "catalog.json", selecting(sdk, {"deals"}))
        if peers_ready():
            name = "singer-io 2.1.0"
            sio = {"api_token": sb.api_token, "start_date": "2000-01-01T00:00:00Z"}
            path = write(made[name], "config.json", sio)
            env = {"PIPEDRIVE_BASE_URL": sb.pipedrive_url}
            peer = discover(
                [str(PEERS_PYTHON), str(HERE / "singer_io_tap_pipedrive.py")], path, env
            )
            write(made[name], "catalog.json", selecting(peer, {"deals"}))
    return contenders, made


# --- the scenarios -------------------------------------------------------------------------


@dataclass
class Sizes:
    deals_cpu: int
    deals_limited: int
    followers: int
    op_persons: int
    op_small: int
    target: int
    memory_big: int
    runs: int
    peer_runs: int  # singer-io: one run of it costs several of the others


FULL = Sizes(100_000, 20_000, 2_000, 100_000, 1_000, 2_000, 1_000_000, 3, 1)
QUICK = Sizes(5_000, 2_000, 100, 5_000, 200, 100, 20_000, 1, 1)


def deals_cpu(sizes: Sizes, work: Path) -> list[Row]:
    n = sizes.deals_cpu
    print(f"deals {n:,}, no latency, no limit (CPU-bound)", flush=True)
    with running_sandbox(in_process=False, size=n, daily_budget=BUDGET) as sb:
        contenders, made = pipedrive_deals_contenders(sb, work, sizes.runs, sizes.peer_runs)
        runs = interleaved(sb, contenders, made, pause=0)
    return [
        summarize(f"deals {n:,} CPU-bound", name, "", r, None, with_tokens=True)
        for name, r in runs.items()
    ]


def deals_rate_limited(sizes: Sizes, work: Path) -> list[Row]:
    n, latency, per_2s = sizes.deals_limited, 100.0, 40
    print(f"deals {n:,} at {latency:.0f} ms, {per_2s} per 2 s", flush=True)
    with running_sandbox(in_process=False, size=n, daily_budget=BUDGET) as sb:
        contenders, made = pipedrive_deals_contenders(sb, work, sizes.runs, sizes.peer_runs)
        sb.configure(latency_ms=latency, burst_limit=per_2s)
        runs = interleaved(sb, contenders, made, pause=BURST_WINDOW_S + 0.5)
    rows = []
    for name, r in runs.items():
        row = summarize(
            f"deals {n:,} at {latency:.0f} ms, {per_2s}/2 s", name, "", r, None, with_tokens=True
        )
        floored(row, per_2s, BURST_WINDOW_S, latency, fewest=pages(row.records))
        rows.append(row)
    return rows


def floored(row: Row, per_window: int, window_s: float, latency_ms: float, fewest: int) -> Row:
    """The row's floor: the limit's for the requests the run made, or one response's latency
    (the larger); ``fewest`` (the requests the work needs) goes into the row's note."""
    row.floor = max(rate_floor(row.requests, per_window, window_s), latency_floor(1, latency_ms))
    row.note = (row.note + "; " if row.note else "") + f"fewest requests {fewest:,}"
    return row


def followers_rate_limited(sizes: Sizes, work: Path) -> list[Row]:
    n, latency, per_2s = sizes.followers, 100.0, 40
    stream = "deal_followers_changelog"
    print(f"followers changelog of {n:,} deals at {latency:.0f} ms, {per_2s} per 2 s", flush=True)
    with running_sandbox(in_process=False, size=n, daily_budget=BUDGET) as sb:
        contender = tap_crm(1)
        with folders(work, "followers") as made:
            config = {
                "provider": "pipedrive",
                "api_url": sb.pipedrive_url,
                "api_token": sb.api_token,
            }
            path = write(made["followers"], "config.json", config)
            catalog = discover([str(BIN / "tap-crm")], path)
            write(made["followers"], "catalog.json", selecting(catalog, {stream}))
        sb.configure(latency_ms=latency, burst_limit=per_2s)
        runs = interleaved(
            sb, [contender], {"tap-crm": made["followers"]}, pause=BURST_WINDOW_S + 0.5
        )
    row = summarize(
        f"followers of {n:,} deals, {latency:.0f} ms, {per_2s}/2 s",
        "tap-crm",
        "",
        runs["tap-crm"],
        None,
        with_tokens=True,
    )
    # one changelog request per deal plus the parents' list pages
    floored(row, per_2s, BURST_WINDOW_S, latency, fewest=n + pages(n))
    return [row, absent(row.scenario, "singer-io 2.1.0", "no followers stream")]


def absent(scenario: str, contender: str, why: str) -> Row:
    return Row(scenario, contender, why, 0, 0, 0.0, None, 0, 0, None, None, 0.0, 0, note=why)


def onpipeline_config(sb: SandboxHandle, per_minute: int) -> dict[str, Any]:
    return {
        "provider": "onpipeline",
        "api_token": sb.api_token,
        "api_url": sb.onpipeline_url,
        "timezone": sb.settings()["timezone"],
        "onpipeline_requests_per_minute": per_minute,
    }


def onpipeline_persons(sizes: Sizes, work: Path) -> list[Row]:
    n = sizes.op_persons
    print(f"Onpipeline persons of a {n:,}-deal account, unpaced", flush=True)
    with running_sandbox(in_process=False, size=n) as sb:
        persons = len(sb.control("GET", "/onpipeline/ids/persons")["ids"])
        with folders(work, "op_persons") as made:
            path = write(made["op_persons"], "config.json", onpipeline_config(sb, 0))
            catalog = discover([str(BIN / "tap-crm")], path)
            write(made["op_persons"], "catalog.json", selecting(catalog, {"persons"}))
        runs = interleaved(
            sb, [tap_crm(max(1, sizes.runs - 1))], {"tap-crm": made["op_persons"]}, pause=0
        )
    return [
        summarize(
            f"Onpipeline persons {persons:,}, unpaced",
            "tap-crm",
            "",
            runs["tap-crm"],
            None,
            with_tokens=False,
        )
    ]


def onpipeline_small_account(sizes: Sizes, work: Path) -> list[Row]:
    """Every stream but ``invoice_items``: those cost one request per invoice whatever the tap
    does (the API has no bulk form), 200 at this size, so they would only add 3 1/3 minutes of
    pacing to what the row shows: how many requests the windowed lists spend."""
    n, per_minute = sizes.op_small, 60
    print(f"Onpipeline full sync of a {n:,}-deal account at {per_minute}/min", flush=True)
    with running_sandbox(in_process=False, size=n) as sb:
        with folders(work, "op_small") as made:
            path = write(made["op_small"], "config.json", onpipeline_config(sb, per_minute))
            catalog = discover([str(BIN / "tap-crm")], path)
            streams = {e["tap_stream_id"] for e in catalog["streams"]} - {"invoice_items"}
            write(made["op_small"], "catalog.json", selecting(catalog, streams))
        # the limit from now on: discovery's requests do not count in the measured run's minute
        sb.configure(onpipeline_rate_limit=per_minute)
        runs = interleaved(sb, [tap_crm(1)], {"tap-crm": made["op_small"]}, pause=0)
    row = summarize(
        f"Onpipeline {n:,}-deal account, {per_minute}/min",
        "tap-crm",
        "",
        runs["tap-crm"],
        None,
        with_tokens=False,
        note=f"{len(streams)} streams",
    )
    # one request per stream: a window as wide as the account
    return [floored(row, per_minute, ONPIPELINE_WINDOW_S, 0.0, fewest=len(streams))]


def persons_input(n: int, prefix: str, name: str) -> bytes:
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
                "customer_id": f"{prefix}{i}",
                "name": f"{name} {i}",
                "email": f"{prefix}{i}@bench.test",
            },
        }
        for i in range(n)
    ]
    lines.append({"type": "STATE", "value": {"loaded": n}})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def target_writes(sizes: Sizes, work: Path) -> list[Row]:
    n, latency, per_2s = sizes.target, 100.0, 40
    print(
        f"target-crm {n:,} creates then {n:,} updates by email at {latency:.0f} ms, "
        f"{per_2s} per 2 s",
        flush=True,
    )
    with running_sandbox(in_process=False, size=10, daily_budget=BUDGET) as sb:
        existing = len(sb.control("GET", "/pipedrive/ids/persons")["ids"])
        with folders(work, "target") as made:
            config = {
                "provider": "pipedrive",
                "api_url": sb.pipedrive_url,
                "api_token": sb.api_token,
                "match_keys": {"persons": "email"},
            }
            write(made["target"], "config.json", config)
        command = [str(BIN / "target-crm"), "--config", str(made["target"] / "config.json")]
        sb.configure(latency_ms=latency, burst_limit=per_2s)
        rows = []
        for kind, name in (("creates", "Bench Person"), ("updates", "Renamed Person")):
            # the same customers both times: the second load finds each by its email
            target = Contender(
                "target-crm",
                lambda _f: command,
                1,
                stdin=lambda _r, name=name: persons_input(n, "c", name),
                work_records=n,
            )
            runs = interleaved(
                sb, [target], {"target-crm": made["target"]}, pause=BURST_WINDOW_S + 0.5
            )
            listed = existing + (n if kind == "updates" else 0)
            row = summarize(
                f"target {n:,} {kind}, {latency:.0f} ms, {per_2s}/2 s",
                "target-crm",
                "",
                runs["target-crm"],
                None,
                with_tokens=True,
            )
            # one write per record plus the match-key listing, 500 per page
            rows.append(floored(row, per_2s, BURST_WINDOW_S, latency, fewest=n + pages(listed)))
    return rows


def memory(sizes: Sizes, work: Path, baseline: list[Row]) -> list[Row]:
    n = sizes.memory_big
    print(f"deals {n:,}: tap-crm's peak memory", flush=True)
    with running_sandbox(in_process=False, size=n, daily_budget=BUDGET) as sb:
        with folders(work, "memory") as made:
            config = {
                **TAP_CRM_DEALS,
                "api_url": sb.pipedrive_url,
                "api_token": sb.api_token,
            }
            path = write(made["memory"], "config.json", config)
            catalog = discover([str(BIN / "tap-crm")], path)
            write(made["memory"], "catalog.json", selecting(catalog, {"deals"}))
        runs = interleaved(sb, [tap_crm(1)], {"tap-crm": made["memory"]}, pause=0)
    row = summarize(f"deals {n:,} memory", "tap-crm", "", runs["tap-crm"], None, with_tokens=True)
    small = next((r for r in baseline if r.contender == "tap-crm"), None)
    if small and small.peak_rss_mb:
        row.note = (
            f"peak {row.peak_rss_mb / small.peak_rss_mb:.2f}x the peak at {small.records:,} records"
        )
    return [row]


SCENARIOS = (
    "deals-cpu",
    "deals-limited",
    "followers",
    "op-persons",
    "op-small",
    "target",
    "memory",
)


def ratios(rows: list[Row]) -> list[str]:
    """The targets' ratios, measured in this run."""
    lines = []
    by = {(r.scenario, r.contender): r for r in rows}
    for r in rows:
        if r.contender == "tap-crm" and r.scenario.endswith("CPU-bound"):
            for peer in ("sdk-default-tap", "singer-io 2.1.0"):
                other = by.get((r.scenario, peer))
                if other and other.cpu_us_per_record and r.cpu_us_per_record:
                    lines.append(
                        f"{r.scenario}: tap-crm CPU per record "
                        f"{r.cpu_us_per_record / other.cpu_us_per_record:.2f}x {peer}'s"
                    )
        if r.contender == "tap-crm" and r.tokens is not None:
            other = by.get((r.scenario, "singer-io 2.1.0"))
            if other and other.tokens and r.tokens and other.records and r.records:
                lines.append(
                    f"{r.scenario}: tokens per record tap-crm "
                    f"{r.tokens / r.records:.3f}, singer-io {other.tokens / other.records:.3f}"
                )
        if r.floor and r.wall and r.exit == 0 and r.contender in ("tap-crm", "target-crm"):
            share = r.too_many / r.requests * 100 if r.requests else 0.0
            lines.append(
                f"{r.scenario}: {r.contender} wall {r.wall / r.floor:.2f}x the floor, "
                f"{share:.1f}% of requests answered 429"
            )
        if r.note and r.runs:
            lines.append(f"{r.scenario} / {r.contender}: {r.note}")
    return lines


def chart(rows: list[Row], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no chart: matplotlib is not installed; `make bench` installs it)")
        return False
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    contenders = list(dict.fromkeys(r.contender for r in rows))
    colours = {
        "tap-crm": "#1f77b4",
        "target-crm": "#1f77b4",
        "sdk-default-tap": "#ff7f0e",
        "singer-io 2.1.0": "#7f7f7f",
    }
    width = 0.8 / max(1, len(contenders))
    fig, ax = plt.subplots(figsize=(11, 5.5))
    labelled: set[str] = set()
    for i, scenario in enumerate(scenarios):
        here = [r for r in rows if r.scenario == scenario and r.runs]
        for j, r in enumerate(here):
            x = i - 0.4 + width * (j + 0.5) * len(contenders) / max(1, len(here))
            bar_w = width * len(contenders) / max(1, len(here)) * 0.9
            label = r.contender if r.contender not in labelled else None
            labelled.add(r.contender)
            ax.bar(x, r.wall, bar_w, color=colours.get(r.contender, "#2ca02c"), label=label)
            if r.floor:
                floor_label = "floor" if "floor" not in labelled else None
                labelled.add("floor")
                ax.hlines(
                    r.floor,
                    x - bar_w / 2,
                    x + bar_w / 2,
                    colors="black",
                    linewidth=2.5,
                    label=floor_label,
                )
    ax.set_yscale("log")
    ax.set_ylabel("wall time, s (log scale)")
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(scenarios, rotation=20, ha="right", fontsize=8)
    ax.set_title("make bench: wall time per scenario (medians), black line = the floor")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def update_docs(rows: list[Row], lines: list[str], header: str) -> None:
    text = DOC.read_text()
    if START not in text or END not in text:
        print(f"(docs not updated: {DOC} has no {START} ... {END} block)")
        return
    block = "\n".join(
        [START, "", header, "", markdown(rows), "", *[f"- {x}" for x in lines], "", END]
    )
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    DOC.write_text(before + block + after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="repeatable")
    parser.add_argument("--runs", type=int, help="interleaved rounds (default 3; quick 1)")
    parser.add_argument("--memory-size", type=int, help="deals of the memory scenario")
    parser.add_argument("--docs", action="store_true", help="write the table and chart to docs/")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.runs:
        sizes.runs = args.runs
    if args.memory_size:
        sizes.memory_big = args.memory_size
    chosen = args.only or list(SCENARIOS)
    if not peers_ready():
        print(f"(singer-io tap-pipedrive is not installed at {PEERS_PYTHON}: `make bench` does it)")
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = RESULTS / "work"
    shutil.rmtree(work, ignore_errors=True)
    rows: list[Row] = []
    cpu_rows: list[Row] = []
    for name in chosen:
        if name == "deals-cpu":
            cpu_rows = deals_cpu(sizes, work)
            rows += cpu_rows
        elif name == "deals-limited":
            rows += deals_rate_limited(sizes, work)
        elif name == "followers":
            rows += followers_rate_limited(sizes, work)
        elif name == "op-persons":
            rows += onpipeline_persons(sizes, work)
        elif name == "op-small":
            rows += onpipeline_small_account(sizes, work)
        elif name == "target":
            rows += target_writes(sizes, work)
        elif name == "memory":
            rows += memory(sizes, work, cpu_rows)
    shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "quick" if args.quick else "full"
    header = (
        f"`make bench{'-quick' if args.quick else ''}` on {when}: {mode} sizes, medians of "
        f"{sizes.runs} interleaved run(s), {elapsed / 60:.1f} min in all, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
    )
    lines = ratios(rows)
    print()
    print(header)
    print(table(rows))
    for line in lines:
        print(line)
    results = {
        "when": when,
        "mode": mode,
        "seconds": round(elapsed, 1),
        "header": header,
        "rows": [r.as_json() for r in rows],
        "ratios": lines,
    }
    (RESULTS / f"results-{mode}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS / f'results-{mode}.json'}")
    if chart(rows, RESULTS / f"chart-{mode}.png"):
        print(f"chart: {RESULTS / f'chart-{mode}.png'}")
        if args.docs:
            shutil.copyfile(RESULTS / f"chart-{mode}.png", DOC_CHART)
    if args.docs:
        update_docs(rows, lines, header)
        print(f"docs: {DOC} and {DOC_CHART}")


if __name__ == "__main__":
    main()
