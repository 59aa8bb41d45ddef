"""Onpipeline entities -> *Add / *Change calls (seed 002).

Every write is ``POST <api_url>/<Resource>`` with a JSON body; numbers travel as text
("1000.00", "50"), ids as text, custom fields as ``Extra: [{"ID", "Value"}]``. The API's own
verdicts are part of the contract: 406 on a *Change that changes nothing (counted as
unchanged), 409 on an OrgAdd whose OrgName + Postcode already exist (turned into an update of
that organization). There is no NoteChange: notes can be added, not edited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from crm_api import onpipeline as api
from crm_api.governor import RequestBudget
from crm_api.retry import OutcomeUnknownError, UnrecoverableError, settle_seconds, write_once
from target_crm.entities import Created, EntityWriter, RefusedError, Resolve, TargetSetupError
from target_crm.onpipeline_writes import migration_writer
from target_crm.values import plain, same

logger = logging.getLogger("target-crm.onpipeline")


@dataclass(frozen=True)
class Spec:
    add: str
    change: str | None
    list: str
    id_field: str
    add_fields: frozenset[str]
    change_fields: frozenset[str]
    required: tuple[tuple[str, ...], ...]
    references: Mapping[str, str] = field(default_factory=dict)
    table: str | None = None  # ListCustomFields table
    lookup: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None  # filter to re-find


def _person_lookup(body: Mapping[str, Any]) -> dict[str, Any]:
    name = " ".join(str(body.get(k) or "") for k in ("FirstName", "LastName")).strip()
    return {"Fullname": name} if name else {}


ENTITIES: dict[str, Spec] = {
    "persons": Spec(
        "PersonAdd",
        "PersonChange",
        "PersonList",
        "PersonID",
        frozenset({"FirstName", "LastName", "Phone", "Email", "OrgID", "Extra"}),
        frozenset({"FirstName", "LastName", "Phone", "Email", "OrgID", "Extra"}),
        required=(("FirstName",), ("LastName",)),
        references={"OrgID": "organizations"},
        table="Persons",
        lookup=_person_lookup,
    ),
    "organizations": Spec(
        "OrgAdd",
        "OrgChange",
        "OrgList",
        "OrgID",
        frozenset(
            {"OrgName", "Address1", "Address2", "Postcode", "City", "Region", "Country", "Extra"}
        ),
        frozenset(
            {
                "OrgName",
                "Address1",
                "Address2",
                "Postcode",
                "City",
                "Region",
                "Country",
                "FullAddress",
                "Extra",
            }
        ),
        required=(("OrgName",),),
        table="Organizations",
        lookup=lambda body: {"OrgName": body["OrgName"]} if body.get("OrgName") else {},
    ),
    "deals": Spec(
        "DealAdd",
        "DealChange",
        "DealsList",
        "DealID",
        frozenset(
            {
                "DealName",
                "Value",
                "Probability",
                "PipelineID",
                "StageID",
                "OwnerID",
                "LinkedPersonID",
                "LinkedOrgID",
                "Involved",
                "ExpClosing",
                "Products",
                "Extra",
            }
        ),
        frozenset(
            {
                "DealName",
                "Status",
                "Value",
                "Probability",
                "StageID",
                "OwnerID",
                "LinkedPersonID",
                "LinkedOrgID",
                "Involved",
                "ExpClosing",
                "Products",
                "Extra",
            }
        ),
        required=(("DealName",), ("PipelineID",), ("StageID",), ("OwnerID",)),
        references={"LinkedPersonID": "persons", "LinkedOrgID": "organizations"},
        table="Deals",
        lookup=lambda body: {"OwnerID": body["OwnerID"]} if body.get("OwnerID") else {},
    ),
    "notes": Spec(
        "NoteAdd",
        None,
        "NotesList",
        "NoteID",
        frozenset({"Type", "LinkedID", "Text"}),
        frozenset(),
        required=(("Type",), ("LinkedID",), ("Text",)),
        lookup=lambda body: {k: body[k] for k in ("Type", "LinkedID") if body.get(k)},
    ),
}
NOTE_TYPES = {"person": "persons", "org": "organizations", "deal": "deals"}
STREAMS = tuple(ENTITIES)
ORDER = {"organizations": 0, "persons": 1, "deals": 2}

_LIST_FIELDS = {"Email": ("Address", "Type"), "Phone": ("Number", "Type")}


def _text(value: Any) -> Any:
    """Onpipeline wants text: numbers "0.00"-style, dates YYYY-MM-DD, ids as strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return str(plain(value))
    return value


