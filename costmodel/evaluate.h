// File: costmodel/evaluate.h
// The analytical step model: one layout's per-GPU memory, step time with its breakdown,
// throughput and the collectives it issues. Built once per (model, cluster, workload); then
// Evaluate(layout) is a pure function with no heap allocation, fast enough for exhaustive search.
//
// Step = compute (+ the slowdown of the communication it hides) + TP collectives (on the
// critical path; SP turns each all-reduce into all-gather + reduce-scatter) + exposed FSDP
// communication (all-gathers prefetched one unit ahead, reduce-scatters behind backward; the
// forward's first gather and the last reduce are never hidden, the backward's first gather only
// behind the head's backward) + exposed data-parallel all-reduce
// + optimizer step.
#ifndef MESHPLAN_COSTMODEL_EVALUATE_H_
#define MESHPLAN_COSTMODEL_EVALUATE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/collectives.h"
#include "costmodel/compute.h"
#include "costmodel/context.h"
#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/pipeline.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

// kTiedGradReduce: a tied model's embedding gradient all-reduced between the first and the last
// pipeline stage (PricePipeline).
enum class Purpose {
  kTp, kFsdpParamGather, kFsdpGradReduce, kDpGradReduce, kPpP2p, kCpKv, kEpDispatch, kEpCombine, kTiedGradReduce
};
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
  double exposed_pp_comm_s = 0;  // stage-to-stage send/recv on the critical path
  double exposed_cp_comm_s = 0;  // context parallelism's KV exchange not hidden (context.h)
  double exposed_ep_comm_s = 0;  // MoE token dispatch and combine (experts.h), all exposed
  double optimizer_s = 0;
  double bubble_s = 0;           // pipeline: idle time of the bottleneck stage's schedule
  // Activation offload: the host copies not hidden behind the neighbouring layers' compute
  // (already inside compute_s, which waits for them; Layout::cpu_offload_layers).
  double exposed_offload_s = 0;
  // FSDP2's copies around its all-gathers and reduce-scatters (inside compute_s;
  // Workload::fsdp2_copies).
  double fsdp_copies_s = 0;
  double gemm_efficiency = 0;  // FLOP-weighted achieved / peak of the step's GEMMs
};

struct Throughput {
  double tokens_per_s_per_gpu = 0;
  double mfu = 0;  // model FLOPs over the BF16 dense peak, whatever the precision
  double hfu = 0;
  // FP8 runs: the same model FLOPs over the FP8 dense peak (0 for BF16 runs).
  double fp8_peak_utilization = 0;
  bool mfu_causal = false;  // the convention mfu and hfu count attention in (Workload::mfu_causal)
};
/// "causal" or "noncausal": the MFU convention's name in every report.
std::string_view MfuConventionName(bool causal);

/// Why a layout cannot run; a bit set so the planner can count without strings.
enum ReasonCode : uint32_t {
  kReasonGlobalBatch = 1u << 0,
  kReasonMemory = 1u << 1,
  kReasonDivisibility = 1u << 2,
  kReasonTopology = 1u << 3,
  kReasonPipeline = 1u << 4,
  kReasonContext = 1u << 5,
  kReasonExpert = 1u << 6,
  kReasonRecompute = 1u << 7,
};
inline constexpr int kNumReasonCodes = 8;
std::string_view ReasonCodeName(int bit_index);

/// What compute loses to the collectives running beside it. A collective runs as long as its
/// link makes it; while it runs, the kernels beside it run `slowdown` (r) times slower
/// (Cluster efficiency.overlap_slowdown: NCCL's CTAs hold SMs, its traffic HBM, and Hopper's
/// persistent GEMMs run as two waves). A window of the compute stream holds kernels k
/// (compute_s) and collectives the stream runs itself, s (stream_comm_s: TP, EP), which do not
/// slow; collectives c (hidden_s + exposed_s) start beside it. While c runs, the stream moves
/// at k + s of work per k r + s of time; so if c outlasts the whole slowed window (c >=
/// k r + s) every kernel stretches, k (r - 1), and c - (k r + s) stays exposed; otherwise the
/// window takes k + s + c k (r - 1) / (k r + s) and nothing is exposed. compute_extra_s is
/// that stretch, exposed_s what remains of exposed_s past it. The simulator's engine applies
/// the same rule task by task (sim/engine.cc: a compute task runs r times slower while a
/// collective runs beside it; the collective's own time and the compute stream's TP and EP
/// collectives do not change); the evaluator applies it per layer window to ZeRO-2/3's
/// collectives and over the step to the per-step ones.
struct OverlapCost {
  double compute_extra_s = 0;  // added to the kernels' time
  double exposed_s = 0;        // what remains of exposed_s
};
OverlapCost OverlapSlowdownCost(double compute_s, double stream_comm_s, double hidden_s, double exposed_s,
                                double slowdown);

