// The validation skeleton runs exactly what the cost model prices: the collectives of
// Evaluator::Evaluate (op, group, bytes, count per step), the GEMM FLOPs and bandwidth-kernel
// bytes of costmodel/kernels.h, and frees every buffer it allocates. Checked with a counting
// fake backend, no MPI. Also the mesh: rank order tp innermost, then fsdp, then replicate, with
// expert parallelism's EP and expert-data-parallel groups carved out of fsdp. Mixture-of-experts
// steps run the evaluator's all-to-alls, TP gathers of routed copies and expert ZeRO traffic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string_view>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "costmodel/evaluate.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "validate/mesh.h"
#include "validate/operands.h"
#include "validate/skeleton.h"

namespace meshplan::validate {
namespace {

using costmodel::Coll;
using Groups = std::vector<std::vector<int>>;

// A workload of `gpus`, `global_batch` sequences of `seq` tokens, the rest at their defaults.
costmodel::Workload Batch(int64_t gpus, int64_t global_batch, int64_t seq) {
  costmodel::Workload w;
  w.gpus = gpus;
  w.global_batch = global_batch;
  w.seq = seq;
  return w;
}

// FSDP2's copies per micro-batch (evaluate.cc; pytorch _fsdp_collectives.py): each layer's
// gather copied out (forward, and backward under ZeRO-3), its gradients copied into the
// reduce-scatter; the embedding and head unit's once each.
double FsdpCopyBytes(const StepPlan& p) {
  const double gathers = p.zero >= 3 ? 2.0 : 1.0;
  // FSDP2's embedding is gathered again for its backward under ZeRO-3; its head is a unit too.
  const double outer_gathers = p.split_outer && p.zero >= 3 ? 2.0 : 1.0;
  return static_cast<double>(p.layers) * (gathers * p.copy_out_bytes + p.copy_in_bytes) +
         outer_gathers * p.outer_copy_out_bytes + p.outer_copy_in_bytes + p.head_copy_out_bytes + p.head_copy_in_bytes;
}

TEST(Mesh, FourRanksTp2Fsdp2) {
  costmodel::Layout l;
  l.tp = 2;
  l.fsdp = 2;
  const Mesh m = BuildMesh(l, false);
  EXPECT_EQ(m.tp, (Groups{{0, 1}, {2, 3}}));
  EXPECT_EQ(m.fsdp, (Groups{{0, 2}, {1, 3}}));
  EXPECT_EQ(m.replicate, (Groups{{0}, {1}, {2}, {3}}));
  EXPECT_EQ(m.GroupOf(GroupKind::kFsdp, 3), (std::vector<int>{1, 3}));
}

TEST(Mesh, EightRanksHsdpStridesReplicasByTpTimesFsdp) {
  costmodel::Layout l;
  l.tp = 2;
  l.fsdp = 2;
  l.replicate = 2;
  const Mesh m = BuildMesh(l, false);
  EXPECT_EQ(m.tp, (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(m.fsdp, (Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(m.replicate, (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  EXPECT_EQ(m.world_size(), 8);
}

// EP groups: ep consecutive ranks of the shard group (stride tp), as the evaluator places them
// (PlaceGroup(ep, Stride(kCp))); expert-data-parallel groups: the rest, at stride tp x ep.
TEST(Mesh, ExpertGroupsAreCarvedOutOfTheShardGroup) {
  costmodel::Layout l;
  l.fsdp = 4;
  l.ep = 2;
  Mesh m = BuildMesh(l, false);
  EXPECT_EQ(m.ep, (Groups{{0, 1}, {2, 3}}));
  EXPECT_EQ(m.edp, (Groups{{0, 2}, {1, 3}}));
  EXPECT_TRUE(m.has(GroupKind::kEp));
  EXPECT_EQ(m.GroupOf(GroupKind::kEdp, 3), (std::vector<int>{1, 3}));
  l.tp = 2;
  l.fsdp = 2;
  m = BuildMesh(l, false);
  EXPECT_EQ(m.ep, (Groups{{0, 2}, {1, 3}}));  // ep == fsdp: the experts shard no further
  EXPECT_EQ(m.edp, (Groups{{0}, {1}, {2}, {3}}));
  l.fsdp = 4;
  l.replicate = 2;
  m = BuildMesh(l, false);
  EXPECT_EQ(m.ep, (Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}, {8, 10}, {9, 11}, {12, 14}, {13, 15}}));
  EXPECT_EQ(m.edp, (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}, {8, 12}, {9, 13}, {10, 14}, {11, 15}}));
  EXPECT_EQ(m.ColorOf(GroupKind::kEp, 13), 7);
  l.ep = 1;  // no expert parallelism: no EP or expert-data-parallel communicators
  m = BuildMesh(l, false);
  EXPECT_FALSE(m.has(GroupKind::kEp));
  EXPECT_FALSE(m.has(GroupKind::kEdp));
  EXPECT_EQ(ToString(GroupKind::kEp), "ep");
  EXPECT_EQ(ToString(GroupKind::kEdp), "edp");
}

TEST(Mesh, PipelineStagesAreOutermost) {
  costmodel::Layout l;
  l.tp = 2;
  l.fsdp = 1;
  l.pp = 2;
  const Mesh m = BuildMesh(l, false);
  EXPECT_EQ(m.tp, (Groups{{0, 1}, {2, 3}}));
  EXPECT_EQ(m.fsdp, (Groups{{0}, {1}, {2}, {3}}));
  EXPECT_EQ(m.pp, (Groups{{0, 2}, {1, 3}}));
  EXPECT_EQ(m.GroupOf(GroupKind::kPp, 3), (std::vector<int>{1, 3}));
}

// A tied model's pipeline: the first and last stage of each pipeline form an embedding group
// (Megatron-LM's), the stages between groups of one; untied or without a pipeline, none.
TEST(Mesh, EmbeddingGroupsPairTheFirstAndLastStage) {
  costmodel::Layout l;
  l.tp = 2;
  l.fsdp = 1;
  l.pp = 4;
  const Mesh m = BuildMesh(l, true);
  EXPECT_EQ(m.pp, (Groups{{0, 2, 4, 6}, {1, 3, 5, 7}}));
  EXPECT_EQ(m.embedding, (Groups{{0, 6}, {2}, {4}, {1, 7}, {3}, {5}}));
  EXPECT_EQ(m.GroupOf(GroupKind::kEmbedding, 7), (std::vector<int>{1, 7}));
  EXPECT_EQ(m.GroupOf(GroupKind::kEmbedding, 4), (std::vector<int>{4}));
  EXPECT_EQ(ToString(GroupKind::kEmbedding), "embedding");
  EXPECT_FALSE(BuildMesh(l, false).has(GroupKind::kEmbedding));
  l.pp = 1;
  l.fsdp = 4;
  EXPECT_FALSE(BuildMesh(l, true).has(GroupKind::kEmbedding));
}

/// Counts what the skeleton asks for; no data, no time.
class CountingBackend final : public Backend {
 public:
  std::string_view name() const override { return "fake"; }
  std::string_view gemm_dtype() const override { return "fp32"; }
  std::string_view peak_memory_source() const override { return "fake"; }
  void Prepare(const Workspace& w) override { ws = w; }
  void Gemm(int stream, int64_t m, int64_t n, int64_t k, int64_t batch) override {
    EXPECT_EQ(stream, kComputeStream);
    EXPECT_LE(m * k * batch, ws.gemm_a_elems);
    EXPECT_LE(k * n * batch, ws.gemm_b_elems);
    EXPECT_LE(m * n * batch, ws.gemm_c_elems);
    gemm_flops += 2.0 * static_cast<double>(m * n * k * batch);
  }
  void MemoryKernel(int, double bytes) override { memory_bytes += bytes; }
  double Collective(int stream, Coll op, GroupKind g, double bytes, costmodel::Dtype) override {
    EXPECT_LE(bytes, ws.collective_bytes);
    // TP and the EP exchange on the compute stream (critical path), FSDP and replica traffic on
    // the comm stream; all-to-alls only over EP.
    EXPECT_EQ(stream, g == GroupKind::kTp || g == GroupKind::kEp ? kComputeStream : kCommStream);
    EXPECT_EQ(op == Coll::kAllToAll, g == GroupKind::kEp);
    ++counts[{op, g, bytes}];
    return bytes;
  }
  int RecordEvent(int) override { return events++; }
  void WaitEvent(int, int event) override {
    EXPECT_GE(event, 0);
    EXPECT_LT(event, events);
  }
  void ResetEvents() override { events = 0; }
  void Synchronize() override {}
  void TimerStart(int) override {}
  double TimerStop(int) override { return 0; }
  void GroupBarrier(GroupKind) override {}
  int Alloc(double bytes) override {
    live[next] = bytes;
    current += bytes;
    peak = std::max(peak, current);
    return next++;
  }
  void Free(int id) override {
    ASSERT_TRUE(live.count(id)) << "double free of buffer " << id;
    current -= live[id];
    live.erase(id);
  }
  void ResetPeakMemory() override { peak = current; }
  double PeakMemoryBytes() override { return peak; }
  std::vector<int> GroupMembers(GroupKind) override { return {}; }
  std::vector<float> CheckedCollective(Coll, GroupKind, const std::vector<float>& in) override { return in; }
  void P2p(const std::vector<P2pOp>& ops, bool blocking) override {
    blocking_groups += blocking ? 1 : 0;
    int receives = 0;
    for (const P2pOp& op : ops) {
      EXPECT_LE(op.bytes, ws.p2p_bytes);
      (op.send ? sends : recvs).push_back(op);
      receives += !op.send;
    }
    EXPECT_LE(receives, kMaxP2pRecvs);
    groups.push_back(ops);
  }
  std::vector<P2pOp> sends, recvs;
  std::vector<std::vector<P2pOp>> groups;  // in issue order
  int blocking_groups = 0;
  void Abort() noexcept override {}

  Workspace ws;
  double gemm_flops = 0, memory_bytes = 0, current = 0, peak = 0;
  std::map<std::tuple<Coll, GroupKind, double>, double> counts;
  std::map<int, double> live;
  int next = 0, events = 0;
};

class NullObserver final : public OpObserver {
 public:
  void OnOp(std::string_view, std::string_view) override { ++ops; }
  int ops = 0;
};

/// Runs one step of pipeline stage `stage` of the plan on `b` (neighbours stand-ins 100 and 200);
/// returns the stage's plan.
StepPlan RunStage(const costmodel::Evaluator& ev, const costmodel::Layout& l, const costmodel::Evaluation& e,
                  int64_t stage, CountingBackend& b) {
  StepPlan p = MakeStepPlan(ev, l, e, stage);
  p.prev_rank = 100;
  p.next_rank = 200;
  b.Prepare(WorkspaceFor(p));
  NullObserver obs;
  RunStep(b, p, obs);
  return p;
}

/// Where the evaluator says a collective runs: the experts' FSDP share over the (smaller)
/// expert-data-parallel group, the EP exchange's all-to-alls over EP and its copies over TP.
GroupKind KindOf(const costmodel::CollectiveUse& u, const costmodel::Layout& l) {
  switch (u.purpose) {
    case costmodel::Purpose::kTp: return GroupKind::kTp;
    case costmodel::Purpose::kDpGradReduce: return GroupKind::kReplicate;
    case costmodel::Purpose::kTiedGradReduce: return GroupKind::kEmbedding;
    case costmodel::Purpose::kEpDispatch:
    case costmodel::Purpose::kEpCombine: return u.op == Coll::kAllToAll ? GroupKind::kEp : GroupKind::kTp;
    default: return u.group.ranks == l.shard() ? GroupKind::kFsdp : GroupKind::kEdp;
  }
}

/// Per micro-batch: one layer's GEMM FLOPs (forward, dgrad + wgrad, recomputed forward; flash
/// 1 + 2.5 (+1 recomputed)) and bandwidth-kernel bytes (count x bytes forward, backward_count x
/// backward bytes, recompute).
double LayerFlops(const costmodel::LayerKernels& k) {
  double f = 0;
  for (int i = 0; i < k.num_gemms; ++i) {
    const auto& g = k.gemms[static_cast<size_t>(i)];
    f += 2.0 * static_cast<double>(g.m * g.n * g.k * g.batch) * (3.0 + (g.recomputed ? 1.0 : 0.0));
  }
  return f + k.flash_fwd_flops * (3.5 + (k.flash_recomputed ? 1.0 : 0.0));
}
double LayerMemoryBytes(const costmodel::LayerKernels& k) {
  double mem = 0;
  for (int i = 0; i < k.num_memory; ++i) {
    const auto& mk = k.memory[static_cast<size_t>(i)];
    mem += mk.count * mk.bytes * (mk.recomputed ? 2.0 : 1.0) + mk.backward_count * mk.backward_bytes;
  }
  return mem;
}

/// Runs one step of `layout` on a counting backend and checks it against the evaluation: the
/// same (op, group, bytes) with the same count per step and nothing else, every layer's GEMM
/// FLOPs and kernel bytes (an MoE model's dense layers their own), every buffer freed.
/// A layout parsed and resolved against the workload, as the CLI does.
costmodel::Layout Resolved(const std::string& text, const costmodel::Workload& w) {
  costmodel::Layout l = costmodel::ParseLayoutText(text, "test");
  costmodel::ResolveLayout(l, w, "test");
  return l;
}

/// The step plan of `text` for `m` on dgx-h100.
StepPlan PlanOf(const costmodel::Model& m, const costmodel::Workload& w, const std::string& text) {
  const costmodel::Layout l = Resolved(text, w);
  const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
  return MakeStepPlan(ev, l, ev.Evaluate(l));
}

void ExpectStepMatchesEvaluation(const costmodel::Model& m, const costmodel::Workload& w,
                                 const char* layout) {
  const costmodel::Layout l = Resolved(layout, w);
  const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
  const costmodel::Evaluation e = ev.Evaluate(l);
  // Feasible but for memory (what runs does not depend on whether it fits an H100).
  ASSERT_EQ(e.reasons & ~costmodel::kReasonMemory, 0u)
      << layout << ": " << (ev.Reasons(l, e).empty() ? "" : ev.Reasons(l, e)[0]);
  const StepPlan p = MakeStepPlan(ev, l, e);
  CountingBackend b;
  b.Prepare(WorkspaceFor(p));
  NullObserver obs;
  RunStep(b, p, obs);
  std::map<std::tuple<Coll, GroupKind, double>, double> expected;
  for (int i = 0; i < e.num_collectives; ++i) {
    const auto& u = e.collectives[static_cast<size_t>(i)];
    expected[{u.op, KindOf(u, l), u.bytes}] += u.count_per_step;
  }
  EXPECT_EQ(b.counts, expected) << layout;
  double flops = 0, mem = 0;
  for (int64_t i = 0; i < p.layers; ++i) {
    const bool routed = p.moe_layer.empty() || p.moe_layer[static_cast<size_t>(i)];
    flops += LayerFlops(routed ? p.layer : p.dense_layer);
    mem += LayerMemoryBytes(routed ? p.layer : p.dense_layer);
  }
  const auto& h = p.head.gemm;
  double head_mem = 0;
  for (const auto& k : p.head.memory) head_mem += k.count * k.bytes + k.backward_count * k.backward_bytes;
  const double micro = static_cast<double>(p.micro_batches);
  EXPECT_DOUBLE_EQ(b.gemm_flops, micro * (flops + 3.0 * 2.0 * static_cast<double>(h.m * h.n * h.k)))
      << layout;
  const double expected_mem = micro * (mem + head_mem + FsdpCopyBytes(p)) + p.optimizer_bytes;
  EXPECT_NEAR(b.memory_bytes, expected_mem, 1e-12 * expected_mem) << layout;
  EXPECT_TRUE(b.live.empty()) << layout;
}

struct Case {
  const char* name;
  const char* layout;
  int64_t gpus, batch, seq;
  bool flash;
};

class Skeleton : public ::testing::TestWithParam<Case> {};

TEST_P(Skeleton, RunsExactlyWhatTheModelPrices) {
  const Case& c = GetParam();
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  const costmodel::Cluster cl = costmodel::ResolveCluster("dgx-h100");
  costmodel::Workload w;
  w.gpus = c.gpus;
  w.global_batch = c.batch;
  w.seq = c.seq;
  w.flash_attention = c.flash;
  const costmodel::Layout l = Resolved(c.layout, w);
  const costmodel::Evaluator ev(m, cl, w);
  const costmodel::Evaluation e = ev.Evaluate(l);
  const StepPlan p = MakeStepPlan(ev, l, e);
  CountingBackend b;
  b.Prepare(WorkspaceFor(p));
  NullObserver obs;
  RunStep(b, p, obs);

  // Collectives: the same (op, group, bytes) with the same count per step, nothing else.
  std::map<std::tuple<Coll, GroupKind, double>, double> expected;
  for (int i = 0; i < e.num_collectives; ++i) {
    const auto& u = e.collectives[static_cast<size_t>(i)];
    expected[{u.op, KindOf(u, l), u.bytes}] += u.count_per_step;
  }
  EXPECT_EQ(b.counts, expected);

  // GEMM FLOPs: forward, dgrad + wgrad, recomputed forward; flash 1 + 2.5 (+1 recomputed).
  const double micro = static_cast<double>(p.micro_batches);
  double layer = 0;
  for (int i = 0; i < p.layer.num_gemms; ++i) {
    const auto& g = p.layer.gemms[static_cast<size_t>(i)];
    layer += 2.0 * static_cast<double>(g.m * g.n * g.k * g.batch) * (3.0 + (g.recomputed ? 1.0 : 0.0));
  }
  layer += p.layer.flash_fwd_flops * (3.5 + (p.layer.flash_recomputed ? 1.0 : 0.0));
  const auto& h = p.head.gemm;
  const double head = 3.0 * 2.0 * static_cast<double>(h.m * h.n * h.k);
  EXPECT_DOUBLE_EQ(b.gemm_flops, micro * (static_cast<double>(p.layers) * layer + head));

  // Bandwidth kernels: count x bytes forward, backward_count x backward bytes, recompute, optimizer.
  double mem = 0;
  for (int i = 0; i < p.layer.num_memory; ++i) {
    const auto& k = p.layer.memory[static_cast<size_t>(i)];
    mem += k.count * k.bytes * (k.recomputed ? 2.0 : 1.0) + k.backward_count * k.backward_bytes;
  }
  double head_mem = 0;
  for (const auto& k : p.head.memory) head_mem += k.count * k.bytes + k.backward_count * k.backward_bytes;
  EXPECT_DOUBLE_EQ(b.memory_bytes,
                   micro * (static_cast<double>(p.layers) * mem + head_mem + FsdpCopyBytes(p)) + p.optimizer_bytes);

  // Every buffer of the step is freed; the peak holds at least one layer's activations.
  EXPECT_TRUE(b.live.empty());
  EXPECT_GE(b.peak, p.layer_activation_bytes * static_cast<double>(p.layers));
  EXPECT_GT(obs.ops, 0);
}

/// Records each op's description in issue order.
class ListingObserver final : public OpObserver {
 public:
  void OnOp(std::string_view op, std::string_view what) override {
    ops.push_back(std::string(op) + " " + std::string(what));
  }
  /// Index of the first op containing `text`, or -1.
  int64_t First(std::string_view text) const {
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].find(text) != std::string::npos) return static_cast<int64_t>(i);
    }
    return -1;
  }
  std::vector<std::string> ops;
};

// ZeRO-3: the head unit's pre-backward prefetches the last layer (FSDP2's _backward_prefetch),
// so its second gather is issued after the head's forward (its loss) and before the head's backward,
// as the simulator's timeline and memory.cc's head phase have it.
TEST(SkeletonFsdp, LastLayerIsGatheredAgainBeforeTheHeadsBackward) {
  costmodel::Workload w;
  w.gpus = 8;
  w.global_batch = 8;
  w.seq = 1024;
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  const StepPlan p = PlanOf(m, w, "tp=1,fsdp=8,zero=3,mbs=1");
  CountingBackend b;
  b.Prepare(WorkspaceFor(p));
  ListingObserver obs;
  RunStep(b, p, obs);
  const int64_t gather = obs.First("layer 31 backward params (prefetch)");
  const int64_t head_fwd = obs.First("head cross_entropy");
  const int64_t head_bwd = obs.First("head cross_entropy backward");
  ASSERT_GE(gather, 0);
  ASSERT_GE(head_fwd, 0);
  ASSERT_GE(head_bwd, 0);
  EXPECT_LT(head_fwd, gather);
  EXPECT_LT(gather, head_bwd);
  EXPECT_EQ(std::count_if(obs.ops.begin(), obs.ops.end(),
                          [](const std::string& o) {
                            return o.rfind("all_gather", 0) == 0 && o.find("layer 31 backward params") != std::string::npos;
                          }),
            1);  // gathered once
  EXPECT_TRUE(b.live.empty());
}

// A pipeline stage runs its schedule's list: every forward input received from the previous
// stage and every output gradient from the next, each once per micro-batch and chunk, tagged by
// the receiving virtual stage; the stage's GEMM FLOPs are its layers' (and the head's on the last).
TEST(SkeletonPipeline, EachStageSendsAndReceivesWhatItsScheduleSays) {
  for (const char* layout : {"tp=2,sp=on,pp=4,fsdp=1,recipe=megatron",
                             "tp=2,sp=on,pp=4,vpp=2,fsdp=1,recipe=megatron",
                             "tp=2,sp=on,pp=4,schedule=zb-h1,fsdp=1,recipe=megatron"}) {
    const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
    const costmodel::Workload w = Batch(8, 8, 1024);
    const costmodel::Layout l = Resolved(layout, w);
    const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
    const costmodel::Evaluation e = ev.Evaluate(l);
    ASSERT_TRUE(e.feasible()) << layout;
    double flops_all = 0;
    for (int64_t stage = 0; stage < 4; ++stage) {
      StepPlan p = MakeStepPlan(ev, l, e, stage);
      p.prev_rank = 100 + static_cast<int>(stage);  // stand-ins: checked below
      p.next_rank = 200 + static_cast<int>(stage);
      EXPECT_EQ(p.layers, 8);
      EXPECT_EQ(p.micro_batches, 8);
      CountingBackend b;
      b.Prepare(WorkspaceFor(p));
      EXPECT_EQ(b.ws.p2p_bytes, 2.0 * 1024 * 4096 / 2);  // b s h bf16, SP shard of TP 2
      NullObserver obs;
      RunStep(b, p, obs);
      const int64_t chunks = l.vpp;
      // Forward inputs come from prev except on virtual stage 0 (stage 0, chunk 0); output
      // gradients come from next except on the last virtual stage.
      const size_t recv_fwd = static_cast<size_t>(8 * chunks - (stage == 0 ? 8 : 0));
      const size_t recv_bwd = static_cast<size_t>(8 * chunks - (stage == 3 ? 8 : 0));
      size_t from_prev = 0, from_next = 0, to_prev = 0, to_next = 0;
      for (const auto& r : b.recvs) {
        EXPECT_EQ(r.bytes, p.p2p_bytes);
        (r.peer == p.prev_rank ? from_prev : from_next) += 1;
        EXPECT_EQ(r.tag % 2, r.peer == p.prev_rank ? 0 : 1);  // activations even, gradients odd
      }
      for (const auto& s : b.sends) (s.peer == p.prev_rank ? to_prev : to_next) += 1;
      EXPECT_EQ(from_prev, recv_fwd) << layout << " stage " << stage;
      EXPECT_EQ(from_next, recv_bwd) << layout << " stage " << stage;
      EXPECT_EQ(to_next, recv_bwd) << layout << " stage " << stage;  // mirror of the next's
      EXPECT_EQ(to_prev, recv_fwd) << layout << " stage " << stage;
      EXPECT_TRUE(b.live.empty());
      flops_all += b.gemm_flops;
    }
    // Over the stages, the step's GEMM FLOPs are the whole model's, micro-batch by micro-batch.
    const StepPlan whole = MakeStepPlan(ev, costmodel::ParseLayoutText("tp=2,sp=on,fsdp=4", "t"), e);
    double layer = 0;
    for (int i = 0; i < whole.layer.num_gemms; ++i) {
      const auto& g = whole.layer.gemms[static_cast<size_t>(i)];
      layer += 2.0 * static_cast<double>(g.m * g.n * g.k * g.batch) * 3.0;
    }
    layer += whole.layer.flash_fwd_flops * 3.5;
    const auto& h = whole.head.gemm;
    EXPECT_DOUBLE_EQ(flops_all, 8.0 * (32.0 * layer + 3.0 * 2.0 * static_cast<double>(h.m * h.n * h.k)))
        << layout;
  }
}

/// NCCL's point-to-point semantics over every rank's groups, in issue order (ranks are indexes):
/// a rank runs its groups one at a time; an operation completes when its peer's current group
/// holds the matching one, the k-th send from A to B pairing with B's k-th receive from A (NCCL
/// has no tags: the tags must agree, or the skeleton would pair the wrong messages); a group ends
/// when all its operations have. Returns "" when every group completes, else what stopped.
std::string RunRendezvous(const std::vector<std::vector<std::vector<P2pOp>>>& groups) {
  const size_t n = groups.size();
  std::vector<size_t> at(n, 0);
  std::vector<std::vector<char>> done(n);
  auto load = [&](size_t r) {
    if (at[r] < groups[r].size()) done[r].assign(groups[r][at[r]].size(), 0);
  };
  for (size_t r = 0; r < n; ++r) load(r);
  // The first undone operation of rank r's current group with `peer` in direction `send`.
  auto first = [&](size_t r, bool send, int peer) -> int {
    if (at[r] >= groups[r].size()) return -1;
    const auto& g = groups[r][at[r]];
    for (size_t i = 0; i < g.size(); ++i) {
      if (!done[r][i] && g[i].send == send && g[i].peer == peer) return static_cast<int>(i);
    }
    return -1;
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t a = 0; a < n; ++a) {
      if (at[a] >= groups[a].size()) continue;
      const auto& g = groups[a][at[a]];
      for (size_t i = 0; i < g.size(); ++i) {
        if (done[a][i] || !g[i].send || first(a, true, g[i].peer) != static_cast<int>(i)) continue;
        const size_t b = static_cast<size_t>(g[i].peer);
        const int j = first(b, false, static_cast<int>(a));
        if (j < 0) continue;
        const P2pOp& r = groups[b][at[b]][static_cast<size_t>(j)];
        if (r.tag != g[i].tag || r.bytes != g[i].bytes) {
          return "rank " + std::to_string(a) + "'s send (tag " + std::to_string(g[i].tag) + ") meets rank " +
                 std::to_string(b) + "'s receive (tag " + std::to_string(r.tag) + ")";
        }
        done[a][i] = done[b][static_cast<size_t>(j)] = 1;
        progress = true;
      }
    }
    for (size_t r = 0; r < n; ++r) {
      if (at[r] < groups[r].size() && std::all_of(done[r].begin(), done[r].end(), [](char d) { return d != 0; })) {
        ++at[r];
        load(r);
        progress = true;
      }
    }
  }
  for (size_t r = 0; r < n; ++r) {
    if (at[r] < groups[r].size()) {
      return "deadlock: rank " + std::to_string(r) + " waits in group " + std::to_string(at[r]) + " of " +
             std::to_string(groups[r].size());
    }
  }
  return "";
}

