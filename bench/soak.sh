#!/usr/bin/env bash
# Soak: PULLS pulls (default 200), each SIGKILLed at a random moment and restarted, then
# checks that nothing is corrupt, stuck or left behind (issue 9, "Keep proving it").
#
#   bench/soak.sh [PULLS]
#   env: SEED (bash RANDOM seed; default random, printed), RATE (bytes/s per origin
#        connection, default 2 MiB/s), MIN_MIB/MAX_MIB (size of a pull, 2/16),
#        KILL_MS (kills land uniformly in 0..KILL_MS after the start, default 2500),
#        KINDS ("single hub tar.gz zip"), VIA ("cli srv"), KEEP (1: keep the work dir),
#        MODELD, ORIGIN (build/bench/modeld_bench_soak_origin)
#
# Half the pulls are `modeld pull` (in-process; killed, then the same command again), half
# go through `modeld serve` (POST /model-download; the server is killed, started again on
# the same data dir, and must resume the job on its own). Kinds, in turn: a single file,
# a Hub repository from the Hub mimic (2 LFS files on a CDN, 2 small files), a .tar.gz and
# a .zip to extract. Every pull gets new content from bench/soak_origin.cc, so the
# store's de-duplication never makes one a no-op.
#
# At the end the server is started once more and every job must reach completed, failed
# or cancelled; then `modeld verify` must be clean, every installed file must match the
# digest of the bytes the origin made (sha256sum, not modeld) and the registry's, and
# `modeld gc` must leave nothing: a second gc removes nothing, no partial download is left.
set -euo pipefail
cd "$(dirname "$0")/.."
PULLS=${1:-200}
SEED=${SEED:-$RANDOM$RANDOM}
RANDOM=$SEED
RATE=${RATE:-$((2 * 1024 * 1024))}
MIN_MIB=${MIN_MIB:-2}
MAX_MIB=${MAX_MIB:-16}
KILL_MS=${KILL_MS:-2500}
MODELD=${MODELD:-build/modeld}
ORIGIN=${ORIGIN:-build/bench/modeld_bench_soak_origin}
for tool in curl jq python3 sha256sum; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh"; exit 1; }
done
[[ -x $MODELD ]] || { echo "build first: make"; exit 1; }
[[ -x $ORIGIN ]] || cmake --build build --target modeld_bench_soak_origin

work=$(mktemp -d /var/tmp/modeld-soak.XXXXXX)
data=$work/data
mkdir -p "$work/manifest" "$work/logs"
SERVER_PID="" ORIGIN_PID=""
cleanup() {
  set +e
  [[ -n $SERVER_PID ]] && kill -9 "$SERVER_PID" 2>/dev/null
  [[ -n $ORIGIN_PID ]] && kill "$ORIGIN_PID" 2>/dev/null
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# Local origins need the SSRF guard relaxed (issue 9); the flag too once modeld has it.
export MODELD_ALLOW_PRIVATE_UPSTREAMS=1 HF_HUB_CACHE=$work/hf MODELD_HOME=$data
unset MODELD_URL MODELD_TOKEN HF_TOKEN
serve_args=()
"$MODELD" serve --help 2>/dev/null | grep -q -- --allow-private-upstreams && serve_args+=(--allow-private-upstreams)

"$ORIGIN" --rate "$RATE" > "$work/origin.out" &
ORIGIN_PID=$!
for _ in $(seq 200); do [[ -s $work/origin.out ]] && break; sleep 0.05; done
read -r _ FILES _ HUB < "$work/origin.out"
export HF_ENDPOINT=$HUB
ctl() { curl -sf "$FILES/_ctl/$1"; }

SERVER_STARTS=0 SERVER_RESUMED=0
start_server() {  # on the same data dir; sets SERVER_PID and API
  SERVER_STARTS=$((SERVER_STARTS + 1))
  local log=$work/logs/serve-$SERVER_STARTS.log
  "$MODELD" --data-dir "$data" serve --listen 127.0.0.1:0 "${serve_args[@]}" 2> "$log" &
  SERVER_PID=$!
  local port=""
  for _ in $(seq 400); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "modeld serve did not start:" >&2; cat "$log" >&2; exit 1; }
  API=http://127.0.0.1:$port
  grep -q "resuming" "$log" && SERVER_RESUMED=$((SERVER_RESUMED + 1))
  return 0
}
kill_server() { kill -9 "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# Waits until job ID is completed, failed or cancelled (at most 300 s); prints its state.
wait_job() {
  local deadline=$((SECONDS + 300)) p state
  while ((SECONDS < deadline)); do
    p=$(curl -s "$API/model-download/$1/progress" || true)
    state=$(jq -r '.state // empty' <<< "$p" 2>/dev/null || true)
    case $state in
      completed) echo completed; return ;;
      failed|cancelled) echo "$state $(jq -c '{error, error_code}' <<< "$p")"; return ;;
    esac
    sleep 0.1
  done
  echo "stuck $(jq -c '{state, status}' <<< "$p" 2>/dev/null)"
}

