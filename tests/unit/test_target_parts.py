"""Unit tests of target-crm's parts that need no server: values, the id map, the waiting room,
the report, record validation, match keys, body building and the settings."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crm_api.governor import RequestBudget
from target_crm.entities import MatchIndex, TargetSetupError
from target_crm.idmap import IdMap, WaitingRoom
from target_crm.onpipeline import _says_no_change
from target_crm.pipedrive import plan_custom_fields
from target_crm.report import Report
from target_crm.sinks import UNRESOLVED, KeepingValidator, _without_unresolved, check_match_keys
from target_crm.target import TargetCRM
from target_crm.values import key_text, plain, same, to_json


def test_plain_serialises_what_the_sdk_hands_a_sink() -> None:
    record = {
        "when": datetime(2026, 5, 1, 12, 30, tzinfo=UTC),
        "day": date(2026, 5, 1),
        "value": Decimal("12.50"),
        "count": Decimal("3"),
        "nested": [{"at": datetime(2026, 5, 1, 14, 0)}],
    }
    assert plain(record) == {
        "when": "2026-05-01 12:30:00",
        "day": "2026-05-01",
        "value": 12.5,
        "count": 3,
        "nested": [{"at": "2026-05-01 14:00:00"}],
    }
    assert json.loads(to_json(record))["when"] == "2026-05-01T12:30:00Z"


@pytest.mark.parametrize(
    ("a", "b"),
    [(" Ada@X.test ", "ada@x.test"), (12, "12.00"), (Decimal("1.50"), "1.5"), ("EXT-1", "ext-1")],
)
def test_match_keys_compare_as_trimmed_case_folded_values(a: Any, b: Any) -> None:
    assert key_text(a) == key_text(b)


def test_empty_values_are_no_key() -> None:
    assert key_text("  ") is None
    assert key_text(None) is None


def test_same_compares_only_what_the_write_would_send() -> None:
    current = {
        "name": "Ada",
        "emails": [{"value": "a@x", "primary": True, "label": "work"}],
        "n": 2,
    }
    assert same({"name": "Ada", "emails": [{"value": "a@x", "primary": True}]}, current)
    assert same({"n": Decimal("2.0")}, current)
    assert not same({"name": "Ada L."}, current)
    assert not same({"emails": []}, current)
    assert not same({"missing": 1}, current)
    assert same({"flag": 1}, {"flag": True})


def test_id_map_persists_and_a_dry_run_never_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite"
    ids = IdMap(str(path), "pipedrive")
    ids.put("persons", "c1", "11")
    ids.close()
    again = IdMap(str(path), "pipedrive")
    assert again.get("persons", "c1") == "11"
    assert again.get("persons", "c2") is None
    assert IdMap(str(path), "onpipeline").get("persons", "c1") is None  # per provider
    again.close()

    dry = IdMap(str(path), "pipedrive", dry_run=True)
    dry.put("persons", "c2", "dry-run-1")
    assert dry.get("persons", "c2") == "dry-run-1"
    dry.close()
    assert IdMap(str(path), "pipedrive").get("persons", "c2") is None
    missing = tmp_path / "nothing.sqlite"
    IdMap(str(missing), "pipedrive", dry_run=True).close()
    assert not missing.exists()


def test_id_map_keeps_creates_in_flight_pending_until_their_id_is_known(tmp_path: Path) -> None:
    path = tmp_path / "ids.sqlite"
    ids = IdMap(str(path), "pipedrive")
    ids.mark_pending("persons", "c1")
    ids.mark_pending("persons", "c2")
    ids.mark_pending("persons", "c3", answered=True)  # an odd answer: look without waiting
    ids.put("persons", "c1", "11")  # answered: no longer pending
    ids.drop_pending("persons", "c2")  # refused: nothing was created
    ids.mark_pending("persons", "c5")
    assert ids.latest_pending("persons") == 0.0  # c5 is this run's own: never waited for
    assert ids.pending_since("persons", "c5") is None
    ids.close()

    again = IdMap(str(path), "pipedrive")  # the next run, after a kill
    assert again.pending_since("persons", "c1") is None
    assert again.pending_since("persons", "c2") is None
    assert again.pending_since("persons", "c3") == 0.0
    assert again.pending_since("persons", "c5") is not None  # the last run's: looked for
    assert again.latest_pending("persons") == again.pending_since("persons", "c5")
    assert again.latest_pending("deals") is None
    assert IdMap(str(path), "onpipeline").pending_since("persons", "c3") is None
    again.close()

    dry = IdMap(str(path), "pipedrive", dry_run=True)
    dry.mark_pending("persons", "c4")  # a dry run sends nothing
    assert dry.pending_since("persons", "c4") is None
    dry.close()


def test_an_id_map_from_before_pending_marks_still_opens(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE ids (provider TEXT NOT NULL, stream TEXT NOT NULL, source_key TEXT "
            "NOT NULL, crm_id TEXT NOT NULL, PRIMARY KEY (provider, stream, source_key))"
        )
        db.execute("INSERT INTO ids VALUES ('pipedrive', 'persons', 'c1', '11')")
    db.close()
    dry = IdMap(str(path), "pipedrive", dry_run=True)  # read-only: no table is added
    assert dry.get("persons", "c1") == "11"
    assert dry.pending_since("persons", "c1") is None
    dry.close()
    ids = IdMap(str(path), "pipedrive")
    ids.mark_pending("persons", "c2")
    ids.close()
    again = IdMap(str(path), "pipedrive")
    assert again.pending_since("persons", "c2") is not None
    again.close()


def test_id_map_is_safe_from_many_threads(tmp_path: Path) -> None:
    ids = IdMap(str(tmp_path / "ids.sqlite"), "pipedrive")

    def put(n: int) -> None:
        for i in range(50):
            ids.put("persons", f"{n}-{i}", str(i))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ids.get("persons", "7-49") == "49"


def test_waiting_room_hands_back_records_once_in_order() -> None:
    room = WaitingRoom()
    for i in range(5):
        room.add("deals", {"id": i, "at": datetime(2026, 1, 1, tzinfo=UTC)}, str(i))
    room.add("notes", {"id": 9}, "9")
    assert room.has("deals", "3")
    batches = list(room.take("deals", batch=2))
    assert [[r["id"] for r in b] for b in batches] == [[0, 1], [2, 3], [4]]
    assert room.count("deals") == 0
    assert room.count() == 1


def test_records_put_back_while_taking_wait_for_the_next_take() -> None:
    room = WaitingRoom()
    room.add("deals", {"id": 1}, "1")
    taken = []
    for batch in room.take("deals"):
        taken += batch
        room.add("deals", batch[0], "1")  # still unresolved: back it goes
    assert len(taken) == 1
    assert room.count("deals") == 1


def test_report_counts_and_writes_rejects_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rejected.jsonl"
    report = Report(str(path))
    report.count("persons", "created")
    report.reject(
        "persons", {"id": 1, "d": Decimal("1.5")}, "refused", api_message="bad", status=400
    )
    report.close()
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert (line["reason"], line["api_message"], line["status"]) == ("refused", "bad", 400)
    assert line["record"] == {"id": 1, "d": 1.5}
    assert report.rejected == 1
    table = report.table()
    assert "persons" in table
    assert table.splitlines()[0].split() == [
        "stream",
        "created",
        "updated",
        "unchanged",
        "rejected",
    ]


def test_the_validator_keeps_a_bad_record_for_the_report_instead_of_raising() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}},
    }
    validator = KeepingValidator(schema)
    good = {"n": 1, "at": "2026-01-01T00:00:00Z"}
    validator.validate(good)
    assert validator.problem is None
    bad = {"n": "one"}
    validator.validate(bad)
    assert validator.problem is not None
    assert "'one'" in validator.problem[0]
    assert bad == {}  # emptied so the SDK's date parsing cannot choke on it
    late = {"n": 2, "at": "tomorrow"}
    validator.validate(late)
    assert validator.problem is not None
    assert "not a valid date-time" in validator.problem[0]


def test_match_index_finds_by_any_email_and_locks_per_key() -> None:
    index = MatchIndex(["email"], [lambda d: [e["value"] for e in d.get("emails") or []]])
    crm = [
        {"id": 1, "emails": [{"value": "a@x"}, {"value": "b@x"}]},
        {"id": 2, "emails": [{"value": "c@x"}]},
    ]
    index.load(lambda: iter(crm), lambda r: str(r["id"]))
    keys = index.keys_of({"emails": [{"value": "B@X"}]})
    assert index.lookup(keys) == {"1"}
    index.add(index.keys_of({"emails": [{"value": "d@x"}]}), "3")
    assert index.lookup(index.keys_of({"emails": [{"value": "d@x"}]})) == {"3"}
    assert index.keys_of({"emails": []}) == []
    with index.locked(keys):
        pass


def test_match_keys_setting_is_checked() -> None:
    assert check_match_keys({"persons": "email"}, ["persons"]) == {"persons": ["email"]}
    with pytest.raises(TargetSetupError, match="cannot write"):
        check_match_keys({"events": "Name"}, ["persons"])
    with pytest.raises(TargetSetupError, match="field name"):
        check_match_keys({"persons": []}, ["persons"])


def test_unresolved_references_are_left_out_of_the_body() -> None:
    body = {
        "org_id": UNRESOLVED,
        "name": "x",
        "custom_fields": {"a": UNRESOLVED, "b": 1},
        "participants": [{"person_id": UNRESOLVED, "primary": True}, {"person_id": 3}],
        "Involved": ["1", UNRESOLVED],
    }
    assert _without_unresolved(body) == {
        "name": "x",
        "custom_fields": {"b": 1},
        "participants": [{"person_id": 3}],
        "Involved": ["1"],
    }


def test_custom_field_names_follow_the_taps_rule() -> None:
    fields = [
        {
            "field_code": "a" * 40,
            "field_name": "Lead score",
            "field_type": "double",
            "is_custom_field": True,
        },
        {
            "field_code": "b" * 40,
            "field_name": "Lead-Score",
            "field_type": "double",
            "is_custom_field": True,
        },
        {
            "field_code": "c" * 40,
            "field_name": "Name",
            "field_type": "varchar",
            "is_custom_field": True,
        },
        {
            "field_code": "d" * 40,
            "field_name": "Préférence",
            "field_type": "enum",
            "is_custom_field": True,
            "options": [{"id": 7, "label": "Oui"}],
        },
        {"field_code": "name", "field_name": "Name", "field_type": "varchar"},
    ]
    planned = plan_custom_fields(fields, {"id", "name"})
    assert [f.name for f in planned] == [
        "lead_score",
        "lead_score_bbbbbbbb",
        "name_cccccccc",
        "preference",
    ]
    assert planned[3].options == {"oui": 7}


def test_onpipeline_406_means_unchanged_only_when_it_says_so() -> None:
    assert _says_no_change(
        "Not Acceptable - nothing to change: the values sent are the current ones"
    )
    assert not _says_no_change("Not Acceptable - StageID 9 is not a stage of this pipeline")


def test_writer_budget_holds_only_for_requests_it_did_not_send() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget = RequestBudget(2, 2.0, clock=lambda: now[0], sleep=sleep)
    budget.acquire()
    budget.acquire()
    budget.observe(limit=2, remaining=0, reset_seconds=2)  # our own two: no extra hold
    now[0] = 2.5
    assert budget.acquire() == 0.0
    budget.observe(limit=2, remaining=0, reset_seconds=1)  # the server counts someone else's
    assert budget.acquire() == pytest.approx(1.0)


def test_about_hides_load_method_and_lists_the_target_settings() -> None:
    properties = TargetCRM.config_jsonschema["properties"]
    schema = {"properties": dict(properties)}
    TargetCRM.append_builtin_config(schema)
    assert "load_method" not in schema["properties"]
    for name in (
        "match_keys",
        "write_mode",
        "dry_run",
        "rejected_records_path",
        "max_rejected_records",
        "id_map_path",
    ):
        assert schema["properties"][name].get("description"), name
    assert properties["max_rejected_records"]["default"] == 0
