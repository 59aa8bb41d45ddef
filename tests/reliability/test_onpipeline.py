"""Onpipeline through the real ``tap-crm`` and ``target-crm`` on the edges of issue 10:
odd 200 bodies (defect 3), bad settings (defect 7), retries that honour the user's settings
(defect 8) and the target's clock warning (defect 9a).

A body that is not the documented Header/Data envelope is an error: one line naming the
resource and what was wrong, a non-zero exit, and no STATE past what was emitted, so the next
run (from the last state, odd bodies off) still emits every record.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    SECRET_TOKEN,
    TRACEBACK,
    Run,
    catalog_for,
    op_config,
    run,
    tap_command,
    target_command,
)

KEYS = {
    "persons": "PersonID",
    "organizations": "OrgID",
    "deals": "DealID",
    "events": "EventID",
    "notes": "NoteID",
    "invoices": "ID",
    "users": "ID",
    "teams": "ID",
    "pipelines": "PipelineID",
    "products": "Name",
    "custom_fields": "ID",
}
SYNCED_AT = "server_time_of_last_sync"


def tap_config(sb: SandboxHandle, **extra: Any) -> dict[str, Any]:
    # Two tries: a garbled body is retried once (after 1 s), then the run must end.
    settings = {
        "onpipeline_requests_per_minute": 0,
        "timezone": "Europe/Rome",
        "max_request_tries": 2,
        **extra,
    }
    return op_config(sb, **settings)


def ids(done: Run, stream: str) -> list[str]:
    if stream == "invoice_items":
        return [f"{r['invoice_id']}:{r['line']}" for r in done.records.get(stream, [])]
    return [str(r[KEYS[stream]]) for r in done.records.get(stream, [])]


def sandbox_ids(sb: SandboxHandle, stream: str) -> list[str]:
    listed = sb.control("GET", f"/onpipeline/ids/{stream}")["ids"]
    if stream == "custom_fields":  # the control API names them "<Table>:<ID>" or by ID
        listed = [str(i).rsplit(":", 1)[-1] for i in listed]
    return sorted(map(str, listed))


def bookmarked(done: Run, stream: str) -> bool:
    """Whether any STATE of the run claims a complete sync of ``stream``."""
    for state in done.states:
        bookmark = (state.get("bookmarks") or {}).get(stream) or {}
        if SYNCED_AT in bookmark or bookmark.get("replication_key_value"):
            return True
    return False


# -- defect 3: the tap ----------------------------------------------------------------------

ODD_KINDS = ["list", "data_string", "empty_object", "html", "empty", "truncated", "data_object"]


@pytest.mark.parametrize("kind", ODD_KINDS)
def test_an_odd_body_ends_the_sync_and_the_next_run_still_emits_every_person(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    config = tap_config(rsb)
    catalog = catalog_for(config, ["persons"])
    rsb.configure(odd_body=kind, odd_body_rate=1.0, odd_body_path="/PersonList")
    first = run(tap_command(tmp_path / "odd", config, catalog=catalog), tmp_path / "odd")
    assert first.returncode != 0, first.stderr[-2000:]
    first.assert_one_clear_line("persons", "Onpipeline PersonList failed", "unexpected answer")
    assert not first.records.get("persons")
    assert not bookmarked(first, "persons"), first.states

    rsb.configure(odd_body="")
    second = run(
        tap_command(tmp_path / "next", config, catalog=catalog, state=first.last_state),
        tmp_path / "next",
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert sorted(ids(second, "persons")) == sandbox_ids(rsb, "persons")


# Every list resource the tap reads, and a stream that reads it (the envelope check is one).
LIST_PATHS = [
    ("/OrgList", ["organizations"], "organizations"),
    ("/DealsList", ["deals"], "deals"),
    ("/EventList", ["events"], "events"),
    ("/NotesList", ["notes"], "notes"),
    ("/InvoiceList", ["invoices"], "invoices"),
    ("/InvoiceItems", ["invoices", "invoice_items"], "invoice_items"),
    ("/UsersList", ["users"], "users"),
    ("/TeamsList", ["teams"], "teams"),
    ("/PipelineList", ["pipelines"], "pipelines"),
    ("/ProductList", ["products"], "products"),
    ("/ListCustomFields", ["custom_fields"], "custom_fields"),
]


@pytest.mark.parametrize(("path", "streams", "stream"), LIST_PATHS, ids=[p[0] for p in LIST_PATHS])
def test_every_list_resource_refuses_data_that_is_not_a_list(
    rsb: SandboxHandle, tmp_path: Path, path: str, streams: list[str], stream: str
) -> None:
    config = tap_config(rsb)
    catalog = catalog_for(config, streams)
    rsb.configure(odd_body="data_string", odd_body_rate=1.0, odd_body_path=path)
    first = run(tap_command(tmp_path / "odd", config, catalog=catalog), tmp_path / "odd")
    assert first.returncode != 0, first.stderr[-2000:]
    first.assert_one_clear_line(f"Onpipeline {path[1:]} failed", "Data is a string")
    assert not bookmarked(first, stream), first.states

    rsb.configure(odd_body="")
    second = run(
        tap_command(tmp_path / "next", config, catalog=catalog, state=first.last_state),
        tmp_path / "next",
    )
    assert second.returncode == 0, second.stderr[-2000:]
    if stream in ("notes", "deals", "products"):  # control ids list deleted ones / no ids
        assert ids(second, stream)
    else:
        assert sorted(ids(second, stream)) == sandbox_ids(rsb, stream)


def test_an_odd_last_update_answer_keeps_the_bookmark_and_the_change_arrives_next_run(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = tap_config(rsb)
    catalog = catalog_for(config, ["persons"])
    full = run(tap_command(tmp_path / "full", config, catalog=catalog), tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]
    (old,) = [s for s in full.states if bookmarked_state(s)][-1:]
    changed = rsb.control("POST", "/onpipeline/touch", {"entity": "persons", "count": 2})
    rsb.advance_clock(60)
    rsb.configure(odd_body="list", odd_body_rate=1.0, odd_body_path="/LastUpdate")
    odd = run(tap_command(tmp_path / "odd", config, catalog=catalog, state=old), tmp_path / "odd")
    assert odd.returncode != 0
    odd.assert_one_clear_line("Onpipeline LastUpdate failed", "a JSON list")
    assert not [s for s in odd.states if s != old and bookmarked_state(s)], odd.states

    rsb.configure(odd_body="")
    again = run(
        tap_command(tmp_path / "again", config, catalog=catalog, state=odd.last_state or old),
        tmp_path / "again",
    )
    assert again.returncode == 0, again.stderr[-2000:]
    touched = {str(i) for i in changed["touched"]}
    assert touched
    assert touched <= set(ids(again, "persons"))


def bookmarked_state(state: dict[str, Any]) -> bool:
    return SYNCED_AT in ((state.get("bookmarks") or {}).get("persons") or {})


# -- defect 3: the target -------------------------------------------------------------------


def singer_lines(stream: str, records: list[dict[str, Any]], key: str) -> str:
    schema = {"type": "object", "properties": {name: {} for r in records for name in r}}
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": [key]},
        *({"type": "RECORD", "stream": stream, "record": r} for r in records),
        {"type": "STATE", "value": {"bookmarks": {stream: {"last": records[-1][key]}}}},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def target_config(sb: SandboxHandle, **extra: Any) -> dict[str, Any]:
    return op_config(sb, **{"onpipeline_requests_per_minute": 0, "max_request_tries": 2, **extra})


def target_states(done: Run) -> list[dict[str, Any]]:
    """The STATE values a target printed (one JSON object a line)."""
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def crm_persons(sb: SandboxHandle, last_name: str) -> list[dict[str, Any]]:
    found = []
    for person_id in sb.control("GET", "/onpipeline/ids/persons")["ids"]:
        record = sb.control("GET", f"/onpipeline/records/persons/{person_id}")["record"]
        if record.get("LastName") == last_name:
            found.append(record)
    return found


def new_people(last_name: str, count: int = 3) -> list[dict[str, Any]]:
    return [
        {"key": f"k{i}", "FirstName": f"Ann{i}", "LastName": last_name, "email": f"a{i}@x.test"}
        for i in range(count)
    ]


@pytest.mark.parametrize("kind", ["list", "empty_object", "html", "empty"])
def test_an_odd_answer_to_a_create_that_never_reached_the_api_ends_the_load_unacknowledged(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    people = new_people(f"Odd{kind}")
    text = singer_lines("persons", people, "key")
    rsb.configure(odd_body=kind, odd_body_rate=1.0, odd_body_path="/PersonAdd")
    odd = run(target_command(tmp_path / "odd", target_config(rsb)), tmp_path / "odd", stdin=text)
    assert odd.returncode != 0
    odd.assert_one_clear_line("Onpipeline PersonAdd failed", "unexpected answer", "run again")
    assert target_states(odd) == []  # nothing was written: no STATE may say otherwise
    assert crm_persons(rsb, f"Odd{kind}") == []

    rsb.configure(odd_body="")
    again = run(
        target_command(tmp_path / "again", target_config(rsb)), tmp_path / "again", stdin=text
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(p["FirstName"] for p in crm_persons(rsb, f"Odd{kind}")) == [
        "Ann0",
        "Ann1",
        "Ann2",
    ]
    assert target_states(again)[-1] == {"bookmarks": {"persons": {"last": "k2"}}}


@pytest.mark.parametrize("kind", ["truncated", "data_string", "data_object"])
def test_an_odd_answer_to_a_create_that_was_applied_finds_the_record_it_added(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    text = singer_lines("persons", new_people(f"Odd{kind}"), "key")
    config = target_config(rsb, id_map_path=str(tmp_path / "ids.sqlite"))
    rsb.configure(odd_body=kind, odd_body_rate=1.0, odd_body_path="/PersonAdd")
    done = run(target_command(tmp_path / "t", config), tmp_path / "t", stdin=text)
    assert done.returncode == 0, done.stderr[-2000:]
    assert TRACEBACK not in done.stderr
    # each added once, though no answer carried its id: the target looked before resending
    added = crm_persons(rsb, f"Odd{kind}")
    assert sorted(p["FirstName"] for p in added) == ["Ann0", "Ann1", "Ann2"]
    assert target_states(done)[-1] == {"bookmarks": {"persons": {"last": "k2"}}}

    # and the id map holds the ids it found, not the answer's Data ("oops"): a re-run updates
    rsb.configure(odd_body="")
    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-2000:]
    assert sorted(p["PersonID"] for p in crm_persons(rsb, f"Odd{kind}")) == sorted(
        p["PersonID"] for p in added
    )


@pytest.mark.parametrize(
    ("kind", "path"),
    [("list", "/PersonList"), ("data_string", "/PersonList"), ("html", "/PersonList"),
     ("list", "/PersonChange"), ("empty_object", "/PersonChange")],
)  # fmt: skip
def test_an_odd_answer_to_a_lookup_or_an_update_is_one_line_never_a_success(
    rsb: SandboxHandle, tmp_path: Path, kind: str, path: str
) -> None:
    person_id = next(
        str(i)
        for i in rsb.control("GET", "/onpipeline/ids/persons")["ids"]
        if rsb.control("GET", f"/onpipeline/records/persons/{i}")["record"].get("Email")
    )
    person = rsb.control("GET", f"/onpipeline/records/persons/{person_id}")["record"]
    if path == "/PersonList":  # matched by email: the target must look it up first
        record = {"key": "m1", "email": person["Email"][0]["Address"]}
    else:  # by the CRM's own id: straight to PersonChange
        record = {"key": "m1", "PersonID": person_id}
    text = singer_lines("persons", [{**record, "LastName": f"Odd{kind}"}], "key")
    config = target_config(rsb, match_keys={"persons": "email"})
    rsb.configure(odd_body=kind, odd_body_rate=1.0, odd_body_path=path)
    odd = run(target_command(tmp_path / "odd", config), tmp_path / "odd", stdin=text)
    assert odd.returncode != 0
    odd.assert_one_clear_line(f"Onpipeline {path[1:]} failed", "unexpected answer")
    assert target_states(odd) == []

    rsb.configure(odd_body="")
    again = run(target_command(tmp_path / "again", config), tmp_path / "again", stdin=text)
    assert again.returncode == 0, again.stderr[-2000:]
    assert [p["PersonID"] for p in crm_persons(rsb, f"Odd{kind}")] == [person_id]


# -- defect 7: bad settings, one line each --------------------------------------------------

TAP_BAD_SETTINGS = [
    pytest.param({"api_token": ""}, ("api_token is empty",), id="empty-token"),
    pytest.param({"api_token": None}, ("api_token",), id="null-token"),
    pytest.param({"api_token": "tok-wrong"}, ("401", "api_token"), id="wrong-token"),
    pytest.param({"api_url": "http://example.com/op"}, ("api_url", "https://"), id="plain-http"),
    pytest.param({"api_url": "ftp://127.0.0.1/op"}, ("api_url",), id="ftp-url"),
    pytest.param({"start_date": "yesterday"}, ("start_date", "RFC 3339"), id="bad-start-date"),
    pytest.param({"timezone": "Mars/Olympus"}, ("timezone", "IANA"), id="bad-timezone"),
    pytest.param(
        {"onpipeline_max_records_per_window": 0},
        ("onpipeline_max_records_per_window", "minimum"),
        id="window-records-0",
    ),
    pytest.param(
        {"onpipeline_window_days": -1}, ("onpipeline_window_days", "minimum"), id="window-days"
    ),
    pytest.param(
        {"invoice_lookback_days": -3}, ("invoice_lookback_days", "minimum"), id="lookback"
    ),
    pytest.param(
        {"onpipeline_requests_per_minute": -1},
        ("onpipeline_requests_per_minute", "minimum"),
        id="rpm",
    ),
    pytest.param({"max_request_tries": 0}, ("max_request_tries", "minimum"), id="tries-0"),
    pytest.param({"request_timeout": 0}, ("request_timeout", "minimum"), id="timeout-0"),
]


@pytest.mark.parametrize(("settings", "fragments"), TAP_BAD_SETTINGS)
def test_a_bad_tap_setting_is_one_line_naming_it(
    rsb: SandboxHandle, tmp_path: Path, settings: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    config = {k: v for k, v in {**tap_config(rsb), **settings}.items() if v is not None}
    done = run(tap_command(tmp_path, config), tmp_path)
    assert done.returncode != 0
    done.assert_one_clear_line(*fragments)
    assert not done.records


def test_an_empty_token_stops_a_sync_before_any_stream_starts(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = tap_config(rsb, api_token="")
    done = run(tap_command(tmp_path, config, streams=["users", "persons"]), tmp_path)
    assert done.returncode != 0
    done.assert_one_clear_line("api_token is empty")
    assert "An unhandled error occurred" not in done.stderr  # the SDK's line for a stream
    assert not done.messages  # not even a SCHEMA: nothing started
    # and discovery still works without a token (a catalog can be made before the token)
    found = run(tap_command(tmp_path / "d", config, extra_args=["--discover"]), tmp_path / "d")
    assert found.returncode == 0, found.stderr[-2000:]
    assert '"tap_stream_id": "persons"' in found.stdout.replace('":"', '": "')


@pytest.mark.parametrize("discover", [False, True], ids=["sync", "discover"])
def test_a_refused_token_is_a_runtime_line_not_a_config_validation_failure(
    rsb: SandboxHandle, tmp_path: Path, discover: bool
) -> None:
    config = tap_config(rsb, api_token="tok-wrong")
    extra = ["--discover"] if discover else []
    done = run(tap_command(tmp_path, config, extra_args=extra), tmp_path)
    assert done.returncode != 0
    done.assert_one_clear_line("Onpipeline ListCustomFields failed: 401", "api_token")
    assert "Config validation failed" not in done.stderr  # issue 10 item 9: a second line


TARGET_BAD_SETTINGS = [
    pytest.param({"api_token": ""}, ("api_token is empty",), id="empty-token"),
    pytest.param({"api_token": "tok-wrong"}, ("401", "api_token"), id="wrong-token"),
    pytest.param({"api_url": "http://example.com/op"}, ("api_url", "https://"), id="plain-http"),
    pytest.param({"max_request_tries": 0}, ("max_request_tries", "minimum"), id="tries-0"),
]


@pytest.mark.parametrize(("settings", "fragments"), TARGET_BAD_SETTINGS)
def test_a_bad_target_setting_is_one_line_naming_it(
    rsb: SandboxHandle, tmp_path: Path, settings: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    text = singer_lines("persons", new_people("Bad"), "key")
    config = {**target_config(rsb), **settings}
    done = run(target_command(tmp_path, config), tmp_path, stdin=text)
    assert done.returncode != 0
    done.assert_one_clear_line(*fragments)
    assert target_states(done) == []
    assert crm_persons(rsb, "Bad") == []


# -- defect 8: the user's max_request_tries and request_timeout -----------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there now: every connection is refused


@pytest.mark.parametrize("tries", [1, 3])
def test_an_unreachable_host_ends_after_max_request_tries_with_one_line(
    tmp_path: Path, tries: int
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/onpipeline"
    config = {
        "provider": "onpipeline",
        "api_url": url,
        "api_token": SECRET_TOKEN,
        "max_request_tries": tries,
    }
    done = run(tap_command(tmp_path / "tap", config), tmp_path / "tap")
    assert done.returncode != 0
    tried = "1 try" if tries == 1 else f"{tries} tries"
    done.assert_one_clear_line("no answer (ConnectionError)", f"gave up after {tried}")
    waits = [line for line in done.stderr.splitlines() if "before try" in line]
    assert len(waits) == tries - 1

    text = singer_lines("persons", new_people("Far"), "key")
    config = {**config, "onpipeline_requests_per_minute": 0}
    target = run(target_command(tmp_path / "target", config), tmp_path / "target", stdin=text)
    assert target.returncode != 0
    target.assert_one_clear_line("no answer (ConnectionError)", f"gave up after {tried}")
    assert target_states(target) == []


def test_request_timeout_is_honoured_by_the_tap_and_the_target(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = tap_config(rsb, request_timeout=1)
    catalog = catalog_for(config, ["users"])
    rsb.configure(latency_ms=2500)
    done = run(tap_command(tmp_path / "tap", config, catalog=catalog), tmp_path / "tap")
    assert done.returncode != 0
    done.assert_one_clear_line("no answer (ReadTimeout)", "gave up after 2 tries")

    text = singer_lines("persons", new_people("Slow"), "key")
    config = target_config(rsb, request_timeout=1)
    target = run(target_command(tmp_path / "target", config), tmp_path / "target", stdin=text)
    assert target.returncode != 0
    target.assert_one_clear_line("no answer (ReadTimeout)", "gave up after 2 tries")
    assert target_states(target) == []


# Discovery (custom-field definitions) and parent listings (the invoices behind invoice_items)
# go through the same client as every stream: the user's numbers hold there too (issue 11).
# The tests that count requests use a sandbox of their own: a request another test left in
# flight (a timed-out one, still in the sandbox's latency) would be counted too.


def test_max_request_tries_holds_for_discovery(
    rsb_factory: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    # every answer a 5xx: ListCustomFields, discovery's first call, is the one that fails
    sb = rsb_factory(size=10, fault_rate=1.0)
    config = tap_config(sb, max_request_tries=2)
    done = run(tap_command(tmp_path, config, extra_args=["--discover"]), tmp_path)
    assert done.returncode != 0
    done.assert_one_clear_line("ListCustomFields", "gave up after 2 tries", "max_request_tries")
    assert sb.counters()["events"].get("faults") == 2


def test_max_request_tries_holds_for_the_parent_listing_of_invoice_items(
    rsb_factory: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    # A proxy's HTML page (a retriable garbled answer) for the parent listing only.
    sb = rsb_factory(size=10, odd_body="html", odd_body_rate=1.0, odd_body_path="/InvoiceList")
    config = tap_config(sb, max_request_tries=3)
    catalog = catalog_for(config, ["invoices", "invoice_items"])
    done = run(tap_command(tmp_path, config, catalog=catalog), tmp_path)
    assert done.returncode != 0
    done.assert_one_clear_line("InvoiceList", "gave up after 3 tries", "max_request_tries")
    assert sb.counters()["events"].get("odd_bodies") == 3
    assert not done.records.get("invoice_items")
    assert not bookmarked(done, "invoices"), done.states


def test_request_timeout_holds_for_discovery(rsb: SandboxHandle, tmp_path: Path) -> None:
    config = tap_config(rsb, request_timeout=1, max_request_tries=1)
    rsb.configure(latency_ms=2500)
    done = run(tap_command(tmp_path, config, extra_args=["--discover"]), tmp_path)
    assert done.returncode != 0
    done.assert_one_clear_line("ListCustomFields", "no answer (ReadTimeout)", "gave up after 1 try")


def test_the_targets_custom_field_lookup_honours_max_request_tries(
    rsb_factory: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    # "Frequent Buyer" is a custom field: the target reads ListCustomFields to find its ID,
    # once for the load, however many records and writer threads wait for it.
    people = [{**p, "frequent_buyer": "yes"} for p in new_people("Tries", count=6)]
    text = singer_lines("persons", people, "key")
    sb = rsb_factory(size=10, odd_body="html", odd_body_rate=1.0, odd_body_path="/ListCustomFields")
    done = run(target_command(tmp_path, target_config(sb)), tmp_path, stdin=text)
    assert done.returncode != 0
    done.assert_one_clear_line("ListCustomFields", "gave up after 2 tries", "max_request_tries")
    assert sb.counters()["events"].get("odd_bodies") == 2
    assert target_states(done) == []
    assert crm_persons(sb, "Tries") == []


def spend_the_minute(sb: SandboxHandle, limit: int, left: float) -> None:
    """Another client used the account's whole minute, ``left`` seconds before it frees up."""
    sb.configure(onpipeline_rate_limit=limit)
    with requests.Session() as session:
        for _ in range(limit):
            session.post(
                f"{sb.onpipeline_url}/UsersList",
                data=b"{}",
                headers={"Authorization": SECRET_TOKEN},
            )
    sb.advance_clock(60 - left)


