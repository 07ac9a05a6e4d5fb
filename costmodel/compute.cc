#include "costmodel/compute.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

namespace meshplan::costmodel {

double ExpectedMaxOfStandardNormals(int64_t n) {
  if (n <= 1) return 0.0;
  // Simpson's rule over [-9, 12] in steps of 1/128: the integrand's mass sits within a few
  // tenths of E[max], under 9.4 for any int64 n. Phi(x)^(n-1) in logs, n being large.
  const double nd = static_cast<double>(n);
  constexpr double kLo = -9.0, kHi = 12.0;
  constexpr int kSteps = 21 * 128;
  const double h = (kHi - kLo) / kSteps;
  const auto f = [&](double x) {
    // log Phi(x): from the upper tail above 0, where Phi(x) rounds to 1 long before n (1 - Phi(x))
    // stops mattering.
    const double log_cdf = x > 0 ? std::log1p(-0.5 * std::erfc(x / std::sqrt(2.0)))
                                 : std::log(0.5 * std::erfc(-x / std::sqrt(2.0)));
    return x * nd * std::exp(-0.5 * x * x + (nd - 1.0) * log_cdf) / std::sqrt(2.0 * M_PI);
  };
  double sum = f(kLo) + f(kHi);
  for (int i = 1; i < kSteps; ++i) sum += f(kLo + i * h) * (i % 2 ? 4.0 : 2.0);
  return sum * h / 3.0;
}

double SlowestGpuFraction(double spread, int64_t gpus) {
  if (!(spread > 0) || gpus <= 1) return 1.0;
  return std::max(0.5, 1.0 - spread * ExpectedMaxOfStandardNormals(gpus));
}

ComputeParams ComputeParamsFor(const Cluster& c, int64_t gpus) {
  ComputeParams p;
  p.peak_flops = c.gpu.peak_tflops.bf16 * 1e12;
  p.hbm_Bps = c.gpu.hbm_GBps * 1e9 * c.efficiency.hbm_fraction;
  p.gemm_fraction = c.efficiency.gemm_peak_fraction;
  p.gemm_sustained = c.efficiency.gemm_sustained_fraction;
  p.slowest_gpu = SlowestGpuFraction(c.efficiency.gemm_gpu_spread, gpus);
  p.attention_fraction = c.efficiency.attention_peak_fraction;
  p.launch_s = c.efficiency.kernel_launch_us * 1e-6;
  p.sms = c.gpu.sms;
  p.fp8_peak_flops = c.gpu.peak_tflops.fp8 * 1e12;
  p.gemm_fp8_fraction = c.efficiency.gemm_fp8_peak_fraction;
  p.cudnn_attention_measured = IsHopperGpu(c.gpu.name);
  p.stream_k = IsHopperGpu(c.gpu.name);
  if (!c.gemm_table.empty()) {
    p.gemm_table = std::make_shared<const std::vector<GemmEfficiency>>(c.gemm_table);
  }
  return p;
}

namespace {
// The m x n outputs of `batch` GEMMs in 128 x 128 tiles: how many, and the useful share of their
// area. In floating point: tile and wave counts of absurd shapes overflow int64 (exact below 2^53).
struct TileGrid {
  double tiles = 0, tile_eff = 0;
};
TileGrid TilesOf(int64_t m, int64_t n, int64_t batch) {
  const double tile = static_cast<double>(kGemmTile);
  const double tm = std::ceil(static_cast<double>(m) / tile), tn = std::ceil(static_cast<double>(n) / tile);
  // Batched GEMMs fill the SMs with the tiles of all batches.
  return {tm * tn * static_cast<double>(batch),
          static_cast<double>(m) * static_cast<double>(n) / (tm * tile * tn * tile)};
}
double WholeWaves(const TileGrid& g, int64_t sms) {
  const double waves = std::ceil(g.tiles / static_cast<double>(sms));
  return g.tile_eff * g.tiles / (waves * static_cast<double>(sms));
}
}  // namespace

double GemmShapeEfficiency(int64_t m, int64_t n, int64_t sms, int64_t batch) {
  return WholeWaves(TilesOf(m, n, batch), sms);
}

GemmTiling GemmTileSchedule(int64_t m, int64_t n, int64_t k, int64_t sms, int64_t batch,
                            int64_t element_bytes, bool stream_k) {
  const TileGrid g = TilesOf(m, n, batch);
  GemmTiling out;
  out.efficiency = WholeWaves(g, sms);
  if (!stream_k) return out;
  const double tiles = g.tiles;
  const double wave = static_cast<double>(sms);
  const double tile_k = static_cast<double>(kGemmTileKBytes / std::max<int64_t>(1, element_bytes));
  const double iters = std::ceil(static_cast<double>(k) / tile_k);
  const double full_waves = std::floor(tiles / wave), total_waves = std::ceil(tiles / wave);
  const double min_iters = static_cast<double>(kStreamKMinIters);
  if (full_waves == total_waves || iters <= min_iters) return out;
  if (tiles - full_waves * wave >= std::floor(wave / 2)) return out;  // tail at least half a wave
  const double dp_waves = full_waves > 0 ? full_waves - 1 : 0;
  const double sk_iters = (tiles - dp_waves * wave) * iters;
  const double units = std::min(wave, std::floor(sk_iters / min_iters));
  if (units < 1) return out;
  out.stream_k_units = units;
  out.efficiency = g.tile_eff * tiles * iters / (wave * (dp_waves * iters + std::ceil(sk_iters / units)));
  return out;
}

double StreamKFixupTime(const ComputeParams& p, const GemmTiling& t) {
  if (t.stream_k_units <= 0) return 0.0;
  const double tile = static_cast<double>(kGemmTile);
  return p.launch_s + 2.0 * t.stream_k_units * tile * tile * 4.0 / p.hbm_Bps;
}

namespace {
const GemmEfficiency* Measured(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch) {
  if (!p.gemm_table) return nullptr;
  const GemmEfficiency key{m, n, k, batch, 0.0};
  const auto it = std::lower_bound(p.gemm_table->begin(), p.gemm_table->end(), key);
  if (it != p.gemm_table->end() && it->m == m && it->n == n && it->k == k && it->batch == batch) {
    return &*it;
  }
  return nullptr;
}
}  // namespace

double GemmEfficiencyFor(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch) {
  if (const GemmEfficiency* e = Measured(p, m, n, k, batch)) return e->efficiency * p.gemm_sustained * p.slowest_gpu;
  return p.gemm_fraction * GemmTileSchedule(m, n, k, p.sms, batch, 2, p.stream_k).efficiency * p.gemm_sustained *
         p.slowest_gpu;
}

KernelTime GemmTime(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch) {
  KernelTime t;
  const double md = static_cast<double>(m), nd = static_cast<double>(n),
               kd = static_cast<double>(k), bd = static_cast<double>(batch);
  t.flops = 2.0 * md * nd * kd * bd;
  // A measured shape's efficiency is FLOPs / (peak x its measured time, launch included).
  if (const GemmEfficiency* e = Measured(p, m, n, k, batch)) {
    t.time_s = t.flops / (p.peak_flops * e->efficiency * p.gemm_sustained * p.slowest_gpu);
    return t;
  }
  const GemmTiling tiling = GemmTileSchedule(m, n, k, p.sms, batch, 2, p.stream_k);
  const double eff = p.gemm_fraction * tiling.efficiency * p.gemm_sustained * p.slowest_gpu;
  const double bytes = 2.0 * bd * (md * kd + kd * nd + md * nd);
  t.time_s = std::max(t.flops / (p.peak_flops * eff), bytes / p.hbm_Bps) + p.launch_s +
             StreamKFixupTime(p, tiling);
  return t;
}

KernelTime Fp8GemmTime(const ComputeParams& p, int64_t m, int64_t n, int64_t k, int64_t batch) {
  KernelTime t;
  const double md = static_cast<double>(m), nd = static_cast<double>(n),
               kd = static_cast<double>(k), bd = static_cast<double>(batch);
  t.flops = 2.0 * md * nd * kd * bd;
  const GemmTiling tiling = GemmTileSchedule(m, n, k, p.sms, batch, 1, p.stream_k);
  const double eff = p.gemm_fp8_fraction * tiling.efficiency * p.gemm_sustained * p.slowest_gpu;
  const double bytes = bd * (md * kd + kd * nd + 2.0 * md * nd);  // fp8 inputs, bf16 output
  t.time_s = std::max(t.flops / (p.fp8_peak_flops * eff), bytes / p.hbm_Bps) + p.launch_s +
             StreamKFixupTime(p, tiling);
  return t;
}

int64_t FlashKernelHeadDim(int64_t d) {
  for (int64_t k : {32, 64, 96, 128, 160, 192, 224, 256}) {
    if (d <= k) return k;
  }
  return d;
}

double FlashHeadDimEfficiency(int64_t d) {
  return d > 0 ? static_cast<double>(d) / static_cast<double>(FlashKernelHeadDim(d)) : 1.0;
}

double FlashSpeedRelativeToFa2(int version) {
  switch (version) {
    case 1: return 0.5;
    case 3: return 1.5;
    default: return 1.0;
  }
}

double CudnnAttentionSpeedOverFa2(double keys, bool causal) {
  const double* r = causal ? kCudnnOverFa2Causal : kCudnnOverFa2NonCausal;
  constexpr int n = 5;
  if (!(keys > kCudnnBenchSeq[0])) return r[0];
  if (keys >= kCudnnBenchSeq[n - 1]) return r[n - 1];
  int i = 0;
  while (keys > kCudnnBenchSeq[i + 1]) ++i;
  const double f = std::log(keys / kCudnnBenchSeq[i]) / std::log(kCudnnBenchSeq[i + 1] / kCudnnBenchSeq[i]);
  return r[i] + f * (r[i + 1] - r[i]);
}

double FlashTileEfficiency(double useful, double diagonal, double visits) {
  if (useful <= 0) return 1.0;
  return useful / (useful + std::max(0.0, diagonal) + kFlashQueryBlockOverhead * std::max(0.0, visits));
}

double FlashPassEfficiency(double seq, bool causal) {
  const double n = std::max(1.0, seq / kFlashBlock);
  return causal ? FlashTileEfficiency(0.5 * n * n, 0.5 * n, n) : FlashTileEfficiency(n * n, 0.0, n);
}

bool IsHopperGpu(std::string_view gpu_name) {
  std::string lower(gpu_name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (std::string_view token : {"h100", "h200", "h800", "h20", "gh200"}) {
    if (lower.find(token) != std::string::npos) return true;
  }
  return false;
}

bool AttentionRunsOn(const Workload& w, std::string_view gpu_name) {
  return !w.flash_attention || w.flash_version != 3 || IsHopperGpu(gpu_name);
}

double MemoryBoundTime(const ComputeParams& p, double bytes) {
  return bytes / p.hbm_Bps + p.launch_s;
}

}  // namespace meshplan::costmodel