// The skeleton's pipeline sends and receives, run as NCCL runs them: every stage's groups,
// issued in program order, complete under rendezvous for 1F1B, interleaved (vpp 2 and 4) and
// ZB-H1 at several depths and micro-batch counts, with each pair of neighbours' messages in the
// same order on both sides. The same operations one per group deadlock, which is why they are
// grouped (and for the interleaved schedule, pairing each send with the next receive alone
// deadlocked too at pp 2 and at pp 4 with 8 or 12 micro-batches: Megatron-LM's four-operation
// groups are what let it run).
// Megatron's blocking exchanges (Workload::pp_p2p_blocking, pp_p2p_interleaved): every group
// goes to the backend as blocking, only under the schedules the framework blocks; with Megatron-
// LM 2022's scatter-gather (no SP) each rank sends 1/t of the activation and all-gathers every
// tensor it receives over TP on the compute stream, the bytes the evaluator prices.
TEST(SkeletonPipeline, BlockingExchangesWaitWholeAndGatherWhatTheyScattered) {
  struct C {
    const char* layout;
    bool blocking_1f1b, blocking_interleaved, scatter;
    bool expect_blocking, expect_gather;
  };
  for (const C& c : std::vector<C>{{"tp=2,sp=on,pp=4,fsdp=1,recipe=megatron", true, false, false, true, false},
                                   {"tp=2,sp=on,pp=4,vpp=2,fsdp=1,recipe=megatron", true, false, false, false, false},
                                   {"tp=2,sp=off,pp=4,vpp=2,fsdp=1,recipe=megatron", true, true, true, true, true},
                                   {"tp=2,sp=on,pp=4,vpp=2,fsdp=1,recipe=megatron", true, true, true, true, false},
                                   {"tp=2,sp=off,pp=4,fsdp=1,recipe=megatron", false, false, false, false, false}}) {
    const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
    costmodel::Workload w = Batch(8, 8, 1024);
    w.pp_p2p_blocking = c.blocking_1f1b;
    w.pp_interleaved_blocking = c.blocking_interleaved;
    w.pp_scatter_gather = c.scatter;
    const costmodel::Layout l = Resolved(c.layout, w);
    const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
    const costmodel::Evaluation e = ev.Evaluate(l);
    ASSERT_TRUE(e.feasible()) << c.layout;
    const double whole = 2.0 * 1024 * 4096;  // b s h bf16
    for (int64_t stage = 0; stage < 4; ++stage) {
      CountingBackend b;
      const StepPlan p = RunStage(ev, l, e, stage, b);
      ASSERT_FALSE(b.groups.empty());
      EXPECT_EQ(b.blocking_groups, c.expect_blocking ? static_cast<int>(b.groups.size()) : 0) << c.layout;
      // SP or scatter-gather: half the activation goes over the wire; else all of it.
      EXPECT_EQ(p.p2p_bytes, l.sp || c.expect_gather ? whole / 2 : whole) << c.layout;
      // The TP all-gathers of whole tensors beyond the layers' own (SP's gathers are that size too).
      StepPlan plain = p;
      plain.p2p_gather_bytes = 0;
      CountingBackend b0;
      b0.Prepare(WorkspaceFor(plain));
      NullObserver obs;
      RunStep(b0, plain, obs);
      const double gathers = b.counts[{Coll::kAllGather, GroupKind::kTp, whole}] -
                             b0.counts[{Coll::kAllGather, GroupKind::kTp, whole}];
      EXPECT_EQ(gathers, c.expect_gather ? static_cast<double>(b.recvs.size()) : 0.0) << c.layout << " stage " << stage;
      EXPECT_EQ(p.p2p_gather_bytes, c.expect_gather ? whole : 0.0) << c.layout;
    }
  }
}

