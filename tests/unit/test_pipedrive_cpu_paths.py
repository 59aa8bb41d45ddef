"""The tap's per-record fast paths give what the plain ones give (issue 12)."""

from __future__ import annotations

import copy
import decimal
import json
from typing import Any

import pytest

from tap_crm.pipedrive import client
from tap_crm.pipedrive import custom_fields as cf

FIELDS: list[dict[str, Any]] = [
    {"field_code": "a" * 40, "field_name": "Score", "field_type": "double"},
    {"field_code": "b" * 40, "field_name": "Industry", "field_type": "enum",
     "options": [{"id": 1, "label": "Software"}, {"id": 2, "label": "Éducation"}]},
    {"field_code": "c" * 40, "field_name": "Channels", "field_type": "set",
     "options": [{"id": 7, "label": "Web"}, {"id": 8, "label": "Event"}]},
    {"field_code": "d" * 40, "field_name": "Partner", "field_type": "org"},
    {"field_code": "e" * 40, "field_name": "Budget", "field_type": "monetary"},
    {"field_code": "f" * 40, "field_name": "Owner", "field_type": "user"},
]  # fmt: skip
for _field in FIELDS:
    _field["is_custom_field"] = True

VALUES: list[Any] = [
    None, 0, 2, 9, "2", "x", True, 1.5, {"id": 1, "label": "Software"}, {"value": 5},
    {"id": "3"}, [], [7, 8], [8, "7", None, "z"], "7,8", "", {"value": 1, "currency": "EUR"},
]  # fmt: skip


@pytest.mark.parametrize("with_labels", [True, False])
def test_compiled_custom_columns_give_what_apply_gives(with_labels: bool) -> None:
    columns = cf.plan_columns(FIELDS, {"id", "title"})
    compiled = cf.compile_apply(columns, with_labels=with_labels)
    raws: list[Any] = [{f["field_code"]: value for f in FIELDS} for value in VALUES]
    raws += [None, "not a hash", {}]
    for raw in raws:
        record = {"id": 1, "custom_fields": raw}
        expected = cf.apply(copy.deepcopy(record), columns, with_labels=with_labels)
        got = compiled(copy.deepcopy(record))
        assert got == expected, raw
        assert list(got) == list(expected)  # same keys in the same order


def test_pages_are_decoded_as_before() -> None:
    body = b'{"success":true,"data":[{"id":1,"value":300.42,"n":1e3,"t":"\\u00e9"}]}'
    assert client._decode_page(body) == json.loads(body, parse_float=decimal.Decimal)
    with pytest.raises(ValueError, match="truncated"):  # the envelope check: its one line
        client._decode_page(b'{"success":true,"data":[{"id":1')
