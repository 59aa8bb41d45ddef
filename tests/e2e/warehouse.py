"""Read what a loader wrote, the same way for DuckDB and PostgreSQL.

Loaders name columns their own way (target-duckdb lower-cases `FirstName` to `firstname`,
target-postgres snake-cases it to `first_name`), so rows come back keyed by a normalised name:
lower case without underscores (`firstname`, `updatetime`, `sdcbatchedat`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import psycopg


def norm(name: str) -> str:
    return name.lower().replace("_", "")


class Warehouse:
    def tables(self, schema: str) -> set[str]:
        raise NotImplementedError

    def rows(self, schema: str, table: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def by_id(self, schema: str, table: str, key: str) -> dict[Any, dict[str, Any]]:
        """Rows keyed by their id column; fails on duplicates (an upsert that appended)."""
        rows = self.rows(schema, table)
        keyed = {row[norm(key)]: row for row in rows}
        assert len(keyed) == len(rows), f"{schema}.{table} holds duplicate {key}s"
        return keyed


class DuckDBWarehouse(Warehouse):
    def __init__(self, path: Path) -> None:
        self.path = path

    def tables(self, schema: str) -> set[str]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            found = conn.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [schema],
            ).fetchall()
        return {name for (name,) in found}

    def rows(self, schema: str, table: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            cursor = conn.execute(f'select * from "{schema}"."{table}"')
            names = [norm(column[0]) for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PostgresWarehouse(Warehouse):
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def tables(self, schema: str) -> set[str]:
        with psycopg.connect(self.dsn) as conn:
            found = conn.execute(
                "select table_name from information_schema.tables where table_schema = %s",
                [schema],
            ).fetchall()
        return {name for (name,) in found}

    def rows(self, schema: str, table: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn) as conn:
            cursor = conn.execute(f'select * from "{schema}"."{table}"')
            names = [norm(column.name) for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