TEST(SkeletonPipeline, P2pGroupsNeitherDeadlockNorReorderUnderRendezvous) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  int runs = 0;
  for (int pp : {2, 4}) {
    for (const char* sched : {"1f1b", "interleaved", "interleaved4", "zb-h1"}) {
      for (int batch : {4, 8, 12}) {
        const std::string s = sched;
        const std::string layout = "tp=2,sp=on,fsdp=1,recipe=megatron,pp=" + std::to_string(pp) + ",schedule=" +
                                   (s == "interleaved4" ? "interleaved" : s) +
                                   (s == "interleaved" ? ",vpp=2" : s == "interleaved4" ? ",vpp=4" : "");
        const costmodel::Workload w = Batch(2 * pp, batch, 1024);
        const costmodel::Layout l = Resolved(layout, w);
        const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
        const costmodel::Evaluation e = ev.Evaluate(l);
        if (!e.feasible()) continue;  // e.g. interleaved with fewer micro-batches than stages
        std::vector<std::vector<std::vector<P2pOp>>> groups, singles;
        for (int64_t stage = 0; stage < pp; ++stage) {
          StepPlan p = MakeStepPlan(ev, l, e, stage);
          p.prev_rank = static_cast<int>((stage + pp - 1) % pp);  // the interleaved schedule wraps
          p.next_rank = static_cast<int>((stage + 1) % pp);
          CountingBackend b;
          b.Prepare(WorkspaceFor(p));
          NullObserver obs;
          RunStep(b, p, obs);
          for (const auto& g : b.groups) {
            EXPECT_LE(g.size(), 4u);  // two sends and two receives at most (interleaved)
            EXPECT_LE(std::count_if(g.begin(), g.end(), [](const P2pOp& o) { return !o.send; }), 2);
          }
          groups.push_back(b.groups);
          singles.emplace_back();
          for (const auto& g : b.groups) {
            for (const P2pOp& o : g) singles.back().push_back({o});
          }
        }
        EXPECT_EQ(RunRendezvous(groups), "") << layout << " batch " << batch;
        if (pp == 4 && batch == 8) {
          EXPECT_NE(RunRendezvous(singles).find("deadlock"), std::string::npos) << layout;
        }
        ++runs;
      }
    }
  }
  EXPECT_GE(runs, 15);
}

