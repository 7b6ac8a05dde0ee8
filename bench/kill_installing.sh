#!/usr/bin/env bash
# SIGKILLs `modeld serve` while a job is "installing" (after its bytes are verified), starts
# it again on the same data dir, and prints what the job says after recovery. It should
# say completed (the model is installed); found by bench/soak.sh.
#   bench/kill_installing.sh [N] [KIND]     N rounds (default 20); KIND hub (default) or single
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}; KIND=${2:-hub}
M=${MODELD:-build/modeld}; O=${ORIGIN:-build/bench/modeld_bench_soak_origin}
[[ -x $O ]] || cmake --build build --target modeld_bench_soak_origin
W=$(mktemp -d /var/tmp/modeld-kill-installing.XXXXXX)
export MODELD_ALLOW_PRIVATE_UPSTREAMS=1 HF_HUB_CACHE=$W/hf
args=(); "$M" serve --help | grep -q -- --allow-private-upstreams && args+=(--allow-private-upstreams)
"$O" --rate 4194304 > "$W/origin.out" & OP=$!
SP=""
trap 'kill -9 $SP 2>/dev/null; kill $OP 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do [[ -s $W/origin.out ]] && break; sleep 0.05; done
read -r _ F _ H < "$W/origin.out"; export HF_ENDPOINT=$H
start() {
  "$M" --data-dir "$W/d" serve --listen 127.0.0.1:0 "${args[@]}" 2> "$W/serve.log" & SP=$!
  for _ in $(seq 200); do
    P=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$W/serve.log"); [[ -n $P ]] && return; sleep 0.05
  done
  echo "modeld serve did not start" >&2; exit 1
}
start
failed=0 at_installing=0
for i in $(seq "$N"); do
  m=$(curl -s "$F/_ctl/new?kind=$KIND&id=$i&size=8000000")
  if [[ $KIND == hub ]]; then name=soak/hub-$i; body="{\"model_name\":\"$name\",\"source\":\"huggingface\"}"
  else name=soak-$i; body="{\"model_name\":\"$name\",\"version\":\"v1\",\"download_url\":\"$(jq -r .url <<< "$m")\"}"; fi
  id=$(curl -s -XPOST -H 'Content-Type: application/json' "127.0.0.1:$P/model-download" -d "$body" | jq -r .download_id)
  while :; do
    st=$(curl -s "127.0.0.1:$P/model-download/$id/progress" | jq -r .state)
    [[ $st == installing || $st == completed || $st == failed ]] && break
  done
  kill -9 "$SP"; { wait "$SP"; } 2>/dev/null; start
  for _ in $(seq 300); do
    r=$(curl -s "127.0.0.1:$P/model-download/$id/progress"); s=$(jq -r .state <<< "$r")
    [[ $s == completed || $s == failed ]] && break; sleep 0.1
  done
  installed=$("$M" --data-dir "$W/d" ls --json | jq --arg n "$name" '[.models[] | select(.name == $n)] | length')
  echo "$i: killed while $st -> job $(jq -c '{state, error_code}' <<< "$r"), model installed: $installed"
  [[ $st == installing ]] && at_installing=$((at_installing + 1))
  [[ $s == failed ]] && failed=$((failed + 1))
done
echo "killed while installing: $at_installing; jobs failed after the restart: $failed;" \
     "partial dirs left: $("$M" --data-dir "$W/d" cache --json | jq .partials); verify: $("$M" --data-dir "$W/d" verify > /dev/null; echo "exit $?")"
