#!/usr/bin/env bash
# `make demo`: the whole pipeline on this machine, against crm-sandbox.
#
#   1. installs the Meltano plugins of meltano.yml (Meltano itself comes from `make meltano`)
#   2. starts crm-sandbox with a seeded account (both APIs) on a free port
#   3. meltano run crm-to-duckdb: Pipedrive and Onpipeline into output/demo/crm.duckdb
#   4. prints the rows per table, builds the CRM model (dbt-duckdb:build, transform/) and
#      queries it across both providers
#   5. meltano run csv-to-crm: data/contacts.csv into the sandbox's Pipedrive, and
#      target-crm's summary
#   6. stops the sandbox; the DuckDB file stays for you to query
#
# Every demo starts a new sandbox, so both runs ignore earlier bookmarks (--full-refresh). It
# uses the `sandbox` Meltano environment (meltano.yml), so its state, DuckDB file and id
# maps never mix with runs against the real APIs. DEMO_SIZE sets the account size (deals).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
MELTANO=.venv-meltano/bin/meltano
DEMO_DIR=output/demo
SIZE="${DEMO_SIZE:-200}"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_ENVIRONMENT=sandbox
started=$SECONDS

step() { printf '\n== %s\n' "$*"; }
elapsed() { echo "$((SECONDS - $1)) s"; }

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
log="$DEMO_DIR/meltano.log"

step "Installing the Meltano plugins (log: $log)"
t=$SECONDS
"$MELTANO" install >>"$log" 2>&1 || { tail -n 30 "$log"; exit 1; }
echo "installed in $(elapsed "$t")"

step "Starting crm-sandbox (seed 42, $SIZE deals)"
"$BIN/crm-sandbox" serve --port 0 --size "$SIZE" >"$DEMO_DIR/sandbox.json" 2>"$DEMO_DIR/sandbox.log" &
sandbox_pid=$!
trap 'kill -TERM "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    grep -q '}' "$DEMO_DIR/sandbox.json" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || { cat "$DEMO_DIR/sandbox.log" >&2; exit 1; }
    sleep 0.1
done
# The first line holds the URLs and the token: hand them to the plugins as a user's .env would.
eval "$("$BIN/python" - "$DEMO_DIR/sandbox.json" <<'PY'
import json
import shlex
import sys

urls = json.loads(open(sys.argv[1], encoding="utf-8").readline())
for name, value in {
    "PIPEDRIVE_API_URL": urls["pipedrive"],
    "PIPEDRIVE_API_TOKEN": urls["api_token"],
    "ONPIPELINE_API_URL": urls["onpipeline"],
    "ONPIPELINE_API_TOKEN": urls["api_token"],
    "ONPIPELINE_TIMEZONE": "Europe/Rome",  # the sandbox account's time zone
    "ONPIPELINE_REQUESTS_PER_MINUTE": "0",  # no pacing against the local sandbox
}.items():
    print(f"export {name}={shlex.quote(value)}")
PY
)"
echo "Pipedrive API at $PIPEDRIVE_API_URL, Onpipeline API at $ONPIPELINE_API_URL"

step "meltano run crm-to-duckdb (both providers into DuckDB)"
t=$SECONDS
"$MELTANO" run --full-refresh crm-to-duckdb >>"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }
echo "done in $(elapsed "$t")"

step "What landed in $DEMO_DIR/crm.duckdb (rows per table)"
"$BIN/python" - "$DEMO_DIR/crm.duckdb" <<'PY'
import sys

import duckdb

with duckdb.connect(sys.argv[1], read_only=True) as conn:
    tables = conn.execute(
        "select table_schema, table_name from information_schema.tables order by 1, 2"
    ).fetchall()
    print(f"{'table':<45}{'rows':>8}")
    for schema, table in tables:
        (rows,) = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
        print(f"{schema + '.' + table:<45}{rows:>8}")
PY

step "meltano run dbt-duckdb:build (the CRM model: one set of crm_* tables for both providers)"
t=$SECONDS
"$MELTANO" run dbt-duckdb:build >>"$log" 2>&1 || { tail -n 40 "$log"; exit 1; }
grep -o 'Done\. PASS=.*' "$log" | tail -n 1
echo "done in $(elapsed "$t")"

step "One query across both CRMs (unified.crm_deals, docs/crm-model.md)"
"$BIN/python" - "$DEMO_DIR/crm.duckdb" <<'PY'
import sys

import duckdb

with duckdb.connect(sys.argv[1], read_only=True) as conn:
    conn.sql(
        "select provider, status, count(*) as deals, sum(value) as value"
        " from unified.crm_deals group by all order by provider, status"
    ).show(max_width=160)
    # The three largest open deals of each CRM, with their stage and owner by name.
    conn.sql(
        "select d.provider, d.title, d.value, d.currency, d.stage_name, d.owner_name,"
        " p.name as person from unified.crm_deals d"
        " left join unified.crm_persons p using (person_key) where d.status = 'open'"
        " qualify row_number() over (partition by d.provider order by d.value desc) <= 3"
        " order by d.provider, d.value desc"
    ).show(max_width=160)
PY

step "meltano run csv-to-crm (data/contacts.csv into the sandbox's Pipedrive)"
t=$SECONDS
"$MELTANO" run --full-refresh csv-to-crm >"$DEMO_DIR/csv-to-crm.log" 2>&1 || {
    cat "$DEMO_DIR/csv-to-crm.log" >>"$log"; tail -n 40 "$DEMO_DIR/csv-to-crm.log"; exit 1;
}
cat "$DEMO_DIR/csv-to-crm.log" >>"$log"
# target-crm's summary table, without Meltano's timestamps.
sed -n 's/^.*\] target-crm--pipedrive[[:space:]]*//p' "$DEMO_DIR/csv-to-crm.log" |
    sed -n '/^target-crm$/,$p'
echo "done in $(elapsed "$t")"

step "Stopping crm-sandbox"
kill -TERM "$sandbox_pid" && wait "$sandbox_pid" 2>/dev/null || true
trap - EXIT

printf '\nDemo finished in %s. Query the data:\n' "$(elapsed "$started")"
echo "  $BIN/python -c \"import duckdb; print(duckdb.connect('$DEMO_DIR/crm.duckdb').sql('select title, value, currency from pipedrive.deals limit 5'))\""
echo "  $BIN/python -c \"import duckdb; print(duckdb.connect('$DEMO_DIR/crm.duckdb').sql('select provider, title, value, stage_name, owner_name from unified.crm_deals limit 5'))\""
echo "Meltano's full log: $log"
