#!/usr/bin/env bash
# Installs sdk-tests/node/node_modules from the committed package-lock.json.
# Idempotent: skips `npm ci` when node_modules was installed from this lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Tests run in parallel and each runs this script: one install at a time,
# the others wait and then find it current.
exec 9>"$here/.setup.lock"
flock 9
nodedir="$here/node"
lock="$nodedir/package-lock.json"
stamp="$nodedir/node_modules/.cronhook-lock.sha256"

if ! command -v npm >/dev/null 2>&1; then
    echo "setup-node.sh: npm not found" >&2
    exit 1
fi

want="$( (cat "$lock" "$nodedir/package.json"; node --version) | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -f "$nodedir/node_modules/@upstash/qstash/package.json" ]; then
    echo "setup-node.sh: $nodedir/node_modules is up to date"
    exit 0
fi

echo "setup-node.sh: npm ci in $nodedir"
(cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
echo "setup-node.sh: done"
