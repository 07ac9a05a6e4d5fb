// The analytical step: its parts add up, overlap follows the written rule, infeasible layouts
// carry every reason, and the seed's claims hold at the cost-model level.
#include <cstdio>
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/compute.h"
#include "costmodel/params.h"
#include "costmodel/pipeline.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

Workload MakeWorkload(int64_t gpus, int64_t gb, int64_t seq) {
  Workload w;
  w.gpus = gpus;
  w.global_batch = gb;
  w.seq = seq;
  return w;
}

Layout L(const std::string& text, const Workload& w) {
  Layout l = ParseLayoutText(text, "test");
  ResolveLayout(l, w, "test");
  return l;
}

TEST(Step, IsTheSumOfItsParts) {
  const Workload w = MakeWorkload(256, 512, 4096);
  const Evaluator ev(ResolveModel("llama2-13b"), ResolveCluster("dgx-h100"), w);
  for (const char* text : {"tp=1,zero=3,mbs=1", "tp=8,sp=on,zero=3,mbs=2", "tp=4,fsdp=16,replicate=4,zero=2",
                           "tp=2,zero=1,mbs=2,recompute=full", "tp=8,sp=off,fsdp=32,recipe=megatron,zero=1"}) {
    const Evaluation e = ev.Evaluate(L(text, w));
    const auto& t = e.time;
    EXPECT_DOUBLE_EQ(t.step_s, t.compute_s + t.exposed_tp_comm_s + t.exposed_fsdp_comm_s +
                                   t.exposed_dp_comm_s + t.optimizer_s + t.bubble_s) << text;
    EXPECT_GT(t.compute_s, 0) << text;
    EXPECT_GT(t.gemm_efficiency, 0.3) << text;
    EXPECT_LE(t.gemm_efficiency, 0.8033) << text;
  }
}

// The optimizer step by hand: Adam with clipping over the rank's shard (42 B per parameter with
// Megatron's bf16 copy), and where the framework keeps Megatron-Core's contiguous gradient buffer,
// its zeroing: 4 B (fp32 reduce) per parameter the rank holds, before data-parallel sharding. With
// a pipeline, each stage's own parameters (the last stage's: its 40 layers and the head).
TEST(Step, OptimizerStepAndTheGradientBufferZeroedByHand) {
  const Model m = ResolveModel("llama2-70b");
  const Cluster c = ResolveCluster("dgx-h100");
  const ComputeParams cp = ComputeParamsFor(c);
  Workload w = MakeWorkload(256, 256, 4096);
  const TpShardParams tpp = ParamsPerTpRank(m, 8);
  for (bool zeroed : {false, true}) {
    w.grad_buffer_zeroed = zeroed;
    const Evaluator ev(m, c, w);
    const Evaluation flat = ev.Evaluate(L("tp=8,sp=on,fsdp=32,zero=1,recipe=megatron", w));
    const double held = tpp.total(m.layers);
    EXPECT_DOUBLE_EQ(flat.time.optimizer_s, MemoryBoundTime(cp, held / 32.0 * 42.0 + (zeroed ? 4.0 * held : 0.0)));
    const Evaluation piped = ev.Evaluate(L("tp=8,sp=on,pp=2,fsdp=16,zero=1,recipe=megatron", w));
    const double stage = 40.0 * tpp.layer + tpp.head;  // the last stage, the larger one
    EXPECT_DOUBLE_EQ(piped.time.optimizer_s,
                     MemoryBoundTime(cp, stage / 16.0 * 42.0 + (zeroed ? 4.0 * stage : 0.0)));
  }
}

// A tied model's embedding gradient, all-reduced between the first and the last pipeline stage
// after the data-parallel reduction (Megatron-LM finalize_model_grads.py
// _allreduce_word_embedding_grads; DeepSpeed's ReduceTiedGrads). GPT-3 175B at TP 8: the vocab
// 50257 padded to a multiple of 128 x 8 = 51200, 6400 rows per rank x 12288 = 78,643,200
// elements of the fp32 main gradient = 314,572,800 bytes, over two ranks that are 8 apart (stage
// 0 and stage 1 of 16 GPUs: two nodes), once per step, exposed after the last backward. An
// untied model and a model without a pipeline have none.
TEST(Step, TiedEmbeddingGradientIsAllReducedBetweenTheFirstAndLastStage) {
  const Cluster c = ResolveCluster("dgx-a100-80g");
  const Workload w = MakeWorkload(16, 16, 2048);
  const Evaluator ev(ResolveModel("gpt3-175b"), c, w);
  const Evaluation e = ev.Evaluate(L("tp=8,sp=on,pp=2,fsdp=1,recompute=full,recipe=megatron", w));
  const CollectiveUse* tied = nullptr;
  for (int i = 0; i < e.num_collectives; ++i) {
    if (e.collectives[static_cast<size_t>(i)].purpose == Purpose::kTiedGradReduce) tied = &e.collectives[static_cast<size_t>(i)];
  }
  ASSERT_NE(tied, nullptr);
  EXPECT_EQ(ToString(Purpose::kTiedGradReduce), "tied_grad_reduce");
  EXPECT_EQ(tied->op, Coll::kAllReduce);
  EXPECT_DOUBLE_EQ(tied->bytes, 314572800.0);
  EXPECT_EQ(tied->group.ranks, 2);
  EXPECT_EQ(tied->group.nodes, 2);
  EXPECT_EQ(tied->count_per_step, 1.0);
  EXPECT_GT(tied->cost.time_s, 0.0);
  EXPECT_DOUBLE_EQ(e.pipe.tied_grad_s, tied->cost.time_s);
  // Exposed: no replica traffic here, so the stages' data-parallel tail is the all-reduce alone.
  EXPECT_DOUBLE_EQ(e.time.exposed_dp_comm_s, tied->cost.time_s);
  // Three stages of 8 GPUs: the pair is still two nodes apart; the middle stage has no share.
  const Workload w24 = MakeWorkload(24, 24, 2048);
  const Evaluation three = Evaluator(ResolveModel("gpt3-175b"), c, w24)
                               .Evaluate(L("tp=8,sp=on,pp=3,fsdp=1,recompute=full,recipe=megatron", w24));
  ASSERT_GT(three.pipe.tied_grad_s, 0.0);
  EXPECT_DOUBLE_EQ(three.pipe.tied_grad_s, e.pipe.tied_grad_s);
  // Untied (Llama 2 70B) or one stage: none.
  for (const Evaluation& x : {Evaluator(ResolveModel("llama2-70b"), c, w)
                                  .Evaluate(L("tp=8,sp=on,pp=2,fsdp=1,recompute=full,recipe=megatron", w)),
                              ev.Evaluate(L("tp=8,sp=on,fsdp=2,zero=1,recompute=full,recipe=megatron", w))}) {
    EXPECT_EQ(x.pipe.tied_grad_s, 0.0);
    for (int i = 0; i < x.num_collectives; ++i) {
      EXPECT_NE(x.collectives[static_cast<size_t>(i)].purpose, Purpose::kTiedGradReduce);
    }
  }
}

// Composer's DecoupledAdamW, one PyTorch op at a time (Workload::optimizer_per_op): 92 B per
// local parameter where a fused Adam with clipping moves 40; the step carries the difference and
// nothing else moves (the simulator takes the same optimizer_s: sim/simulate.cc).
TEST(Step, PerOpAdamPricesEveryOpsBytes) {
  const Model m = ResolveModel("llama2-13b");
  const Cluster c = ResolveCluster("dgx-h100");
  const ComputeParams cp = ComputeParamsFor(c);
  Workload w = MakeWorkload(8, 16, 2048);
  const Layout l = L("tp=1,fsdp=8,zero=3,mbs=2", w);
  const Evaluation fused = Evaluator(m, c, w).Evaluate(l);
  w.optimizer_per_op = true;
  const Evaluation per_op = Evaluator(m, c, w).Evaluate(l);
  const double local = ParamsPerTpRank(m, 1).total(m.layers) / 8.0;
  EXPECT_DOUBLE_EQ(fused.time.optimizer_s, MemoryBoundTime(cp, local * 40.0));
  EXPECT_DOUBLE_EQ(per_op.time.optimizer_s, MemoryBoundTime(cp, local * 92.0));
  EXPECT_NEAR(per_op.time.step_s - fused.time.step_s, per_op.time.optimizer_s - fused.time.optimizer_s, 1e-12);
}

// The bias gradients' reductions (kernels.cc bias_grad) are backward compute: with them on, each
// layer's backward grows by their four launches' memory-bound time and the forward does not.
TEST(Step, BiasGradientReductionsLengthenTheBackwardOnly) {
  const Model m = ResolveModel("gpt-22b");
  const Cluster c = ResolveCluster("dgx-a100-80g");
  const ComputeParams cp = ComputeParamsFor(c);
  Workload w = MakeWorkload(8, 16, 2048);
  const Layout l = L("tp=1,fsdp=8,zero=3,mbs=1", w);
  const Evaluation fused = Evaluator(m, c, w).Evaluate(l);
  w.bias_grad_reduce = true;
  const Evaluation reduce = Evaluator(m, c, w).Evaluate(l);
  const double bytes = 2.0 * (2048.0 * 9 * 6144 + 9 * 6144);
  EXPECT_DOUBLE_EQ(reduce.parts.layer_fwd_compute_s, fused.parts.layer_fwd_compute_s);
  EXPECT_NEAR(reduce.parts.layer_bwd_compute_s - fused.parts.layer_bwd_compute_s, 4.0 * MemoryBoundTime(cp, bytes / 4.0),
              1e-12);
  EXPECT_GT(reduce.time.step_s, fused.time.step_s);
}

