// Tests of the step simulator (sim/): the task graph, the event engine and the trace.
// Every expected value is computed here from the analytical evaluation's parts.
#include <algorithm>
#include <cmath>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "sim/simulate.h"
#include "sim/step_graph.h"

namespace meshplan::sim {
namespace {

struct Case {
  std::string name;
  std::string model;
  int64_t gpus;
  int64_t global_batch;
  std::string layout;
  bool megatron_buckets = false;  // Workload::dp_buckets_megatron_core
};

struct Fixture {
  costmodel::Evaluator ev;
  costmodel::Layout l;
  costmodel::Evaluation e;
};

Fixture Make(const std::string& model, int64_t gpus, int64_t gb, const std::string& layout,
           double overlap_slowdown = -1, bool reduce_after_backward = false,
           bool gather_before_forward = false, bool megatron_buckets = false) {
  costmodel::Workload w;
  w.dp_buckets_megatron_core = megatron_buckets;
  w.dp_reduce_after_backward = reduce_after_backward;
  w.dp_gather_after_step = gather_before_forward;
  w.gpus = gpus;
  w.global_batch = gb;
  w.seq = 4096;
  costmodel::Layout l = costmodel::ParseLayoutText(layout, "--layout");
  costmodel::ResolveLayout(l, w, "--layout");
  costmodel::Cluster c = costmodel::ResolveCluster("dgx-h100");
  if (overlap_slowdown > 0) c.efficiency.overlap_slowdown = overlap_slowdown;
  costmodel::Evaluator ev(costmodel::ResolveModel(model), c, w);
  costmodel::Evaluation e = ev.Evaluate(l);
  return Fixture{ev, l, e};
}
Fixture Make(const Case& c) {
  return Make(c.model, c.gpus, c.global_batch, c.layout, -1, false, false, c.megatron_buckets);
}

SimResult Simulate(const Fixture& s, int depth = 1, bool overlap = true) {
  SimOptions o;
  o.prefetch_depth = depth;
  o.overlap = overlap;
  return SimulateStep(s.ev, s.l, s.e, o);
}

double Layers(const Fixture& s) { return static_cast<double>(s.ev.model().layers); }

/// Everything in the step, nothing hidden: the analytical parts summed by hand.
double SerialSum(const Fixture& s) {
  const costmodel::StepComponents& p = s.e.parts;
  const double M = p.micro_batches, L = Layers(s);
  double sum = M * (L * (p.layer_fwd_compute_s + p.layer_bwd_compute_s + p.layer_fwd_tp_s +
                         p.layer_bwd_tp_s) +
                    p.head_fwd_s + p.head_bwd_s);
  if (p.per_step_zero1) {
    sum += p.zero1_ag_s + p.zero1_rs_s;
  } else {
    // FSDP2's embedding is gathered again for its backward under ZeRO-3 (split_outer).
    const double outer_gathers = p.split_outer && p.gather_in_backward ? 2.0 : 1.0;
    sum += M * (L * p.fsdp_ag_layer_s * (p.gather_in_backward ? 2.0 : 1.0) + L * p.fsdp_rs_layer_s +
                outer_gathers * p.fsdp_ag_outer_s + p.fsdp_rs_outer_s + p.fsdp_ag_head_s + p.fsdp_rs_head_s);
  }
  return sum + p.dp_allreduce_s + p.optimizer_s;
}

void ExpectRelNear(double actual, double expected, double rel) {
  EXPECT_NEAR(actual, expected, rel * std::max(1e-30, std::abs(expected)))
      << "actual " << actual << " expected " << expected;
}

// llama2-7b on DGX H100, seq 4096: one layout per feature the simulator must handle.
const std::vector<Case> kCases = {
    {"FsdpZero3", "llama2-7b", 256, 256, "tp=1,fsdp=256,zero=3,mbs=1"},
    {"TpSpFsdp", "llama2-7b", 256, 256, "tp=8,sp=on,fsdp=32,zero=3,mbs=1"},
    {"TpNoSpHsdp", "llama2-7b", 256, 256, "tp=4,fsdp=16,replicate=4,zero=3"},
    {"Hsdp", "llama2-7b", 256, 256, "tp=1,fsdp=8,replicate=32,zero=3"},
    {"Zero1", "llama2-7b", 64, 128, "tp=1,fsdp=64,zero=1"},
    {"Zero1HsdpMegatron", "llama2-7b", 256, 256, "tp=8,fsdp=8,replicate=4,zero=1,recipe=megatron"},
    {"Zero2", "llama2-7b", 64, 128, "tp=1,fsdp=64,zero=2"},
    {"FullRecompute", "llama2-7b", 256, 512, "tp=8,sp=on,fsdp=32,recompute=full"},
    {"SelectiveRecompute", "llama2-13b", 128, 256, "tp=2,sp=on,fsdp=64,recompute=selective"},
    {"GradAccum", "llama2-7b", 64, 512, "tp=1,fsdp=64,zero=3,mbs=1"},
    {"DdpOnly", "llama2-7b", 64, 64, "tp=8,fsdp=1,replicate=8"},
    // Megatron-Core's buckets: 7 over 1,024 ranks (pieces of 4-5 layers), 41 over 8 replicas.
    {"Zero1MegatronBuckets", "llama2-7b", 1024, 1024, "tp=1,fsdp=1024,zero=1,recipe=megatron", true},
    {"DdpMegatronBuckets", "llama2-7b", 64, 64, "tp=1,fsdp=1,replicate=64,recipe=megatron", true},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " (" << c.layout << ")"; }

class SimLayouts : public ::testing::TestWithParam<Case> {};

TEST_P(SimLayouts, WithoutOverlapStepIsTheAnalyticalSum) {
  const Fixture s = Make(GetParam());
  const SimResult r = Simulate(s, 1, /*overlap=*/false);
  ExpectRelNear(r.step_s, SerialSum(s), 1e-9);
}

TEST_P(SimLayouts, NoStreamRunsTwoTasksAtOnce) {
  const Fixture s = Make(GetParam());
  for (bool overlap : {true, false}) {
    const SimResult r = Simulate(s, 1, overlap);
    std::map<Stream, std::vector<std::pair<double, double>>> by_stream;
    for (const TaskRecord& t : r.tasks_run) by_stream[t.stream].emplace_back(t.start_s, t.end_s);
    for (auto& [stream, spans] : by_stream) {
      std::sort(spans.begin(), spans.end());
      for (size_t i = 1; i < spans.size(); ++i) {
        ASSERT_GE(spans[i].first, spans[i - 1].second) << ToString(stream) << " task " << i;
      }
    }
  }
}

TEST_P(SimLayouts, EveryDependencyIsRespected) {
  const Fixture s = Make(GetParam());
  const StepGraph g = BuildStepGraph(s.ev, s.l, s.e, 1);
  const SimResult r = Simulate(s);
  ASSERT_EQ(r.tasks_run.size(), g.tasks().size());
  ASSERT_GT(g.num_edges(), 0);
  for (const auto& [from, to] : g.Edges()) {
    ASSERT_LT(from, to);  // issue order is a topological order
    ASSERT_GE(r.tasks_run[static_cast<size_t>(to)].start_s,
              r.tasks_run[static_cast<size_t>(from)].end_s)
        << TaskName(r.tasks_run[static_cast<size_t>(from)]) << " -> "
        << TaskName(r.tasks_run[static_cast<size_t>(to)]);
  }
  // Durations as given, except compute stretched by at most the overlap slowdown.
  const double tol = 1e-12 * r.step_s;
  for (size_t i = 0; i < r.tasks_run.size(); ++i) {
    const TaskRecord& t = r.tasks_run[i];
    const double want = g.tasks()[i].duration_s;
    const bool slowable = t.kind == TaskKind::kCompute || t.kind == TaskKind::kOptimizer;
    ASSERT_GE(t.start_s, 0.0);
    ASSERT_GE(t.end_s - t.start_s, want - tol) << TaskName(t);
    ASSERT_LE(t.end_s - t.start_s, want * (slowable ? s.e.parts.overlap_slowdown : 1.0) + tol)
        << TaskName(t);
  }
}

TEST_P(SimLayouts, MemoryNeverNegativeAndBackToStaticAfterTheStep) {
  const Fixture s = Make(GetParam());
  const SimResult r = Simulate(s);
  ASSERT_FALSE(r.memory.empty());
  ExpectRelNear(r.static_bytes, s.e.parts.static_bytes, 0);
  double prev_t = 0, peak = r.static_bytes;
  for (const MemoryEvent& m : r.memory) {
    ASSERT_GE(m.time_s, prev_t);
    ASSERT_GE(m.total_bytes, r.static_bytes * (1 - 1e-12));
    ASSERT_GE(m.total_bytes, 0.0);
    prev_t = m.time_s;
    peak = std::max(peak, m.total_bytes);
  }
  ExpectRelNear(r.memory.back().total_bytes, r.static_bytes, 1e-9);
  EXPECT_EQ(r.peak_bytes, peak);
  EXPECT_GE(r.peak_time_s, 0.0);
  EXPECT_LE(r.peak_time_s, r.step_s);
}

TEST_P(SimLayouts, PeakHoldsOneMicroBatchOfActivations) {
  const Fixture s = Make(GetParam());
  const costmodel::StepComponents& p = s.e.parts;
  const SimResult r = Simulate(s);
  EXPECT_GE(r.peak_bytes * (1 + 1e-12),
            p.static_bytes + Layers(s) * p.layer_activation_bytes + p.outer_activation_bytes);
}

TEST_P(SimLayouts, StepIsComputePlusExposedCommunicationPlusOptimizer) {
  const Fixture s = Make(GetParam());
  for (bool overlap : {true, false}) {
    const SimResult r = Simulate(s, 1, overlap);
    ExpectRelNear(r.compute_s + r.exposed_tp_comm_s + r.exposed_fsdp_comm_s +
                      r.exposed_dp_comm_s + r.optimizer_s,
                  r.step_s, 1e-9);
    EXPECT_EQ(r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kCompute)], 0.0);
    EXPECT_EQ(r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kOptimizer)], 0.0);
  }
}

