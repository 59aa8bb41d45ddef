"""v2 entity lists: ``GET /api/v2/<entity>`` (and archived deals) with filters, sorts, cursors.

A page walks the table's index from the cursor on and stops after ``limit`` matches; it never
lists every match first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import data, extras, timefmt
from crm_sandbox.pipedrive.account import Account, without
from crm_sandbox.pipedrive.params import (
    LIST_SPECS,
    decode_cursor,
    dumps,
    encode_cursor,
    envelope,
    q_choice,
    q_ids,
    q_int,
    q_limit,
    q_time,
)
from crm_sandbox.pipedrive.store import Table
from crm_sandbox.pipedrive.validate import invalid
from crm_sandbox.pipedrive.writes import CUSTOM_OF


class EntityLists:
    def __init__(self, account: Account) -> None:
        self.account = account

    def page(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        archived_route = req.path.endswith("/archived")
        spec = LIST_SPECS[entity]
        t = self.account.table(entity)
        if req.arg("filter_id"):
            raise invalid("filter_id: saved filters are not simulated by crm-sandbox")
        limit = q_limit(req)
        cursor_raw = req.arg("cursor")
        cursor = decode_cursor(cursor_raw) if cursor_raw else None
        sort_by = q_choice(req, "sort_by", spec.sorts, None)
        direction = q_choice(req, "sort_direction", ("asc", "desc"), None)
        if cursor is not None:
            if sort_by not in (None, cursor.get("field")) or direction not in (
                None,
                cursor.get("sortDirection"),
            ):
                raise invalid("cursor: does not match sort_by/sort_direction")
            sort_by, direction = cursor.get("field"), cursor.get("sortDirection")
            if sort_by not in spec.sorts or direction not in ("asc", "desc"):
                raise invalid("cursor: invalid cursor")
        sort_by = sort_by or "id"
        direction = direction or "asc"
        since = q_time(req, "updated_since") if spec.updated else None
        until = q_time(req, "updated_until") if spec.updated else None
        ids = q_ids(req)
        checks: list[tuple[str, int]] = []
        for name in spec.int_filters:
            fvalue = q_int(req, name)
            if fvalue is not None:
                checks.append((name, fvalue))
        if entity == "persons":
            deal_id = q_int(req, "deal_id")
            if deal_id is not None:
                deals = self.account.table("deals")
                person = deals.col("person_id", deal_id) if deals.exists(deal_id) else 0
                ids = [i for i in (ids or [person]) if i == person]
        done = q_choice(req, "done", ("true", "false"), None) if entity == "activities" else None
        if done is not None:
            checks.append(("done", int(done == "true")))
        statuses: set[str] | None = None
        if entity == "deals":
            raw = req.arg("status")
            if raw:
                statuses = {s.strip() for s in raw.split(",")}
                bad = statuses - {"open", "won", "lost", "deleted"}
                if bad:
                    raise invalid(
                        "status: must be a comma-separated list of open, won, lost, deleted"
                    )
        custom_keys = self._custom_selection(req, entity)
        include = extras.requested(req.arg("include_fields"), entity)
        if include:  # a tally tests read: were extras asked for at all?
            self.account.ctx.counters.add("include_fields_requests")

        store = self.account.store
        with store.lock:
            pred = self._predicate(t, entity, checks, statuses, archived_route, since, until)
            after = None
            if cursor is not None:
                after = t.key_of(
                    sort_by,
                    self._cursor_value(sort_by, cursor.get("fieldValue")),
                    _cursor_id(cursor),
                )
            descending = direction == "desc"
            if ids is not None:
                keyed = sorted(
                    ((t._key(sort_by, rid), rid) for rid in set(ids) if t.exists(rid)),
                    reverse=descending,
                )
                source: Iterable[int] = (
                    rid
                    for key, rid in keyed
                    if after is None or (key < after if descending else key > after)
                )
            elif sort_by == "update_time" and (since is not None or until is not None):
                low = t.key_of("update_time", since, 0) if since is not None else None
                high = t.key_of("update_time", until, 0) if until is not None else None
                source = t.scan(sort_by, descending, after, low, high)
            else:
                source = t.scan(sort_by, descending, after)
            page: list[int] = []
            for rid in source:
                if pred(rid):
                    page.append(rid)
                    if len(page) > limit:
                        break
            more = len(page) > limit
            page = page[:limit]
            items = [self._frag(t, rid, custom_keys) for rid in page]
            if include:
                items = [
                    _splice(item, extras.compute(store, self.account.world, entity, rid,
                                                 t.get(rid), include))
                    for item, rid in zip(items, page, strict=True)
                ]  # fmt: skip
            hidden = self.account.hidden_fields(entity)
            if hidden:
                items = [dumps(without(json.loads(item), hidden)) for item in items]
            next_cursor = None
            if more:
                last = page[-1]
                value: Any = t.sort_values[sort_by](t, last) if sort_by != "id" else last
                if sort_by.endswith("_time"):
                    value = timefmt.iso(int(value))
                next_cursor = encode_cursor(
                    {"field": sort_by, "fieldValue": value, "sortDirection": direction, "id": last}
                )
        self.account.ctx.counters.add("records_served", len(items))
        return envelope(items, {"next_cursor": next_cursor})

    @staticmethod
    def _cursor_value(sort_by: str, raw: Any) -> Any:
        if sort_by == "id":
            return 0
        if sort_by.endswith("_time"):
            epoch = timefmt.parse_rfc3339(raw) if isinstance(raw, str) else None
            if epoch is None:
                raise invalid("cursor: invalid cursor")
            return epoch
        if sort_by == "name":
            if not isinstance(raw, str):
                raise invalid("cursor: invalid cursor")
            return raw
        if not isinstance(raw, int):
            raise invalid("cursor: invalid cursor")
        return raw

    def _custom_selection(self, req: Request, entity: str) -> frozenset[str] | None:
        raw = req.arg("custom_fields")
        if not raw or entity not in CUSTOM_OF:
            return None
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if len(keys) > 15:
            raise invalid("custom_fields: at most 15 custom field keys")
        return frozenset(keys)

    def _predicate(
        self,
        t: Table,
        entity: str,
        checks: list[tuple[str, int]],
        statuses: set[str] | None,
        archived_route: bool,
        since: int | None,
        until: int | None,
    ) -> Callable[[int], bool]:
        cols = t.cols
        deleted = cols["deleted"]
        column_checks = [(cols[name], value) for name, value in checks]
        ut = cols["update_time"]
        lo = since if since is not None else -(1 << 62)
        hi = until if until is not None else 1 << 62
        if entity == "deals":
            archived = cols["archived"]
            status = cols["status"]
            want_archived = int(archived_route)
            with_deleted = statuses is not None and "deleted" in statuses
            codes = {data.STATUSES.index(s) for s in statuses or () if s != "deleted"}
            if statuses is None:
                codes = {0, 1, 2}

            def deal_ok(rid: int) -> bool:
                i = rid - 1
                if archived[i] != want_archived:
                    return False
                if deleted[i]:
                    if not with_deleted:
                        return False
                elif status[i] not in codes:
                    return False
                if not lo <= ut[i] < hi:
                    return False
                return all(col[i] == value for col, value in column_checks)

            return deal_ok

        def ok_(rid: int) -> bool:
            i = rid - 1
            if deleted[i] or not lo <= ut[i] < hi:
                return False
            return all(col[i] == value for col, value in column_checks)

        return ok_

    def _frag(self, t: Table, rid: int, custom_keys: frozenset[str] | None) -> bytes:
        if custom_keys is None:
            return data.fragment(t, rid)
        record = t.get(rid)
        if custom_keys is not None and "custom_fields" in record:
            record = dict(record)
            record["custom_fields"] = {
                k: x for k, x in record["custom_fields"].items() if k in custom_keys
            }
        return dumps(record)


def _splice(item: bytes, more: dict[str, Any]) -> bytes:
    """A record's JSON with more keys at its end (the extras are never keys of the record)."""
    return item[:-1] + b"," + dumps(more)[1:] if more else item


def _cursor_id(cursor: dict[str, Any]) -> int:
    rid = cursor.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
        raise invalid("cursor: invalid cursor")
    return rid
