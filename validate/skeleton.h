// File: validate/skeleton.h
// One training step of a plan as a skeleton: the kernels costmodel/kernels.h enumerates for a
// layer and the head (forward GEMM (m,n,k); backward dgrad (m,k,n) + wgrad (k,n,m); recomputed
// work again in backward; each bandwidth kernel `count` / `backward_count` launches; flash
// attention as the causal core's batched GEMMs), the collectives Evaluator::Evaluate counts
// (TP on the compute stream; FSDP all-gathers prefetched one layer ahead on the communication
// stream with events; gradient reduce-scatters behind each layer's backward; ZeRO-1 and the
// HSDP all-reduce once per step) and the buffers the memory model predicts. Data-free: only
// sizes, streams and order matter, so any Backend runs it and a counting fake can check it.
// A mixture-of-experts layer (costmodel/experts.h) runs its MLP block as Megatron-Core's
// all-to-all dispatcher does: router GEMM, permute, dispatch all-to-all over the EP group, (tp > 1
// with SP: all-gather of the received copies over TP), the local experts as one grouped GEMM,
// (reduce-scatter over TP), combine all-to-all, unpermute; backward the exchanges again in
// reverse, full recompute the forward's again. The experts' ZeRO traffic runs over the
// expert-data-parallel group right after the dense part's, as the evaluator prices it.
#ifndef MESHPLAN_VALIDATE_SKELETON_H_
#define MESHPLAN_VALIDATE_SKELETON_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "costmodel/evaluate.h"
#include "costmodel/kernels.h"
#include "costmodel/pipeline.h"
#include "validate/backend.h"

