"""docs/reliability.md is generated from the reliability suite's tables and names its tests:
it fails here when it is stale, or when a claim names a test that does not exist."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.reliability.cases import CASES, SURVIVAL

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reliability_docs.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reliability_docs", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_reliability_md_is_current() -> None:
    doc = ROOT / "docs" / "reliability.md"
    assert doc.exists(), "run: python scripts/reliability_docs.py"
    assert doc.read_text(encoding="utf-8") == _script().render(), (
        "docs/reliability.md is stale: run python scripts/reliability_docs.py"
    )


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


@pytest.mark.parametrize("claim", SURVIVAL, ids=lambda c: f"{c['side']}: {c['event']}")
def test_every_claim_names_tests_that_exist(claim: dict[str, str]) -> None:
    names = claim["tests"].split()
    assert names, "a claim without a test proves nothing"
    for name in names:
        file, _, function = name.partition("::")
        path = ROOT / file
        assert path.is_file(), f"{name}: no such file"
        assert function in _test_functions(path), f"{name}: no such test function"


def test_every_case_is_a_test_of_the_bad_input_suite() -> None:
    # the cases are the parameters of this one test function
    suite = ROOT / "tests" / "reliability" / "test_bad_input.py"
    assert "test_bad_input" in _test_functions(suite)
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def test_check_mode_says_when_the_docs_are_stale(tmp_path: Path) -> None:
    module = _script()
    module.DOC = tmp_path / "reliability.md"
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0


def test_the_script_runs_from_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
