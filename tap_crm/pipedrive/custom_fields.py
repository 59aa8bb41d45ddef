"""Pipedrive custom fields as readable, typed columns.

The API sends custom fields in ``custom_fields`` keyed by 40-character hashes that differ per
account. At discovery the tap reads each entity's ``*Fields`` endpoint and plans one column per
custom field (names: ``crm_api.pipedrive_fields``, shared with the target), with a JSON type
from its field type; enum and set fields also get ``<name>_label`` / ``<name>_labels`` columns
with the option labels. The raw ``custom_fields`` hash stays in every record.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crm_api.pipedrive_fields import CustomColumn, plan_columns, snake_name

__all__ = [
    "FIELD_ENDPOINTS",
    "CustomColumn",
    "add_to_schema",
    "apply",
    "compile_apply",
    "json_schema_for",
    "lead_columns",
    "plan_columns",
    "remember",
    "snake_name",
]

# entity stream -> its v2 fields endpoint
FIELD_ENDPOINTS = {
    "deals": "/api/v2/dealFields",
    "persons": "/api/v2/personFields",
    "organizations": "/api/v2/organizationFields",
    "activities": "/api/v2/activityFields",
    "products": "/api/v2/productFields",
}

_PLANNED: weakref.WeakKeyDictionary[Any, dict[str, list[CustomColumn]]] = (
    weakref.WeakKeyDictionary()
)


def remember(reader: Any, stream: str, columns: list[CustomColumn]) -> None:
    """Keep a stream's planned columns with the tap's reader (for streams that share fields)."""
    _PLANNED.setdefault(reader, {})[stream] = columns


def lead_columns(reader: Any, standard: Iterable[str]) -> list[CustomColumn]:
    """The readable custom-field columns of leads. Leads have no custom fields of their own:
    they take the deal fields (the lead fields list repeats them), so the deals' plan is
    re-planned against the leads' standard names, by the same rule and with no request."""
    if "deals" not in _PLANNED.get(reader, {}):
        # Schemas are built on first use (client.PipedriveStream.schema): the deals' plan,
        # and so the one request for the deal fields, is made now if leads need it first.
        deals = reader.tap.streams.get("deals")
        if deals is not None:
            deals.schema  # noqa: B018  # builds and remembers the deals' columns
    deal_columns = _PLANNED.get(reader, {}).get("deals", [])
    items = [
        {
            "is_custom_field": True,
            "field_code": column.key,
            "field_name": column.label,
            "field_type": column.field_type,
            "options": [{"id": oid, "label": label} for oid, label in column.options.items()],
        }
        for column in deal_columns
    ]
    return plan_columns(items, standard)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    return schema


def _object(*names: str) -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "properties": {name: {} for name in names},
        "additionalProperties": True,
    }


def json_schema_for(field_type: str) -> dict[str, Any]:
    """The JSON schema of one custom field's value, as the v2 API sends it (migration guide)."""
    kind = (field_type or "").lower()
    if kind in {"varchar", "varchar_auto", "text", "phone"}:
        return _nullable({"type": "string"})
    if kind == "double":
        return _nullable({"type": "number"})
    if kind in {"enum", "user", "org", "people"}:
        return _nullable({"type": "integer"})
    if kind == "set":
        return {"type": ["array", "null"], "items": {"type": "integer"}}
    if kind == "date":
        return _nullable({"type": "string", "format": "date"})
    if kind == "monetary":
        return _object("value", "currency")
    if kind == "daterange":
        return _object("value", "until")
    if kind in {"time", "timerange"}:
        return _object("value", "until", "timezone_id", "timezone_name")
    if kind == "address":
        return _object(
            "value",
            "route",
            "street_number",
            "subpremise",
            "locality",
            "sublocality",
            "admin_area_level_1",
            "admin_area_level_2",
            "country",
            "postal_code",
            "formatted_address",
        )
    return {}  # unknown type: any JSON value


