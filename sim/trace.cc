// File: sim/trace.cc
// Chrome Trace Event Format export (see trace.h). Times in µs, memory in GiB (2^30 bytes).
#include "sim/trace.h"

#include <array>

#include <nlohmann/json.hpp>

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
  events.push_back(Meta("process_name", 0, {{"name", "meshplan simulated step (one GPU)"}}));
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
                        {"pid", 0},
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
                          {"micro_batches", r.micro_batches},
                          {"layers", r.layers}};
  const nlohmann::json doc = {
      {"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
  return doc.dump();
}

}  // namespace meshplan::sim
