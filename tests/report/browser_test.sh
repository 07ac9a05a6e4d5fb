#!/usr/bin/env bash
# Writes one HTML report of each kind with the built meshplan, then opens them all in headless
# Chromium (browser_test.js). Screenshots land in OUT_DIR for a person to look at.
#   browser_test.sh MESHPLAN NODE CHROMIUM OUT_DIR
set -euo pipefail
meshplan=$1 node=$2 chromium=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../data/report"
rm -rf "$out"
mkdir -p "$out"
cd "$out"
w70="--model llama2-70b --cluster dgx-h100 --global-batch 1024 --seq 4096"
"$meshplan" plan $w70 --gpus 2048 --json plan.json --html plan.html >/dev/null 2>&1
"$meshplan" simulate $w70 --gpus 2048 --layout tp=8,sp=on,fsdp=256,mbs=1 --json simulate.json --html simulate.html >/dev/null
"$meshplan" simulate --model llama2-7b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq 4096 \
  --layout tp=2,sp=on,fsdp=8,mbs=1 --json simulate_small.json >/dev/null
"$meshplan" sweep $w70 --gpus 64,128,256,512,1024,2048 --json sweep.json --html sweep.html >/dev/null
"$meshplan" compare $w70 --gpus 2048 --layout tp=1,fsdp=2048 --layout tp=8,sp=on,fsdp=256 --json compare.json \
  --html compare.html >/dev/null
"$meshplan" plan --model llama3-405b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 4096 \
  --json infeasible.json --html infeasible.html >/dev/null 2>&1
"$meshplan" accuracy --cluster dgx-h100 --nccl-tests "$here/../../data/nccl-tests/h100-1x8-all_reduce-xxrjun.txt" \
  "$here/../../data/nccl-tests/h100-2x8-all_reduce-awsome-p5.txt" "$here/../../data/nccl-tests/h100-1x8-alltoall-xxrjun.txt" \
  --json accuracy_nccl.json >/dev/null
"$meshplan" report accuracy_nccl.json -o accuracy_nccl.html
"$meshplan" report "$data/accuracy.json" -o accuracy.html
"$meshplan" report "$data/calibrate.json" -o calibrate.html
"$meshplan" report plan.json simulate_small.json sweep.json "$data/accuracy.json" "$data/calibrate.json" -o all.html
"$node" "$here/browser_test.js" --chromium "$chromium" --out "$out" \
  plan.html=step,throughput,mfu,memory,search simulate.html=step,throughput,mfu,memory,timeline1 \
  sweep.html=throughput,steptime,latency compare.html=step,throughput,mfu,memory infeasible.html=memory,search \
  accuracy_nccl.html=accuracy-1 \
  accuracy.html=accuracy-1,accuracy-2,accuracy-3,accuracy-4 calibrate.html=calibration \
  all.html=step,timeline1,throughput,accuracy-1,calibration
# The plan's summary block is the first thing on its page, and no layout that cannot run is drawn
# with a step time.
summary=$(grep -b -o '<table class="kv summary">' plan.html | head -1 | cut -d: -f1)
first_chart=$(grep -b -o '<div class="vis"' plan.html | head -1 | cut -d: -f1)
[ -n "$summary" ] && [ -n "$first_chart" ] && [ "$summary" -lt "$first_chart" ] ||
  { echo "FAIL: plan.html has no summary block before its charts"; exit 1; }
if grep -q '"r1-step"' infeasible.html; then echo "FAIL: infeasible.html draws a step time"; exit 1; fi
echo "ok: summary first, infeasible layouts not drawn as if they ran"
# The check itself must fail on an empty chart: filter every bar out of the calibration chart.
sed 's/"name":"calibration_bars"/"name":"calibration_bars","transform":[{"filter":"false"}]/' calibrate.html \
  > empty_chart.html
if "$node" "$here/browser_test.js" --chromium "$chromium" --out "$out" empty_chart.html > empty_chart.log 2>&1; then
  echo "FAIL: the browser check passed a page whose chart draws nothing"; cat empty_chart.log; exit 1
fi
grep -q 'mark "calibration_bars" drew nothing' empty_chart.log || { cat empty_chart.log; exit 1; }
echo "ok: the browser check fails on an empty chart"
