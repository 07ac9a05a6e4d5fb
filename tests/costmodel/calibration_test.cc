// Calibration: fitting recovers known parameters from samples the model itself generated (with
// noise), profiles round-trip through JSON, and applying one changes exactly the fitted fields.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "costmodel/calibration.h"
#include "costmodel/compute.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/measurements.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

/// Deterministic multiplicative noise in [1 - amp, 1 + amp] (a 64-bit LCG, Knuth's MMIX).
struct Noise {
  uint64_t state = 12345;
  double operator()(double amp) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(state >> 11) / static_cast<double>(1ULL << 53);
    return 1.0 + amp * (2.0 * u - 1.0);
  }
};

const FittedValue* Find(const CalibrationProfile& p, const std::string& path) {
  for (const auto& f : p.fitted) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

Cluster Truth() {
  Cluster c = ResolveCluster("dgx-h100");
  c.efficiency.nvlink_fraction = 0.70;
  c.efficiency.network_fraction = 0.65;  // 260 GB/s a node: below NVLink's 315, so it binds
  c.efficiency.nvls_fraction = 0.80;
  c.efficiency.nvls_tree_fraction = 0.75;
  c.node.intra.latency_us = 1.5;
  c.fabric.latency_us = 3.0;
  c.efficiency.collective_launch_us = 8.0;
  c.fabric.bulk_latency_us = 6.0;
  c.fabric.bulk_saturation_mib = 2.0;
  c.efficiency.group_launch_us = 5.0;  // a 40 us host floor under -g 8 calls
  c.efficiency.torch_call_us = 20.0;
  return c;
}

TEST(FitCollectives, RecoversAlphaAndBetaPerLinkLevelFromNoisySyntheticLogs) {
  const Cluster truth = Truth();
  CalibrationInputs in;
  Noise noise;
  for (const Group g : {Group{8, 1}, Group{16, 2}, Group{32, 4}, Group{64, 8}}) {
    for (Coll op : {Coll::kAllGather, Coll::kReduceScatter, Coll::kAllReduce}) {
      for (int algo : {-1, static_cast<int>(Algo::kRing)}) {
        for (int e = 10; e <= 33; ++e) {
          CollectiveSample s;
          s.op = op;
          s.group = g;
          s.bytes = std::ldexp(1.0, e);
          s.algo = algo;
          s.time_s = PredictCollective(truth, s) * noise(0.02);
          s.source = "synthetic";
          in.collectives.push_back(s);
        }
      }
    }
  }
  // Single-node rows timed by other harnesses: nccl-tests -g 8 (one thread, eight GPUs) and a
  // torch.distributed loop. Their host cost is fitted apart from the per-call launch.
  for (int e = 3; e <= 33; e += 2) {
    CollectiveSample g8{Coll::kAllReduce, {8, 1}, std::ldexp(1.0, e), 0, -1, Harness::kNcclTests, 8, "g8", {}};
    g8.time_s = PredictCollective(truth, g8) * noise(0.02);
    in.collectives.push_back(g8);
    CollectiveSample torch = g8;
    torch.harness = Harness::kTorchDistributed;
    torch.gpus_per_thread = 1;
    torch.time_s = PredictCollective(truth, torch) * noise(0.02);
    in.collectives.push_back(torch);
  }
  const Cluster base = ResolveCluster("dgx-h100");
  const CalibrationProfile p = Fit(base, in, "synthetic");
  ASSERT_NE(Find(p, "efficiency.nvlink_fraction"), nullptr);
  EXPECT_NEAR(Find(p, "efficiency.nvlink_fraction")->value, 0.70, 0.02);
  EXPECT_NEAR(Find(p, "efficiency.network_fraction")->value, 0.65, 0.03);
  EXPECT_NEAR(Find(p, "efficiency.nvls_fraction")->value, 0.80, 0.03);
  EXPECT_NEAR(Find(p, "efficiency.nvls_tree_fraction")->value, 0.75, 0.03);
  EXPECT_NEAR(Find(p, "node.intra.latency_us")->value, 1.5, 0.4);
  EXPECT_NEAR(Find(p, "fabric.latency_us")->value, 3.0, 0.6);
  EXPECT_NEAR(Find(p, "efficiency.collective_launch_us")->value, 8.0, 1.0);
  EXPECT_NEAR(Find(p, "fabric.bulk_latency_us")->value, 6.0, 1.0);
  EXPECT_NEAR(Find(p, "fabric.bulk_saturation_mib")->value, 2.0, 0.5);
  EXPECT_NEAR(Find(p, "efficiency.group_launch_us")->value, 5.0, 0.3);
  EXPECT_NEAR(Find(p, "efficiency.torch_call_us")->value, 20.0, 2.0);
  ASSERT_EQ(p.fit_error.size(), 1u);
  EXPECT_EQ(p.fit_error[0].quantity, "collective_time_s");
  EXPECT_GT(p.fit_error[0].before_pct, 10.0);
  EXPECT_LT(p.fit_error[0].after_pct, 1.5);  // the noise is +-2%: mean |noise| is 1%
}

TEST(PredictCollective, BenchmarkHarnessesAddHostCostTheTrainingStepDoesNotPay) {
  // nccl-tests -g 8: one thread issues the call on eight GPUs, 8 x group_launch_us of host time
  // per iteration while the GPUs run, so a call takes the longer of the two. A torch.distributed
  // loop adds its per-call cost. One process per GPU (training, meshplan-validate) pays neither.
  Cluster c = ResolveCluster("dgx-h100");
  c.efficiency.group_launch_us = 4.4;
  c.efficiency.torch_call_us = 20.0;
  CollectiveSample s{Coll::kAllGather, {8, 1}, 1024, 0, -1, Harness::kNcclTests, 1, "x", {}};
  const double plain = PredictCollective(c, s);
  s.gpus_per_thread = 8;
  EXPECT_NEAR(PredictCollective(c, s), std::max(plain, 8 * 4.4e-6), 1e-15);
  EXPECT_GT(8 * 4.4e-6, plain);  // a small message sits on the host floor ...
  s.bytes = 1e9;
  const double big = PredictCollective(c, CollectiveSample{s.op, s.group, s.bytes, 0, -1, Harness::kNcclTests, 1, "x", {}});
  EXPECT_NEAR(PredictCollective(c, s), big, 1e-15);  // ... a large one on the GPUs
  s.gpus_per_thread = 1;
  s.harness = Harness::kTorchDistributed;
  EXPECT_NEAR(PredictCollective(c, s), big + 20e-6, 1e-12);
}

TEST(FitCollectives, FitsOnlyWhatTheSamplesInform) {
  // Single-node ring rows say nothing about the network or NVLS.
  const Cluster truth = Truth();
  CalibrationInputs in;
  for (int e = 10; e <= 30; ++e) {
    CollectiveSample s{Coll::kAllGather, {8, 1}, std::ldexp(1.0, e), 0, static_cast<int>(Algo::kRing),
                       Harness::kNcclTests, 1, "x", {}};
    s.time_s = PredictCollective(truth, s);
    in.collectives.push_back(s);
  }
  const CalibrationProfile p = Fit(ResolveCluster("dgx-h100"), in, "single-node");
  EXPECT_NE(Find(p, "efficiency.nvlink_fraction"), nullptr);
  EXPECT_EQ(Find(p, "efficiency.network_fraction"), nullptr);
  EXPECT_EQ(Find(p, "fabric.latency_us"), nullptr);
  EXPECT_EQ(Find(p, "efficiency.nvls_fraction"), nullptr);
  EXPECT_EQ(Find(p, "fabric.bulk_latency_us"), nullptr);
  EXPECT_EQ(Find(p, "fabric.bulk_saturation_mib"), nullptr);
  // NVLink's bulk latency is fitted only where it lowers the error of the fit without it (the
  // nested model): the truth has none, and neither has the profile.
  EXPECT_EQ(Find(p, "node.intra.bulk_latency_us"), nullptr);
  // One process per GPU: nothing to say about the harnesses' host cost.
  EXPECT_EQ(Find(p, "efficiency.group_launch_us"), nullptr);
  EXPECT_EQ(Find(p, "efficiency.torch_call_us"), nullptr);
}

TEST(FitCollectives, P2pRowsRecoverChannelBandwidthAndPartSizeOnTopOfTheLinks) {
  // Synthetic send/recv (32 MiB - 16 GiB, one NVLink peer) and all-to-all rows from a truth of
  // 80 GB/s per p2p channel, 64 MiB parts and an all-to-all fraction of 0.9, beside ring
  // all-gather rows that fix NVLink: the p2p stage recovers its three values and leaves the
  // links the all-gather rows fitted.
  Cluster truth = Truth();
  truth.efficiency.p2p_channel_GBps = 80;
  truth.efficiency.p2p_part_mib = 64;
  truth.efficiency.alltoall_fraction = 0.9;
  CalibrationInputs in;
  for (int e = 20; e <= 34; ++e) {
    for (Coll op : {Coll::kAllGather, Coll::kSendRecv, Coll::kAllToAll}) {
      if (op != Coll::kAllGather && e < 25) continue;
      CollectiveSample s{op, op == Coll::kSendRecv ? Group{2, 1} : Group{8, 1}, std::ldexp(1.0, e), 0, -1,
                         Harness::kNcclTests, 1, "x", {}};
      s.time_s = PredictCollective(truth, s);
      in.collectives.push_back(s);
    }
  }
  const CalibrationProfile p = Fit(ResolveCluster("dgx-h100"), in, "p2p");
  ASSERT_NE(Find(p, "efficiency.p2p_channel_GBps"), nullptr);
  // Within 2%: the links the all-gather rows fit (latencies under their prior) are not exact.
  EXPECT_NEAR(Find(p, "efficiency.p2p_channel_GBps")->value, 80.0, 1.6);
  ASSERT_NE(Find(p, "efficiency.p2p_part_mib"), nullptr);
  EXPECT_EQ(Find(p, "efficiency.p2p_part_mib")->value, 64.0);
  ASSERT_NE(Find(p, "efficiency.alltoall_fraction"), nullptr);
  EXPECT_NEAR(Find(p, "efficiency.alltoall_fraction")->value, 0.9, 0.01);
  EXPECT_NEAR(Find(p, "efficiency.nvlink_fraction")->value, truth.efficiency.nvlink_fraction, 0.01);
  // The p2p values name the p2p rows as their sources; all-gather rows alone fit no p2p value.
  EXPECT_EQ(Find(p, "efficiency.alltoall_fraction")->sources, std::vector<std::string>{"x"});
  CalibrationInputs ag;
  for (const auto& s : in.collectives) {
    if (s.op == Coll::kAllGather) ag.collectives.push_back(s);
  }
  const CalibrationProfile q = Fit(ResolveCluster("dgx-h100"), ag, "ag");
  EXPECT_EQ(Find(q, "efficiency.p2p_channel_GBps"), nullptr);
  EXPECT_EQ(Find(q, "efficiency.alltoall_fraction"), nullptr);
}

TEST(FitKernels, RecoversGemmFractionHbmFractionLaunchAndAttention) {
  Cluster truth = ResolveCluster("dgx-h100");
  truth.efficiency.gemm_sustained_fraction = 1.0;  // the samples are burst timings
  truth.efficiency.gemm_peak_fraction = 0.70;
  truth.efficiency.hbm_fraction = 0.80;
  truth.efficiency.kernel_launch_us = 5.0;
  truth.efficiency.attention_peak_fraction = 0.45;
  const ComputeParams tp = ComputeParamsFor(truth);
  CalibrationInputs in;
  for (int64_t m : {4096, 8192, 16384}) {
    for (int64_t n : {1280, 8192, 28672}) {
      const double t = GemmTime(tp, m, n, 8192).time_s;
      in.gemms.push_back({m, n, 8192, 1, t, "synthetic"});
    }
  }
  for (double bytes : {1e6, 1e7, 1e8, 1e9}) {
    in.memory_kernels.push_back({bytes, MemoryBoundTime(tp, bytes), "synthetic"});
  }
  for (double flops : {1e11, 1e12, 1e13}) {
    in.attention.push_back({flops, flops / (tp.peak_flops * 0.45) + tp.launch_s, "synthetic"});
  }
  // A kernel priced at 0.8 of the fraction (FlashAttention's tiling at a short sequence): the
  // fit divides it out and still finds the fraction.
  in.attention.push_back({4e12, 4e12 / (tp.peak_flops * 0.45 * 0.8) + tp.launch_s, "synthetic", 0.8});
  const CalibrationProfile p = Fit(ResolveCluster("dgx-h100"), in, "kernels");
  EXPECT_NEAR(Find(p, "efficiency.hbm_fraction")->value, 0.80, 1e-6);
  EXPECT_NEAR(Find(p, "efficiency.kernel_launch_us")->value, 5.0, 1e-4);
  // Large GEMMs are compute-bound, so time = FLOPs / (peak x 0.70 x shape) + launch: the fit of
  // the best-case fraction lands within the launch's share of a millisecond kernel.
  EXPECT_NEAR(Find(p, "efficiency.gemm_peak_fraction")->value, 0.70, 0.01);
  EXPECT_NEAR(Find(p, "efficiency.attention_peak_fraction")->value, 0.45, 1e-3);
  EXPECT_EQ(p.gemm_table.size(), 9u);
  // With the profile applied, a measured shape's burst is predicted exactly.
  Cluster c = ResolveCluster("dgx-h100");
  ApplyCalibration(p, c, "test");
  c.efficiency.gemm_sustained_fraction = 1.0;
  const ComputeParams cp = ComputeParamsFor(c);
  EXPECT_NEAR(GemmTime(cp, 8192, 1280, 8192).time_s, GemmTime(tp, 8192, 1280, 8192).time_s, 1e-12);
}

TEST(FitKernels, SustainedGemmFractionIsTheMedianMeasuredAndLeavesTheBurstFitAlone) {
  // Three chains held 0.93, 0.88 and 1.04 of their shapes' burst throughput: the median, 0.93.
  // The GEMM table and best-case fraction are fitted on the burst samples as if no sustained
  // fraction were set, even when the cluster starts with one.
  Cluster truth = ResolveCluster("dgx-h100");
  truth.efficiency.gemm_sustained_fraction = 1.0;  // the samples are burst timings
  truth.efficiency.gemm_peak_fraction = 0.70;
  const ComputeParams tp = ComputeParamsFor(truth);
  CalibrationInputs in;
  for (int64_t n : {1280, 8192, 28672}) in.gemms.push_back({8192, n, 8192, 1, GemmTime(tp, 8192, n, 8192).time_s, "s"});
  in.sustained_gemms = {{0.93, 30, {}, "a"}, {0.88, 30, {}, "b"}, {1.04, 30, {}, "c"}};
  Cluster start = ResolveCluster("dgx-h100");
  start.efficiency.gemm_sustained_fraction = 0.5;
  const CalibrationProfile p = Fit(start, in, "sustained");
  EXPECT_DOUBLE_EQ(Find(p, "efficiency.gemm_sustained_fraction")->value, 0.93);
  EXPECT_NEAR(Find(p, "efficiency.gemm_peak_fraction")->value, 0.70, 0.01);
  in.sustained_gemms = {{1.04, 30, {}, "c"}};  // faster than its bursts: noise, held at 1
  EXPECT_DOUBLE_EQ(Find(Fit(start, in, "s"), "efficiency.gemm_sustained_fraction")->value, 1.0);
  in.sustained_gemms.clear();
  EXPECT_EQ(Find(Fit(start, in, "s"), "efficiency.gemm_sustained_fraction"), nullptr);
  // No run of 2 or more ranks: no spread is fitted.
  in.sustained_gemms = {{0.93, 30, {}, "a"}};
  EXPECT_EQ(Find(Fit(start, in, "s"), "efficiency.gemm_gpu_spread"), nullptr);
}

TEST(FitKernels, GpuSpreadIsFittedFromEveryRanksLateTimeAsTheClusterFilesDeriveIt) {
  // 8 ranks whose late times per pass are the inverse of mamf-finder's 8 H200 at the power
  // limit (745-765 TFLOPS, median 755; compute.h SlowestGpuFraction): the fitted spread is the
  // shipped dgx-h100 one, (1 - 745/755) / E[max of 8]. Two runs: the median of their spreads.
  const std::vector<double> tflops = {745, 750, 752, 754, 756, 758, 760, 765};
  std::vector<double> late;
  for (double t : tflops) late.push_back(1.0 / t);
  CalibrationInputs in;
  in.sustained_gemms = {{0.9, 30, late, "node"}};
  const Cluster start = ResolveCluster("dgx-h100");
  const CalibrationProfile p = Fit(start, in, "spread");
  ASSERT_NE(Find(p, "efficiency.gemm_gpu_spread"), nullptr);
  const double node = Find(p, "efficiency.gemm_gpu_spread")->value;  // its median is 753, not 755
  EXPECT_NEAR(node, start.efficiency.gemm_gpu_spread, 2e-6);
  // Two ranks 2% apart: (1 - mean / slowest's rate) / (1 / sqrt(pi)).
  in.sustained_gemms.push_back({0.9, 30, {1.0 / 1.00, 1.0 / 0.98}, "pair"});
  in.sustained_gemms.push_back({0.9, 30, {1.0, 1.0}, "equal"});
  const double pair = (1.0 - (0.5 * (1.0 + 1.0 / 0.98)) / (1.0 / 0.98)) * std::sqrt(M_PI);
  EXPECT_GT(pair, node);
  EXPECT_NEAR(Find(Fit(start, in, "s"), "efficiency.gemm_gpu_spread")->value, node, 1e-12);  // median of 0, node, pair
  in.sustained_gemms.pop_back();  // two runs: the mean of theirs
  EXPECT_NEAR(Find(Fit(start, in, "s"), "efficiency.gemm_gpu_spread")->value, 0.5 * (node + pair), 1e-12);
  // A spread past any lottery is held at 0.2.
  in.sustained_gemms = {{0.9, 30, {1.0, 2.0}, "oversubscribed"}};
  EXPECT_DOUBLE_EQ(Find(Fit(start, in, "s"), "efficiency.gemm_gpu_spread")->value, 0.2);
}

TEST(FitCollectives, RecoversNvlinkBulkLatencyFromOneNodesLogs) {
  // A100-like single-node logs whose NVLink hops hold a pipeline chunk each: 12 us a hop at 8 MiB
  // a rank and beyond. The fit finds it, and the bandwidth the alpha-beta line had to give up
  // for it.
  Cluster truth = ResolveCluster("dgx-a100-80g");
  truth.efficiency.nvlink_fraction = 0.78;
  truth.node.intra.bulk_latency_us = 12.0;
  truth.node.intra.bulk_saturation_mib = 8.0;
  CalibrationInputs in;
  Noise noise;
  for (Coll op : {Coll::kAllReduce, Coll::kAllGather}) {
    for (int e = 10; e <= 33; ++e) {
      CollectiveSample s{op, {8, 1}, std::ldexp(1.0, e), 0, -1, Harness::kNcclTests, 1, "a100", {}};
      s.time_s = PredictCollective(truth, s) * noise(0.01);
      in.collectives.push_back(s);
    }
  }
  const CalibrationProfile p = Fit(ResolveCluster("dgx-a100-80g"), in, "nvlink-chunks");
  ASSERT_NE(Find(p, "node.intra.bulk_latency_us"), nullptr);
  EXPECT_NEAR(Find(p, "node.intra.bulk_latency_us")->value, 12.0, 1.5);
  EXPECT_NEAR(Find(p, "node.intra.bulk_saturation_mib")->value, 8.0, 1.5);
  EXPECT_NEAR(Find(p, "efficiency.nvlink_fraction")->value, 0.78, 0.01);
  EXPECT_LT(p.fit_error[0].after_pct, 1.0);
}

// Per-layer timings fit the GEMM rate; a backward whose TP collectives overlap the weight-
// gradient GEMM (Megatron's, specs.h TpBackwardOverlapsWgrad) is scored apart and not fitted.
// Layers timed on a truth cluster, their backwards 10% faster than the model prices them (the
// overlap it leaves out): the fit recovers the truth's GEMM rate from the forwards alone, and
// scores the backwards 10% slow.
TEST(FitLayers, FitsTheGemmRateOnForwardsWhereTheBackwardOverlapsItsTpCollectives) {
  Cluster truth = ResolveCluster("dgx-a100-80g");
  truth.efficiency.gemm_peak_fraction = 0.75;
  const Model m = ResolveModel("gpt-22b");
  CalibrationInputs in;
  for (const char* text : {"tp=8,sp=off,fsdp=1,zero=1,mbs=4,recipe=megatron",
                           "tp=8,sp=on,fsdp=1,zero=1,mbs=4,recipe=megatron"}) {
    Workload w;
    w.gpus = 8;
    w.global_batch = 4;
    w.seq = 2048;
    w.flash_attention = false;
    Layout l = ParseLayoutText(text, "test");
    ResolveLayout(l, w, "test");
    const Evaluation e = Evaluator(m, truth, w).Evaluate(l);
    in.layers.push_back({m, w, l, e.layer_forward_s + e.parts.layer_fwd_tp_s,
                         0.9 * (e.layer_backward_s + e.parts.layer_bwd_tp_s), "synthetic"});
  }
  const CalibrationProfile p = Fit(ResolveCluster("dgx-a100-80g"), in, "layers");
  EXPECT_NEAR(Find(p, "efficiency.gemm_peak_fraction")->value, 0.75, 1e-3);
  ASSERT_EQ(p.fit_error.size(), 2u);
  EXPECT_EQ(p.fit_error[0].quantity, "layer_time_s");
  EXPECT_EQ(p.fit_error[0].n, 2);
  EXPECT_LT(p.fit_error[0].after_pct, 0.01);
  EXPECT_EQ(p.fit_error[1].quantity, "layer_backward_s_overlap_not_fitted");
  EXPECT_EQ(p.fit_error[1].n, 2);
  EXPECT_NEAR(p.fit_error[1].after_pct, 100.0 / 9.0, 0.05);  // 1 / 0.9 - 1
  // Without TP there is no such overlap: the backward is fitted with the forward.
  for (LayerSample& s : in.layers) s.layout.tp = 1, s.layout.sp = false;
  EXPECT_EQ(Fit(ResolveCluster("dgx-a100-80g"), in, "layers").fit_error.size(), 1u);
}

TEST(FitStep, RecoversOverlapSlowdownFromMeasuredSteps) {
  Cluster truth = ResolveCluster("dgx-h100");
  truth.efficiency.overlap_slowdown = 1.30;
  const Model m = ResolveModel("llama2-13b");
  CalibrationInputs in;
  for (const char* text : {"tp=1,zero=3,mbs=1", "tp=2,sp=on,zero=3,mbs=2", "tp=1,fsdp=16,replicate=4,zero=2"}) {
    Workload w;
    w.gpus = 64;
    w.global_batch = 256;
    w.seq = 4096;
    Layout l = ParseLayoutText(text, "test");
    ResolveLayout(l, w, "test");
    StepSample s{m, w, l, Evaluator(m, truth, w).Evaluate(l).time.step_s, 0, "synthetic"};
    in.steps.push_back(s);
  }
  const CalibrationProfile p = Fit(ResolveCluster("dgx-h100"), in, "steps");
  EXPECT_NEAR(Find(p, "efficiency.overlap_slowdown")->value, 1.30, 1e-3);
  ASSERT_EQ(p.fit_error.back().quantity, "step_time_s");
  EXPECT_LT(p.fit_error.back().after_pct, 0.01);
}

TEST(Profile, RoundTripsThroughJsonAndAppliesOnlyToItsClusters) {
  CalibrationProfile p;
  p.name = "lab";
  p.clusters = {"dgx-h100"};
  p.fitted = {{"efficiency.network_fraction", 0.5, "fraction", {"log.txt"}},
              {"fabric.latency_us", 7.0, "us", {"log.txt"}}};
  p.gemm_table = {{4096, 4096, 4096, 1, 0.75}};
  p.fit_error = {{"collective_time_s", 10, 30.0, 5.0}};
  const std::string text = ToJson(p).dump();
  const CalibrationProfile q = ParseCalibrationJson(text, "p.json");
  EXPECT_EQ(ToJson(q).dump(), text);
  Cluster c = ResolveCluster("dgx-h100");
  ApplyCalibration(q, c, "p.json");
  EXPECT_EQ(c.calibration, "lab");
  EXPECT_DOUBLE_EQ(c.efficiency.network_fraction, 0.5);
  EXPECT_DOUBLE_EQ(c.fabric.latency_us, 7.0);
  EXPECT_DOUBLE_EQ(c.efficiency.nvlink_fraction, 0.8134);  // untouched
  Cluster a = ResolveCluster("dgx-a100-80g");
  try {
    ApplyCalibration(q, a, "p.json");
    FAIL() << "applied a dgx-h100 profile to dgx-a100-80g";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "p.json: clusters: profile 'lab' is for dgx-h100, not for cluster 'dgx-a100-80g'");
  }
}

