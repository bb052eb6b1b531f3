#!/usr/bin/env bash
# Start a private MariaDB server for the tests, as the current user, on a loopback port, with
# its data in a fresh temp dir; no systemd, nothing shared with other servers on the machine.
#   source .ci/mariadb.sh; mariadb_start [PORT]  -> exports AUTHD_TEST_MARIADB_URL
#   mariadb_stop                                   -> stops it and removes its dir
# The tests also use mariadb_bin_dir's binaries to run their own private instance (the
# "MariaDB stopped mid-test" test), via AUTHD_TEST_MARIADBD.

mariadb_start() {
    # A free port unless one is given: other CI runs on this machine may have their own server.
    local port="${1:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    MARIADB_DIR="$(mktemp -d /tmp/authd-ci-mariadb.XXXXXX)"
    local user; user="$(id -un)"
    mariadb-install-db --no-defaults --datadir="$MARIADB_DIR/data" --user="$user" \
        --auth-root-authentication-method=normal --skip-test-db >"$MARIADB_DIR/install.log" 2>&1 \
        || { cat "$MARIADB_DIR/install.log"; return 1; }
    mariadbd --no-defaults --datadir="$MARIADB_DIR/data" --user="$user" \
        --bind-address=127.0.0.1 --port="$port" --socket="$MARIADB_DIR/sock" \
        --pid-file="$MARIADB_DIR/pid" --skip-name-resolve --max-connections=1000 \
        --innodb-flush-log-at-trx-commit=2 --log-error="$MARIADB_DIR/error.log" &
    MARIADB_PID=$!
    for _ in $(seq 1 300); do
        if mariadb --no-defaults -uroot -h127.0.0.1 -P"$port" -e 'SELECT 1' >/dev/null 2>&1; then
            export AUTHD_TEST_MARIADB_URL="mysql://root@127.0.0.1:$port"
            return 0
        fi
        if ! kill -0 "$MARIADB_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "MariaDB did not start:" >&2
    cat "$MARIADB_DIR/error.log" >&2
    return 1
}

mariadb_stop() {
    if [ -n "${MARIADB_PID:-}" ]; then
        kill "$MARIADB_PID" 2>/dev/null || true
        wait "$MARIADB_PID" 2>/dev/null || true
        MARIADB_PID=""
    fi
    if [ -n "${MARIADB_DIR:-}" ]; then rm -rf "$MARIADB_DIR"; MARIADB_DIR=""; fi
}
