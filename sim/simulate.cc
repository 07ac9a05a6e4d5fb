// File: sim/simulate.cc
// SimulateStep: graph + engine, and the names of streams, kinds and tasks.
#include "sim/simulate.h"

#include <string>

#include "costmodel/error.h"
#include "sim/engine.h"
#include "sim/step_graph.h"

namespace meshplan::sim {

TaskKind KindOf(Op op) {
  switch (op) {
    case Op::kLayerFwd:
    case Op::kLayerBwd:
    case Op::kHeadFwd:
    case Op::kHeadBwd: return TaskKind::kCompute;
    case Op::kLayerFwdTp:
    case Op::kLayerBwdTp:
    case Op::kHeadFwdTp:
    case Op::kHeadBwdTp: return TaskKind::kTpComm;
    case Op::kAgLayerFwd:
    case Op::kAgLayerBwd:
    case Op::kAgOuter:
    case Op::kZero1Ag: return TaskKind::kFsdpAg;
    case Op::kRsLayer:
    case Op::kRsOuter:
    case Op::kZero1Rs: return TaskKind::kFsdpRs;
    case Op::kDpAllReduce: return TaskKind::kDpAr;
    case Op::kOptimizer: return TaskKind::kOptimizer;
  }
  return TaskKind::kCompute;
}

std::string_view ToString(Stream s) {
  switch (s) {
    case Stream::kCompute: return "compute";
    case Stream::kCommIntra: return "comm_intra";
    case Stream::kCommInter: return "comm_inter";
  }
  return "?";
}

std::string_view ToString(TaskKind k) {
  switch (k) {
    case TaskKind::kCompute: return "compute";
    case TaskKind::kTpComm: return "tp_comm";
    case TaskKind::kFsdpAg: return "fsdp_ag";
    case TaskKind::kFsdpRs: return "fsdp_rs";
    case TaskKind::kDpAr: return "dp_ar";
    case TaskKind::kOptimizer: return "optimizer";
  }
  return "?";
}

std::string_view ToString(Op op) {
  switch (op) {
    case Op::kLayerFwd: return "fwd";
    case Op::kLayerFwdTp: return "tp_fwd";
    case Op::kLayerBwd: return "bwd";
    case Op::kLayerBwdTp: return "tp_bwd";
    case Op::kHeadFwd: return "head_fwd";
    case Op::kHeadFwdTp: return "tp_head_fwd";
    case Op::kHeadBwd: return "head_bwd";
    case Op::kHeadBwdTp: return "tp_head_bwd";
    case Op::kAgLayerFwd: return "ag_fwd";
    case Op::kAgLayerBwd: return "ag_bwd";
    case Op::kAgOuter: return "ag_outer";
    case Op::kRsLayer: return "rs";
    case Op::kRsOuter: return "rs_outer";
    case Op::kZero1Ag: return "zero1_ag";
    case Op::kZero1Rs: return "zero1_rs";
    case Op::kDpAllReduce: return "dp_ar";
    case Op::kOptimizer: return "optimizer";
  }
  return "?";
}

std::string TaskName(const TaskRecord& t) {
  std::string name(ToString(t.op));
  if (t.layer >= 0) {
    const bool bucket = t.op == Op::kZero1Ag || t.op == Op::kZero1Rs || t.op == Op::kDpAllReduce;
    name += bucket ? " b" : " L";
    name += std::to_string(t.layer);
  }
  if (t.micro_batch >= 0) {
    name += " mb";
    name += std::to_string(t.micro_batch);
  }
  return name;
}

SimResult SimulateStep(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                       const costmodel::Evaluation& e, const SimOptions& opt) {
  if (opt.prefetch_depth < 0) {
    throw Error("prefetch_depth", "must be >= 0, got " + std::to_string(opt.prefetch_depth));
  }
  const StepGraph g = BuildStepGraph(ev, l, e, opt.prefetch_depth);
  EngineOptions eo;
  eo.serialize = !opt.overlap;
  eo.overlap_slowdown = opt.overlap && e.parts.overlap_slowdown > 0 ? e.parts.overlap_slowdown : 1.0;
  eo.record_timeline = opt.record_timeline;
  return RunEngine(g, eo);
}

}  // namespace meshplan::sim