// Micro-batch-level recompute: stage 0 of 1F1B pp 4, 8 micro-batches, has a window of 4
// (3 warm-up forwards + 1); with N = 1 its forwards 0 and 4 keep all activations, so their
// backwards skip the recompute: a quarter of full recompute's extra GEMM FLOPs is not run, and
// the stage holds more at its peak.
// The tied embedding's gradient all-reduce runs once per step on the first and the last stage,
// over the embedding group, at the bytes the evaluator prices (kTiedGradReduce); the stages
// between run none.
TEST(SkeletonPipeline, TiedEmbeddingGradientsAreAllReducedByTheFirstAndLastStage) {
  const costmodel::Model m = costmodel::ResolveModel("gpt-22b");
  const costmodel::Workload w = Batch(16, 16, 2048);
  const costmodel::Layout l = Resolved("tp=4,sp=on,pp=4,fsdp=1,recipe=megatron,recompute=full", w);
  const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-a100-80g"), w);
  const costmodel::Evaluation e = ev.Evaluate(l);
  double priced = 0;
  for (int i = 0; i < e.num_collectives; ++i) {
    const auto& u = e.collectives[static_cast<size_t>(i)];
    if (u.purpose == costmodel::Purpose::kTiedGradReduce) priced = u.bytes;
  }
  ASSERT_GT(priced, 0.0);
  for (int64_t stage = 0; stage < 4; ++stage) {
    CountingBackend b;
    RunStage(ev, l, e, stage, b);
    double runs = 0;
    for (const auto& [key, n] : b.counts) {
      if (std::get<1>(key) != GroupKind::kEmbedding) continue;
      EXPECT_EQ(std::get<0>(key), Coll::kAllReduce);
      EXPECT_EQ(std::get<2>(key), priced);
      runs += n;
    }
    EXPECT_EQ(runs, stage == 0 || stage == 3 ? 1.0 : 0.0) << "stage " << stage;
  }
}

