// GEMM time: tile and wave quantisation worked by hand (NVIDIA "Matrix Multiplication
// Background" guide), roofline against HBM, launch overhead.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "costmodel/compute.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

TEST(GemmShape, WaveQuantisationOn132Sms) {
  // 4096 x 4096 output: 32 x 32 = 1024 tiles of 128x128 -> 8 waves of 132 -> 1024 / 1056.
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(4096, 4096, 132), 1024.0 / 1056.0);
  // 132 tiles exactly fill one wave.
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(128 * 12, 128 * 11, 132), 1.0);
  // 133 tiles need a second, nearly empty wave.
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(128 * 133, 128, 132), 133.0 / 264.0);
}

TEST(GemmShape, TileQuantisation) {
  // m = 129 pads to 256 rows: half the first tile row is waste (one wave either way).
  EXPECT_DOUBLE_EQ(GemmShapeEfficiency(129, 128, 132), 129.0 / 256.0 * 2.0 / 132.0);
}

TEST(GemmTime, ComputeBoundLargeGemm) {
  const ComputeParams p = ComputeParamsFor(ResolveCluster("dgx-h100"));
  // 16896 x 8192 x 8192 on H100: 132 x 64 = 8448 tiles, 64 whole waves of 132 SMs. 2 x 16896 x
  // 8192^2 FLOPs at 989 TF x 0.8033 + 4 us, held at the power limit: x 0.8882, mamf-finder's
  // H200 MSMF / MAMF 755 / 850 (dgx-h100.json).
  const double flops = 2.0 * 16896.0 * 8192.0 * 8192.0;
  const double eff = 0.8033 * 0.8882;
  const KernelTime t = GemmTime(p, 16896, 8192, 8192);
  EXPECT_DOUBLE_EQ(t.flops, flops);
  EXPECT_DOUBLE_EQ(t.time_s, flops / (989e12 * eff) + 4e-6);
}

TEST(GemmTime, StreamKTailOnHopper) {
  // 8192^3 on H100: 4096 tiles = 31 full waves + 4 (under half a wave of 132), 128 K iterations
  // of 64 each: CUTLASS's stream-K heuristic keeps 30 waves data-parallel and splits the last
  // 136 tiles' 17,408 iterations over 132 CTAs, 132 each (ceil 131.9): 30 x 128 + 132 = 3,972
  // iterations per SM where whole waves take 32 x 128 = 4,096. Plus the workspace launch and
  // 132 partial 128 x 128 fp32 tiles written and read at HBM rate (3350 GB/s x 0.9).
  const ComputeParams p = ComputeParamsFor(ResolveCluster("dgx-h100"));
  const double flops = 2.0 * 8192.0 * 8192.0 * 8192.0;
  const double eff = 0.8033 * (4096.0 * 128.0) / (132.0 * 3972.0) * 0.8882;
  const double fixup = 4e-6 + 2.0 * 132.0 * 128.0 * 128.0 * 4.0 / (3350e9 * 0.9);
  EXPECT_DOUBLE_EQ(GemmTime(p, 8192, 8192, 8192).time_s, flops / (989e12 * eff) + 4e-6 + fixup);
  // A100 (no stream-K in the model): 4096 tiles in 38 waves of 108, as NVIDIA's guide measures.
  const ComputeParams a = ComputeParamsFor(ResolveCluster("dgx-a100-80g"));
  EXPECT_FALSE(a.stream_k);
  EXPECT_DOUBLE_EQ(GemmEfficiencyFor(a, 8192, 8192, 8192, 1),
                   a.gemm_fraction * 4096.0 / (38.0 * 108.0) * a.gemm_sustained);
}

