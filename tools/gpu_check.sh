#!/usr/bin/env bash
# tools/gpu_check.sh: meshplan's measure-and-calibrate loop on one GPU, end to end, in one command.
#
#   tools/gpu_check.sh                 on a machine with a GPU (CUDA and NCCL under /usr/local/cuda)
#   tools/gpu_check.sh --cpu           the same flow on the CPU MPI backend (CI: ctest gpu_check_cpu)
#   options: --build-dir DIR (default build/, build-gpu/ on a GPU), --no-build (use DIR's binaries),
#            --cluster NAME (default: from the GPU's name), --out-dir DIR (where the bundle goes)
#
# Steps, the same commands on both paths with the backend, cluster and shapes switched:
#  1. build meshplan and meshplan-validate (on a GPU: configure so CMake finds CUDA + NCCL and
#     builds the NCCL backend; stop if it did not);
#  2. for each of 3 plans (2 models, 3 layouts) on 1 GPU: `meshplan simulate --json` writes the
#     plan, `meshplan validate --run` runs meshplan-validate on it (the plan's GEMM, attention
#     and bandwidth-kernel shapes, then skeleton steps) and prints predicted vs measured; plan a
#     also runs its layer's GEMMs back to back for 60 s (--sustain-s: what a training step's
#     chain holds against the burst timings, the power-limit question of issue 17); on a GPU,
#     nvidia-smi dmon traces power and clocks meanwhile into <gpu>-<date>.dmon.txt;
#  3. bundle the measurement files with their provenance (GPU name, driver, CUDA and NCCL
#     versions from meshplan-validate --env, date, host, this command, the git commit) into
#     data/measurements/<gpu>-<date>.json (--cpu: a temporary directory, never data/);
#  4. `meshplan calibrate --measurements BUNDLE` fits and prints a profile (next to the bundle);
#  5. `meshplan validate --show --calibration PROFILE` prints, per plan, the calibrated
#     prediction of step time and peak memory against the measurement.
# GPU shapes: Qwen2-0.5B and Pythia-160M (tests/data/hf, their published configs) at 2-4k tokens,
# which fit one 80 GB GPU with room; CPU shapes: tiny-llama on cpu-local (1 rank), seconds each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=gpu
build=""
do_build=1
cluster=""
out_dir=""
cmdline="tools/gpu_check.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) mode=cpu ;;
    --build-dir) build=$2; shift ;;
    --no-build) do_build=0 ;;
    --cluster) cluster=$2; shift ;;
    --out-dir) out_dir=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "gpu_check: error: $*" >&2; exit 1; }
say() { echo; echo "== gpu_check: $*"; }

if [ -z "$build" ]; then
  if [ $mode = gpu ]; then build=$root/build-gpu; else build=$root/build; fi
fi
export MESHPLAN_DATA=${MESHPLAN_DATA:-$root/data}
# mpirun refuses root unless told; containers and CI run as root.
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

# 1. Build.
if [ $do_build = 1 ]; then
  say "building meshplan and meshplan-validate in $build"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release | grep -i "meshplan-validate" || true
  fi
  cmake --build "$build" --parallel "$(nproc)" --target meshplan meshplan-validate
fi
M=$build/tools/meshplan
V=$build/validate/meshplan-validate
[ -x "$M" ] || die "no meshplan binary at $M (build it, or give --build-dir)"
[ -x "$V" ] || die "no meshplan-validate binary at $V (MPI missing at configure time?)"
export MESHPLAN_VALIDATE=$V
env_json=$(mpirun -np 1 "$V" --env) || die "meshplan-validate --env failed"
if [ $mode = gpu ]; then
  backend=nccl
  echo "$env_json" | grep -q '"nccl"' ||
    die "meshplan-validate was built without the NCCL backend: CMake did not find CUDA, cuBLAS and NCCL under /usr/local/cuda (see 'meshplan-validate:' in the configure output)"
  gpu_name=$(echo "$env_json" | sed -n 's/.*"name": "\(.*\)",\{0,1\}$/\1/p' | head -1)
  [ -n "$gpu_name" ] || die "no GPU visible to meshplan-validate --env"
  if [ -z "$cluster" ]; then
    case "$gpu_name" in
      *H200*) cluster=dgx-h200 ;;
      *H100*) cluster=dgx-h100 ;;
      *B200*) cluster=dgx-b200 ;;
      *A100*80GB*) cluster=dgx-a100-80g ;;
      *A100*) cluster=dgx-a100-40g ;;
      *) die "no built-in cluster for GPU '$gpu_name': give --cluster NAME (or a cluster file)" ;;
    esac
  fi
  fast=()
  sustain=60
  hf=$root/tests/data/hf
  # name model seq global_batch layout
  plans=("a $hf/qwen2-0.5b.json 2048 8 tp=1,fsdp=1,mbs=2"
         "b $hf/qwen2-0.5b.json 4096 4 tp=1,fsdp=1,mbs=1,recompute=full"
         "c $hf/pythia-160m.json 2048 16 tp=1,fsdp=1,mbs=4")
  work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
  out_dir=${out_dir:-$root/data/measurements}
