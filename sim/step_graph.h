// File: sim/step_graph.h
// The task graph of one training step, per GPU, in FSDP2's program order. Tasks are created in
// the order the framework issues them (so index order is a topological order, and the order of
// the tasks of one stream is their issue order on that stream):
//
//   [ZeRO-1: parameter all-gather buckets 0..L-1; layer i's first forward waits for bucket i,
//    or for all of them where the framework gathers whole before the forward
//    (StepComponents::zero1_gather_blocking)]
//   for each micro-batch m:
//     all-gather of the outer units (the embedding; the final norm and head), then for each
//     layer i = 0..L-1:
//       pre-forward(i) issues the all-gathers of layers up to i + depth (prefetch); AG(m, j)
//       may start only once layer j - depth - 1 finished its forward (its unsharded parameters
//       are freed then: at most depth + 1 layers unsharded);
//       forward compute(m, i) [needs AG(m, i)], its TP collectives;
//     head forward, head backward (loss, output head, their TP collectives);
//     for each layer i = L-1..0:
//       [ZeRO-3] pre-backward(i) issues the re-gathers down to i - depth; AG_bwd(m, j) may start
//       once layer j + depth + 1 finished its backward (or, for the top layers, once the head
//       backward finished);
//       backward compute(m, i) [needs AG_bwd(m, i)], its TP collectives;
//       reduce-scatter of layer i's gradients (after its backward) [layer 0: then the outer
//       units']; last micro-batch: ZeRO-1 reduce-scatter bucket i, then the replica
//       all-reduce bucket i (after that layer's reduce-scatter; where the framework reduces
//       after the backward, StepComponents::dp_after_backward, every ZeRO-1 and all-reduce
//       bucket after the last backward instead);
//   optimizer step, after the last task of every communication stream.
//
// Per-step collectives (ZeRO-1, DP all-reduce) are split into L equal buckets, one per layer,
// as the analytical model assumes ("one layer's worth is the last bucket, never hidden").
// Memory follows FSDP2's units (step_graph.cc): a unit's bf16 parameters from its gather to its
// reshard; its gradients through its backward, their reduce-dtype copy through its
// reduce-scatter; the embedding resharded after its forward under ZeRO-3 and held again for
// its backward, the head unit from its gather to the end of its backward.
// The graph is stored as a Boost.Graph compressed_sparse_row_graph (in the .cc files only).
#ifndef MESHPLAN_SIM_STEP_GRAPH_H_
#define MESHPLAN_SIM_STEP_GRAPH_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "costmodel/evaluate.h"
#include "costmodel/specs.h"
#include "sim/simulate.h"

namespace meshplan::sim {

/// One task; 40 bytes, no strings. Memory is allocated at its start and freed at its end.
struct Task {
  Op op = Op::kLayerFwd;
  TaskKind kind = TaskKind::kCompute;
  Stream stream = Stream::kCompute;
  int32_t micro_batch = -1;
  int32_t layer = -1;
  double duration_s = 0;
  double alloc_bytes = 0;  // at start
  double free_bytes = 0;   // at end
};

struct GraphImpl;  // the Boost graph, defined in sim/graph_impl.h (included by .cc files only)

class StepGraph {
 public:
  StepGraph();
  StepGraph(StepGraph&&) noexcept;
  StepGraph& operator=(StepGraph&&) noexcept;
  ~StepGraph();

  const std::vector<Task>& tasks() const { return tasks_; }
  int64_t num_edges() const;
  /// Every dependency as (predecessor, successor), sorted by predecessor.
  std::vector<std::pair<int32_t, int32_t>> Edges() const;
  double static_bytes() const { return static_bytes_; }
  int64_t micro_batches() const { return micro_batches_; }
  int64_t layers() const { return layers_; }
  const GraphImpl& impl() const { return *impl_; }

 private:
  friend StepGraph BuildStepGraph(const costmodel::Evaluator&, const costmodel::Layout&,
                                  const costmodel::Evaluation&, int);
  std::vector<Task> tasks_;
  std::unique_ptr<GraphImpl> impl_;
  double static_bytes_ = 0;
  int64_t micro_batches_ = 0;
  int64_t layers_ = 0;
};

/// The step of layout `l` evaluated as `e`. REQUIRES: prefetch_depth >= 0.
/// Throws meshplan::Error when the step has more than kMaxTasks tasks.
StepGraph BuildStepGraph(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                         const costmodel::Evaluation& e, int prefetch_depth);

inline constexpr int64_t kMaxTasks = 20'000'000;

}  // namespace meshplan::sim

#endif  // MESHPLAN_SIM_STEP_GRAPH_H_
