"""crm_api.governor: a spent budget ends every wait at once (issue 10, defects 1 and 2)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from crm_api import pipedrive as api
from crm_api.governor import BudgetExhaustedError, RequestBudget, TokenAllowance


def test_exhaust_wakes_waiters_and_refuses_later_acquirers() -> None:
    budget = RequestBudget(0, 2.0)
    budget.hold(3600)  # everyone waits an hour (a long Retry-After held the old way)
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            budget.acquire()
        except BudgetExhaustedError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=waiter, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    budget.exhaust("the daily budget is spent; run again tomorrow")
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)  # woken, not asleep for an hour
    assert [str(e) for e in errors] == ["the daily budget is spent; run again tomorrow"] * 3
    with pytest.raises(BudgetExhaustedError, match="daily budget is spent"):
        budget.acquire()
    assert budget.exhausted == "the daily budget is spent; run again tomorrow"


def test_exhaust_with_an_injected_sleep_ends_the_wait_at_the_next_check() -> None:
    now = [0.0]
    calls: list[float] = []
    budget: RequestBudget

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        budget.exhaust("spent")  # e.g. another thread saw the daily 429 meanwhile

    budget = RequestBudget(1, 2.0, clock=lambda: now[0], sleep=sleep)
    budget.acquire()
    with pytest.raises(BudgetExhaustedError):
        budget.acquire()  # would wait 2 s for the window; the exhaust ends it
    assert calls == [2.0]


class _Adapter(requests.adapters.BaseAdapter):
    """Answers every request with the next canned response; counts sends."""

    def __init__(self, *responses: tuple[int, dict[str, str]]) -> None:
        super().__init__()
        self.responses = list(responses)
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        status, headers = self.responses[min(self.sent, len(self.responses) - 1)]
        self.sent += 1
        response = requests.Response()
        response.status_code = status
        response._content = b'{"success": false, "error": "Daily limit"}'
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_a_daily_429_exhausts_the_shared_budget_instead_of_holding_it() -> None:
    budget = RequestBudget(0, 2.0)
    session = api.PipedriveSession(budget, api.ApiTokenAuth("t"))
    adapter = _Adapter((429, {"Retry-After": str(16 * 3600)}))
    session.mount("https://", adapter)
    with pytest.raises(api.DailyBudgetSpentError, match="daily API budget is spent") as caught:
        session.get("https://acme.pipedrive.com/api/v2/deals")
    assert caught.value.status == 429
    assert "run again" in str(caught.value)
    # every other sender of this budget now fails at once, without a request
    other = api.PipedriveSession(budget, api.ApiTokenAuth("t"))
    other.mount("https://", adapter)
    with pytest.raises(api.DailyBudgetSpentError):
        other.get("https://acme.pipedrive.com/api/v2/persons")
    assert adapter.sent == 1
    # request_json does not retry it either
    with pytest.raises(api.DailyBudgetSpentError):
        api.request_json(other, "GET", "https://acme.pipedrive.com/api/v2/persons")
    assert adapter.sent == 1


def test_a_burst_429_still_holds_and_is_retried() -> None:
    budget = RequestBudget(0, 2.0)
    session = api.PipedriveSession(budget, api.ApiTokenAuth("t"))
    session.mount("https://", _Adapter((429, {"Retry-After": "0"}), (200, {})))
    response = session.get("https://acme.pipedrive.com/api/v2/deals")
    assert response.status_code == 429
    assert budget.exhausted is None


def test_a_new_connection_gets_a_fresh_budget_after_an_exhausted_one() -> None:
    first = api.shared_budget("https://x.example", "tok-governor-test")
    assert api.shared_budget("https://x.example", "tok-governor-test") is first
    first.exhaust("spent")
    assert api.shared_budget("https://x.example", "tok-governor-test") is not first


def test_a_long_retry_after_hold_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    budget = RequestBudget(0, 2.0)
    session = api.PipedriveSession(budget, api.ApiTokenAuth("t"))
    session.mount("https://", _Adapter((429, {"Retry-After": "30"})))
    with caplog.at_level("WARNING", logger="crm_api.pipedrive"):
        session.get("https://acme.pipedrive.com/api/v2/deals")
    assert any("waits 30 s" in r.getMessage() for r in caplog.records)


def test_request_json_logs_a_long_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.time, "sleep", lambda seconds: None)
    session = requests.Session()
    session.mount("https://", _Adapter((503, {})))
    lines: list[str] = []
    with pytest.raises(api.PipedriveError, match="gave up after 4 tries"):
        api.request_json(session, "GET", "https://acme.pipedrive.com/x", tries=4, log=lines.append)
    assert len(lines) == 1  # waits of 1 and 2 s pass quietly; the 4 s one says what it waits for
    assert "retrying in 4 s (try 4 of 4)" in lines[0]
    assert "HTTP 503" in lines[0]


# ----------------------------------------------------------------------------- issue 16: caps


def test_an_allowance_refuses_the_request_that_would_pass_its_cap() -> None:
    allowance = TokenAllowance(limit=100)
    assert all(allowance.take(40) for _ in range(2))
    assert not allowance.take(40)  # 120 > 100: not sent, not counted
    assert allowance.take(20)  # exactly 100 still fits
    assert (allowance.spent, allowance.requests) == (100, 3)
    allowance.reach("stopped")
    assert not allowance.take(0)  # once stopped, no thread sends another


def test_a_share_of_the_day_caps_from_what_was_left_before_the_run() -> None:
    allowance = TokenAllowance(share=0.5)
    assert allowance.limit is None  # until the API says what is left
    assert allowance.take(10)
    allowance.observe_day(limit=1000, remaining=590)  # 600 were left before our 10
    assert allowance.limit == 300
    both = TokenAllowance(limit=200, share=0.5)
    both.take(10)
    both.observe_day(limit=1000, remaining=990)
    assert both.limit == 200  # the lower cap wins


def test_a_capped_session_stops_every_thread_with_the_cap_line() -> None:
    budget = RequestBudget(0, 2.0)
    allowance = TokenAllowance(limit=25)
    session = api.PipedriveSession(budget, api.ApiTokenAuth("t"), allowance=allowance)
    adapter = _Adapter((200, {}))
    session.mount("https://", adapter)
    session.get("https://acme.pipedrive.com/api/v2/deals")  # 10
    session.get("https://acme.pipedrive.com/api/v2/persons")  # 20 in all
    with pytest.raises(api.RunCapReachedError, match=r"token cap .* run again"):
        session.get("https://acme.pipedrive.com/api/v2/deals")  # 30 > 25: not sent
    assert adapter.sent == 2
    other = api.PipedriveSession(budget, api.ApiTokenAuth("t"), allowance=allowance)
    with pytest.raises(api.RunCapReachedError):  # another thread: refused at once too
        other.get("https://acme.pipedrive.com/api/v2/stages")
    assert isinstance(api.RunCapReachedError("x"), api.DailyBudgetSpentError)