TEST(SkeletonPipeline, MicroBatchLevelRecomputeSkipsTheKeptMicroBatchesRecompute) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  const costmodel::Workload w = Batch(8, 8, 1024);
  const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
  auto run = [&](const std::string& text, int64_t stage) {
    const costmodel::Layout l = Resolved(text, w);
    const StepPlan p = MakeStepPlan(ev, l, ev.Evaluate(l), stage);
    CountingBackend b;
    b.Prepare(WorkspaceFor(p));
    NullObserver obs;
    RunStep(b, p, obs);
    EXPECT_TRUE(b.live.empty()) << text;
    return std::pair{b.gemm_flops, b.peak};
  };
  const std::string base = "tp=2,sp=on,pp=4,fsdp=1,recipe=megatron,recompute=";
  const auto none = run(base + "none", 0), full = run(base + "full", 0);
  const auto part = run(base + "full,partial_ckpt_mbs=1", 0);
  EXPECT_DOUBLE_EQ(part.first, full.first - 0.25 * (full.first - none.first));
  EXPECT_GT(part.second, full.second);
  EXPECT_LT(part.second, none.second);
  // The last stage's window is 1: every micro-batch keeps all, as with no recompute.
  EXPECT_DOUBLE_EQ(run(base + "full,partial_ckpt_mbs=1", 3).first, run(base + "none", 3).first);
}

