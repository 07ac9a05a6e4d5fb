// File: sim/trace.cc
// Chrome Trace Event Format export (see trace.h). Times in µs, memory in GiB (2^30 bytes).
#include "sim/trace.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/memory.h"

namespace meshplan::sim {
namespace {

constexpr double kUs = 1e6;

nlohmann::json Meta(const char* name, int tid, nlohmann::json args) {
  return {{"name", name}, {"ph", "M"}, {"pid", 0}, {"tid", tid}, {"args", std::move(args)}};
}

nlohmann::json Counter(double t_s, double bytes) {
  return {{"name", kMemoryCounterName},
          {"ph", "C"},
          {"pid", 0},
          {"ts", t_s * kUs},
          {"args", {{"allocated", bytes / costmodel::kGiB}}}};
}

}  // namespace

std::string ChromeTrace(const SimResult& r) {
  nlohmann::json events = nlohmann::json::array();
  if (!r.stages.empty()) {
    // Pipeline: one process per stage, its compute track.
    for (const StageResult& s : r.stages) {
      const int pid = static_cast<int>(s.stage);
      events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"tid", 0},
                        {"args", {{"name", "stage " + std::to_string(s.stage)}}}});
      events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"tid", 0},
                        {"args", {{"sort_index", pid}}}});
    }
  } else {
    events.push_back(Meta("process_name", 0, {{"name", "meshplan simulated step (one GPU)"}}));
  }
  std::array<bool, kNumStreams> used{};
  used[static_cast<size_t>(Stream::kCompute)] = true;
  for (const TaskRecord& t : r.tasks_run) used[static_cast<size_t>(t.stream)] = true;
  for (int s = 0; s < kNumStreams; ++s) {
    if (!used[static_cast<size_t>(s)]) continue;
    events.push_back(Meta("thread_name", s, {{"name", ToString(static_cast<Stream>(s))}}));
    events.push_back(Meta("thread_sort_index", s, {{"sort_index", s}}));
  }
  for (const TaskRecord& t : r.tasks_run) {
    nlohmann::json x = {{"name", TaskName(t)},
                        {"cat", ToString(t.kind)},
                        {"ph", "X"},
                        {"pid", t.stage >= 0 ? t.stage : 0},
                        {"tid", static_cast<int>(t.stream)},
                        {"ts", t.start_s * kUs},
                        {"dur", (t.end_s - t.start_s) * kUs}};
    nlohmann::json args = nlohmann::json::object();
    if (t.micro_batch >= 0) args["micro_batch"] = t.micro_batch;
    if (t.layer >= 0) args["layer"] = t.layer;
    if (!args.empty()) x["args"] = std::move(args);
    events.push_back(std::move(x));
  }
  // Memory: the static bytes at t = 0 (unless events happen then), then the total after the last
  // event of each instant (frees precede allocations at one instant, so no peak is lost).
  if (r.memory.empty() || r.memory.front().time_s > 0) events.push_back(Counter(0.0, r.static_bytes));
  for (size_t i = 0; i < r.memory.size(); ++i) {
    const MemoryEvent& m = r.memory[i];
    if (i + 1 < r.memory.size() && r.memory[i + 1].time_s == m.time_s) continue;
    events.push_back(Counter(m.time_s, m.total_bytes));
  }
  nlohmann::json other = {{"step_s", r.step_s},
                          {"compute_s", r.compute_s},
                          {"exposed_tp_comm_s", r.exposed_tp_comm_s},
                          {"exposed_fsdp_comm_s", r.exposed_fsdp_comm_s},
                          {"exposed_dp_comm_s", r.exposed_dp_comm_s},
                          {"optimizer_s", r.optimizer_s},
                          {"peak_bytes", r.peak_bytes},
                          {"peak_time_s", r.peak_time_s},
                          {"bubble_s", r.bubble_s},
                          {"micro_batches", r.micro_batches},
                          {"layers", r.layers}};
  if (r.exposed_cp_comm_s > 0) other["exposed_cp_comm_s"] = r.exposed_cp_comm_s;
  if (r.exposed_ep_comm_s > 0) other["exposed_ep_comm_s"] = r.exposed_ep_comm_s;
  const nlohmann::json doc = {
      {"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
  return doc.dump();
}

}  // namespace meshplan::sim

