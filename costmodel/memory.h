// File: costmodel/memory.h
// Per-GPU memory of a layout, in bytes: model states by recipe, activations from an op-by-op
// account of the tensors each op saves for backward, transient buffers, framework overhead.
//
// Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
// Transformer Models", Sec. 4, Table 2): a GPT layer (LayerNorm, GeLU 4h MLP, dropout, no flash
// attention) keeps sbh(34 + 5as/h) bytes with 2-byte activations and 1-byte dropout masks. Each
// op below names what it keeps; TP shards the tensors between the all-reduces, SP shards the rest,
// selective recompute drops the attention core (softmax, dropout, s^2 terms), full recompute
// keeps only the layer input. Flash attention, GQA, SwiGLU, RMSNorm and no-dropout follow from
// the same accounting.
#ifndef MESHPLAN_COSTMODEL_MEMORY_H_
#define MESHPLAN_COSTMODEL_MEMORY_H_

#include <cstdint>

#include "costmodel/params.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// What shapes the activations of one layer.
struct ActivationShape {
  int64_t seq = 0;
  int64_t mbs = 1;
  int64_t tp = 1;
  bool sp = false;
  bool flash_attention = true;
  Recompute recompute = Recompute::kNone;
  // MoE: the busiest rank's routed copies over the even share (experts.h MoeLoadFactor).
  double moe_load = 1.0;
  // recompute=full: the share of the layers fully recomputed (FullRecomputeShare).
  double full_share = 1.0;
  // recompute=selective: Megatron's modules (specs.h RecomputeModule).
  uint8_t recompute_modules = kDefaultRecomputeModules;
  // Bytes per element of activations, statistics and masks (the workload's PrecisionOf).
  PrecisionPolicy bytes{};
  // SP as torchtitan's DTensor plan runs it (recipe fsdp2): ColwiseParallel's input arrives
  // all-gathered (PrepareModuleInput, Shard(1) to Replicate) and its linear saves that whole
  // tensor for the weight gradient, so QKV's, FC1's and the head's inputs are kept unsharded.
  // Megatron (false) keeps their shards and gathers them again in backward (tensor.h).
  bool sp_keeps_gathered = false;
};

/// The share of `layers` (a stage's, or the model's) that recompute=full recomputes: 1, or
/// with ac_freq N (torchtitan) floor(layers / N) of them, with recompute_num_layers N
/// (Megatron-LM's block method, per stage) min(N, layers); 0 for the other modes.
double FullRecomputeShare(const Layout& l, int64_t layers);

/// Bytes one transformer layer keeps for backward, per GPU, for one micro-batch (an MoE
/// model: the mean over its MoE and dense layers).
double ActivationBytesPerLayer(const Model& m, const ActivationShape& a);
/// Bytes kept outside the layers (embedding dropout, final norm, output head input, fp32 logits).
double ActivationBytesOutsideLayers(const Model& m, const ActivationShape& a);

/// Parameters held by one TP rank before any data-parallel sharding.
struct TpShardParams {
  // An MoE model's two kinds of layer, unaveraged: an MoE layer's non-routed parameters and
  // its routed experts (all of them), and a dense layer (0 for a dense model).
  double moe_layer = 0, moe_experts = 0, dense_layer = 0;
  // One transformer layer, less its routed experts (for an MoE model the mean over its MoE and
  // dense layers: attention, norms, router, shared experts, the dense layers' MLP).
  double layer = 0;
  // An MoE model's routed experts, all of them, per layer (mean over the layers; 0 for a dense
  // model). Expert parallelism holds expert / ep of it on a rank (experts.h).
  double expert = 0;
  double embedding = 0;  // vocab-parallel token embedding (+ replicated learned positions)
  double head = 0;       // vocab-parallel output head (0 when tied) + final norm
  // A tied model's output weight as the last pipeline stage keeps its own copy of it (Megatron-LM
  // megatron/core/models/common/language_module: shared_embedding_or_output_weight); 0 untied.
  double tied_copy = 0;
  /// Parameters outside the layers on a pipeline stage that holds the embedding (`first`) and
  /// the head (`last`), the tied copy with the head (a stage pipeline only: one stage holding both
  /// shares the weight).
  double OuterOnStage(bool first, bool last) const {
    return (first ? embedding : 0.0) + (last ? head + tied_copy : 0.0);
  }
  /// One layer's parameters on a rank of an ep group.
  double LayerOnRank(int64_t ep) const { return layer + expert / static_cast<double>(ep); }
  /// Every parameter of the model on this TP rank (all experts).
  double total(int64_t layers) const {
    return embedding + head + (layer + expert) * static_cast<double>(layers);
  }
};
TpShardParams ParamsPerTpRank(const Model& m, int64_t tp);
/// The same from the model's CountParams, counted once by the caller.
TpShardParams ParamsPerTpRank(const Model& m, int64_t tp, const ParamCounts& counts);

