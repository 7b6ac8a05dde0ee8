#!/usr/bin/env bash
# Installs the Debian 12 packages modeld needs to build and test, only those missing.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds nginx, aria2, wrk, hey and GNU time)
# libpqxx-dev is the PostgreSQL registry (--registry); postgresql, the throwaway clusters its tests
# start (tests/pg). Tests need clang and lld (fuzz targets, sanitizers, thread-safety analysis), Chromium (the browser
# tests, driven by playwright-core from tests/browser's lockfile) and Node.js with npm.
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libboost1.81-dev libboost-url1.81-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev libarchive-dev
      nlohmann-json3-dev libspdlog-dev libcli11-dev libgtest-dev curl openssl
      libpqxx-dev postgresql
      python3 python3-requests jq
      clang clang-format libclang-rt-14-dev llvm lld chromium)
if [[ "${1:-}" == "--bench" ]]; then pkgs+=(nginx-light aria2 wrk hey time); fi
# Node.js: Debian's nodejs and npm unless a node with npm is already installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then pkgs+=(nodejs npm); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The browser tests' npm packages (playwright-core, ws) from the committed lockfile, when
# node_modules is missing or older than the lockfile. playwright-core downloads no browser:
# the tests drive Debian's chromium. Without them the browser test says it is skipped.
# The client tests' npm packages (tests/clients: @huggingface/gguf, for the GGUF cross-check;
# @pieces.app/pieces-os-client and ws, for the Pieces dialect) the same way; without them the
# gguf_crosscheck and pieces_client tests say they are skipped.
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in browser clients; do
  pkg=$root/tests/$dir
  if [[ ! -d $pkg/node_modules || $pkg/package-lock.json -nt $pkg/node_modules ]]; then
    echo "installing the $dir tests' npm packages (npm ci in tests/$dir)"
    (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error) ||
      echo "warning: npm ci in tests/$dir failed; its tests will be skipped" >&2
  fi
done