TEST_P(SimLayouts, OverlappedStepLiesBetweenComputeAndTheSerialSum) {
  const Fixture s = Make(GetParam());
  const SimResult r = Simulate(s);
  const SimResult serial = Simulate(s, 1, false);
  EXPECT_GE(r.step_s, r.compute_s);
  EXPECT_LE(r.step_s, serial.step_s * (1 + 1e-12));
}

TEST_P(SimLayouts, TpCollectivesAreExposedAsInTheAnalyticalModel) {
  const Fixture s = Make(GetParam());
  const SimResult r = Simulate(s);
  ExpectRelNear(r.exposed_tp_comm_s, s.e.time.exposed_tp_comm_s, 1e-9);
  ExpectRelNear(r.optimizer_s, s.e.time.optimizer_s, 1e-12);
}

std::string CaseName(const ::testing::TestParamInfo<Case>& i) { return i.param.name; }
INSTANTIATE_TEST_SUITE_P(Layouts, SimLayouts, ::testing::ValuesIn(kCases), CaseName);

// Activation offload at two resolutions: the offloaded layers hold nothing on the GPU, one
// layer's worth is the staging buffer, and the rest of the activations (final norm input, the
// logits of the loss) are outside the layers. The simulated peak is the analytical one exactly,
// and memory never dips below the static states (before the staging buffer was counted, the
// outside-the-layers term came out negative: 39 layers' worth below zero).
TEST(SimulateStep, ActivationOffloadPeakIsTheAnalyticalOne) {
  for (const char* layout : {"tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,mbs=4,cpu_offload_layers=40",
                             "tp=8,sp=on,fsdp=8,zero=1,recipe=megatron,mbs=4,cpu_offload_layers=70"}) {
    const Fixture s = Make("llama3-70b", 64, 64, layout);
    ASSERT_GT(s.e.parts.outer_activation_bytes, 0.0) << layout;
    const SimResult r = Simulate(s);
    ExpectRelNear(r.peak_bytes, s.e.memory.peak_bytes, 1e-9);
    for (const MemoryEvent& m : r.memory) ASSERT_GE(m.total_bytes, r.static_bytes * (1 - 1e-12)) << layout;
  }
}

