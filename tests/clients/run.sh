#!/usr/bin/env bash
# CTest's entry to the client tests (node --test): skips (77) only when Node or the npm
# packages are absent; scripts/install-deps.sh installs both (npm ci from the lockfile).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null; then echo "skipped: no node (scripts/install-deps.sh installs it)"; exit 77; fi
if [[ ! -d node_modules/@huggingface/gguf ]]; then
  echo "skipped: tests/clients/node_modules is missing (scripts/install-deps.sh runs npm ci there)"; exit 77
fi
exec node --test --test-concurrency=1 ./*.test.mjs