TEST(Profile, RejectsUnknownQuantitiesOutOfBoundValuesAndNewerVersions) {
  auto error_of = [](const std::string& text) -> std::string {
    try {
      ParseCalibrationJson(text, "p.json");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const std::string head = R"({"schema_version": 1, "command": "calibrate", "name": "x", "clusters": ["dgx-h100"], "gemm_table": [], )";
  EXPECT_EQ(error_of(head + R"("fitted": {"efficiency.magic": {"value": 1, "unit": "", "sources": []}}})"),
            "p.json: fitted.efficiency.magic: not a quantity calibration can set");
  EXPECT_EQ(error_of(head + R"("fitted": {"efficiency.network_fraction": {"value": 1.5, "unit": "fraction", "sources": []}}})"),
            "p.json: fitted.efficiency.network_fraction.value: must be a number in [0.02, 1], got 1.5");
  EXPECT_EQ(error_of(R"({"schema_version": 2, "command": "calibrate"})"),
            "p.json: schema_version: is 2 but this meshplan reads versions up to 1; upgrade meshplan");
  EXPECT_EQ(error_of(R"({"schema_version": 1, "command": "plan"})"),
            "p.json: command: expected \"calibrate\" (a calibration profile), got \"plan\"");
}

TEST(NvlsTree, LatencyAndBandwidthByHand) {
  // dgx-h100 uncalibrated, 16 ranks on 2 nodes. Latency: NVLS 25 us + 2 log2(2) x 20.9 us.
  // Bandwidth: min(node NICs 8 x 400/8 x 0.9817 = 392.68 GB/s x 2/(2 x 1) x 0.85,
  //                NVLink 450 x 0.8134 = 366.03 x 0.85 x 15/16) = min(333.78, 291.68).
  const LinkParams lp = LinkParamsFor(ResolveCluster("dgx-h100"));
  const CollectiveTable t = BuildTable(lp, {16, 2});
  const CollectiveCost c = TimeOf(t, Coll::kAllReduce, Algo::kNvlsTree, Proto::kSimple, 1e9);
  EXPECT_NEAR(c.latency_s, 66.8e-6, 1e-9);
  EXPECT_NEAR(c.bandwidth_s, 1e9 / (450 * 0.8134 * 0.85 * 15.0 / 16.0 * 1e9), 1e-9);
  // Only whole-node groups on NVLS systems get it.
  EXPECT_LT(TimeOf(BuildTable(lp, {2, 2}), Coll::kAllReduce, Algo::kNvlsTree, Proto::kSimple, 1e9).time_s, 0);
}

// meshplan-validate embeds the model it ran: a user's model.json that is no built-in, or that
// reuses a built-in's name with other shapes, is the model calibrate fits, not a name lookup.
TEST(Measurements, EmbeddedModelIsTheOneFittedNotTheBuiltInOfThatName) {
  Model user = ResolveModel("tiny-llama");
  user.layers = 6;  // same name as the built-in, other shape
  nlohmann::json m = nlohmann::json::parse(R"({"schema_version": 1, "command": "validate",
    "plan": {"model": "tiny-llama", "cluster": "cpu-local", "gpus": 4, "global_batch": 4, "seq": 128,
             "layout": {"tp": 2, "sp": true, "fsdp": 2, "replicate": 1, "zero": 3, "mbs": 1,
                        "recompute": "none", "recipe": "fsdp2", "pp": 1, "cp": 1}},
    "collectives": [], "gemms": [], "step": {"time_s": 0.3, "peak_memory_bytes": 2.6e7}})");
  m["plan"]["model_spec"] = ToJson(user);
  m["plan"]["cluster_spec"] = ToJson(ResolveCluster("cpu-local"));
  const Cluster cpu = ResolveCluster("cpu-local");
  CalibrationInputs in;
  AddMeasurements(m.dump(), "m.json", cpu, in);
  ASSERT_EQ(in.steps.size(), 1u);
  EXPECT_EQ(in.steps[0].model.layers, 6);
  user.name = "my-own-model";  // no built-in of that name at all
  m["plan"]["model"] = user.name;
  m["plan"]["model_spec"] = ToJson(user);
  CalibrationInputs in2;
  AddMeasurements(m.dump(), "m.json", cpu, in2);
  ASSERT_EQ(in2.steps.size(), 1u);
  EXPECT_EQ(in2.steps[0].model.name, "my-own-model");
}

// The framework behaviours a step ran with (plan.workload_switches, as meshplan-validate writes
// them) are those its prediction uses: a Megatron-LM 2022 pipeline's blocking exchanges and
// scatter-gather; files without the block ran with none; a value neither of a switch's two is
// an error naming it.
TEST(Measurements, StepsKeepTheWorkloadSwitchesTheyRanWith) {
  nlohmann::json m = nlohmann::json::parse(R"({"schema_version": 1, "command": "validate",
    "plan": {"model": "tiny-llama", "cluster": "cpu-local", "gpus": 4, "global_batch": 8, "seq": 128,
             "workload_switches": {"pp_p2p_interleaved": "blocking", "pp_scatter_gather": "on"},
             "layout": {"tp": 2, "sp": false, "fsdp": 1, "replicate": 1, "zero": 1, "mbs": 1,
                        "recompute": "none", "recipe": "megatron", "pp": 2, "vpp": 2,
                        "schedule": "interleaved", "cp": 1}},
    "collectives": [], "gemms": [], "step": {"time_s": 0.3, "peak_memory_bytes": 2.6e7}})");
  const Cluster cpu = ResolveCluster("cpu-local");
  CalibrationInputs in;
  AddMeasurements(m.dump(), "m.json", cpu, in);
  ASSERT_EQ(in.steps.size(), 1u);
  EXPECT_TRUE(in.steps[0].workload.pp_interleaved_blocking);
  EXPECT_TRUE(in.steps[0].workload.pp_scatter_gather);
  EXPECT_FALSE(in.steps[0].workload.pp_p2p_blocking);
  m["plan"].erase("workload_switches");
  CalibrationInputs none;
  AddMeasurements(m.dump(), "m.json", cpu, none);
  ASSERT_EQ(none.steps.size(), 1u);
  EXPECT_FALSE(none.steps[0].workload.pp_interleaved_blocking);
  m["plan"]["workload_switches"] = {{"pp_p2p", "sometimes"}};
  CalibrationInputs bad;
  std::string what;
  try {
    AddMeasurements(m.dump(), "m.json", cpu, bad);
  } catch (const Error& e) {
    what = e.what();
  }
  EXPECT_EQ(what, "m.json: plan.workload_switches.pp_p2p: must be one of async | blocking, got \"sometimes\"");
}

