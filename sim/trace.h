// File: sim/trace.h
// Export of a simulated step in the Chrome Trace Event Format (the JSON object form that
// chrome://tracing and Perfetto open): {"traceEvents": [...], "displayTimeUnit": "ms",
// "otherData": {...}}. One process (pid 0), one thread track per stream (tid = Stream value,
// named by "thread_name" metadata), one "X" complete event per task with ts/dur in µs, and a
// "C" counter track "memory (GiB)" with the allocated bytes after each instant's events.
// The output depends only on the SimResult: same result, same bytes.
#ifndef MESHPLAN_SIM_TRACE_H_
#define MESHPLAN_SIM_TRACE_H_

#include <cstddef>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "sim/simulate.h"

namespace meshplan::sim {

// ChromeTrace(const SimResult&) is declared in sim/simulate.h.
inline constexpr const char* kMemoryCounterName = "memory (GiB)";

/// A compact, bounded timeline for reports: {"timeline": [{stream, kind, name, start_s, end_s,
/// tasks, busy_share}], "timeline_tasks": N, "timeline_binned_s": B, "memory": [{t_s, bytes}]}. Every task
/// as it ran when there are at most `max_tasks` (B = 0); else each stream drawn at a resolution
/// of B seconds (max_tasks / streams bins; a bar per run of bins where one kind keeps the stream
/// busiest, named "first .. last" task of it, `tasks` of them, busy that share of the bar). The memory curve is the total after
/// each instant, reduced to at most `max_points` (+2) by keeping each time bin's maximum, so the
/// peak, the first and the last points survive. Deterministic: same result, same JSON.
/// REQUIRES: max_tasks >= 1, max_points >= 2.
nlohmann::json TimelineJson(const SimResult& r, size_t max_tasks = 3000, size_t max_points = 1500);

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_TRACE_H_
