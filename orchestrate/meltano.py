"""One account's `meltano run`: the command, its environment, and what its ending means.

Meltano's own pattern for many pipelines on one plugin: the account's settings in the
environment (TAP_CRM_*) and `--state-id-suffix=<account>`, so each account keeps its own state
(`<environment>:tap-crm-to-target-postgres:<account>`) in the one state backend every worker
shares (MELTANO_DATABASE_URI=postgresql+psycopg://..., or MELTANO_STATE_BACKEND_URI).
"""

from __future__ import annotations

import enum
import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrate.accounts import Account

# tap_crm.tap.EXIT_STOPPED_AT_CAP: stopped at the run's token cap with a resumable state.
# Not imported: the code location runs Meltano, it does not load the tap (own environment).
EXIT_STOPPED_AT_CAP = 3
# Variables of the orchestrator's own environment that must not leak into another account's run.
ACCOUNT_SCOPED_PREFIXES = ("TAP_CRM_", "TAP_CRM__")


class Outcome(enum.Enum):
    COMPLETE = "complete"
    # docs/costs.md "Exit status 3": not a failure, run again later (next slot) to continue.
    STOPPED_AT_CAP = "stopped_at_cap"
    FAILED = "failed"


@dataclass
class MeltanoRun:
    command: list[str]
    returncode: int
    outcome: Outcome
    exit_codes: dict[str, int] = field(default_factory=dict)
    last_errors: list[str] = field(default_factory=list)


def meltano_command(meltano: str, account: Account, job: str, *, force: bool) -> list[str]:
    command = [meltano, "--log-format=json", "run", f"--state-id-suffix={account.name}"]
    if force:
        # Dagster keeps one run per account (the run-queue rule); a worker that was killed leaves
        # Meltano's job row "running" for 5 minutes, which would refuse the re-run meanwhile.
        command.append("--force")
    return [*command, job]


def account_env(
    account: Account, environ: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The run's environment: the worker's, less other accounts' settings, plus this account's."""
    env = {k: v for k, v in environ.items() if not k.startswith(ACCOUNT_SCOPED_PREFIXES)}
    env.update(account.tap_env(environ))
    # Each account's tables in its own schema; TAP_CRM__LOAD_SCHEMA is the extractor's
    # load_schema extra, which the loaders' default_target_schema follows.
    env["TAP_CRM__LOAD_SCHEMA"] = account.load_schema
    env["TAP_CRM__DEAL_HISTORY__LOAD_SCHEMA"] = account.load_schema
    env.update(extra or {})
    return env


def _block_exit_codes(line: str) -> dict[str, int] | None:
    """Meltano's `Block run completed` event of a failed block: which plugin ended with what."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") != "Block run completed":
        return None
    if event.get("success", True):
        return {}
    codes = event.get("exit_codes") or {}
    found: dict[str, int] = {}
    for plugin_type, code in dict(codes).items():
        # rendered "extractors" or "PluginType.EXTRACTORS", depending on the renderer
        found[str(plugin_type).rsplit(".", 1)[-1].lower()] = int(code)
    return found


def outcome_of(returncode: int, exit_codes: Mapping[str, int]) -> Outcome:
    if returncode == 0:
        return Outcome.COMPLETE
    if exit_codes.get("extractors") == EXIT_STOPPED_AT_CAP and not exit_codes.get("loaders"):
        return Outcome.STOPPED_AT_CAP
    return Outcome.FAILED


def _worth_logging(line: str) -> bool:
    """Warnings, errors and Meltano's block/run summaries; the rest stays in the tail."""
    return any(
        marker in line
        for marker in ('"level": "warning"', '"level": "error"', '"Block run completed"', '"Run ')
    ) or not line.startswith("{")


def run_meltano(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Callable[[str], None],
    timeout: float | None = None,
) -> MeltanoRun:
    """Run Meltano in its own process group, pass its notable lines to `log`, read its ending.

    Its own group: when the Dagster run is cancelled or fails, the tap and the target go with
    Meltano instead of writing on as orphans next to the run that replaces them.
    """
    exit_codes: dict[str, int] = {}
    errors: list[str] = []
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.rstrip("\n")
                if _worth_logging(line):
                    log(line)
                codes = _block_exit_codes(line)
                if codes:
                    exit_codes.update(codes)
                if '"level": "error"' in line:
                    errors = [*errors[-9:], line]
            returncode = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                _stop_group(process)
    return MeltanoRun(
        list(command), returncode, outcome_of(returncode, exit_codes), exit_codes, errors
    )


def _stop_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