TEST(Step, Zero3ExposesFirstGatherAndWhatComputeCannotHide) {
  // Hand assembly of the written rule from the per-call parts, for one micro-batch, FSDP2's units
  // (the embedding: AG_e, RS_e; the final norm and head: AG_h, RS_h):
  // forward  AG_e + AG + (L-1) max(0, AG - F) + max(0, AG_h - F)
  // backward max(0, AG - H) + max(0, AG + RS_h - B) + (L-2) max(0, AG + RS - B)
  //          + max(0, RS + AG_e - B) + RS + RS_e,
  // H the head's backward, behind which the head unit's pre-backward prefetches the last layer;
  // the head's reduce-scatter behind the last layer's backward, the embedding's second gather
  // behind the first layer's.
  // The windows alone: with compute beside the collectives at full speed (overlap_slowdown 1),
  // each window's exposure is max(0, collectives - compute); OverlapCost.* pins the slowdown.
  Cluster h100 = ResolveCluster("dgx-h100");
  h100.efficiency.overlap_slowdown = 1.0;
  const Workload w = MakeWorkload(1024, 1024, 4096);
  const Evaluator ev(ResolveModel("llama2-7b"), h100, w);
  const Evaluation e = ev.Evaluate(L("tp=1,zero=3,mbs=1", w));
  const auto& p = e.parts;
  const double Lm1 = 31, F = p.layer_fwd_compute_s, B = p.layer_bwd_compute_s, H = p.head_bwd_s;
  const double ag = p.fsdp_ag_layer_s, rs = p.fsdp_rs_layer_s;
  const double ag_e = p.fsdp_ag_outer_s, rs_e = p.fsdp_rs_outer_s, ag_h = p.fsdp_ag_head_s, rs_h = p.fsdp_rs_head_s;
  const double expected = ag_e + ag + Lm1 * std::max(0.0, ag - F) + std::max(0.0, ag_h - F) + std::max(0.0, ag - H) +
                          std::max(0.0, ag + rs_h - B) + (Lm1 - 1) * std::max(0.0, ag + rs - B) +
                          std::max(0.0, rs + ag_e - B) + rs + rs_e;
  EXPECT_DOUBLE_EQ(e.time.exposed_fsdp_comm_s, expected);
  EXPECT_TRUE(p.split_outer);
  // Llama 2 7B's head is 32,000 x 4,096 + the final norm's 4,096, its embedding 32,000 x 4,096: a
  // gather each, in bf16 over the 1,024 ranks; the embedding gathered twice.
  const double head_bytes = 2.0 * (32000.0 * 4096 + 4096), emb_bytes = 2.0 * 32000.0 * 4096;
  double head_calls = 0, emb_calls = 0;
  for (int i = 0; i < e.num_collectives; ++i) {
    const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
    if (u.op != Coll::kAllGather || u.purpose != Purpose::kFsdpParamGather) continue;
    if (std::abs(u.bytes - head_bytes) < 1.0) head_calls += u.count_per_step;
    if (std::abs(u.bytes - emb_bytes) < 1.0) emb_calls += u.count_per_step;
  }
  EXPECT_EQ(head_calls, 1.0);
  EXPECT_EQ(emb_calls, 2.0);
  // FSDP1's root unit holds both: one gather before the first layer, one reduce-scatter after the
  // last backward, all exposed (torch FSDP1 does not reshard the root after its forward).
  Workload w1 = w;
  w1.fsdp2_copies = false;
  const Evaluator ev1(ResolveModel("llama2-7b"), h100, w1);
  const Evaluation r1 = ev1.Evaluate(L("tp=1,zero=3,mbs=1", w1));
  const auto& q1 = r1.parts;
  EXPECT_FALSE(q1.split_outer);
  EXPECT_EQ(q1.fsdp_ag_head_s, 0.0);
  const double F1 = q1.layer_fwd_compute_s, B1 = q1.layer_bwd_compute_s, H1 = q1.head_bwd_s;
  EXPECT_DOUBLE_EQ(r1.time.exposed_fsdp_comm_s,
                   q1.fsdp_ag_outer_s + ag + Lm1 * std::max(0.0, ag - F1) + std::max(0.0, ag - H1) +
                       Lm1 * std::max(0.0, ag + rs - B1) + rs + q1.fsdp_rs_outer_s);
  EXPECT_LT(ag, H);  // Llama 2 7B's head (32,000 x 4,096 over 4,096 tokens) hides the gather
  // Llama 2 70B's layer is 4.3 times Llama 2 7B's and its head only twice; at 1,024 tokens the
  // head's backward is a quarter as long: the gather shows past it.
  const Workload w1k = MakeWorkload(1024, 1024, 1024);
  const Evaluator big(ResolveModel("llama2-70b"), h100, w1k);
  const Evaluation e70 = big.Evaluate(L("tp=1,zero=3,mbs=1", w1k));
  const auto& q = e70.parts;
  const double ag70 = q.fsdp_ag_layer_s, rs70 = q.fsdp_rs_layer_s;
  EXPECT_GT(ag70, q.head_bwd_s);
  const double F70 = q.layer_fwd_compute_s, B70 = q.layer_bwd_compute_s;
  EXPECT_DOUBLE_EQ(e70.time.exposed_fsdp_comm_s,
                   q.fsdp_ag_outer_s + ag70 + 79 * std::max(0.0, ag70 - F70) + std::max(0.0, q.fsdp_ag_head_s - F70) +
                       ag70 - q.head_bwd_s + std::max(0.0, ag70 + q.fsdp_rs_head_s - B70) +
                       78 * std::max(0.0, ag70 + rs70 - B70) + std::max(0.0, rs70 + q.fsdp_ag_outer_s - B70) + rs70 +
                       q.fsdp_rs_outer_s);
  EXPECT_EQ(e.grad_accum, 1);
  EXPECT_TRUE(p.gather_in_backward);
}

// Compute beside a collective (OverlapSlowdownCost), by hand: kernels k = 10 ms and TP s = 2 ms
// on the compute stream, slowdown r = 2 (a persistent GEMM as two waves, pytorch/pytorch
// #143988). The stream moves k + s = 12 ms of work per k r + s = 22 ms while a collective runs.
TEST(OverlapCost, KernelsStretchWhileACollectiveRunsBesideThem) {
  // A 5.5 ms collective: the stream does 12 x 5.5 / 22 = 3 ms of work in its 5.5 ms, so it ends
  // at 5.5 + 9 = 14.5 ms: 2.5 ms more; 10 x (2 - 1) x 5.5 / 22 = 2.5. Nothing exposed.
  OverlapCost c = OverlapSlowdownCost(0.010, 0.002, 0.0055, 0.0, 2.0);
  EXPECT_NEAR(c.compute_extra_s, 0.0025, 1e-15);
  EXPECT_EQ(c.exposed_s, 0.0);
  // A 30 ms collective (18 ms past the 12 ms window) outlasts the whole slowed window (22 ms):
  // every kernel stretches, 10 ms, and 30 - 22 = 8 ms stays exposed.
  c = OverlapSlowdownCost(0.010, 0.002, 0.012, 0.018, 2.0);
  EXPECT_NEAR(c.compute_extra_s, 0.010, 1e-15);
  EXPECT_NEAR(c.exposed_s, 0.008, 1e-15);
  // 16 ms (4 ms past the window): 10 x 16 / 22 = 7.27 ms of stretch, the window takes 19.27 ms,
  // past the collective's end: nothing exposed.
  c = OverlapSlowdownCost(0.010, 0.002, 0.012, 0.004, 2.0);
  EXPECT_NEAR(c.compute_extra_s, 0.010 * 0.016 / 0.022, 1e-15);
  EXPECT_EQ(c.exposed_s, 0.0);
  // Without TP on the stream and r = 1.138 (the old SM-share figure): 5 ms beside 10 ms of
  // kernels cost 5 x (1 - 1/1.138) = 0.606 ms, where the old rule, (r - 1) x 5, said 0.69 ms.
  c = OverlapSlowdownCost(0.010, 0.0, 0.005, 0.0, 1.138);
  EXPECT_NEAR(c.compute_extra_s, 0.005 * (1.0 - 1.0 / 1.138), 1e-15);
  // No slowdown, no kernels or nothing beside them: nothing changes.
  EXPECT_EQ(OverlapSlowdownCost(0.010, 0.0, 0.005, 0.003, 1.0).compute_extra_s, 0.0);
  EXPECT_EQ(OverlapSlowdownCost(0.010, 0.0, 0.005, 0.003, 1.0).exposed_s, 0.003);
  EXPECT_EQ(OverlapSlowdownCost(0.0, 0.0, 0.005, 0.0, 2.0).compute_extra_s, 0.0);
  EXPECT_EQ(OverlapSlowdownCost(0.010, 0.0, 0.0, 0.0, 2.0).compute_extra_s, 0.0);
}

TEST(Step, SequenceParallelTurnsEachAllReduceIntoGatherAndScatter) {
  const Workload w = MakeWorkload(8, 8, 2048);
  const Evaluator ev(ResolveModel("gpt-22b"), ResolveCluster("dgx-a100-80g"), w);
  const Evaluation no_sp = ev.Evaluate(L("tp=8,sp=off", w));
  const Evaluation sp = ev.Evaluate(L("tp=8,sp=on", w));
  // 4 all-reduces per layer per micro-batch (2 forward, 2 backward) + embedding (forward) +
  // head (its input gradient, backward).
  EXPECT_EQ(no_sp.collectives[0].op, Coll::kAllReduce);
  EXPECT_DOUBLE_EQ(no_sp.collectives[0].count_per_step, 8 * (48 * 4 + 2));
  // SP (Megatron-LM tensor_parallel/layers.py @000c4ac): per layer 4 all-gathers and 4
  // reduce-scatters; outside the layers the embedding reduce-scatters forward and all-gathers
  // backward, the column-parallel head all-gathers its input forward and reduce-scatters its
  // input gradient backward: 2 + 2. Every all-gather and reduce-scatter lands in a window of the
  // step the simulator builds (StepComponents) as often as it is counted here.
  EXPECT_EQ(sp.collectives[0].op, Coll::kAllGather);
  EXPECT_EQ(sp.collectives[1].op, Coll::kReduceScatter);
  EXPECT_DOUBLE_EQ(sp.collectives[0].count_per_step, 8 * (48 * 4 + 2));
  EXPECT_DOUBLE_EQ(sp.collectives[1].count_per_step, 8 * (48 * 4 + 2));
  const double ag = sp.collectives[0].cost.time_s, rs = sp.collectives[1].cost.time_s;
  EXPECT_NEAR(sp.parts.layer_fwd_tp_s, 2 * ag + 2 * rs, 1e-12);
  EXPECT_NEAR(sp.parts.layer_bwd_tp_s, 2 * ag + 2 * rs, 1e-12);
  EXPECT_NEAR(sp.time.exposed_tp_comm_s,
              8 * ((48 * 4 + 2) * (ag + rs) + sp.collectives[2].cost.time_s), 1e-9);  // + the loss's
  EXPECT_EQ(sp.collectives[2].op, Coll::kAllReduce);
  EXPECT_DOUBLE_EQ(sp.collectives[0].bytes, 2.0 * 2048 * 6144);
}

