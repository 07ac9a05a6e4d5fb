// The layer's kernels: shapes follow Megatron-LM's column/row split, and the forward GEMM FLOPs
// of one layer equal 2 x tokens x (its matmul weights / t), the hand count of params_test.
#include <gtest/gtest.h>

#include "costmodel/kernels.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

Workload W(int64_t seq, bool flash) {
  Workload w;
  w.gpus = 8;
  w.global_batch = 8;
  w.seq = seq;
  w.flash_attention = flash;
  return w;
}

TEST(LayerKernels, Llama2_70bUnderTp8HasMegatronShapes) {
  const Model m = ResolveModel("llama2-70b");  // h 8192, 64 heads, 8 KV heads, ffn 28672
  Layout l = ParseLayoutText("tp=8,sp=on,fsdp=1,mbs=2", "test");
  const LayerKernels k = LayerKernelsFor(m, W(4096, true), l);
  ASSERT_EQ(k.num_gemms, 4);
  const int64_t T = 2 * 4096;
  // qkv: 8 local query heads + 2 x 1 KV head, 128 each -> n = 1280.
  EXPECT_EQ(k.gemms[0].name, "qkv");
  EXPECT_EQ(k.gemms[0].m, T);
  EXPECT_EQ(k.gemms[0].n, 1280);
  EXPECT_EQ(k.gemms[0].k, 8192);
  EXPECT_EQ(k.gemms[1].n, 8192);
  EXPECT_EQ(k.gemms[1].k, 1024);
  // SwiGLU: gate and up fused, 28672 / 8 = 3584 each.
  EXPECT_EQ(k.gemms[2].n, 7168);
  EXPECT_EQ(k.gemms[3].k, 3584);
  // Forward GEMM FLOPs = 2 T (qkv 8192*1280 + out 1024*8192 + in 8192*7168 + out 3584*8192).
  double flops = 0;
  for (int i = 0; i < k.num_gemms; ++i) {
    const GemmShape& g = k.gemms[static_cast<size_t>(i)];
    flops += 2.0 * g.m * g.n * g.k * g.batch;
  }
  EXPECT_DOUBLE_EQ(flops, 2.0 * T * (8192.0 * 1280 + 1024.0 * 8192 + 8192.0 * 7168 + 3584.0 * 8192));
  // Causal flash attention: 4 T s d x local heads / 2 = 4 * 8192 * 4096 * 128 * 8 / 2.
  EXPECT_DOUBLE_EQ(k.flash_fwd_flops, 4.0 * T * 4096 * 128 * 8 / 2);
  // FlashAttention-2 by default, at its tiling efficiency for 4096 causal tokens (compute.h):
  // n = 32 blocks, 512 useful, 16 diagonal, 32 query blocks at 3.55 each: 512 / 641.6.
  const double tile = 512.0 / (512.0 + 16.0 + 3.55 * 32.0);
  EXPECT_NEAR(k.flash_speed, tile, 1e-12);
  Workload fa1 = W(4096, true);
  fa1.flash_version = 1;
  EXPECT_NEAR(LayerKernelsFor(m, fa1, l).flash_speed, 0.5 * tile, 1e-12);
  // SP shards the norms by t: 4 bytes per element of T x h / 8 per launch, two launches.
  EXPECT_EQ(k.memory[0].name, "norm");
  EXPECT_DOUBLE_EQ(k.memory[0].bytes, 4.0 * T * 8192 / 8);
  EXPECT_EQ(k.memory[0].count, 2);
  EXPECT_EQ(k.memory[0].backward_count, 4);
}

TEST(LayerKernels, UnfusedAttentionRunsScoresAsBatchedGemmsAndRecomputesThemSelectively) {
  const Model m = ResolveModel("gpt-22b");  // h 6144, 64 heads, dropout
  Layout l = ParseLayoutText("tp=8,sp=on,fsdp=1,mbs=1,recompute=selective", "test");
  const LayerKernels k = LayerKernelsFor(m, W(2048, false), l);
  ASSERT_EQ(k.num_gemms, 6);
  EXPECT_EQ(k.gemms[4].name, "scores");
  EXPECT_EQ(k.gemms[4].m, 2048);
  EXPECT_EQ(k.gemms[4].n, 2048);
  EXPECT_EQ(k.gemms[4].k, 96);
  EXPECT_EQ(k.gemms[4].batch, 8);  // mbs x 64/8 local heads
  EXPECT_TRUE(k.gemms[4].recomputed);
  EXPECT_FALSE(k.gemms[0].recomputed);
  EXPECT_EQ(k.memory[0].name, "softmax");
  // Softmax 4 bytes + dropout 5 bytes per score, 8 x 2048^2 scores.
  EXPECT_DOUBLE_EQ(k.memory[0].bytes, 9.0 * 8 * 2048.0 * 2048.0);
  EXPECT_TRUE(k.memory[0].recomputed);
}

