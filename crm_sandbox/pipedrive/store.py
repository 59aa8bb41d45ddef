"""Compact storage for one entity: columns for what lists filter and sort on, records on demand.

A table of n generated records keeps only a few ``array('q')`` columns (times, flags, foreign
keys); the full record dict is rendered from the seed when asked for, so generating a million
deals costs seconds and memory stays linear. Records that were written (PATCH, POST, touch) live
in ``over`` as full dicts and win over the generated form. Ids are 1..n and never reused.

Sorting is keyset: each sort field has a sorted sequence of keys that encode (value, id), so a
cursor is just the last key served and ``bisect`` finds where the next page starts, even after
writes moved other records around. Index keys of int fields pack ``(value - BASE) << 32 | id``.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import Any

# Offset applied to epoch seconds before packing, so keys fit a signed 64-bit int until ~2068.
BASE = 946_684_800  # 2000-01-01T00:00:00Z
ID_BITS = 32
ID_MASK = (1 << ID_BITS) - 1
NULL = -1  # column value for a null foreign key / date

Record = dict[str, Any]
Generator = Callable[..., Record]  # (table, id[, with_custom_fields]) -> record
Extractor = Callable[[Record], dict[str, int]]


class Table:
    """One entity's records. Callers hold ``lock`` (shared by the whole store) around use."""

    def __init__(
        self,
        name: str,
        columns: dict[str, array],
        generate: Generator | None,
        extract: Extractor,
        sort_values: dict[str, Callable[[Table, int], int | str]],
        salt: int = 0,
    ) -> None:
        self.name = name
        self.cols = columns
        self.generate = generate
        self.extract = extract
        self.sort_values = sort_values  # sort field -> value of record id (int, or str for names)
        self.salt = salt
        self.n = len(columns["update_time"])
        self.over: dict[int, Record] = {}
        self.frag: dict[int, bytes] = {}  # encoded JSON of records, dropped on write
        self._indexes: dict[str, Any] = {}
        self._groups: dict[str, dict[int, list[int]]] = {}  # fk column -> value -> ids
        self.version = 0  # bumped on every write (caches of filtered lists key on it)
        self.aux: dict[str, Any] = {}  # entity extras (followers state, name lookups)

    # ---- records -------------------------------------------------------------
    def exists(self, rid: int) -> bool:
        return 1 <= rid <= self.n

    def col(self, name: str, rid: int) -> int:
        return int(self.cols[name][rid - 1])

    def get(self, rid: int) -> Record:
        """The record as the API shows it (shared dict: copy before changing it)."""
        found = self.over.get(rid)
        if found is not None:
            return found
        assert self.generate is not None
        return self.generate(self, rid)

    def ids(self) -> range:
        return range(1, self.n + 1)

    # ---- writes ----------------------------------------------------------------
    def put(self, rid: int, record: Record) -> None:
        """Store a full record (new id = n + 1, or an existing one) and keep indexes right."""
        old_keys = {f: self._key(f, rid) for f in self._indexes} if rid <= self.n else {}
        values = self.extract(record)
        for name, groups in self._groups.items():
            old = self.cols[name][rid - 1] if rid <= self.n else 0
            new = values.get(name, 0)
            if old != new:
                if old > 0:
                    groups[old].remove(rid)
                if new > 0:
                    bisect.insort(groups.setdefault(new, []), rid)
        if rid == self.n + 1:
            for name, column in self.cols.items():
                column.append(values.get(name, 0))
            self.n += 1
        else:
            for name, value in values.items():
                self.cols[name][rid - 1] = value
        self.over[rid] = record
        self.frag.pop(rid, None)
        self.version += 1
        for field, index in self._indexes.items():
            if field in old_keys:
                old = old_keys[field]
                at = bisect.bisect_left(index, old)
                if at < len(index) and index[at] == old:
                    del index[at]
            bisect.insort(index, self._key(field, rid))

    def related(self, name: str, value: int) -> Sequence[int]:
        """Ids whose column ``name`` (a foreign key) is ``value``, ascending: an index built
        on first use and kept current by ``put``, so counting a parent's children costs the
        size of its group, not a scan of the table."""
        groups = self._groups.get(name)
        if groups is None:
            groups = {}
            for rid, key in enumerate(self.cols[name], start=1):
                if key > 0:
                    groups.setdefault(key, []).append(rid)
            self._groups[name] = groups
        return groups.get(value, ())

    # ---- sorting & paging --------------------------------------------------------
    def _key(self, field: str, rid: int) -> Any:
        if field == "id":
            return rid
        value = self.sort_values[field](self, rid)
        if isinstance(value, str):
            return (value, rid)
        return (
            ((value - BASE) << ID_BITS) | rid
            if field.endswith("_time")
            else ((value << ID_BITS) | rid)
        )

    def key_of(self, field: str, value: Any, rid: int) -> Any:
        """The index key for a cursor's (value, id)."""
        if field == "id":
            return rid
        if isinstance(value, str):
            return (value, rid)
        return (
            ((value - BASE) << ID_BITS) | rid
            if field.endswith("_time")
            else ((value << ID_BITS) | rid)
        )

    def index(self, field: str) -> Sequence[Any]:
        if field == "id":
            return range(1, self.n + 1)
        found = self._indexes.get(field)
        if found is None:
            keys = sorted(self._key(field, rid) for rid in range(1, self.n + 1))
            found = keys if keys and isinstance(keys[0], tuple) else array("q", keys)
            self._indexes[field] = found
        return found

    @staticmethod
    def id_of(key: Any) -> int:
        if isinstance(key, tuple):
            return int(key[1])
        return int(key) & ID_MASK

    def scan(
        self,
        field: str,
        descending: bool,
        after: Any | None,
        low: Any | None = None,
        high: Any | None = None,
    ) -> Iterator[int]:
        """Ids in (field, id) order strictly after the cursor key, within [low, high)."""
        seq = self.index(field)
        if field == "id":
            ids_seq: Sequence[Any] = seq
            start_lo = 0 if low is None else max(0, bisect.bisect_left(ids_seq, low))
            end_hi = len(seq) if high is None else bisect.bisect_left(ids_seq, high)
        else:
            start_lo = 0 if low is None else bisect.bisect_left(seq, low)
            end_hi = len(seq) if high is None else bisect.bisect_left(seq, high)
        if not descending:
            start = start_lo if after is None else max(start_lo, bisect.bisect_right(seq, after))
            for i in range(start, end_hi):
                yield self.id_of(seq[i])
        else:
            start = end_hi - 1 if after is None else min(end_hi, bisect.bisect_left(seq, after)) - 1
            for i in range(start, start_lo - 1, -1):
                yield self.id_of(seq[i])


class Store:
    """All tables plus the lock every read and write holds."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {}

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]