TEST(SlowestGpu, ExpectedMaxOfStandardNormalsMatchesTheClosedFormsAndHartersTable) {
  // n = 2 and 3 in closed form (1/sqrt(pi), 3/(2 sqrt(pi))); 5, 10, 100 and 1000 from Harter
  // (1961), "Expected values of normal order statistics", Biometrika 48, Table 1.
  EXPECT_EQ(ExpectedMaxOfStandardNormals(1), 0.0);
  EXPECT_EQ(ExpectedMaxOfStandardNormals(0), 0.0);
  EXPECT_NEAR(ExpectedMaxOfStandardNormals(2), 1.0 / std::sqrt(M_PI), 1e-7);
  EXPECT_NEAR(ExpectedMaxOfStandardNormals(3), 1.5 / std::sqrt(M_PI), 1e-7);
  EXPECT_NEAR(ExpectedMaxOfStandardNormals(5), 1.16296, 1e-5);
  EXPECT_NEAR(ExpectedMaxOfStandardNormals(10), 1.53875, 1e-5);
  EXPECT_NEAR(ExpectedMaxOfStandardNormals(100), 2.50759, 1e-5);
  EXPECT_NEAR(ExpectedMaxOfStandardNormals(1000), 3.24144, 1e-5);
  // Finite and growing to the largest jobs.
  EXPECT_GT(ExpectedMaxOfStandardNormals(1 << 24), ExpectedMaxOfStandardNormals(16384));
  EXPECT_LT(ExpectedMaxOfStandardNormals(1 << 24), 6.0);
  // Past any cluster: sqrt(2 ln n) bounds it from above (9.35 at the largest int64).
  const double huge = ExpectedMaxOfStandardNormals(std::numeric_limits<int64_t>::max());
  EXPECT_GT(huge, 8.0);
  EXPECT_LT(huge, std::sqrt(2.0 * std::log(9.3e18)));
}

TEST(SlowestGpu, ShippedSpreadsReproduceTheMeasuredSlowestGpuOfEightAndGrowWithTheJob) {
  // stas00/ml-engineering compute/accelerator/README.md @0359db89 ("How precise these numbers
  // are"): 8 H200 at 685-688 W sustained 745-765 TFLOPS, the table's median 755; 8 B200
  // 1421-1460, median 1439. The clusters' spread makes the slowest of 8 those GPUs.
  for (const char* name : {"dgx-h100", "dgx-h200"}) {
    const Cluster c = ResolveCluster(name);
    EXPECT_NEAR(SlowestGpuFraction(c.efficiency.gemm_gpu_spread, 8), 745.0 / 755.0, 1e-5) << name;
  }
  const Cluster b = ResolveCluster("dgx-b200");
  EXPECT_NEAR(SlowestGpuFraction(b.efficiency.gemm_gpu_spread, 8), 1421.0 / 1439.0, 1e-5);
  // One GPU waits for nobody; an unmeasured GPU (A100) is priced as its median.
  const Cluster h = ResolveCluster("dgx-h100");
  EXPECT_EQ(SlowestGpuFraction(h.efficiency.gemm_gpu_spread, 1), 1.0);
  EXPECT_EQ(ResolveCluster("dgx-a100-80g").efficiency.gemm_gpu_spread, 0.0);
  EXPECT_EQ(ComputeParamsFor(ResolveCluster("dgx-a100-80g"), 4096).slowest_gpu, 1.0);
  // 16,384 H100: 1 - 0.009304 x E[max of 16384] (3.9714): 0.9631, the slowest of 8 at 0.9868.
  EXPECT_NEAR(SlowestGpuFraction(h.efficiency.gemm_gpu_spread, 16384), 1.0 - 0.009304 * 3.97135, 1e-5);
  double last = 1.0;
  for (int64_t n : {2, 8, 64, 512, 4096, 16384}) {
    const double s = ComputeParamsFor(h, n).slowest_gpu;
    EXPECT_LT(s, last) << n;
    last = s;
  }
  EXPECT_EQ(SlowestGpuFraction(0.3, 1 << 20), 0.5);  // clamped: not a lottery
}

