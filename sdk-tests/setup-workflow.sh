#!/usr/bin/env bash
# Installs examples/workflow/node_modules (@upstash/workflow 1.3.3 and
# @upstash/qstash 2.12.0) from the example's committed package-lock.json.
# sdk-tests/workflow/ imports the example's modules, so this one install serves
# both the example and its end-to-end test (tests/workflow.rs).
# Idempotent: skips `npm ci` when node_modules was installed from this lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Tests run in parallel and each runs this script: one install at a time,
# the others wait and then find it current.
exec 9>"$here/.setup.lock"
flock 9
appdir="$(cd "$here/../examples/workflow" && pwd)"
lock="$appdir/package-lock.json"
stamp="$appdir/node_modules/.cronhook-lock.sha256"

if ! command -v npm >/dev/null 2>&1; then
    echo "setup-workflow.sh: npm not found" >&2
    exit 1
fi

want="$( (cat "$lock" "$appdir/package.json"; node --version) | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -f "$appdir/node_modules/@upstash/workflow/package.json" ] \
    && [ -f "$appdir/node_modules/@upstash/qstash/package.json" ]; then
    echo "setup-workflow.sh: $appdir/node_modules is up to date"
    exit 0
fi

echo "setup-workflow.sh: npm ci in $appdir"
(cd "$appdir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
echo "setup-workflow.sh: done"