TEST(SimulateStep, WithoutOverlapEveryCollectiveIsExposed) {
  const Fixture s = Make("llama2-7b", 256, 256, "tp=1,fsdp=8,replicate=32,zero=3");
  const costmodel::StepComponents& p = s.e.parts;
  const SimResult r = Simulate(s, 1, false);
  const double L = Layers(s);
  ASSERT_TRUE(p.split_outer);
  ExpectRelNear(r.exposed_fsdp_comm_s,
                L * (2 * p.fsdp_ag_layer_s + p.fsdp_rs_layer_s) + 2 * p.fsdp_ag_outer_s + p.fsdp_rs_outer_s +
                    p.fsdp_ag_head_s + p.fsdp_rs_head_s,
                1e-9);
  ExpectRelNear(r.exposed_dp_comm_s, p.dp_allreduce_s, 1e-9);
}

TEST(SimulateStep, WithoutSlowdownComputeIsNeverStretched) {
  const Fixture s = Make("llama2-7b", 256, 512, "tp=8,sp=on,fsdp=32", /*overlap_slowdown=*/1.0);
  const costmodel::StepComponents& p = s.e.parts;
  const SimResult r = Simulate(s);
  // Layer compute plus the head's compute (head_*_s less the head's TP collectives, which are
  // the analytical TP total less the layers' TP collectives).
  const double M = p.micro_batches, L = Layers(s);
  const double head_tp = s.e.time.exposed_tp_comm_s - M * L * (p.layer_fwd_tp_s + p.layer_bwd_tp_s);
  const double unstretched =
      M * (L * (p.layer_fwd_compute_s + p.layer_bwd_compute_s) + p.head_fwd_s + p.head_bwd_s) -
      head_tp;
  ExpectRelNear(r.compute_s, unstretched, 1e-9);
}

