"""The account's current state: the generated records plus what the API wrote since.

A record that was changed, added or touched lives in ``overrides`` (a full internal record);
every other record is regenerated from :class:`~.data.Account` when asked for. Persons and
organisations deleted through the API are gone (``deleted``); deals are never removed, their
Status becomes "deleted" (DealUndelete restores them).
"""

from __future__ import annotations

import bisect
import copy
from array import array
from collections.abc import Iterator
from hashlib import blake2b
from typing import Any

from crm_sandbox.onpipeline.data import EPOCH_END, Account

#: The entities of the control endpoint (``/_sandbox/onpipeline/ids/<entity>``).
RECORD_KINDS = ("persons", "organizations", "deals", "events", "notes", "invoices")
NOTE_ID_BASE = 100  # NoteIDs are small numbers in the document ("115")


class Store:
    def __init__(self, account: Account) -> None:
        self.account = account
        self.generated = dict(account.counts)
        self.created: dict[str, array[int]] = {
            kind: array("q", account.created[kind]) for kind in RECORD_KINDS
        }
        self.overrides: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in RECORD_KINDS}
        self.deleted: dict[str, set[int]] = {k: set() for k in RECORD_KINDS}
        self.deal_counts = {
            kind: {status: array("l", counts) for status, counts in by_status.items()}
            for kind, by_status in account.deal_counts.items()
        }
        self.custom_fields = copy.deepcopy(account.custom_fields)
        self.users = {u["ID"]: u for u in account.users}
        self.stages = {
            s["ID"]: (p["PipelineID"], s["Name"]) for p in account.pipelines for s in p["Stages"]
        }
        self.pipelines = {p["PipelineID"]: p for p in account.pipelines}
        self.field_serial = 0
        self._ids: dict[str, dict[int, str]] = {kind: {} for kind in RECORD_KINDS}
        # The newest "modified" time among generated records: a LastUpdate window that starts
        # later only needs to look at the records written since generation.
        self.generated_modified_max = EPOCH_END

    # -- ids --

    def count(self, kind: str) -> int:
        return len(self.created[kind])

    def id_of(self, kind: str, index: int) -> str:
        ids = self._ids[kind]
        record_id = ids.get(index)
        if record_id is None:  # formatted once: deals show their person's and org's IDs
            record_id = ids[index] = self._format_id(kind, index)
        return record_id

    def _format_id(self, kind: str, index: int) -> str:
        if kind == "notes":
            return str(NOTE_ID_BASE + index)
        if kind == "invoices":
            key = f"{self.account.seed}:invoice:{index}".encode()
            return blake2b(key, digest_size=12).hexdigest() + f"{index:08x}"
        return self.account.codecs[kind].encode(index)

    def index_of(self, kind: str, record_id: Any) -> int | None:
        """The index of a live record with this ID, or None."""
        text = str(record_id)
        index: int | None
        if kind == "notes":
            index = int(text) - NOTE_ID_BASE if text.isdigit() else None
        elif kind == "invoices":
            try:
                index = int(text[24:], 16) if len(text) == 32 else None
            except ValueError:
                index = None
        else:
            index = self.account.codecs[kind].decode(text)
        if index is None or not 0 <= index < self.count(kind) or self.id_of(kind, index) != text:
            return None
        return None if index in self.deleted[kind] else index

    # -- records --

    def get(self, kind: str, index: int) -> dict[str, Any] | None:
        """The internal record (do not mutate it; :meth:`put` a changed copy), None if gone."""
        if index in self.deleted[kind]:
            return None
        record = self.overrides[kind].get(index)
        if record is None and index < self.generated[kind]:
            record = self.account.record(kind, index)
        return record

    def put(self, kind: str, index: int, record: dict[str, Any]) -> None:
        if kind == "deals":
            old = self.get(kind, index)
            if old is not None:
                self._count_deal(old, -1)
            self._count_deal(record, +1)
        self.overrides[kind][index] = record

    def add(self, kind: str, record: dict[str, Any]) -> int:
        index = self.count(kind)
        self.created[kind].append(record["created"])
        if kind in self.deal_counts:
            for counts in self.deal_counts[kind].values():
                counts.append(0)
        if kind == "deals":
            self._count_deal(record, +1)
        self.overrides[kind][index] = record
        return index

    def delete(self, kind: str, index: int) -> None:
        """Permanent removal (persons, organisations)."""
        self.overrides[kind].pop(index, None)
        self.deleted[kind].add(index)

    def _count_deal(self, deal: dict[str, Any], step: int) -> None:
        status = deal["Status"]
        if status not in ("open", "won", "lost"):
            return
        for kind, key in (("persons", "person"), ("organizations", "org")):
            index = deal[key]
            if index >= 0:
                self.deal_counts[kind][status][index] += step

    def deal_status(self, index: int) -> str:
        record = self.overrides["deals"].get(index)
        if record is not None:
            return str(record["Status"])
        return self.account.deal_core(index)[0]

    def deals_of(self, kind: str, index: int) -> tuple[int, int, int]:
        counts = self.deal_counts[kind]
        return counts["open"][index], counts["won"][index], counts["lost"][index]

    # -- what other records show of a linked record --

    def person_name(self, index: int) -> tuple[str, str] | None:
        if index < 0 or index in self.deleted["persons"]:
            return None
        record = self.overrides["persons"].get(index)
        if record is not None:
            return record["FirstName"], record["LastName"]
        first, last, _ = self.account.person_core(index)
        return first, last

    def org_name(self, index: int) -> str | None:
        if index < 0 or index in self.deleted["organizations"]:
            return None
        record = self.overrides["organizations"].get(index)
        if record is not None:
            return str(record["OrgName"])
        return self.account.org_core(index)[0]

    # -- scans --

    def indexes(self, kind: str, lo_ts: int | None = None, hi_ts: int | None = None) -> range:
        """Indexes created within [lo_ts, hi_ts] (UTC seconds), in creation order."""
        created = self.created[kind]
        lo = 0 if lo_ts is None else bisect.bisect_left(created, lo_ts)
        hi = len(created) if hi_ts is None else bisect.bisect_right(created, hi_ts)
        return range(lo, hi)

    def live(self, kind: str) -> list[int]:
        """Indexes of every record that still exists (deleted deals and notes included)."""
        deleted = self.deleted[kind]
        return [i for i in range(self.count(kind)) if i not in deleted]

    def records(
        self, kind: str, indexes: range | list[int]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        for index in indexes:
            record = self.get(kind, index)
            if record is not None:
                yield index, record

    def modified_since(self, kind: str, since: int) -> list[int]:
        """Indexes of live records whose modified time is later than ``since``."""
        if since >= self.generated_modified_max:
            candidates: range | list[int] = sorted(self.overrides[kind])
        else:
            candidates = range(self.count(kind))
        return [i for i, r in self.records(kind, candidates) if r["modified"] > since]
