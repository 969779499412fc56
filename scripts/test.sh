#!/usr/bin/env bash
# Runs every test cronhook has, over the whole workspace (the product and
# bench/): formatting, lints, unit and integration tests, and the official-SDK
# tests (which install their own Python venv and npm packages under
# sdk-tests/ on first use), and the console's browser test (which installs
# Debian's chromium, as root). Then the integration, SDK and unit tests
# again on PostgreSQL, against a throwaway cluster (scripts/pg-cluster.sh,
# which installs Debian's postgresql when it is missing), and the multi-node
# tests. Works on a fresh machine with Rust, Python 3 and Node installed.
# Usage: scripts/test.sh [extra test-runner args]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing the official SDKs for their tests (skipped when current)"
bash sdk-tests/setup-python.sh
bash sdk-tests/setup-node.sh
bash sdk-tests/setup-workflow.sh
bash sdk-tests/setup-console.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
# The multi-node tests need PostgreSQL: they run in the PostgreSQL pass only.
if cargo nextest --version >/dev/null 2>&1; then
    nextest=yes
    # nextest does not run doc tests; run them first so that nextest's
    # summary is the last word.
    cargo test --workspace --locked --doc --quiet
    cargo nextest run --workspace --locked --no-fail-fast \
        -E 'not binary_id(cronhook::cluster)' "$@"
else
    nextest=no
    cargo test --workspace --locked --no-fail-fast "$@"
fi

echo "== tests on PostgreSQL"
# The same integration, SDK and unit tests (the store and schema tests read
# CRONHOOK_TEST_POSTGRES too) against a throwaway cluster, a schema per test
# database; tests of what only SQLite has (its file, lock, backup, WAL and
# migration fixtures) skip themselves and are listed at the end. Then the
# multi-node tests, alone and one at a time: one of them restarts the
# database.
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/cronhook-pg.XXXXXX")
skips=$(mktemp "${TMPDIR:-/tmp}/cronhook-pg-skips.XXXXXX")
stop_pg() {
    # Quiet: the test runner's summary stays the last word.
    bash scripts/pg-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true
    rm -f "$skips"
}
trap stop_pg EXIT
trap 'exit 130' INT TERM
bash scripts/pg-cluster.sh start "$pg_dir" >/dev/null
eval "$(bash scripts/pg-cluster.sh env "$pg_dir")"
export CRONHOOK_TEST_POSTGRES CRONHOOK_TEST_POSTGRES_DATA
export CRONHOOK_TEST_SKIPS="$skips"
echo "PostgreSQL test cluster: $CRONHOOK_TEST_POSTGRES (data $CRONHOOK_TEST_POSTGRES_DATA)"
status=0
list_skips() {
    echo "== skipped on PostgreSQL (SQLite only)"
    if [ -s "$skips" ]; then
        sort -u "$skips"
    else
        echo "(none)"
    fi
    echo "== multi-node tests on PostgreSQL"
}
if [ "$nextest" = yes ]; then
    # --workspace as above, so that nothing is built again (features unify
    # the same); the filters pick cronhook's own tests. --no-tests=warn:
    # extra name filters may leave one of the two runs empty.
    cargo nextest run --workspace --locked --no-fail-fast --no-tests=warn \
        -E 'package(cronhook) & not binary_id(cronhook::cluster)' "$@" || status=$?
    list_skips
    cargo nextest run --workspace --locked --no-fail-fast --no-tests=warn \
        -E 'binary_id(cronhook::cluster)' --test-threads 1 "$@" || status=$?
else
    targets=()
    for f in tests/*.rs; do
        name=$(basename "$f" .rs)
        [ "$name" = cluster ] || targets+=(--test "$name")
    done
    cargo test -p cronhook --locked --no-fail-fast --lib --bins "${targets[@]}" "$@" \
        || status=$?
    list_skips
    cargo test -p cronhook --locked --no-fail-fast --test cluster "$@" -- --test-threads 1 \
        || status=$?
fi
exit "$status"
