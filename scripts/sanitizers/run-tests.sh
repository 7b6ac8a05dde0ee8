#!/usr/bin/env bash
# make asan / make tsan: runs every CTest test of a sanitizer build with each report
# fatal, including reports from the modeld processes the tests start (they inherit these
# options). Reports are also written to BUILD/sanitizer-logs/, one file per process, so
# one from a subprocess whose exit status a test ignores (a server stopped with SIGTERM,
# say) still fails the run.
# Usage: scripts/sanitizers/run-tests.sh BUILD_DIR asan|tsan [ctest args...]
set -uo pipefail
build=$1 kind=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
logs=$(cd "$build" && pwd)/sanitizer-logs
rm -rf "$logs" && mkdir -p "$logs"
common="halt_on_error=1:log_path=$logs/report:log_exe_name=1:print_stacktrace=1"
export UBSAN_OPTIONS="$common:suppressions=$here/ubsan.supp"
case $kind in
  asan)
    export ASAN_OPTIONS="$common:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:detect_invalid_pointer_pairs=0"
    export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0"
    ;;
  tsan)
    export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$here/tsan.supp"
    ;;
  *) echo "usage: $0 BUILD_DIR asan|tsan" >&2; exit 2 ;;
esac
jobs=${JOBS:-$(nproc)}
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout "${TEST_TIMEOUT:-600}" "$@")
status=$?
reports=("$logs"/report*)
if [[ -e ${reports[0]} ]]; then
  echo "==== ${#reports[@]} sanitizer report(s) in $logs:" >&2
  for r in "${reports[@]}"; do
    echo "---- $r" >&2
    cat "$r" >&2
  done
  status=1
fi
if ((status != 0)); then echo "$kind: FAILED" >&2; else echo "$kind: every test passed, no report"; fi
exit $status