TEST(SlowestGpu, SlowsTheGemmsOfAJobButNotTheirLaunch) {
  // 1536 x 1408 x 8192: 132 tiles, one whole wave (data-parallel, compute-bound). On 64 GPUs
  // the GEMM runs at the slowest GPU's rate: its compute time over the median GPU's is
  // 1 / (1 - 0.009304 x E[max of 64] (2.34373)); the 4 us launch stays.
  const Cluster c = ResolveCluster("dgx-h100");
  const ComputeParams one = ComputeParamsFor(c), job = ComputeParamsFor(c, 64);
  const double slowest = 1.0 - 0.009304 * 2.343733;
  EXPECT_NEAR(job.slowest_gpu, slowest, 1e-6);
  const double t1 = GemmTime(one, 1536, 1408, 8192).time_s - 4e-6;
  const double t64 = GemmTime(job, 1536, 1408, 8192).time_s - 4e-6;
  EXPECT_NEAR(t64 / t1, 1.0 / slowest, 1e-6);
  const double f1 = Fp8GemmTime(one, 1536, 1408, 8192).time_s - 4e-6;
  const double f64 = Fp8GemmTime(job, 1536, 1408, 8192).time_s - 4e-6;
  EXPECT_NEAR(f64 / f1, 1.0 / slowest, 1e-6);
  EXPECT_NEAR(GemmEfficiencyFor(job, 1536, 1408, 8192, 1) / GemmEfficiencyFor(one, 1536, 1408, 8192, 1), job.slowest_gpu, 1e-12);
}

TEST(GemmTime, SustainedFractionSlowsBurstTimedGemmsButNotTheirLaunch) {
  // efficiency.gemm_sustained_fraction scales the GEMM rate, shape model and measured table
  // alike (both are burst timings), BF16 and FP8; the launch is host time and stays.
  Cluster burst = ResolveCluster("dgx-h100");
  burst.efficiency.gemm_sustained_fraction = 1.0;
  Cluster c = burst;
  c.efficiency.gemm_sustained_fraction = 0.8;
  const ComputeParams p = ComputeParamsFor(c);
  // 16896 x 8192 outputs: 8448 tiles, 64 whole waves (no quantisation, no stream-K).
  const double flops = 2.0 * 16896.0 * 8192.0 * 8192.0;
  const double eff = 0.8033 * 0.8;
  EXPECT_DOUBLE_EQ(GemmTime(p, 16896, 8192, 8192).time_s, flops / (989e12 * eff) + 4e-6);
  c.gemm_table = {GemmEfficiency{16896, 8192, 8192, 1, 0.75}};
  const ComputeParams q = ComputeParamsFor(c);
  EXPECT_DOUBLE_EQ(GemmTime(q, 16896, 8192, 8192).time_s, flops / (989e12 * 0.75 * 0.8));
  EXPECT_DOUBLE_EQ(GemmEfficiencyFor(q, 16896, 8192, 8192, 1), 0.75 * 0.8);
  // FP8 GEMMs too: mamf-finder's FP8 MSMF / MAMF on H200 (1354 / 1525 = 0.888) and B200
  // (2788 / 3350 = 0.832) match its BF16 ones (0.888, 0.828) within 0.5%: one power limit.
  const double launch = 4e-6;
  const double fp8_burst = Fp8GemmTime(ComputeParamsFor(burst), 16896, 8192, 8192).time_s - launch;
  EXPECT_NEAR(Fp8GemmTime(q, 16896, 8192, 8192).time_s - launch, fp8_burst / 0.8, 1e-15);
}

TEST(GemmTime, MemoryBoundSkinnyGemm) {
  const ComputeParams p = ComputeParamsFor(ResolveCluster("dgx-h100"));
  // m = 1 (a GEMV): reads 2*k*n bytes of weights; HBM 3350 GB/s * 0.9 = 178 us, while the
  // FLOPs at 1/128 tile efficiency would take 89 us: bandwidth bound.
  const KernelTime t = GemmTime(p, 1, 16384, 16384);
  const double bytes = 2.0 * (16384.0 + 16384.0 * 16384.0 + 16384.0);
  EXPECT_DOUBLE_EQ(t.time_s, bytes / (3350e9 * 0.9) + 4e-6);
}

