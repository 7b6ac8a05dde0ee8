#!/usr/bin/env bash
# The server under load at a fixed request rate, beside nginx (issue 9's target): at RATE
# requests a second over 50 and over 1,000 keep-alive connections, with three downloads
# running, the p99 of GET /model-download/{id}/progress against nginx's serving the same
# JSON bytes with the same load generator, in the same run and under the same three
# downloads; and the downloads' speed against the same downloads with no load.
#
#   bench/serve.sh [SIZE_MIB]     (default 1024 per file)
#   env: RATE (1000 req/s), CONNS ("50 1000"), BASE_RUNS (2 unloaded runs, first and last,
#        averaged),
#        NGINX_WORKERS (1, as modeld's one I/O thread on 2 cores), CAPACITY (1: also the
#        saturated req/s of each with wrk -c50, no download running), MODELD, LOADGEN,
#        NGINX_DAEMON (0: each nginx runs in this script's session, as modeld does; 1: nginx
#        daemonizes, as the runs before 2026-11-30 did)
# Every server runs in the same session, so in the same scheduling group: with the
# kernel's autogroups on (/proc/sys/kernel/sched_autogroup_enabled, Debian's default), a
# daemonized nginx (setsid) gets a group, and so a CPU share, of its own, while modeld's
# I/O thread shares one with its download threads and the load generator.
#
# For each connection count, three runs of the same load (build/bench/modeld_bench_loadgen:
# open loop, latency counted from when each request was due; why not hey: bench/loadgen.cc):
#   modeld  the progress endpoint of a running download, 3 downloads running (a fresh data dir)
#   nginx   a copy of that progress JSON from nginx, while modeld runs the same 3 downloads
#   idle    modeld's progress endpoint with no download running (a finished job)
# The downloads come from a local nginx origin (1 worker), one file each.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RATE=${RATE:-1000}
CONNS=${CONNS:-50 1000}
BASE_RUNS=${BASE_RUNS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-1}
CAPACITY=${CAPACITY:-1}
NGINX_DAEMON=${NGINX_DAEMON:-0}
MODELD=${MODELD:-build/modeld}
LOADGEN=${LOADGEN:-build/bench/modeld_bench_loadgen}
for tool in nginx curl jq python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh --bench"; exit 1; }
done
[[ $CAPACITY == 1 ]] && { command -v wrk >/dev/null || { echo "missing wrk: scripts/install-deps.sh --bench"; exit 1; }; }
[[ -x $MODELD ]] || { echo "build first: make"; exit 1; }
[[ -x $LOADGEN ]] || cmake --build build --target modeld_bench_loadgen
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # 1,000 connections on each side
work=$(mktemp -d /var/tmp/modeld-serve-bench.XXXXXX)
chmod 755 "$work"
SERVER_PID=""
LG_PID=""
cleanup() {
  set +e
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null
  [[ -n $LG_PID ]] && kill "$LG_PID" 2>/dev/null
  kill "$(cat "$work/origin.pid" 2>/dev/null)" "$(cat "$work/ref.pid" 2>/dev/null)" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/www" "$work/ref" "$work/logs"
chmod 755 "$work/www" "$work/ref"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_conf() {  # NAME PORT ROOT WORKERS
  local daemon=off
  [[ $NGINX_DAEMON == 1 ]] && daemon=on
  cat > "$work/$1.conf" <<CONF
daemon $daemon;
worker_processes $4;
pid $work/$1.pid;
error_log $work/logs/$1.error.log;
events { worker_connections 8192; }
http {
  access_log off; sendfile on; tcp_nopush on; default_type application/json;
  keepalive_requests 10000000; keepalive_timeout 600s;
  client_body_temp_path $work/logs; proxy_temp_path $work/logs; fastcgi_temp_path $work/logs;
  uwsgi_temp_path $work/logs; scgi_temp_path $work/logs;
  server { listen 127.0.0.1:$2 backlog=4096; root $3; }
}
CONF
  if [[ $NGINX_DAEMON == 1 ]]; then
    nginx -c "$work/$1.conf"
  else
    nginx -c "$work/$1.conf" &
  fi
  # Up when it answers (a 404 for / is an answer).
  for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$2/" && return 0
    sleep 0.05
  done
  echo "nginx $1 did not start" >&2
  return 1
}
P_ORIGIN=$(free_port); P_REF=$(free_port)
echo "generating 3 x ${SIZE_MIB} MiB..." >&2
for f in a b c; do head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/www/$f.bin"; done
cat "$work"/www/*.bin > /dev/null
sync  # the files' write-back must not slow the first (unloaded) runs
nginx_conf origin "$P_ORIGIN" "$work/www" 1
nginx_conf ref "$P_REF" "$work/ref" "$NGINX_WORKERS"

serve_args=()  # the SSRF guard refuses loopback origins unless told (issue 9)
"$MODELD" serve --help 2>/dev/null | grep -q -- --allow-private-upstreams && serve_args+=(--allow-private-upstreams)
start_server() {  # a fresh data dir each time; sets SERVER_PID and P_API
  rm -rf "$work/data"
  sync  # each run starts with the last one's 3 files written back
  MODELD_ALLOW_PRIVATE_UPSTREAMS=1 "$MODELD" --data-dir "$work/data" --log-level warn serve \
    --listen 127.0.0.1:0 "${serve_args[@]}" 2> "$work/serve.log" &
  SERVER_PID=$!
  for _ in $(seq 200); do
    P_API=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.log")
    [[ -n $P_API ]] && return
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "modeld serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

start_downloads() {  # sets IDS and T0
  IDS=()
  T0=$(date +%s.%N)
  local f r
  for f in a b c; do
    r=$(curl -sS -XPOST -H 'Content-Type: application/json' "127.0.0.1:$P_API/model-download" \
      -d "{\"model_name\":\"$f\",\"download_url\":\"http://127.0.0.1:$P_ORIGIN/$f.bin\"}")
    IDS+=("$(jq -r .download_id <<< "$r")")
    [[ ${IDS[-1]} == dwnld_* ]] || { echo "POST /model-download: $r" >&2; exit 1; }
  done
}
wait_downloads() {  # sets ELAPSED (seconds from T0 to the last one installed)
  local id
  for id in "${IDS[@]}"; do
    timeout 900 curl -sN "127.0.0.1:$P_API/model-download/$id/events" | grep -q "event: done"
    [[ $(curl -s "127.0.0.1:$P_API/model-download/$id/progress" | jq -r .status) == completed ]] ||
      { echo "download $id did not complete:" >&2; curl -s "127.0.0.1:$P_API/model-download/$id/progress" >&2; exit 1; }
  done
  ELAPSED=$(echo "$(date +%s.%N) - $T0" | bc -l)
}

# The load generator: connects CONNS connections to PORT and says "ready"; then "go PATH"
# (on its stdin, a FIFO) starts the load, and "stop" ends it and prints one JSON line.
lg_start() {  # PORT CONNS
  rm -f "$work/lg.in" "$work/lg.out"; mkfifo "$work/lg.in"
  "$LOADGEN" --port "$1" --connections "$2" --rate "$RATE" < "$work/lg.in" > "$work/lg.out" &
  LG_PID=$!
  exec 7> "$work/lg.in"
  for _ in $(seq 600); do
    grep -q '^ready' "$work/lg.out" && return
    kill -0 "$LG_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "the load generator did not connect" >&2; exit 1
}
lg_go() { echo "go $1" >&7; }
lg_stop() {  # OUT_FILE
  echo stop >&7
  exec 7>&-
  wait "$LG_PID" || true
  tail -n 1 "$work/lg.out" > "$1"
}

results="$work/results.txt"; : > "$results"
unloaded() {  # one run of the 3 downloads with no load
  echo "unloaded downloads..." >&2
  start_server; start_downloads; wait_downloads; stop_server
  echo "base $ELAPSED" >> "$results"
}
unloaded  # the first; the others at the end, so that drift shows

for c in $CONNS; do
  echo "$c connections: modeld..." >&2
  start_server
  lg_start "$P_API" "$c"
  start_downloads
  curl -s "127.0.0.1:$P_API/model-download/${IDS[0]}/progress" > "$work/ref/progress.json"
  lg_go "/model-download/${IDS[0]}/progress"
  wait_downloads
  lg_stop "$work/lg-modeld-$c.json"
  echo "loaded modeld $c $ELAPSED $work/lg-modeld-$c.json" >> "$results"
  # The reference: modeld runs the same downloads while nginx takes the load.
  echo "$c connections: nginx..." >&2
  stop_server; start_server
  lg_start "$P_REF" "$c"
  start_downloads
  lg_go /progress.json
  wait_downloads
  lg_stop "$work/lg-nginx-$c.json"
  echo "loaded nginx $c $ELAPSED $work/lg-nginx-$c.json" >> "$results"
  # modeld with no download running, as long as the loaded run (a finished job's progress).
  echo "$c connections: modeld, no download..." >&2
  id=${IDS[0]}
  lg_start "$P_API" "$c"
  lg_go "/model-download/$id/progress"
  sleep "$ELAPSED"  # the length of the measurement
  lg_stop "$work/lg-idle-$c.json"
  echo "idle modeld $c 0 $work/lg-idle-$c.json" >> "$results"
  stop_server
done

for ((i = 1; i < BASE_RUNS; i++)); do unloaded; done

if [[ $CAPACITY == 1 ]]; then  # what each answers flat out (wrk, closed loop), no download running
  echo "capacity..." >&2
  start_server; start_downloads; wait_downloads
  wrk -t1 -c50 -d5s "http://127.0.0.1:$P_API/model-download/${IDS[0]}/progress" > "$work/wrk-modeld.txt"
  stop_server
  wrk -t1 -c50 -d5s "http://127.0.0.1:$P_REF/progress.json" > "$work/wrk-nginx.txt"
  echo "capacity modeld $(awk '/Requests\/sec/ {print $2}' "$work/wrk-modeld.txt")" >> "$results"
  echo "capacity nginx $(awk '/Requests\/sec/ {print $2}' "$work/wrk-nginx.txt")" >> "$results"
fi

python3 - "$results" "$SIZE_MIB" "$RATE" "$NGINX_WORKERS" "$(nproc)" "$(wc -c < "$work/ref/progress.json")" "$NGINX_DAEMON" <<'PY'
import json, sys
lines = [l.split() for l in open(sys.argv[1])]
size_mib, rate, workers, cores, json_bytes, daemon = sys.argv[2:]
total = 3 * int(size_mib) * 1024 * 1024
base = [float(l[1]) for l in lines if l[0] == "base"]
b = sum(base) / len(base)
print(f"3 downloads of {size_mib} MiB from a local nginx; {cores} cores; load {rate} req/s, "
      f"open loop; nginx {workers} worker(s) serving the same {json_bytes} bytes of progress JSON, "
      f"{'daemonized (a scheduling group of its own)' if daemon == '1' else 'in the same session as modeld'}")
print("unloaded: " + ", ".join(f"{t:.2f} s ({total / t / 1e6:.0f} MB/s)" for t in base) +
      f"; mean {b:.2f} s")
print()
print(f"{'conns':>5} {'server':<13} {'req/s':>7} {'p50_ms':>7} {'p90_ms':>7} {'p99_ms':>7} {'max_ms':>7} "
      f"{'errors':>6} {'conns':>6} {'p99/nginx':>9} {'downloads':>22}")
runs = {}
for l in lines:
    if l[0] in ("loaded", "idle"):
        kind, server, conns, elapsed, path = l
        runs[(kind, server, int(conns))] = (float(elapsed), json.load(open(path)))
verdicts = []
for conns in sorted({k[2] for k in runs}):
    nginx = runs.get(("loaded", "nginx", conns))
    for key, label in ((("loaded", "modeld", conns), "modeld"), (("loaded", "nginx", conns), "nginx"),
                       (("idle", "modeld", conns), "modeld idle")):
        if key not in runs:
            continue
        elapsed, r = runs[key]
        ratio = f"{r['p99_ms'] / nginx[1]['p99_ms']:.2f}x" if nginx and label == "modeld" else ""
        dl = (f"{total / elapsed / 1e6:5.0f} MB/s {100 * b / elapsed:5.1f}%" if elapsed else "")
        print(f"{conns:>5} {label:<13} {r['achieved_rps']:>7.1f} {r['p50_ms']:>7.2f} {r['p90_ms']:>7.2f} "
              f"{r['p99_ms']:>7.2f} {r['max_ms']:>7.1f} {r['errors'] + r['non2xx'] + r['unanswered']:>6} "
              f"{r['connects']:>6} {ratio:>9} {dl:>22}")
    m = runs.get(("loaded", "modeld", conns))
    if m and nginx:
        ratio = m[1]["p99_ms"] / nginx[1]["p99_ms"]
        keep = 100 * b / m[0]
        verdicts.append(f"{conns} connections: p99 {ratio:.2f}x nginx's (target <= 1.2x: "
                        f"{'met' if ratio <= 1.2 else 'NOT met'}); downloads at {keep:.0f}% of unloaded "
                        f"(target >= 95%: {'met' if keep >= 95 else 'NOT met'})")
print()
print("\n".join(verdicts))
cap = {l[1]: l[2] for l in lines if l[0] == "capacity"}
if cap:
    print(f"capacity, no download running (wrk -t1 -c50, closed loop): modeld {cap.get('modeld')} req/s, "
          f"nginx {cap.get('nginx')} req/s")
print("columns: req/s achieved; latency from when each request was due (not when sent); errors = "
      "failed + non-2xx + unanswered; conns = connections opened (= the count: all kept alive); "
      "downloads = their speed and % of the unloaded mean (nginx row: modeld's downloads while nginx "
      "took the load)")
PY
