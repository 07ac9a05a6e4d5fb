// The exhaustive search: the space it enumerates, the order it ranks, what it counts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <optional>
#include <set>
#include <tuple>

#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "costmodel/error.h"
#include "plans/planner.h"
#include "plans/report.h"
#include "plans/search.h"

namespace meshplan::plans {
namespace {
using costmodel::Evaluator;
using costmodel::Workload;

Workload MakeWorkload(int64_t gpus, int64_t gb, int64_t seq) {
  Workload w;
  w.gpus = gpus;
  w.global_batch = gb;
  w.seq = seq;
  return w;
}

TEST(Enumerate, CountsTheSpaceByHand) {
  // 16 GPUs on 8-GPU nodes, global batch 16, one recipe, flash attention (selective == none):
  // tp in {1,2,4,8}; sp off (+on when tp > 1); fsdp over the divisors of dp; zero 1..3 (only 1
  // when fsdp = 1); mbs over the divisors of the local batch 16/dp; recompute none/full.
  const Evaluator ev(costmodel::ResolveModel("llama2-7b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(16, 16, 4096));
  SearchOptions o;
  o.recipe = costmodel::Recipe::kFsdp2;
  auto zero_choices = [](int64_t dp) {  // sum over divisors f of dp: 1 if f == 1 else 3
    int64_t n = 0;
    for (int64_t f = 1; f <= dp; ++f) if (dp % f == 0) n += f == 1 ? 1 : 3;
    return n;
  };
  auto divisors = [](int64_t n) { int64_t c = 0; for (int64_t i = 1; i <= n; ++i) c += n % i == 0; return c; };
  // Pipelines: pp over the divisors of 16/tp that divide the 32 layers into stages of >= 2;
  // per micro-batch size, 1f1b and zb-h1, and interleaved at each vpp in 2..8 dividing the
  // stage's layers when the micro-batches divide into pp.
  int64_t expected = 0;
  for (int64_t tp : {1, 2, 4, 8}) {
    for (int64_t pp : {1, 2, 4, 8, 16}) {
      if ((16 / tp) % pp != 0) continue;
      const int64_t dp = 16 / tp / pp;
      int64_t per_zero = 0;  // schedules summed over the micro-batch sizes
      for (int64_t mbs = 1; mbs <= 16 / dp; ++mbs) {
        if ((16 / dp) % mbs != 0) continue;
        int64_t schedules = pp == 1 ? 1 : 2;
        for (int64_t v = 2; v <= 8 && pp > 1; ++v) {
          if ((32 / pp) % v == 0 && (16 / (mbs * dp)) % pp == 0) ++schedules;
        }
        per_zero += schedules;
      }
      expected += (tp > 1 ? 2 : 1) * zero_choices(dp) * per_zero * 2;
    }
  }
  {
    SearchOptions flat = o;
    flat.max_pp = 1;  // the space without pipelines: the first round's hand count
    int64_t no_pp = 0;
    for (int64_t tp : {1, 2, 4, 8}) {
      const int64_t dp = 16 / tp;
      no_pp += (tp > 1 ? 2 : 1) * zero_choices(dp) * divisors(16 / dp) * 2;
    }
    EXPECT_EQ(static_cast<int64_t>(EnumerateLayouts(ev, flat).size()), no_pp);
    EXPECT_EQ(no_pp, 254);
  }
  const auto space = EnumerateLayouts(ev, o);
  EXPECT_EQ(static_cast<int64_t>(space.size()), expected);
  std::set<std::string> unique;
  for (const auto& l : space) {
    EXPECT_EQ(l.gpus(), 16);
    unique.insert(costmodel::LayoutToText(l));
  }
  EXPECT_EQ(unique.size(), space.size());
}

TEST(Search, RanksFeasibleByStepTimeAndCountsTheRest) {
  const Evaluator ev(costmodel::ResolveModel("llama2-70b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(2048, 1024, 4096));
  SearchOptions o;
  o.top_k = 20;
  const SearchResult r = Search(ev, o);
  ASSERT_EQ(r.top.size(), 20u);
  for (size_t i = 1; i < r.top.size(); ++i) {
    EXPECT_LE(r.top[i - 1].eval.time.step_s, r.top[i].eval.time.step_s);
    EXPECT_TRUE(r.top[i].eval.feasible());
  }
  int64_t infeasible = r.evaluated - r.feasible;
  EXPECT_GT(infeasible, 0);
  int64_t by_reason = 0;
  for (auto n : r.infeasible_by_reason) by_reason += n;
  EXPECT_GE(by_reason, infeasible);  // a layout may fail for several reasons
  // Seed claim 3: no FSDP-only layout runs, because of the global batch; the best uses TP.
  ASSERT_TRUE(r.best_fsdp_only.has_value());
  EXPECT_FALSE(r.best_fsdp_only->eval.feasible());
  EXPECT_TRUE(r.best_fsdp_only->eval.reasons & costmodel::kReasonGlobalBatch);
  EXPECT_GT(r.top[0].layout.tp, 1);
}

// The search screens every layout and prices only those that can run (Evaluator::Screen), so the
// screening must reach Evaluate's verdict exactly: the same reasons and the same memory, bit for
// bit, over whole spaces with pipelines (every schedule, uneven splits), CP, MoE and batches
// that do not divide. And the search over screened layouts returns what pricing them all would:
// the same counts, the same ranked rows, the same closest infeasible layout per reason.
TEST(Search, ScreenAgreesWithEvaluateAndTheSearchWithPricingAll) {
  struct Case {
    const char* model;
    Workload w;
  };
  for (const Case& k : {Case{"llama2-70b", MakeWorkload(2048, 1024, 4096)},
                        Case{"llama3-70b", MakeWorkload(512, 64, 131072)},
                        Case{"mixtral-8x7b", MakeWorkload(64, 512, 4096)},
                        Case{"llama3-8b", MakeWorkload(96, 60, 8192)}}) {
    SCOPED_TRACE(k.model);
    // No host link, so no activation-offload retries (OffloadsTheFewestLayersThatFit has those):
    // the search assesses exactly the enumerated layouts.
    costmodel::Cluster c = costmodel::ResolveCluster("dgx-h100");
    c.node.host_GBps_per_gpu = 0;
    const Evaluator ev(costmodel::ResolveModel(k.model), c, k.w);
    SearchOptions o;
    o.top_k = 5;
    const std::vector<costmodel::Layout> all = EnumerateLayouts(ev, o);
    ASSERT_GT(all.size(), 1000u);
    int64_t feasible = 0, memory = 0;
    std::array<std::optional<Candidate>, costmodel::kNumReasonCodes> closest;
    for (const costmodel::Layout& l : all) {
      const costmodel::Screening s = ev.Screen(l);
      const costmodel::Evaluation e = ev.Evaluate(l);
      ASSERT_EQ(s.reasons, e.reasons) << costmodel::LayoutToText(l);
      ASSERT_EQ(s.memory.peak_bytes, e.memory.peak_bytes) << costmodel::LayoutToText(l);
      ASSERT_EQ(s.memory.activations_per_layer_bytes, e.memory.activations_per_layer_bytes);
      feasible += e.feasible();
      memory += (e.reasons & costmodel::kReasonMemory) != 0;
      for (int b = 0; b < costmodel::kNumReasonCodes; ++b) {
        auto& c = closest[static_cast<size_t>(b)];
        if ((e.reasons & (1u << b)) && (!c || CloserToFeasible(Candidate{l, e}, *c))) c = Candidate{l, e};
      }
    }
    EXPECT_GT(memory, 0);
    const SearchResult r = Search(ev, o);
    EXPECT_EQ(r.feasible, feasible);
    EXPECT_LT(r.priced, r.evaluated);  // the infeasible ones were screened out
    EXPECT_GE(r.priced, r.feasible);
    EXPECT_EQ(r.infeasible_by_reason[1], memory);  // bit 1: kReasonMemory
    for (const Candidate& c : r.best_infeasible) {
      bool found = false;
      for (const auto& x : closest) found = found || (x && x->layout == c.layout);
      EXPECT_TRUE(found) << costmodel::LayoutToText(c.layout);
      // Priced whole, as Evaluate gives it.
      EXPECT_EQ(c.eval.time.step_s, ev.Evaluate(c.layout).time.step_s);
    }
  }
}

// Activation offload in the search: a Megatron layout without recompute that is short of memory
// is tried with the fewest offloaded layers that fit. Llama 3 70B on 64 H100 at PP 1 without CP:
// offloading beats every recompute layout, and one layer fewer would not fit.
TEST(Search, OffloadsTheFewestLayersThatFit) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-70b");
  const Workload w = MakeWorkload(64, 64, 8192);
  const Evaluator ev(m, costmodel::ResolveCluster("dgx-h100"), w);
  SearchOptions o;
  o.top_k = 5;
  o.recipe = costmodel::Recipe::kMegatron;
  o.max_pp = 1;
  o.max_cp = 1;
  const SearchResult r = Search(ev, o);
  ASSERT_FALSE(r.top.empty());
  const costmodel::Layout best = r.top[0].layout;
  ASSERT_GT(best.cpu_offload_layers, 1);
  EXPECT_EQ(best.recompute, costmodel::Recompute::kNone);
  costmodel::Layout fewer = best;
  --fewer.cpu_offload_layers;
  EXPECT_EQ(ev.Evaluate(fewer).reasons, costmodel::kReasonMemory);
  // No recompute layout comes close: full recompute re-runs every forward.
  for (const auto& c : r.top) {
    if (c.layout.recompute == costmodel::Recompute::kFull) {
      EXPECT_GT(c.eval.time.step_s, 1.2 * r.top[0].eval.time.step_s);
    }
  }
}

TEST(Search, ObjectiveMemoryRanksByPeak) {
  const Evaluator ev(costmodel::ResolveModel("llama2-7b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(64, 128, 4096));
  SearchOptions o;
  o.top_k = 10;
  o.objective = Objective::kMemory;
  const SearchResult r = Search(ev, o);
  for (size_t i = 1; i < r.top.size(); ++i) {
    EXPECT_LE(r.top[i - 1].eval.memory.peak_bytes, r.top[i].eval.memory.peak_bytes);
  }
}

TEST(Search, TooLargeASpaceIsAClearError) {
  const Evaluator ev(costmodel::ResolveModel("llama2-7b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(1024, 1024, 4096));
  SearchOptions o;
  o.max_layouts = 100;
  try {
    Search(ev, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).substr(0, 38), "search: more than 100 layouts to evalu");
  }
}

TEST(Search, SpaceIsCountedBeforeAnythingIsAllocated) {
  // 8648640 = 2^6 3^3 5 7 11 13 has 448 divisors: with TP across nodes the space has billions
  // of layouts. Counting stops at max_layouts + 1 and the error comes before any allocation.
  costmodel::Workload w = MakeWorkload(8648640, 8648640, 2048);
  w.allow_cross_node_tp = true;
  const Evaluator ev(costmodel::ResolveModel("llama2-7b"), costmodel::ResolveCluster("dgx-h100"), w);
  SearchOptions o;
  EXPECT_EQ(CountLayouts(ev, o), o.max_layouts + 1);
  try {
    EnumerateLayouts(ev, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "search: more than 5000000 layouts to evaluate; narrow it with --max-tp, --max-pp, --max-cp, --max-ep or --recipe");
  }
}

TEST(ReportFile, NewerSchemaAndMalformedEntriesAreClearErrors) {
  std::string lt;
  auto error_of = [&](const char* text) {
    try {
      ReadReportFirstLayout(nlohmann::json::parse(text), "r.json", lt);
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of(R"({"schema_version": 2, "layouts": []})"),
            "r.json: schema_version: is 2 but this meshplan reads reports up to 1; upgrade meshplan");
  EXPECT_EQ(error_of(R"({"layouts": []})"), "r.json: schema_version: missing (required)");
  EXPECT_EQ(error_of(R"({"schema_version": 1, "layouts": []})"), "r.json: layouts: is empty");
  EXPECT_EQ(error_of(R"({"schema_version": 1, "layouts": [{"layout_text": "tp=1", "time": 3}]})"),
            "r.json: layouts[0].time: must be an object, got 3");
}


}  // namespace
}  // namespace meshplan::plans

namespace meshplan::plans {
namespace {

// The planner re-ranks the analytical top `refine` by simulated step time and leaves the rest.
TEST(Plan, RefinesTheAnalyticalTopBySimulatedStep) {
  costmodel::Workload w;
  w.gpus = 64;
  w.global_batch = 256;
  w.seq = 4096;
  const costmodel::Evaluator ev(costmodel::ResolveModel("llama2-13b"), costmodel::ResolveCluster("dgx-h100"), w);
  SearchOptions o;
  o.top_k = 12;
  const PlanResult p = Plan(ev, o, 8);
  ASSERT_EQ(p.refined, 8u);
  ASSERT_EQ(p.search.top.size(), 12u);
  for (size_t i = 1; i < p.refined; ++i) EXPECT_LE(p.sims[i - 1].step_s, p.sims[i].step_s);
  for (size_t i = 0; i < p.refined; ++i) EXPECT_GT(p.sims[i].step_s, 0.0);
  for (size_t i = p.refined + 1; i < p.search.top.size(); ++i) {
    EXPECT_LE(p.search.top[i - 1].eval.time.step_s, p.search.top[i].eval.time.step_s);
  }
  // The same set as the plain search's top 12, reordered.
  const SearchResult s = Search(ev, o);
  std::set<std::string> a, b;
  for (const auto& c : s.top) a.insert(costmodel::LayoutToText(c.layout));
  for (const auto& c : p.search.top) b.insert(costmodel::LayoutToText(c.layout));
  EXPECT_EQ(a, b);
  // refine 0 is the analytical ranking; the memory objective is never re-ranked.
  EXPECT_EQ(Plan(ev, o, 0).refined, 0u);
  o.objective = Objective::kMemory;
  EXPECT_EQ(Plan(ev, o, 8).refined, 0u);
}

TEST(Enumerate, ContextParallelDegreesWithRingAndUlysses) {
  // 32 GPUs, seq 32768: cp over the divisors of 32/tp that split the sequence into 2cp chunks and
  // leave >= 4096 tokens per rank (cp <= 8), each with p2p and, where the TP rank's 32/tp heads
  // and 8/tp KV heads split over cp, a2a (Llama 3 8B: tp 1 up to cp 8, tp 2 up to 4, tp 4 cp 2);
  // all_gather only by --layout. --max-cp caps it.
  const Evaluator ev(costmodel::ResolveModel("llama3-8b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(32, 32, 32768));
  SearchOptions o;
  o.recipe = costmodel::Recipe::kFsdp2;
  o.max_pp = 1;
  std::set<std::tuple<int64_t, int64_t, costmodel::CpComm>> seen;  // (tp, cp, comm)
  for (const costmodel::Layout& l : EnumerateLayouts(ev, o)) {
    seen.insert({l.tp, l.cp, l.cp_comm});
    EXPECT_EQ(l.tp * l.cp * l.fsdp * l.replicate, 32);
    EXPECT_TRUE(l.cp_balance);
  }
  using costmodel::CpComm;
  std::set<std::tuple<int64_t, int64_t, CpComm>> want;
  for (int64_t tp : {1, 2, 4, 8}) {
    want.insert({tp, 1, CpComm::kP2p});
    for (int64_t cp : {2, 4, 8}) {
      if (tp * cp > 32) continue;
      want.insert({tp, cp, CpComm::kP2p});
      if ((32 / tp) % cp == 0 && (8 / tp) % cp == 0) want.insert({tp, cp, CpComm::kA2a});
    }
  }
  EXPECT_EQ(seen, want);
  o.max_cp = 1;
  for (const costmodel::Layout& l : EnumerateLayouts(ev, o)) EXPECT_EQ(l.cp, 1);
  o.max_cp = 0;
  o.min_cp_tokens = 1024;  // cp 16 and 32 too (32768 / 32 = 1024)
  int64_t most = 1;
  for (const costmodel::Layout& l : EnumerateLayouts(ev, o)) most = std::max(most, l.cp);
  EXPECT_EQ(most, 32);
}

TEST(Search, LongContextPicksContextParallelismWithItsTraffic) {
  // The issue's case: Llama 3 70B, 512 H100, 64 sequences of 128K. The batch is smaller than
  // the data-parallel degree of every TP x FSDP layout (64 < 512 / 8): only cp > 1 (or pp)
  // brings it below 64.
  const Evaluator ev(costmodel::ResolveModel("llama3-70b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(512, 64, 131072));
  SearchOptions o;
  o.top_k = 5;
  const SearchResult r = Search(ev, o);
  ASSERT_FALSE(r.top.empty());
  const Candidate& best = r.top.front();
  EXPECT_GT(best.layout.cp, 1);
  bool cp_listed = false;
  for (int i = 0; i < best.eval.num_collectives; ++i) {
    cp_listed |= best.eval.collectives[static_cast<size_t>(i)].purpose == costmodel::Purpose::kCpKv;
  }
  EXPECT_TRUE(cp_listed);
  EXPECT_GT(best.eval.throughput.mfu, 0.2);
  EXPECT_LT(best.eval.throughput.mfu, 0.7);
}

TEST(Search, MillionTokenSequencesPlanFinite) {
  const Evaluator ev(costmodel::ResolveModel("llama3-70b"), costmodel::ResolveCluster("dgx-h100"),
                     MakeWorkload(512, 64, 1048576));
  SearchOptions o;
  o.top_k = 3;
  const SearchResult r = Search(ev, o);
  ASSERT_FALSE(r.top.empty());
  for (const Candidate& c : r.top) {
    EXPECT_GT(c.layout.cp, 1);
    EXPECT_TRUE(std::isfinite(c.eval.time.step_s));
    EXPECT_GT(c.eval.time.step_s, 0);
    EXPECT_GT(c.eval.throughput.mfu, 0.2);  // attention-bound: high MFU, not an absurd one
    EXPECT_LT(c.eval.throughput.mfu, 0.8);
    EXPECT_LE(c.eval.memory.peak_bytes, c.eval.memory.capacity_bytes);
  }
}


// Expert parallelism is enumerated for an MoE model only: every ep dividing fsdp x cp and the
// experts, and never ep > 1 with tp > 1 and sp off (Megatron-LM requires SP there).
TEST(Enumerate, ExpertParallelDegreesForMoeModelsOnly) {
  const Workload w = MakeWorkload(64, 512, 4096);
  plans::SearchOptions o;
  o.max_pp = 1;
  o.max_cp = 1;
  const Evaluator moe(costmodel::ResolveModel("mixtral-8x7b"), costmodel::ResolveCluster("dgx-a100-80g"), w);
  std::set<int64_t> eps;
  for (const costmodel::Layout& l : EnumerateLayouts(moe, o)) {
    eps.insert(l.ep);
    EXPECT_EQ(l.shard() % l.ep, 0);
    EXPECT_FALSE(l.ep > 1 && l.tp > 1 && !l.sp);
  }
  EXPECT_EQ(eps, (std::set<int64_t>{1, 2, 4, 8}));
  o.max_ep = 2;
  eps.clear();
  for (const costmodel::Layout& l : EnumerateLayouts(moe, o)) eps.insert(l.ep);
  EXPECT_EQ(eps, (std::set<int64_t>{1, 2}));
  const Evaluator dense(costmodel::ResolveModel("llama2-7b"), costmodel::ResolveCluster("dgx-a100-80g"), w);
  for (const costmodel::Layout& l : EnumerateLayouts(dense, o)) ASSERT_EQ(l.ep, 1);
}

}  // namespace
}  // namespace meshplan::plans
