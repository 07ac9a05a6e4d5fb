// File: costmodel/kernels.h
// The kernels of one transformer layer (and of the output head) for one micro-batch on one GPU
// under a layout: GEMM shapes, attention FLOPs and the bytes of the bandwidth-bound kernels.
// This is the one place the step's work is enumerated: the analytical evaluator prices it, the
// validation backend (validate/) executes it as a skeleton and times its GEMM shapes, and the
// calibration fits efficiencies against those timings. Plain value types, no allocation.
//
// Backward of a GEMM C[m,n] = A[m,k] B[k,n] is its data gradient (m, k, n) plus its weight
// gradient (k, n, m) (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU
// Clusters", sec. 3: backward is 2x forward FLOPs). A layer's bandwidth-bound kernels run twice in
// backward (input gradient and the saved-tensor reads); softmax and the loss have their own
// backward bytes. Recomputed work runs its forward again in backward.
#ifndef MESHPLAN_COSTMODEL_KERNELS_H_
#define MESHPLAN_COSTMODEL_KERNELS_H_

#include <array>
#include <cstdint>
#include <string_view>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// C[m,n] = A[m,k] B[k,n] in bf16, `batch` independent copies, as run in forward.
struct GemmShape {
  // qkv, q_down, q_proj, q_up, kv_down, kv_up, attn_out, router, mlp_in, mlp_out, shared_in,
  // shared_out, scores, context, head
  std::string_view name;
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool recomputed = false;  // run again in backward (full, or selective for the attention core)
  bool fp8 = false;         // FP8 inputs (a linear layer under Precision::kFp8)
  bool wgrad_bf16 = false;  // its weight-gradient GEMM in bf16 all the same (torchao rowwise_with_gw_hp)
  bool sequential = false;  // its batch runs as `batch` GEMMs one after another (SequentialMLP)
  /// The GEMM calls it runs, and the batch of each: `batch` calls of one when sequential.
  int64_t calls() const { return sequential ? batch : 1; }
  int64_t call_batch() const { return sequential ? 1 : batch; }
};

/// A bandwidth-bound kernel: `count` forward launches of `bytes` each through HBM, and
/// `backward_count` launches of `backward_bytes` each in backward.
struct MemoryKernel {
  std::string_view name;  // norm, residual, activation, rope, softmax, cross_entropy, final_norm
  double bytes = 0;
  int count = 1;
  double backward_bytes = 0;
  int backward_count = 1;
  bool recomputed = false;
};

/// Eager PyTorch elementwise ops (no torch.compile), as torchtitan's model code writes them:
/// bytes moved per element of the op's tensor (each op reads its inputs and writes its output
/// at its dtype; bf16 2 B, fp32 4 B) and kernel launches, forward and backward (autograd).
struct EagerOp {
  double fwd_bytes;
  int fwd_launches;
  double bwd_bytes;
  int bwd_launches;
};
/// RMSNorm `(x.float() * rsqrt(x.float().pow(2).mean(-1) + eps)).type_as(x) * w`, per element of
/// T x h. Forward: float 2+4, pow 4+4, mean 4, mul 4+4, type_as 4+2, mul w 2+2 = 36 B, 8 launches
/// (with the add-eps and rsqrt over T). Backward: mul w (g*w 2+2, g*y 2+2+2 and its sum 2) 12,
/// type_as 2+4, mul (g*r 4+4, g*x 4+4+4 and its sum 4) 24, mean 4, pow (g*2x) 4+4+4, the add of
/// the two gradients of x 4+4+4, float 4+2 = 76 B, 13 launches.
inline constexpr EagerOp kEagerRmsNorm{36.0, 8, 76.0, 13};
/// SwiGLU `silu(a) * b`, per element of T x ffn: forward silu 2+2, mul 2+2+2 = 10 B, 2 launches;
/// backward g*b, g*s and silu's backward, 2+2+2 each = 18 B, 3 launches.
inline constexpr EagerOp kEagerSwiglu{10.0, 2, 18.0, 3};
/// Rotary embedding `view_as_real(view_as_complex(x.float()) * freqs).type_as(x)`, per element
/// of q and k: float 2+4, complex mul 4+4, type_as 4+2 = 20 B each way, 3 launches per tensor.
inline constexpr EagerOp kEagerRope{20.0, 3, 20.0, 3};

// qkv (MLA: q_down or q_proj, q_up, kv_down, kv_up), attn_out, router, mlp_in, mlp_out,
// shared_in, shared_out, scores, context.
inline constexpr int kMaxLayerGemms = 12;
// norm, pre_mlp_norm, latent_norm or qk_norm, residual, activation, shared_activation, bias_grad,
// moe_permute, moe_sort, moe_sequential, rope, and one of softmax, cp_merge, cp_reorder or
// cp_gather.
inline constexpr int kMaxLayerMemoryKernels = 12;

/// TransformerEngine's fused attention over FlashAttention-2 for this workload and layout: cuDNN's
/// kernel at the key length of one call (compute.h CudnnAttentionSpeedOverFa2); 1 when the
/// workload does not run it (Workload::te_attention). Applied where it was measured (Hopper).
double TeFusedAttentionSpeed(const Workload& w, const Layout& l);

