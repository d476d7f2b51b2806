# A private, throw-away PostgreSQL server for the tests: source this file (bash), then
# `mova_pg_start`; it exports MOVA_TEST_PG_URL and stops the server when the shell exits.
#
#   source .ci/postgres.sh && mova_pg_start && .venv/bin/python -m pytest tests/pg tests/store_contract
#
# initdb refuses to run as root, so as root the server runs as the `postgres` user (runuser);
# otherwise as the caller. Data and socket live in one temporary directory, removed on exit.
# Durability is off (fsync, synchronous_commit, full_page_writes): the data is thrown away anyway.

mova_pg_bindir() {
    local dir
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

mova_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

mova_pg_stop() {
    if [ -n "${MOVA_PG_DIR:-}" ] && [ -d "$MOVA_PG_DIR" ]; then
        $MOVA_PG_AS "$MOVA_PG_BIN/pg_ctl" -D "$MOVA_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$MOVA_PG_DIR"
    fi
    unset MOVA_PG_DIR
}

mova_pg_start() {
    local bin port
    if ! bin="$(mova_pg_bindir)"; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && apt-get install -y -qq --no-install-recommends --no-upgrade postgresql >/dev/null
        fi
        bin="$(mova_pg_bindir)" || { echo "postgres.sh: no initdb/pg_ctl found" >&2; return 1; }
    fi
    MOVA_PG_BIN="$bin"
    MOVA_PG_DIR="$(mktemp -d /tmp/mova-pg.XXXXXX)"
    MOVA_PG_AS=""
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$MOVA_PG_DIR"
        MOVA_PG_AS="runuser -u postgres --"
    fi
    chmod 700 "$MOVA_PG_DIR"
    $MOVA_PG_AS "$bin/initdb" -D "$MOVA_PG_DIR/data" -U mova --auth=trust --encoding=UTF8 --no-locale \
        >"$MOVA_PG_DIR/initdb.log" 2>&1 || { cat "$MOVA_PG_DIR/initdb.log" >&2; return 1; }
    port="$(mova_pg_free_port)"
    if ! $MOVA_PG_AS "$bin/pg_ctl" -D "$MOVA_PG_DIR/data" -l "$MOVA_PG_DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $MOVA_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null; then
        cat "$MOVA_PG_DIR/server.log" >&2
        return 1
    fi
    trap mova_pg_stop EXIT
    export MOVA_PG_DIR MOVA_PG_BIN MOVA_PG_AS
    export MOVA_TEST_PG_URL="postgresql://mova@127.0.0.1:$port/postgres"
    echo "postgres.sh: PostgreSQL at $MOVA_TEST_PG_URL (data in $MOVA_PG_DIR)" >&2
}
