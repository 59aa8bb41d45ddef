"""Every setting a component reads is one it declares (so `--about`, the README tables and
meltano.yml list it), and the settings tap and target share are declared once.

The reads are found in the source: ``config.get("name")``, ``config["name"]`` and the same on
``self.config``, ``self._config``, ``self.account.config`` ... (any expression whose last name
is ``config`` or ``_config``), in every module of the component and in the ``crm_api`` modules
both components hand their config to.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from crm_api import settings as shared
from crm_api.cli import unknown_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG_NAMES = {"config", "_config"}
PLUGIN_PACKAGES = {"tap-crm": "tap_crm", "target-crm": "target_crm"}

# A read the finder attributes to a component that the component never makes, with why.
NOT_READ = {
    ("target-crm", "timezone"): "OnpipelineClient.from_config reads it only when called with "
    "a timezone_setting; the target passes timezone_setting=None",
}


def _is_config(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in CONFIG_NAMES
    return isinstance(node, ast.Attribute) and node.attr in CONFIG_NAMES


def constants(tree: ast.Module) -> dict[str, str]:
    """The module's ``NAME = "text"`` constants (a setting name may be read through one)."""
    found = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.targets[0].id] = node.value.value
    return found


def config_reads(node: ast.AST, names: dict[str, str] | None = None) -> set[str]:
    """The setting names ``node`` reads from a config mapping by a literal key (or by one of
    ``names``, the module's constants)."""
    found = set()
    for child in ast.walk(node):
        key: ast.expr | None = None
        if isinstance(child, ast.Subscript) and _is_config(child.value):
            key = child.slice
        elif (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and child.func.attr == "get"
            and _is_config(child.func.value)
            and child.args
        ):
            key = child.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
        elif isinstance(key, ast.Name) and key.id in (names or {}):
            found.add((names or {})[key.id])
    return found


def calls(node: ast.AST, owner: str | None = None) -> set[str]:
    """What ``node`` calls, as ``function`` or ``Class.method`` (``self``/``cls`` inside class
    ``owner`` stand for it), for following config into crm_api."""
    found = set()
    for child in ast.walk(node):
        if not isinstance(child, ast.Call):
            continue
        func = child.func
        if isinstance(func, ast.Name):
            found.add(func.id)
        elif isinstance(func, ast.Attribute):
            found.add(func.attr)  # module.function (e.g. api.connect_from_config)
            holder = func.value
            name = holder.id if isinstance(holder, ast.Name) else getattr(holder, "attr", None)
            if name in ("self", "cls") and owner:
                name = owner
            if name:
                found.add(f"{name}.{func.attr}")
    return found


