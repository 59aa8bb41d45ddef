"""The Singer SDK's standard tap tests for the Onpipeline configuration, against crm-sandbox.

The SDK builds the test class (and discovers the streams to parametrize it) at import time,
so this module starts its own small in-process sandbox then, and stops it when the module's
tests are done (or at exit, if they were deselected).
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from crm_sandbox.testing import running_sandbox
from tap_crm.tap import TapCRM

_stack = ExitStack()
_sandbox = _stack.enter_context(running_sandbox(size=20, seed=7))
atexit.register(_stack.close)

CONFIG = {
    "provider": "onpipeline",
    "api_token": _sandbox.api_token,
    "api_url": _sandbox.onpipeline_url,
    "timezone": _sandbox.settings()["timezone"],
    "onpipeline_requests_per_minute": 0,
    "start_date": "2000-01-01T00:00:00Z",
}


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox_after_module() -> Iterator[None]:
    yield
    _stack.close()


TestTapOnpipeline = get_tap_test_class(
    tap_class=TapCRM,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=50),
)
