// File: sim/trace.h
// Export of a simulated step in the Chrome Trace Event Format (the JSON object form that
// chrome://tracing and Perfetto open): {"traceEvents": [...], "displayTimeUnit": "ms",
// "otherData": {...}}. One process (pid 0), one thread track per stream (tid = Stream value,
// named by "thread_name" metadata), one "X" complete event per task with ts/dur in µs, and a
// "C" counter track "memory (GiB)" with the allocated bytes after each instant's events.
// The output depends only on the SimResult: same result, same bytes.
#ifndef MESHPLAN_SIM_TRACE_H_
#define MESHPLAN_SIM_TRACE_H_

#include <string>

#include "sim/simulate.h"

namespace meshplan::sim {

// ChromeTrace(const SimResult&) is declared in sim/simulate.h.
inline constexpr const char* kMemoryCounterName = "memory (GiB)";

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_TRACE_H_
