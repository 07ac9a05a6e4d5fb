// Context parallelism (costmodel/context.h): hand-counted activation bytes and per-rank FLOPs,
// the ring's exposed-time formula, the exchange volumes, the all-to-all price, feasibility
// sentences, the fsdp x cp sharding, the mesh order, the MFU convention and a 1M-token step.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "costmodel/context.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/mesh.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

Workload W(int64_t gpus, int64_t gb, int64_t seq) {
  Workload w;
  w.gpus = gpus;
  w.global_batch = gb;
  w.seq = seq;
  return w;
}

Layout L(const std::string& text, const Workload& w) {
  Layout l = ParseLayoutText(text, "test");
  ResolveLayout(l, w, "test");
  return l;
}

TEST(ContextActivations, HandCountedLlama3_70bTp8SpCp4) {
  // Llama 3 70B (h 8192, 64 heads, 8 KV heads, d 128, SwiGLU ffn 28672, RMSNorm, no dropout),
  // flash attention, seq 32768 over cp 4: T = 8192 tokens per rank. With tp 8 and SP:
  //   outside TP regions, /8 with SP: norm1 in, QKV in, norm2 in, fc1 in = 4 x 2Th = 8Th -> Th
  //   inside: Q 2T(8x128) = 2048T, K and V 2T(1x128)x2 = 512T, LSE 4T x 8 = 32T,
  //           out-proj in 2048T, SwiGLU gate+up 2 x 2T x 3584 = 14336T, fc2 in 2T x 3584 = 7168T
  //   = (8192 + 26144) T = 34336 x 8192 bytes per layer.
  const Workload w = W(64, 8, 32768);
  const Model m = ResolveModel("llama3-70b");
  // Megatron (recipe megatron) keeps the column-parallel inputs' shards (memory.h).
  const MemoryBreakdown mb = EstimateMemory(m, ResolveCluster("dgx-h100"), w,
                                            L("tp=8,sp=on,cp=4,fsdp=2,zero=1,recipe=megatron", w));
  EXPECT_DOUBLE_EQ(mb.activations_per_layer_bytes, 34336.0 * 8192.0);
  // Outside the layers (final norm in, head in: 2Th/8 each; fp32 logits 4 T V/8, V = 128256
  // padded to a multiple of 128 x tp = 1024: 126 x 1024 = 129024): the same s/cp tokens.
  const double T = 8192, vocab_local = 129024.0 / 8;
  EXPECT_DOUBLE_EQ(mb.activations_bytes - 80 * mb.activations_per_layer_bytes,
                   2 * T * 8192 / 8 * 2 + 4 * T * vocab_local);
  // torchtitan's DTensor SP (recipe fsdp2) saves QKV's and FC1's gathered inputs whole: 2 x 2Th
  // = 32768 T where Megatron keeps 2 x 2Th / 8 = 4096 T, so 34336 - 4096 + 32768 = 63008 T; and
  // the head's input whole, 2Th instead of 2Th/8.
  const MemoryBreakdown dt = EstimateMemory(m, ResolveCluster("dgx-h100"), w, L("tp=8,sp=on,cp=4,fsdp=2", w));
  EXPECT_DOUBLE_EQ(dt.activations_per_layer_bytes, 63008.0 * 8192.0);
  EXPECT_DOUBLE_EQ(dt.activations_bytes - 80 * dt.activations_per_layer_bytes,
                   2 * T * 8192 / 8 + 2 * T * 8192 + 4 * T * vocab_local);
}

TEST(ContextActivations, EqualTheUnsplitSequenceOfSOverCpTokens) {
  const Model m = ResolveModel("llama3-8b");
  const Cluster c = ResolveCluster("dgx-h100");
  const Workload w_cp = W(16, 2, 65536), w_short = W(16, 8, 16384);
  const MemoryBreakdown a = EstimateMemory(m, c, w_cp, L("tp=2,cp=4,fsdp=2", w_cp));
  const MemoryBreakdown b = EstimateMemory(m, c, w_short, L("tp=2,fsdp=8", w_short));
  EXPECT_DOUBLE_EQ(a.activations_bytes, b.activations_bytes);
}

