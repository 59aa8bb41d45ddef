"""The Meltano commands users reach for: invoke --discover, config print, logs and metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.e2e.meltano_project import ROOT, MeltanoProject

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("provider", ["pipedrive", "onpipeline"])
def test_invoke_discover_lists_a_stream_for_every_schema(
    provider: str, meltano: MeltanoProject
) -> None:
    result = meltano.run("invoke", f"tap-crm--{provider}", "--discover")
    catalog = json.loads(result.stdout)
    streams = {entry["tap_stream_id"] for entry in catalog["streams"]}
    schemas = {path.stem for path in (ROOT / "schemas" / provider).glob("*.json")}
    assert schemas, f"no schemas under schemas/{provider}"
    # deal_changelog replaces deal_flow only with `deal_history: changelog` (never both)
    by_default = schemas - {"deal_changelog"} if provider == "pipedrive" else schemas
    assert by_default <= streams
    assert {"deals", "persons", "organizations"} <= streams


def test_config_print_shows_the_instance_settings_and_hides_the_token(
    meltano: MeltanoProject, sandbox: SandboxHandle
) -> None:
    result = meltano.run("config", "print", "tap-crm--pipedrive", "--format=json")
    config = json.loads(result.stdout)
    assert config["provider"] == "pipedrive"
    assert config["api_url"] == sandbox.pipedrive_url
    assert config["api_token"] != sandbox.api_token
    assert sandbox.api_token not in result.stdout + result.stderr


def test_metrics_name_their_stream_and_log_level_is_respected(
    meltano: MeltanoProject, sandbox: SandboxHandle
) -> None:
    jsonl = Path(meltano.env["TARGET_JSONL_DESTINATION_PATH"])
    result = meltano.run("run", "tap-crm--onpipeline", "target-jsonl")
    counted: dict[str, int] = {}
    for line in result.stderr.splitlines():
        found = re.search(r"METRIC: (\{.*\})$", line)
        if found:
            metric = json.loads(found.group(1))
            if metric["metric"] == "record_count":
                stream = metric["tags"]["stream"]
                counted[stream] = counted.get(stream, 0) + metric["value"]
    persons = (jsonl / "persons.jsonl").read_text(encoding="utf-8").splitlines()
    assert (
        counted["persons"]
        == len(persons)
        == sandbox.control("GET", "/onpipeline/summary")["counts"]["persons"]
    )
    assert sandbox.api_token not in result.stderr

    quiet = meltano.run(
        "--log-level=warning", "run", "--full-refresh", "tap-crm--onpipeline", "target-jsonl"
    )
    assert "[info" not in quiet.stderr
    assert "METRIC" not in quiet.stderr
    assert (jsonl / "persons.jsonl").exists()


@pytest.mark.parametrize("provider", ["pipedrive", "onpipeline"])
def test_a_refused_token_ends_in_a_clear_message_without_traceback(
    provider: str, meltano: MeltanoProject
) -> None:
    result = meltano.run(
        "run",
        f"tap-crm--{provider}",
        "target-jsonl",
        env={f"{provider.upper()}_API_TOKEN": "wrong-token"},
        check=False,
    )
    assert result.returncode != 0
    assert "api_token" in result.stderr
    assert "Traceback" not in result.stderr
    assert "wrong-token" not in result.stderr


STRICT = {"MELTANO_FF_STRICT_ENV_VAR_MODE": "true"}


def env_example_variables() -> dict[str, str]:
    """Every variable .env.example defines, empty, as a copied .env with nothing filled in."""
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M)
    return dict.fromkeys(names, "")


@pytest.mark.parametrize("plugin", ["tap-crm", "target-crm"])
def test_strict_env_var_mode_lists_the_base_plugins_with_nothing_defined(
    plugin: str, meltano: MeltanoProject
) -> None:
    # The base plugins reference no variable: they are configured by Meltano's own TAP_CRM_* /
    # TARGET_CRM_* variables, which is how orchestrate/ passes each account's settings.
    project = MeltanoProject(meltano.meltano, meltano.workdir / "strict", {})
    assert not any(k.startswith(("PIPEDRIVE_", "ONPIPELINE_", "CRM_START")) for k in project.env)
    result = project.run("config", "list", plugin, env=STRICT)
    assert "referenced but not set" not in result.stderr
    assert "provider" in result.stdout


@pytest.mark.parametrize(
    "plugin",
    [
        "tap-crm--pipedrive",
        "tap-crm--onpipeline",
        "tap-crm--deal-history",
        "target-crm--pipedrive",
        "target-crm--onpipeline",
    ],
)
def test_strict_env_var_mode_lists_the_instances_with_the_env_example_variables(
    plugin: str, meltano: MeltanoProject
) -> None:
    # The provider instances reference exactly the variables of .env.example (a unit test keeps
    # the two lists equal): defined, even empty, they pass strict mode.
    result = meltano.run("config", "list", plugin, env={**env_example_variables(), **STRICT})
    assert "referenced but not set" not in result.stderr


def test_strict_env_var_mode_meltano_run(meltano: MeltanoProject, sandbox: SandboxHandle) -> None:
    # .env.example's variables: the sandbox's where the test sets them, the rest empty
    defined = {**env_example_variables(), **STRICT}
    defined.update({k: v for k, v in meltano.env.items() if k in defined})
    result = meltano.run("run", "tap-crm--onpipeline", "target-jsonl", env=defined)
    persons = Path(meltano.env["TARGET_JSONL_DESTINATION_PATH"]) / "persons.jsonl"
    summary = sandbox.control("GET", "/onpipeline/summary")["counts"]
    assert len(persons.read_text(encoding="utf-8").splitlines()) == summary["persons"]
    assert "referenced but not set" not in result.stderr