TEST(SimulateStep, SlowdownStretchesComputeThatHidesCommunication) {
  const Fixture slow = Make("llama2-7b", 256, 256, "tp=1,fsdp=256", 1.5);
  const Fixture fast = Make("llama2-7b", 256, 256, "tp=1,fsdp=256", 1.0);
  const SimResult rs = Simulate(slow), rf = Simulate(fast);
  EXPECT_GT(rs.compute_s, rf.compute_s);
  // A compute task overlapped for its whole length by communication runs 1.5x as long at most.
  EXPECT_LE(rs.compute_s, 1.5 * rf.compute_s);
  EXPECT_GT(rs.events, rf.events);  // rate changes are events
}

TEST(SimulateStep, NegativePrefetchDepthIsAnError) {
  const Fixture s = Make("llama2-7b", 256, 256, "tp=1,fsdp=256");
  SimOptions o;
  o.prefetch_depth = -1;
  try {
    SimulateStep(s.ev, s.l, s.e, o);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_STREQ(err.what(), "prefetch_depth: must be >= 0, got -1");
  }
}

TEST(SimulateStep, TimelineCanBeLeftOutWithoutChangingTheResult) {
  const Fixture s = Make("llama2-7b", 64, 512, "tp=1,fsdp=64");
  SimOptions o;
  o.record_timeline = false;
  const SimResult lean = SimulateStep(s.ev, s.l, s.e, o);
  const SimResult full = Simulate(s);
  EXPECT_TRUE(lean.tasks_run.empty());
  EXPECT_TRUE(lean.memory.empty());
  EXPECT_EQ(lean.step_s, full.step_s);
  EXPECT_EQ(lean.peak_bytes, full.peak_bytes);
  EXPECT_EQ(lean.peak_time_s, full.peak_time_s);
  EXPECT_EQ(lean.tasks, full.tasks);
}

TEST(StepGraph, HasOneForwardAndBackwardPerLayerAndMicroBatch) {
  const Fixture s = Make("llama2-7b", 64, 512, "tp=1,fsdp=64,zero=3");
  const StepGraph g = BuildStepGraph(s.ev, s.l, s.e, 1);
  std::map<Op, int64_t> count;
  for (const Task& t : g.tasks()) ++count[t.op];
  const int64_t M = 8, L = 32;
  ASSERT_EQ(g.micro_batches(), M);
  EXPECT_EQ(count[Op::kLayerFwd], M * L);
  EXPECT_EQ(count[Op::kLayerBwd], M * L);
  EXPECT_EQ(count[Op::kAgLayerFwd], M * L);
  EXPECT_EQ(count[Op::kAgLayerBwd], M * L);
  EXPECT_EQ(count[Op::kRsLayer], M * L);
  // FSDP2's units outside the layers: the embedding gathered twice (ZeRO-3) and the head once,
  // each reduced once.
  EXPECT_EQ(count[Op::kAgOuter], 3 * M);
  EXPECT_EQ(count[Op::kRsOuter], 2 * M);
  EXPECT_EQ(count[Op::kOptimizer], 1);
  EXPECT_EQ(count[Op::kLayerFwdTp], 0);  // tp = 1: no TP tasks
  EXPECT_EQ(g.tasks().back().op, Op::kOptimizer);
}

// FSDP groups that span nodes use the inter-node stream; groups inside a node the intra-node one.
TEST(StepGraph, CollectivesGoOnTheStreamOfTheirGroupsSpan) {
  const Fixture s = Make("llama2-7b", 256, 256, "tp=1,fsdp=8,replicate=32");
  const StepGraph g = BuildStepGraph(s.ev, s.l, s.e, 1);
  for (const Task& t : g.tasks()) {
    if (t.kind == TaskKind::kFsdpAg || t.kind == TaskKind::kFsdpRs) {
      EXPECT_EQ(t.stream, Stream::kCommIntra);
    } else if (t.kind == TaskKind::kDpAr) {
      EXPECT_EQ(t.stream, Stream::kCommInter);
    } else {
      EXPECT_EQ(t.stream, Stream::kCompute);
    }
  }
}

// ---- Prefetch. The case: llama2-7b, FSDP over 64 GPUs, 4 micro-batches: a layer's forward
// compute is longer than its all-gather, its backward longer than all-gather + reduce-scatter.
Fixture PrefetchCase(const std::string& zero) {
  return Make("llama2-7b", 64, 256, "tp=1,fsdp=64,mbs=1,zero=" + zero);
}

double AllGatherTotal(const SimResult& r) {
  double sum = 0;
  for (const TaskRecord& t : r.tasks_run) {
    if (t.kind == TaskKind::kFsdpAg) sum += t.end_s - t.start_s;
  }
  return sum;
}