TEST(Measurements, ReadsEverySampleKindAndRejectsForeignOrWrongClusterFiles) {
  const std::string good = R"({"schema_version": 1, "command": "validate", "backend": "cpu",
    "plan": {"model": "tiny-llama", "cluster": "cpu-local", "gpus": 4, "global_batch": 4, "seq": 128,
             "layout": {"tp": 2, "sp": true, "fsdp": 2, "replicate": 1, "zero": 3, "mbs": 1,
                        "recompute": "none", "recipe": "fsdp2", "pp": 1, "cp": 1}},
    "collectives": [{"op": "all_gather", "purpose": "tp", "ranks": 2, "nodes": 1, "bytes": 65536, "time_s": 2e-5}],
    "gemms": [{"name": "qkv", "pass": "forward", "m": 128, "n": 256, "k": 256, "batch": 1, "time_s": 3e-4}],
    "attention": [{"pass": "forward", "flops": 4194304, "time_s": 9e-5}],
    "memory_kernels": [{"name": "norm", "pass": "forward", "bytes": 65536, "time_s": 2e-7}],
    "step": {"time_s": 0.3, "peak_memory_bytes": 2.6e7}})";
  const Cluster cpu = ResolveCluster("cpu-local");
  CalibrationInputs in;
  AddMeasurements(good, "m.json", cpu, in);
  EXPECT_EQ(in.collectives.size(), 1u);
  EXPECT_EQ(in.gemms.size(), 1u);
  ASSERT_EQ(in.attention.size(), 1u);
  // Priced as the plan's FlashAttention-2 at 128 causal tokens: one block, 0.5 useful, 0.5
  // diagonal, one query block at 3.55 (compute.h): 0.5 / 4.55.
  EXPECT_NEAR(in.attention[0].speed, 0.5 / 4.55, 1e-12);
  EXPECT_EQ(in.memory_kernels.size(), 1u);
  ASSERT_EQ(in.steps.size(), 1u);
  EXPECT_EQ(in.steps[0].layout.tp, 2);
  EXPECT_EQ(in.steps[0].model.name, "tiny-llama");
  EXPECT_TRUE(in.sustained_gemms.empty());
  // --sustain-s: the fraction is the burst pass over the late pass (2e-3 / 2.5e-3).
  std::string sustained = good;
  sustained.replace(sustained.rfind('}'), 1,
                    R"(, "sustained_gemms": {"seconds": 20.1, "gemms": 12, "window_passes": 400, "flops_per_pass": 1e12,
                        "burst_pass_s": 2e-3, "first_pass_s": 2.1e-3, "late_pass_s": 2.5e-3, "fraction": 0.8,
                        "windows_tflops": [476, 400]}})");
  CalibrationInputs with;
  AddMeasurements(sustained, "m.json", cpu, with);
  ASSERT_EQ(with.sustained_gemms.size(), 1u);
  EXPECT_DOUBLE_EQ(with.sustained_gemms[0].fraction, 0.8);
  EXPECT_EQ(with.sustained_gemms[0].source, "m.json: sustained_gemms");
  auto error_of = [&](const std::string& text, const Cluster& c) -> std::string {
    CalibrationInputs sink;
    try {
      AddMeasurements(text, "m.json", c, sink);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(good, ResolveCluster("dgx-h100")),
            "m.json: plan.cluster: measured on 'cpu-local', but calibrating cluster 'dgx-h100'");
  EXPECT_EQ(error_of(R"({"schema_version": 1, "command": "plan"})", cpu),
            "m.json: command: expected \"validate\" (a meshplan-validate measurement file), got \"plan\"");
  std::string bad = good;
  bad.replace(bad.find("\"time_s\": 2e-5"), 14, "\"time_s\": -1.0");
  EXPECT_EQ(error_of(bad, cpu), "m.json: collectives[0].time_s: must be a number in [1e-12, 1e+06], got -1.0");
  std::string far = sustained;
  far.replace(far.find("\"late_pass_s\": 2.5e-3"), 21, "\"late_pass_s\": 2.5e-9");
  EXPECT_EQ(error_of(far, cpu),
            "m.json: sustained_gemms.late_pass_s: burst_pass_s / late_pass_s = 800000.000000 is outside (0, 10]: "
            "not the same GEMMs timed twice");
  // Every rank's own late time: the fraction is the median rank's (2e-3 / 2.3e-3 of three ranks,
  // the slowest at late_pass_s), and the ranks' times go to the spread fit.
  std::string ranks = sustained;
  ranks.replace(ranks.find("\"late_pass_s\": 2.5e-3"), 21,
                "\"late_pass_s\": 2.5e-3, \"late_pass_s_per_rank\": [2.3e-3, 2.5e-3, 2.2e-3]");
  CalibrationInputs per_rank;
  AddMeasurements(ranks, "m.json", cpu, per_rank);
  ASSERT_EQ(per_rank.sustained_gemms.size(), 1u);
  EXPECT_DOUBLE_EQ(per_rank.sustained_gemms[0].fraction, 2e-3 / 2.3e-3);
  EXPECT_EQ(per_rank.sustained_gemms[0].late_per_rank, (std::vector<double>{2.3e-3, 2.5e-3, 2.2e-3}));
  std::string one = sustained;  // one rank: its fraction, no spread
  one.replace(one.find("\"late_pass_s\": 2.5e-3"), 21, "\"late_pass_s\": 2.5e-3, \"late_pass_s_per_rank\": [2.5e-3]");
  CalibrationInputs single;
  AddMeasurements(one, "m.json", cpu, single);
  EXPECT_DOUBLE_EQ(single.sustained_gemms[0].fraction, 0.8);
  EXPECT_TRUE(single.sustained_gemms[0].late_per_rank.empty());
  std::string slower = ranks;
  slower.replace(slower.find("2.5e-3, 2.2e-3]"), 15, "2.6e-3, 2.2e-3]");
  EXPECT_EQ(error_of(slower, cpu),
            "m.json: sustained_gemms.late_pass_s_per_rank: a rank's late time exceeds late_pass_s, the slowest rank's");
  std::string text = ranks;
  text.replace(text.find("[2.3e-3,"), 8, "[\"x\",");
  EXPECT_EQ(error_of(text, cpu),
            "m.json: sustained_gemms.late_pass_s_per_rank: entry 0 must be a number in [1e-12, 1e6], got \"x\"");
  std::string none = ranks;
  none.replace(none.find("[2.3e-3, 2.5e-3, 2.2e-3]"), 24, "[]");
  EXPECT_EQ(error_of(none, cpu), "m.json: sustained_gemms.late_pass_s_per_rank: must list at least one rank");
}

}  // namespace
}  // namespace meshplan::costmodel
