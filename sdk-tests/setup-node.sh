#!/usr/bin/env bash
# Installs @upstash/qstash for the Node SDK tests (sdk-tests/node) and for
# the README's Node example (examples/node), each from its committed
# package-lock.json. Idempotent (see npm-ci.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/npm-ci.sh" "$here/node" @upstash/qstash
bash "$here/npm-ci.sh" "$here/../examples/node" @upstash/qstash