def add_to_schema(
    schema: dict[str, Any], columns: Iterable[CustomColumn], *, with_labels: bool
) -> None:
    properties = schema.setdefault("properties", {})
    for column in columns:
        prop = json_schema_for(column.field_type)
        prop["description"] = f"Custom field '{column.label}' ({column.field_type}, {column.key})"
        properties[column.column] = prop
        if with_labels and column.label_column:
            if column.field_type == "set":
                properties[column.label_column] = {
                    "type": ["array", "null"],
                    "items": {"type": ["string", "null"]},
                    "description": f"Option labels of '{column.label}'",
                }
            else:
                properties[column.label_column] = {
                    "type": ["string", "null"],
                    "description": f"Option label of '{column.label}'",
                }


def _option_id(value: Any) -> int | None:
    if isinstance(value, Mapping):  # include_option_labels form: {"id": 1, "label": "..."}
        value = value.get("id")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def apply(
    record: dict[str, Any], columns: Iterable[CustomColumn], *, with_labels: bool
) -> dict[str, Any]:
    """Copy each custom field from the raw ``custom_fields`` hash into its readable column."""
    raw = record.get("custom_fields")
    raw = raw if isinstance(raw, Mapping) else {}
    for column in columns:
        value = raw.get(column.key)
        if column.field_type == "enum":
            option = _option_id(value)
            record[column.column] = option
            if with_labels:
                record[f"{column.column}_label"] = (
                    column.options.get(option) if option is not None else None
                )
        elif column.field_type == "set":
            if isinstance(value, str):  # v1-style "1,2"
                value = [part for part in value.split(",") if part.strip()]
            options = (
                [o for o in (_option_id(v) for v in value) if o is not None]
                if isinstance(value, list)
                else None
            )
            record[column.column] = options
            if with_labels:
                record[f"{column.column}_labels"] = (
                    [column.options.get(o) for o in options] if options is not None else None
                )
        elif column.field_type in {"user", "org", "people"} and isinstance(value, Mapping):
            record[column.column] = _option_id(value.get("id", value.get("value")))
        else:
            record[column.column] = value
    return record


def compile_apply(
    columns: Iterable[CustomColumn], *, with_labels: bool
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``apply`` for one stream's columns, planned once instead of per record (what each
    column needs and its label column's name are decided here, not for every record). Same
    result as ``apply``, keys in the same order (tests/unit/test_pipedrive_cpu_paths.py)."""
    steps: list[tuple[int, str, str, str | None, Mapping[int, Any]]] = []
    for column in columns:
        kind = column.field_type
        if kind == "enum":
            label = f"{column.column}_label" if with_labels else None
            steps.append((_ENUM, column.key, column.column, label, column.options))
        elif kind == "set":
            label = f"{column.column}_labels" if with_labels else None
            steps.append((_SET, column.key, column.column, label, column.options))
        elif kind in {"user", "org", "people"}:
            steps.append((_ENTITY, column.key, column.column, None, {}))
        else:
            steps.append((_PLAIN, column.key, column.column, None, {}))

    # Decoded JSON holds dicts, lists and ints: ``type(...) is`` checks them first (an
    # ABC isinstance per value was a third of this function), other types take apply's way.
    def run(record: dict[str, Any]) -> dict[str, Any]:
        raw = record.get("custom_fields")
        get = raw.get if isinstance(raw, dict | Mapping) else _NOTHING.get
        for kind, key, name, label, options in steps:
            value = get(key)
            if kind == _PLAIN:
                record[name] = value
            elif kind == _ENUM:
                # None is common, and _option_id would raise (and catch) to say so
                option = value if value is None or type(value) is int else _option_id(value)
                record[name] = option
                if label is not None:
                    record[label] = options.get(option) if option is not None else None
            elif kind == _SET:
                if isinstance(value, str):  # v1-style "1,2"
                    value = [part for part in value.split(",") if part.strip()]
                if isinstance(value, list):
                    ids: list[int] | None = [
                        o
                        for o in (v if type(v) is int else _option_id(v) for v in value)
                        if o is not None
                    ]
                else:
                    ids = None
                record[name] = ids
                if label is not None:
                    record[label] = [options.get(o) for o in ids] if ids is not None else None
            elif type(value) is dict or (value is not None and isinstance(value, Mapping)):
                record[name] = _option_id(value.get("id", value.get("value")))  # _ENTITY
            else:
                record[name] = value
        return record

    return run


_PLAIN, _ENUM, _SET, _ENTITY = range(4)
_NOTHING: Mapping[str, Any] = {}
