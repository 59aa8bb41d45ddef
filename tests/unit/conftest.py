"""Fixtures shared by the unit tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """A Singer SDK plugin built in-process installs its SIGTERM/SIGINT handlers in this
    process: put pytest's back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
