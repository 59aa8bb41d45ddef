"""One sink per stream: validate -> match -> create or update -> report.

The SDK buffers records per stream (``BatchSink``) and drains a sink when it is full or at
the end of the input. A drain sends the batch through a bounded thread pool shared by every
sink of the run, so several requests are in flight while the shared request budget keeps
the rate within the API's limit. Records that share an identity (CRM id or source key) are
written one after another in input order; records that share a match key wait for each
other's "look up, then create" (see :class:`~target_crm.entities.MatchIndex`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time as clock
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from singer_sdk import BatchSink
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator

from crm_api.retry import UnrecoverableError
from target_crm.entities import (
    EntityWriter,
    MatchIndex,
    RefusedError,
    TargetSetupError,
    WaitError,
)
from target_crm.idmap import IdMap, WaitingRoom
from target_crm.report import Report
from target_crm.values import plain

if TYPE_CHECKING:
    from singer_sdk import Target

INVALID = "_target_crm_invalid"  # set on a record that failed validation; never sent
ABSENT_KEYS = "_target_crm_absent_keys"  # key properties the record lacks (put back as absent)
UNRESOLVED = "\0unresolved reference"  # stands for a reference no CRM id exists for
logger = logging.getLogger("target-crm")


class KeepingValidator(BaseJSONSchemaValidator):
    """The SDK's JSON Schema validation, but a bad record is kept for the report, not raised.

    With the SDK's own validator an invalid record either ends the run without draining what
    was buffered, or (with ``fail_on_record_validation_exception = False``) is logged with a
    traceback and sent on. Here the problem is remembered and the record emptied, so the
    SDK's date parsing that follows cannot choke on it; ``preprocess_record`` puts it back
    with its reason.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema)
        self._inner = JSONSchemaValidator(schema, validate_formats=True)  # bad schema: raises
        self._dates = {
            name: prop.get("format")
            for name, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, Mapping) and _date_format(prop)
        }
        self.problem: tuple[str, dict[str, Any]] | None = None

    def validate(self, record: dict[str, Any]) -> None:
        self.problem = None
        try:
            self._inner.validate(record)
        except InvalidRecord as exc:
            problem: str | None = str(exc.args[0]) if exc.args else "invalid record"
        else:
            problem = self._bad_date(record)
        if problem:
            self.problem = (problem, dict(record))
            record.clear()

    def _bad_date(self, record: Mapping[str, Any]) -> str | None:
        parsers: dict[str, Callable[[str], Any]] = {
            "date-time": datetime.fromisoformat,
            "date": date.fromisoformat,
            "time": time.fromisoformat,
        }
        for name, fmt in self._dates.items():
            value = record.get(name)
            if isinstance(value, str):
                try:
                    parsers[str(fmt)](value)
                except ValueError:
                    return f"'{value}' in field '{name}' is not a valid {fmt}"
        return None


def _date_format(prop: Mapping[str, Any]) -> str | None:
    for option in [prop, *(prop.get("anyOf") or [])]:
        kind = option.get("type", [])
        if "string" in (kind if isinstance(kind, list) else [kind]) and option.get("format") in {
            "date-time",
            "date",
            "time",
        }:
            return str(option["format"])
    return None


