"""A wheel built from the repository works on its own: clean venv, `tap-crm --discover`."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.e2e.meltano_project import ROOT

pytestmark = pytest.mark.e2e


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_in_a_clean_venv_and_discovers_every_schema(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    run(sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", ROOT, cwd=ROOT)
    [wheel] = (tmp_path / "dist").glob("crm_singer-*.whl")
    schema_files = sorted(p.relative_to(ROOT / "schemas") for p in ROOT.glob("schemas/*/*.json"))
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
    assert schema_files
    assert {f"tap_crm/schemas/{p.as_posix()}" for p in schema_files} <= packed

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)

    for provider, url in (
        ("pipedrive", sandbox.pipedrive_url),
        ("onpipeline", sandbox.onpipeline_url),
    ):
        config = tmp_path / f"{provider}.json"
        streams: set[str] = set()
        # deal_changelog is offered instead of deal_flow with `deal_history: changelog`
        for extra in ({}, {"deal_history": "changelog"} if provider == "pipedrive" else {}):
            settings = {"provider": provider, "api_url": url, "api_token": sandbox.api_token}
            config.write_text(json.dumps({**settings, **extra}))
            # Run outside the checkout, so nothing can come from the repository's files.
            result = run(venv / "bin" / "tap-crm", "--config", config, "--discover", cwd=tmp_path)
            catalog = json.loads(result.stdout)["streams"]
            streams |= {entry["tap_stream_id"] for entry in catalog}
        expected = {p.stem for p in schema_files if p.parts[0] == provider}
        assert expected <= streams, f"{provider}: missing {sorted(expected - streams)}"

    # The target plans custom-field names around the tap's standard columns, read from the
    # same shipped schemas.
    result = run(
        venv / "bin" / "python",
        "-c",
        "import target_crm.pipedrive as p; print(sorted(p.standard_properties('deals'))[:3])",
        cwd=tmp_path,
    )
    assert "add_time" in result.stdout