TEST(Feasibility, EveryReasonIsReported) {
  const Workload w = MakeWorkload(2048, 1024, 4096);
  const Evaluator ev(ResolveModel("llama2-70b"), ResolveCluster("dgx-h100"), w);
  Layout fsdp_only = L("tp=1,zero=3,mbs=1,recompute=full", w);
  Evaluation e = ev.Evaluate(fsdp_only);
  EXPECT_EQ(e.reasons, kReasonGlobalBatch);
  EXPECT_EQ(ev.Reasons(fsdp_only, e),
            std::vector<std::string>{"global batch 1024 < data-parallel degree 2048"});
  Layout tp16 = L("tp=16,sp=on,zero=3", w);
  e = ev.Evaluate(tp16);
  EXPECT_TRUE(e.reasons & kReasonTopology);
  Layout tp3 = L("tp=3,fsdp=1,replicate=1", MakeWorkload(3, 3, 4096));
  const Evaluator ev3(ResolveModel("llama2-70b"), ResolveCluster("dgx-h100"), MakeWorkload(3, 3, 4096));
  e = ev3.Evaluate(tp3);
  EXPECT_TRUE(e.reasons & kReasonDivisibility);
  const auto reasons = ev3.Reasons(tp3, e);
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "tp 3 does not divide heads 64"), reasons.end());
  EXPECT_TRUE(e.reasons & kReasonMemory);  // 70B on 3 GPUs cannot fit either
}

TEST(Feasibility, MemoryReasonSaysHowMuch) {
  const Workload w = MakeWorkload(8, 8, 4096);
  const Evaluator ev(ResolveModel("llama2-70b"), ResolveCluster("dgx-h100"), w);
  const Layout l = L("tp=1,zero=3", w);
  const Evaluation e = ev.Evaluate(l);
  ASSERT_EQ(e.reasons, kReasonMemory);
  const std::string r = ev.Reasons(l, e)[0];
  EXPECT_EQ(r.substr(0, 6), "needs ");
  EXPECT_NE(r.find("GiB, GPU has 78.1 GiB usable (80 GiB minus 1.86 GiB reserve)"), std::string::npos);
}

TEST(Throughput, MfuIsModelFlopsOverPeak) {
  const Workload w = MakeWorkload(64, 64, 4096);
  const Evaluator ev(ResolveModel("llama2-7b"), ResolveCluster("dgx-h100"), w);
  const Evaluation e = ev.Evaluate(L("tp=1,zero=3,recompute=full", w));
  const double tokens = 64.0 * 4096;
  EXPECT_DOUBLE_EQ(e.throughput.tokens_per_s_per_gpu, tokens / (e.time.step_s * 64));
  EXPECT_DOUBLE_EQ(e.throughput.mfu, ModelFlopsPerToken(ev.model(), 4096) * tokens /
                                         (e.time.step_s * 64 * 989e12));
  EXPECT_GT(e.throughput.hfu, e.throughput.mfu);  // full recompute re-runs the forward
}

TEST(SeedClaims, Tp8ShrinksTheFsdpGroupAndItsLatency) {
  const Workload w = MakeWorkload(1024, 1024, 4096);
  const Evaluator ev(ResolveModel("llama2-7b"), ResolveCluster("dgx-h100"), w);
  const Evaluation fsdp = ev.Evaluate(L("tp=1,zero=3,mbs=1", w));
  const Evaluation tp8 = ev.Evaluate(L("tp=8,sp=on,zero=3,mbs=8", w));
  // Collectives: TP all-gather, reduce-scatter, loss all-reduce, then the FSDP all-gather.
  const CollectiveUse& ag1 = fsdp.collectives[0];
  const CollectiveUse& ag8 = tp8.collectives[3];
  ASSERT_EQ(ag1.purpose, Purpose::kFsdpParamGather);
  ASSERT_EQ(ag8.purpose, Purpose::kFsdpParamGather);
  EXPECT_EQ(ag1.group.ranks, 1024);
  EXPECT_EQ(ag1.group.nodes, 128);
  EXPECT_EQ(ag8.group.ranks, 128);
  EXPECT_EQ(ag8.group.nodes, 128);
  EXPECT_LT(ag8.cost.latency_s, ag1.cost.latency_s / 2);
  EXPECT_LT(tp8.fsdp_latency_s, fsdp.fsdp_latency_s / 2);
}

// A framework that reduces the gradients after the whole backward (DeepSpeed's engine:
// engine.py backward runs loss.backward(), then allreduce_gradients) leaves none of the
// replicas' all-reduce behind the backward: under a pipeline too, where it is the stage's tail.
TEST(DataParallel, ReductionAfterTheBackwardIsExposedWhole) {
  for (const char* text : {"tp=8,sp=on,fsdp=1,replicate=32,zero=1,recipe=megatron,mbs=1",
                           "tp=8,sp=on,fsdp=1,replicate=16,zero=1,recipe=megatron,mbs=1,pp=2"}) {
    Workload w = MakeWorkload(256, 512, 4096);
    const Layout l = L(text, w);
    const Evaluation bucketed = Evaluator(ResolveModel("llama3-70b"), ResolveCluster("dgx-h100"), w).Evaluate(l);
    w.dp_reduce_after_backward = true;
    const Evaluation after = Evaluator(ResolveModel("llama3-70b"), ResolveCluster("dgx-h100"), w).Evaluate(l);
    double ar = 0;  // the replicas' all-reduce per step, as the collectives list prices it
    for (const CollectiveUse& u : after.collectives) {
      if (u.purpose == Purpose::kDpGradReduce) ar += u.cost.time_s * u.count_per_step;
    }
    ASSERT_GT(ar, 0.0) << text;
    EXPECT_NEAR(after.time.exposed_dp_comm_s, ar, 1e-12 * ar) << text;
    // Bucketed, the last layer's bucket and whatever outlasts one micro-batch's backward.
    EXPECT_LT(bucketed.time.exposed_dp_comm_s, 0.9 * ar) << text;
    // The step grows by the newly exposed part, less the compute slowdown the hidden part no
    // longer causes (overlap_slowdown).
    EXPECT_GT(after.time.step_s, bucketed.time.step_s) << text;
    EXPECT_LE(after.time.step_s - bucketed.time.step_s,
              after.time.exposed_dp_comm_s - bucketed.time.exposed_dp_comm_s + 1e-9) << text;
  }
}

TEST(Determinism, SameLayoutSameNumbers) {
  const Workload w = MakeWorkload(512, 1024, 4096);
  const Evaluator ev(ResolveModel("llama3-70b"), ResolveCluster("dgx-h100"), w);
  const Layout l = L("tp=4,sp=on,fsdp=64,replicate=2,zero=3,mbs=1", w);
  const Evaluation a = ev.Evaluate(l), b = ev.Evaluate(l);
  EXPECT_EQ(a.time.step_s, b.time.step_s);
  EXPECT_EQ(a.memory.peak_bytes, b.memory.peak_bytes);
}

// The evaluator memoises collective tables and their times (TimeOn, TableOf): a layout priced in
// an evaluator that has already priced many others, in either order, gets exactly the numbers
// of a fresh evaluator, collective by collective; a copied evaluator too.
TEST(Determinism, MemoisedCollectivesGiveAFreshEvaluatorsNumbers) {
  const Workload w = MakeWorkload(1024, 1024, 4096);
  const Model m = ResolveModel("llama3-70b");
  const Cluster c = ResolveCluster("dgx-h100");
  std::vector<Layout> layouts;
  for (int tp : {1, 2, 4, 8}) {
    for (int pp : {1, 2, 4}) {
      for (int rep : {1, 2, 4}) {
        const int fsdp = 1024 / (tp * pp * rep);
        for (int zero : {1, 3}) {
          for (int mbs : {1, 2}) {
            layouts.push_back(L("tp=" + std::to_string(tp) + ",sp=" + (tp > 1 ? "on" : "off") +
                                    ",fsdp=" + std::to_string(fsdp) + ",replicate=" + std::to_string(rep) +
                                    ",zero=" + std::to_string(zero) + ",mbs=" + std::to_string(mbs) +
                                    ",pp=" + std::to_string(pp) + (pp > 1 ? ",recipe=megatron" : ""),
                                w));
          }
        }
      }
    }
  }
  ASSERT_EQ(layouts.size(), 144u);
  const Evaluator warm(m, c, w);
  for (const Layout& l : layouts) (void)warm.Evaluate(l);
  const Evaluator copied = warm;
  int compared = 0;
  for (auto it = layouts.rbegin(); it != layouts.rend(); ++it) {
    const Evaluator fresh(m, c, w);
    const Evaluation a = fresh.Evaluate(*it), b = warm.Evaluate(*it), d = copied.Evaluate(*it);
    ASSERT_EQ(a.num_collectives, b.num_collectives);
    ASSERT_EQ(a.num_collectives, d.num_collectives);
    EXPECT_EQ(a.time.step_s, b.time.step_s);
    EXPECT_EQ(a.time.step_s, d.time.step_s);
    EXPECT_EQ(a.fsdp_comm_s, b.fsdp_comm_s);
    EXPECT_EQ(a.memory.peak_bytes, b.memory.peak_bytes);
    for (int i = 0; i < a.num_collectives; ++i) {
      const CollectiveUse& x = a.collectives[static_cast<size_t>(i)];
      const CollectiveUse& y = b.collectives[static_cast<size_t>(i)];
      EXPECT_EQ(x.bytes, y.bytes);
      EXPECT_EQ(x.cost.time_s, y.cost.time_s);
      EXPECT_EQ(x.cost.algo, y.cost.algo);
      EXPECT_EQ(x.cost.proto, y.cost.proto);
      EXPECT_EQ(x.group.ranks, y.group.ranks);
      EXPECT_EQ(x.group.nodes, y.group.nodes);
      compared += x.cost.time_s > 0;
    }
  }
  EXPECT_GT(compared, 500);  // the layouts do run collectives, over several groups
}

