"""The Onpipeline API as its reference describes it: ``POST /<Resource>`` with a JSON body.

Read from the vendor's document (``shared/seeds/002``), independently of ``crm_api``:

- The token is sent raw in the ``Authorization`` header. No header: 400 ("Missing Token");
  a wrong one: 401 "Invalid Token". ``<api_token>-readonly`` is a read-only token: any write
  resource answers 403.
- Methods: the document says "POST,GET": both are served the same way (a JSON body is always
  required, ``{}`` when there is nothing to send). Other methods: 405 with ``Allow``.
- Answers are ``{"Header": {...}, "Data": ...}``, or ``{"Error": {"Code", "Message", "Time",
  "IP"}}``; codes are strings in the JSON and the HTTP status. Lists: 200 "Accepted";
  adds: 201 "Created" with the new ID in Data; changes and deletes: 202 "Accepted" with
  the ID in the Header and no Data (as the document's samples).
- 404 unknown resource (or an ID that does not exist), 406 invalid JSON, a value that is not
  acceptable, or an update that changes nothing; 409 duplicate organisation (OrgName +
  Postcode); 400 a mandatory field missing.
- The document has no rate-limit answer; the vendor publishes 60 requests a minute per
  account. With ``onpipeline_rate_limit`` > 0 the sandbox refuses the request over the limit in
  a rolling minute with 429, the Error envelope and ``Retry-After`` (seconds).
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from crm_sandbox.core import Request, Response, SandboxContext
from crm_sandbox.onpipeline.control import control
from crm_sandbox.onpipeline.data import Account
from crm_sandbox.onpipeline.render import EMPTY_DATE, LocalTime, Renderer, parse_wall
from crm_sandbox.onpipeline.store import RECORD_KINDS, Store

READ_ONLY_SUFFIX = "-readonly"
WINDOW_SECONDS = 60.0
FRAGMENT_CACHE_BYTES = 256 * 1024 * 1024  # encoded records kept between writes, at most
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Documented resources the sandbox does not simulate (they answer 404 saying so).
NOT_SIMULATED = (
    "ActionMenuList", "ActionMenuAdd", "ActionMenuDelete", "HistoryLogAdd", "WidgetList",
    "WidgetAdd", "WidgetDelete", "Leadsin", "CallRecord", "WebhookList", "WebhookAdd",
    "WebhookDelete",
)  # fmt: skip
TABLES = {"persons": "Persons", "organizations": "Organizations", "deals": "Deals"}
EMAIL_TYPES = ("work", "home", "other")
PHONE_TYPES = ("work", "home", "mobile", "other")

# Equality filters: request field -> field of the rendered object (case-insensitive match).
PERSON_FILTERS = {
    "PersonID": "PersonID",
    "Organization": "OrgName",
    "OrganizationID": "OrgID",
    "OrgID": "OrgID",  # the document's tip: "list all person of an organization with OrgID"
    "Fullname": "Fullname",
}
ORG_FILTERS = {
    k: k for k in ("OrgID", "OrgName", "Postcode", "City", "Region", "Country", "FullAddress")
}
DEAL_FILTERS = {
    k: k
    for k in ("DealID", "Status", "OwnerID", "LinkedPersonID", "LinkedOrgID", "Pipeline", "Stage")
} | {"LostReason": "LostReason"}
EVENT_FILTERS = {
    k: k
    for k in (
        "EventID", "OwnerID", "OwnerName", "Name", "Start", "End", "TimeZone", "Location", "Type",
        "LinkedDeal", "LinkedPerson", "LinkedOrg", "Guests", "Created", "CreatedBy",
        "CreatedByID", "LastUpdate", "EventCompleted", "NotifyExternal",
    )
}  # fmt: skip
NOTE_FILTERS = {"Type": "Type", "LinkedID": "LinkedID"}
ID_FILTER = {
    "persons": "PersonID",
    "organizations": "OrgID",
    "deals": "DealID",
    "events": "EventID",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def _missing(name: str) -> ApiError:
    return ApiError(400, f"Bad Request - {name} is mandatory")


def _not_acceptable(message: str) -> ApiError:
    return ApiError(406, f"Not Acceptable - {message}")


def _text(value: Any) -> str | None:
    """A scalar field value as text; None when absent, null or empty (ignored, like PHP's empty)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip() if not isinstance(value, bool) else str(int(value))
    return text or None


class OnpipelineAPI:
    """The simulated Onpipeline API of one sandbox account."""

    name = "onpipeline"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._lock = threading.RLock()
        self._recent: deque[float] = deque()
        self._local: LocalTime | None = None
        self._fragments: dict[tuple[str, int], bytes] = {}
        self._fragments_zone = ""
        self._fragment_bytes = 0
        self.reset()
        self._resources: dict[str, tuple[Callable[[dict[str, Any]], Response], bool]] = {
            "PersonList": (self._person_list, False),
            "PersonAdd": (self._person_add, True),
            "PersonChange": (self._person_change, True),
            "PersonDelete": (self._person_delete, True),
            "OrgList": (self._org_list, False),
            "OrgAdd": (self._org_add, True),
            "OrgChange": (self._org_change, True),
            "OrgDelete": (self._org_delete, True),
            "DealsList": (self._deals_list, False),
            "DealAdd": (self._deal_add, True),
            "DealChange": (self._deal_change, True),
            "DealDelete": (self._deal_delete, True),
            "DealUndelete": (self._deal_undelete, True),
            "EventList": (self._event_list, False),
            "NotesList": (self._notes_list, False),
            "NoteAdd": (self._note_add, True),
            "InvoiceList": (self._invoice_list, False),
            "InvoiceItems": (self._invoice_items, False),
            "UsersList": (self._users_list, False),
            "TeamsList": (self._teams_list, False),
            "PipelineList": (self._pipeline_list, False),
            "ProductList": (self._product_list, False),
            "LastUpdate": (self._last_update, False),
            "ListCustomFields": (self._list_custom_fields, False),
            "FieldAdd": (self._field_add, True),
            "FieldDelete": (self._field_delete, True),
        }
        self._canonical = {name.lower(): name for name in self._resources}
        self._canonical.update({name.lower(): name for name in NOT_SIMULATED})

    # -- Provider protocol --

    def reset(self) -> None:
        settings = self.ctx.settings
        with self._lock:
            self.store = Store(Account(settings.seed, settings.size))
            self._recent.clear()
            self.forget_fragments()
            self._org_keys: dict[tuple[str, str], int] | None = None

    def handle(self, request: Request) -> Response:
        raw = request.path.strip("/")
        resource = self._canonical.get(raw.lower())
        self.ctx.counters.hit(f"onpipeline {request.method} /{resource or raw}")
        try:
            return self._dispatch(request, resource)
        except ApiError as error:
            return self._error(request, error)

    def control(self, request: Request) -> Response | None:
        with self._lock:
            if request.method != "GET":  # touch changes records: rendered ones are stale
                self.forget_fragments()
            return control(self, request)

    # -- the request pipeline --

    def _dispatch(self, request: Request, resource: str | None) -> Response:
        if request.method not in ("POST", "GET"):
            raise ApiError(405, "Method Not Allowed - use POST (or GET)", {"Allow": "POST, GET"})
        token = request.headers.get("authorization", "").strip()
        if not token:
            raise ApiError(400, "Bad Request - Missing Token (send it in the Authorization header)")
        api_token = self.ctx.settings.api_token
        if token not in (api_token, api_token + READ_ONLY_SUFFIX):
            raise ApiError(401, "Invalid Token")
        with self._lock:
            self._spend_rate_budget()
            if resource is None:
                raise ApiError(404, "Not Found - Resource name not found")
            if resource in NOT_SIMULATED:
                raise ApiError(404, f"Not Found - {resource} is not simulated by crm-sandbox")
            handler, writes = self._resources[resource]
            if writes and token != api_token:
                raise ApiError(403, "Forbidden - this token is read only")
            try:
                body = json.loads(request.body.decode("utf-8")) if request.body.strip() else None
            except (UnicodeDecodeError, ValueError):
                body = None
            if not isinstance(body, dict):
                raise ApiError(
                    406, "Not Acceptable - Invalid JSON (send a JSON object, {} if empty)"
                )
            self._endpoint = resource
            self._local = self._local_time()
            response = handler(body)
            if writes:
                self.forget_fragments()
                self.ctx.counters.add("writes")
            return response

    def _spend_rate_budget(self) -> None:
        limit = self.ctx.settings.onpipeline_rate_limit
        if limit <= 0:
            return
        now = self.ctx.clock.now().timestamp()
        while self._recent and self._recent[0] <= now - WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._recent) >= limit:
            self.ctx.counters.add("rate_limited")
            wait = max(1, math.ceil(self._recent[0] + WINDOW_SECONDS - now))
            raise ApiError(
                429,
                f"Too Many Requests - limit of {limit} requests per minute reached",
                {"Retry-After": str(wait)},
            )
        self._recent.append(now)

    def _local_time(self) -> LocalTime:
        zone = self.ctx.settings.timezone
        if self._local is None or self._local.name != zone:
            self._local = LocalTime(zone)
        return self._local

    @property
    def local(self) -> LocalTime:
        return self._local_time()

    def now_ts(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    def _time_text(self) -> str:
        return self.local.format(self.now_ts())

    def _error(self, request: Request, error: ApiError) -> Response:
        payload = {
            "Error": {
                "Code": str(error.code),
                "Message": error.message,
                "Time": self._time_text(),
                "IP": request.headers.get("x-forwarded-for", "127.0.0.1"),
            }
        }
        return Response.json(error.code, payload, error.headers)

    def _header(self, status: str, code: int, **more: str) -> dict[str, str]:
        return {
            "Status": status,
            "Code": str(code),
            "Time": self._time_text(),
            "Endpoint": self._endpoint,
            **more,
        }

    def _ok(self, data: Any, **header: str) -> Response:
        return Response.json(200, {"Header": self._header("Accepted", 200, **header), "Data": data})

    def _created(self, **data: str) -> Response:
        return Response.json(201, {"Header": self._header("Created", 201), "Data": data})

    def _accepted(self, **ids: str) -> Response:
        return Response.json(202, {"Header": self._header("Accepted", 202, **ids)})

    def _list(self, objects: Iterable[dict[str, Any]], **header: str) -> Response:
        return self._list_fragments((_encode(o).encode() for o in objects), **header)

    def _list_fragments(self, fragments: Iterable[bytes], **header: str) -> Response:
        """A list answer joined from one UTF-8 fragment per record (no 100,000-dict payload).

        Bytes, not str: one emoji would make a joined str take 4 bytes per character.
        """
        head = _encode({"Header": self._header("Accepted", 200, **header)})[:-1].encode()
        body = b"".join((head, b',"Data":[', b",".join(fragments), b"]}"))
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def _fragment(self, kind: str, index: int, record: dict[str, Any]) -> bytes:
        """The record's JSON, cached until the next write (any write may change what it shows)."""
        fragments = self._fragments_now()
        key = (kind, index)
        fragment = fragments.get(key)
        if fragment is None:
            fragment = _encode(self.renderer.any(kind, index, record)).encode()
            if self._fragment_bytes < FRAGMENT_CACHE_BYTES:
                fragments[key] = fragment
                self._fragment_bytes += len(fragment)
        return fragment

    def _fragments_now(self) -> dict[tuple[str, int], bytes]:
        if self._fragments_zone != self.ctx.settings.timezone:
            self.forget_fragments()
            self._fragments_zone = self.ctx.settings.timezone
        return self._fragments

    def forget_fragments(self) -> None:
        self._fragments.clear()
        self._fragment_bytes = 0

    @property
    def renderer(self) -> Renderer:
        return Renderer(self.store, self.local)

    # -- list filters --

    def _wall_bound(self, body: dict[str, Any], name: str, end: bool) -> int | None:
        value = _text(body.get(name))
        if value is None:
            return None
        wall = parse_wall(value, end_of_day=end)
        if wall is None:
            raise _not_acceptable(f"{name} must be YYYY-MM-DD HH:MM:SS or YYYY-MM-DD")
        return wall

    def _date_bound(self, body: dict[str, Any], name: str) -> str | None:
        value = _text(body.get(name))
        if value is None:
            return None
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _not_acceptable(f"{name} must be a date YYYY-MM-DD") from None

    def _select(
        self,
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
        local = self.local
        lo = self._wall_bound(body, "MinCreated", end=False)
        hi = self._wall_bound(body, "MaxCreated", end=True)
        other_ranges = [
            (field, self._wall_bound(body, f"Min{suffix}", False),
             self._wall_bound(body, f"Max{suffix}", True))
            for field, suffix in ranges
        ]  # fmt: skip
        other_ranges = [r for r in other_ranges if r[1] is not None or r[2] is not None]
        wanted = {
            target: value.casefold()
            for name, target in filters.items()
            if (value := _text(body.get(name))) is not None
        }
        extra = self._extra_filter(kind, body.get("Extra"))
        id_field = ID_FILTER.get(kind)
        candidates: range | list[int]
        if id_field and id_field in wanted:  # one record by ID: no scan
            index = self.store.index_of(kind, body[id_field])
            candidates = [] if index is None else [index]
        else:
            # The UTC range that can hold these local times (zones are within +-14 h of UTC).
            candidates = self.store.indexes(
                kind,
                None if lo is None else lo - 86400,
                None if hi is None else hi + 86400,
            )
        store = self.store
        created, deleted = store.created[kind], store.deleted[kind]
        fragments = self._fragments_now()
        needs_record = keep is not None or bool(other_ranges)
        needs_object = bool(wanted or extra)
        render = self.renderer.any
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
            yield self._fragment(kind, index, record)

    def _extra_filter(self, kind: str, value: Any) -> dict[str, str]:
        if value in (None, "", []):
            return {}
        if kind not in TABLES:
            return {}
        pairs = self._extra_pairs(TABLES[kind], value)
        return {fid: v.casefold() for fid, v in pairs.items()}

    def _extra_pairs(self, table: str, value: Any) -> dict[str, str]:
        """A request's ``Extra`` list of {ID, Value} -> {id: value}; unknown IDs are refused."""
        if not isinstance(value, list) or not all(
            isinstance(e, dict) and "ID" in e and "Value" in e for e in value
        ):
            raise _not_acceptable('Extra must be a list of {"ID": ..., "Value": ...}')
        known = {f["ID"] for f in self.store.custom_fields[table]}
        pairs = {}
        for entry in value:
            fid = str(entry["ID"])
            if fid not in known:
                raise _not_acceptable(f"Extra: no custom field with ID {fid} in {table}")
            pairs[fid] = "" if entry["Value"] is None else str(entry["Value"])
        return pairs

    # -- persons --

    def _person_list(self, body: dict[str, Any]) -> Response:
        return self._list_fragments(
            self._select("persons", body, PERSON_FILTERS, ranges=[("NextEvent", "NextEvent")])
        )

    def _person_fields(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        for name in ("FirstName", "LastName"):
            if name in body and _text(body[name]) is not None:
                record[name] = _text(body[name])
        if "OrgID" in body:
            record["org"] = self._link("organizations", body["OrgID"], "OrgID")
        if "Email" in body:
            record["Email"] = _contacts(body["Email"], "Email", "Address", EMAIL_TYPES)
        if "Phone" in body:
            record["Phone"] = _contacts(body["Phone"], "Phone", "Number", PHONE_TYPES)
        if "Extra" in body:
            _merge_extra(record, self._extra_pairs("Persons", body["Extra"]))

    def _person_add(self, body: dict[str, Any]) -> Response:
        _require(body, "FirstName", "LastName")
        now = self.now_ts()
        record: dict[str, Any] = {
            "FirstName": "", "LastName": "", "org": -1, "NextEvent": None, "EmailsSent": "0",
            "EmailsReceived": "0", "Source": "API", "SourceName": "", "created": now,
            "modified": now, "Email": [], "Phone": [], "extra": {},
        }  # fmt: skip
        self._person_fields(body, record)
        index = self.store.add("persons", record)
        return self._created(PersonID=self.store.id_of("persons", index))

    def _person_change(self, body: dict[str, Any]) -> Response:
        index, old = self._existing("persons", body, "PersonID")
        record = copy.deepcopy(old)
        self._person_fields(body, record)
        self._save_change("persons", index, old, record)
        return self._accepted(PersonID=self.store.id_of("persons", index))

    def _person_delete(self, body: dict[str, Any]) -> Response:
        index, _ = self._existing("persons", body, "PersonID")
        self.store.delete("persons", index)
        return self._accepted(PersonID=self.store.id_of("persons", index))

    # -- organizations --

    def _org_list(self, body: dict[str, Any]) -> Response:
        return self._list_fragments(self._select("organizations", body, ORG_FILTERS))

    def org_keys(self) -> dict[tuple[str, str], int]:
        """(OrgName folded, Postcode) -> index of live organisations with a postcode."""
        if self._org_keys is None:
            self._org_keys = {}
            for index, record in self.store.records(
                "organizations", range(self.store.count("organizations"))
            ):
                if record["Postcode"]:
                    self._org_keys.setdefault(_org_key(record), index)
        return self._org_keys

    def _org_fields(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        address_changed = False
        for name in ("OrgName", "Address1", "Address2", "Postcode", "City", "Region", "Country"):
            if name in body:
                value = body[name]
                if isinstance(value, (dict, list)):
                    raise _not_acceptable(f"{name} must be text")
                text = "" if value is None else str(value).strip()
                if name == "OrgName" and not text:
                    raise _missing("OrgName")
                if record.get(name) != text:
                    record[name] = text
                    address_changed |= name != "OrgName"
        if _text(body.get("FullAddress")) is not None:
            record["FullAddress"] = _text(body["FullAddress"])
        elif address_changed:
            parts = [record["Address1"], f"{record['Postcode'] or ''} {record['City'] or ''}"]
            record["FullAddress"] = ", ".join(p.strip() for p in parts if p and p.strip())
        if "Extra" in body:
            _merge_extra(record, self._extra_pairs("Organizations", body["Extra"]))

    def _check_duplicate(self, record: dict[str, Any], index: int | None) -> None:
        if not record["Postcode"]:
            return
        other = self.org_keys().get(_org_key(record))
        if other is not None and other != index:
            raise ApiError(
                409,
                "Conflict - an organization with this OrgName and Postcode exists: "
                + self.store.id_of("organizations", other),
            )

    def _org_add(self, body: dict[str, Any]) -> Response:
        _require(body, "OrgName")
        now = self.now_ts()
        record: dict[str, Any] = {
            "OrgName": "", "Address1": "", "Address2": "", "Postcode": "", "City": "",
            "Region": "", "Country": "", "FullAddress": "", "Source": "API", "SourceName": "",
            "created": now, "modified": now, "extra": {},
        }  # fmt: skip
        self._org_fields(body, record)
        self._check_duplicate(record, None)
        index = self.store.add("organizations", record)
        if record["Postcode"]:
            self.org_keys()[_org_key(record)] = index
        return self._created(OrgID=self.store.id_of("organizations", index))

    def _org_change(self, body: dict[str, Any]) -> Response:
        index, old = self._existing("organizations", body, "OrgID")
        record = copy.deepcopy(old)
        self._org_fields(body, record)
        self._check_duplicate(record, index)
        self._save_change("organizations", index, old, record)
        keys = self.org_keys()
        if old["Postcode"] and keys.get(_org_key(old)) == index:
            del keys[_org_key(old)]
        if record["Postcode"]:
            keys.setdefault(_org_key(record), index)
        return self._accepted(OrgID=self.store.id_of("organizations", index))

    def _org_delete(self, body: dict[str, Any]) -> Response:
        index, old = self._existing("organizations", body, "OrgID")
        keys = self.org_keys()
        if old["Postcode"] and keys.get(_org_key(old)) == index:
            del keys[_org_key(old)]
        self.store.delete("organizations", index)
        return self._accepted(OrgID=self.store.id_of("organizations", index))

    # -- deals --

    def _deals_list(self, body: dict[str, Any]) -> Response:
        min_closed = self._date_bound(body, "MinClosed")
        max_closed = self._date_bound(body, "MaxClosed")
        product = _text(body.get("Products"))
        product = product.casefold() if product else None
        show_deleted = (
            _text(body.get("Status")) is not None or _text(body.get("DealID")) is not None
        )

        def keep(r: dict[str, Any]) -> bool:
            if (min_closed or max_closed) and not r["Closed"]:
                return False
            if min_closed and r["Closed"] < min_closed:
                return False
            if max_closed and r["Closed"] > max_closed:
                return False
            return not product or any(p.casefold() == product for p in r["Products"])

        return self._list_fragments(
            self._select(
                "deals",
                body,
                DEAL_FILTERS,
                keep=keep if (min_closed or max_closed or product) else None,
                ranges=[("NextEvent", "NextEvent")],
                without_deleted_deals=not show_deleted,
            )
        )

    def _deal_fields(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        if "DealName" in body:
            name = _text(body["DealName"])
            if name is None:
                raise _missing("DealName")
            record["DealName"] = name
        if _text(body.get("Status")) is not None:
            status = str(_text(body["Status"])).lower()
            if status not in ("open", "won", "lost"):
                raise _not_acceptable("Status must be open, won or lost")
            if status != record["Status"]:
                record["Status"] = status
                today = self.local.format(self.now_ts())[:10]  # the account's local day
                record["Closed"] = "" if status == "open" else today
        if _text(body.get("Value")) is not None:
            record["Value"] = _money(body["Value"])
        if _text(body.get("Probability")) is not None:
            probability = str(_text(body["Probability"]))
            if not probability.isdigit() or int(probability) > 100:
                raise _not_acceptable("Probability must be an integer 0-100")
            record["Probability"] = str(int(probability))
        if _text(body.get("StageID")) is not None:
            stage = str(_text(body["StageID"]))
            if self.store.stages.get(stage, ("",))[0] != record["pipeline"]:
                raise _not_acceptable(f"StageID {stage} is not a stage of this pipeline")
            record["stage"] = stage
        if _text(body.get("OwnerID")) is not None:
            owner = str(_text(body["OwnerID"]))
            if owner not in self.store.users:
                raise _not_acceptable(f"OwnerID {owner} is not a user")
            record["OwnerID"] = owner
        if "LinkedPersonID" in body:
            record["person"] = self._link("persons", body["LinkedPersonID"], "LinkedPersonID")
        if "LinkedOrgID" in body:
            record["org"] = self._link("organizations", body["LinkedOrgID"], "LinkedOrgID")
        if "Involved" in body:
            if not isinstance(body["Involved"], list):
                raise _not_acceptable("Involved must be a list of person IDs")
            involved = [self._link("persons", p, "Involved") for p in body["Involved"]]
            record["Involved"] = sorted({p for p in involved if p >= 0})
        if "ExpClosing" in body:
            value = _text(body["ExpClosing"])
            if value in (None, EMPTY_DATE):
                record["ExpClosing"] = ""
            else:
                record["ExpClosing"] = self._date_bound(body, "ExpClosing")
        if "Products" in body:
            products = body["Products"]
            if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
                raise _not_acceptable("Products must be a list of product names")
            record["Products"] = list(dict.fromkeys(p.strip() for p in products if p.strip()))
        if "Extra" in body:
            _merge_extra(record, self._extra_pairs("Deals", body["Extra"]))

    def _deal_add(self, body: dict[str, Any]) -> Response:
        _require(body, "DealName", "PipelineID", "StageID", "OwnerID")
        pipeline = str(_text(body["PipelineID"]))
        if pipeline not in self.store.pipelines:
            raise _not_acceptable(f"PipelineID {pipeline} is not a pipeline")
        now = self.now_ts()
        admin = next(iter(self.store.users))
        record: dict[str, Any] = {
            "DealName": "", "Status": "open", "Value": "0.00", "Probability": "0",
            "pipeline": pipeline, "stage": "", "OwnerID": "", "person": -1, "org": -1,
            "Involved": [], "created": now, "CreatedbyID": admin, "ExpClosing": "",
            "Closed": "", "NextEvent": None, "modified": now, "Products": [], "LostReason": "",
            "Description": "", "EmailsSent": "0", "EmailsReceived": "0", "extra": {},
        }  # fmt: skip
        self._deal_fields(body, record)
        if record["org"] < 0 and record["person"] >= 0:  # the person's organisation
            person = self.store.get("persons", record["person"])
            org = person["org"] if person else -1
            record["org"] = org if self.store.org_name(org) is not None else -1
        index = self.store.add("deals", record)
        return self._created(DealID=self.store.id_of("deals", index))

    def _deal_change(self, body: dict[str, Any]) -> Response:
        index, old = self._existing("deals", body, "DealID")
        if old["Status"] == "deleted":
            raise _not_acceptable("the deal is deleted (DealUndelete restores it)")
        record = copy.deepcopy(old)
        self._deal_fields(body, record)
        self._save_change("deals", index, old, record)
        return self._accepted(DealID=self.store.id_of("deals", index))

    def _deal_set_status(self, body: dict[str, Any], deleted: bool) -> Response:
        index, old = self._existing("deals", body, "DealID")
        if (old["Status"] == "deleted") == deleted:
            state = "already deleted" if deleted else "not deleted"
            raise _not_acceptable(f"the deal is {state}")
        record = dict(old, Status="deleted" if deleted else "open", modified=self.now_ts())
        if not deleted:
            record["Closed"] = ""
        self.store.put("deals", index, record)
        return self._accepted(DealID=self.store.id_of("deals", index))

    def _deal_delete(self, body: dict[str, Any]) -> Response:
        return self._deal_set_status(body, deleted=True)

    def _deal_undelete(self, body: dict[str, Any]) -> Response:
        return self._deal_set_status(body, deleted=False)

    # -- events, notes --

    def _event_list(self, body: dict[str, Any]) -> Response:
        return self._list_fragments(self._select("events", body, EVENT_FILTERS))

    def _notes_list(self, body: dict[str, Any]) -> Response:
        return self._list_fragments(self._select("notes", body, NOTE_FILTERS))

    def _note_add(self, body: dict[str, Any]) -> Response:
        _require(body, "Type", "LinkedID", "Text")
        kind = str(_text(body["Type"])).lower()
        target = {"person": "persons", "org": "organizations", "deal": "deals"}.get(kind)
        if target is None:
            raise _not_acceptable("Type must be person, org or deal")
        linked = self._link(target, body["LinkedID"], "LinkedID")
        now = self.now_ts()
        record = {
            "Type": kind,
            "linked": linked,
            "Text": str(body["Text"]),
            "Deleted": "0",
            "created": now,
            "modified": now,
            "UserID": next(iter(self.store.users)),
        }
        index = self.store.add("notes", record)
        return self._created(NoteID=self.store.id_of("notes", index))

    # -- invoices --

    def _invoice_list(self, body: dict[str, Any]) -> Response:
        _require(body, "MinDate", "MaxDate")
        lo = self._date_bound(body, "MinDate")
        hi = self._date_bound(body, "MaxDate")
        assert lo is not None  # _require checked both
        assert hi is not None
        # Invoice dates are the UTC day of creation, so the window is a bisection.
        lo_ts = int(datetime.fromisoformat(lo).replace(tzinfo=UTC).timestamp())
        hi_ts = int(datetime.fromisoformat(hi).replace(tzinfo=UTC).timestamp()) + 86399
        records = self.store.records("invoices", self.store.indexes("invoices", lo_ts, hi_ts))
        return self._list_fragments(self._fragment("invoices", i, r) for i, r in records)

    def _invoice_items(self, body: dict[str, Any]) -> Response:
        _require(body, "ID")
        index = self.store.index_of("invoices", _text(body["ID"]))
        invoice = None if index is None else self.store.get("invoices", index)
        if index is None or invoice is None:
            raise ApiError(404, f"Not Found - no invoice with ID {_text(body['ID'])}")
        return self._list(invoice["items"], ID=self.store.id_of("invoices", index))

    # -- account lists --

    def _users_list(self, _: dict[str, Any]) -> Response:
        return self._list(self.store.account.users)

    def _teams_list(self, _: dict[str, Any]) -> Response:
        return self._list(self.store.account.teams)

    def _pipeline_list(self, _: dict[str, Any]) -> Response:
        return self._list(self.store.account.pipelines)

    def _product_list(self, _: dict[str, Any]) -> Response:
        return self._ok(self.store.account.products)

    # -- last update --

    def _last_update(self, body: dict[str, Any]) -> Response:
        _require(body, "Resource", "Hours")
        resource = str(_text(body["Resource"]))
        kind = {"PersonList": "persons", "OrgList": "organizations", "DealsList": "deals"}.get(
            resource
        )
        if kind is None:
            raise _not_acceptable("Resource must be PersonList, OrgList or DealsList")
        hours = str(_text(body["Hours"]))
        if hours not in ("24", "12", "6", "3"):
            raise _not_acceptable("Hours must be 24, 12, 6 or 3")
        now = self.now_ts()
        since = now - int(hours) * 3600
        changed = self.store.modified_since(kind, since)
        records = [(i, r) for i, r in self.store.records(kind, changed) if r["modified"] <= now]
        records.sort(key=lambda item: (item[1]["modified"], item[0]))
        fragments = (self._fragment(kind, i, r) for i, r in records)
        return self._list_fragments(fragments, Resource=resource)

    # -- custom fields --

    def _table(self, body: dict[str, Any]) -> str:
        _require(body, "Table")
        table = TABLES.get(str(_text(body["Table"])).lower())
        if table is None:
            raise _not_acceptable("Table must be Persons, Organizations or Deals")
        return table

    def _list_custom_fields(self, body: dict[str, Any]) -> Response:
        table = self._table(body)
        return self._ok(self.store.custom_fields[table], Table=table)

    def _field_add(self, body: dict[str, Any]) -> Response:
        table = self._table(body)
        _require(body, "Name")
        self.store.field_serial += 1
        field_id = str(1_000_000_000 + self.store.field_serial)
        self.store.custom_fields[table].append({"Name": str(_text(body["Name"])), "ID": field_id})
        return self._created(ID=field_id)

    def _field_delete(self, body: dict[str, Any]) -> Response:
        _require(body, "ID")
        field_id = str(_text(body["ID"]))
        for fields in self.store.custom_fields.values():
            for position, f in enumerate(fields):
                if f["ID"] == field_id:
                    del fields[position]
                    return self._accepted(ID=field_id)
        raise ApiError(404, f"Not Found - no custom field with ID {field_id}")

    # -- helpers --

    def _existing(
        self, kind: str, body: dict[str, Any], id_field: str
    ) -> tuple[int, dict[str, Any]]:
        _require(body, id_field)
        record_id = _text(body[id_field])
        index = self.store.index_of(kind, record_id)
        record = None if index is None else self.store.get(kind, index)
        if index is None or record is None:
            raise ApiError(404, f"Not Found - no record with {id_field} {record_id}")
        return index, record

    def _link(self, kind: str, value: Any, name: str) -> int:
        """The index of the record an ID field points to; -1 for an empty value."""
        text = _text(value)
        if text is None:
            return -1
        index = self.store.index_of(kind, text)
        if index is None:
            raise _not_acceptable(f"{name} {text} is not valid")
        return index

    def _save_change(
        self, kind: str, index: int, old: dict[str, Any], record: dict[str, Any]
    ) -> None:
        if record == old:
            raise _not_acceptable("nothing to change: the values sent are the current ones")
        record["modified"] = self.now_ts()
        self.store.put(kind, index, record)


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if _text(body.get(name)) is None:
            raise _missing(name)


def _org_key(record: dict[str, Any]) -> tuple[str, str]:
    return str(record["OrgName"]).strip().casefold(), str(record["Postcode"]).strip()


def _money(value: Any) -> str:
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        raise _not_acceptable("Value must be a number like 1000.00") from None
    if not math.isfinite(number):
        raise _not_acceptable("Value must be a number like 1000.00")
    return f"{number:.2f}"


def _contacts(value: Any, name: str, key: str, types: tuple[str, ...]) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _not_acceptable(f"{name} must be a list")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or _text(entry.get(key)) is None:
            raise _not_acceptable(f'{name} entries need "{key}"')
        kind = str(_text(entry.get("Type")) or "other").lower()
        if kind not in types:
            raise _not_acceptable(f"{name} Type must be one of {'/'.join(types)}")
        out.append({key: str(_text(entry[key])), "Type": kind})
    return out


def _merge_extra(record: dict[str, Any], pairs: dict[str, str]) -> None:
    extra = dict(record["extra"])
    for fid, value in pairs.items():
        if value == "":
            extra.pop(fid, None)
        else:
            extra[fid] = value
    record["extra"] = extra


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


__all__ = ["READ_ONLY_SUFFIX", "RECORD_KINDS", "OnpipelineAPI"]
