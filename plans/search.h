// File: plans/search.h
// Exhaustive layout search (Timeloop's space x search x evaluator shape): enumerate every
// TP/SP/CP/PP/FSDP x replicate/ZeRO/micro-batch/recompute/recipe combination for a GPU count, cost
// each with the analytical evaluator, count the infeasible ones by reason, and rank the rest.
#ifndef MESHPLAN_PLANS_SEARCH_H_
#define MESHPLAN_PLANS_SEARCH_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "costmodel/evaluate.h"
#include "costmodel/specs.h"
#include "plans/framework.h"

namespace meshplan::plans {

enum class Objective { kStepTime, kMemory };

struct SearchOptions {
  int top_k = 10;
  Objective objective = Objective::kStepTime;
  int64_t max_tp = 0;                               // 0: GPUs per node (or all, cross-node)
  std::optional<costmodel::Recipe> recipe;          // unset: both recipes
  // Refuse larger spaces: 5M layouts are ~3 s of search and ~0.4 GB.
  int64_t max_layouts = 5'000'000;
  int64_t max_pp = 0;                               // 0: any; 1: no pipeline parallelism
  int64_t max_cp = 0;                               // 0: any; 1: no context parallelism
  int64_t max_ep = 0;                               // 0: any; 1: no expert parallelism
  // Context parallelism is searched only while each rank keeps this many tokens of a sequence.
  // NVIDIA's DGX Cloud recipes run it from 4096 (Llama 3.1 8B, seq 8192, cp 2: dgxc-h100.json);
  // below that a ring step's K,V block (4 s/cp kv_heads d bytes) nears its attention block
  // (2 (s/cp)^2 heads d FLOPs) once the ring crosses the network: for Llama 3 70B at TP 8 on
  // H100 at 400 Gb/s per GPU they are equal at ~2,500 tokens. It keeps CP out of the short-
  // sequence searches, where it only multiplies the space.
  int64_t min_cp_tokens = 4096;
  // --framework NAME: only the layouts that framework runs (its file's "layouts" and what its
  // "selective" means); unset: every layout meshplan prices.
  std::optional<FrameworkLayouts> runs;
  std::string runs_framework;  // its name, for the caveat
};

struct Candidate {
  costmodel::Layout layout;
  costmodel::Evaluation eval;
};

struct SearchResult {
  std::vector<Candidate> top;  // feasible, best first
  int64_t evaluated = 0;  // layouts assessed: every one screened ...
  int64_t priced = 0;     // ... and priced, those that can run (and ties among those that cannot)
  int64_t feasible = 0;
  std::array<int64_t, costmodel::kNumReasonCodes> infeasible_by_reason{};
  std::optional<Candidate> best_fsdp_only;  // tp = pp = 1; feasible if any is, else the best infeasible
  /// For each reason code that occurred, the infeasible layout closest to running.
  std::vector<Candidate> best_infeasible;
  double seconds = 0;
};

/// How many layouts EnumerateLayouts would return, counting no further than max_layouts + 1.
int64_t CountLayouts(const costmodel::Evaluator& ev, const SearchOptions& opt);

/// Every layout of the space, in a fixed order; throws Error when there are more than
/// opt.max_layouts.
std::vector<costmodel::Layout> EnumerateLayouts(const costmodel::Evaluator& ev,
                                                const SearchOptions& opt);

/// REQUIRES: opt.top_k >= 1. `progress(done, total)` is called now and then when set.
SearchResult Search(const costmodel::Evaluator& ev, const SearchOptions& opt,
                    const std::function<void(int64_t, int64_t)>& progress = {});

/// Among infeasible layouts: fewer reasons, then less memory, then faster.
bool CloserToFeasible(const Candidate& a, const Candidate& b);

/// Ranking order: true when a should come before b.
bool Better(const Candidate& a, const Candidate& b, Objective objective);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_SEARCH_H_