TEST(ContextFlops, AttentionPerRankIsOneCpthOfTheCausalCore) {
  // Llama 3 70B, tp 8 (8 local heads of d 128), seq 32768, cp 4: each rank's 8192 queries meet
  // all 32768 keys, causal: 4 T s h_l d / 2 = 4 x 8192 x 32768 x 8 x 128 / 2 FLOPs.
  const Model m = ResolveModel("llama3-70b");
  const Workload w = W(64, 8, 32768);
  const double balanced = 4.0 * 8192 * 32768 * 8 * 128 / 2;
  EXPECT_DOUBLE_EQ(LayerKernelsFor(m, w, L("tp=8,cp=4,fsdp=2", w)).flash_fwd_flops, balanced);
  // Without load balancing the last rank's contiguous chunk sees (2cp-1)/cp^2 of the work:
  // 7/16 = 1.75 x the average 1/4.
  EXPECT_DOUBLE_EQ(LayerKernelsFor(m, w, L("tp=8,cp=4,cp_balance=off,fsdp=2", w)).flash_fwd_flops,
                   balanced * 1.75);
  // Ulysses: every rank attends the whole sequence for heads/cp: the same 1/cp, never imbalanced.
  const Workload w2 = W(8, 1, 32768);
  const double a2a = 4.0 * 32768 * 32768 * (32 / 4) * 128 / 2;  // tp 2: 32 heads, 8 per CP rank
  EXPECT_DOUBLE_EQ(LayerKernelsFor(m, w2, L("tp=2,cp=4,cp_comm=a2a,cp_balance=off", w2)).flash_fwd_flops,
                   a2a);
  // Every GEMM sees this rank's tokens only.
  EXPECT_EQ(LayerKernelsFor(m, w, L("tp=8,cp=4,fsdp=2", w)).gemms[0].m, 8192);
  EXPECT_EQ(HeadKernelsFor(m, w, L("tp=8,cp=4,fsdp=2", w)).gemm.m, 8192);
}

