// File: sim/simulate.cc
// SimulateStep: graph + engine, and the names of streams, kinds and tasks.
#include "sim/simulate.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "costmodel/error.h"
#include "costmodel/pipeline.h"
#include "sim/engine.h"
#include "sim/pipeline.h"
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
    case Op::kChunkFwd:
    case Op::kChunkBwd:
    case Op::kChunkWgrad:
    case Op::kLayerFwdAttn:
    case Op::kLayerBwdAttn: return TaskKind::kCompute;
    case Op::kCpFwdPre:
    case Op::kCpFwdRing:
    case Op::kCpFwdPost:
    case Op::kCpBwdPre:
    case Op::kCpBwdRing:
    case Op::kCpBwdPost: return TaskKind::kCpComm;
    case Op::kLayerFwdEp:
    case Op::kLayerBwdEp: return TaskKind::kEpComm;
  }
  return TaskKind::kCompute;
}

std::string_view ToString(Stream s) {
  switch (s) {
    case Stream::kCompute: return "compute";
    case Stream::kCommIntra: return "comm_intra";
    case Stream::kCommInter: return "comm_inter";
    case Stream::kCommCp: return "comm_cp";
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
    case TaskKind::kCpComm: return "cp_comm";
    case TaskKind::kEpComm: return "ep_comm";
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
    case Op::kChunkFwd: return "F";
    case Op::kChunkBwd: return "B";
    case Op::kChunkWgrad: return "W";
    case Op::kLayerFwdAttn: return "attn_fwd";
    case Op::kLayerBwdAttn: return "attn_bwd";
    case Op::kCpFwdPre: return "cp_fwd_pre";
    case Op::kCpFwdRing: return "cp_fwd_ring";
    case Op::kCpFwdPost: return "cp_fwd_post";
    case Op::kCpBwdPre: return "cp_bwd_pre";
    case Op::kCpBwdRing: return "cp_bwd_ring";
    case Op::kCpBwdPost: return "cp_bwd_post";
    case Op::kLayerFwdEp: return "ep_fwd";
    case Op::kLayerBwdEp: return "ep_bwd";
  }
  return "?";
}

std::string TaskName(const TaskRecord& t) {
  std::string name(ToString(t.op));
  if (t.layer >= 0) {
    const bool bucket = t.op == Op::kZero1Ag || t.op == Op::kZero1Rs || t.op == Op::kDpAllReduce;
    const bool chunk = t.op == Op::kChunkFwd || t.op == Op::kChunkBwd || t.op == Op::kChunkWgrad;
    name += bucket ? " b" : chunk ? " c" : " L";
    name += std::to_string(t.layer);
  }
  if (t.micro_batch >= 0) {
    name += " mb";
    name += std::to_string(t.micro_batch);
  }
  return name;
}

