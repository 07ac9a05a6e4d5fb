// File: costmodel/compute.h
// Time of one kernel on one GPU: max(FLOPs / (peak * efficiency), bytes / (HBM * efficiency))
// plus a launch overhead. GEMM efficiency by shape: the achievable fraction of peak (measured
// best-case, from the cluster file) times tile quantisation (the m x n output padded to whole
// 128 x 128 tiles) times wave quantisation (whole waves of tiles over the GPU's SMs) - the
// uncalibrated default of NVIDIA's "Matrix Multiplication Background User's Guide". A
// calibration profile replaces it with a measured table.
#ifndef MESHPLAN_COSTMODEL_COMPUTE_H_
#define MESHPLAN_COSTMODEL_COMPUTE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

inline constexpr int64_t kGemmTile = 128;

struct ComputeParams {
  double peak_flops = 0;       // bf16 dense FLOP/s
  double hbm_Bps = 0;          // achievable HBM bytes/s (peak * hbm_fraction)
  double gemm_fraction = 0;    // best achievable GEMM fraction of peak
  double attention_fraction = 0;
  double launch_s = 0;
  int64_t sms = 1;
  // Measured shapes (calibration), sorted; null when uncalibrated.
  std::shared_ptr<const std::vector<GemmEfficiency>> gemm_table;
};

/// The achieved fraction of peak for one GEMM: the measured value when the calibration table
/// has the shape, else gemm_fraction x the tile/wave quantisation model.
double GemmEfficiencyFor(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch);

ComputeParams ComputeParamsFor(const Cluster& c);

/// Tile x wave quantisation efficiency of `batch` m x n outputs on `sms` SMs, in (0, 1].
double GemmShapeEfficiency(int64_t m, int64_t n, int64_t sms, int64_t batch = 1);

struct KernelTime {
  double time_s = 0;
  double flops = 0;
};

/// C[m,n] = A[m,k] B[k,n] in bf16, `batch` independent copies (batched GEMM).
KernelTime GemmTime(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch = 1);
/// A bandwidth-bound kernel moving `bytes` through HBM.
double MemoryBoundTime(const ComputeParams& p, double bytes);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_COMPUTE_H_
