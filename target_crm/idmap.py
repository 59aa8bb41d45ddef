"""The persistent map from a source system's key to the CRM id the target wrote it under.

A record coming from a warehouse or from the other CRM carries *its* system's key (the
stream's key properties, or its id when ``record_ids`` is ``source``). After a create the
target stores ``(stream, source key) -> CRM id`` here, so that

* a re-run updates what the last run created instead of creating it again, even without a
  match key, and
* references (a deal's ``person_id``, a note's ``LinkedID`` ...) holding source ids are
  translated into the CRM's ids.

SQLite, one file the user names (``id_map_path``); without a path the map lives in memory
for one run. Or a ``postgresql://`` URI: one table per target account in a database every
worker of an orchestrator shares (``PostgresIdStore``; docs/shared-stores.md). One
connection guarded by a lock either way: sinks drain in parallel threads.

A create is marked *pending* (committed) before it is sent and the mark is replaced by the
CRM id when the answer comes. A run killed with creates in flight leaves their marks: the API
may apply those creates after the run died, so the next run looks for them in the CRM (once
they have had time to land) before creating again. Without the mark they would be created
twice. In PostgreSQL the mark is also a claim: a worker that finds another live worker's
claim waits for that create's answer instead of sending its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from crm_api import postgres
from crm_api.urls import shown
from target_crm.entities import TargetSetupError, WaitError
from target_crm.values import to_json

logger = logging.getLogger("target-crm")

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
    """Thread-safe ``(stream, source key) -> CRM id`` store, in the place ``id_map_path`` names.

    A file path (or nothing: memory for one run) is SQLite, for one machine; a
    ``postgresql://`` URI is one table per target account shared by every worker loading it
    (see :class:`PostgresIdStore`). ``account`` holds the settings that tell the account
    (``api_url`` and the credential; only their hash reaches the database).

    With ``dry_run`` the map is read, never written: new entries live in memory, so a dry
    run resolves exactly what a real run would without changing anything.
    """

    def __init__(
        self,
        path: str | None,
        provider: str,
        *,
        dry_run: bool = False,
        account: Mapping[str, Any] | None = None,
    ) -> None:
        self.provider = provider
        self.path = path
        self._store: SqliteIdStore | PostgresIdStore
        if postgres.is_postgres_uri(path):
            if not account and not postgres.account_name(path):
                raise IdMapStoreError(
                    f"id_map_path {postgres.shown_store(path)}: name the account this map is "
                    "for: add #<account> to the URI (e.g. ...#acme), so accounts sharing one "
                    "database never share a map"
                )
            self._store = PostgresIdStore(path, provider, account or {}, dry_run=dry_run)
        else:
            self._store = SqliteIdStore(path, provider, dry_run=dry_run)

    def get(self, stream: str, source_key: str) -> str | None:
        """The CRM id ``source_key`` was written to; waits while another worker sharing the
        map has its create in flight."""
        return self._store.get(stream, source_key)

    def put(self, stream: str, source_key: str, crm_id: str) -> None:
        self._store.put(stream, source_key, crm_id)

    def mark_pending(self, stream: str, key: str, *, answered: bool = False) -> None:
        """A create for ``key`` is about to be sent (committed before it leaves); or, with
        ``answered``, it got an answer that does not tell whether it was applied: the next
        run looks for it without waiting for it to land. On a shared map this is the claim:
        when another live worker holds it, this waits until that create is answered and then
        raises ``WaitError`` (the record is written again at the end of the input, and
        updates what the other worker created)."""
        self._store.mark_pending(stream, key, answered=answered)

    def drop_pending(self, stream: str, key: str) -> None:
        """The create for ``key`` was answered (refused, or its id stored elsewhere)."""
        self._store.drop_pending(stream, key)

    def pending_since(self, stream: str, key: str) -> float | None:
        """When an earlier (or a dead) run sent a create for ``key`` that got no answer."""
        return self._store.pending_since(stream, key)

    def latest_pending(self, stream: str) -> float | None:
        """When the newest create of ``stream`` an earlier run left unanswered was sent."""
        return self._store.latest_pending(stream)

    def forget(self, stream: str, source_key: str) -> None:
        """Drop an entry whose CRM record no longer exists (deleted in the CRM)."""
        self._store.forget(stream, source_key)

    def close(self) -> None:
        self._store.close()


class SqliteIdStore:
    """The map in one SQLite file (one machine), thread-safe.

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


class IdMapStoreError(TargetSetupError):
    """The shared id map cannot be used (unreachable, refused): the load stops with one line."""