def test_a_429_is_waited_out_with_a_line_saying_what_for(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = tap_config(rsb, max_request_tries=3)
    catalog = catalog_for(config, ["users"])
    spend_the_minute(rsb, limit=20, left=2)
    done = run(tap_command(tmp_path / "tap", config, catalog=catalog), tmp_path / "tap")
    assert done.returncode == 0, done.stderr[-2000:]
    # The sandbox's Retry-After counts from its clock: 2 s, or 1 s on a slow tap start.
    done.assert_one_clear_line("429", "waiting", "s as Retry-After asks before try 2 of 3")
    assert sorted(ids(done, "users")) == sandbox_ids(rsb, "users")

    rsb.reset()
    spend_the_minute(rsb, limit=20, left=2)
    text = singer_lines("persons", new_people("Later"), "key")
    target = run(target_command(tmp_path / "t", target_config(rsb)), tmp_path / "t", stdin=text)
    assert target.returncode == 0, target.stderr[-2000:]
    target.assert_one_clear_line("429", "as Retry-After asks before try 2 of 2")
    assert len(crm_persons(rsb, "Later")) == 3


# -- defect 9a: the target's clock warning --------------------------------------------------


def test_the_target_never_tells_the_user_to_set_a_setting_it_does_not_have(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # The sandbox's account is in Europe/Rome: the tap would say "set timezone"; the target
    # has no such setting (it writes dates, not local times), so it must not.
    assert rsb.settings()["timezone"] == "Europe/Rome"
    text = singer_lines("persons", new_people("Zone"), "key")
    done = run(target_command(tmp_path, target_config(rsb)), tmp_path, stdin=text)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "timezone" not in done.stderr
    assert len(crm_persons(rsb, "Zone")) == 3
