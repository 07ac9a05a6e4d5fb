// The rules that map published records onto meshplan's specs (plans/reference.h): each rule by
// its exact output or skip reason, and a record mapped end to end.
#include "plans/reference.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "costmodel/params.h"

namespace meshplan::plans {
namespace {
using costmodel::Recompute;
using nlohmann::json;

TEST(ReferenceGpuRule, NamesMapToClusters) {
  std::string why;
  EXPECT_EQ(ClusterForGpu("A100-SXM4-80GB", true, why), "dgx-a100-80g");
  EXPECT_EQ(ClusterForGpu("A100-40GB", true, why), "dgx-a100-40g");
  EXPECT_EQ(ClusterForGpu("a100_80gb", true, why), "dgx-a100-80g");
  EXPECT_EQ(ClusterForGpu("H100 SXM", true, why), "dgx-h100");
  EXPECT_EQ(ClusterForGpu("H200 (8x, NVLink4/NVSwitch)", false, why), "dgx-h200");
  EXPECT_EQ(ClusterForGpu("A100 (8x, NVLink3/NVSwitch)", false, why), "dgx-a100-80g");
  EXPECT_TRUE(why.empty());
}

TEST(ReferenceGpuRule, UnmodelledPartsAreSkippedWithReason) {
  std::string why;
  EXPECT_EQ(ClusterForGpu("A100 PCIe", false, why), "");
  EXPECT_EQ(why, "GPU 'A100 PCIe': PCIe parts are not modelled (clusters are SXM/NVLink systems)");
  EXPECT_EQ(ClusterForGpu("GH200 SXM", false, why), "");
  EXPECT_EQ(why, "unknown GPU 'GH200 SXM'");
  EXPECT_EQ(ClusterForGpu("B200 (8x/node, NVLink5)", false, why), "");
  EXPECT_EQ(why, "unknown GPU 'B200 (8x/node, NVLink5)'");
  EXPECT_EQ(ClusterForGpu("H100 NVL", false, why), "");
  EXPECT_EQ(why, "GPU 'H100 NVL': H100 NVL is not modelled");
  EXPECT_EQ(ClusterForGpu("A100", true, why), "");
  EXPECT_EQ(why, "GPU 'A100': A100 memory size (40GB or 80GB) not stated");
  EXPECT_EQ(ClusterForGpu("TPU v4", true, why), "");
  EXPECT_EQ(why, "unknown GPU 'TPU v4'");
}

TEST(ReferenceLinkRule, IntraLinkIsPerDirection) {
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink3/NVSwitch (DGX A100, 600 GB/s bidir per GPU)"), 300.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink4 450 GB/s unidirectional"), 450.0);
  EXPECT_FALSE(IntraLinkGBps("NVSwitch").has_value());
}

TEST(ReferenceLinkRule, InterLinkNicsTimesRate) {
  EXPECT_EQ(*InterLinkNics("8x Mellanox HDR 200 Gb/s InfiniBand per node (fat tree)"), std::make_pair(int64_t{8}, 200.0));
  EXPECT_EQ(*InterLinkNics("8x 400 Gb/s EFA v4 per node"), std::make_pair(int64_t{8}, 400.0));
  EXPECT_EQ(*InterLinkNics("1600 Gbps node-node RoCE"), std::make_pair(int64_t{8}, 200.0));
  EXPECT_FALSE(InterLinkNics("InfiniBand").has_value());
}

