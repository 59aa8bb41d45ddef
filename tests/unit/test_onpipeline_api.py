"""crm_api.onpipeline: the envelope, errors, the URL rule, value conversions (HTTP stubbed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from crm_api.governor import RequestBudget
from crm_api.onpipeline import (
    OnpipelineAnswerTooLargeError,
    OnpipelineAuthError,
    OnpipelineClient,
    OnpipelineConfigError,
    OnpipelineError,
    OnpipelineRateLimitError,
    OnpipelineResponseError,
    OnpipelineRetriableError,
    check_api_url,
    clean_date,
    custom_field_columns,
    parse_envelope,
    to_integer,
    to_local,
    to_number,
    to_utc,
)
from crm_api.retry import RetryPolicy

# -- URL rule -------------------------------------------------------------------------------


def test_https_urls_and_loopback_http_are_accepted() -> None:
    assert check_api_url(None) == "https://api.onpipeline.com"
    assert check_api_url("https://example.test/") == "https://example.test"
    assert check_api_url("http://127.0.0.1:8080/onpipeline") == "http://127.0.0.1:8080/onpipeline"
    assert check_api_url("http://localhost:9/x") == "http://localhost:9/x"
    assert check_api_url("http://[::1]:9/x") == "http://[::1]:9/x"


@pytest.mark.parametrize("url", ["http://api.onpipeline.com", "http://10.0.0.5:80", "ftp://x"])
def test_plain_http_to_a_network_host_is_refused_with_the_setting_named(url: str) -> None:
    with pytest.raises(OnpipelineConfigError, match=r"api_url .* only https://"):
        check_api_url(url)


# -- envelope -------------------------------------------------------------------------------


def test_data_of_a_list_answer() -> None:
    body = b'{"Header":{"Code":"200","Time":"2024-01-01 10:00:00"},"Data":[{"PersonID":"1"}]}'
    envelope = parse_envelope("PersonList", 200, body)
    assert envelope.data == [{"PersonID": "1"}]
    assert envelope.header["Time"] == "2024-01-01 10:00:00"


def test_error_envelope_becomes_one_line_with_resource_code_and_message() -> None:
    body = b'{"Error":{"Code":"406","Message":"Not acceptable - Invalid JSON"}}'
    with pytest.raises(OnpipelineError) as caught:
        parse_envelope("PersonChange", 406, body)
    assert str(caught.value) == "Onpipeline PersonChange failed: 406 Not acceptable - Invalid JSON"
    assert (caught.value.resource, caught.value.code) == ("PersonChange", "406")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("code", [401, 403])
def test_auth_errors_name_the_setting_to_fix(code: int) -> None:
    body = b'{"Error":{"Code":"%d","Message":"Invalid Token"}}' % code
    with pytest.raises(OnpipelineAuthError, match="api_token"):
        parse_envelope("PersonList", code, body)


def test_error_envelope_with_status_200_is_still_an_error() -> None:
    with pytest.raises(OnpipelineError, match="404 Resource not found"):
        parse_envelope("Nope", 200, b'{"Error":{"Code":404,"Message":"Resource not found"}}')


def test_429_and_5xx_are_retriable() -> None:
    with pytest.raises(OnpipelineRateLimitError):
        parse_envelope("PersonList", 429, b'{"Error":{"Code":"429","Message":"Too many"}}')
    with pytest.raises(OnpipelineRetriableError, match=r"502 .*HTML page: Bad gateway"):
        parse_envelope("PersonList", 502, b"<html><title>Bad gateway</title></html>", "text/html")


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"<html><body>Maintenance</body></html>", "text/html", "an HTML page"),
        (b"", "application/json", "an empty body"),
        (b'{"Other": 1}', "application/json", "an object instead of the Header/Data envelope"),
    ],
)
def test_unexpected_answers_are_reported_not_tracebacks(
    body: bytes, content_type: str, expected: str
) -> None:
    with pytest.raises(OnpipelineResponseError, match=expected):
        parse_envelope("PersonList", 200, body, content_type)


def test_bare_list_is_accepted_as_product_list_data() -> None:
    assert parse_envelope("ProductList", 200, b'["A","B"]').data == ["A", "B"]


# -- client (stubbed session) ----------------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.content = body
        # requests' headers look names up case-insensitively; so must ours.
        self.headers = CaseInsensitiveDict(headers or {"Content-Type": "application/json"})


class StreamedResponse:
    """A 200 whose body is read only through ``iter_content`` (what ``stream=True`` gives):
    counts the chunks taken and whether the response was closed."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str] | None = None) -> None:
        self.status_code = 200
        self.chunks = chunks
        self.taken = 0
        self.closed = False
        self.headers = CaseInsensitiveDict(headers or {"Content-Type": "application/json"})

    @property
    def content(self) -> bytes:
        raise AssertionError("a bounded answer must be read chunk by chunk")

    def iter_content(self, chunk_size: int) -> Any:
        for chunk in self.chunks:
            self.taken += 1
            yield chunk

    def close(self) -> None:
        self.closed = True


