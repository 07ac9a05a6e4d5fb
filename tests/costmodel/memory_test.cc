// Activation memory against Korthikanti et al. 2022 Table 2, every row, for the 22B, 175B, 530B
// and 1T configurations of Table 3; model-state bytes against Megatron-LM's distributed
// optimizer table.
#include <gtest/gtest.h>

#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

struct Config {
  const char* name;
  int64_t mbs;  // Table 3 micro-batch size (tp = 8, seq 2048 for all)
};

class KorthikantiTable2 : public ::testing::TestWithParam<Config> {};

TEST_P(KorthikantiTable2, EveryRowExactly) {
  const Model m = ResolveModel(GetParam().name);
  const double s = 2048, b = static_cast<double>(GetParam().mbs), h = m.hidden, a = m.heads, t = 8;
  ActivationShape shape{2048, GetParam().mbs, 1, false, /*flash=*/false, Recompute::kNone};
  auto at = [&](int64_t tp, bool sp, Recompute rc) {
    ActivationShape x = shape;
    x.tp = tp;
    x.sp = sp;
    x.recompute = rc;
    return ActivationBytesPerLayer(m, x);
  };
  const double sbh = s * b * h;
  // No parallelism: sbh(34 + 5as/h).
  EXPECT_DOUBLE_EQ(at(1, false, Recompute::kNone), sbh * (34 + 5 * a * s / h));
  // Tensor parallel: sbh(10 + 24/t + 5as/(ht)).
  EXPECT_DOUBLE_EQ(at(8, false, Recompute::kNone), sbh * (10 + 24 / t + 5 * a * s / (h * t)));
  // Tensor + sequence parallel: sbh/t (34 + 5as/h).
  EXPECT_DOUBLE_EQ(at(8, true, Recompute::kNone), sbh / t * (34 + 5 * a * s / h));
  // Tensor parallel + selective recompute: sbh(10 + 24/t).
  EXPECT_DOUBLE_EQ(at(8, false, Recompute::kSelective), sbh * (10 + 24 / t));
  // Tensor + sequence parallel + selective recompute: 34 sbh / t.
  EXPECT_DOUBLE_EQ(at(8, true, Recompute::kSelective), 34 * sbh / t);
  // Full recompute: 2sbh.
  EXPECT_DOUBLE_EQ(at(1, false, Recompute::kFull), 2 * sbh);
  EXPECT_DOUBLE_EQ(at(8, false, Recompute::kFull), 2 * sbh);
}

INSTANTIATE_TEST_SUITE_P(Table3, KorthikantiTable2,
                         ::testing::Values(Config{"gpt-22b", 4}, Config{"gpt-175b", 1},
                                           Config{"gpt-530b", 1}, Config{"gpt-1t", 1}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           return n.substr(4);
                         });

TEST(Activations, Gpt3SelectiveSavesSeventyPercent) {
  // Korthikanti Sec. 5: for GPT-3 (5as/h = 80) selective recompute saves 70% of activations.
  const Model m = ResolveModel("gpt-175b");
  ActivationShape none{2048, 1, 8, true, false, Recompute::kNone};
  ActivationShape sel = none;
  sel.recompute = Recompute::kSelective;
  EXPECT_NEAR(1 - ActivationBytesPerLayer(m, sel) / ActivationBytesPerLayer(m, none), 0.70, 0.005);
}

TEST(Activations, FlashAttentionGqaSwigluNoDropoutFollowsTheSameAccount) {
  // Llama 2 70B layer, s 4096, b 1, tp 8 + SP, flash, no dropout, hand count per tensor:
  // norms 2x2sbh, QKV input 2sbh, fc1 input 2sbh (all /t with SP); Q 2sb(a/t)d; K,V 2sb(g/t)d
  // each; softmax LSE 4sb(a/t); proj input 2sb(a/t)d; SwiGLU gate+up 4sbF/t; fc2 input 2sbF/t.
  const Model m = ResolveModel("llama2-70b");
  const double s = 4096, h = 8192, F = 28672, t = 8, d = 128, a = 64, g = 8;
  const double expected = 8 * s * h / t + 2 * s * (a / t) * d + 2 * 2 * s * (g / t) * d +
                          4 * s * (a / t) + 2 * s * (a / t) * d + 4 * s * F / t + 2 * s * F / t;
  ActivationShape x{4096, 1, 8, true, true, Recompute::kNone};
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, x), expected);
  // Selective recompute (Megatron's core_attn module) drops only the fused kernel's fp32
  // log-sum-exp once attention is fused: the kernel re-runs in backward and recomputes it.
  x.recompute = Recompute::kSelective;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, x), expected - 4 * s * (a / t));
}

