#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, CI and the carrier load test: Debian's server binaries, a fresh data
# directory under $PG_TEMP_DIR (default /tmp/edge-agent-pg), a loopback TCP port and a unix socket in that
# directory, owned by an unprivileged user (initdb refuses to run as root).
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
URL="postgresql://edge@127.0.0.1:$PORT/carrier"

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
    if [ -f "$DIR/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        echo "$URL"; exit 0
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -U edge --auth=trust --encoding=UTF8 --no-locale >"$DIR/initdb.log"
    # Loopback only; durability stays on (fsync, synchronous_commit): the tests check what a crash keeps.
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR -c max_connections=200 \
         -c shared_buffers=128MB" >/dev/null
    as_owner "$BIN/createdb" -h "$DIR" -p "$PORT" -U edge carrier
    echo "$URL" > "$DIR/url"
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
