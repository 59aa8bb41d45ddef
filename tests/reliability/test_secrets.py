"""No secret in anything the commands produce. The harness searches every run's stdout, stderr
and files for the recognisable secrets; these tests make sure the runs that carry the most
secrets happen (OAuth with a client secret and rotating refresh tokens, a password inside
``api_url``), and search the files a pipeline keeps (rejected records, id map, state) by name,
so an empty search cannot pass for a clean one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm_api.token_store import FileTokenStore as TokenStore
from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    SECRET_TOKEN,
    SECRETS,
    URL_PASSWORD,
    finished,
    oauth_refresh_token,
    pd_config,
    run,
    tap_command,
    target_command,
)

PERSON_SCHEMA = {
    "type": "object",
    "properties": {"customer_id": {"type": "string"}, "name": {"type": "string"},
                   "email": {"type": "string"}, "age": {"type": "integer"}},
}  # fmt: skip


def _persons(*records: dict[str, object]) -> str:
    lines: list[dict[str, object]] = [
        {"type": "SCHEMA", "stream": "persons", "schema": PERSON_SCHEMA,
         "key_properties": ["customer_id"]},
        *({"type": "RECORD", "stream": "persons", "record": r} for r in records),
        {"type": "STATE", "value": {"bookmarks": {"persons": {"sent": len(records)}}}},
    ]  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines)


def _assert_clean(path: Path, secrets: list[str]) -> None:
    assert path.is_file(), f"{path.name} was not produced"
    assert path.stat().st_size > 0, f"{path.name} is empty"
    text = path.read_bytes().decode("utf-8", "replace")
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:6]}...) is in {path.name}"


def test_oauth_tap_and_target_keep_every_token_and_secret_out_of_output(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # One folder for both runs, the token file in it: the harness then searches everything
    # either command left there for the refresh token the file holds at that moment.
    work = tmp_path / "run"
    work.mkdir()
    token_file = work / "pipedrive-token.json"
    first = oauth_refresh_token(rsb)
    TokenStore(token_file).save(first)
    config = {
        "provider": "pipedrive",
        "api_url": rsb.pipedrive_url,
        "client_id": rsb.client_id,
        "client_secret": rsb.client_secret,
        "oauth_token_file": str(token_file),
        "id_map_path": str(work / "ids.sqlite"),
    }
    tap = run(tap_command(work, config, streams=["deals", "persons"]), work)
    assert tap.returncode == 0, tap.stderr[-3000:]
    assert tap.ids("deals")
    second = TokenStore(token_file).load()
    assert second  # rotated: both must stay out of every output
    assert second != first
    target = run(target_command(work, config), work,
                 stdin=_persons({"customer_id": "o1", "name": "Oauth Person"}))  # fmt: skip
    assert target.returncode == 0, target.stderr[-3000:]
    third = TokenStore(token_file).load()
    secrets = [*SECRETS, first, str(second), str(third)]
    for done in (tap, target):
        for secret in secrets:
            assert secret not in done.stdout + done.stderr
    assert (work / "ids.sqlite").stat().st_size > 0
    for produced in work.iterdir():  # the id map and whatever else, but the token file
        if produced.name.startswith("config-") or produced == token_file:
            continue
        text = produced.read_bytes().decode("utf-8", "replace")
        assert not [s for s in secrets if s in text], f"a secret is in {produced.name}"
    assert target.messages == [{"bookmarks": {"persons": {"sent": 1}}}]  # the target's STATE


def test_a_password_in_api_url_never_reaches_output(rsb: SandboxHandle, tmp_path: Path) -> None:
    # loopback, so both commands may go on; whatever they do, the password is never printed
    url = rsb.pipedrive_url.replace("http://", f"http://reader:{URL_PASSWORD}@")
    config = pd_config(rsb, api_url=url)
    tap = run(tap_command(tmp_path / "tap", config, streams=["users"]), tmp_path / "tap")
    target = run(target_command(tmp_path / "target", config), tmp_path / "target",
                 stdin=_persons({"customer_id": "u1", "name": "Url Person"}))  # fmt: skip
    for done in (tap, target):
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert URL_PASSWORD not in done.stdout + done.stderr
        assert "reader:" not in done.stderr  # not even the user part of the credentials
    assert tap.returncode == 0 or "api_url" in tap.stderr


def test_rejected_records_id_map_and_state_files_hold_no_secret(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    work = tmp_path / "pipeline"
    config = pd_config(
        rsb,
        id_map_path=str(work / "ids.sqlite"),
        rejected_records_path=str(work / "rejected.jsonl"),
        max_rejected_records=5,
    )
    text = _persons({"customer_id": "s1", "name": "Kept Person"},
                    {"customer_id": "s2", "name": "Rejected Person", "age": "old"})  # fmt: skip
    target = run(target_command(work, config), work, stdin=text)
    assert target.returncode == 0, target.stderr[-3000:]
    tap = run(tap_command(tmp_path / "tap", pd_config(rsb), streams=["persons"]),
              tmp_path / "tap")  # fmt: skip
    assert tap.returncode == 0, tap.stderr[-3000:]
    state_file = tmp_path / "state.json"  # what Meltano would keep
    state_file.write_text(json.dumps(tap.last_state))
    secrets = list(SECRETS)
    for produced in (work / "rejected.jsonl", work / "ids.sqlite", state_file):
        _assert_clean(produced, secrets)
    assert "Rejected Person" in (work / "rejected.jsonl").read_text()  # it was searched


def test_the_harness_finds_a_leak_wherever_it_is(tmp_path: Path) -> None:
    # The search every run goes through must itself fail on a leak, or it proves nothing.
    for where in ("stdout", "stderr", "rejected.jsonl", "ids.sqlite", "run.log"):
        work = tmp_path / where
        work.mkdir()
        out = f"x {SECRET_TOKEN} y" if where == "stdout" else ""
        err = f"api_url http://u:{URL_PASSWORD}@h" if where == "stderr" else ""
        if "." in where:
            (work / where).write_bytes(b"\x00binary\x00" + SECRET_TOKEN.encode())
        with pytest.raises(AssertionError, match="leaked into"):
            finished(0, out, err, work)
    rotated = tmp_path / "rotated"
    rotated.mkdir()
    TokenStore(rotated / "token.json").save("rt-rotated-0123456789")
    (rotated / "state.json").write_text('{"refresh": "rt-rotated-0123456789"}')
    with pytest.raises(AssertionError, match="leaked into"):
        finished(0, "", "", rotated)  # a refresh token found in the token file counts too
