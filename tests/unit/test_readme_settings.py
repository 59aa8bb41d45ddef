"""The README's settings tables are generated from `--about`: stale tables fail here."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "readme_settings", ROOT / "scripts" / "readme_settings.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_settings = load_script()


@pytest.mark.parametrize("plugin", readme_settings.PLUGINS)
def test_readme_settings_table_matches_about(plugin: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = readme_settings.demote(readme_settings.about_markdown(plugin))
    wanted = readme_settings.render(readme, plugin, body)
    assert wanted == readme, (
        f"README.md's {plugin} settings are stale: run `python scripts/readme_settings.py`"
    )


def test_demote_drops_the_title_and_moves_headings_under_the_readme_section() -> None:
    markdown = "# `tap-crm`\n\nText.\n\n## Settings\n\n```\n# not a heading\n```\n"
    assert readme_settings.demote(markdown) == (
        "Text.\n\n#### Settings\n\n```\n# not a heading\n```\n"
    )


def test_render_replaces_only_between_the_markers() -> None:
    readme = "a\n<!-- about:tap-crm:start -->\nold\n<!-- about:tap-crm:end -->\nb\n"
    assert readme_settings.render(readme, "tap-crm", "new\n") == (
        "a\n<!-- about:tap-crm:start -->\n\nnew\n\n<!-- about:tap-crm:end -->\nb\n"
    )
