// plans/answer.h: the numbers a row shows, twins folded, the headroom rule, ties inside the
// error band, and the band read from data/accuracy/error_bands.json.
#include "plans/answer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "costmodel/error.h"
#include "costmodel/memory.h"
#include "costmodel/spec_io.h"

namespace meshplan::plans {
namespace {
namespace fs = std::filesystem;
using costmodel::kGiB;

ShownRow Row(const std::string& layout, double step_s, double peak_gib, double capacity_gib = 78.0) {
  ShownRow r;
  r.layout = costmodel::ParseLayoutText(layout, "test");
  r.step_s = step_s;
  r.peak_bytes = peak_gib * kGiB;
  r.capacity_bytes = capacity_gib * kGiB;
  return r;
}

ErrorBand Band(double spread_pct) {
  ErrorBand b;
  b.generation = "H100";
  b.spread_pct = spread_pct;
  return b;
}

TEST(TopList, RecipeTwinsFoldIntoTheFasterRow) {
  const std::vector<ShownRow> ranked = {
      Row("tp=8,sp=on,fsdp=8,zero=3,recipe=megatron", 1.000, 60),
      Row("tp=8,sp=on,fsdp=8,zero=3,recipe=fsdp2", 1.001, 64),  // its twin, 0.1% slower
      Row("tp=4,sp=on,fsdp=16,zero=3,recipe=fsdp2", 1.010, 50),
  };
  const TopList l = BuildTopList(ranked, {}, std::nullopt);
  ASSERT_EQ(l.rows.size(), 2u);
  EXPECT_EQ(l.folded, 1);
  EXPECT_EQ(l.rows[0].layout.recipe, costmodel::Recipe::kMegatron);
  ASSERT_EQ(l.rows[0].variants.size(), 1u);
  EXPECT_EQ(l.rows[0].variants[0].layout.recipe, costmodel::Recipe::kFsdp2);
  // --show-variants keeps every row.
  TopListOptions all;
  all.show_variants = true;
  EXPECT_EQ(BuildTopList(ranked, all, std::nullopt).rows.size(), 3u);
}

TEST(TopList, ZeroStagesFoldOnlyWhenTheyChangeNothing) {
  // zero=1 and zero=3 with the same step and peak (fsdp=1: nothing to shard) fold; with a
  // different peak they are two answers and stay apart.
  const TopList same = BuildTopList({Row("tp=8,sp=on,fsdp=1,zero=3", 1.0, 60), Row("tp=8,sp=on,fsdp=1,zero=1", 1.0, 60)},
                                    {}, std::nullopt);
  EXPECT_EQ(same.rows.size(), 1u);
  const TopList apart = BuildTopList({Row("tp=8,sp=on,fsdp=8,zero=3", 1.0, 60), Row("tp=8,sp=on,fsdp=8,zero=1", 1.0, 70)},
                                     {}, std::nullopt);
  EXPECT_EQ(apart.rows.size(), 2u);
}

TEST(TopList, TiesAreRowsWithinTheBandsSpreadOfRowOne) {
  // Spread 5%: +4.9% is a tie, +5.1% is not; row 1 never is.
  const TopList l = BuildTopList({Row("tp=1,fsdp=64", 1.000, 40), Row("tp=2,sp=on,fsdp=32", 1.049, 40),
                                  Row("tp=4,sp=on,fsdp=16", 1.051, 40)},
                                 {}, Band(5.0));
  ASSERT_EQ(l.rows.size(), 3u);
  EXPECT_FALSE(l.rows[0].tie);
  EXPECT_TRUE(l.rows[1].tie);
  EXPECT_FALSE(l.rows[2].tie);
  EXPECT_NEAR(l.rows[1].vs_best_pct, 4.9, 1e-9);
  EXPECT_EQ(VsBestText(l.rows[1]), "+4.9% tie");
  // Without a band nothing is a tie.
  EXPECT_FALSE(BuildTopList({Row("tp=1,fsdp=64", 1.0, 40), Row("tp=2,sp=on,fsdp=32", 1.001, 40)}, {}, std::nullopt)
                   .rows[1]
                   .tie);
}

TEST(TopList, HeadroomRuleWarnsAboveNinetyPercentAndFiltersOnRequest) {
  // 78 GiB usable: 71 GiB is 91% (tight), 70 GiB is 89.7% (not).
  const std::vector<ShownRow> ranked = {Row("tp=8,sp=on,fsdp=8", 1.000, 71), Row("tp=4,sp=on,fsdp=16", 1.005, 70),
                                        Row("tp=2,sp=on,fsdp=32", 1.010, 60)};
  const TopList l = BuildTopList(ranked, {}, std::nullopt);
  EXPECT_TRUE(l.rows[0].tight);
  EXPECT_FALSE(l.rows[1].tight);
  ASSERT_TRUE(l.roomy_alternative.has_value());
  EXPECT_EQ(*l.roomy_alternative, 1u);
  TopListOptions o;
  o.min_headroom_gib = 10;  // 78 - 71 = 7 and 78 - 70 = 8 GiB are too little
  const TopList f = BuildTopList(ranked, o, std::nullopt);
  EXPECT_EQ(f.below_headroom, 2);
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_NEAR(f.rows[0].headroom_bytes() / kGiB, 18.0, 1e-9);
}

// A layout fits on its allocated tensors plus the CUDA context and NCCL (costmodel/memory.h),
// but where the caching allocator would reserve more than the usable memory with room to spare,
// it fits only by returning its cache to the driver and retrying, a device-synchronising cost
// the step does not price: the row says so. 78 GiB usable: 79 GiB reserved flushes, 77 does not.
TEST(TopList, RowsThatFitOnlyByFlushingTheAllocatorCacheSaySo) {
  ShownRow a = Row("tp=8,sp=on,fsdp=8", 1.000, 70), b = Row("tp=4,sp=on,fsdp=16", 1.005, 70);
  a.reserved_total_bytes = 79 * kGiB;
  b.reserved_total_bytes = 77 * kGiB;
  const TopList l = BuildTopList({a, b}, {}, std::nullopt);
  EXPECT_TRUE(l.rows[0].flushes);
  EXPECT_FALSE(l.rows[1].flushes);
  const std::string table = FormatShownTable(l.rows);
  const size_t row1 = table.find("\n1 "), row2 = table.find("\n2 ");
  ASSERT_NE(row1, std::string::npos);
  ASSERT_NE(row2, std::string::npos);
  EXPECT_NE(table.substr(row1, row2 - row1).find("allocator cache flushes"), std::string::npos) << table;
  EXPECT_EQ(table.substr(row2, table.find('\n', row2 + 1) - row2).find("allocator cache flushes"), std::string::npos);
}

TEST(ShownRow, SimulatedRowsCarryTheSimulatorsNumbers) {
  Candidate c;
  c.layout = costmodel::ParseLayoutText("tp=8,sp=on,fsdp=8", "test");
  c.eval.time.step_s = 2.0;
  c.eval.throughput.mfu = 0.50;
  c.eval.throughput.tokens_per_s_per_gpu = 999;
  c.eval.memory.peak_bytes = 60 * kGiB;
  sim::SimResult s;
  s.step_s = 2.5;
  s.exposed_tp_comm_s = 0.1;
  costmodel::Workload w;
  w.gpus = 64;
  w.global_batch = 64;
  w.seq = 4096;
  const ShownRow r = MakeShownRow(c, &s, w);
  EXPECT_TRUE(r.simulated);
  EXPECT_EQ(r.step_s, 2.5);
  // Hand calculation: 64 x 4096 tokens / (2.5 s x 64 GPUs) = 1638.4; MFU 0.50 x 2.0 / 2.5 = 0.40.
  EXPECT_NEAR(r.tokens_per_s_per_gpu, 1638.4, 1e-9);
  EXPECT_NEAR(r.mfu, 0.40, 1e-12);
  EXPECT_EQ(r.peak_bytes, 60 * kGiB);  // memory stays the analytical peak feasibility used
  const ShownRow a = MakeShownRow(c, nullptr, w);
  EXPECT_FALSE(a.simulated);
  EXPECT_EQ(a.step_s, 2.0);
  EXPECT_EQ(a.tokens_per_s_per_gpu, 999);
}

TEST(ShownTable, NamesTheSimulatorsPeakWhenItDisagreesAndExplainsEveryColumn) {
  ShownRow a = Row("tp=1,fsdp=64,recompute=full", 1.0, 48.7);
  a.simulated = true;
  a.sim_peak_bytes = 61.4 * kGiB;  // 12.7 GiB above the analytical peak
  ShownRow b = Row("tp=8,sp=on,fsdp=8", 1.1, 60);
  b.simulated = true;
  b.sim_peak_bytes = 60.5 * kGiB;  // within 1 GiB: not worth a note
  const std::string t = FormatShownTable(BuildTopList({a, b}, {}, std::nullopt).rows);
  EXPECT_NE(t.find("simulator peak 61.4 GiB"), std::string::npos) << t;
  EXPECT_EQ(t.find("simulator peak 60.5 GiB"), std::string::npos) << t;
  const std::string legend = TableLegend(true, true, Band(8.2));
  for (const char* col : {"step_ms", "by:", "vs_best", "\"tie\" within the 8.2%", "room_GiB", "accum:",
                          "tp_ms / fsdp_ms / dp_ms", "pp_ms", "variants:", "--show-variants"}) {
    EXPECT_NE(legend.find(col), std::string::npos) << col;
  }
}

TEST(ErrorBandFile, ShippedBandsAreTheReadmesOutOfSampleFigures) {
  // README "Accuracy against published measurements", all end-to-end step times per GPU:
  // H100 n=163, MAPE 8.8%, bias -7.2%, worst -26.7% (8.33%, -6.55%, spread 5.70%, worst -26.05%
  // before GEMM tails were priced as Hopper's stream-K scheduler runs them, GemmTileSchedule;
  // 8.35%, -6.60% before Megatron-Core's
  // gradient buffer zeroing was priced, GradBufferZeroBytes; 8.37%, -6.62% before clipping's
  // in-place scale, OptimizerStepBytesPerParam; 8.40%, -6.65%, spread 5.73% before
  // SequentialMLP was priced; 8.4%, -4.3% before NeMo's cuDNN attention
  // was priced: the errors closer together, spread 7.7% to 5.7%; 8.7%, -7.0% before Megatron-Core's
  // gradient buckets were priced as calls; 8.61%, -6.92%, spread 5.66% before Megatron-Core's sort of
  // the MoE copies by local expert and CP's merges and reorders); B200 n=43, 26.9%, -26.9%, -37.3%
  // (27.2%, -27.1%, -37.5% before the gradient buffer's zeroing; 27.4%, -27.4%, -38.3% before
  // clipping's scale). Then the job's slowest GPU (compute.h SlowestGpuFraction: the GEMMs of a
  // job of N GPUs at the slowest of N draws of the measured per-GPU spread) took H100 from
  // 8.77%, -7.24%, spread 5.86%, worst -26.67% to 7.99%, -5.95%, 5.93%, -26.06%, and B200 from
  // 26.89% to 26.31% (bias -26.85% to -26.24%); FSDP1's gradient cat (llm-foundry) H100 to 7.77%,
  // -5.72%, 5.74%, -25.39%; Megatron's SP input gathered again in backward (tensor.h) H100 to
  // 7.71%, -4.82%, spread 6.33%, and B200 to 25.50%; Composer's Adam one op at a time
  // (OptimizerStepBytesPerParam per_op) H100 to 7.64%, -4.74%, spread 6.27%, worst -25.34%; MPT's
  // bias gradients reduced by autograd (kernels.cc bias_grad, llm-foundry.json) H100 to 7.32%,
  // -4.39%, spread 6.03%, worst -25.04%; compute beside the collectives priced as measured
  // (overlap_slowdown 2 on H100, OverlapSlowdownCost per window) to 5.42%, -2.15%, spread 5.05%,
  // worst -21.53%.
  const auto h100 = ReadErrorBand(DefaultErrorBandsPath(), "H100-SXM5-80GB");
  ASSERT_TRUE(h100.has_value());
  EXPECT_EQ(h100->generation, "H100");
  EXPECT_EQ(h100->n, 163);
  EXPECT_NEAR(h100->mape_pct, 5.42, 0.05);
  EXPECT_NEAR(h100->bias_pct, -2.15, 0.05);
  EXPECT_NEAR(h100->spread_pct, 5.05, 0.05);
  EXPECT_NEAR(h100->worst_pct, -21.53, 0.05);
  EXPECT_GT(h100->spread_pct, 0.0);
  EXPECT_LT(h100->spread_pct, h100->mape_pct);  // the spread around the bias is the smaller
  EXPECT_EQ(h100->shipped_in_sample, 0);  // no H100 run's source shaped the dgx-h100 profile
  const auto gb200 = ReadErrorBand(DefaultErrorBandsPath(), "GB200-186GB");
  ASSERT_TRUE(gb200.has_value());
  EXPECT_EQ(gb200->generation, "B200");
  EXPECT_EQ(gb200->n, 43);
  // The dgx-b200 profile is fitted on SimuMax's own GEMMs: its 43 runs are in-sample on it,
  // 9.3% off (bias +1.1%) against 25.5% (-25.4%) with the GEMM figures it replaces (9.1%, +0.3%
  // and 26.3% before Megatron's SP backward gather was priced; 8.9%, -0.7%
  // and 26.9% before the job's slowest GPU was priced; 8.9%, -0.9%
  // and 27.2% before the gradient buffer's zeroing was priced, 9.0%, -1.2% and 27.4% before
  // clipping's scale; 9.2%, -1.6% and 27.8% before the MoE sort by
  // local expert and CP's reorders).
  EXPECT_EQ(gb200->shipped_n, 43);
  EXPECT_EQ(gb200->shipped_in_sample, 43);
  EXPECT_NEAR(gb200->shipped_mape_pct, 9.27, 0.05);
  EXPECT_NEAR(gb200->shipped_bias_pct, 1.10, 0.05);
  EXPECT_NEAR(gb200->mape_pct, 25.50, 0.05);
  const auto a100 = ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB");
  ASSERT_TRUE(a100.has_value());
  EXPECT_EQ(a100->shipped_in_sample, 9);  // Korthikanti's 9 step times: its layers fit dgx-a100
  const auto h200 = ReadErrorBand(DefaultErrorBandsPath(), "H200-SXM-141GB");
  ASSERT_TRUE(h200.has_value());
  EXPECT_EQ(h200->generation, "H100");
  EXPECT_NE(h200->why.find("GH100"), std::string::npos);
  EXPECT_FALSE(ReadErrorBand(DefaultErrorBandsPath(), "CPU-MPI-rank").has_value());
  EXPECT_FALSE(ReadErrorBand("/nonexistent/error_bands.json", "H100-SXM5-80GB").has_value());
}

TEST(ErrorBandFile, ALayoutReadsTheBandOfItsWorkRegime) {
  // data/accuracy/error_bands.json, A100: all 1596 runs 28.8% (bias -27.9%; 28.9% before the A100
  // PCIe's sustained GEMM ratio held Korthikanti's leave-out GEMM rate at the power limit; -28.0% before MPT's
  // bias gradients were priced; 29.9%, -29.2% before NVLink's pipeline chunks were priced and the A100 GEMM rate fitted on forward layers only),
  // vTrain's small models dominating; the 247 predicted at 16 ms or more per layer pass
  // (Korthikanti's, llm-foundry's, torchtitan's and vTrain's largest) 246 at 5.3% (-2.5%; 248 at
  // 5.2%, -2.2% before DeepSpeed's gradients were reduced in 2 bytes, not fp32; 247 at
  // 5.3%, -2.3% before the tied embedding's gradient all-reduce was priced; 5.6%, -2.6%
  // before the sustained ratio; 5.7%, -3.1%
  // before MPT's bias gradients were priced as autograd's reductions, kernels.cc bias_grad; -3.2%
  // before Composer's Adam was priced one op at a time; 246 at 6.2%,
  // -4.3% before; 5.7%, -2.7% before Megatron's SP backward gather was priced, which raised the
  // GEMM rate fitted on Korthikanti's layers; 5.8%, -2.9% before FSDP1's gradient cat was
  // priced); the 790 under 4 ms 46.5% (-46.5%; 779 at -46.3% before DeepSpeed's 2-byte
  // reduction, 781 at -46.4% before the tied all-reduce, 796 at
  // -47.2% before, 783 at -46.9% before that).
  const auto big = ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB", 0.120);
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(big->regime);
  EXPECT_EQ(big->n, 246);
  EXPECT_NEAR(big->mape_pct, 5.06, 0.05);
  EXPECT_NEAR(big->bias_pct, -1.87, 0.05);
  EXPECT_DOUBLE_EQ(big->regime_from_s, 0.016);
  EXPECT_DOUBLE_EQ(big->regime_below_s, 0.0);  // unbounded
  EXPECT_EQ(big->generation_n, 1596);
  EXPECT_NEAR(big->generation_mape_pct, 29.16, 0.05);
  EXPECT_DOUBLE_EQ(big->layer_pass_s, 0.120);
  const auto small = ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB", 0.001);
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->n, 790);
  EXPECT_NEAR(small->bias_pct, -46.46, 0.05);
  EXPECT_DOUBLE_EQ(small->regime_below_s, 0.004);
  // The edge belongs to the regime above it.
  EXPECT_EQ(ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB", 0.016)->n, 246);
  EXPECT_EQ(ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB", 0.004)->n, 560);
  // B200 under 4 ms: 3 runs, too few; the generation's 43 stand, and say why.
  const auto thin = ReadErrorBand(DefaultErrorBandsPath(), "B200-SXM-180GB", 0.002);
  ASSERT_TRUE(thin.has_value());
  EXPECT_FALSE(thin->regime);
  EXPECT_TRUE(thin->regime_too_thin);
  EXPECT_EQ(thin->regime_n, 3);
  EXPECT_EQ(thin->n, 43);
  // No step per layer pass given: the generation's band, as before.
  const auto all = ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB");
  EXPECT_FALSE(all->regime);
  EXPECT_EQ(all->n, 1596);
  // H100 has no run under 4 ms: a layout there gets the generation's band.
  const auto none = ReadErrorBand(DefaultErrorBandsPath(), "H100-SXM5-80GB", 0.001);
  EXPECT_FALSE(none->regime);
  EXPECT_FALSE(none->regime_too_thin);
  EXPECT_EQ(none->n, 163);
}

TEST(ErrorBandFile, RegimesFollowTheFixedGrid) {
  EXPECT_EQ(LayerPassRegime(0.0005), 0);
  EXPECT_EQ(LayerPassRegime(0.0039), 0);
  EXPECT_EQ(LayerPassRegime(0.004), 1);
  EXPECT_EQ(LayerPassRegime(0.0159), 1);
  EXPECT_EQ(LayerPassRegime(0.016), 2);
  EXPECT_EQ(LayerPassRegime(3.0), 2);
}

TEST(ErrorBandFile, LayerPassMillisecondsNeverPrintAnExponent) {
  EXPECT_EQ(LayerPassMsText(0.00048), "0.48");  // two significant figures under 10 ms
  EXPECT_EQ(LayerPassMsText(0.0035), "3.5");
  EXPECT_EQ(LayerPassMsText(0.0099), "9.9");
  EXPECT_EQ(LayerPassMsText(0.028), "28");  // whole milliseconds from 10 ms: %.2g would print 28
  EXPECT_EQ(LayerPassMsText(0.150), "150");  // and here "1.5e+02"
  EXPECT_EQ(LayerPassMsText(1.2345), "1234");
}

TEST(ErrorBandFile, LayerPassesAreTheBusiestStagesLayersTimesMicroBatches) {
  costmodel::Layout l;
  EXPECT_DOUBLE_EQ(LayerPasses(l, 24, 4), 96.0);  // no pipeline: 24 layers x 4 micro-batches
  l.pp = 4;
  EXPECT_DOUBLE_EQ(LayerPasses(l, 32, 8), 64.0);  // 8 layers a stage x 8
  l.pp_first_layers = 5;                          // 5 + 9 + 9 + 9: the middle stages are the busiest
  l.pp_last_layers = 9;
  EXPECT_DOUBLE_EQ(LayerPasses(l, 32, 2), 18.0);
  l = costmodel::Layout();
  l.pp = 5;  // 32 layers over 5 stages, no split given: cannot
  EXPECT_DOUBLE_EQ(LayerPasses(l, 32, 2), 0.0);
}

/// What ReadErrorBand says of a bands file `p` holding `text`, read for `gpu` at `per_pass_s`:
/// its error, or "no error".
std::string BandFileError(const fs::path& p, const std::string& text, const std::string& gpu, double per_pass_s = 0) {
  std::ofstream(p) << text;
  try {
    ReadErrorBand(p.string(), gpu, per_pass_s);
    return "no error";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(ErrorBandFile, MalformedRegimesAreErrorsNamingThem) {
  const fs::path p = fs::temp_directory_path() / "meshplan_bad_regimes.json";
  const auto with = [&](const std::string& regimes) {
    return BandFileError(p, R"({"schema_version": 1, "quantity": "step_time_s", "source": "x",
                           "bands": {"H100": {"n": 30, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1, "spread_pct": 1,
                           "regimes": )" + regimes + "}}}",
                         "H100-SXM5-80GB", 0.01);
  };
  const std::string r = R"("n": 15, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1, "spread_pct": 1)";
  EXPECT_EQ(with("[{\"from_ms\": 0, \"below_ms\": null, " + r + "}, {\"from_ms\": 16, \"below_ms\": null, " + r + "}]"),
            p.string() + ": bands.H100.regimes[0].below_ms: only the last regime may be unbounded (null)");
  EXPECT_EQ(with("[{\"from_ms\": 0, \"below_ms\": 16, " + r + "}, {\"from_ms\": 4, \"below_ms\": null, " + r + "}]"),
            p.string() + ": bands.H100.regimes[1].from_ms: regimes must not overlap and must be in increasing order");
  EXPECT_EQ(with("[{\"from_ms\": 4, \"below_ms\": 4, " + r + "}]"),
            p.string() + ": bands.H100.regimes[0].below_ms: must be above from_ms");
  EXPECT_EQ(with("[3]"), p.string() + ": bands.H100.regimes[0]: must be a JSON object, got 3");
  EXPECT_EQ(with(R"([{"from_ms": 0, "below_ms": 16, "n": 15, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1}])"),
            p.string() + ": bands.H100.regimes[0].spread_pct: missing (required)");
  // A well-formed one is read.
  EXPECT_EQ(with("[{\"from_ms\": 4, \"below_ms\": 16, " + r + "}]"), "no error");
  fs::remove(p);
}

// How far the runs behind a band reach, and what a layout past them is told (accuracy's scale
// trend). The shipped file: H100's runs reach 2,048 GPUs (NeMo's DGX Cloud recipes), A100's 2,240
// (Korthikanti's 1T), B200's 8 (SimuMax's single node, no trend: one GPU count per shape).
TEST(ErrorBandFile, ALayoutPastTheScoredRunsIsToldHowFarAndWhatScaleCostThem) {
  const auto h100 = ReadErrorBand(DefaultErrorBandsPath(), "H100-SXM5-80GB", 0.024);
  ASSERT_TRUE(h100.has_value());
  ASSERT_TRUE(h100->regime);  // the regime's band carries the generation's reach too
  EXPECT_EQ(h100->max_gpus, 2048);
  ASSERT_EQ(h100->scale_trends.size(), 2u);
  for (const ErrorBand::Trend& t : h100->scale_trends) EXPECT_LT(t.median_slope_pct_per_doubling, 0.0) << t.source;
  EXPECT_EQ(ReadErrorBand(DefaultErrorBandsPath(), "A100-SXM4-80GB")->max_gpus, 2240);
  const auto b200 = ReadErrorBand(DefaultErrorBandsPath(), "B200-SXM-180GB");
  EXPECT_EQ(b200->max_gpus, 8);
  EXPECT_TRUE(b200->scale_trends.empty());
  // The sentence, by hand: 16,384 over 2,048 is 3.0 doublings; the trends that lost, least to
  // most (a gain is no warning); within the runs, nothing.
  ErrorBand b;
  b.generation = "H100";
  b.max_gpus = 2048;
  b.scale_trends = {{"src-a", -1.29}, {"src-b", +0.79}, {"src-c", -0.36}};
  EXPECT_EQ(BeyondScoredScaleText(b, 16384),
            "16384 GPUs, 3.0 doublings past the largest scored H100 run (2048 GPUs): at the same work per GPU, the "
            "scored runs lost 0.4 (src-c) to 1.3 (src-a) points of error per doubling of the GPUs beyond the model "
            "(accuracy's scale trend), so the band may be optimistic here");
  EXPECT_EQ(BeyondScoredScaleText(b, 2048), "");
  b.scale_trends = {{"src-a", -1.29}};
  EXPECT_NE(BeyondScoredScaleText(b, 4096).find("1.0 doublings past the largest scored H100 run (2048 GPUs): at the "
                                                 "same work per GPU, src-a's runs lost 1.3 points"),
            std::string::npos);
  b.scale_trends = {{"src-b", +0.79}};
  EXPECT_EQ(BeyondScoredScaleText(b, 64 * 2048),
            "131072 GPUs, 6.0 doublings past the largest scored H100 run (2048 GPUs): the band has not been measured "
            "this far");
  b.max_gpus = 0;  // a file that does not say how far its runs reach
  EXPECT_EQ(BeyondScoredScaleText(b, 1 << 20), "");
}

TEST(ErrorBandFile, AMalformedScaleTrendIsAnErrorNamingIt) {
  const fs::path p = fs::temp_directory_path() / "meshplan_bad_trend_bands.json";
  EXPECT_EQ(BandFileError(p, R"({"schema_version": 1, "quantity": "step_time_s", "source": "x",
                         "bands": {"H100": {"n": 3, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1, "spread_pct": 1,
                         "max_gpus": 64, "scale_trends": [{"median_slope_pct_per_doubling": -1}]}}})",
                          "H100-SXM5-80GB"),
            p.string() + ": bands.H100.scale_trends[0].source: missing (required)");
  fs::remove(p);
}

TEST(ErrorBandFile, AMalformedShippedProfileBlockIsAnErrorNamingIt) {
  const fs::path p = fs::temp_directory_path() / "meshplan_bad_shipped_bands.json";
  EXPECT_EQ(BandFileError(p, R"({"schema_version": 1, "quantity": "step_time_s", "source": "x",
                         "bands": {"B200": {"n": 3, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1, "spread_pct": 1,
                         "shipped_profile": {"n": 3, "in_sample": 4, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1}}}})",
                          "B200-SXM-180GB"),
            p.string() + ": bands.B200.shipped_profile.in_sample: must be an integer <= 3, got 4");
  fs::remove(p);
}

TEST(ErrorBandFile, AMalformedFileIsAnErrorNamingIt) {
  const fs::path p = fs::temp_directory_path() / "meshplan_bad_bands.json";
  EXPECT_EQ(BandFileError(p, R"({"schema_version": 1, "quantity": "step_time_s", "source": "x",
                         "bands": {"H100": {"n": 3, "mape_pct": 1, "bias_pct": 1, "worst_pct": 1}}})",
                          "H100-SXM5-80GB"),
            p.string() + ": bands.H100.spread_pct: missing (required)");
  fs::remove(p);
}

}  // namespace
}  // namespace meshplan::plans