// FP8 on H100: shorter than bf16 but by less than the GEMMs' 1.77x (attention, norms, casts and
// TP collectives do not shrink); the GEMM efficiency is against each GEMM's own peak; MFU stays
// against the BF16 peak and the FP8-peak utilisation is the same FLOPs over 1979 TFLOPS.
// --fp8-param-gather halves the layers' bytes in the distributed optimizer's parameter gather.
TEST(Evaluate, Fp8ShortensTheStepAndKeepsBf16Mfu) {
  const Model m = ResolveModel("llama3-70b");
  const Cluster c = ResolveCluster("dgx-h100");
  Workload w;
  w.gpus = 256;
  w.global_batch = 256;
  w.seq = 8192;
  const Layout l = ParseLayoutText("tp=8,sp=on,fsdp=32,zero=1,mbs=1,recompute=full,recipe=megatron", "test");
  const Evaluation b = Evaluator(m, c, w).Evaluate(l);
  w.precision = Precision::kFp8;
  const Evaluation f = Evaluator(m, c, w).Evaluate(l);
  EXPECT_LT(f.time.step_s, b.time.step_s);
  EXPECT_GT(f.time.step_s, b.time.step_s / 1.765);
  EXPECT_LE(f.time.gemm_efficiency, 1.0);
  EXPECT_GT(f.time.gemm_efficiency, 0.5);
  EXPECT_DOUBLE_EQ(b.throughput.fp8_peak_utilization, 0.0);
  EXPECT_NEAR(f.throughput.fp8_peak_utilization, f.throughput.mfu * 989.0 / 1979.0, 1e-12);
  // TE keeps an FP8 weight and its transpose: 2 B per layer parameter of the TP shard.
  const TpShardParams tpp = ParamsPerTpRank(m, 8);
  EXPECT_NEAR(f.memory.params_bytes - b.memory.params_bytes, 2.0 * tpp.layer * 80, 1.0);
  auto gather_bytes = [](const Evaluation& e) {
    for (int i = 0; i < e.num_collectives; ++i) {
      const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      if (u.purpose == Purpose::kFsdpParamGather) return u.bytes;
    }
    return 0.0;
  };
  EXPECT_DOUBLE_EQ(gather_bytes(f), 2.0 * tpp.total(80));
  w.fp8_param_gather = true;
  const Evaluation g = Evaluator(m, c, w).Evaluate(l);
  EXPECT_DOUBLE_EQ(gather_bytes(g), 1.0 * tpp.layer * 80 + 2.0 * (tpp.embedding + tpp.head));
  EXPECT_DOUBLE_EQ(g.memory.params_bytes, b.memory.params_bytes);  // FP8 data + transpose = bf16
  // Under SP the layers gather FP8 (tensor.h): 1 B x 8192 tokens x 8192 hidden per call, 80
  // layers x (2 forward + 2 recomputed + 2 backward + 2 inputs gathered again for the weight
  // gradients) x 8 micro-batches (256 / 32); the head's input and the embedding's gradient stay
  // bf16 (2 calls per micro-batch); bf16 lists all 5136 calls at 2 B.
  auto tp_gathers = [](const Evaluation& e) {
    std::map<double, double> out;  // bytes -> calls per step
    for (int i = 0; i < e.num_collectives; ++i) {
      const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      if (u.purpose == Purpose::kTp && u.op == Coll::kAllGather) out[u.bytes] += u.count_per_step;
    }
    return out;
  };
  EXPECT_EQ(tp_gathers(b), (std::map<double, double>{{134217728.0, 5136.0}}));
  EXPECT_EQ(tp_gathers(f), (std::map<double, double>{{67108864.0, 5120.0}, {134217728.0, 16.0}}));
}

// TransformerEngine's per-tensor current scaling (Megatron --fp8-recipe tensorwise) against
// delayed scaling, hand counts for a Llama 3 8B layer at 8192 tokens, tp 1. The four FP8 GEMMs'
// inputs have K = 4096 (qkv), 4096 (attn_out), 4096 (mlp_in), 14336 (mlp_out): sum 26,624; their
// outputs N = 6144, 4096, 28672, 4096: sum 43,008. Delayed: inputs after a norm cost 1 B per
// element, the others 4 B (cast + transpose), output gradients 4 B: forward
// T (4096 + 4 x 4096 + 4096 + 4 x 14336) = 8192 x 81,920, backward 4 T x 43,008. Current scaling:
// every cast reads its input once more for the amax and the norm writes bf16: 6 B per element
// both ways, two launches per cast.
TEST(Evaluate, Fp8CurrentScalingReadsEveryTensorTwice) {
  const Model m = ResolveModel("llama3-8b");
  Workload w = MakeWorkload(64, 64, 8192);
  w.precision = Precision::kFp8;
  const Layout l1 = ParseLayoutText("tp=1,fsdp=64,recipe=megatron,zero=1", "t");
  const LayerKernels delayed = LayerKernelsFor(m, w, l1);
  EXPECT_DOUBLE_EQ(delayed.fp8_cast_fwd_bytes, 8192.0 * 81920);
  EXPECT_DOUBLE_EQ(delayed.fp8_cast_bwd_bytes, 4.0 * 8192 * 43008);
  EXPECT_EQ(delayed.fp8_cast_fwd_launches, 4);
  w.fp8_recipe = Fp8Recipe::kTeTensorwise;
  const LayerKernels current = LayerKernelsFor(m, w, l1);
  EXPECT_DOUBLE_EQ(current.fp8_cast_fwd_bytes, 6.0 * 8192 * 26624);
  EXPECT_DOUBLE_EQ(current.fp8_cast_bwd_bytes, 6.0 * 8192 * 43008);
  EXPECT_EQ(current.fp8_cast_fwd_launches, 8);
  EXPECT_EQ(current.fp8_cast_bwd_launches, 8);
  EXPECT_EQ(current.fp8_amax_reductions_fwd, 0);  // no TP, nothing to reduce
  // TP 8 with SP: qkv's and fc1's inputs (column-parallel, gathered) and attn_out's and fc2's
  // output gradients reduce their amax over the TP group; full recompute repeats the forward two.
  const Layout tp = ParseLayoutText("tp=8,sp=on,fsdp=8,recipe=megatron,zero=1,recompute=full", "t");
  const LayerKernels k8 = LayerKernelsFor(m, w, tp);
  EXPECT_EQ(k8.fp8_amax_reductions_fwd, 2);
  EXPECT_EQ(k8.fp8_amax_reductions_bwd, 2);
  EXPECT_EQ(k8.fp8_amax_reductions_recomputed, 2);
  Layout r = tp;
  ResolveLayout(r, w, "t");
  const Evaluation e = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(r);
  bool seen = false;
  for (int i = 0; i < e.num_collectives; ++i) {
    const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
    if (u.purpose == Purpose::kTp && u.op == Coll::kAllReduce && u.bytes == 4.0) {
      seen = true;
      EXPECT_DOUBLE_EQ(u.count_per_step, 8.0 * 32 * 6);  // 8 micro-batches x 32 layers x (2 + 2 + 2)
    }
  }
  EXPECT_TRUE(seen);
  w.fp8_recipe = Fp8Recipe::kTeDelayed;
  const Evaluation d = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(r);
  EXPECT_GT(e.time.step_s, d.time.step_s);
}

// torchao's Float8Linear (torchtitan's float8) under torch.compile, the same Llama 3 8B layer:
// forward input 5 B per element + weight 5 B per element, backward output gradient 6 B, input
// again 5 B, weight again 5 B, every micro-batch. Weights: qkv 4096 x 6144, attn_out 4096 x 4096,
// mlp_in 4096 x 28672, mlp_out 14336 x 4096: 218,103,808 elements. No FP8 weight copy is kept.
TEST(Evaluate, TorchaoFloat8CastsWeightsEveryMicroBatch) {
  const Model m = ResolveModel("llama3-8b");
  Workload w = MakeWorkload(64, 64, 8192);
  w.precision = Precision::kFp8;
  w.fp8_recipe = Fp8Recipe::kTorchaoTensorwise;
  const Layout l = ParseLayoutText("tp=1,fsdp=64,zero=3", "t");
  const LayerKernels k = LayerKernelsFor(m, w, l);
  const double W = 218103808.0;
  EXPECT_DOUBLE_EQ(k.fp8_weight_elements, W);
  EXPECT_DOUBLE_EQ(k.fp8_cast_fwd_bytes, 5.0 * 8192 * 26624 + 5.0 * W);
  EXPECT_DOUBLE_EQ(k.fp8_cast_bwd_bytes, 6.0 * 8192 * 43008 + 5.0 * 8192 * 26624 + 5.0 * W);
  EXPECT_EQ(k.fp8_cast_fwd_launches, 16);  // input and weight, amax + cast each, four GEMMs
  EXPECT_EQ(k.fp8_cast_bwd_launches, 24);
  EXPECT_EQ(k.fp8_weight_launches, 0);     // nothing cast once per step
  // With FSDP's float8 all-gather the weight is cast once per step, on the shard.
  w.fp8_param_gather = true;
  const LayerKernels g = LayerKernelsFor(m, w, l);
  EXPECT_DOUBLE_EQ(g.fp8_cast_fwd_bytes, 5.0 * 8192 * 26624);
  EXPECT_EQ(g.fp8_weight_launches, 8);
  // Memory: no FP8 weight copy, unlike TransformerEngine's.
  w.fp8_param_gather = false;
  Layout r = ParseLayoutText("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron", "t");
  ResolveLayout(r, w, "t");
  const Evaluation torchao = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(r);
  w.fp8_recipe = Fp8Recipe::kTeDelayed;
  const Evaluation te = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(r);
  EXPECT_NEAR(te.memory.params_bytes - torchao.memory.params_bytes, 2.0 * ParamsPerTpRank(m, 8).layer * 32, 1.0);
}