TEST(Prefetch, TheCaseHasComputeLongerThanCommunication) {
  const costmodel::StepComponents& p = PrefetchCase("3").e.parts;
  ASSERT_EQ(p.micro_batches, 4);
  ASSERT_GT(p.layer_fwd_compute_s, p.fsdp_ag_layer_s);
  ASSERT_GT(p.layer_bwd_compute_s, p.fsdp_ag_layer_s + p.fsdp_rs_layer_s);
}

TEST(Prefetch, DepthZeroExposesEveryAllGather) {
  for (const std::string zero : {"2", "3"}) {
    const SimResult r = Simulate(PrefetchCase(zero), 0);
    const double ag = r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kFsdpAg)];
    EXPECT_GE(ag, AllGatherTotal(r) * (1 - 1e-9)) << "zero=" << zero;
    EXPECT_GE(r.exposed_fsdp_comm_s, AllGatherTotal(r) * (1 - 1e-9));
  }
}

TEST(Prefetch, DepthOneHidesAllButTheFirstGatherOfEachPass) {
  // ZeRO-3: per micro-batch, the outer unit and layer 0 in forward; in backward layer L-1's
  // gather runs behind the head's backward (the head unit's pre-backward prefetches it), which
  // hides it here: Llama 2 7B's head backward (a 4096 x 32000 GEMM pair over 4096 tokens and the
  // loss) outlasts one layer's gather over 64 ranks.
  const Fixture z3 = PrefetchCase("3");
  const costmodel::StepComponents& p = z3.e.parts;
  const double M = p.micro_batches;
  ASSERT_GT(p.head_bwd_s, p.fsdp_ag_layer_s);
  const SimResult r3 = Simulate(z3, 1);
  ExpectRelNear(r3.exposed_by_kind_s[static_cast<size_t>(TaskKind::kFsdpAg)],
                M * (p.fsdp_ag_outer_s + p.fsdp_ag_layer_s), 1e-9);
  // ... and the last reduce-scatters of each micro-batch (layer 0, outer unit).
  ExpectRelNear(r3.exposed_by_kind_s[static_cast<size_t>(TaskKind::kFsdpRs)],
                M * (p.fsdp_rs_layer_s + p.fsdp_rs_outer_s), 1e-9);
  // The analytical model assumes the same prefetch: its exposed FSDP time agrees.
  ExpectRelNear(r3.exposed_fsdp_comm_s, z3.e.time.exposed_fsdp_comm_s, 1e-9);
  // ZeRO-2 gathers only in forward: the first gather of each micro-batch's forward.
  const Fixture z2 = PrefetchCase("2");
  const SimResult r2 = Simulate(z2, 1);
  ExpectRelNear(r2.exposed_by_kind_s[static_cast<size_t>(TaskKind::kFsdpAg)],
                M * (z2.e.parts.fsdp_ag_outer_s + z2.e.parts.fsdp_ag_layer_s), 1e-9);
}

// FSDP2 keeps each reduce-scatter's input until the next unit's post-backward
// (_fsdp_param_group.py post_backward, comm_ctx.reduce_scatter_state): one unit's reduce-dtype copy
// is live from the first layer reduce-scatter of a backward to the last. The first allocates it,
// the last frees it, none between moves memory.
TEST(Prefetch, OneReduceCopyLiveFromTheFirstReduceScatterToTheLast) {
  const Fixture s = PrefetchCase("3");
  const double rc = s.e.parts.unit_reduce_copy_bytes;
  ASSERT_GT(rc, 0.0);  // fp32 reduce of bf16 gradients
  const SimResult r = Simulate(s, 1);
  const auto last = static_cast<int32_t>(Layers(s)) - 1;
  int allocated = 0, freed = 0;
  for (const MemoryEvent& m : r.memory) {
    const TaskRecord& t = r.tasks_run[static_cast<size_t>(m.task)];
    if (t.op != Op::kRsLayer) continue;
    if (t.layer == last) {
      EXPECT_EQ(m.delta_bytes, rc);
      ++allocated;
    } else if (t.layer == 0) {
      EXPECT_EQ(m.delta_bytes, -rc);
      ++freed;
    } else {
      ADD_FAILURE() << "layer " << t.layer << "'s reduce-scatter moved " << m.delta_bytes << " B";
    }
  }
  EXPECT_EQ(allocated, static_cast<int>(s.e.parts.micro_batches));
  EXPECT_EQ(freed, allocated);
}

