#!/usr/bin/env bash
# Loading a model into memory: modeld's loader beside the plain ways of reading the file
# into the page cache, from a cold and from a warm page cache, in one run.
#
#   bench/load.sh [SIZE_MIB]        default 1024; RUNS=5 (median of each)
#
# One random file on the machine's disk (/var/tmp). Each run takes, in turn:
#   loader populate-read  Loader::Load as built (MADV_WILLNEED + chunked MADV_POPULATE_READ)
#   loader map-populate   the same with mmap(MAP_POPULATE)
#   loader touch          the same with MADV_WILLNEED + a read of one byte per page
#   cat                   cat FILE > /dev/null
#   dd                    dd if=FILE of=/dev/null bs=16M
# Cold: the file is evicted from the page cache before each (dd iflag=nocache count=0, i.e.
# posix_fadvise DONTNEED; the loader's own line says how much was still cached). Warm: it is
# read once before each. The loader's times are Load's own (in process); cat's and dd's
# include starting the process (about 1 ms). Unload: the time Unload took to return, and
# until the loader's thread had unmapped the file.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNS=${RUNS:-5}
BENCH=${BENCH:-build/bench/modeld_bench_load}
[[ -x $BENCH ]] || { echo "build first: make (builds $BENCH)"; exit 1; }

work=$(mktemp -d /var/tmp/modeld-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
FILE=$work/model.gguf
echo "generating ${SIZE_MIB} MiB test file..." >&2
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > "$FILE"
sync "$FILE"

evict() { dd if="$FILE" iflag=nocache count=0 status=none; }
warm() { cat "$FILE" > /dev/null; }
# timed CMD...: the milliseconds CMD took.
timed() {
  local t0 t1
  t0=$(date +%s%N)
  "$@"
  t1=$(date +%s%N)
  echo "scale=3; ($t1 - $t0) / 1000000" | bc
}
read_cat() { cat "$FILE" > /dev/null; }
read_dd() { dd if="$FILE" of=/dev/null bs=16M status=none; }

results=$work/results
for run in $(seq "$RUNS"); do
  for cache in cold warm; do
    for tool in populate-read map-populate touch cat dd; do
      if [[ $cache == cold ]]; then evict; else warm; fi
      case $tool in
        cat) echo "$cache cat $(timed read_cat)" >> "$results" ;;
        dd) echo "$cache dd $(timed read_dd)" >> "$results" ;;
        *) echo "$cache $tool $("$BENCH" "$FILE" "$tool")" >> "$results" ;;
      esac
    done
  done
  echo "run $run of $RUNS done" >&2
done

python3 - "$results" "$SIZE_MIB" "$RUNS" <<'PY'
import statistics, sys
path, size_mib, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    cache, tool, *vals = line.split()
    rows.setdefault((cache, tool), []).append([float(v) for v in vals])
tools = ["populate-read", "map-populate", "touch", "cat", "dd"]
med = lambda xs: statistics.median(xs)
print(f"{size_mib} MiB file, median of {runs} runs; ratio = time / the fastest of cat and dd")
print(f"{'cache':6} {'tool':22} {'ms':>9} {'MB/s':>8} {'ratio':>6} {'resident':>9} {'cached_before':>14}")
for cache in ["cold", "warm"]:
    fastest = min(med([r[0] for r in rows[(cache, t)]]) for t in ["cat", "dd"])
    for t in tools:
        r = rows[(cache, t)]
        ms = med([x[0] for x in r])
        mbs = size_mib * 1048576 / 1e6 / (ms / 1000)
        name = t if t in ("cat", "dd") else "loader " + t
        extra = ""
        if len(r[0]) > 1:
            extra = f"{100 * med([x[1] for x in r]) / (size_mib << 20):8.1f}% {100 * max(x[2] for x in r) / (size_mib << 20):13.1f}%"
        print(f"{cache:6} {name:22} {ms:9.1f} {mbs:8.0f} {ms / fastest:5.2f}x {extra}")
loads = [x for (c, t), r in rows.items() if t not in ("cat", "dd") for x in r]
print(f"unload ({len(loads)} unloads): returned in median {med([x[3] for x in loads]):.3f} ms, "
      f"worst {max(x[3] for x in loads):.3f} ms; unmapped after median {med([x[4] for x in loads]):.2f} ms, "
      f"worst {max(x[4] for x in loads):.2f} ms")
for cache in ["cold", "warm"]:
    fastest = min(med([r[0] for r in rows[(cache, t)]]) for t in ["cat", "dd"])
    ms = med([x[0] for x in rows[(cache, "populate-read")]])
    print(f"{cache}: loader {ms / fastest:.2f}x the fastest read (target <= 1.1x: {'met' if ms / fastest <= 1.1 else 'NOT met'})")
PY