TEST(StateBytes, MegatronDistributedOptimizerTable) {
  // Megatron-LM docs (distrib_optimizer.md), bf16 params + fp32 grads: 18 bytes/param without
  // the distributed optimizer, 6 + 12/d with it.
  StateBytes plain = StateBytesPerParam(Recipe::kMegatron, 1, 1);
  EXPECT_DOUBLE_EQ(plain.params + plain.grads + plain.optimizer, 18.0);
  StateBytes dist = StateBytesPerParam(Recipe::kMegatron, 1, 64);
  EXPECT_DOUBLE_EQ(dist.params + dist.grads + dist.optimizer, 6.0 + 12.0 / 64);
  // Megatron-Core's main-grad buffer takes the reduce dtype (distributed_data_parallel.py
  // @293e104: `grad_dtype = torch.float if self.ddp_config.grad_reduce_in_fp32 else
  // param.dtype`): with grad_reduce_in_fp32=False, as NeMo's performance recipes run, the grads
  // are bf16, 2 + 2 + 12 = 16 bytes/param, or 4 + 12/d.
  Workload bf16_reduce;
  bf16_reduce.reduce_dtype = Dtype::kBf16;
  const PrecisionPolicy pb = PrecisionOf(bf16_reduce);
  plain = StateBytesPerParam(Recipe::kMegatron, 1, 1, pb);
  EXPECT_DOUBLE_EQ(plain.grads, 2.0);
  EXPECT_DOUBLE_EQ(plain.params + plain.grads + plain.optimizer, 16.0);
  dist = StateBytesPerParam(Recipe::kMegatron, 1, 64, pb);
  EXPECT_DOUBLE_EQ(dist.params + dist.grads + dist.optimizer, 4.0 + 12.0 / 64);
}

TEST(StateBytes, Fsdp2FullShardIsSixteenOverF) {
  // FSDP2 with fp32 params: param 4 + grad 4 + Adam m 4 + v 4 = 16 bytes, all sharded by f.
  StateBytes s = StateBytesPerParam(Recipe::kFsdp2, 3, 128);
  EXPECT_DOUBLE_EQ(s.params + s.grads + s.optimizer, 16.0 / 128);
  StateBytes z1 = StateBytesPerParam(Recipe::kFsdp2, 1, 128);
  EXPECT_DOUBLE_EQ(z1.params + z1.grads + z1.optimizer, 8.0 + 8.0 / 128);
}

