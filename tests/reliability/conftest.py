"""Fixtures of the reliability suite: a crm-sandbox whose credentials are the harness's
recognisable secrets, reset before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle, running_sandbox
from tests.reliability.harness import SECRET_CLIENT_ID, SECRET_CLIENT_SECRET, SECRET_TOKEN

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
def rsb(_reliability_server: SandboxHandle) -> SandboxHandle:
    """The reliability sandbox, reset: SIZE deals, seed 42, no faults, no limits."""
    _reliability_server.reset(size=SIZE, seed=42, **SECRET_SETTINGS)
    return _reliability_server


@pytest.fixture
def rsb_factory() -> Iterator[Callable[..., SandboxHandle]]:
    """Fresh sandboxes with the secret credentials and the given settings, stopped after."""
    with ExitStack() as stack:

        def start(**settings: Any) -> SandboxHandle:
            merged = {"size": SIZE, "seed": 42, **SECRET_SETTINGS, **settings}
            return stack.enter_context(running_sandbox(**merged))

        yield start
