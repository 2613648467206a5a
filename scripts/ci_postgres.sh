#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the distributed-search tests.
#
#   scripts/ci_postgres.sh start [DIR]   initialise a cluster in DIR (default: a new temp dir),
#                                        start it on 127.0.0.1 on a free port, create the
#                                        database "ecgnas", print its URL on stdout:
#                                        postgresql://postgres@127.0.0.1:PORT/ecgnas
#   scripts/ci_postgres.sh restart DIR   restart it (same port; tests of a storage outage)
#   scripts/ci_postgres.sh stop DIR      stop that server and delete DIR
#
# Typical use (.ci/run):
#   PG_DIR=$(mktemp -d)
#   export ECGNAS_TEST_POSTGRES_URL=$(bash scripts/ci_postgres.sh start "$PG_DIR")
#   trap 'bash scripts/ci_postgres.sh stop "$PG_DIR"' EXIT
#
# The server listens on 127.0.0.1 only (no other address, TCP or otherwise), keeps its Unix
# socket inside DIR, and trusts local connections: it is for tests, never for real data.
# PostgreSQL refuses to run as root, so as root the cluster is run as the "postgres" user
# (created by the distribution's package); as any other user it runs as that user.
# Needs the PostgreSQL server binaries (Debian/Ubuntu: apt-get install -y postgresql).
set -euo pipefail

die() {
    echo "ci_postgres: $*" >&2
    exit 1
}

pg_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    local best
    best="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$best" ] && [ -x "$best/pg_ctl" ] ||
        die "PostgreSQL server binaries not found (apt-get install -y postgresql)"
    echo "$best"
}

# run a command as the cluster owner (postgres when we are root)
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'EOF'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

start() {
    local dir="${1:-}"
    [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/ecgnas-pg.XXXXXX")"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [ ! -e "$dir/data" ] || die "$dir/data already exists (stop the old server first)"
    local bin
    bin="$(pg_bin)"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the server as"
        chown postgres "$dir"
        chmod 700 "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --no-instructions >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    }
    local port="" try
    for try in 1 2 3 4 5; do
        port="$(free_port)"
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start \
            >/dev/null 2>&1; then
            break
        fi
        port=""
        echo "ci_postgres: start on port attempt $try failed, retrying" >&2
    done
    if [ -z "$port" ]; then
        cat "$dir/server.log" >&2 || true
        die "the server did not start"
    fi
    echo "$port" >"$dir/port"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres ecgnas ||
        die "createdb failed"
    echo "ci_postgres: server in $dir on 127.0.0.1:$port (stop: $0 stop $dir)" >&2
    echo "postgresql://postgres@127.0.0.1:$port/ecgnas"
}

restart() {
    local dir="${1:-}"
    [ -n "$dir" ] || die "usage: $0 restart DIR"
    [ -d "$dir/data" ] || die "no cluster in $dir"
    local bin
    bin="$(pg_bin)"
    # pg_ctl reuses the options of the previous start (postmaster.opts): same port, loopback
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart \
        >/dev/null 2>&1 || die "restart failed (see $dir/server.log)"
}

stop() {
    local dir="${1:-}"
    [ -n "$dir" ] || die "usage: $0 stop DIR"
    [ -d "$dir/data" ] || die "no cluster in $dir"
    local bin
    bin="$(pg_bin)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
        true
    rm -rf "$dir"
}

case "${1:-}" in
start) start "${2:-}" ;;
restart) restart "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: $0 start [DIR] | restart DIR | stop DIR" ;;
esac