TEST(PrecisionPolicy, EveryByteSizeComesFromTheRolesTable) {
  // The workload's policy: bf16 activations, weights and gradients, fp32 states and statistics,
  // 1-byte masks and FP8, the reduce dtype as asked.
  Workload w;
  PrecisionPolicy p = PrecisionOf(w);
  EXPECT_EQ(p.activation, 2.0);
  EXPECT_EQ(p.weight, 2.0);
  EXPECT_EQ(p.grad, 2.0);
  EXPECT_EQ(p.fp32, 4.0);
  EXPECT_EQ(p.reduce, 4.0);
  EXPECT_EQ(p.mask, 1.0);
  EXPECT_EQ(p.fp8, 1.0);
  w.reduce_dtype = Dtype::kBf16;
  EXPECT_EQ(PrecisionOf(w).reduce, 2.0);
  // The optimizer step per local parameter, by hand: Adam's fp32 param r/w 8, grad read 4, m
  // and v r/w 16; clipping's gradient-norm read 4 and in-place scale r/w 8 (torch.nn.utils
  // clip_grad_norm_ and Megatron-Core clip_grad_by_total_norm_fp32 always multiply) = 40 B;
  // Megatron's bf16 copy written, 2 more.
  EXPECT_EQ(OptimizerStepBytesPerParam(Recipe::kFsdp2, p, /*per_op=*/false), 40.0);
  EXPECT_EQ(OptimizerStepBytesPerParam(Recipe::kMegatron, p, /*per_op=*/false), 42.0);
  // Adam one kernel per op (Composer's DecoupledAdamW, weight decay 0), each op's fp32 operands
  // read and its result written: exp_avg.mul_ 4+4, .add_(grad) 4+4+4, exp_avg_sq.mul_ 4+4,
  // .addcmul_(grad, grad) 4+4+4, sqrt 4+4, / sqrt(bc2) 4+4, .add_(eps) 4+4,
  // param.addcdiv_(exp_avg, denom) 4+4+4+4 = 80, with clipping's 12: 92 B.
  EXPECT_EQ(OptimizerStepBytesPerParam(Recipe::kFsdp2, p, /*per_op=*/true), 92.0);
  EXPECT_EQ(OptimizerStepBytesPerParam(Recipe::kMegatron, p, /*per_op=*/true), 94.0);
  // Megatron-Core's gradient buffer, zeroed every step: the reduce dtype (fp32) per parameter
  // held; nothing where gradients are freed, 2 B where they are reduced in bf16.
  EXPECT_EQ(GradBufferZeroBytes(w, 1e9), 0.0);
  Workload zeroed = w;
  zeroed.grad_buffer_zeroed = true;
  EXPECT_EQ(GradBufferZeroBytes(zeroed, 1e9), 2e9);  // w.reduce_dtype is bf16 here (above)
  zeroed.reduce_dtype = Dtype::kFp32;
  EXPECT_EQ(GradBufferZeroBytes(zeroed, 1e9), 4e9);
  // FP8 casts (kernels.h): TE's cast-transpose 2 + 1 + 1, with current scaling's amax read 6,
  // torchao's amax read, read and write 2 + 2 + 1.
  const Fp8CastBytes fc = Fp8CastBytesOf(p);
  EXPECT_EQ(fc.cast_transpose, 4.0);
  EXPECT_EQ(fc.amax_cast_transpose, 6.0);
  EXPECT_EQ(fc.torchao, 5.0);
  // A role changed in the table moves what depends on it, and only that: bf16 master weights
  // and moments (a hypothetical all-bf16 Adam) halve the optimizer's bytes and the FSDP2 states.
  PrecisionPolicy half = p;
  half.fp32 = 2.0;
  EXPECT_EQ(OptimizerStepBytesPerParam(Recipe::kFsdp2, half, /*per_op=*/false), 20.0);
  const StateBytes s = StateBytesPerParam(Recipe::kFsdp2, 3, 1, half);
  EXPECT_DOUBLE_EQ(s.params + s.grads + s.optimizer, 8.0);
  const StateBytes meg = StateBytesPerParam(Recipe::kMegatron, 1, 1, half);
  EXPECT_DOUBLE_EQ(meg.params, 2.0);  // the bf16 weight is the weight role, unchanged
  // Activations: Korthikanti et al. 2022 Table 2's 34sbh + 5as^2b (GPT-3 175B: dropout, no flash,
  // no TP) is, by role, 16sbh activation elements of 2 bytes plus 2sbh of 1-byte masks, and in the
  // attention core 2as^2b of 2-byte elements (softmax output, dropout output) plus as^2b of mask.
  // At 1 byte per activation element only the activation terms halve.
  const Model m = ResolveModel("gpt3-175b");
  ActivationShape a{2048, 1, 1, false, false, Recompute::kNone};
  const double full = ActivationBytesPerLayer(m, a);
  a.bytes.activation = 1.0;
  const double sbh = 2048.0 * 12288.0, as2b = 96.0 * 2048.0 * 2048.0;
  EXPECT_DOUBLE_EQ(full, 34.0 * sbh + 5.0 * as2b);
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, a), 16.0 * sbh + 2.0 * sbh + 2.0 * as2b + as2b);
}

TEST(Memory, TpShardsMatmulsAndVocabButNotNorms) {
  const Model m = ResolveModel("llama2-70b");
  const TpShardParams p1 = ParamsPerTpRank(m, 1), p8 = ParamsPerTpRank(m, 8);
  // KV heads (8) split by tp 8: one KV head per rank; the two norms (2 x 8192) stay whole.
  const double attn8 = 8192.0 * (8 + 2 * 1) * 128 + 8.0 * 128 * 8192;
  EXPECT_DOUBLE_EQ(p8.layer, attn8 + 3.0 * 8192 * 28672 / 8 + 2 * 8192);
  EXPECT_DOUBLE_EQ(p1.layer, 855654400.0);
  // Vocab padded to 128 * 8 = 1024: 32768 / 8 rows per rank.
  EXPECT_DOUBLE_EQ(p8.embedding, 4096.0 * 8192);
}