// torchao's rowwise recipes (torchao/float8/config.py from_recipe_name @c6c388b), the same Llama
// 3 8B layer by hand (T = 8192 tokens, inputs' K sum 26,624, outputs' N sum 43,008, weights W =
// 218,103,808 elements; every cast 5 B per element and two launches). rowwise: forward as
// tensorwise (input + weight); backward the output gradient twice (5 + 5 B), the weight and the
// input once more each, and the two backward GEMMs' outputs rescaled (dX: T x K, dW: W elements,
// 2 + 2 B, one launch each): per GEMM 2 + 2 + 2 + 2 + 1 + 1 = 10 launches. rowwise_with_gw_hp:
// backward the output gradient once and the weight once (4 launches per GEMM), the weight gradient
// in bf16. Neither gathers in FP8 under TP, nor reduces amaxes over TP.
TEST(Evaluate, TorchaoRowwiseCastsEachOperandForEachGemm) {
  const Model m = ResolveModel("llama3-8b");
  Workload w = MakeWorkload(64, 64, 8192);
  w.precision = Precision::kFp8;
  const Layout l = ParseLayoutText("tp=1,fsdp=64,zero=3", "t");
  const double T = 8192.0, K = 26624.0, N = 43008.0, W = 218103808.0;
  w.fp8_recipe = Fp8Recipe::kTorchaoRowwise;
  const LayerKernels rw = LayerKernelsFor(m, w, l);
  EXPECT_DOUBLE_EQ(rw.fp8_cast_fwd_bytes, 5.0 * T * K + 5.0 * W);
  EXPECT_DOUBLE_EQ(rw.fp8_cast_bwd_bytes, 10.0 * T * N + 5.0 * W + 5.0 * T * K + 4.0 * (T * K + W));
  EXPECT_EQ(rw.fp8_cast_fwd_launches, 16);
  EXPECT_EQ(rw.fp8_cast_bwd_launches, 40);
  EXPECT_EQ(rw.fp8_weight_launches, 0);
  w.fp8_recipe = Fp8Recipe::kTorchaoRowwiseGwHp;
  const LayerKernels hp = LayerKernelsFor(m, w, l);
  EXPECT_DOUBLE_EQ(hp.fp8_cast_fwd_bytes, 5.0 * T * K + 5.0 * W);
  EXPECT_DOUBLE_EQ(hp.fp8_cast_bwd_bytes, 5.0 * T * N + 5.0 * W);
  EXPECT_EQ(hp.fp8_cast_bwd_launches, 16);
  // The weight gradient in bf16: the backward differs from rowwise's by each FP8 GEMM's
  // weight gradient at the BF16 rate instead of FP8's, and by the casts above.
  const Cluster c = ResolveCluster("dgx-h100");
  const ComputeParams cp = ComputeParamsFor(c, w.gpus);  // the job's slowest GPU, as the evaluator
  double wgrad_delta = 0;
  for (int i = 0; i < hp.num_gemms; ++i) {
    const GemmShape& g = hp.gemms[static_cast<size_t>(i)];
    if (!g.fp8) continue;
    EXPECT_TRUE(g.wgrad_bf16) << g.name;
    EXPECT_FALSE(rw.gemms[static_cast<size_t>(i)].wgrad_bf16) << g.name;
    wgrad_delta += GemmTime(cp, g.k, g.n, g.m, g.batch).time_s - Fp8GemmTime(cp, g.k, g.n, g.m, g.batch).time_s;
  }
  const double cast_delta = (hp.fp8_cast_bwd_bytes - rw.fp8_cast_bwd_bytes) / cp.hbm_Bps +
                            (hp.fp8_cast_bwd_launches - rw.fp8_cast_bwd_launches) * cp.launch_s;
  Layout r = l;
  ResolveLayout(r, w, "t");
  const Evaluation e_hp = Evaluator(m, c, w).Evaluate(r);
  w.fp8_recipe = Fp8Recipe::kTorchaoRowwise;
  const Evaluation e_rw = Evaluator(m, c, w).Evaluate(r);
  EXPECT_GT(wgrad_delta, 0.0);
  EXPECT_NEAR(e_hp.layer_backward_s - e_rw.layer_backward_s, wgrad_delta + cast_delta, 1e-12);
  w.fp8_recipe = Fp8Recipe::kTorchaoTensorwise;
  EXPECT_GT(e_rw.time.step_s, Evaluator(m, c, w).Evaluate(r).time.step_s);
  // Under TP with SP: the layers' gathers move bf16 (2 B x 8192 tokens x 4096 hidden), no
  // 4-byte amax all-reduce; tensorwise gathers 1 B per element.
  Layout t8 = ParseLayoutText("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron", "t");
  ResolveLayout(t8, w, "t");
  auto gathers = [&](Fp8Recipe rec) {
    w.fp8_recipe = rec;
    const Evaluation e = Evaluator(m, c, w).Evaluate(t8);
    std::map<double, double> out;  // bytes -> calls per step (TP all-gathers), amax: 4
    for (int i = 0; i < e.num_collectives; ++i) {
      const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
      if (u.purpose == Purpose::kTp && (u.op == Coll::kAllGather || u.bytes == 4.0)) out[u.bytes] += u.count_per_step;
    }
    return out;
  };
  const auto rowwise_gathers = gathers(Fp8Recipe::kTorchaoRowwise);
  EXPECT_EQ(rowwise_gathers.size(), 1u);
  EXPECT_EQ(rowwise_gathers.begin()->first, 2.0 * 8192 * 4096);
  EXPECT_EQ(gathers(Fp8Recipe::kTorchaoRowwiseGwHp), rowwise_gathers);
  EXPECT_EQ(gathers(Fp8Recipe::kTorchaoTensorwise).count(1.0 * 8192 * 4096), 1u);
}

// The step under partial and op-level checkpointing (issue 19 item 3): every-other-layer full
// recompute is the mean of none and full, term by term; op-level AC re-runs wk, wo and w3 and
// the elementwise kernels, so its backward lies between none's and full's; under TP it re-runs
// the all-gathers (6 per layer) but keeps the reduce-scatters' outputs (4).
TEST(Checkpointing, StepMixesAndOpRecomputesHalfTheMatmuls) {
  const Workload w = MakeWorkload(64, 64, 8192);
  const Evaluator ev(ResolveModel("llama3-8b"), ResolveCluster("dgx-h100"), w);
  auto eval = [&](const std::string& text) { return ev.Evaluate(L(text, w)); };
  const Evaluation none = eval("tp=1,fsdp=64,recompute=none");
  const Evaluation full = eval("tp=1,fsdp=64,recompute=full");
  const Evaluation half = eval("tp=1,fsdp=64,recompute=full,ac_freq=2");
  EXPECT_NEAR(half.time.step_s, 0.5 * (none.time.step_s + full.time.step_s), 1e-12);
  EXPECT_NEAR(half.layer_backward_s, 0.5 * (none.layer_backward_s + full.layer_backward_s), 1e-15);
  EXPECT_NEAR(half.memory.activations_per_layer_bytes,
              0.5 * (none.memory.activations_per_layer_bytes + full.memory.activations_per_layer_bytes), 1.0);
  const Evaluation op = eval("tp=1,fsdp=64,recompute=op");
  EXPECT_GT(op.layer_backward_s, none.layer_backward_s);
  EXPECT_LT(op.layer_backward_s, full.layer_backward_s);
  // Forward runs torchtitan's separate projections (wq, wk, wv; w1, w3): a little slower than
  // the fused shapes, never by more than a few launches and smaller tiles.
  EXPECT_GE(op.layer_forward_s, none.layer_forward_s);
  EXPECT_LT(op.layer_forward_s, 1.01 * none.layer_forward_s);
  // HFU counts the recomputed matmuls, 2 x h x (gd + ad + F) FLOPs per token per layer, and
  // the FLOPs executed, not MFU's noncausal convention: FlashAttention runs half of the 12 L
  // (a d) s attention FLOPs per token the convention counts.
  const double extra = 2.0 * 32 * 4096 * (1024.0 + 4096 + 14336) - 0.5 * 12.0 * 32 * 4096 * 8192;
  const double tokens = 64.0 * 8192;
  EXPECT_NEAR(op.throughput.hfu - op.throughput.mfu,
              extra * tokens / (ComputeParamsFor(ResolveCluster("dgx-h100")).peak_flops * 64 * op.time.step_s), 1e-9);
  // TP 8 with SP: all-gathers 6 per layer per micro-batch (+2: the head's input, the embedding's
  // backward), reduce-scatters 4 (+2: the embedding's output, the head's input gradient).
  const Evaluation tp = eval("tp=8,sp=on,fsdp=8,recompute=op");
  for (int i = 0; i < tp.num_collectives; ++i) {
    const CollectiveUse& u = tp.collectives[static_cast<size_t>(i)];
    if (u.purpose != Purpose::kTp || u.bytes < 1e6) continue;
    if (u.op == Coll::kAllGather) {
      EXPECT_DOUBLE_EQ(u.count_per_step, 8.0 * (32 * 6 + 2));
    } else if (u.op == Coll::kReduceScatter) {
      EXPECT_DOUBLE_EQ(u.count_per_step, 8.0 * (32 * 4 + 2));
    }
  }
  // An MoE or MLA model has no such policy: refused by name.
  const Evaluator moe(ResolveModel("mixtral-8x7b"), ResolveCluster("dgx-h100"), w);
  Layout l = ParseLayoutText("tp=1,fsdp=64,recompute=op", "t");
  ResolveLayout(l, w, "t");
  const Evaluation e = moe.Evaluate(l);
  EXPECT_TRUE(e.reasons & kReasonRecompute);
  EXPECT_EQ(moe.Reasons(l, e).back(), "recompute=op is torchtitan's op-level policy for dense attention and MLP "
                                      "blocks: not modelled for MoE or MLA layers");
}

