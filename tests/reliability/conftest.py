"""Fixtures of the reliability suite: a crm-sandbox whose credentials are the harness's
recognisable secrets, reset before each test."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle, running_sandbox
from tests.reliability.harness import (
    SECRET_CLIENT_ID,
    SECRET_CLIENT_SECRET,
    SECRET_TOKEN,
    tally_sandbox,
    totals,
)

SIZE = 40
SECRET_SETTINGS = {
    "api_token": SECRET_TOKEN,
    "client_id": SECRET_CLIENT_ID,
    "client_secret": SECRET_CLIENT_SECRET,
}


@pytest.fixture(scope="session")
def _reliability_server() -> Iterator[SandboxHandle]:
    with running_sandbox(size=SIZE, seed=42, **SECRET_SETTINGS) as handle:
        yield handle


@pytest.fixture
def rsb(_reliability_server: SandboxHandle) -> Iterator[SandboxHandle]:
    """The reliability sandbox, reset: SIZE deals, seed 42, no faults, no limits."""
    _reliability_server.reset(size=SIZE, seed=42, **SECRET_SETTINGS)
    yield _reliability_server
    tally_sandbox(_reliability_server)  # what it injected counts in the suite's figures


@pytest.fixture
def rsb_factory() -> Iterator[Callable[..., SandboxHandle]]:
    """Fresh sandboxes with the secret credentials and the given settings, stopped after."""
    with ExitStack() as stack:

        def start(**settings: Any) -> SandboxHandle:
            merged = {"size": SIZE, "seed": 42, **SECRET_SETTINGS, **settings}
            handle = stack.enter_context(running_sandbox(**merged))
            stack.callback(tally_sandbox, handle)  # runs before the sandbox stops
            return handle

        yield start


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The suite's figures (runs, files searched for secrets, faults injected, kills, bad
    inputs): added to the JSON file $CRM_RELIABILITY_TOTALS names, when it is set."""
    target = os.environ.get("CRM_RELIABILITY_TOTALS")
    if not target:
        return
    path = Path(target)
    before = json.loads(path.read_text()) if path.exists() else {}
    for name, amount in totals().items():
        before[name] = before.get(name, 0) + amount
    path.write_text(json.dumps(before, indent=2, sort_keys=True) + "\n")