/// Activation offload of `offload` of a stage's `layers` layers (Layout::cpu_offload_layers):
/// how many are offloaded in effect (Megatron-Core offloads only fewer than all: none otherwise),
/// and how many layers' activations the GPU holds, the rest plus TransformerEngine's one-layer
/// staging buffer. The one rule memory.cc, the evaluator and the simulator count by.
inline int64_t OffloadedLayers(int64_t layers, int64_t offload) {
  return offload > 0 && offload < layers ? offload : 0;
}
inline double ResidentActivationLayers(int64_t layers, int64_t offload) {
  const int64_t n = OffloadedLayers(layers, offload);
  return static_cast<double>(n > 0 ? layers - n + 1 : layers);
}

struct MemoryBreakdown {
  double params_bytes = 0;
  double grads_bytes = 0;
  double optimizer_bytes = 0;
  double activations_bytes = 0;
  double activations_per_layer_bytes = 0;
  double transient_bytes = 0;
  double overhead_bytes = 0;  // CUDA context (with cuBLAS workspaces) + NCCL buffers
  // What PyTorch reports, for scoring against published peaks: allocated_bytes is every tensor
  // alive at the peak (torch.cuda.max_memory_allocated: params, grads, optimizer states,
  // activations, transient buffers); reserved_bytes adds the caching allocator's gap of
  // fragmented, cached blocks (torch.cuda.max_memory_reserved; cluster
  // overhead.allocator_fraction of the activations and transient buffers, the tensors that come
  // and go within a step), what a run shows on a GPU with room to spare.
  // peak_bytes, what decides whether the layout fits, is allocated_bytes plus the overhead
  // outside the allocator, without the gap: before it raises out-of-memory the caching allocator
  // returns its cached blocks to the driver and retries (pytorch/pytorch
  // c10/cuda/CUDACachingAllocator.cpp @eb42ad6, DeviceCachingAllocator::malloc:
  // release_available_cached_blocks, then release_cached_blocks, then alloc_block again), so a
  // cache that only grew because there was room is no requirement. What cannot be returned, the
  // free tail of a segment partly in use, is within the cluster's overhead.reserve_gib margin.
  double allocated_bytes = 0;
  double reserved_bytes = 0;
  double peak_bytes = 0;
  double capacity_bytes = 0;  // HBM minus the planner's reserve
  // Activation offload: every offloaded layer's saved tensors, copied to host memory (the GPU
  // keeps a one-layer staging buffer besides, counted in activations_bytes), against the node's
  // system memory per GPU (0: not given, not checked).
  double host_bytes = 0;
  double host_capacity_bytes = 0;
  bool exceeds_gpu() const { return peak_bytes > capacity_bytes; }
  bool exceeds_host() const { return host_capacity_bytes > 0 && host_bytes > host_capacity_bytes; }
  /// What makes a layout infeasible on memory: its GPU peak, or its offloaded activations.
  bool exceeds() const { return exceeds_gpu() || exceeds_host(); }
  double recompute_working_bytes = 0;  // part of transient: a layer rematerialised in backward
};

