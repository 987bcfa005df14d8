#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, CI and the carrier load test: Debian's server binaries, a fresh data
# directory under $PG_TEMP_DIR (default /tmp/edge-agent-pg, 0700), a loopback TCP port and a unix socket in
# $PG_TEMP_DIR/sock (0700, socket 0700), owned by an unprivileged user (initdb refuses to run as root).
# Password authentication (scram-sha-256) on both, never trust: any local user could otherwise connect as
# the superuser. The password is random per start and is only in the URL, which is written 0600.
#
#   tools/pg-temp.sh start   # prints the URL; also written to $PG_TEMP_DIR/url
#   tools/pg-temp.sh url
#   tools/pg-temp.sh stop    # stops the server and deletes the data directory
#
# Tests read the URL from EDGE_AGENT_PG_URL:  export EDGE_AGENT_PG_URL=$(tools/pg-temp.sh start)
set -euo pipefail
DIR=${PG_TEMP_DIR:-/tmp/edge-agent-pg}
PORT=${PG_TEMP_PORT:-55432}
BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$BIN/initdb" ] || { echo "PostgreSQL server binaries not found: apt-get install -y postgresql" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "${1:-}" in
start)
    if [ -f "$DIR/data/postmaster.pid" ] && [ -f "$DIR/url" ] \
        && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        cat "$DIR/url"; exit 0
    fi
    rm -rf "$DIR"
    (umask 077; mkdir -p "$DIR/sock")
    [ "$(id -u)" = 0 ] && chown -R postgres "$DIR"
    PW=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    (umask 077; printf '%s\n' "$PW" > "$DIR/pwfile")
    [ "$(id -u)" = 0 ] && chown postgres "$DIR/pwfile"
    as_owner "$BIN/initdb" -D "$DIR/data" -U edge --auth=scram-sha-256 --pwfile="$DIR/pwfile" --encoding=UTF8 \
        --no-locale >"$DIR/initdb.log"
    rm -f "$DIR/pwfile"
    # Loopback only; durability stays on (fsync, synchronous_commit): the tests check what a crash keeps.
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR/sock -c unix_socket_permissions=0700 \
         -c max_connections=200 -c shared_buffers=128MB" >/dev/null
    as_owner env PGPASSWORD="$PW" "$BIN/createdb" -h "$DIR/sock" -p "$PORT" -U edge carrier
    URL="postgresql://edge:$PW@127.0.0.1:$PORT/carrier"
    (umask 077; echo "$URL" > "$DIR/url")
    echo "$URL"
    ;;
url)
    cat "$DIR/url"
    ;;
stop)
    if [ -d "$DIR/data" ]; then
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start|url|stop" >&2; exit 2
    ;;
esac
