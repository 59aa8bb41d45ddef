"""Where the current OAuth refresh token lives between runs.

Pipedrive rotates refresh tokens: each refresh may return a new one and invalidate the old, so
every process of one OAuth app must read the newest token and refresh under one lock. The
client (``crm_api.pipedrive.OAuthAuth``) uses a store only through ``load``, ``save`` and
``locked``; ``open_token_store`` picks the store from what the user named in
``oauth_token_file``: a file (one machine), or a ``postgresql://`` URI (many machines; see
docs/shared-stores.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from crm_api import postgres


class TokenStoreError(Exception):
    """The store the user named cannot be read or written: one line saying what to fix."""


class TokenStore(Protocol):
    def load(self) -> str | None: ...

    def save(self, refresh_token: str) -> None: ...

    def locked(self) -> contextlib.AbstractContextManager[None]: ...


class FileTokenStore:
    """The user-named file that keeps the current OAuth refresh token between runs.

    JSON ``{"refresh_token": "...", "updated_at": "..."}``, written atomically with mode 0600.
    A sibling ``.lock`` file serialises refreshes across processes (tap and target sharing
    one app), so a rotation by one is seen by the other.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TokenStoreError(
                f"oauth_token_file {self.path} is not a readable JSON token file "
                f"({type(exc).__name__}); fix or delete it and run crm-oauth again"
            ) from None
        token = data.get("refresh_token") if isinstance(data, dict) else None
        return token if isinstance(token, str) and token else None

    def save(self, refresh_token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {
                "refresh_token": refresh_token,
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class PostgresTokenStore:
    """The refresh token in a PostgreSQL table, for runs of one account on many machines.

    One row per OAuth app (and account, when the URI names one with ``#name``), keyed by a
    SHA-256 of the client id: ``crm_oauth_tokens(app_key, refresh_token, updated_at)``.
    ``locked()`` holds a session advisory lock on that key on a connection of its own, so
    a refresh (read the newest token, exchange it, save the rotated one) is one at a time
    across every process; each ``save`` commits at once, before the new token is used. A
    killed process's connection closes and the server releases its lock.
    """

    LOCK_SPACE = 0x43524D  # advisory-lock namespace of this store ("CRM")

    def __init__(self, uri: str, client_id: str | None = None) -> None:
        self.uri = uri
        self.app_key = hashlib.sha256(
            f"{client_id or ''}\0{postgres.account_name(uri)}".encode()
        ).hexdigest()
        self._held = threading.local()  # the connection holding the lock, per thread
        self._ready = False

    def __repr__(self) -> str:
        return f"PostgresTokenStore({postgres.shown_store(self.uri)!r})"

    def _connect(self) -> Any:
        try:
            conn = postgres.connect(self.uri, "oauth_token_file")
        except postgres.StoreError as exc:
            raise TokenStoreError(str(exc)) from None
        if not self._ready:
            self._run(
                conn,
                "CREATE TABLE IF NOT EXISTS crm_oauth_tokens (app_key text PRIMARY KEY, "
                "refresh_token text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
                tables=True,
            )
            self._ready = True
        return conn

    def _run(
        self, conn: Any, query: str, args: tuple[Any, ...] = (), *, tables: bool = False
    ) -> Any:
        import psycopg

        try:
            if tables:  # a CREATE, one process at a time
                postgres.create_tables(conn, query)
                return None
            return conn.execute(query, args)
        except psycopg.Error as exc:
            raise TokenStoreError(
                f"oauth_token_file {postgres.shown_store(self.uri)}: "
                f"{postgres.without_secrets(str(exc), self.uri)[:200]}"
            ) from None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        held = getattr(self._held, "conn", None)
        if held is not None:
            yield held
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def load(self) -> str | None:
        with self._connection() as conn:
            row = self._run(
                conn,
                "SELECT refresh_token FROM crm_oauth_tokens WHERE app_key = %s",
                (self.app_key,),
            ).fetchone()
        return str(row[0]) if row and row[0] else None

    def save(self, refresh_token: str) -> None:
        with self._connection() as conn:
            self._run(
                conn,
                "INSERT INTO crm_oauth_tokens (app_key, refresh_token) VALUES (%s, %s) "
                "ON CONFLICT (app_key) DO UPDATE SET refresh_token = EXCLUDED.refresh_token, "
                "updated_at = now()",
                (self.app_key, refresh_token),
            )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        conn = self._connect()
        lock = (self.LOCK_SPACE, int(self.app_key[:7], 16))  # two int4 keys
        try:
            self._run(conn, "SELECT pg_advisory_lock(%s, %s)", lock)
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", lock)
        finally:
            conn.close()


def open_token_store(
    location: str | os.PathLike[str], *, client_id: str | None = None
) -> TokenStore:
    """The store named by ``oauth_token_file``: a file path (the default on one machine), or a
    ``postgresql://`` URI shared by every machine running the account (``client_id`` keys the
    row; a ``#name`` fragment tells apart accounts of one app)."""
    if postgres.is_postgres_uri(location):
        return PostgresTokenStore(str(location), client_id)
    return FileTokenStore(location)