// FlashAttention generations relative to FA2. FA2 paper (Dao 2023, arXiv 2307.08691) abstract:
// "around 2x speedup compared to FlashAttention, reaching 50-73% of the theoretical maximum
// FLOPs/s on A100"; its Sec. 1: FlashAttention reaches "only 25-40%". FA3 paper (Shah et al.
// 2024): 1.5-2.0x over FA2 forward and 1.5-1.75x backward on H100.
TEST(FlashAttention, GenerationsScaleTheFa2Fraction) {
  EXPECT_DOUBLE_EQ(FlashSpeedRelativeToFa2(1), 0.5);
  EXPECT_DOUBLE_EQ(FlashSpeedRelativeToFa2(2), 1.0);
  EXPECT_DOUBLE_EQ(FlashSpeedRelativeToFa2(3), 1.5);
  // A100: FA2 at 0.6557 of peak (cluster file); FA1 at half of it must land inside the FA2
  // paper's own 25-40% for FlashAttention, and FA2 inside its 50-73%.
  const Cluster a100 = ResolveCluster("dgx-a100-80g");
  const double fa2 = a100.efficiency.attention_peak_fraction;
  EXPECT_GE(fa2, 0.50);
  EXPECT_LE(fa2, 0.73);
  EXPECT_GE(fa2 * FlashSpeedRelativeToFa2(1), 0.25);
  EXPECT_LE(fa2 * FlashSpeedRelativeToFa2(1), 0.40);
  // H100: FA2 at ~35% of peak (FA3 paper); FA3 at 1.5x is ~51%, under its 75% forward best.
  const double h100 = ResolveCluster("dgx-h100").efficiency.attention_peak_fraction;
  EXPECT_NEAR(h100 * FlashSpeedRelativeToFa2(3), 0.508, 0.001);
}

// FlashAttention's tiling (compute.h) against NVIDIA's cudnn-frontend benchmark of PyTorch's
// FlashAttention-2 (scaled_dot_product_attention's flash backend) on GH100, clocks locked at
// 1980 MHz, head dim 128, 16 heads, batch x seq = 16384 tokens, forward + backward TFLOPS
// (NVIDIA/cudnn-frontend benchmark/benchmark_results.csv @505fcfe, "pytorch BF16 fwd + bwd").
TEST(FlashAttention, TilingExplainsFa2AtEverySequenceLengthOnGh100) {
  struct Row {
    double seq;
    bool causal;
    double tflops;
  };
  const Row rows[] = {
      {4096, false, 303.74170280246364}, {8192, false, 316.55274512148907}, {16384, false, 321.27920765691954},
      {32768, false, 322.17920925495895}, {65536, false, 330.2480740982632}, {4096, true, 264.4746092756496},
      {8192, true, 289.5800342073893},   {16384, true, 310.5321955338218},  {32768, true, 324.81276931149955},
      {65536, true, 328.50319349561096},
  };
  // By hand, one causal pass over 4096 keys: n = 32 blocks, 512 useful, 16 diagonal halves, 32
  // query blocks at 3.55: 512 / 641.6; non-causal: 1024 / (1024 + 3.55 x 32).
  EXPECT_NEAR(FlashPassEfficiency(4096, true), 512.0 / 641.6, 1e-12);
  EXPECT_NEAR(FlashPassEfficiency(4096, false), 1024.0 / 1137.6, 1e-12);
  EXPECT_NEAR(FlashTileEfficiency(512, 16, 32), 512.0 / 641.6, 1e-12);
  // Least squares on the relative error, the asymptote solved for each overhead (closed form:
  // E = sum(p/m) / sum((p/m)^2)): the overhead lands at kFlashQueryBlockOverhead and the
  // asymptote at 331.7 TFLOPS, within 1% of the FA2 paper's 335 (dgx-h100's fraction).
  double best_err = 1e300, best_k = -1, best_e = 0;
  for (int i = 0; i <= 800; ++i) {
    const double k0 = i / 100.0;
    auto eff = [&](const Row& r) {
      const double n = r.seq / 128.0;
      return r.causal ? n / (n + 1.0 + 2.0 * k0) : n / (n + k0);
    };
    double a = 0, b = 0;
    for (const Row& r : rows) {
      a += eff(r) / r.tflops;
      b += (eff(r) / r.tflops) * (eff(r) / r.tflops);
    }
    const double e = a / b;
    double err = 0;
    for (const Row& r : rows) err += (e * eff(r) / r.tflops - 1.0) * (e * eff(r) / r.tflops - 1.0);
    if (err < best_err) best_err = err, best_k = k0, best_e = e;
  }
  EXPECT_NEAR(best_k, kFlashQueryBlockOverhead, 0.005);
  EXPECT_NEAR(best_e, 331.7, 0.1);
  const double h100 = ResolveCluster("dgx-h100").efficiency.attention_peak_fraction * 989.0;
  EXPECT_NEAR(best_e / h100, 1.0, 0.01);
  // Every row within 2.5% of the model at the fitted asymptote.
  for (const Row& r : rows) {
    EXPECT_NEAR(best_e * FlashPassEfficiency(r.seq, r.causal) / r.tflops, 1.0, 0.025) << r.seq << " " << r.causal;
  }
}