def _says_no_change(message: str) -> bool:
    """406 means "no change" on *Change, but the API also uses it for unacceptable values."""
    text = message.casefold()
    return any(word in text for word in ("change", "same", "current", "identical"))


def _money(value: Any) -> Any:
    try:
        return f"{Decimal(str(value)):.2f}" if value not in (None, "") else value
    except InvalidOperation:
        return value


def _integer_text(value: Any) -> Any:
    try:
        return str(int(Decimal(str(value)))) if value not in (None, "") else value
    except InvalidOperation:
        return value


@dataclass(frozen=True)
class _Answer:
    """What an *Add call answered (its Data), as opposed to an id a lookup found."""

    data: Any


class OnpipelineAccount:
    """One Onpipeline account: the shared client, custom fields, pipelines."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = dict(config)
        self.client = self._new_client(None)  # checks the settings now (api_url, token)
        self._local = threading.local()
        self._fields: dict[str, dict[str, str]] = {}
        self._fields_failed: dict[str, str] = {}  # table -> the line its read ended with
        self._pipelines: list[dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()

    @property
    def max_tries(self) -> int:
        """Tries per request: the user's ``max_request_tries`` (the client's retry policy)."""
        return self.client.max_tries

    def _new_client(self, budget: RequestBudget | None) -> api.OnpipelineClient:
        # The target sends no account-local datetimes (dates only), and it has no `timezone`
        # setting a warning could point at: no clock-versus-zone check.
        return api.OnpipelineClient.from_config(self._config, timezone_setting=None, budget=budget)

    def _client(self) -> api.OnpipelineClient:
        """One client (and ``requests`` session) per thread, all on the one request budget."""
        client: api.OnpipelineClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client(self.client.budget)
        return client

    def call(self, resource: str, payload: Mapping[str, Any], *, idempotent: bool = True) -> Any:
        """One call; account-wide failures become :class:`UnrecoverableError`, the rest stay typed.

        An answer that is not the documented envelope is never a success: on a read or an
        update it ends the load (one line naming the resource and what was wrong); on a
        create the record may have been added, so it is looked for before any resend.
        """
        try:
            return self._client().call(resource, payload, idempotent=idempotent)
        except (api.OnpipelineAuthError, api.OnpipelineBudgetSpentError) as exc:
            raise UnrecoverableError(str(exc)) from None
        except (api.OnpipelineRetriableError, api.OnpipelineResponseError) as exc:
            if idempotent or isinstance(exc, api.OnpipelineRateLimitError):
                raise UnrecoverableError(str(exc)) from None
            timed_out = "Timeout" in exc.message  # the server may still apply it: wait first
            settle = settle_seconds(self.client.timeout) if timed_out else 0.0
            raise OutcomeUnknownError(str(exc), settle) from None

    def call_list(self, resource: str, payload: Mapping[str, Any]) -> list[Any]:
        """A list resource's records, the envelope checked (see :meth:`call`)."""
        try:
            return self._client().call_list(resource, payload)
        except (
            api.OnpipelineAuthError,
            api.OnpipelineBudgetSpentError,
            api.OnpipelineRetriableError,
            api.OnpipelineResponseError,
        ) as exc:
            raise UnrecoverableError(str(exc)) from None

    def custom_fields(self, table: str) -> dict[str, str]:
        """Readable column name (as the tap emits it) -> custom-field ID.

        Read once per table; a read that failed (every try spent) is not tried again by the
        next record or writer thread: the load ends on that one failure, after
        ``max_request_tries`` requests, not that many per record in flight.
        """
        with self._lock:
            if table in self._fields_failed:
                raise UnrecoverableError(self._fields_failed[table])
            if table not in self._fields:
                try:
                    items = self.call_list("ListCustomFields", {"Table": table})
                except UnrecoverableError as exc:
                    self._fields_failed[table] = str(exc)
                    raise
                columns = api.custom_field_columns(items)
                self._fields[table] = {name: fid for fid, name in columns.items()}
            return self._fields[table]

    def pipelines(self) -> list[dict[str, Any]]:
        """``PipelineList``, read once: pipelines with their stages."""
        with self._lock:
            if self._pipelines is not None:
                return self._pipelines
        pipelines = [dict(p) for p in self.call_list("PipelineList", {})]
        with self._lock:
            self._pipelines = pipelines
        return pipelines

    def warn_once(self, stream: str, name: str, why: str) -> None:
        with self._lock:
            if (stream, name) in self._warned:
                return
            self._warned.add((stream, name))
        logger.info("%s: field '%s' %s; it is not sent", stream, name, why)


