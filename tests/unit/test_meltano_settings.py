"""meltano.yml declares every setting of tap-crm and target-crm as `--about` describes it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "meltano_settings", ROOT / "scripts" / "meltano_settings.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


meltano_settings = load_script()


def plugin(project: dict[str, Any], name: str) -> dict[str, Any]:
    for plugins in project["plugins"].values():
        for found in plugins:
            if found["name"] == name:
                return dict(found)
    raise AssertionError(f"{name} is not in meltano.yml")


@pytest.mark.parametrize("name", meltano_settings.PLUGINS)
def test_meltano_yml_settings_match_about(name: str) -> None:
    current = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    assert meltano_settings.render(current, name) == current, (
        f"meltano.yml's {name} settings are stale: run `python scripts/meltano_settings.py`"
    )


@pytest.mark.parametrize("name", meltano_settings.PLUGINS)
def test_secrets_are_sensitive_and_every_setting_is_described(name: str) -> None:
    about = meltano_settings.about_json(name)["settings"]["properties"]
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    declared = {s["name"]: s for s in plugin(project, name)["settings"]}
    assert set(declared) == set(about)
    for setting, schema in about.items():
        assert declared[setting].get("sensitive", False) == bool(schema.get("secret")), setting
        assert declared[setting].get("kind") != "password", "kind: password is deprecated"
        assert declared[setting].get("description"), f"{name} {setting} has no description"
        assert declared[setting].get("label"), f"{name} {setting} has no label"


def test_labels_come_from_the_title_or_the_name_in_words() -> None:
    assert meltano_settings.label_of("api_url", {}) == "API URL"
    assert meltano_settings.label_of("oauth_token_file", {}) == "OAuth token file"
    assert meltano_settings.label_of("max_requests_per_2s", {}) == "Max requests per 2 s"
    assert meltano_settings.label_of("stream_maps", {"title": "Stream Maps"}) == "Stream Maps"


def test_regenerating_twice_gives_the_same_bytes_and_touches_only_the_blocks() -> None:
    current = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    once = meltano_settings.regenerate(current)
    assert meltano_settings.regenerate(once) == once
    outside = re.compile(r"# >>> settings of .*?# <<< settings of [\w-]+\n", re.S)
    assert outside.sub("", once) == outside.sub("", current)


@pytest.mark.parametrize("name", meltano_settings.PLUGINS)
def test_settings_groups_are_the_two_ways_to_authenticate(name: str) -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    declared = plugin(project, name)
    names = {s["name"] for s in declared["settings"]}
    groups = declared["settings_group_validation"]
    assert groups == [
        ["provider", "api_token"],
        ["provider", "client_id", "client_secret", "oauth_token_file"],
    ]
    assert {setting for group in groups for setting in group} <= names


@pytest.mark.parametrize("name", meltano_settings.PLUGINS)
def test_capabilities_are_those_of_about_but_structured_logging(name: str) -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    declared = set(plugin(project, name)["capabilities"])
    about = set(meltano_settings.about_json(name)["capabilities"])
    # structured-logging is left out on purpose (meltano.yml says why)
    assert declared == about - {"structured-logging"}
    hub = plugin(project, name)
    for key in ("variant", "repo", "docs", "keywords", "label", "description"):
        assert hub.get(key), f"{name} has no {key}"


def test_provider_instances_inherit_and_pick_their_provider() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    for base in meltano_settings.PLUGINS:
        for provider in ("pipedrive", "onpipeline"):
            instance = plugin(project, f"{base}--{provider}")
            assert instance["inherit_from"] == base
            assert instance["config"]["provider"] == provider


def test_meltano_yml_references_only_variables_that_env_example_defines() -> None:
    # Strict environment-variable mode fails on a reference to an undefined variable: a .env
    # copied from .env.example defines every one (empty = setting unset).
    text = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    referenced = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)\}?", text))
    referenced = {name for name in referenced if not name.startswith("MELTANO_")}
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    assert referenced <= defined, sorted(referenced - defined)
