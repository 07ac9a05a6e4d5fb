// File: plans/planner.h
// The planning logic as a library function (the CLI's `plan` and `sweep` call it): the
// exhaustive analytical search (search.h), then the discrete-event simulator (sim/) re-ranks
// the analytical top `refine` by simulated step time. Pure: no printing, no files.
#ifndef MESHPLAN_PLANS_PLANNER_H_
#define MESHPLAN_PLANS_PLANNER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "costmodel/evaluate.h"
#include "plans/search.h"
#include "sim/simulate.h"

namespace meshplan::plans {

struct PlanResult {
  SearchResult search;               // search.top re-ranked: the refined ones first, by simulation
  std::vector<sim::SimResult> sims;  // same index as search.top; simulated for i < refined
  size_t refined = 0;
};

/// REQUIRES: refine >= 0. With Objective::kMemory nothing is re-ranked (refined = 0). The search
/// keeps max(top_k, refine) candidates so that all `refine` can be simulated.
PlanResult Plan(const costmodel::Evaluator& ev, SearchOptions opt, int refine,
                const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_PLANNER_H_
