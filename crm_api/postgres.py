"""PostgreSQL as the home of the stores many workers share (token store, id map, rejections).

A setting that names a store (``oauth_token_file``, ``id_map_path``, ``rejected_records_path``)
takes a ``postgresql://`` (or ``postgres://``) URI instead of a local file. An optional
``#name`` fragment names the account inside the database (``postgresql://host/db#acme``);
it is ours, never sent to the server.

* ``is_postgres_uri(text)``: does the setting name a database?
* ``shown_store(uri)``: the URI as a message may show it: the password masked as ``***``.
* ``connect(uri, setting)``: a psycopg (v3) connection in autocommit mode; psycopg is imported
  only here, so a file store never needs it, and a missing psycopg, a refused login or an
  unreachable server is a ``StoreError``: one line naming the setting, never the password.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, TypeGuard
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
SCHEMA_LOCK = 0x435253  # advisory-lock namespace: creating the stores' tables
INSTALL_HINT = "pip install 'crm-singer[postgres]' (or psycopg[binary])"


class StoreError(Exception):
    """A shared store cannot be used; ``str(error)`` is one line that says what to change."""


def is_postgres_uri(location: object) -> TypeGuard[str]:
    return isinstance(location, str) and location.split("://", 1)[0].lower() in SCHEMES


def account_name(uri: str) -> str:
    """The ``#name`` fragment of a store URI ('' without one)."""
    return urlsplit(uri).fragment


def shown_store(uri: str) -> str:
    """``uri`` with its password masked, e.g. ``postgresql://crm:***@db:5432/crm#acme``."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unreadable PostgreSQL URI)"
    user = parts.username or ""
    if parts.password is not None:
        user = f"{user}:***"
    netloc = f"{user}@" if user else ""
    netloc += f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port else ""
    # the query may hold a password too (?password=...): never shown
    return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))


def _conninfo(uri: str) -> str:
    """What libpq gets: the URI without our fragment."""
    return uri.split("#", 1)[0]


def _secrets_of(uri: str) -> list[str]:
    secrets = []
    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    if password:
        secrets.append(password)
    secrets += re.findall(r"password=([^&]+)", uri)
    return secrets


def without_secrets(text: str, uri: str) -> str:
    """``text`` (a driver message) with every password of ``uri`` masked, on one line."""
    for secret in _secrets_of(uri):
        text = text.replace(secret, "***")
    return " ".join(text.split())


def connect(uri: str, setting: str) -> psycopg.Connection:
    """An autocommit connection to the database ``uri`` names, or ``StoreError``."""
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"{setting} {shown_store(uri)} is a PostgreSQL URI, which needs psycopg: {INSTALL_HINT}"
        ) from None
    try:
        return psycopg.connect(_conninfo(uri), autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        reason = without_secrets(str(exc).strip().splitlines()[-1] if str(exc) else "", uri)
        raise StoreError(
            f"{setting} {shown_store(uri)}: cannot connect to PostgreSQL ({reason[:200]}); "
            "check the host, database, user and password in the URI"
        ) from None


def create_tables(conn: psycopg.Connection, *statements: str) -> None:
    """Run ``CREATE ... IF NOT EXISTS`` statements one process at a time: two first runs
    creating one table at the same moment would collide in the catalog (a unique violation
    on ``pg_type``) although both said IF NOT EXISTS."""
    conn.execute("SELECT pg_advisory_lock(%s, 0)", (SCHEMA_LOCK,))
    try:
        for statement in statements:
            conn.execute(statement)  # our own literal DDL
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, 0)", (SCHEMA_LOCK,))


def table_name(prefix: str, *parts: str) -> str:
    """A table name from readable ``prefix`` and a hash of ``parts`` (which may hold secrets:
    only their SHA-256 reaches the database)."""
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())}_{digest}"
