"""crm_api.pipedrive without a server: error lines, rate-limit headers, costs, OAuth store."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_api import pipedrive as api
from crm_api.governor import RequestBudget
from crm_api.retry import retry_after_seconds
from crm_api.token_store import FileTokenStore, TokenStoreError


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers.update(headers or {"Content-Type": "application/json"})
    response.url = "https://acme.pipedrive.com/api/v2/deals?limit=500"
    return response


def test_error_message_is_one_line_from_the_envelope() -> None:
    response = _response(
        401,
        {"success": False, "error": "unauthorized access", "errorCode": 401, "error_info": "x"},
    )
    message = api.error_message(response, "stream 'deals'")
    assert "\n" not in message
    assert message.startswith("stream 'deals': Pipedrive answered HTTP 401 for /api/v2/deals")
    assert "unauthorized access" in message
    assert "api_token" in message  # names the setting to fix
    assert "limit=500" not in message  # no query strings (they could carry a token)


def test_error_message_for_a_non_json_cloudflare_page() -> None:
    response = _response(403, b"<html>Cloudflare</html>", {"Content-Type": "text/html"})
    message = api.error_message(response)
    assert "non-JSON text/html body" in message
    assert "<html>" not in message


def test_validation_error_keeps_its_code() -> None:
    response = _response(
        400,
        {"success": False, "error": "Validation failed", "code": "ERR_SCHEMA_VALIDATION_FAILED"},
    )
    assert "[ERR_SCHEMA_VALIDATION_FAILED]" in api.error_message(response)


def test_rate_limit_headers_feed_the_budget() -> None:
    budget = RequestBudget(0, 2.0)
    api.observe_rate_limit(
        budget,
        requests.structures.CaseInsensitiveDict(
            {"X-RateLimit-Limit": "40", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "2"}
        ),
    )
    assert budget.limit == 40
    api.observe_rate_limit(budget, {"x-ratelimit-limit": "80"}, cap=30)
    assert budget.limit == 30  # the user's ceiling wins over a larger server limit


def test_retry_after_in_seconds_or_http_date() -> None:
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({}) is None
    later = retry_after_seconds({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert later is not None
    assert later > 1_000_000


@pytest.mark.parametrize(
    ("method", "path", "cost"),
    [
        ("GET", "/api/v2/deals", 10),
        ("GET", "/api/v2/deals/archived", 20),
        ("GET", "/api/v2/deals/12/followers/changelog", 10),
        ("GET", "/api/v2/stages", 5),
        ("GET", "/api/v2/deals/12", 1),
        ("GET", "/v1/notes", 20),
        ("PATCH", "/api/v2/persons/3", 5),
        ("DELETE", "/api/v2/persons/3", 3),
        ("PUT", "/v1/notes/3", 10),
    ],
)
def test_endpoint_costs(method: str, path: str, cost: int) -> None:
    assert api.endpoint_cost(method, path) == cost


def test_oauth_server_follows_api_url() -> None:
    assert api.oauth_base(None) == "https://oauth.pipedrive.com"
    assert api.oauth_base("https://acme.pipedrive.com") == "https://oauth.pipedrive.com"
    assert api.oauth_base("http://127.0.0.1:5000/pipedrive/") == "http://127.0.0.1:5000/pipedrive"
    assert api.oauth_base("http://x", "https://o.example/") == "https://o.example"


def test_credential_problems_name_the_setting() -> None:
    assert (
        api.credential_problems(
            api_token="t",
            client_id=None,
            client_secret=None,
            refresh_token=None,
            oauth_token_file=None,
        )
        == []
    )
    both = api.credential_problems(
        api_token="t", client_id="c", client_secret="s", refresh_token="r", oauth_token_file="f"
    )
    assert "not both" in both[0]
    missing = api.credential_problems(
        api_token=None, client_id="c", client_secret=None, refresh_token="r", oauth_token_file=None
    )
    assert any("client_secret" in line for line in missing)
    assert any("oauth_token_file" in line for line in missing)


def test_token_store_round_trip_is_private(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "pd" / "token.json")
    assert store.load() is None
    store.save("r-1")
    assert store.load() == "r-1"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_token_store_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("not json")
    with pytest.raises(TokenStoreError, match="oauth_token_file"):
        FileTokenStore(path).load()
    # what the tap and target see: a PipedriveError, which they print as one line
    with pytest.raises(api.PipedriveError, match="oauth_token_file"):
        api.make_auth(client_id="c", client_secret="s", oauth_token_file=str(path))


class _FakeTokenServer:
    """Stands in for the token endpoint: rotates the refresh token on every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    def __call__(
        self, url: str, cid: str, secret: str, form: dict[str, str], **options: Any
    ) -> dict[str, Any]:
        self.calls.append(dict(form))
        n = len(self.calls)
        return {
            "access_token": f"a-{n}",
            "refresh_token": f"r-{n + 1}",
            "expires_in": 3600,
            "api_domain": "https://acme.pipedrive.com",
        }


