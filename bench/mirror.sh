#!/usr/bin/env bash
# The Hub mirror under a team's load: CLIENTS clients (curl, as huggingface_hub's plain
# GETs) downloading one cold LFS file at once, straight from the Hub mimic (API + CDN, each
# CDN connection capped at RATE_MIB MiB/s, as a real CDN edge is), then through modeld
# (`modeld serve --hub-upstream`), cold and then warm (from the store).
#
#   bench/mirror.sh [SIZE_MIB] [RATE_MIB]     defaults: 512 MiB, 40 MiB/s a connection
#   CLIENTS=8
#
# For each round: the wall time until every client has the whole file, time to first
# byte (median and worst), the bytes the upstream sent, and whether every client's bytes
# hash to the file's sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-512}
RATE_MIB=${2:-40}
CLIENTS=${CLIENTS:-8}
MODELD=${MODELD:-build/modeld}
MIMIC=${MIMIC:-build/tests/origin/modeld_hub_mimic}
for tool in curl python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done
[[ -x $MODELD && -x $MIMIC ]] || { echo "build first: make"; exit 1; }

work=$(mktemp -d /var/tmp/modeld-mirror.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/big.bin"
SHA=$(sha256sum "$work/big.bin" | cut -d' ' -f1)
COMMIT=0123456789abcdef0123456789abcdef01234567
cat > "$work/repos.json" <<JSON
{"repos": [{"id": "org/big", "commit": "$COMMIT", "refs": ["main"],
            "files": [{"path": "big.bin", "file": "$work/big.bin", "lfs": true}]}],
 "rate": $((RATE_MIB * 1024 * 1024))}
JSON
mkfifo "$work/mimic.out"
"$MIMIC" "$work/repos.json" > "$work/mimic.out" < <(sleep infinity) &
pids+=($!)
read -r line < "$work/mimic.out"
API=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api"])' "$line")
bytes() { curl -sS "$API/_ctl/bytes" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])'; }

mkfifo "$work/modeld.fifo"
"$MODELD" --allow-private-upstreams --data-dir "$work/data" --log-level warn serve \
  --listen 127.0.0.1:0 --hub-upstream "$API" 2> "$work/modeld.fifo" &
pids+=($!)
exec 3< "$work/modeld.fifo"
PORT=
while read -r -u 3 l; do
  if [[ $l =~ listening\ on\ 127\.0\.0\.1:([0-9]+) ]]; then PORT=${BASH_REMATCH[1]}; break; fi
  echo "modeld: $l"
done
[[ -n $PORT ]] || { echo "modeld did not start"; exit 1; }
cat <&3 > "$work/modeld.err" &  # keeps its stderr flowing
MIRROR=http://127.0.0.1:$PORT

# round LABEL BASE: CLIENTS clients at once; prints the round's figures.
round() {
  local label=$1 url="$2/org/big/resolve/main/big.bin" before after t0 t1 i ok=0
  before=$(bytes)
  t0=$(date +%s.%N)
  local clients=()
  for i in $(seq 1 "$CLIENTS"); do
    ( curl -sSL "$url" -w '%{stderr}%{time_starttransfer}\n' 2> "$work/t.$i" | sha256sum \
        | cut -d' ' -f1 > "$work/s.$i" ) &
    clients+=($!)
  done
  wait "${clients[@]}"
  t1=$(date +%s.%N)
  after=$(bytes)
  for i in $(seq 1 "$CLIENTS"); do [[ $(cat "$work/s.$i") == "$SHA" ]] && ok=$((ok + 1)); done
  python3 - "$label" "$t0" "$t1" "$before" "$after" "$ok" "$CLIENTS" "$SIZE_MIB" "$work" <<'PY'
import statistics, sys
label, t0, t1, before, after, ok, n, size, work = sys.argv[1:]
ttfb = sorted(float(open(f"{work}/t.{i}").read().split()[0]) for i in range(1, int(n) + 1))
wall = float(t1) - float(t0)
up = (int(after) - int(before)) / (int(size) * 1024 * 1024)
print(f"{label:16s} {wall:8.2f} s {statistics.median(ttfb):8.3f} s {ttfb[-1]:8.3f} s"
      f" {up:9.2f} x {ok}/{n} verified")
PY
}

echo "$CLIENTS clients, ${SIZE_MIB} MiB file, CDN capped at ${RATE_MIB} MiB/s a connection"
echo "round              wall      ttfb med  ttfb max  upstream bytes (x file)"
round direct "$API"
round "modeld (cold)" "$MIRROR"
round "modeld (warm)" "$MIRROR"
