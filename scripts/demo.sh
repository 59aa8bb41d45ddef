#!/usr/bin/env bash
# `make demo`: start crm-sandbox, show both simulated APIs answering, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

workdir=$(mktemp -d)
"$BIN/crm-sandbox" serve --size 100 >"$workdir/urls.json" 2>"$workdir/stderr" &
sandbox_pid=$!
cleanup() {
    kill -TERM "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

# The first stdout line is a JSON object with the URLs and credentials: wait for it.
for _ in $(seq 300); do
    grep -q '}' "$workdir/urls.json" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || { cat "$workdir/stderr" >&2; exit 1; }
    sleep 0.1
done
echo "crm-sandbox is up: $(head -n 1 "$workdir/urls.json")"
echo

"$BIN/python" - "$workdir/urls.json" <<'PY'
import json
import sys

import requests

urls = json.loads(open(sys.argv[1]).readline())
token = urls["api_token"]


def show(title, response, rows, columns):
    print(f"== {title} -> HTTP {response.status_code}")
    if not response.ok:
        print("   ", response.text[:300])
        return
    for row in rows(response.json())[:5]:
        print("   ", "  ".join(f"{name}={row.get(name)!s:.30}" for name in columns))
    print()


deals = requests.get(
    f"{urls['pipedrive']}/api/v2/deals",
    params={"limit": 5},
    headers={"x-api-token": token},
    timeout=30,
)
show(
    f"Pipedrive  GET {urls['pipedrive']}/api/v2/deals?limit=5",
    deals,
    lambda body: body.get("data") or [],
    ["id", "title", "value", "currency", "status", "update_time"],
)

persons = requests.post(
    f"{urls['onpipeline']}/PersonList", json={}, headers={"Authorization": token}, timeout=30
)
show(
    f"Onpipeline POST {urls['onpipeline']}/PersonList",
    persons,
    lambda body: body.get("Data") or [],
    ["PersonID", "Fullname", "OrgName", "Created"],
)

counters = requests.get(f"{urls['control']}/counters", timeout=30).json()
print("== control: GET /_sandbox/counters ->", json.dumps(counters))
PY
echo
echo "stopping crm-sandbox"
