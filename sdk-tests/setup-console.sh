#!/usr/bin/env bash
# Installs what the console's browser test (tests/console.rs) needs:
# Debian's Chromium at /usr/bin/chromium (apt-get, as root, when it is
# missing) and playwright-core in sdk-tests/console from its committed
# package-lock.json. playwright-core never downloads a browser of its own:
# the test launches /usr/bin/chromium. Idempotent (see npm-ci.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup-console.sh: /usr/bin/chromium is missing; install Debian's chromium" \
             "package (apt-get install -y chromium) as root, or run this script as root" >&2
        exit 1
    fi
    exec 8>"$here/.setup-apt.lock"
    flock 8
    if [ ! -x /usr/bin/chromium ]; then
        echo "setup-console.sh: apt-get install -y chromium"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q chromium; then
            apt-get update -q
            apt-get install -y -q chromium
        fi
    fi
fi
/usr/bin/chromium --version

# Belt and braces: nothing in this install may fetch a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
bash "$here/npm-ci.sh" "$here/console" playwright-core
