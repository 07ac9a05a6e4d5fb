#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (clang, ASan + UBSan) for a given time each.
#   tools/fuzz.sh [TARGET|all] [SECONDS]     e.g. tools/fuzz.sh all 600, tools/fuzz.sh layout_text 60
# Builds into build-fuzz/ (or $MESHPLAN_FUZZ_BUILD_DIR), copies each target's seeds (the folders
# listed in tests/fuzz/seeds/<target>.dirs, plus tests/fuzz_regressions/<target>/) into a scratch
# corpus build-fuzz/corpus/<target>/ that grows across runs, and runs the targets one after the
# other (one core). Crashes, leaks, timeouts and OOMs land in build-fuzz/artifacts/<target>/;
# minimise one with `build-fuzz/tests/fuzz/fuzz_<target> -minimize_crash=1 FILE`, fix the parser,
# and keep the input under tests/fuzz_regressions/<target>/ (fuzz_replay_test replays it).
# Prints each target's exec count; exits non-zero if any target found something.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MESHPLAN_FUZZ_BUILD_DIR:-$root/build-fuzz}
which=${1:-all}
seconds=${2:-60}
targets=()
for f in "$root"/tests/fuzz/fuzz_*.cc; do
  t=$(basename "$f" .cc)
  t=${t#fuzz_}
  [ "$t" = common ] || [ "$t" = replay_test ] || targets+=("$t")
done
if [ "$which" != all ]; then
  [ -f "$root/tests/fuzz/fuzz_$which.cc" ] || { echo "fuzz.sh: no target '$which' (have: ${targets[*]})" >&2; exit 2; }
  targets=("$which")
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMESHPLAN_FUZZ=ON -DMESHPLAN_BUILD_TESTS=OFF -DMESHPLAN_BUILD_BENCHMARKS=OFF -DMESHPLAN_VALIDATE=OFF
fi
cmake --build "$build" --parallel "${MESHPLAN_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

export MESHPLAN_DATA="$root/data"
# Leak checking needs ptrace-free LSan; it works in our containers, keep it on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
summary=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  seed_dirs=("$root/tests/fuzz_regressions/$t")
  while IFS= read -r d; do [ -n "$d" ] && [ "${d:0:1}" != "#" ] && seed_dirs+=("$root/$d"); done \
    < "$root/tests/fuzz/seeds/$t.dirs"
  for d in "${seed_dirs[@]}"; do
    [ -d "$d" ] && find "$d" -maxdepth 1 -type f -exec cp -n {} "$corpus/" \;
  done
  log="$build/fuzz_$t.log"
  echo "fuzz.sh: $t for ${seconds}s (corpus $corpus, log $log)"
  rc=0
  "$build/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -timeout=10 -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  summary+=("$t: ${execs:-?} execs in ${seconds}s, rc $rc")
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz.sh: $t FAILED (rc $rc); see $log and $artifacts/" >&2
    grep -m3 -E "ERROR|runtime error|SUMMARY" "$log" >&2 || true
  fi
done
printf 'fuzz.sh: %s\n' "${summary[@]}"
exit "$status"
