#!/usr/bin/env bash
# Creates sdk-tests/python/.venv and installs the pinned Python SDK (and the
# Prometheus client whose parser tests/metrics.rs uses).
# Idempotent: skips the install when the stamp matches the requirements hash.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Tests run in parallel and each runs this script: one install at a time,
# the others wait and then find it current.
exec 9>"$here/.setup.lock"
flock 9
pydir="$here/python"
venv="$pydir/.venv"
req="$pydir/requirements.txt"
stamp="$venv/.requirements.sha256"

python_bin="${PYTHON:-python3}"
if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "setup-python.sh: $python_bin not found" >&2
    exit 1
fi

want="$( (cat "$req"; "$python_bin" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$venv/bin/python" -c 'import qstash, prometheus_client' >/dev/null 2>&1; then
    echo "setup-python.sh: $venv is up to date"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup-python.sh: creating $venv"
    rm -rf "$venv"
    "$python_bin" -m venv "$venv"
fi

echo "setup-python.sh: installing $req"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "setup-python.sh: done"
