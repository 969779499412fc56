#!/usr/bin/env bash
# npm-ci.sh DIR PACKAGE...: installs DIR/node_modules from DIR's committed
# package-lock.json, unless it was installed from this very lock (and Node)
# already and every PACKAGE is there. The setup scripts call it; tests run
# in parallel, so one install runs at a time and the others wait for it and
# then find it current.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(cd "$1" && pwd)"
shift

exec 9>"$here/.setup.lock"
flock 9

if ! command -v npm >/dev/null 2>&1; then
    echo "npm-ci.sh: npm not found" >&2
    exit 1
fi

stamp="$dir/node_modules/.cronhook-lock.sha256"
want="$( (cat "$dir/package-lock.json" "$dir/package.json"; node --version) | sha256sum | cut -d' ' -f1)"
current=true
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] || current=false
for package in "$@"; do
    [ -f "$dir/node_modules/$package/package.json" ] || current=false
done
if $current; then
    echo "npm-ci.sh: $dir/node_modules is up to date"
    exit 0
fi

echo "npm-ci.sh: npm ci in $dir"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
echo "npm-ci.sh: done"
