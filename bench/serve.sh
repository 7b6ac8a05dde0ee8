#!/usr/bin/env bash
# The server under load: 3 downloads at full speed from a local nginx, with and without
# wrk hammering GET /model-download/{id}/progress from 1,000 connections.
#   bench/serve.sh [SIZE_MIB]     (default 1024 per file)
# Prints wrk's requests/s and latency percentiles and the download throughput beside the
# throughput of the same downloads without the load; and, in the same run, two
# references: the same wrk on the progress endpoint with no download running, and on
# nginx (2 workers) serving a copy of the same JSON body: what this machine allows.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
MODELD=${MODELD:-build/modeld}
for tool in nginx wrk curl jq python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh --bench"; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # wrk and the server need >1000 sockets
work=$(mktemp -d /var/tmp/modeld-serve-bench.XXXXXX)
chmod 755 "$work"
pids=()
trap 'kill ${pids[@]:-} $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/www" "$work/logs"
chmod 755 "$work/www"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_ORIGIN=$(free_port); P_API=$(free_port)
cat > "$work/nginx.conf" <<CONF
daemon on;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path $work/logs; proxy_temp_path $work/logs; fastcgi_temp_path $work/logs;
  uwsgi_temp_path $work/logs; scgi_temp_path $work/logs;
  server { listen 127.0.0.1:$P_ORIGIN; root $work/www; }
}
CONF
P_REF=$(free_port)
sed -e "s/worker_processes 1;/worker_processes 2;/" -e "s|pid $work/nginx.pid|pid $work/ref.pid|" \
    -e "s|listen 127.0.0.1:$P_ORIGIN; root $work/www;|listen 127.0.0.1:$P_REF backlog=4096; root $work/ref;|" \
    "$work/nginx.conf" > "$work/ref.conf"
mkdir -p "$work/ref"; chmod 755 "$work/ref"
echo "generating 3 x ${SIZE_MIB} MiB..." >&2
for f in a b c; do head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/www/$f.bin"; done
cat "$work"/www/*.bin > /dev/null
nginx -c "$work/nginx.conf"

start_server() {  # a fresh data dir each time
  rm -rf "$work/data"
  "$MODELD" --data-dir "$work/data" --log-level warn serve --listen "127.0.0.1:$P_API" 2> "$work/serve.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "127.0.0.1:$P_API/healthz" > /dev/null && return; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}
stop_server() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; }

# run_downloads: starts 3 downloads, waits for all; prints seconds and sets IDS.
run_downloads() {
  IDS=()
  local t0 t1
  t0=$(date +%s.%N)
  for f in a b c; do
    IDS+=("$(curl -s -XPOST "127.0.0.1:$P_API/model-download" \
      -d "{\"model_name\":\"$f\",\"download_url\":\"http://127.0.0.1:$P_ORIGIN/$f.bin\"}" | jq -r .download_id)")
  done
  echo "${IDS[0]}" > "$work/id"
  for id in "${IDS[@]}"; do
    timeout 600 curl -sN "127.0.0.1:$P_API/model-download/$id/events" | grep -q "event: done"
  done
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

start_server
base=$(run_downloads)
stop_server

start_server
rm -f "$work/id"
( sleep 0.3; run_downloads > "$work/loaded" ) &
loader=$!
sleep 0.2
id=""
for _ in $(seq 100); do [[ -s "$work/id" ]] && id=$(cat "$work/id") && break; sleep 0.05; done
wrk -t2 -c1000 -d"$(printf '%.0f' "$(echo "$base + 2" | bc -l)")"s --latency \
  "http://127.0.0.1:$P_API/model-download/$id/progress" > "$work/wrk.txt"
wait $loader
loaded=$(cat "$work/loaded")
# References: the same wrk with no download running (the job is done), then nginx.
curl -s "127.0.0.1:$P_API/model-download/$id/progress" > "$work/ref/progress.json"
wrk -t2 -c1000 -d8s --latency "http://127.0.0.1:$P_API/model-download/$id/progress" > "$work/wrk-idle.txt"
stop_server
nginx -c "$work/ref.conf"
wrk -t2 -c1000 -d8s --latency "http://127.0.0.1:$P_REF/progress.json" > "$work/wrk-nginx.txt"
kill "$(cat "$work/ref.pid")"

bytes=$((3 * SIZE_MIB * 1024 * 1024))
summary() {  # wrk output file -> "N req/s, p50 X, p99 Y [errors]"
  echo "$(awk '/Requests\/sec/ {print $2}' "$1") req/s, p50 $(awk '/^ +50%/ {print $2}' "$1")," \
       "p99 $(awk '/^ +99%/ {print $2}' "$1") $(grep -E "Non-2xx|Socket errors" "$1" || true)"
}
printf '3 downloads, no load:       %6.2f s  %7.1f MB/s\n' "$base" "$(echo "$bytes / $base / 1000000" | bc -l)"
printf '3 downloads, under wrk:     %6.2f s  %7.1f MB/s  (%.1f%% of unloaded; target >= 95%%)\n' \
  "$loaded" "$(echo "$bytes / $loaded / 1000000" | bc -l)" "$(echo "100 * $base / $loaded" | bc -l)"
echo "wrk -t2 -c1000 on /model-download/{id}/progress, 3 downloads running: $(summary "$work/wrk.txt") (target p99 < 10ms)"
echo "  the same, no download running:                 $(summary "$work/wrk-idle.txt")"
echo "  reference, nginx (2 workers), the same JSON:   $(summary "$work/wrk-nginx.txt")"