// What each CP scheme copies around its attention core (kernels.cc, TransformerEngine's
// context_parallel.py), counted by hand for Llama 3 70B at tp 8 (8 local query heads, 1 local
// KV head, d 128) and seq 32768 over cp 4: T = 8192 tokens per rank, bf16.
TEST(ContextKernels, RingMergesUlyssesReordersAndAllGatherCopiesByHand) {
  const Model m = ResolveModel("llama3-70b");
  const Workload w = W(64, 8, 32768);
  // Ring (p2p), the last CP rank: output elements E = 8192 x 8 x 128 = 8,388,608; K and V
  // 2 x 8192 x 1 x 128 = 2,097,152. Forward: K,V packed into the send buffer (read 2, write 2
  // per element); the first step's output scaled into the running one (read 2, write 2), the 3
  // later steps merged (read 2 + 2, write 2): 2 (3 x 4 - 1) = 22 B per output element; 5 launches.
  // Backward: 22 B per dq element again; per K/V element the buffer copy (4 B) and the dK, dV
  // copies and adds, at half size on all but one step (TE's causal split), counted as
  // 2 B x (1.5 x 4 + 1) = 14 B: 18 B; 13 launches (dq, dk, dv per step, and the copy).
  const LayerKernels ring = LayerKernelsFor(m, w, L("tp=8,cp=4,fsdp=2", w));
  const MemoryKernel* merge = ring.MemoryNamed("cp_merge");
  ASSERT_NE(merge, nullptr);
  EXPECT_EQ(merge->count, 5);
  EXPECT_DOUBLE_EQ(merge->count * merge->bytes, 22.0 * 8388608 + 4.0 * 2097152);
  EXPECT_EQ(merge->backward_count, 13);
  EXPECT_DOUBLE_EQ(merge->backward_count * merge->backward_bytes, 22.0 * 8388608 + 18.0 * 2097152);
  EXPECT_EQ(ring.MemoryNamed("cp_reorder"), nullptr);
  // Ulysses (a2a), at tp 2 (32 local query heads, 4 KV heads: both divisible by cp 4): q, k, v
  // and the output forward, 8192 x (32 x 128 + 2 x 4 x 128 + 32 x 128) = 75,497,472 elements;
  // backward the output, its gradient, dq, dk and dv: 8192 x 32 x 128 = 33,554,432 more. Each
  // copied twice (made contiguous by rank, put back in order) at 2 + 2 B a copy: 8 B per
  // element, 2 launches per tensor (8 forward, 10 backward).
  const LayerKernels a2a = LayerKernelsFor(m, w, L("tp=2,cp=4,cp_comm=a2a,fsdp=8", w));
  const MemoryKernel* reorder = a2a.MemoryNamed("cp_reorder");
  ASSERT_NE(reorder, nullptr);
  EXPECT_EQ(reorder->count, 8);
  EXPECT_DOUBLE_EQ(reorder->count * reorder->bytes, 8.0 * 75497472);
  EXPECT_EQ(reorder->backward_count, 10);
  EXPECT_DOUBLE_EQ(reorder->backward_count * reorder->backward_bytes, 8.0 * (75497472 + 33554432));
  EXPECT_EQ(a2a.MemoryNamed("cp_merge"), nullptr);
  EXPECT_EQ(a2a.MemoryNamed("cp_gather"), nullptr);
  // All-gather (tp 8 again): K and V of the whole sequence, 32768 x 1 x (128 + 128) = 8,388,608
  // elements; output and dq 8192 x 8 x 128 = 8,388,608 each. Forward: the gathered K, V put in
  // order (index_select, 2 + 2 B) and the two output halves copied into place (2 + 2 B):
  // 4 x (8,388,608 + 8,388,608) B over 4 launches. Backward: K, V re-gathered and reordered
  // (4 B), dK, dV zero-filled (2 B), each chunk's dK, dV added into the keys it saw (rank 0 of
  // 4: chunks 0 and 7 of 8 see 1 + 8 = 9 of the 8 key chunks, 9/8 of the sequence, read 2 + 2,
  // write 2 = 6 B), reordered back (4 B): (4 + 2 + 6 x 9/8 + 4) = 16.75 B per K/V element, and
  // dq copied into place (4 B per element); 12 launches.
  const LayerKernels ag = LayerKernelsFor(m, w, L("tp=8,cp=4,cp_comm=all_gather,fsdp=2", w));
  const MemoryKernel* gather = ag.MemoryNamed("cp_gather");
  ASSERT_NE(gather, nullptr);
  EXPECT_EQ(gather->count, 4);
  EXPECT_DOUBLE_EQ(gather->count * gather->bytes, 4.0 * (8388608 + 8388608));
  EXPECT_EQ(gather->backward_count, 12);
  EXPECT_DOUBLE_EQ(gather->backward_count * gather->backward_bytes,
                   16.75 * 8388608 + 4.0 * 8388608);
  EXPECT_EQ(ag.MemoryNamed("cp_merge"), nullptr);
  EXPECT_EQ(ag.MemoryNamed("cp_reorder"), nullptr);
  EXPECT_EQ(ring.MemoryNamed("cp_gather"), nullptr);
  // Nor does a layout without CP copy anything of these.
  const Workload w1 = W(64, 32, 8192);
  const LayerKernels plain = LayerKernelsFor(m, w1, L("tp=8,fsdp=8", w1));
  EXPECT_EQ(plain.MemoryNamed("cp_merge"), nullptr);
  EXPECT_EQ(plain.MemoryNamed("cp_gather"), nullptr);
  // PyTorch's context_parallel (torchtitan), the last CP rank (every step its whole query):
  // output and dq elements E = 8,388,608, K and V K = 8192 x 1 x 256 = 2,097,152. Forward: K, V
  // made contiguous and concatenated at 3 steps (4 x 4 B); each of the 4 step outputs cast to
  // fp32 (2 + 4 B), 3 merges of 32 B, the result cast back (4 + 2): 126 B per output element;
  // 2 + 3 + 4 + 3 x 8 + 1 = 34 launches. Backward: dq 4 B zero-fill, 4 adds of 10 B (fp32 +=
  // bf16), the cast back 6 B: 50 B; K, V: zero-fill 4, contiguous and 3 concatenations 16, the
  // first step's add 10, 3 steps of a half-size add (5) and a torch.cat rebuild (8), 4 fp32
  // concatenations to send (32), the received ones cast back (6): 107 B; 3 + 2 + 3 + 3 + 3 x 5 +
  // 4 + 2 = 32 launches. The same under all_gather (its rotater gathers once, the steps stay).
  Workload wt = w;
  wt.cp_torch = true;
  for (const char* text : {"tp=8,cp=4,fsdp=2", "tp=8,cp=4,cp_comm=all_gather,fsdp=2"}) {
    const LayerKernels torch = LayerKernelsFor(m, wt, L(text, wt));
    const MemoryKernel* merge = torch.MemoryNamed("cp_merge");
    ASSERT_NE(merge, nullptr) << text;
    EXPECT_EQ(merge->count, 34);
    EXPECT_DOUBLE_EQ(merge->count * merge->bytes, 126.0 * 8388608 + 16.0 * 2097152);
    EXPECT_EQ(merge->backward_count, 32);
    EXPECT_DOUBLE_EQ(merge->backward_count * merge->backward_bytes, 50.0 * 8388608 + 107.0 * 2097152);
    EXPECT_EQ(torch.MemoryNamed("cp_gather"), nullptr);
  }
}

