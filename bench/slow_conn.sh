#!/usr/bin/env bash
# One slow connection: modeld vs aria2c -x16 vs curl, side by side, against the test origin
# (build/bench/modeld_bench_slow_origin) where one connection of a download slows to
# 10 KB/s from the middle of the file, as a CDN edge gone bad does.
#
#   bench/slow_conn.sh [SIZE_MIB] [RATE]     defaults: 1024 MiB, no per-connection cap
#   RUNS=5 (median of), LIMIT=120 (seconds a tool may take before it is stopped)
#
# For each tool: the download with no slow connection ("clean") and with one ("slow");
# the time, and the bytes the origin sent. modeld's target: slow within 1.15x of clean.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RATE=${2:-0}
RUNS=${RUNS:-5}
LIMIT=${LIMIT:-120}
MODELD=${MODELD:-build/modeld}
ORIGIN=${ORIGIN:-build/bench/modeld_bench_slow_origin}
for tool in aria2c curl python3 timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh --bench"; exit 1; }
done
[[ -x $MODELD && -x $ORIGIN ]] || { echo "build first: make"; exit 1; }

work=$(mktemp -d /var/tmp/modeld-slow.XXXXXX)
coproc ORIG { exec "$ORIGIN" "$SIZE_MIB" "$RATE" 10000; }
trap 'kill $ORIG_PID 2>/dev/null || true; rm -rf "$work"' EXIT
read -r BASE SHA <&"${ORIG[0]}"
URL="$BASE/model.bin"
BYTES=$((SIZE_MIB * 1024 * 1024))
ctl() { curl -sS "$BASE/_ctl/$1"; }

# one TOOL MODE: prints "seconds bytes_sent ok|timeout|fail"
one() {
  local tool=$1 mode=$2 out="$work/model.bin" rc=0
  rm -f "$out" "$out".* "$work"/*.aria2
  curl -sS -r 0-0 -o /dev/null "$URL"  # the origin's first request copies the file: not timed
  ctl "arm?slow=$([[ $mode == slow ]] && echo 1 || echo 0)" > /dev/null
  local t0 t1
  t0=$(date +%s.%N)
  case $tool in
    curl) timeout "$LIMIT" curl -sS -o "$out" "$URL" || rc=$? ;;
    aria2c) timeout "$LIMIT" aria2c -x16 -s16 -k1M -q --allow-overwrite=true \
              --auto-file-renaming=false -d "$work" -o model.bin "$URL" || rc=$? ;;
    modeld) timeout "$LIMIT" "$MODELD" --allow-private-upstreams --data-dir "$work/data" \
              pull -q --local "$URL" -o "$out" --sha256 "$SHA" > /dev/null || rc=$? ;;
  esac
  t1=$(date +%s.%N)
  local sent status=ok
  sent=$(ctl bytes | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
  if [[ $rc == 124 ]]; then status=timeout
  elif [[ $rc != 0 || $(stat -c %s "$out" 2>/dev/null || echo 0) != "$BYTES" ]]; then status=fail; fi
  echo "$(python3 -c "print('%.2f' % ($t1 - $t0))") $sent $status"
}

median() { python3 -c 'import statistics,sys; print("%.2f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }

echo "size ${SIZE_MIB} MiB, per-connection rate ${RATE:-0} B/s (0: none), slow connection 10 KB/s from the middle; ${RUNS} runs each, median; tools stopped after ${LIMIT} s"
printf '%-8s %-6s %9s %12s %s\n' tool mode median_s sent_MiB runs
declare -A MED
for tool in modeld aria2c curl; do
  for mode in clean slow; do
    runs=$RUNS
    # The others are stopped at LIMIT when slow: once is enough to show it.
    [[ $tool != modeld && $mode == slow ]] && runs=1
    times=() sents=() states=()
    for ((i = 0; i < runs; i++)); do
      read -r s b st < <(one "$tool" "$mode")
      times+=("$s"); sents+=("$b"); states+=("$st")
    done
    MED[$tool.$mode]=$(median "${times[@]}")
    printf '%-8s %-6s %9s %12s %s\n' "$tool" "$mode" "${MED[$tool.$mode]}" \
      "$(python3 -c "print('%.1f' % ($(median "${sents[@]}") / 1048576))")" "${times[*]} (${states[*]})"
  done
done
python3 - "${MED[modeld.clean]}" "${MED[modeld.slow]}" "${MED[aria2c.slow]}" "${MED[curl.slow]}" <<'PY'
import sys
clean, slow, aria, curl = map(float, sys.argv[1:])
print(f"modeld slow/clean = {slow / clean:.2f}x (target <= 1.15); aria2c slow = {aria / clean:.1f}x "
      f"modeld clean, curl slow = {curl / clean:.1f}x (both stopped at the limit if they reached it)")
PY