TEST(Prefetch, AtMostDepthPlusOneLayersAreUnshardedAtOnce) {
  const Fixture s = PrefetchCase("3");
  for (int depth : {0, 1, 2, 4}) {
    const SimResult r = Simulate(s, depth);
    // +1 at an all-gather's start, -1 at the end of the last task of that layer's pass.
    std::vector<std::pair<double, int>> deltas;
    std::map<std::pair<int32_t, int32_t>, double> fwd_end, bwd_end;
    for (const TaskRecord& t : r.tasks_run) {
      const auto key = std::make_pair(t.micro_batch, t.layer);
      if (t.op == Op::kLayerFwd || t.op == Op::kLayerFwdTp) fwd_end[key] = std::max(fwd_end[key], t.end_s);
      if (t.op == Op::kLayerBwd || t.op == Op::kLayerBwdTp) bwd_end[key] = std::max(bwd_end[key], t.end_s);
    }
    for (const TaskRecord& t : r.tasks_run) {
      const auto key = std::make_pair(t.micro_batch, t.layer);
      if (t.op == Op::kAgLayerFwd) {
        deltas.emplace_back(t.start_s, +1);
        deltas.emplace_back(fwd_end[key], -1);
      } else if (t.op == Op::kAgLayerBwd) {
        deltas.emplace_back(t.start_s, +1);
        deltas.emplace_back(bwd_end[key], -1);
      }
    }
    std::sort(deltas.begin(), deltas.end());  // at equal times, releases (-1) first
    int alive = 0, most = 0;
    for (const auto& [t, d] : deltas) most = std::max(most, alive += d);
    EXPECT_EQ(most, depth + 1) << "depth " << depth;
  }
}

/// The most memory held while a layer runs its backward (the step's peak may be the head's).
double LayersBackwardPeak(const SimResult& r) {
  std::vector<std::pair<double, double>> running;  // [start, end) of each layer's backward
  for (const TaskRecord& t : r.tasks_run) {
    if (t.op == Op::kLayerBwd && t.end_s > t.start_s) running.emplace_back(t.start_s, t.end_s);
  }
  double most = 0;
  for (const MemoryEvent& m : r.memory) {
    for (const auto& [start, end] : running) {
      if (m.time_s >= start && m.time_s < end) most = std::max(most, m.total_bytes);
    }
  }
  return most;
}

TEST(Prefetch, DeeperPrefetchNeverSlowsTheStepHere) {
  const Fixture s = PrefetchCase("3");
  const double d0 = Simulate(s, 0).step_s, d1 = Simulate(s, 1).step_s;
  EXPECT_LT(d1, d0);
  // One more unit unsharded under the layers' backward: a layer's bf16 parameters.
  ExpectRelNear(LayersBackwardPeak(Simulate(s, 2)) - LayersBackwardPeak(Simulate(s, 1)), s.e.parts.unit_param_bytes,
                1e-9);
}

// ---- Per-step collectives.
TEST(PerStepCollectives, OnlyTheLastBucketOfTheReplicaAllReduceIsExposed) {
  const Fixture s = Make("llama2-7b", 256, 256, "tp=1,fsdp=8,replicate=32,zero=3");
  const SimResult r = Simulate(s);
  ExpectRelNear(r.exposed_dp_comm_s, s.e.parts.dp_allreduce_s / Layers(s), 1e-9);
  ExpectRelNear(r.exposed_dp_comm_s, s.e.time.exposed_dp_comm_s, 1e-9);
}

// DeepSpeed's engine (and Megatron-LM without --overlap-grad-reduce / --overlap-param-gather)
// reduces after the whole backward and gathers whole before the forward: nothing of either
// hides, in the simulator as in the analytical model (evaluate.cc ExposedBucket).
TEST(PerStepCollectives, AllReduceAfterTheBackwardIsExposedWhole) {
  const Fixture bucketed = Make("llama2-7b", 256, 256, "tp=1,fsdp=8,replicate=32,zero=3");
  const Fixture after = Make("llama2-7b", 256, 256, "tp=1,fsdp=8,replicate=32,zero=3", -1, true);
  const SimResult r = Simulate(after);
  ASSERT_GT(after.e.parts.dp_allreduce_s, 0.0);
  ExpectRelNear(after.e.time.exposed_dp_comm_s, after.e.parts.dp_allreduce_s, 1e-12);
  ExpectRelNear(r.exposed_dp_comm_s, after.e.parts.dp_allreduce_s, 1e-9);
  // Bucketed, only the last of 32 layers' buckets shows (the test above): 1/32 of it.
  ExpectRelNear(Simulate(bucketed).exposed_dp_comm_s, bucketed.e.parts.dp_allreduce_s / 32.0, 1e-9);
  double last_bwd = 0, first_ar = 1e300;
  for (const TaskRecord& t : r.tasks_run) {
    if (t.op == Op::kLayerBwd) last_bwd = std::max(last_bwd, t.end_s);
    if (t.op == Op::kDpAllReduce) first_ar = std::min(first_ar, t.start_s);
  }
  EXPECT_GE(first_ar, last_bwd);
}