TEST(ReferenceRecomputeRule, PhrasesMapOrSkip) {
  std::string why;
  EXPECT_EQ(*RecomputeFor("none", why), Recompute::kNone);
  EXPECT_EQ(*RecomputeFor("full (activation checkpointing per block)", why), Recompute::kFull);
  EXPECT_EQ(*RecomputeFor("full (every transformer layer)", why), Recompute::kFull);
  EXPECT_EQ(*RecomputeFor("selective (attention core: QK^T, softmax, dropout, attn-over-V)", why), Recompute::kSelective);
  EXPECT_FALSE(RecomputeFor("selective-layer", why));
  EXPECT_EQ(why, "recompute 'selective-layer': checkpointing of only some layers not modelled");
  EXPECT_FALSE(RecomputeFor("selective-op", why));
  EXPECT_EQ(why, "recompute 'selective-op': op-level selective checkpointing not modelled");
  EXPECT_FALSE(RecomputeFor("selective + microbatch-level", why));
  EXPECT_EQ(why, "recompute 'selective + microbatch-level': micro-batch-level recompute not modelled");
  EXPECT_FALSE(RecomputeFor("partial", why));
  EXPECT_EQ(why, "recompute 'partial': checkpointing of only some layers not modelled");
  EXPECT_FALSE(RecomputeFor("sometimes", why));
  EXPECT_EQ(why, "unrecognised recompute 'sometimes'");
}

TEST(ReferencePrecisionRule, SixteenBitMixedOnly) {
  std::string why;
  EXPECT_EQ(*ReduceDtypeFor("bf16 (FSDP mixed precision PURE)", why), costmodel::Dtype::kBf16);
  EXPECT_EQ(*ReduceDtypeFor("amp_bf16 (FSDP mixed precision DEFAULT)", why), costmodel::Dtype::kFp32);
  EXPECT_EQ(*ReduceDtypeFor("mixed (fp16/bf16 not stated)", why), costmodel::Dtype::kFp32);
  EXPECT_FALSE(ReduceDtypeFor("amp_fp8", why));
  EXPECT_EQ(why, "precision 'amp_fp8': fp8 not modelled");
  EXPECT_FALSE(ReduceDtypeFor("fp32", why));
  EXPECT_EQ(why, "precision 'fp32': only 16-bit mixed precision is modelled");
}

TEST(ReferenceSourceRule, ConventionAndName) {
  EXPECT_EQ(ConventionFor("mosaicml/llm-foundry scripts/train/benchmarking/README.md"), FlopConvention::kLlmFoundry);
  EXPECT_EQ(ConventionFor("pytorch/torchtitan docs/performance.md"), FlopConvention::kLlmFoundry);
  EXPECT_EQ(ConventionFor("Narayanan et al. SC21, Efficient Large-Scale"), FlopConvention::kNarayanan);
  EXPECT_EQ(ConventionFor("Korthikanti et al. 2022, Reducing Activation"), FlopConvention::kPalm);
  EXPECT_EQ(ConventionFor("Some new paper"), FlopConvention::kPalm);  // the file's stated default
  EXPECT_EQ(SourceName("Korthikanti et al. 2022, Reducing Activation Recomputation"), "Korthikanti et al. 2022");
  EXPECT_EQ(SourceName("pytorch/torchtitan docs/performance.md @ commit 3f"), "pytorch/torchtitan");
  EXPECT_EQ(SourceName("NVIDIA GTC25 session S72583 (reproduced)"), "NVIDIA GTC25 session S72583");
}

TEST(ReferenceMessageRule, BinaryPrefixes) {
  EXPECT_DOUBLE_EQ(*MessageBytes("32KiB"), 32768.0);
  EXPECT_DOUBLE_EQ(*MessageBytes("8GiB"), 8.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*MessageBytes("1048576"), 1048576.0);
  EXPECT_FALSE(MessageBytes("large").has_value());
}

json Record() {
  return json::parse(R"J({
    "id": "t1", "kind": "end_to_end",
    "source": {"ref": "mosaicml/llm-foundry scripts/train/benchmarking/README.md", "table": "x"},
    "model": {"name": "MPT-7b", "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 32, "ffn": 16384,
              "vocab": 50368, "seq": 2048, "params_b": 6.66,
              "arch": "MPT (learned position embeddings, biases on, LayerNorm, GeLU 4x MLP, FlashAttention)"},
    "cluster": {"gpu": "A100-40GB", "gpus": 16, "gpus_per_node": 8, "intra_link": null,
                "inter_link": "1600 Gbps node-node RoCE"},
    "layout": {"tp": 1, "sp": null, "pp": 1, "dp": 16, "fsdp": 16, "cp": 1, "micro_batch": null,
               "global_batch": 256, "recompute": "full", "precision": "bf16 (FSDP mixed precision PURE)",
               "fsdp_sharding": "FULL_SHARD", "grad_accum": 2, "cpu_offload": false},
    "measured": {"mfu": 0.5, "tokens_per_s_per_gpu": 3000.0, "tokens_per_s_per_gpu_derived": 1.0},
    "confidence": "exact", "notes": ""})J");
}