inline constexpr int kMaxCollectives = 24;

/// The pieces the step is assembled from, for the discrete-event simulator (sim/): per call
/// times of one layer / one micro-batch. All in seconds; 0 where the layout has none.
struct StepComponents {
  double micro_batches = 1;        // gradient-accumulation steps (fractional if the batch does not divide)
  double layer_fwd_compute_s = 0;  // one layer's forward kernels
  double layer_bwd_compute_s = 0;  // its backward (with recompute)
  double layer_fwd_tp_s = 0;       // its TP collectives in forward (critical path)
  double layer_bwd_tp_s = 0;       // ... in backward (including recompute's)
  double layer_fwd_cp_s = 0;       // its CP exchange on the critical path in forward (context.h)
  double layer_bwd_cp_s = 0;       // ... in backward
  CpPass cp_fwd, cp_bwd;           // how the simulator lays that exchange out (context.h)
  double layer_fwd_ep_s = 0;       // its MoE dispatch + combine in forward (blocking; experts.h),
  double layer_bwd_ep_s = 0;       // ... in backward; for an MoE model the mean over its layers
  double head_fwd_s = 0;           // output head + loss forward (compute + its TP collectives)
  double head_bwd_s = 0;
  double fsdp_ag_layer_s = 0;      // all-gather of one layer's parameters (0 when unsharded)
  double fsdp_rs_layer_s = 0;      // reduce-scatter of one layer's gradients
  // FSDP2's compute-stream copies of one layer (inside layer_fwd/bwd_compute_s; evaluate.cc):
  // the all-gather's copy-out (per gather) and the reduce-scatter's copy-in.
  double fsdp_copy_out_s = 0, fsdp_copy_in_s = 0;
  // The units outside the layers. FSDP2 (Workload::fsdp2_copies; torchtitan apply_fsdp) wraps the
  // embedding and the final norm with the output head as units of their own: the embedding's
  // gather before the first layer (again before its backward under ZeRO-3: split_outer with
  // gather_in_backward) and its reduce-scatter after the last backward; the head's gather behind
  // the last layer's forward and its reduce-scatter behind the last layer's backward. FSDP1's
  // root unit holds both (fsdp_ag/rs_outer_s; the head's 0): gathered before the first layer and
  // reduced after the last backward.
  double fsdp_ag_outer_s = 0;      // the embedding's (FSDP1: the root's) all-gather
  double fsdp_rs_outer_s = 0;      // ... reduce-scatter
  double fsdp_ag_head_s = 0;       // the final norm and output head's all-gather (FSDP2)
  double fsdp_rs_head_s = 0;       // ... reduce-scatter
  bool split_outer = false;        // FSDP2's units above (false: FSDP1's root)
  bool gather_in_backward = false; // ZeRO-3 re-gathers in backward
  bool per_step_zero1 = false;     // ZeRO-1: one reduce-scatter + all-gather per step instead
  double zero1_rs_s = 0, zero1_ag_s = 0;
  double dp_allreduce_s = 0;       // HSDP/DDP replica all-reduce per step
  // The pieces each of those runs in over the layers (DpBuckets::tasks; 0: one per layer).
  double zero1_tasks = 0, dp_tasks = 0;
  // The per-step reductions (replica all-reduce, ZeRO-1 reduce-scatter) issued after the whole
  // backward (Workload::dp_reduce_after_backward); ZeRO-1's gather whole before the first
  // forward (Workload::dp_gather_after_step).
  bool dp_after_backward = false;
  bool zero1_gather_blocking = false;
  double optimizer_s = 0;
  double overlap_slowdown = 1.0;   // compute slowdown while communication overlaps it
  // Memory pieces (bytes) for a memory timeline.
  double static_bytes = 0;              // params + grads + optimizer + overhead
  double layer_activation_bytes = 0;    // kept per layer per micro-batch
  int64_t offload_layers = 0;           // the first layers whose activations go to the host (OffloadedLayers)
  double outer_activation_bytes = 0;    // outside the layers per micro-batch
  double unit_param_bytes = 0;          // one gathered layer, bf16
  double unit_grad_bytes = 0;           // one layer's unsharded grads as backward writes them
  double unit_reduce_copy_bytes = 0;    // ... and their reduce-dtype copy, the reduce-scatter's input (0: same dtype)
  double recompute_working_bytes = 0;   // rematerialised in a layer's backward
};