@dataclass
class Run:
    """What every sink of one target run shares (all of it thread-safe)."""

    provider: str
    writer_for: Callable[[str], EntityWriter]
    order: Mapping[str, int]
    idmap: IdMap
    report: Report
    waiting: WaitingRoom
    executor: ThreadPoolExecutor
    write_mode: str = "upsert"
    dry_run: bool = False
    record_ids: str = "crm"
    match_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    settle_seconds: float = 120.0  # how long a create left in flight may still land
    grace_seconds: float = 10.0  # how long a signal lets the writes in flight finish
    settling: set[tuple[str, str]] = field(default_factory=set)  # waiting records in flight
    # Set on a signal or a failure that ends the load: no record starts being written after.
    stopping: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False  # writes were still in flight when the run stopped waiting
    _indexes: dict[str, MatchIndex] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _dry_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _said_wait: float = 0.0

    def index(self, stream: str, writer: EntityWriter) -> MatchIndex | None:
        fields = self.match_keys.get(stream)
        if not fields:
            return None
        with self._lock:
            if stream not in self._indexes:
                getters = [writer.key_getter(name) for name in fields]
                self._indexes[stream] = MatchIndex(fields, getters)
            return self._indexes[stream]

    def still_waiting(self, stream: str, source_key: str) -> bool:
        with self._lock:
            if (stream, source_key) in self.settling:
                return True
        return self.waiting.has(stream, source_key)

    def dry_run_id(self) -> str:
        with self._lock:
            return f"dry-run-{next(self._dry_ids)}"

    def until_landed(self, sent_at: float | None) -> None:
        """Wait until a create sent at ``sent_at`` (by a run that died) had time to land."""
        if sent_at is None:
            return
        deadline = sent_at + self.settle_seconds
        left = deadline - clock.time()
        if left > 0:
            with self._lock:
                said, self._said_wait = self._said_wait, max(self._said_wait, deadline)
            if deadline > said:
                logger.info("waiting %.0f s for creates a stopped run left in flight to land", left)
            self.stopping.wait(left)