namespace meshplan::validate {

struct StepPlan {
  costmodel::LayerKernels layer;  // an MoE model: its MoE layer
  costmodel::HeadKernels head;
  // Mixture of experts: moe_layer[i] says whether layer i (of this stage) routes tokens (the
  // others, the model's Moe::dense_layers, run dense_layer); empty for a dense model.
  std::vector<bool> moe_layer;
  costmodel::LayerKernels dense_layer;
  // The model has dense layers: dense_layer's kernels are benchmarked on every rank (a stage
  // without one too, so that every rank runs the same benchmark list).
  bool has_dense_layers = false;
  int64_t layers = 0;
  int64_t micro_batches = 1;
  int64_t seq = 0, mbs = 1, heads_local = 1;
  // A head's query/key and value widths (head_dim both; MLA: nope + rope and v_head_dim).
  int64_t qk_dim = 1, v_dim = 1;
  bool full_recompute = false;
  // TP (0 bytes: no TP).
  bool sp = false;
  bool sp_regather = false;  // Megatron's column-parallel backward gathers its input again (tensor.h)
  double tp_bytes = 0;  // 2 T h, bf16
  double ce_bytes = 0;  // vocab-parallel cross-entropy, fp32
  // FSDP over the shard group (zero >= 2: per layer; zero == 1: once per step).
  bool fsdp = false;
  int zero = 3;
  costmodel::Dtype reduce_dtype = costmodel::Dtype::kFp32;
  // The units outside the layers (costmodel StepComponents::split_outer): FSDP2's embedding
  // (outer_*; gathered again for its backward under ZeRO-3) and its final norm with the head
  // (head_*), or FSDP1's root unit holding both (outer_*; head_* 0).
  bool split_outer = false;
  double unit_ag_bytes = 0, unit_rs_bytes = 0, outer_ag_bytes = 0, outer_rs_bytes = 0;
  double head_ag_bytes = 0, head_rs_bytes = 0;
  // FSDP2's compute-stream copies per gather / reduce-scatter, read + write bytes (0: FSDP1 or
  // no per-layer sharding; costmodel Workload::fsdp2_copies).
  double copy_out_bytes = 0, copy_in_bytes = 0, outer_copy_out_bytes = 0, outer_copy_in_bytes = 0;
  double head_copy_out_bytes = 0, head_copy_in_bytes = 0;
  double zero1_rs_bytes = 0, zero1_ag_bytes = 0;
  double dp_ar_bytes = 0;  // HSDP replica all-reduce (0: none)
  // A tied model's embedding gradient, all-reduced between the first and last pipeline stage
  // after the data-parallel reduction (the evaluator's kTiedGradReduce; 0 on other stages).
  double tied_ar_bytes = 0;
  // Expert parallelism, per MoE layer and micro-batch, as Evaluator::Evaluate records them
  // (ep_dispatch / ep_combine): the all-to-alls over the EP group (0: ep == 1) and the TP
  // all-gather / reduce-scatter of the routed copies (0: no TP with SP). With them, an MoE
  // layer without shared experts has no all-gather / reduce-scatter of the hidden states around
  // its MLP (ep_replaces_mlp_tp).
  double ep_dispatch_bytes = 0, ep_combine_bytes = 0, ep_tp_ag_bytes = 0, ep_tp_rs_bytes = 0;
  bool ep_replaces_mlp_tp = false;
  // The routed experts' share of the FSDP traffic, over expert_group (kEdp with ep > 1, else the
  // FSDP group itself): per layer (zero >= 2) and per step (ZeRO-1); 0 when nothing shards them.
  GroupKind expert_group = GroupKind::kFsdp;
  double expert_ag_bytes = 0, expert_rs_bytes = 0, expert_zero1_rs_bytes = 0, expert_zero1_ag_bytes = 0;
  double optimizer_bytes = 0;
  // Memory the plan predicts (bytes).
  double static_bytes = 0;  // params + grads + optimizer states
  double layer_activation_bytes = 0, outer_activation_bytes = 0;
  double unit_param_bytes = 0, unit_grad_bytes = 0, recompute_working_bytes = 0;
  // Pipeline (pp > 1): this rank's stage runs its schedule's action list (costmodel/pipeline.h):
  // `layers` are the stage's, spread over its vpp model chunks; activations go to
  // next_rank and gradients to prev_rank (world ranks; the interleaved schedule wraps from the
  // last stage to the first), tagged by the virtual stage that receives them.
  int64_t pp = 1, vpp = 1, stage = 0;
  costmodel::Schedule schedule = costmodel::Schedule::k1F1B;
  // Micro-batch-level recompute (Layout::partial_ckpt_mbs): the k-th forward of this rank keeps
  // all activations (layer_whole_activation_bytes per layer) and its backward skips the
  // recompute when k % partial_window < partial_ckpt_mbs (pipeline.h PartialCheckpointWindow).
  int64_t partial_ckpt_mbs = 0, partial_window = 0;
  double layer_whole_activation_bytes = 0;
  double p2p_bytes = 0;
  int prev_rank = -1, next_rank = -1;
  // Megatron's blocking exchanges (costmodel/pipeline.h ExchangesBlock): each group waited for
  // whole and the device synchronized before the rank goes on; with Megatron-LM 2022's
  // scatter-gather each received tensor (p2p_bytes, 1/t of it) is then all-gathered over TP
  // into p2p_gather_bytes (0: none).
  bool p2p_blocking = false;
  double p2p_gather_bytes = 0;
};

/// The step of pipeline stage `stage` (0 without pipeline parallelism); the caller sets
/// prev_rank / next_rank from the mesh. REQUIRES: l.pp == 1 or FSDP below ZeRO-2 (the skeleton
/// does not run FSDP's per-unit gathers under a pipeline); l.cp == 1.
StepPlan MakeStepPlan(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                      const costmodel::Evaluation& e, int64_t stage = 0);

/// Told of every operation before it is enqueued: the watchdog's labels, fault injection.
class OpObserver {
 public:
  virtual ~OpObserver() = default;
  /// `op` is "gemm", "memory", "all_gather", "reduce_scatter", "all_reduce", "all_to_all",
  /// "send", "recv", "wait";
  /// `what` says where ("layer 3 backward mlp_in dgrad").
  virtual void OnOp(std::string_view op, std::string_view what) = 0;
};

/// Allocates the persistent buffers (parameters, gradients, optimizer states); returns its id.
int AllocateStatic(Backend& b, const StepPlan& p);
/// Enqueues one step and waits for it. REQUIRES b.Prepare(WorkspaceFor(p)).
void RunStep(Backend& b, const StepPlan& p, OpObserver& obs);

/// Scratch a backend needs for RunStep and the benchmarks of this plan.
Workspace WorkspaceFor(const StepPlan& p);

/// A distinct GEMM of the step in one pass, for the GEMM benchmark.
struct GemmCase {
  std::string_view name;
  std::string_view pass;  // forward, dgrad, wgrad
  int64_t m = 0, n = 0, k = 0, batch = 1;
};
/// The same list on every rank of a plan, whichever stage's layers it runs: the benchmarks time
/// them all ranks at once, with a barrier per case.
std::vector<GemmCase> GemmCases(const StepPlan& p);
/// Flash attention's causal core as batched GEMMs: forward {scores, context},
/// (s, s/2, d_qk) / (s, d_v, s/2) over mbs x local heads, together exactly the forward FLOPs.
std::vector<GemmCase> AttentionForwardGemms(const StepPlan& p);
/// The part of flash attention's backward that the forward's GEMMs' dgrad and wgrad do not
/// cover: half the forward's FLOPs again (FlashAttention-2's backward is 2.5x its forward, the
/// evaluator's convention), as the scores GEMM at the mean of the query/key and value widths
/// (exactly the scores GEMM when they are equal; MLA's differ).
GemmCase AttentionRecomputeGemm(const StepPlan& p);

struct MemoryCase {
  std::string_view name;
  std::string_view pass;  // forward, backward, step (optimizer)
  double bytes = 0;
};
/// The same list on every rank, as GemmCases.
std::vector<MemoryCase> MemoryCases(const StepPlan& p);

}  // namespace meshplan::validate

#endif  // MESHPLAN_VALIDATE_SKELETON_H_