TEST(ReferenceMapRecord, EndToEndByRule) {
  const ReferenceRecord r = MapRecord(Record());
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.cluster_name, "dgx-a100-40g");
  EXPECT_EQ(r.source, "mosaicml/llm-foundry");
  EXPECT_EQ(r.convention, FlopConvention::kLlmFoundry);
  EXPECT_EQ(r.layout.mbs, 8);  // 256 / (16 x 2): micro batch derived from grad_accum
  EXPECT_EQ(r.layout.fsdp, 16);
  EXPECT_EQ(r.layout.zero, 3);
  EXPECT_EQ(r.layout.recompute, Recompute::kFull);
  EXPECT_EQ(r.workload.reduce_dtype, costmodel::Dtype::kBf16);
  EXPECT_TRUE(r.workload.flash_attention);
  EXPECT_EQ(r.model.activation, costmodel::Activation::kGelu);
  EXPECT_EQ(r.model.position, costmodel::Position::kLearned);
  EXPECT_TRUE(r.model.tied_embeddings);
  EXPECT_DOUBLE_EQ(r.cluster.fabric.nic_Gbps * static_cast<double>(r.cluster.fabric.nics_per_node), 1600.0);
  // step time derived from throughput first, then the published values; _derived never scored.
  ASSERT_EQ(r.measured.size(), 3u);
  EXPECT_EQ(r.measured[0].quantity, "step_time_s");
  EXPECT_DOUBLE_EQ(r.measured[0].value, 256.0 * 2048 / (3000.0 * 16));
  const std::vector<ScoredQuantity> q = PredictRecord(r, r.cluster);
  ASSERT_EQ(q.size(), 3u);
  // MFU under llm-foundry's convention is tokens/s/GPU x (6N + 12 L h s) / peak, N all parameters.
  const double flops = 6.0 * static_cast<double>(costmodel::CountParams(r.model).total) + 12.0 * 32 * 4096 * 2048;
  EXPECT_EQ(q[2].quantity, "mfu");
  EXPECT_EQ(q[1].quantity, "tokens_per_s_per_gpu");
  EXPECT_NEAR(q[2].predicted, q[1].predicted * flops / 312e12, 1e-12);
}

// The FlashAttention generation: named in the arch phrase, else the source's default
// (llm-foundry's benchmark script ran the Triton port of FlashAttention-1), else FA2.
TEST(ReferenceMapRecord, FlashAttentionGenerationByRule) {
  EXPECT_EQ(MapRecord(Record()).workload.flash_version, 1);  // llm-foundry, unversioned
  json j = Record();
  j["model"]["arch"] = "MPT (learned position embeddings, LayerNorm, GeLU, FlashAttention-2)";
  EXPECT_EQ(MapRecord(j).workload.flash_version, 2);
  j["model"]["arch"] = "MPT (learned pos, flash-attn 2.5.8)";
  EXPECT_EQ(MapRecord(j).workload.flash_version, 2);
  j["model"]["arch"] = "MPT (learned pos, PyTorch SDPA)";
  EXPECT_EQ(MapRecord(j).workload.flash_version, 2);
  EXPECT_TRUE(MapRecord(j).workload.flash_attention);
  j = Record();
  j["source"]["ref"] = "someone/else benchmarks";
  EXPECT_EQ(MapRecord(j).workload.flash_version, 2);  // unversioned elsewhere: FA2
  j["model"]["arch"] = "MPT (learned pos, FlashAttention Triton)";
  EXPECT_EQ(MapRecord(j).workload.flash_version, 1);
  j["model"]["arch"] = "MPT (learned pos, FA3)";
  EXPECT_EQ(MapRecord(j).skip_reason,
            "FlashAttention-3 on 'A100-SXM4-40GB': it runs only on Hopper GPUs");
  j["cluster"]["gpu"] = "H100 SXM";
  const ReferenceRecord h = MapRecord(j);
  ASSERT_EQ(h.skip_reason, "");
  EXPECT_EQ(h.workload.flash_version, 3);
  // A slower generation predicts a slower step, all else equal.
  const ReferenceRecord fa1 = MapRecord(Record());
  json k = Record();
  k["model"]["arch"] = "MPT (learned position embeddings, biases on, LayerNorm, GeLU 4x MLP, FlashAttention-2)";
  const ReferenceRecord fa2 = MapRecord(k);
  EXPECT_GT(PredictRecord(fa1, fa1.cluster)[0].predicted, PredictRecord(fa2, fa2.cluster)[0].predicted);
}