// Expert parallelism: the all-to-alls of every MoE layer (dispatch and combine, forward,
// backward and full recompute's forward again), the TP all-gather / reduce-scatter of the routed
// copies in place of the hidden states' around the MLP, the grouped expert GEMMs, the permute
// kernels, and the experts' ZeRO traffic over the expert-data-parallel group: exactly what
// Evaluator::Evaluate prices for Mixtral-8x7B.
TEST(SkeletonExperts, RunsExactlyWhatTheModelPricesForMixtral) {
  const costmodel::Model m = costmodel::ResolveModel("mixtral-8x7b");
  const costmodel::Workload w = Batch(16, 32, 2048);
  for (const char* layout :
       {"tp=1,fsdp=16,ep=8", "tp=2,sp=on,fsdp=8,ep=4,recompute=full",
        "tp=2,sp=on,fsdp=4,ep=2,replicate=2,zero=2", "tp=1,fsdp=16,ep=8,zero=1,recipe=megatron",
        "tp=4,sp=on,fsdp=4,ep=4", "tp=2,sp=on,fsdp=8", "tp=2,sp=off,fsdp=8,recompute=selective"}) {
    ExpectStepMatchesEvaluation(m, w, layout);
  }
}

// The sort of the received copies by local expert (kernels.cc moe_sort) runs in the MLP block,
// forward and backward, twice each per MoE layer, and only where a rank holds several experts.
TEST(SkeletonExperts, SortByLocalExpertRunsInTheMlpBlock) {
  class Names final : public OpObserver {
   public:
    void OnOp(std::string_view op, std::string_view what) override {
      if (op == "memory" && what.find("moe_sort") != std::string_view::npos) names.emplace_back(what);
    }
    std::vector<std::string> names;
  };
  const costmodel::Model m = costmodel::ResolveModel("mixtral-8x7b");
  const costmodel::Workload w = Batch(16, 16, 1024);
  auto sorts = [&](const char* layout) {
    const StepPlan p = PlanOf(m, w, layout);
    CountingBackend b;
    b.Prepare(WorkspaceFor(p));
    Names obs;
    RunStep(b, p, obs);
    return obs.names;
  };
  const std::vector<std::string> two = sorts("tp=1,fsdp=16,ep=4");  // 2 experts per rank
  ASSERT_FALSE(two.empty());
  for (const std::string& n : two) EXPECT_NE(n.find(" mlp moe_sort"), std::string::npos) << n;
  // 32 layers, 1 micro-batch per rank: 2 forward and 2 backward launches each.
  EXPECT_EQ(two.size(), 32u * 4u);
  EXPECT_TRUE(sorts("tp=1,fsdp=16,ep=8").empty());  // one expert per rank
}