// Megatron's --recompute-modules priced: each module re-runs its block's forward in backward.
// TransformerEngine's fused attention (te_attention): on H100 the attention core runs at cuDNN's
// measured speed over FlashAttention-2 at the call's key length, everything else unchanged; on
// A100 (not measured, and TE prefers FlashAttention there) it is FlashAttention-2's.
TEST(Attention, TeFusedRunsAtCudnnsSpeedWhereMeasured) {
  Workload w = MakeWorkload(64, 64, 8192);
  const Model m = ResolveModel("llama3-8b");
  const Layout l = L("tp=1,fsdp=64,recompute=none", w);
  const LayerKernels fa2 = LayerKernelsFor(m, w, l);
  Workload te = w;
  te.te_attention = true;
  const LayerKernels fused = LayerKernelsFor(m, te, l);
  EXPECT_DOUBLE_EQ(fused.flash_speed, fa2.flash_speed);
  EXPECT_DOUBLE_EQ(fused.te_fused_speed, CudnnAttentionSpeedOverFa2(8192, true));  // whole sequence
  EXPECT_DOUBLE_EQ(fused.AttentionSpeed(true), fa2.flash_speed * CudnnAttentionSpeedOverFa2(8192, true));
  EXPECT_DOUBLE_EQ(fused.AttentionSpeed(false), fa2.flash_speed);
  // Under ring context parallelism a call walks one rank's s/cp keys; all-to-all the whole sequence.
  EXPECT_DOUBLE_EQ(TeFusedAttentionSpeed(te, L("tp=1,fsdp=32,cp=2,cp_comm=p2p,recompute=none", te)),
                   CudnnAttentionSpeedOverFa2(4096, true));
  EXPECT_DOUBLE_EQ(TeFusedAttentionSpeed(te, L("tp=1,fsdp=32,cp=2,cp_comm=a2a,recompute=none", te)),
                   CudnnAttentionSpeedOverFa2(8192, true));
  EXPECT_DOUBLE_EQ(TeFusedAttentionSpeed(w, l), 1.0);
  // The layer's forward loses exactly the attention time cuDNN saves, on H100 and only there.
  const ComputeParams h100 = ComputeParamsFor(ResolveCluster("dgx-h100"));
  const double attn_fa2 = fa2.flash_fwd_flops / (h100.peak_flops * h100.attention_fraction * fa2.flash_speed);
  const Evaluation a = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(l);
  const Evaluation b = Evaluator(m, ResolveCluster("dgx-h100"), te).Evaluate(l);
  EXPECT_NEAR(a.layer_forward_s - b.layer_forward_s, attn_fa2 * (1.0 - 1.0 / CudnnAttentionSpeedOverFa2(8192, true)),
              1e-12);
  EXPECT_NEAR(a.layer_backward_s - b.layer_backward_s,
              2.5 * attn_fa2 * (1.0 - 1.0 / CudnnAttentionSpeedOverFa2(8192, true)), 1e-12);
  const Evaluation c = Evaluator(m, ResolveCluster("dgx-a100-80g"), w).Evaluate(l);
  const Evaluation d = Evaluator(m, ResolveCluster("dgx-a100-80g"), te).Evaluate(l);
  EXPECT_DOUBLE_EQ(c.time.step_s, d.time.step_s);
}

TEST(Checkpointing, MegatronModulesRerunTheirBlocks) {
  const Workload w = MakeWorkload(64, 64, 8192);
  const Evaluator ev(ResolveModel("llama3-8b"), ResolveCluster("dgx-h100"), w);
  auto eval = [&](const std::string& text) { return ev.Evaluate(L(text, w)); };
  const Evaluation none = eval("tp=8,sp=on,fsdp=8,recompute=none");
  const Evaluation core = eval("tp=8,sp=on,fsdp=8,recompute=selective");
  const Evaluation mlp = eval("tp=8,sp=on,fsdp=8,recompute=selective,recompute_modules=core_attn+mlp");
  const Evaluation full = eval("tp=8,sp=on,fsdp=8,recompute=full");
  // core_attn with flash attention re-runs the attention kernel's forward.
  const LayerKernels lk = LayerKernelsFor(ResolveModel("llama3-8b"), w, ParseLayoutText("tp=8,sp=on,recompute=selective", "t"));
  const ComputeParams cp = ComputeParamsFor(ResolveCluster("dgx-h100"));
  EXPECT_TRUE(lk.flash_recomputed);
  EXPECT_NEAR(core.layer_backward_s - none.layer_backward_s,
              lk.flash_fwd_flops / (cp.peak_flops * cp.attention_fraction * lk.AttentionSpeed(cp.cudnn_attention_measured)) +
                  cp.launch_s,
              1e-15);
  // mlp adds the MLP's forward: its two GEMMs, the activation and the norm are the part of the
  // layer's forward that full recompute adds beyond attention.
  EXPECT_GT(mlp.layer_backward_s, core.layer_backward_s);
  EXPECT_LT(mlp.layer_backward_s, full.layer_backward_s);
  for (int i = 0; i < lk.num_gemms; ++i) {
    const GemmShape& g = lk.gemms[static_cast<size_t>(i)];
    EXPECT_FALSE(g.recomputed) << g.name;  // core_attn alone re-runs no GEMM under flash
  }
  const LayerKernels lm = LayerKernelsFor(ResolveModel("llama3-8b"), w,
                                          ParseLayoutText("tp=8,sp=on,recompute=selective,recompute_modules=mlp", "t"));
  for (int i = 0; i < lm.num_gemms; ++i) {
    const GemmShape& g = lm.gemms[static_cast<size_t>(i)];
    EXPECT_EQ(g.recomputed, g.name == "mlp_in" || g.name == "mlp_out") << g.name;
  }
  EXPECT_FALSE(lm.flash_recomputed);
  // TP 8 with SP: the recomputed MLP gathers its input and reduce-scatters its output again,
  // 5 all-gathers and 5 reduce-scatters per layer per micro-batch (+2 each for embedding and head).
  for (int i = 0; i < mlp.num_collectives; ++i) {
    const CollectiveUse& u = mlp.collectives[static_cast<size_t>(i)];
    if (u.purpose != Purpose::kTp || u.bytes < 1e6) continue;
    if (u.op == Coll::kAllGather) {
      EXPECT_DOUBLE_EQ(u.count_per_step, 8.0 * (32 * 5 + 2));
    } else if (u.op == Coll::kReduceScatter) {
      EXPECT_DOUBLE_EQ(u.count_per_step, 8.0 * (32 * 5 + 2));
    }
  }
  // Memory falls in the same order.
  EXPECT_LT(mlp.memory.activations_per_layer_bytes, core.memory.activations_per_layer_bytes);
  EXPECT_GT(mlp.memory.activations_per_layer_bytes, full.memory.activations_per_layer_bytes);
  // HFU counts the recomputed MLP's FLOPs: 2 x 3 x h x F per token per layer (and core_attn's),
  // as executed: FlashAttention's causal forward is 2 L (a d) s per token, half the noncausal
  // convention's 4 L (a d) s, and the step's own attention 6 L (a d) s of the convention's 12.
  const double attn_fwd = 0.5 * 4.0 * 32 * 4096 * 8192.0;
  const double extra = 3.0 * attn_fwd + 32 * 2.0 * 3 * 4096 * 14336.0 - 0.5 * 12.0 * 32 * 4096 * 8192;
  EXPECT_NEAR(mlp.throughput.hfu - mlp.throughput.mfu,
              extra * 64 * 8192 / (cp.peak_flops * 64 * mlp.time.step_s), 1e-9);
  // A dense model's layernorm and MoE modules recompute nothing in Megatron-Core: refused by name.
  Layout l = ParseLayoutText("tp=1,fsdp=64,recompute=selective,recompute_modules=layernorm", "t");
  ResolveLayout(l, w, "t");
  const Evaluation e = ev.Evaluate(l);
  EXPECT_TRUE(e.reasons & kReasonRecompute);
  EXPECT_EQ(ev.Reasons(l, e).back(),
            "recompute_modules=layernorm: a dense model has no MoE layers, and Megatron-Core's TransformerEngine "
            "layer spec fuses a dense layer's norms into its linear layers (input_layernorm and pre_mlp_layernorm "
            "are IdentityOp), so moe_act, moe, shared_experts and layernorm recompute nothing");
  // An MoE model's moe module re-runs the dispatch and combine with the layer.
  const Workload wm = w;
  const Evaluator moe(ResolveModel("mixtral-8x7b"), ResolveCluster("dgx-h100"), wm);
  auto eval_moe = [&](const std::string& text) { return moe.Evaluate(L(text, wm)); };
  const Evaluation act = eval_moe("tp=1,fsdp=64,ep=8,recompute=selective,recompute_modules=moe_act");
  const Evaluation whole = eval_moe("tp=1,fsdp=64,ep=8,recompute=selective,recompute_modules=moe");
  EXPECT_EQ(act.reasons, 0u);
  Layout dense_mlp = ParseLayoutText("tp=1,fsdp=64,ep=8,recompute=selective,recompute_modules=mlp", "t");
  ResolveLayout(dense_mlp, wm, "t");
  EXPECT_EQ(moe.Reasons(dense_mlp, moe.Evaluate(dense_mlp)).back(),
            "recompute_modules=mlp: every layer is an MoE layer, and Megatron-Core's mlp module recomputes dense "
            "MLPs only (moe or moe_act recompute the experts)");
  Layout shared = ParseLayoutText("tp=1,fsdp=64,ep=8,recompute=selective,recompute_modules=shared_experts", "t");
  ResolveLayout(shared, wm, "t");
  EXPECT_EQ(moe.Reasons(shared, moe.Evaluate(shared)).back(),
            "recompute_modules=shared_experts: the model has no shared experts");
  EXPECT_GT(whole.layer_backward_s, act.layer_backward_s);
  for (int i = 0; i < act.num_collectives; ++i) {
    const CollectiveUse& u = act.collectives[static_cast<size_t>(i)];
    if (u.op == Coll::kAllToAll) {
      EXPECT_DOUBLE_EQ(u.count_per_step, 32.0 * 2);  // moe_act re-runs no exchange
    }
  }
  for (int i = 0; i < whole.num_collectives; ++i) {
    const CollectiveUse& u = whole.collectives[static_cast<size_t>(i)];
    if (u.op != Coll::kAllToAll) continue;
    // One micro-batch per rank: forward, backward and the recomputed forward of 32 layers.
    EXPECT_DOUBLE_EQ(u.count_per_step, 32.0 * 3);
  }
}

