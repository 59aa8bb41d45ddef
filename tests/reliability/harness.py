"""The reliability suite's one way to run the real commands (``tap-crm``, ``target-crm``) as
subprocesses against crm-sandbox, with recognisable secret values, and to read what they did.

Every run is checked for leaked secrets: stdout, stderr, STATE and every file the run left in
its working folder (rejected records, id maps, logs) are searched for each secret value in
``SECRETS`` and for the token file's refresh token. A leak fails the test that caused it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Recognisable secrets: the reliability sandbox is started with these, so every run carries
# them, and a leak of any of them into output is found by a plain substring search.
SECRET_TOKEN = "tok-SECRET-4f9b27c1e0"
SECRET_CLIENT_ID = "cid-SECRET-77a1"
SECRET_CLIENT_SECRET = "csecret-SECRET-90d3e5"
URL_PASSWORD = "pw-SECRET-5c2e"
SECRETS = (SECRET_TOKEN, SECRET_CLIENT_SECRET, URL_PASSWORD)

TRACEBACK = "Traceback (most recent call last)"
# The SDK's generic line before a stream's error: noise beside the line that says what to do.
UNHANDLED = "An unhandled error occurred"

_TOTALS = {"runs": 0, "files_searched": 0}


@dataclass
class Run:
    """What one command did: its exit status, output lines and Singer messages."""

    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def records(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for m in self.messages:
            if m.get("type") == "RECORD":
                out.setdefault(m["stream"], []).append(m["record"])
        return out

    def ids(self, stream: str, key: str = "id") -> list[Any]:
        return [r[key] for r in self.records.get(stream, [])]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def last_state(self) -> dict[str, Any] | None:
        states = self.states
        return states[-1] if states else None

    def error_lines(self) -> list[str]:
        """stderr lines that are not the SDK's routine INFO/metric chatter."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and " INFO " not in line and "METRIC" not in line
        ]

    def assert_one_clear_line(self, *expected: str) -> str:
        """No traceback, and one stderr line naming every ``expected`` fragment; returns it."""
        assert TRACEBACK not in self.stderr, self.stderr[-4000:]
        assert UNHANDLED not in self.stderr, self.stderr[-4000:]
        for line in reversed(self.stderr.splitlines()):
            if all(fragment.lower() in line.lower() for fragment in expected):
                return line
        raise AssertionError(f"no stderr line names {expected!r}:\n{self.stderr[-4000:]}")


def pd_config(sb: Any, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "pipedrive",
        "api_url": sb.pipedrive_url,
        "api_token": SECRET_TOKEN,
        **extra,
    }


def op_config(sb: Any, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "onpipeline",
        "api_url": sb.onpipeline_url,
        "api_token": SECRET_TOKEN,
        **extra,
    }


def catalog_for(config: Mapping[str, Any], streams: Iterable[str]) -> dict[str, Any]:
    """The tap's discovered catalog with only ``streams`` selected (discovery in-process)."""
    from tap_crm.tap import TapCRM

    wanted = set(streams)
    catalog = TapCRM(config=dict(config)).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def _write(workdir: Path, name: str, payload: Any) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}-{time.monotonic_ns()}.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def tap_command(
    workdir: Path,
    config: Mapping[str, Any] | str,
    *,
    streams: Sequence[str] | None = None,
    catalog: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "tap_crm.tap",
        "--config",
        str(_write(workdir, "config", config)),
    ]
    if streams is not None and catalog is None:
        assert not isinstance(config, str)
        catalog = catalog_for(config, streams)
    if catalog is not None:
        command += ["--catalog", str(_write(workdir, "catalog", catalog))]
    if state is not None:
        command += ["--state", str(_write(workdir, "state", state))]
    return command + list(extra_args)


def target_command(workdir: Path, config: Mapping[str, Any] | str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "target_crm.target",
        "--config",
        str(_write(workdir, "config", config)),
    ]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def run(command: Sequence[str], workdir: Path, *, stdin: str = "", timeout: float = 300) -> Run:
    """Run a command to its end in ``workdir``; the result is checked for leaked secrets."""
    done = subprocess.run(
        list(command),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        env=_environment(),
    )
    return finished(done.returncode, done.stdout, done.stderr, workdir)