def test_oauth_refreshes_early_and_keeps_the_rotated_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _FakeTokenServer()
    monkeypatch.setattr(api, "exchange_token", server)
    now = [1000.0]
    store = FileTokenStore(tmp_path / "token.json")
    auth = api.OAuthAuth("http://x/oauth/token", "cid", "sec", "r-1", store, clock=lambda: now[0])
    assert auth.access_token() == "a-1"
    assert server.calls[0]["refresh_token"] == "r-1"
    assert store.load() == "r-2"  # saved before it is needed
    assert auth.api_domain == "https://acme.pipedrive.com"
    now[0] += 3600 - 30  # inside the safety margin: refresh before the token expires
    assert auth.access_token() == "a-2"
    assert server.calls[1]["refresh_token"] == "r-2"
    # A new process reads the newest token from the file, not the stale config value.
    again = api.OAuthAuth("http://x/oauth/token", "cid", "sec", "r-1", store)
    again.access_token()
    assert server.calls[2]["refresh_token"] == "r-3"
    assert "r-" not in repr(again)


def test_oauth_401_refreshes_once_per_rejected_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _FakeTokenServer()
    monkeypatch.setattr(api, "exchange_token", server)
    auth = api.OAuthAuth("u", "c", "s", "r-1", FileTokenStore(tmp_path / "t.json"))
    token = auth.access_token()
    auth.refresh_after_401(f"Bearer {token}")
    auth.refresh_after_401(f"Bearer {token}")  # a second thread saw the same 401: no refresh
    assert len(server.calls) == 2


class _StoreThatFailsToSave(FileTokenStore):
    """A shared store whose database goes away between reading and writing the token."""

    def save(self, refresh_token: str) -> None:
        raise TokenStoreError("oauth_token_file postgresql://crm:***@db/crm: connection lost")