// Eager elementwise ops: said in the arch or notes, else the source's default (torchtitan's
// presets: compile = false, unfused rmsnorm; llm-foundry uncompiled), else fused.
TEST(ReferenceMapRecord, EagerElementwiseByRule) {
  EXPECT_TRUE(MapRecord(Record()).workload.eager_elementwise);  // llm-foundry
  json j = Record();
  j["notes"] = "trained with torch.compile";
  EXPECT_FALSE(MapRecord(j).workload.eager_elementwise);
  j = Record();
  j["source"]["ref"] = "pytorch/torchtitan docs/performance.md";
  EXPECT_TRUE(MapRecord(j).workload.eager_elementwise);
  j["model"]["arch"] = "MPT (learned position embeddings, LayerNorm, GeLU, fused kernels)";
  EXPECT_FALSE(MapRecord(j).workload.eager_elementwise);
  j["model"]["arch"] = "MPT (learned position embeddings, LayerNorm, GeLU)";
  j["notes"] = "fused AdamW; norm_type fused_rmsnorm";
  EXPECT_FALSE(MapRecord(j).workload.eager_elementwise);
  j["notes"] = "fused AdamW";  // the optimizer's fusion says nothing about the layers
  EXPECT_TRUE(MapRecord(j).workload.eager_elementwise);
  j = Record();
  j["source"]["ref"] = "someone/else benchmarks";
  EXPECT_FALSE(MapRecord(j).workload.eager_elementwise);
  j["notes"] = "PyTorch eager mode";
  EXPECT_TRUE(MapRecord(j).workload.eager_elementwise);
}

TEST(ReferenceMapRecord, PipelineDegreeScheduleAndSplitByRule) {
  json j = Record();
  j["layout"]["pp"] = 4;
  j["layout"]["dp"] = 4;
  j["layout"]["fsdp"] = 4;
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.layout.pp, 4);
  EXPECT_EQ(r.layout.schedule, costmodel::Schedule::k1F1B);
  j["layout"]["vpp"] = 2;
  r = MapRecord(j);
  EXPECT_EQ(r.layout.schedule, costmodel::Schedule::kInterleaved);
  EXPECT_EQ(r.layout.vpp, 2);
  // The head of the phrase names the schedule, not a later mention.
  j["layout"]["vpp"] = nullptr;
  j["layout"]["pipeline_schedule"] = "1F1B (inferred: Sec 6 states interleaving only for 175B)";
  EXPECT_EQ(MapRecord(j).layout.schedule, costmodel::Schedule::k1F1B);
  j["layout"]["pipeline_schedule"] = "interleaved 1F1B";
  EXPECT_EQ(MapRecord(j).skip_reason, "interleaved pipeline schedule without vpp");
  j["layout"]["pipeline_schedule"] = "ZB-H1";
  EXPECT_EQ(MapRecord(j).layout.schedule, costmodel::Schedule::kZeroBubble);
  j = Record();
  j["layout"]["pp"] = 8;
  EXPECT_EQ(MapRecord(j).skip_reason, "tp 1 x pp 8 x dp 16 != 16 GPUs");
  j["layout"]["pp"] = 16;  // 32 layers on 16 stages of 2: fine; on 3 stages: no split
  j["cluster"]["gpus"] = 48;
  j["layout"]["pp"] = 3;
  j["layout"]["dp"] = 16;
  EXPECT_EQ(MapRecord(j).skip_reason,
            "pipeline split: pp 3 does not divide 32 layers (give pp_first_layers / pp_last_layers "
            "for an uneven split)");
}

