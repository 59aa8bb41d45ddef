"""What happened to every record: the rejected records (a file, or a PostgreSQL table) and the
per-stream summary, both marked with the run's id."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from crm_api import postgres
from target_crm.entities import TargetSetupError
from target_crm.values import to_json

OUTCOMES = ("created", "updated", "unchanged", "rejected")
# Meltano takes a run's id from this variable (`meltano run --run-id`); an orchestrator that
# sets it gets the same id in Meltano's runs table and on every rejection of the run.
RUN_ID_VARIABLE = "MELTANO_RUN_ID"


def current_run_id() -> str:
    return os.environ.get(RUN_ID_VARIABLE) or str(uuid.uuid4())


class RejectionStoreError(TargetSetupError):
    """The rejected-records table cannot be written: the load stops with one line."""


class RejectionTable:
    """Rejected records as rows of ``crm_rejected_records`` in a PostgreSQL database, so they
    outlive the worker and can be queried next to the data.

    One row per rejection: ``run_id``, ``account`` (the URI's ``#name``), ``stream``,
    ``source_key``, ``reason``, ``api_message``, ``status``, ``record`` (JSONB) and
    ``rejected_at``. Each row is committed when it is written.
    """

    def __init__(self, uri: str, run_id: str) -> None:
        self.uri = uri
        self.run_id = run_id
        self.account = postgres.account_name(uri) or None
        try:
            self._db = postgres.connect(uri, "rejected_records_path")
        except postgres.StoreError as exc:
            raise RejectionStoreError(str(exc)) from None
        self._sql(
            "CREATE TABLE IF NOT EXISTS crm_rejected_records (id bigserial PRIMARY KEY, "
            "run_id text NOT NULL, account text, stream text NOT NULL, source_key text, "
            "reason text NOT NULL, api_message text, status integer, record jsonb NOT NULL, "
            "rejected_at timestamptz NOT NULL DEFAULT now());"
            "CREATE INDEX IF NOT EXISTS crm_rejected_records_run "
            "ON crm_rejected_records (run_id, stream)",
            tables=True,
        )

    def _sql(self, query: str, args: tuple[Any, ...] = (), *, tables: bool = False) -> None:
        import psycopg

        try:
            if tables:  # CREATEs, one process at a time
                postgres.create_tables(self._db, *query.split(";"))
            else:
                self._db.execute(query, args)
        except psycopg.Error as exc:
            reason = postgres.without_secrets(str(exc), self.uri)[:200]
            raise RejectionStoreError(
                f"rejected_records_path {postgres.shown_store(self.uri)}: a rejected record "
                f"could not be stored ({type(exc).__name__}: {reason})"
            ) from None

    def add(self, entry: dict[str, Any], source_key: str | None) -> None:
        # PostgreSQL's jsonb holds no NUL character: shown as U+FFFD instead
        record = to_json(entry["record"]).replace("\\u0000", "\\ufffd")
        self._sql(
            "INSERT INTO crm_rejected_records (run_id, account, stream, source_key, reason, "
            "api_message, status, record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
            (
                self.run_id,
                self.account,
                entry["stream"],
                source_key,
                entry["reason"],
                entry["api_message"],
                entry["status"],
                record,
            ),
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._db.close()


class Report:
    """Thread-safe tallies per stream plus the rejected records.

    ``rejected_path`` a file: each rejected record becomes one JSON line: ``{"run_id",
    "stream", "source_key", "reason", "api_message", "status", "record", "time"}``, opened on
    the first rejection (a clean run leaves none) and flushed after every line, so a crash
    keeps what was already reported. A ``postgresql://`` URI: a row each in
    :class:`RejectionTable`. ``run_id``: Meltano's (``MELTANO_RUN_ID``) when it is set, else a
    new UUID; it ends the summary table too.
    """

    def __init__(
        self, rejected_path: str | None, *, dry_run: bool = False, run_id: str | None = None
    ) -> None:
        # what a message may show: a database URI without its password
        self.rejected_path = (
            f"{postgres.shown_store(rejected_path)} (table crm_rejected_records)"
            if postgres.is_postgres_uri(rejected_path)
            else rejected_path
        )
        self.dry_run = dry_run
        self.run_id = run_id or current_run_id()
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._file: TextIO | None = None
        self._table: RejectionTable | None = None
        if postgres.is_postgres_uri(rejected_path):
            self._table = RejectionTable(rejected_path, self.run_id)

    def count(self, stream: str, outcome: str) -> None:
        with self._lock:
            self._counts.setdefault(stream, Counter())[outcome] += 1

    def reject(
        self,
        stream: str,
        record: dict[str, Any],
        reason: str,
        *,
        api_message: str | None = None,
        status: int | None = None,
        source_key: str | None = None,
    ) -> None:
        entry = {
            "run_id": self.run_id,
            "stream": stream,
            "source_key": source_key,
            "reason": reason,
            "api_message": api_message,
            "status": status,
            "record": record,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        line = to_json(entry)
        with self._lock:
            self._counts.setdefault(stream, Counter())["rejected"] += 1
            if self._table is not None:
                self._table.add(entry, source_key)
            elif self.rejected_path:
                if self._file is None:
                    Path(self.rejected_path).parent.mkdir(parents=True, exist_ok=True)
                    self._file = open(self.rejected_path, "a", encoding="utf-8")  # noqa: SIM115
                self._file.write(line + "\n")
                self._file.flush()

    def counts(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                stream: {name: counter[name] for name in OUTCOMES}
                for stream, counter in sorted(self._counts.items())
            }

    @property
    def rejected(self) -> int:
        with self._lock:
            return sum(counter["rejected"] for counter in self._counts.values())

    def table(self) -> str:
        """The summary as a fixed-width text table (one row per stream, then the total)."""
        counts = self.counts()
        heads = (
            ("would create", "would update", "unchanged", "rejected") if self.dry_run else OUTCOMES
        )
        width = max([len("stream"), len("total"), *(len(s) for s in counts)])
        lines = ["stream".ljust(width) + "".join(f"  {h:>12}" for h in heads)]
        total: Counter[str] = Counter()
        for stream, row in counts.items():
            total.update(row)
            lines.append(stream.ljust(width) + "".join(f"  {row[n]:>12}" for n in OUTCOMES))
        lines.append("total".ljust(width) + "".join(f"  {total[n]:>12}" for n in OUTCOMES))
        lines.append(f"run {self.run_id}")
        return "\n".join(lines)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
            if self._table is not None:
                self._table.close()
