"""crm_api.onpipeline: the one envelope check, retries that honour the user's settings, and
the lines a long wait or a spent budget logs (HTTP stubbed).

Issue 10: an answer that is not the documented envelope (a JSON list, ``Data`` a string,
``{}``) passed for an empty list, so the tap ended a sync as complete and moved its bookmark.
"""

from __future__ import annotations

import email.utils
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from crm_api import onpipeline as api
from crm_api.onpipeline import (
    OnpipelineClient,
    OnpipelineConfigError,
    OnpipelineError,
    OnpipelineResponseError,
    OnpipelineRetriableError,
    parse_envelope,
)
from crm_api.retry import RetryPolicy

# Every resource whose Data is a list of records (the tap's and the target's reads).
LIST_RESOURCES = [
    "PersonList",
    "OrgList",
    "DealsList",
    "EventList",
    "NotesList",
    "InvoiceList",
    "InvoiceItems",
    "UsersList",
    "TeamsList",
    "PipelineList",
    "LastUpdate",
    "ListCustomFields",
]
HEADER = b'"Header":{"Status":"Accepted","Code":"200","Time":"2024-07-01 12:00:00"}'

ODD_BODIES = [
    pytest.param(b"[]", "", "a JSON list instead of the Header/Data envelope", id="empty-list"),
    pytest.param(b'[{"PersonID":"1"}]', "", "a JSON list instead of", id="list"),
    pytest.param(b"{}", "", "an empty object instead of the Header/Data", id="empty-object"),
    pytest.param(b"{" + HEADER + b',"Data":"oops"}', "", "Data is a string", id="data-string"),
    pytest.param(b"{" + HEADER + b',"Data":null}', "", "Data is null", id="data-null"),
    pytest.param(b"{" + HEADER + b"}", "", "no Data", id="no-data"),
    pytest.param(b"{" + HEADER + b',"Data":{"ID":"1"}}', "", "Data is an object", id="data-obj"),
    pytest.param(b"{" + HEADER + b',"Data":["x"]}', "", "Data holds a string", id="not-records"),
    pytest.param(b"<html><p>Proxy</p></html>", "text/html", "an HTML page", id="html"),
    pytest.param(b"", "application/json", "an empty body", id="empty"),
    pytest.param(b"{" + HEADER + b',"Data":[{"ID":"1"},{"I', "", "not JSON", id="truncated"),
]


@pytest.mark.parametrize("resource", LIST_RESOURCES)
@pytest.mark.parametrize(("body", "content_type", "expected"), ODD_BODIES)
def test_a_list_answer_that_is_not_the_envelope_is_an_error_naming_the_resource(
    resource: str, body: bytes, content_type: str, expected: str
) -> None:
    with pytest.raises(OnpipelineResponseError) as caught:
        parse_envelope(resource, 200, body, content_type)
    line = str(caught.value)
    assert line.startswith(f"Onpipeline {resource} failed: 200 unexpected answer: ")
    assert expected in line
    assert "\n" not in line


def test_a_list_answer_in_the_envelope_is_its_records() -> None:
    body = b"{" + HEADER + b',"Data":[{"PersonID":"1"},{"PersonID":"2"}]}'
    assert parse_envelope("PersonList", 200, body).data == [{"PersonID": "1"}, {"PersonID": "2"}]
    assert parse_envelope("PersonList", 200, b"{" + HEADER + b',"Data":[]}').data == []


def test_product_list_is_names_bare_or_in_the_envelope_and_nothing_else() -> None:
    assert parse_envelope("ProductList", 200, b'["A","B"]').data == ["A", "B"]
    assert parse_envelope("ProductList", 200, b"{" + HEADER + b',"Data":["A"]}').data == ["A"]
    with pytest.raises(OnpipelineResponseError, match="Data is a string"):
        parse_envelope("ProductList", 200, b"{" + HEADER + b',"Data":"A"}')
    with pytest.raises(OnpipelineResponseError, match="Data holds a number"):
        parse_envelope("ProductList", 200, b"[1, 2]")


def test_a_write_answered_by_a_bare_list_is_not_a_success() -> None:
    accepted = b'{"Header":{"Status":"Accepted","Code":"202","PersonID":"7"}}'
    assert parse_envelope("PersonChange", 202, accepted).header["PersonID"] == "7"
    created = b'{"Header":{"Code":"201"},"Data":{"PersonID":"8"}}'
    assert parse_envelope("PersonAdd", 201, created).data == {"PersonID": "8"}
    for body in (b"[]", b"{}", b'["ok"]'):
        with pytest.raises(OnpipelineResponseError, match="PersonChange failed"):
            parse_envelope("PersonChange", 200, body)


