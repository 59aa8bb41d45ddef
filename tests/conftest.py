"""Shared fixtures: running crm-sandbox servers, reached over real HTTP on 127.0.0.1.

- ``sandbox_server``: one in-process sandbox for the whole session (started on first use).
- ``sandbox``: that server, reset before the test: SANDBOX_SIZE deals, seed 42, no latency,
  no faults, no rate limits, fresh clock and counters. Change it with ``sandbox.configure(...)``
  or ``sandbox.reset(size=..., ...)``; the next test's reset undoes it.
- ``second_sandbox``: an independent second account, reset the same way (round trips:
  extract from ``sandbox``, load into ``second_sandbox``). ``reset(size=0)`` empties it.
- ``sandbox_factory``: ``sandbox_factory(size=10, latency_ms=5)`` starts a fresh sandbox
  with its own settings, stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle, running_sandbox

SANDBOX_SIZE = 40
SANDBOX_SEED = 42


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxHandle]:
    with running_sandbox(size=SANDBOX_SIZE, seed=SANDBOX_SEED) as handle:
        yield handle


@pytest.fixture(scope="session")
def _second_sandbox_server() -> Iterator[SandboxHandle]:
    with running_sandbox(size=SANDBOX_SIZE, seed=SANDBOX_SEED) as handle:
        yield handle


@pytest.fixture
def sandbox(sandbox_server: SandboxHandle) -> SandboxHandle:
    sandbox_server.reset(size=SANDBOX_SIZE, seed=SANDBOX_SEED)
    return sandbox_server


@pytest.fixture
def second_sandbox(_second_sandbox_server: SandboxHandle) -> SandboxHandle:
    _second_sandbox_server.reset(size=SANDBOX_SIZE, seed=SANDBOX_SEED)
    return _second_sandbox_server


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxHandle]]:
    with ExitStack() as stack:

        def start(**settings: Any) -> SandboxHandle:
            settings.setdefault("size", SANDBOX_SIZE)
            return stack.enter_context(running_sandbox(**settings))

        yield start
