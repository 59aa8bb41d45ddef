"""crm_api.governor: the sends made before the server's limit was known count against it.

The Pipedrive budget starts unlimited and adopts ``x-ratelimit-limit`` from the first answer.
The requests already in flight by then were sent too: forgetting them let a run's first
window carry limit + in-flight requests, and the server answered 429 with a 2 s hold.
"""

from __future__ import annotations

from crm_api.governor import RequestBudget


def test_sends_before_the_limit_was_learned_count_in_its_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RequestBudget(0, 2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(8):  # in flight before any answer told the limit
        budget.acquire()
    budget.set_limit(10)  # the first answer's x-ratelimit-limit
    budget.acquire()
    budget.acquire()
    assert slept == []  # 10 in the window: the limit
    budget.acquire()  # the 11th waits until the first sends leave the window
    assert slept == [2.0]


def test_sends_older_than_the_window_do_not_count_once_the_limit_is_learned() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RequestBudget(0, 2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(1000):  # 100 a second, unlimited: 200 in any window
        budget.acquire()
        now[0] += 0.01
    budget.set_limit(201)
    budget.acquire()
    assert slept == []
    budget.acquire()
    assert len(slept) == 1
