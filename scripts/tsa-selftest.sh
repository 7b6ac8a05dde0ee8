#!/usr/bin/env bash
# Checks that clang's thread-safety analysis sees modeld's annotations, so that a clean
# `make tsa` means something: tests/tsa/must_not_compile.cc must draw a -Wthread-safety
# diagnostic on exactly the lines whose code ends in a "// error" comment.
# Usage: scripts/tsa-selftest.sh   (TSA_CXX picks the compiler; default clang++)
set -euo pipefail
cd "$(dirname "$0")/.."
src=tests/tsa/must_not_compile.cc
cxx=${TSA_CXX:-clang++}
want=$(grep -nE '^[[:space:]]*[^/[:space:]].*// error' "$src" | cut -d: -f1 | sort -n | tr '\n' ' ')
out=$("$cxx" -std=c++20 -fsyntax-only -Wthread-safety -Isrc "$src" 2>&1 || true)
got=$(grep -E "^$src:[0-9]+:[0-9]+: (warning|error): .*\[-W[a-z-]*thread-safety" <<<"$out" |
      cut -d: -f2 | sort -nu | tr '\n' ' ' || true)
if [[ -z "$want" || "$want" != "$got" ]]; then
  echo "tsa-selftest: $cxx should flag lines [${want}] of $src, flagged [${got}]:" >&2
  echo "$out" >&2
  exit 1
fi
echo "tsa-selftest: $cxx flags all $(wc -w <<<"$want") locking mistakes in $src"
