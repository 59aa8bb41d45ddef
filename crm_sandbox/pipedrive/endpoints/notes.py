"""v1 notes: list (offset paging, v1 sorts and filters), get, create, update, delete.

A list sorted by the index (id, add_time or update_time) walks the index lazily for early pages;
other sorts and deep pages list every match once and keep the ids until the notes change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import data, timefmt
from crm_sandbox.pipedrive.account import Account, body_json
from crm_sandbox.pipedrive.endpoints.paging import (
    index_order,
    matching_ids,
    v1_envelope,
    v1_start_limit,
)
from crm_sandbox.pipedrive.endpoints.v1_query import q_date, q_int, q_time
from crm_sandbox.pipedrive.params import dumps, ok
from crm_sandbox.pipedrive.store import Record, Table
from crm_sandbox.pipedrive.validate import failure

LAZY_START = 2000  # up to this offset a page walks the index; deeper offsets list all matches

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


class NoteEndpoints:
    def __init__(self, account: Account) -> None:
        self.account = account
        self._ids_cache: dict[tuple[Any, ...], list[int]] = {}  # keyed on the table's version
        self._ids_of: Table | None = None  # the table the cache is of (reset makes a new one)

    def _cached_ids(self, t: Table) -> dict[tuple[Any, ...], list[int]]:
        if self._ids_of is not t:
            self._ids_cache.clear()
            self._ids_of = t
        return self._ids_cache

    def page(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        sort = _note_sort(req.arg("sort"))
        since = q_time(req, "updated_since")
        filters = [
            (name, q_int(req, name)) for name in ("user_id", "deal_id", "person_id", "org_id")
        ]
        checks: list[tuple[str, int | None]] = [(n, x) for n, x in filters if x is not None]
        day_from = q_date(req, "start_date")
        day_to = q_date(req, "end_date")
        start, limit = v1_start_limit(req)
        with self.account.store.lock:
            t = self.account.table("notes")
            keep = _note_filter(t, since, checks, day_from, day_to)
            key = (tuple(sort), since, tuple(checks), day_from, day_to, t.version)
            ids = self._cached_ids(t).get(key)
            simple = index_order(sort)
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
                    ids = matching_ids(t, sort, keep, simple, since)
                    if len(self._ids_cache) > 32:
                        self._ids_cache.clear()
                    self._ids_cache[key] = ids
                page, more = ids[start : start + limit], start + limit < len(ids)
            items = [dumps(t.get(rid)) for rid in page]
        self.account.ctx.counters.add("records_served", len(items))
        return v1_envelope(items, start, limit, more)

    def get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.account.store.lock:
            return ok(self.account.record_or_404("notes", rid, allow_deleted=False))

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
        parsed = body_json(req)
        if not isinstance(parsed, dict):
            raise failure(400, "Bad request")
        return parsed

    def _clean_note(self, body: dict[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in body.items():
            if key not in NOTE_KEYS:
                continue  # v1 ignores unknown parameters
            if key in NOTE_REFS and value is not None:
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not self.account.exists(NOTE_REFS[key], value)
                ):
                    raise failure(400, f"{key}: {NOTE_REFS[key][:-1]} {value!r} not found")
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

    def create(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self._note_body(req)
        with self.account.store.lock:
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
            t = self.account.table("notes")
            rid = t.n + 1
            stamp = timefmt.v1(self.account.now())
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
            self.account.written()
        return ok(note, status=201)

    def update(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        body = self._note_body(req)
        rid = int(params["id"])
        with self.account.store.lock:
            current = self.account.record_or_404("notes", rid, allow_deleted=False)
            clean = self._clean_note(body)
            if "content" in clean and not clean["content"]:
                raise failure(400, "Note content can not be empty")
            note = copy.deepcopy(current)
            note.update(clean)
            note["update_time"] = timefmt.v1(self.account.now())
            note["last_update_user_id"] = 1
            note = data.note_shape(self.account.table("notes"), note)
            self.account.table("notes").put(rid, note)
            self.account.written()
        return ok(note)

    def delete(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        rid = int(params["id"])
        with self.account.store.lock:
            current = self.account.record_or_404("notes", rid, allow_deleted=False)
            note = copy.deepcopy(current)
            note["active_flag"] = False
            note["update_time"] = timefmt.v1(self.account.now())
            self.account.table("notes").put(rid, note)
            self.account.written()
        return ok(True)


def _note_sort(raw: str | None) -> list[tuple[str, bool]]:
    if not raw:
        return [("id", False)]
    out = []
    for part in raw.split(","):
        words = part.split()
        if not words or len(words) > 2 or words[0] not in NOTE_SORTS:
            raise failure(400, f"Invalid sort field: {part.strip()!r}; use e.g. 'update_time ASC'")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise failure(400, f"Invalid sort direction in {part.strip()!r}; use ASC or DESC")
        out.append((words[0], direction == "DESC"))
    return out


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
