"""Routing and handlers of the simulated Pipedrive API: v2 entities, followers, fields, v1 notes
and users, OAuth; authentication and rate limits wrap every API call.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from crm_sandbox.core import Request, Response, SandboxContext
from crm_sandbox.pipedrive import data, timefmt
from crm_sandbox.pipedrive import validate as v
from crm_sandbox.pipedrive.fields import ENTITY_OF_FIELDS_PATH, v1_items, v2_items
from crm_sandbox.pipedrive.followers import followers_of, peek
from crm_sandbox.pipedrive.limits import CLOUDFLARE_403, Limiter
from crm_sandbox.pipedrive.oauth import OAuthServer
from crm_sandbox.pipedrive.store import NULL, Record, Store, Table
from crm_sandbox.pipedrive.validate import Problem, failure, invalid

V2_ENTITIES = ("deals", "persons", "organizations", "activities", "products")
FOLLOWED = ("deals", "persons", "organizations", "products")
SINGULAR = {
    "deals": "Deal",
    "persons": "Person",
    "organizations": "Organization",
    "activities": "Activity",
    "products": "Product",
    "pipelines": "Pipeline",
    "stages": "Stage",
    "notes": "Note",
    "users": "User",
}
FIELD_ENTITY = {
    "deal": "deals",
    "person": "persons",
    "organization": "organizations",
    "product": "products",
    "activity": "activities",
}
UNAUTHORIZED = {
    "success": False,
    "error": "unauthorized access",
    "errorCode": 401,
    "error_info": "Please check developers.pipedrive.com",
}
MAX_LIMIT = 500
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> bytes:
    return _encode(value).encode("utf-8")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: str
    cost: int
    entity: str = ""
    public: bool = False  # OAuth endpoints: no API auth, no rate limits


def _route(
    method: str, template: str, handler: str, cost: int, entity: str = "", public: bool = False
) -> Route:
    regex = re.escape(template)
    regex = regex.replace(r"\{id\}", r"(?P<id>\d+)").replace(
        r"\{follower_id\}", r"(?P<follower_id>\d+)"
    )
    regex = regex.replace(r"\{field_code\}", r"(?P<field_code>[^/]+)")
    return Route(method, re.compile(regex), template, handler, cost, entity, public)


def _routes() -> list[Route]:
    r: list[Route] = [_route("GET", "/api/v2/deals/archived", "list_v2", 20, "deals")]
    for e in V2_ENTITIES:
        base = f"/api/v2/{e}"
        r += [
            _route("GET", base, "list_v2", 10, e),
            _route("POST", base, "create", 5, e),
            _route("GET", base + "/{id}", "get_one", 1, e),
            _route("PATCH", base + "/{id}", "update", 5, e),
            _route("DELETE", base + "/{id}", "delete", 3, e),
        ]
    for e in FOLLOWED:
        base = f"/api/v2/{e}/{{id}}/followers"
        r += [
            _route("GET", base, "followers_list", 10, e),
            _route("POST", base, "follower_add", 5, e),
            _route("GET", base + "/changelog", "followers_changelog", 10, e),
            _route("DELETE", base + "/{follower_id}", "follower_delete", 3, e),
        ]
    for e in ("pipelines", "stages"):
        r += [
            _route("GET", f"/api/v2/{e}", "list_v2", 5, e),
            _route("GET", f"/api/v2/{e}/{{id}}", "get_one", 1, e),
        ]
    for path in ENTITY_OF_FIELDS_PATH:
        r += [
            _route("GET", f"/api/v2/{path}", "fields_v2", 10, path),
            _route("GET", f"/api/v2/{path}/{{field_code}}", "field_v2", 1, path),
        ]
    for prefix in ("/v1", "/api/v1"):
        r += [
            _route("GET", prefix + "/notes", "notes_list", 20, "notes"),
            _route("POST", prefix + "/notes", "note_create", 10, "notes"),
            _route("GET", prefix + "/notes/{id}", "note_get", 2, "notes"),
            _route("PUT", prefix + "/notes/{id}", "note_update", 10, "notes"),
            _route("DELETE", prefix + "/notes/{id}", "note_delete", 6, "notes"),
            _route("GET", prefix + "/users", "users_list", 20, "users"),
            _route("GET", prefix + "/users/me", "user_me", 2, "users"),
            _route("GET", prefix + "/users/{id}", "user_get", 2, "users"),
        ]
        r += [
            _route("GET", f"{prefix}/{path}", "fields_v1", 20, path)
            for path in ENTITY_OF_FIELDS_PATH
        ]
    r += [
        _route("GET", "/oauth/authorize", "oauth_authorize", 0, public=True),
        _route("POST", "/oauth/token", "oauth_token", 0, public=True),
        _route("POST", "/oauth/revoke", "oauth_revoke", 0, public=True),
    ]
    return r


ROUTES = _routes()


# ---- list parameters ---------------------------------------------------------------------
@dataclass(frozen=True)
class ListSpec:
    sorts: tuple[str, ...]
    int_filters: tuple[str, ...] = ()
    updated: bool = True


BASE_SORTS = ("id", "update_time", "add_time")
LIST_SPECS = {
    "deals": ListSpec(BASE_SORTS, ("owner_id", "person_id", "org_id", "pipeline_id", "stage_id")),
    "persons": ListSpec(BASE_SORTS, ("owner_id", "org_id")),
    "organizations": ListSpec(BASE_SORTS, ("owner_id",)),
    "activities": ListSpec(
        (*BASE_SORTS, "due_date"), ("owner_id", "deal_id", "person_id", "org_id")
    ),
    "products": ListSpec(("id", "name", "add_time", "update_time"), ("owner_id",)),
    "pipelines": ListSpec(BASE_SORTS, (), updated=False),
    "stages": ListSpec((*BASE_SORTS, "order_nr"), ("pipeline_id",), updated=False),
}


def q_int(req: Request, name: str, minimum: int = 1) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"-?\d+", raw) or int(raw) < minimum:
        raise invalid(f"{name}: must be an integer >= {minimum}")
    return int(raw)


def q_time(req: Request, name: str) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    epoch = timefmt.parse_rfc3339(raw)
    if epoch is None:
        raise invalid(
            f"{name}: '{raw}' is not a valid datetime"
            " (RFC 3339 with whole seconds, e.g. 2025-01-01T10:20:00Z)"
        )
    return epoch


def q_limit(req: Request, default: int = 100) -> int:
    limit = q_int(req, "limit")
    if limit is None:
        return default
    if limit > MAX_LIMIT:
        raise invalid(f"limit: must be less than or equal to {MAX_LIMIT}")
    return limit


def q_choice(req: Request, name: str, allowed: Iterable[str], default: str | None) -> str | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    allowed = tuple(allowed)
    if raw not in allowed:
        raise invalid(f"{name}: must be equal to one of the allowed values: {', '.join(allowed)}")
    return raw


def q_ids(req: Request) -> list[int] | None:
    raw = req.arg("ids")
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if not all(re.fullmatch(r"\d+", p.strip()) for p in parts):
        raise invalid("ids: must be a comma-separated list of integers")
    if len(parts) > 100:
        raise invalid("ids: must contain at most 100 ids")
    return [int(p) for p in parts]


def encode_cursor(payload: dict[str, Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )


def decode_cursor(raw: str) -> dict[str, Any]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
        payload = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("cursor: invalid cursor") from None
    if not isinstance(payload, dict):
        raise invalid("cursor: invalid cursor")
    return payload


def envelope(items: list[bytes], additional: Any) -> Response:
    body = (
        b'{"success":true,"data":['
        + b",".join(items)
        + b'],"additional_data":'
        + dumps(additional)
        + b"}"
    )
    return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})


def ok(payload: Any, status: int = 200, additional: Any = None) -> Response:
    body: dict[str, Any] = {"success": True, "data": payload}
    if additional is not None:
        body["additional_data"] = additional
    return Response.json(status, body)


# ---- write schemas (research §6) -------------------------------------------------------------
S = v
OPT_INT = S.nullable(S.c_int)
SCHEMAS: dict[str, dict[str, S.Checker]] = {
    "deals": {
        "title": S.c_str,
        "owner_id": S.ref_to("users"),
        "person_id": S.nullable(S.ref_to("persons")),
        "org_id": S.nullable(S.ref_to("organizations")),
        "pipeline_id": S.ref_to("pipelines"),
        "stage_id": S.ref_to("stages"),
        "value": S.c_num,
        "currency": S.c_str,
        "is_deleted": S.c_bool,
        "is_archived": S.c_bool,
        "archive_time": S.nullable(S.c_v1_time),
        "status": S.one_of("open", "won", "lost"),
        "probability": S.nullable(S.c_num),
        "lost_reason": S.nullable(S.c_str),
        "visible_to": S.c_visible,
        "close_time": S.nullable(S.c_rfc3339),
        "won_time": S.nullable(S.c_rfc3339),
        "lost_time": S.nullable(S.c_rfc3339),
        "expected_close_date": S.nullable(S.c_date),
        "label_ids": S.c_int_list,
        "add_time": S.c_rfc3339,
    },
    "persons": {
        "name": S.c_str,
        "first_name": S.nullable(S.c_str),
        "last_name": S.nullable(S.c_str),
        "owner_id": S.ref_to("users"),
        "org_id": S.nullable(S.ref_to("organizations")),
        "emails": S.c_contacts,
        "phones": S.c_contacts,
        "visible_to": S.c_visible,
        "label_ids": S.c_int_list,
        "add_time": S.c_rfc3339,
    },
    "organizations": {
        "name": S.c_str,
        "owner_id": S.ref_to("users"),
        "visible_to": S.c_visible,
        "label_ids": S.c_int_list,
        "address": S.nullable(S.c_address),
        "add_time": S.c_rfc3339,
    },
    "activities": {
        "subject": S.c_str,
        "type": S.c_str,
        "owner_id": S.ref_to("users"),
        "deal_id": S.nullable(S.ref_to("deals")),
        "lead_id": S.nullable(S.c_str),
        "person_id": S.nullable(S.ref_to("persons")),
        "org_id": S.nullable(S.ref_to("organizations")),
        "project_id": OPT_INT,
        "due_date": S.nullable(S.c_date),
        "due_time": S.nullable(S.c_time_of_day),
        "duration": S.nullable(S.c_time_of_day),
        "busy": S.c_bool,
        "done": S.c_bool,
        "location": S.nullable(S.c_address),
        "participants": S.c_participants,
        "attendees": S.c_any,
        "public_description": S.nullable(S.c_str),
        "priority": OPT_INT,
        "note": S.nullable(S.c_str),
    },
    "products": {
        "name": S.c_str,
        "code": S.nullable(S.c_str),
        "description": S.nullable(S.c_str),
        "unit": S.nullable(S.c_str),
        "tax": S.c_num,
        "category": S.nullable(S.c_str),
        "owner_id": S.ref_to("users"),
        "is_linkable": S.c_bool,
        "visible_to": S.c_visible,
        "prices": S.c_prices,
        "billing_frequency": S.one_of(
            "one-time", "annually", "semi-annually", "quarterly", "monthly", "weekly"
        ),
        "billing_frequency_cycles": OPT_INT,
    },
}
CUSTOM_OF = {
    "deals": "deal",
    "persons": "person",
    "organizations": "organization",
    "products": "product",
}
REQUIRED_ON_CREATE = {
    "deals": "title",
    "organizations": "name",
    "products": "name",
    "activities": "subject",
}


class PipedriveHandlers:
    """Everything behind the routes; ``PipedriveAPI`` adds auth, limits and counters."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.store: Store
        self.world: data.World
        self.oauth = OAuthServer(ctx)
        self.limiter = Limiter(ctx)
        self._notes_cache: dict[tuple[Any, ...], list[int]] = {}
        self.reset()

    def reset(self) -> None:
        settings = self.ctx.settings
        self.store, self.world = data.build(settings.seed, settings.size)
        self._notes_cache = {}
        self.oauth.reset()
        self.limiter.reset()

    # ---- helpers ---------------------------------------------------------------------
    def now(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    def exists(self, entity: str, rid: int) -> bool:
        if entity == "users":
            return 1 <= rid <= len(self.world.users)
        t = self.store.tables.get(entity)
        return t is not None and t.exists(rid) and not t.col("deleted", rid)

    def table(self, entity: str) -> Table:
        return self.store[entity]

    def record_or_404(self, entity: str, rid: int, allow_deleted: bool = True) -> Record:
        t = self.table(entity)
        if not t.exists(rid) or (not allow_deleted and t.col("deleted", rid)):
            raise failure(404, f"{SINGULAR[entity]} not found")
        return t.get(rid)

    def body_json(self, req: Request) -> Any:
        try:
            return req.json()
        except (ValueError, UnicodeDecodeError):
            raise invalid("request body must be valid JSON") from None

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
        with self.store.lock:
            record = self.record_or_404(entity, int(params["id"]))
            return ok(record)

    def create(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self.body_json(req)
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
            record = self._blank(entity, rid, now)
            self._apply(entity, record, clean, now, creating=True)
            t.put(rid, record)
            self._written()
            return ok(record)

    def update(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self.body_json(req)
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
            record = copy.deepcopy(current)
            self._apply(entity, record, clean, now, creating=False)
            self.table(entity).put(rid, record)
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
            self._written()
        return ok({"id": rid})

    def _written(self) -> None:
        self.ctx.counters.add("writes")
        self._notes_cache.clear()

    def _blank(self, entity: str, rid: int, now: int) -> Record:
        stamp = timefmt.iso(now)
        common: Record = {
            "id": rid,
            "owner_id": 1,
            "add_time": stamp,
            "update_time": stamp,
            "is_deleted": False,
        }
        customs = self.world.fields[CUSTOM_OF[entity]].custom if entity in CUSTOM_OF else []
        if entity == "deals":
            first_stage = 1
            record = {
                "id": rid,
                "title": "",
                "creator_user_id": 1,
                "owner_id": 1,
                "value": 0,
                "person_id": None,
                "org_id": None,
                "stage_id": first_stage,
                "pipeline_id": self.world.stage_pipeline[first_stage],
                "currency": "EUR",
                "add_time": stamp,
                "update_time": stamp,
                "stage_change_time": None,
                "is_deleted": False,
                "is_archived": False,
                "status": "open",
                "probability": None,
                "lost_reason": None,
                "visible_to": 3,
                "close_time": None,
                "won_time": None,
                "lost_time": None,
                "local_won_date": None,
                "local_lost_date": None,
                "local_close_date": None,
                "expected_close_date": None,
                "archive_time": None,
                "label_ids": [],
                "origin": "API",
                "origin_id": None,
                "channel": None,
                "channel_id": None,
                "acv": None,
                "arr": None,
                "mrr": None,
            }
        elif entity == "persons":
            record = {
                **common,
                "name": "",
                "first_name": None,
                "last_name": None,
                "org_id": None,
                "emails": [],
                "phones": [],
                "visible_to": 3,
                "label_ids": [],
                "picture_id": None,
            }
        elif entity == "organizations":
            record = {
                **common,
                "name": "",
                "visible_to": 3,
                "address": None,
                "label_ids": [],
                "picture_id": None,
            }
        elif entity == "activities":
            record = {
                **common,
                "subject": "",
                "type": "task",
                "creator_user_id": 1,
                "deal_id": None,
                "lead_id": None,
                "person_id": None,
                "org_id": None,
                "project_id": None,
                "due_date": None,
                "due_time": None,
                "duration": None,
                "busy": False,
                "done": False,
                "marked_as_done_time": None,
                "location": None,
                "participants": [],
                "conference_meeting_client": None,
                "conference_meeting_url": None,
                "conference_meeting_id": None,
                "public_description": None,
                "priority": None,
                "note": None,
            }
        else:
            record = {
                **common,
                "name": "",
                "code": None,
                "unit": None,
                "tax": 0,
                "is_linkable": True,
                "visible_to": 3,
                "description": None,
                "category": None,
                "billing_frequency": "one-time",
                "billing_frequency_cycles": None,
                "prices": [],
            }
        if customs:
            record["custom_fields"] = {f.key: None for f in customs}
        return record

    def _apply(
        self, entity: str, record: Record, clean: dict[str, Any], now: int, creating: bool
    ) -> None:
        stamp = timefmt.iso(now)
        before = dict(record)
        for key, value in clean.items():
            if key == "custom_fields":
                record.setdefault("custom_fields", {}).update(value)
            elif key == "participants":
                record["participants"] = value
                primary = next((p["person_id"] for p in value if p["primary"]), None)
                record["person_id"] = (
                    primary if primary is not None else (value[0]["person_id"] if value else None)
                )
            elif key == "prices":
                record["prices"] = [{"product_id": record["id"], **p} for p in value]
            else:
                record[key] = value
        record["update_time"] = stamp
        if creating and "add_time" in clean:
            record["update_time"] = max(stamp, record["add_time"])
        if entity == "deals":
            self._deal_rules(record, before, clean, now, creating)
        if entity == "activities":
            if record["done"] and not before.get("done"):
                record["marked_as_done_time"] = stamp
            elif not record["done"]:
                record["marked_as_done_time"] = None
            if "person_id" in clean and "participants" not in clean:
                pid = record["person_id"]
                record["participants"] = [{"person_id": pid, "primary": True}] if pid else []
        if (
            entity == "persons"
            and ("first_name" in clean or "last_name" in clean)
            and "name" not in clean
        ):
            parts = [record.get("first_name"), record.get("last_name")]
            record["name"] = " ".join(p for p in parts if p) or record["name"]

    def _deal_rules(
        self, record: Record, before: Record, clean: dict[str, Any], now: int, creating: bool
    ) -> None:
        stamp = timefmt.iso(now)
        pipelines = self.world.stage_pipeline
        if "stage_id" in clean:
            stage_pipeline = pipelines[record["stage_id"]]
            if "pipeline_id" in clean and clean["pipeline_id"] != stage_pipeline:
                raise invalid("stage_id: the stage does not belong to the given pipeline_id")
            record["pipeline_id"] = stage_pipeline
            if not creating and clean["stage_id"] != before.get("stage_id"):
                record["stage_change_time"] = stamp
        elif "pipeline_id" in clean:
            first = min(s for s, p in pipelines.items() if p == record["pipeline_id"])
            record["stage_id"] = first
            if not creating:
                record["stage_change_time"] = stamp
        status = record["status"]
        if "status" in clean and clean["status"] != before.get("status"):
            record["close_time"] = clean.get("close_time") or (stamp if status != "open" else None)
            record["won_time"] = clean.get("won_time") or (stamp if status == "won" else None)
            record["lost_time"] = clean.get("lost_time") or (stamp if status == "lost" else None)
        if status != "lost" and "lost_reason" in clean and clean["lost_reason"]:
            raise invalid("lost_reason: can only be set when status is lost")
        closed = record.get("close_time")
        day = timefmt.day(timefmt.parse_rfc3339(closed) or now) if closed else None
        record["local_close_date"] = day
        record["local_won_date"] = day if status == "won" else None
        record["local_lost_date"] = day if status == "lost" else None
        if record.get("is_archived") and not before.get("is_archived"):
            given = clean.get("archive_time")  # input is "YYYY-MM-DD HH:MM:SS" UTC, output RFC 3339
            record["archive_time"] = timefmt.iso(timefmt.parse_v1(given) or now) if given else stamp
        if not record.get("is_archived"):
            record["archive_time"] = None

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
        user = S.ref_to("users")("user_id", body["user_id"], self.exists)
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

    def fields_v1(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        items = v1_items(
            self.world.fields[ENTITY_OF_FIELDS_PATH[entity]], timefmt.v1(data.START - 86400 * 30)
        )
        return self._v1_page(req, items)

    def _v1_page(self, req: Request, items: list[Any]) -> Response:
        start = q_int(req, "start", minimum=0) or 0
        limit = min(q_int(req, "limit") or 100, MAX_LIMIT)  # v1 quietly caps at 500
        page = items[start : start + limit]
        more = start + limit < len(items)
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        return envelope(
            [dumps(i) if not isinstance(i, bytes) else i for i in page], {"pagination": pagination}
        )

    # ---- v1 users -------------------------------------------------------------------------
    def users_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(self.world.users)

    def user_me(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(
            {
                **self.world.users[0],
                "company_id": 1,
                "company_name": "Sandbox GmbH",
                "company_domain": "sandbox",
            }
        )

    def user_get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        if not 1 <= rid <= len(self.world.users):
            raise failure(404, "User not found")
        return ok(self.world.users[rid - 1])

    # ---- v1 notes ---------------------------------------------------------------------------
    NOTE_SORTS = (
        "id",
        "user_id",
        "deal_id",
        "person_id",
        "org_id",
        "content",
        "add_time",
        "update_time",
    )

    def notes_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        sort = self._note_sort(req.arg("sort"))
        since = q_time(req, "updated_since")
        filters = [
            (name, q_int(req, name)) for name in ("user_id", "deal_id", "person_id", "org_id")
        ]
        checks: list[tuple[str, int | None]] = [(n, x) for n, x in filters if x is not None]
        day_from = self._q_date(req, "start_date")
        day_to = self._q_date(req, "end_date")
        with self.store.lock:
            t = self.table("notes")
            key = (tuple(sort), since, tuple(checks), day_from, day_to, t.version)
            ids = self._notes_cache.get(key)
            if ids is None:
                ids = self._notes_ids(t, sort, since, checks, day_from, day_to)
                if len(self._notes_cache) > 32:
                    self._notes_cache.clear()
                self._notes_cache[key] = ids
            start = q_int(req, "start", minimum=0) or 0
            limit = min(q_int(req, "limit") or 100, MAX_LIMIT)
            page = ids[start : start + limit]
            items = [dumps(t.get(rid)) for rid in page]
        more = start + limit < len(ids)
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit
        self.ctx.counters.add("records_served", len(items))
        return envelope(items, {"pagination": pagination})

    def _note_sort(self, raw: str | None) -> list[tuple[str, bool]]:
        if not raw:
            return [("id", False)]
        out = []
        for part in raw.split(","):
            words = part.split()
            if not words or len(words) > 2 or words[0] not in self.NOTE_SORTS:
                raise failure(
                    400, f"Invalid sort field: {part.strip()!r}; use e.g. 'update_time ASC'"
                )
            direction = words[1].upper() if len(words) == 2 else "ASC"
            if direction not in ("ASC", "DESC"):
                raise failure(400, f"Invalid sort direction in {part.strip()!r}; use ASC or DESC")
            out.append((words[0], direction == "DESC"))
        return out

    @staticmethod
    def _q_date(req: Request, name: str) -> int | None:
        raw = req.arg(name)
        if not raw:
            return None
        day = timefmt.parse_date(raw)
        if day is None:
            raise failure(400, f"{name} must be a date in format YYYY-MM-DD")
        return day

    def _notes_ids(
        self,
        t: Table,
        sort: list[tuple[str, bool]],
        since: int | None,
        checks: list[tuple[str, int | None]],
        day_from: int | None,
        day_to: int | None,
    ) -> list[int]:
        cols = t.cols
        deleted, ut, at = cols["deleted"], cols["update_time"], cols["add_time"]
        column_checks = [(cols[name], value) for name, value in checks]
        lo = since if since is not None else -(1 << 62)
        first_day = day_from * 86400 if day_from is not None else -(1 << 62)
        last_day = (day_to + 1) * 86400 if day_to is not None else 1 << 62

        def keep(rid: int) -> bool:
            i = rid - 1
            return (
                not deleted[i]
                and ut[i] >= lo
                and first_day <= at[i] < last_day
                and all(col[i] == value for col, value in column_checks)
            )

        if len(sort) == 1 and sort[0][0] in ("id", "update_time", "add_time"):
            field, desc = sort[0]
            return [rid for rid in t.scan(field, desc, None) if keep(rid)]
        ids = [rid for rid in t.ids() if keep(rid)]
        for field, desc in reversed(sort):  # stable sorts, last key first
            values = {rid: _null_last(t.get(rid).get(field)) for rid in ids}
            ids.sort(key=values.__getitem__, reverse=desc)
        return ids

    def note_get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.store.lock:
            return ok(self.record_or_404("notes", rid, allow_deleted=False))

    def _note_body(self, req: Request) -> dict[str, Any]:
        ctype = req.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in ctype:
            form = {
                k: vals[0]
                for k, vals in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()
            }
            body: dict[str, Any] = {}
            for key, value in form.items():
                body[key] = (
                    int(value) if re.fullmatch(r"\d+", value) and key != "content" else value
                )
            return body
        parsed = self.body_json(req)
        if not isinstance(parsed, dict):
            raise failure(400, "Bad request")
        return parsed

    NOTE_REFS = {
        "deal_id": "deals",
        "person_id": "persons",
        "org_id": "organizations",
        "user_id": "users",
    }
    NOTE_KEYS = (
        "content",
        "deal_id",
        "person_id",
        "org_id",
        "lead_id",
        "project_id",
        "task_id",
        "user_id",
        "add_time",
        "pinned_to_deal_flag",
        "pinned_to_organization_flag",
        "pinned_to_person_flag",
        "pinned_to_lead_flag",
        "pinned_to_project_flag",
        "pinned_to_task_flag",
    )

    def _clean_note(self, body: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in body.items():
            if key not in self.NOTE_KEYS:
                continue  # v1 ignores unknown parameters
            if key in self.NOTE_REFS and value is not None:
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not self.exists(self.NOTE_REFS[key], value)
                ):
                    raise failure(400, f"{key}: {self.NOTE_REFS[key][:-1]} {value!r} not found")
            elif key == "content" and not isinstance(value, str):
                raise failure(400, "content must be a string")
            elif key == "add_time":
                if not isinstance(value, str) or timefmt.parse_v1(value) is None:
                    raise failure(400, "add_time must be in format YYYY-MM-DD HH:MM:SS")
            elif key.startswith("pinned_to_"):
                if value not in (0, 1, True, False, "0", "1"):
                    raise failure(400, f"{key} must be 0 or 1")
                value = value in (1, True, "1")
            clean[key] = value
        return clean

    def note_create(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self._note_body(req)
        with self.store.lock:
            clean = self._clean_note(body)
            if not clean.get("content"):
                raise failure(400, "Note content is required")
            if not any(
                clean.get(k)
                for k in ("deal_id", "person_id", "org_id", "lead_id", "project_id", "task_id")
            ):
                raise failure(
                    400,
                    "One of deal_id, person_id, org_id, lead_id, project_id or task_id is required",
                )
            t = self.table("notes")
            rid = t.n + 1
            stamp = timefmt.v1(self.now())
            note: Record = {
                "id": rid,
                "user_id": 1,
                "deal_id": None,
                "person_id": None,
                "org_id": None,
                "lead_id": None,
                "project_id": None,
                "task_id": None,
                "content": "",
                "add_time": stamp,
                "update_time": stamp,
                "active_flag": True,
                "pinned_to_deal_flag": False,
                "pinned_to_organization_flag": False,
                "pinned_to_person_flag": False,
                "pinned_to_lead_flag": False,
                "pinned_to_project_flag": False,
                "pinned_to_task_flag": False,
                "last_update_user_id": None,
            }
            note.update(clean)
            note = data.note_shape(t, note)
            t.put(rid, note)
            self._written()
        return ok(note, status=201)

    def note_update(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self._note_body(req)
        rid = int(params["id"])
        with self.store.lock:
            current = self.record_or_404("notes", rid, allow_deleted=False)
            clean = self._clean_note(body)
            if "content" in clean and not clean["content"]:
                raise failure(400, "Note content can not be empty")
            note = copy.deepcopy(current)
            note.update(clean)
            note["update_time"] = timefmt.v1(self.now())
            note["last_update_user_id"] = 1
            note = data.note_shape(self.table("notes"), note)
            self.table("notes").put(rid, note)
            self._written()
        return ok(note)

    def note_delete(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.store.lock:
            current = self.record_or_404("notes", rid, allow_deleted=False)
            note = copy.deepcopy(current)
            note["active_flag"] = False
            note["update_time"] = timefmt.v1(self.now())
            self.table("notes").put(rid, note)
            self._written()
        return ok(True)

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
                editable = "archived" in t.cols  # archived deals can't be edited
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
            for rid in ids:
                record = copy.deepcopy(t.get(rid))
                _change_something(entity, record, self.world)
                record["update_time"] = timefmt.v1(now) if entity == "notes" else timefmt.iso(now)
                if entity == "notes":
                    record = data.note_shape(t, record)
                t.put(rid, record)
            self._notes_cache.clear()  # a change made "in the CRM": not an API write
            stamp = timefmt.iso(now)
        return {"entity": entity, "ids": ids, "update_time": stamp}

    def all_ids(self, entity: str) -> list[int]:
        if entity == "users":
            return [u["id"] for u in self.world.users]
        with self.store.lock:
            return list(self.table(entity).ids())

    def raw_record(self, entity: str, rid: int) -> Record | None:
        if entity == "users":
            return self.world.users[rid - 1] if 1 <= rid <= len(self.world.users) else None
        with self.store.lock:
            t = self.table(entity)
            return copy.deepcopy(t.get(rid)) if t.exists(rid) else None


def _cursor_id(cursor: dict[str, Any]) -> int:
    rid = cursor.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
        raise invalid("cursor: invalid cursor")
    return rid


def _null_last(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def _change_something(entity: str, record: Record, world: data.World) -> None:
    """What ``touch`` changes besides update_time: a visible value, differently each time."""
    if entity == "deals":
        record["value"] = round(float(record.get("value") or 0) + 1.0, 2)
    elif entity == "notes":
        record["content"] = (record.get("content") or "") + "<p>edited</p>"
    elif entity == "activities":
        record["note"] = (record.get("note") or "") + "<p>edited</p>"
    elif "custom_fields" in record:
        kind = CUSTOM_OF.get(entity)
        numeric = (
            next((f for f in world.fields[kind].custom if f.field_type == "double"), None)
            if kind
            else None
        )
        if numeric is not None:
            record["custom_fields"] = dict(record["custom_fields"])
            record["custom_fields"][numeric.key] = (
                record["custom_fields"].get(numeric.key) or 0
            ) + 1
    if entity in ("pipelines", "stages"):
        record["name"] = str(record.get("name", "")).rstrip("*") + "*"


__all__ = [
    "CLOUDFLARE_403",
    "NULL",
    "ROUTES",
    "UNAUTHORIZED",
    "PipedriveHandlers",
    "Problem",
    "Route",
    "dumps",
]
