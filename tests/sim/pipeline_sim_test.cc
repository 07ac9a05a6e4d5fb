// The pipeline schedules executed (sim/pipeline.h) against the closed forms, and the pipeline
// step of the simulator against the analytical evaluator.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "costmodel/evaluate.h"
#include "costmodel/pipeline.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "sim/pipeline.h"
#include "sim/simulate.h"

namespace meshplan::sim {
namespace {

using costmodel::Schedule;

PipelineInput Equal(Schedule s, int64_t p, int64_t v, int64_t m, double f, double b, double w,
                    double p2p = 0) {
  PipelineInput in;
  in.schedule = s;
  in.p = p;
  in.v = v;
  in.m = m;
  in.p2p_s = p2p;
  in.chunks.assign(static_cast<size_t>(p * v), ChunkCost{f / static_cast<double>(v),
                                                        b / static_cast<double>(v),
                                                        w / static_cast<double>(v)});
  return in;
}

// With no communication and equal stages the simulated bubble is exactly the closed form
// (Narayanan et al. SC21: (p-1)(t_f + t_b), interleaved / v; Qi et al. 2023: ZB-H1
// (p-1)(t_f + t_b - t_w)).
TEST(PipelineSim, BubbleEqualsTheClosedFormWithoutCommunication) {
  struct C { Schedule s; int64_t p, v, m; double f, b, w; };
  for (const C& c : std::vector<C>{{Schedule::k1F1B, 4, 1, 8, 1.0, 1.5, 0.5},
                                   {Schedule::k1F1B, 8, 1, 64, 2.0, 3.0, 1.0},
                                   {Schedule::k1F1B, 8, 1, 3, 1.0, 2.0, 0.0},
                                   {Schedule::kInterleaved, 4, 2, 8, 1.0, 1.5, 0.5},
                                   {Schedule::kInterleaved, 8, 3, 64, 1.0, 2.0, 1.0},
                                   {Schedule::kInterleaved, 4, 4, 4, 1.0, 2.0, 1.0},
                                   {Schedule::kZeroBubble, 4, 1, 8, 1.0, 1.0, 1.0},
                                   {Schedule::kZeroBubble, 8, 1, 32, 1.0, 1.2, 0.8}}) {
    const PipelineRun run = RunPipeline(Equal(c.s, c.p, c.v, c.m, c.f, c.b, c.w));
    const double busy = static_cast<double>(c.m) * (c.f + c.b + c.w);
    for (const StageRun& st : run.stages) EXPECT_NEAR(st.busy_s, busy, 1e-9);
    const double closed = costmodel::BubbleTime(c.s, c.p, c.v, c.f, c.b, c.w);
    const double bubble = run.makespan_s - busy;
    // ZB-H1 reaches its bound once the pipeline has at least p micro-batches.
    EXPECT_NEAR(bubble, closed, 1e-9) << costmodel::ToString(c.s) << " p=" << c.p << " v=" << c.v
                                      << " m=" << c.m;
  }
}

TEST(PipelineSim, InterleavingShrinksTheBubble) {
  const PipelineRun a = RunPipeline(Equal(Schedule::k1F1B, 8, 1, 16, 1.0, 2.0, 0.0, 0.01));
  const PipelineRun b = RunPipeline(Equal(Schedule::kInterleaved, 8, 2, 16, 1.0, 2.0, 0.0, 0.01));
  EXPECT_LT(b.makespan_s, a.makespan_s);
  EXPECT_LT(b.stages[0].idle_s, a.stages[0].idle_s);
}

TEST(PipelineSim, SendsOnTheCriticalPathAsTheEvaluatorCountsThem) {
  // The counts the analytical evaluator uses (evaluate.cc PricePipeline): 1F1B 2m(p-1)/p + 2(p-2),
  // interleaved 2(pv - 1), ZB-H1 4(p - 1) sends.
  struct C { Schedule s; int64_t p, v, m; double sends; };
  for (const C& c : std::vector<C>{{Schedule::k1F1B, 2, 1, 8, 8},
                                   {Schedule::k1F1B, 4, 1, 16, 28},
                                   {Schedule::k1F1B, 8, 1, 32, 68},
                                   {Schedule::kInterleaved, 4, 2, 16, 14},
                                   {Schedule::kInterleaved, 8, 2, 32, 30},
                                   {Schedule::kZeroBubble, 4, 1, 16, 12}}) {
    const bool zb = c.s == Schedule::kZeroBubble;
    const PipelineRun a = RunPipeline(Equal(c.s, c.p, c.v, c.m, 1.0, zb ? 1.0 : 2.0, zb ? 1.0 : 0.0));
    const PipelineRun b =
        RunPipeline(Equal(c.s, c.p, c.v, c.m, 1.0, zb ? 1.0 : 2.0, zb ? 1.0 : 0.0, 0.05));
    EXPECT_NEAR(b.makespan_s - a.makespan_s, c.sends * 0.05, 1e-9) << costmodel::ToString(c.s);
  }
}

// Megatron's blocking exchanges (PipelineInput::blocking) with equal stages: with no
// communication the run is the compute-only schedule (the bubble of the closed form); each send
// of c and each TP gather of g adds exactly the counts the evaluator uses (pipeline.h
// BlockingCriticalPath), found by running the lists for p 2-8, v 1-4 and m up to 6 p.
TEST(PipelineSim, BlockingExchangesOnTheCriticalPathAsTheEvaluatorCountsThem) {
  int checked = 0;
  for (Schedule s : {Schedule::k1F1B, Schedule::kInterleaved}) {
    for (int64_t p = 2; p <= 8; ++p) {
      for (int64_t v : {1, 2, 3, 4}) {
        if ((s == Schedule::kInterleaved) != (v > 1)) continue;
        for (int64_t m = s == Schedule::k1F1B ? 1 : p; m <= 6 * p; m += s == Schedule::k1F1B ? 1 : p) {
          for (double b : {2.0, 3.2}) {
            PipelineInput in = Equal(s, p, v, m, 1.0, b, 0.0);
            in.blocking = true;
            const double base = RunPipeline(in).makespan_s;
            EXPECT_NEAR(base - static_cast<double>(m) * (1.0 + b), costmodel::BubbleTime(s, p, v, 1.0, b, 0.0),
                        1e-9);
            const costmodel::BlockingCounts n = costmodel::BlockingCriticalPath(s, p, v, m);
            in.p2p_s = 1e-3;
            EXPECT_NEAR((RunPipeline(in).makespan_s - base) / 1e-3, n.exchanges, 1e-6)
                << costmodel::ToString(s) << " p=" << p << " v=" << v << " m=" << m;
            in.p2p_s = 0;
            in.gather_s = 1e-3;
            EXPECT_NEAR((RunPipeline(in).makespan_s - base) / 1e-3, n.gathers, 1e-6)
                << costmodel::ToString(s) << " p=" << p << " v=" << v << " m=" << m;
            ++checked;
          }
        }
      }
    }
  }
  // 1F1B: sum over p of 6p values of m (210); interleaved: 7 x 3 x 6 (126); two b each.
  EXPECT_EQ(checked, 2 * (210 + 126));
  // Hand count, 1F1B p = 4, m = 8: the middle stages exchange after every forward and every
  // backward, 2m, and the fill and drain add 2p - 5 more: 19 sends on the critical path; with
  // sends on their own stream only 2m(p-1)/p + 2(p-2) = 16 (the test above).
  EXPECT_DOUBLE_EQ(costmodel::BlockingCriticalPath(Schedule::k1F1B, 4, 1, 8).exchanges, 19.0);
  // Blocking is never faster than async sends of the same size.
  PipelineInput a = Equal(Schedule::kInterleaved, 8, 3, 64, 1.0, 2.0, 0.0, 0.01);
  const double async = RunPipeline(a).makespan_s;
  a.blocking = true;
  EXPECT_GT(RunPipeline(a).makespan_s, async);
}

// Hops of two kinds (a pipeline deeper than the nodes it spans: costmodel/pipeline.h
// PipelineHopCrossesNode), inside a node 0.01 and between nodes 0.05, against the run of the
// lists with each hop's send time (PipelineInput::hop_s). Where every hop is alike the closed
// form is the counts above exactly; interleaved sends on their own stream are exact with mixed
// hops too, and 1F1B's steady state (its cost per micro-batch) is the run's limit (within 3% from
// m = 8p to 16p, where the run still converges on it); the fill and drain of 1F1B
// and ZB-H1, and blocking exchanges, are held within 35% of the run's send time over the
// sweep (seen -30% to +32%, the extremes at m = p, where the steady state is shortest).
TEST(PipelineSim, SendsOverHopsOfTwoKindsAsTheEvaluatorPricesThem) {
  auto sends = [](const PipelineInput& in) {
    PipelineInput none = in;
    none.hop_s.clear();
    none.p2p_s = 0;
    return RunPipeline(in).makespan_s - RunPipeline(none).makespan_s;
  };
  // Alike: the counts of SendsOnTheCriticalPathAsTheEvaluatorCountsThem and
  // BlockingExchangesOnTheCriticalPathAsTheEvaluatorCountsThem.
  const costmodel::PipelineHops alike{4, 8, 8, 0.05, 0.05};
  EXPECT_NEAR(costmodel::ExposedSendTime(Schedule::k1F1B, false, 1, 16, alike, 0.0), 28 * 0.05, 1e-12);
  EXPECT_NEAR(costmodel::ExposedSendTime(Schedule::kInterleaved, false, 2, 16, alike, 0.0), 14 * 0.05, 1e-12);
  EXPECT_NEAR(costmodel::ExposedSendTime(Schedule::kZeroBubble, false, 1, 16, alike, 0.0), 12 * 0.05, 1e-12);
  EXPECT_NEAR(costmodel::ExposedSendTime(Schedule::k1F1B, true, 1, 8, alike, 0.0), 19 * 0.05, 1e-12);
  // By hand, tp 4 x pp 4 on two nodes of 8: hops 0.01, 0.05, 0.01 (and the wrap 0.05).
  // 1F1B's steady state pays the slowest round trip per micro-batch, the crossing hop alone
  // 2 x 0.05 / 2 = 0.05 (over all three hops 2 x 0.07 / 4 = 0.035); the fill and drain
  // 2 (p - 2) / (p - 1) x 0.07. Interleaved: 2 (v x 0.07 + (v - 1) x 0.05).
  const costmodel::PipelineHops mixed{4, 4, 8, 0.01, 0.05};
  EXPECT_NEAR(costmodel::ExposedSendTime(Schedule::k1F1B, false, 1, 16, mixed, 0.0),
              16 * 0.05 + 2.0 * 2.0 / 3.0 * 0.07, 1e-12);
  EXPECT_NEAR(costmodel::ExposedSendTime(Schedule::kInterleaved, false, 2, 16, mixed, 0.0),
              2 * (2 * 0.07 + 0.05), 1e-12);
  int checked = 0;
  for (Schedule s : {Schedule::k1F1B, Schedule::kInterleaved, Schedule::kZeroBubble}) {
    for (bool blocking : {false, true}) {
      if (blocking && s == Schedule::kZeroBubble) continue;
      for (int64_t p : {2, 3, 4, 6, 8, 16}) {
        for (int64_t v : {1, 2, 3}) {
          if ((s == Schedule::kInterleaved) != (v > 1) || (blocking && v > 1 && p == 2)) continue;
          for (int64_t stride : {1, 2, 3, 4}) {
            const costmodel::PipelineHops h{p, stride, 8, 0.01, 0.05};
            int64_t crossing = 0;
            for (int64_t hop = 0; hop < p; ++hop) crossing += costmodel::PipelineHopCrossesNode(hop, p, stride, 8);
            if (crossing == 0 || crossing == p) continue;
            for (int64_t m : {p, 2 * p, 8 * p}) {
              const bool zb = s == Schedule::kZeroBubble;
              PipelineInput in = Equal(s, p, v, m, 1.0, zb ? 1.0 : 2.0, zb ? 1.0 : 0.0);
              in.blocking = blocking;
              in.record = false;
              for (int64_t hop = 0; hop < p; ++hop) in.hop_s.push_back(h(hop));
              const double run = sends(in);
              const double closed = costmodel::ExposedSendTime(s, blocking, v, m, h, 0.0);
              const std::string what = std::string(costmodel::ToString(s)) + (blocking ? " blocking" : "") +
                                       " p=" + std::to_string(p) + " v=" + std::to_string(v) +
                                       " stride=" + std::to_string(stride) + " m=" + std::to_string(m);
              if (s == Schedule::kInterleaved && !blocking) {
                EXPECT_NEAR(closed, run, 1e-9) << what;
              } else {
                EXPECT_NEAR(closed, run, 0.35 * run) << what;
              }
              if (s == Schedule::k1F1B && !blocking) {  // the steady state, per micro-batch
                PipelineInput twice = in;
                twice.m = 2 * m;
                const double per_mb = (sends(twice) - run) / static_cast<double>(m);
                const double closed_per_mb =
                    (costmodel::ExposedSendTime(s, false, 1, 2 * m, h, 0.0) - closed) / static_cast<double>(m);
                if (m >= 8 * p) {
                  EXPECT_NEAR(closed_per_mb, per_mb, 0.03 * per_mb) << what;
                }
              }
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 150);
}

struct PipeFixture {
  costmodel::Evaluator ev;
  costmodel::Layout l;
  costmodel::Evaluation e;
};

PipeFixture MakePipe(const std::string& model, const std::string& cluster, int64_t gpus, int64_t gb,
                     int64_t seq, const std::string& layout, const costmodel::WorkloadSwitches& sw = {}) {
  costmodel::Workload w;
  static_cast<costmodel::WorkloadSwitches&>(w) = sw;
  w.gpus = gpus;
  w.global_batch = gb;
  w.seq = seq;
  costmodel::Layout l = costmodel::ParseLayoutText(layout, "--layout");
  costmodel::ResolveLayout(l, w, "--layout");
  costmodel::Evaluator ev(costmodel::ResolveModel(model), costmodel::ResolveCluster(cluster), w);
  costmodel::Evaluation e = ev.Evaluate(l);
  return {ev, l, e};
}

// One model at two resolutions: the analytical makespan and the simulated schedule agree for
// equal stages (the closed forms are what the lists give).
TEST(PipelineSim, SimulatedStepMatchesTheAnalyticalOne) {
  for (const std::string layout :
       {"tp=8,sp=on,pp=8,fsdp=1,mbs=1,recompute=selective,recipe=megatron",
        "tp=8,sp=on,pp=8,vpp=3,fsdp=1,mbs=1,recompute=selective,recipe=megatron",
        "tp=8,sp=on,pp=8,schedule=zb-h1,fsdp=1,mbs=1,recompute=selective,recipe=megatron",
        "tp=8,sp=on,pp=4,fsdp=2,zero=1,mbs=1,recipe=megatron",
        "tp=4,sp=on,pp=4,fsdp=4,zero=3,mbs=2,recipe=fsdp2",
        // A last stage made heavy by the output head hides 1F1B's steady-state sends.
        "tp=8,sp=off,pp=8,fsdp=1,mbs=1,recompute=full,recipe=megatron"}) {
    const PipeFixture f = MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048, layout);
    ASSERT_FALSE(f.e.reasons & costmodel::kReasonPipeline) << layout;
    const SimResult r = SimulateStep(f.ev, f.l, f.e);
    ASSERT_EQ(r.stages.size(), static_cast<size_t>(f.l.pp));
    const double rel = std::abs(r.step_s - f.e.time.step_s) / f.e.time.step_s;
    // 1.2%: the stage's FSDP traffic beside its compute (OverlapSlowdownCost over the stage) is
    // priced over the step, not per window as the simulator runs it (seen 1.15%, tp 4 x pp 4 x
    // fsdp 4); the rest agree within 0.3%.
    EXPECT_LT(rel, 0.012) << layout << ": sim " << r.step_s << " analytical " << f.e.time.step_s;
    EXPECT_NEAR(r.bubble_s + r.compute_s + r.exposed_tp_comm_s + r.exposed_fsdp_comm_s +
                    r.exposed_dp_comm_s + r.optimizer_s,
                r.step_s, 1e-9 * r.step_s);
  }
}

// A pipeline deeper than the nodes it spans: tp 4 x pp 4 on two DGX H100 nodes puts stages 0-1 in
// one node and 2-3 in the other. The boundary 1-2 is priced over the network, 0-1 and 2-3 over
// NVLink (it was all NVLink, from the stride alone), in the collectives list, the analytical
// step and the simulated one, which agree.
TEST(PipelineSim, APipelineAcrossTwoNodesPricesEachBoundaryByItsLink) {
  for (const std::string layout : {"tp=4,sp=on,pp=4,fsdp=1,mbs=1,recipe=megatron",
                                   "tp=4,sp=on,pp=4,vpp=2,fsdp=1,mbs=1,recipe=megatron",
                                   "tp=4,sp=on,pp=4,schedule=zb-h1,fsdp=1,mbs=1,recipe=megatron"}) {
    const PipeFixture f = MakePipe("llama3-8b", "dgx-h100", 16, 64, 8192, layout);
    ASSERT_TRUE(f.e.feasible()) << layout;
    const costmodel::PipelineParts& pp = f.e.pipe;
    EXPECT_TRUE(pp.inter_node && pp.intra_node) << layout;
    EXPECT_GT(pp.p2p_inter_s, 2.0 * pp.p2p_s) << layout;
    EXPECT_EQ(pp.HopS(0, 4), pp.p2p_s);
    EXPECT_EQ(pp.HopS(1, 4), pp.p2p_inter_s);
    EXPECT_EQ(pp.HopS(2, 4), pp.p2p_s);
    EXPECT_EQ(pp.HopS(3, 4), pp.p2p_inter_s);
    std::vector<int> nodes;
    for (int i = 0; i < f.e.num_collectives; ++i) {
      const auto& u = f.e.collectives[static_cast<size_t>(i)];
      if (u.purpose == costmodel::Purpose::kPpP2p) nodes.push_back(u.group.nodes);
    }
    EXPECT_EQ(nodes, (std::vector<int>{1, 2})) << layout;
    // Between pricing every boundary inside a node and every one between nodes (1F1B: its
    // steady state hidden by the last stage's slack, the head, or not at all).
    const int64_t m = static_cast<int64_t>(f.e.parts.micro_batches);
    const costmodel::PipelineHops intra{4, 4, 8, pp.p2p_s, pp.p2p_s}, inter{4, 4, 8, pp.p2p_inter_s, pp.p2p_inter_s};
    EXPECT_GT(f.e.time.exposed_pp_comm_s, costmodel::ExposedSendTime(f.l.schedule, false, f.l.vpp, m, intra, 1e9))
        << layout;
    EXPECT_LT(f.e.time.exposed_pp_comm_s, costmodel::ExposedSendTime(f.l.schedule, false, f.l.vpp, m, inter, 0.0))
        << layout;
    const SimResult r = SimulateStep(f.ev, f.l, f.e);
    EXPECT_LT(std::abs(r.step_s - f.e.time.step_s) / f.e.time.step_s, 0.01)
        << layout << ": sim " << r.step_s << " analytical " << f.e.time.step_s;
  }
}

// The same with Megatron-LM 2022's blocking exchanges and scatter-gather (Korthikanti et al.
// 2022's runs): the stages are not equal (the head on the last), so the closed form's
// m x slowest + bubble + counted exchanges is held to the run within 1%.
TEST(PipelineSim, BlockingStepMatchesTheAnalyticalOne) {
  costmodel::WorkloadSwitches sw;
  sw.pp_p2p_blocking = sw.pp_interleaved_blocking = sw.pp_scatter_gather = true;
  for (const std::string layout :
       {"tp=8,sp=on,pp=8,fsdp=1,mbs=1,recompute=selective,recipe=megatron",
        "tp=8,sp=on,pp=8,vpp=3,fsdp=1,mbs=1,recompute=selective,recipe=megatron",
        "tp=8,sp=off,pp=8,vpp=3,fsdp=1,mbs=1,recompute=full,recipe=megatron",
        "tp=8,sp=off,pp=8,fsdp=1,mbs=1,recompute=full,recipe=megatron",
        "tp=4,sp=off,pp=4,fsdp=4,zero=1,mbs=1,recipe=megatron"}) {
    const PipeFixture f = MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048, layout, sw);
    const PipeFixture async = MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048, layout);
    ASSERT_FALSE(f.e.reasons & costmodel::kReasonPipeline) << layout;
    EXPECT_TRUE(f.e.pipe.blocking);
    // Scatter-gather without SP: 1/t of the activation sent, then gathered over TP.
    EXPECT_EQ(f.e.pipe.gather_s > 0, !f.l.sp) << layout;
    EXPECT_NEAR(f.e.pipe.p2p_bytes, 2.0 * 2048 * 12288 / static_cast<double>(f.l.tp), 1e-6) << layout;
    const SimResult r = SimulateStep(f.ev, f.l, f.e);
    const double rel = std::abs(r.step_s - f.e.time.step_s) / f.e.time.step_s;
    EXPECT_LT(rel, 0.01) << layout << ": sim " << r.step_s << " analytical " << f.e.time.step_s;
    // With SP the sends are the same size either way, so blocking only adds waiting.
    if (f.l.sp) {
      EXPECT_GT(f.e.time.exposed_pp_comm_s, async.e.time.exposed_pp_comm_s) << layout;
    }
  }
}

// Megatron refuses to interleave two stages when its exchanges are batched and blocking (one
// batch would hold two sends and receives between the same two ranks): said, not priced.
TEST(PipelineSim, BlockingInterleavedOverTwoStagesIsRefusedAsMegatronRefusesIt) {
  costmodel::WorkloadSwitches sw;
  sw.pp_interleaved_blocking = true;
  const std::string two = "tp=8,sp=on,pp=2,vpp=2,schedule=interleaved,fsdp=4,zero=1,mbs=1,recipe=megatron";
  const PipeFixture f = MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048, two, sw);
  ASSERT_TRUE(f.e.reasons & costmodel::kReasonPipeline);
  const std::vector<std::string> why = f.ev.Reasons(f.l, f.e);
  EXPECT_NE(std::find(why.begin(), why.end(),
                      "the interleaved schedule with blocking exchanges (the framework's pp_p2p_interleaved blocking) "
                      "needs pp > 2: Megatron refuses pp 2"),
            why.end());
  // Overlapped exchanges (Megatron-Core's default) and 1F1B over two stages are fine.
  EXPECT_FALSE(MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048, two).e.reasons & costmodel::kReasonPipeline);
  sw.pp_p2p_blocking = true;
  EXPECT_FALSE(MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048,
                        "tp=8,sp=on,pp=2,fsdp=4,zero=1,mbs=1,recipe=megatron", sw)
                   .e.reasons &
               costmodel::kReasonPipeline);
}

TEST(PipelineSim, PerStageResultsAndOneTraceProcessPerStage) {
  const PipeFixture a = MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048,
                                 "tp=8,sp=on,pp=8,fsdp=1,recompute=selective,recipe=megatron");
  const PipeFixture b = MakePipe("gpt3-175b", "dgx-a100-80g", 64, 64, 2048,
                                 "tp=8,sp=on,pp=8,vpp=2,fsdp=1,recompute=selective,recipe=megatron");
  const SimResult ra = SimulateStep(a.ev, a.l, a.e), rb = SimulateStep(b.ev, b.l, b.e);
  EXPECT_LT(rb.bubble_s, ra.bubble_s);
  EXPECT_EQ(ra.stages[0].peak_in_flight, 8.0);
  EXPECT_EQ(ra.stages[7].peak_in_flight, 1.0);
  EXPECT_GT(ra.stages[0].peak_bytes, ra.stages[7].peak_bytes - 4e9);  // the last holds the head
  const nlohmann::json trace = nlohmann::json::parse(ChromeTrace(ra));
  std::vector<int> pids;
  for (const auto& ev : trace["traceEvents"]) {
    if (ev["ph"] == "X") pids.push_back(ev["pid"].get<int>());
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  EXPECT_EQ(pids, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

}  // namespace
}  // namespace meshplan::sim

namespace meshplan::sim {
namespace {

// Issue 17's "one model at two resolutions": on 41 layouts spanning FSDP (ZeRO-1/2/3), HSDP,
// TP with and without SP, recompute modes, pipelines, expert parallelism (DeepSeek-V3, Mixtral),
// context parallelism (each exchange), FP8 and FSDP1's root unit, on A100 and H100 from 64 to 2,048 GPUs,
// the analytical step and the simulated one agree within 10%, and their peak memories as below.
// The simulator is the finer one: it overlaps the next micro-batch's first gathers and the ZeRO-3 backward re-gathers with
// whatever the compute stream runs; the closed forms expose each micro-batch's first gather
// and last reduce-scatter (evaluate.h), so the analytical step is the higher (0-9%, largest
// for FSDP over 1,024 GPUs, where those per-micro-batch edges are the largest share).
TEST(OneModelTwoResolutions, AnalyticalAndSimulatedStepsAndPeaksAgree) {
  struct C {
    const char* model; const char* cluster; int64_t gpus, batch, seq; const char* layout;
    bool megatron_buckets = false;  // Workload::dp_buckets_megatron_core
    bool fp8 = false;               // Workload::precision
    bool fsdp1 = false;             // !Workload::fsdp2_copies: FSDP1's root unit
  };
  const std::vector<C> cases = {
      {"gpt3-175b", "dgx-a100-80g", 1024, 1024, 2048, "tp=8,sp=on,fsdp=128,zero=3,mbs=1,recompute=full"},
      {"gpt3-175b", "dgx-a100-80g", 1024, 1024, 2048, "tp=8,sp=on,fsdp=16,replicate=8,zero=3,mbs=1,recompute=full"},
      {"gpt3-175b", "dgx-a100-80g", 1024, 1024, 2048, "tp=8,sp=on,fsdp=128,zero=1,mbs=1,recompute=full,recipe=megatron"},
      {"llama2-70b", "dgx-h100", 2048, 1024, 4096, "tp=8,sp=on,fsdp=256,zero=3,mbs=1"},
      {"llama2-70b", "dgx-h100", 2048, 1024, 4096, "tp=8,sp=on,fsdp=32,replicate=8,zero=3,mbs=1"},
      {"llama2-70b", "dgx-h100", 2048, 1024, 4096, "tp=4,sp=on,fsdp=512,zero=3,mbs=1,recompute=full"},
      {"llama2-70b", "dgx-h100", 512, 512, 4096, "tp=8,sp=on,fsdp=64,zero=2,mbs=1"},
      {"llama2-70b", "dgx-h100", 512, 512, 4096, "tp=8,sp=off,fsdp=64,zero=3,mbs=1"},
      {"llama2-7b", "dgx-h100", 256, 1024, 4096, "tp=1,fsdp=256,zero=3,mbs=2"},
      {"llama2-7b", "dgx-h100", 256, 1024, 4096, "tp=1,fsdp=8,replicate=32,zero=3,mbs=4"},
      {"llama2-7b", "dgx-h100", 256, 1024, 4096, "tp=2,sp=on,fsdp=128,zero=3,mbs=1"},
      {"llama2-7b", "dgx-h100", 1024, 1024, 4096, "tp=1,fsdp=1024,zero=3,mbs=1"},
      {"llama2-7b", "dgx-h100", 1024, 1024, 4096, "tp=8,sp=on,fsdp=128,zero=3,mbs=1"},
      {"llama2-13b", "dgx-h100", 64, 256, 4096, "tp=2,sp=on,fsdp=32,zero=2,mbs=2"},
      {"llama2-13b", "dgx-h100", 64, 256, 4096, "tp=1,fsdp=64,zero=2,mbs=1"},
      {"llama2-13b", "dgx-h100", 64, 256, 4096, "tp=1,fsdp=8,replicate=8,zero=1,mbs=2,recipe=megatron"},
      {"llama3-8b", "dgx-h100", 64, 512, 8192, "tp=1,fsdp=64,zero=1,mbs=1,recipe=megatron"},
      {"llama3-8b", "dgx-h100", 64, 512, 8192, "tp=4,sp=on,fsdp=16,zero=3,mbs=1"},
      {"llama3-70b", "dgx-h100", 512, 512, 8192, "tp=8,sp=on,fsdp=64,zero=3,mbs=1"},
      {"llama3-70b", "dgx-h100", 512, 512, 8192, "tp=8,sp=on,fsdp=8,replicate=8,zero=3,mbs=1"},
      {"mpt-30b", "dgx-a100-80g", 128, 1024, 2048, "tp=1,fsdp=128,zero=3,mbs=4,recompute=full"},
      {"mpt-7b", "dgx-a100-40g", 64, 512, 2048, "tp=1,fsdp=64,zero=3,mbs=8"},
      {"llama3-405b", "dgx-h100", 2048, 2048, 8192, "tp=8,sp=on,fsdp=256,zero=3,mbs=1,recompute=full"},
      {"llama3-405b", "dgx-h100", 2048, 2048, 8192, "tp=8,sp=on,fsdp=32,replicate=8,zero=3,mbs=1,recompute=full"},
      {"gpt3-175b", "dgx-a100-80g", 1024, 1024, 2048, "tp=8,sp=on,pp=8,vpp=3,fsdp=16,zero=1,recipe=megatron,recompute=selective"},
      {"llama3-70b", "dgx-h100", 512, 512, 8192, "tp=8,sp=on,pp=4,fsdp=16,zero=1,recipe=megatron,schedule=zb-h1"},
      // ZeRO-1 in Megatron-Core's buckets: 171 over 128 ranks, 7 over 1,024, 126 over 64.
      {"gpt3-175b", "dgx-a100-80g", 1024, 1024, 2048, "tp=8,sp=on,fsdp=128,zero=1,mbs=1,recompute=full,recipe=megatron", true},
      {"llama2-7b", "dgx-h100", 1024, 1024, 4096, "tp=1,fsdp=1024,zero=1,mbs=1,recipe=megatron", true},
      {"llama3-8b", "dgx-h100", 64, 512, 8192, "tp=1,fsdp=64,zero=1,mbs=1,recipe=megatron", true},
      // Expert parallelism: the dispatch and combine block the compute stream in both models, the
      // experts' ZeRO collectives run over the expert-data-parallel group beside the dense part's.
      {"deepseek-v3", "dgx-h100", 2048, 4096, 4096, "tp=1,fsdp=2048,zero=3,mbs=1,recompute=full,ep=16"},
      {"deepseek-v3", "dgx-h100", 2048, 4096, 4096, "tp=1,fsdp=256,replicate=8,zero=3,mbs=4,recompute=full,ep=8"},
      {"deepseek-v3", "dgx-h100", 2048, 4096, 4096, "tp=8,sp=on,fsdp=256,zero=1,mbs=1,recompute=full,recipe=megatron,ep=8"},
      {"mixtral-8x7b", "dgx-h100", 256, 1024, 4096, "tp=2,sp=on,fsdp=128,zero=3,mbs=1,ep=8"},
      {"mixtral-8x7b", "dgx-a100-80g", 64, 512, 4096, "tp=1,fsdp=32,pp=2,zero=1,mbs=1,recipe=megatron,ep=4,recompute=full"},
      // Context parallelism, each exchange: the ring beside the attention blocks, the gathered keys
      // and values, Ulysses' all-to-alls.
      {"llama3-70b", "dgx-h100", 512, 64, 131072, "tp=8,sp=on,fsdp=8,cp=8,zero=3,mbs=1,recompute=full"},
      {"llama3-70b", "dgx-h100", 512, 64, 131072, "tp=8,sp=on,fsdp=16,cp=4,zero=3,mbs=1,recompute=full,cp_comm=all_gather"},
      {"llama3-70b", "dgx-h100", 512, 64, 131072, "tp=8,sp=on,fsdp=8,cp=8,zero=1,mbs=1,recompute=full,recipe=megatron,cp_comm=a2a"},
      // FP8 linear layers (TransformerEngine's delayed scaling: the casts and amax kernels).
      {"llama3-70b", "dgx-h100", 256, 256, 8192, "tp=8,sp=on,fsdp=32,zero=3,mbs=1", false, true},
      // FSDP1 (llm-foundry): the embedding and head in the root unit, held to the backward's end.
      {"mpt-30b", "dgx-a100-80g", 128, 1024, 2048, "tp=1,fsdp=128,zero=3,mbs=4,recompute=full", false, false, true},
      {"mpt-7b", "dgx-a100-40g", 64, 512, 2048, "tp=1,fsdp=64,zero=3,mbs=8", false, false, true}};
  double worst = 0;
  for (const C& c : cases) {
    costmodel::Workload w;
    w.gpus = c.gpus;
    w.global_batch = c.batch;
    w.seq = c.seq;
    w.dp_buckets_megatron_core = c.megatron_buckets;
    if (c.fp8) w.precision = costmodel::Precision::kFp8;
    if (c.fsdp1) w.fsdp2_copies = false;
    costmodel::Layout l = costmodel::ParseLayoutText(c.layout, "--layout");
    costmodel::ResolveLayout(l, w, "--layout");
    const costmodel::Evaluator ev(costmodel::ResolveModel(c.model), costmodel::ResolveCluster(c.cluster), w);
    const costmodel::Evaluation e = ev.Evaluate(l);
    SimOptions o;
    o.record_timeline = false;
    const SimResult r = SimulateStep(ev, l, e, o);
    const double rel = (r.step_s - e.time.step_s) / e.time.step_s;
    worst = std::max(worst, std::abs(rel));
    EXPECT_LE(std::abs(rel), 0.10) << c.model << " " << c.gpus << " " << c.layout << ": simulated "
                                   << r.step_s << " s, analytical " << e.time.step_s << " s";
    // The simulator is never the slower by more than what the evaluator's per-window rule for
    // compute beside collectives leaves out (OverlapSlowdownCost): where a layer's collectives
    // outlast its window, the simulated stream carries them into the next window and slows its
    // kernels too (and the head's and embedding's), which the analytical windows do not carry;
    // seen up to 4.3% at overlap_slowdown 2 (tp 8 x fsdp 8 x replicate 8 on H100).
    EXPECT_LE(r.step_s, e.time.step_s * 1.05) << c.layout;
    // Peak memory: the analytical peak is the bound. Both count the backward's phases apart (the
    // head's units with the logits, freed before the layers' backward recomputes; a layer's
    // units with its recompute working set; the embedding's last), both hold one unit's
    // reduce-dtype copy from the first reduce-scatter of the backward to the last (FSDP2 keeps
    // the reduce-scatter's input until the next unit's post-backward) and both gather the last
    // layer during the head's backward (the head unit's pre-backward prefetch). Without
    // recompute they agree within 3%, with full recompute within 7% (seen: 0 to -2.3%, and 0 to
    // -6.0%, the most for GPT-3 175B over 128 ranks; before the timeline held the copy and the
    // prefetch as FSDP2 does, -1.7 to -8.1%, DeepSeek-V3 the most, its last layer's gather held
    // under the head not counted). Before the simulator followed FSDP2's units its peak was the
    // higher, by up to 35% (Llama 3 405B, fsdp 256), and before the analytical phases were apart
    // the analytical was up to 15% higher (it summed the logits and the recompute working set).
    const double mem = (r.peak_bytes - e.memory.peak_bytes) / e.memory.peak_bytes;
    EXPECT_LE(mem, 1e-9) << c.layout << ": simulated peak " << r.peak_bytes << " B, analytical " << e.memory.peak_bytes;
    EXPECT_GE(mem, l.recompute == costmodel::Recompute::kNone ? -0.03 : -0.07)
        << c.model << " " << c.layout << ": simulated peak " << r.peak_bytes << " B, analytical " << e.memory.peak_bytes;
  }
  EXPECT_GT(worst, 0.0);
}

}  // namespace
}  // namespace meshplan::sim
