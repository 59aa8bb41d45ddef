"""Every stream of both providers, read by the real ``tap-crm`` through an unreliable network:
10% of the API's answers are 5xx, 2% of the connections drop without an answer, and another
client on the same token spends the rate limit so the tap meets a burst of 429s. The ids it
emits must be the sandbox's, each once: faults cost time, never records.

The reference is the same tap on the same data with every fault off, anchored to the sandbox's
own control API (``/_sandbox/<provider>/ids/...``) for the streams whose ids it lists.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from crm_sandbox.testing import SandboxHandle
from tests.reliability.harness import (
    SECRET_TOKEN,
    Run,
    keys_of,
    op_config,
    pd_config,
    run,
    stream_keys,
    tally_sandbox,
    tap_command,
)

FAULTS = {"fault_rate": 0.10, "drop_rate": 0.02}
SIZE = 10  # small: a retry waits a second or two, and 10% of ~100 requests is ten of them

# Streams whose ids the control API lists as the API does (Pipedrive: no deleted rows).
PIPEDRIVE_ANCHORED = ("deals", "leads", "files", "lead_labels", "users", "pipelines", "stages")
PIPEDRIVE_LIVE_ANCHORED = ("persons", "organizations", "activities", "products", "notes")
ONPIPELINE_ANCHORED = ("persons", "organizations", "events", "invoices", "invoice_items",
                       "users", "teams", "pipelines", "custom_fields")  # fmt: skip


def _sync(sb: SandboxHandle, tmp: Path, name: str, config: dict[str, Any]) -> Run:
    done = run(tap_command(tmp / name, config), tmp / name)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _keys_per_stream(done: Run, keys: dict[str, tuple[str, ...]]) -> dict[str, Counter[Any]]:
    return {stream: Counter(map(str, keys_of(done, stream, key))) for stream, key in keys.items()}


def _assert_same_records(
    faulted: Run, clean: Run, keys: dict[str, tuple[str, ...]], sb: SandboxHandle
) -> None:
    got, want = _keys_per_stream(faulted, keys), _keys_per_stream(clean, keys)
    for stream in keys:
        assert want[stream], f"{stream}: the clean run emitted nothing (size too small?)"
        duplicates = [k for k, n in got[stream].items() if n > 1]
        assert not duplicates, f"{stream}: emitted twice under faults: {duplicates[:5]}"
        assert got[stream] == want[stream], f"{stream}: lost or extra records under faults"


@contextmanager
def _competing_client(sb: SandboxHandle, *, limit: int, tap_429s: int) -> Iterator[Counter[str]]:
    """Another integration on the same Pipedrive token: it keeps the burst window nearly full
    (backing off when refused) until the tap has met ``tap_429s`` refusals of its own, or the
    tap ends."""
    seen: Counter[str] = Counter()
    done = threading.Event()

    def spend() -> None:
        session = requests.Session()
        while not done.is_set():
            try:
                answer = session.get(
                    f"{sb.pipedrive_url}/v1/users",
                    headers={"x-api-token": SECRET_TOKEN},
                    timeout=30,
                )
            except requests.ConnectionError:  # it meets the dropped connections too
                seen["drops"] += 1
                continue
            if answer.status_code >= 500:
                seen["faults_5xx"] += 1
            elif answer.status_code == 429:
                seen["responses_429"] += 1
                done.wait(float(answer.headers.get("Retry-After", "1")))
            refused_in_all = sb.counters()["statuses"].get("429", 0)
            if refused_in_all - seen["responses_429"] >= tap_429s:
                break  # the tap had its burst
            done.wait(2.0 / limit)  # about the whole limit: the tap is left the gaps
        session.close()

    worker = threading.Thread(target=spend, daemon=True)
    worker.start()
    try:
        yield seen
    finally:
        done.set()
        worker.join(timeout=30)


def test_every_pipedrive_stream_survives_5xx_drops_and_a_429_burst(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    rsb.reset(size=SIZE)
    # so few products follow nobody: give one a follower, or its changelog stream is empty
    user = rsb.control("GET", "/pipedrive/ids/users")["ids"][1]
    added = requests.post(
        f"{rsb.pipedrive_url}/api/v2/products/1/followers",
        json={"user_id": user},
        headers={"x-api-token": SECRET_TOKEN},
        timeout=30,
    )
    assert added.status_code in (200, 201), added.text
    config = pd_config(rsb, max_concurrent_requests=4)
    keys = stream_keys(config)
    assert len(keys) >= 30  # every stream of --discover
    clean = _sync(rsb, tmp_path, "clean", config)
    rsb.reset_counters()
    limit = 20
    rsb.configure(burst_limit=limit, **FAULTS)
    with _competing_client(rsb, limit=limit, tap_429s=3) as competitor:
        faulted = _sync(rsb, tmp_path, "faulted", config)
    rsb.configure(burst_limit=0, fault_rate=0, drop_rate=0)
    injected = tally_sandbox(rsb, minus=competitor)  # the tap's share only
    rsb.reset_counters()  # already counted: the fixture's tally must not count them again
    assert injected["faults_5xx"] >= 1
    # The token was refused while the tap ran (the window spent by the other client); the
    # tap itself may meet some of those 429s or, reading the headers, wait before them.
    assert injected["responses_429"] + competitor["responses_429"] >= 1, (injected, competitor)
    _assert_same_records(faulted, clean, keys, rsb)
    for stream in PIPEDRIVE_ANCHORED:
        listed = rsb.control("GET", f"/pipedrive/ids/{stream}")["ids"]
        assert Counter(map(str, listed)) == _keys_per_stream(clean, keys)[stream], stream
    for stream in PIPEDRIVE_LIVE_ANCHORED:  # the API lists these without the deleted ones
        live = []
        for rid in rsb.control("GET", f"/pipedrive/ids/{stream}")["ids"]:
            record = rsb.control("GET", f"/pipedrive/records/{stream}/{rid}")
            if not record.get("is_deleted") and record.get("active_flag") is not False:
                live.append(rid)
        assert Counter(map(str, live)) == _keys_per_stream(clean, keys)[stream], stream


def test_every_onpipeline_stream_survives_5xx_drops_and_a_429(
    rsb: SandboxHandle, tmp_path: Path
) -> None:
    rsb.reset(size=SIZE)
    # no pacing of its own (the sandbox decides) and wide windows: fewer requests, fewer waits
    config = op_config(
        rsb, onpipeline_requests_per_minute=0, onpipeline_window_days=3650, timezone="Europe/Rome"
    )
    keys = stream_keys(config)
    assert len(keys) >= 12
    clean = _sync(rsb, tmp_path, "clean", config)
    rsb.reset_counters()
    # Another client spent the account's minute just now (its requests 58 s old): the tap's
    # first request is refused with Retry-After 2 s, and then the minute is free again.
    limit = 150  # more than the whole sync needs, so the one refusal is the only one
    rsb.configure(onpipeline_rate_limit=limit)
    session = requests.Session()
    for _ in range(limit):
        session.post(
            f"{rsb.onpipeline_url}/UsersList", data=b"{}", headers={"Authorization": SECRET_TOKEN}
        )
    session.close()
    rsb.advance_clock(58)
    rsb.reset_counters()
    rsb.configure(**FAULTS)
    faulted = _sync(rsb, tmp_path, "faulted", config)
    rsb.configure(onpipeline_rate_limit=0, fault_rate=0, drop_rate=0)
    injected = tally_sandbox(rsb)
    rsb.reset_counters()
    assert injected["faults_5xx"] >= 1
    assert injected["responses_429"] >= 1
    _assert_same_records(faulted, clean, keys, rsb)
    for stream in ONPIPELINE_ANCHORED:
        listed = rsb.control("GET", f"/onpipeline/ids/{stream}")["ids"]
        if stream == "invoice_items":  # the stream's key is (invoice_id, line)
            want = Counter(str(tuple(i.rsplit(":", 1))) for i in listed)
            got = Counter(
                str((str(inv), str(line))) for inv, line in keys_of(clean, stream, keys[stream])
            )
            assert got == want, stream
            continue
        if stream == "custom_fields":
            got = Counter(str(k[1]) for k in keys_of(clean, stream, keys[stream]))
        else:
            got = _keys_per_stream(clean, keys)[stream]
        assert got == Counter(map(str, listed)), stream
