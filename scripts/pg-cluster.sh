#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite, in a folder of its own.
#
#   scripts/pg-cluster.sh start DIR   creates DIR, initdb, starts on 127.0.0.1
#                                     on a free port (PG_CLUSTER_PORT=N picks
#                                     it), waits until ready, prints the URL
#   scripts/pg-cluster.sh env DIR     prints `export CRONHOOK_TEST_POSTGRES=..`
#                                     and `export CRONHOOK_TEST_POSTGRES_DATA=..`
#                                     lines for `eval` (the data dir lets a
#                                     test stop and start the database), and
#                                     `export CRONHOOK_TEST_POSTGRES_CA=..`:
#                                     the server also takes TLS, with a
#                                     certificate for 127.0.0.1 signed by a
#                                     throwaway CA (openssl), in DIR/tls
#   scripts/pg-cluster.sh down DIR    fast shutdown, keeps DIR (a test's
#                                     "database restart", first half)
#   scripts/pg-cluster.sh up DIR      starts the stopped cluster again on the
#                                     same port (second half)
#   scripts/pg-cluster.sh stop DIR    fast shutdown, removes DIR
#
# Uses Debian's PostgreSQL (the newest /usr/lib/postgresql/*/bin); installs
# Debian's `postgresql` package with apt-get when there is none (and stops
# the cluster the package itself may have started). As root the
# server runs as the `postgres` system user (initdb refuses root). Tuned for
# tests but durable: fsync stays on, since the crash tests rely on it.
# Idempotent: `start` on a running cluster prints its URL again; `stop` of a
# missing folder does nothing. It only ever stops the cluster whose data
# folder is DIR/data, and only removes a DIR that it created (marker file).
set -euo pipefail

usage() {
    echo "usage: $0 start|env|down|up|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
    /*) ;;
    *) dir="$(pwd)/$dir" ;;
esac
data="$dir/data"
marker="$dir/.cronhook-pg-cluster"

pg_bin() {
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
        echo "$newest"
    fi
}

# Installs Debian package $1, reading the package lists first if they
# do not know it yet.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "$1" >&2; then
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "$1" >&2
    fi
}

install_postgres() {
    echo "pg-cluster: no PostgreSQL found; installing Debian's postgresql" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "pg-cluster: installing needs root (apt-get); install postgresql yourself" >&2
        exit 1
    fi
    apt_install postgresql
    # Where services start (systemd), the package also starts a cluster of
    # its own (`main`, port 5432). There was no PostgreSQL before, so it is
    # this install's: stop it rather than leave a server nobody asked for.
    { pg_lsclusters -h 2>/dev/null || true; } | while read -r ver name _port status _rest; do
        case "$status" in
            online*) pg_ctlcluster "$ver" "$name" stop >&2 || true ;;
        esac
    done
}

# Runs a PostgreSQL program as the user that owns the cluster: `postgres`
# when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A throwaway CA and a server certificate for 127.0.0.1 signed by it, in
# DIR/tls, owned by the cluster's owner (PostgreSQL wants its key private).
make_tls() {
    if ! command -v openssl >/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            apt_install openssl
        else
            echo "pg-cluster: no openssl; the server takes no TLS" >&2
            return 0
        fi
    fi
    local tls="$dir/tls"
    mkdir -p "$tls"
    (
        cd "$tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 30 -subj "/CN=cronhook test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj "/CN=127.0.0.1"
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "basicConstraints=critical,CA:FALSE" "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out server.pem -days 30 -extfile server.ext
        chmod 600 server.key ca.key
    ) >"$dir/tls.log" 2>&1 || { cat "$dir/tls.log" >&2; exit 1; }
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$tls"
    fi
}

# The server options that turn TLS on, when DIR/tls has a certificate.
tls_options() {
    if [ -f "$dir/tls/server.pem" ]; then
        echo "-c ssl=on -c ssl_cert_file=$dir/tls/server.pem -c ssl_key_file=$dir/tls/server.key"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() {
    [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

url() {
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

# Starts the initialised cluster on the port in DIR/port.
launch() {
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/log" -w -t 60 \
        -o "-p $(cat "$dir/port") -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB -c fsync=on $(tls_options)" \
        start >&2
}

bin=$(pg_bin)
case "$cmd" in
    start)
        if [ -z "$bin" ]; then
            install_postgres
            bin=$(pg_bin)
            [ -n "$bin" ] || { echo "pg-cluster: no initdb after installing" >&2; exit 1; }
        fi
        if [ -f "$marker" ] && running; then
            url
            exit 0
        fi
        if [ ! -f "$marker" ]; then
            if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
                echo "pg-cluster: $dir exists and is not empty; not touching it" >&2
                exit 1
            fi
            mkdir -p "$dir"
            touch "$marker"
            if [ "$(id -u)" -eq 0 ]; then
                chown postgres: "$dir"
            fi
            as_owner "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 \
                --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
                || as_owner "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 \
                    --locale=C >"$dir/initdb.log" 2>&1 \
                || { cat "$dir/initdb.log" >&2; exit 1; }
        fi
        # Also for a folder made before the cluster took TLS.
        [ -f "$dir/tls/server.pem" ] || make_tls
        # A free port can be taken between the check and the bind: try a few.
        for attempt in 1 2 3 4 5; do
            if [ -n "${PG_CLUSTER_PORT:-}" ]; then
                echo "$PG_CLUSTER_PORT" >"$dir/port"
            elif [ ! -s "$dir/port" ] || [ "$attempt" -gt 1 ]; then
                free_port >"$dir/port"
            fi
            if launch; then
                url
                exit 0
            fi
            [ -z "${PG_CLUSTER_PORT:-}" ] || break
        done
        echo "pg-cluster: the server did not start; its log:" >&2
        tail -n 30 "$dir/log" >&2 || true
        exit 1
        ;;
    env)
        [ -f "$marker" ] || { echo "pg-cluster: no cluster in $dir" >&2; exit 1; }
        echo "export CRONHOOK_TEST_POSTGRES=$(url)"
        echo "export CRONHOOK_TEST_POSTGRES_DATA=$data"
        if [ -f "$dir/tls/ca.pem" ]; then
            echo "export CRONHOOK_TEST_POSTGRES_CA=$dir/tls/ca.pem"
        fi
        ;;
    down)
        [ -f "$marker" ] || { echo "pg-cluster: no cluster in $dir" >&2; exit 1; }
        if running; then
            as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
        fi
        ;;
    up)
        [ -f "$marker" ] || { echo "pg-cluster: no cluster in $dir" >&2; exit 1; }
        running || launch
        ;;
    stop)
        [ -e "$dir" ] || exit 0
        if [ ! -f "$marker" ]; then
            echo "pg-cluster: $dir was not made by this script; not touching it" >&2
            exit 1
        fi
        if [ -n "$bin" ] && running; then
            as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
        fi
        rm -rf "$dir"
        ;;
    *) usage ;;
esac
