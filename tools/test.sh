#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: install what is missing, build (warnings are
# errors), and run the whole test suite through ctest.
#   tools/test.sh                    Release build in build/ ($MESHPLAN_BUILD_DIR)
#   tools/test.sh --sanitize         ASan + UBSan build in build-asan/ ($MESHPLAN_BUILD_DIR)
#   tools/test.sh --with-sanitizers  both, Release first (what CI runs); the sanitizer build goes
#                                    to build-asan/ ($MESHPLAN_ASAN_BUILD_DIR)
# Sanitizer runs stop at the first report (-fno-sanitize-recover, halt_on_error), leak checking
# included (LSan works in our CI containers; where ptrace is forbidden LSan aborts with "does not
# work under ptrace": run with ASAN_OPTIONS=detect_leaks=0 there and say so).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
case "$mode" in
  ""|--sanitize|--with-sanitizers) ;;
  *) echo "usage: tools/test.sh [--sanitize | --with-sanitizers]" >&2; exit 2 ;;
esac
"$root/tools/setup.sh"

run_release() {
  local build=$1
  MESHPLAN_BUILD_DIR=$build "$root/tools/build.sh" -DMESHPLAN_WERROR=ON
  ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)"
}

run_sanitized() {
  local build=$1
  MESHPLAN_BUILD_DIR=$build "$root/tools/build.sh" -DMESHPLAN_WERROR=ON -DMESHPLAN_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
  # Leaks inside Open MPI's own initialisation are not ours (validate_env runs under mpiexec).
  ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1} \
  LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tools/lsan.supp:print_suppressions=0} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)"
}

case "$mode" in
  "") run_release "${MESHPLAN_BUILD_DIR:-$root/build}" ;;
  --sanitize) run_sanitized "${MESHPLAN_BUILD_DIR:-$root/build-asan}" ;;
  --with-sanitizers)
    start=$SECONDS
    run_release "${MESHPLAN_BUILD_DIR:-$root/build}"
    echo "test.sh: Release suite done in $((SECONDS - start)) s"
    start=$SECONDS
    run_sanitized "${MESHPLAN_ASAN_BUILD_DIR:-$root/build-asan}"
    echo "test.sh: ASan + UBSan suite done in $((SECONDS - start)) s"
    ;;
esac
