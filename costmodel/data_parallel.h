// File: costmodel/data_parallel.h
// Data parallelism: the shard group (fsdp x cp ranks at stride tp; mesh.h ShardGroup) runs
// FSDP / ZeRO over the rank's TP shard of the parameters, and the replicas of an HSDP or DDP
// layout all-reduce across it. What the component moves per step, for the parameters a rank
// holds (the whole model, or one pipeline stage's), in nccl-tests' S:
// - ZeRO-2/3 (fully_shard, torchtitan; zero >= 2): each transformer layer is a unit, gathered in
//   bf16 before use and its gradients reduce-scattered in the reduce dtype after backward; the
//   embedding and head (with a tied head's copy on a last stage) are one more unit.
// - ZeRO-1 (Megatron-LM's distributed optimizer): every gradient reduce-scattered and every
//   parameter gathered once per step; with --fp8-param-gather the layers' weights in FP8
//   (megatron/core/distributed/param_and_grad_buffer.py gathers the FP8 parameter data), the
//   embedding and head in bf16 (norm weights inside the layers counted as FP8 too: a few
//   thousand per layer against millions).
// - An MoE model's routed experts shard over the expert-data-parallel group instead (fsdp x cp /
//   ep ranks; experts.h): expert / ep per layer on a rank, only while that group has more than
//   one rank.
// - Replicas: the rank's gradient shard (every parameter it holds / the shard group) all-reduced
//   once per step.
// When the traffic runs and what of it hides behind compute is the evaluator's (evaluate.cc:
// per micro-batch without a pipeline, once per step per stage with one) and the simulator's;
// the validation skeleton issues these sizes (validate/skeleton.cc MakeStepPlan).
#ifndef MESHPLAN_COSTMODEL_DATA_PARALLEL_H_
#define MESHPLAN_COSTMODEL_DATA_PARALLEL_H_

#include <cstdint>
#include <string>

#include "costmodel/memory.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Data-parallel feasibility, for StaticProblems (evaluate.cc): the global batch against the
/// data-parallel degree and the micro-batch size; `global_batch` is the reason bit.
template <typename Code, typename Report>
void DataParallelProblems(const Workload& w, const Layout& l, Code global_batch, Report&& report) {
  const int64_t dp = l.dp();
  if (w.global_batch < dp) {
    report(global_batch, [&] {
      return "global batch " + std::to_string(w.global_batch) + " < data-parallel degree " + std::to_string(dp);
    });
  } else if (w.global_batch % (l.mbs * dp) != 0) {
    report(global_batch, [&] {
      return "global batch " + std::to_string(w.global_batch) + " is not a multiple of mbs " +
             std::to_string(l.mbs) + " x data-parallel degree " + std::to_string(dp) + " = " +
             std::to_string(l.mbs * dp);
    });
  }
}

/// Routed-expert parameters per layer that shard over the expert-data-parallel group (fsdp x
/// cp / ep ranks): expert / ep of the TP shard, or 0 when that group is one rank (each rank keeps
/// its experts whole) or the model is dense.
double ExpertUnitParams(const Layout& l, const TpShardParams& tpp);

/// Bytes (nccl-tests' S) of each data-parallel collective, for one unit or one step.
struct DpVolumes {
  double unit_gather = 0, unit_reduce = 0;                // one layer's dense part, shard group
  double expert_unit_gather = 0, expert_unit_reduce = 0;  // its routed experts, expert-DP group
  double outer_gather = 0, outer_reduce = 0;              // the embedding + head unit
  double step_reduce = 0, step_gather = 0;                // ZeRO-1: every dense parameter
  double expert_step_reduce = 0, expert_step_gather = 0;  // ZeRO-1: the routed experts
  double replica_reduce = 0;                              // the replicas' all-reduce
};

/// How a per-step data-parallel collective (ZeRO-1's reduce-scatter and all-gather, the replicas'
/// all-reduce) is issued: `calls` calls of an equal share of its bytes, laid out as `tasks`
/// pieces over the layers, each issued as its layers finish (the last one exposed, ExposedBucket
/// in evaluate.cc; the simulator issues the same pieces, sim/step_graph.cc).
/// - Workload::dp_buckets_megatron_core: Megatron-Core's DDP buckets. Each bucket holds
///   max(40,000,000, 1,000,000 x dp) parameters (NVIDIA/Megatron-LM
///   megatron/core/distributed/distributed_data_parallel_config.py @22e030e bucket_size: "larger DP
///   sizes need larger buckets to ensure collectives do not become latency-bound") and is one
///   call; without overlap_grad_reduce the whole buffer is one bucket (distributed_data_parallel.py
///   @293e104: "Set bucket_size to infinity if overlap_grad_reduce is False"). `elements`: the
///   rank's parameters in the buffer; `dp`: the data-parallel size (with CP) the rule reads.
///   tasks = min(calls, layers).
/// - Otherwise one call, its time spread over the layers (tasks = layers).
struct DpBuckets {
  double calls = 1;
  double tasks = 1;
};
DpBuckets DpBucketsFor(const Workload& w, double elements, int64_t dp, double layers, bool overlapped);

/// The volumes for `layers` transformer layers of the rank and `outer` parameters outside them
/// (embedding, head, a tied head's copy), every one of the TP shard `tpp`. Whether a layout runs
/// each collective (shard > 1, zero, replicate > 1) is the caller's. REQUIRES a resolved layout.
DpVolumes DataParallelVolumesFor(const Workload& w, const Layout& l, const TpShardParams& tpp, double layers,
                                 double outer);

/// One gather and one reduce-scatter of each unit outside the layers (one stage holding both the
/// embedding and the head). FSDP2 (Workload::fsdp2_copies; torchtitan apply_fsdp) wraps the
/// embedding and the final norm with the output head as units of their own; FSDP1's root unit
/// holds both, given as the embedding's (head 0).
struct OuterUnitVolumes {
  double emb_gather = 0, emb_reduce = 0, head_gather = 0, head_reduce = 0;
};
OuterUnitVolumes OuterUnitVolumesFor(const Workload& w, const TpShardParams& tpp);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_DATA_PARALLEL_H_