// MPT-30B's heads are 7168 / 64 = 112 wide: FlashAttention runs its 128 kernel, so the
// attention core is priced at 112/128 of the rate a 128-wide head gets (compute.h
// FlashKernelHeadDim); Llama 3 70B's 128 is not; cuDNN's fused kernel (te_attention) is left.
TEST(LayerKernels, FlashAttentionRunsMpt30bsHeadsOnItsNextCompiledWidth) {
  const Layout l = ParseLayoutText("tp=1,fsdp=8,mbs=1,recompute=none", "test");
  const Workload w = W(8192, true);
  const LayerKernels mpt = LayerKernelsFor(ResolveModel("mpt-30b"), w, l);
  const LayerKernels llama = LayerKernelsFor(ResolveModel("llama3-70b"), w, l);
  EXPECT_DOUBLE_EQ(mpt.flash_speed, llama.flash_speed * 112.0 / 128.0);
  Workload te = w;
  te.te_attention = true;
  EXPECT_DOUBLE_EQ(LayerKernelsFor(ResolveModel("mpt-30b"), te, l).flash_speed, llama.flash_speed);
}

// Eager PyTorch (torchtitan without torch.compile): the op-by-op byte counts of kernels.h.
// Llama 2 13B, t=1, mbs 1, seq 4096: T h = 4096 x 5120, T ffn = 4096 x 13824, q and k
// 4096 x (40 + 40) x 128 elements.
TEST(LayerKernels, EagerRmsNormSwigluRopeMoveTheirOpChainsBytes) {
  const Model m = ResolveModel("llama2-13b");
  const Layout l = ParseLayoutText("tp=1,fsdp=8,mbs=1", "test");
  Workload w = W(4096, true);
  w.eager_elementwise = true;
  const LayerKernels e = LayerKernelsFor(m, w, l);
  const LayerKernels f = LayerKernelsFor(m, W(4096, true), l);
  auto total = [](const MemoryKernel& k) { return k.bytes * k.count; };
  auto total_bwd = [](const MemoryKernel& k) { return k.backward_bytes * k.backward_count; };
  const double Th = 4096.0 * 5120, Tf = 4096.0 * 13824, qk = 4096.0 * 80 * 128;
  ASSERT_EQ(e.memory[0].name, "norm");
  EXPECT_DOUBLE_EQ(total(e.memory[0]), 2 * 36.0 * Th);  // two RMSNorms, 36 B per element
  EXPECT_DOUBLE_EQ(total_bwd(e.memory[0]), 2 * 76.0 * Th);
  EXPECT_EQ(e.memory[0].count, 16);
  EXPECT_EQ(e.memory[0].backward_count, 26);
  EXPECT_DOUBLE_EQ(total(f.memory[0]), 2 * 4.0 * Th);  // fused: read 2 B, write 2 B
  ASSERT_EQ(e.memory[2].name, "activation");
  EXPECT_DOUBLE_EQ(total(e.memory[2]), 10.0 * Tf);
  EXPECT_DOUBLE_EQ(total_bwd(e.memory[2]), 18.0 * Tf);
  EXPECT_DOUBLE_EQ(total(f.memory[2]), 6.0 * Tf);
  ASSERT_EQ(e.memory[3].name, "rope");
  EXPECT_DOUBLE_EQ(total(e.memory[3]), 20.0 * qk);
  EXPECT_DOUBLE_EQ(total_bwd(e.memory[3]), 20.0 * qk);
  EXPECT_EQ(e.memory[3].count, 6);  // three ops each for q and k
  EXPECT_DOUBLE_EQ(total(f.memory[3]), 4.0 * qk);
  // The residual adds are one kernel either way; the head's final RMSNorm goes eager too.
  EXPECT_DOUBLE_EQ(total(e.memory[1]), total(f.memory[1]));
  const HeadKernels he = HeadKernelsFor(m, w, l);
  EXPECT_DOUBLE_EQ(he.memory[1].bytes * he.memory[1].count, 36.0 * Th);
  // LayerNorm and GeLU (GPT) are one native kernel each in eager PyTorch: nothing changes.
  const Model gpt = ResolveModel("gpt-22b");
  Workload we = W(2048, true);
  we.eager_elementwise = true;
  const LayerKernels ge = LayerKernelsFor(gpt, we, l), gf = LayerKernelsFor(gpt, W(2048, true), l);
  for (int i = 0; i < gf.num_memory; ++i) {
    EXPECT_DOUBLE_EQ(total(ge.memory[static_cast<size_t>(i)]), total(gf.memory[static_cast<size_t>(i)]));
    EXPECT_EQ(ge.memory[static_cast<size_t>(i)].count, gf.memory[static_cast<size_t>(i)].count);
  }
}