TEST(ReferenceMapRecord, SkipsWithExactReasons) {
  json j = Record();
  j["layout"]["grad_accum"] = nullptr;
  EXPECT_EQ(MapRecord(j).skip_reason, "layout.micro_batch missing (and no grad_accum to derive it)");
  j = Record();
  j["layout"]["precision"] = "fp8 (TransformerEngine)";
  EXPECT_EQ(MapRecord(j).skip_reason, "precision 'fp8 (TransformerEngine)': fp8 not modelled");
  j = Record();
  j["model"].erase("ffn");
  EXPECT_EQ(MapRecord(j).skip_reason, "model.ffn missing");
  j = Record();
  j["model"]["arch"] = "Mystery (custom)";
  j["model"]["name"] = "X";
  EXPECT_EQ(MapRecord(j).skip_reason,
            "model.arch 'Mystery (custom)': unknown family and activation, norm or position not stated");
  j = Record();
  j["model"]["params_b"] = 13.0;
  EXPECT_EQ(MapRecord(j).skip_reason, "model shape counts 6.66B parameters, record says 13.00B");
  j = Record();
  j["cluster"]["gpu"] = "A100 PCIe 40GB";
  EXPECT_EQ(MapRecord(j).skip_reason,
            "GPU 'A100 PCIe 40GB': PCIe parts are not modelled (clusters are SXM/NVLink systems)");
  j = Record();
  j["measured"] = {{"hfu", 0.6}};
  EXPECT_EQ(MapRecord(j).skip_reason, "no measured quantity meshplan predicts");
  j = Record();
  j["kind"] = "inference";
  EXPECT_EQ(MapRecord(j).skip_reason, "unknown kind 'inference'");
}

TEST(ReferenceMapRecord, CollectiveFromBandwidth) {
  const json j = json::parse(R"J({"id": "c", "kind": "collective", "source": {"ref": "x"}, "model": null,
    "cluster": {"gpu": "H200 (NVLink4/NVSwitch)", "gpus": 8, "gpus_per_node": 8, "intra_link": null, "inter_link": null},
    "layout": {"collective": "all_reduce (NVLS off)", "ranks": 8, "algo": "Ring"},
    "measured": {"message": "16GiB", "busbw_GBps": 367.2}})J");
  const ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.collective.algo, static_cast<int>(costmodel::Algo::kRing));
  EXPECT_EQ(r.collective.group.nodes, 1);
  ASSERT_EQ(r.measured.size(), 1u);
  // busbw = algbw x 2(n-1)/n for all-reduce: t = S x 1.75 / busbw.
  EXPECT_DOUBLE_EQ(r.measured[0].value, 16.0 * 1024 * 1024 * 1024 * 1.75 / 367.2e9);
  EXPECT_EQ(r.collective.harness, costmodel::Harness::kNcclTests);
}

TEST(ReferenceMapRecord, CollectiveHarnessFromTheSourceTable) {
  // A torch.distributed timing loop pays host cost per call that nccl-tests does not: the
  // source's table names the harness (stas00's all_reduce_bench.py records).
  const json j = json::parse(R"J({"id": "c", "kind": "collective",
    "source": {"ref": "x", "table": "all_reduce_bench.py (torch.distributed) on 8x H200 node"}, "model": null,
    "cluster": {"gpu": "H200 (NVLink4/NVSwitch)", "gpus": 8, "gpus_per_node": 8, "intra_link": null, "inter_link": null},
    "layout": {"collective": "all_reduce", "ranks": 8},
    "measured": {"message": "32KiB", "busbw_GBps": 1.44, "algbw_GBps": 0.82}})J");
  const ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.collective.harness, costmodel::Harness::kTorchDistributed);
  EXPECT_EQ(r.collective.gpus_per_thread, 1);
  EXPECT_DOUBLE_EQ(r.measured[0].value, 32768.0 / 0.82e9);
}

}  // namespace
}  // namespace meshplan::plans
