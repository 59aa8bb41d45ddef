"""Record shaping by schema (tap_crm.onpipeline.client.convert), without HTTP."""

from __future__ import annotations

from decimal import Decimal

from tap_crm.onpipeline.client import convert
from tap_crm.onpipeline.streams import base_schema


def test_a_deal_is_typed_by_its_schema() -> None:
    raw = {
        "DealID": "HSY758430698",
        "Value": "1000.00",
        "Probability": "50",
        "OwnerID": 123,
        "Created": "2015-05-19 15:30:00",
        "ExpClosing": "2015-05-28",
        "Closed": "0000-00-00",
        "NextEvent": "0000-00-00 00:00:00",
        "LastUpdate": "",
        "EmailsSent": "",
        "Involved": ["1", "2"],
        "Extra": [{"ID": "1111111", "Value": "Any_Value"}],
        "Unknown": "kept for the SDK to drop",
    }
    deal = convert(raw, base_schema("deals"), "Europe/Rome")
    assert deal["Value"] == Decimal("1000.00")
    assert deal["Probability"] == 50
    assert deal["OwnerID"] == "123"  # ids stay strings
    assert deal["Created"] == "2015-05-19T13:30:00Z"
    assert deal["ExpClosing"] == "2015-05-28"
    assert deal["Closed"] is None
    assert deal["NextEvent"] is None
    assert deal["LastUpdate"] is None
    assert deal["EmailsSent"] is None
    assert deal["Involved"] == ["1", "2"]
    assert deal["Extra"] == [{"ID": "1111111", "Value": "Any_Value"}]


def test_nested_objects_and_lists_are_typed_too() -> None:
    user = convert(
        {"ID": "1", "Status": "1", "Permissions": {"Pipeline": "0", "Delete": "1"}},
        base_schema("users"),
        "UTC",
    )
    assert user == {"ID": "1", "Status": 1, "Permissions": {"Pipeline": 0, "Delete": 1}}
    team = convert(
        {"ID": "7", "Members": [{"UserID": 9, "Leader": "1"}]}, base_schema("teams"), "UTC"
    )
    assert team["Members"] == [{"UserID": "9", "Leader": 1}]
