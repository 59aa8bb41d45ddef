"""Handlers of the v2 endpoints (lists, records, followers, fields), OAuth and the control
actions; the v1 ones come from ``v1.py``. ``PipedriveAPI`` adds auth, limits and counters.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterable
from typing import Any

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import data, deal_items, extras, flow, leads, timefmt, writes
from crm_sandbox.pipedrive import validate as v
from crm_sandbox.pipedrive.children import feature_off
from crm_sandbox.pipedrive.fields import ENTITY_OF_FIELDS_PATH, v2_items
from crm_sandbox.pipedrive.followers import followers_of, peek
from crm_sandbox.pipedrive.params import (
    LIST_SPECS,
    decode_cursor,
    dumps,
    encode_cursor,
    envelope,
    ok,
    q_choice,
    q_ids,
    q_int,
    q_limit,
    q_time,
)
from crm_sandbox.pipedrive.store import Record, Table
from crm_sandbox.pipedrive.v1_more import MoreV1Handlers
from crm_sandbox.pipedrive.validate import failure, invalid
from crm_sandbox.pipedrive.writes import CONTACT_SYNC, CUSTOM_OF, REQUIRED_ON_CREATE, SCHEMAS

CHILDREN_OF = {"deal_products": deal_items.products_of, "installments": deal_items.installments_of}
SLOTS_OF = {"deal_products": deal_items.PER_DEAL, "installments": deal_items.INSTALLMENT_SLOTS}


class PipedriveHandlers(MoreV1Handlers):
    """Everything behind the routes."""

    # ---- v2 lists -----------------------------------------------------------------------
    def list_v2(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        archived_route = req.path.endswith("/archived")
        spec = LIST_SPECS[entity]
        t = self.table(entity)
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
                deals = self.table("deals")
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
            self.ctx.counters.add("include_fields_requests")

        with self.store.lock:
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
                    _splice(item, extras.compute(self.store, self.world, entity, rid,
                                                 t.get(rid), include))
                    for item, rid in zip(items, page, strict=True)
                ]  # fmt: skip
            hidden = self._hidden(entity)
            if hidden:
                items = [dumps(_without(json.loads(item), hidden)) for item in items]
            next_cursor = None
            if more:
                last = page[-1]
                value: Any = t.sort_values[sort_by](t, last) if sort_by != "id" else last
                if sort_by.endswith("_time"):
                    value = timefmt.iso(int(value))
                next_cursor = encode_cursor(
                    {"field": sort_by, "fieldValue": value, "sortDirection": direction, "id": last}
                )
        self.ctx.counters.add("records_served", len(items))
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

    # ---- v2 single records ----------------------------------------------------------------
    def get_one(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        include = extras.requested(req.arg("include_fields"), entity)
        if include:
            self.ctx.counters.add("include_fields_requests")
        with self.store.lock:
            rid = int(params["id"])
            record = self.record_or_404(entity, rid)
            if include:
                shown = extras.compute(self.store, self.world, entity, rid, record, include)
                record = {**record, **shown}
            return ok(_without(record, self._hidden(entity)))

    def _hidden(self, entity: str) -> tuple[str, ...]:
        """Fields the account does not have: persons' contact-sync ones with it off."""
        if entity == "persons" and not self.features.get("contact_sync", True):
            return CONTACT_SYNC
        return ()

    def _refuse_hidden(self, entity: str, body: Any) -> None:
        hidden = self._hidden(entity)
        if hidden and isinstance(body, dict) and set(body) & set(hidden):
            raise feature_off("Contact-sync fields (" + ", ".join(hidden) + ")")

    def create(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self.body_json(req)
        self._refuse_hidden(entity, body)
        customs = self.world.fields[CUSTOM_OF[entity]].by_key() if entity in CUSTOM_OF else None
        with self.store.lock:
            clean = v.check_body(body, SCHEMAS[entity], customs, self.exists)
            required = REQUIRED_ON_CREATE.get(entity)
            if required and not clean.get(required):
                raise invalid(f"{required}: is required")
            if entity == "persons" and not clean.get("name"):
                if clean.get("first_name") and clean.get("last_name"):
                    clean["name"] = f"{clean['first_name']} {clean['last_name']}"
                else:
                    raise invalid("name: is required (or both first_name and last_name)")
            if clean.get("is_deleted"):
                raise invalid("is_deleted: can not create an already deleted entity")
            t = self.table(entity)
            rid = t.n + 1
            now = self.now()
            attendees = clean.pop("attendees", None)
            record = writes.blank(self.world, entity, rid, now)
            writes.apply(self.world, entity, record, clean, now, creating=True)
            t.put(rid, record)
            if attendees is not None:  # shown only through include_fields
                t.aux.setdefault("attendees", {})[rid] = attendees
            self._written()
            return ok(record)

    def update(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self.body_json(req)
        self._refuse_hidden(entity, body)
        customs = self.world.fields[CUSTOM_OF[entity]].by_key() if entity in CUSTOM_OF else None
        rid = int(params["id"])
        with self.store.lock:
            current = self.record_or_404(entity, rid, allow_deleted=False)
            clean = v.check_body(body, SCHEMAS[entity], customs, self.exists)
            if clean.get("is_deleted"):
                raise invalid("is_deleted: use DELETE to delete an entity")
            if "add_time" in clean:
                raise v.not_allowed("add_time")
            if (
                entity == "deals"
                and current.get("is_archived")
                and clean.get("is_archived") is not False
            ):
                raise failure(403, "Archived deals can not be edited; set is_archived false first")
            now = self.now()
            attendees = clean.pop("attendees", None)
            record = copy.deepcopy(current)
            writes.apply(self.world, entity, record, clean, now, creating=False)
            self.table(entity).put(rid, record)
            if attendees is not None:  # shown only through include_fields
                self.table(entity).aux.setdefault("attendees", {})[rid] = attendees
            if entity == "deals":
                flow.record_changes(self.table(entity), rid, current, record, now)
            self._written()
            return ok(record)

    def delete(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.store.lock:
            current = self.record_or_404(entity, rid, allow_deleted=False)
            record = copy.deepcopy(current)
            record["is_deleted"] = True
            record["update_time"] = timefmt.iso(self.now())
            self.table(entity).put(rid, record)
            if entity == "deals":
                flow.record_changes(self.table(entity), rid, current, record, self.now())
            self._written()
        return ok({"id": rid})

    # ---- followers ------------------------------------------------------------------
    def _followed(self, entity: str, params: dict[str, str]) -> tuple[Table, int]:
        rid = int(params["id"])
        self.record_or_404(entity, rid, allow_deleted=False)
        return self.table(entity), rid

    def _offset_page(self, req: Request, rows: list[Any]) -> tuple[list[Any], str | None]:
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
        return page, encode_cursor({"offset": start + limit}) if more else None

    def followers_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.store.lock:
            t, rid = self._followed(entity, params)
            state = peek(t, rid)
            rows = [{"user_id": u, "add_time": timefmt.iso(at)} for u, at in state.current.items()]
        page, cursor = self._offset_page(req, rows)
        return envelope([dumps(r) for r in page], {"next_cursor": cursor})

    def followers_changelog(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.store.lock:
            t, rid = self._followed(entity, params)
            state = peek(t, rid)
            rows = [
                {
                    "action": a,
                    "actor_user_id": actor,
                    "follower_user_id": user,
                    "time": timefmt.iso(at),
                }
                for a, actor, user, at in state.changelog
            ]
        page, cursor = self._offset_page(req, rows)
        return envelope([dumps(r) for r in page], {"next_cursor": cursor})

    def follower_add(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self.body_json(req)
        if not isinstance(body, dict) or set(body) != {"user_id"}:
            raise invalid("user_id: is required (and the only allowed key)")
        user = v.ref_to("users")("user_id", body["user_id"], self.exists)
        with self.store.lock:
            t, rid = self._followed(entity, params)
            state = followers_of(t, rid)
            if user in state.current:
                raise failure(400, f"User {user} is already a follower")
            now = self.now()
            state.current[user] = now
            state.changelog.append(("added", self._actor(req), user, now))
            self._written()
        return ok({"user_id": user, "add_time": timefmt.iso(now)}, status=201)

    def follower_delete(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        user = int(params["follower_id"])
        with self.store.lock:
            t, rid = self._followed(entity, params)
            state = followers_of(t, rid)
            if user not in state.current:
                raise failure(404, f"User {user} is not a follower")
            del state.current[user]
            state.changelog.append(("removed", self._actor(req), user, self.now()))
            self._written()
        return ok({"user_id": user})

    def _actor(self, req: Request) -> int:
        return 1  # every token of the sandbox belongs to user 1, the company admin

    # ---- fields -------------------------------------------------------------------------
    def fields_v2(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        items = v2_items(self.world.fields[ENTITY_OF_FIELDS_PATH[entity]])
        page, cursor = self._offset_page(req, items)
        return envelope([dumps(i) for i in page], {"next_cursor": cursor})

    def field_v2(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        items = v2_items(self.world.fields[ENTITY_OF_FIELDS_PATH[entity]])
        for item in items:
            if item["field_code"] == params["field_code"]:
                return ok(item)
        raise failure(404, "Field not found")

    # ---- oauth ----------------------------------------------------------------------------
    def oauth_authorize(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return self.oauth.authorize(req)

    def oauth_token(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        self.oauth.api_domain = "http://" + req.headers.get("host", "127.0.0.1") + "/pipedrive"
        return self.oauth.token(req)

    def oauth_revoke(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return self.oauth.revoke(req)

    # ---- control (/_sandbox/pipedrive/...) -----------------------------------------------------
    def touch(self, entity: str, ids: list[int] | None, count: int | None) -> dict[str, Any]:
        with self.store.lock:
            t = self.table(entity)
            if ids is None:
                editable = entity == "deals"  # archived deals can't be edited
                live = [
                    rid
                    for rid in t.ids()
                    if not t.col("deleted", rid) and not (editable and t.col("archived", rid))
                ]
                picker = random.Random(f"{self.ctx.settings.seed}:{entity}:{t.version}")
                ids = sorted(picker.sample(live, min(count or 1, len(live))))
            missing = [rid for rid in ids if not t.exists(rid)]
            if missing:
                raise failure(404, f"{entity} {missing} not found")
            now = self.now()
            v1_times = entity in ("notes", "files")
            for rid in ids:
                before = t.get(rid)
                record = copy.deepcopy(before)
                writes.change_something(entity, record, self.world)
                record["update_time"] = timefmt.v1(now) if v1_times else timefmt.iso(now)
                if entity == "notes":
                    record = data.note_shape(t, record)
                t.put(rid, record)
                if entity == "deals":  # the deal's history and its products change with it
                    flow.record_changes(t, rid, before, record, now)
                    deal_items.touch_products(t, self.table("products"), rid, now)
            self._notes_cache.clear()  # a change made "in the CRM": not an API write
            stamp = timefmt.iso(now)
            shown: list[Any] = list(ids)
            if entity == "leads":
                shown = [leads.lead_uuid(t, rid) for rid in ids]
        return {"entity": entity, "ids": shown, "update_time": stamp}

    def touch_deal_products(self, ids: list[int] | None, count: int | None) -> dict[str, Any]:
        """Products edited "in the CRM": their update_time and comments change, and so does
        their deal's update_time (the app re-saves the deal with its products)."""
        with self.store.lock:
            deals, products = self.table("deals"), self.table("products")
            if ids is None:
                editable = [
                    item["id"]
                    for d in deals.ids()
                    if not deals.col("deleted", d) and not deals.col("archived", d)
                    for item in deal_items.products_of(deals, products, d)
                ]
                picker = random.Random(f"{self.ctx.settings.seed}:deal_products:{deals.version}")
                ids = sorted(picker.sample(editable, min(count or 1, len(editable))))
            owners = {}
            for pid in ids:
                deal = (pid - 1) // deal_items.PER_DEAL + 1
                known = deals.exists(deal) and any(
                    i["id"] == pid for i in deal_items.products_of(deals, products, deal)
                )
                if not known:
                    raise failure(404, f"deal_products [{pid}] not found")
                owners[pid] = deal
            now = self.now()
            stamp = timefmt.iso(now)
            for pid, deal in owners.items():
                for item in deal_items.store_products(deals, products, deal):
                    if item["id"] == pid:
                        item["update_time"] = stamp
                        item["comments"] = (item["comments"] or "") + " (edited)"
            for deal in sorted(set(owners.values())):
                record = copy.deepcopy(deals.get(deal))
                record["update_time"] = stamp
                deals.put(deal, record)
        return {"entity": "deal_products", "ids": ids, "update_time": stamp}

    def all_ids(self, entity: str) -> list[Any]:
        if entity == "users":
            return [u["id"] for u in self.world.users]
        with self.store.lock:
            if entity in ("deal_products", "installments"):
                deals, products = self.table("deals"), self.table("products")
                of = CHILDREN_OF[entity]
                return [item["id"] for d in deals.ids() for item in of(deals, products, d)]
            if entity == "lead_labels":
                return [label["id"] for label in self.table("leads").aux["labels"]]
            t = self.table(entity)
            if entity == "leads":
                return [leads.lead_uuid(t, rid) for rid in t.ids()]
            return list(t.ids())

    def raw_record(self, entity: str, rid: int) -> Record | None:
        if entity == "users":
            return self.world.users[rid - 1] if 1 <= rid <= len(self.world.users) else None
        with self.store.lock:
            if entity in ("deal_products", "installments"):
                deals, products = self.table("deals"), self.table("products")
                slots = SLOTS_OF[entity]
                deal = (rid - 1) // slots + 1
                if not deals.exists(deal):
                    return None
                of = CHILDREN_OF[entity]
                found = [i for i in of(deals, products, deal) if i["id"] == rid]
                return copy.deepcopy(found[0]) if found else None
            t = self.table(entity)
            return copy.deepcopy(t.get(rid)) if t.exists(rid) else None

    def lead_label(self, label_id: str) -> Record | None:
        labels = self.table("leads").aux["labels"]
        return next((dict(label) for label in labels if label["id"] == label_id), None)

    def resolve_lead(self, lead_id: str) -> int | None:
        with self.store.lock:
            return leads.row_of(self.table("leads"), lead_id)


def _without(record: dict[str, Any], hidden: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in hidden} if hidden else record


def _splice(item: bytes, more: dict[str, Any]) -> bytes:
    """A record's JSON with more keys at its end (the extras are never keys of the record)."""
    return item[:-1] + b"," + dumps(more)[1:] if more else item


def _cursor_id(cursor: dict[str, Any]) -> int:
    rid = cursor.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
        raise invalid("cursor: invalid cursor")
    return rid
