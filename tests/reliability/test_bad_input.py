"""Every case of the bad-input table (``cases.py``), through the real ``tap-crm`` or
``target-crm`` against the reliability sandbox.

Each case checks what a scheduler and a user see: the exit status (0 only when the run
succeeded and bad records were just rejected and reported), one stderr line naming the setting
or record and what to change, no traceback, and the good records around the bad one: written
(target) or emitted with no STATE past them (tap).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from crm_api.token_store import FileTokenStore as TokenStore
from crm_sandbox.testing import SandboxHandle
from tests.reliability.cases import CASES, OP, PD, Case, as_text, person, schema, state
from tests.reliability.harness import (
    SECRET_TOKEN,
    Run,
    catalog_for,
    oauth_refresh_token,
    op_config,
    pd_config,
    revoke_refresh_token,
    run,
    tally,
    tap_command,
    target_command,
)

SIZE = 10


def _params() -> list[Any]:
    return [pytest.param(case, id=case.id) for case in CASES]


# --- setups ---------------------------------------------------------------------------------


def _revoked_refresh_token(sb: SandboxHandle, workdir: Path, config: dict[str, Any]) -> None:
    token = oauth_refresh_token(sb)
    revoke_refresh_token(sb, token)
    workdir.mkdir(parents=True, exist_ok=True)
    TokenStore(workdir / "token.json").save(token)  # searched for leaks like every secret
    config.pop("api_token", None)
    config.update(client_id=sb.client_id, client_secret=sb.client_secret,
                  oauth_token_file=str(workdir / "token.json"))  # fmt: skip


def _twin_persons(sb: SandboxHandle, workdir: Path, config: dict[str, Any]) -> None:
    """Two CRM persons with the same email, before the load."""
    twin = {"Address": "twin@r4.test"}
    for first in ("One", "Two"):
        if config["provider"] == PD:
            answer = requests.post(
                f"{sb.pipedrive_url}/api/v2/persons",
                json={"name": f"Twin {first}", "emails": [{"value": "twin@r4.test",
                                                          "primary": True}]},
                headers={"x-api-token": SECRET_TOKEN},
                timeout=30,
            )  # fmt: skip
        else:
            answer = requests.post(
                f"{sb.onpipeline_url}/PersonAdd",
                json={"FirstName": first, "LastName": "Twin", "Email": [twin]},
                headers={"Authorization": SECRET_TOKEN},
                timeout=30,
            )
        assert answer.status_code < 300, answer.text


SETUPS = {"revoked_refresh_token": _revoked_refresh_token, "twin_persons": _twin_persons}


# --- reading the CRM back -------------------------------------------------------------------


def crm_names(sb: SandboxHandle, provider: str) -> list[str]:
    """Every live person's name (Onpipeline: the last name, the cases' first name is Ada)."""
    if provider == PD:
        names, params = [], {"limit": 500}
        while True:
            body = requests.get(
                f"{sb.pipedrive_url}/api/v2/persons",
                params=params,
                headers={"x-api-token": SECRET_TOKEN},
                timeout=60,
            ).json()
            names += [p["name"] for p in body["data"] if not p.get("is_deleted")]
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return names
            params["cursor"] = cursor
    out = []
    for pid in sb.control("GET", "/onpipeline/ids/persons")["ids"]:
        record = sb.control("GET", f"/onpipeline/records/persons/{pid}")["record"]
        out.append(str(record.get("LastName", "")))
    return out  # fmt: skip


def rejected_names(path: Path, provider: str) -> list[str]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [_who(row.get("record") or {}, provider) for row in rows]


def rejected_reasons(path: Path) -> list[str]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [f"{row.get('reason')} {row.get('api_message') or ''}" for row in rows]


# --- the runner -----------------------------------------------------------------------------


def _config(sb: SandboxHandle, case: Case, workdir: Path) -> dict[str, Any]:
    if case.provider == OP:
        config = op_config(sb, onpipeline_requests_per_minute=0)
        if case.command == "tap":
            config["timezone"] = "Europe/Rome"
    else:
        config = pd_config(sb)
    if case.command == "target":
        config.update(
            id_map_path=str(workdir / "ids.sqlite"),
            rejected_records_path=str(workdir / "rejected.jsonl"),
            max_rejected_records=5,
        )
    for name, value in case.config.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    return config


def _tap_catalog(config: dict[str, Any], case: Case) -> dict[str, Any] | None:
    if not case.streams:
        return None
    catalog = catalog_for(config, case.streams)
    for name in case.extra_streams:  # a stream the tap does not have, selected all the same
        entry = json.loads(json.dumps(catalog["streams"][0]))
        entry["tap_stream_id"] = entry["stream"] = name
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = True
        catalog["streams"].append(entry)
    return catalog


def _run_case(
    sb: SandboxHandle, case: Case, workdir: Path
) -> tuple[Run, dict[str, Any], list[str]]:
    """The run, its config, and the CRM's person names before it (target cases)."""
    config = _config(sb, case, workdir)
    if case.setup:
        SETUPS[case.setup](sb, workdir, config)
    target = case.command == "target" and case.provider in (PD, OP)
    before = crm_names(sb, str(case.provider)) if target else []
    sb.reset_counters()  # from here on the counters show only what the command did
    given: dict[str, Any] | str = case.config_text if case.config_text is not None else config
    catalog = _tap_catalog(config, case) if case.command == "tap" else None
    if case.sandbox:
        sb.configure(**case.sandbox)
    if case.command == "tap":
        command = tap_command(workdir, given, catalog=catalog)
        done = run(command, workdir, timeout=120)
    else:
        stdin = "".join(as_text(line) + "\n" for line in _target_input(case))
        done = run(target_command(workdir, given), workdir, stdin=stdin, timeout=120)
    if case.sandbox:
        sb.configure(odd_body="")
    return done, config, before


