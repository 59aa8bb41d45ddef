"""crm-sandbox's server core over real HTTP: routing, control endpoint, network misbehaviour, CLI.

Most tests put a tiny echo API behind the server so they check the server alone, whatever the
simulated APIs do; the tests on the real providers only touch what the contract promises.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import requests

from crm_sandbox.core import Request, Response, SandboxContext, Settings
from crm_sandbox.server import SandboxServer, SettingsError
from crm_sandbox.testing import SandboxControlError, SandboxHandle, running_sandbox


class EchoAPI:
    """A stand-in provider: answers every request with what it received."""

    def __init__(self, ctx: SandboxContext, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self.resets = 0

    def handle(self, request: Request) -> Response:
        self.ctx.counters.hit(f"{self.name} {request.method} {request.path}")
        if request.path == "/boom":
            raise RuntimeError("a bug in the provider")
        return Response.json(
            200,
            {
                "provider": self.name,
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "body": request.body.decode(),
                "token": request.headers.get("x-api-token"),
                "resets": self.resets,
            },
        )

    def reset(self) -> None:
        self.resets += 1

    def control(self, request: Request) -> Response | None:
        if request.path == "/echo":
            return Response.json(200, {"seen": request.path, "method": request.method})
        if request.path == "/boom":
            raise RuntimeError("a bug in the provider's control")
        return None


ECHO_PROVIDERS = {
    "pipedrive": lambda ctx: EchoAPI(ctx, "pipedrive"),
    "onpipeline": lambda ctx: EchoAPI(ctx, "onpipeline"),
}


@pytest.fixture(scope="module")
def echo_server() -> Iterator[SandboxHandle]:
    with running_sandbox(providers=ECHO_PROVIDERS, size=5) as handle:
        yield handle


@pytest.fixture
def echo(echo_server: SandboxHandle) -> SandboxHandle:
    echo_server.reset()
    return echo_server


URL_KEYS = ("pipedrive", "onpipeline", "api_token", "control", "client_id", "client_secret")


def _get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=30, **kwargs)  # type: ignore[arg-type]


# --- routing --------------------------------------------------------------------------


def test_prefixes_route_to_their_provider_with_the_prefix_stripped(echo: SandboxHandle) -> None:
    deals = _get(
        f"{echo.pipedrive_url}/api/v2/deals?limit=2&cursor=abc", headers={"x-api-token": "t"}
    )
    persons = requests.post(f"{echo.onpipeline_url}/PersonList", json={"Page": 1}, timeout=30)

    assert deals.status_code == 200
    assert deals.json()["provider"] == "pipedrive"
    assert deals.json()["path"] == "/api/v2/deals"
    assert deals.json()["query"] == {"limit": ["2"], "cursor": ["abc"]}
    assert deals.json()["token"] == "t"
    assert persons.json()["provider"] == "onpipeline"
    assert persons.json()["method"] == "POST"
    assert persons.json()["path"] == "/PersonList"
    assert json.loads(persons.json()["body"]) == {"Page": 1}


def test_unknown_path_is_a_json_404(echo: SandboxHandle) -> None:
    response = _get(f"{echo.base_url}/hubspot/contacts")

    assert response.status_code == 404
    assert "/pipedrive/" in response.json()["error"]


def test_a_provider_bug_is_a_500_not_a_hung_connection(echo: SandboxHandle) -> None:
    response = _get(f"{echo.pipedrive_url}/boom")
    control = _get(f"{echo.control_url}/onpipeline/boom")

    assert response.status_code == 500
    assert "internal error" in response.json()["error"]
    assert control.status_code == 500
    assert echo.counters()["statuses"] == {"500": 1}


def test_connections_are_kept_alive(echo: SandboxHandle) -> None:
    host, port = echo.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/pipedrive/api/v2/deals")
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        connection.request("POST", "/onpipeline/PersonList", body=b"{}")
        second = connection.getresponse()
        second.read()
        same_socket = connection.sock is sock
    finally:
        connection.close()

    assert (first.status, second.status) == (200, 200)
    assert sock is not None
    assert same_socket  # http.client reconnects only when the server closed the connection


# --- control endpoint ------------------------------------------------------------------


def test_health_names_both_apis(sandbox: SandboxHandle) -> None:
    health = sandbox.control("GET", "/health")

    assert health["status"] == "ok"
    assert health["providers"] == ["pipedrive", "onpipeline"]
    assert (health["seed"], health["size"]) == (42, 40)


def test_config_changes_only_what_is_sent(sandbox: SandboxHandle) -> None:
    before = sandbox.settings()
    after = sandbox.configure(latency_ms=5, fault_rate="0.25", burst_limit=80)

    assert (after["latency_ms"], after["fault_rate"], after["burst_limit"]) == (5.0, 0.25, 80)
    assert {
        k: v for k, v in after.items() if k not in ("latency_ms", "fault_rate", "burst_limit")
    } == {k: v for k, v in before.items() if k not in ("latency_ms", "fault_rate", "burst_limit")}
    assert sandbox.settings() == after


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fault_rate": 1.5}, "fault_rate must be a share between 0 and 1"),
        ({"latency_ms": -1}, "latency_ms must be a number of milliseconds >= 0"),
        ({"burst_limit": 2.5}, "burst_limit must be an integer"),
        ({"drop_rate": "often"}, "drop_rate must be a number"),
        ({"timezone": "Mars/Olympus"}, "timezone must be an IANA time zone"),
        ({"latncy_ms": 5}, "unknown setting 'latncy_ms'"),
        ({"size": 10}, "POST /_sandbox/reset"),
    ],
)
def test_bad_config_is_a_400_that_says_what_to_change(
    sandbox: SandboxHandle, change: dict[str, object], message: str
) -> None:
    before = sandbox.settings()
    response = requests.post(
        f"{sandbox.control_url}/config", json={"slow_ms": 9, **change}, timeout=30
    )

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert sandbox.settings() == before  # nothing applied, not even the good part


def test_control_body_must_be_a_json_object(sandbox: SandboxHandle) -> None:
    not_json = requests.post(f"{sandbox.control_url}/config", data=b"latency=5", timeout=30)
    a_list = requests.post(f"{sandbox.control_url}/reset", json=[1, 2], timeout=30)

    assert not_json.status_code == 400
    assert a_list.status_code == 400
    assert "JSON object" in a_list.json()["error"]


def test_unknown_control_path_and_wrong_method(sandbox: SandboxHandle) -> None:
    unknown = requests.get(f"{sandbox.control_url}/nap", timeout=30)
    wrong_method = requests.get(f"{sandbox.control_url}/reset", timeout=30)

    assert unknown.status_code == 404
    assert "/_sandbox/health" in unknown.json()["error"]
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"


def test_reset_restores_launch_settings_clock_counters_and_data(echo: SandboxHandle) -> None:
    echo.configure(latency_ms=1, fault_rate=0.5, api_token="rotated")
    echo.advance_clock(7200)
    _get(f"{echo.pipedrive_url}/x")
    resets_before = _get(f"{echo.pipedrive_url}/x").json()["resets"]

    answer = echo.reset(seed=7, size=3)

    assert answer["settings"]["seed"] == 7
    assert answer["settings"]["size"] == 3
    assert answer["settings"]["latency_ms"] == 0.0
    assert answer["settings"]["fault_rate"] == 0.0
    assert answer["settings"]["api_token"] == "sandbox-token"
    assert echo.api_token == "sandbox-token"
    assert echo.control("GET", "/clock")["offset_seconds"] < 60
    assert echo.counters() == {"requests": {}, "statuses": {}, "events": {}}
    assert _get(f"{echo.pipedrive_url}/x").json()["resets"] == resets_before + 1


def test_reset_rejects_bad_values_and_keeps_running(echo: SandboxHandle) -> None:
    with pytest.raises(SandboxControlError, match="size must be >= 0"):
        echo.reset(size=-5)

    assert echo.control("GET", "/health")["size"] == 5


def test_clock_moves_forward_only(sandbox: SandboxHandle) -> None:
    before = datetime.fromisoformat(sandbox.control("GET", "/clock")["now"])
    moved = sandbox.advance_clock(86_400)
    backwards = requests.post(
        f"{sandbox.control_url}/clock", json={"advance_seconds": -1}, timeout=30
    )
    not_a_number = requests.post(
        f"{sandbox.control_url}/clock", json={"advance_seconds": "1d"}, timeout=30
    )

    assert (datetime.fromisoformat(moved["now"]) - before).total_seconds() >= 86_400
    answered = parsedate_to_datetime(_get(f"{sandbox.pipedrive_url}/api/v2/deals").headers["Date"])
    assert (answered - before).total_seconds() >= 86_400 - 1  # Date: the sandbox's time
    assert moved["offset_seconds"] >= 86_400
    assert backwards.status_code == 400
    assert "advance_seconds must be >= 0" in backwards.json()["error"]
    assert not_a_number.status_code == 400


def test_counters_count_api_requests_not_control(echo: SandboxHandle) -> None:
    for _ in range(3):
        _get(f"{echo.pipedrive_url}/api/v2/deals")
    requests.post(f"{echo.onpipeline_url}/PersonList", json={}, timeout=30)
    _get(f"{echo.base_url}/nowhere")
    echo.control("GET", "/health")

    counters = echo.counters()

    assert counters["requests"] == {
        "pipedrive GET /api/v2/deals": 3,
        "onpipeline POST /PersonList": 1,
    }
    assert counters["statuses"] == {"200": 4}
    echo.reset_counters()
    assert echo.counters() == {"requests": {}, "statuses": {}, "events": {}}


def test_provider_control_paths_are_delegated(echo: SandboxHandle) -> None:
    own = echo.control("GET", "/pipedrive/echo")
    missing = requests.get(f"{echo.control_url}/onpipeline/ids/unicorns", timeout=30)

    assert own == {"seen": "/echo", "method": "GET"}
    assert missing.status_code == 404


# --- network misbehaviour --------------------------------------------------------------


def test_latency_is_added_to_api_requests(echo: SandboxHandle) -> None:
    echo.configure(latency_ms=150)

    started = time.perf_counter()
    response = _get(f"{echo.pipedrive_url}/api/v2/deals")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= 0.150


def test_slow_requests_get_slow_ms_more(echo: SandboxHandle) -> None:
    echo.configure(slow_rate=1, slow_ms=120)

    started = time.perf_counter()
    _get(f"{echo.onpipeline_url}/PersonList")
    elapsed = time.perf_counter() - started

    assert elapsed >= 0.120


def test_fault_rate_one_fails_every_api_call(echo: SandboxHandle) -> None:
    echo.configure(fault_rate=1)

    pipedrive = [_get(f"{echo.pipedrive_url}/api/v2/deals") for _ in range(12)]
    onpipeline = [requests.post(f"{echo.onpipeline_url}/PersonList", timeout=30) for _ in range(12)]

    assert {r.status_code for r in pipedrive + onpipeline} <= {500, 502, 503}
    for response in pipedrive + onpipeline:
        if response.status_code != 500:  # a gateway's HTML page
            assert response.headers["Content-Type"].startswith("text/html")
            assert f"{response.status_code} " in response.text
    # a 500 comes in the API's own error envelope
    assert all(r.json()["success"] is False for r in pipedrive if r.status_code == 500)
    assert all(r.json()["Error"]["Code"] == "500" for r in onpipeline if r.status_code == 500)
    counters = echo.counters()
    assert counters["events"]["faults"] == 24
    assert counters["requests"] == {}  # a faulted request never reaches the API
    assert echo.control("GET", "/health")["status"] == "ok"  # control is never faulted


def test_fault_rate_zero_fails_nothing(echo: SandboxHandle) -> None:
    echo.configure(fault_rate=0)

    statuses = {_get(f"{echo.pipedrive_url}/api/v2/deals").status_code for _ in range(20)}

    assert statuses == {200}
    assert "faults" not in echo.counters()["events"]


def test_faults_repeat_with_the_same_seed(echo: SandboxHandle) -> None:
    def run() -> list[int]:
        echo.reset(seed=11, fault_rate=0.5)
        return [_get(f"{echo.pipedrive_url}/api/v2/deals").status_code for _ in range(16)]

    first = run()

    assert run() == first
    assert 200 in first
    assert set(first) - {200}  # some failed


def test_drop_rate_one_closes_connections_without_an_answer(echo: SandboxHandle) -> None:
    echo.configure(drop_rate=1)

    with requests.Session() as session:
        for _ in range(2):
            with pytest.raises(requests.ConnectionError):
                session.get(f"{echo.pipedrive_url}/api/v2/deals", timeout=30)
        with pytest.raises(requests.ConnectionError):
            session.post(f"{echo.onpipeline_url}/PersonAdd", json={"FirstName": "A"}, timeout=30)

    assert echo.counters()["events"]["drops"] == 3
    assert echo.counters()["requests"] == {}  # a dropped request never reaches the API
    assert echo.control("GET", "/health")["status"] == "ok"


# --- listening, CLI, subprocess --------------------------------------------------------


def _listening_address(port: int) -> str:
    """The local address of the LISTEN socket on ``port``, read from the kernel's table."""
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, port_hex = fields[1].partition(":")
            if int(port_hex, 16) == port and fields[3] == "0A":
                if width == 8:
                    return socket.inet_ntoa(bytes.fromhex(address)[::-1])
                return address
    raise AssertionError(f"nothing listens on port {port}")


