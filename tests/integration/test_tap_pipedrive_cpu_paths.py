"""What issue 12's CPU and request work must not change: the tap's output parses as the same
Singer messages as with the SDK's default writer, and a sync with a catalog reads custom-field
definitions only for the streams it syncs (discovery still reads every entity's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from crm_sandbox.testing import SandboxHandle
from tests.integration.test_tap_pipedrive import catalog_for, pd_config

FIELD_ENDPOINTS = {
    "deals": "pipedrive GET /api/v2/dealFields",
    "persons": "pipedrive GET /api/v2/personFields",
    "organizations": "pipedrive GET /api/v2/organizationFields",
    "activities": "pipedrive GET /api/v2/activityFields",
    "products": "pipedrive GET /api/v2/productFields",
}

# tap-crm with the SDK's default message writer (simplejson, a flush per message).
WITH_SDK_WRITER = """
import sys
from singer_sdk.singerlib.encoding import SimpleSingerWriter
from tap_crm.tap import TapCRM
TapCRM.message_writer_class = SimpleSingerWriter
sys.argv[0] = "tap-crm"
TapCRM.cli()
"""


def tap(tmp: Path, head: list[str], config: dict[str, Any], catalog: Any = None) -> list[str]:
    config_file = tmp / "config.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, *head, "--config", str(config_file)]
    if catalog == "discover":
        command.append("--discover")
    elif catalog is not None:
        catalog_file = tmp / "catalog.json"
        catalog_file.write_text(json.dumps(catalog))
        command += ["--catalog", str(catalog_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def field_reads(sb: SandboxHandle) -> set[str]:
    requests = sb.counters()["requests"]
    return {stream for stream, endpoint in FIELD_ENDPOINTS.items() if requests.get(endpoint)}


def test_a_sync_reads_custom_field_definitions_only_for_the_streams_it_syncs(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox)
    cases = {
        ("deals",): {"deals"},
        ("persons", "pipelines"): {"persons"},
        ("pipelines",): set(),
        ("leads",): {"deals"},  # leads' columns are the deal fields
    }
    for streams, expected in cases.items():
        catalog = catalog_for(config, list(streams))
        sandbox.reset_counters()
        lines = tap(tmp_path, ["-m", "tap_crm.tap"], config, catalog)
        assert field_reads(sandbox) == expected, streams
        assert all(sandbox.counters()["requests"][FIELD_ENDPOINTS[s]] == 1 for s in expected)
        synced = {json.loads(line)["stream"] for line in lines if '"RECORD"' in line[:20]}
        assert synced == set(streams)

    sandbox.reset_counters()
    discovered = json.loads("\n".join(tap(tmp_path, ["-m", "tap_crm.tap"], config, "discover")))
    assert field_reads(sandbox) == set(FIELD_ENDPOINTS)  # discovery describes every stream
    assert all(n == 1 for n in sandbox.counters()["requests"].values())
    assert {e["tap_stream_id"] for e in discovered["streams"]} >= set(FIELD_ENDPOINTS)


def without_clock(value: Any) -> Any:
    """A state without the run's own clock (the SDK's signpost is the time of the run)."""
    if isinstance(value, dict):
        return {
            k: "<now>" if k == "replication_key_signpost" else without_clock(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_clock(v) for v in value]
    return value


def parsed(lines: list[str]) -> dict[str, list[Any]]:
    """The messages a loader reads: every line JSON; records without time_extracted."""
    out: dict[str, list[Any]] = {"SCHEMA": [], "RECORD": [], "STATE": []}
    for line in lines:
        message = json.loads(line)
        if message["type"] == "RECORD":
            assert message.pop("time_extracted")
        if message["type"] == "STATE":
            message = without_clock(message)
        out[message["type"]].append(message)
    return out


def test_records_schemas_and_states_are_those_of_the_sdks_default_writer(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox, page_size=7)  # several pages: several STATE messages
    catalog = catalog_for(config, ["deals", "persons", "organizations", "users"])
    ours = parsed(tap(tmp_path, ["-m", "tap_crm.tap"], config, catalog))
    sdks = parsed(tap(tmp_path, ["-c", WITH_SDK_WRITER], config, catalog))
    assert len(ours["RECORD"]) > 40
    assert len(ours["STATE"]) > 4
    assert ours == sdks
    # custom-field columns and numbers with fractions came through (not only plain fields)
    deals = [m["record"] for m in ours["RECORD"] if m["stream"] == "deals"]
    assert any(isinstance(d.get("value"), float) and d["value"] % 1 for d in deals)
    deal_props = next(m for m in ours["SCHEMA"] if m["stream"] == "deals")["schema"]["properties"]
    custom = [name for name, p in deal_props.items() if "Custom field" in p.get("description", "")]
    assert custom
    assert any(d.get(name) is not None for d in deals for name in custom)
