"""Which records a list answers: equality filters, Min/Max ranges and ``Extra`` values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

from crm_sandbox.onpipeline.checks import not_acceptable, text
from crm_sandbox.onpipeline.render import LocalTime, parse_wall
from crm_sandbox.onpipeline.state import ApiState

TABLES = {"persons": "Persons", "organizations": "Organizations", "deals": "Deals"}
ID_FILTER = {
    "persons": "PersonID",
    "organizations": "OrgID",
    "deals": "DealID",
    "events": "EventID",
}


def wall_bound(body: dict[str, Any], name: str, end: bool) -> int | None:
    value = text(body.get(name))
    if value is None:
        return None
    wall = parse_wall(value, end_of_day=end)
    if wall is None:
        raise not_acceptable(f"{name} must be YYYY-MM-DD HH:MM:SS or YYYY-MM-DD")
    return wall


def date_bound(body: dict[str, Any], name: str) -> str | None:
    value = text(body.get(name))
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise not_acceptable(f"{name} must be a date YYYY-MM-DD") from None


def select(
    state: ApiState,
    kind: str,
    body: dict[str, Any],
    filters: dict[str, str],
    keep: Callable[[dict[str, Any]], bool] | None = None,
    ranges: Iterable[tuple[str, str]] = (),
    without_deleted_deals: bool = False,
) -> Iterator[bytes]:
    """Encoded records matching every filter given, in creation order (lazily).

    MinCreated/MaxCreated (and the other Min/Max pairs in ``ranges``: internal datetime
    field, filter suffix) are inclusive at both ends and compared in the account's local
    time; a bare date means the whole day. Equality filters ignore case and surrounding
    spaces; empty values are ignored.
    """
    local = state.local
    lo = wall_bound(body, "MinCreated", end=False)
    hi = wall_bound(body, "MaxCreated", end=True)
    other_ranges = [
        (field, wall_bound(body, f"Min{suffix}", False),
         wall_bound(body, f"Max{suffix}", True))
        for field, suffix in ranges
    ]  # fmt: skip
    other_ranges = [r for r in other_ranges if r[1] is not None or r[2] is not None]
    wanted = {
        target: value.casefold()
        for name, target in filters.items()
        if (value := text(body.get(name))) is not None
    }
    extra = _extra_filter(state, kind, body.get("Extra"))
    id_field = ID_FILTER.get(kind)
    candidates: range | list[int]
    if id_field and id_field in wanted:  # one record by ID: no scan
        index = state.store.index_of(kind, body[id_field])
        candidates = [] if index is None else [index]
    else:
        # The UTC range that can hold these local times (zones are within +-14 h of UTC).
        candidates = state.store.indexes(
            kind,
            None if lo is None else lo - 86400,
            None if hi is None else hi + 86400,
        )
    store = state.store
    created, deleted = store.created[kind], store.deleted[kind]
    fragments = state.fragments_now()
    needs_record = keep is not None or bool(other_ranges)
    needs_object = bool(wanted or extra)
    render = state.renderer.any
    for index in candidates:
        if index in deleted:
            continue
        if lo is not None or hi is not None:
            wall = local.wall(created[index])
            if (lo is not None and wall < lo) or (hi is not None and wall > hi):
                continue
        if without_deleted_deals and store.deal_status(index) == "deleted":
            continue
        if not (needs_record or needs_object):
            fragment = fragments.get((kind, index))
            if fragment is not None:
                yield fragment
                continue
        record = store.get(kind, index)
        if record is None:
            continue
        if not _in_ranges(record, other_ranges, local):
            continue
        if keep is not None and not keep(record):
            continue
        if needs_object:
            obj = render(kind, index, record)
            if any(str(obj[f] or "").strip().casefold() != v for f, v in wanted.items()):
                continue
            if extra and not _extra_matches(obj["Extra"], extra):
                continue
        yield state.fragment(kind, index, record)


def _extra_filter(state: ApiState, kind: str, value: Any) -> dict[str, str]:
    if value in (None, "", []):
        return {}
    if kind not in TABLES:
        return {}
    pairs = extra_pairs(state, TABLES[kind], value)
    return {fid: v.casefold() for fid, v in pairs.items()}


def extra_pairs(state: ApiState, table: str, value: Any) -> dict[str, str]:
    """A request's ``Extra`` list of {ID, Value} -> {id: value}; unknown IDs are refused."""
    if not isinstance(value, list) or not all(
        isinstance(e, dict) and "ID" in e and "Value" in e for e in value
    ):
        raise not_acceptable('Extra must be a list of {"ID": ..., "Value": ...}')
    known = {f["ID"] for f in state.store.custom_fields[table]}
    pairs = {}
    for entry in value:
        fid = str(entry["ID"])
        if fid not in known:
            raise not_acceptable(f"Extra: no custom field with ID {fid} in {table}")
        pairs[fid] = "" if entry["Value"] is None else str(entry["Value"])
    return pairs


def _extra_matches(extra: list[dict[str, str]], wanted: dict[str, str]) -> bool:
    values = {e["ID"]: str(e["Value"]).casefold() for e in extra}
    return all(values.get(fid, "") == value for fid, value in wanted.items())


def _in_ranges(
    record: dict[str, Any], ranges: list[tuple[str, int | None, int | None]], local: LocalTime
) -> bool:
    for field, lo, hi in ranges:
        ts = record[field]
        if ts is None:
            return False
        wall = local.wall(ts)
        if (lo is not None and wall < lo) or (hi is not None and wall > hi):
            return False
    return True
