"""`--version` names the installed distribution's version (the SDK looks the plugin's name up,
and tap-crm/target-crm are console scripts of the crm-singer distribution)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest


@pytest.mark.parametrize("module", ["tap_crm.tap", "target_crm.target"])
def test_version_reports_the_package_version(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"v{metadata.version('crm-singer')}," in done.stdout
    assert "could not be detected" not in done.stdout + done.stderr