// FlashAttention's tiling under CP (context.h CpFlashTileEfficiency), counted by hand in
// 128-blocks for seq 8192 (n = 64) and cp 2 (4 chunks of 16 blocks), k0 = 3.55.
TEST(ContextFlops, TilingCountsEachSchemesQueryBlockVisits) {
  auto lay = [](const char* text) { return ParseLayoutText(text, "test"); };
  Workload w;
  w.seq = 8192;
  // One causal pass: 2048 useful, 32 diagonal halves, 64 query blocks.
  const double pass = 2048.0 / (2048.0 + 32.0 + 3.55 * 64.0);
  EXPECT_NEAR(CpFlashTileEfficiency(w, lay("tp=1")), pass, 1e-12);
  // Ulysses: whole sequences for heads / cp, the same ratio.
  EXPECT_NEAR(CpFlashTileEfficiency(w, lay("tp=1,cp=2,cp_comm=a2a")), pass, 1e-12);
  // Balanced chunks: 64^2 / 4 = 1024 useful, 16 diagonal. all_gather visits each of its 32
  // query blocks once; the p2p ring the local step's 32, then one step of 24 on average
  // (both chunks against one remote chunk, or one against both): 16 x (2 + 1.5).
  EXPECT_NEAR(CpFlashTileEfficiency(w, lay("tp=1,cp=2,cp_comm=all_gather")), 1024.0 / (1040.0 + 3.55 * 32.0), 1e-12);
  EXPECT_NEAR(CpFlashTileEfficiency(w, lay("tp=1,cp=2")), 1024.0 / (1040.0 + 3.55 * 56.0), 1e-12);
  // Contiguous chunks, the last rank: 64^2 x 3/8 = 1536 useful; p2p visits its 32 query blocks
  // in both steps.
  EXPECT_NEAR(CpFlashTileEfficiency(w, lay("tp=1,cp=2,cp_balance=off")), 1536.0 / (1552.0 + 3.55 * 64.0), 1e-12);
  // PyTorch's context_parallel (torchtitan) walks the ring's steps when it all-gathers too.
  Workload torch = w;
  torch.cp_torch = true;
  EXPECT_NEAR(CpFlashTileEfficiency(torch, lay("tp=1,cp=2,cp_comm=all_gather")), 1024.0 / (1040.0 + 3.55 * 56.0), 1e-12);
  EXPECT_NEAR(CpFlashTileEfficiency(torch, lay("tp=1,cp=2")), 1024.0 / (1040.0 + 3.55 * 56.0), 1e-12);
}

