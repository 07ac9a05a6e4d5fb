// File: sim/simulate.h
// The discrete-event simulation of one training step of one layout, per GPU: the public API.
//
// SimulateStep builds the step's task graph from the analytical evaluator's per-call times
// (costmodel::StepComponents: one layer's forward/backward compute, its TP collectives, the
// FSDP all-gather/reduce-scatter of one unit, the replica all-reduce, the optimizer) and runs it
// on three in-order streams, like CUDA streams: `compute` (layer compute and the TP collectives,
// which sit on the critical path), `comm_intra` and `comm_inter` (a collective goes on the one
// matching whether its group spans nodes; FSDP and ZeRO-1 collectives share their group's stream
// in issue order, as NCCL serialises one communicator's calls). Times are in seconds, memory in
// bytes (per GPU).
//
// Rules that callers must know:
// - Overlap slowdown: compute tasks (layer/head compute, optimizer) progress at rate
//   1/overlap_slowdown while at least one communication task (FSDP, ZeRO-1, DP) runs, at rate 1
//   otherwise; concurrent collectives do not compound; TP and communication tasks keep their
//   duration. overlap_slowdown == 1 means no interaction.
// - Exposed communication = time the compute stream sits idle, attributed along the chain of
//   tasks that blocked it (each idle instant goes to the collective running then on that chain).
//   TP collectives run on the compute stream, so all of them are exposed. Hence, exactly,
//   step_s = compute_s + exposed_tp_comm_s + exposed_cp_comm_s + exposed_fsdp_comm_s
//            + exposed_dp_comm_s + optimizer_s.
// - Context parallelism (cp > 1): each layer's attention core runs as its own compute task and
//   its KV exchange on a fourth stream, comm_cp (costmodel/context.h CpPass): the ring's
//   transfers beside the attention blocks (the last block waits for them), all-gathers and
//   all-to-alls before / after it. The CP exchange counts as communication for the slowdown.
// - overlap = false serialises every task in issue order (one resource), so the step is the plain
//   sum of every task's duration (nothing hidden, no slowdown).
// - Memory: static bytes (params, grads, optimizer, overhead) at t = 0; activations allocated at
//   a layer's forward start and freed at the end of its backward; unsharded parameters allocated
//   when their all-gather starts and freed after the layer's forward (ZeRO-3) or backward;
//   unsharded gradients allocated at backward start and freed when their reduce-scatter ends;
//   the recompute working set lives during a layer's backward. At equal times frees come first.
// - A global batch that does not divide into micro-batches (an infeasible layout) is simulated
//   with the micro-batch count rounded up.
#ifndef MESHPLAN_SIM_SIMULATE_H_
#define MESHPLAN_SIM_SIMULATE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/evaluate.h"
#include "costmodel/specs.h"