/// One kind of pipeline stage, per micro-batch (pipeline.h): the first, a middle (the fullest:
/// rank 1, which keeps the most micro-batches alive) and the last. Times include the stage's TP
/// collectives; bwd_s excludes the weight gradient, which wgrad_s carries (ZB-H1 runs it apart).
struct StageCost {
  int64_t stage = 0;
  int64_t layers = 0;
  double fwd_s = 0;
  double bwd_s = 0;
  double wgrad_s = 0;
  double compute_s = 0;    // per micro-batch, kernels only
  double in_flight = 0;    // micro-batches of activations alive at the peak
  double peak_bytes = 0;
  double tail_s = 0;       // per-step data-parallel / FSDP communication exposed after its flush
  double total_s() const { return fwd_s + bwd_s + wgrad_s; }
};

struct PipelineParts {
  StageCost first, middle, last;  // middle is unused when pp <= 2
  // One activation (or gradient) send/recv between neighbours: over a hop inside a node (every
  // hop's where none is), and over one between nodes (every hop's where all are); which hops
  // cross is PipelineHopCrossesNode(hop, p, stage_stride, gpus_per_node).
  double p2p_s = 0;
  double p2p_inter_s = 0;
  double p2p_bytes = 0;
  int64_t stage_stride = 1, gpus_per_node = 1;
  bool inter_node = false;        // some stage neighbours on different nodes ...
  bool intra_node = false;        // ... and some on the same node
  /// One send over hop `hop` of the `p` stages (pipeline.h PipelineHopCrossesNode).
  double HopS(int64_t hop, int64_t p) const {
    return PipelineHops{p, stage_stride, gpus_per_node, p2p_s, p2p_inter_s}(hop);
  }
  bool blocking = false;          // the exchanges block (pipeline.h ExchangesBlock)
  double gather_s = 0;            // scatter-gather: the TP all-gather of each received tensor
  double tied_grad_s = 0;         // the tied embedding's gradient all-reduce, first and last stage
  double makespan_s = 0;          // the schedule: m micro-batches over every stage, with bubble
  // One layer per micro-batch with its TP collectives (bwd without the weight gradient), and
  // the last stage's head + loss: what each model chunk of the simulated schedule is built from.
  double layer_fwd_s = 0, layer_bwd_s = 0, layer_wgrad_s = 0, head_fwd_s = 0, head_bwd_s = 0;
};

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
  StepComponents parts;
  PipelineParts pipe;  // pp > 1 only
  std::array<CollectiveUse, kMaxCollectives> collectives{};
  int num_collectives = 0;
};

/// Forward and backward time of one transformer layer for one micro-batch, compute only.
struct LayerCompute {
  double fwd_s = 0;
  double bwd_s = 0;          // dgrad + wgrad + recompute
  double wgrad_s = 0;        // of which the weight-gradient GEMMs
  double gemm_flops = 0;     // all GEMM FLOPs executed per micro-batch per layer (fwd+bwd+recompute)
  double gemm_time_s = 0;
  double gemm_ideal_s = 0;   // the same FLOPs at the dense peak of each GEMM's precision
};

/// What Evaluate decides of a layout before it prices it: why it cannot run (Evaluate's
/// reasons, memory included) and its memory (Evaluate's, the fullest stage under a pipeline).
struct Screening {
  uint32_t reasons = 0;
  MemoryBreakdown memory;
};

class Evaluator {
 public:
  Evaluator(const Model& m, const Cluster& c, const Workload& w);
  Evaluation Evaluate(const Layout& l) const;
  /// Evaluate's reasons and memory without its time: a search screens every layout and prices
  /// the ones that can run (ScreenAgreesWithEvaluate holds the two together).
  Screening Screen(const Layout& l) const;
  /// Human sentences for each reason bit set in e.reasons.
  std::vector<std::string> Reasons(const Layout& l, const Evaluation& e) const;
  /// Micro-batch-level recompute as Korthikanti et al. 2022 (Appendix C) size it: the most
  /// micro-batches per window (Layout::partial_ckpt_mbs) that keep all activations while every
  /// stage still fits its memory, 0 .. stage 0's window (pipeline.h PartialCheckpointWindow).
  /// 0 when none fits, when `l` itself does not fit, or when it is not a megatron-recipe pipeline
  /// with recompute=selective or full (every layer) under 1F1B or interleaved.
  int64_t MostPartialCheckpointMicroBatches(const Layout& l) const;
  /// Where a group of `size` ranks with rank stride `stride` lands on the cluster's nodes.
  Group PlaceGroup(int64_t size, int64_t stride) const;

