"""The arithmetic and the table of `make bench` (benchmarks/measure.py); no benchmark runs here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

MEASURE = Path(__file__).resolve().parents[2] / "benchmarks" / "measure.py"


@pytest.fixture(scope="module")
def measure() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_measure", MEASURE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_rate_floor_is_the_requests_over_the_allowed_rate(measure: ModuleType) -> None:
    # the figure: 46 requests at 40 per 2 s take 2.3 s at least
    assert measure.rate_floor(46, 40, 2.0) == pytest.approx(2.3)
    assert measure.rate_floor(2001, 40, 2.0) == pytest.approx(100.05)
    assert measure.rate_floor(120, 60, 60.0) == pytest.approx(120.0)
    assert measure.rate_floor(500, 0, 2.0) == 0.0  # no limit, no rate floor
    # what fits in one rolling window goes at once: the limit holds nothing back
    assert measure.rate_floor(40, 40, 2.0) == 0.0
    assert measure.rate_floor(11, 60, 60.0) == 0.0


def test_pages_and_the_latency_floor(measure: ModuleType) -> None:
    assert [measure.pages(n) for n in (0, 1, 500, 501, 20_000)] == [1, 1, 1, 2, 40]
    assert measure.latency_floor(41, 100.0) == pytest.approx(4.1)


def run(measure: ModuleType, wall: float, records: int = 1000, exit_: int = 0) -> object:
    made = measure.Run(records=records, wall=wall, cpu=wall / 2, peak_rss_mb=80.0, exit=exit_)
    made.requests, made.too_many, made.tokens = 3, 0, 30
    return made


def test_rows_are_medians_of_the_successful_runs(measure: ModuleType) -> None:
    runs = [run(measure, 3.0), run(measure, 1.0), run(measure, 2.0), run(measure, 60.0, 5, 1)]
    row = measure.summarize("s", "tap-crm", "", runs, 1.0, with_tokens=True)
    assert row.wall == 2.0  # the failed run is left out of the medians ...
    assert row.exit == 1  # ... but not hidden
    assert row.runs == 4
    assert row.records == 1000
    assert row.work == "1,000 records"
    assert row.cpu_us_per_record == pytest.approx(1000.0)
    assert row.floor_over_wall == pytest.approx(0.5)
    assert row.as_json()["floor_over_wall"] == pytest.approx(0.5)


def test_the_table_prints_a_dash_where_a_figure_does_not_apply(measure: ModuleType) -> None:
    row = measure.summarize(
        "deals CPU-bound", "tap-crm", "", [run(measure, 2.0)], None, with_tokens=False
    )
    text = measure.table([row])
    head, rule, line = text.splitlines()
    assert head.split()[:2] == ["scenario", "process"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert line.split("  ")[0] == "deals CPU-bound"
    assert line.count("—") == 3  # floor, floor/wall, tokens
    md = measure.markdown([row]).splitlines()
    assert md[0].startswith("| scenario | process | work | wall s")
    assert md[2].count("|") == md[0].count("|")


def test_a_failed_process_says_so_in_its_row(measure: ModuleType) -> None:
    row = measure.summarize(
        "x", "singer-io 2.1.0", "", [run(measure, 2.0, exit_=2)], None, with_tokens=True
    )
    assert "singer-io 2.1.0 (exit 2)" in measure.table([row])


def test_a_process_that_cannot_run_a_scenario_shows_n_a(measure: ModuleType) -> None:
    row = measure.Row("followers", "singer-io 2.1.0", "no followers stream", 0, 0, 0.0, None,
                      0, 0, None, None, 0.0, 0)  # fmt: skip
    line = measure.table([row]).splitlines()[2]
    assert "no followers stream" in line
    assert line.split().count("n/a") == 8
