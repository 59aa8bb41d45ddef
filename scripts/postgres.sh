#!/usr/bin/env bash
# A throwaway PostgreSQL server for the end-to-end tests: nothing is left behind.
#
#   scripts/postgres.sh start DIR   install Debian's postgresql when missing, create a cluster in
#                                   DIR, listen on 127.0.0.1 on a free port; prints the DSN
#                                   (postgresql://crm@127.0.0.1:PORT/crm) on stdout
#   scripts/postgres.sh stop DIR    stop that server and delete DIR
#
# PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to the `postgres`
# user that the Debian package creates; as anyone else it runs as that user.
set -euo pipefail

cmd="${1:?usage: postgres.sh start|stop DIR}"
dir="${2:?usage: postgres.sh start|stop DIR}"

log() { echo "postgres.sh: $*" >&2; }

pg_bindir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$found" && -x "$found/initdb" ]]; then
        echo "$found"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

install_postgres() {
    if [[ "$(id -u)" != 0 ]]; then
        log "PostgreSQL is not installed; install it (e.g. sudo apt-get install postgresql) and retry"
        exit 1
    fi
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # policy-rc.d 101 keeps the package from starting its own cluster on port 5432.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get install -y -qq --no-install-recommends postgresql >&2
    [[ "$created_policy" == 1 ]] && rm -f "$policy"
    return 0
}

as_owner() {
    # Run a command as the cluster's owner.
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bindir port
    bindir="$(pg_bindir)"
    if [[ -z "$bindir" ]]; then
        install_postgres
        bindir="$(pg_bindir)"
    fi
    mkdir -p "$dir"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$dir"
    as_owner "$bindir/initdb" -D "$dir/data" -U crm --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    port="$(free_port)"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2 || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U crm crm
    echo "$port" >"$dir/port"
    echo "postgresql://crm@127.0.0.1:$port/crm"
}

stop() {
    local bindir
    bindir="$(pg_bindir)"
    if [[ -n "$bindir" && -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    rm -rf "$dir"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) log "unknown command $cmd (start|stop)"; exit 2 ;;
esac