// Megatron-Core's SequentialMLP (Workload::moe_sequential): a rank's experts run one after
// another, so the skeleton issues one expert GEMM per local expert at batch 1 where the grouped
// GEMM is one call at batch 2, the same FLOPs, and benchmarks the batch-1 shape it ran.
TEST(SkeletonExperts, SequentialExpertsRunOneGemmPerExpert) {
  class Count final : public OpObserver {
   public:
    void OnOp(std::string_view op, std::string_view what) override {
      if (op == "gemm" && what.find(" mlp_in forward") != std::string_view::npos) ++mlp_in;
    }
    int mlp_in = 0;
  };
  const costmodel::Model m = costmodel::ResolveModel("mixtral-8x7b");
  costmodel::Workload w = Batch(16, 16, 1024);
  auto run = [&](bool sequential) {
    w.moe_sequential = sequential;
    const StepPlan p = PlanOf(m, w, "tp=1,fsdp=16,ep=4");  // 2 experts per rank
    CountingBackend b;
    b.Prepare(WorkspaceFor(p));
    Count obs;
    RunStep(b, p, obs);
    bool batch1 = false, batch2 = false;
    for (const GemmCase& c : GemmCases(p)) {
      if (c.name != "mlp_in") continue;
      batch1 |= c.batch == 1;
      batch2 |= c.batch == 2;
    }
    return std::tuple{obs.mlp_in, b.gemm_flops, batch1, batch2};
  };
  const auto [seq_calls, seq_flops, seq_b1, seq_b2] = run(true);
  const auto [grp_calls, grp_flops, grp_b1, grp_b2] = run(false);
  EXPECT_EQ(grp_calls, 32);  // 32 layers, 1 micro-batch per rank
  EXPECT_EQ(seq_calls, 64);  // one per local expert
  EXPECT_DOUBLE_EQ(seq_flops, grp_flops);
  EXPECT_TRUE(seq_b1 && !seq_b2);
  EXPECT_TRUE(grp_b2 && !grp_b1);
  w.moe_sequential = true;
  ExpectStepMatchesEvaluation(m, w, "tp=2,sp=on,fsdp=8,ep=4,recompute=full");
}

// A model with a dense first layer (Moe::dense_layers) and a shared expert: the dense layer runs
// its own kernels and keeps the hidden-state TP pair; the MoE layers keep it too (the shared
// expert needs the gathered hidden states) besides the routed copies' gather and scatter.
TEST(SkeletonExperts, DenseLayersAndSharedExperts) {
  costmodel::Model m = costmodel::ResolveModel("mixtral-8x7b");
  m.moe.dense_layers = {0};
  m.moe.shared_experts = 1;
  m.moe.shared_expert_ffn = 4096;
  const costmodel::Workload w = Batch(8, 16, 1024);
  for (const char* layout : {"tp=2,sp=on,fsdp=4,ep=4", "tp=1,fsdp=8,ep=2,recompute=full"}) {
    ExpectStepMatchesEvaluation(m, w, layout);
  }
  // The skeleton ran the dense layer's MLP: its GEMM shape is among the benchmarked ones.
  const StepPlan p = PlanOf(m, w, "tp=1,fsdp=8,ep=2");
  ASSERT_EQ(p.moe_layer.size(), 32u);
  EXPECT_FALSE(p.moe_layer[0]);
  EXPECT_TRUE(p.moe_layer[1]);
  bool dense_mlp = false;
  for (const GemmCase& c : GemmCases(p)) dense_mlp |= c.name == "mlp_in" && c.batch == 1 && c.n == 2 * 14336;
  EXPECT_TRUE(dense_mlp);
  EXPECT_EQ(p.expert_group, GroupKind::kEdp);
  EXPECT_GT(p.ep_dispatch_bytes, 0.0);
}

// An MoE model under a pipeline: every stage runs its layers' exchanges (dispatch and combine,
// forward and backward) once per micro-batch, and the last stage, whose per-step traffic the
// evaluator records, reduces and gathers the dense part over FSDP and its experts over the
// expert-data-parallel group, at the evaluator's sizes.
TEST(SkeletonExperts, PipelineStagesRunTheirLayersExchanges) {
  const costmodel::Model m = costmodel::ResolveModel("mixtral-8x7b");
  const costmodel::Workload w = Batch(16, 16, 1024);
  for (const char* layout : {"tp=2,sp=on,pp=4,fsdp=2,ep=2,zero=1,recipe=megatron",
                             "tp=1,pp=4,vpp=2,fsdp=4,ep=2,zero=1,recipe=megatron",
                             "tp=2,sp=on,pp=4,schedule=zb-h1,fsdp=2,ep=2,zero=1,recipe=megatron"}) {
    const costmodel::Layout l = Resolved(layout, w);
    const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
    const costmodel::Evaluation e = ev.Evaluate(l);
    ASSERT_EQ(e.reasons & ~costmodel::kReasonMemory, 0u) << layout;
    std::map<std::tuple<Coll, GroupKind, double>, double> expected;  // EP and data-parallel
    for (int i = 0; i < e.num_collectives; ++i) {
      const auto& u = e.collectives[static_cast<size_t>(i)];
      if (u.purpose == costmodel::Purpose::kPpP2p || u.purpose == costmodel::Purpose::kTp) continue;
      const GroupKind g = KindOf(u, l);
      if (g != GroupKind::kTp) expected[{u.op, g, u.bytes}] += u.count_per_step;
    }
    for (int64_t stage = 0; stage < 4; ++stage) {
      StepPlan p = MakeStepPlan(ev, l, e, stage);
      p.prev_rank = 0;
      p.next_rank = 1;
      ASSERT_EQ(p.moe_layer.size(), 8u);
      EXPECT_EQ(std::count(p.moe_layer.begin(), p.moe_layer.end(), true), 8);
      CountingBackend b;
      b.Prepare(WorkspaceFor(p));
      NullObserver obs;
      RunStep(b, p, obs);
      const double a2a = b.counts[{Coll::kAllToAll, GroupKind::kEp, p.ep_dispatch_bytes}];
      // Dispatch and combine, forward and backward, per layer and micro-batch.
      EXPECT_EQ(a2a, static_cast<double>(p.micro_batches * p.layers * 4)) << layout << " stage " << stage;
      EXPECT_EQ(p.micro_batches, l.fsdp == 2 ? 8 : 4);
      if (stage == 3) {
        std::map<std::tuple<Coll, GroupKind, double>, double> ran;
        for (const auto& [key, n] : b.counts) {
          if (std::get<1>(key) != GroupKind::kTp) ran[key] = n;
        }
        EXPECT_EQ(ran, expected) << layout;
      }
      EXPECT_TRUE(b.live.empty());
    }
  }
}

