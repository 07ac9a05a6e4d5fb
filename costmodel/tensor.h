// File: costmodel/tensor.h
// Tensor parallelism (tp), with or without sequence parallelism (sp), as Megatron-LM runs it
// (megatron/core/tensor_parallel/layers.py and mappings.py, NVIDIA/Megatron-LM@000c4ac; Korthikanti
// et al. 2022, Sec. 4.2): the component's feasibility and the collectives it issues over its group
// (mesh.h: tp contiguous ranks inside a node). The evaluator prices each use over the TP group's
// table and sums; the simulator builds its step from the same per-window counts (StepComponents),
// and the validation skeleton issues the same calls in program order (validate/skeleton.cc).
//
// Per micro-batch, on the compute stream (blocking), S = the micro-batch's activations (tokens x
// hidden x the activation dtype):
// - each transformer block (attention, MLP) of a layer: with SP an all-gather of its input and a
//   reduce-scatter of its output in forward, and in backward the all-gather of the output gradient
//   and the reduce-scatter of the input gradient; without SP one all-reduce of the output forward
//   and of the input gradient backward. Under SP, Megatron-LM's column-parallel linears (recipe
//   megatron) keep only their input's shard and all-gather it again in backward for the weight
//   gradient (LinearWithGradAccumulationAndAsyncCommunication.backward: async_op=True, issued
//   before the data-gradient GEMM, "necessary for a speedup but not for correctness";
//   TransformerEngine's LayerNormLinear / LayerNormMLP gather their saved norm output the same
//   way): one more all-gather per block in backward, counted on the critical path like the
//   async all-reduce and reduce-scatter of the input gradient beside it. Korthikanti et al. 2022,
//   Table 4 (22B, TP 8, A100) measured what that overlap hides: SP made the layer's forward 0.5
//   ms faster (7.7 to 7.2 ms) by sharding its elementwise work, and the backward, with twice that
//   work to shard, 0.1 ms (11.9 to 11.8 ms). torchtitan's SP (recipe fsdp2: DTensor's
//   ColwiseParallel) saves the gathered input itself and gathers nothing again.
//   Full recompute runs the forward's again; torchtitan's op-level policy (recompute=op) saves the
//   reduce-scatters' outputs and re-runs the all-gathers (or the all-reduces); Megatron's selective
//   mlp / moe / shared_experts modules re-run their block's pair.
// - outside the layers: the vocab-parallel embedding's output is reduce-scattered with SP
//   (VocabParallelEmbedding, reduce_scatter_embeddings; its backward is an all-gather), else
//   all-reduced (backward: nothing); the output layer is column-parallel (forward: the all-gather
//   of its input with SP, else nothing; backward: the reduce-scatter, else the all-reduce, of its
//   input gradient); the vocab-parallel cross-entropy all-reduces max, sum and the target logit,
//   fp32 per token, in forward.
// - FP8 current scaling: one 4-byte amax all-reduce per reduced cast (kernels.h).
// - FP8 (every recipe) under SP: the linear layers cast before they gather, so each layer's
//   all-gathers (the column-parallel inputs in forward and recompute, the row-parallel output
//   gradients in backward) move 1 byte per element; the reduce-scatters move the GEMMs' bf16
//   outputs, and the head's and the embedding's gathers stay bf16. TransformerEngine:
//   LayerNormLinear gathers the norm's FP8 output (gather_along_first_dim(ln_out) after
//   _apply_normalization writes FP8, module/layernorm_linear.py @0004dbd) and
//   grad_output_preprocess casts the output gradient before it gathers it ("FP8 case with
//   gather: ... cast, transpose for efficient gather", module/base.py @fecb10b); torchao:
//   PrepareFloat8ModuleInput / Float8ColwiseParallel cast the input before the redistribute and
//   _NoopFwToFloat8BwDynamic casts the output gradient before its gather
//   (torchao/float8/float8_tensor_parallel.py @0e0fba8).
#ifndef MESHPLAN_COSTMODEL_TENSOR_H_
#define MESHPLAN_COSTMODEL_TENSOR_H_

#include <array>
#include <cstdint>
#include <string>

