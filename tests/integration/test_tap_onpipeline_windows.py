"""Onpipeline creation/date windows against crm-sandbox: how many requests a full sync makes
(counted by the sandbox), and that no window edge loses or doubles a record."""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tap_crm.tap import TapCRM
from tests.integration.test_tap_onpipeline import config_for, requests_to, sandbox_ids, sync

WINDOWED = {
    "persons": ("PersonList", "persons"),
    "organizations": ("OrgList", "organizations"),
    "events": ("EventList", "events"),
    "notes": ("NotesList", "notes"),
    "invoices": ("InvoiceList", "invoices"),
}


def test_a_small_account_full_sync_is_one_request_per_windowed_stream(
    sandbox: SandboxHandle,
) -> None:
    # 1,000 records over the sandbox's years, asked for since 1999: no empty-year requests.
    sandbox.reset(size=300, seed=7)  # 300 deals/persons/notes, 600 events, 60 invoices
    sandbox.reset_counters()
    run = sync(config_for(sandbox, start_date="1999-01-01T00:00:00Z"))
    for stream, (resource, entity) in WINDOWED.items():
        assert sorted(run.ids(stream)) == sorted(sandbox_ids(sandbox, entity)), stream
        assert requests_to(sandbox, resource) == 1, resource
    assert requests_to(sandbox, "DealsList") == 2  # open/won/lost, and Status=deleted
    assert requests_to(sandbox, "InvoiceItems") == len(run.ids("invoices"))


def test_an_account_over_the_answer_limit_costs_one_thrown_away_answer(
    sandbox: SandboxHandle,
) -> None:
    sandbox.reset(size=300, seed=7)
    sandbox.reset_counters()
    run = sync(config_for(sandbox, onpipeline_max_records_per_window=100))
    assert sorted(run.ids("persons")) == sorted(sandbox_ids(sandbox, "persons"))
    assert len(run.ids("persons")) == len(set(run.ids("persons")))
    # 300 persons at 70 per window: about 5 windows, plus the one overfull answer discarded.
    assert requests_to(sandbox, "PersonList") <= 8


def test_the_remembered_density_sizes_the_next_full_walk(sandbox: SandboxHandle) -> None:
    sandbox.reset(size=300, seed=7)
    config = config_for(sandbox, onpipeline_max_records_per_window=100)
    first = sync(config)
    assert first.state["bookmarks"]["events"]["window_density"]
    sandbox.reset_counters()
    second = sync(config, first.state)  # events and notes walk every window every run
    assert sorted(second.ids("notes")) == sorted(sandbox_ids(sandbox, "notes"))
    # 300 notes at 70 a window: no answer thrown away now the density is known.
    assert requests_to(sandbox, "NotesList") <= 6


@pytest.mark.parametrize(
    ("size", "max_records"), [(300, 2000), (300, 7), (40, 3)], ids=["sparse", "dense", "tiny"]
)
def test_no_record_is_lost_or_doubled_at_window_edges(
    sandbox: SandboxHandle, size: int, max_records: int
) -> None:
    # The sandbox puts bursts of records in one second: edges fall inside and beside them.
    sandbox.reset(size=size, seed=11)
    run = sync(config_for(sandbox, onpipeline_max_records_per_window=max_records))
    for stream, (_, entity) in WINDOWED.items():
        ids = run.ids(stream)
        assert len(ids) == len(set(ids)), f"{stream}: doubled"
        assert sorted(ids) == sorted(sandbox_ids(sandbox, entity)), f"{stream}: lost"


def test_a_walk_stopped_mid_way_resumes_after_its_last_finished_window(
    sandbox: SandboxHandle,
) -> None:
    sandbox.reset(size=300, seed=7)
    config = config_for(sandbox, onpipeline_max_records_per_window=40)
    with redirect_stderr(io.StringIO()):
        tap = TapCRM(config=config, state={})
    persons = tap.streams["persons"]
    records = iter(persons.get_records(None))
    emitted: list[Any] = [next(records) for _ in range(100)]
    records.close()  # killed here: the state printed last is what the next run gets
    walk = persons.stream_state["window_walk"]
    assert "server_time_of_last_sync" not in persons.stream_state
    state = {"bookmarks": {"persons": dict(persons.stream_state)}}
    sandbox.reset_counters()
    resumed = sync({**config}, state)
    first = {str(r["PersonID"]) for r in emitted}
    second = resumed.ids("persons")
    assert first | set(second) == set(sandbox_ids(sandbox, "persons"))
    assert len(first & set(second)) < 40  # only the window in progress is read again
    bookmark = resumed.state["bookmarks"]["persons"]
    assert "window_walk" not in bookmark
    assert bookmark["server_time_of_last_sync"] == walk["started"]  # changes since: next run


def test_a_big_first_sync_abandons_answers_past_the_byte_ceiling_and_loses_nothing(
    sandbox: SandboxHandle,
) -> None:
    # The API has no paging: the whole-span first window of a big account would carry every
    # person at once. At 500 records a window the ceiling (500 x 8 KiB) is well below the
    # 20,000 persons' answer, so the client stops reading it and the window is split.
    sandbox.reset(size=20_000, seed=7)
    sandbox.reset_counters()
    config = config_for(
        sandbox, start_date="1999-01-01T00:00:00Z", onpipeline_max_records_per_window=500
    )
    with redirect_stderr(io.StringIO()):
        tap = TapCRM(config=config, state={})
    persons = tap.streams["persons"]
    ids = [str(record["PersonID"]) for record in persons.get_records(None)]
    assert len(ids) == len(set(ids)) == 20_000
    assert sorted(ids) == sorted(sandbox_ids(sandbox, "persons"))
    abandoned = persons.client.abandoned_count
    assert abandoned > 0  # answered, stopped past the ceiling, never parsed
    assert requests_to(sandbox, "PersonList") > abandoned  # then asked again, smaller
    assert "window_walk" not in persons.stream_state  # the walk finished: nothing to resume
    assert persons.stream_state["window_density"]  # what the next full walk is sized from