// cuDNN's fused attention over PyTorch's FlashAttention-2, forward + backward, from the same
// cudnn-frontend benchmark rows (GH100, 1980 MHz, head dim 128, 16 heads, 16384 tokens a call).
TEST(FlashAttention, CudnnOverFa2IsTheBenchmarksRatioAtItsSequenceLengths) {
  // The CSV's rows by hand: causal 4096, "cudnn BF16 (TFlops/s fwd + bwd)" 467.94 over
  // "pytorch BF16 (TFlops/s fwd + bwd)" 264.47; non-causal 65536, 552.92 over 330.25.
  EXPECT_NEAR(CudnnAttentionSpeedOverFa2(4096, true), 467.939 / 264.475, 1e-4);
  EXPECT_NEAR(CudnnAttentionSpeedOverFa2(65536, false), 552.920 / 330.248, 1e-4);
  EXPECT_NEAR(CudnnAttentionSpeedOverFa2(16384, true), 520.258 / 310.532, 1e-4);
  // Held at the ends: a shorter call takes 4096's ratio, a longer one 65536's.
  EXPECT_DOUBLE_EQ(CudnnAttentionSpeedOverFa2(1024, true), CudnnAttentionSpeedOverFa2(4096, true));
  EXPECT_DOUBLE_EQ(CudnnAttentionSpeedOverFa2(1 << 20, true), CudnnAttentionSpeedOverFa2(65536, true));
  // Halfway in log(keys) between two rows: the mean of their ratios.
  const double mid = CudnnAttentionSpeedOverFa2(4096.0 * std::sqrt(2.0), true);
  EXPECT_NEAR(mid, 0.5 * (467.939 / 264.475 + 490.273 / 289.580), 1e-4);
  // cuDNN is 1.58-1.81x FA2 over the whole table, its lead shrinking with the sequence.
  for (double s : {4096.0, 8192.0, 16384.0, 32768.0, 65536.0}) {
    for (bool causal : {true, false}) {
      EXPECT_GE(CudnnAttentionSpeedOverFa2(s, causal), 1.58);
      EXPECT_LE(CudnnAttentionSpeedOverFa2(s, causal), 1.82);
    }
  }
  EXPECT_GT(CudnnAttentionSpeedOverFa2(4096, true), CudnnAttentionSpeedOverFa2(65536, true));
  // Measured on Hopper only: the cluster's flag.
  EXPECT_TRUE(ComputeParamsFor(ResolveCluster("dgx-h100")).cudnn_attention_measured);
  EXPECT_FALSE(ComputeParamsFor(ResolveCluster("dgx-a100-80g")).cudnn_attention_measured);
  EXPECT_FALSE(ComputeParamsFor(ResolveCluster("dgx-b200")).cudnn_attention_measured);
}

