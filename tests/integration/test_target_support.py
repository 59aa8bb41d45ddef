"""Helpers for the target-crm tests (no tests here): Singer input, running the target,
reading the sandbox back through its own API."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from crm_sandbox.testing import SandboxHandle
from target_crm.target import TargetCRM

ANY = {}  # a property that accepts any JSON value


def schema_of(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties)}


def loose_schema(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return schema_of({name: ANY for record in records for name in record})


def singer(
    stream: str,
    records: Sequence[Mapping[str, Any]],
    *,
    key_properties: Sequence[str] = (),
    schema: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
) -> str:
    """SCHEMA, RECORDs and (optionally) a STATE of one stream as Singer text."""
    lines = [
        {
            "type": "SCHEMA",
            "stream": stream,
            "schema": schema or loose_schema(records),
            "key_properties": list(key_properties),
        },
        *({"type": "RECORD", "stream": stream, "record": dict(r)} for r in records),
    ]
    if state is not None:
        lines.append({"type": "STATE", "value": dict(state)})
    return "".join(json.dumps(line) + "\n" for line in lines)


def pipedrive_config(sandbox: SandboxHandle, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "pipedrive",
        "api_url": sandbox.pipedrive_url,
        "api_token": sandbox.api_token,
        **extra,
    }


def onpipeline_config(sandbox: SandboxHandle, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "onpipeline",
        "api_url": sandbox.onpipeline_url,
        "api_token": sandbox.api_token,
        "onpipeline_requests_per_minute": 0,
        **extra,
    }


def run_target(config: Mapping[str, Any], text: str) -> tuple[list[dict[str, Any]], TargetCRM]:
    """Run the target in-process; return the STATE values it wrote to stdout, and the target."""
    target = TargetCRM(config=dict(config))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target.listen(io.StringIO(text))
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return states, target


def counts(target: TargetCRM, stream: str) -> dict[str, int]:
    return target.run.report.counts().get(
        stream, {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    )


def run_cli(
    config: Mapping[str, Any], text: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Run the ``target-crm`` console script as a user would."""
    config_path = tmp_path / "target-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [str(Path(sys.executable).with_name("target-crm")), "--config", str(config_path)],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# --- reading the sandbox back through the APIs ----------------------------------------


def pd_get(sandbox: SandboxHandle, path: str, **params: Any) -> Any:
    response = requests.get(
        sandbox.pipedrive_url + path,
        params=params,
        headers={"x-api-token": sandbox.api_token},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def pd_all(sandbox: SandboxHandle, entity: str) -> list[dict[str, Any]]:
    """Every live record of a v2 entity."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        body = pd_get(sandbox, f"/api/v2/{entity}", **params)
        items += body["data"]
        cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return [i for i in items if not i.get("is_deleted")]
        params["cursor"] = cursor


def pd_notes(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    return pd_get(sandbox, "/v1/notes", limit=500)["data"] or []


def pd_custom_key(sandbox: SandboxHandle, fields_path: str, label: str) -> str:
    for item in pd_get(sandbox, f"/api/v2/{fields_path}")["data"]:
        if item.get("field_name") == label:
            return str(item["field_code"])
    raise AssertionError(f"no custom field {label}")


def op_call(sandbox: SandboxHandle, resource: str, payload: Mapping[str, Any] | None = None) -> Any:
    response = requests.post(
        f"{sandbox.onpipeline_url}/{resource}",
        json=dict(payload or {}),
        headers={"Authorization": sandbox.api_token},
        timeout=60,
    )
    response.raise_for_status()
    return response.json().get("Data")


def writes(sandbox: SandboxHandle) -> int:
    return int(sandbox.counters()["events"].get("writes", 0))