TEST(PerStepCollectives, ZeroOneOutsideThePassesIsExposedWhole) {
  const std::string layout = "tp=1,fsdp=64,zero=1";
  const Fixture f = Make("llama2-7b", 64, 128, layout, -1, true, true);
  const costmodel::StepComponents& p = f.e.parts;
  ASSERT_TRUE(p.per_step_zero1);
  // Hand count: reduce-scatter and all-gather, each whole, nothing behind a pass.
  ExpectRelNear(f.e.time.exposed_fsdp_comm_s, p.zero1_rs_s + p.zero1_ag_s, 1e-12);
  const SimResult r = Simulate(f);
  ExpectRelNear(r.exposed_fsdp_comm_s, p.zero1_rs_s + p.zero1_ag_s, 1e-9);
  double first_fwd = 1e300, last_ag = 0, last_bwd = 0, first_rs = 1e300;
  for (const TaskRecord& t : r.tasks_run) {
    if (t.op == Op::kLayerFwd) first_fwd = std::min(first_fwd, t.start_s);
    if (t.op == Op::kZero1Ag) last_ag = std::max(last_ag, t.end_s);
    if (t.op == Op::kLayerBwd) last_bwd = std::max(last_bwd, t.end_s);
    if (t.op == Op::kZero1Rs) first_rs = std::min(first_rs, t.start_s);
  }
  EXPECT_GE(first_fwd, last_ag);
  EXPECT_GE(first_rs, last_bwd);
  // Overlapped (Megatron-Core's overlap flags), less of both shows.
  const Fixture overlapped = Make("llama2-7b", 64, 128, layout);
  EXPECT_LT(overlapped.e.time.exposed_fsdp_comm_s, f.e.time.exposed_fsdp_comm_s);
}

TEST(PerStepCollectives, ZeroOneGathersBeforeTheFirstForwardAndReducesAfterTheLastBackward) {
  const Fixture s = Make("llama2-7b", 64, 128, "tp=1,fsdp=64,zero=1");
  const SimResult r = Simulate(s);
  double first_fwd = 1e300, last_bwd = 0, zero1_ag_first_end = 1e300, zero1_rs_start = 1e300;
  for (const TaskRecord& t : r.tasks_run) {
    if (t.op == Op::kLayerFwd) first_fwd = std::min(first_fwd, t.start_s);
    if (t.op == Op::kLayerBwd && t.micro_batch == 0) last_bwd = std::max(last_bwd, t.end_s);
    if (t.op == Op::kZero1Ag && t.layer == 0) zero1_ag_first_end = t.end_s;
    if (t.op == Op::kZero1Rs) zero1_rs_start = std::min(zero1_rs_start, t.start_s);
    EXPECT_NE(t.op, Op::kAgLayerFwd);
    EXPECT_NE(t.op, Op::kRsLayer);
  }
  EXPECT_EQ(first_fwd, zero1_ag_first_end);
  EXPECT_GE(zero1_rs_start, last_bwd);  // not during micro-batch 0 of 2
}

// ---- Trace.
TEST(ChromeTrace, IsValidJsonWithOneTrackPerStreamTaskEventsAndAMemoryCounter) {
  const Fixture s = Make("llama2-7b", 256, 256, "tp=8,sp=on,fsdp=8,replicate=4");
  const SimResult r = Simulate(s);
  const nlohmann::json j = nlohmann::json::parse(ChromeTrace(r));
  ASSERT_TRUE(j.contains("traceEvents"));
  EXPECT_EQ(j.at("displayTimeUnit"), "ms");
  std::map<int, std::string> thread_names;
  int64_t x = 0, counters = 0;
  for (const nlohmann::json& ev : j.at("traceEvents")) {
    const std::string ph = ev.at("ph");
    if (ph == "M" && ev.at("name") == "thread_name") {
      const int tid = ev.at("tid");
      EXPECT_EQ(thread_names.count(tid), 0u);
      thread_names[tid] = ev.at("args").at("name");
    } else if (ph == "X") {
      ++x;
      for (const char* key : {"name", "ts", "dur", "pid", "tid"}) ASSERT_TRUE(ev.contains(key)) << key;
      EXPECT_GE(ev.at("dur").get<double>(), 0.0);
      EXPECT_EQ(thread_names.count(ev.at("tid").get<int>()), 1u);  // metadata comes first
    } else if (ph == "C") {
      ++counters;
      EXPECT_EQ(ev.at("name"), "memory (GiB)");
      EXPECT_GT(ev.at("args").at("allocated").get<double>(), 0.0);
    }
  }
  EXPECT_EQ(x, r.tasks);
  EXPECT_GT(counters, 1);
  // TP inside a node, FSDP over 8 ranks with stride 8 (8 nodes), replicas across nodes.
  const std::map<int, std::string> want = {{0, "compute"}, {2, "comm_inter"}};
  EXPECT_EQ(thread_names, want);
}

