"""tap-crm (Pipedrive) on the edges of issue 10, through the real command against crm-sandbox:
a daily budget spent mid-run (sequential and concurrent streams), bodies that are not the API's
envelope, plain http to a remote host, an unreachable host, a runtime error after a good config.
"""

from __future__ import annotations

import copy
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    SECRET_CLIENT_ID,
    SECRET_CLIENT_SECRET,
    SECRET_TOKEN,
    URL_PASSWORD,
    Run,
    catalog_for,
    pd_config,
    run,
    tap_command,
    target_command,
)

SIZE_DEALS = 40  # the reliability sandbox's size (tests/reliability/conftest.py)
PERSON_INPUT = (
    "\n".join(
        json.dumps(message)
        for message in (
            {
                "type": "SCHEMA",
                "stream": "persons",
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
                "key_properties": [],
            },
            {"type": "RECORD", "stream": "persons", "record": {"name": "Ada Lovelace"}},
        )
    )
    + "\n"
)

BUDGET_LINE = "daily API budget is spent"


def _to_noon(sb: SandboxHandle) -> None:
    """Move the sandbox clock to the next noon UTC: its day then has ~12 h left, so a spent
    budget's Retry-After is hours whatever time the test runs (near midnight it would be a
    short wait, rightly waited out)."""
    now = datetime.fromisoformat(str(sb.advance_clock(0)["now"]).replace("Z", "+00:00"))
    noon = (now + timedelta(days=1)).astimezone(UTC).replace(hour=12, minute=0, second=0)
    sb.advance_clock((noon - now).total_seconds())


def _bookmark(state: dict[str, Any] | None, stream: str) -> Any:
    if not state:
        return None
    entry = state.get("bookmarks", {}).get(stream, {})
    return entry.get("replication_key_value")