class FakeSession:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []
        self.streamed: list[bool] = []

    def post(
        self, url: str, data: bytes, headers: dict[str, str], timeout: float, stream: bool = False
    ) -> Any:
        self.sent.append((url, data, headers))
        self.streamed.append(stream)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(
    answers: list[Any], **kwargs: Any
) -> tuple[OnpipelineClient, FakeSession, list[float]]:
    session = FakeSession(answers)
    sleeps: list[float] = []
    client = OnpipelineClient(
        "secret-token",
        "http://127.0.0.1:1/onpipeline",
        timezone="Europe/Rome",
        requests_per_minute=0,
        session=session,  # type: ignore[arg-type]
        sleep=sleeps.append,
        **kwargs,
    )
    return client, session, sleeps


OK = FakeResponse(200, b'{"Header":{"Time":"2024-07-01 12:00:00"},"Data":[{"ID":"1"}]}')


def test_call_posts_json_with_the_token_in_authorization() -> None:
    client, session, _ = make_client([OK])
    assert client.call("UsersList", {"A": 1}) == [{"ID": "1"}]
    url, data, headers = session.sent[0]
    assert url == "http://127.0.0.1:1/onpipeline/UsersList"
    assert data == b'{"A": 1}'
    assert headers["Authorization"] == "secret-token"


def test_server_time_is_learned_from_the_header_in_the_account_time_zone() -> None:
    client, _, _ = make_client([OK])
    client.call("UsersList")
    assert client.server_now().isoformat().startswith("2024-07-01T10:00")  # Rome is UTC+2 in July


def test_500_and_dropped_connections_are_retried_with_backoff() -> None:
    answers = [
        FakeResponse(500, b'{"Error":{"Code":"500","Message":"Try again later"}}'),
        requests.ConnectionError("connection reset"),
        OK,
    ]
    client, session, sleeps = make_client(answers)
    assert client.call("UsersList") == [{"ID": "1"}]
    assert len(session.sent) == 3
    assert sleeps == [1.0, 2.0]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_429_holds_the_shared_budget_for_retry_after() -> None:
    limited = FakeResponse(
        429, b'{"Error":{"Code":"429","Message":"Too many"}}', {"Retry-After": "7"}
    )
    fake = FakeTime()
    budget = RequestBudget(60, 60.0, clock=fake.clock, sleep=fake.sleep)
    client, session, _ = make_client([limited, OK], budget=budget)
    assert client.call("UsersList") == [{"ID": "1"}]
    assert len(session.sent) == 2
    assert fake.sleeps == [7.0]  # the retry waited in the budget every sender shares


def test_retries_give_up_with_the_last_error() -> None:
    fault = FakeResponse(503, b'{"Error":{"Code":"503","Message":"Unavailable"}}')
    client, session, _ = make_client([fault, fault, fault], policy=RetryPolicy(tries=3))
    with pytest.raises(OnpipelineRetriableError, match="503 Unavailable"):
        client.call("UsersList")
    assert len(session.sent) == 3


def test_non_idempotent_writes_are_not_resent_after_a_dropped_connection() -> None:
    client, session, _ = make_client([requests.ConnectionError("reset"), OK])
    with pytest.raises(OnpipelineRetriableError):
        client.call("PersonAdd", {"FirstName": "A"}, idempotent=False)
    assert len(session.sent) == 1


def test_the_token_never_appears_in_errors() -> None:
    client, _, _ = make_client(
        [FakeResponse(401, b'{"Error":{"Code":"401","Message":"Invalid Token"}}')]
    )
    with pytest.raises(OnpipelineAuthError) as caught:
        client.call("UsersList")
    assert "secret-token" not in str(caught.value)


# -- bounded answers (the API has no paging: a caller may cap what one answer costs) ----------


def person_chunks(count: int) -> list[bytes]:
    """A valid PersonList envelope, one chunk per record (about 40 bytes each)."""
    records = [b'{"PersonID":"%d","Name":"person"}' % i for i in range(count)]
    return [b'{"Header":{},"Data":[', *(r + b"," for r in records[:-1]), records[-1] + b"]}"]


def test_an_answer_past_max_bytes_is_abandoned_unparsed_and_not_retried() -> None:
    answer = StreamedResponse(person_chunks(1000))
    client, session, sleeps = make_client([answer])
    with pytest.raises(OnpipelineAnswerTooLargeError) as caught:
        client.call_list("PersonList", {}, max_bytes=400)
    assert caught.value.max_bytes == 400
    assert session.streamed == [True]
    assert answer.taken < 20  # stopped just past 400 bytes, not after 1000 records
    assert answer.closed
    assert (len(session.sent), sleeps, client.abandoned_count) == (1, [], 1)
    # Not an API refusal: handlers of OnpipelineError (one line for the user) never see it.
    assert not isinstance(caught.value, OnpipelineError)


def test_a_declared_length_past_max_bytes_is_abandoned_before_any_byte() -> None:
    answer = StreamedResponse(person_chunks(1000), {"Content-Length": "40000"})
    client, _, _ = make_client([answer])
    with pytest.raises(OnpipelineAnswerTooLargeError):
        client.call_list("PersonList", {}, max_bytes=400)
    assert (answer.taken, answer.closed) == (0, True)


