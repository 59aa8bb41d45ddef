"""The persistent map from a source system's key to the CRM id the target wrote it under.

A record coming from a warehouse or from the other CRM carries *its* system's key (the
stream's key properties, or its id when ``record_ids`` is ``source``). After a create the
target stores ``(stream, source key) -> CRM id`` here, so that

* a re-run updates what the last run created instead of creating it again, even without a
  match key, and
* references (a deal's ``person_id``, a note's ``LinkedID`` ...) holding source ids are
  translated into the CRM's ids.

SQLite, one file the user names (``id_map_path``); without a path the map lives in memory
for one run. One connection guarded by a lock: sinks drain in parallel threads.

A create is marked *pending* (committed) before it is sent and the mark is replaced by the
CRM id when the answer comes. A run killed with creates in flight leaves their marks: the API
may apply those creates after the run died, so the next run looks for them in the CRM (once
they have had time to land) before creating again. Without the mark they would be created
twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from target_crm.values import to_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ids (
    provider TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_key TEXT NOT NULL,
    crm_id TEXT NOT NULL,
    PRIMARY KEY (provider, stream, source_key)
);
CREATE TABLE IF NOT EXISTS pending (
    provider TEXT NOT NULL,
    stream TEXT NOT NULL,
    source_key TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (provider, stream, source_key)
)
"""


class IdMap:
    """Thread-safe ``(stream, source key) -> CRM id`` store.

    With ``dry_run`` the file is opened read-only and new entries live in memory, so a dry
    run resolves exactly what a real run would without changing anything on disk.
    """

    def __init__(self, path: str | None, provider: str, *, dry_run: bool = False) -> None:
        self.provider = provider
        self.path = path
        # Marks older than this are an earlier run's; this run's own creates in flight are
        # never waited for (records of one key are written one after another anyway).
        self._opened = time.time()
        self._lock = threading.Lock()
        self._overlay: dict[tuple[str, str], str] | None = {} if dry_run else None
        if path and dry_run:
            target = Path(path)
            uri = f"{target.resolve().as_uri()}?mode=ro" if target.exists() else ":memory:"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        if not (path and dry_run and Path(path).exists()):
            with self._db:
                self._db.executescript(_SCHEMA)

    def get(self, stream: str, source_key: str) -> str | None:
        with self._lock:
            if self._overlay is not None and (stream, source_key) in self._overlay:
                return self._overlay[(stream, source_key)]
            row = self._db.execute(
                "SELECT crm_id FROM ids WHERE provider=? AND stream=? AND source_key=?",
                (self.provider, stream, source_key),
            ).fetchone()
        return row[0] if row else None

    def put(self, stream: str, source_key: str, crm_id: str) -> None:
        with self._lock:
            if self._overlay is not None:
                self._overlay[(stream, source_key)] = crm_id
                return
            with self._db:  # one committed transaction per entry: a crash keeps what was written
                self._db.execute(
                    "INSERT OR REPLACE INTO ids (provider, stream, source_key, crm_id) "
                    "VALUES (?, ?, ?, ?)",
                    (self.provider, stream, source_key, crm_id),
                )
                self._db.execute(
                    "DELETE FROM pending WHERE provider=? AND stream=? AND source_key=?",
                    (self.provider, stream, source_key),
                )

    # --- creates in flight ---------------------------------------------------------------

    def mark_pending(self, stream: str, key: str, *, answered: bool = False) -> None:
        """A create for ``key`` is about to be sent (committed before it leaves); or, with
        ``answered``, it got an answer that does not tell whether it was applied: the next
        run looks for it without waiting for it to land."""
        with self._lock:
            if self._overlay is not None:
                return  # a dry run sends nothing
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO pending (provider, stream, source_key, sent_at) "
                    "VALUES (?, ?, ?, ?)",
                    (self.provider, stream, key, 0.0 if answered else time.time()),
                )

    def drop_pending(self, stream: str, key: str) -> None:
        """The create for ``key`` was answered (refused, or its id stored elsewhere)."""
        with self._lock:
            if self._overlay is not None:
                return
            with self._db:
                self._db.execute(
                    "DELETE FROM pending WHERE provider=? AND stream=? AND source_key=?",
                    (self.provider, stream, key),
                )

    def pending_since(self, stream: str, key: str) -> float | None:
        """When an earlier run sent a create for ``key`` that got no answer."""
        return self._pending_time(
            "SELECT sent_at FROM pending WHERE provider=? AND stream=? AND source_key=? "
            "AND sent_at <= ?",
            (self.provider, stream, key, self._opened),
        )

    def latest_pending(self, stream: str) -> float | None:
        """When the newest create of ``stream`` an earlier run left unanswered was sent."""
        return self._pending_time(
            "SELECT MAX(sent_at) FROM pending WHERE provider=? AND stream=? AND sent_at <= ?",
            (self.provider, stream, self._opened),
        )

    def _pending_time(self, query: str, args: tuple[Any, ...]) -> float | None:
        with self._lock:
            try:
                row = self._db.execute(query, args).fetchone()
            except sqlite3.OperationalError:  # a map from before pending marks, read-only
                return None
        return float(row[0]) if row and row[0] is not None else None

    def forget(self, stream: str, source_key: str) -> None:
        """Drop an entry whose CRM record no longer exists (deleted in the CRM)."""
        with self._lock:
            if self._overlay is not None:
                self._overlay.pop((stream, source_key), None)
                return
            with self._db:
                self._db.execute(
                    "DELETE FROM ids WHERE provider=? AND stream=? AND source_key=?",
                    (self.provider, stream, source_key),
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class WaitingRoom:
    """Records whose references point at records not loaded yet, kept on disk until the end.

    A tap emits its streams in name order (``deals`` before ``persons``), so in a migration a
    deal can arrive before the person it references. Such records wait here (a private
    temporary SQLite file, so memory stays flat) and are written after every other record.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect("", check_same_thread=False)  # "" = temporary file
        with self._db:
            self._db.execute(
                "CREATE TABLE waiting (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT, "
                "source_key TEXT, record TEXT)"
            )
            self._db.execute("CREATE INDEX waiting_key ON waiting (stream, source_key)")

    def add(self, stream: str, record: dict[str, Any], source_key: str | None) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO waiting (stream, source_key, record) VALUES (?, ?, ?)",
                (stream, source_key, to_json(record)),
            )

    def has(self, stream: str, source_key: str) -> bool:
        """Is the record with this source key itself waiting?"""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM waiting WHERE stream=? AND source_key=? LIMIT 1",
                (stream, source_key),
            ).fetchone()
        return row is not None

    def count(self, stream: str | None = None) -> int:
        with self._lock:
            if stream is None:
                row = self._db.execute("SELECT COUNT(*) FROM waiting").fetchone()
            else:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM waiting WHERE stream=?", (stream,)
                ).fetchone()
        return int(row[0])

    def take(self, stream: str, batch: int = 500) -> Iterator[list[dict[str, Any]]]:
        """Remove and yield the records of ``stream`` waiting now, in arrival order, in batches.

        Records put back while this runs wait for the next call.
        """
        with self._lock:
            last = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM waiting WHERE stream=?", (stream,)
            ).fetchone()[0]
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT seq, record FROM waiting WHERE stream=? AND seq<=? "
                    "ORDER BY seq LIMIT ?",
                    (stream, last, batch),
                ).fetchall()
                if rows:
                    with self._db:
                        self._db.execute(
                            "DELETE FROM waiting WHERE stream=? AND seq<=?", (stream, rows[-1][0])
                        )
            if not rows:
                return
            yield [json.loads(text) for _, text in rows]