# -- the client (stubbed session) -----------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.content = body
        # requests' headers look names up case-insensitively; so must ours.
        self.headers = CaseInsensitiveDict(headers or {"Content-Type": "application/json"})


class FakeSession:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.sent: list[str] = []
        self.timeouts: list[float] = []

    def post(self, url: str, data: bytes, headers: dict[str, str], timeout: float) -> Any:
        self.sent.append(url.rsplit("/", 1)[-1])
        self.timeouts.append(timeout)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(answers: list[Any], **kwargs: Any) -> tuple[OnpipelineClient, FakeSession, list]:
    session = FakeSession(answers)
    sleeps: list[float] = []
    client = OnpipelineClient(
        "secret-token",
        "http://127.0.0.1:1/onpipeline",
        requests_per_minute=0,
        session=session,  # type: ignore[arg-type]
        sleep=sleeps.append,
        **kwargs,
    )
    return client, session, sleeps


OK = FakeResponse(200, b"{" + HEADER + b',"Data":[{"ID":"1"}]}')
HTML = FakeResponse(200, b"<html><title>Gateway</title></html>", {"Content-Type": "text/html"})


def test_call_list_returns_the_checked_records() -> None:
    client, _, _ = client_for([OK])
    assert client.call_list("UsersList") == [{"ID": "1"}]
    with pytest.raises(ValueError, match="PersonAdd is not a list resource"):
        client.call_list("PersonAdd", {})


def test_a_wrong_shape_answer_is_not_retried() -> None:
    client, session, sleeps = client_for([FakeResponse(200, b"[]")], policy=RetryPolicy(tries=5))
    with pytest.raises(OnpipelineResponseError, match="a JSON list"):
        client.call_list("PersonList", {})
    assert session.sent == ["PersonList"]
    assert sleeps == []


def test_a_garbled_read_is_retried_and_then_fails_with_the_tries_named() -> None:
    client, session, sleeps = client_for([HTML, HTML, OK], policy=RetryPolicy(tries=3))
    assert client.call_list("UsersList") == [{"ID": "1"}]
    assert sleeps == [1.0, 2.0]
    client, session, _ = client_for([HTML], policy=RetryPolicy(tries=3))
    with pytest.raises(OnpipelineResponseError) as caught:
        client.call_list("UsersList")
    assert len(session.sent) == 3
    assert "an HTML page" in str(caught.value)
    assert "gave up after 3 tries; see max_request_tries" in str(caught.value)


def test_a_garbled_answer_to_a_create_is_not_resent() -> None:
    client, session, _ = client_for([HTML, OK], policy=RetryPolicy(tries=5))
    with pytest.raises(OnpipelineResponseError):
        client.call("PersonAdd", {"FirstName": "A"}, idempotent=False)
    assert len(session.sent) == 1


@pytest.mark.parametrize("tries", [1, 2, 4])
def test_an_unreachable_host_is_tried_max_tries_times(tries: int) -> None:
    client, session, sleeps = client_for(
        [requests.ConnectionError("refused")], policy=RetryPolicy(tries=tries)
    )
    with pytest.raises(OnpipelineRetriableError) as caught:
        client.call("UsersList")
    assert len(session.sent) == tries
    assert len(sleeps) == tries - 1
    assert f"gave up after {tries} tr{'y' if tries == 1 else 'ies'}" in str(caught.value)


def test_the_request_timeout_is_the_one_given() -> None:
    client, session, _ = client_for([OK], policy=RetryPolicy(timeout=7.5))
    client.call("UsersList")
    assert session.timeouts == [7.5]


def test_retry_after_as_an_http_date_is_waited_out() -> None:
    # The one Retry-After parser (crm_api.retry) reads the HTTP-date form too.
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    limited = FakeResponse(
        429, b'{"Error":{"Code":"429","Message":"Too Many Requests"}}', {"Retry-After": when}
    )
    client, _, sleeps = client_for([limited, OK])
    held: list[float] = []
    client.budget.hold = held.append  # type: ignore[method-assign]
    assert client.call_list("UsersList") == [{"ID": "1"}]
    assert len(held) == 1
    assert 20 < held[0] <= 30
    assert sleeps == []