class Entity(EntityWriter):
    def __init__(self, account: OnpipelineAccount, stream: str) -> None:
        self.account = account
        self.stream = stream
        self.spec = ENTITIES[stream]
        self.id_field = self.spec.id_field
        self.required = self.spec.required
        self.updatable = self.spec.change is not None

    @cached_property
    def _custom(self) -> dict[str, str]:
        """Custom field by readable name or by ID -> ID."""
        if not self.spec.table:
            return {}
        names = self.account.custom_fields(self.spec.table)
        return {**{fid: fid for fid in names.values()}, **names}

    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        spec = self.spec
        writable = spec.add_fields | spec.change_fields
        body: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for item in record.get("Extra") or []:
            if isinstance(item, Mapping) and item.get("ID") is not None:
                extra[str(item["ID"])] = item.get("Value")
        for name, value in record.items():
            if name in (spec.id_field, "Extra") or name.startswith("_sdc_"):
                continue
            if name in writable:
                body[name] = self._value(name, value)
            elif name in ("Pipeline", "Stage") and self.stream == "deals":
                continue  # names (as DealsList gives them): turned into ids below
            elif name in ("email", "phone") and self.stream == "persons":
                key = name.capitalize()
                body.setdefault(key, self._value(key, value))
            elif name in self._custom:
                extra[self._custom[name]] = value
            else:
                self.account.warn_once(self.stream, name, "is not writable through the API")
        if self.stream == "deals":
            self._pipeline_ids(record, body)
        if extra:
            body["Extra"] = [
                {"ID": fid, "Value": _text(v) if v is not None else ""} for fid, v in extra.items()
            ]
        return {k: v for k, v in body.items() if v is not None}

    def _pipeline_ids(self, record: Mapping[str, Any], body: dict[str, Any]) -> None:
        """PipelineID/StageID from the ``Pipeline``/``Stage`` names DealsList (and the tap) give."""
        pipeline_name, stage_name = record.get("Pipeline"), record.get("Stage")
        if not pipeline_name or (
            body.get("PipelineID") and (body.get("StageID") or not stage_name)
        ):
            return
        wanted = str(pipeline_name).strip().casefold()
        found = [
            p
            for p in self.account.pipelines()
            if str(p.get("PipelineName", "")).strip().casefold() == wanted
        ]
        if len(found) != 1:
            raise RefusedError(f"Pipeline '{pipeline_name}': {len(found)} pipelines have that name")
        body.setdefault("PipelineID", str(found[0].get("PipelineID")))
        if stage_name and not body.get("StageID"):
            stage = str(stage_name).strip().casefold()
            ids = [
                s.get("ID")
                for s in found[0].get("Stages") or []
                if str(s.get("Name", "")).strip().casefold() == stage
            ]
            if len(ids) != 1:
                raise RefusedError(
                    f"Stage '{stage_name}' is not one stage of pipeline '{pipeline_name}'"
                )
            body["StageID"] = str(ids[0])

    def _value(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in _LIST_FIELDS:
            first, kind = _LIST_FIELDS[name]
            items = value if isinstance(value, list) else [value]
            out = []
            for item in items:
                if isinstance(item, Mapping):
                    out.append({k: _text(v) for k, v in item.items() if k in (first, kind)})
                elif item not in (None, ""):
                    out.append({first: str(item), kind: "work"})
            return out
        if name == "Value":
            return _money(value)
        if name == "Probability":
            return _integer_text(value)
        if name == "Involved" or name == "Products":
            return [str(_text(v)) for v in (value if isinstance(value, list) else [value])]
        if name == "ExpClosing" and isinstance(value, datetime):
            return value.date().isoformat()
        if name == "Type" and self.stream == "notes":
            return str(value).lower()
        return _text(value)

    def resolve_references(self, body: dict[str, Any], resolve: Resolve) -> None:
        for name, stream in self.spec.references.items():
            if body.get(name):
                body[name] = str(resolve(name, stream, body[name]))
        if self.stream == "deals" and body.get("Involved"):
            body["Involved"] = [str(resolve("Involved", "persons", v)) for v in body["Involved"]]
        if self.stream == "notes" and body.get("LinkedID"):
            linked = NOTE_TYPES.get(str(body.get("Type") or ""))
            if linked is None:
                raise RefusedError(
                    f"note Type must be one of {sorted(NOTE_TYPES)}, not {body.get('Type')!r}"
                )
            body["LinkedID"] = str(resolve("LinkedID", linked, body["LinkedID"]))

    def key_getter(self, name: str) -> Callable[[Mapping[str, Any]], list[Any]]:
        if self.stream == "persons" and name.lower() in ("email", "phone"):
            key = name.capitalize()
            first = _LIST_FIELDS[key][0]
            return lambda data: [
                i.get(first) for i in data.get(key) or [] if isinstance(i, Mapping)
            ]
        if name in self.spec.add_fields | self.spec.change_fields and name != "Extra":
            return lambda data: [data.get(name)]
        fid = self._custom.get(name)
        if fid is None:
            raise TargetSetupError(
                f"match_keys.{self.stream}: '{name}' is neither a field nor a custom field of "
                f"Onpipeline {self.stream}"
            )

        def custom(data: Mapping[str, Any]) -> list[Any]:
            return [
                item.get("Value")
                for item in data.get("Extra") or []
                if isinstance(item, Mapping) and str(item.get("ID")) == fid
            ]

        return custom

    def _list(self, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            data = self.account.call_list(self.spec.list, payload)
        except api.OnpipelineError as exc:
            if exc.code == "404":
                return []
            raise RefusedError(
                f"Onpipeline {self.spec.list} failed", api_message=exc.message
            ) from None
        return [dict(item) for item in data]

    def fetch(self, crm_id: str) -> dict[str, Any] | None:
        if self.stream == "notes":
            return None  # NotesList cannot filter by NoteID
        for item in self._list({self.spec.id_field: crm_id}):
            if (
                str(item.get(self.spec.id_field)) == str(crm_id)
                and str(item.get("Status")) != "deleted"
            ):
                return item
        return None

    def list_all(self) -> Iterator[dict[str, Any]]:
        return iter(self._list({}))

    def create(self, body: dict[str, Any]) -> Created:
        payload = {k: v for k, v in body.items() if k in self.spec.add_fields}
        tries = self.account.max_tries
        sent = 0

        def send() -> Any:
            nonlocal sent
            sent += 1
            try:
                # Wrapped: an answer's Data is never mistaken for the id a lookup found
                # (a `"Data": "oops"` is not a PersonID).
                return _Answer(self.account.call(self.spec.add, payload, idempotent=False))
            except api.OnpipelineError as exc:
                return exc
            except OutcomeUnknownError as exc:
                if sent < tries:
                    raise
                found = self._find_applied(payload)
                if found is not None:
                    return found
                raise UnrecoverableError(
                    f"{exc}: no clear answer after {tries} tries (max_request_tries) and the "
                    f"record is not in the CRM yet; run again to write it"
                ) from None

        find = lambda: self._find_applied(payload)  # noqa: E731
        result = write_once(send, find, attempts=tries, pause=self.account.client.pause)
        if isinstance(result, str):
            return Created(result)
        if isinstance(result, api.OnpipelineError):
            if result.code == "409" and self.stream == "organizations":
                return self._update_duplicate(body, result)
            raise RefusedError(
                f"Onpipeline {self.spec.add} refused it ({result.code})",
                api_message=result.message,
                status=int(result.code) if result.code.isdigit() else None,
            )
        answer = result.data if isinstance(result, _Answer) else result
        data = answer if isinstance(answer, Mapping) else {}
        new_id = data.get(self.spec.id_field) or data.get("ID")
        if not new_id or not isinstance(new_id, str | int):
            # A success without the new id: it was probably added, so look before refusing.
            found = self._find_applied(payload)
            if found is not None:
                logger.warning(
                    "%s: Onpipeline %s answered without the new %s (Data: %s); found the "
                    "record it added: %s",
                    self.stream,
                    self.spec.add,
                    self.spec.id_field,
                    api.describe_value(answer),
                    found,
                )
                return Created(found)
            raise RefusedError(
                f"Onpipeline {self.spec.add} answered without the new {self.spec.id_field} "
                f"(Data: {api.describe_value(answer)}) and the record cannot be found; check "
                "the CRM before loading it again"
            )
        return Created(str(new_id))

    def _update_duplicate(self, body: dict[str, Any], error: api.OnpipelineError) -> Created:
        """409 on OrgAdd: OrgName + Postcode exist already; update that organization."""
        wanted = {k: body.get(k) for k in ("OrgName", "Postcode")}
        matches = [
            item
            for item in self._list({k: v for k, v in wanted.items() if v})
            if all(
                str(item.get(k) or "").casefold() == str(v or "").casefold()
                for k, v in wanted.items()
            )
        ]
        if len(matches) != 1:
            raise RefusedError(
                f"OrgAdd answered 409 (duplicate) and {len(matches)} organizations have that "
                "OrgName and Postcode",
                api_message=error.message,
                status=409,
            )
        crm_id = str(matches[0]["OrgID"])
        outcome = self.update(crm_id, body) or "unchanged"
        return Created(crm_id, outcome)

    def find_applied(self, body: dict[str, Any]) -> str | None:
        """A create a stopped run left in flight (see ``EntityWriter.find_applied``)."""
        return self._find_applied({k: v for k, v in body.items() if k in self.spec.add_fields})

    def _find_applied(self, payload: Mapping[str, Any]) -> str | None:
        if self.spec.lookup is None:
            return None
        filters = self.spec.lookup(payload)
        if not filters:
            return None
        for item in reversed(self._list(filters)):
            # what the list shows of what we sent (it shows no PipelineID/StageID, no Extra ids)
            wanted = {k: v for k, v in payload.items() if k != "Extra" and k in item}
            if wanted and same(wanted, item):
                found = item.get(self.spec.id_field)
                return str(found) if found else None
        return None

    def update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        if self.spec.change is None:
            raise RefusedError(
                f"Onpipeline has no way to change existing {self.stream} once written"
            )
        payload = {k: v for k, v in body.items() if k in self.spec.change_fields}
        dropped = sorted(set(body) - set(payload))
        if dropped:
            logger.debug("%s: %s cannot change %s", self.stream, self.spec.change, dropped)
        if not payload:
            return "unchanged"
        try:
            self.account.call(self.spec.change, {self.spec.id_field: crm_id, **payload})
        except api.OnpipelineError as exc:
            if exc.code == "406" and _says_no_change(exc.message):
                return "unchanged"  # the documented "no change made" answer
            if exc.code == "404":
                return None
            raise RefusedError(
                f"Onpipeline {self.spec.change} refused it ({exc.code})",
                api_message=exc.message,
                status=int(exc.code) if exc.code.isdigit() else None,
            ) from None
        return "updated"

    def would_update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        if self.spec.change is None:
            raise RefusedError(f"Onpipeline has no way to change existing {self.stream}")
        return super().would_update(
            crm_id, {k: v for k, v in body.items() if k in self.spec.change_fields}
        )


def writers(config: Mapping[str, Any], *, pool_size: int) -> Callable[[str], EntityWriter]:
    try:
        account = OnpipelineAccount(config)
    except api.OnpipelineConfigError as exc:
        raise TargetSetupError(str(exc)) from None
    made: dict[str, EntityWriter] = {}
    lock = threading.Lock()

    def writer(stream: str) -> EntityWriter:
        with lock:
            if stream not in made:
                made[stream] = migration_writer(account, Entity(account, stream))
            return made[stream]

    return writer
