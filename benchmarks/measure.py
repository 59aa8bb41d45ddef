"""What `make bench` measures and how it prints it: one process run, floors, medians, the table.

No HTTP and no sandbox here (benchmarks/bench.py drives those), so the arithmetic and the
formatting are unit-tested (tests/unit/test_bench_measure.py).
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

PAGE = 500  # records per list page (Pipedrive's and tap-crm's maximum)


@dataclass
class Run:
    """One measured process: what its stdout carried and what the kernel says it used."""

    records: int
    wall: float  # seconds, process start to exit
    cpu: float  # seconds of user + system CPU of the process (and children it waited for)
    peak_rss_mb: float  # ru_maxrss of the process
    exit: int
    stderr_tail: str = ""
    requests: int = 0  # from the sandbox's counters, filled in by the caller
    too_many: int = 0  # 429 answers
    tokens: int = 0  # Pipedrive daily-budget tokens the sandbox charged


def run_process(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> Run:
    """Run ``command``, count the RECORD lines of its stdout, and read its own rusage.

    ``os.wait4`` gives the rusage of exactly this child (CPU and peak RSS), not of the sandbox
    or of other children, and not of this script.
    """
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as given:
        if stdin is not None:
            given.write(stdin)
            given.seek(0)
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdin=given if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=dict(env) if env is not None else None,
        )
        assert process.stdout is not None
        records = 0
        for line in process.stdout:
            if b'"RECORD"' in line[:40]:
                records += 1
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode("utf-8", "replace")[-1500:] if process.returncode else ""
    return Run(
        records=records,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        exit=process.returncode,
        stderr_tail=tail,
    )


def pages(records: int, page: int = PAGE) -> int:
    """List requests needed for ``records`` (an empty list still takes one request)."""
    return max(1, math.ceil(records / page))


def rate_floor(requests: int, per_window: int, window_s: float) -> float:
    """Seconds a limit of ``per_window`` requests per rolling ``window_s`` allows ``requests``
    in: at its steady rate, requests / (per_window / window_s). Requests that all fit in one
    window are not held back by the limit at all (0: then only latency is a floor)."""
    if per_window <= 0 or requests <= per_window:
        return 0.0
    return requests / (per_window / window_s)


def latency_floor(chained: int, latency_ms: float) -> float:
    """Seconds ``chained`` requests that must follow one another take at ``latency_ms`` each."""
    return chained * latency_ms / 1000


@dataclass
class Row:
    """One scenario x one contender: medians of its runs."""

    scenario: str
    contender: str
    work: str
    runs: int
    records: int
    wall: float
    floor: float | None
    requests: int
    too_many: int
    tokens: int | None
    cpu_us_per_record: float | None
    peak_rss_mb: float
    exit: int
    walls: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def floor_over_wall(self) -> float | None:
        if not self.floor or not self.wall:
            return None
        return self.floor / self.wall

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["floor_over_wall"] = self.floor_over_wall
        return data


def summarize(
    scenario: str,
    contender: str,
    work: str,
    runs: Sequence[Run],
    floor: float | None,
    *,
    with_tokens: bool,
    note: str = "",
) -> Row:
    """The medians of interleaved runs (a noisy shared machine: medians, not means or best)."""
    ok = [r for r in runs if r.exit == 0] or list(runs)
    records = int(statistics.median(r.records for r in ok))
    cpu = statistics.median(r.cpu for r in ok)
    return Row(
        scenario=scenario,
        contender=contender,
        work=work or f"{records:,} records",
        runs=len(runs),
        records=records,
        wall=statistics.median(r.wall for r in ok),
        floor=floor,
        requests=int(statistics.median(r.requests for r in ok)),
        too_many=int(statistics.median(r.too_many for r in ok)),
        tokens=int(statistics.median(r.tokens for r in ok)) if with_tokens else None,
        cpu_us_per_record=cpu / records * 1e6 if records else None,
        peak_rss_mb=statistics.median(r.peak_rss_mb for r in ok),
        exit=max(r.exit for r in runs),
        walls=[round(r.wall, 2) for r in runs],
        note=note,
    )


COLUMNS = (
    ("scenario", 30),
    ("process", 16),
    ("work", 16),
    ("wall s", 8),
    ("floor s", 8),
    ("floor/wall", 10),
    ("requests", 9),
    ("429s", 5),
    ("tokens", 8),
    ("CPU µs/rec", 10),
    ("peak MB", 8),
)


def _cell(value: float | int | str | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def cells(row: Row) -> list[str]:
    if not row.runs:  # a process that cannot do this scenario: its reason, no figures
        return [row.scenario, row.contender, row.work] + ["n/a"] * (len(COLUMNS) - 3)
    process = row.contender if row.exit == 0 else f"{row.contender} (exit {row.exit})"
    return [
        row.scenario,
        process,
        row.work,
        _cell(row.wall),
        _cell(row.floor),
        _cell(row.floor_over_wall, 2),
        _cell(row.requests),
        _cell(row.too_many),
        _cell(row.tokens),
        _cell(row.cpu_us_per_record, 0),
        _cell(row.peak_rss_mb, 0),
    ]


def table(rows: Sequence[Row]) -> str:
    """The table as printed: fixed-width text, one line per scenario and process."""
    head = [name for name, _ in COLUMNS]
    body = [cells(row) for row in rows]
    widths = [max(len(c[i]) for c in [head, *body]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown(rows: Sequence[Row]) -> str:
    """The same table in Markdown, for docs/performance.md."""
    head = [name for name, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator
