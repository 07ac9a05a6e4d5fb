// The tensor-parallel component (tensor.h): its feasibility sentences and the collectives it
// lists per micro-batch, counted by hand from Megatron-LM's tensor_parallel/layers.py (@000c4ac).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "costmodel/spec_io.h"
#include "costmodel/tensor.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

Layout Tp(int64_t tp, bool sp, Recompute r = Recompute::kNone) {
  Layout l;
  l.tp = tp;
  l.sp = sp;
  l.recompute = r;
  l.cp = 1;
  return l;
}

TEST(TensorParallel, SequenceParallelListsEachWindowsGathersAndScatters) {
  const Model m = ResolveModel("llama3-8b");  // hidden 4096
  const PrecisionPolicy bytes;
  // 2 sequences of 8192 tokens on this rank: S = 2 B x 16384 x 4096 = 134,217,728 B.
  const TpUses u = TpUsesFor(m, Tp(8, true), bytes, TpDemand{16384, 0, 0, 0, 0});
  ASSERT_EQ(u.n, 3);
  const TpUse& ag = u.use[0];
  const TpUse& rs = u.use[1];
  const TpUse& ce = u.use[2];
  EXPECT_EQ(ag.op, Coll::kAllGather);
  EXPECT_EQ(rs.op, Coll::kReduceScatter);
  EXPECT_EQ(ce.op, Coll::kAllReduce);
  EXPECT_DOUBLE_EQ(ag.bytes, 134217728.0);
  EXPECT_DOUBLE_EQ(rs.bytes, 134217728.0);
  // Per layer: forward gathers the input and scatters the output of attention and MLP (2 + 2);
  // backward gathers each block's output gradient and scatters its input gradient (2 + 2). The
  // layout's recipe is fsdp2 (torchtitan's DTensor SP keeps the gathered input: nothing gathered
  // again; Megatron's, below).
  EXPECT_EQ(ag.layer_fwd, 2.0);
  EXPECT_EQ(ag.layer_bwd, 2.0);
  EXPECT_EQ(rs.layer_fwd, 2.0);
  EXPECT_EQ(rs.layer_bwd, 2.0);
  // Outside the layers: head input gather forward, embedding gather backward; embedding
  // scatter forward, head input-gradient scatter backward.
  EXPECT_EQ(ag.outer_fwd, 1.0);
  EXPECT_EQ(ag.outer_bwd, 1.0);
  EXPECT_EQ(rs.outer_fwd, 1.0);
  EXPECT_EQ(rs.outer_bwd, 1.0);
  EXPECT_EQ(ag.calls(32), 32 * 4 + 2.0);
  // The loss: 3 fp32 per token, forward only.
  EXPECT_DOUBLE_EQ(ce.bytes, 3.0 * 4 * 16384);
  EXPECT_EQ(ce.calls(32), 1.0);
}

TEST(TensorParallel, WithoutSequenceParallelAllReducesAndFullRecomputeRerunsTheForwards) {
  const Model m = ResolveModel("llama3-8b");
  const PrecisionPolicy bytes;
  const TpUses none = TpUsesFor(m, Tp(4, false), bytes, TpDemand{8192, 0, 0, 0, 0});
  ASSERT_EQ(none.n, 2);
  EXPECT_EQ(none.use[0].op, Coll::kAllReduce);
  EXPECT_EQ(none.use[0].layer_fwd, 2.0);  // attention and MLP outputs
  EXPECT_EQ(none.use[0].layer_bwd, 2.0);  // their input gradients
  EXPECT_EQ(none.use[0].outer_fwd, 1.0);  // the embedding's output
  EXPECT_EQ(none.use[0].outer_bwd, 1.0);  // the head's input gradient
  const TpUses full = TpUsesFor(m, Tp(4, false, Recompute::kFull), bytes, TpDemand{8192, 0, 0, 0, 0});
  EXPECT_EQ(full.use[0].layer_bwd, 4.0);  // + the recomputed forward's two
  // FP8 current scaling: its amax all-reduces (4 bytes) join the list, before the loss's.
  const TpUses fp8 = TpUsesFor(m, Tp(4, true), bytes, TpDemand{8192, 0, 2, 2, 0});
  ASSERT_EQ(fp8.n, 4);
  EXPECT_EQ(fp8.use[2].op, Coll::kAllReduce);
  EXPECT_DOUBLE_EQ(fp8.use[2].bytes, 4.0);
  EXPECT_EQ(fp8.use[2].calls(10), 40.0);
  EXPECT_EQ(TpUsesFor(m, Tp(1, false), bytes, TpDemand{8192, 0, 0, 0, 0}).n, 0);
}

TEST(TensorParallel, Fp8GathersTheLayersInputsAndOutputGradientsInOneByteAndTheHeadsInBf16) {
  // TransformerEngine's LayerNormLinear gathers the norm's FP8 output and grad_output_preprocess
  // casts the output gradient before gathering it; torchao's Float8ColwiseParallel /
  // PrepareFloat8ModuleInput cast before the redistribute (tensor.h). Reduce-scatters carry the
  // GEMMs' bf16 outputs; the head's input and the embedding's gradient stay bf16.
  const Model m = ResolveModel("llama3-8b");  // hidden 4096
  const PrecisionPolicy bytes;
  // 8192 tokens: bf16 S = 2 x 8192 x 4096 = 67,108,864 B; FP8 = 33,554,432 B.
  TpDemand d{8192, 0, 0, 0, 0};
  d.fp8_gather = true;
  const TpUses u = TpUsesFor(m, Tp(4, true), bytes, d);
  ASSERT_EQ(u.n, 4);
  const TpUse& layer_ag = u.use[0];
  const TpUse& outer_ag = u.use[1];
  const TpUse& rs = u.use[2];
  EXPECT_EQ(layer_ag.op, Coll::kAllGather);
  EXPECT_DOUBLE_EQ(layer_ag.bytes, 33554432.0);
  EXPECT_EQ(layer_ag.layer_fwd, 2.0);  // the qkv and fc1 inputs
  EXPECT_EQ(layer_ag.layer_bwd, 2.0);  // the attention-output and fc2 output gradients
  EXPECT_EQ(layer_ag.outer_fwd + layer_ag.outer_bwd, 0.0);
  EXPECT_EQ(outer_ag.op, Coll::kAllGather);
  EXPECT_DOUBLE_EQ(outer_ag.bytes, 67108864.0);
  EXPECT_EQ(outer_ag.layer_fwd + outer_ag.layer_bwd, 0.0);
  EXPECT_EQ(outer_ag.outer_fwd, 1.0);  // the head's input
  EXPECT_EQ(outer_ag.outer_bwd, 1.0);  // the embedding's output gradient
  EXPECT_EQ(rs.op, Coll::kReduceScatter);
  EXPECT_DOUBLE_EQ(rs.bytes, 67108864.0);
  // The same calls as bf16, 32 layers: 32 x 4 + 2.
  EXPECT_EQ(layer_ag.calls(32) + outer_ag.calls(32), 32 * 4 + 2.0);
  // Full recompute re-runs the forward's two FP8 gathers.
  const TpUses full = TpUsesFor(m, Tp(4, true, Recompute::kFull), bytes, d);
  EXPECT_EQ(full.use[0].layer_bwd, 4.0);
  // Without SP nothing is gathered: the all-reduces stay bf16.
  const TpUses ar = TpUsesFor(m, Tp(4, false), bytes, d);
  ASSERT_EQ(ar.n, 2);
  EXPECT_EQ(ar.use[0].op, Coll::kAllReduce);
  EXPECT_DOUBLE_EQ(ar.use[0].bytes, 67108864.0);
}