def account_identity(provider: str, uri: str, account: Mapping[str, Any]) -> tuple[str, ...]:
    """What tells one target account from another: the API URL, and the ``#name`` of the URI
    when the user gave one (it survives a new API token), else the credential itself (the API
    token, or the OAuth app and its token store). Only a hash of it is ever stored."""
    api_url = str(account.get("api_url") or "").rstrip("/")
    named = postgres.account_name(uri)
    if named:
        return (provider, api_url, "name", named)
    if account.get("api_token"):
        return (provider, api_url, "token", str(account["api_token"]))
    store = str(account.get("oauth_token_file") or "")
    if postgres.is_postgres_uri(store):
        store = postgres.shown_store(store)  # a password change is the same account
    return (provider, api_url, "oauth", str(account.get("client_id") or ""), store)


class PostgresIdStore:
    """The map in PostgreSQL, shared by every worker loading one account.

    One table per target account, ``crm_ids_<provider>_<hash>`` (the hash of
    :func:`account_identity`; ``crm_id_maps`` says which table is which account by API host
    and name), one row per ``(stream, source_key)`` (its primary key):

    * ``crm_id`` set: the record exists in the CRM under that id;
    * ``crm_id`` NULL, ``claimed_by`` set: a create is claimed by that worker, sent at
      ``sent_at`` (epoch seconds; 0: it was answered, but whether it was applied is unknown).

    Each worker holds a session advisory lock ``(LOCK_SPACE, worker)`` for its whole run, so
    a claim is *live* while its worker's connection is; a killed worker's connection closes,
    the server drops its lock and its claims are dead: the next worker to meet one looks the
    record up in the CRM before creating it (``pending_since``). A claim is taken atomically
    (``INSERT ... ON CONFLICT ... WHERE`` the row is free or dead), so of two workers only one
    sends a create; the other waits for the claim to be answered.
    """

    LOCK_SPACE = 0x43524E  # advisory-lock namespace of id-map workers
    POLL_SECONDS = 0.1
    # Queries name the table {t}; {live}: claim c's worker still holds its lock; {dead}: a
    # claim whose create may have been applied without anyone storing its id (its worker is
    # gone, or it was answered without telling); {me}: this worker. The table name is ours
    # (``postgres.table_name``: [a-z0-9_] only), never the user's text.
    LIVE = (
        "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = 4411982 AND l.objid = c.claimed_by AND l.objsubid = 2)"  # LOCK_SPACE
    )
    DEAD = (
        "c.crm_id IS NULL AND c.claimed_by IS NOT NULL AND (c.sent_at = 0 OR "
        "(c.claimed_by <> {me} AND NOT {live}))"
    )

    def __init__(
        self, uri: str, provider: str, account: Mapping[str, Any], *, dry_run: bool = False
    ) -> None:
        self.uri = uri
        self.dry_run = dry_run
        self.table = postgres.table_name(
            f"crm_ids_{provider}", *account_identity(provider, uri, account)
        )
        self._lock = threading.Lock()
        self._overlay: dict[tuple[str, str], str] = {}
        self._said_waiting = False
        self._worker = secrets.randbelow(2**31 - 2) + 1
        try:
            self._db = postgres.connect(uri, "id_map_path")
        except postgres.StoreError as exc:
            raise IdMapStoreError(str(exc)) from None
        if dry_run:
            row = self._sql("SELECT to_regclass(%s) IS NOT NULL", (self.table,)).fetchone()
            self._exists = bool(row and row[0])
            return
        self._exists = True
        self._sql(
            "CREATE TABLE IF NOT EXISTS {t} (stream text NOT NULL, "
            "source_key text NOT NULL, crm_id text, claimed_by integer, "
            "sent_at double precision, updated_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (stream, source_key));"
            "CREATE TABLE IF NOT EXISTS crm_id_maps (table_name text PRIMARY KEY, "
            "provider text NOT NULL, api_host text, account text, "
            "created_at timestamptz NOT NULL DEFAULT now())",
            tables=True,
        )
        self._sql(
            "INSERT INTO crm_id_maps (table_name, provider, api_host, account) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (table_name) DO NOTHING",
            (
                self.table,
                provider,
                shown(str(account.get("api_url") or "")) if account.get("api_url") else None,
                postgres.account_name(uri) or None,
            ),
        )
        self._sql("SELECT pg_advisory_lock(%s, %s)", (self.LOCK_SPACE, self._worker))

    def __repr__(self) -> str:
        return f"PostgresIdStore({postgres.shown_store(self.uri)!r}, {self.table!r})"

    def _sql(self, query: str, args: tuple[Any, ...] = (), *, tables: bool = False) -> Any:
        """Run ``query`` ({t}, {live}, {dead} filled in); ``tables``: it is a ``;``-separated
        list of CREATEs, run one process at a time."""
        import psycopg

        dead = self.DEAD.format(me=self._worker, live=self.LIVE)
        query = query.format(t=self.table, live=self.LIVE, dead=dead)
        with self._lock:
            try:
                if tables:
                    postgres.create_tables(self._db, *query.split(";"))
                    return None
                return self._db.execute(query, args)
            except psycopg.Error as exc:
                reason = postgres.without_secrets(str(exc), self.uri)[:200]
                raise IdMapStoreError(
                    f"id_map_path {postgres.shown_store(self.uri)}: the shared id map "
                    f"failed ({type(exc).__name__}: {reason}); the load stops, run again "
                    "when the database is back (what was written is remembered)"
                ) from None

    @staticmethod
    def _key(key: str) -> str:
        """PostgreSQL text holds no NUL (pending match keys start with one): escaped."""
        return key.replace("\\", "\\\\").replace("\0", "\\0")

    def _row(self, stream: str, key: str) -> tuple[str | None, bool] | None:
        row = self._sql(
            "SELECT crm_id, (c.crm_id IS NULL AND c.claimed_by <> %s AND c.sent_at > 0 "
            "AND {live}) FROM {t} c WHERE stream = %s AND source_key = %s",
            (self._worker, stream, self._key(key)),
        ).fetchone()
        return (row[0], bool(row[1])) if row else None

    def _wait_for_claim(self, stream: str, key: str) -> str | None:
        """Until no other live worker claims ``key``: its CRM id then (None: not created)."""
        while True:
            row = self._row(stream, key)
            if row is None:
                return None
            crm_id, claimed = row
            if crm_id is not None or not claimed:
                return crm_id
            if not self._said_waiting:
                self._said_waiting = True
                logger.info(
                    "%s: another run sharing the id map is creating %s; waiting for its "
                    "answer (and the same for any other such record)",
                    stream,
                    key,
                )
            time.sleep(self.POLL_SECONDS)

    def get(self, stream: str, source_key: str) -> str | None:
        if (stream, source_key) in self._overlay:
            return self._overlay[(stream, source_key)]
        if not self._exists:
            return None
        if self.dry_run:
            row = self._row(stream, source_key)
            return row[0] if row else None
        return self._wait_for_claim(stream, source_key)

    def put(self, stream: str, source_key: str, crm_id: str) -> None:
        if self.dry_run:
            self._overlay[(stream, source_key)] = crm_id
            return
        self._sql(
            "INSERT INTO {t} AS c (stream, source_key, crm_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (stream, source_key) DO UPDATE SET crm_id = EXCLUDED.crm_id, "
            "claimed_by = NULL, sent_at = NULL, updated_at = now()",
            (stream, self._key(source_key), crm_id),
        )

    def mark_pending(self, stream: str, key: str, *, answered: bool = False) -> None:
        if self.dry_run:
            return
        taken = self._sql(
            "INSERT INTO {t} AS c (stream, source_key, claimed_by, sent_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (stream, source_key) DO UPDATE SET "
            "claimed_by = EXCLUDED.claimed_by, sent_at = EXCLUDED.sent_at, updated_at = now() "
            "WHERE c.crm_id IS NULL AND (c.claimed_by IS NULL OR c.claimed_by = %s "
            "OR c.sent_at = 0 OR NOT {live}) RETURNING 1",
            (stream, self._key(key), self._worker, 0.0 if answered else time.time(), self._worker),
        ).fetchone()
        if taken is None and not answered:
            # Another live worker sends this create (or has created it since we looked): wait
            # for its answer, then the record is written again and finds what it created.
            self._wait_for_claim(stream, key)
            raise WaitError

    def drop_pending(self, stream: str, key: str) -> None:
        if self.dry_run:
            return
        self._sql(
            "DELETE FROM {t} WHERE stream = %s AND source_key = %s "
            "AND crm_id IS NULL AND claimed_by = %s",
            (stream, self._key(key), self._worker),
        )

    def pending_since(self, stream: str, key: str) -> float | None:
        if not self._exists:
            return None
        row = self._sql(
            "SELECT sent_at FROM {t} c WHERE stream = %s AND source_key = %s AND {dead}",
            (stream, self._key(key)),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def latest_pending(self, stream: str) -> float | None:
        if not self._exists:
            return None
        row = self._sql(
            "SELECT MAX(sent_at) FROM {t} c WHERE stream = %s AND {dead}",
            (stream,),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def forget(self, stream: str, source_key: str) -> None:
        if self.dry_run:
            self._overlay.pop((stream, source_key), None)
            return
        self._sql(
            "DELETE FROM {t} WHERE stream = %s AND source_key = %s",
            (stream, self._key(source_key)),
        )

    def close(self) -> None:
        # Closing the session releases the worker lock: claims still open (writes abandoned
        # by a stopped run) become dead claims the next worker looks up before creating.
        with self._lock, contextlib.suppress(Exception):
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
