"""The user's ``max_request_tries`` and ``request_timeout`` hold on the tap's calls made outside
the SDK's stream hooks too: discovery's custom-field reads and a child stream's parent listing.

The real command (``tests/reliability/harness.py``) against a sandbox that answers 5xx (or too
slowly) on every API request, so the first request of the run (named by the run's last line)
is the only one ever made; the sandbox's own counters say how many tries it got.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import SECRET_TOKEN, Run, pd_config, run, tap_command

FIELDS = "pipedrive GET /api/v2/dealFields"  # discovery's first request
PARENTS = "pipedrive GET /api/v2/deals"  # the first parent list of deal_followers_changelog
PIPELINES = "pipedrive GET /api/v2/pipelines"  # a stream read through the SDK's hooks

FAILING = {"fault_rate": 1.0}  # every API request answered 500/502/503
SLOW_MS = 2500
SLOW = {"slow_rate": 1.0, "slow_ms": SLOW_MS}  # every API request later than request_timeout


@pytest.fixture
def sb(sandbox: SandboxHandle) -> SandboxHandle:
    # The harness checks every run for this recognisable token; the next test's reset
    # restores the launch credentials.
    sandbox.reset(size=5, api_token=SECRET_TOKEN)
    return sandbox


def _faulted_tries(sb: SandboxHandle) -> int:
    """API requests the sandbox answered, all of them with a fault (it counts a faulted
    request under no endpoint: the API never saw it)."""
    counters = sb.counters()
    assert not counters["requests"], counters
    assert sum(counters["statuses"].values()) == counters["events"].get("faults", 0)
    return counters["events"].get("faults", 0)


def _slow_tries(sb: SandboxHandle) -> dict[str, int]:
    """API requests per endpoint, once the last slow answer (which the tap stopped waiting
    for) is done: the sandbox counts a request when it answers it."""
    time.sleep(SLOW_MS / 1000)
    return sb.counters()["requests"]


def _discover(sb: SandboxHandle, tmp: Path, network: dict[str, Any], **settings: Any) -> Run:
    command = tap_command(tmp, pd_config(sb, **settings), extra_args=["--discover"])
    sb.configure(**network)
    sb.reset_counters()
    return run(command, tmp, timeout=60)


def _list_parents(
    sb: SandboxHandle, tmp: Path, network: dict[str, Any], probe: bool = False, **settings: Any
) -> Run:
    # No custom-field reads: the parent listing (the cost estimate's, or else the stream's
    # own) is the first request the sync makes.
    config = pd_config(sb, custom_field_columns=False, cost_estimate_probe=probe, **settings)
    command = tap_command(tmp, config, streams=["deal_followers_changelog"])
    sb.configure(**network)
    sb.reset_counters()
    return run(command, tmp, timeout=60)


def _read_stream(sb: SandboxHandle, tmp: Path, network: dict[str, Any], **settings: Any) -> Run:
    config = pd_config(sb, custom_field_columns=False, **settings)
    command = tap_command(tmp, config, streams=["pipelines"])
    sb.configure(**network)
    sb.reset_counters()
    return run(command, tmp, timeout=60)


# what runs first, the line it ends with, the endpoint of its first request
FIRST_REQUESTS = [
    pytest.param(_discover, {}, "custom fields of deals", FIELDS, id="discovery"),
    pytest.param(_list_parents, {}, "listing changed parents", PARENTS, id="parent-listing"),
    pytest.param(
        _list_parents,
        {"probe": True},
        "estimating the run's cost: listing /api/v2/deals",
        PARENTS,
        id="cost-estimate-listing",
    ),
    pytest.param(_read_stream, {}, "stream 'pipelines'", PIPELINES, id="sdk-stream"),
]


@pytest.mark.parametrize(("first", "how", "line", "endpoint"), FIRST_REQUESTS)
def test_5xx_are_tried_max_request_tries_times(
    sb: SandboxHandle, tmp_path: Path, first: Any, how: dict[str, Any], line: str, endpoint: str
) -> None:
    done = first(sb, tmp_path, FAILING, max_request_tries=2, **how)
    assert done.returncode == 1
    done.assert_one_clear_line(line, "after 2 tries", "max_request_tries")
    assert _faulted_tries(sb) == 2
    assert not done.records


@pytest.mark.parametrize(("first", "how", "line", "endpoint"), FIRST_REQUESTS)
def test_each_try_waits_request_timeout(
    sb: SandboxHandle, tmp_path: Path, first: Any, how: dict[str, Any], line: str, endpoint: str
) -> None:
    done = first(sb, tmp_path, SLOW, max_request_tries=2, request_timeout=1, **how)
    assert done.returncode == 1
    said = done.assert_one_clear_line(line, "after 2 tries", "max_request_tries")
    assert "Timeout" in said
    assert _slow_tries(sb) == {endpoint: 2}
