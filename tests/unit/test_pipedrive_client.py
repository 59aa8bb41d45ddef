"""crm_api.pipedrive.PipedriveClient, the one Pipedrive client (issue 11): the user's tries and
timeout on every call, what each failure becomes, the paging loops, the OAuth exchange.

Stub adapters stand in for the network here; tests/integration/test_pipedrive_client.py runs the
same rules against crm-sandbox through the real target.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from crm_api import pipedrive as api
from crm_api.governor import RequestBudget
from crm_api.retry import OutcomeUnknownError, RetryPolicy, UnrecoverableError

BASE = "https://acme.pipedrive.com"

Answer = tuple[int, Any, Mapping[str, str]]  # status, JSON body (or an exception), headers


class _Network(requests.adapters.BaseAdapter):
    """Answers in turn (the last one repeats); remembers each request and its timeout."""

    def __init__(self, *answers: Answer | type[Exception]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.requests: list[requests.PreparedRequest] = []
        self.timeouts: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        answer = self.answers[min(len(self.requests), len(self.answers) - 1)]
        self.requests.append(request)
        self.timeouts.append(kwargs.get("timeout"))
        if isinstance(answer, type):
            raise answer("no answer")
        status, body, headers = answer
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.time, "sleep", lambda seconds: None)


def _client(network: _Network, *, tries: int = 3, timeout: float = 7.0) -> api.PipedriveClient:
    connection = api.Connection(
        BASE,
        api.ApiTokenAuth("secret-token"),
        RequestBudget(0, 2.0),
        policy=RetryPolicy(tries=tries, timeout=timeout),
    )
    client = api.PipedriveClient(connection)
    client.session().mount("https://", network)
    return client


OK: Answer = (200, {"success": True, "data": {"id": 1}}, {})
DOWN: Answer = (503, {"success": False, "error": "down"}, {})


def test_every_try_uses_the_users_timeout_and_a_read_stops_at_max_request_tries() -> None:
    network = _Network(DOWN)
    client = _client(network, tries=4, timeout=7.5)
    with pytest.raises(api.PipedriveError, match="gave up after 4 tries") as caught:
        client.get_json("/api/v2/deals/1")
    assert len(network.requests) == 4
    assert network.timeouts == [7.5] * 4
    assert isinstance(caught.value, UnrecoverableError)  # what the target's sinks stop on
    assert "\n" not in str(caught.value)


def test_dropped_connections_are_retried_for_reads_and_succeed() -> None:
    network = _Network(requests.ConnectionError, requests.ReadTimeout, OK)
    assert _client(network).get_json("/api/v2/deals/1", data="object")["data"] == {"id": 1}
    assert len(network.requests) == 3


@pytest.mark.parametrize(
    ("answer", "settle"),
    [(DOWN, 0.0), (requests.ConnectionError, 0.0), (requests.ReadTimeout, 14.0)],
)
def test_a_create_is_never_blindly_resent(answer: Any, settle: float) -> None:
    network = _Network(answer)
    with pytest.raises(OutcomeUnknownError) as caught:
        _client(network, timeout=7.0).send("POST", "/api/v2/persons", json={"name": "Ada"})
    assert len(network.requests) == 1
    assert caught.value.settle_seconds == settle  # after a timeout the server may still apply it


def test_a_burst_429_is_waited_out_and_is_not_a_try() -> None:
    limited: Answer = (429, {"success": False, "error": "slow down"}, {"Retry-After": "0"})
    network = _Network(limited, limited, OK)
    response = _client(network, tries=1).send("POST", "/api/v2/persons", json={})
    assert response.status_code == 200  # a 429 was never applied: even a create is resent
    assert len(network.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, api.AuthError), (402, api.PipedriveError), (403, api.PipedriveError)],
)
def test_account_refusals_are_one_line_on_every_call(
    status: int, error: type[api.PipedriveError]
) -> None:
    network = _Network((status, {"success": False, "error": "nope"}, {}))
    with pytest.raises(error) as caught:
        _client(network).send("PATCH", "/api/v2/persons/1", json={})
    assert caught.value.status == status
    assert str(caught.value).startswith(f"Pipedrive answered HTTP {status} for /api/v2/persons/1")
    assert "secret-token" not in str(caught.value)
    assert len(network.requests) == 1


def test_a_record_verdict_comes_back_to_the_writer_but_is_an_error_for_a_read() -> None:
    network = _Network((422, {"success": False, "error": "bad email"}, {}))
    client = _client(network)
    assert client.send("POST", "/api/v2/persons", json={}).status_code == 422
    with pytest.raises(api.PipedriveError, match=r"HTTP 422.*bad email"):
        client.get_json("/api/v2/persons")
    network.answers = [(404, {"success": False, "error": "gone"}, {})]
    assert client.get_json("/api/v2/persons/9", missing_ok=True) is None
    assert list(client.iter_v2("/api/v2/persons", missing_ok=True)) == []


def test_a_redirect_is_not_followed_with_the_token() -> None:
    network = _Network((302, {}, {"Location": "https://elsewhere.example/steal"}))
    with pytest.raises(api.PipedriveError, match="HTTP 302"):
        _client(network).get_json("/api/v2/deals")
    assert [r.url for r in network.requests] == [f"{BASE}/api/v2/deals"]


def _pages(*pages: Mapping[str, Any]) -> _Network:
    return _Network(*((200, {"success": True, **page}, {}) for page in pages))


def test_iter_v2_follows_the_cursor_to_the_last_page() -> None:
    network = _pages(
        {"data": [{"id": 1}, {"id": 2}], "additional_data": {"next_cursor": "c2"}},
        {"data": [{"id": 3}], "additional_data": {"next_cursor": None}},
    )
    items = list(_client(network).iter_v2("/api/v2/deals", {"status": "open"}, page_size=2))
    assert [i["id"] for i in items] == [1, 2, 3]
    queries = [r.url.split("?")[1] for r in network.requests if r.url]
    assert queries == ["status=open&limit=2", "status=open&limit=2&cursor=c2"]


def test_iter_v1_follows_the_offset_to_the_last_page() -> None:
    more = {"pagination": {"more_items_in_collection": True, "next_start": 2}}
    network = _pages(
        {"data": [{"id": 1}, {"id": 2}], "additional_data": more},
        {"data": [{"id": 3}], "additional_data": {"pagination": {}}},
    )
    items = list(_client(network).iter_v1("/v1/notes", page_size=2))
    assert [i["id"] for i in items] == [1, 2, 3]
    assert [r.url for r in network.requests] == [
        f"{BASE}/v1/notes?start=0&limit=2",
        f"{BASE}/v1/notes?start=2&limit=2",
    ]


def test_a_page_of_the_wrong_shape_is_an_error_not_the_end_of_the_list() -> None:
    network = _pages({"data": "oops"})
    with pytest.raises(api.UnexpectedBodyError, match="'data' is a string"):
        list(_client(network).iter_v2("/api/v2/deals"))


def test_next_cursor_reads_the_v2_envelope() -> None:
    assert api.next_cursor({"additional_data": {"next_cursor": "abc"}}) == "abc"
    assert api.next_cursor({"additional_data": {"next_cursor": None}}) is None
    assert api.next_cursor({"data": []}) is None
    assert api.next_cursor({"additional_data": []}) is None


def test_request_json_takes_the_policy_of_the_caller() -> None:
    network = _Network(DOWN)
    session = requests.Session()
    session.mount("https://", network)
    with pytest.raises(api.PipedriveError, match="gave up after 2 tries"):
        api.request_json(session, "GET", f"{BASE}/x", policy=RetryPolicy(tries=2, timeout=3.0))
    assert network.timeouts == [3.0, 3.0]


def test_the_client_takes_tries_and_timeout_from_the_users_settings() -> None:
    client = api.PipedriveClient.from_config(
        {"api_url": BASE, "api_token": "t", "max_request_tries": 2, "request_timeout": 4}
    )
    assert client.policy == RetryPolicy(tries=2, timeout=4.0)


# ----------------------------------------------------------------- one Retry-After rule


def _http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def test_a_retry_after_http_date_hours_ahead_ends_every_path_as_a_spent_budget() -> None:
    """Target (the client), discovery and parent listings (request_json on a PipedriveSession
    or a plain session) all read Retry-After with crm_api.retry.retry_after_seconds, HTTP-date
    form included: hours ahead is the day's budget spent, never a wait."""
    spent: Answer = (
        429,
        {"success": False, "error": "Daily limit"},
        {"Retry-After": _http_date(5 * 3600)},
    )
    with pytest.raises(api.DailyBudgetSpentError, match="daily API budget is spent"):
        _client(_Network(spent)).send("GET", "/api/v2/deals")
    for session in (
        api.PipedriveSession(RequestBudget(0, 2.0), api.ApiTokenAuth("t")),
        requests.Session(),
    ):
        network = _Network(spent)
        session.mount("https://", network)
        with pytest.raises(api.DailyBudgetSpentError, match=r"5\.0 h"):
            api.request_json(session, "GET", f"{BASE}/api/v2/dealFields")
        assert len(network.requests) == 1


