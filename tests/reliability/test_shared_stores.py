"""Many workers, one account, nothing kept on their machines but a shared PostgreSQL: the real
``target-crm`` and ``tap-crm`` commands racing each other and killed mid-create.

* two reverse-ETL loads of the same input into the same account at the same time, from two
  working folders sharing only the PostgreSQL id map: every record once;
* the same race with one load SIGKILLed while its creates are in flight, then a re-run from a
  fresh folder: every record once, none lost;
* two OAuth runs of one account at the same time, the sandbox rotating the refresh token at
  every refresh, through the PostgreSQL token store: both succeed.

The URIs carry a password (the test server trusts loopback, so it is not checked): the
harness fails a test if it shows up in any output or file.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_sandbox.testing import SandboxHandle
from tests.pg import fresh_database, pg_server, rows, with_password
from tests.reliability.harness import (
    SECRET_TOKEN,
    URL_PASSWORD,
    Run,
    catalog_for,
    collect,
    oauth_refresh_token,
    pd_config,
    run,
    start,
    stop,
    tally,
    tap_command,
    target_command,
)
from tests.reliability.test_target_crash import (
    assert_loaded_once,
    people,
    singer_input,
    wait_for_writes,
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with pg_server() as dsn:
        yield dsn


@pytest.fixture
def shared(server: str) -> Iterator[str]:
    """A fresh database; its URI as a user would write it, with a password and an account."""
    with fresh_database(server) as uri:
        yield with_password(uri, URL_PASSWORD) + "#acme"


def start_loads(
    tmp_path: Path, names: tuple[str, ...], config: dict[str, Any], text: str
) -> list[tuple[Path, Any]]:
    """One target per name, each in a folder of its own, all started before any finishes."""
    loads = []
    for name in names:
        workdir = tmp_path / name
        workdir.mkdir(parents=True)
        source = workdir / "input.singer"
        source.write_text(text)
        loads.append((workdir, start(target_command(workdir, config), workdir, stdin_file=source)))
    return loads


def outcome(result: Run) -> dict[str, int]:
    """The summary's total row: created, updated, unchanged, rejected."""
    (total,) = [line for line in result.stderr.splitlines() if line.startswith("total ")]
    created, updated, unchanged, rejected = (int(n) for n in total.split()[1:])
    return {"created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


def test_two_loads_of_the_same_input_at_once_create_every_record_once(
    rsb: SandboxHandle, shared: str, tmp_path: Path
) -> None:
    rsb.configure(latency_ms=100)  # each create in flight long enough for the other to meet it
    records = people(200, "twin-")
    text = singer_input(records)
    config = pd_config(rsb, id_map_path=shared, max_concurrent_requests=8, request_timeout=10)
    done = [collect(p, w) for w, p in start_loads(tmp_path, ("one", "two"), config, text)]
    tally("shared_store_runs", 2)
    for result in done:
        assert result.returncode == 0, result.stderr[-3000:]
    totals = [outcome(result) for result in done]
    assert_loaded_once(rsb, records)
    assert sum(t["created"] for t in totals) == len(records)
    assert all(t["created"] + t["updated"] + t["unchanged"] == len(records) for t in totals)
    # what one load found the other had created (or was creating): updated, not created again
    tally("shared_store_found_not_created", sum(t["updated"] + t["unchanged"] for t in totals))
    tally("shared_store_records", len(records))


def test_one_of_two_loads_killed_mid_create_then_a_rerun_from_a_fresh_folder(
    rsb: SandboxHandle, shared: str, tmp_path: Path
) -> None:
    """The killed load leads (the other starts after its first write, so it meets the leader's
    claims); its creates in flight land after it died, in no id map but as dead claims."""
    rsb.configure(latency_ms=120)
    records = people(48, "race-kill-")
    text = singer_input(records)
    config = pd_config(rsb, id_map_path=shared, max_concurrent_requests=6, request_timeout=1)
    ((killed_dir, killed),) = start_loads(tmp_path, ("killed",), config, text)
    wait_for_writes(rsb, 1, killed)
    ((other_dir, other),) = start_loads(tmp_path, ("other",), config, text)
    wait_for_writes(rsb, 12, killed)
    stop(killed, signal.SIGKILL)  # creates in flight: they land after it died
    assert collect(killed, killed_dir).returncode == -signal.SIGKILL
    tally("target_kills_survived")
    survivor = collect(other, other_dir)
    assert survivor.returncode == 0, survivor.stderr[-3000:]
    assert outcome(survivor)["created"] < len(records)  # the rest it found, not created
    assert_loaded_once(rsb, records)

    rsb.configure(latency_ms=0)
    again = run(target_command(tmp_path / "fresh", config), tmp_path / "fresh", stdin=text)
    tally("shared_store_runs", 3)
    assert again.returncode == 0, again.stderr[-3000:]
    assert outcome(again) == {"created": 0, "updated": 0, "unchanged": 48, "rejected": 0}
    assert_loaded_once(rsb, records)
    tally("shared_store_records", len(records))


def test_two_oauth_runs_of_one_account_share_the_rotating_refresh_token(
    rsb: SandboxHandle, shared: str, tmp_path: Path
) -> None:
    """Each refresh rotates the token; a run refreshing with one the other already rotated
    is refused (the sandbox honours a refresh token once), so without the store's lock one of
    the runs fails after a few seconds of racing."""
    rsb.configure(access_token_ttl=1, latency_ms=150)  # a refresh a second in each run
    first = oauth_refresh_token(rsb)
    config = {
        "provider": "pipedrive",
        "api_url": rsb.pipedrive_url,
        "client_id": rsb.client_id,
        "client_secret": rsb.client_secret,
        "refresh_token": first,  # used until the store holds a newer one
        "oauth_token_file": shared.replace("#acme", "#acme-oauth"),
        "id_map_path": shared,
        "max_concurrent_requests": 2,
    }
    records = people(40, "oauth-twin-")
    loads = start_loads(tmp_path, ("one", "two"), config, singer_input(records))
    done = [collect(process, workdir) for workdir, process in loads]
    tally("shared_store_runs", 2)
    (stored,) = rows(shared, "SELECT refresh_token FROM crm_oauth_tokens")
    newest = str(stored[0])
    assert newest != first, "the refresh token was never rotated"
    for result in done:
        assert result.returncode == 0, result.stderr[-3000:]
        for secret in (first, newest, SECRET_TOKEN, URL_PASSWORD):
            assert secret not in result.stdout + result.stderr
    assert_loaded_once(rsb, records)
    tally("shared_store_records", len(records))


@pytest.mark.parametrize("setting", ["id_map_path", "rejected_records_path"])
def test_an_unreachable_shared_store_is_one_line_naming_the_setting_without_the_password(
    rsb: SandboxHandle, tmp_path: Path, setting: str
) -> None:
    nowhere = f"postgresql://crm:{URL_PASSWORD}@127.0.0.1:9/crm#acme"  # nothing listens on 9
    text = singer_input(people(3, "nowhere-"))
    result = run(
        target_command(tmp_path, pd_config(rsb, **{setting: nowhere})), tmp_path, stdin=text
    )
    assert result.returncode != 0
    line = result.assert_one_clear_line(setting, "postgresql://crm:***@127.0.0.1:9/crm", "connect")
    assert URL_PASSWORD not in result.stderr  # (and the harness searched every output)
    assert "127.0.0.1:9" in line
    assert rsb.counters()["events"].get("writes", 0) == 0  # nothing written before it


def test_an_unreachable_token_store_is_one_line_naming_the_setting_without_the_password(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    config = {
        "provider": "pipedrive",
        "api_url": rsb.pipedrive_url,
        "client_id": rsb.client_id,
        "client_secret": rsb.client_secret,
        "oauth_token_file": f"postgresql://crm:{URL_PASSWORD}@127.0.0.1:9/crm#acme",
    }
    catalog = catalog_for(pd_config(rsb), ["deals"])  # discovered with a token that works
    result = run(tap_command(tmp_path, config, catalog=catalog), tmp_path)
    assert result.returncode != 0
    result.assert_one_clear_line("oauth_token_file", "postgresql://crm:***@127.0.0.1:9", "connect")
    assert URL_PASSWORD not in result.stderr
