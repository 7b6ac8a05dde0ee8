#!/usr/bin/env bash
# Crash loss (issue 17): what kill -9 costs a download. Each run pulls a SIZE MiB file
# (`modeld pull URL --sha256 HEX`) from the test origin at an aggregate rate, SIGKILLs the
# pull once the origin has sent a random 5-95 % of the file, pulls again (it resumes from
# the journal) and checks the installed file verifies. The origin counts the body bytes it
# sent over both runs, so
#
#   lost = (bytes sent by the killed run + the resumed run) - file size
#
# is everything fetched twice, including what was in flight in socket buffers and what the
# connections had buffered but not written. Prints each run and, per rate, the median and
# the worst, beside a run with no kill (what a download fetches beyond the file anyway).
#
#   bench/crash_loss.sh [RUNS] [SIZE_MIB] [RATE_MBPS...]   defaults: 5 256 32 128
#   env: SEED (bash RANDOM seed; default random, printed), CONNS (connections the rate is
#        split over, default 16: modeld's default for a file this size), MODELD, ORIGIN
#
# The aggregate rate is CONNS connections at RATE/CONNS MB/s each (the origin limits each
# connection, as CDNs do). Partials and data dirs live in /var/tmp (the machine's disk).
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SIZE_MIB=${2:-256}
shift $(($# < 2 ? $# : 2))
RATES=("$@")
((${#RATES[@]} > 0)) || RATES=(32 128)
CONNS=${CONNS:-16}
SEED=${SEED:-$RANDOM$RANDOM}
RANDOM=$SEED
MODELD=${MODELD:-build/modeld}
ORIGIN=${ORIGIN:-build/bench/modeld_bench_soak_origin}
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done
[[ -x $MODELD ]] || { echo "build first: make"; exit 1; }
[[ -x $ORIGIN ]] || cmake --build build --target modeld_bench_soak_origin

W=$(mktemp -d /var/tmp/modeld-crash-loss.XXXXXX)
OP="" PP=""
cleanup() {
  [[ -n $PP ]] && kill -9 "$PP" 2>/dev/null
  [[ -n $OP ]] && kill "$OP" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
export MODELD_ALLOW_PRIVATE_UPSTREAMS=1
unset MODELD_URL MODELD_TOKEN

size=$((SIZE_MIB * 1024 * 1024))
id=0
echo "seed $SEED; ${SIZE_MIB} MiB file; $CONNS connections; $(nproc) cores"
printf '%-6s %-4s %8s %12s %10s %8s %s\n' rate run kill_at sent lost_MiB lost_% result
summary=()
for rate in "${RATES[@]}"; do
  per=$((rate * 1000000 / CONNS))
  "$ORIGIN" --rate "$per" > "$W/origin.out" &
  OP=$!
  for _ in $(seq 200); do [[ -s $W/origin.out ]] && break; sleep 0.05; done
  read -r _ F _ _ < "$W/origin.out"
  losses=()
  for run in $(seq 0 "$RUNS"); do  # run 0: no kill, the baseline
    id=$((id + 1))
    m=$(curl -s "$F/_ctl/new?kind=single&id=$id&size=$size")
    url=$(jq -r .url <<< "$m")
    sha=$(jq -r .sha256 <<< "$m")
    d=$W/d$id
    pull=("$MODELD" --data-dir "$d" pull -q "$url" --sha256 "$sha" --name "crash-$id")
    at="-"
    if ((run > 0)); then
      pct=$((5 + RANDOM % 91))
      kill_bytes=$((size / 100 * pct))
      "${pull[@]}" > "$W/pull.out" 2> "$W/pull.err" &
      PP=$!
      while :; do
        sent=$(curl -s "$F/_ctl/bytes?id=$id" | jq -r .bytes)
        ((sent >= kill_bytes)) && break
        kill -0 "$PP" 2>/dev/null || break
        sleep 0.01
      done
      # A random 0-49 ms more, so the kill is not tied to the moment a poll saw bytes
      # arrive (the origin sends each connection's bytes in bursts every 8-20 ms).
      sleep "$(printf '0.%03d' $((RANDOM % 50)))"
      kill -9 "$PP" 2>/dev/null
      wait "$PP" 2>/dev/null
      PP=""
      at="${pct}%"
    fi
    "${pull[@]}" > "$W/pull.out" 2> "$W/pull.err"
    rc=$?
    sent=$(curl -s "$F/_ctl/bytes?id=$id" | jq -r .bytes)
    lost=$((sent - size))
    if ((rc == 0)); then result="verified"; else result="FAILED rc=$rc: $(tail -1 "$W/pull.err")"; fi
    printf '%-6s %-4s %8s %12d %10.2f %8.3f %s\n' "${rate}MB/s" "$run" "$at" "$sent" \
      "$(bc -l <<< "$lost / 1048576")" "$(bc -l <<< "100 * $lost / $size")" "$result"
    ((run > 0)) && losses+=("$lost")
    ((run == 0)) && base=$lost
    curl -s "$F/_ctl/drop?id=$id" > /dev/null
    rm -rf "$d"
  done
  kill "$OP" 2>/dev/null
  wait "$OP" 2>/dev/null
  OP=""
  sorted=($(printf '%s\n' "${losses[@]}" | sort -n))
  n=${#sorted[@]}
  med=${sorted[$((n / 2))]}
  ((n % 2 == 0)) && med=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2))
  worst=${sorted[$((n - 1))]}
  summary+=("$(printf '%4d MB/s: lost median %6.2f MiB (%.3f %%), worst %6.2f MiB (%.3f %%) over %d kills; no kill: %.3f %%' \
    "$rate" "$(bc -l <<< "$med / 1048576")" "$(bc -l <<< "100 * $med / $size")" \
    "$(bc -l <<< "$worst / 1048576")" "$(bc -l <<< "100 * $worst / $size")" "$n" \
    "$(bc -l <<< "100 * $base / $size")")")
done
echo
printf '%s\n' "${summary[@]}"