def test_the_client_takes_the_users_settings_from_the_config() -> None:
    config = {
        "api_token": "secret-token",
        "api_url": "http://127.0.0.1:1/onpipeline",
        "max_request_tries": 3,
        "request_timeout": 4,
        "onpipeline_requests_per_minute": 0,
        "timezone": "Europe/Rome",
    }
    client = OnpipelineClient.from_config(config)
    assert (client.max_tries, client.timeout, client.timezone) == (3, 4.0, "Europe/Rome")
    assert client.budget.limit == 0
    target = OnpipelineClient.from_config(
        {**config, "onpipeline_requests_per_minute": 30}, timezone_setting=None
    )
    assert (target.timezone, target.budget.limit) == ("UTC", 30)
    default = OnpipelineClient.from_config({"api_token": "t"})
    assert default.budget.limit == api.REQUESTS_PER_MINUTE


def test_a_long_wait_is_announced_with_what_it_waits_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limited = FakeResponse(
        429, b'{"Error":{"Code":"429","Message":"Too Many Requests"}}', {"Retry-After": "12"}
    )
    client, _, _ = client_for([limited, OK], policy=RetryPolicy(tries=6))
    held: list[float] = []
    client.budget.hold = held.append  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="crm_api.onpipeline"):
        assert client.call_list("UsersList") == [{"ID": "1"}]
    assert held == [12.0]
    lines = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert lines == [
        "Onpipeline UsersList: 429 Too Many Requests; waiting 12 s as Retry-After asks "
        "before try 2 of 6 (max_request_tries)"
    ]


def test_a_429_asking_for_hours_ends_at_once_with_one_line() -> None:
    spent = FakeResponse(
        429, b'{"Error":{"Code":"429","Message":"Too Many Requests"}}', {"Retry-After": "57600"}
    )
    client, session, sleeps = client_for([spent, OK])
    held: list[float] = []
    client.budget.hold = held.append  # type: ignore[method-assign]
    with pytest.raises(OnpipelineError) as caught:
        client.call_list("PersonList")
    assert not isinstance(caught.value, OnpipelineRetriableError)
    assert "asks to wait 57600 s" in str(caught.value)
    assert len(session.sent) == 1
    assert held == []
    assert sleeps == []


def test_a_spent_budget_ends_every_client_sharing_it_without_a_request() -> None:
    spent = FakeResponse(
        429, b'{"Error":{"Code":"429","Message":"Too Many Requests"}}', {"Retry-After": "57600"}
    )
    first, _, _ = client_for([spent])
    with pytest.raises(api.OnpipelineBudgetSpentError):
        first.call_list("PersonList")
    second, session, _ = client_for([OK], budget=first.budget)  # e.g. another writer thread
    with pytest.raises(api.OnpipelineBudgetSpentError, match="asks to wait 57600 s") as caught:
        second.call("PersonAdd", {"FirstName": "A"}, idempotent=False)
    assert session.sent == []
    assert str(caught.value).startswith("Onpipeline PersonAdd failed: 429 Too Many Requests")


def test_the_budget_wait_for_the_per_minute_limit_is_announced_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []
    pacing = api._PacingLog(60, sleep=slept.append)
    with caplog.at_level(logging.INFO, logger="crm_api.onpipeline"):
        pacing(0.5)  # short: silent
        pacing(40.0)
        pacing(39.0)  # the same wait, re-checked by the budget: said once
    assert slept == [0.5, 40.0, 39.0]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Onpipeline: waiting 40 s for the request budget (onpipeline_requests_per_minute: 60 "
        "requests per minute; the vendor's limit is 60)"
    ]


def test_an_empty_token_is_one_line_naming_api_token() -> None:
    with pytest.raises(OnpipelineConfigError, match=r"^api_token is empty: set it to"):
        OnpipelineClient("", "http://127.0.0.1:1")


def clock_answer() -> FakeResponse:
    return FakeResponse(
        200,
        b'{"Header":{"Time":"2024-07-01 12:00:00"},"Data":[]}',
        {"Content-Type": "application/json", "Date": "Mon, 01 Jul 2024 10:00:00 GMT"},
    )


def test_the_zone_warning_names_the_callers_setting(caplog: pytest.LogCaptureFixture) -> None:
    client, _, _ = client_for([clock_answer()], timezone="UTC")
    client.call("UsersList")
    assert "set timezone to the account's IANA time zone" in caplog.text


def test_a_caller_without_a_zone_setting_gets_no_zone_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # target-crm converts no local times and has no `timezone` setting to point at.
    client, _, _ = client_for([clock_answer()], timezone="UTC", timezone_setting=None)
    client.call("UsersList")
    assert "does not match" not in caplog.text
    assert client.server_now().isoformat().startswith("2024-07-01T10:00")