  const Model& model() const { return model_; }
  const Cluster& cluster() const { return cluster_; }
  const Workload& workload() const { return workload_; }
  const LinkParams& links() const { return links_; }
  const ComputeParams& compute() const { return compute_; }

 private:
  /// Per micro-batch: one layer's compute (fwd, bwd with its weight-gradient share) and TP
  /// (in e.parts), the head's compute.
  struct LayerTimes {
    double fwd_s = 0, bwd_s = 0, wgrad_s = 0, head_fwd_s = 0, head_bwd_s = 0;
  };
  /// Evaluate for every layer recomputed alike (recompute=full of some layers is the mix of
  /// this for none and for full, Evaluate).
  Evaluation EvaluateUniform(const Layout& l) const;
  /// Micro-batches per step per data-parallel rank, as the layout is priced: its gradient
  /// accumulation, or where the batch does not divide (kReasonGlobalBatch in `reasons`) the
  /// fraction, at least 1.
  double MicroBatchesOf(const Layout& l, uint32_t reasons) const;
  /// The layout's split of the layers over its stages; an impossible one (a reason already) as
  /// even as it goes.
  StageSplit SplitOrEven(const Layout& l) const;
  /// One pipeline stage's memory with `in_flight` micro-batches' activations alive.
  MemoryBreakdown StageMemoryOf(const Layout& l, const StageSplit& split, int64_t stage, double in_flight,
                                const TpShardParams& tpp) const;
  /// The pipeline part of Evaluate (pp > 1): stage costs, schedule makespan, p2p, per-stage
  /// data-parallel tails, memory of the fullest stage; fills e.time, e.memory, e.pipe.
  void PricePipeline(const Layout& l, const StageSplit& split, const LayerTimes& t, double micro,
                     Evaluation& e) const;

  /// BuildTable(links_, g), memoised: a search prices the same few groups (a divisor of the
  /// GPUs, over some divisor of nodes) for every layout. The Evaluator is used by one thread.
  const CollectiveTable& TableOf(const Group& g) const;
  /// Time(t, c, bytes), memoised in a direct-mapped cache keyed by the table's group, the
  /// collective and the exact bytes: a search asks the same collectives of the same groups for
  /// every layout that differs only elsewhere. A hit returns the value Time computed, so results
  /// are identical with or without it. REQUIRES: t is TableOf(t.group) of this evaluator (its
  /// contents follow from links_, fixed at construction, and the group; copies share both).
  CollectiveCost TimeOn(const CollectiveTable& t, Coll c, double bytes) const;
  /// One layer's kernels (LayerKernelsFor) and their price on one GPU, memoised by the layout
  /// fields they read (tp, sp, mbs, recompute and its modules, cp and its exchange, ep): a
  /// search prices the same few for every fsdp x replicate x zero x recipe x pp around them.
  struct PricedLayer {
    LayerKernels kernels;
    LayerCompute compute;
  };
  const PricedLayer& PricedLayerOf(const Layout& l, bool moe_layer) const;

  Model model_;
  Cluster cluster_;
  Workload workload_;
  LinkParams links_;
  ComputeParams compute_;
  double model_flops_per_token_ = 0;
  // The attention FLOPs per token the GPUs execute (forward and backward): FlashAttention runs
  // half of causal attention (it skips the masked blocks), unfused kernels all of it; and all the
  // FLOPs per token they execute (HFU's numerator before recompute).
  double executed_attention_flops_per_token_ = 0;
  double executed_flops_per_token_ = 0;
  ParamCounts counts_;  // CountParams(model_), once
  mutable std::deque<CollectiveTable> tables_;  // TableOf's memo (a deque: references stay valid)
  mutable std::vector<int32_t> table_index_;    // TableOf's direct-mapped index into tables_
  struct TimeMemo {
    int64_t ranks = 0, nodes = 0;  // 0: an empty slot
    uint64_t bytes_bits = 0;
    int coll = -1;
    CollectiveCost cost;
  };
  mutable std::vector<TimeMemo> time_memo_;  // TimeOn's cache (allocated on first use)
  mutable std::map<std::array<int64_t, 10>, PricedLayer> layers_;  // PricedLayerOf's memo
};

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_EVALUATE_H_