// Activation offload (Megatron-Core --cpu-offloading --cpu-offloading-num-layers N): N layers'
// saved tensors leave the GPU but one in transit, and each copy (the layer's activations over
// node.host_GBps_per_gpu) is exposed where it outlasts a layer's compute-stream time.
TEST(Checkpointing, ActivationOffloadMovesLayersToTheHost) {
  const Workload w = MakeWorkload(64, 64, 8192);
  const Model m = ResolveModel("llama3-70b");
  // The copies' exposure alone: the optimizer's collectives beside a compute stream that now
  // also waits on copies slow fewer kernels (OverlapCost.*), so the slowdown is set apart.
  Cluster h100 = ResolveCluster("dgx-h100");
  h100.efficiency.overlap_slowdown = 1.0;
  const Evaluator ev(m, h100, w);
  auto eval = [&](const std::string& text) { return ev.Evaluate(L(text, w)); };
  const Evaluation none = eval("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron");
  const Evaluation off = eval("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,cpu_offload_layers=40");
  EXPECT_EQ(off.reasons, 0u);
  const double per_layer = none.memory.activations_per_layer_bytes;
  EXPECT_DOUBLE_EQ(off.memory.activations_per_layer_bytes, per_layer);
  EXPECT_NEAR(none.memory.activations_bytes - off.memory.activations_bytes, 39.0 * per_layer, 1.0);  // 40 out, 1 in transit
  // The copy of one layer's activations at 57.6 GB/s, against the layer's forward and backward
  // on the compute stream (its TP collectives included), 8 micro-batches x 40 layers.
  const double copy = per_layer / 57.6e9;
  const double fwd_window = none.layer_forward_s + none.parts.layer_fwd_tp_s;
  const double bwd_window = none.layer_backward_s + none.parts.layer_bwd_tp_s;
  const double exposed = 8.0 * 40 * (std::max(0.0, copy - fwd_window) + std::max(0.0, copy - bwd_window));
  EXPECT_GT(exposed, 0.0);
  EXPECT_NEAR(off.time.exposed_offload_s, exposed, 1e-9);
  EXPECT_NEAR(off.time.step_s - none.time.step_s, exposed, 1e-6);
  // Where they go: all 40 offloaded layers' copies sit in host memory (the GPU's staging buffer is
  // a second copy), checked against the node's system memory per GPU (DGX H100: 2 TB for 8 GPUs,
  // 256 GiB each).
  EXPECT_NEAR(off.memory.host_bytes, 40.0 * per_layer, 1.0);
  EXPECT_DOUBLE_EQ(off.memory.host_capacity_bytes, 256.0 * kGiB);
  EXPECT_DOUBLE_EQ(none.memory.host_bytes, 0.0);
  {
    // A node with less system memory than the 40 offloaded layers hold is refused, by name.
    auto gib = [](double bytes) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f", bytes / kGiB);
      return std::string(buf);
    };
    Cluster small = ResolveCluster("dgx-h100");
    small.node.host_gib_per_gpu = 39.0 * per_layer / kGiB;  // one layer short of 40
    const Evaluator ev_small(m, small, w);
    const Layout lo = L("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,cpu_offload_layers=40", w);
    const Evaluation e_small = ev_small.Evaluate(lo);
    EXPECT_TRUE(e_small.reasons & kReasonMemory);
    const std::vector<std::string> why_small = ev_small.Reasons(lo, e_small);
    ASSERT_FALSE(why_small.empty());
    EXPECT_EQ(why_small.front(), "offloaded activations need " + gib(40.0 * per_layer) +
                                     " GiB of host memory per GPU, the node has " + gib(39.0 * per_layer) +
                                     " GiB per GPU (node.host_gib_per_gpu)");
    small.node.host_gib_per_gpu = 0;  // not given: not checked
    EXPECT_EQ(Evaluator(m, small, w).Evaluate(lo).reasons, 0u);
  }
  // Megatron-Core's own limits, and a cluster that gives no host link, are refused by name.
  auto why = [&](const std::string& text, const Evaluator& e) {
    const Layout l = L(text, w);
    return e.Reasons(l, e.Evaluate(l)).back();
  };
  EXPECT_EQ(why("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,cpu_offload_layers=80", ev),
            "cpu_offload_layers=80: Megatron-Core offloads only layers less than num_layers (80)");
  EXPECT_EQ(why("tp=8,sp=on,fsdp=4,pp=2,zero=1,recipe=megatron,cpu_offload_layers=8", ev),
            "cpu_offload_layers: Megatron-Core has no activation offload with pipeline parallelism");
  EXPECT_EQ(why("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,recompute=selective,cpu_offload_layers=8", ev),
            "cpu_offload_layers: Megatron-Core's activation offload does not work with activation recomputation "
            "(recompute=none)");
  const Evaluator nvl72(m, ResolveCluster("gb200-nvl72"), w);
  EXPECT_EQ(why("tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,cpu_offload_layers=8", nvl72),
            "cpu_offload_layers: cluster gb200-nvl72 gives no host link bandwidth (node.host_GBps_per_gpu), so the "
            "copies cannot be priced");
}

// FSDP2's compute-stream copies (pytorch/pytorch torch/distributed/fsdp/_fully_shard/
// _fsdp_collectives.py @8fc2039): foreach_all_gather_copy_out's split_with_sizes_copy reads the
// gathered bf16 unit and writes it into the parameters (2 x 2 B per parameter) before each
// forward and, under ZeRO-3, each backward; foreach_reduce_scatter_copy_in's chunk_cat reads the
// bf16 gradients and writes them in fp32 (2 + 4 B) after each backward. Llama 3 8B, FSDP 8 on 8 H100.
TEST(Fsdp2Copies, EachGatherAndReduceScatterCopiesOnTheComputeStream) {
  Workload w = MakeWorkload(8, 8, 8192);
  const Model m = ResolveModel("llama3-8b");
  // No slowdown of overlapped compute: FSDP1's root unit and FSDP2's embedding and head units
  // hide different collectives, and the compute would carry that difference too.
  Cluster c = ResolveCluster("dgx-h100");
  c.efficiency.overlap_slowdown = 1.0;
  const ComputeParams cp = ComputeParamsFor(c);
  Workload fsdp1 = w;
  fsdp1.fsdp2_copies = false;
  const Evaluator two(m, c, w), one(m, c, fsdp1);
  const double unit = ParamsPerTpRank(m, 1).layer;
  const double outer = ParamsPerTpRank(m, 1).embedding + ParamsPerTpRank(m, 1).head;
  const double out = 4.0 * unit / cp.hbm_Bps + cp.launch_s, in = 6.0 * unit / cp.hbm_Bps + cp.launch_s;
  const double cat = 4.0 * unit / cp.hbm_Bps + cp.launch_s;  // FSDP1's gradient cat
  // ZeRO-3 gathers FSDP2's embedding unit again for its backward: one more copy-out of it.
  const double emb_again = 4.0 * ParamsPerTpRank(m, 1).embedding / cp.hbm_Bps + cp.launch_s;
  for (const char* text : {"tp=1,fsdp=8,zero=3,recompute=op", "tp=1,fsdp=8,zero=2,recompute=op"}) {
    const bool zero3 = std::string(text).find("zero=3") != std::string::npos;
    const double outer_copies = (4.0 + 6.0) * outer / cp.hbm_Bps + 2 * cp.launch_s + (zero3 ? emb_again : 0.0);
    // FSDP1: no copy-out; autograd's cat of each unit's gradients into its flat gradient (2 + 2 B
    // bf16), its root unit (the embedding and the head) one cat.
    const double outer_cat = 4.0 * outer / cp.hbm_Bps + cp.launch_s;
    const Evaluation a = two.Evaluate(L(text, w)), b = one.Evaluate(L(text, fsdp1));
    EXPECT_NEAR(a.layer_forward_s - b.layer_forward_s, out, 1e-12) << text;
    EXPECT_NEAR(a.layer_backward_s - b.layer_backward_s, (zero3 ? out : 0.0) + in - cat, 1e-12) << text;
    // One micro-batch (global batch 8 over 8 ranks).
    EXPECT_NEAR(a.time.compute_s - b.time.compute_s,
                32.0 * ((zero3 ? 2 : 1) * out + in - cat) + outer_copies - outer_cat, 1e-12)
        << text;
    EXPECT_NEAR(a.time.fsdp_copies_s, 32.0 * ((zero3 ? 2 : 1) * out + in) + outer_copies, 1e-12) << text;
    EXPECT_NEAR(b.time.fsdp_copies_s, 32.0 * cat + outer_cat, 1e-12) << text;
    EXPECT_DOUBLE_EQ(a.parts.fsdp_copy_out_s, out);
    EXPECT_DOUBLE_EQ(a.parts.fsdp_copy_in_s, in);
    EXPECT_EQ(b.parts.fsdp_copy_out_s, 0.0);
    EXPECT_DOUBLE_EQ(b.parts.fsdp_copy_in_s, cat);
  }
  // Per parameter: 2 x 2 B bf16 copied out, 2 B bf16 read + 4 B fp32 written in; FSDP1 2 + 2 B
  // bf16 in (the gradients' cat, its reduce dtype cast on the post-backward stream); none under
  // ZeRO-1.
  const FsdpCopyBytes per = FsdpCopyBytesPerParam(w, L("tp=1,fsdp=8,zero=3", w));
  EXPECT_EQ(per.gather, 4.0);
  EXPECT_EQ(per.reduce, 6.0);
  const FsdpCopyBytes per1 = FsdpCopyBytesPerParam(fsdp1, L("tp=1,fsdp=8,zero=3", fsdp1));
  EXPECT_EQ(per1.gather, 0.0);
  EXPECT_EQ(per1.reduce, 4.0);
  // Under a pipeline each stage gathers and reduce-scatters every unit once per step
  // (torchtitan: reshard_after_forward = not pp_enabled), so it copies each once per step, on
  // the compute stream: the last stage of 16 layers, its head (128256 x 4096 + the final
  // norm's 4096) with them.
  {
    const FsdpCopyBytes piped = FsdpCopyBytesPerParam(w, L("tp=1,fsdp=4,pp=2,zero=3", w));
    EXPECT_EQ(piped.gather, 4.0);
    EXPECT_EQ(piped.reduce, 6.0);
    const char* text = "tp=1,fsdp=4,pp=2,zero=3,recompute=full";
    const Evaluation a = two.Evaluate(L(text, w)), b = one.Evaluate(L(text, fsdp1));
    const double head = 128256.0 * 4096 + 4096;
    const double expected = 16.0 * (out + in) + (4.0 + 6.0) * head / cp.hbm_Bps + 2 * cp.launch_s;
    const double expected1 = 16.0 * cat + 4.0 * head / cp.hbm_Bps + cp.launch_s;  // FSDP1's cats
    EXPECT_NEAR(a.time.fsdp_copies_s, expected, 1e-12);
    EXPECT_NEAR(b.time.fsdp_copies_s, expected1, 1e-12);
    EXPECT_NEAR(a.time.compute_s - b.time.compute_s, expected - expected1, 1e-12);
    EXPECT_NEAR(a.time.step_s - b.time.step_s, expected - expected1, 1e-12);
  }
  const FsdpCopyBytes none = FsdpCopyBytesPerParam(w, L("tp=1,fsdp=8,zero=1,recipe=megatron", w));
  EXPECT_FALSE(none.any());
  // None without per-layer sharding by fully_shard: the megatron recipe's ZeRO-1, FSDP1, no FSDP.
  for (const char* text : {"tp=1,fsdp=8,zero=1,recipe=megatron", "tp=8,fsdp=1"}) {
    EXPECT_DOUBLE_EQ(two.Evaluate(L(text, w)).time.compute_s, one.Evaluate(L(text, fsdp1)).time.compute_s) << text;
  }
}

