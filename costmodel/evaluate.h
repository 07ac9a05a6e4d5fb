// File: costmodel/evaluate.h
// The analytical step model: one layout's per-GPU memory, step time with its breakdown,
// throughput and the collectives it issues. Built once per (model, cluster, workload); then
// Evaluate(layout) is a pure function with no heap allocation, fast enough for exhaustive search.
//
// Step = compute (+ the slowdown of the communication it hides) + TP collectives (on the
// critical path; SP turns each all-reduce into all-gather + reduce-scatter) + exposed FSDP
// communication (all-gathers prefetched one unit ahead, reduce-scatters behind backward; the
// first gather and the last reduce are never hidden) + exposed data-parallel all-reduce
// + optimizer step.
#ifndef MESHPLAN_COSTMODEL_EVALUATE_H_
#define MESHPLAN_COSTMODEL_EVALUATE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/collectives.h"
#include "costmodel/compute.h"
#include "costmodel/memory.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

enum class Purpose { kTp, kFsdpParamGather, kFsdpGradReduce, kDpGradReduce };
std::string_view ToString(Purpose p);

struct CollectiveUse {
  Coll op = Coll::kAllGather;
  Purpose purpose = Purpose::kTp;
  Group group;
  double bytes = 0;  // nccl-tests' S
  CollectiveCost cost;
  double count_per_step = 0;
};

struct TimeBreakdown {
  double step_s = 0;
  double compute_s = 0;
  double exposed_tp_comm_s = 0;
  double exposed_fsdp_comm_s = 0;
  double exposed_dp_comm_s = 0;
  double optimizer_s = 0;
  double bubble_s = 0;
  double gemm_efficiency = 0;  // FLOP-weighted achieved / peak of the step's GEMMs
};

struct Throughput {
  double tokens_per_s_per_gpu = 0;
  double mfu = 0;
  double hfu = 0;
};

/// Why a layout cannot run; a bit set so the planner can count without strings.
enum ReasonCode : uint32_t {
  kReasonGlobalBatch = 1u << 0,
  kReasonMemory = 1u << 1,
  kReasonDivisibility = 1u << 2,
  kReasonTopology = 1u << 3,
};
inline constexpr int kNumReasonCodes = 4;
std::string_view ReasonCodeName(int bit_index);

inline constexpr int kMaxCollectives = 12;

struct Evaluation {
  uint32_t reasons = 0;
  bool feasible() const { return reasons == 0; }
  int64_t grad_accum = 0;  // micro-batches per step (0 when the batch does not divide)
  MemoryBreakdown memory;
  TimeBreakdown time;
  Throughput throughput;
  double layer_forward_s = 0;   // one layer, one micro-batch, compute only
  double layer_backward_s = 0;  // including recompute
  double fsdp_comm_s = 0;       // total FSDP communication per step, hidden or not ...
  double fsdp_latency_s = 0;    // ... of which latency (alpha) terms
  std::array<CollectiveUse, kMaxCollectives> collectives{};
  int num_collectives = 0;
};

class Evaluator {
 public:
  Evaluator(const Model& m, const Cluster& c, const Workload& w);
  Evaluation Evaluate(const Layout& l) const;
  /// Human sentences for each reason bit set in e.reasons.
  std::vector<std::string> Reasons(const Layout& l, const Evaluation& e) const;
  /// Where a group of `size` ranks with rank stride `stride` lands on the cluster's nodes.
  Group PlaceGroup(int64_t size, int64_t stride) const;

  const Model& model() const { return model_; }
  const Cluster& cluster() const { return cluster_; }
  const Workload& workload() const { return workload_; }
  LinkParams& links() { return links_; }
  ComputeParams& compute() { return compute_; }

 private:
  Model model_;
  Cluster cluster_;
  Workload workload_;
  LinkParams links_;
  ComputeParams compute_;
  double model_flops_per_token_ = 0;
};

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_EVALUATE_H_
