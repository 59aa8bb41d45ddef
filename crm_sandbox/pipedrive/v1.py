"""The v1 endpoints still in use: notes, users and field lists (offset pagination, v1 times)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import data, params, timefmt
from crm_sandbox.pipedrive.base import HandlerBase
from crm_sandbox.pipedrive.fields import ENTITY_OF_FIELDS_PATH, v1_items
from crm_sandbox.pipedrive.params import MAX_LIMIT, dumps, envelope, ok
from crm_sandbox.pipedrive.store import Record, Table
from crm_sandbox.pipedrive.validate import Problem, failure


def q_int(req: Request, name: str, minimum: int = 1) -> int | None:
    """v1 answers a bad parameter with its generic 400, not v2's schema-validation one."""
    try:
        return params.q_int(req, name, minimum)
    except Problem:
        raise failure(400, f"Bad request: {name} must be an integer >= {minimum}") from None


def q_time(req: Request, name: str) -> int | None:
    try:
        return params.q_time(req, name)
    except Problem:
        raise failure(
            400, f"Bad request: {name} must be RFC 3339, e.g. 2025-01-01T10:20:00Z"
        ) from None


LAZY_START = 2000  # up to this offset a page walks the index; deeper offsets list all matches


class V1Handlers(HandlerBase):
    """v1 answers: ``additional_data.pagination`` paging, "YYYY-MM-DD HH:MM:SS" times."""

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
        start = q_int(req, "start", minimum=0) or 0
        limit = min(q_int(req, "limit") or 100, MAX_LIMIT)
        with self.store.lock:
            t = self.table("notes")
            keep = _note_filter(t, since, checks, day_from, day_to)
            key = (tuple(sort), since, tuple(checks), day_from, day_to, t.version)
            ids = self._notes_cache.get(key)
            simple = _index_order(sort)
            if ids is None and simple is not None and start <= LAZY_START:
                # Early pages (and clients that move updated_since rather than start): walk the
                # index lazily instead of listing every match.
                field, desc = simple
                low = t.key_of(field, since, 0) if field == "update_time" and since else None
                found: list[int] = []
                for rid in t.scan(field, desc, None, low):
                    if keep(rid):
                        found.append(rid)
                        if len(found) > start + limit:
                            break
                page, more = found[start : start + limit], len(found) > start + limit
            else:
                if ids is None:
                    ids = _notes_ids(t, sort, keep, simple, since)
                    if len(self._notes_cache) > 32:
                        self._notes_cache.clear()
                    self._notes_cache[key] = ids
                page, more = ids[start : start + limit], start + limit < len(ids)
            items = [dumps(t.get(rid)) for rid in page]
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


def _null_first(value: Any) -> tuple[int, Any]:
    """Sort key putting nulls below every value (first ascending, last descending, as SQL)."""
    return (0, "") if value is None else (1, value)


def _note_filter(
    t: Table,
    since: int | None,
    checks: list[tuple[str, int | None]],
    day_from: int | None,
    day_to: int | None,
) -> Callable[[int], bool]:
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

    def keep_live(rid: int) -> bool:  # the common case, without the checks that can't fail
        i = rid - 1
        return not deleted[i] and ut[i] >= lo

    return keep if column_checks or day_from is not None or day_to is not None else keep_live


def _index_order(sort: list[tuple[str, bool]]) -> tuple[str, bool] | None:
    """The (field, descending) of a sort an index answers: "update_time ASC" or
    "update_time ASC, id ASC" (indexes order ties by id), else None."""
    field, desc = sort[0]
    if field not in ("id", "update_time", "add_time"):
        return None
    if len(sort) == 1 or (len(sort) == 2 and sort[1] == ("id", desc)):
        return field, desc
    return None


def _notes_ids(
    t: Table,
    sort: list[tuple[str, bool]],
    keep: Callable[[int], bool],
    simple: tuple[str, bool] | None,
    since: int | None,
) -> list[int]:
    """Every matching note id in the requested order."""
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
