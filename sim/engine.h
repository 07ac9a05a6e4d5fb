// File: sim/engine.h
// The discrete-event engine that runs a StepGraph on its streams (seconds, bytes, per GPU).
//
// Resources are the streams; each runs its tasks one at a time in issue order (CUDA stream
// semantics). A task starts at the first instant its predecessors have all ended and its stream
// is free. Events (task ends) sit in a min-heap keyed by (time, task index); all ends at one
// instant are processed (frees first) before any task starts at that instant.
//
// Overlap slowdown: a compute task (layer/head compute, optimizer) progresses at rate
// 1/overlap_slowdown while one or more communication tasks (FSDP all-gather/reduce-scatter,
// ZeRO-1, DP all-reduce) run, at rate 1 otherwise; its end is rescheduled whenever that changes.
// TP collectives and communication tasks keep their durations.
//
// Exposed communication: each interval in which the compute stream sits idle is walked back
// along the chain of tasks that blocked it (a task's blocker is whichever of its predecessors
// and its stream predecessor ended last) and each instant is charged to the kind of the task
// on that chain running then.
#ifndef MESHPLAN_SIM_ENGINE_H_
#define MESHPLAN_SIM_ENGINE_H_

#include "sim/simulate.h"
#include "sim/step_graph.h"

namespace meshplan::sim {

struct EngineOptions {
  bool serialize = false;         // run every task on one resource in issue order
  double overlap_slowdown = 1.0;  // >= 1
  bool record_timeline = true;    // fill SimResult::tasks_run and ::memory
};

SimResult RunEngine(const StepGraph& g, const EngineOptions& o);

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_ENGINE_H_