TEST(ContextRing, ExposedTimeIsStepsTimesTransferBeyondBlock) {
  // cp - 1 transfers, each overlapped with one block: (cp-1) max(0, x - a).
  EXPECT_DOUBLE_EQ(RingExposedTime(4, 3e-3, 1e-3), 3 * 2e-3);
  EXPECT_DOUBLE_EQ(RingExposedTime(4, 1e-3, 3e-3), 0.0);
  EXPECT_DOUBLE_EQ(RingExposedTime(1, 5e-3, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(RingExposedTime(8, 2e-3, 2e-3), 0.0);
}

LinkParams TestLinks() {
  LinkParams p;
  p.intra_busbw_GBps = 100;
  p.node_net_GBps = 400;
  p.gpus_per_node = 8;
  return p;
}

TEST(ContextVolumes, HandCountedForLlama3_70bTp2Cp4) {
  // tp 2: 32 heads and 4 KV heads per TP rank, d 128; seq 32768 / cp 4 = 8192 tokens, bf16.
  const Model m = ResolveModel("llama3-70b");
  const Workload w = W(8, 4, 32768);
  const CpVolumes v = CpVolumesFor(m, w, L("tp=2,cp=4,cp_comm=a2a", w));
  EXPECT_DOUBLE_EQ(v.kv_block_bytes, 2.0 * 2 * 8192 * 4 * 128);       // K and V of 8192 tokens
  EXPECT_DOUBLE_EQ(v.kv_gather_bytes, 2.0 * 2 * 32768 * 4 * 128);     // ... of all 32768
  EXPECT_DOUBLE_EQ(v.a2a_qkv_bytes, 2.0 * 8192 * (32 + 2 * 4) * 128); // q, k, v sent
  EXPECT_DOUBLE_EQ(v.a2a_out_bytes, 2.0 * 8192 * 32 * 128);           // the output sent back
  EXPECT_DOUBLE_EQ(v.transient_bytes, v.a2a_qkv_bytes + v.a2a_out_bytes);
  // All-gather's backward holds the reordered K, V, the full-length dK, dV and one reordered
  // copy of dK (then dV): 2.5 x the gathered K and V.
  EXPECT_DOUBLE_EQ(CpVolumesFor(m, w, L("tp=2,cp=4,cp_comm=all_gather", w)).transient_bytes,
                   2.5 * 2.0 * 2 * 32768 * 4 * 128);
  EXPECT_DOUBLE_EQ(CpVolumesFor(m, w, L("tp=2,cp=1,fsdp=4", w)).kv_block_bytes, 0.0);
}

TEST(AllToAll, OneP2pLatencyPlusNcclTestsBusBwTerm) {
  // Inside a node (8 ranks): Simple base 8.4 + NVLink Simple hop 3.4 us; S (n-1)/n / busbw.
  const LinkParams p = TestLinks();
  const CollectiveCost in = AllToAllTime(p, Group{8, 1}, 8e6);
  EXPECT_NEAR(in.latency_s, (8.4 + 3.4) * 1e-6, 1e-15);
  EXPECT_NEAR(in.bandwidth_s, 8e6 * 7.0 / 8.0 / 100e9, 1e-15);
  // Two nodes of 8: 7/16 of S over NVLink at 100 GB/s, 8/16 over the GPU's 400/8 = 50 GB/s NIC
  // share, at once: the network part, 16e6 x 0.5 / 50e9 = 160 us. Latency: base + NET Simple 14.
  const CollectiveCost x = AllToAllTime(p, Group{16, 2}, 16e6);
  EXPECT_NEAR(x.bandwidth_s, 16e6 * 0.5 / 50e9, 1e-15);
  EXPECT_NEAR(x.latency_s, (8.4 + 14.0) * 1e-6, 1e-15);
  EXPECT_DOUBLE_EQ(AllToAllTime(p, Group{1, 1}, 1e9).time_s, 0.0);
  EXPECT_DOUBLE_EQ(BusBwFactor(Coll::kAllToAll, 8), 7.0 / 8.0);  // nccl-tests alltoall.cu
}

TEST(ContextRing, PricedFromItsSendsAndBlocks) {
  const LinkParams p = TestLinks();
  const Model m = ResolveModel("llama3-70b");
  const Workload w = W(64, 8, 32768);
  const Layout l = L("tp=8,cp=4,fsdp=2", w);
  const CpVolumes v = CpVolumesFor(m, w, l);
  const double attn = 4e-3;  // forward attention of the rank; blocks of 1 ms
  const CpLayerCost c = PriceCpLayer(p, Group{4, 4}, l, v, attn);
  const double x = SendRecvTime(p, true, v.kv_block_bytes).time_s;
  const double x2 = SendRecvTime(p, true, 2 * v.kv_block_bytes).time_s;
  EXPECT_DOUBLE_EQ(c.fwd_s, 3 * std::max(0.0, x - 1e-3));
  EXPECT_DOUBLE_EQ(c.bwd_s, 3 * std::max(0.0, x2 - 2.5e-3));
  ASSERT_EQ(c.num_uses, 2);
  EXPECT_EQ(c.uses[0].op, Coll::kSendRecv);
  EXPECT_DOUBLE_EQ(c.uses[0].count, 3.0);
  EXPECT_DOUBLE_EQ(c.uses[1].bytes, 2 * v.kv_block_bytes);  // K,V and dK,dV in backward
  // The simulator's layout of the same pass gives the same time: the last block after the
  // ring, max(3a, 3x) + a = 4a + 3 max(0, x - a).
  EXPECT_NEAR(std::max(c.fwd.attn_s - c.fwd.last_block_s, c.fwd.during_s) + c.fwd.last_block_s,
              attn + c.fwd_s, 1e-15);

  // all_gather: forward AG; backward AG again and RS of dK,dV (TE AttnFuncWithCPAndKVAllGather).
  const Layout g = L("tp=8,cp=4,cp_comm=all_gather,fsdp=2", w);
  const CpLayerCost cg = PriceCpLayer(p, Group{4, 4}, g, v, attn);
  const CollectiveTable t = BuildTable(p, Group{4, 4});
  EXPECT_DOUBLE_EQ(cg.fwd_s, Time(t, Coll::kAllGather, v.kv_gather_bytes).time_s);
  EXPECT_DOUBLE_EQ(cg.bwd_s, Time(t, Coll::kAllGather, v.kv_gather_bytes).time_s +
                                 Time(t, Coll::kReduceScatter, v.kv_gather_bytes).time_s);

  // PyTorch's context_parallel (torchtitan): forward as TE's ring; backward each of the 3
  // steps before the last moves K,V (bf16) and dK,dV (fp32, 4 B x 8192 tokens x 1 KV head x
  // 256) against 2.5 ms, and the 4th dK,dV exchange follows the last block exposed.
  Workload wt = w;
  wt.cp_torch = true;
  const CpVolumes vt = CpVolumesFor(m, wt, l);
  EXPECT_DOUBLE_EQ(vt.dkv_fp32_bytes, 4.0 * 8192 * 1 * 256);
  EXPECT_DOUBLE_EQ(vt.dkv_fp32_bytes, 2.0 * v.kv_block_bytes);
  const CpLayerCost ct = PriceCpLayer(p, Group{4, 4}, l, vt, attn);
  const double dkv = SendRecvTime(p, true, vt.dkv_fp32_bytes).time_s;
  EXPECT_DOUBLE_EQ(ct.fwd_s, c.fwd_s);
  EXPECT_NEAR(ct.bwd_s, 3 * std::max(0.0, x + dkv - 2.5e-3) + dkv, 1e-15);
  ASSERT_EQ(ct.num_uses, 2);
  EXPECT_DOUBLE_EQ(ct.uses[0].bytes, v.kv_block_bytes);
  EXPECT_DOUBLE_EQ(ct.uses[0].count, 6.0);  // K,V round the ring forward and again backward
  EXPECT_DOUBLE_EQ(ct.uses[1].bytes, vt.dkv_fp32_bytes);
  EXPECT_DOUBLE_EQ(ct.uses[1].count, 4.0);
  // ... and its all_gather: the gather hides behind the local step's block (1 ms), the rest of
  // the forward waits for it; backward gathers again beside 3 dK,dV steps, then the last.
  const CpVolumes vgt = CpVolumesFor(m, wt, g);
  const CpLayerCost cgt = PriceCpLayer(p, Group{4, 4}, g, vgt, attn);
  const double ag = Time(t, Coll::kAllGather, v.kv_gather_bytes).time_s;
  EXPECT_DOUBLE_EQ(cgt.fwd_s, std::max(0.0, ag - 1e-3));
  EXPECT_NEAR(cgt.bwd_s, std::max(0.0, ag + 3 * dkv - 7.5e-3) + dkv, 1e-15);
  ASSERT_EQ(cgt.num_uses, 2);
  EXPECT_EQ(cgt.uses[0].op, Coll::kAllGather);
  EXPECT_DOUBLE_EQ(cgt.uses[0].count, 2.0);
  EXPECT_EQ(cgt.uses[1].op, Coll::kSendRecv);

  // a2a (TE AttnFuncWithCPAndQKVOA2A): forward q,k,v then the output; backward the output and
  // its gradient (the output is saved sequence-sharded), then dq,dk,dv. Per layer and
  // micro-batch: 2 q,k,v-sized all-to-alls and 3 output-sized ones (3 and 4 with full recompute).
  const Workload w2 = W(8, 4, 32768);
  const Layout a = L("tp=2,cp=4,cp_comm=a2a", w2);
  const CpVolumes va = CpVolumesFor(m, w2, a);
  const CpLayerCost ca = PriceCpLayer(p, Group{4, 1}, a, va, attn);
  const double qkv = AllToAllTime(p, Group{4, 1}, va.a2a_qkv_bytes).time_s;
  const double o = AllToAllTime(p, Group{4, 1}, va.a2a_out_bytes).time_s;
  EXPECT_DOUBLE_EQ(ca.fwd_s, qkv + o);
  EXPECT_DOUBLE_EQ(ca.bwd_s, 2 * o + qkv);
  ASSERT_EQ(ca.num_uses, 2);
  EXPECT_DOUBLE_EQ(ca.uses[0].bytes, va.a2a_qkv_bytes);
  EXPECT_DOUBLE_EQ(ca.uses[0].count, 2.0);
  EXPECT_DOUBLE_EQ(ca.uses[1].bytes, va.a2a_out_bytes);
  EXPECT_DOUBLE_EQ(ca.uses[1].count, 3.0);
  const CpLayerCost cf = PriceCpLayer(p, Group{4, 1}, L("tp=2,cp=4,cp_comm=a2a,recompute=full", w2), va, attn);
  EXPECT_DOUBLE_EQ(cf.bwd_s, 2 * o + qkv + qkv + o);
  EXPECT_DOUBLE_EQ(cf.uses[0].count, 3.0);
  EXPECT_DOUBLE_EQ(cf.uses[1].count, 4.0);
}

/// The layout's reason that starts with `head` (other reasons, memory first, may come before).
std::string ReasonOf(const Evaluator& ev, const std::string& text, const Workload& w, const std::string& head) {
  const Layout l = L(text, w);
  for (const std::string& r : ev.Reasons(l, ev.Evaluate(l))) {
    if (r.rfind(head, 0) == 0) return r;
  }
  return "(no reason starting '" + head + "')";
}

TEST(ContextFeasibility, SaysWhyInOneSentence) {
  const Model m = ResolveModel("llama3-70b");
  const Cluster c = ResolveCluster("dgx-h100");
  {
    const Workload w = W(48, 4, 4100);
    const Evaluator ev(m, c, w);
    EXPECT_TRUE(ev.Evaluate(L("tp=8,cp=3,fsdp=2", w)).reasons & kReasonDivisibility);
    EXPECT_EQ(ReasonOf(ev, "tp=8,cp=3,fsdp=2", w, "causal"),
              "causal load balancing splits seq 4100 into 2 x cp 3 = 6 chunks: it does not divide");
    EXPECT_EQ(ReasonOf(ev, "tp=8,cp=3,cp_balance=off,fsdp=2", w, "cp 3"), "cp 3 does not divide seq 4100");
  }
  {
    const Workload w = W(128, 8, 32768);
    const Evaluator ev(m, c, w);
    EXPECT_EQ(ReasonOf(ev, "tp=8,cp=2,cp_comm=a2a,fsdp=8", w, "cp_comm"),
              "cp_comm=a2a splits KV heads over tp x cp: cp 2 does not divide the 1 KV heads of a "
              "TP rank (use cp_comm=p2p or all_gather)");
    EXPECT_EQ(ReasonOf(ev, "tp=4,cp=32,cp_comm=a2a", w, "cp_comm"),
              "cp_comm=a2a splits attention heads over tp x cp: cp 32 does not divide the 16 heads "
              "of a TP rank");
    EXPECT_FALSE(ev.Evaluate(L("tp=2,cp=4,cp_comm=a2a,fsdp=16", w)).reasons & kReasonDivisibility);
  }
  {
    Workload w = W(64, 8, 32768);
    w.flash_attention = false;
    const Evaluator ev(m, c, w);
    EXPECT_TRUE(ev.Evaluate(L("tp=8,cp=4,fsdp=2", w)).reasons & kReasonContext);
    EXPECT_EQ(ReasonOf(ev, "tp=8,cp=4,fsdp=2", w, "context"),
              "context parallelism needs a fused (flash) attention kernel; --no-flash-attention "
              "materialises the s x s scores");
  }
  EXPECT_EQ(ReasonCodeName(5), "context");
}

TEST(ContextSharding, ParamsShardOverFsdpTimesCp) {
  // torchtitan's dp_shard_cp: cp 2 x fsdp 4 holds what fsdp 8 holds.
  const Model m = ResolveModel("llama3-8b");
  const Cluster c = ResolveCluster("dgx-h100");
  const Workload w = W(16, 16, 8192);
  const MemoryBreakdown a = EstimateMemory(m, c, w, L("tp=2,cp=2,fsdp=4,zero=3", w));
  const MemoryBreakdown b = EstimateMemory(m, c, W(16, 16, 8192), L("tp=2,fsdp=8,zero=3", w));
  EXPECT_DOUBLE_EQ(a.params_bytes, b.params_bytes);
  EXPECT_DOUBLE_EQ(a.optimizer_bytes, b.optimizer_bytes);
  // ... and its FSDP collectives run over those 8 ranks.
  const Evaluator ev(m, c, w);
  const Evaluation e = ev.Evaluate(L("tp=2,cp=2,fsdp=4,zero=3", w));
  bool fsdp_seen = false, cp_seen = false;
  for (int i = 0; i < e.num_collectives; ++i) {
    const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
    if (u.purpose == Purpose::kFsdpParamGather) {
      fsdp_seen = true;
      EXPECT_EQ(u.group.ranks, 8);
      EXPECT_EQ(u.group.nodes, 2);  // stride tp 2, 4 per node
    }
    if (u.purpose == Purpose::kCpKv) {
      cp_seen = true;
      EXPECT_EQ(u.group.ranks, 2);
      EXPECT_EQ(u.group.nodes, 1);  // next to TP inside the node
    }
  }
  EXPECT_TRUE(fsdp_seen);
  EXPECT_TRUE(cp_seen);
  EXPECT_EQ(ToString(Purpose::kCpKv), "cp_kv");
}

TEST(ContextMesh, CpSitsBetweenTpAndFsdp) {
  Layout l;
  l.tp = 2;
  l.cp = 2;
  l.fsdp = 2;
  const MeshShape m = MeshShape::Of(l);
  EXPECT_EQ(m.Stride(MeshDim::kCp), 2);
  EXPECT_EQ(m.Stride(MeshDim::kFsdp), 4);
  EXPECT_EQ(m.GroupOf(MeshDim::kCp, 5), (std::vector<int>{5, 7}));
  EXPECT_EQ(m.GroupOf(MeshDim::kFsdp, 5), (std::vector<int>{1, 5}));
}

TEST(ContextStep, PartsAddUpAndTheExchangeIsListed) {
  const Workload w = W(512, 64, 131072);
  const Evaluator ev(ResolveModel("llama3-70b"), ResolveCluster("dgx-h100"), w);
  for (const char* text : {"tp=8,sp=on,cp=8,fsdp=8,recompute=full", "tp=8,sp=on,cp=8,cp_comm=all_gather,fsdp=8",
                           "tp=4,sp=on,cp=8,cp_comm=a2a,fsdp=16", "tp=8,sp=on,cp=4,fsdp=4,pp=4"}) {
    const Layout l = L(text, w);
    const Evaluation e = ev.Evaluate(l);
    const auto& t = e.time;
    EXPECT_NEAR(t.step_s, t.compute_s + t.exposed_tp_comm_s + t.exposed_cp_comm_s + t.exposed_fsdp_comm_s +
                              t.exposed_dp_comm_s + t.exposed_pp_comm_s + t.optimizer_s + t.bubble_s,
                1e-9 * t.step_s) << text;
    int cp_uses = 0;
    for (int i = 0; i < e.num_collectives; ++i) {
      cp_uses += e.collectives[static_cast<size_t>(i)].purpose == Purpose::kCpKv ? 1 : 0;
    }
    EXPECT_EQ(cp_uses, 2) << text;
  }
  // TP's sequence-parallel collectives carry this rank's s/cp tokens: S = 2 (131072/8) h bytes.
  const Evaluation e = ev.Evaluate(L("tp=8,sp=on,cp=8,fsdp=8", w));
  bool tp_seen = false;
  for (int i = 0; i < e.num_collectives; ++i) {
    const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
    if (u.purpose == Purpose::kTp && u.op == Coll::kAllGather) {
      tp_seen = true;
      EXPECT_DOUBLE_EQ(u.bytes, 2.0 * 16384 * 8192);
    }
  }
  EXPECT_TRUE(tp_seen);
}

TEST(ContextStep, MillionTokensPlanFinite) {
  // 1M tokens: T s products reach 1e12 x heads x d; everything is int64 or double.
  const Workload w = W(512, 64, 1048576);
  const Evaluator ev(ResolveModel("llama3-70b"), ResolveCluster("dgx-h100"), w);
  const Evaluation e = ev.Evaluate(L("tp=8,sp=on,cp=64,recompute=full", w));
  EXPECT_TRUE(std::isfinite(e.time.step_s));
  EXPECT_GT(e.time.step_s, 0);
  EXPECT_TRUE(std::isfinite(e.memory.peak_bytes));
  EXPECT_GT(e.throughput.mfu, 0.05);
  EXPECT_LT(e.throughput.mfu, 1.0);
  // 16384 tokens per rank: activations of the full-recompute layer input, 2 T h / t each.
  EXPECT_DOUBLE_EQ(e.memory.activations_per_layer_bytes, 2.0 * 16384 * 8192 / 8);
}

TEST(ContextStep, MoreCpRanksThanTokensIsInfeasibleAndFinite) {
  // cp 256 > seq 128: one sentence, and every figure finite (reports refuse NaN).
  const Workload w = W(256, 2, 128);
  const Evaluator ev(ResolveModel("tiny-llama"), ResolveCluster("cpu-local"), w);
  const Layout l = L("tp=1,cp=256,fsdp=1", w);
  const Evaluation e = ev.Evaluate(l);
  EXPECT_TRUE(e.reasons & kReasonDivisibility);
  EXPECT_EQ(ReasonOf(ev, "tp=1,cp=256,fsdp=1", w, "cp 256"), "cp 256 > seq 128");
  EXPECT_TRUE(std::isfinite(e.time.step_s));
  EXPECT_TRUE(std::isfinite(e.layer_backward_s));
  EXPECT_TRUE(std::isfinite(e.memory.peak_bytes));
  EXPECT_TRUE(std::isfinite(e.throughput.mfu));
}

TEST(MfuConvention, CausalHalvesTheAttentionTerm) {
  const Model m = ResolveModel("llama3-70b");
  Workload w = W(512, 64, 131072);
  const Layout l = L("tp=8,sp=on,cp=8,fsdp=8", w);
  const Evaluation nc = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(l);
  w.mfu_causal = true;
  const Evaluation c = Evaluator(m, ResolveCluster("dgx-h100"), w).Evaluate(l);
  const double full = ModelFlopsPerToken(m, 131072), attn = AttentionFlopsPerToken(m, 131072);
  EXPECT_DOUBLE_EQ(attn, 12.0 * 80 * 64 * 128 * 131072);
  EXPECT_NEAR(c.throughput.mfu / nc.throughput.mfu, (full - attn / 2) / full, 1e-12);
  EXPECT_TRUE(c.throughput.mfu_causal);
  EXPECT_FALSE(nc.throughput.mfu_causal);
  EXPECT_EQ(c.time.step_s, nc.time.step_s);
}

TEST(ContextLayoutText, RoundTripsAndNamesBadKeys) {
  const Layout l = ParseLayoutText("tp=8,cp=4,cp_comm=a2a,cp_balance=off,fsdp=2", "--layout");
  EXPECT_EQ(l.cp, 4);
  EXPECT_EQ(l.cp_comm, CpComm::kA2a);
  EXPECT_FALSE(l.cp_balance);
  EXPECT_EQ(LayoutToText(l), "tp=8,sp=off,fsdp=2,replicate=1,zero=3,mbs=1,recompute=none,recipe=fsdp2,"
                             "cp=4,cp_comm=a2a,cp_balance=off");
  EXPECT_EQ(ParseLayoutText(LayoutToText(l), "x"), l);
  EXPECT_EQ(LayoutFromJson(ToJson(l), "plan.json"), l);
  auto error = [](const std::string& text) {
    try {
      ParseLayoutText(text, "--layout");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("cp=2,cp_comm=ring"), "--layout: cp_comm: must be p2p, all_gather or a2a, got 'ring'");
  EXPECT_EQ(error("cp_comm=a2a"), "--layout: cp_comm: needs cp > 1");
  EXPECT_EQ(error("cp=2,cp_balance=maybe"), "--layout: cp_balance: must be on or off, got 'maybe'");
}

}  // namespace
}  // namespace meshplan::costmodel
