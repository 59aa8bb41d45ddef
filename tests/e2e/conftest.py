"""End-to-end fixtures: the repository's Meltano project against crm-sandbox, DuckDB and PostgreSQL.

- ``meltano_installed`` (session): Meltano and the plugins, installed once (see meltano_project).
- ``pg_server`` (session): the DSN of a real PostgreSQL server: ``CRM_TEST_PG_DSN`` when
  scripts/test.sh started one, else a throwaway one from scripts/postgres.sh for this session.
- ``pg_database``: a fresh, empty database on that server for one test.
- ``meltano``: the project with private state, a private DuckDB file, the warehouse settings
  pointing at ``pg_database`` and both providers pointing at the ``sandbox`` fixture.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from crm_sandbox.testing import SandboxHandle
from tests import pg
from tests.e2e.meltano_project import MeltanoProject, ensure_installed


def sandbox_env(sandbox: SandboxHandle) -> dict[str, str]:
    """The variables a user puts in .env, pointing at the sandbox instead of the real APIs."""
    return {
        "PIPEDRIVE_API_URL": sandbox.pipedrive_url,
        "PIPEDRIVE_API_TOKEN": sandbox.api_token,
        "ONPIPELINE_API_URL": sandbox.onpipeline_url,
        "ONPIPELINE_API_TOKEN": sandbox.api_token,
        "ONPIPELINE_TIMEZONE": str(sandbox.settings()["timezone"]),
        "ONPIPELINE_REQUESTS_PER_MINUTE": "0",  # the sandbox has no limit unless a test sets one
    }


def warehouse_env(dsn: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    return {
        "WAREHOUSE_HOST": parts.hostname or "127.0.0.1",
        "WAREHOUSE_PORT": str(parts.port or 5432),
        "WAREHOUSE_USER": parts.username or "postgres",
        "WAREHOUSE_PASSWORD": parts.password or "crm",  # any: the test server trusts 127.0.0.1
        "WAREHOUSE_DATABASE": parts.path.lstrip("/"),
    }


@pytest.fixture(scope="session")
def meltano_installed() -> Path:
    return ensure_installed()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with pg.pg_server() as dsn:
        yield dsn


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A DSN for a new database that is dropped after the test."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pg_server)
    dsn = parts._replace(path=f"/{name}").geturl()
    yield dsn
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def meltano(
    meltano_installed: Path, sandbox: SandboxHandle, pg_database: str, tmp_path: Path
) -> MeltanoProject:
    env = {**sandbox_env(sandbox), **warehouse_env(pg_database)}
    return MeltanoProject(meltano_installed, tmp_path, env)