TEST(FlashAttention, OnlyHopperRunsFa3) {
  EXPECT_TRUE(IsHopperGpu("H100-SXM5-80GB"));
  EXPECT_TRUE(IsHopperGpu("NVIDIA H200"));
  EXPECT_TRUE(IsHopperGpu("GH200 SXM"));
  EXPECT_FALSE(IsHopperGpu("A100-SXM4-80GB"));
  EXPECT_FALSE(IsHopperGpu("B200"));
  EXPECT_FALSE(IsHopperGpu("cpu"));
  Workload w;
  w.flash_version = 3;
  EXPECT_TRUE(AttentionRunsOn(w, "H100-SXM5-80GB"));
  EXPECT_FALSE(AttentionRunsOn(w, "A100-SXM4-80GB"));
  w.flash_attention = false;  // the unfused path runs anywhere, whatever the version says
  EXPECT_TRUE(AttentionRunsOn(w, "A100-SXM4-80GB"));
  w.flash_attention = true;
  w.flash_version = 2;
  EXPECT_TRUE(AttentionRunsOn(w, "A100-SXM4-80GB"));
}

// FlashAttention-2's compiled head dims (FWD_HEADDIM_SWITCH, PyTorch's flash_attn/static_switch.h
// @1383ac0): 32, 64, 96, 128, 160, 192, 224, 256; a head runs the smallest that holds it.
TEST(FlashAttention, AHeadBetweenCompiledDimsRunsTheNextKernelUp) {
  EXPECT_EQ(FlashKernelHeadDim(64), 64);
  EXPECT_EQ(FlashKernelHeadDim(96), 96);    // GPT-22B
  EXPECT_EQ(FlashKernelHeadDim(112), 128);  // MPT-30B: 7168 / 64 heads
  EXPECT_EQ(FlashKernelHeadDim(80), 96);
  EXPECT_EQ(FlashKernelHeadDim(160), 160);  // GPT-530B, 1T
  EXPECT_EQ(FlashKernelHeadDim(200), 224);
  EXPECT_EQ(FlashKernelHeadDim(256), 256);
  EXPECT_EQ(FlashKernelHeadDim(300), 300);  // no kernel: left as it is
  EXPECT_DOUBLE_EQ(FlashHeadDimEfficiency(112), 112.0 / 128.0);
  EXPECT_DOUBLE_EQ(FlashHeadDimEfficiency(128), 1.0);
  EXPECT_DOUBLE_EQ(FlashHeadDimEfficiency(0), 1.0);
}

// FP8 GEMMs: the FP8 dense peak (H100 SXM datasheet 1,979 TFLOPS) x the measured best fraction
// (mamf-finder fp8_e4m3fn 1402.6 / 1979 = 0.7087, dgx-h100.json) x the same tile/wave
// quantisation as bf16: 16896 x 8192 is 132 x 64 = 8448 tiles on 132 SMs, 64 whole waves.
TEST(Fp8Gemm, FpEightPeakTimesMeasuredFractionTimesQuantisation) {
  const ComputeParams p = ComputeParamsFor(ResolveCluster("dgx-h100"));
  const KernelTime t = Fp8GemmTime(p, 16896, 8192, 8192);
  EXPECT_DOUBLE_EQ(t.flops, 2.0 * 16896 * 8192 * 8192);
  const double eff = 0.7087 * 0.8882;  // held at the power limit (755 / 850)
  EXPECT_NEAR(t.time_s, t.flops / (1979e12 * eff) + 4e-6, 1e-12);
  // Against bf16 (989 x 0.8033): 1979 x 0.7087 / (989 x 0.8033) = 1.765x the throughput.
  const KernelTime b = GemmTime(p, 16896, 8192, 8192);
  EXPECT_NEAR((b.time_s - 4e-6) / (t.time_s - 4e-6), 1979.0 * 0.7087 / (989.0 * 0.8033), 1e-9);
}

