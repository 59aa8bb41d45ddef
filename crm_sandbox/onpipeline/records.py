"""The record a request names, the records it links to, and saving a change to one."""

from __future__ import annotations

from typing import Any

from crm_sandbox.onpipeline.checks import ApiError, not_acceptable, require, text
from crm_sandbox.onpipeline.state import ApiState


def existing(
    state: ApiState, kind: str, body: dict[str, Any], id_field: str
) -> tuple[int, dict[str, Any]]:
    require(body, id_field)
    record_id = text(body[id_field])
    index = state.store.index_of(kind, record_id)
    record = None if index is None else state.store.get(kind, index)
    if index is None or record is None:
        raise ApiError(404, f"Not Found - no record with {id_field} {record_id}")
    return index, record


def link(state: ApiState, kind: str, value: Any, name: str) -> int:
    """The index of the record an ID field points to; -1 for an empty value."""
    shown = text(value)
    if shown is None:
        return -1
    index = state.store.index_of(kind, shown)
    if index is None:
        raise not_acceptable(f"{name} {shown} is not valid")
    return index


def save_change(
    state: ApiState, kind: str, index: int, old: dict[str, Any], record: dict[str, Any]
) -> None:
    if record == old:
        raise not_acceptable("nothing to change: the values sent are the current ones")
    record["modified"] = state.now_ts()
    state.store.put(kind, index, record)


def merge_extra(record: dict[str, Any], pairs: dict[str, str]) -> None:
    extra = dict(record["extra"])
    for fid, value in pairs.items():
        if value == "":
            extra.pop(fid, None)
        else:
            extra[fid] = value
    record["extra"] = extra
