"""The API's ways of paging a list, for the endpoints that page a list they hold or a table.

- v2 offset cursor (followers, fields): ``cursor`` is base64 JSON ``{"offset": n}``.
- v2 keyset cursor (deal products, installments): ``(sort field value, id)`` of the last item.
- v1 offset (``start``/``limit``, ``additional_data.pagination``): lists and tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import deal_items
from crm_sandbox.pipedrive.endpoints.v1_query import q_int
from crm_sandbox.pipedrive.params import (
    MAX_LIMIT,
    decode_cursor,
    dumps,
    encode_cursor,
    envelope,
    q_choice,
    q_limit,
)
from crm_sandbox.pipedrive.store import Record, Table
from crm_sandbox.pipedrive.validate import invalid


def offset_cursor_page(req: Request, rows: list[Any]) -> Response:
    """One v2 page of ``rows`` with an offset cursor."""
    limit = q_limit(req)
    raw = req.arg("cursor")
    start = 0
    if raw:
        offset = decode_cursor(raw).get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise invalid("cursor: invalid cursor")
        start = offset
    page = rows[start : start + limit]
    more = start + limit < len(rows)
    cursor = encode_cursor({"offset": start + limit}) if more else None
    return envelope([dumps(r) for r in page], {"next_cursor": cursor})


def keyset_page(req: Request, items: list[Record], sorts: tuple[str, ...]) -> tuple[Response, int]:
    """One v2 page of a small materialised list: keyset cursor over (sort field, id)."""
    limit = q_limit(req)
    sort_by = q_choice(req, "sort_by", sorts, None)
    direction = q_choice(req, "sort_direction", ("asc", "desc"), None)
    after: tuple[Any, int] | None = None
    raw = req.arg("cursor")
    if raw:
        cursor = decode_cursor(raw)
        field, way = cursor.get("field"), cursor.get("sortDirection")
        if sort_by not in (None, field) or direction not in (None, way):
            raise invalid("cursor: does not match sort_by/sort_direction")
        if field not in sorts or way not in ("asc", "desc") or type(cursor.get("id")) is not int:
            raise invalid("cursor: invalid cursor")
        sort_by, direction = field, way
        after = (deal_items.sort_key({"v": cursor.get("fieldValue")}, "v"), cursor["id"])
    sort_by = sort_by or "id"
    desc = (direction or "asc") == "desc"
    keyed = sorted(
        ((deal_items.sort_key(i, sort_by), i["id"], i) for i in items),
        key=lambda x: (x[0], x[1]),
        reverse=desc,
    )
    if after is not None:
        try:
            keyed = [x for x in keyed if ((x[0], x[1]) < after if desc else (x[0], x[1]) > after)]
        except TypeError:  # a cursor whose value is not of the field's type
            raise invalid("cursor: invalid cursor") from None
    page = keyed[:limit]
    next_cursor = None
    if len(keyed) > limit:
        last = page[-1][2]
        next_cursor = encode_cursor(
            {"field": sort_by, "fieldValue": last.get(sort_by), "sortDirection": direction or "asc",
             "id": last["id"]}
        )  # fmt: skip
    return envelope([dumps(x[2]) for x in page], {"next_cursor": next_cursor}), len(page)


def v1_start_limit(req: Request) -> tuple[int, int]:
    """``start`` and ``limit`` (v1 quietly caps the limit at 500)."""
    start = q_int(req, "start", minimum=0) or 0
    return start, min(q_int(req, "limit") or 100, MAX_LIMIT)


def v1_envelope(items: list[bytes], start: int, limit: int, more: bool) -> Response:
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return envelope(items, {"pagination": pagination})


def v1_list_page(req: Request, items: list[Any]) -> Response:
    """One v1 page of a list the endpoint holds (records or their encoded JSON)."""
    start, limit = v1_start_limit(req)
    page = items[start : start + limit]
    encoded = [dumps(i) if not isinstance(i, bytes) else i for i in page]
    return v1_envelope(encoded, start, limit, start + limit < len(items))


def v1_table_page(
    req: Request, t: Table, sort: list[tuple[str, bool]], keep: Callable[[int], bool]
) -> tuple[Response, int]:
    """One v1 page of a table: index walk for id/add_time/update_time, else all matches."""
    start, limit = v1_start_limit(req)
    simple = index_order(sort)
    if simple is not None:
        field, desc = simple
        found: list[int] = []
        for rid in t.scan(field, desc, None):
            if keep(rid):
                found.append(rid)
                if len(found) > start + limit:
                    break
    else:
        found = matching_ids(t, sort, keep, None, None)
    page, more = found[start : start + limit], len(found) > start + limit
    items = [dumps(t.get(rid)) for rid in page]
    return v1_envelope(items, start, limit, more), len(items)


def index_order(sort: list[tuple[str, bool]]) -> tuple[str, bool] | None:
    """The (field, descending) of a sort an index answers: "update_time ASC" or
    "update_time ASC, id ASC" (indexes order ties by id), else None."""
    field, desc = sort[0]
    if field not in ("id", "update_time", "add_time"):
        return None
    if len(sort) == 1 or (len(sort) == 2 and sort[1] == ("id", desc)):
        return field, desc
    return None


def matching_ids(
    t: Table,
    sort: list[tuple[str, bool]],
    keep: Callable[[int], bool],
    simple: tuple[str, bool] | None,
    since: int | None,
) -> list[int]:
    """Every matching id of the table in the requested order."""
    if simple is not None:
        field, desc = simple
        low = t.key_of(field, since, 0) if field == "update_time" and since else None
        return [rid for rid in t.scan(field, desc, None, low) if keep(rid)]
    ids = [rid for rid in t.ids() if keep(rid)]
    for field, desc in reversed(sort):  # stable sorts, last key first
        if field == "id":
            ids.sort(reverse=desc)
            continue
        column = t.cols.get(field)
        if column is not None:  # ids and times straight from the columns; 0 = null
            values = {rid: (1, column[rid - 1]) if column[rid - 1] else (0, 0) for rid in ids}
        else:
            values = {rid: _null_first(t.get(rid).get(field)) for rid in ids}
        ids.sort(key=values.__getitem__, reverse=desc)
    return ids


def _null_first(value: Any) -> tuple[int, Any]:
    """Sort key putting nulls below every value (first ascending, last descending, as SQL)."""
    return (0, "") if value is None else (1, value)