TEST(Memory, BreakdownSumsToPeakAndOverheadIsItsOwnLine) {
  const Model m = ResolveModel("llama2-7b");
  const Cluster c = ResolveCluster("dgx-h100");
  Workload w;
  w.gpus = 64;
  w.global_batch = 64;
  w.seq = 4096;
  Layout l;
  l.fsdp = 64;
  const MemoryBreakdown mb = EstimateMemory(m, c, w, l);
  EXPECT_DOUBLE_EQ(mb.peak_bytes, mb.params_bytes + mb.grads_bytes + mb.optimizer_bytes +
                                      mb.activations_bytes + mb.transient_bytes + mb.overhead_bytes);
  // The CUDA context and NCCL's buffers (dgx-h100.json): the caching allocator's gap is in
  // reserved_bytes, not in what has to fit (it is released before an out-of-memory).
  EXPECT_DOUBLE_EQ(mb.overhead_bytes, (0.8 + 1.5) * kGiB);
  EXPECT_DOUBLE_EQ(mb.capacity_bytes, (80 - 1.86) * kGiB);
  // Vocab 32000 is already a multiple of 128: fp32 params of all 6,738,415,616 over 64 ranks.
  EXPECT_DOUBLE_EQ(mb.params_bytes, 4.0 * 6738415616.0 / 64);
}

// What PyTorch reports and what the device holds, as memory.h defines them: allocated
// (torch.cuda.max_memory_allocated) is the tensors; reserved (max_memory_reserved) adds the
// caching allocator's gap, allocator_fraction (0.15, GMLake's average on A100-80GB) of the
// activations and transient buffers; the device peak, what has to fit, is the allocated tensors
// plus the CUDA context (0.8 GiB) and NCCL (1.5 GiB) of dgx-h100.json, without the gap: PyTorch's
// DeviceCachingAllocator::malloc (c10/cuda/CUDACachingAllocator.cpp @eb42ad6) returns its cached
// blocks to the driver and retries before it raises out-of-memory. Hand count for Llama 2 7B, FSDP 64, one 4096-token sequence,
// full recompute: the kept activations are the 32 layer inputs, 4096 x 4096 x 2 B each, plus
// what is kept outside the layers (final norm input and the fp32 logits of the loss).
TEST(Memory, AllocatedReservedAndDevicePeakSeparate) {
  const Model m = ResolveModel("llama2-7b");
  const Cluster c = ResolveCluster("dgx-h100");
  Workload w;
  w.gpus = 64;
  w.global_batch = 64;
  w.seq = 4096;
  Layout l;
  l.fsdp = 64;
  l.recompute = Recompute::kFull;
  const MemoryBreakdown mb = EstimateMemory(m, c, w, l);
  const double states = 16.0 * 6738415616.0 / 64;  // fp32 params + grads + Adam m, v
  EXPECT_DOUBLE_EQ(mb.params_bytes + mb.grads_bytes + mb.optimizer_bytes, states);
  EXPECT_DOUBLE_EQ(mb.activations_per_layer_bytes, 4096.0 * 4096 * 2);
  EXPECT_DOUBLE_EQ(mb.allocated_bytes, states + mb.activations_bytes + mb.transient_bytes);
  EXPECT_DOUBLE_EQ(mb.reserved_bytes,
                   mb.allocated_bytes + 0.15 * (mb.activations_bytes + mb.transient_bytes));
  EXPECT_DOUBLE_EQ(mb.peak_bytes, mb.allocated_bytes + (0.8 + 1.5) * kGiB);
  EXPECT_GT(mb.reserved_bytes, mb.allocated_bytes);
  EXPECT_LT(mb.peak_bytes, mb.reserved_bytes + (0.8 + 1.5) * kGiB);
}


