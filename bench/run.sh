#!/usr/bin/env bash
# Download benchmark: modeld vs curl vs aria2c, side by side, against a local nginx.
#
#   bench/run.sh [SIZE_MIB] [RATE]      defaults: 1024 MiB, per-connection cap 25m
#
# Two origins are started from Debian's nginx on 127.0.0.1: one uncapped, one with
# `limit_rate RATE` on every connection (as CDNs cap). Each tool downloads the same
# file from each; the table shows wall time, MB/s, CPU seconds and peak RSS from GNU
# time, and the ratios the targets are stated in. modeld also verifies SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RATE=${2:-25m}
RUNS=${RUNS:-1}
MODELD=${MODELD:-build/modeld}
for tool in nginx aria2c curl /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/install-deps.sh --bench"; exit 1; }
done
[[ -x $MODELD ]] || { echo "build first: make"; exit 1; }

work=$(mktemp -d /var/tmp/modeld-bench.XXXXXX)
trap 'kill $(cat "$work/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/www" "$work/out" "$work/logs"
chmod 755 "$work" "$work/www"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P_FAST=$(free_port); P_CAP=$(free_port)
cat > "$work/nginx.conf" <<CONF
daemon on;
worker_processes 1;  # the origin stands in for a remote server: leave the client a core
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $work/logs; proxy_temp_path $work/logs; fastcgi_temp_path $work/logs;
  uwsgi_temp_path $work/logs; scgi_temp_path $work/logs;
  server { listen 127.0.0.1:$P_FAST; root $work/www; }
  server { listen 127.0.0.1:$P_CAP; root $work/www; limit_rate $RATE; }
}
CONF
echo "generating ${SIZE_MIB} MiB test file..." >&2
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$work/www/model.bin"
SHA=$(sha256sum "$work/www/model.bin" | cut -d' ' -f1)
BYTES=$(stat -c %s "$work/www/model.bin")
nginx -c "$work/nginx.conf"
cat "$work/www/model.bin" > /dev/null  # warm the page cache for every tool alike

# run NAME ORIGIN CMD...: prints "wall user sys rss_kb" of one run, output removed after.
run() {
  local out="$work/out/model.bin"
  rm -f "$out" "$out".* "$work"/out/*.aria2
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/stdout" 2> "$work/stderr" || {
    echo "FAILED: $*" >&2; cat "$work/stderr" >&2; return 1; }
  [[ $(stat -c %s "$out") == "$BYTES" ]] || { echo "wrong size from $1" >&2; return 1; }
  cat "$work/time"
}

declare -A WALL
STAT=${STAT:-median}  # or best
printf '\n%-8s %-10s %8s %9s %8s %9s %s\n' origin tool wall_s MB/s cpu_s rss_MiB note
for origin in uncapped capped; do
  port=$P_FAST; [[ $origin == capped ]] && port=$P_CAP
  url="http://127.0.0.1:$port/model.bin"
  declare -A RESULTS=()
  # The tools take turns, run by run, so that drift in the machine's load is shared.
  for ((i = 0; i < RUNS; i++)); do
    for tool in curl aria2c modeld; do
      case $tool in
        curl) r=$(run curl -sS -o "$work/out/model.bin" "$url") ;;
        aria2c) r=$(run aria2c -x16 -s16 -k1M -q --allow-overwrite=true \
                      --auto-file-renaming=false -d "$work/out" -o model.bin "$url") ;;
        modeld) r=$(run "$MODELD" --allow-private-upstreams pull -q --json "$url" -o "$work/out/model.bin" --sha256 "$SHA") ;;
      esac
      note="-"
      [[ $tool == modeld ]] && note="sha256 verified; last byte -> installed $(python3 -c \
        'import json,sys; print("%.3f s" % json.load(open(sys.argv[1]))["finalize_seconds"])' "$work/stdout")"
      RESULTS[$tool]+="$r|$note"$'\n'
    done
  done
  for tool in curl aria2c modeld; do
    # The median run by wall time (the lower middle for an even count), or the best.
    pick=$(printf '%s' "${RESULTS[$tool]}" | sort -t' ' -k1,1g | \
      if [[ $STAT == best ]]; then head -1; else awk -v n="$RUNS" 'NR == int((n + 1) / 2)'; fi)
    walls=$(printf '%s' "${RESULTS[$tool]}" | cut -d' ' -f1 | tr '\n' ' ')
    IFS='|' read -r best note <<< "$pick"
    [[ $note == "-" ]] && note=""
    [[ $RUNS -gt 1 ]] && note="$note (runs: $walls)"
    read -r wall user sys rss <<< "$best"
    WALL[$origin.$tool]=$wall
    python3 - "$origin" "$tool" "$wall" "$user" "$sys" "$rss" "$BYTES" "$note" <<'PY'
import sys
origin, tool, wall, user, sys_, rss, size, note = sys.argv[1:]
wall = float(wall); mbps = int(size) / wall / 1e6
print(f"{origin:<8} {tool:<10} {wall:8.2f} {mbps:9.1f} {float(user)+float(sys_):8.2f} {int(rss)/1024:9.1f} {note}")
PY
  done
done
python3 - "${WALL[uncapped.curl]}" "${WALL[uncapped.aria2c]}" "${WALL[uncapped.modeld]}" \
  "${WALL[capped.aria2c]}" "${WALL[capped.modeld]}" <<'PY'
import sys
uc, ua, um, ca, cm = map(float, sys.argv[1:])
print()
print(f"uncapped: modeld speed = {uc/um:.2f}x curl (target >= 0.8), {ua/um:.2f}x aria2c (target > 1)")
print(f"capped:   modeld speed = {ca/cm:.2f}x aria2c -x16 (target >= 1)")
PY
echo "size ${SIZE_MIB} MiB, per-connection cap $RATE, $STAT of $RUNS run(s), tools in turn; $(nproc) cores"