class CRMSink(BatchSink):
    """Writes one stream's records into the CRM."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.run: Run = target.run  # type: ignore[attr-defined]
        self.writer = self.run.writer_for(stream_name)
        self.match = self.run.index(stream_name, self.writer)

    # --- validation: keep bad records for the report -----------------------------------

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        # The SDK asks once, in Sink.__init__, and validates every record with the answer.
        self.keeping_validator = KeepingValidator(self.schema) if self.validate_schema else None
        return self.keeping_validator

    def preprocess_record(self, record: dict, context: dict) -> dict:
        validator = self.keeping_validator
        if isinstance(validator, KeepingValidator) and validator.problem is not None:
            problem, original = validator.problem
            validator.problem = None
            record = {**original, INVALID: problem}
        return self._check_keys(record)

    def _check_keys(self, record: dict[str, Any]) -> dict[str, Any]:
        """Key properties the record lacks: a CRM id means "not in the CRM yet" (match or
        create); a source key is a rejected record (it could not be found on a re-run).

        The SDK ends the whole load on a record missing a key property; the absent ones are
        set to None for its check and removed again in ``process_record``.
        """
        absent = [name for name in self.key_properties if name not in record]
        if absent:
            record = {**record, **dict.fromkeys(absent), ABSENT_KEYS: absent}
        if INVALID in record:
            return record
        missing = [
            name
            for name in self._source_key_names()
            if name in self.key_properties and record.get(name) in (None, "")
        ]
        if missing:
            record[INVALID] = (
                f"no value for key property {', '.join(missing)} (its SCHEMA's key_properties): "
                "a record without its key cannot be told apart from the others on the next run"
            )
        return record

    def process_record(self, record: dict, context: dict) -> None:
        for name in record.pop(ABSENT_KEYS, ()):
            record.pop(name, None)
        super().process_record(record, context)

    # --- the batch ---------------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        self.write_records(context.get("records") or [])

    def write_records(self, records: list[dict[str, Any]], *, final: str = "") -> None:
        """Write a batch through the shared pool; return when every record is settled."""
        groups: dict[Any, list[dict[str, Any]]] = {}
        for number, record in enumerate(records):
            groups.setdefault(self._identity(record) or ("record", number), []).append(record)
        futures: list[Future[None]] = [
            self.run.executor.submit(self._write_group, group, final) for group in groups.values()
        ]
        failure: BaseException | None = None
        try:
            for future in futures:
                if future.cancelled():
                    continue
                try:
                    future.result()
                except Exception as exc:  # the load cannot go on (auth, budget ...)
                    failure = failure or exc
                    self._stop(futures, wait=False)
        except BaseException:
            # A signal (SIGTERM, SIGINT) while waiting: start nothing more, let the writes in
            # flight finish for a while (their ids reach the id map), then give up on them.
            self._stop(futures, wait=True)
            raise
        if failure is not None:
            raise failure

    def _stop(self, futures: list[Future[None]], *, wait: bool) -> None:
        run = self.run
        run.stopping.set()
        for future in futures:
            future.cancel()  # those not started yet
        if wait:
            _, running = wait_for(futures, timeout=run.grace_seconds)
            run.abandoned = run.abandoned or bool(running)

    def write_waiting(self) -> None:
        """At the end of the input: the records that waited for their references.

        Rounds repeat while they make progress. In them a reference to a record that is
        itself still waiting waits again (a person referred by another person of the load);
        one that points nowhere (a record deleted in the source) is left out. When only
        records waiting for each other are left (a cycle), the oldest is written without
        its reference, which lets the others through.
        """
        waiting, stream = self.run.waiting, self.stream_name
        pending = waiting.count(stream)
        while pending:
            for batch in waiting.take(stream):
                self._settle(batch, "end")
            left = waiting.count(stream)
            if left == pending:
                for batch in waiting.take(stream, batch=1):
                    self._settle(batch, "force")
                    break
                left = waiting.count(stream)
            pending = left

    def _settle(self, batch: list[dict[str, Any]], final: str) -> None:
        """Write waiting records; while they are in flight, others still wait for them."""
        keys = {(self.stream_name, key) for r in batch if (key := self._source_key(r))}
        with self.run._lock:
            self.run.settling |= keys
        try:
            self.write_records(batch, final=final)
        finally:
            with self.run._lock:
                self.run.settling -= keys

    def _identity(self, record: Mapping[str, Any]) -> Any:
        if INVALID in record:
            return None
        crm_id = self._crm_id(record)
        if crm_id is not None:
            return ("id", crm_id)
        source = self._source_key(record)
        return ("source", source) if source is not None else None

    def _write_group(self, records: list[dict[str, Any]], final: str) -> None:
        for record in records:
            if self.run.stopping.is_set():
                return  # the run is ending: not written, and no STATE will claim it was
            self._write_one(record, final)

    def _write_one(self, record: dict[str, Any], final: str) -> None:
        report, stream = self.run.report, self.stream_name
        problem = record.pop(INVALID, None)
        if problem is not None:
            report.reject(
                stream, record, f"invalid record: {problem}", source_key=self._source_key(record)
            )
            return
        try:
            outcome = self._decide_and_write(record, final)
        except WaitError:
            self.run.waiting.add(stream, record, self._source_key(record))
            return
        except RefusedError as refused:
            report.reject(
                stream,
                record,
                refused.reason,
                api_message=refused.api_message,
                status=refused.status,
                source_key=self._source_key(record),
            )
            return
        report.count(stream, outcome)

    # --- the decision ------------------------------------------------------------------

    def _crm_id(self, record: Mapping[str, Any]) -> str | None:
        if self.run.record_ids != "crm" or self.writer.is_link:
            return None
        return self.writer.crm_id_of(record)

    def _source_key_names(self) -> list[str]:
        """The key properties that hold the source system's key (none when they hold CRM ids)."""
        keys = list(self.key_properties)
        id_field = self.writer.id_field
        if self.run.record_ids == "source":
            keys = keys or [id_field]
        elif id_field in keys:
            return []
        if self.writer.is_link:
            return []
        return keys

    def _source_key(self, record: Mapping[str, Any]) -> str | None:
        """The source system's key: the stream's key properties, unless they hold CRM ids."""
        keys = self._source_key_names()
        if not keys:
            return None
        values = [record.get(name) for name in keys]
        if any(value is None or value == "" for value in values):
            return None
        return "|".join(str(plain(value)) for value in values)

    def _decide_and_write(self, record: dict[str, Any], final: str) -> str:
        writer = self.writer
        body = writer.body(record)
        unresolved: list[str] = []
        writer.resolve_references(body, self._resolver(final, unresolved))
        if unresolved:
            body = _without_unresolved(body)
            logger.warning(
                "%s: %s written without %s: no such record was loaded or is in the id map",
                self.stream_name,
                self._source_key(record) or "a record",
                ", ".join(unresolved),
            )
        outcome = self._write_body(record, body)
        source_key = self._source_key(record)
        if unresolved and final == "force" and source_key:
            # part of a cycle: written without the reference; it waits once more and is
            # updated when the record it refers to exists
            self.run.waiting.add(self.stream_name, record, source_key)
        return outcome

    def _write_body(self, record: dict[str, Any], body: dict[str, Any]) -> str:
        writer, run = self.writer, self.run
        if writer.is_link:
            missing = writer.missing_required(body)
            if missing:
                raise RefusedError(f"missing required field(s): {', '.join(missing)}")
            return writer.link(body, dry_run=run.dry_run)
        crm_id = self._crm_id(record)
        if crm_id is not None:
            outcome = self._update(crm_id, body)
            if outcome is None:
                raise RefusedError(f"no {self.stream_name} record with {writer.id_field} {crm_id}")
            return outcome
        source_key = self._source_key(record)
        if source_key is not None:
            mapped = run.idmap.get(self.stream_name, source_key)
            if mapped is not None:
                outcome = self._update(mapped, body)
                if outcome is not None:
                    return outcome
                logger.info(
                    "%s: %s was deleted from the CRM since it was written; writing it anew",
                    self.stream_name,
                    source_key,
                )
                run.idmap.forget(self.stream_name, source_key)
            found_id = self._left_in_flight(source_key, body)
            if found_id is not None:
                outcome = self._update(found_id, body)
                if outcome is not None:
                    self._remember(source_key, found_id)
                    return outcome
        if self.match is not None:
            keys = self.match.keys_of(body)
            if keys:
                # creates a stopped run left in flight must land before the CRM is listed
                run.until_landed(run.idmap.latest_pending(self.stream_name))
                self.match.load(
                    writer.list_all,
                    lambda item: str(item[writer.id_field]),
                    keep_listed=writer.compares_listed and not run.dry_run,
                )
                with self.match.locked(keys):
                    found = self.match.lookup(keys)
                    if len(found) > 1:
                        raise RefusedError(
                            f"match key {'+'.join(self.match.fields)} = "
                            f"{' / '.join('+'.join(k) for k in keys)} matches "
                            f"{len(found)} {self.stream_name} records "
                            f"({', '.join(sorted(found)[:5])}); not guessing which to update"
                        )
                    if found:
                        (existing,) = found
                        outcome = self._update(existing, body)
                        if outcome is not None:
                            self._remember(source_key, existing)
                            return outcome
                    return self._create(body, source_key, keys)
        return self._create(body, source_key, [])

    def _left_in_flight(self, source_key: str, body: dict[str, Any]) -> str | None:
        """The CRM id of this record when an earlier run sent its create and died before the
        answer (the create is pending in the id map), so that it is not created twice."""
        run = self.run
        sent_at = run.idmap.pending_since(self.stream_name, source_key)
        if sent_at is None or run.dry_run:
            return None
        run.until_landed(sent_at)
        found = self.writer.find_applied(_without_nulls(body))
        if found is not None:
            logger.info(
                "%s: %s was created by a run that stopped before its answer came; updating it",
                self.stream_name,
                source_key,
            )
        return found

    def _update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        """Update (or in a dry run: check) ``crm_id``; None when it does not exist."""
        run = self.run
        if run.write_mode == "create_only":
            return "unchanged"  # it exists; create_only leaves existing records alone
        if not self.writer.updatable:
            raise RefusedError(
                f"{self.stream_name} cannot be changed through the API once written "
                f"({self.writer.id_field} {crm_id})"
            )
        if crm_id.startswith("dry-run-"):
            return "updated"
        if run.dry_run:
            return self.writer.would_update(crm_id, body)
        # The listing this run made for its match keys shows the record as it is: no GET
        # before the PATCH, and none at all when nothing changed. Without it: fetch first.
        match = self.match
        current = match.listed(crm_id) if match is not None else None
        if match is None or current is None:
            return self.writer.update(crm_id, body)
        outcome = self.writer.update_known(crm_id, body, current)
        if outcome != "unchanged":
            match.changed(crm_id)
        return outcome

    def _create(
        self, body: dict[str, Any], source_key: str | None, keys: list[tuple[str, ...]]
    ) -> str:
        run = self.run
        if run.write_mode == "update_only":
            raise RefusedError("no existing record matches it, and write_mode is update_only")
        body = _without_nulls(body)  # a new record has nothing to clear; the API's defaults stand
        missing = self.writer.missing_required(body)
        if missing:
            raise RefusedError(
                f"missing required field(s) for a new {self.stream_name} record: "
                f"{', '.join(missing)}"
            )
        if run.dry_run:
            crm_id, outcome = run.dry_run_id(), "created"
        else:
            # Marked before it is sent: if this run dies with the create in flight, the next
            # one looks for it in the CRM instead of creating it again.
            pending = source_key or (f"\0match {'+'.join(keys[0])}" if keys else None)
            if pending is not None:
                run.idmap.mark_pending(self.stream_name, pending)
            try:
                created = self.writer.create(body)
            except (RefusedError, UnrecoverableError) as exc:
                if pending is not None:
                    if isinstance(exc, UnrecoverableError) and exc.maybe_applied:
                        run.idmap.mark_pending(self.stream_name, pending, answered=True)
                    else:  # the API said no: nothing was created
                        run.idmap.drop_pending(self.stream_name, pending)
                raise
            crm_id, outcome = created.crm_id, created.outcome
            if pending is not None and pending != source_key:
                run.idmap.drop_pending(self.stream_name, pending)
        self._remember(source_key, crm_id)
        if self.match is not None and keys:
            self.match.add(keys, crm_id)
        return outcome

    def _remember(self, source_key: str | None, crm_id: str) -> None:
        if source_key is not None:
            self.run.idmap.put(self.stream_name, source_key, crm_id)

    def _resolver(self, final: str, unresolved: list[str]) -> Callable[[str, str, Any], Any]:
        """References through the id map. ``final``: "" while input flows (unknown: wait),
        "end" (wait only for a record that is itself waiting), "force" (never wait)."""
        run = self.run

        def resolve(name: str, stream: str, value: Any) -> Any:
            key = str(plain(value))
            mapped = run.idmap.get(stream, key)
            if mapped is not None:
                return mapped
            if run.record_ids != "source":
                return value  # a CRM id already
            if not final or (final == "end" and run.still_waiting(stream, key)):
                raise WaitError
            unresolved.append(f"{name} {value} ({stream})")
            return UNRESOLVED

        return resolve