def test_a_store_failing_mid_refresh_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "exchange_token", _FakeTokenServer())
    auth = api.OAuthAuth("u", "c", "s", "r-1", _StoreThatFailsToSave(tmp_path / "t.json"))
    with pytest.raises(api.PipedriveError, match=r"oauth_token_file .*connection lost"):
        auth.access_token()


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_spent_window_we_filled_ourselves_costs_no_extra_hold() -> None:
    fake = _FakeTime()
    budget = RequestBudget(4, 2.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(4):
        budget.acquire()
        fake.now += 0.1
    # the server agrees the window is spent and rounds its reset up to 2 s
    budget.observe(limit=4, remaining=0, reset_seconds=2)
    budget.acquire()
    assert fake.now == pytest.approx(2.0)  # the oldest send left the window: no more


def test_a_window_spent_by_another_client_holds_everyone() -> None:
    fake = _FakeTime()
    budget = RequestBudget(4, 2.0, clock=fake.clock, sleep=fake.sleep)
    budget.acquire()
    budget.observe(limit=4, remaining=0, reset_seconds=2)
    budget.acquire()
    assert fake.now == pytest.approx(2.0)


# ----------------------------------------------------------------------------- issue 10


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        (b"{}", "application/json", "without 'data'"),
        (b"[]", "application/json", "a list where a JSON object was expected"),
        (b"<html><body>Sign in</body></html>", "text/html", "an HTML page"),
        (b"", "application/json", "an empty body"),
        (b'{"success": true, "data": [{"id": 1}, {"id"', "application/json", "does not parse"),
        (b'{"success": true, "data": "oops"}', "application/json", "'data' is a string"),
        (b'{"success": true, "data": {"id": 1}}', "application/json", "'data' is an object"),
    ],
)
def test_a_body_that_is_not_the_envelope_is_one_line_naming_the_endpoint(
    body: bytes, content_type: str, what: str
) -> None:
    response = _response(200, body, {"Content-Type": content_type})
    response.url = "http://user:pw-SECRET@127.0.0.1:8080/api/v2/deals?limit=500"
    with pytest.raises(api.UnexpectedBodyError) as caught:
        api.envelope(response, "stream 'deals'", data="list")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("stream 'deals': Pipedrive answered /api/v2/deals with a body")
    assert what in message
    assert "http://127.0.0.1:8080" in message  # the host, never the password or the query
    assert "pw-SECRET" not in message
    assert "limit=500" not in message


def test_v1_empty_lists_and_objects_are_envelopes() -> None:
    assert api.envelope(_response(200, {"success": True, "data": None}), data="list")
    body = api.envelope(_response(200, {"success": True, "data": {"id": 1}}), data="object")
    assert body["data"] == {"id": 1}


class _Stub(requests.adapters.BaseAdapter):
    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        super().__init__()
        self.answer = (status, body, content_type)
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent += 1
        status, body, content_type = self.answer
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers["Content-Type"] = content_type
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_iter_v2_refuses_a_wrong_shape_page_instead_of_ending_the_list() -> None:
    session = requests.Session()
    session.mount("https://", _Stub(200, b'{"success": true, "data": "oops"}'))
    with pytest.raises(api.UnexpectedBodyError, match="'data' is a string"):
        list(api.iter_v2(session, "https://acme.pipedrive.com/api/v2/dealFields"))
    session.mount("https://", _Stub(200, b"<html></html>", "text/html"))
    with pytest.raises(api.UnexpectedBodyError, match="HTML page"):
        api.request_json(session, "GET", "https://acme.pipedrive.com/api/v2/deals/1")


def test_request_json_honours_tries_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.time, "sleep", lambda seconds: None)
    stub = _Stub(503, b'{"success": false, "error": "down"}')
    session = requests.Session()
    session.mount("https://", stub)
    lines: list[str] = []
    with pytest.raises(api.PipedriveError, match="gave up after 2 tries"):
        api.request_json(session, "GET", "https://acme.pipedrive.com/x", tries=2, log=lines.append)
    assert stub.sent == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.pipedrive.com",
        "http://user:pw-SECRET@example.com:8080/base",
        "http://10.0.0.5:8080",
        "ftp://acme.pipedrive.com",
        "https://",
    ],
)
def test_plain_http_to_a_remote_host_is_refused_before_anything_is_sent(url: str) -> None:
    for call in (
        lambda: api.connect(api_url=url, api_token="t"),
        lambda: api.make_auth(api_url=url, api_token="t"),
        lambda: api.exchange_token(url + "/oauth/token", "c", "s", {"grant_type": "x"}),
        lambda: api.authorization_url(url, "c", "http://127.0.0.1:1/callback"),
        lambda: api.make_auth(
            api_url="https://acme.pipedrive.com",
            client_id="c",
            client_secret="s",
            refresh_token="r",
            oauth_token_file="/nonexistent/token.json",
            oauth_url=url,
        ),
    ):
        with pytest.raises(api.PipedriveError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message
        assert "pw-SECRET" not in message
        assert "user" not in message
        assert "http" in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "http://127.5.0.1"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert api.connect(api_url=url, api_token="t").base_url == url
