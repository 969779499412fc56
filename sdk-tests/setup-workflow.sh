#!/usr/bin/env bash
# Installs examples/workflow/node_modules (@upstash/workflow 1.3.3 and
# @upstash/qstash 2.12.0) from the example's committed package-lock.json.
# sdk-tests/workflow/ imports the example's modules, so this one install serves
# both the example and its end-to-end test (tests/workflow.rs).
# Idempotent (see npm-ci.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/npm-ci.sh" "$here/../examples/workflow" @upstash/workflow @upstash/qstash
