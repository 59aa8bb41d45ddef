#!/usr/bin/env bash
# Runs the whole test suite: unit, integration against crm-sandbox, and end-to-end (real
# `meltano run` into DuckDB and into a throwaway PostgreSQL server started here).
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/e2e -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false

# Meltano and its plugins, once (tests/e2e/meltano_project.py reinstalls when meltano.yml or
# pyproject.toml change); done here so the time shows apart from the tests'.
start=$SECONDS
.venv/bin/python -c 'from tests.e2e.meltano_project import ensure_installed; ensure_installed()'
echo "test.sh: Meltano and plugins ready in $((SECONDS - start)) s"

# A PostgreSQL server for the end-to-end tests, stopped and deleted whatever happens.
pgdir="$(mktemp -d /tmp/crm-pg.XXXXXX)/cluster"
chmod 755 "$(dirname "$pgdir")"  # the server runs as `postgres` when we are root
trap 'bash scripts/postgres.sh stop "$pgdir"; rmdir "$(dirname "$pgdir")" 2>/dev/null || true' EXIT
start=$SECONDS
CRM_TEST_PG_DSN="$(bash scripts/postgres.sh start "$pgdir")"
export CRM_TEST_PG_DSN
echo "test.sh: PostgreSQL ready in $((SECONDS - start)) s at $CRM_TEST_PG_DSN"

.venv/bin/python -m pytest -q "$@"
