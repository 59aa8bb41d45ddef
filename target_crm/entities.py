"""What every writable entity offers the sink, whatever the provider.

A provider module (``target_crm.pipedrive``, ``target_crm.onpipeline``) gives one
:class:`EntityWriter` per writable stream. The sink (``target_crm.sinks``) owns the decision
"update this id, or look it up, or create", and asks the writer only for provider facts:
the API body for a record, how to read a match key, how to fetch, list, create and update.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from target_crm.values import key_text

Resolve = Callable[[str, str, Any], Any]
"""``resolve(field, referenced_stream, value)`` -> the CRM id to send for a reference."""


class RefusedError(Exception):
    """This record cannot be written; the load goes on and the record is reported."""

    def __init__(self, reason: str, *, api_message: str | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.api_message = api_message
        self.status = status


class WaitError(Exception):
    """A reference points at a record this load has not written yet: try again at the end."""


class TargetSetupError(Exception):
    """A setting or an input stream the target cannot work with; one line says what to change."""


@dataclass
class Created:
    crm_id: str
    outcome: str = "created"  # Onpipeline's 409 turns a create into "updated"/"unchanged"


class EntityWriter(abc.ABC):
    """One writable stream of one provider."""

    stream: str
    id_field: str  # the field of a record that holds the CRM's own id
    required: Sequence[Sequence[str]] = ()  # API fields a create needs; inner = "one of"
    updatable: bool = True
    is_link: bool = False  # a relation (a follower) rather than a record with its own id
    # True when a record as ``list_all`` gives it can stand for ``fetch``'s answer, so an
    # update after a listing needs no GET first (see :meth:`update_known`).
    compares_listed: bool = False

    @abc.abstractmethod
    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The API fields for what ``record`` carries (only those: updates are partial)."""

    def resolve_references(self, body: dict[str, Any], resolve: Resolve) -> None:  # noqa: B027
        """Replace ids of other records in ``body`` by what ``resolve`` returns."""

    @abc.abstractmethod
    def key_getter(self, field: str) -> Callable[[Mapping[str, Any]], list[Any]]:
        """Read match-key ``field`` (a record field name) from an API-shaped dict.

        Works on a body and on a record the API returned, so both sides compare alike.
        Raises :class:`TargetSetupError` for a field the entity does not have.
        """

    @abc.abstractmethod
    def fetch(self, crm_id: str) -> dict[str, Any] | None:
        """The CRM's record, or None when it does not exist."""

    @abc.abstractmethod
    def list_all(self) -> Iterator[dict[str, Any]]:
        """Every record of the entity (to index match keys)."""

    @abc.abstractmethod
    def create(self, body: dict[str, Any]) -> Created:
        """Create once (a lost answer is checked for before anything is resent)."""

    @abc.abstractmethod
    def update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        """``"updated"`` or ``"unchanged"``; None when the record does not exist."""

    def update_known(
        self, crm_id: str, body: dict[str, Any], current: dict[str, Any]
    ) -> str | None:
        """:meth:`update` when the record's current state is known (listed this run): only
        what differs is sent. Writers that cannot compare a listed record fetch as usual."""
        return self.update(crm_id, body)

    def find_applied(self, body: dict[str, Any]) -> str | None:
        """The CRM id of a record equal to ``body`` written lately (a create whose answer was
        lost, or that a killed run left in flight), or None: not found, or cannot tell."""
        return None

    def would_update(self, crm_id: str, body: dict[str, Any]) -> str | None:
        """Dry run: what :meth:`update` would answer, without writing."""
        from target_crm.values import same

        current = self.fetch(crm_id)
        if current is None:
            return None
        return "unchanged" if same(body, current) else "updated"

    def link(self, body: dict[str, Any], *, dry_run: bool) -> str:
        """For relations: ``"created"`` or ``"unchanged"`` (already linked)."""
        raise NotImplementedError

    def crm_id_of(self, record: Mapping[str, Any]) -> str | None:
        value = record.get(self.id_field)
        if value is None or value == "":
            return None
        return str(value)

    def missing_required(self, body: Mapping[str, Any]) -> list[str]:
        return [
            " or ".join(group)
            for group in self.required
            if not any(_present(body.get(name)) for name in group)
        ]


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != []


class MatchIndex:
    """Match-key values -> CRM ids of one entity, listed once per run, kept current by creates.

    Matching reads the whole entity once (cheap on both APIs: Pipedrive lists 500 per request,
    Onpipeline returns a list in one call) instead of one search per record, which the
    Pipedrive search limits (10 requests per 2 s) would make the slowest part of a load.
    Keys compare as trimmed, case-folded text. Per-key locks make "look up, then create"
    atomic, so two records with the same key in one load never both create.

    With ``keep_listed`` the listed records are kept too (as compact JSON, a fraction of the
    dicts' size): an update compares against them instead of fetching the record first, so
    an update by match key costs its PATCH only, and an unchanged record nothing. A record
    this run changed is dropped from them (:meth:`changed`); the next update of it fetches.
    """

    def __init__(
        self, fields: Sequence[str], getters: Sequence[Callable[[Mapping[str, Any]], list[Any]]]
    ) -> None:
        self.fields = tuple(fields)
        self._getters = list(getters)
        self._ids: dict[tuple[str, ...], set[str]] | None = None
        self._listed: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}

    def keys_of(self, data: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """Every key ``data`` has: one per value of a multi-valued field (emails)."""
        per_field = []
        for getter in self._getters:
            values = sorted({text for v in getter(data) if (text := key_text(v)) is not None})
            if not values:
                return []
            per_field.append(values)
        return [tuple(combo) for combo in itertools.product(*per_field)]

    def load(
        self,
        records: Callable[[], Iterator[dict[str, Any]]],
        id_of: Callable[[dict[str, Any]], str],
        *,
        keep_listed: bool = False,
    ) -> None:
        with self._lock:
            if self._ids is not None:
                return
            ids: dict[tuple[str, ...], set[str]] = {}
            listed: dict[str, bytes] = {}
            for record in records():
                crm_id = id_of(record)
                for key in self.keys_of(record):
                    ids.setdefault(key, set()).add(crm_id)
                if keep_listed:
                    listed[crm_id] = json.dumps(record, separators=(",", ":")).encode()
            self._ids, self._listed = ids, listed

    def listed(self, crm_id: str) -> dict[str, Any] | None:
        """The record as this run listed it, unless this run changed it since (or never saw it)."""
        with self._lock:
            text = self._listed.get(crm_id)
        if text is None:
            return None
        record: dict[str, Any] = json.loads(text)
        return record

    def changed(self, crm_id: str) -> None:
        """``crm_id`` was written: what the listing showed of it is no longer true."""
        with self._lock:
            self._listed.pop(crm_id, None)

    def lookup(self, keys: Sequence[tuple[str, ...]]) -> set[str]:
        with self._lock:
            assert self._ids is not None, "load() first"
            found: set[str] = set()
            for key in keys:
                found |= self._ids.get(key, set())
            return found

    def add(self, keys: Sequence[tuple[str, ...]], crm_id: str) -> None:
        with self._lock:
            if self._ids is None:
                return
            for key in keys:
                self._ids.setdefault(key, set()).add(crm_id)

    @contextlib.contextmanager
    def locked(self, keys: Sequence[tuple[str, ...]]) -> Iterator[None]:
        """Hold the locks of ``keys`` (in a fixed order, so two records never deadlock)."""
        with self._lock:
            locks = [self._key_locks.setdefault(key, threading.Lock()) for key in sorted(set(keys))]
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            yield
