#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: install what is missing, build, and run the main
# job on built-in data: the layout search for Llama 2 70B on 2048 H100 GPUs (256 DGX H100
# nodes), global batch 1024 sequences of 4096 tokens. The JSON report goes to build/plan.json.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh"
"$root/tools/build.sh"
build=${MESHPLAN_BUILD_DIR:-$root/build}
"$build/tools/meshplan" plan --model llama2-70b --cluster dgx-h100 --gpus 2048 \
  --global-batch 1024 --seq 4096 --json "$build/plan.json" "$@"
echo "JSON report: $build/plan.json"
