// The data-parallel component (data_parallel.h): its sizes per unit and per step, by hand for
// Llama 3 8B (a layer: q 4096 x 4096, k and v 4096 x 1024 each, o 4096 x 4096, the SwiGLU MLP
// 3 x 4096 x 14336, two norms of 4096 = 218,112,000; the embedding 128256 x 4096 = 525,336,576;
// the head the same + the final norm's 4096), and its global-batch sentences.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "costmodel/data_parallel.h"
#include "costmodel/evaluate.h"
#include "costmodel/memory.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

Workload Batch(int64_t gpus, int64_t global_batch, int64_t seq) {
  Workload w;
  w.gpus = gpus;
  w.global_batch = global_batch;
  w.seq = seq;
  return w;
}

Layout Resolved(const std::string& text, const Workload& w) {
  Layout l = ParseLayoutText(text, "test");
  ResolveLayout(l, w, "test");
  return l;
}

// The units outside the layers: FSDP2's embedding and head each (torchtitan apply_fsdp), FSDP1's
// root holding both; bf16 gathered, fp32 reduced (the default reduce dtype).
TEST(DataParallel, OuterUnitsApartUnderFsdp2AndOneRootUnderFsdp1) {
  Workload w = Batch(16, 16, 8192);
  const TpShardParams tpp = ParamsPerTpRank(ResolveModel("llama3-8b"), 1);
  const OuterUnitVolumes two = OuterUnitVolumesFor(w, tpp);
  EXPECT_EQ(two.emb_gather, 2.0 * 525336576);
  EXPECT_EQ(two.emb_reduce, 4.0 * 525336576);
  EXPECT_EQ(two.head_gather, 2.0 * 525340672);
  EXPECT_EQ(two.head_reduce, 4.0 * 525340672);
  w.fsdp2_copies = false;
  const OuterUnitVolumes one = OuterUnitVolumesFor(w, tpp);
  EXPECT_EQ(one.emb_gather, 2.0 * (525336576.0 + 525340672.0));
  EXPECT_EQ(one.emb_reduce, 4.0 * (525336576.0 + 525340672.0));
  EXPECT_EQ(one.head_gather, 0.0);
  EXPECT_EQ(one.head_reduce, 0.0);
}

TEST(DataParallel, VolumesPerUnitAndPerStepByHand) {
  const Workload w = Batch(16, 16, 8192);
  const Model m = ResolveModel("llama3-8b");
  const TpShardParams tpp = ParamsPerTpRank(m, 1);
  ASSERT_EQ(tpp.layer, 218112000.0);
  const double outer = 525336576.0 + 525340672.0;
  const Layout l = Resolved("tp=1,fsdp=8,replicate=2,zero=1,recipe=megatron", w);
  const DpVolumes v = DataParallelVolumesFor(w, l, tpp, 32, outer);
  EXPECT_EQ(v.unit_gather, 2.0 * 218112000);  // bf16 weights
  EXPECT_EQ(v.unit_reduce, 4.0 * 218112000);  // fp32 gradients (the default reduce dtype)
  EXPECT_EQ(v.outer_gather, 2.0 * outer);
  EXPECT_EQ(v.outer_reduce, 4.0 * outer);
  EXPECT_EQ(v.step_reduce, 4.0 * 8030261248.0);  // 32 x 218,112,000 + 1,050,677,248
  EXPECT_EQ(v.step_gather, 2.0 * 8030261248.0);
  EXPECT_EQ(v.replica_reduce, 4.0 * 8030261248.0 / 8);  // the rank's shard of every gradient
  EXPECT_EQ(v.expert_unit_gather, 0.0);  // dense
  EXPECT_EQ(v.expert_step_reduce, 0.0);
  // FP8 with --fp8-param-gather: the layers' weights gather in one byte, the embedding and
  // head in two.
  Workload fp8 = w;
  fp8.precision = Precision::kFp8;
  fp8.fp8_param_gather = true;
  EXPECT_EQ(DataParallelVolumesFor(fp8, l, tpp, 32, outer).step_gather, 6979584000.0 + 2.0 * outer);
  // A bf16 reduce dtype halves every reduction.
  Workload bf16 = w;
  bf16.reduce_dtype = Dtype::kBf16;
  EXPECT_EQ(DataParallelVolumesFor(bf16, l, tpp, 32, outer).unit_reduce, 2.0 * 218112000);
}

// Megatron-Core's DDP buckets (distributed_data_parallel_config.py @22e030e: max(40,000,000,
// 1,000,000 x dp) parameters each; one bucket without overlap_grad_reduce), by hand.
TEST(DataParallel, MegatronCoreBucketsByHand) {
  Workload w;
  // Not Megatron-Core: one call, spread over the layers.
  DpBuckets b = DpBucketsFor(w, 7.5e9, 1024, 32, true);
  EXPECT_EQ(b.calls, 1.0);
  EXPECT_EQ(b.tasks, 32.0);
  w.dp_buckets_megatron_core = true;
  // 1,024 ranks: 1,024,000,000 per bucket; 7.5e9 / 1.024e9 = 7.32 -> 8 calls, 8 pieces.
  b = DpBucketsFor(w, 7.5e9, 1024, 32, true);
  EXPECT_EQ(b.calls, 8.0);
  EXPECT_EQ(b.tasks, 8.0);
  // 8 ranks: the 40,000,000 floor; 7.5e9 / 4e7 = 187.5 -> 188 calls, at most one piece per layer.
  b = DpBucketsFor(w, 7.5e9, 8, 32, true);
  EXPECT_EQ(b.calls, 188.0);
  EXPECT_EQ(b.tasks, 32.0);
  // 41 ranks: 41,000,000 per bucket; 4.1e7 exactly fills one.
  EXPECT_EQ(DpBucketsFor(w, 4.1e7, 41, 32, true).calls, 1.0);
  EXPECT_EQ(DpBucketsFor(w, 4.1e7 + 1, 41, 32, true).calls, 2.0);
  // Not overlapped: the whole buffer is one bucket.
  b = DpBucketsFor(w, 7.5e9, 1024, 32, false);
  EXPECT_EQ(b.calls, 1.0);
  EXPECT_EQ(b.tasks, 1.0);
}