// pp > 1: the schedule's action lists run exactly (sim/pipeline.h), each model chunk priced from
// the evaluator's per-layer and head costs; then the per-step data-parallel tail and optimizer
// of the evaluation (their overlap with the drain is the analytical model's). Memory per stage
// is the analytical stage memory at the peak in-flight count the list gives; no timeline.
namespace {
SimResult SimulatePipelineStep(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                               const costmodel::Evaluation& e, const SimOptions& opt) {
  const costmodel::PipelineParts& pp = e.pipe;
  const costmodel::Model& model = ev.model();
  costmodel::StageSplit split;
  std::string why;
  if (!costmodel::SplitLayers(l, model.layers, split, &why)) throw Error("layout", why);
  const int64_t m = static_cast<int64_t>(std::ceil(e.parts.micro_batches));
  const std::string problem = costmodel::ScheduleProblem(l, m);
  if (!problem.empty()) throw Error("layout", problem);
  if (l.pp * l.vpp * m * 3 > kMaxTasks) {
    throw Error("simulate", "the pipeline schedule has more than " + std::to_string(kMaxTasks) +
                                " actions (pp x vpp x micro-batches x 3)");
  }
  PipelineInput in;
  in.schedule = l.schedule;
  in.p = l.pp;
  in.v = l.vpp;
  in.m = m;
  in.p2p_s = pp.p2p_s;
  if (pp.inter_node && pp.intra_node) {  // hops of both kinds
    for (int64_t hop = 0; hop < l.pp; ++hop) in.hop_s.push_back(pp.HopS(hop, l.pp));
  }
  in.blocking = pp.blocking;
  in.gather_s = pp.gather_s;
  in.record = opt.record_timeline;
  const int64_t V = l.pp * l.vpp;
  in.chunks.resize(static_cast<size_t>(V));
  // The compute slowdown the analytical model applies while the stage's data-parallel traffic
  // overlaps it, spread over every chunk (the schedule itself has no such traffic). FSDP2's
  // once-per-step copies are in the analytical compute but not in the chunks: added below.
  const costmodel::StageCost* b = &pp.first;
  if (l.pp > 2 && pp.middle.total_s() > b->total_s()) b = &pp.middle;
  if (pp.last.total_s() > b->total_s()) b = &pp.last;
  const double plain = static_cast<double>(m) * b->total_s();
  const double slow = plain > 0 && opt.overlap
                          ? (e.time.compute_s - e.time.fsdp_copies_s + e.time.exposed_tp_comm_s +
                             e.time.exposed_cp_comm_s + e.time.exposed_ep_comm_s) /
                                plain
                          : 1.0;
  for (int64_t vs = 0; vs < V; ++vs) {
    const int64_t rank = vs % l.pp;
    const double n = static_cast<double>(split.LayersOf(rank, l.pp)) / static_cast<double>(l.vpp);
    ChunkCost& c = in.chunks[static_cast<size_t>(vs)];
    c.fwd_s = slow * (n * pp.layer_fwd_s + (vs == V - 1 ? pp.head_fwd_s : 0.0));
    c.bwd_s = slow * (n * pp.layer_bwd_s + (vs == V - 1 ? pp.head_bwd_s : 0.0));
    c.wgrad_s = slow * n * pp.layer_wgrad_s;
  }
  const PipelineRun run = RunPipeline(in);
  SimResult r;
  r.micro_batches = m;
  r.layers = model.layers;
  double busiest = 0;
  for (const StageRun& s : run.stages) {
    StageResult sr;
    sr.stage = s.stage;
    sr.layers = split.LayersOf(s.stage, l.pp);
    sr.busy_s = s.busy_s;
    sr.bubble_s = s.idle_s;
    sr.peak_in_flight = s.peak_in_flight;
    sr.kept_whole = costmodel::PartialCheckpointInFlight(l, m, s.stage);
    const costmodel::MemoryBreakdown mem = costmodel::EstimateStageMemory(
        model, ev.cluster(), ev.workload(), l,
        costmodel::StageShape{sr.layers, s.stage == 0, s.stage == l.pp - 1, s.peak_in_flight,
                              split.FirstLayerOf(s.stage, l.pp), nullptr, sr.kept_whole});
    sr.peak_bytes = mem.peak_bytes;
    r.peak_bytes = std::max(r.peak_bytes, mem.peak_bytes);
    busiest = std::max(busiest, s.busy_s);
    r.stages.push_back(sr);
  }
  // The analytical split of the busiest stage's time into compute, TP and CP (whose exposed
  // exchange the chunks carry: the schedule has no CP stream), scaled to the run.
  const double analytical_busy = e.time.compute_s - e.time.fsdp_copies_s + e.time.exposed_tp_comm_s +
                                 e.time.exposed_cp_comm_s + e.time.exposed_ep_comm_s;
  const double tp_share = analytical_busy > 0 ? e.time.exposed_tp_comm_s / analytical_busy : 0.0;
  const double cp_share = analytical_busy > 0 ? e.time.exposed_cp_comm_s / analytical_busy : 0.0;
  const double ep_share = analytical_busy > 0 ? e.time.exposed_ep_comm_s / analytical_busy : 0.0;
  r.exposed_tp_comm_s = busiest * tp_share;
  r.exposed_cp_comm_s = busiest * cp_share;
  r.exposed_ep_comm_s = busiest * ep_share;
  r.compute_s = busiest - r.exposed_tp_comm_s - r.exposed_cp_comm_s - r.exposed_ep_comm_s;
  r.bubble_s = run.makespan_s - busiest;
  r.exposed_fsdp_comm_s = e.time.exposed_fsdp_comm_s;
  r.exposed_dp_comm_s = e.time.exposed_dp_comm_s;
  r.optimizer_s = e.time.optimizer_s;
  // FSDP2's once-per-step copies of the stage's units, on its compute stream (evaluate.cc).
  r.compute_s += e.time.fsdp_copies_s;
  r.step_s = run.makespan_s + e.time.fsdp_copies_s + r.exposed_fsdp_comm_s + r.exposed_dp_comm_s + r.optimizer_s;
  r.static_bytes = e.memory.params_bytes + e.memory.grads_bytes + e.memory.optimizer_bytes +
                   e.memory.overhead_bytes;
  r.tasks = static_cast<int64_t>(run.actions_run.size());
  r.events = 2 * r.tasks;
  r.busy_by_kind_s[static_cast<size_t>(TaskKind::kCompute)] = r.compute_s;
  r.busy_by_kind_s[static_cast<size_t>(TaskKind::kTpComm)] = r.exposed_tp_comm_s;
  r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kTpComm)] = r.exposed_tp_comm_s;
  r.busy_by_kind_s[static_cast<size_t>(TaskKind::kCpComm)] = r.exposed_cp_comm_s;
  r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kCpComm)] = r.exposed_cp_comm_s;
  r.busy_by_kind_s[static_cast<size_t>(TaskKind::kEpComm)] = r.exposed_ep_comm_s;
  r.exposed_by_kind_s[static_cast<size_t>(TaskKind::kEpComm)] = r.exposed_ep_comm_s;
  if (opt.record_timeline) {
    r.tasks_run.reserve(run.actions_run.size());
    for (const ActionRecord& a : run.actions_run) {
      TaskRecord t;
      t.op = a.action.kind == costmodel::ActionKind::kForward    ? Op::kChunkFwd
             : a.action.kind == costmodel::ActionKind::kBackward ? Op::kChunkBwd
                                                                 : Op::kChunkWgrad;
      t.kind = TaskKind::kCompute;
      t.stream = Stream::kCompute;
      t.micro_batch = a.action.micro_batch;
      t.layer = a.action.chunk;
      t.start_s = a.start_s;
      t.end_s = a.end_s;
      t.stage = a.rank;
      r.tasks_run.push_back(t);
    }
  }
  return r;
}
}  // namespace

SimResult SimulateStep(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                       const costmodel::Evaluation& e, const SimOptions& opt) {
  if (opt.prefetch_depth < 0) {
    throw Error("prefetch_depth", "must be >= 0, got " + std::to_string(opt.prefetch_depth));
  }
  if (l.pp > 1) return SimulatePipelineStep(ev, l, e, opt);
  const StepGraph g = BuildStepGraph(ev, l, e, opt.prefetch_depth);
  EngineOptions eo;
  eo.serialize = !opt.overlap;
  eo.overlap_slowdown = opt.overlap && e.parts.overlap_slowdown > 0 ? e.parts.overlap_slowdown : 1.0;
  eo.record_timeline = opt.record_timeline;
  return RunEngine(g, eo);
}

}  // namespace meshplan::sim