/// Bytes per parameter of each model state, for a recipe and ZeRO stage over `shard` ranks.
struct StateBytes {
  double params = 0, grads = 0, optimizer = 0;
};
StateBytes StateBytesPerParam(Recipe recipe, int zero, int64_t shard, const PrecisionPolicy& p = {});
/// HBM bytes the optimizer step moves per local parameter: Adam's fp32 parameter read and
/// written, gradient read, m and v each read and written (7 x 4 B); before it, clipping by the
/// global gradient norm, on by default in every framework modelled (max norm 1.0): the norm
/// reads each fp32 gradient (4 B) and the clip multiplies each in place (read and write, 8 B),
/// whatever the norm, since both PyTorch and Megatron-Core scale by the clamped coefficient
/// rather than test it on the host (pytorch torch/nn/utils/clip_grad.py @20592e4
/// _clip_grads_with_norm_, "avoids a `if clip_coef < 1:` conditional which can require a CPU
/// <=> device synchronization"; Megatron-LM megatron/core/optimizer/clip_grads.py @0293807
/// clip_grad_by_total_norm_fp32 with TransformerEngine's multi_tensor_scale_tensor; DeepSpeed's
/// fp16 optimizer unscales by the loss scale, clip folded in, every step: deepspeed/runtime/fp16/
/// fused_optimizer.py @b97b870 unscale_and_clip_grads): 40 B; the
/// megatron recipe also writes the bf16 copy (42 B). (The norm's scalar all-reduce, one
/// latency per step, is not priced.)
/// `per_op` (Workload::optimizer_per_op): Adam as one kernel per operation, each reading its
/// operands and writing its result in fp32, as Composer's DecoupledAdamW runs it (mosaicml/
/// composer composer/optim/decoupled_weight_decay.py @02c872e DecoupledAdamW.adamw):
/// exp_avg.mul_ 8, .add_(grad) 12, exp_avg_sq.mul_ 8, .addcmul_(grad, grad) 12 (the gradient
/// read once), sqrt 8, the divide by sqrt(bias_correction2) 8, add_(eps) 8 and
/// param.addcdiv_(exp_avg, denom) 16: 80 B where the fused kernel moves 28 (so 92 B in all).
/// Its decoupled weight decay, param.mul_ (8 B more), runs only with weight_decay != 0, and
/// llm-foundry's MPT configurations set 0.0 (scripts/train/yamls/pretrain/mpt-*.yaml
/// optimizer.weight_decay), so it is not priced.
double OptimizerStepBytesPerParam(Recipe recipe, const PrecisionPolicy& p, bool per_op);
/// HBM bytes a step writes zeroing the gradient buffer before its first micro-batch, where the
/// workload's framework keeps one (Workload::grad_buffer_zeroed): `params_held` parameters (all
/// the rank holds of its stage, experts over ep, before any data-parallel sharding) in the
/// gradient-reduce dtype; 0 where gradients are freed instead.
double GradBufferZeroBytes(const Workload& w, double params_held);
/// HBM bytes FSDP moves on the compute stream per unsharded parameter of a unit.
/// FSDP2 (fully_shard; pytorch torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py
/// @8fc2039): `gather`, each all-gather's copy-out into the parameters (split_with_sizes_copy:
/// the gathered weight read and written); `reduce`, each reduce-scatter's copy-in (chunk_cat:
/// the gradient read, written in the reduce dtype).
/// FSDP1 (Workload::fsdp2_copies false): it gathers into the flat parameter whose views the
/// modules read, so no copy-out; but those views are torch.split pieces of the flat parameter
/// (torch/distributed/fsdp/_flat_param.py @fe03cf6 _get_unflat_views_unaligned), and autograd
/// forms the flat gradient by split_with_sizes' backward, a cat of every parameter's gradient
/// (tools/autograd/derivatives.yaml @d327a78 split_with_sizes_backward): `reduce` is that read
/// and write in the gradient dtype. Its cast to the reduce dtype and the pre-divide run on the
/// post-backward stream (_runtime_utils.py _post_backward_hook, _reduce_grad), beside the
/// reduce-scatter, not here.
/// Both 0 where the layout runs none: the megatron recipe, no per-layer sharding (shard 1 or
/// ZeRO-1). Under a pipeline a stage gathers and reduce-scatters each unit once per step, so it
/// copies once per step.
struct FsdpCopyBytes {
  double gather = 0, reduce = 0;
  bool any() const { return gather > 0 || reduce > 0; }
};
FsdpCopyBytes FsdpCopyBytesPerParam(const Workload& w, const Layout& l);

/// Whether FSDP1's root unit (the embedding and the head) stays gathered from the forward to the
/// end of the backward, with its unsharded gradient from the head's backward on: FSDP1
/// (Workload::fsdp2_copies false) sharding per layer at ZeRO-3, as torch FSDP1 never reshards
/// its root after the forward (torch/distributed/fsdp/_runtime_utils.py _post_forward_reshard).
/// memory.cc and the simulator's timeline hold it so.
bool Fsdp1RootHeld(const Workload& w, const Layout& l);

/// What one pipeline stage holds: its transformer layers, whether it holds the embedding
/// (first) and the final norm, head and loss (last), and how many micro-batches of its
/// activations its schedule keeps alive at the peak (pipeline.h InFlightMicroBatches).
struct StageShape {
  int64_t layers = 0;
  bool first = true;
  bool last = true;
  double in_flight = 1;
  // The stage's first layer: an MoE model's stage then counts its own dense and MoE layers
  // (Moe::dense_layers); -1: every layer is the model's mean layer.
  int64_t first_layer = -1;
  // CountParams(m), where the caller has it (the Evaluator counts once); null: counted here.
  const ParamCounts* counts = nullptr;
  // Of in_flight, the micro-batches that keep all their activations and skip recompute
  // (Layout::partial_ckpt_mbs; pipeline.h PartialCheckpointInFlight).
  double stored_in_flight = 0;
  // ParamsPerTpRank(m, l.tp), where the caller has it; null: computed here.
  const TpShardParams* tp_params = nullptr;
};

/// The whole model on one stage (no pipeline), one micro-batch alive.
MemoryBreakdown EstimateMemory(const Model& m, const Cluster& c, const Workload& w,
                               const Layout& l, const ParamCounts* counts = nullptr);
/// One pipeline stage. Params and their states are the stage's (the last stage of a model with
/// tied embeddings keeps its own copy of the output weights, as Megatron-LM does); activations
/// are in_flight x layers x per-layer (stored_in_flight of them at the no-recompute size), plus
/// the head's once on the last stage. FSDP (ZeRO-2/3)
/// under pipeline parallelism keeps the stage unsharded across micro-batches (torch.distributed
/// .pipelining reshards and syncs gradients only on the last backward; torchtitan
/// parallelize.py sets reshard_after_forward = not pp_enabled): bf16 params and bf16 gradients
/// of the whole stage are transient.
MemoryBreakdown EstimateStageMemory(const Model& m, const Cluster& c, const Workload& w,
                                    const Layout& l, const StageShape& s);

inline constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_MEMORY_H_