// Checkpointing as frameworks define it (specs.h Recompute, issue 19 item 3), hand counts for a
// Llama 3 8B layer (h 4096, 32 heads, 8 KV heads of 128, SwiGLU F 14336) at 8192 tokens.
// torchtitan's op-level AC keeps the block input 2Th, the outputs of the 1st, 3rd, 5th and 7th
// matmul (wq 2Th, wv 2T gd, w1 2TF, w2 2Th), the attention output 2Th and its fp32
// log-sum-exp 4Ta: T (8h + 2gd + 2F + 4a) = 8192 x 63,616 = 521,142,272 bytes.
TEST(Checkpointing, TorchtitanOpLevelKeepsTheSavedOpsOutputs) {
  const Model m = ResolveModel("llama3-8b");
  const double T = 8192, h = 4096, gd = 1024, F = 14336, a = 32;
  ActivationShape x{8192, 1, 1, false, true, Recompute::kOp};
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, x), T * (8 * h + 2 * gd + 2 * F + 4 * a));
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, x), 521142272.0);
  // Under TP 2 with SP: the block input and the two reduce-scatter outputs sharded by 2, the
  // local shards of wq, wv, w1 and the attention output, wo's and w2's partial sums whole:
  // T (2h/2 + 2h/2 + 2gd/2 + 2F/2 + 2h + 2h/2 + 4a/2 + 2 x 2h/2) = 8192 x 44,096.
  x.tp = 2;
  x.sp = true;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, x), 8192.0 * 44096);
  // Between none and full.
  ActivationShape none = x, full = x;
  none.recompute = Recompute::kNone;
  full.recompute = Recompute::kFull;
  EXPECT_LT(ActivationBytesPerLayer(m, x), ActivationBytesPerLayer(m, none));
  EXPECT_GT(ActivationBytesPerLayer(m, x), ActivationBytesPerLayer(m, full));
}

// Full recompute of some layers: torchtitan's every n-th layer (ac_freq) and Megatron-LM's
// first n layers of each stage (recompute_num_layers, block method).
TEST(Checkpointing, SomeLayersFullyRecomputed) {
  Layout l;
  l.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(FullRecomputeShare(l, 32), 1.0);
  l.ac_freq = 3;
  EXPECT_DOUBLE_EQ(FullRecomputeShare(l, 32), 10.0 / 32);  // layers 3, 6, ..., 30
  l.ac_freq = 0;
  l.recompute_num_layers = 4;
  EXPECT_DOUBLE_EQ(FullRecomputeShare(l, 32), 4.0 / 32);
  EXPECT_DOUBLE_EQ(FullRecomputeShare(l, 3), 1.0);  // a stage of 3 layers: all of them
  l.recompute = Recompute::kOp;
  EXPECT_DOUBLE_EQ(FullRecomputeShare(l, 32), 0.0);
  // Half the layers keep only their input, the other half everything: the mean per layer.
  const Model m = ResolveModel("llama3-8b");
  ActivationShape x{8192, 1, 1, false, true, Recompute::kFull, 1.0, 0.5};
  ActivationShape none = x, full = x;
  none.recompute = Recompute::kNone;
  full.full_share = 1.0;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, x),
                   0.5 * ActivationBytesPerLayer(m, none) + 0.5 * ActivationBytesPerLayer(m, full));
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, full), 2.0 * 8192 * 4096);
}

