"""Start a sandbox from Python (tests, benchmarks, notebooks) and steer it.

    from crm_sandbox.testing import running_sandbox

    with running_sandbox(size=50, latency_ms=20) as sb:
        requests.get(f"{sb.pipedrive_url}/api/v2/deals", headers={"x-api-token": sb.api_token})
        sb.configure(fault_rate=0.1)
        sb.advance_clock(3600)
        print(sb.counters())

``in_process=True`` (the default) serves from a thread of this process: quick to start, good
for tests. ``in_process=False`` runs ``python -m crm_sandbox serve`` as a child process so the
server has its own interpreter and core (benchmarks). Either way the server is stopped when the
``with`` block ends, also on error.
"""

from __future__ import annotations

import json as jsonlib
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

import requests

from crm_sandbox.core import Settings
from crm_sandbox.server import ProviderFactory, SandboxServer, with_changes


class SandboxControlError(RuntimeError):
    """The control endpoint refused a request (the message is the sandbox's own)."""


class SandboxHandle:
    """The URLs and credentials of a running sandbox, plus helpers for its control endpoint."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.pipedrive_url: str = urls["pipedrive"]
        self.onpipeline_url: str = urls["onpipeline"]
        self.control_url: str = urls["control"]
        self.base_url: str = self.control_url.removesuffix("/_sandbox")
        self.api_token: str = urls["api_token"]
        self.client_id: str = urls["client_id"]
        self.client_secret: str = urls["client_secret"]
        self._session = requests.Session()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call ``/_sandbox/<path>`` and return its JSON; raise SandboxControlError on 4xx/5xx."""
        relative = path.removeprefix("/").removeprefix("_sandbox").lstrip("/")
        response = self._session.request(
            method, f"{self.control_url}/{relative}", json=json, timeout=300
        )
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise SandboxControlError(f"{method} /_sandbox/{relative}: {message}")
        return response.json()

    def _remember(self, settings: Mapping[str, Any]) -> None:
        # A reset or configure may change the credentials: keep the handle's copy current.
        self.api_token = settings["api_token"]
        self.client_id = settings["client_id"]
        self.client_secret = settings["client_secret"]

    def reset(self, **changes: Any) -> dict[str, Any]:
        """Fresh data, clock and counters; launch settings plus ``changes`` (e.g. size=40)."""
        answer: dict[str, Any] = self.control("POST", "/reset", changes)
        self._remember(answer["settings"])
        return answer

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change some settings (latency_ms, fault_rate, burst_limit ...); returns all of them."""
        answer: dict[str, Any] = self.control("POST", "/config", settings)
        self._remember(answer)
        return answer

    def settings(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.control("GET", "/config")
        return answer

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox's time forward; returns {"now": ..., "offset_seconds": ...}."""
        answer: dict[str, Any] = self.control("POST", "/clock", {"advance_seconds": seconds})
        return answer

    def counters(self) -> dict[str, dict[str, int]]:
        answer: dict[str, dict[str, int]] = self.control("GET", "/counters")
        return answer

    def reset_counters(self) -> None:
        self.control("POST", "/counters/reset")

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"SandboxHandle({self.base_url})"


@contextmanager
def running_sandbox(
    *,
    in_process: bool = True,
    host: str = "127.0.0.1",
    verbose: bool = False,
    providers: Mapping[str, ProviderFactory] | None = None,
    startup_timeout: float = 300.0,
    **settings: Any,
) -> Iterator[SandboxHandle]:
    """A running sandbox with the given settings (see ``crm_sandbox.core.Settings``).

    ``providers`` replaces the simulated APIs (in-process only; for testing the server itself).
    """
    checked = with_changes(Settings(), settings)  # unknown names and bad values fail here
    if in_process:
        with SandboxServer(checked, host=host, providers=providers, verbose=verbose) as server:
            server.start()
            handle = SandboxHandle(server.urls())
            try:
                yield handle
            finally:
                handle.close()
        return
    if providers is not None:
        raise ValueError("providers can only be replaced with in_process=True")
    with _sandbox_process(checked, host, verbose, startup_timeout) as urls:
        handle = SandboxHandle(urls)
        try:
            yield handle
        finally:
            handle.close()


def _flags(settings: Settings) -> list[str]:
    flags = []
    for name, value in settings.public().items():
        flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


@contextmanager
def _sandbox_process(
    settings: Settings, host: str, verbose: bool, startup_timeout: float
) -> Iterator[dict[str, str]]:
    command = [sys.executable, "-m", "crm_sandbox", "serve", "--host", host, "--port", "0"]
    command += _flags(settings) + (["--verbose"] if verbose else [])
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            assert process.stdout is not None
            line = _first_line(process, process.stdout, startup_timeout)
            if not line:
                stderr.seek(0)
                why = stderr.read().decode("utf-8", "replace").strip() or "no output"
                raise RuntimeError(f"crm-sandbox did not start: {why}")
            yield jsonlib.loads(line)
        finally:
            _stop(process)


def _first_line(process: subprocess.Popen[bytes], stdout: IO[bytes], timeout: float) -> str:
    """The first stdout line, or "" if the process ends or the timeout passes first."""
    deadline = time.monotonic() + timeout
    fd = stdout.fileno()
    seen = b""
    while b"\n" not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ""
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:  # EOF: the process ended
                return ""
            seen += chunk
    return seen.split(b"\n", 1)[0].decode("utf-8")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
