// File: sim/pipeline.cc
// List scheduling of the pipeline's action lists: ranks advance in turn as far as their inputs
// allow; every action's start is max(rank free, input ready), so the order of the sweep does not
// change the result. With blocking exchanges (Megatron-LM 2022) the ranks run BlockingProgram
// instead, each exchange a rendezvous of the ranks it pairs.
#include "sim/pipeline.h"

#include <algorithm>

#include "costmodel/error.h"

namespace meshplan::sim {

using costmodel::Action;
using costmodel::ActionKind;

namespace {

// One send over hop `hop` (PipelineInput::hop_s).
double HopTime(const PipelineInput& in, int64_t hop) {
  return in.hop_s.empty() ? in.p2p_s : in.hop_s[static_cast<size_t>(hop)];
}

// The blocking engine: ranks run their programs in turn as far as they can; an exchange posts
// its operations (the k-th send from a to b pairs with the k-th receive at b from a, NCCL's
// order per peer) and completes when every partner has posted: at the latest post of each pair
// + p2p_s, then gather_s per tensor received. Completion times depend only on post times, so the
// order of the sweep does not change the result.
void RunBlocking(const PipelineInput& in, const std::vector<std::vector<Action>>& lists, PipelineRun& run,
                 std::vector<double>& free_at, std::vector<double>& busy) {
  const int64_t p = in.p;
  const auto programs = costmodel::BlockingProgram(in.schedule, in.v, in.m, lists);
  // One queue of post times per ordered neighbour pair (a, b): slot 2a for b = a + 1 (mod p),
  // 2a + 1 for b = a - 1; with p == 2 both neighbours are one peer, so one queue (NCCL's order).
  auto slot = [&](int64_t a, bool to_next) {
    return static_cast<size_t>(2 * a + (p == 2 || to_next ? 0 : 1));
  };
  std::vector<std::vector<double>> sends(static_cast<size_t>(2 * p)), recvs(static_cast<size_t>(2 * p));
  struct Posted {
    size_t queue;
    size_t index;
    bool send;
    int64_t hop;  // the link between the pair
  };
  // The operations the rank's current exchange posted (every exchange has one or more: empty
  // means not posted yet).
  std::vector<std::vector<Posted>> pending(static_cast<size_t>(p));
  std::vector<size_t> next(static_cast<size_t>(p), 0);
  size_t total = 0, done = 0;
  for (const auto& l : programs) total += l.size();
  while (done < total) {
    bool progress = false;
    for (int64_t r = 0; r < p; ++r) {
      const auto& prog = programs[static_cast<size_t>(r)];
      size_t& i = next[static_cast<size_t>(r)];
      double& t = free_at[static_cast<size_t>(r)];
      while (i < prog.size()) {
        const costmodel::BlockingStep& st = prog[i];
        if (st.compute) {
          const Action& a = st.action;
          const int64_t vs = static_cast<int64_t>(a.chunk) * p + r;
          const ChunkCost& c = in.chunks[static_cast<size_t>(vs)];
          const double dur = a.kind == ActionKind::kForward ? c.fwd_s : c.bwd_s + c.wgrad_s;
          if (in.record) run.actions_run.push_back({a, static_cast<int32_t>(r), t, t + dur});
          t += dur;
          busy[static_cast<size_t>(r)] += dur;
          ++i;
          ++done;
          progress = true;
          continue;
        }
        auto& mine = pending[static_cast<size_t>(r)];
        if (mine.empty()) {
          const int64_t nxt = (r + 1) % p, prv = (r + p - 1) % p;
          auto post = [&](uint8_t bit, bool send, int64_t from, bool to_next) {
            if (!(st.ops & bit)) return;
            auto& q = (send ? sends : recvs)[slot(from, to_next)];
            q.push_back(t);
            mine.push_back({slot(from, to_next), q.size() - 1, send, to_next ? from : (from + p - 1) % p});
          };
          post(costmodel::kSendPrev, true, r, false);
          post(costmodel::kRecvPrev, false, prv, true);
          post(costmodel::kSendNext, true, r, true);
          post(costmodel::kRecvNext, false, nxt, false);
          progress = true;
        }
        double end = t;
        int received = 0;
        bool matched = true;
        for (const Posted& x : mine) {
          const auto& other = (x.send ? recvs : sends)[x.queue];
          if (other.size() <= x.index) {
            matched = false;
            break;
          }
          end = std::max(end, std::max(t, other[x.index]) + HopTime(in, x.hop));
          received += x.send ? 0 : 1;
        }
        if (!matched) break;
        t = end + received * in.gather_s;
        mine.clear();
        ++i;
        ++done;
        progress = true;
      }
    }
    MESHPLAN_CHECK(progress);  // Megatron's exchange orders pair up
  }
}

// The async engine: each action starts when its rank is free and its input has arrived.
void RunAsync(const PipelineInput& in, const std::vector<std::vector<Action>>& lists, PipelineRun& run,
              std::vector<double>& free_at, std::vector<double>& busy) {
  const int64_t p = in.p, m = in.m, V = p * in.v;
  const bool split_w = in.schedule == costmodel::Schedule::kZeroBubble;
  // Finish times of F and B per (micro-batch, virtual stage); < 0: not yet run.
  std::vector<double> fdone(static_cast<size_t>(m * V), -1.0), bdone(static_cast<size_t>(m * V), -1.0);
  std::vector<size_t> next(static_cast<size_t>(p), 0);
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
            ready = std::max(ready, t + HopTime(in, (vs - 1) % p));
          }
          dur = c.fwd_s;
        } else if (a.kind == ActionKind::kBackward) {
          if (vs < V - 1) {
            const double t = bdone[at(a.micro_batch, vs + 1)];
            if (t < 0) break;
            ready = std::max(ready, t + HopTime(in, vs % p));
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
}

}  // namespace

PipelineRun RunPipeline(const PipelineInput& in) {
  const int64_t p = in.p, v = in.v, m = in.m, V = p * v;
  MESHPLAN_CHECK(static_cast<int64_t>(in.chunks.size()) == V);
  MESHPLAN_CHECK(in.hop_s.empty() || static_cast<int64_t>(in.hop_s.size()) == p);
  const auto lists = costmodel::ScheduleActions(in.schedule, p, v, m);
  std::vector<double> free_at(static_cast<size_t>(p), 0.0), busy(static_cast<size_t>(p), 0.0);
  PipelineRun run;
  if (in.blocking) {
    RunBlocking(in, lists, run, free_at, busy);
  } else {
    RunAsync(in, lists, run, free_at, busy);
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