combos=()  # "via kind", in turn
for kind in ${KINDS:-single hub tar.gz zip}; do
  for via in ${VIA:-cli srv}; do combos+=("$via $kind"); done
done
results=$work/results.tsv  # n via kind killed resumed outcome detail
: > "$results"
echo "soak: $PULLS pulls, seed $SEED, data in $work" >&2
start_server
for ((n = 1; n <= PULLS; n++)); do
  read -r via kind <<< "${combos[$(((n - 1) % ${#combos[@]}))]}"
  size=$(((MIN_MIB + RANDOM % (MAX_MIB - MIN_MIB + 1)) * 1024 * 1024 + RANDOM))
  ctl "new?kind=$kind&id=$n&size=$size" > "$work/manifest/$n.json"
  url=$(jq -r '.url // empty' "$work/manifest/$n.json")
  delay=$((RANDOM * 32768 + RANDOM))
  delay=$((delay % KILL_MS))
  killed=0 resumed=0 outcome="" detail=""
  if [[ $via == cli ]]; then
    case $kind in
      single) args=("$url" --name "soak-cli-$n:v1" --sha256 "$(jq -r .sha256 "$work/manifest/$n.json")") ;;
      hub) args=("soak/hub-$n") ;;
      *) args=("$url" --name "soak-cli-$n:v1") ;;
    esac
    "$MODELD" --data-dir "$data" pull "${args[@]}" -q --json > "$work/logs/pull-$n-a.json" 2> "$work/logs/pull-$n-a.err" &
    pid=$!
    sleep_ms "$delay"
    if kill -9 "$pid" 2>/dev/null; then killed=1; fi
    rc=0; { wait "$pid"; } 2>/dev/null || rc=$?
    if ((killed)) && ((rc != 137)); then killed=0; fi  # it had exited already
    if ((killed)); then
      rc=0
      timeout 600 "$MODELD" --data-dir "$data" pull "${args[@]}" -q --json > "$work/logs/pull-$n-b.json" \
        2> "$work/logs/pull-$n-b.err" || rc=$?
      out=$work/logs/pull-$n-b
    else
      out=$work/logs/pull-$n-a
    fi
    case $rc in
      0) outcome=completed
         [[ $(jq -r '.resumed_bytes // 0' "$out.json") != 0 ]] && resumed=1 ;;
      10) outcome=completed detail="already installed when run again" ;;
      *) outcome=failed detail="exit $rc: $(tail -n 1 "$out.err")" ;;
    esac
  else
    case $kind in
      single) body=$(jq -nc --arg u "$url" --arg s "sha256:$(jq -r .sha256 "$work/manifest/$n.json")" \
                       --arg m "soak-srv-$n" '{model_name: $m, version: "v1", download_url: $u, checksum: $s}') ;;
      hub) body=$(jq -nc --arg m "soak/hub-$n" '{model_name: $m, source: "huggingface"}') ;;
      *) body=$(jq -nc --arg u "$url" --arg m "soak-srv-$n" '{model_name: $m, version: "v1", download_url: $u}') ;;
    esac
    r=$(curl -s -XPOST -H 'Content-Type: application/json' "$API/model-download" -d "$body")
    id=$(jq -r '.download_id // empty' <<< "$r")
    if [[ -z $id ]]; then
      outcome=failed detail="POST: $r"
    else
      sleep_ms "$delay"
      state=$(curl -s "$API/model-download/$id/progress" | jq -r .state)
      kill_server
      [[ $state != completed ]] && killed=1
      before=$SERVER_RESUMED
      start_server
      ((SERVER_RESUMED > before)) && resumed=1
      read -r outcome detail <<< "$(wait_job "$id")"
    fi
  fi
  bytes=$(ctl "bytes?id=$n" | jq .bytes)
  ctl "drop?id=$n" > /dev/null
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$via" "$kind" "$killed" "$resumed" "$outcome" \
    "$bytes" "$(jq .download_size "$work/manifest/$n.json")" "$detail" >> "$results"
  if ((n % 20 == 0)); then echo "  $n/$PULLS pulls" >&2; fi
done

# One more restart: every job record must end completed, failed or cancelled.
kill_server
start_server
stuck=0
deadline=$((SECONDS + 300))
while :; do
  stuck=$(curl -s "$API/model-download" | jq '[.downloads[] | select(.state | IN("completed","failed","cancelled") | not)] | length')
  ((stuck == 0 || SECONDS > deadline)) && break
  sleep 0.2
done
curl -s "$API/model-download" > "$work/jobs.json"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""

