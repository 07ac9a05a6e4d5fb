// File: sim/pipeline.cc
// List scheduling of the pipeline's action lists: ranks advance in turn as far as their inputs
// allow; every action's start is max(rank free, input ready), so the order of the sweep does not
// change the result.
#include "sim/pipeline.h"

#include <algorithm>

#include "costmodel/error.h"

namespace meshplan::sim {

using costmodel::Action;
using costmodel::ActionKind;

PipelineRun RunPipeline(const PipelineInput& in) {
  const int64_t p = in.p, v = in.v, m = in.m, V = p * v;
  MESHPLAN_CHECK(static_cast<int64_t>(in.chunks.size()) == V);
  const auto lists = costmodel::ScheduleActions(in.schedule, p, v, m);
  const bool split_w = in.schedule == costmodel::Schedule::kZeroBubble;
  // Finish times of F and B per (micro-batch, virtual stage); < 0: not yet run.
  std::vector<double> fdone(static_cast<size_t>(m * V), -1.0), bdone(static_cast<size_t>(m * V), -1.0);
  std::vector<size_t> next(static_cast<size_t>(p), 0);
  std::vector<double> free_at(static_cast<size_t>(p), 0.0), busy(static_cast<size_t>(p), 0.0);
  PipelineRun run;
  size_t total = 0, done = 0;
  for (const auto& l : lists) total += l.size();
  if (in.record) run.actions_run.reserve(total);
  auto at = [&](int64_t mb, int64_t vs) { return static_cast<size_t>(mb * V + vs); };
  while (done < total) {
    bool progress = false;
    for (int64_t r = 0; r < p; ++r) {
      const auto& list = lists[static_cast<size_t>(r)];
      size_t& i = next[static_cast<size_t>(r)];
      while (i < list.size()) {
        const Action& a = list[i];
        const int64_t vs = static_cast<int64_t>(a.chunk) * p + r;
        const ChunkCost& c = in.chunks[static_cast<size_t>(vs)];
        double ready = free_at[static_cast<size_t>(r)];
        double dur = 0;
        if (a.kind == ActionKind::kForward) {
          if (vs > 0) {
            const double t = fdone[at(a.micro_batch, vs - 1)];
            if (t < 0) break;
            ready = std::max(ready, t + in.p2p_s);
          }
          dur = c.fwd_s;
        } else if (a.kind == ActionKind::kBackward) {
          if (vs < V - 1) {
            const double t = bdone[at(a.micro_batch, vs + 1)];
            if (t < 0) break;
            ready = std::max(ready, t + in.p2p_s);
          } else {
            const double t = fdone[at(a.micro_batch, vs)];
            MESHPLAN_CHECK(t >= 0);  // issued earlier on this rank
            ready = std::max(ready, t);
          }
          dur = c.bwd_s + (split_w ? 0.0 : c.wgrad_s);
        } else {
          MESHPLAN_CHECK(bdone[at(a.micro_batch, vs)] >= 0);
          dur = c.wgrad_s;
        }
        const double end = ready + dur;
        if (a.kind == ActionKind::kForward) fdone[at(a.micro_batch, vs)] = end;
        if (a.kind == ActionKind::kBackward) bdone[at(a.micro_batch, vs)] = end;
        free_at[static_cast<size_t>(r)] = end;
        busy[static_cast<size_t>(r)] += dur;
        if (in.record) run.actions_run.push_back({a, static_cast<int32_t>(r), ready, end});
        ++i;
        ++done;
        progress = true;
      }
    }
    MESHPLAN_CHECK(progress);  // the schedules are deadlock-free by construction
  }
  run.makespan_s = *std::max_element(free_at.begin(), free_at.end());
  const std::vector<double> peak = costmodel::PeakInFlight(lists, v);
  for (int64_t r = 0; r < p; ++r) {
    StageRun s;
    s.stage = r;
    s.busy_s = busy[static_cast<size_t>(r)];
    s.end_s = free_at[static_cast<size_t>(r)];
    s.idle_s = run.makespan_s - s.busy_s;
    s.peak_in_flight = peak[static_cast<size_t>(r)];
    run.stages.push_back(s);
  }
  return run;
}

}  // namespace meshplan::sim