def test_default_listener_is_loopback_only() -> None:
    with SandboxServer(Settings(size=1), providers=ECHO_PROVIDERS) as server:
        assert _listening_address(server.port) == "127.0.0.1"


def test_running_sandbox_refuses_unknown_settings() -> None:
    with (
        pytest.raises(SettingsError, match="unknown setting 'latency'"),
        running_sandbox(latency=5),
    ):
        pass


def test_crm_sandbox_serve_prints_its_urls_then_stops_on_sigterm() -> None:
    command = [str(Path(sys.executable).parent / "crm-sandbox"), "serve", "--size", "5"]
    command += ["--api-token", "tok-1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            urls = json.loads(process.stdout.readline())
            port = int(urls["control"].rsplit(":", 1)[1].split("/")[0])

            assert set(urls) == set(URL_KEYS)
            assert urls["pipedrive"] == f"http://127.0.0.1:{port}/pipedrive"
            assert urls["onpipeline"] == f"http://127.0.0.1:{port}/onpipeline"
            assert urls["api_token"] == "tok-1"
            assert _listening_address(port) == "127.0.0.1"
            assert _get(f"{urls['control']}/health").json()["size"] == 5

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
    with pytest.raises(requests.ConnectionError):
        _get(f"{urls['control']}/health")


def test_crm_sandbox_bad_flag_is_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crm_sandbox", "serve", "--drop-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "crm-sandbox serve: error: argument --drop-rate: must be a number between 0 and 1, got '2'"
        " (see crm-sandbox serve --help)"
    ]


def test_running_sandbox_as_a_subprocess_is_stopped_on_exit() -> None:
    with running_sandbox(in_process=False, size=3, latency_ms=1) as sb:
        settings = sb.settings()
        health = sb.control("GET", "/health")

    assert (settings["size"], settings["latency_ms"]) == (3, 1.0)
    assert health["status"] == "ok"
    with pytest.raises(requests.ConnectionError):
        _get(f"{sb.control_url}/health")


def test_second_sandbox_and_factory_sandboxes_are_independent(
    sandbox: SandboxHandle,
    second_sandbox: SandboxHandle,
    sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    second_sandbox.configure(latency_ms=7)
    third = sandbox_factory(size=3, fault_rate=0.5)

    assert len({sandbox.base_url, second_sandbox.base_url, third.base_url}) == 3
    assert sandbox.settings()["latency_ms"] == 0.0
    assert second_sandbox.settings()["latency_ms"] == 7.0
    assert (third.settings()["size"], third.settings()["fault_rate"]) == (3, 0.5)