def _spend_budget_then_resume(
    rsb: SandboxHandle,
    tmp_path: Path,
    stream: str,
    key: tuple[str, ...],
    bookmark_field: str,
    budget: int,
) -> tuple[Run, Run]:
    config = pd_config(rsb, page_size=5, max_concurrent_requests=4)
    full = run(tap_command(tmp_path / "full", config, streams=[stream]), tmp_path / "full")
    assert full.returncode == 0, full.stderr[-3000:]
    everything = {tuple(r[k] for k in key) for r in full.records[stream]}
    assert everything

    _to_noon(rsb)
    command = tap_command(tmp_path / "spent", config, streams=[stream])
    rsb.configure(daily_budget=budget)
    spent = run(command, tmp_path / "spent", timeout=120)
    assert spent.returncode != 0
    spent.assert_one_clear_line(BUDGET_LINE, "run again")
    emitted = spent.records.get(stream, [])
    assert len(emitted) < len(full.records[stream])  # the budget really ran out mid-stream
    bookmark = _bookmark(spent.last_state, stream)
    if bookmark is not None:
        # A STATE covers only records already emitted: every record the bookmark puts behind
        # the next run (strictly older: the next run re-reads the bookmark's own second) was
        # emitted. (Not "bookmark <= newest emitted": a per-parent stream's bookmark rightly
        # passes parents that have no children to emit.)
        behind = {
            tuple(r[k] for k in key)
            for r in full.records[stream]
            if str(r[bookmark_field]) < bookmark
        }
        assert behind <= {tuple(r[k] for k in key) for r in emitted}

    rsb.advance_clock(13 * 3600)  # past the sandbox's midnight: the next day's run
    rsb.configure(daily_budget=10 * budget)  # room for the rest
    command = tap_command(tmp_path / "next", config, streams=[stream], state=spent.last_state or {})
    resumed = run(command, tmp_path / "next", timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    seen = {tuple(r[k] for k in key) for r in emitted + resumed.records.get(stream, [])}
    assert seen == everything  # every record emitted at least once over the two runs
    return spent, resumed


@pytest.mark.timeout(300)
def test_budget_spent_in_a_sequential_stream_stops_with_one_line(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # discovery's custom-field reads cost 50 tokens, each page of deals 10
    _spend_budget_then_resume(rsb, tmp_path, "deals", ("id",), "update_time", budget=50 + 40)


@pytest.mark.timeout(300)
def test_budget_spent_in_a_concurrent_stream_stops_with_one_line(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    # the two parent lists 20 each page, each deal's changelog 10 (a sync reads no custom-field
    # definitions for this stream; the slack leaves the run part-way either way)
    _spend_budget_then_resume(
        rsb,
        tmp_path,
        "deal_followers_changelog",
        ("deal_id", "follower_user_id", "action", "time"),
        "parent_update_time",
        budget=50 + 20 + 150,
    )


# ----------------------------------------------------------------------------- odd 200 bodies

ODD_KINDS = ("html", "empty", "list", "empty_object", "truncated", "data_string", "data_object")
ENVELOPE_LINE = "not its JSON envelope"


@pytest.mark.parametrize("kind", ODD_KINDS)
def test_an_odd_body_ends_the_stream_with_one_line_not_as_empty(
    rsb: SandboxHandle, tmp_path: Path, kind: str
) -> None:
    config = pd_config(rsb, custom_field_columns=False)
    command = tap_command(tmp_path, config, streams=["deals", "persons"])
    rsb.configure(odd_body=kind, odd_body_rate=1.0, odd_body_path="/api/v2/persons")
    done = run(command, tmp_path, timeout=120)
    assert done.returncode == 1
    done.assert_one_clear_line("/api/v2/persons", ENVELOPE_LINE, "api_url")
    assert len(done.ids("deals")) == SIZE_DEALS  # the stream before it is whole
    assert "persons" not in done.records
    # no STATE claims persons were read
    assert _bookmark(done.last_state, "persons") is None


def test_after_an_odd_body_the_next_run_reads_everything(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(rsb, custom_field_columns=False, page_size=5)
    full = run(tap_command(tmp_path / "full", config, streams=["persons"]), tmp_path / "full")
    everything = set(full.ids("persons"))
    # some pages good, then a proxy's page (the sandbox's dice are seeded): the state stays
    # within the good pages
    rsb.configure(odd_body="html", odd_body_rate=0.5, odd_body_path="/api/v2/persons")
    command = tap_command(tmp_path / "odd", config, streams=["persons"])
    odd = run(command, tmp_path / "odd", timeout=120)
    assert odd.returncode == 1
    odd.assert_one_clear_line(ENVELOPE_LINE)
    assert 0 < len(odd.ids("persons")) < len(everything)
    bookmark = _bookmark(odd.last_state, "persons")
    if bookmark is not None:
        assert bookmark <= max(r["update_time"] for r in odd.records["persons"])
    rsb.configure(odd_body="")
    state = odd.last_state or {}
    again = run(
        tap_command(tmp_path / "again", config, streams=["persons"], state=state),
        tmp_path / "again",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert set(odd.ids("persons")) | set(again.ids("persons")) == everything


@pytest.mark.parametrize(
    ("stream", "path", "what"),
    [
        ("deals", "/api/v2/dealFields", "custom fields of deals"),  # discovery, via iter_v2
        ("deal_followers_changelog", "/api/v2/deals/archived", "listing changed parents"),
    ],
)
def test_an_odd_body_outside_the_sdk_is_one_line_too(
    rsb: SandboxHandle, tmp_path: Path, stream: str, path: str, what: str
) -> None:
    # no cost-estimate probe: it would list the same parents first (and say so in one line
    # of its own, "estimating the run's cost: listing ..."); this is about the stream's listing
    config = pd_config(rsb, cost_estimate_probe=False)
    command = tap_command(tmp_path, config, streams=[stream])
    rsb.configure(odd_body="data_string", odd_body_rate=1.0, odd_body_path=path)
    done = run(command, tmp_path, timeout=120)
    assert done.returncode == 1
    done.assert_one_clear_line(what, path, ENVELOPE_LINE)
    assert "Config validation failed" not in done.stderr


# ----------------------------------------------------------------------------- plain http, URLs


@pytest.mark.parametrize(
    "settings",
    [
        {"api_url": "http://acme.pipedrive.com"},
        {"api_url": f"http://user:{URL_PASSWORD}@crm.example.com:8080"},
        {
            "api_url": "https://acme.pipedrive.com",
            "api_token": None,
            "client_id": SECRET_CLIENT_ID,
            "client_secret": SECRET_CLIENT_SECRET,
            "refresh_token": "rt-1234567890",
            "oauth_token_file": "token.json",
            "oauth_url": f"http://u:{URL_PASSWORD}@oauth.example.com",
        },
    ],
)
def test_plain_http_to_a_remote_host_is_refused_by_tap_and_target(
    rsb: SandboxHandle, tmp_path: Path, settings: dict[str, Any]
) -> None:
    config = {k: v for k, v in {**pd_config(rsb), **settings}.items() if v is not None}
    setting = "oauth_url" if "oauth_url" in settings else "api_url"
    rsb.reset_counters()
    tap = run(tap_command(tmp_path / "tap", config), tmp_path / "tap", timeout=60)
    assert tap.returncode == 1
    tap.assert_one_clear_line(setting, "https://", "loopback")
    target = run(
        target_command(tmp_path / "target", config),
        tmp_path / "target",
        stdin=PERSON_INPUT,
        timeout=60,
    )
    assert target.returncode != 0
    target.assert_one_clear_line(setting, "https://", "loopback")
    for done in (tap, target):  # the host is named, never the password (harness checks too)
        assert URL_PASSWORD not in done.stderr


# ----------------------------------------------------------------------------- settings honoured


def test_an_unreachable_host_gives_up_after_max_request_tries(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "provider": "pipedrive",
        "api_url": f"http://127.0.0.1:{port}",
        "api_token": SECRET_TOKEN,
        "max_request_tries": 2,
        "request_timeout": 5,
    }
    done = run(tap_command(tmp_path, config), tmp_path, timeout=120)
    assert done.returncode == 1
    done.assert_one_clear_line("after 2 tries", "max_request_tries")
    assert "Config validation failed" not in done.stderr


def test_a_refused_token_is_one_line_without_config_validation_failed(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = pd_config(rsb, api_token="wrong-token")
    done = run(tap_command(tmp_path, config), tmp_path, timeout=60)
    assert done.returncode == 1
    done.assert_one_clear_line("HTTP 401", "api_token")
    assert "Config validation failed" not in done.stderr


def test_a_catalog_selecting_an_unknown_stream_says_so(rsb: SandboxHandle, tmp_path: Path) -> None:
    config = pd_config(rsb, custom_field_columns=False)
    catalog = catalog_for(config, ["pipelines"])
    typo = copy.deepcopy(next(s for s in catalog["streams"] if s["tap_stream_id"] == "pipelines"))
    typo["tap_stream_id"] = typo["stream"] = "dealz"
    catalog["streams"].append(typo)
    done = run(tap_command(tmp_path, config, catalog=catalog), tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    done.assert_one_clear_line("catalog selects stream 'dealz'", "ignored")
    assert done.ids("pipelines")


@pytest.mark.parametrize("fault", [{"fault_rate": 1.0}, {"drop_rate": 1.0}])
def test_a_stream_that_keeps_failing_gives_up_after_max_request_tries(
    rsb: SandboxHandle, tmp_path: Path, fault: dict[str, float]
) -> None:
    config = pd_config(rsb, custom_field_columns=False, max_request_tries=2)
    command = tap_command(tmp_path, config, streams=["pipelines"])
    rsb.configure(**fault)
    done = run(command, tmp_path, timeout=120)
    assert done.returncode == 1
    done.assert_one_clear_line("stream 'pipelines'", "after 2 tries", "max_request_tries")


@pytest.mark.parametrize("provider", ["pipedrive", "onpipeline"])
def test_a_password_in_api_url_is_never_printed(
    rsb: SandboxHandle, tmp_path: Path, provider: str
) -> None:
    # The harness fails the test if URL_PASSWORD reaches stdout, stderr or any file.
    config = {
        "provider": provider,
        "api_token": SECRET_TOKEN,
        "api_url": f"http://admin:{URL_PASSWORD}@crm.example.com/base",
    }
    tap = run(tap_command(tmp_path / "tap", config), tmp_path / "tap", timeout=60)
    target = run(
        target_command(tmp_path / "target", config),
        tmp_path / "target",
        stdin=PERSON_INPUT,
        timeout=60,
    )
    for done in (tap, target):
        assert done.returncode != 0
        done.assert_one_clear_line("api_url", "http://crm.example.com", "https://")


def test_budget_spent_during_discovery_is_one_line(rsb: SandboxHandle, tmp_path: Path) -> None:
    config = pd_config(rsb)
    command = tap_command(tmp_path, config, streams=["deals"])
    _to_noon(rsb)
    rsb.configure(daily_budget=15)  # one custom-field list (10), not the second
    done = run(command, tmp_path, timeout=60)
    assert done.returncode == 1
    done.assert_one_clear_line(BUDGET_LINE, "run again")
    assert not done.records
    assert "Config validation failed" not in done.stderr


def test_discover_with_an_odd_body_is_one_line(rsb: SandboxHandle, tmp_path: Path) -> None:
    rsb.configure(odd_body="html", odd_body_rate=1.0, odd_body_path="/api/v2/personFields")
    command = tap_command(tmp_path, pd_config(rsb), extra_args=["--discover"])
    done = run(command, tmp_path, timeout=60)
    assert done.returncode == 1
    done.assert_one_clear_line("custom fields of persons", "/api/v2/personFields", ENVELOPE_LINE)
    assert "Config validation failed" not in done.stderr
