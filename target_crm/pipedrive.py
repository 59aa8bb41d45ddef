"""Pipedrive entities -> API calls: v2 POST/PATCH, v1 notes POST/PUT, v2 followers.

Bodies follow research/pipedrive-api.md §6: v2 accepts only its documented keys (anything
else is a 400), custom fields go under ``custom_fields`` keyed by their 40-character code,
booleans are JSON booleans, ids integers. A record may name a custom field by the tap's
readable column name or by its code, top level or inside ``custom_fields``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import SchemaNotFoundError

from crm_api import pipedrive as api
from crm_api.pipedrive_fields import plan_columns
from crm_api.pipedrive_include import read_only
from crm_api.retry import UnrecoverableError, write_once
from crm_api.schemas import load_schema
from target_crm.entities import Created, EntityWriter, RefusedError, Resolve, TargetSetupError
from target_crm.values import plain, same

logger = logging.getLogger("target-crm.pipedrive")


@dataclass(frozen=True)
class Spec:
    """What the v2 API accepts for one entity."""

    path: str  # e.g. /api/v2/persons
    fields_path: str | None  # e.g. /api/v2/personFields (custom fields)
    writable: frozenset[str]
    required: tuple[tuple[str, ...], ...] = ()
    references: Mapping[str, str] = field(default_factory=dict)  # body field -> stream
    datetimes: frozenset[str] = frozenset()  # sent as "YYYY-MM-DD HH:MM:SS" (UTC)
    rfc3339: frozenset[str] = frozenset({"add_time"})  # sent as "YYYY-MM-DDTHH:MM:SSZ"
    create_only: frozenset[str] = frozenset({"add_time"})  # PATCH refuses them
    dates: frozenset[str] = frozenset()
    booleans: frozenset[str] = frozenset()


ENTITIES: dict[str, Spec] = {
    "deals": Spec(
        "/api/v2/deals",
        "/api/v2/dealFields",
        frozenset(
            [
                "title",
                "owner_id",
                "person_id",
                "org_id",
                "pipeline_id",
                "stage_id",
                "value",
                "currency",
                "is_archived",
                "archive_time",
                "status",
                "probability",
                "lost_reason",
                "visible_to",
                "close_time",
                "won_time",
                "lost_time",
                "expected_close_date",
                "label_ids",
                "custom_fields",
                "add_time",
            ]
        ),
        required=(("title",),),
        references={"person_id": "persons", "org_id": "organizations"},
        datetimes=frozenset({"archive_time"}),
        rfc3339=frozenset({"add_time", "close_time", "won_time", "lost_time"}),
        dates=frozenset({"expected_close_date"}),
        booleans=frozenset({"is_archived"}),
    ),
    "persons": Spec(
        "/api/v2/persons",
        "/api/v2/personFields",
        frozenset(
            [
                "name",
                "owner_id",
                "org_id",
                "emails",
                "phones",
                "visible_to",
                "label_ids",
                "marketing_status",
                "custom_fields",
                "add_time",
                "im",
                "birthday",
                "job_title",
                "notes",
                "postal_address",
            ]
        ),
        required=(("name",),),
        references={"org_id": "organizations"},
        dates=frozenset({"birthday"}),
    ),
    "organizations": Spec(
        "/api/v2/organizations",
        "/api/v2/organizationFields",
        frozenset(
            [
                "name",
                "owner_id",
                "visible_to",
                "label_ids",
                "address",
                "custom_fields",
                "website",
                "linkedin",
                "industry",
                "annual_revenue",
                "employee_count",
                "add_time",
            ]
        ),
        required=(("name",),),
    ),
    "activities": Spec(
        "/api/v2/activities",
        "/api/v2/activityFields",
        frozenset(
            [
                "subject",
                "type",
                "owner_id",
                "deal_id",
                "lead_id",
                "org_id",
                "project_id",
                "due_date",
                "due_time",
                "duration",
                "busy",
                "done",
                "location",
                "participants",
                "attendees",
                "public_description",
                "priority",
                "note",
                "outcome",
            ]
        ),
        required=(("subject",), ("type",)),
        references={"deal_id": "deals", "org_id": "organizations"},
        dates=frozenset({"due_date"}),
        booleans=frozenset({"busy", "done"}),
    ),
    "products": Spec(
        "/api/v2/products",
        "/api/v2/productFields",
        frozenset(
            [
                "name",
                "code",
                "description",
                "unit",
                "tax",
                "category",
                "owner_id",
                "is_linkable",
                "visible_to",
                "prices",
                "billing_frequency",
                "billing_frequency_cycles",
                "custom_fields",
            ]
        ),
        required=(("name",),),
        booleans=frozenset({"is_linkable"}),
    ),
}

# Person fields Pipedrive accepts only with contact sync on (research §6).
CONTACT_SYNC = ("im", "birthday", "job_title", "notes", "postal_address")

NOTE_LINKS = ("deal_id", "person_id", "org_id", "lead_id", "project_id", "task_id")
NOTE_PINS = tuple(
    f"pinned_to_{what}_flag"
    for what in ("lead", "deal", "organization", "person", "project", "task")
)
NOTE_WRITABLE = frozenset({"content", "user_id", "add_time", *NOTE_LINKS, *NOTE_PINS})

# Followers: stream -> (v2 parent path, the record field holding the parent id, parent stream)
FOLLOWERS: dict[str, tuple[str, str, str]] = {
    "deal_followers": ("/api/v2/deals", "deal_id", "deals"),
    "person_followers": ("/api/v2/persons", "person_id", "persons"),
    "organization_followers": ("/api/v2/organizations", "org_id", "organizations"),
    "product_followers": ("/api/v2/products", "product_id", "products"),
}

STREAMS = (*ENTITIES, "notes", *FOLLOWERS)
# Streams whose records others reference go first at the end of the input (see sinks).
ORDER = {"organizations": 0, "persons": 1, "products": 1, "deals": 2}


@dataclass(frozen=True)
class CustomField:
    key: str
    name: str  # readable column name, as the tap emits it
    field_type: str
    options: Mapping[str, int]  # case-folded label -> option id


def plan_custom_fields(items: Sequence[Mapping[str, Any]], taken: set[str]) -> list[CustomField]:
    """The tap's readable column names (one rule, in crm_api), with option labels -> ids."""
    return [
        CustomField(
            column.key,
            column.column,
            column.field_type,
            {label.casefold(): option_id for option_id, label in column.options.items()},
        )
        for column in plan_columns(items, taken)
    ]