// Megatron-Core's --recompute-modules (specs.h RecomputeModule), hand counts. Llama 3 8B at 8192
// tokens, tp 1, flash attention: core_attn drops the kernel's fp32 log-sum-exp 4Ta = 1,048,576;
// mlp drops fc1's normed input 2Th = 67,108,864 and the SwiGLU inputs and fc2 input
// 3 x 2TF = 704,643,072 (the MLP's input, the residual stream, stays).
TEST(Checkpointing, MegatronModulesDropTheirSubmodulesTensors) {
  const Model m = ResolveModel("llama3-8b");
  ActivationShape none{8192, 1, 1, false, true, Recompute::kNone};
  ActivationShape core = none;
  core.recompute = Recompute::kSelective;  // the default module: core_attn
  ActivationShape mlp = core;
  mlp.recompute_modules = kRecomputeCoreAttn | kRecomputeMlp;
  const double n = ActivationBytesPerLayer(m, none);
  EXPECT_DOUBLE_EQ(n - ActivationBytesPerLayer(m, core), 1048576.0);
  EXPECT_DOUBLE_EQ(n - ActivationBytesPerLayer(m, mlp), 1048576.0 + 67108864.0 + 704643072.0);
  // Under TP 8 with SP: fc1's input is this rank's 1/8 of the tokens, the rest its 1/8 of F.
  for (ActivationShape* x : {&none, &mlp}) {
    x->tp = 8;
    x->sp = true;
  }
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, none) - ActivationBytesPerLayer(m, mlp),
                   (1048576.0 + 67108864.0 + 704643072.0) / 8);
  // Unfused attention: core_attn is Korthikanti's selective recompute (the s^2 terms), as before.
  ActivationShape unfused{2048, 1, 8, true, false, Recompute::kSelective};
  ActivationShape unfused_none = unfused;
  unfused_none.recompute = Recompute::kNone;
  EXPECT_DOUBLE_EQ(ActivationBytesPerLayer(m, unfused_none) - ActivationBytesPerLayer(m, unfused),
                   2.0 * (32 / 8) * 2048.0 * 2048.0);  // bf16 softmax output, no dropout in Llama
}

// The MoE modules, Mixtral 8x7B (h 4096, 8 experts, top-2, expert F 14336) at 4096 tokens, tp 1,
// even routing: the experts see T x k = 8192 rows. moe_act drops the activation's output (fc2's
// input) 2 x 8192 x F = 234,881,024; moe drops the fp32 router probabilities 4TE = 131,072, the
// permuted copies 2 x 8192 x h = 67,108,864 and the experts' activations 3 x 2 x 8192 x F =
// 704,643,072; layernorm drops the pre-MLP norm's output 2Th = 33,554,432.
TEST(Checkpointing, MegatronMoeModulesDropTheExpertsTensors) {
  const Model m = ResolveModel("mixtral-8x7b");
  ActivationShape none{4096, 1, 1, false, true, Recompute::kNone};
  ActivationShape x = none;
  x.recompute = Recompute::kSelective;
  const double n = ActivationBytesPerLayer(m, none);
  x.recompute_modules = kRecomputeMoeAct;
  EXPECT_DOUBLE_EQ(n - ActivationBytesPerLayer(m, x), 234881024.0);
  x.recompute_modules = kRecomputeMoe;
  EXPECT_DOUBLE_EQ(n - ActivationBytesPerLayer(m, x), 131072.0 + 67108864.0 + 704643072.0);
  x.recompute_modules = kRecomputeMoe | kRecomputeMoeAct;  // moe covers moe_act
  EXPECT_DOUBLE_EQ(n - ActivationBytesPerLayer(m, x), 131072.0 + 67108864.0 + 704643072.0);
  x.recompute_modules = kRecomputeLayernorm;
  EXPECT_DOUBLE_EQ(n - ActivationBytesPerLayer(m, x), 33554432.0);
}


// FSDP2's transient units by hand (memory.cc; torchtitan apply_fsdp wraps tok_embeddings, each
// block, and [norm, output] as units, torchtitan/models/llama3/infra/parallelize.py @018740b).
// In backward a unit is gathered in bf16 (2 B a parameter), its unsharded gradients are bf16
// (2 B) with an fp32 copy for the reduce-scatter (4 B), and the next unit in backward order is
// gathered ahead (2 B). Llama 3 8B: a block holds 4096^2 x 2 (q, o) + 2 x 4096 x 1024 (k, v)
// + 3 x 4096 x 14336 (SwiGLU) + 2 x 4096 (norms) = 218,112,000 parameters; the head 128,256 x
// 4096 + 4096 (final norm) = 525,340,672. Under the head the unit ahead is the last block:
// 525,340,672 x 8 + 218,112,000 x 2 = 4,638,949,376 B, more than a block's phase
// (218,112,000 x 10), and not the 5,253,406,720 B of two heads. Llama 2 70B's head (32,000 x
// 8192 + 8192 = 262,152,192) is smaller than its block (855,654,400): the block's phase, x 10.
/// The activations outside the layers (final norm and head inputs, the logits) in `mb`: what
/// the layers' kept activations leave of the total (one micro-batch, no offload, no pipeline).
double OutsideLayers(const Model& m, const MemoryBreakdown& mb) {
  return mb.activations_bytes - static_cast<double>(m.layers) * mb.activations_per_layer_bytes;
}

