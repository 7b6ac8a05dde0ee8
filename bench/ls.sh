#!/usr/bin/env bash
# `modeld ls` with N models registered (default 10,000): median and worst of 20 runs.
#   bench/ls.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
MODELD=${MODELD:-build/modeld}
POPULATE=${POPULATE:-build/bench/modeld_bench_populate}
work=$(mktemp -d /var/tmp/modeld-ls.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "registering $N models..." >&2
start=$(date +%s.%N)
"$POPULATE" "$work" "$N"
echo "registered in $(echo "$(date +%s.%N) - $start" | bc) s" >&2
for cmd in "ls" "ls --json"; do
  times=()
  for i in $(seq 20); do
    t0=$(date +%s%N)
    "$MODELD" --data-dir "$work" $cmd > /dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  printf 'modeld %-10s %6d models: median %6.1f ms, worst %6.1f ms (20 runs; target < 100 ms)\n' \
    "$cmd" "$N" "$(echo "${sorted[9]} / 1000" | bc -l)" "$(echo "${sorted[19]} / 1000" | bc -l)"
done
