"""Pipedrive custom fields as readable, typed columns.

The API sends custom fields in ``custom_fields`` keyed by 40-character hashes that differ per
account. At discovery the tap reads each entity's ``*Fields`` endpoint and plans one column per
custom field (names: ``crm_api.pipedrive_fields``, shared with the target), with a JSON type
from its field type; enum and set fields also get ``<name>_label`` / ``<name>_labels`` columns
with the option labels. The raw ``custom_fields`` hash stays in every record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm_api import pipedrive as api
from crm_api.pipedrive_fields import CustomColumn, plan_columns, snake_name

__all__ = [
    "FIELD_ENDPOINTS",
    "CustomColumn",
    "add_to_schema",
    "apply",
    "json_schema_for",
    "lead_columns",
    "plan_columns",
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

LEAD_FIELDS = "/v1/leadFields"  # v1 only; leads take the deal custom fields


def lead_columns(account: Any, standard: Iterable[str]) -> list[CustomColumn]:
    """The readable custom-field columns of leads, from ``/v1/leadFields`` (v1 start/limit
    paging), planned by the rule the deals' columns use. ``account`` is the tap's
    ``PipedriveAccount``; none without credentials or with ``custom_field_columns`` false."""
    config = account.config
    if not account.has_credentials or not config.get("custom_field_columns", True):
        return []
    session = account.connection.session()
    items: list[Mapping[str, Any]] = []
    start: int | None = 0
    try:
        while start is not None:
            body = api.request_json(
                session,
                "GET",
                account.connection.url(LEAD_FIELDS),
                params={"start": start, "limit": 500},
                tries=int(config.get("max_request_tries") or 10),
                timeout=float(config.get("request_timeout") or 120),
                what="reading custom fields of leads",
            )
            body = body if isinstance(body, Mapping) else {}
            data = body.get("data")
            items.extend(item for item in data or [] if isinstance(item, Mapping))
            extra = body.get("additional_data")
            pagination = (extra.get("pagination") if isinstance(extra, Mapping) else None) or {}
            more = isinstance(pagination, Mapping) and pagination.get("more_items_in_collection")
            start = int(pagination["next_start"]) if more and "next_start" in pagination else None
    except api.AuthError:
        raise
    except api.PipedriveError as exc:
        if exc.status in {402, 403, 404}:
            account.logger.warning("%s; leads get no readable custom-field columns", exc)
            return []
        raise
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