TEST(Memory, Fsdp2UnitsGatheredInBackwardByHand) {
  const Cluster c = ResolveCluster("dgx-h100");
  // FSDP over every GPU, one sequence per GPU, no recompute: the backward's largest phase is a
  // layer's units, or the head's with the activations outside the layers (the logits and loss,
  // freed before the layers' backward), or the embedding's. The transient is that phase less
  // those outside activations, which activations_bytes already counts.
  struct Phase {
    double transient, outside;
  };
  auto phase = [&](const Model& m, int64_t gpus, int64_t seq, Dtype reduce) {
    Workload w;
    w.gpus = gpus;
    w.global_batch = gpus;
    w.seq = seq;
    w.reduce_dtype = reduce;
    Layout l;
    l.fsdp = gpus;
    l.recompute = Recompute::kNone;
    const MemoryBreakdown mb = EstimateMemory(m, c, w, l);
    const double outside = OutsideLayers(m, mb);
    EXPECT_GT(outside, 0.0);
    return Phase{mb.transient_bytes, outside};
  };
  const Model llama3_8b = ResolveModel("llama3-8b"), llama2_70b = ResolveModel("llama2-70b");
  // The head's phase, with the logits still held.
  const Phase a = phase(llama3_8b, 8, 8192, Dtype::kFp32);
  EXPECT_DOUBLE_EQ(a.transient, 525340672.0 * 8 + 218112000.0 * 2);
  // A block's phase, once the logits are freed.
  const Phase b = phase(llama2_70b, 64, 4096, Dtype::kFp32);
  EXPECT_GT(855654400.0 * 10, b.outside + 262152192.0 * 8 + 855654400.0 * 2);
  EXPECT_DOUBLE_EQ(b.transient + b.outside, 855654400.0 * 10);
  // An fp32 reduce-scatter of bf16 gradients is what adds the 4 B: a bf16 reduce moves the
  // gradients as they are (no copy), so a parameter costs 2 + 2 + 2 under the head's backward.
  EXPECT_DOUBLE_EQ(phase(llama3_8b, 8, 8192, Dtype::kBf16).transient, 525340672.0 * 4 + 218112000.0 * 2);
  // Tied embeddings: the head unit is the final norm alone (4,096), and the embedding, 128,256 x
  // 4,096 = 525,336,576 parameters, is the largest phase at 1,024 tokens: gathered last in
  // backward, nothing after it, 2 + 2 + 4 B a parameter.
  Model tied = llama3_8b;
  tied.tied_embeddings = true;
  const Phase t = phase(tied, 8, 1024, Dtype::kFp32);
  EXPECT_GT(525336576.0 * 8, t.outside + 4096.0 * 8 + 218112000.0 * 2);
  EXPECT_DOUBLE_EQ(t.transient + t.outside, 525336576.0 * 8);
  // At fsdp 1 nothing is sharded and the embedding's phase is not counted: the block's is.
  const Phase one = phase(tied, 1, 1024, Dtype::kFp32);
  EXPECT_DOUBLE_EQ(one.transient + one.outside, 218112000.0 * 10);
}

