#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: install what is missing, build (warnings are
# errors), and run the whole test suite through ctest.
#   tools/test.sh              Release build in build/
#   tools/test.sh --sanitize   ASan + UBSan build in build-asan/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh"
if [ "${1:-}" = "--sanitize" ]; then
  export MESHPLAN_BUILD_DIR=${MESHPLAN_BUILD_DIR:-$root/build-asan}
  "$root/tools/build.sh" -DMESHPLAN_WERROR=ON -DMESHPLAN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
  "$root/tools/build.sh" -DMESHPLAN_WERROR=ON
fi
build=${MESHPLAN_BUILD_DIR:-$root/build}
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)"
