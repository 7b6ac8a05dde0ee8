#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets in $FUZZ_BUILD (clang, -fsanitize=fuzzer,address,
# undefined) and runs each on a temporary copy of its seed corpus (fuzz/corpus/<target>),
# printing executions, exec/s and coverage per target. Any crash, sanitizer report or
# broken invariant leaves its reproducer in $FUZZ_ARTIFACTS/<target>/ and fails the run.
#
# Environment:
#   FUZZ_SECONDS=60       time per target (0: no limit; then set FUZZ_RUNS)
#   FUZZ_RUNS=N           stop each target after N executions (the bench: 10000000)
#   FUZZ_TARGETS="a b"    only these targets (names without _fuzz; default: all)
#   FUZZ_MERGE=1          merge inputs that add coverage back into fuzz/corpus/<target>
#   FUZZ_BUILD=build-fuzz FUZZ_ARTIFACTS=$FUZZ_BUILD/artifacts JOBS=$(nproc)
#   FUZZ_REPORT=file      also append the per-target figures to this file (TSV)
#   FUZZ_JOBS=1           targets run at once (CI: one per core; timings are then shared)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${FUZZ_BUILD:-build-fuzz}
artifacts=${FUZZ_ARTIFACTS:-$build/artifacts}
# libFuzzer needs the prefix absolute; FUZZ_BUILD and FUZZ_ARTIFACTS may be either.
[[ $artifacts == /* ]] || artifacts=$root/$artifacts
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:-}
jobs=${JOBS:-$(nproc)}
fuzz_jobs=${FUZZ_JOBS:-1}

if [[ ! -f $build/build.ninja ]]; then
  # Line tables are all a report's stack needs (full -g only slows the link); lld links
  # faster when installed.
  linker=()
  command -v ld.lld >/dev/null && linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" "${linker[@]}" \
    -DMODELD_FUZZ=ON -DMODELD_BUILD_TESTS=OFF -DMODELD_BUILD_BENCH=OFF
fi
cmake --build "$build" -j "$jobs" --target fuzzers

# UBSan's vptr check is built recoverable (CMakeLists.txt); here every report is fatal.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# ASan's allocator hands freed memory back to the kernel with madvise() now and then; on a
# busy VM one such call stalled past the time-out (twice in the 10M-execution runs of
# 2026-11-30, both in internal_madvise, replays instant). Keeping it avoids the false hang.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_release_to_os_interval_ms=-1}

all=()
for src in fuzz/*_fuzz.cc; do all+=("$(basename "$src" _fuzz.cc)"); done
read -r -a targets <<<"${FUZZ_TARGETS:-${all[*]}}"

work=$(mktemp -d "${TMPDIR:-/tmp}/modeld-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# One target: its row of the table on stdout, a failure's report on stderr (and
# $work/<target>.failed).
run_target() {
  local t=$1
  bin=$build/fuzz/${t}_fuzz
  corpus=$work/$t
  mkdir -p "$corpus" "$artifacts/$t"
  if [[ -d fuzz/corpus/$t ]]; then cp -r "fuzz/corpus/$t/." "$corpus/"; fi
  args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048
        -artifact_prefix="$artifacts/$t/")
  [[ -n $runs ]] && args+=(-runs="$runs")
  [[ -f fuzz/dict/$t.dict ]] && args+=(-dict="fuzz/dict/$t.dict")
  [[ -f fuzz/$t.options ]] && read -r -a extra <"fuzz/$t.options" && args+=("${extra[@]}")
  log=$work/$t.log
  start=$(date +%s%N)
  status=0
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || status=$?
  elapsed=$((($(date +%s%N) - start) / 1000000000))
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-20s %12s %10s %8s %7s %7s %7s\n' "$t" "${executed:-?}" "${rate:-?}" "$elapsed" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}"
  if [[ -n ${FUZZ_REPORT:-} ]]; then
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${executed:-}" "${rate:-}" "$elapsed" "${cov:-}" \
      "${ft:-}" "${corp:-}" >>"$FUZZ_REPORT"
  fi
  if ((status != 0)); then
    : >"$work/$t.failed"
    echo "---- $t failed (exit $status):" >&2
    # The report, from its first line (libFuzzer's progress lines before it say nothing).
    pattern='ERROR:|runtime error:|FUZZ_CHECK failed|^==[0-9]+==|^terminate called'
    if grep -qE "$pattern" "$log"; then
      awk -v p="$pattern" 'found || $0 ~ p { found = 1; print }' "$log" | head -n 80 >&2
    else
      tail -n 40 "$log" >&2
    fi
    for crash in "$artifacts/$t"/*; do
      [[ -f $crash ]] && echo "reproduce: $bin $crash" >&2
    done
    echo "----" >&2
  elif [[ ${FUZZ_MERGE:-0} == 1 ]]; then
    mkdir -p "fuzz/corpus/$t"
    "$bin" -merge=1 "fuzz/corpus/$t" "$corpus" >"$work/$t.merge.log" 2>&1
  fi
}

for t in "${targets[@]}"; do
  [[ -x $build/fuzz/${t}_fuzz ]] || { echo "no fuzz target '$t' ($build/fuzz/${t}_fuzz)" >&2; exit 2; }
done
# FUZZ_JOBS targets at a time (each is one process on one core); the table keeps their order.
printf '%-20s %12s %10s %8s %7s %7s %7s\n' target runs exec/s seconds cov ft corpus
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= fuzz_jobs)); do wait -n || true; done
  run_target "$t" >"$work/$t.row" 2>"$work/$t.report" &
done
wait
failed=()
for t in "${targets[@]}"; do
  cat "$work/$t.row"
  cat "$work/$t.report" >&2
  [[ -e $work/$t.failed ]] && failed+=("$t")
done
if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: ${failed[*]} (reproducers under $artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crash"
