#!/usr/bin/env bash
# Runs every test cronhook has, over the whole workspace (the product and
# bench/): formatting, lints, unit and integration tests, and the official-SDK
# tests (which install their own Python venv and npm packages under
# sdk-tests/ on first use), and the console's browser test (which installs
# Debian's chromium, as root). Works on a fresh machine with Rust,
# Python 3 and Node installed. Usage: scripts/test.sh [extra test-runner args]
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
if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doc tests; run them first so that nextest's
    # summary is the last word.
    cargo test --workspace --locked --doc --quiet
    cargo nextest run --workspace --locked --no-fail-fast "$@"
else
    cargo test --workspace --locked --no-fail-fast "$@"
fi