def start(
    command: Sequence[str], workdir: Path, *, stdin_file: Path | None = None
) -> subprocess.Popen[str]:
    """Start a command that a test will kill or signal; read it back with ``collect``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as files:  # the child has its own copies; closing ours avoids leaks
        stdin = files.enter_context(stdin_file.open()) if stdin_file else subprocess.DEVNULL
        return subprocess.Popen(
            list(command),
            stdin=stdin,
            stdout=files.enter_context((workdir / "stdout.txt").open("w")),
            stderr=files.enter_context((workdir / "stderr.txt").open("w")),
            text=True,
            cwd=workdir,
            env=_environment(),
        )


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    """Send ``sig`` (SIGKILL, SIGTERM, SIGINT) and wait for the process to end."""
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=timeout)


def collect(process: subprocess.Popen[str], workdir: Path, timeout: float = 300) -> Run:
    """Wait for a ``start``-ed process and read what it wrote (checked for secrets)."""
    code = process.wait(timeout=timeout)
    stdout = (workdir / "stdout.txt").read_text()
    stderr = (workdir / "stderr.txt").read_text()
    return finished(code, stdout, stderr, workdir)


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    """Singer messages of ``stdout``; a torn last line (a killed process) is dropped."""
    messages = []
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages


def finished(code: int, stdout: str, stderr: str, workdir: Path) -> Run:
    result = Run(code, stdout, stderr, workdir, parse_messages(stdout))
    assert_no_secrets(result)
    return result


def secret_values(workdir: Path) -> list[str]:
    """The fixed secrets plus any refresh token a token file in ``workdir`` holds now."""
    values = list(SECRETS)
    for path in workdir.rglob("*token*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            try:
                data = json.loads(text)
            except ValueError:
                data = text.strip()
            token = data.get("refresh_token") if isinstance(data, dict) else data
            if isinstance(token, str) and len(token) >= 8:
                values.append(token)
    return values


def assert_no_secrets(result: Run) -> None:
    """No secret in the run's stdout, stderr or any file it left (but the ones the user named
    for secrets: configs and token files)."""
    values = secret_values(result.workdir)
    places = {"stdout": result.stdout, "stderr": result.stderr}
    for path in result.workdir.rglob("*"):
        if path.is_file() and not _holds_secrets_by_design(path):
            places[str(path)] = path.read_bytes().decode("utf-8", "replace")
            _TOTALS["files_searched"] += 1
    _TOTALS["runs"] += 1
    for where, text in places.items():
        for value in values:
            assert value not in text, f"a secret ({value[:6]}...) leaked into {where}"


def _holds_secrets_by_design(path: Path) -> bool:
    name = path.name
    return name.startswith(("config-", "catalog-")) or "token" in name


def totals() -> dict[str, int]:
    return dict(_TOTALS)


# --- appended for the suite's figures (closing note of issue 10) and shared helpers ----------


def tally(name: str, amount: int = 1) -> None:
    """Add to one of the suite's figures (faults injected, kills, bad inputs ...)."""
    _TOTALS[name] = _TOTALS.get(name, 0) + amount


def tally_sandbox(sb: Any, minus: Mapping[str, int] | None = None) -> dict[str, int]:
    """Add what the sandbox injected since its counters were last reset to the figures
    (5xx faults, dropped connections, 429s, odd bodies), less ``minus`` (what a test's own
    helper client met rather than the commands); returns the amounts added."""
    counters = sb.counters()
    events, statuses = counters["events"], counters["statuses"]
    injected = {
        "faults_5xx": events.get("faults", 0),
        "drops": events.get("drops", 0),
        "responses_429": statuses.get("429", 0),
        "odd_bodies": events.get("odd_bodies", 0),
    }
    for name in injected:
        injected[name] -= (minus or {}).get(name, 0)
    for name, amount in injected.items():
        tally(name, amount)
    return injected


def stream_keys(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each stream of the provider's discovered catalog and its key properties."""
    from tap_crm.tap import TapCRM

    catalog = TapCRM(config=dict(config)).catalog_dict
    return {e["tap_stream_id"]: tuple(e.get("key_properties") or ()) for e in catalog["streams"]}


def keys_of(run: Run, stream: str, key: Sequence[str]) -> list[Any]:
    """The key of every record of ``stream`` (a tuple when the key has several properties)."""
    if len(key) == 1:
        return [r.get(key[0]) for r in run.records.get(stream, [])]
    return [tuple(r.get(k) for k in key) for r in run.records.get(stream, [])]


def kill_after_lines(
    process: subprocess.Popen[str], workdir: Path, lines: int, sig: int = signal.SIGKILL
) -> bool:
    """Send ``sig`` once the ``start``-ed process has written ``lines`` lines to stdout (a
    seeded point of the run); False if it ended on its own first."""
    out = workdir / "stdout.txt"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            process.send_signal(sig)
            process.wait(timeout=60)
            return True
        time.sleep(0.005)
    return False


def oauth_refresh_token(sb: Any) -> str:
    """A real refresh token from the sandbox's OAuth server (the code step without a browser);
    it carries the client's recognisable secret, so a leak of it is found like the others."""
    import requests

    code = sb.control("POST", "/pipedrive/oauth/code", {"redirect_uri": "http://127.0.0.1/cb"})
    answer = requests.post(
        f"{sb.pipedrive_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code["code"],
            "redirect_uri": code["redirect_uri"],
        },
        auth=(sb.client_id, sb.client_secret),
        timeout=30,
    )
    answer.raise_for_status()
    token: str = answer.json()["refresh_token"]
    return token


def revoke_refresh_token(sb: Any, token: str) -> None:
    import requests

    answer = requests.post(
        f"{sb.pipedrive_url}/oauth/revoke",
        data={"token": token},
        auth=(sb.client_id, sb.client_secret),
        timeout=30,
    )
    answer.raise_for_status()
