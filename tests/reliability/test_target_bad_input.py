"""target-crm given input or answers it cannot use: one line naming what is wrong (never a
traceback, never "Config validation failed" after a runtime error), the good records around
it written, and no STATE for a record that was not (issue 10 defects 6, 7, 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.integration.test_target_support import pd_all, read_jsonl
from tests.reliability.harness import (
    SECRET_CLIENT_ID,
    SECRET_CLIENT_SECRET,
    TRACEBACK,
    Run,
    pd_config,
    run,
    tally,
    target_command,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "id": {},
        "name": {"type": "string"},
        "email": {"type": "string"},
    },
}
CONFIG_ERROR = "Config validation failed"


def schema(key: tuple[str, ...] = ("customer_id",)) -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": "persons", "schema": SCHEMA, "key_properties": list(key)}


def person(name: str, **more: Any) -> dict[str, Any]:
    record = {"customer_id": f"c-{name}", "name": name, "email": f"{name.lower()}@r1.test"}
    record.update(more)
    return {"type": "RECORD", "stream": "persons", "record": {k: v for k, v in record.items()
                                                            if v is not None}}  # fmt: skip


def state(sent: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"sent": sent}}


def text_of(lines: list[Any]) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def load(rsb: SandboxHandle, tmp_path: Path, lines: list[Any], **config: Any) -> Run:
    workdir = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    workdir.mkdir(parents=True)
    settings = pd_config(rsb, rejected_records_path=str(workdir / "rejected.jsonl"), **config)
    settings = {k: v for k, v in settings.items() if v is not None}  # None: not set
    if workdir.name == "run0":  # a test's first run is its bad input
        tally("bad_inputs_tried")
    return run(target_command(workdir, settings), workdir, stdin=text_of(lines), timeout=120)


def names_in_crm(rsb: SandboxHandle) -> list[str]:
    return [p["name"] for p in pd_all(rsb, "persons")]


def assert_no_config_line(result: Run) -> None:
    assert CONFIG_ERROR not in result.stderr, "a runtime error, not a setting"


# --- lines that are not Singer messages ------------------------------------------------------

BAD_LINES = {
    "not-json": ("{not json", ("line 4", "not JSON")),
    "non-object": ("[1, 2]", ("line 4", "list")),
    "a-string": ('"RECORD"', ("line 4", "str")),
    "unknown-type": ('{"type": "RECORDS", "stream": "persons"}', ("line 4", "RECORDS")),
    "no-type": ('{"stream": "persons", "record": {}}', ("line 4", "type")),
    "record-before-schema": (
        {"type": "RECORD", "stream": "organizations", "record": {"name": "Early Org"}},
        ("line 4", "organizations", "schema"),
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_a_bad_input_line_ends_the_input_in_one_line_and_the_records_before_it_are_written(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    bad, fragments = BAD_LINES[kind]
    lines = [schema(), person("Goodbefore"), state(1), bad, state(2), person("Goodafter"), state(3)]
    done = load(rsb, tmp_path, lines)

    assert done.returncode == 1
    done.assert_one_clear_line(*fragments)
    assert_no_config_line(done)
    assert "Goodbefore" in names_in_crm(rsb)
    assert done.messages == [{"sent": 1}], "only the STATE whose records are written"


# --- key properties --------------------------------------------------------------------------


def test_a_record_missing_its_source_key_is_rejected_and_the_others_written(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    lines = [
        schema(),
        person("Keyedone"),
        person("Nokey", customer_id=None),
        person("Emptykey", customer_id=""),
        person("Keyedtwo"),
        state(4),
    ]
    done = load(rsb, tmp_path, lines, max_rejected_records=2)

    assert done.returncode == 0, done.stderr[-3000:]
    assert TRACEBACK not in done.stderr
    crm = names_in_crm(rsb)
    assert {"Keyedone", "Keyedtwo"} <= set(crm)
    assert not {"Nokey", "Emptykey"} & set(crm)
    rejected = read_jsonl(done.workdir / "rejected.jsonl")
    assert [r["record"]["name"] for r in rejected] == ["Nokey", "Emptykey"]
    assert all("customer_id" in r["reason"] for r in rejected)
    assert done.messages == [{"sent": 4}]


def test_a_record_without_the_crm_id_its_schema_keys_on_is_new(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    """SCHEMA key `id` (the CRM id, as tap-crm declares it): a record without it is created,
    or matched by match_keys; one with it updates that record."""
    existing = pd_all(rsb, "persons")[0]
    lines = [
        schema(("id",)),
        person("Newbie"),
        {
            "type": "RECORD",
            "stream": "persons",
            "record": {"id": existing["id"], "name": "Renamed"},
        },
        state(2),
    ]
    done = load(rsb, tmp_path, lines)
    assert done.returncode == 0, done.stderr[-3000:]
    assert names_in_crm(rsb).count("Newbie") == 1
    assert next(p for p in pd_all(rsb, "persons") if p["id"] == existing["id"])["name"] == "Renamed"
    assert done.messages == [{"sent": 2}]

    again = load(rsb, tmp_path, [*lines[:2], state(1)], match_keys={"persons": "email"})
    assert again.returncode == 0, again.stderr[-3000:]
    assert names_in_crm(rsb).count("Newbie") == 1, "matched by email, not created again"


# --- the API answering HTTP 200 with something that is not its envelope ----------------------

ODD_KINDS = ("html", "empty", "truncated", "list", "empty_object", "data_string", "data_object")


@pytest.mark.parametrize("kind", ODD_KINDS)
def test_an_odd_200_to_a_create_is_one_line_and_the_rerun_creates_no_duplicate(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    rsb.configure(
        odd_body=kind, odd_body_rate=1.0, odd_body_path="/api/v2/persons", odd_body_count=1
    )
    lines = [schema(), person("Oddone"), state(1)]
    done = load(rsb, tmp_path, lines, id_map_path=str(tmp_path / "ids.sqlite"))

    assert done.returncode == 1
    done.assert_one_clear_line("/api/v2/persons", "envelope")
    assert_no_config_line(done)
    assert done.messages == []

    again = load(rsb, tmp_path, lines, id_map_path=str(tmp_path / "ids.sqlite"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert names_in_crm(rsb).count("Oddone") == 1
    assert again.messages == [{"sent": 1}]


@pytest.mark.parametrize("kind", ["html", "list", "data_string", "data_object"])
def test_an_odd_200_to_the_match_key_listing_is_one_line_and_nothing_is_created(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    """Read as an empty list, the CRM's persons would all look new: every one created twice."""
    before = len(pd_all(rsb, "persons"))
    rsb.configure(odd_body=kind, odd_body_rate=1.0, odd_body_path="/api/v2/persons")
    done = load(
        rsb, tmp_path, [schema(), person("Listed"), state(1)], match_keys={"persons": "email"}
    )
    rsb.configure(odd_body="")

    assert done.returncode == 1
    done.assert_one_clear_line("/api/v2/persons", "envelope")
    assert done.messages == []
    assert len(pd_all(rsb, "persons")) == before


# --- credentials refused at run time ---------------------------------------------------------


def test_a_refused_token_is_one_line_without_config_validation_failed(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    done = load(rsb, tmp_path, [schema(), person("Never"), state(1)], api_token="wrong-token-123")
    assert done.returncode == 1
    done.assert_one_clear_line("401", "api_token")
    assert_no_config_line(done)
    assert done.messages == []


def test_a_revoked_oauth_refresh_token_is_one_line(rsb: SandboxHandle, tmp_path: Path) -> None:
    token_file = tmp_path / "oauth-token.json"
    done = load(
        rsb,
        tmp_path,
        [schema(), person("Never"), state(1)],
        api_token=None,
        client_id=SECRET_CLIENT_ID,
        client_secret=SECRET_CLIENT_SECRET,
        refresh_token="rt-revoked-0123456789",
        oauth_token_file=str(token_file),
    )
    assert done.returncode == 1
    done.assert_one_clear_line("refresh token", "crm-oauth")
    assert_no_config_line(done)
    assert done.messages == []
    assert "Never" not in names_in_crm(rsb)
