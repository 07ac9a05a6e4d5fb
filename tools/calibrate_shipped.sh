#!/usr/bin/env bash
# Regenerates the shipped calibration profiles in data/calibration/ from the published
# nccl-tests logs (data/nccl-tests, copied from shared/data/nccl-tests with their sidecars).
#   tools/calibrate_shipped.sh [MESHPLAN_BIN] [OUT_DIR]     (defaults: build/tools/meshplan, data/calibration)
# Only kernel-level data goes in (DESIGN.md; issue 9): the logs, and from the reference file its
# per-layer timings, GEMM and collective records of the profile's clusters; never the end-to-end
# records that `meshplan accuracy --reference` scores. Which logs, and why (README.md there):
#  - dgx-h100: the single-node H100 logs and the InfiniBand 2- and 4-node logs. The AWS EFA (p5)
#    and GCP GPUDirect-TCPXO (a3mega) logs are other fabrics, not a DGX H100's 8x400G IB. The
#    single-node alltoall and sendrecv logs fit the point-to-point parameters only (p2p channel
#    bandwidth and part size, all-to-all fraction), after the links.
#  - dgx-a100: the single-node A100 logs and OCI's 2-node RoCE log (8x2x100G per node, the DGX
#    A100's 1.6 Tb/s). Not the p4de EFA log (4x100G: another fabric) nor CoreWeave's SHARP log
#    (in-network reduction, an algorithm meshplan does not model).
#  - dgx-b200: GEMMs only, the 75 SimuMax measured on the B200 of its Megatron-LM runs
#    (data/reference/simumax-b200-kernels.json). No B200 collective goes in: published.json's
#    B200 rows are AWS P6 (EFA, another fabric than a DGX B200's InfiniBand), and mamf-finder's
#    best-of-a-sweep GEMM (0.78 of peak) is one shape no training run has, beside 75 that runs had.
#    Also for gb200-nvl72: the same Blackwell GPU running the same kernels (its efficiencies are
#    fractions of its own, higher, 1,200 W peak).
#  - all three also read data/reference/sustained-gemm.json: mamf-finder's MSMF over its MAMF on
#    H200 and B200 (BF16, FP8) and on the A100 PCIe (BF16; its ratio only, for the same GA100 die:
#    data/reference/mapping.json sustained_ratio_parts), the sustained fraction of a GEMM chain
#    held at the power limit (efficiency.gemm_sustained_fraction; all the above are burst timings).
# data/calibration/inputs/shipped.json lists the same inputs for `accuracy --leave-source-out`;
# change both together (Cli.ShippedFitInputsMatchTheCalibrationScript checks they agree).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/tools/meshplan}
out=${2:-$root/data/calibration}
n=$root/data/nccl-tests
cd "$n"
ref=$root/data/reference/published.json
"$bin" calibrate --cluster dgx-h100 --name dgx-h100 --also-for dgx-h200 --leave-one-out -o "$out/dgx-h100.json" \
  --reference "$ref" "$root/data/reference/sustained-gemm.json" \
  --nccl-tests h100-1x8-all_gather-together-ring.txt h100-1x8-all_gather-xxrjun.txt \
  h100-1x8-all_reduce-together-nvls.txt h100-1x8-all_reduce-together-ring.txt h100-1x8-all_reduce-xxrjun.txt \
  h100-1x8-reduce_scatter-together-ring.txt h100-1x8-reduce_scatter-xxrjun.txt \
  h100-2x8-all_reduce-ncclt309-gjaion-ring.txt h100-2x8-all_reduce-ncclt309-gjaion.txt \
  h100-2x8-all_reduce-ncclt309-xe9680.txt h100-4x8-all_reduce-ncclt309-gjaion.txt \
  h100-4x8-all_reduce-ncclt309-vmware.txt h100-1x8-alltoall-xxrjun.txt h100-1x8-sendrecv-xxrjun.txt
"$bin" calibrate --cluster dgx-a100-80g --name dgx-a100 --also-for dgx-a100-40g --leave-one-out -o "$out/dgx-a100.json" \
  --reference "$ref" "$root/data/reference/sustained-gemm.json" \
  --nccl-tests a100-1x8-all_reduce-dkhnotes.txt a100-1x8-all_reduce-zhnotes-g8.txt a100-1x8-all_reduce-zhnotes-mpi.txt \
  a100-2x8-all_reduce-ocioke-roce.txt
"$bin" calibrate --cluster dgx-b200 --name dgx-b200 --also-for gb200-nvl72 -o "$out/dgx-b200.json" \
  --reference "$root/data/reference/simumax-b200-kernels.json" "$root/data/reference/sustained-gemm.json"
