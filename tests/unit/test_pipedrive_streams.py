"""Pipedrive stream pieces that need no server, and discovery without credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError

from crm_api.retry import RetryPolicy
from tap_crm.pipedrive.client import normalize_time, retry_wait
from tap_crm.pipedrive.streams import STREAM_TYPES, NotesPaginator
from tap_crm.tap import TapCRM

EXPECTED_STREAMS = {
    "deals",
    "persons",
    "organizations",
    "activities",
    "products",
    "pipelines",
    "stages",
    "users",
    "deal_fields",
    "person_fields",
    "organization_fields",
    "activity_fields",
    "product_fields",
    "notes",
    "deal_followers_changelog",
    "person_followers_changelog",
    "organization_followers_changelog",
    "product_followers_changelog",
    "leads",
    "lead_labels",
    "lead_sources",
    "activity_types",
    "currencies",
    "filters",
    "files",
    "lead_fields",
    "note_fields",
    "deal_flow",
    "deal_changelog",  # offered instead of deal_flow with deal_history: changelog
    "deal_products",
    "deal_installments",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05Z"),
        ("2024-01-02 03:04:05", "2024-01-02T03:04:05Z"),
        ("2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05Z"),
        ("0000-00-00 00:00:00", None),
        (None, None),
    ],
)
def test_timestamps_have_one_shape(raw: str | None, expected: str | None) -> None:
    assert normalize_time(raw) == expected


def _page(rows: list[dict[str, object]], more: bool) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(
        {
            "success": True,
            "data": rows,
            "additional_data": {"pagination": {"more_items_in_collection": more}},
        }
    ).encode()
    return response


def test_notes_pages_by_update_time_and_count_within_the_second() -> None:
    paginator = NotesPaginator()
    t1, t2 = "2024-01-01 10:00:00", "2024-01-01 10:00:05"
    paginator.advance(_page([{"update_time": t1}, {"update_time": t2}, {"update_time": t2}], True))
    assert paginator.current_value == ("2024-01-01T10:00:05Z", 2)
    paginator.advance(_page([{"update_time": t2}, {"update_time": t2}], True))
    assert paginator.current_value == ("2024-01-01T10:00:05Z", 4)
    paginator.advance(_page([{"update_time": t2}], False))
    assert paginator.finished


def test_every_stream_has_a_schema_file_and_keys() -> None:
    root = Path(__file__).resolve().parents[2] / "schemas" / "pipedrive"
    names = {t.name for t in STREAM_TYPES}
    assert names == EXPECTED_STREAMS
    for stream_type in STREAM_TYPES:
        schema = json.loads((root / f"{stream_type.name}.json").read_text())
        for key in stream_type.primary_keys:
            assert key in schema["properties"], (stream_type.name, key)


def test_discover_without_credentials_lists_every_stream(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"provider": "pipedrive"}))
    done = subprocess.run(
        [sys.executable, "-m", "tap_crm.tap", "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    catalog = json.loads(done.stdout)
    # deal_history (default flow) offers one of deal_flow and deal_changelog, never both
    assert {s["tap_stream_id"] for s in catalog["streams"]} == EXPECTED_STREAMS - {"deal_changelog"}
    assert "No Pipedrive credentials" in done.stderr
    deals = next(s for s in catalog["streams"] if s["tap_stream_id"] == "deals")
    assert deals["replication_key"] == "update_time"
    assert deals["key_properties"] == ["id"]


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"start_date": "yesterday"}, "start_date 'yesterday' is not an RFC 3339"),
        ({"api_token": "t", "client_id": "c"}, "not both"),
        ({"client_id": "c", "client_secret": "s", "refresh_token": "r"}, "oauth_token_file"),
        ({"api_url": "acme.pipedrive.com"}, "api_url"),
    ],
)
def test_bad_settings_fail_in_one_line_before_any_request(
    config: dict[str, str], fragment: str
) -> None:
    from singer_sdk.exceptions import ConfigValidationError

    with pytest.raises(ConfigValidationError) as caught:
        TapCRM(config={"provider": "pipedrive", **config})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_read_ahead_keeps_order_and_raises_after_the_records_before_the_error() -> None:
    from tap_crm.pipedrive.client import read_ahead

    def pages() -> Iterator[dict[str, int]]:
        for n in range(7):
            yield {"id": n}
        raise RuntimeError("page 3 failed")

    seen: list[int] = []

    def read_all() -> None:
        seen.extend(record["id"] for record in read_ahead(pages(), chunk=3))

    with pytest.raises(RuntimeError, match="page 3 failed"):
        read_all()
    assert seen == list(range(7))


def test_read_ahead_fetches_at_most_two_chunks_ahead() -> None:
    import time

    from tap_crm.pipedrive.client import read_ahead

    produced: list[int] = []

    def pages() -> Iterator[dict[str, int]]:
        for n in range(100):
            produced.append(n)
            yield {"id": n}

    reader = read_ahead(pages(), chunk=10)
    assert next(reader) == {"id": 0}
    time.sleep(0.3)  # let the fetching thread run as far as it may
    assert len(produced) <= 31  # the chunk being read, one waiting, one being built
    assert [r["id"] for r in reader] == list(range(1, 100))


def test_cursor_pages_go_past_an_empty_page_and_stop_at_a_null_cursor() -> None:
    from tap_crm.pipedrive.client import CursorPaginator

    def page(cursor: str | None) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(
            {"success": True, "data": [], "additional_data": {"next_cursor": cursor}}
        ).encode()
        return response

    paginator = CursorPaginator()
    empty_with_cursor = page("abc")
    assert paginator.continue_if_empty(empty_with_cursor)
    paginator.advance(empty_with_cursor)
    assert paginator.current_value == "abc"
    paginator.advance(page(None))
    assert paginator.finished


def test_a_429_waits_in_the_shared_budget_not_in_a_backoff_sleep() -> None:
    # The session holds the budget for Retry-After; a backoff sleep on top would not end
    # when another thread finds the daily budget spent (issue 10, defect 2).
    def failed(status: int) -> RetriableAPIError:
        response = requests.Response()
        response.status_code = status
        response.headers["Retry-After"] = "7"
        return RetriableAPIError("x", response)

    policy = RetryPolicy()
    assert retry_wait(policy, failed(429), 1) == 0.0
    assert retry_wait(policy, failed(503), 1) == 1.0
    assert retry_wait(policy, failed(503), 3) == 4.0


def test_v1_pages_follow_next_start_while_the_api_says_more() -> None:
    from singer_sdk import pagination

    from tap_crm.pipedrive import client

    def page(more: bool, next_start: int | None) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        pages: dict[str, object] = {"more_items_in_collection": more}
        if next_start is not None:
            pages["next_start"] = next_start
        body = {"success": True, "data": [{}], "additional_data": {"pagination": pages}}
        response._content = json.dumps(body).encode()
        return response

    paginator = client.V1StartPaginator(page_size=2)
    assert isinstance(paginator, pagination.OffsetPaginator)  # the SDK's, extended
    assert paginator.current_value == 0
    paginator.advance(page(True, 2))
    assert paginator.current_value == 2
    paginator.advance(page(False, 4))  # no more items: the next_start given is not followed
    assert paginator.finished
    # the project no longer defines a class that hides the SDK's OffsetPaginator
    assert getattr(client, "OffsetPaginator", pagination.OffsetPaginator) is (
        pagination.OffsetPaginator
    )
    unpaged = client.V1StartPaginator(page_size=2)
    unpaged.advance(page(False, None))  # a v1 list the API does not page
    assert unpaged.finished


def test_per_parent_streams_hold_changed_parents_and_derive_only_from_their_list_kind() -> None:
    from tap_crm.pipedrive import streams as pd
    from tap_crm.pipedrive.changed_parents import PARENT_BOOKMARK, ChangedParents
    from tap_crm.pipedrive.client import V1Stream, V2Stream

    tap = TapCRM(config={"provider": "pipedrive", "deal_history": "changelog"})
    holders = {name for name, s in tap.streams.items() if isinstance(s.parents, ChangedParents)}
    assert holders == {
        "deal_followers_changelog",
        "person_followers_changelog",
        "organization_followers_changelog",
        "product_followers_changelog",
        "deal_changelog",
        "deal_products",
        "deal_installments",
    }
    for name in holders:
        assert tap.streams[name].replication_key == PARENT_BOOKMARK
    # no "is a" followers changelog where there is none: they only share the component
    for stream_type in (pd.DealFlowStream, pd.DealChangelogStream, pd.DealProductsStream):
        assert not issubclass(stream_type, pd.FollowersChangelogStream)
    assert issubclass(pd.DealFlowStream, V1Stream)  # v1 start/limit pages
    assert issubclass(pd.DealChangelogStream, V2Stream)  # cursor pages
    flow = TapCRM(config={"provider": "pipedrive"}).streams["deal_flow"]
    assert isinstance(flow.parents, ChangedParents)
