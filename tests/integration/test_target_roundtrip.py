"""Round trip: tap-crm reads one sandbox's people, target-crm writes them into a second, empty
sandbox, and both accounts then hold the same people (linked to the same organizations).

Both programs run as a user runs them: the console scripts, piped together.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle
from tests.integration.test_target_support import pd_all, pipedrive_config, writes

STREAMS = ("persons", "organizations")


def _script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _catalog(tap_config: Path, tmp_path: Path) -> Path:
    """The tap's catalog with only ``STREAMS`` selected."""
    found = subprocess.run(
        [_script("tap-crm"), "--config", str(tap_config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    catalog = json.loads(found.stdout)
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] in STREAMS
        for entry in stream.get("metadata", []):
            if not entry.get("breadcrumb"):
                entry["metadata"]["selected"] = chosen
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog), encoding="utf-8")
    return path


def _people(sandbox: SandboxHandle) -> Counter[tuple[Any, ...]]:
    """Each person as what a user compares: name, emails, phones and organization name."""
    orgs = {o["id"]: o["name"] for o in pd_all(sandbox, "organizations")}
    return Counter(
        (
            p["name"],
            tuple(sorted(e["value"] for e in p.get("emails") or [])),
            tuple(sorted(ph["value"] for ph in p.get("phones") or [])),
            orgs.get(p.get("org_id")),
        )
        for p in pd_all(sandbox, "persons")
    )


def test_tap_to_target_copies_the_people_into_an_empty_account(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    second_sandbox.reset(size=0)
    assert pd_all(second_sandbox, "persons") == []
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(
        json.dumps(
            {
                "provider": "pipedrive",
                "api_url": sandbox.pipedrive_url,
                "api_token": sandbox.api_token,
            }
        ),
        encoding="utf-8",
    )
    target_config = tmp_path / "target.json"
    target_config.write_text(
        json.dumps(
            pipedrive_config(
                second_sandbox,
                record_ids="source",  # the ids are the first account's
                id_map_path=str(tmp_path / "ids.sqlite"),
                rejected_records_path=str(tmp_path / "rejected.jsonl"),
            )
        ),
        encoding="utf-8",
    )
    catalog = _catalog(tap_config, tmp_path)

    def load() -> subprocess.CompletedProcess[str]:
        tap = subprocess.Popen(
            [_script("tap-crm"), "--config", str(tap_config), "--catalog", str(catalog)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        target = subprocess.run(
            [_script("target-crm"), "--config", str(target_config)],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert tap.stdout is not None
        tap.stdout.close()
        assert tap.wait(timeout=60) == 0
        return target

    result = load()
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "rejected.jsonl").exists()
    source = _people(sandbox)
    assert sum(source.values()) > 0
    assert _people(second_sandbox) == source

    # a second run of the same pipeline changes nothing in the second account
    before = writes(second_sandbox)
    again = load()
    assert again.returncode == 0, again.stderr[-2000:]
    assert writes(second_sandbox) == before, again.stderr[-1500:]
    assert _people(second_sandbox) == source