TEST(ChromeTrace, SameInputGivesTheSameBytes) {
  const Fixture a = Make("llama2-7b", 256, 512, "tp=8,sp=on,fsdp=32,recompute=full");
  const Fixture b = Make("llama2-7b", 256, 512, "tp=8,sp=on,fsdp=32,recompute=full");
  const std::string ta = ChromeTrace(Simulate(a)), tb = ChromeTrace(Simulate(b));
  EXPECT_EQ(ta, tb);
  EXPECT_GT(ta.size(), 1000u);
}

// Context parallelism: the KV exchange runs on the comm_cp stream beside or around the attention
// task; with no compute slowdown the compute stream waits exactly as long as the analytical
// model's exposed CP time (context.h: (cp-1) max(0, x - a) per ring pass, the whole all-gather
// and all-to-all).
// PyTorch's context_parallel (torchtitan: fp32 dK,dV round the ring, the last exchange after the
// last block) agrees the same way, p2p and all_gather, with and without full recompute.
TEST(SimContext, ExposedExchangeMatchesTheAnalyticalModel) {
  struct Case {
    const char* text;
    bool torch;
  };
  for (const auto& [text, torch] :
       {Case{"tp=2,sp=on,cp=4,fsdp=4,zero=3", false}, Case{"tp=2,sp=on,cp=4,cp_comm=all_gather,fsdp=4,zero=3", false},
        Case{"tp=2,sp=on,cp=4,cp_comm=a2a,fsdp=4,zero=3,recompute=full", false},
        Case{"tp=8,cp=4,fsdp=1,replicate=1,zero=3", false}, Case{"tp=2,sp=on,cp=4,fsdp=4,zero=3", true},
        Case{"tp=2,sp=on,cp=4,cp_comm=all_gather,fsdp=4,zero=3,recompute=full", true},
        Case{"tp=8,cp=4,cp_comm=all_gather,fsdp=1,replicate=1,zero=3", true}}) {
    costmodel::Workload w;
    w.cp_torch = torch;
    w.gpus = 32;
    w.global_batch = 4;
    w.seq = 32768;
    costmodel::Layout l = costmodel::ParseLayoutText(text, "--layout");
    costmodel::ResolveLayout(l, w, "--layout");
    costmodel::Cluster c = costmodel::ResolveCluster("dgx-h100");
    c.efficiency.overlap_slowdown = 1.0;
    const costmodel::Evaluator ev(costmodel::ResolveModel("llama3-8b"), c, w);
    const costmodel::Evaluation e = ev.Evaluate(l);
    ASSERT_GT(e.time.exposed_cp_comm_s + e.parts.cp_fwd.during_s, 0) << text;
    const SimResult r = SimulateStep(ev, l, e, SimOptions{});
    ExpectRelNear(r.exposed_cp_comm_s, e.time.exposed_cp_comm_s, 1e-9);
    bool on_cp_stream = false;
    for (const TaskRecord& t : r.tasks_run) {
      if (t.kind == TaskKind::kCpComm) {
        EXPECT_EQ(t.stream, Stream::kCommCp) << text;
        on_cp_stream = true;
      }
    }
    EXPECT_TRUE(on_cp_stream) << text;
    EXPECT_NEAR(r.step_s, r.compute_s + r.exposed_tp_comm_s + r.exposed_cp_comm_s + r.exposed_fsdp_comm_s +
                              r.exposed_dp_comm_s + r.optimizer_s, 1e-9 * r.step_s) << text;
  }
}


// MoE dispatch and combine block the compute stream (experts.h): the simulator runs them as
// compute-stream tasks after each layer's TP collectives, so all of it is exposed, as the
// analytical model says; the step agrees with the analytical one where nothing else overlaps.
TEST(SimulateMoe, ExpertExchangeIsExposedOnTheComputeStream) {
  const Fixture f = Make("mixtral-8x7b", 64, 512, "tp=1,fsdp=64,zero=1,recipe=megatron,ep=8");
  const SimResult r = Simulate(f);
  EXPECT_GT(f.e.time.exposed_ep_comm_s, 0.0);
  EXPECT_NEAR(r.exposed_ep_comm_s, f.e.time.exposed_ep_comm_s, 1e-9 * f.e.time.step_s);
  EXPECT_NEAR(r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kEpComm)], r.exposed_ep_comm_s, 1e-12);
  int ep_tasks = 0;
  for (const TaskRecord& t : r.tasks_run) ep_tasks += t.kind == TaskKind::kEpComm;
  EXPECT_EQ(ep_tasks, 8 * 32 * 2);  // micro-batches x layers x (forward, backward)
}

}  // namespace
}  // namespace meshplan::sim