namespace meshplan::sim {
namespace {

struct Bar {
  Stream stream;
  TaskKind kind;
  std::string first, last;
  double start_s, end_s;
  int64_t tasks;
  double busy_s;  // time the stream ran tasks of `kind` inside the bar
};

/// One stream's tasks (sorted by start) as bars at a resolution of `bins` equal bins over
/// [0, span_s): each bin where the stream runs anything shows the kind busiest in it;
/// neighbouring bins of one kind make one bar (busy_s: that kind's time in it), named after the
/// first and last task of that kind whose midpoint falls in it.
void BinStream(const std::vector<const TaskRecord*>& tasks, Stream stream, size_t bins,
               double span_s, std::vector<Bar>& out) {
  const double w = span_s / static_cast<double>(bins);
  std::vector<std::array<double, kNumTaskKinds>> busy(bins);
  auto bin_of = [&](double t) {
    return std::min(bins - 1, static_cast<size_t>(std::max(0.0, t / w)));
  };
  for (const TaskRecord* t : tasks) {
    for (size_t b = bin_of(t->start_s); b <= bin_of(t->end_s); ++b) {
      const double lo = std::max(t->start_s, w * static_cast<double>(b));
      const double hi = std::min(t->end_s, w * static_cast<double>(b + 1));
      if (hi > lo) busy[b][static_cast<size_t>(t->kind)] += hi - lo;
    }
  }
  std::vector<long> bar_of(bins, -1);
  for (size_t b = 0; b < bins; ++b) {
    double total = 0;
    size_t k = 0;
    for (size_t i = 0; i < busy[b].size(); ++i) {
      total += busy[b][i];
      if (busy[b][i] > busy[b][k]) k = i;
    }
    if (total <= 0) continue;
    const auto kind = static_cast<TaskKind>(k);
    if (b > 0 && bar_of[b - 1] >= 0 && out[static_cast<size_t>(bar_of[b - 1])].kind == kind) {
      bar_of[b] = bar_of[b - 1];
      out[static_cast<size_t>(bar_of[b])].end_s = w * static_cast<double>(b + 1);
      out[static_cast<size_t>(bar_of[b])].busy_s += busy[b][k];
    } else {
      bar_of[b] = static_cast<long>(out.size());
      out.push_back({stream, kind, "", "", w * static_cast<double>(b), w * static_cast<double>(b + 1), 0,
                     busy[b][k]});
    }
  }
  for (const TaskRecord* t : tasks) {
    const long i = bar_of[bin_of(0.5 * (t->start_s + t->end_s))];
    if (i < 0 || out[static_cast<size_t>(i)].kind != t->kind) continue;
    Bar& bar = out[static_cast<size_t>(i)];
    (bar.tasks == 0 ? bar.first : bar.last) = TaskName(*t);
    ++bar.tasks;
  }
  for (Bar& bar : out) {
    if (bar.stream == stream && bar.tasks == 0) bar.first = std::string(ToString(bar.kind));
  }
}

}  // namespace

nlohmann::json TimelineJson(const SimResult& r, size_t max_tasks, size_t max_points) {
  MESHPLAN_CHECK(max_tasks >= 1 && max_points >= 2);
  std::array<std::vector<const TaskRecord*>, kNumStreams> by_stream;
  double span_s = r.step_s;
  for (const TaskRecord& t : r.tasks_run) {
    by_stream[static_cast<size_t>(t.stream)].push_back(&t);
    span_s = std::max(span_s, t.end_s);
  }
  std::vector<Bar> bars;
  const bool binned = r.tasks_run.size() > max_tasks;
  // Exact tasks when they fit; else each stream at max_tasks / streams bins (at most that many bars).
  for (size_t s = 0; s < by_stream.size(); ++s) {
    auto& ts = by_stream[s];
    std::stable_sort(ts.begin(), ts.end(),
                     [](const TaskRecord* a, const TaskRecord* b) { return a->start_s < b->start_s; });
    if (binned) {
      if (!ts.empty() && span_s > 0) {
        BinStream(ts, static_cast<Stream>(s), std::max<size_t>(1, max_tasks / kNumStreams), span_s, bars);
      }
      continue;
    }
    for (const TaskRecord* t : ts) {
      bars.push_back({t->stream, t->kind, TaskName(*t), "", t->start_s, t->end_s, 1, t->end_s - t->start_s});
    }
  }
  nlohmann::json timeline = nlohmann::json::array();
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    timeline.push_back({{"stream", ToString(b.stream)},
                        {"kind", ToString(b.kind)},
                        {"name", b.last.empty() ? b.first : b.first + " .. " + b.last},
                        {"start_s", b.start_s},
                        {"end_s", b.end_s},
                        {"tasks", b.tasks},
                        {"busy_share", b.end_s > b.start_s ? std::min(1.0, b.busy_s / (b.end_s - b.start_s)) : 1.0}});
  }
  // Memory: the total after the last event of each instant, the static bytes at t = 0 first.
  std::vector<std::pair<double, double>> pts;
  if (r.memory.empty() || r.memory.front().time_s > 0) pts.emplace_back(0.0, r.static_bytes);
  for (size_t i = 0; i < r.memory.size(); ++i) {
    if (i + 1 < r.memory.size() && r.memory[i + 1].time_s == r.memory[i].time_s) continue;
    pts.emplace_back(r.memory[i].time_s, r.memory[i].total_bytes);
  }
  if (pts.size() > max_points) {
    // Equal time bins; each keeps its highest point (at that point's time) and the last bin the
    // step's final value, so the curve keeps its peak and its end.
    const size_t bins = max_points - 1;
    const double span = std::max(r.step_s, pts.back().first);
    std::vector<std::pair<double, double>> kept;
    size_t i = 0;
    for (size_t b = 0; b < bins && i < pts.size(); ++b) {
      const double hi = span * static_cast<double>(b + 1) / static_cast<double>(bins);
      const size_t first = i;
      size_t best = i;
      for (; i < pts.size() && (pts[i].first < hi || b + 1 == bins); ++i) {
        if (pts[i].second > pts[best].second) best = i;
      }
      if (i > first) kept.push_back(pts[best]);
    }
    if (kept.front() != pts.front()) kept.insert(kept.begin(), pts.front());
    if (kept.back() != pts.back()) kept.push_back(pts.back());
    pts = std::move(kept);
  }
  nlohmann::json memory = nlohmann::json::array();
  for (const auto& [t, bytes] : pts) memory.push_back({{"t_s", t}, {"bytes", bytes}});
  return {{"timeline", std::move(timeline)},
          {"timeline_tasks", static_cast<int64_t>(r.tasks_run.size())},
          {"timeline_binned_s", binned ? span_s / static_cast<double>(std::max<size_t>(1, max_tasks / kNumStreams)) : 0.0},
          {"memory", std::move(memory)}};
}

}  // namespace meshplan::sim