TEST(TensorParallel, MegatronsColumnParallelBackwardGathersItsInputShardAgain) {
  // Megatron-LM's LinearWithGradAccumulationAndAsyncCommunication.backward under SP all-gathers
  // the saved input shard of QKV and FC1 again for the weight gradient (layers.py @000c4ac):
  // per layer, backward gathers the 2 output gradients and the 2 inputs again. torchtitan's
  // DTensor ColwiseParallel (recipe fsdp2) keeps the gathered input and gathers only the 2.
  const Model m = ResolveModel("llama3-8b");
  const PrecisionPolicy bytes;
  Layout l = Tp(8, true);
  l.recipe = Recipe::kMegatron;
  const TpUses mg = TpUsesFor(m, l, bytes, TpDemand{16384, 0, 0, 0, 0});
  EXPECT_EQ(mg.use[0].op, Coll::kAllGather);
  EXPECT_EQ(mg.use[0].layer_fwd, 2.0);
  EXPECT_EQ(mg.use[0].layer_bwd, 4.0);
  EXPECT_EQ(mg.use[1].layer_bwd, 2.0);  // the reduce-scatters do not change
  EXPECT_EQ(mg.use[0].calls(32), 32 * 6 + 2.0);
  EXPECT_EQ(TpUsesFor(m, Tp(8, true), bytes, TpDemand{16384, 0, 0, 0, 0}).use[0].layer_bwd, 2.0);
  // Full recompute: the recomputed forward's 2 gathers, then the backward's 4.
  l.recompute = Recompute::kFull;
  EXPECT_EQ(TpUsesFor(m, l, bytes, TpDemand{16384, 0, 0, 0, 0}).use[0].layer_bwd, 6.0);
  // FP8 (TransformerEngine): the saved norm output is FP8, so its gather again is 1 byte too.
  l.recompute = Recompute::kNone;
  TpDemand d8{8192, 0, 0, 0, 0};
  d8.fp8_gather = true;
  const TpUses f8 = TpUsesFor(m, l, bytes, d8);
  EXPECT_DOUBLE_EQ(f8.use[0].bytes, 1.0 * 8192 * 4096);
  EXPECT_EQ(f8.use[0].layer_bwd, 4.0);
  EXPECT_EQ(f8.use[1].layer_bwd, 0.0);  // the head's and the embedding's bf16 gathers
  // Without SP the inputs are whole: nothing to gather again (2 all-reduces backward).
  l.sp = false;
  EXPECT_EQ(TpUsesFor(m, l, bytes, TpDemand{16384, 0, 0, 0, 0}).use[0].layer_bwd, 2.0);
  // An MoE layer whose MLP exchange replaces its TP pair gathers only attention's QKV input
  // again: Mixtral (every layer routed, no shared experts) under SP, 1 + 1 per layer.
  const Model mx = ResolveModel("mixtral-8x7b");
  l.sp = true;
  const TpUses moe = TpUsesFor(mx, l, bytes, TpDemand{8192, 1.0, 0, 0, 0});
  EXPECT_EQ(moe.use[0].layer_fwd, 1.0);
  EXPECT_EQ(moe.use[0].layer_bwd, 2.0);
}

TEST(TensorParallel, ProblemsNameTheDimensionThatDoesNotDivideAndTheNodeItCrosses) {
  const Model m = ResolveModel("llama3-8b");  // 32 heads, 8 KV heads, ffn 14336
  Workload w;
  w.seq = 8191;
  std::vector<std::string> said;
  TpProblems(m, w, Tp(3, true), 1, [&](int, auto&& sentence) { said.push_back(sentence()); });
  ASSERT_EQ(said.size(), 4u);
  EXPECT_EQ(said[0], "tp 3 does not divide heads 32");
  EXPECT_EQ(said[1], "tp 3 neither divides nor is a multiple of kv_heads 8");
  EXPECT_EQ(said[2], "tp 3 does not divide ffn 14336");
  EXPECT_EQ(said[3], "sequence parallelism: tp 3 does not divide seq 8191");
  said.clear();
  w.seq = 8192;
  TpProblems(m, w, Tp(16, true), 1, [&](int, auto&& sentence) { said.push_back(sentence()); });
  EXPECT_TRUE(said.empty());  // 16 is a multiple of the 8 KV heads: each is replicated twice
  // Where the group lands on 8-GPU nodes: 16 crosses a node unless allowed; 3 straddles nodes.
  TpTopologyProblems(w, Tp(16, true), 8, 2, [&](int, auto&& sentence) { said.push_back(sentence()); });
  TpTopologyProblems(w, Tp(3, true), 8, 2, [&](int, auto&& sentence) { said.push_back(sentence()); });
  w.allow_cross_node_tp = true;
  TpTopologyProblems(w, Tp(16, true), 8, 2, [&](int, auto&& sentence) { said.push_back(sentence()); });
  ASSERT_EQ(said.size(), 2u);
  EXPECT_EQ(said[0], "tp 16 > 8 GPUs per node (allow with --allow-cross-node-tp)");
  EXPECT_EQ(said[1], "tp 3 does not divide 8 GPUs per node");
}

}  // namespace
}  // namespace meshplan::costmodel