@cache
def crm_api_functions() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """``function`` / ``Class.method`` of crm_api -> (settings it reads, what it calls)."""
    index: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for path in sorted((ROOT / "crm_api").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = constants(tree)
        for node in tree.body:
            members: list[tuple[ast.FunctionDef, str | None]] = (
                [(node, None)] if isinstance(node, ast.FunctionDef) else []
            )
            if isinstance(node, ast.ClassDef):
                members = [(m, node.name) for m in node.body if isinstance(m, ast.FunctionDef)]
            for function, owner in members:
                key = f"{owner}.{function.name}" if owner else function.name
                index[key] = (
                    frozenset(config_reads(function, names)),
                    frozenset(calls(function, owner)),
                )
    return index


def reads_through_crm_api(called: set[str]) -> dict[str, set[str]]:
    """Setting name -> the crm_api functions (reached from ``called``) that read it."""
    index = crm_api_functions()
    found: dict[str, set[str]] = {}
    seen: set[str] = set()
    todo = [name for name in called if name in index]
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        reads, further = index[key]
        for name in reads:
            found.setdefault(name, set()).add(f"crm_api {key}")
        todo += [name for name in further if name in index]
    return found


def reads_in(package: str) -> dict[str, set[str]]:
    """Setting name -> where ``package`` reads it: its own files, and the crm_api functions
    it calls with its config."""
    found: dict[str, set[str]] = {}
    called: set[str] = set()
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in config_reads(tree, constants(tree)):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
        called |= calls(tree)
    for name, where in reads_through_crm_api(called).items():
        found.setdefault(name, set()).update(where)
    return found


@cache
def about_properties(plugin: str) -> str:
    """``plugin --about``'s settings, as JSON text (cached: one process a plugin)."""
    executable = Path(sys.executable).parent / plugin
    result = subprocess.run(
        [str(executable), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.dumps(json.loads(result.stdout)["settings"]["properties"], sort_keys=True)


def about_settings(plugin: str) -> frozenset[str]:
    return frozenset(json.loads(about_properties(plugin)))


def test_the_finder_sees_every_way_the_code_reads_a_setting() -> None:
    source = (
        "a = config.get('one')\n"
        "b = self.config['two']\n"
        "c = self.account.config.get('three', True)\n"
        "d = self._config.get('four') or 6\n"
        "e = other.get('not_config')\n"
        "f = config.get(name)\n"
    )
    assert config_reads(ast.parse(source)) == {"one", "two", "three", "four"}


def test_the_finder_follows_config_into_the_crm_api_functions_a_component_calls() -> None:
    reads = reads_through_crm_api({"PipedriveClient.from_config"})
    assert {"oauth_url", "max_request_tries", "request_timeout"} <= set(reads)
    onpipeline = reads_through_crm_api({"OnpipelineClient.from_config"})
    assert "onpipeline_requests_per_minute" in onpipeline


@pytest.mark.parametrize("plugin", sorted(PLUGIN_PACKAGES))
def test_every_setting_a_component_reads_is_in_its_about(plugin: str) -> None:
    reads = reads_in(PLUGIN_PACKAGES[plugin])
    assert reads, f"no config reads found in {PLUGIN_PACKAGES[plugin]}: the finder is broken"
    undeclared = {
        name: sorted(files)
        for name, files in reads.items()
        if name not in about_settings(plugin) and (plugin, name) not in NOT_READ
    }
    assert not undeclared, f"{plugin} reads settings it does not declare: {undeclared}"


def test_every_exception_is_still_needed() -> None:
    for plugin, name in NOT_READ:
        assert name in reads_in(PLUGIN_PACKAGES[plugin]), (plugin, name)
        assert name not in about_settings(plugin), (plugin, name)


def test_a_shared_setting_is_described_the_same_where_the_wording_need_not_differ() -> None:
    for name in ("api_token", "api_url", "oauth_url", "max_requests_per_2s"):
        described = [json.loads(about_properties(plugin))[name] for plugin in PLUGIN_PACKAGES]
        assert described[0] == described[1], name


def test_both_components_call_an_onpipeline_rate_by_its_provider_specific_name() -> None:
    for plugin in PLUGIN_PACKAGES:
        assert "onpipeline_requests_per_minute" in about_settings(plugin)
        assert "requests_per_minute" not in about_settings(plugin)


def target_config(**settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config a TargetCRM holds (the SDK writes the declared defaults into it) and its
    schema."""
    from target_crm.target import TargetCRM

    target = TargetCRM(config={"provider": "onpipeline", "api_token": "t", **settings})
    return dict(target.config), target.config_jsonschema


@pytest.mark.usefixtures("own_signal_handlers")
def test_an_old_setting_name_gets_one_line_naming_the_new_one_and_still_works() -> None:
    config, schema = target_config(requests_per_minute=0)
    lines = unknown_settings("target-crm", config, schema, shared.RENAMED_SETTINGS)
    assert lines == [
        "setting 'requests_per_minute' of target-crm is now called "
        "'onpipeline_requests_per_minute'; its value is used for now: rename it to "
        "onpipeline_requests_per_minute in the config"
    ]
    assert shared.with_renamed_settings(config, schema)["onpipeline_requests_per_minute"] == 0


@pytest.mark.usefixtures("own_signal_handlers")
def test_the_new_name_wins_over_the_old_one_and_the_line_says_so() -> None:
    config, schema = target_config(requests_per_minute=0, onpipeline_requests_per_minute=30)
    (line,) = unknown_settings("target-crm", config, schema, shared.RENAMED_SETTINGS)
    assert "is set too, so requests_per_minute is ignored" in line
    assert shared.with_renamed_settings(config, schema)["onpipeline_requests_per_minute"] == 30


@pytest.mark.usefixtures("own_signal_handlers")
def test_an_old_name_with_a_value_the_new_one_refuses_is_one_line() -> None:
    config, schema = target_config(requests_per_minute="abc")
    assert shared.renamed_setting_problems(config, schema) == [
        "setting requests_per_minute (now called onpipeline_requests_per_minute): 'abc' is not "
        "of type 'integer', 'null'; give onpipeline_requests_per_minute a valid value"
    ]
    config, schema = target_config(requests_per_minute=-1)
    (line,) = shared.renamed_setting_problems(config, schema)
    assert "-1 is less than the minimum of 0" in line
    assert shared.renamed_setting_problems(*target_config(requests_per_minute=0)) == []


def test_the_tap_names_the_new_name_of_a_setting_it_never_had() -> None:
    schema = {"properties": {"onpipeline_requests_per_minute": {"default": 60}}}
    (line,) = unknown_settings("tap-crm", {"requests_per_minute": 0}, schema)
    assert line.endswith("did you mean onpipeline_requests_per_minute?")