// FSDP1 (llm-foundry, --fsdp1) wraps the embedding and the head in its root unit, which it does not
// reshard after the forward (torch FSDP1 _post_forward_reshard) and whose unsharded gradient,
// allocated at the head's backward, is reduced after the embedding's: root parameters and gradients
// are held through every phase of the backward. Llama 3 8B over 8 ranks, ZeRO-3, no recompute:
// the root is 128,256 x 4,096 (embedding) + 128,256 x 4,096 + 4,096 (head) = 1,050,677,248
// parameters, a layer 218,112,000.
TEST(Memory, Fsdp1RootUnitHeldThroughTheBackwardByHand) {
  const Cluster c = ResolveCluster("dgx-h100");
  const Model m = ResolveModel("llama3-8b");
  const double root = 1050677248.0, layer = 218112000.0;
  auto estimate = [&](int64_t seq, bool fsdp1) {
    Workload w;
    w.gpus = w.global_batch = 8;
    w.seq = seq;
    w.fsdp2_copies = !fsdp1;
    Layout l;
    l.fsdp = 8;
    l.recompute = Recompute::kNone;
    return EstimateMemory(m, c, w, l);
  };
  // At 1,024 tokens the logits are small and the embedding's phase, the last, is the root's whole:
  // 2 B bf16 parameters + 2 B gradients + 4 B their fp32 reduce copy.
  const MemoryBreakdown short1 = estimate(1024, true);
  EXPECT_DOUBLE_EQ(short1.transient_bytes + OutsideLayers(m, short1), root * 8);
  // FSDP2's embedding is a unit alone there: the head's phase leads (the head 2 + 2 + 4 B, the
  // last layer prefetched), with the logits.
  const MemoryBreakdown short2 = estimate(1024, false);
  EXPECT_DOUBLE_EQ(short2.transient_bytes, 525340672.0 * 8 + layer * 2);
  // At 8,192 tokens the logits (counted in activations) and the head's phase lead: the root's
  // parameters and gradients (2 + 2 B), the last layer prefetched (2 B).
  const MemoryBreakdown long1 = estimate(8192, true);
  EXPECT_GT(OutsideLayers(m, long1) + root * 4 + layer * 2, root * 8);
  EXPECT_DOUBLE_EQ(long1.transient_bytes, root * 4 + layer * 2);
  // A layer's phase carries the root too: Llama 2 70B over 64 ranks at 4,096 tokens, where it
  // leads: 2 x 2 B gathered + 2 + 4 B of a layer (855,654,400), 2 + 2 B of the root
  // (32,000 x 8,192 + 32,000 x 8,192 + 8,192 = 524,296,192).
  const Model m70 = ResolveModel("llama2-70b");
  Workload w;
  w.gpus = w.global_batch = 64;
  w.seq = 4096;
  w.fsdp2_copies = false;
  Layout l;
  l.fsdp = 64;
  l.recompute = Recompute::kNone;
  const MemoryBreakdown b = EstimateMemory(m70, c, w, l);
  EXPECT_DOUBLE_EQ(b.transient_bytes + OutsideLayers(m70, b), 855654400.0 * 10 + 524296192.0 * 4);
}

// The logits and the loss's saved tensors go when their backward nodes have run (autograd's
// release_variables, torch/csrc/autograd/engine.cpp evaluate_function), before the layers'
// backward recomputes: the recompute working set is not added on top of them. Megatron's
// recipe, ZeRO-1 (no FSDP units), full recompute, one sequence per GPU.
TEST(Memory, RecomputeWorkingSetDoesNotStackOnTheLogits) {
  const Cluster c = ResolveCluster("dgx-h100");
  auto estimate = [&](const char* model, int64_t seq) {
    Workload w;
    w.gpus = w.global_batch = 8;
    w.seq = seq;
    Layout l;
    l.fsdp = 8;
    l.zero = 1;
    l.recipe = Recipe::kMegatron;
    l.recompute = Recompute::kFull;
    const Model m = ResolveModel(model);
    const MemoryBreakdown mb = EstimateMemory(m, c, w, l);
    return std::pair{mb, OutsideLayers(m, mb)};
  };
  // Llama 3 8B at 1,024 tokens: outside the layers, the final norm's and the head's bf16 inputs
  // and the cross-entropy's fp32 logits, 1,024 x (4,096 x 2 x 2 + 128,256 x 4) = 542,113,792 B,
  // more than a layer rematerialised, so nothing is left over them: the transient is 0, where it
  // was the whole working set.
  const auto [small, small_outside] = estimate("llama3-8b", 1024);
  ASSERT_GT(small.recompute_working_bytes, 0.0);
  EXPECT_DOUBLE_EQ(small_outside, 1024.0 * (4096 * 2 * 2 + 128256 * 4));
  EXPECT_GT(small_outside, small.recompute_working_bytes);
  EXPECT_EQ(small.transient_bytes, 0.0);
  // Llama 2 70B at 4,096 tokens: the layer's working set is the larger; the transient is what it
  // adds over the logits.
  const auto [large, large_outside] = estimate("llama2-70b", 4096);
  EXPECT_GT(large.recompute_working_bytes, large_outside);
  EXPECT_DOUBLE_EQ(large.transient_bytes + large_outside, large.recompute_working_bytes);
}

}  // namespace
}  // namespace meshplan::costmodel