#include "costmodel/collectives.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Tensor-parallel feasibility, for StaticProblems (evaluate.cc): report(code, sentence) per
/// problem; `divisibility` is the reason bit.
template <typename Code, typename Report>
void TpProblems(const Model& m, const Workload& w, const Layout& l, Code divisibility, Report&& report) {
  const int64_t t = l.tp;
  if (m.heads % t != 0) {
    report(divisibility, [&] { return "tp " + std::to_string(t) + " does not divide heads " + std::to_string(m.heads); });
  }
  if (m.kv_heads % t != 0 && t % m.kv_heads != 0) {
    report(divisibility, [&] {
      return "tp " + std::to_string(t) + " neither divides nor is a multiple of kv_heads " +
             std::to_string(m.kv_heads);
    });
  }
  if ((m.moe.dense() || !m.moe.dense_layers.empty()) && m.ffn % t != 0) {
    report(divisibility, [&] { return "tp " + std::to_string(t) + " does not divide ffn " + std::to_string(m.ffn); });
  }
  // With cp > 1 the tokens of each CP rank must divide instead (CpProblems).
  if (l.sp && l.cp == 1 && w.seq % t != 0) {
    report(divisibility, [&] {
      return "sequence parallelism: tp " + std::to_string(t) + " does not divide seq " + std::to_string(w.seq);
    });
  }
}

/// Where a TP group lands, for StaticProblems: inside one node (its collectives run on every
/// layer's critical path over NVLink) unless the workload allows crossing nodes, and a divisor of
/// the node's GPUs so that groups do not straddle nodes. `topology` is the reason bit.
template <typename Code, typename Report>
void TpTopologyProblems(const Workload& w, const Layout& l, int64_t gpus_per_node, Code topology, Report&& report) {
  const int64_t t = l.tp, gpn = gpus_per_node;
  if (t > gpn && !w.allow_cross_node_tp) {
    report(topology, [&] {
      return "tp " + std::to_string(t) + " > " + std::to_string(gpn) + " GPUs per node (allow with --allow-cross-node-tp)";
    });
  } else if (t < gpn && gpn % t != 0) {
    report(topology, [&] { return "tp " + std::to_string(t) + " does not divide " + std::to_string(gpn) + " GPUs per node"; });
  }
}

/// One kind of TP collective of a micro-batch: its size and how many calls fall in each window
/// of the step (per layer in forward and in backward; outside the layers in forward and in
/// backward). Calls per micro-batch over `layers` layers: layers x (layer_fwd + layer_bwd) +
/// outer_fwd + outer_bwd.
struct TpUse {
  Coll op = Coll::kAllReduce;
  double bytes = 0;  // nccl-tests' S
  double layer_fwd = 0, layer_bwd = 0;
  double outer_fwd = 0, outer_bwd = 0;
  double calls(double layers) const { return layers * (layer_fwd + layer_bwd) + outer_fwd + outer_bwd; }
};

struct TpUses {
  std::array<TpUse, 5> use{};
  int n = 0;
};

/// What the layer mix asks of TP per micro-batch: `tokens` on this rank (CP splits them);
/// `moe_share` the fraction of layers that route tokens (0 for a dense model); the FP8
/// current-scaling amax reductions per layer (kernels.h LayerKernels, mixed over the layers);
/// `fp8_gather`: the linear layers run in FP8 and gather their inputs and output gradients
/// after the cast (any FP8 recipe).
struct TpDemand {
  double tokens = 0;
  double moe_share = 0;
  double amax_fwd = 0, amax_bwd = 0, amax_recomputed = 0;
  bool fp8_gather = false;
};

/// The TP collectives of one micro-batch, in the order they are listed in collectives[]: the
/// all-gather and reduce-scatter (SP) or the all-reduce, the amax all-reduce, the cross-entropy's.
/// With SP and fp8_gather the layers' all-gathers (FP8) come first and the head's and the
/// embedding's (bf16) follow as an all-gather of their own. None when tp == 1.
TpUses TpUsesFor(const Model& m, const Layout& l, const PrecisionPolicy& bytes, const TpDemand& d);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_TENSOR_H_