def standard_properties(stream: str) -> set[str]:
    """The tap's standard column names of ``stream`` (custom names avoid them)."""
    try:
        return set(load_schema("pipedrive", stream).get("properties", {}))
    except SchemaNotFoundError:  # a stream the tap does not read
        spec = ENTITIES.get(stream)
        return set(spec.writable if spec else ()) | {"id", "add_time", "update_time"}


def api_datetime(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> Any:
    """Pipedrive body datetimes in UTC: v1 style ``YYYY-MM-DD HH:MM:SS`` unless told."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return plain(value, datetime_format=fmt)


def api_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        return value[:10]
    return plain(value)


def _as_int(value: Any) -> Any:
    """Ids as integers (a CSV or the id map gives text)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return plain(value)


def _numeric(crm_id: str) -> int:
    """A Pipedrive id from a record or the id map; anything else rejects the record."""
    text = str(crm_id).strip()
    if not text.isdigit():
        raise RefusedError(f"'{crm_id}' is not a Pipedrive id (ids are whole numbers)")
    return int(text)


def _bool(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _contacts(value: Any) -> list[dict[str, Any]]:
    """emails/phones from a string, a list of strings or the API's list of objects, or that
    list as JSON text (a CSV cell, a warehouse JSON column, a stream map's ``json.dumps``:
    stream-map expressions cannot declare a list)."""
    if value is None:
        return []
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise RefusedError(f"'{value[:80]}' is neither an address nor a JSON list") from None
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            out.append({k: plain(v) for k, v in item.items() if k in ("value", "primary", "label")})
        elif item not in (None, ""):
            out.append({"value": str(item), "primary": not out, "label": "work"})
    return out


def _address(text: str) -> dict[str, Any]:
    if not text.lstrip().startswith("{"):
        return {"value": text}
    try:
        parts = json.loads(text)
    except ValueError:
        return {"value": text}
    if not isinstance(parts, Mapping) or not parts.get("value"):
        raise RefusedError("address: a JSON object needs its one-line form in 'value'")
    return {k: plain(v) for k, v in parts.items() if v not in (None, "")}


class PipedriveDestination:
    """The Pipedrive account a load writes to: the one client (``crm_api.pipedrive``), the
    account's custom fields, and the warnings already given. Shared by every writer."""

    def __init__(self, config: Mapping[str, Any], *, pool_size: int) -> None:
        self.client = api.PipedriveClient.from_config(config, pool_size=pool_size, log=logger.info)
        self.policy = self.client.policy
        self._fields: dict[str, list[CustomField]] = {}
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()

    def custom_fields(self, stream: str) -> list[CustomField]:
        with self._lock:
            if stream not in self._fields:
                spec = ENTITIES.get(stream)
                items = list(self.iter_list(spec.fields_path)) if spec and spec.fields_path else []
                self._fields[stream] = plan_custom_fields(items, standard_properties(stream))
            return self._fields[stream]

    def warn_once(self, stream: str, name: str, why: str) -> None:
        with self._lock:
            if (stream, name) in self._warned:
                return
            self._warned.add((stream, name))
        logger.info("%s: field '%s' %s; it is not sent", stream, name, why)

    # --- calls: every one goes through the client ------------------------------------

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, data: str = "list"
    ) -> Any | None:
        """GET; None on 404/410. ``data``: "list" or "object", what the envelope holds."""
        response = self.client.send("GET", path, params=params)
        if response.status_code in (404, 410):
            return None
        self._raise_for_record(response)
        return _envelope(response, data)

    def iter_list(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a v2 cursor list (none when the list is not there: 404/410)."""
        return self.client.iter_v2(path, params, missing_ok=True)

    def iter_v1_list(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a v1 offset list (none when the list is not there: 404/410)."""
        return self.client.iter_v1(path, params, missing_ok=True)

    def write(self, method: str, path: str, body: Mapping[str, Any]) -> requests.Response:
        """PATCH/PUT: replay-safe (the same body twice is the same state)."""
        response = self.client.send(method, path, json=dict(body))
        if response.status_code not in (404, 410):
            self._raise_for_record(response)
            _envelope(response, "record")  # a proxy's page is no proof the change was made
        return response

    def post_once(
        self,
        path: str,
        body: Mapping[str, Any],
        find_applied: Callable[[], Any | None],
        *,
        attempts: int,
    ) -> requests.Response | Any:
        """POST so that it is applied at most once (``crm_api.retry.write_once``): after a lost
        answer ``find_applied`` looks for it before anything is resent."""
        return write_once(
            lambda: self.client.send("POST", path, json=dict(body), replay_safe=False),
            find_applied,
            attempts=attempts,
            pause=self._pause,
        )

    def _pause(self, attempt: int) -> None:
        time.sleep(self.policy.wait(attempt + 1))

    def create(
        self, path: str, body: Mapping[str, Any], find_applied: Callable[[], str | None]
    ) -> str:
        """POST at most once; returns the new id."""
        result = self.post_once(path, body, find_applied, attempts=self.policy.tries + 2)
        if isinstance(result, str):
            return result
        self._raise_for_record(result)
        # An odd answer may hide a create the API applied: it stays pending in the id map
        return str(_envelope(result, "record", maybe_applied=True)["data"]["id"])

    @staticmethod
    def _raise_for_record(response: requests.Response) -> None:
        if response.status_code >= 400:
            raise RefusedError(
                f"Pipedrive refused it (HTTP {response.status_code})",
                api_message=_api_message(response),
                status=response.status_code,
            )


def _envelope(
    response: requests.Response, data: str, *, maybe_applied: bool = False
) -> dict[str, Any]:
    """The answer's JSON envelope (crm_api's one check, shared with the tap). Anything else
    (HTML, empty, cut short, a list, ``{}``, ``data`` of the wrong type) ends the load: read
    as "nothing there", a record would be created twice. ``data="record"``: an object with
    an id."""
    try:
        body = api.envelope(response, data="list" if data == "list" else "object")
        if data == "record" and body["data"].get("id") is None:
            raise api.UnexpectedBodyError(
                f"Pipedrive answered {response.request.method} {urlparse(response.url).path} "
                "with a JSON envelope whose data has no id "
                "(not the record written); check api_url and any proxy in between"
            )
    except api.PipedriveError as exc:
        raise UnrecoverableError(str(exc), maybe_applied=maybe_applied) from None
    return body


def _api_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, Mapping):
        return str(body.get("error") or body.get("message") or body)[:500]
    return str(body)[:500]


# Fields a record may give by name instead of by this account's id (a migration from another
# CRM, a warehouse table): name field -> (the id field it fills, what it names).
BY_NAME = {
    "owner_email": ("owner_id", "user"),
    "user_email": ("user_id", "user"),  # a note's author
    "pipeline_name": ("pipeline_id", "pipeline"),
    "stage_name": ("stage_id", "stage"),
}
NAMED_BY = {
    "deals": ("owner_email", "pipeline_name", "stage_name"),
    "persons": ("owner_email",),
    "organizations": ("owner_email",),
    "activities": ("owner_email",),
    "products": ("owner_email",),
    "notes": ("user_email",),
}


class AccountDirectory:
    """This account's users, pipelines and stages by email and name, read once per load, so
    a record can name them the way the other CRM does (ids differ between accounts)."""

    def __init__(self, account: PipedriveDestination) -> None:
        self.account = account
        self._lock = threading.Lock()
        self._users: dict[str, list[int]] | None = None
        self._pipelines: dict[str, list[int]] | None = None
        self._stages: dict[tuple[int, str], list[int]] | None = None

    def user_id(self, email: Any) -> int:
        with self._lock:
            if self._users is None:
                self._users = {}
                for user in self.account.iter_v1_list("/v1/users"):
                    if user.get("active_flag") is not False and user.get("email"):
                        self._users.setdefault(_folded(user["email"]), []).append(int(user["id"]))
            found = self._users.get(_folded(email), [])
        return _one(found, f"no active Pipedrive user has the email '{email}'", "users")

    def pipeline_id(self, name: Any) -> int:
        with self._lock:
            if self._pipelines is None:
                self._pipelines = {}
                for item in self.account.iter_list("/api/v2/pipelines"):
                    if not item.get("is_deleted"):
                        self._pipelines.setdefault(_folded(item["name"]), []).append(item["id"])
            found = self._pipelines.get(_folded(name), [])
        return _one(found, f"Pipedrive has no pipeline named '{name}'", "pipelines")

    def stage_id(self, pipeline_id: int, name: Any, pipeline: Any) -> int:
        with self._lock:
            if self._stages is None:
                self._stages = {}
                for item in self.account.iter_list("/api/v2/stages"):
                    if not item.get("is_deleted"):
                        key = (int(item["pipeline_id"]), _folded(item["name"]))
                        self._stages.setdefault(key, []).append(item["id"])
            found = self._stages.get((pipeline_id, _folded(name)), [])
        return _one(found, f"Pipedrive pipeline '{pipeline}' has no stage named '{name}'", "stages")


def _folded(text: Any) -> str:
    return " ".join(str(text).split()).casefold()


def _one(found: list[int], missing: str, what: str) -> int:
    if not found:
        raise RefusedError(missing)
    if len(found) > 1:
        raise RefusedError(f"{missing.split(' has ')[0]}: several {what} match ({found})")
    return found[0]


def resolve_names(
    stream: str, record: Mapping[str, Any], body: dict[str, Any], directory: AccountDirectory
) -> None:
    """owner_email, user_email, pipeline_name, stage_name -> the ids they name in this account
    (an id given alongside wins); none found rejects the record with what is missing."""
    names = {n: record.get(n) for n in NAMED_BY.get(stream, ()) if record.get(n) not in (None, "")}
    for name in names:
        body.pop(name, None)
    for name in ("owner_email", "user_email"):
        field_name = BY_NAME[name][0]
        if name in names and body.get(field_name) is None:
            body[field_name] = directory.user_id(names[name])
    pipeline = names.get("pipeline_name")
    if pipeline is not None and body.get("pipeline_id") is None:
        body["pipeline_id"] = directory.pipeline_id(pipeline)
    stage = names.get("stage_name")
    if stage is not None and body.get("stage_id") is None:
        if body.get("pipeline_id") is None:
            raise RefusedError(f"stage_name '{stage}' needs pipeline_name or pipeline_id")
        body["stage_id"] = directory.stage_id(
            int(body["pipeline_id"]), stage, pipeline or body["pipeline_id"]
        )


class EntityV2(EntityWriter):
    """deals, persons, organizations, activities, products."""

    id_field = "id"

    def __init__(self, account: PipedriveDestination, stream: str) -> None:
        self.account = account
        self.stream = stream
        self.spec = ENTITIES[stream]
        self.required = self.spec.required
        self.directory = AccountDirectory(account)

    @cached_property
    def _custom(self) -> dict[str, CustomField]:
        """Custom fields by readable name and by key."""
        out: dict[str, CustomField] = {}
        for item in self.account.custom_fields(self.stream):
            out[item.key] = item
            out.setdefault(item.name, item)
        return out

    def _label_columns(self) -> set[str]:
        return {
            f"{f.name}_label{'s' if f.field_type == 'set' else ''}"
            for f in self._custom.values()
            if f.field_type in {"enum", "set"}
        }

    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        spec = self.spec
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        raw_custom = record.get("custom_fields")
        if isinstance(raw_custom, Mapping):
            for name, value in raw_custom.items():
                self._put_custom(custom, name, value)
        label_columns = self._label_columns()
        for name, value in record.items():
            if name in ("id", "custom_fields") or name.startswith("_sdc_"):
                continue
            if name in spec.writable:
                body[name] = self._value(name, value)
            elif name in NAMED_BY.get(self.stream, ()):
                continue  # resolved below
            elif name in self._custom:
                self._put_custom(custom, name, value)
            elif name in ("email", "phone") and self.stream == "persons":
                body.setdefault(f"{name}s", _contacts(value))
            elif self.stream == "activities" and name == "person_id":
                continue  # read-only in v2: sent as the primary participant below
            elif self.stream == "persons" and name in ("first_name", "last_name"):
                continue  # folded into name below
            elif name in read_only(self.stream):
                self.account.warn_once(
                    self.stream, name, "is computed by Pipedrive (a read-only include_fields extra)"
                )
            elif name not in label_columns:
                self.account.warn_once(self.stream, name, "is not writable in Pipedrive v2")
        if self.stream == "persons":
            if isinstance(body.get("postal_address"), str):
                body["postal_address"] = {"value": body["postal_address"]}
            for contact in ("emails", "phones", "im"):
                if contact in body:
                    body[contact] = _contacts(body[contact])
            for name in CONTACT_SYNC:  # an account without contact sync refuses them (403):
                if body.get(name) in (None, [], ""):  # send them only with a value
                    body.pop(name, None)
            if not body.get("name") and (record.get("first_name") or record.get("last_name")):
                parts = (record.get("first_name"), record.get("last_name"))
                body["name"] = " ".join(str(p) for p in parts if p)
        if self.stream == "organizations" and isinstance(body.get("address"), str):
            # v2 takes the address as an object whose only required part is `value`; a
            # warehouse column usually holds the one-line form, a stream map its parts as
            # JSON text ({"value": ..., "locality": ..., "postal_code": ...}).
            body["address"] = _address(body["address"])
        if self.stream == "activities" and "location" in body:
            # v2 takes the location as an object ({"value": ...}), and no location as none
            if body["location"] in (None, ""):
                body.pop("location")
            elif isinstance(body["location"], str):
                body["location"] = {"value": body["location"]}
        if (
            self.stream == "activities"
            and record.get("person_id") is not None
            and not body.get("participants")
        ):
            body["participants"] = [{"person_id": record["person_id"], "primary": True}]
        if custom:
            body["custom_fields"] = custom
        resolve_names(self.stream, record, body, self.directory)
        return body

    def _value(self, name: str, value: Any) -> Any:
        spec = self.spec
        if value is None:
            return None
        if name in spec.datetimes:
            return api_datetime(value)
        if name in spec.rfc3339:
            return api_datetime(value, "%Y-%m-%dT%H:%M:%SZ")
        if name in spec.dates:
            return api_date(value)
        if name in spec.booleans:
            return _bool(value)
        if name == "due_time" and isinstance(value, str):
            return value[:5]
        if name == "duration" and isinstance(value, str):
            return value[:5]
        if name.endswith("_id") or name == "visible_to":
            return _as_int(value)
        if name == "label_ids" and isinstance(value, list):
            return [_as_int(v) for v in value]
        if name == "participants" and isinstance(value, list):
            return [
                {"person_id": _as_int(p.get("person_id")), "primary": bool(p.get("primary"))}
                for p in value
                if isinstance(p, Mapping)
            ]
        return plain(value)

    def _put_custom(self, custom: dict[str, Any], name: str, value: Any) -> None:
        found = self._custom.get(name)
        if found is None:
            self.account.warn_once(self.stream, name, "is not a custom field of this account")
            return
        custom[found.key] = self._custom_value(found, value)

    def _custom_value(self, found: CustomField, value: Any) -> Any:
        if value is None:
            return None
        kind = found.field_type
        if kind == "enum":
            return self._option(found, value)
        if kind == "set":
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            items = value if isinstance(value, list) else [value]
            return [self._option(found, v) for v in items] or None
        if kind == "date":
            return api_date(value)
        if kind == "monetary" and not isinstance(value, Mapping):
            return {"value": plain(value)}
        if kind in {"user", "org", "people"}:
            return _as_int(
                value.get("id", value.get("value")) if isinstance(value, Mapping) else value
            )
        if kind in {"double"} and isinstance(value, str):
            try:
                return plain(float(value))
            except ValueError:
                return value
        return plain(value, datetime_format="%Y-%m-%d")

    @staticmethod
    def _option(found: CustomField, value: Any) -> Any:
        if isinstance(value, Mapping):
            value = value.get("id", value.get("label"))
        number = _as_int(value)
        if isinstance(number, int):
            return number
        option = found.options.get(str(value).strip().casefold())
        if option is None:
            raise RefusedError(f"'{value}' is not an option of custom field '{found.name}'")
        return option

    def resolve_references(self, body: dict[str, Any], resolve: Resolve) -> None:
        for name, stream in self.spec.references.items():
            if body.get(name) is not None:
                body[name] = _as_int(resolve(name, stream, body[name]))
        custom = body.get("custom_fields") or {}
        for key, value in custom.items():
            found = self._custom.get(key)
            target = _REFERENCE_TYPES.get(found.field_type) if found else None
            if target and value is not None:
                custom[key] = _as_int(resolve(found.name if found else key, target, value))
        for participant in body.get("participants") or []:
            if participant.get("person_id") is not None:
                participant["person_id"] = _as_int(
                    resolve("participants.person_id", "persons", participant["person_id"])
                )

    def key_getter(self, name: str) -> Callable[[Mapping[str, Any]], list[Any]]:
        if self.stream == "persons" and name in ("email", "emails", "phone", "phones"):
            plural = name if name.endswith("s") else f"{name}s"
            return lambda data: [
                item.get("value") for item in data.get(plural) or [] if isinstance(item, Mapping)
            ]
        if name in self.spec.writable or name in ("first_name", "last_name"):
            return lambda data: [data.get(name)]
        found = self._custom.get(name)
        if found is None:
            raise TargetSetupError(
                f"match_keys.{self.stream}: '{name}' is neither a field nor a custom field "
                f"of Pipedrive {self.stream}"
            )
        key = found.key

        def custom(data: Mapping[str, Any]) -> list[Any]:
            value = (data.get("custom_fields") or {}).get(key)
            if isinstance(value, Mapping):
                value = value.get("value")
            return value if isinstance(value, list) else [value]

        return custom

    def fetch(self, crm_id: str) -> dict[str, Any] | None:
        body = self.account.get_json(f"{self.spec.path}/{_numeric(crm_id)}", data="record")
        data = (body or {}).get("data")
        return _as_fetched(data) if data else None

    def list_all(self) -> Iterator[dict[str, Any]]:
        return self.account.iter_list(self.spec.path)

    def create(self, body: dict[str, Any]) -> Created:
        new_id = self.account.create(self.spec.path, body, lambda: self.find_applied(body))
        return Created(new_id)

    def find_applied(self, body: Mapping[str, Any]) -> str | None:
        """After a lost answer: the newest records, one equal to what we sent is ours."""
        params = {"sort_by": "update_time", "sort_direction": "desc", "limit": 100}
        page = self.account.get_json(self.spec.path, params) or {}
        for item in page.get("data") or []:
            if same(_comparable(body), item):
                return str(item["id"])
        return None

    def would_update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        body = {k: v for k, v in body.items() if k not in self.spec.create_only}
        current = self.fetch(crm_id)
        if current is None:
            return None
        return "unchanged" if same(_comparable(body), current) else "updated"

    compares_listed = True  # a v2 list item is the record as GET by id shows it

    def update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        return self._update_from(crm_id, body, self.fetch(crm_id))

    def update_known(
        self, crm_id: str, body: dict[str, Any], current: dict[str, Any]
    ) -> str | None:
        return self._update_from(crm_id, body, _as_fetched(current))

    def _update_from(
        self, crm_id: str, body: dict[str, Any], current: dict[str, Any] | None
    ) -> str | None:
        """PATCH what differs from ``current`` (None: the record does not exist)."""
        body = {k: v for k, v in body.items() if k not in self.spec.create_only}
        if current is None:
            return None
        if same(_comparable(body), current):
            return "unchanged"
        if not body:
            return "unchanged"
        response = self.account.write("PATCH", f"{self.spec.path}/{_numeric(crm_id)}", body)
        if response.status_code in (404, 410):
            return None
        return "updated"


def _as_fetched(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A record as the API shows it, in the form the writers compare (None: deleted)."""
    if item.get("is_deleted"):
        return None
    current = dict(item)
    for name in ("due_time", "duration"):  # HH:MM:SS read, HH:MM sent (see _value)
        if isinstance(current.get(name), str):
            current[name] = current[name][:5]
    return current


_REFERENCE_TYPES = {"people": "persons", "org": "organizations"}  # custom fields holding ids


def _comparable(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a stored record must show for a write to be a no-op (participants are derived)."""
    return {k: v for k, v in body.items() if k not in ("participants", "archive_time")}


class Notes(EntityWriter):
    """v1 notes: POST /v1/notes, PUT /v1/notes/{id} (no v2 notes exist)."""

    stream = "notes"
    id_field = "id"
    required = (("content",), NOTE_LINKS)
    path = "/v1/notes"

    def __init__(self, account: PipedriveDestination) -> None:
        self.account = account
        self.directory = AccountDirectory(account)

    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in record.items():
            if name in ("id", "user_email") or name.startswith("_sdc_"):
                continue
            if name not in NOTE_WRITABLE:
                self.account.warn_once("notes", name, "is not writable through /v1/notes")
                continue
            if value is None:
                continue  # v1 treats null links as "no link"; sending them is refused
            if name == "add_time":
                body[name] = api_datetime(value)
            elif name in NOTE_PINS:
                body[name] = 1 if _bool(value) is True else 0
            elif name.endswith("_id") and name != "lead_id":
                body[name] = _as_int(value)
            else:
                body[name] = plain(value)
        resolve_names("notes", record, body, self.directory)
        return body

    def resolve_references(self, body: dict[str, Any], resolve: Resolve) -> None:
        for name, stream in (
            ("deal_id", "deals"),
            ("person_id", "persons"),
            ("org_id", "organizations"),
        ):
            if body.get(name) is not None:
                body[name] = _as_int(resolve(name, stream, body[name]))

    def key_getter(self, name: str) -> Callable[[Mapping[str, Any]], list[Any]]:
        if name not in NOTE_WRITABLE:
            raise TargetSetupError(f"match_keys.notes: '{name}' is not a field of Pipedrive notes")
        return lambda data: [data.get(name)]

    def fetch(self, crm_id: str) -> dict[str, Any] | None:
        body = self.account.get_json(f"{self.path}/{_numeric(crm_id)}", data="record")
        data = (body or {}).get("data")
        if not data or data.get("active_flag") is False:
            return None
        return _note_as_body(data)

    def list_all(self) -> Iterator[dict[str, Any]]:
        return (_note_as_body(item) for item in self.account.iter_v1_list(self.path))

    def create(self, body: dict[str, Any]) -> Created:
        return Created(self.account.create(self.path, body, lambda: self.find_applied(body)))

    def find_applied(self, body: Mapping[str, Any]) -> str | None:
        params: dict[str, Any] = {"sort": "id DESC", "limit": 100}
        for link in ("deal_id", "person_id", "org_id"):
            if body.get(link) is not None:
                params[link] = body[link]
                break
        page = self.account.get_json(self.path, params) or {}
        for item in page.get("data") or []:
            if same(
                {k: body[k] for k in ("content", *NOTE_LINKS) if k in body}, _note_as_body(item)
            ):
                return str(item["id"])
        return None

    def update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        current = self.fetch(crm_id)
        if current is None:
            return None
        if same({k: v for k, v in body.items() if k != "add_time"}, current):
            return "unchanged"
        response = self.account.write("PUT", f"{self.path}/{_numeric(crm_id)}", body)
        return None if response.status_code in (404, 410) else "updated"


def _note_as_body(item: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 note with pin flags as 0/1, like the body we send."""
    out = dict(item)
    for pin in NOTE_PINS:
        if pin in out and isinstance(out[pin], bool):
            out[pin] = int(out[pin])
    return out


class Followers(EntityWriter):
    """``<entity>_followers`` records ``{<parent>_id, user_id}`` -> POST .../{id}/followers."""

    id_field = "user_id"
    is_link = True

    def __init__(self, account: PipedriveDestination, stream: str) -> None:
        self.account = account
        self.stream = stream
        self.parent_path, self.parent_field, self.parent_stream = FOLLOWERS[stream]
        self.required = ((self.parent_field,), ("user_id",))

    def crm_id_of(self, record: Mapping[str, Any]) -> str | None:
        return None  # a follower has no id of its own; (parent, user) is the identity

    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        body = {}
        for name in (self.parent_field, "user_id"):
            if record.get(name) is not None:
                body[name] = _as_int(record[name])
        return body

    def resolve_references(self, body: dict[str, Any], resolve: Resolve) -> None:
        if body.get(self.parent_field) is not None:
            body[self.parent_field] = _as_int(
                resolve(self.parent_field, self.parent_stream, body[self.parent_field])
            )

    def key_getter(self, name: str) -> Callable[[Mapping[str, Any]], list[Any]]:
        raise TargetSetupError(
            f"match_keys.{self.stream}: followers need no match key ({self.parent_field} and "
            "user_id identify them)"
        )

    def _followers_path(self, body: Mapping[str, Any]) -> str:
        return f"{self.parent_path}/{int(body[self.parent_field])}/followers"

    def _is_following(self, body: Mapping[str, Any]) -> bool:
        path = self._followers_path(body)
        if self.account.get_json(path, {"limit": 1}) is None:
            raise RefusedError(f"no {self.parent_stream} record with id {body[self.parent_field]}")
        return any(
            _as_int(item.get("user_id")) == body["user_id"] for item in self.account.iter_list(path)
        )

    def link(self, body: dict[str, Any], *, dry_run: bool) -> str:
        if self._is_following(body):
            return "unchanged"
        if dry_run:
            return "created"

        def applied() -> str | None:
            return "applied" if self._is_following(body) else None

        result = self.account.post_once(
            self._followers_path(body),
            {"user_id": body["user_id"]},
            applied,
            attempts=self.account.policy.tries,
        )
        if isinstance(result, requests.Response) and result.status_code >= 400:
            if result.status_code == 400 and self._is_following(body):
                return "unchanged"  # added meanwhile: v2 answers 400 for an existing follower
            PipedriveDestination._raise_for_record(result)
        if isinstance(result, requests.Response):
            _envelope(result, "object", maybe_applied=True)
        return "created"

    def fetch(self, crm_id: str) -> dict[str, Any] | None:  # pragma: no cover - links only
        return None

    def list_all(self) -> Iterator[dict[str, Any]]:  # pragma: no cover - links only
        return iter(())

    def create(self, body: dict[str, Any]) -> Created:  # pragma: no cover - links only
        raise NotImplementedError

    def update(self, crm_id: str, body: dict[str, Any]) -> str | None:  # pragma: no cover
        raise NotImplementedError


def writers(config: Mapping[str, Any], *, pool_size: int) -> Callable[[str], EntityWriter]:
    """A factory of this provider's writers (one account shared by all of them)."""
    account = PipedriveDestination(config, pool_size=pool_size)
    made: dict[str, EntityWriter] = {}
    lock = threading.Lock()

    def writer(stream: str) -> EntityWriter:
        with lock:
            if stream not in made:
                if stream in ENTITIES:
                    made[stream] = EntityV2(account, stream)
                elif stream == "notes":
                    made[stream] = Notes(account)
                else:
                    made[stream] = Followers(account, stream)
            return made[stream]

    return writer