def test_a_retry_after_http_date_seconds_ahead_holds_the_shared_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held: list[float] = []
    budget = RequestBudget(0, 2.0)
    monkeypatch.setattr(budget, "hold", held.append)
    limited: Answer = (429, {"success": False}, {"Retry-After": _http_date(120)})
    session = api.PipedriveSession(budget, api.ApiTokenAuth("t"))
    session.mount("https://", _Network(limited))
    session.get(f"{BASE}/api/v2/deals")
    assert len(held) == 1
    assert 100 < held[0] <= 120


# ----------------------------------------------------------------- OAuth through the same loop


class _TokenServer(BaseHTTPRequestHandler):
    hits = 0
    status = 503
    delay = 0.0

    def do_POST(self) -> None:
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        threading.Event().wait(self.delay)  # time.sleep is stubbed out in these tests
        body = json.dumps({"access_token": "a", "expires_in": 3600}).encode()
        try:
            self.send_response(self.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_server() -> Iterator[tuple[str, type[_TokenServer]]]:
    handler = type("Handler", (_TokenServer,), {"hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/oauth/token", handler
    finally:
        server.shutdown()
        server.server_close()


def test_exchange_token_stops_at_max_request_tries(
    token_server: tuple[str, type[_TokenServer]],
) -> None:
    url, handler = token_server
    policy = RetryPolicy(tries=3, timeout=5.0)
    with pytest.raises(api.PipedriveError, match="gave up after 3 tries"):
        api.exchange_token(url, "cid", "csecret", {"grant_type": "refresh_token"}, policy=policy)
    assert handler.hits == 3


def test_exchange_token_gives_each_try_the_users_timeout(
    token_server: tuple[str, type[_TokenServer]],
) -> None:
    url, handler = token_server
    handler.status, handler.delay = 200, 2.0
    policy = RetryPolicy(tries=2, timeout=0.2)
    with pytest.raises(api.PipedriveError, match=r"ReadTimeout.*gave up after 2 tries"):
        api.exchange_token(url, "cid", "csecret", {"grant_type": "refresh_token"}, policy=policy)
    assert handler.hits == 2


def test_an_oauth_connection_refreshes_with_the_users_policy(
    token_server: tuple[str, type[_TokenServer]], tmp_path: Any
) -> None:
    url, handler = token_server
    with pytest.raises(api.PipedriveError, match="gave up after 2 tries"):
        api.connect(
            client_id="cid",
            client_secret="csecret",
            refresh_token="r-1",
            oauth_token_file=str(tmp_path / "token.json"),
            oauth_url=url.removesuffix(api.TOKEN_PATH),
            policy=RetryPolicy(tries=2, timeout=5.0),
        )
    assert handler.hits == 2
