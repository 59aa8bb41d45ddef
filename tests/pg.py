"""A real PostgreSQL server for the tests of the shared stores (the id map, the token store
and the rejected-records table in PostgreSQL), by the rule of the end-to-end tests:
``CRM_TEST_PG_DSN`` when scripts/test.sh (or the developer) started one, else a throwaway
server from scripts/postgres.sh for the test session. Each test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def pg_server() -> Iterator[str]:
    dsn = os.environ.get("CRM_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    pgdir = Path(tempfile.mkdtemp(prefix="crm-pg-")) / "cluster"
    pgdir.parent.chmod(0o755)  # the server runs as `postgres` when the tests run as root
    script = str(ROOT / "scripts" / "postgres.sh")
    started = subprocess.run(
        ["bash", script, "start", str(pgdir)], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        raise RuntimeError(f"could not start PostgreSQL: {started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", script, "stop", str(pgdir)], capture_output=True, check=False)
        pgdir.parent.rmdir()


@contextlib.contextmanager
def fresh_database(server: str, prefix: str = "stores") -> Iterator[str]:
    """The URI of a new, empty database on ``server``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_password(uri: str, password: str) -> str:
    """``uri`` with ``password`` in its userinfo (the test server trusts loopback, so it
    connects all the same: what is tested is that the password is never shown)."""
    parts = urlsplit(uri)
    user = parts.username or "postgres"
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def rows(uri: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(uri.split("#", 1)[0], autocommit=True) as conn:
        return list(conn.execute(query, args).fetchall())
