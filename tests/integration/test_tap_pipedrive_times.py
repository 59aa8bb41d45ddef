"""``normalize_time`` (pendulum, with a fast path) gives byte for byte what the stdlib version
it replaced gave, on every time the sandbox's Pipedrive serves (v2 RFC 3339, v1
``YYYY-MM-DD HH:MM:SS``, v1's never-logged-in zero time) and on the variants the docs allow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from crm_sandbox.testing import SandboxHandle
from tap_crm.pipedrive.client import normalize_time, rfc3339

# (path, the time fields of its records)
SERVED = [
    ("/api/v2/deals", ("add_time", "update_time", "close_time", "won_time", "lost_time")),
    ("/api/v2/persons", ("add_time", "update_time")),
    ("/api/v2/activities", ("add_time", "update_time", "marked_as_done_time")),
    ("/v1/users", ("created", "modified", "last_login")),
    ("/v1/notes", ("add_time", "update_time")),
    ("/v1/leads", ("add_time", "update_time")),
    ("/v1/files", ("add_time", "update_time")),
    ("/v1/deals/1/flow", ("timestamp",)),
    ("/v1/deals/1/changelog", ("time",)),
    ("/api/v2/deals/1/followers/changelog", ("time",)),
]


def stdlib_normalize_time(value: Any) -> str | None:
    """The implementation before pendulum (the reference output)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _served_times(sb: SandboxHandle) -> Iterator[tuple[str, str, Any]]:
    session = requests.Session()
    session.headers["x-api-token"] = sb.api_token
    for path, fields in SERVED:
        answer = session.get(f"{sb.pipedrive_url}{path}", params={"limit": 500}, timeout=30)
        answer.raise_for_status()
        for row in answer.json()["data"] or []:
            for name in fields:
                yield path, name, row.get(name)


def test_every_time_the_sandbox_serves_comes_out_as_before(sandbox: SandboxHandle) -> None:
    seen: dict[str, int] = {}
    for path, name, value in _served_times(sandbox):
        assert normalize_time(value) == stdlib_normalize_time(value), (path, name, value)
        if isinstance(value, str):
            shape = "v2" if value.endswith("Z") else "v1"
            seen[shape] = seen.get(shape, 0) + 1
    assert seen.get("v2", 0) > 100, seen  # both shapes were met, many times
    assert seen.get("v1", 0) > 100, seen


def test_a_time_already_in_shape_is_returned_as_it_is() -> None:
    value = "".join(["2024-01-02T03:04:05", "Z"])  # a new string object, not a literal
    assert normalize_time(value) is value


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-02T03:04:05Z",
        "2024-01-02T03:04:05.000Z",
        "2024-01-02T03:04:05.999999Z",
        "2024-01-02 03:04:05",
        " 2024-01-02 03:04:05 ",
        "2024-01-02T05:04:05+02:00",
        "2024-01-01T23:30:00-01:00",
        "2024-01-02T03:04:05",
        "2024-01-02",
        "0000-00-00 00:00:00",
        "2024-13-02 00:00:00",
        "not a time",
        "",
        "   ",
        None,
        17,
    ],
)
def test_the_variants_come_out_as_before(value: Any) -> None:
    assert normalize_time(value) == stdlib_normalize_time(value)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 1, 2, 3, 4, 5, 999_999),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2023, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),
    ],
)
def test_rfc3339_is_whole_seconds_in_utc_as_before(moment: datetime) -> None:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert rfc3339(moment) == aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