def _target_input(case: Case) -> tuple[Any, ...]:
    """The case's input; a setting's case gets one person to write (else nothing is tried)."""
    if case.lines:
        return case.lines
    provider = case.provider if case.provider in (PD, OP) else PD
    return (schema(provider), person(provider, "Never"), state(1))


def _who(record: dict[str, Any], provider: str) -> str:
    """The name a case gave a person: its name, or its source key c-<name> without one."""
    name = record.get("name" if provider == PD else "LastName")
    return str(name or str(record.get("customer_id", "")).removeprefix("c-"))


@pytest.mark.parametrize("case", _params())
def test_bad_input(rsb: SandboxHandle, tmp_path: Path, case: Case) -> None:
    rsb.reset(size=SIZE)
    tally("bad_inputs_tried")
    workdir = tmp_path / "run"
    done, config, before = _run_case(rsb, case, workdir)

    # what a scheduler sees
    if case.exit_zero:
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        assert done.returncode not in (0, None), done.stderr[-3000:]
        assert done.returncode > 0, f"ended by signal {done.returncode}"
    # what the user reads: one line, no traceback
    if case.line:
        done.assert_one_clear_line(*case.line)
    else:
        assert "Traceback (most recent call last)" not in done.stderr, done.stderr[-3000:]
    if case.runtime_error:
        assert "Config validation failed" not in done.stderr, "a runtime error, not a setting"
    if case.happens.startswith("refused"):  # a setting's mistake is found before any request
        assert not rsb.counters()["requests"], rsb.counters()["requests"]

    if case.command == "tap":
        _check_tap(rsb, case, done)
    elif case.provider in (PD, OP):
        _check_target(rsb, case, done, workdir, before, config)


def _check_tap(sb: SandboxHandle, case: Case, done: Run) -> None:
    for stream in case.complete:
        emitted = done.ids(stream, "id" if case.provider == PD else _OP_IDS.get(stream, "ID"))
        listed = sb.control("GET", f"/{case.provider}/ids/{stream}")["ids"]
        assert sorted(map(str, emitted)) == sorted(map(str, listed)), f"{stream} incomplete"
    for stream in case.unbookmarked:
        emitted = done.records.get(stream, [])
        for value in done.states:
            bookmark = (value.get("bookmarks") or {}).get(stream) or {}
            assert emitted or "replication_key_value" not in bookmark, (
                f"a STATE bookmarks {stream} although none of its records was emitted: {value}"
            )


_OP_IDS = {"deals": "DealID", "persons": "PersonID", "users": "ID"}


def _check_target(
    sb: SandboxHandle, case: Case, done: Run, workdir: Path, before: list[str],
    config: dict[str, Any],
) -> None:  # fmt: skip
    provider = str(case.provider)
    after = crm_names(sb, provider)
    new = list(after)
    for name in before:
        if name in new:
            new.remove(name)
    for name in case.written:
        assert new.count(name) == 1, f"{name!r}: {new.count(name)} new CRM records"
    rejected = rejected_names(workdir / "rejected.jsonl", provider)
    reasons = dict(zip(rejected, rejected_reasons(workdir / "rejected.jsonl"), strict=True))
    for name in case.rejected:
        assert name in rejected, f"{name!r} is not in the rejected-records file"
        assert name not in new, f"{name!r} was rejected, yet written"
        for fragment in case.reason:  # the reason says what is wrong with it
            assert fragment.lower() in reasons[name].lower(), (name, reasons[name])
    for prefix in case.rejected_or_written:
        whole = [n for n in new if n.startswith(prefix)]
        refused = [n for n in rejected if n.startswith(prefix)]
        assert len(whole) + len(refused) == 1, f"{prefix}...: neither rejected nor written once"
        assert all(len(n) > 5_000_000 for n in whole), "written, but cut short"
    # no STATE may cover a record that is not in the CRM (the input has one after each)
    lines = _target_input(case)
    sent = [n for n in lines if isinstance(n, dict) and n.get("type") == "RECORD"]
    for value in done.messages:
        covered = ((value.get("bookmarks") or {}).get("persons") or {}).get("sent")
        if covered is None:
            continue
        for record in sent[: int(covered)]:
            name = _who(record["record"], provider)
            assert (
                name in new
                or name in rejected
                or any(name.startswith(p) for p in case.rejected_or_written)
            ), f"STATE {value} covers {name!r}, which is neither written nor rejected"
    if case.roundtrip:
        _check_roundtrip(sb, case, workdir)


def _check_roundtrip(sb: SandboxHandle, case: Case, workdir: Path) -> None:
    config = pd_config(sb) if case.provider == PD else op_config(
        sb, onpipeline_requests_per_minute=0, timezone="Europe/Rome")  # fmt: skip
    back = run(tap_command(workdir / "read-back", config, streams=["persons"]),
               workdir / "read-back", timeout=120)  # fmt: skip
    assert back.returncode == 0, back.stderr[-3000:]
    field = "name" if case.provider == PD else "LastName"
    names = [r.get(field) for r in back.records.get("persons", [])]
    for name in case.written:
        assert names.count(name) == 1, f"{name!r} did not come back unchanged through tap-crm"
