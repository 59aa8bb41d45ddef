"""tap-crm for Pipedrive against a running crm-sandbox, over real HTTP.

Each run is the real command (``python -m tap_crm.tap``) in a subprocess, so every run has
its own process state (rate budget, OAuth tokens), as in production.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from crm_api import pipedrive as api
from crm_api.token_store import FileTokenStore
from crm_sandbox.testing import SandboxHandle
from tap_crm.tap import TapCRM

ENTITY_STREAMS = ["deals", "persons", "organizations", "activities", "products", "notes"]
FULL_TABLE_STREAMS = ["pipelines", "stages", "users"]


@dataclass
class Run:
    returncode: int
    stderr: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    def ids(self, stream: str, key: str = "id") -> list[Any]:
        return [r[key] for r in self.records.get(stream, [])]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1]


def pd_config(sb: SandboxHandle, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "pipedrive",
        "api_url": sb.pipedrive_url,
        "api_token": sb.api_token,
        **extra,
    }


def catalog_for(config: dict[str, Any], streams: list[str]) -> dict[str, Any]:
    """The discovered catalog with only ``streams`` selected."""
    catalog = TapCRM(config=config).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def _write(directory: Path, name: str, payload: Any) -> Path:
    path = directory / f"{name}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(payload))
    return path


def _command(
    tmp: Path, config: dict[str, Any], catalog: dict[str, Any] | None, state: dict[str, Any] | None
) -> list[str]:
    command = [sys.executable, "-m", "tap_crm.tap", "--config", str(_write(tmp, "config", config))]
    if catalog is not None:
        command += ["--catalog", str(_write(tmp, "catalog", catalog))]
    if state is not None:
        command += ["--state", str(_write(tmp, "state", state))]
    return command


def _collect(run: Run, lines: list[str]) -> Run:
    for line in lines:
        message = json.loads(line)
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            run.states.append(message["value"])
    return run


def run_tap(
    tmp: Path,
    config: dict[str, Any],
    *,
    streams: list[str] | None = None,
    state: dict[str, Any] | None = None,
    check: bool = True,
) -> Run:
    catalog = catalog_for(config, streams) if streams is not None else None
    done = subprocess.run(
        _command(tmp, config, catalog, state), capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(done.stderr[-3000:])
    return _collect(Run(done.returncode, done.stderr), done.stdout.splitlines())


def raw(sb: SandboxHandle, entity: str, rid: int) -> dict[str, Any]:
    record: dict[str, Any] = sb.control("GET", f"/pipedrive/records/{entity}/{rid}")
    return record


def listed_ids(sb: SandboxHandle, entity: str) -> set[int]:
    """Ids the API lists: deals incl. deleted and archived; others without deleted ones."""
    ids: list[int] = sb.control("GET", f"/pipedrive/ids/{entity}")["ids"]
    if entity in {"deals", "users", "pipelines", "stages"}:
        return set(ids)
    keep = set()
    for rid in ids:
        record = raw(sb, entity, rid)
        if not record.get("is_deleted") and record.get("active_flag") is not False:
            keep.add(rid)
    return keep


def bookmark(state: dict[str, Any], stream: str) -> str:
    value: str = state["bookmarks"][stream]["replication_key_value"]
    return value


def v2_time(value: str) -> str:
    return value.replace(" ", "T") + ("" if value.endswith("Z") else "Z")


# ----------------------------------------------------------------------------- full sync


def test_full_sync_emits_every_record_exactly_once(sandbox: SandboxHandle, tmp_path: Path) -> None:
    deleted = requests.delete(
        f"{sandbox.pipedrive_url}/api/v2/deals/6", headers={"x-api-token": sandbox.api_token}
    )
    assert deleted.status_code == 200
    run = run_tap(
        tmp_path, pd_config(sandbox, page_size=7), streams=ENTITY_STREAMS + FULL_TABLE_STREAMS
    )
    for stream in ENTITY_STREAMS + FULL_TABLE_STREAMS:
        ids = run.ids(stream)
        assert len(ids) == len(set(ids)), f"{stream} has duplicates"
        assert set(ids) == listed_ids(sandbox, stream), stream
    deals = {r["id"]: r for r in run.records["deals"]}
    assert any(r["is_archived"] for r in deals.values())  # from /deals/archived
    assert deals[6]["is_deleted"]  # status=deleted: the warehouse learns of the deletion
    for stream in ENTITY_STREAMS:
        times = [r["update_time"] for r in run.records[stream]]
        assert times == sorted(times), f"{stream} not in bookmark order"
        assert bookmark(run.final_state, stream) == max(times)


def test_reference_streams_are_complete(sandbox: SandboxHandle, tmp_path: Path) -> None:
    streams = ["deal_fields", "person_fields", "organization_fields", "activity_fields",
               "product_fields"]  # fmt: skip
    run = run_tap(tmp_path, pd_config(sandbox, page_size=5), streams=streams)
    custom = sandbox.control("GET", "/pipedrive/fields")
    for stream in streams:
        entity = stream.removesuffix("_fields")
        codes = run.ids(stream, "field_code")
        assert len(codes) == len(set(codes))
        assert {f["key"] for f in custom[entity]} <= set(codes)


def test_v1_lists_are_complete(sandbox: SandboxHandle, tmp_path: Path) -> None:
    streams = ["leads", "lead_labels", "lead_sources", "activity_types", "currencies",
               "filters", "files", "lead_fields", "note_fields"]  # fmt: skip
    run = run_tap(tmp_path, pd_config(sandbox, page_size=6), streams=streams)
    for stream in ("leads", "files", "lead_labels"):
        ids = run.ids(stream)
        assert len(ids) == len(set(ids)), stream
        assert set(ids) == set(sandbox.control("GET", f"/pipedrive/ids/{stream}")["ids"]), stream
    leads = run.records["leads"]
    assert any(lead["is_archived"] for lead in leads)  # archived leads too
    assert any(lead["custom_fields"] for lead in leads)  # hash keys gathered, none dropped
    assert all(lead["add_time"].endswith("Z") for lead in leads)
    keyed = [("lead_sources", "name"), ("lead_fields", "key"), ("note_fields", "key"),
             ("activity_types", "id"), ("currencies", "id"), ("filters", "id")]  # fmt: skip
    for stream, key in keyed:
        keys = run.ids(stream, key)
        assert keys, stream
        assert len(keys) == len(set(keys)), stream


# ----------------------------------------------------------------------------- incremental


def test_incremental_run_emits_changed_records_and_the_bookmark_second(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox, page_size=6)
    streams = ["deals", "persons", "notes"]
    first = run_tap(tmp_path, config, streams=streams)
    state = first.final_state
    touched = {e: sandbox.control("POST", "/pipedrive/touch", {"entity": e, "count": 3})
               for e in streams}  # fmt: skip
    second = run_tap(tmp_path, config, streams=streams, state=state)
    for stream in streams:
        since = bookmark(state, stream)
        emitted = second.ids(stream)
        assert len(emitted) == len(set(emitted))
        assert set(touched[stream]["ids"]) <= set(emitted), stream
        # of the unchanged records, only those at the bookmark itself come again
        expected = {
            rid
            for rid in listed_ids(sandbox, stream)
            if v2_time(raw(sandbox, stream, rid)["update_time"]) >= since
        }
        assert set(emitted) == expected, stream
        assert bookmark(second.final_state, stream) == v2_time(touched[stream]["update_time"])


def test_a_change_in_the_bookmark_second_is_not_lost(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # Two deals change in the same second; the last run saw only the first of them (it was
    # interrupted right after it), so its bookmark is that second. The inclusive lower bound
    # must bring both.
    touched = sandbox.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": [3, 5]})
    second = touched["update_time"]
    state = {"bookmarks": {"deals": {"replication_key": "update_time",
                                     "replication_key_value": second}}}  # fmt: skip
    run = run_tap(tmp_path, pd_config(sandbox), streams=["deals"], state=state)
    assert set(run.ids("deals")) == {3, 5}


def test_interrupted_sync_resumes_from_its_last_state(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.configure(latency_ms=40)
    config = pd_config(sandbox, page_size=4)
    catalog = catalog_for(config, ["deals"])
    process = subprocess.Popen(
        _command(tmp_path, config, catalog, None),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    checkpoints = 0
    for line in process.stdout:
        lines.append(line)
        message = json.loads(line)
        if message["type"] == "STATE" and "deals" in message["value"].get("bookmarks", {}):
            checkpoints += 1
            if checkpoints == 3:
                process.kill()  # as hard as a crash: no chance to write anything more
                break
    process.stdout.close()
    process.wait(timeout=60)
    first = _collect(Run(process.returncode or 0, ""), lines)
    assert 0 < len(first.ids("deals")) < len(listed_ids(sandbox, "deals"))
    resumed = run_tap(tmp_path, config, streams=["deals"], state=first.final_state)
    assert set(first.ids("deals")) | set(resumed.ids("deals")) == listed_ids(sandbox, "deals")
    # it resumed, not restarted: at most the last checkpoint's page is read again
    assert len(set(first.ids("deals")) & set(resumed.ids("deals"))) <= 4


# ----------------------------------------------------------------------------- custom fields


def test_custom_fields_arrive_under_readable_names_with_types(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox)
    catalog = catalog_for(config, ["deals"])
    schema = next(s for s in catalog["streams"] if s["tap_stream_id"] == "deals")["schema"]
    fields = {f["name"]: f for f in sandbox.control("GET", "/pipedrive/fields")["deal"]}
    lead, lead_dash = fields["Lead score"], fields["Lead-Score"]
    assert schema["properties"]["lead_score"]["type"] == ["number", "null"]
    other = f"lead_score_{lead_dash['key'][:8]}"  # the colliding name, made unique
    assert other in schema["properties"]
    assert schema["properties"]["industry"]["type"] == ["integer", "null"]
    assert schema["properties"]["renewal_date"]["format"] == "date"
    assert schema["properties"]["budget"]["type"] == ["object", "null"]

    run = run_tap(tmp_path, config, streams=["deals"])
    industry = fields["Industry"]["key"]
    checked = 0
    for record in run.records["deals"]:
        hashes = record["custom_fields"]
        assert record["lead_score"] == hashes.get(lead["key"])
        assert record[other] == hashes.get(lead_dash["key"])
        if hashes.get(industry) is not None:
            assert record["industry"] == hashes[industry]
            assert isinstance(record["industry_label"], str)
            checked += 1
    assert checked > 0


def test_raw_custom_fields_only_when_asked(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = pd_config(sandbox, custom_field_columns=False)
    run = run_tap(tmp_path, config, streams=["deals"])
    record = run.records["deals"][0]
    assert "lead_score" not in record
    assert all(re.fullmatch(r"[0-9a-f]{40}", key) for key in record["custom_fields"])


# ----------------------------------------------------------------------------- followers changelog


def test_followers_changelog_visits_only_changed_parents_and_state_stays_small(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox, max_concurrent_requests=4)
    changelog = "pipedrive GET /api/v2/deals/{id}/followers/changelog"
    first = run_tap(tmp_path, config, streams=["deal_followers_changelog"])
    assert sandbox.counters()["requests"][changelog] == len(listed_ids(sandbox, "deals"))
    rows = first.records["deal_followers_changelog"]
    assert rows
    assert all(isinstance(row["deal_id"], int) for row in rows)
    keys = [(r["deal_id"], r["follower_user_id"], r["action"], r["time"]) for r in rows]
    assert len(keys) == len(set(keys))
    since = bookmark(first.final_state, "deal_followers_changelog")

    sandbox.reset_counters()
    touched = sandbox.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": [2, 9]})
    second = run_tap(tmp_path, config, streams=["deal_followers_changelog"],
                     state=first.final_state)  # fmt: skip
    changed = {
        rid
        for rid in listed_ids(sandbox, "deals")
        if v2_time(raw(sandbox, "deals", rid)["update_time"]) >= since
    }
    assert changed >= set(touched["ids"])
    # the parents read at the bookmark's own second are named in the state: only the two
    # changed deals are read again, not those that merely share the bookmark's second
    assert sandbox.counters()["requests"][changelog] == len(touched["ids"])
    assert set(second.ids("deal_followers_changelog", "deal_id")) <= set(touched["ids"])
    # one bookmark, no per-parent partitions: the state does not grow with the account
    state_text = json.dumps(second.final_state)
    assert "partitions" not in state_text
    assert len(state_text) < 2000


def test_followers_changelog_of_every_parent_kind(sandbox: SandboxHandle, tmp_path: Path) -> None:
    streams = ["person_followers_changelog", "organization_followers_changelog",
               "product_followers_changelog"]  # fmt: skip
    run = run_tap(tmp_path, pd_config(sandbox), streams=streams)
    for stream, parent in zip(streams, ["persons", "organizations", "products"], strict=True):
        key = stream.split("_")[0] + "_id"
        assert set(run.ids(stream, key)) <= listed_ids(sandbox, parent)
    assert run.records.get("person_followers_changelog")


# ----------------------------------------------------------------------------- deal children


def test_deal_products_come_100_deals_per_request(sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.reset(size=250)
    bulk = "pipedrive GET /api/v2/deals/products"
    config = pd_config(sandbox, custom_field_columns=False)
    first = run_tap(tmp_path, config, streams=["deal_products"])
    ids = first.ids("deal_products")
    assert len(ids) == len(set(ids))
    live = {
        rid for rid in listed_ids(sandbox, "deals") if not raw(sandbox, "deals", rid)["is_deleted"]
    }
    served = {  # the API leaves out the products of deleted deals
        pid
        for pid in sandbox.control("GET", "/pipedrive/ids/deal_products")["ids"]
        if raw(sandbox, "deal_products", pid)["deal_id"] in live
    }
    assert set(ids) == served
    assert sandbox.counters()["requests"][bulk] == -(-len(live) // 100)  # not one per deal
    times = [row["parent_update_time"] for row in first.records["deal_products"]]
    assert times == sorted(times)

    sandbox.reset_counters()
    touched = sandbox.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": [7, 8, 9]})
    second = run_tap(tmp_path, config, streams=["deal_products"], state=first.final_state)
    assert sandbox.counters()["requests"][bulk] == 1  # the changed deals fit in one call
    assert {row["deal_id"] for row in second.records.get("deal_products", [])} <= {
        rid
        for rid in listed_ids(sandbox, "deals")
        if v2_time(raw(sandbox, "deals", rid)["update_time"])
        >= bookmark(first.final_state, "deal_products")
    }
    assert set(touched["ids"]) >= {7, 8, 9}


def test_deal_installments_or_one_line_when_the_plan_lacks_them(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(sandbox, custom_field_columns=False)
    run = run_tap(tmp_path, config, streams=["deal_installments"])
    ids = run.ids("deal_installments")
    assert set(ids) == set(sandbox.control("GET", "/pipedrive/ids/installments")["ids"])
    sandbox.control("POST", "/pipedrive/features", {"installments": False})
    skipped = run_tap(tmp_path, config, streams=["deal_installments"])
    assert skipped.returncode == 0
    assert "deal_installments" not in skipped.records
    assert "Skipped: stream 'deal_installments': Pipedrive answered HTTP 403" in skipped.stderr


def test_deal_flow_visits_only_changed_deals(sandbox: SandboxHandle, tmp_path: Path) -> None:
    flow = "pipedrive GET /v1/deals/{id}/flow"
    config = pd_config(sandbox, custom_field_columns=False)
    first = run_tap(tmp_path, config, streams=["deal_flow"])
    assert sandbox.counters()["requests"][flow] == len(listed_ids(sandbox, "deals"))
    rows = first.records["deal_flow"]
    keys = [(r["deal_id"], r["object"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert any(r["object"] == "dealChange" and r["data"]["field_key"] for r in rows)
    sandbox.reset_counters()
    sandbox.control("POST", "/pipedrive/touch", {"entity": "deals", "ids": [4]})
    run_tap(tmp_path, config, streams=["deal_flow"], state=first.final_state)
    since = bookmark(first.final_state, "deal_flow")
    changed = {
        rid
        for rid in listed_ids(sandbox, "deals")
        if v2_time(raw(sandbox, "deals", rid)["update_time"]) >= since
    }
    assert 4 in changed
    assert sandbox.counters()["requests"][flow] == 1  # deal 4's, no other's
    assert len(json.dumps(first.final_state)) < 2000


# ----------------------------------------------------------------------------- rate limits, faults


def test_rate_limit_is_kept_before_the_server_must_refuse(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.configure(burst_limit=6)
    config = pd_config(sandbox, page_size=10, max_concurrent_requests=8)
    run = run_tap(tmp_path, config, streams=["deal_followers_changelog"])
    counters = sandbox.counters()
    # eight requests in flight, yet the budget learned the limit from the headers and slowed
    # down before it: the server never had to say 429
    assert counters["statuses"].get("429", 0) == 0
    changelog = counters["requests"]["pipedrive GET /api/v2/deals/{id}/followers/changelog"]
    assert changelog == len(listed_ids(sandbox, "deals"))
    assert run.records["deal_followers_changelog"]


def test_429s_from_a_shared_token_are_waited_out(sandbox: SandboxHandle, tmp_path: Path) -> None:
    # Two runs on one token at once (say two Meltano jobs): each keeps its own budget, so
    # together they exceed the limit, meet 429s, must wait them out, and lose nothing.
    sandbox.reset(size=20)
    sandbox.configure(burst_limit=6)
    config = pd_config(sandbox, max_concurrent_requests=8)
    jobs = {"deal_followers_changelog": "deals", "person_followers_changelog": "persons"}
    processes = {
        stream: subprocess.Popen(
            _command(tmp_path, config, catalog_for(config, [stream]), None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stream in jobs
    }
    outputs = {stream: process.communicate(timeout=300) for stream, process in processes.items()}
    counters = sandbox.counters()
    assert counters["statuses"].get("429", 0) >= 1
    for stream, parent in jobs.items():
        out, err = outputs[stream]
        assert processes[stream].returncode == 0, err[-2000:]
        run = _collect(Run(0, err), out.splitlines())
        assert set(run.ids(stream, parent[:-1] + "_id")) <= listed_ids(sandbox, parent)
        assert run.records[stream]
    changelogs = sum(
        n for key, n in counters["requests"].items() if key.endswith("/followers/changelog")
    )
    parents = len(listed_ids(sandbox, "deals")) + len(listed_ids(sandbox, "persons"))
    # every parent's changelog was read; the only extra requests are the refused ones
    assert parents <= changelogs <= parents + counters["statuses"]["429"]


def test_server_errors_and_dropped_connections_are_retried(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.configure(fault_rate=0.25, drop_rate=0.1)
    run = run_tap(tmp_path, pd_config(sandbox, page_size=8), streams=["deals", "notes"])
    counters = sandbox.counters()
    assert counters["events"].get("faults", 0) + counters["events"].get("drops", 0) > 0
    sandbox.configure(fault_rate=0.0, drop_rate=0.0)
    for stream in ("deals", "notes"):
        ids = run.ids(stream)
        assert len(ids) == len(set(ids))
        assert set(ids) == listed_ids(sandbox, stream)


def test_a_spent_daily_budget_stops_in_one_line_and_the_next_day_resumes(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.configure(daily_budget=45)  # tokens: four pages of deals at 10 each
    config = pd_config(sandbox, page_size=5, custom_field_columns=False)
    catalog = catalog_for(config, ["deals"])
    done = subprocess.run(
        _command(tmp_path, config, catalog, None), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "daily API budget is spent" in done.stderr
    first = _collect(Run(1, done.stderr), done.stdout.splitlines())
    assert first.ids("deals")
    sandbox.configure(daily_budget=0)
    sandbox.advance_clock(86_400)
    resumed = run_tap(tmp_path, config, streams=["deals"], state=first.final_state)
    assert set(first.ids("deals")) | set(resumed.ids("deals")) == listed_ids(sandbox, "deals")


# ----------------------------------------------------------------------------- errors


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line or "CRITICAL" in line]


def test_bad_token_fails_in_one_clear_line(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = {**pd_config(sandbox), "api_token": "not-the-token"}
    done = subprocess.run(
        _command(tmp_path, config, None, None), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = _error_lines(done.stderr)
    assert errors
    assert "HTTP 401" in errors[0]
    assert "api_token" in errors[0]
    assert "not-the-token" not in done.stderr


def test_bad_setting_fails_before_any_request(sandbox: SandboxHandle, tmp_path: Path) -> None:
    config = pd_config(sandbox, start_date="last tuesday")
    done = subprocess.run(
        _command(tmp_path, config, None, None), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "start_date 'last tuesday' is not an RFC 3339" in done.stderr
    assert sandbox.counters()["requests"] == {}


# ----------------------------------------------------------------------------- OAuth


def _authorize(sb: SandboxHandle, token_file: Path) -> None:
    """The one-time step, through the real ``crm-oauth`` command."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_api.oauth_cli",
            "--client-id",
            sb.client_id,
            "--token-file",
            str(token_file),
            "--api-url",
            sb.pipedrive_url,
            "--port",
            "0",
            "--timeout",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PIPEDRIVE_CLIENT_SECRET": sb.client_secret, "PATH": "/usr/bin:/bin"},
    )
    assert process.stdout is not None
    url = ""
    for line in process.stdout:
        if line.startswith("http"):
            url = line.strip()
            break
    # The "browser": the sandbox's consent page redirects straight to the callback.
    assert requests.get(url, timeout=30).status_code == 200
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Saved the refresh token" in out