else
  backend=cpu
  gpu_name=cpu-mpi-rank
  cluster=${cluster:-cpu-local}
  fast=(--max-bytes 262144 --iters 2 --steps 2)
  sustain=0.3
  plans=("a tiny-llama 128 2 tp=1,fsdp=1,mbs=1"
         "b tiny-llama 128 2 tp=1,fsdp=1,mbs=2,recompute=full"
         "c tiny-llama 256 1 tp=1,fsdp=1,mbs=1")
  work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
  out_dir=${out_dir:-$work/measurements}
fi
trap 'rm -rf "$work"' EXIT
slug=$(echo "$gpu_name" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')
date_tag=$(date -u +%Y%m%d)
mkdir -p "$out_dir"
bundle=$out_dir/$slug-$date_tag.json
profile=$out_dir/$slug-$date_tag.profile.json
say "$mode path: backend $backend, cluster $cluster, GPU '$gpu_name'; work in $work"

# 2. Plan and measure each shape on 1 GPU. On a GPU, nvidia-smi dmon records power, clocks and
# temperatures once a second beside the bundle (<gpu>-<date>.dmon.txt): the trace that says
# whether the sustained chain met the power limit and where the clock settled.
trace=""
dmon_pid=""
if [ $mode = gpu ] && command -v nvidia-smi >/dev/null; then
  trace=$out_dir/$slug-$date_tag.dmon.txt
  nvidia-smi dmon -s pucm -d 1 > "$trace" 2>&1 &
  dmon_pid=$!
  trap 'kill $dmon_pid 2>/dev/null; rm -rf "$work"' EXIT
fi
measured=()
for p in "${plans[@]}"; do
  read -r name model seq gbs layout <<<"$p"
  say "plan $name: $model, seq $seq, global batch $gbs, $layout"
  "$M" simulate --model "$model" --cluster "$cluster" --gpus 1 --global-batch "$gbs" --seq "$seq" \
    --layout "$layout" --analytical --json "$work/plan_$name.json" | grep -E "step time|peak" || true
  extra=()
  [ "$name" = a ] && extra=(--sustain-s "$sustain")
  "$M" validate --plan "$work/plan_$name.json" --backend "$backend" --run --out "$work/meas_$name.json" \
    "${fast[@]}" "${extra[@]}"
  [ -s "$work/meas_$name.json" ] || die "plan $name: no measurement file"
  measured+=("$work/meas_$name.json")
done

if [ -n "$dmon_pid" ]; then
  kill "$dmon_pid" 2>/dev/null || true
  wait "$dmon_pid" 2>/dev/null || true
  say "power and clock trace: $trace"
fi

# 3. The bundle: provenance, then the measurement files as meshplan-validate wrote them.
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n\r\t')"; }
# A copy of the tree without .git (a device machine, a tarball) names its commit in MESHPLAN_GIT_COMMIT.
commit=${MESHPLAN_GIT_COMMIT:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}
{
  printf '{\n  "schema_version": 1,\n  "command": "gpu_check",\n  "provenance": {\n'
  printf '    "gpu": %s,\n    "gpu_name": %s,\n    "backend": %s,\n    "cluster": %s,\n' \
    "$(json_str "$slug")" "$(json_str "$gpu_name")" "$(json_str "$backend")" "$(json_str "$cluster")"
  printf '    "date": %s,\n    "host": %s,\n    "command": %s,\n    "git_commit": %s,\n' \
    "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$(hostname)")" "$(json_str "$cmdline")" \
    "$(json_str "$commit")"
  [ -z "$trace" ] || printf '    "power_trace": %s,\n' "$(json_str "$(basename "$trace")")"
  printf '    "meshplan": %s,\n    "environment": %s\n  },\n  "measurements": [\n' \
    "$(json_str "$("$M" --version)")" "$env_json"
  first=1
  for f in "${measured[@]}"; do
    [ $first = 1 ] || printf ',\n'
    first=0
    cat "$f"
  done
  printf '\n  ]\n}\n'
} > "$bundle.tmp"
mv "$bundle.tmp" "$bundle"
say "wrote $bundle"

# 4. Fit and print a profile.
say "calibrating $cluster from $bundle"
cal_out=$("$M" calibrate --cluster "$cluster" --name "$slug-$date_tag" --measurements "$bundle" -o "$profile")
echo "$cal_out"
for q in step_time_s peak_memory_bytes gemm_time_s; do
  echo "$cal_out" | grep -q "^$q " || die "calibrate fitted no $q from the bundle"
done
echo "$cal_out" | grep -q "^efficiency.gemm_sustained_fraction " ||
  die "calibrate fitted no efficiency.gemm_sustained_fraction (plan a ran --sustain-s $sustain)"

# 5. Calibrated predictions against the measurements, per plan.
for p in "${plans[@]}"; do
  read -r name _ <<<"$p"
  say "plan $name, calibrated"
  "$M" validate --plan "$work/plan_$name.json" --show "$work/meas_$name.json" --calibration "$profile" |
    grep -E "predicted vs measured|quantity|step time|peak memory"
done
say "OK: $bundle, profile $profile"