verify_rc=0
"$MODELD" --data-dir "$data" verify > "$work/verify.txt" 2>&1 || verify_rc=$?
# Every installed file against the origin's digest (sha256sum) and the registry's.
"$MODELD" --data-dir "$data" ls --json > "$work/ls.json"
bad_files=0 checked_files=0 models=0
while read -r ref path; do
  models=$((models + 1))
  n=$(grep -o '[0-9]*$' <<< "${ref%%:*}")
  "$MODELD" --data-dir "$data" info "$ref" --json > "$work/info.json"
  while read -r rel reg_sha; do
    checked_files=$((checked_files + 1))
    want=$(jq -r --arg p "$rel" '.files[] | select(.path == $p) | .sha256' "$work/manifest/$n.json")
    got=$(sha256sum "$path/$rel" 2>/dev/null | cut -d' ' -f1 || true)
    if [[ -z $want || $got != "$want" || $got != "$reg_sha" ]]; then
      bad_files=$((bad_files + 1))
      echo "BAD FILE $ref $rel: origin ${want:-none}, registry $reg_sha, on disk ${got:-missing}" >&2
    fi
  done < <(jq -r '.files[] | "\(.path) \(.sha256)"' "$work/info.json")
  wanted=$(jq '.files | length' "$work/manifest/$n.json")
  have=$(jq '.files | length' "$work/info.json")
  ((wanted == have)) || { bad_files=$((bad_files + 1)); echo "BAD MODEL $ref: $have files, expected $wanted" >&2; }
done < <(jq -r '.models[] | "\(.ref) \(.path)"' "$work/ls.json")

"$MODELD" --data-dir "$data" gc --partials-older-than 0 --json > "$work/gc1.json" 2>&1 || true
"$MODELD" --data-dir "$data" gc --partials-older-than 0 --json > "$work/gc2.json" 2>&1 || true
"$MODELD" --data-dir "$data" cache --json > "$work/cache.json" 2>&1 || true
leftover=$(find "$data" \( -name '*.part' -o -name '*.journal' \) | wc -l)

python3 - "$results" "$work" "$PULLS" "$SEED" "$verify_rc" "$bad_files" "$checked_files" "$models" \
  "$stuck" "$leftover" "$SERVER_STARTS" <<'PY'
import collections, json, sys
res, work, pulls, seed, verify_rc, bad, checked, models, stuck, leftover, starts = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(res)]
def load(p):
    try:
        return json.load(open(f"{work}/{p}"))
    except Exception as e:
        return {"unreadable": open(f"{work}/{p}").read()[:300]}
killed = sum(r[3] == "1" for r in rows)
resumed = sum(r[4] == "1" for r in rows)
outcomes = collections.Counter(r[5] for r in rows)
served = sum(int(r[6]) for r in rows); size = sum(int(r[7]) for r in rows)
print(f"soak: {len(rows)} pulls (seed {seed}): "
      + ", ".join(f"{k} {v}" for k, v in sorted(collections.Counter((r[1], r[2]) for r in rows).items())))
print(f"  killed (SIGKILL while running): {killed}; finished before the kill: {len(rows) - killed}")
print(f"  resumed (CLI: resumed_bytes > 0; server: restart said 'resuming'): {resumed}; server starts: {starts}")
print(f"  outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
for r in rows:
    if r[5] != "completed" or r[8]:
        print(f"    pull {r[0]} ({r[1]}, {r[2]}): {r[5]} {r[8]}")
print(f"  bytes: {size} to fetch, {served} served by the origins, "
      f"{served - size} re-downloaded ({100 * (served - size) / max(size, 1):.1f}%)")
for key in sorted({(r[1], r[2]) for r in rows}):
    sub = [r for r in rows if (r[1], r[2]) == key]
    s_size = sum(int(r[7]) for r in sub); s_served = sum(int(r[6]) for r in sub)
    print(f"    {key[0]} {key[1]:<7} {len(sub):3} pulls, {sum(r[3] == '1' for r in sub):3} killed, "
          f"{sum(r[4] == '1' for r in sub):3} resumed, re-downloaded {100 * (s_served - s_size) / max(s_size, 1):5.1f}%")
print(f"  jobs not completed/failed/cancelled after the final restart: {stuck}")
print(f"  modeld verify: exit {verify_rc}")
print(f"  installed models: {models}; files checked with sha256sum: {checked}; bad: {bad}")
g1, g2, cache = load("gc1.json"), load("gc2.json"), load("cache.json")
print(f"  gc: first {json.dumps(g1)}")
print(f"      second {json.dumps(g2)}")
print(f"  cache after gc: {json.dumps({k: v for k, v in cache.items() if 'partial' in k}) if isinstance(cache, dict) else cache}")
print(f"  .part/.journal files left: {leftover}")
PY