def test_oauth_refreshes_rotates_and_keeps_the_new_refresh_token(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    token_file = tmp_path / "pipedrive-token.json"
    _authorize(sandbox, token_file)
    first_token = FileTokenStore(token_file).load()
    assert first_token
    config = {
        "provider": "pipedrive",
        "api_url": sandbox.pipedrive_url,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "oauth_token_file": str(token_file),
    }
    run1 = run_tap(tmp_path, config, streams=["deals"])
    second_token = FileTokenStore(token_file).load()
    assert second_token not in {None, first_token}  # rotated, and kept for the next run
    # The sandbox's refresh tokens work once: a second run works only with the kept one.
    sandbox.advance_clock(7200)
    run2 = run_tap(tmp_path, config, streams=["deals"])
    assert set(run2.ids("deals")) == set(run1.ids("deals")) == listed_ids(sandbox, "deals")
    for secret in (first_token, second_token, sandbox.client_secret):
        assert secret not in run1.stderr + run2.stderr


def test_oauth_access_token_expiring_mid_run_is_refreshed(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    _authorize(sandbox, token_file)
    connection = api.connect(
        api_url=sandbox.pipedrive_url,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        oauth_token_file=str(token_file),
    )
    session = connection.session()
    url = connection.url("/api/v2/deals")
    assert session.get(url, timeout=30).status_code == 200
    sandbox.advance_clock(3600 + 5)  # past access_token_ttl: the server now says 401
    response = session.get(url, timeout=30)
    assert response.status_code == 200  # refreshed on 401 and sent again
    assert isinstance(connection.auth, api.OAuthAuth)
    assert connection.auth.refresh_count == 2


def test_oauth_with_a_revoked_refresh_token_fails_in_one_line(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    FileTokenStore(token_file).save("pdr_revoked")
    config = {
        "provider": "pipedrive",
        "api_url": sandbox.pipedrive_url,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "oauth_token_file": str(token_file),
    }
    done = subprocess.run(
        _command(tmp_path, config, None, None), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "crm-oauth" in done.stderr
    assert "pdr_revoked" not in done.stderr