// CUTLASS v3.4's SM90 stream-K heuristic (tile_scheduler_params.h, get_num_sk_tiles /
// get_num_sk_units), branch by branch, on 132 SMs with 128 x 128 tiles and 64-wide K steps.
TEST(GemmTileSchedule, CutlassStreamKHeuristicBranchByBranch) {
  // Whole waves: nothing to balance. 12 x 11 tiles = 132.
  GemmTiling t = GemmTileSchedule(128 * 12, 128 * 11, 8192, 132);
  EXPECT_EQ(t.stream_k_units, 0);
  EXPECT_DOUBLE_EQ(t.efficiency, 1.0);
  // Tail at least half a wave stays data-parallel: 4096 x 896 is 32 x 7 = 224 tiles, tail 92 >= 66.
  t = GemmTileSchedule(4096, 896, 9728, 132);
  EXPECT_EQ(t.stream_k_units, 0);
  EXPECT_DOUBLE_EQ(t.efficiency, 224.0 / 264.0);
  // At most 8 K iterations per tile (K 512 / 64) is never split.
  t = GemmTileSchedule(768, 768, 512, 132);
  EXPECT_EQ(t.stream_k_units, 0);
  EXPECT_DOUBLE_EQ(t.efficiency, 36.0 / 132.0);
  // Under one wave: every tile is stream-K. 768 x 768 x 8192: 36 tiles x 128 iterations = 4,608
  // over min(132, 4608 / 8) = 132 CTAs, 35 each (ceil 34.9).
  t = GemmTileSchedule(768, 768, 8192, 132);
  EXPECT_EQ(t.stream_k_units, 132);
  EXPECT_DOUBLE_EQ(t.efficiency, 4608.0 / (132.0 * 35.0));
  // One full wave and a 12-tile tail: no data-parallel wave left, all 144 tiles stream-K:
  // 18,432 iterations, 140 per CTA.
  t = GemmTileSchedule(768, 3072, 8192, 132);
  EXPECT_EQ(t.stream_k_units, 132);
  EXPECT_DOUBLE_EQ(t.efficiency, 18432.0 / (132.0 * 140.0));
  // Few iterations: 2 tiles x 32 iterations = 64, split over 64 / 8 = 8 CTAs of 8.
  t = GemmTileSchedule(256, 128, 2048, 132);
  EXPECT_EQ(t.stream_k_units, 8);
  EXPECT_DOUBLE_EQ(t.efficiency, 64.0 / (132.0 * 8.0));
  // FP8 reads 128 K per step: K 1024 is 8 iterations (never split), 16 in bf16 (split).
  EXPECT_EQ(GemmTileSchedule(768, 768, 1024, 132, 1, 1).stream_k_units, 0);
  EXPECT_EQ(GemmTileSchedule(768, 768, 1024, 132, 1, 2).stream_k_units, 72);
  // Off: whole waves.
  EXPECT_DOUBLE_EQ(GemmTileSchedule(768, 768, 8192, 132, 1, 2, false).efficiency, 36.0 / 132.0);
}

// Against the lent H100 (data/measurements/nvidia-h100-80gb-hbm3-20261205.json, cuBLAS, random
// operands): Pythia-160M's weight gradients at 8192 tokens. Whole waves priced attn_out's
// 768 x 768 x 8192 (36 tiles) at 52.7 us and mlp_in's 768 x 3072 x 8192 (144 tiles) at 101.4 us;
// they ran in 24.0 and 60.2 us.
TEST(GemmTileSchedule, LentH100WeightGradientsRunAtTheStreamKRate) {
  Cluster c = ResolveCluster("dgx-h100");
  c.efficiency.gemm_peak_fraction = 0.8284;  // the shipped profile's fitted burst fraction
  const ComputeParams p = ComputeParamsFor(c);
  ASSERT_TRUE(p.stream_k);
  const double attn_out = GemmTime(p, 768, 768, 8192).time_s, mlp_in = GemmTime(p, 768, 3072, 8192).time_s;
  EXPECT_NEAR(attn_out / 24.0e-6, 1.0, 0.15);
  EXPECT_NEAR(mlp_in / 60.2e-6, 1.0, 0.15);
  ComputeParams whole = p;
  whole.stream_k = false;
  EXPECT_GT(GemmTime(whole, 768, 768, 8192).time_s / 24.0e-6, 2.0);
  EXPECT_GT(GemmTime(whole, 768, 3072, 8192).time_s / 60.2e-6, 1.6);
}

}  // namespace
}  // namespace meshplan::costmodel