// torch.nn.Linear's bias gradients (Workload::bias_grad_reduce): autograd sums each biased
// linear's output gradient over the tokens in a kernel of its own, backward only. GPT 22B
// (biases on every linear), h = 6144, ffn 4h, seq 2048, mbs 1, by hand:
// - t=1: qkv T x 3h, attn_out T x h, mlp_in T x 4h, mlp_out T x h: T x 9h read, 9h written;
// - t=2 with SP: the column-parallel qkv and mlp_in over all T tokens and their halves of the
//   outputs (1.5h, 2h), the row-parallel attn_out and mlp_out over the SP shard T/2 and the whole
//   h: T x 3.5h + T/2 x 2h read, 5.5h written.
// Two bytes each (bf16), four launches; nothing in forward, nothing recomputed.
TEST(LayerKernels, BiasGradientsAreOneReductionPerBiasedLinear) {
  const Model gpt = ResolveModel("gpt-22b");
  Workload w = W(2048, true);
  w.bias_grad_reduce = true;
  const double T = 2048, h = 6144;
  auto check = [&](const std::string& layout, double read, double written) {
    const LayerKernels k = LayerKernelsFor(gpt, w, ParseLayoutText(layout, "test"));
    const MemoryKernel* b = k.MemoryNamed("bias_grad");
    ASSERT_NE(b, nullptr) << layout;
    EXPECT_EQ(b->count, 0);
    EXPECT_EQ(b->backward_count, 4);
    EXPECT_FALSE(b->recomputed);
    EXPECT_DOUBLE_EQ(b->backward_bytes * b->backward_count, 2.0 * (read + written)) << layout;
  };
  check("tp=1,fsdp=8,mbs=1,recompute=full", T * 9 * h, 9 * h);
  check("tp=2,sp=on,fsdp=4,mbs=1", T * 3.5 * h + T / 2 * 2 * h, 5.5 * h);
  // Off (TransformerEngine's fused bias gradients), in FP8 with TransformerEngine's Linear, or a
  // model without biases: no kernel.
  const Layout l = ParseLayoutText("tp=1,fsdp=8,mbs=1", "test");
  EXPECT_EQ(LayerKernelsFor(gpt, W(2048, true), l).MemoryNamed("bias_grad"), nullptr);
  Workload fp8 = w;
  fp8.precision = Precision::kFp8;
  EXPECT_EQ(LayerKernelsFor(gpt, fp8, l).MemoryNamed("bias_grad"), nullptr);
  EXPECT_EQ(LayerKernelsFor(ResolveModel("llama2-13b"), w, l).MemoryNamed("bias_grad"), nullptr);
}

TEST(HeadKernels, VocabIsPaddedToMultipleOf128TimesTp) {
  const Model m = ResolveModel("llama2-7b");  // vocab 32000 -> 32768 at t=8 (128 * 8 = 1024)
  Layout l = ParseLayoutText("tp=8,fsdp=1", "test");
  const HeadKernels k = HeadKernelsFor(m, W(4096, true), l);
  EXPECT_EQ(k.gemm.n, 32768 / 8);
  EXPECT_EQ(k.gemm.k, 4096);
  // fp32 loss: 14 bytes per logit forward (upcast 2+4, log-softmax 4+4), 18 backward.
  EXPECT_DOUBLE_EQ(k.memory[0].bytes, 14.0 * 4096 * 4096);
  EXPECT_DOUBLE_EQ(k.memory[0].backward_bytes, 18.0 * 4096 * 4096);
}


// FP8 casts of a Llama 2 7B layer (h 4096, ffn 11008, MHA), one 4096-token micro-batch, tp 1,
// by hand from TransformerEngine's linear.py / layernorm_linear.py (kernels.h): inputs of qkv
// and mlp_in come FP8 from the norm plus an FP8 transpose (+1 B per element), those of attn_out
// and mlp_out are cast and transposed (4 B); every output gradient is cast and transposed (4 B).
TEST(LayerKernels, Fp8CastsByHand) {
  const Model m = ResolveModel("llama2-7b");
  Workload w;
  w.gpus = 8;
  w.global_batch = 8;
  w.seq = 4096;
  w.precision = Precision::kFp8;
  Layout l;
  l.fsdp = 8;
  const LayerKernels k = LayerKernelsFor(m, w, l);
  const double T = 4096, h = 4096, f = 11008;
  EXPECT_DOUBLE_EQ(k.fp8_cast_fwd_bytes, T * h * 1 + T * h * 4 + T * h * 1 + T * f * 4);
  EXPECT_DOUBLE_EQ(k.fp8_cast_bwd_bytes, 4 * T * (3 * h) + 4 * T * h + 4 * T * (2 * f) + 4 * T * h);
  EXPECT_DOUBLE_EQ(k.fp8_weight_elements, 3 * h * h + h * h + 2 * f * h + f * h);
  EXPECT_EQ(k.fp8_cast_fwd_launches, 4);
  int fp8 = 0;
  for (int i = 0; i < k.num_gemms; ++i) fp8 += k.gemms[static_cast<size_t>(i)].fp8 ? 1 : 0;
  EXPECT_EQ(fp8, 4);
  // BF16: no casts, no FP8 GEMMs.
  w.precision = Precision::kBf16;
  const LayerKernels b = LayerKernelsFor(m, w, l);
  EXPECT_EQ(b.fp8_cast_fwd_launches, 0);
  EXPECT_FALSE(b.gemms[0].fp8);
}

}  // namespace
}  // namespace meshplan::costmodel