/// The share of a FlashAttention call's work that its FLOP count covers: a head between
/// FlashAttention's compiled widths runs the next one up (compute.h FlashKernelHeadDim: MPT-30B's
/// 112 as 128). 1 for cuDNN's kernel (Workload::te_attention) and for heads whose query and value
/// widths differ (MLA), left at their own widths.
double FlashHeadDimShare(const Model& m, const Workload& w);

struct LayerKernels {
  std::array<GemmShape, kMaxLayerGemms> gemms{};
  int num_gemms = 0;
  std::array<MemoryKernel, kMaxLayerMemoryKernels> memory{};
  int num_memory = 0;
  /// The memory kernel named `name` (moe_permute, cp_merge, ...); nullptr when the layer has none.
  const MemoryKernel* MemoryNamed(std::string_view name) const {
    for (int i = 0; i < num_memory; ++i) {
      if (memory[static_cast<size_t>(i)].name == name) return &memory[static_cast<size_t>(i)];
    }
    return nullptr;
  }
  // Fused (flash) attention: forward FLOPs of the causal core; backward is 2.5x (FlashAttention-2).
  double flash_fwd_flops = 0;
  bool flash_recomputed = false;
  double flash_speed = 1.0;  // throughput relative to FlashAttention-2 (FlashSpeedRelativeToFa2)
  // TransformerEngine's fused attention (Workload::te_attention): cuDNN's kernel over FA2 at this
  // call's key length (compute.h CudnnAttentionSpeedOverFa2); it applies where that speed was
  // measured (ComputeParams::cudnn_attention_measured), FA2's rate elsewhere. 1 otherwise.
  double te_fused_speed = 1.0;
  /// The attention core's throughput relative to FlashAttention-2 on a GPU where cuDNN's fused
  /// attention is (`cudnn_measured`) or is not measured.
  double AttentionSpeed(bool cudnn_measured) const { return flash_speed * (cudnn_measured ? te_fused_speed : 1.0); }
  // FP8 (TransformerEngine delayed scaling, NVIDIA/TransformerEngine
  // transformer_engine/pytorch/module/linear.py and layernorm_linear.py, TE 1.x): every linear
  // layer's input is cast to FP8 together with its FP8 transpose for the weight-gradient GEMM
  // (fp8_cast_transpose_fused: read 2 B, write 1 + 1 B per element, 4 B), except where the
  // LayerNorm/RMSNorm before it writes FP8 directly (LayerNormLinear: the norm writes 1 B
  // instead of 2, and fp8_transpose reads 1 and writes 1: +1 B per element); in backward each
  // linear's output gradient is cast and transposed (grad_output_preprocess: 4 B per element).
  // Weights are cast and transposed on the first micro-batch of a step (is_first_microbatch:
  // 4 B per weight element per step). One launch per cast.
  double fp8_cast_fwd_bytes = 0;
  double fp8_cast_bwd_bytes = 0;
  int fp8_cast_fwd_launches = 0;
  int fp8_cast_bwd_launches = 0;
  // torchao's rowwise recipes (Fp8Recipe::kTorchaoRowwise...) count here too: the backward GEMMs'
  // outputs rescaled after cuBLAS's unit-scale kernel (read and write, 4 B per element, a launch
  // each) are bandwidth-bound work of the same kind.
  // The forward casts of the recomputed GEMMs, run again in backward.
  double fp8_cast_recomputed_bytes = 0;
  int fp8_cast_recomputed_launches = 0;
  // Current scaling under SP: the TP all-reduces of amaxes (4 B each) per micro-batch, in
  // forward (column-parallel inputs), backward (row-parallel output gradients) and the
  // recomputed forward.
  int fp8_amax_reductions_fwd = 0;
  int fp8_amax_reductions_bwd = 0;
  int fp8_amax_reductions_recomputed = 0;
  double fp8_weight_elements = 0;  // linear weights of one layer on this rank (cast per step)
  int fp8_weight_launches = 0;
};

struct HeadKernels {
  GemmShape gemm;  // output projection to the local vocabulary shard
  std::array<MemoryKernel, 2> memory{};  // cross-entropy over the logits, final norm
};

/// The kernels of one layer for one micro-batch of `l.mbs` sequences. For an MoE model,
/// moe_layer picks an MoE layer (router, the rank's local experts as one grouped GEMM of
/// experts.h RouteTokens' rows each, shared experts, the permutation kernels) or one of its
/// dense layers (Moe::dense_layers: a dense MLP of Model::ffn).
LayerKernels LayerKernelsFor(const Model& m, const Workload& w, const Layout& l, bool moe_layer = true);

/// Bytes per element of an FP8 cast, from the precision policy: TransformerEngine's
/// cast-transpose reads the bf16 tensor and writes it twice in FP8 (2 + 1 + 1 = 4 B); current
/// scaling reads it once more first for the amax (6 B); torchao's compiled cast reads it for the
/// amax, reads it again and writes it once (2 + 2 + 1 = 5 B).
struct Fp8CastBytes {
  double cast_transpose = 0, amax_cast_transpose = 0, torchao = 0;
};
Fp8CastBytes Fp8CastBytesOf(const PrecisionPolicy& p);
/// The output head and loss for one micro-batch.
HeadKernels HeadKernelsFor(const Model& m, const Workload& w, const Layout& l);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_KERNELS_H_
