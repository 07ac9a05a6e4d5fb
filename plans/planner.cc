// File: plans/planner.cc
#include "plans/planner.h"

#include <algorithm>

#include "costmodel/error.h"

namespace meshplan::plans {

PlanResult Plan(const costmodel::Evaluator& ev, SearchOptions opt, int refine,
                const std::function<void(int64_t, int64_t)>& progress) {
  MESHPLAN_CHECK(refine >= 0);
  opt.top_k = std::max(opt.top_k, refine);
  PlanResult out;
  out.search = Search(ev, opt, progress);
  SearchResult& res = out.search;
  out.sims.resize(res.top.size());
  if (opt.objective != Objective::kStepTime) return out;
  out.refined = std::min(res.top.size(), static_cast<size_t>(refine));
  if (out.refined == 0) return out;
  sim::SimOptions sopt;
  sopt.record_timeline = false;
  std::vector<size_t> order(out.refined);
  for (size_t i = 0; i < out.refined; ++i) {
    out.sims[i] = sim::SimulateStep(ev, res.top[i].layout, res.top[i].eval, sopt);
    order[i] = i;
  }
  // Stable: equal simulated steps keep the analytical order.
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return out.sims[a].step_s < out.sims[b].step_s; });
  std::vector<Candidate> top;
  std::vector<sim::SimResult> sims;
  for (size_t i : order) {
    top.push_back(res.top[i]);
    sims.push_back(out.sims[i]);
  }
  for (size_t i = out.refined; i < res.top.size(); ++i) {
    top.push_back(res.top[i]);
    sims.push_back(out.sims[i]);
  }
  res.top = std::move(top);
  out.sims = std::move(sims);
  return out;
}

}  // namespace meshplan::plans
