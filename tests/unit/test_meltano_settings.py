"""meltano.yml declares every setting of tap-crm and target-crm as `--about` describes it."""

from __future__ import annotations

import importlib.util
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


def test_provider_instances_inherit_and_pick_their_provider() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    for base in meltano_settings.PLUGINS:
        for provider in ("pipedrive", "onpipeline"):
            instance = plugin(project, f"{base}--{provider}")
            assert instance["inherit_from"] == base
            assert instance["config"]["provider"] == provider
