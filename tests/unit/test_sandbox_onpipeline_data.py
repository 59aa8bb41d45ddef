"""The Onpipeline sandbox's generator and time formatting, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from crm_sandbox.onpipeline.data import EPOCH_END, EPOCH_START, Account
from crm_sandbox.onpipeline.render import LocalTime, parse_wall
from crm_sandbox.onpipeline.store import Store


def test_records_are_a_function_of_seed_and_index() -> None:
    one, two, other = Account(5, 300), Account(5, 300), Account(6, 300)
    for kind in ("persons", "organizations", "deals", "events", "notes", "invoices"):
        assert list(one.created[kind]) == list(two.created[kind])
        assert [one.record(kind, i) for i in range(0, one.counts[kind], 7)] == [
            two.record(kind, i) for i in range(0, two.counts[kind], 7)
        ]
    assert [one.person(i) for i in range(20)] != [other.person(i) for i in range(20)]


def test_creation_times_are_sorted_in_the_history_with_shared_seconds() -> None:
    account = Account(42, 2000)
    for times in account.created.values():
        assert list(times) == sorted(times)
        assert EPOCH_START <= times[0] <= times[-1] <= EPOCH_END
    persons = list(account.created["persons"])
    assert len(persons) - len(set(persons)) >= 4, "an import burst shares one second"


def test_ids_decode_only_when_they_are_real() -> None:
    store = Store(Account(42, 50))
    for kind in ("persons", "organizations", "deals", "events", "notes", "invoices"):
        for index in (0, 1, store.count(kind) - 1):
            assert store.index_of(kind, store.id_of(kind, index)) == index
    person_id = store.id_of("persons", 3)
    assert store.index_of("persons", "ZZZ" + person_id[3:]) is None
    assert store.index_of("persons", store.id_of("organizations", 3)) is None
    assert store.index_of("persons", "") is None


def test_deal_counts_match_the_deals() -> None:
    account = Account(3, 400)
    open_total = sum(account.deal_counts["persons"]["open"])
    expected = 0
    for i in range(400):
        status, person, _ = account.deal_core(i)
        expected += status == "open" and person >= 0
    assert open_total == expected


def test_local_time_follows_daylight_saving() -> None:
    rome = LocalTime("Europe/Rome")
    summer = int(datetime(2024, 7, 1, 10, 0, tzinfo=UTC).timestamp())
    winter = int(datetime(2024, 1, 1, 10, 0, tzinfo=UTC).timestamp())
    assert rome.format(summer) == "2024-07-01 12:00:00"
    assert rome.format(winter) == "2024-01-01 11:00:00"
    assert rome.format(None) == "0000-00-00 00:00:00"
    zone = ZoneInfo("America/New_York")
    new_york = LocalTime("America/New_York")
    for ts in range(1699155000, 1699170000, 997):  # across the November 2023 change
        expected = datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")
        assert new_york.format(ts) == expected


def test_filter_values_parse_as_wall_times() -> None:
    assert parse_wall("1970-01-02") == 86400
    assert parse_wall("1970-01-02", end_of_day=True) == 2 * 86400 - 1
    assert parse_wall("1970-01-01 01:02:03") == 3723
    assert parse_wall("2024-02-30") is None
    assert parse_wall("yesterday") is None
    assert parse_wall("2024-01-01 25:00:00") is None
