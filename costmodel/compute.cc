#include "costmodel/compute.h"

#include <algorithm>
#include <cmath>

namespace meshplan::costmodel {

ComputeParams ComputeParamsFor(const Cluster& c) {
  ComputeParams p;
  p.peak_flops = c.gpu.peak_tflops.bf16 * 1e12;
  p.hbm_Bps = c.gpu.hbm_GBps * 1e9 * c.efficiency.hbm_fraction;
  p.gemm_fraction = c.efficiency.gemm_peak_fraction;
  p.attention_fraction = c.efficiency.attention_peak_fraction;
  p.launch_s = c.efficiency.kernel_launch_us * 1e-6;
  p.sms = c.gpu.sms;
  return p;
}

double GemmShapeEfficiency(int64_t m, int64_t n, int64_t sms, int64_t batch) {
  // In floating point: tile and wave counts of absurd shapes overflow int64 (exact below 2^53).
  const double tile = static_cast<double>(kGemmTile);
  const double tm = std::ceil(static_cast<double>(m) / tile), tn = std::ceil(static_cast<double>(n) / tile);
  const double tile_eff = static_cast<double>(m) * static_cast<double>(n) / (tm * tile * tn * tile);
  // Batched GEMMs fill the SMs with the tiles of all batches.
  const double tiles = tm * tn * static_cast<double>(batch);
  const double waves = std::ceil(tiles / static_cast<double>(sms));
  return tile_eff * tiles / (waves * static_cast<double>(sms));
}

KernelTime GemmTime(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch) {
  KernelTime t;
  const double md = static_cast<double>(m), nd = static_cast<double>(n),
               kd = static_cast<double>(k), bd = static_cast<double>(batch);
  t.flops = 2.0 * md * nd * kd * bd;
  const double eff = p.gemm_fraction * GemmShapeEfficiency(m, n, p.sms, batch);
  const double bytes = 2.0 * bd * (md * kd + kd * nd + md * nd);
  t.time_s = std::max(t.flops / (p.peak_flops * eff), bytes / p.hbm_Bps) + p.launch_s;
  return t;
}

double MemoryBoundTime(const ComputeParams& p, double bytes) {
  return bytes / p.hbm_Bps + p.launch_s;
}

}  // namespace meshplan::costmodel
