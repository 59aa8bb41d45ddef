"""How Pipedrive custom fields get readable column names, shared by tap and target.

The API keys custom fields by 40-character hashes that differ per account. ``plan_columns``
turns the items of a v2 ``*Fields`` endpoint into columns: a snake_case name from the label
(``crm_api.field_names.column_name``, the rule Onpipeline's columns use too); a name already
taken (by a standard property or an earlier custom field in the API's order) gets
``_<first 8 characters of the key>``, so names never depend on fields added later. Enum and
set fields also reserve ``<name>_label`` / ``<name>_labels``. The tap emits these columns; the
target maps them back to keys with the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_api.field_names import column_name

# The old name of the one rule, still imported by the tap's Pipedrive side.
snake_name = column_name


@dataclass(frozen=True)
class CustomColumn:
    key: str  # the 40-character field code
    column: str  # readable column name
    field_type: str
    label: str
    options: Mapping[int, str] = field(default_factory=dict)

    @property
    def label_column(self) -> str | None:
        if self.field_type == "enum":
            return f"{self.column}_label"
        if self.field_type == "set":
            return f"{self.column}_labels"
        return None


def plan_columns(fields: Iterable[Mapping[str, Any]], taken: Iterable[str]) -> list[CustomColumn]:
    """Columns for the custom fields among ``fields`` (v2 ``*Fields`` items), in API order."""
    used = set(taken)
    columns: list[CustomColumn] = []
    for item in fields:
        if not item.get("is_custom_field"):
            continue
        key = str(item.get("field_code") or "")
        if not key:
            continue
        label = str(item.get("field_name") or key)
        field_type = str(item.get("field_type") or "")
        base = column_name(label) or f"custom_{key[:8]}"
        name = base
        label_suffix = "_labels" if field_type == "set" else "_label"
        if name in used or (field_type in {"enum", "set"} and name + label_suffix in used):
            name = f"{base}_{key[:8]}"
        options = {
            int(opt["id"]): str(opt.get("label"))
            for opt in item.get("options") or []
            if isinstance(opt, Mapping) and str(opt.get("id", "")).lstrip("-").isdigit()
        }
        column = CustomColumn(key, name, field_type, label, options)
        used.add(name)
        if column.label_column:
            used.add(column.label_column)
        columns.append(column)
    return columns