// Micro-batch-level recompute (Korthikanti et al. 2022, Appendix C; Megatron-Core
// num_microbatches_with_partial_activation_checkpoints): GPT-3 175B as the paper ran it, TP 8 +
// SP, PP 8 x 3 chunks interleaved, 64 micro-batches, no flash attention.
TEST(Checkpointing, MicroBatchLevelRecomputeMixesOverMicroBatchesAndStoresWholeActivations) {
  Workload w = MakeWorkload(64, 64, 2048);
  w.flash_attention = false;
  const Model m = ResolveModel("gpt-175b");
  const Cluster c = ResolveCluster("dgx-a100-80g");
  const Evaluator ev(m, c, w);
  const std::string base_text = "tp=8,sp=on,fsdp=1,zero=1,recipe=megatron,recompute=selective,pp=8,vpp=3";
  const Evaluation base = ev.Evaluate(L(base_text, w));
  const Evaluation none = ev.Evaluate(L("tp=8,sp=on,fsdp=1,zero=1,recipe=megatron,recompute=none,pp=8,vpp=3", w));
  const Layout l = L(base_text + ",partial_ckpt_mbs=4", w);
  const Evaluation part = ev.Evaluate(l);
  // Stage 0: window 31 chunk-forwards, 192 in all: 6 x 4 + min(4, 6) = 28 skip recompute.
  const double share = 28.0 / 192.0;
  ASSERT_DOUBLE_EQ(PartialCheckpointShare(l, 64, 0), share);
  EXPECT_NEAR(part.time.step_s, share * none.time.step_s + (1 - share) * base.time.step_s, 1e-12);
  EXPECT_NEAR(part.layer_backward_s, share * none.layer_backward_s + (1 - share) * base.layer_backward_s, 1e-15);
  EXPECT_LT(part.time.step_s, base.time.step_s);
  // Memory, stage 0: 12 layers; each chunk-micro-batch kept whole holds 4 layers' attention core
  // too, 5as^2b/t per layer with SP (Korthikanti Table 2: 34 sbh/t + 5as^2b/t vs 34 sbh/t).
  const double core = 5.0 * 96 * 2048.0 * 2048.0 / 8;
  const double kept = PartialCheckpointInFlight(l, 64, 0);  // in stages' worth
  EXPECT_GT(kept, 4.0 / 3.0);                                 // backwards reverse the chunks
  EXPECT_NEAR(part.pipe.first.peak_bytes - base.pipe.first.peak_bytes,
              kept * 12 * core, 1e3);
  // The most that fit: one more no longer fits stage 0.
  const int64_t most = ev.MostPartialCheckpointMicroBatches(L(base_text, w));
  ASSERT_GT(most, 0);
  EXPECT_TRUE(ev.Evaluate(L(base_text + ",partial_ckpt_mbs=" + std::to_string(most), w)).feasible());
  EXPECT_TRUE(ev.Evaluate(L(base_text + ",partial_ckpt_mbs=" + std::to_string(most + 1), w)).reasons & kReasonMemory);
  EXPECT_EQ(ev.MostPartialCheckpointMicroBatches(L("tp=8,sp=on,fsdp=1,zero=1,recipe=megatron,pp=8,vpp=3", w)), 0);
  // Megatron-Core's feature: refused by name under the fsdp2 recipe and ZB-H1.
  auto why = [&](const std::string& text) {
    const Layout x = L(text, w);
    const auto r = ev.Reasons(x, ev.Evaluate(x));
    return r.empty() ? std::string("feasible") : r.back();
  };
  EXPECT_EQ(why("tp=8,sp=on,fsdp=1,zero=3,recipe=fsdp2,recompute=selective,pp=8,partial_ckpt_mbs=2"),
            "partial_ckpt_mbs: micro-batch-level recompute is Megatron-Core's (num_microbatches_with_partial_"
            "activation_checkpoints, the megatron recipe); torchtitan (the fsdp2 recipe) has none");
  EXPECT_EQ(why("tp=8,sp=on,fsdp=1,zero=1,recipe=megatron,recompute=selective,pp=8,schedule=zb-h1,partial_ckpt_mbs=2"),
            "partial_ckpt_mbs: Megatron-Core's 1F1B and interleaved schedules choose the micro-batches; it has no "
            "ZB-H1 schedule");
}

TEST(Checkpointing, LayoutTextNamesTheFrameworksMode) {
  EXPECT_EQ(LayoutToText(ParseLayoutText("tp=1,fsdp=8,recompute=full,ac_freq=2", "t")),
            "tp=1,sp=off,fsdp=8,replicate=1,zero=3,mbs=1,recompute=full,ac_freq=2,recipe=fsdp2");
  EXPECT_EQ(LayoutToText(ParseLayoutText("tp=1,fsdp=8,recompute=full,recompute_num_layers=4", "t")),
            "tp=1,sp=off,fsdp=8,replicate=1,zero=3,mbs=1,recompute=full,recompute_num_layers=4,recipe=fsdp2");
  auto err = [](const std::string& text) {
    try {
      ParseLayoutText(text, "--layout");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(err("tp=1,recompute=selective,ac_freq=2"),
            "--layout: ac_freq: needs recompute=full (it chooses which layers are fully recomputed)");
  EXPECT_EQ(err("tp=1,recompute=full,ac_freq=2,recompute_num_layers=2"),
            "--layout: recompute_num_layers: give ac_freq (torchtitan) or recompute_num_layers (Megatron-LM), not both");
  EXPECT_EQ(err("tp=1,recompute=ops"), "--layout: recompute: must be none, selective, full or op, got 'ops'");
  // Megatron's modules: with recompute=selective only, by Megatron's names, in canonical order.
  EXPECT_EQ(LayoutToText(ParseLayoutText("tp=1,fsdp=8,recompute=selective,recompute_modules=mlp+core_attn", "t")),
            "tp=1,sp=off,fsdp=8,replicate=1,zero=3,mbs=1,recompute=selective,recompute_modules=core_attn+mlp,"
            "recipe=fsdp2");
  EXPECT_EQ(LayoutToText(ParseLayoutText("tp=1,fsdp=8,recompute=selective,recompute_modules=core_attn", "t")),
            "tp=1,sp=off,fsdp=8,replicate=1,zero=3,mbs=1,recompute=selective,recipe=fsdp2");
  EXPECT_EQ(err("tp=1,recompute=full,recompute_modules=mlp"),
            "--layout: recompute_modules: needs recompute=selective (Megatron-LM's --recompute-modules apply with "
            "--recompute-granularity selective)");
  EXPECT_EQ(err("tp=1,recompute=selective,recompute_modules=mla_up_proj"),
            "--layout: recompute_modules: Megatron-LM's 'mla_up_proj' recompute is not modelled (modelled: core_attn, "
            "layernorm, mlp, moe_act, moe, shared_experts)");
  EXPECT_EQ(err("tp=1,recompute=selective,recompute_modules=attn"),
            "--layout: recompute_modules: unknown module 'attn' (Megatron-LM's: core_attn, layernorm, mlp, moe_act, "
            "moe, shared_experts)");
  EXPECT_EQ(err("tp=1,recompute=selective,recompute_modules=mlp+mlp"), "--layout: recompute_modules: 'mlp' given twice");
  EXPECT_EQ(err("tp=1,recompute=selective,recompute_modules="),
            "--layout: recompute_modules: names no module (Megatron-LM's default is core_attn)");
  const Layout mods = ParseLayoutText("tp=1,fsdp=8,recompute=selective,recompute_modules=moe_act+layernorm", "t");
  EXPECT_EQ(LayoutFromJson(ToJson(mods), "t"), mods);
  EXPECT_EQ(ToJson(mods)["recompute_modules"], nlohmann::json::array({"layernorm", "moe_act"}));
  const Layout off = ParseLayoutText("tp=8,sp=on,fsdp=8,recompute=none,cpu_offload_layers=16", "t");
  EXPECT_EQ(LayoutFromJson(ToJson(off), "t"), off);
  EXPECT_EQ(LayoutToText(off), "tp=8,sp=on,fsdp=8,replicate=1,zero=3,mbs=1,recompute=none,cpu_offload_layers=16,recipe=fsdp2");
  const Layout l = ParseLayoutText("tp=1,fsdp=8,recompute=full,ac_freq=2", "t");
  EXPECT_EQ(LayoutFromJson(ToJson(l), "t"), l);
  // Micro-batch-level recompute: a pipeline with selective or full (every layer) recompute.
  const Layout mb = ParseLayoutText("tp=8,fsdp=1,pp=4,recompute=selective,recipe=megatron,partial_ckpt_mbs=2", "t");
  EXPECT_EQ(LayoutToText(mb), "tp=8,sp=off,fsdp=1,replicate=1,zero=3,mbs=1,recompute=selective,partial_ckpt_mbs=2,"
                              "recipe=megatron,pp=4,schedule=1f1b");
  EXPECT_EQ(LayoutFromJson(ToJson(mb), "t"), mb);
  EXPECT_EQ(err("tp=8,fsdp=8,recompute=selective,partial_ckpt_mbs=2"),
            "--layout: partial_ckpt_mbs: needs pp > 1 (it chooses among a pipeline rank's in-flight micro-batches)");
  EXPECT_EQ(err("tp=8,pp=4,recompute=none,partial_ckpt_mbs=2"),
            "--layout: partial_ckpt_mbs: needs recompute=selective or full (the other micro-batches recompute that "
            "way), got recompute=none");
  EXPECT_EQ(err("tp=8,pp=4,recompute=full,recompute_num_layers=2,partial_ckpt_mbs=2"),
            "--layout: partial_ckpt_mbs: with recompute_num_layers: Megatron-Core then recomputes some layers of the "
            "partial micro-batches; not modelled (give recompute=full alone)");
  EXPECT_EQ(err("tp=8,pp=4,recompute=full,partial_ckpt_mbs=0"),
            "--layout: partial_ckpt_mbs: must be a positive integer, got '0'");
}

}  // namespace
}  // namespace meshplan::costmodel
