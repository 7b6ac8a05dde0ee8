#!/usr/bin/env bash
# CTest's entry to the browser tests (`run.sh [FILE.test.mjs]...`, else every file): skips (77) only when Chromium, Node or the npm
# packages are absent; scripts/install-deps.sh installs all three (npm ci from the lockfile).
set -euo pipefail
cd "$(dirname "$0")"
chromium=${CHROMIUM_BIN:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then echo "skipped: no Chromium at $chromium (scripts/install-deps.sh installs it)"; exit 77; fi
if ! command -v node >/dev/null; then echo "skipped: no node (scripts/install-deps.sh installs it)"; exit 77; fi
if [[ ! -d node_modules/playwright-core || ! -d node_modules/ws ]]; then
  echo "skipped: tests/browser/node_modules is missing (scripts/install-deps.sh runs npm ci there)"; exit 77
fi
if (($# == 0)); then set -- ./*.test.mjs; fi
exec node --test --test-concurrency=1 "$@"
