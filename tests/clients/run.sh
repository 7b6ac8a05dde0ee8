#!/usr/bin/env bash
# CTest's entry to the client tests (node --test): `run.sh [FILE.test.mjs]...` runs those
# files, or every *.test.mjs without arguments. Skips (77) only when Node or the npm
# packages are absent; scripts/install-deps.sh installs both (npm ci from the lockfile).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null; then echo "skipped: no node (scripts/install-deps.sh installs it)"; exit 77; fi
for pkg in @apidevtools/swagger-parser @huggingface/gguf @huggingface/hub @pieces.app/pieces-os-client ollama parse-prometheus-text-format ws; do
  if [[ ! -d node_modules/$pkg ]]; then
    echo "skipped: tests/clients/node_modules/$pkg is missing (scripts/install-deps.sh runs npm ci there)"
    exit 77
  fi
done
if (($# == 0)); then set -- ./*.test.mjs; fi
exec node --test --test-concurrency=1 "$@"