def check_match_keys(
    match_keys: Mapping[str, Any], writable: Sequence[str]
) -> dict[str, list[str]]:
    """``match_keys`` normalised to lists; unknown streams are a setup error."""
    out: dict[str, list[str]] = {}
    for stream, fields in (match_keys or {}).items():
        if stream not in writable:
            raise TargetSetupError(
                f"match_keys names stream '{stream}', which this provider cannot write "
                f"(writable: {', '.join(writable)})"
            )
        names = [fields] if isinstance(fields, str) else list(fields or [])
        if not names or not all(isinstance(n, str) and n for n in names):
            raise TargetSetupError(
                f"match_keys.{stream} must be a field name or a list of field names"
            )
        out[stream] = names
    return out


def _without_nulls(body: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if v is not None}
    if isinstance(out.get("custom_fields"), Mapping):
        out["custom_fields"] = {k: v for k, v in out["custom_fields"].items() if v is not None}
        if not out["custom_fields"]:
            del out["custom_fields"]
    return out


def _without_unresolved(value: Any) -> Any:
    """``value`` without the references that could not be resolved (left as they are in the
    CRM on an update; absent on a create). A list item that is such a reference, or an object
    holding one (a participant), goes too."""
    if isinstance(value, Mapping):
        return {k: _without_unresolved(v) for k, v in value.items() if v != UNRESOLVED}
    if isinstance(value, list):
        return [
            _without_unresolved(v)
            for v in value
            if v != UNRESOLVED and not (isinstance(v, Mapping) and UNRESOLVED in v.values())
        ]
    return value