def test_an_answer_within_max_bytes_is_read_and_checked_as_usual() -> None:
    answer = StreamedResponse(person_chunks(5), {"Content-Length": "200"})
    client, session, _ = make_client([answer])
    records = client.call_list("PersonList", {}, max_bytes=400)
    assert [r["PersonID"] for r in records] == ["0", "1", "2", "3", "4"]
    assert (session.streamed, client.abandoned_count) == ([True], 0)


def test_an_answer_cut_while_streaming_is_retried_like_a_dropped_connection() -> None:
    class CutResponse(StreamedResponse):
        def iter_content(self, chunk_size: int) -> Any:
            yield self.chunks[0]
            raise requests.exceptions.ChunkedEncodingError("connection broken")

    client, session, sleeps = make_client(
        [CutResponse(person_chunks(5)), StreamedResponse(person_chunks(1))]
    )
    assert client.call_list("PersonList", {}, max_bytes=400) == [
        {"PersonID": "0", "Name": "person"}
    ]
    assert (session.streamed, sleeps) == ([True, True], [1.0])


def test_answers_without_max_bytes_are_not_streamed() -> None:
    client, session, _ = make_client([OK])
    client.call_list("PersonList", {})
    assert session.streamed == [False]


# -- values ---------------------------------------------------------------------------------


def test_local_datetimes_become_rfc3339_utc() -> None:
    assert to_utc("2015-02-09 12:35:41", "Europe/Rome") == "2015-02-09T11:35:41Z"  # winter, +1
    assert to_utc("2015-07-09 12:35:41", "Europe/Rome") == "2015-07-09T10:35:41Z"  # summer, +2
    assert to_utc("2015-07-09 12:35:41", "America/New_York") == "2015-07-09T16:35:41Z"
    assert to_utc("2015-07-09T12:35:41+00:00", "Europe/Rome") == "2015-07-09T12:35:41Z"
    for empty in ("0000-00-00 00:00:00", "", None, "0000-00-00"):
        assert to_utc(empty, "Europe/Rome") is None


def test_utc_back_to_local_for_filters() -> None:
    import pendulum

    assert (
        to_local(pendulum.datetime(2015, 7, 9, 10, 35, 41), "Europe/Rome") == "2015-07-09 12:35:41"
    )


def test_numbers_and_dates() -> None:
    assert to_number("1000.00") == Decimal("1000.00")
    assert to_integer("50") == 50
    assert to_integer("50.00") == 50
    assert to_number("") is None
    assert to_integer("abc") is None
    assert clean_date("0000-00-00") is None
    assert clean_date("") is None
    assert clean_date("2015-05-28") == "2015-05-28"


def test_custom_field_columns_are_snake_case_unique_and_stable() -> None:
    fields = [
        {"ID": "30", "Name": "Role"},
        {"ID": "10", "Name": "Frequent Buyer"},
        {"ID": "20", "Name": "role"},
        {"ID": "40", "Name": "First Name"},
    ]
    columns = custom_field_columns(fields, reserved=["PersonID", "first_name"])
    assert columns == {
        "10": "frequent_buyer",
        "20": "role",
        "30": "role_30",
        "40": "first_name_40",
    }
    assert custom_field_columns(list(reversed(fields)), ["first_name"]) == columns


def test_a_timezone_setting_that_disagrees_with_the_api_clock_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The API says 12:00 local while its Date header says 10:00 UTC: the account is UTC+2,
    # but the setting says UTC.
    answer = FakeResponse(
        200,
        b'{"Header":{"Time":"2024-07-01 12:00:00"},"Data":[]}',
        {"Content-Type": "application/json", "Date": "Mon, 01 Jul 2024 10:00:00 GMT"},
    )
    session = FakeSession([answer, answer])
    client = OnpipelineClient(
        "t",
        "http://127.0.0.1:1",
        timezone="UTC",
        requests_per_minute=0,
        session=session,  # type: ignore[arg-type]
    )
    client.call("UsersList")
    client.call("UsersList")
    warnings = [r.getMessage() for r in caplog.records if "does not match" in r.getMessage()]
    assert len(warnings) == 1
    assert "'UTC' (UTC+0 h)" in warnings[0]
    assert "UTC+2 h" in warnings[0]
    assert client.server_now().isoformat().startswith("2024-07-01T10:00")  # from Date


def test_a_matching_timezone_setting_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    answer = FakeResponse(
        200,
        b'{"Header":{"Time":"2024-07-01 12:00:00"},"Data":[]}',
        {"Content-Type": "application/json", "Date": "Mon, 01 Jul 2024 10:00:00 GMT"},
    )
    client = OnpipelineClient(
        "t",
        "http://127.0.0.1:1",
        timezone="Europe/Rome",
        requests_per_minute=0,
        session=FakeSession([answer]),  # type: ignore[arg-type]
    )
    client.call("UsersList")
    assert "does not match" not in caplog.text
