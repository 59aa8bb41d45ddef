"""The user's max_request_tries and request_timeout bound every call target-crm makes to
Pipedrive (issue 11: one client, crm_api.pipedrive.PipedriveClient), counted by the sandbox."""

from __future__ import annotations

import time

import pytest

from crm_api.retry import UnrecoverableError
from crm_sandbox.testing import SandboxHandle
from tests.integration.test_target_support import pipedrive_config, run_target, singer

ONE_PERSON = singer("persons", [{"name": "Ada Tries"}])


def _api_requests(sandbox: SandboxHandle) -> int:
    return sum(sandbox.counters()["requests"].values())


def test_max_request_tries_bounds_a_target_call_that_keeps_failing(
    sandbox: SandboxHandle,
) -> None:
    sandbox.configure(fault_rate=1.0)  # every API answer a 5xx
    config = pipedrive_config(sandbox, max_request_tries=3, max_concurrent_requests=1)
    with pytest.raises(UnrecoverableError, match="gave up after 3 tries") as caught:
        run_target(config, ONE_PERSON)
    faults = sandbox.counters()["events"].get("faults", 0)
    sandbox.configure(fault_rate=0.0)
    assert faults == 3  # the load's first call, tried exactly max_request_tries times
    assert "\n" not in str(caught.value)


def test_request_timeout_bounds_each_try_of_a_target_call(sandbox: SandboxHandle) -> None:
    sandbox.configure(latency_ms=3000)  # every answer later than the user waits
    config = pipedrive_config(
        sandbox, request_timeout=0.3, max_request_tries=2, max_concurrent_requests=1
    )
    with pytest.raises(UnrecoverableError, match=r"ReadTimeout.*gave up after 2 tries"):
        run_target(config, ONE_PERSON)
    # the sandbox counts a request once its latency has passed: wait for both to arrive
    deadline = time.monotonic() + 15
    while _api_requests(sandbox) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # room for a third request, which must not come
    sandbox.configure(latency_ms=0)
    assert _api_requests(sandbox) == 2