namespace meshplan::sim {

// kCommCp: context parallelism's KV exchange on its own stream, as TransformerEngine runs the
// ring's send/recv on a dedicated cp_stream (context_parallel.py) and NCCL runs the CP
// communicator beside the FSDP ones.
enum class Stream : uint8_t { kCompute = 0, kCommIntra = 1, kCommInter = 2, kCommCp = 3 };
inline constexpr int kNumStreams = 4;

enum class TaskKind : uint8_t { kCompute = 0, kTpComm, kFsdpAg, kFsdpRs, kDpAr, kOptimizer, kCpComm, kEpComm };
inline constexpr int kNumTaskKinds = 8;
// Pipeline steps (pp > 1) are simulated by sim/pipeline.h: one track per stage, tasks kChunk*.

/// What a task does; with (micro_batch, layer) it names the task (names are made lazily).
enum class Op : uint8_t {
  kLayerFwd,     // one layer's forward kernels
  kLayerFwdTp,   // its TP collectives (compute stream)
  kLayerBwd,     // one layer's backward (+ recompute)
  kLayerBwdTp,
  kHeadFwd,      // output head + loss (+ embedding), compute part
  kHeadFwdTp,
  kHeadBwd,
  kHeadBwdTp,
  kAgLayerFwd,   // FSDP all-gather of one layer's parameters for forward ...
  kAgLayerBwd,   // ... re-gathered for backward (ZeRO-3)
  kAgOuter,      // embedding + head unit
  kRsLayer,      // reduce-scatter of one layer's gradients
  kRsOuter,
  kZero1Ag,      // ZeRO-1 per-step parameter all-gather, one layer's bucket (layer = bucket)
  kZero1Rs,      // ZeRO-1 per-step gradient reduce-scatter, one bucket
  kDpAllReduce,  // HSDP/DDP replica all-reduce, one bucket
  kOptimizer,
  kChunkFwd,     // pipeline: one model chunk's forward of a micro-batch (layer = chunk)
  kChunkBwd,     // ... its backward (1F1B, interleaved: with the weight gradient)
  kChunkWgrad,   // ... its weight gradient (ZB-H1)
  // Context parallelism (cp > 1; costmodel/context.h CpPass): a layer's attention core split
  // out of its compute, and its KV exchange on the CP stream before / beside / after it.
  kLayerFwdAttn,
  kLayerBwdAttn,
  kCpFwdPre,     // all-gather of K,V or the q,k,v all-to-all, before attention
  kCpFwdRing,    // the ring's cp-1 K,V transfers, beside the attention blocks
  kCpFwdPost,    // the output all-to-all
  kCpBwdPre,
  kCpBwdRing,
  kCpBwdPost,
  // Expert parallelism (MoE; costmodel/experts.h): a layer's token dispatch and combine,
  // blocking on the compute stream after its compute.
  kLayerFwdEp,
  kLayerBwdEp,
};

TaskKind KindOf(Op op);
std::string_view ToString(Stream s);
std::string_view ToString(TaskKind k);
std::string_view ToString(Op op);

struct SimOptions {
  int prefetch_depth = 1;  // FSDP units gathered ahead; at most depth + 1 units unsharded
  bool overlap = true;     // false: every task serialised (the analytical "nothing hidden" sum)
  bool record_timeline = true;  // false: leave tasks_run and memory empty (faster, for search)
};

/// One task as it ran. micro_batch and layer are -1 where they do not apply.
struct TaskRecord {
  Op op = Op::kLayerFwd;
  TaskKind kind = TaskKind::kCompute;
  Stream stream = Stream::kCompute;
  int32_t micro_batch = -1;
  int32_t layer = -1;
  double start_s = 0;
  double end_s = 0;
  int32_t stage = -1;  // pipeline rank (pp > 1), -1 otherwise
};
/// "fwd L3 mb0", "ag_bwd L7 mb1", "dp_ar b5", "optimizer", ...
std::string TaskName(const TaskRecord& t);

/// One allocation (delta > 0) or free (delta < 0), made by task `task` (index into tasks_run):
/// at its start for allocations, at its end for frees. total_bytes is the total after it.
struct MemoryEvent {
  double time_s = 0;
  double delta_bytes = 0;
  double total_bytes = 0;
  int32_t task = -1;
};

/// One pipeline stage as simulated (pp > 1).
struct StageResult {
  int64_t stage = 0;
  int64_t layers = 0;
  double busy_s = 0;          // its chunks' compute + TP time
  double bubble_s = 0;        // schedule makespan - busy: idle, waits for sends included
  double peak_in_flight = 0;  // micro-batches of activations alive at its peak (from the list)
  double kept_whole = 0;      // of them, kept whole by micro-batch-level recompute (partial_ckpt_mbs)
  double peak_bytes = 0;      // the analytical stage memory at that many in flight
};

struct SimResult {
  double step_s = 0;
  double compute_s = 0;  // layer + head compute as run (slowed while overlapped)
  double exposed_tp_comm_s = 0;
  double exposed_fsdp_comm_s = 0;  // = exposed all-gathers + exposed reduce-scatters (incl. ZeRO-1)
  double exposed_dp_comm_s = 0;
  double exposed_cp_comm_s = 0;  // context parallelism's KV exchange while compute waits
  double exposed_ep_comm_s = 0;  // MoE dispatch and combine (blocking)
  double optimizer_s = 0;
  std::array<double, kNumTaskKinds> exposed_by_kind_s{};  // indexed by TaskKind
  std::array<double, kNumTaskKinds> busy_by_kind_s{};     // total run time per kind
  double static_bytes = 0;
  double peak_bytes = 0;
  double peak_time_s = 0;
  int64_t micro_batches = 0;
  int64_t layers = 0;
  int64_t tasks = 0;
  int64_t events = 0;  // task starts + task ends + compute rate changes
  double bubble_s = 0;  // pipeline: the bottleneck stage's idle time in the schedule
  std::vector<StageResult> stages;    // pp > 1: every stage
  std::vector<TaskRecord> tasks_run;  // in issue order (same index as the step graph's tasks)
  std::vector<MemoryEvent> memory;    // in time order
};

/// Simulates one step of layout `l`, whose analytical evaluation `e` came from `ev`.
/// Throws meshplan::Error for a negative prefetch depth or a step too large to simulate.
SimResult SimulateStep(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                       const costmodel::Evaluation& e, const SimOptions& opt = {});

/// Chrome Trace Event Format JSON (chrome://tracing, Perfetto): one track per stream, "X" events
/// in µs, a "memory (GiB)" counter (see sim/trace.h). Same result, same bytes. Needs a result
/// simulated with record_timeline.
std::string ChromeTrace(const SimResult& r);

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_SIMULATE_H_