// The evaluator issues ZeRO-1's reduce-scatter and all-gather in those buckets: Llama 3 8B's
// 8,030,261,248 parameters over 1,024 ranks are 8 calls of 1/8 of the bytes each, every one
// paying the collective's latency; without Megatron-Core's buckets, one call.
TEST(DataParallel, ZeroOneRunsInMegatronCoreBuckets) {
  Workload w = Batch(1024, 1024, 8192);
  const Layout l = Resolved("tp=1,fsdp=1024,zero=1,recipe=megatron", w);
  auto uses = [&](const Workload& wl) {
    const Evaluation e = Evaluator(ResolveModel("llama3-8b"), ResolveCluster("dgx-h100"), wl).Evaluate(l);
    std::vector<CollectiveUse> rs;
    for (int i = 0; i < e.num_collectives; ++i) {
      const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      if (u.purpose == Purpose::kFsdpGradReduce) rs.push_back(u);
    }
    return std::make_pair(rs, e);
  };
  const auto [one, e1] = uses(w);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].count_per_step, 1.0);
  EXPECT_EQ(one[0].bytes, 4.0 * 8030261248.0);
  w.dp_buckets_megatron_core = true;
  const auto [eight, e8] = uses(w);
  ASSERT_EQ(eight.size(), 1u);
  EXPECT_EQ(eight[0].count_per_step, 8.0);  // 8,030,261,248 / 1,024,000,000 = 7.84
  EXPECT_EQ(eight[0].bytes, 4.0 * 8030261248.0 / 8);
  EXPECT_EQ(e8.parts.zero1_tasks, 8.0);
  // The step's reduce-scatter is its calls: each pays the ring's latency over 1,024 ranks, so
  // eight take longer than one of all the bytes, by at least seven latencies.
  EXPECT_DOUBLE_EQ(e1.parts.zero1_rs_s, one[0].cost.time_s);
  EXPECT_DOUBLE_EQ(e8.parts.zero1_rs_s, 8.0 * eight[0].cost.time_s);
  EXPECT_GT(eight[0].cost.latency_s, 1e-3);  // ~2 ms: 1,023 hops, 128 of them between nodes
  EXPECT_GE(e8.parts.zero1_rs_s - e1.parts.zero1_rs_s, 7.0 * eight[0].cost.latency_s);
}

TEST(DataParallel, RoutedExpertsShardOverTheExpertDataParallelGroupOnly) {
  const Workload w = Batch(8, 8, 4096);
  const Model m = ResolveModel("mixtral-8x7b");
  const TpShardParams tpp = ParamsPerTpRank(m, 1);
  ASSERT_GT(tpp.expert, 0.0);
  // ep 2 of fsdp 8: 4 ranks share each expert, which holds experts / 2 of every layer.
  const Layout ep2 = Resolved("tp=1,fsdp=8,ep=2,zero=3", w);
  EXPECT_EQ(ExpertUnitParams(ep2, tpp), tpp.expert / 2);
  const DpVolumes v = DataParallelVolumesFor(w, ep2, tpp, 32, 0);
  EXPECT_EQ(v.expert_unit_gather, 2.0 * tpp.expert / 2);
  EXPECT_EQ(v.expert_step_reduce, 4.0 * 32 * tpp.expert / 2);
  EXPECT_EQ(v.replica_reduce, 4.0 * (32 * tpp.layer + 32 * tpp.expert) / 8);
  // ep = the shard group: each rank keeps its experts whole, nothing of them is gathered.
  EXPECT_EQ(ExpertUnitParams(Resolved("tp=1,fsdp=8,ep=8,zero=3", w), tpp), 0.0);
}

TEST(DataParallel, GlobalBatchSentences) {
  const Workload w = Batch(64, 48, 4096);
  std::vector<std::string> said;
  auto collect = [&](int, auto&& sentence) { said.push_back(sentence()); };
  DataParallelProblems(w, Resolved("tp=1,fsdp=64", w), 1, collect);
  DataParallelProblems(w, Resolved("tp=2,fsdp=32,mbs=2", w), 1, collect);
  DataParallelProblems(w, Resolved("tp=4,fsdp=16,mbs=3", w), 1, collect);
  ASSERT_EQ(said.size(), 2u);
  EXPECT_EQ(said[0], "global batch 48 < data-parallel degree 64");
  EXPECT_EQ(said[1], "global batch 48 is not a multiple of mbs 2 x data-parallel degree 32 = 64");
}

}  // namespace
}  // namespace meshplan::costmodel