// Multi-head latent attention (DeepSeek-V3): its down and up projections run in the attention
// block, the fused core after kv_up with the heads' query/key (192) and value (128) widths, its
// backward 2.5x its forward as priced; 3 dense layers, a shared expert, 256 routed experts.
TEST(SkeletonExperts, DeepSeekV3WithLatentAttention) {
  const costmodel::Model m = costmodel::ResolveModel("deepseek-v3");
  const costmodel::Workload w = Batch(64, 64, 1024);
  for (const char* layout : {"tp=1,fsdp=64,ep=8", "tp=2,sp=on,fsdp=32,ep=8,recompute=full"}) {
    ExpectStepMatchesEvaluation(m, w, layout);
  }
  const StepPlan p = PlanOf(m, w, "tp=1,fsdp=64,ep=8");
  const std::vector<GemmCase> core = AttentionForwardGemms(p);
  ASSERT_EQ(core.size(), 2u);
  EXPECT_EQ(core[0].k, 192);  // scores over qk_nope + qk_rope
  EXPECT_EQ(core[1].n, 128);  // context over v_head_dim
  EXPECT_EQ(AttentionRecomputeGemm(p).k, 160);
}

// With a dense first layer (Moe::dense_layers) a stage runs its own layers' kinds: stage 0 its
// dense layer 0 and 7 MoE layers, the others 8 MoE layers (contiguous stages, as the memory model
// counts them); the GEMM FLOPs over the stages are the whole model's.
TEST(SkeletonExperts, PipelineStagesRunTheirOwnDenseAndMoeLayers) {
  costmodel::Model m = costmodel::ResolveModel("mixtral-8x7b");
  m.moe.dense_layers = {0};
  const costmodel::Workload w = Batch(16, 16, 1024);
  for (const char* layout : {"tp=2,sp=on,pp=4,fsdp=2,ep=2,zero=1,recipe=megatron",
                             "tp=2,sp=on,pp=4,schedule=zb-h1,fsdp=2,ep=2,zero=1,recipe=megatron"}) {
    const costmodel::Layout l = Resolved(layout, w);
    const costmodel::Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
    const costmodel::Evaluation e = ev.Evaluate(l);
    ASSERT_EQ(e.reasons & ~costmodel::kReasonMemory, 0u) << layout;
    double flops = 0, whole = 0;
    // Every stage benchmarks the same GEMMs and as many bandwidth kernels (the benchmarks
    // synchronise all ranks per case; the optimizer's bytes are the stage's own).
    auto shapes = [](const StepPlan& p) {
      std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> out;
      for (const GemmCase& c : GemmCases(p)) out.emplace_back(c.m, c.n, c.k, c.batch);
      out.emplace_back(static_cast<int64_t>(MemoryCases(p).size()), 0, 0, 0);
      return out;
    };
    const auto stage0 = shapes(MakeStepPlan(ev, l, e, 0));
    for (int64_t stage = 0; stage < 4; ++stage) {
      StepPlan p = MakeStepPlan(ev, l, e, stage);
      EXPECT_EQ(shapes(p), stage0) << layout << " stage " << stage;
      p.prev_rank = 0;
      p.next_rank = 1;
      ASSERT_EQ(p.moe_layer.size(), 8u);
      EXPECT_EQ(p.moe_layer[0], stage != 0) << layout << " stage " << stage;
      const int64_t routed = std::count(p.moe_layer.begin(), p.moe_layer.end(), true);
      CountingBackend b;
      b.Prepare(WorkspaceFor(p));
      NullObserver obs;
      RunStep(b, p, obs);
      EXPECT_EQ((b.counts[{Coll::kAllToAll, GroupKind::kEp, p.ep_dispatch_bytes}]),
                static_cast<double>(p.micro_batches * routed * 4)) << layout << " stage " << stage;
      EXPECT_TRUE(b.live.empty());
      flops += b.gemm_flops;
      if (stage == 0) {
        for (int64_t i = 0; i < 32; ++i) whole += LayerFlops(i == 0 ? p.dense_layer : p.layer);
        const auto& h = p.head.gemm;
        whole = static_cast<double>(p.micro_batches) * (whole + 3.0 * 2.0 * static_cast<double>(h.m * h.n * h.k));
      }
    }
    EXPECT_DOUBLE_EQ(flops, whole) << layout;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, Skeleton,
    ::testing::Values(Case{"Tp2SpFsdp2Zero3", "tp=2,sp=on,fsdp=2", 4, 8, 2048, true},
                      Case{"Tp4Zero2FullRecompute", "tp=4,sp=off,fsdp=2,zero=2,recompute=full,mbs=2", 8, 16, 2048, true},
                      Case{"HsdpSelectiveUnfused", "tp=2,sp=on,fsdp=2,replicate=2,recompute=selective", 8, 16, 1024, false},
                      Case{"Zero1MegatronReplicas", "tp=1,fsdp=4,replicate=2,zero=1,recipe=megatron", 8, 8, 1024, true},
                      Case{"Tp4SpMegatronSelective", "tp=4,sp=on,fsdp=2,zero=1,recipe=megatron,recompute=selective", 8, 16, 2048, true},
                      Case{"Tp8Only", "tp=8,sp=on,fsdp=1", 8, 4, 4096, true}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace meshplan::validate

// The GEMM benchmarks' operands (validate/operands.h): bf16 bit patterns of N(0, 1) draws, the
// same for a seed, never the zeros that ran an H100's chain 21% faster at 155 W less.
TEST(Operands, RandomBf16IsStandardNormalRepeatableAndNotZero) {
  const size_t n = 1 << 20;
  const std::vector<uint16_t> a = meshplan::validate::RandomBf16(n, 1);
  ASSERT_EQ(a.size(), n);
  EXPECT_EQ(a, meshplan::validate::RandomBf16(n, 1));
  EXPECT_NE(a, meshplan::validate::RandomBf16(n, 2));
  double sum = 0, sq = 0;
  size_t zeros = 0;
  for (uint16_t v : a) {
    const uint32_t bits = static_cast<uint32_t>(v) << 16;  // bf16 -> float: the upper half
    float f = 0;
    std::memcpy(&f, &bits, sizeof f);
    ASSERT_TRUE(std::isfinite(f));
    ASSERT_LT(std::fabs(f), 7.0f);  // a 7-sigma draw in 2^20 has probability ~1e-5
    sum += f;
    sq += static_cast<double>(f) * f;
    zeros += v == 0 || v == 0x8000;
  }
  const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.01);  // standard error 1/1024
  // Truncating a float to bf16 moves it toward zero by up to 2^-8 of its size: sd just under 1.
  EXPECT_NEAR(sd, 0.998, 0.01);
  EXPECT_LT(zeros, n / 100000);  // a draw of exactly 0.0f happens (1 here); all-zero buffers fail
  // The first draw, by hand: std::mt19937(1) through std::normal_distribution<float> is
  // implementation-defined, so pin only its bf16 conversion: the float's upper 16 bits.
  const float first = [] {
    std::mt19937 gen(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    return normal(gen);
  }();
  uint32_t first_bits = 0;
  std::memcpy(&first_bits, &first, sizeof first_bits);
  EXPECT_EQ(a[0], static_cast<uint16_t>(first_bits >> 16));
}
