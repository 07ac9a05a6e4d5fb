// The rules that map published records onto meshplan's specs (plans/reference.h): each rule by
// its exact output or skip reason, and a record mapped end to end.
#include "plans/reference.h"

#include <cmath>
#include <map>

#include <algorithm>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "costmodel/calibration.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::plans {
namespace {
using costmodel::Recompute;
using nlohmann::json;

TEST(ReferenceGpuRule, NamesMapToClusters) {
  std::string why, assumed;
  EXPECT_EQ(ClusterForGpu("A100-SXM4-80GB", why, assumed), "dgx-a100-80g");
  EXPECT_EQ(ClusterForGpu("A100-40GB", why, assumed), "dgx-a100-40g");
  EXPECT_EQ(ClusterForGpu("a100_80gb", why, assumed), "dgx-a100-80g");
  EXPECT_EQ(ClusterForGpu("H100 SXM", why, assumed), "dgx-h100");
  EXPECT_EQ(ClusterForGpu("H200 (8x, NVLink4/NVSwitch)", why, assumed), "dgx-h200");
  EXPECT_EQ(ClusterForGpu("B200 (8x/node, NVLink5)", why, assumed), "dgx-b200");
  EXPECT_EQ(ClusterForGpu("H100 80GB HBM3 (DGX H100 reference architecture, 700W TDP)", why, assumed), "dgx-h100");
  EXPECT_TRUE(why.empty());
  EXPECT_TRUE(assumed.empty());
}

// An A100 with no memory size (vTrain's 1,440 runs) is the DGX A100 640GB's 80 GB part, and
// the record says it was assumed: a default, never a skip.
TEST(ReferenceGpuRule, A100WithoutMemorySizeIsAssumedTheStandardSystemsPart) {
  std::string why, assumed;
  EXPECT_EQ(ClusterForGpu("A100 (vTrain gpu_name 'A100'; memory size and form factor not stated in the repository)",
                          why, assumed),
            "dgx-a100-80g");
  EXPECT_EQ(why, "");
  EXPECT_EQ(assumed, "A100 memory size not stated: the 80 GB part of the DGX A100 640GB assumed");
}

// GB200 contains "b200": its row comes first in the table, so it maps to the NVL72 rack, not to
// a DGX B200.
TEST(ReferenceGpuRule, Gb200IsTheNvl72RackNotADgxB200) {
  std::string why, assumed;
  EXPECT_EQ(ClusterForGpu("NVLink5 SHARP (GB200 NVL72)", why, assumed), "gb200-nvl72");
  EXPECT_EQ(ClusterForGpu("B200", why, assumed), "dgx-b200");
  EXPECT_EQ(why, "");
}

TEST(ReferenceGpuRule, UnmodelledPartsAreSkippedWithReason) {
  std::string why, assumed;
  EXPECT_EQ(ClusterForGpu("A100 PCIe", why, assumed), "");
  EXPECT_EQ(why, "GPU 'A100 PCIe': PCIe parts are not modelled (clusters are SXM/NVLink systems)");
  EXPECT_EQ(ClusterForGpu("GH200 SXM", why, assumed), "");
  EXPECT_EQ(why, "GPU 'GH200 SXM' not modelled");
  EXPECT_EQ(ClusterForGpu("GB300", why, assumed), "");
  EXPECT_EQ(why, "GPU 'GB300' not modelled");
  EXPECT_EQ(ClusterForGpu("H100 NVL", why, assumed), "");
  EXPECT_EQ(why, "GPU 'H100 NVL': H100 NVL is not modelled");
  EXPECT_EQ(ClusterForGpu("TPU v4", why, assumed), "");
  EXPECT_EQ(why, "GPU 'TPU v4' not modelled");
}

// NVLink figures: per GPU and per direction, whatever the unit and whether the phrase gives
// both directions or the whole node.
TEST(ReferenceLinkRule, IntraLinkIsPerGpuPerDirection) {
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink3/NVSwitch (DGX A100, 600 GB/s bidir per GPU)"), 300.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink4 450 GB/s unidirectional"), 450.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink 4th generation, 900 GB/s bidirectional GPU-to-GPU (18 links per GPU)"), 450.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("fifth-generation NVLink, 1.8 TB/s bidirectional"), 900.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("400 GB/s per GPU"), 400.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("14.4 TB/s bidirectional per node", 8), 900.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink (SimuMax system config: high_intra_node 900 GB/s)"), 900.0);
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink4"), 450.0);  // the generation's figure when no rate is given
  EXPECT_DOUBLE_EQ(*IntraLinkGBps("NVLink3/NVSwitch"), 300.0);
  EXPECT_FALSE(IntraLinkGBps("NVSwitch").has_value());
  EXPECT_FALSE(IntraLinkGBps("not stated").has_value());
}

// Inter-node links in every form published tables use: NIC count x rate, a node's aggregate,
// a per-GPU rate, an InfiniBand generation name; bits and bytes told apart by case.
TEST(ReferenceLinkRule, InterLinkBandwidthInEveryPublishedForm) {
  const int64_t nics = 8, gpn = 8;
  EXPECT_EQ(*InterLinkNics("8x 400G", nics, gpn), (NicReading{8, 400.0, false}));
  EXPECT_EQ(*InterLinkNics("8x Mellanox HDR 200 Gb/s InfiniBand per node (fat tree)", nics, gpn), (NicReading{8, 200.0, false}));
  EXPECT_EQ(*InterLinkNics("8x 400 Gbit/s InfiniBand compute links per node (plus 2x 400 Gbit/s storage links)", nics, gpn),
            (NicReading{8, 400.0, false}));
  EXPECT_EQ(*InterLinkNics("4x 100 Gbps EFA", nics, gpn), (NicReading{4, 100.0, false}));
  EXPECT_EQ(*InterLinkNics("8 x NDR", nics, gpn), (NicReading{8, 400.0, false}));
  EXPECT_EQ(*InterLinkNics("3.2 Tbps per node", nics, gpn), (NicReading{8, 400.0, false}));
  EXPECT_EQ(*InterLinkNics("1600 Gbps node-node RoCE", nics, gpn), (NicReading{8, 200.0, false}));
  EXPECT_EQ(*InterLinkNics("3200 Gbps EFA per node", 32, gpn), (NicReading{32, 100.0, false}));
  EXPECT_EQ(*InterLinkNics("400 Gb/s per GPU", 4, gpn), (NicReading{8, 400.0, false}));
  EXPECT_EQ(*InterLinkNics("50 GB/s per GPU", 4, gpn), (NicReading{8, 400.0, false}));  // bytes
  // A generation or a bare rate: the standard system's NIC count, flagged as assumed.
  EXPECT_EQ(*InterLinkNics("NDR", nics, gpn), (NicReading{8, 400.0, true}));
  EXPECT_EQ(*InterLinkNics("InfiniBand HDR", nics, gpn), (NicReading{8, 200.0, true}));
  EXPECT_EQ(*InterLinkNics("XDR InfiniBand", nics, gpn), (NicReading{8, 800.0, true}));
  EXPECT_EQ(*InterLinkNics("ConnectX-7 NDR200", nics, gpn), (NicReading{8, 200.0, true}));
  EXPECT_EQ(*InterLinkNics("400 Gb/s InfiniBand", nics, gpn), (NicReading{8, 400.0, true}));
  // No rate: the caller keeps the standard system's fabric and lists the assumption.
  EXPECT_FALSE(InterLinkNics("RoCE", nics, gpn).has_value());
  EXPECT_FALSE(InterLinkNics("EFA", nics, gpn).has_value());
  EXPECT_FALSE(InterLinkNics("not stated (MosaicML platform)", nics, gpn).has_value());
  EXPECT_FALSE(InterLinkNics("InfiniBand", nics, gpn).has_value());
}

TEST(ReferenceRecomputeRule, PhrasesMapOrSkip) {
  std::string why;
  EXPECT_EQ(*RecomputeFor("none", why), Recompute::kNone);
  EXPECT_EQ(*RecomputeFor("full (activation checkpointing per block)", why), Recompute::kFull);
  EXPECT_EQ(*RecomputeFor("full (every transformer layer)", why), Recompute::kFull);
  EXPECT_EQ(*RecomputeFor("selective (attention core: QK^T, softmax, dropout, attn-over-V)", why), Recompute::kSelective);
  // torchtitan's selective modes (issue 19 item 3): every 2nd layer (its default option) and op-level.
  int64_t ac_freq = 0;
  EXPECT_EQ(*RecomputeFor("selective-layer", why, &ac_freq), Recompute::kFull);
  EXPECT_EQ(ac_freq, 2);
  EXPECT_EQ(*RecomputeFor("selective-op", why, &ac_freq), Recompute::kOp);
  EXPECT_EQ(ac_freq, 0);
  EXPECT_FALSE(RecomputeFor("every n-th layer", why));
  EXPECT_EQ(why, "recompute 'every n-th layer': checkpointing of every N-th layer with N not stated");
  // Micro-batch-level recompute modifies the phrase's own mode (Korthikanti et al. 2022, App. C).
  bool partial = false;
  EXPECT_EQ(*RecomputeFor("selective + microbatch-level", why, nullptr, &partial), Recompute::kSelective);
  EXPECT_TRUE(partial);
  EXPECT_EQ(*RecomputeFor("selective (attention core)", why, nullptr, &partial), Recompute::kSelective);
  EXPECT_FALSE(partial);
  EXPECT_FALSE(RecomputeFor("micro-batch-level", why, nullptr, &partial));
  EXPECT_EQ(why, "unrecognised recompute 'micro-batch-level'");
  EXPECT_FALSE(RecomputeFor("partial", why));
  EXPECT_EQ(why, "recompute 'partial': checkpointing of only some layers not modelled");
  EXPECT_FALSE(RecomputeFor("sometimes", why));
  EXPECT_EQ(why, "unrecognised recompute 'sometimes'");
}

TEST(ReferencePrecisionRule, ReduceDtypeAsStatedElseTheFrameworks) {
  const auto fp32 = costmodel::Dtype::kFp32, bf16 = costmodel::Dtype::kBf16;
  EXPECT_EQ(ReduceDtypeFor("bf16 (FSDP mixed precision PURE)", fp32), bf16);
  EXPECT_EQ(ReduceDtypeFor("amp_bf16 (FSDP mixed precision DEFAULT)", bf16), fp32);
  EXPECT_EQ(ReduceDtypeFor("bf16 mixed (NeMo 2.0: plugins.grad_reduce_in_fp32=False)", fp32), bf16);
  EXPECT_EQ(ReduceDtypeFor("mixed (fp16/bf16 not stated)", fp32), fp32);
  EXPECT_EQ(ReduceDtypeFor("bf16", bf16), bf16);  // nothing stated: the framework's
}

// The one function that decides what is not modelled yet: short stable reasons, counted as such.
TEST(ReferenceUnmodelledFeature, OneFunctionWithStableReasons) {
  const json none = json::object();
  EXPECT_EQ(UnmodelledFeature(json{{"pp", 1}, {"cp", 1}, {"precision", "bf16"}}, none), "");
  // Pipelines are modelled (MapPipeline): not a reason to skip.
  EXPECT_EQ(UnmodelledFeature(json{{"pp", 8}, {"vpp", 5}, {"pipeline_schedule", "interleaved 1F1B"}}, none), "");
  // Context parallelism is modelled too (MapContext); FP8 is decided with the framework (MapRecord).
  EXPECT_EQ(UnmodelledFeature(json{{"cp", 2}}, none), "");
  EXPECT_EQ(UnmodelledFeature(json{{"cp", 2}, {"precision", "fp8 (TE hybrid)"}}, none), "");
  // Expert parallelism is modelled (MapModel's model.moe, layout.ep); ep without experts is not a run.
  EXPECT_EQ(UnmodelledFeature(json{{"ep", 8}}, none), "ep > 1 on a model without model.moe");
  EXPECT_EQ(UnmodelledFeature(json::object(), json{{"moe", {{"experts", 8}}}}), "");
  // Grok-1 in the DGX Cloud recipes runs cp=2 and ep=8: scored.
  EXPECT_EQ(UnmodelledFeature(json{{"cp", 2}, {"ep", 8}}, json{{"moe", {{"experts", 8}}}}), "");
  // DeepSeek's MLA is modelled too (MapModel's model.mla).
  EXPECT_EQ(UnmodelledFeature(json{{"ep", 8}}, json{{"moe", {{"experts", 160}}}, {"mla", {{"kv_lora_rank", 512}}}}), "");
  EXPECT_EQ(UnmodelledFeature(json::object(), json{{"mla", {{"kv_lora_rank", 512}}}}), "");
  // FP8 is decided with the framework and the cluster (MapRecord), not here.
  EXPECT_EQ(UnmodelledFeature(json{{"precision", "fp8 (Transformer Engine, hybrid)"}}, none), "");
  EXPECT_EQ(UnmodelledFeature(json{{"precision", "fp32"}}, none), "precision other than 16-bit mixed not modelled");
  EXPECT_EQ(UnmodelledFeature(json{{"finetune", "lora"}}, none), "LoRA fine-tuning not modelled");
  EXPECT_EQ(UnmodelledFeature(json{{"finetune", "sft"}}, none), "fine-tuning (sft) not modelled");
  EXPECT_EQ(UnmodelledFeature(json{{"cpu_offload", true}}, none), "CPU offload not modelled");
  EXPECT_EQ(UnmodelledFeature(json{{"framework", "MaxText (JAX) container"}}, none), "MaxText (JAX/XLA) not modelled");
  EXPECT_EQ(UnmodelledFeature(json{{"pp", 4}, {"precision", "fp8"}}, none), "");
}

TEST(ReferenceFrameworkRule, NamedOrImpliedBySourceByTable) {
  EXPECT_EQ(FrameworkFor("Megatron-DeepSpeed", ""), "deepspeed");
  EXPECT_EQ(FrameworkFor("NeMo 25.02.01 container (NeMo 2.0 / NeMo-Run; Megatron-Core commit ee6737da)", ""), "nemo");
  EXPECT_EQ(FrameworkFor("Megatron-LM 23e00ed0 (Megatron-Core) + TransformerEngine 2.11.0", ""), "megatron");
  EXPECT_EQ(FrameworkFor("", "mosaicml/llm-foundry scripts/train/benchmarking/README.md"), "llm-foundry");
  EXPECT_EQ(FrameworkFor("", "pytorch/torchtitan docs/performance.md"), "torchtitan");
  EXPECT_EQ(FrameworkFor("", "Korthikanti et al. 2022, Reducing Activation Recomputation"), "megatron");
  EXPECT_EQ(FrameworkFor("", "someone/else benchmarks"), "");
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
  // The whole grammar, read in one pass (no regex): spaces, a decimal, an optional unit.
  EXPECT_DOUBLE_EQ(*MessageBytes(" 1.5 GiB "), 1.5 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*MessageBytes("64 b"), 64.0);
  EXPECT_DOUBLE_EQ(*MessageBytes("4mb"), 4.0 * 1024 * 1024);
  for (const char* bad : {"", "2.kb", "1e3", ".5", "64 KB extra", "64 tb", "-1"}) {
    EXPECT_FALSE(MessageBytes(bad).has_value()) << bad;
  }
  EXPECT_FALSE(MessageBytes(std::string(1000, '9')).has_value());  // longer than any phrase
}

// A GEMM record's shape is digits x digits x digits and nothing else (one pass, no regex).
TEST(ReferenceMapRecord, GemmShapeIsMxNxK) {
  json j = json::parse(R"J({"id": "g", "kind": "gemm", "source": {"ref": "stas00/ml-engineering", "table": "x"},
    "cluster": {"gpu": "H100 SXM", "gpus": 1}, "layout": {"op": "torch.mm", "dtype": "bf16",
    "best_shape_MxNxK": "2048x4096x8192"}, "measured": {"tflops": 700.0}})J");
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.gemm_m, 2048);
  EXPECT_EQ(r.gemm_n, 4096);
  EXPECT_EQ(r.gemm_k, 8192);
  for (const char* bad : {"2048x4096", "2048x4096x", "x4096x8192", "2048 x 4096 x 8192", "2048x4096x8192x1", "2kx4kx8k"}) {
    j["layout"]["best_shape_MxNxK"] = bad;
    EXPECT_EQ(MapRecord(j).skip_reason, std::string("GEMM shape '") + bad + "' not MxNxK") << bad;
  }
}

// A collective's bus bandwidth with no message size: scored at 16 GiB when the record says it
// is the large-message plateau (mapping.json "plateau"), the time following from nccl-tests'
// factor; skipped otherwise. The operation is checked first, so a CUDA peer copy is named as
// such whatever else it lacks.
TEST(ReferenceMapRecord, PlateauBandwidthIsScoredAtSixteenGiB) {
  json j = json::parse(R"J({"id": "c", "kind": "collective", "source": {"ref": "NVIDIA GTC25", "table": "bars"},
    "cluster": {"gpu": "NVLink5 (B200)", "gpus": 8, "gpus_per_node": 8},
    "layout": {"collective": "all_reduce", "ranks": 8, "algo": "ring"},
    "measured": {"busbw_GBps": 700}, "notes": "message size not stated (large-message plateau)."})J");
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  const double S = 16.0 * 1024 * 1024 * 1024;
  EXPECT_EQ(r.collective.bytes, S);
  EXPECT_EQ(r.collective.group.ranks, 8);
  EXPECT_EQ(r.collective.group.nodes, 1);
  EXPECT_EQ(r.collective.algo, static_cast<int>(costmodel::Algo::kRing));
  ASSERT_EQ(r.measured.size(), 1u);
  EXPECT_EQ(r.measured[0].quantity, "collective_time_s");
  EXPECT_NEAR(r.measured[0].value, S * 2.0 * 7.0 / 8.0 / 700e9, 1e-12);  // busbw = S/t x 2(n-1)/n
  ASSERT_FALSE(r.assumptions.empty());
  EXPECT_EQ(r.assumptions.front(),
            "message size not stated, the bandwidth is the large-message plateau: scored at 16 GiB");
  j["notes"] = "bar chart";
  EXPECT_EQ(MapRecord(j).skip_reason, "message size not stated");
  j["layout"]["algo"] = "collnet";
  j["notes"] = "large-message plateau";
  EXPECT_EQ(MapRecord(j).skip_reason, "InfiniBand SHARP (NCCL's CollNet algorithms) not modelled");
  j["layout"]["collective"] = "p2p copy";
  EXPECT_EQ(MapRecord(j).skip_reason, "collective 'p2p copy' not modelled");
}

// A sustained GEMM record (mamf-finder's MSMF beside the same run's MAMF) is scored at the
// sustained rate, a burst record at the burst rate. By hand, H200 at 1536x2816x6144: 12 x 22 =
// 264 output tiles of 128 x 128 on 132 SMs are two whole waves (shape efficiency 1), so the
// burst rate is 989 x 0.8033 (dgx-h200.json's gemm_peak_fraction) and the sustained one that x
// 0.8882 (its gemm_sustained_fraction, 755 / 850), each plus the 4 us launch.
TEST(ReferenceMapRecord, SustainedGemmIsScoredHeldAtThePowerLimitAndBurstIsNot) {
  json j = json::parse(R"J({"id": "s", "kind": "gemm", "source": {"ref": "stas00/ml-engineering", "table": "BF16"},
    "cluster": {"gpu": "H200 SXM", "gpus": 1, "gpus_per_node": 8},
    "layout": {"op": "torch.mm", "dtype": "bf16", "regime": "sustained", "shape_MxNxK": "1536x2816x6144"},
    "measured": {"tflops": 755, "burst_tflops": 850, "peak_tflops": 989}})J");
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.cluster_name, "dgx-h200");
  EXPECT_TRUE(r.gemm_sustained);
  EXPECT_FALSE(r.gemm_fp8);
  EXPECT_EQ(r.gemm_burst_tflops, 850.0);
  costmodel::Cluster c = costmodel::ResolveCluster("dgx-h200");
  const double flops = 2.0 * 1536 * 2816 * 6144;
  auto tflops = [&](double rate) { return flops / (flops / rate + 4e-6) / 1e12; };
  std::vector<ScoredQuantity> q = PredictRecord(r, c);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].quantity, "gemm_tflops");
  EXPECT_NEAR(q[0].predicted, tflops(989e12 * 0.8033 * 0.8882), 1e-6);
  j["layout"]["regime"] = "burst";
  r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_FALSE(r.gemm_sustained);
  EXPECT_NEAR(PredictRecord(r, c)[0].predicted, tflops(989e12 * 0.8033), 1e-6);
  // FP8: the FP8 dense peak x gemm_fp8_peak_fraction (0.7344) x the same sustained fraction.
  j["layout"]["regime"] = "sustained";
  j["layout"]["dtype"] = "float8_e4m3fn";
  r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_TRUE(r.gemm_fp8);
  EXPECT_NEAR(PredictRecord(r, c)[0].predicted, tflops(1979e12 * 0.7344 * 0.8882), 1e-6);
  j["layout"]["regime"] = "burst";
  EXPECT_EQ(MapRecord(j).skip_reason, "fp8 GEMM record: the source of gemm_fp8_peak_fraction, not scored");
  // What cannot be read is skipped by name.
  j["layout"]["regime"] = "sustained";
  j["cluster"]["gpu"] = "GB200";
  j["cluster"]["gpus_per_node"] = 4;  // the NVL72 compute tray
  EXPECT_EQ(MapRecord(j).skip_reason,
            "fp8 GEMM on gb200-nvl72: no FP8 GEMM fraction measured (efficiency.gemm_fp8_peak_fraction)");
  j["cluster"]["gpu"] = "H200 SXM";
  j["cluster"]["gpus_per_node"] = 8;
  j["measured"].erase("burst_tflops");
  EXPECT_EQ(MapRecord(j).skip_reason, "measured.burst_tflops missing: a sustained GEMM record needs its run's burst figure");
  j["measured"]["burst_tflops"] = 0;
  EXPECT_EQ(MapRecord(j).skip_reason, "measured.burst_tflops: outside [0.001, 1e6]");
  j["measured"]["burst_tflops"] = 1525;
  j["layout"]["regime"] = "throttled";
  EXPECT_EQ(MapRecord(j).skip_reason, "layout.regime 'throttled' not modelled (burst or sustained)");
  // A PCIe part of a modelled die gives its sustained ratio only (mapping.json
  // sustained_ratio_parts); its burst is still a PCIe card's, not modelled.
  j["layout"]["regime"] = "sustained";
  j["layout"]["dtype"] = "bf16";
  j["cluster"]["gpu"] = "A100 PCIe";
  j["measured"] = {{"tflops", 258}, {"burst_tflops", 285}};
  r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.cluster_name, "dgx-a100-80g");
  ASSERT_EQ(r.measured.size(), 1u);
  EXPECT_EQ(r.measured[0].quantity, "gemm_sustained_fraction");
  c = costmodel::ResolveCluster("dgx-a100-80g");
  c.efficiency.gemm_sustained_fraction = 0.9;
  q = PredictRecord(r, c);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_DOUBLE_EQ(q[0].predicted, 0.9);
  EXPECT_NEAR(q[0].error_pct, 100.0 * (0.9 / (258.0 / 285.0) - 1.0), 1e-9);
  j["measured"]["tflops"] = 290;
  EXPECT_EQ(MapRecord(j).skip_reason, "measured.tflops over measured.burst_tflops is above 1: not a sustained fraction");
  j["layout"]["regime"] = "burst";
  EXPECT_EQ(MapRecord(j).skip_reason, "GPU 'A100 PCIe': PCIe parts are not modelled (clusters are SXM/NVLink systems)");
}

// The clusters' sustained fractions are the shipped records' MSMF / MAMF, to the 4 digits the
// cluster files keep: H200 BF16 755 / 850 (and the H100, the same GH100 die at the same 700 W,
// takes it), B200 BF16 1439 / 1737; B200's FP8 GEMM fraction is its FP8 MAMF 3350 / 4500. The
// A100 PCIe's 258 / 285 stands for the A100 SXM's (mapping.json sustained_ratio_parts): a ratio,
// scored as one, and the dgx-a100 profile fits it (the cluster files keep 1.0).
TEST(ReferenceFile, ClusterSustainedFractionsAreTheShippedMsmfOverMamf) {
  const std::string path = costmodel::DataDir() + "/reference/sustained-gemm.json";
  std::map<std::string, double> ratio;
  double b200_fp8_burst = 0;
  for (const ReferenceRecord& r : MapReferenceFile(costmodel::ReadFileText(path, "test"), path)) {
    if (r.gemm_sustained && !r.gemm_fp8 && r.skip_reason.empty() && r.measured.at(0).quantity == "gemm_tflops") {
      ratio[r.cluster_name] = r.measured.at(0).value / r.gemm_burst_tflops;
    }
    if (r.id == "msmf-a100-pcie-bf16") {
      ASSERT_EQ(r.skip_reason, "");
      EXPECT_EQ(r.cluster_name, "dgx-a100-80g");
      EXPECT_EQ(r.gpu_generation, "A100");
      ASSERT_EQ(r.measured.size(), 1u);
      EXPECT_EQ(r.measured[0].quantity, "gemm_sustained_fraction");
      EXPECT_DOUBLE_EQ(r.measured[0].value, 258.0 / 285.0);
      ASSERT_EQ(r.assumptions.size(), 1u);
      EXPECT_TRUE(r.assumptions[0].starts_with("A100 PCIe (300 W) sustained-over-burst GEMM ratio")) << r.assumptions[0];
      const std::vector<ScoredQuantity> p = PredictRecord(r, r.cluster);
      ASSERT_EQ(p.size(), 1u);
      EXPECT_EQ(p[0].predicted, 1.0);  // the cluster file's: no throttling
      EXPECT_NEAR(p[0].error_pct, 100.0 * (285.0 / 258.0 - 1.0), 1e-9);
    }
    // The burst FP8 row is skipped as the fraction's source, its measured value still read.
    if (r.id == "mamf-b200-sxm-fp8-e4m3fn-v4") b200_fp8_burst = r.measured.at(0).value;
  }
  ASSERT_EQ(ratio.size(), 2u);
  EXPECT_DOUBLE_EQ(ratio.at("dgx-h200"), 755.0 / 850.0);
  EXPECT_DOUBLE_EQ(ratio.at("dgx-b200"), 1439.0 / 1737.0);
  EXPECT_NEAR(costmodel::ResolveCluster("dgx-h200").efficiency.gemm_sustained_fraction, ratio.at("dgx-h200"), 5e-5);
  EXPECT_NEAR(costmodel::ResolveCluster("dgx-h100").efficiency.gemm_sustained_fraction, ratio.at("dgx-h200"), 5e-5);
  EXPECT_NEAR(costmodel::ResolveCluster("dgx-b200").efficiency.gemm_sustained_fraction, ratio.at("dgx-b200"), 5e-5);
  ASSERT_EQ(b200_fp8_burst, 3350.0);
  EXPECT_NEAR(costmodel::ResolveCluster("dgx-b200").efficiency.gemm_fp8_peak_fraction, 3350.0 / 4500.0, 5e-5);
  // No MSMF for A100 SXM or GB200 yet: their cluster files keep the burst rate (GB200 takes the
  // B200's through the dgx-b200 profile it shares, README; the A100 the PCIe part's, through dgx-a100).
  EXPECT_EQ(costmodel::ResolveCluster("dgx-a100-80g").efficiency.gemm_sustained_fraction, 1.0);
  const std::string a100 = costmodel::DataDir() + "/calibration/dgx-a100.json";
  const costmodel::CalibrationProfile p =
      costmodel::ParseCalibrationJson(costmodel::ReadFileText(a100, "test"), a100);
  costmodel::Cluster c = costmodel::ResolveCluster("dgx-a100-80g");
  costmodel::ApplyCalibration(p, c, a100);
  EXPECT_DOUBLE_EQ(c.efficiency.gemm_sustained_fraction, 258.0 / 285.0);
  EXPECT_EQ(costmodel::ResolveCluster("gb200-nvl72").efficiency.gemm_sustained_fraction, 1.0);
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

// Korthikanti et al. 2022 Appendix C: "selective + microbatch-level" on GPT-3 175B, PP 8 x 3
// chunks: the count is not published, so the prediction stores as many micro-batches per window
// as stage 0's memory allows, and says so.
TEST(ReferenceMapRecord, MicroBatchLevelRecomputeStoresTheMostThatFit) {
  json j = json::parse(R"J({
    "id": "mb", "kind": "end_to_end",
    "source": {"ref": "Korthikanti et al. 2022, Reducing Activation Recomputation", "table": "Appendix C"},
    "model": {"name": "GPT-3 175B", "layers": 96, "hidden": 12288, "heads": 96, "kv_heads": 96, "ffn": 49152,
              "vocab": 51200, "seq": 2048, "params_b": 175, "arch": "GPT"},
    "cluster": {"gpu": "A100-SXM4-80GB", "gpus": 64, "gpus_per_node": 8,
                "intra_link": "NVLink3/NVSwitch (DGX A100, 600 GB/s bidir per GPU)",
                "inter_link": "8x Mellanox HDR 200 Gb/s InfiniBand per node (fat tree)"},
    "layout": {"tp": 8, "sp": true, "pp": 8, "dp": 1, "fsdp": null, "cp": 1, "micro_batch": 1, "global_batch": 64,
               "recompute": "selective + microbatch-level", "precision": "mixed", "vpp": 3},
    "measured": {"mfu": 0.523}, "confidence": "exact", "notes": ""})J");
  const ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  // The source ran Megatron-LM 2022 (mapping.json sources[].workload): every exchange blocks,
  // the interleaved schedule's too, and without SP the activation is scattered over TP; its
  // framework file (Megatron-Core's) blocks under 1F1B only.
  EXPECT_TRUE(r.workload.pp_p2p_blocking);
  EXPECT_TRUE(r.workload.pp_interleaved_blocking);
  EXPECT_TRUE(r.workload.pp_scatter_gather);
  EXPECT_TRUE(r.partial_ckpt_fit);
  EXPECT_EQ(r.layout.recompute, Recompute::kSelective);
  EXPECT_EQ(r.layout.partial_ckpt_mbs, 0);  // chosen at prediction, on the cluster it runs on
  EXPECT_NE(std::find(r.assumptions.begin(), r.assumptions.end(),
                      "micro-batch-level recompute: as many micro-batches per window keep all activations as "
                      "stage 0's memory allows (Korthikanti et al. 2022, Appendix C)"),
            r.assumptions.end());
  const costmodel::Evaluator ev(r.model, r.cluster, r.workload);
  costmodel::Layout most = r.layout;
  most.partial_ckpt_mbs = ev.MostPartialCheckpointMicroBatches(r.layout);
  ASSERT_GT(most.partial_ckpt_mbs, 0);
  const costmodel::Evaluation e = ev.Evaluate(most);
  const std::vector<ScoredQuantity> q = PredictRecord(r, r.cluster);
  ASSERT_EQ(q.size(), 1u);
  // The same tokens and FLOPs: the predicted MFU moves with the step time alone.
  ReferenceRecord plain_record = r;
  plain_record.partial_ckpt_fit = false;
  const std::vector<ScoredQuantity> q_plain = PredictRecord(plain_record, r.cluster);
  EXPECT_NEAR(q[0].predicted / q_plain[0].predicted, ev.Evaluate(r.layout).time.step_s / e.time.step_s, 1e-12);
  // Storing more runs faster than selective recompute alone, within the paper's ~1%.
  const double plain = ev.Evaluate(r.layout).time.step_s;
  EXPECT_LT(e.time.step_s, plain);
  EXPECT_GT(e.time.step_s, 0.99 * plain);
  // Without a pipeline there are no in-flight micro-batches to choose from.
  j["layout"]["pp"] = 1;
  j["layout"]["vpp"] = 1;
  j["layout"]["dp"] = 8;
  EXPECT_EQ(MapRecord(j).skip_reason, "micro-batch-level recompute without a pipeline (it needs pp > 1)");
}

// A Megatron-LM record that lists its launcher flags ran Megatron-LM's defaults for those it
// leaves out (mapping.json megatron_launcher_flags): without --overlap-grad-reduce and
// --overlap-param-gather (store_true, off) the distributed optimizer reduces after the backward
// and gathers before the forward, and the record says so; listing them, or listing nothing,
// keeps the overlap.
TEST(ReferenceMapRecord, MegatronLauncherFlagsWithoutTheOverlapsPriceThemOff) {
  json j = Record();
  j["layout"].erase("fsdp");
  j["layout"].erase("fsdp_sharding");
  j["layout"]["distributed_optimizer"] = true;
  j["layout"]["zero_stage"] = 1;
  j["notes"] = "Launcher flags (run.sh): --bf16, --use-distributed-optimizer, --use-flash-attn.";
  const ReferenceRecord off = MapRecord(j, "megatron");
  ASSERT_EQ(off.skip_reason, "");
  EXPECT_EQ(off.layout.zero, 1);
  EXPECT_TRUE(off.workload.dp_reduce_after_backward);
  EXPECT_TRUE(off.workload.dp_gather_after_step);
  EXPECT_NE(std::find(off.notes.begin(), off.notes.end(),
                      "Megatron-LM launcher flags listed without --overlap-grad-reduce and --overlap-param-gather: "
                      "the data-parallel traffic priced outside the passes (Megatron-LM's defaults)"),
            off.notes.end());
  j["notes"] = "Launcher flags (run.sh): --bf16, --use-distributed-optimizer, --overlap-grad-reduce, "
               "--overlap-param-gather.";
  const ReferenceRecord on = MapRecord(j, "megatron");
  EXPECT_FALSE(on.workload.dp_reduce_after_backward);
  EXPECT_FALSE(on.workload.dp_gather_after_step);
  j["notes"] = "";
  EXPECT_FALSE(MapRecord(j, "megatron").workload.dp_reduce_after_backward);
  // Not Megatron-LM's flags: another framework's record keeps its own traits.
  j["notes"] = "Launcher flags (run.sh): --bf16.";
  EXPECT_FALSE(MapRecord(j, "nemo").workload.dp_reduce_after_backward);
}

// Published peaks are PyTorch's (shared/data/reference/README.md: SimuMax's peak_memory_gib is
// torch.cuda.max_memory_allocated, peak_reserved_gib max_memory_reserved): each is scored against
// the same quantity of the memory model, never the device peak with the CUDA context and NCCL.
TEST(ReferenceMapRecord, MemoryScoredAsPyTorchReportsIt) {
  json j = Record();
  j["measured"] = {{"tokens_per_s_per_gpu", 3000.0}, {"peak_memory_gib", 30.0}, {"peak_reserved_gib", 33.0}};
  const ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  const std::vector<ScoredQuantity> q = PredictRecord(r, r.cluster);
  const costmodel::MemoryBreakdown mem =
      costmodel::Evaluator(r.model, r.cluster, r.workload).Evaluate(r.layout).memory;
  int seen = 0;
  for (const ScoredQuantity& s : q) {
    if (s.quantity == "peak_memory_gib") {
      EXPECT_DOUBLE_EQ(s.predicted, mem.allocated_bytes / costmodel::kGiB);
      ++seen;
    } else if (s.quantity == "peak_reserved_gib") {
      EXPECT_DOUBLE_EQ(s.predicted, mem.reserved_bytes / costmodel::kGiB);
      EXPECT_DOUBLE_EQ(s.measured, 33.0);
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2);
  EXPECT_LT(mem.allocated_bytes, mem.reserved_bytes);
  // What has to fit: the tensors and what lives outside the allocator, not its cache.
  EXPECT_DOUBLE_EQ(mem.peak_bytes, mem.allocated_bytes + mem.overhead_bytes);
}

// A measured run fitted its GPU: a layout the evaluator rejects is an error of the model,
// reported beside the step time with the evaluator's sentences and codes.
TEST(ReferenceMapRecord, MeasuredRunTheModelRejectsIsReported) {
  json j = Record();
  j["measured"] = {{"step_time_s", 10.0}};
  const ReferenceRecord fits = MapRecord(j);
  ASSERT_EQ(fits.skip_reason, "");
  std::vector<ScoredQuantity> q = PredictRecord(fits, fits.cluster);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_TRUE(q[0].infeasible.empty());
  EXPECT_GT(q[0].memory.peak_bytes, 0.0);
  // 16 sequences of 2048 tokens per GPU, nothing recomputed: MPT-7B's activations alone are
  // 16 x 2048 x 4096 x 34 B x 32 layers = 136 GiB (Korthikanti Table 2, flash attention).
  j["layout"]["recompute"] = "none";
  j["layout"]["micro_batch"] = 16;
  j["layout"]["grad_accum"] = 1;
  const ReferenceRecord big = MapRecord(j);
  ASSERT_EQ(big.skip_reason, "");
  q = PredictRecord(big, big.cluster);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_GT(q[0].memory.activations_bytes, 16.0 * 2048 * 4096 * 34 * 32 * 0.9);
  ASSERT_EQ(q[0].rejection_codes, std::vector<std::string>({"memory"}));
  ASSERT_EQ(q[0].infeasible.size(), 1u);
  EXPECT_EQ(q[0].infeasible[0].rfind("needs ", 0), 0u) << q[0].infeasible[0];
  EXPECT_GT(q[0].predicted, 0.0);  // still scored: the step time is the model's all the same
}

// Record() as a DGX Cloud NeMo run on H100.
json NemoH100Record() {
  json j = Record();
  j["source"]["ref"] = "NVIDIA/dgxc-benchmarking llama3.1/README.md";
  j["cluster"]["gpu"] = "H100 80GB HBM3";
  j["layout"]["recompute"] = "none";
  j["layout"]["micro_batch"] = 1;
  j["layout"]["grad_accum"] = 16;
  j["layout"]["framework"] = "NeMo 25.02.01 container";
  return j;
}

// FP8 weights that are the parameters themselves, in each way records phrase it
// (mapping.json fp8_param_gather_words): NeMo 2.0's "fp8_params=True", NeMo 1's yaml
// "fp8_params true", Megatron-LM's --fp8-param-gather.
TEST(ReferenceMapRecord, Fp8ParamsReadInEveryPhrasing) {
  json j = NemoH100Record();
  for (const char* phrase : {"fp8 (TE fp8 hybrid, fp8_params=True)", "fp8 (yaml fp8_hybrid true, fp8_params true)",
                             "fp8 --fp8-param-gather"}) {
    j["layout"]["precision"] = phrase;
    const ReferenceRecord r = MapRecord(j);
    ASSERT_EQ(r.skip_reason, "") << phrase;
    EXPECT_EQ(r.workload.precision, costmodel::Precision::kFp8) << phrase;
    EXPECT_TRUE(r.workload.fp8_param_gather) << phrase;
  }
  j["layout"]["precision"] = "fp8 (TE fp8 hybrid, fp8_params false)";
  EXPECT_FALSE(MapRecord(j).workload.fp8_param_gather);
}

// A NeMo or Megatron record runs TransformerEngine's fused attention (data/frameworks), unless
// it switched it off (NVTE_FUSED_ATTN=0: TE falls back to FlashAttention; DGX Cloud's Grok-1
// recipe does); a framework without it never runs it.
TEST(ReferenceMapRecord, FusedAttentionFollowsTheFrameworkAndNvteFusedAttn) {
  json j = NemoH100Record();
  j["notes"] = "configure.sh: NCCL_NVLS_ENABLE=0, NVTE_FUSED_ATTN=1, CUDA_DEVICE_MAX_CONNECTIONS=1";
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.framework, "nemo");
  EXPECT_TRUE(r.workload.te_attention);
  j["notes"] = "configure.sh: NVTE_FUSED_ATTN=0, NCCL_NVLS_ENABLE=0, NCCL_P2P_NET_CHUNKSIZE=2097152";
  r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_FALSE(r.workload.te_attention);
  EXPECT_TRUE(r.workload.flash_attention);
  EXPECT_FALSE(MapRecord(Record()).workload.te_attention);  // llm-foundry: Triton FlashAttention-1
}

// A Megatron-Core MoE runs its local experts one after another unless grouped GEMM was asked
// for (mapping.json moe_sequential_words / moe_grouped_words): as the record says (NeMo's
// Grok-1 recipe: moe_grouped_gemm false; SimuMax's launchers: grouped GEMM), else as the
// framework runs it (megatron: sequential, Megatron-LM's default; nemo and the rest: grouped).
TEST(ReferenceMapRecord, SequentialExpertsAsTheRecordSays) {
  json j = NemoH100Record();
  j["notes"] = "MoE settings: num_moe_experts 8, moe_grouped_gemm false, moe_aux_loss_coeff 0.01";
  EXPECT_TRUE(MapRecord(j).workload.moe_sequential);
  j["notes"] = "MoE settings: num_moe_experts 8, moe_grouped_gemm true";
  EXPECT_FALSE(MapRecord(j).workload.moe_sequential);
  j["notes"] = "";
  EXPECT_FALSE(MapRecord(j).workload.moe_sequential);
  EXPECT_TRUE(MapRecord(j, "megatron").workload.moe_sequential);
  j["notes"] = "MoE: alltoall dispatcher, grouped GEMM, permute fusion";
  EXPECT_FALSE(MapRecord(j, "megatron").workload.moe_sequential);
}

// TP communication overlapped with the GEMMs (TransformerEngine userbuffers) is not modelled:
// a record that names it (mapping.json tp_comm_overlap_words, in any of its frameworks'
// spellings) is scored with its TP collectives priced outside the GEMMs, and says so.
TEST(ReferenceMapRecord, TpCommOverlapIsSaidNotSilentlyPriced) {
  const std::string says =
      "TP communication overlap (TransformerEngine userbuffers) not modelled: the TP all-gathers and "
      "reduce-scatters are priced outside the GEMMs";
  auto has = [&](const ReferenceRecord& r) {
    return std::find(r.assumptions.begin(), r.assumptions.end(), says) != r.assumptions.end();
  };
  json j = Record();
  j["layout"]["tp"] = 2;
  j["layout"]["dp"] = 8;
  j["layout"]["fsdp"] = 8;
  for (const char* note : {"TP communication overlap on (MegatronCommOverlapCallback tp_comm_overlap=True)",
                           "hydra yaml: ub_tp_comm_overlap true, overlap_p2p_comm true", "args: --tp-comm-overlap"}) {
    j["notes"] = note;
    const ReferenceRecord r = MapRecord(j);
    ASSERT_EQ(r.skip_reason, "") << note;
    EXPECT_TRUE(has(r)) << note;
  }
  j["notes"] = "ub_tp_comm_overlap false";
  EXPECT_FALSE(has(MapRecord(j)));
  // Without TP there is nothing to overlap.
  j["notes"] = "ub_tp_comm_overlap true";
  j["layout"]["tp"] = 1;
  j["layout"]["dp"] = 16;
  j["layout"]["fsdp"] = 16;
  EXPECT_FALSE(has(MapRecord(j)));
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
  EXPECT_EQ(MapRecord(j).skip_reason, "tp 1 x pp 8 x cp 1 x dp 16 != 16 GPUs");
  j["layout"]["pp"] = 16;  // 32 layers on 16 stages of 2: fine; on 3 stages: no split
  j["cluster"]["gpus"] = 48;
  j["layout"]["pp"] = 3;
  j["layout"]["dp"] = 16;
  EXPECT_EQ(MapRecord(j).skip_reason,
            "pipeline split: pp 3 does not divide 32 layers (give pp_first_layers / pp_last_layers "
            "for an uneven split)");
}

TEST(ReferenceMapRecord, EmbeddingAndLossSlotsSplitLayersAsMegatronDoes) {
  // NeMo's llama31_405b recipe: 126 layers + embedding + loss = 128 slots over pp 8 x vpp 8;
  // Megatron-Core get_num_layers_to_build gives the first and the last stage 16 - 1 = 15 layers
  // and the six others 16 each (15 + 15 + 6 x 16 = 126).
  json j = Record();
  j["model"]["layers"] = 126;
  j["model"]["params_b"] = nullptr;
  j["cluster"]["gpus"] = 64;
  j["layout"]["pp"] = 8;
  j["layout"]["vpp"] = 8;
  j["layout"]["dp"] = 8;
  j["layout"]["fsdp"] = 8;
  j["layout"]["global_batch"] = 64;
  j["layout"]["grad_accum"] = 8;
  j["layout"]["micro_batch"] = 1;
  EXPECT_EQ(MapRecord(j).skip_reason,
            "pipeline split: pp 8 does not divide 126 layers (give pp_first_layers / pp_last_layers "
            "for an uneven split)");
  j["notes"] = "The recipe sets account_for_embedding_in_pipeline_split=True and "
               "account_for_loss_in_pipeline_split=True.";
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.layout.pp_first_layers, 15);
  EXPECT_EQ(r.layout.pp_last_layers, 15);
  EXPECT_NE(std::find(r.notes.begin(), r.notes.end(),
                      "pipeline split: the embedding and the loss each count as one layer (126 layers in 128 "
                      "slots, 16 per stage), as the record says"),
            r.notes.end());
  // The embedding alone: 127 slots do not split over 8 stages.
  j["notes"] = "--account-for-embedding-in-pipeline-split";
  EXPECT_EQ(MapRecord(j).skip_reason,
            "pipeline split: pp 8 does not divide 127 layer slots (layers, embedding and loss)");
  // 30 layers + 2 over pp 4 (the 405B proxy): 7 + 8 + 8 + 7, each stage's 8 slots in 8 chunks.
  j["notes"] = "account_for_embedding_in_pipeline_split=True, account_for_loss_in_pipeline_split=True";
  j["model"]["layers"] = 30;
  j["cluster"]["gpus"] = 32;
  j["layout"]["pp"] = 4;
  r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.layout.pp_first_layers, 7);
  EXPECT_EQ(r.layout.pp_last_layers, 7);
}

TEST(ReferenceMapRecord, SkipsWithExactReasons) {
  json j = Record();
  j["layout"]["grad_accum"] = nullptr;
  EXPECT_EQ(MapRecord(j).skip_reason, "layout.micro_batch missing (and no grad_accum to derive it)");
  j = Record();
  j["layout"]["precision"] = "fp8 (TransformerEngine)";
  // An A100 has no FP8 tensor cores: never priced at the BF16 rate.
  EXPECT_EQ(MapRecord(j).skip_reason, "fp8 on 'dgx-a100-40g': no measured FP8 GEMM efficiency");
  // On H100 with llm-foundry (Composer's TransformerEngine delayed scaling) it is priced as FP8;
  // torchtitan's torchao Float8Linear runs on its own recipe (below).
  j["cluster"]["gpu"] = "H100 SXM";
  {
    const ReferenceRecord r = MapRecord(j);
    ASSERT_EQ(r.skip_reason, "");
    EXPECT_EQ(r.workload.precision, costmodel::Precision::kFp8);
    EXPECT_FALSE(r.workload.fp8_param_gather);
  }
  j["layout"]["precision"] = "fp8 (NeMo bf16_with_fp8_mixed, fp8_params=True)";
  EXPECT_TRUE(MapRecord(j).workload.fp8_param_gather);
  // torchtitan's torchao Float8Linear is priced on its own path, its rowwise recipes where the
  // record names them; a rowwise record of a TransformerEngine framework is skipped.
  EXPECT_EQ(MapRecord(j, "torchtitan").workload.fp8_recipe, costmodel::Fp8Recipe::kTorchaoTensorwise);
  EXPECT_EQ(MapRecord(j).workload.fp8_recipe, costmodel::Fp8Recipe::kTeDelayed);
  j["layout"]["precision"] = "fp8 (TransformerEngine current scaling)";
  EXPECT_EQ(MapRecord(j).workload.fp8_recipe, costmodel::Fp8Recipe::kTeTensorwise);
  j["layout"]["precision"] = "float8 rowwise";
  EXPECT_EQ(MapRecord(j, "torchtitan").workload.fp8_recipe, costmodel::Fp8Recipe::kTorchaoRowwise);
  j["layout"]["precision"] = "float8 (recipe_name rowwise_with_gw_hp)";
  EXPECT_EQ(MapRecord(j, "torchtitan").workload.fp8_recipe, costmodel::Fp8Recipe::kTorchaoRowwiseGwHp);
  EXPECT_EQ(MapRecord(j).skip_reason, "fp8 recipe 'float8 (recipe_name rowwise_with_gw_hp)' not modelled for framework 'llm-foundry'");
  j["layout"]["precision"] = "fp8 (NeMo bf16_with_fp8_mixed, fp8_params=True)";
  EXPECT_EQ(MapRecord(j, "deepspeed").skip_reason, "fp8 not modelled for framework 'deepspeed'");
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
  j = Record();
  j["layout"].erase("global_batch");
  EXPECT_EQ(MapRecord(j).skip_reason, "layout.global_batch missing");
}

// vTrain's runs: an "A100" of unstated memory, a per-GPU NVLink figure, no inter-node link,
// Megatron-DeepSpeed. Scored with the assumptions listed, pipeline runs included.
json VtrainRecord() {
  return json::parse(R"J({
    "id": "v", "kind": "end_to_end",
    "source": {"ref": "VIA-Research/vTrain data/ground_truth_single.csv (commit f8dda84)", "table": "x"},
    "model": {"name": "GPT h1024 L24 a16", "layers": 24, "hidden": 1024, "heads": 16, "kv_heads": 16, "ffn": 4096,
              "vocab": 50257, "seq": 1024, "params_b": null,
              "arch": "GPT (Megatron-DeepSpeed: pre-LayerNorm, learned position embeddings, GeLU MLP with ffn 4h, biases, dropout 0.1)"},
    "cluster": {"gpu": "A100 (vTrain gpu_name 'A100'; memory size and form factor not stated in the repository)",
                "gpus": 4, "gpus_per_node": 8, "intra_link": "150 GB/s (vTrain config intra_node_bandwidth)", "inter_link": null},
    "layout": {"tp": 2, "sp": null, "pp": 1, "dp": 2, "fsdp": null, "cp": 1, "micro_batch": 4, "global_batch": 16,
               "recompute": "full (activation checkpointing on)", "precision": "fp16 mixed (not stated for the measured runs)",
               "vpp": null, "pipeline_schedule": "none (pp=1)", "framework": "Megatron-DeepSpeed", "zero_stage": null,
               "grad_accum": 2},
    "measured": {"step_time_s": 0.372, "iteration_time_ms": 372.0, "tokens_per_s_per_gpu_derived": 22012.01},
    "confidence": "exact", "notes": ""})J");
}

TEST(ReferenceMapRecord, VtrainA100WithoutMemorySizeIsScoredWithItsAssumptions) {
  const ReferenceRecord r = MapRecord(VtrainRecord());
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.cluster_name, "dgx-a100-80g");
  EXPECT_EQ(r.gpu_generation, "A100");
  EXPECT_EQ(r.framework, "deepspeed");
  // "150 GB/s (vTrain config ...)" is vTrain's simulator parameter, not the hardware's link
  // (mapping.json tool_parameter_words): the DGX A100's NVLink3, 300 GB/s per direction, stays.
  EXPECT_DOUBLE_EQ(r.cluster.node.intra.GBps_per_gpu, 300.0);
  // One node: the unstated inter-node link decides nothing, so nothing is assumed about it.
  EXPECT_EQ(r.assumptions,
            (std::vector<std::string>{"A100 memory size not stated: the 80 GB part of the DGX A100 640GB assumed",
                                      "intra-node link given as another tool's configuration value, not the "
                                      "hardware's rate: dgx-a100-80g's NVLink3 + NVSwitch gen2 (DGX A100, 6 NVSwitches)"}));
  // deepspeed.json: Megatron-DeepSpeed's flash attention is opt-in, its kernels are fused.
  EXPECT_FALSE(r.workload.flash_attention);
  EXPECT_FALSE(r.workload.eager_elementwise);
  EXPECT_EQ(r.layout.replicate, 2);  // no ZeRO stage, no distributed optimizer: plain DDP
  EXPECT_EQ(r.layout.fsdp, 1);
  // DeepSpeed's engine all-reduces after the backward (deepspeed.json dp_grad_reduce) ...
  EXPECT_TRUE(r.workload.dp_reduce_after_backward);
  // ... unless the record says its gradients were bucketed behind it.
  json bucketed = VtrainRecord();
  bucketed["layout"]["ddp_gradient_bucketing"] = true;
  EXPECT_FALSE(MapRecord(bucketed).workload.dp_reduce_after_backward);
  // Korthikanti et al.'s word for the same: dp_grad_overlap false is the all-reduce after it.
  json korthikanti = Record();
  korthikanti["layout"]["dp_grad_overlap"] = false;
  EXPECT_TRUE(MapRecord(korthikanti, "megatron").workload.dp_reduce_after_backward);
  korthikanti["layout"]["dp_grad_overlap"] = true;
  EXPECT_FALSE(MapRecord(korthikanti, "megatron").workload.dp_reduce_after_backward);
  ASSERT_EQ(r.measured.size(), 1u);  // _derived values are never scored
  EXPECT_FALSE(PredictRecord(r, r.cluster).empty());
  // Its pipeline runs (1F1B) are scored too.
  json pp = VtrainRecord();
  pp["layout"]["pp"] = 2;
  pp["layout"]["dp"] = 1;
  pp["layout"]["grad_accum"] = 4;
  pp["layout"]["pipeline_schedule"] = "1f1b (vTrain config pipeline_scheduling)";
  const ReferenceRecord p = MapRecord(pp);
  ASSERT_EQ(p.skip_reason, "");
  EXPECT_EQ(p.layout.pp, 2);
  EXPECT_EQ(p.layout.schedule, costmodel::Schedule::k1F1B);
  EXPECT_EQ(p.assumptions, r.assumptions);
}

// What a record leaves out gets the standard system's or the framework's default, and says so.
TEST(ReferenceMapRecord, UnstatedLinksAndPrecisionTakeDefaultsAndSayWhich) {
  json j = Record();
  j["cluster"]["gpu"] = "H100-80GB";
  j["cluster"]["inter_link"] = "not stated (MosaicML platform)";
  j["layout"].erase("precision");
  const ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.cluster.fabric.nics_per_node, 8);
  EXPECT_DOUBLE_EQ(r.cluster.fabric.nic_Gbps, 400.0);
  const std::vector<std::string> expected = {
      "intra-node link not stated: dgx-h100's NVLink4 + NVSwitch gen3",
      "inter-node link not stated: dgx-h100's 8x ConnectX-7 NDR InfiniBand, rail-optimised fat tree",
      "precision not stated: llm-foundry's default"};
  EXPECT_EQ(r.assumptions, expected);
  // llm-foundry's benchmark default is mixed precision PURE: gradients reduced in bf16.
  EXPECT_EQ(r.workload.reduce_dtype, costmodel::Dtype::kBf16);
  // Without a framework there is no default precision: a quantity the record lacks.
  j["source"]["ref"] = "someone/else benchmarks";
  EXPECT_EQ(MapRecord(j).skip_reason, "layout.precision missing (and no framework default)");
}

// The framework file supplies the traits a record leaves out; the record's own words win, and
// --framework replaces the framework for every record.
TEST(ReferenceMapRecord, FrameworkFileSuppliesTheTraits) {
  json j = Record();
  j["layout"]["framework"] = "NeMo 25.02.01 container";
  j["model"]["arch"] = "MPT (learned position embeddings, biases on, LayerNorm, GeLU 4x MLP, FlashAttention)";
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.framework, "nemo");
  EXPECT_EQ(r.workload.flash_version, 2);
  EXPECT_FALSE(r.workload.eager_elementwise);
  r = MapRecord(j, "torchtitan");
  EXPECT_EQ(r.framework, "torchtitan");
  EXPECT_TRUE(r.workload.eager_elementwise);
  j["notes"] = "trained with torch.compile";
  EXPECT_FALSE(MapRecord(j, "torchtitan").workload.eager_elementwise);
  // A source the table says predates flash attention keeps the s^2 scores.
  j = Record();
  j["source"]["ref"] = "Korthikanti et al. 2022, Reducing Activation Recomputation";
  j["model"]["arch"] = "GPT (LayerNorm, GeLU MLP 4h, learned pos emb, tied emb)";
  j["model"]["name"] = "GPT-7b";
  EXPECT_FALSE(MapRecord(j).workload.flash_attention);
}

// "Selective" means what the framework means by it: Megatron's attention core is priced,
// torchtitan's layer-level selective checkpointing is not modelled.
TEST(ReferenceMapRecord, SelectiveRecomputeIsTheFrameworksMeaning) {
  json j = Record();
  j["layout"]["recompute"] = "selective";
  j["layout"]["framework"] = "Megatron-LM";
  EXPECT_EQ(MapRecord(j).layout.recompute, Recompute::kSelective);
  j["layout"]["framework"] = "torchtitan";
  EXPECT_EQ(MapRecord(j).skip_reason, "checkpointing of only some layers not modelled");
  j["layout"]["recompute"] = "selective (attention core)";
  EXPECT_EQ(MapRecord(j).layout.recompute, Recompute::kSelective);
}

// Megatron's distributed optimizer (or a ZeRO stage) shards the optimizer over the whole
// data-parallel group: fsdp = dp, ZeRO-1, not a replicated all-reduce.
TEST(ReferenceMapRecord, DistributedOptimizerShardsOverDataParallel) {
  json j = VtrainRecord();
  j["layout"]["distributed_optimizer"] = true;
  ReferenceRecord r = MapRecord(j);
  ASSERT_EQ(r.skip_reason, "");
  EXPECT_EQ(r.layout.fsdp, 2);
  EXPECT_EQ(r.layout.replicate, 1);
  EXPECT_EQ(r.layout.zero, 1);
  EXPECT_EQ(r.layout.recipe, costmodel::Recipe::kMegatron);
  j = VtrainRecord();
  j["layout"]["zero_stage"] = 2;
  EXPECT_EQ(MapRecord(j).layout.zero, 2);
}

// A value present but malformed is not a skip but an error naming the file, the record and the
// field (a fuzzing pass found them counted as skipped, exit 0); a value left out stays a skip.
TEST(ReferenceMapRecord, MalformedValuesAreErrorsNotSkips) {
  auto file_error = [](const json& rec) {
    try {
      MapReferenceFile(json{{"records", json::array({rec})}}.dump(), "ref.json");
    } catch (const meshplan::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  json j = Record();
  j["model"]["layers"] = -1;
  EXPECT_EQ(file_error(j), "ref.json: records[0] (t1): layers: expected a positive integer (at most 1e9), got -1");
  j = Record();
  j["cluster"]["gpus"] = 0.5;
  EXPECT_EQ(file_error(j), "ref.json: records[0] (t1): gpus: expected a positive integer (at most 1e9), got 0.5");
  j = Record();
  j["layout"]["tp"] = "2";
  EXPECT_EQ(file_error(j), "ref.json: records[0] (t1): tp: expected a number, got \"2\"");
  j = Record();
  j.erase("id");
  EXPECT_EQ(file_error(j), "ref.json: records[0]: id: missing");
  j = Record();
  j["layout"].erase("global_batch");
  j["layout"].erase("grad_accum");
  EXPECT_EQ(file_error(j), "no error");  // missing quantities stay skips
}

// A collective record with one bus bandwidth per group size is one measurement each.
TEST(ReferenceMapRecord, PerGroupSizeBandwidthsBecomeOneRecordEach) {
  const std::string text = R"J({"records": [{"id": "p6-1MiB", "kind": "collective", "source": {"ref": "x"},
    "cluster": {"gpu": "B200 (8x/node, NVLink5)", "gpus": null, "gpus_per_node": 8,
                "intra_link": "NVLink5 900 GB/s uni", "inter_link": "8x 400 Gb/s EFA v4 per node"},
    "layout": {"collective": "all_reduce"},
    "measured": {"message": "1MiB", "busbw_GBps_1node_8gpu": 36.06, "busbw_GBps_4node_32gpu": 5.37}}]})J";
  const std::vector<ReferenceRecord> rs = MapReferenceFile(text, "t.json");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].id, "p6-1MiB@1node_8gpu");
  EXPECT_EQ(rs[1].id, "p6-1MiB@4node_32gpu");
  ASSERT_EQ(rs[0].skip_reason, "");
  ASSERT_EQ(rs[1].skip_reason, "");
  EXPECT_EQ(rs[0].collective.group.ranks, 8);
  EXPECT_EQ(rs[0].collective.group.nodes, 1);
  EXPECT_EQ(rs[1].collective.group.ranks, 32);
  EXPECT_EQ(rs[1].collective.group.nodes, 4);
  // all-reduce busbw = algbw x 2(n-1)/n: t = S x 2(31/32) / busbw.
  EXPECT_DOUBLE_EQ(rs[1].measured[0].value, 1048576.0 * 2.0 * 31.0 / 32.0 / 5.37e9);
  EXPECT_EQ(rs[1].cluster_name, "dgx-b200");
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
  // The script's name alone says it too (the B200 rows: "all_reduce_bench.py on 1x and 4x AWS
  // P6-B200 nodes"); a table naming neither is nccl-tests.
  json k = j;
  k["source"]["table"] = "all_reduce_bench.py on 1x and 4x AWS P6-B200 nodes";
  EXPECT_EQ(MapRecord(k).collective.harness, costmodel::Harness::kTorchDistributed);
  k["source"]["table"] = "collective comparison 16GiB";
  EXPECT_EQ(MapRecord(k).collective.harness, costmodel::Harness::kNcclTests);
}

}  // namespace
}  // namespace meshplan::plans

namespace meshplan::plans {
namespace {

// The residual split recovers a rate and a fixed cost per layer pass that generated the
// measurements (measured = 1.2 x predicted + 2 ms x passes, by hand), leaves no error after, and
// says when the two cannot be told apart.
TEST(ResidualSplit, RecoversTheRateAndTheFixedCostThatMadeTheMeasurements) {
  std::vector<StepResidual> rows;
  const double preds[] = {0.5, 1.0, 2.0, 4.0, 0.25};
  const double passes[] = {96, 48, 480, 120, 400};
  for (int i = 0; i < 5; ++i) rows.push_back({preds[i], 1.2 * preds[i] + 0.002 * passes[i], passes[i]});
  const ResidualSplit s = SplitStepResiduals(rows);
  EXPECT_EQ(s.n, 5);
  ASSERT_TRUE(s.separable);
  EXPECT_NEAR(s.rate, 1.2, 1e-9);
  EXPECT_NEAR(s.fixed_s, 0.002, 1e-12);
  EXPECT_NEAR(s.mape_after_pct, 0.0, 1e-7);
  // MAPE before, by hand: |p - m| / m for each row.
  double before = 0;
  for (const StepResidual& r : rows) before += std::fabs(r.predicted_s - r.measured_s) / r.measured_s;
  EXPECT_NEAR(s.mape_pct, 100.0 * before / 5.0, 1e-9);
  // Every record with the same passes per predicted second: rate and fixed cost are one column.
  std::vector<StepResidual> same;
  for (int i = 0; i < 5; ++i) same.push_back({preds[i], 1.5 * preds[i], 100.0 * preds[i]});
  EXPECT_FALSE(SplitStepResiduals(same).separable);
  // Fewer than 3 records: no split.
  rows.resize(2);
  EXPECT_FALSE(SplitStepResiduals(rows).separable);
  EXPECT_EQ(SplitStepResiduals({}).n, 0);
}

// The scale trend, by hand. Group "a" (8, 16, 32 GPUs at -1, -3, -5%) and group "b" (64 and 256
// GPUs at 0 and -4%) each lose 2 points per doubling about their own means (a: log2 3, 4, 5 about
// 4 and errors about -3: sxy = -4, sxx = 2; b: log2 6, 8 about 7 and errors about -2: sxy = -4,
// sxx = 2), so the pooled slope is -8 / 4 = -2 whatever the groups' own biases. A shape run at
// one GPU count says nothing about scale and is left out, however far off it is; so are two
// shapes each at one count, which differ in their work, not only in their size.
TEST(ScaleTrend, PoolsTheSlopeWithinGroupsOfTheSameWorkPerGpu) {
  std::vector<ScaledStep> rows = {{"a", 8, -1.0}, {"a", 16, -3.0}, {"a", 32, -5.0},
                                  {"b", 64, 0.0}, {"b", 256, -4.0}, {"c", 2048, +40.0}};
  const ScaleTrend t = FitScaleTrend(rows);
  ASSERT_TRUE(t.defined);
  EXPECT_EQ(t.groups, 2);
  EXPECT_EQ(t.rows, 5);
  EXPECT_EQ(t.min_gpus, 8);
  EXPECT_EQ(t.max_gpus, 256);
  EXPECT_NEAR(t.pooled_slope_pct_per_doubling, -2.0, 1e-12);
  EXPECT_NEAR(t.median_slope_pct_per_doubling, -2.0, 1e-12);
  // Shifting one group's errors (its shape's own bias) leaves the slopes alone.
  for (ScaledStep& r : rows) {
    if (r.work == "b") r.error_pct += 30.0;
  }
  EXPECT_NEAR(FitScaleTrend(rows).pooled_slope_pct_per_doubling, -2.0, 1e-12);
  // A third group with one odd run (d: 32 GPUs at -23%, 64 and 128 at -6 and -7%: about log2 6
  // and -12, sxy = (-1)(-11) + 0 + (1)(5) = 16, sxx = 2, its own slope +8) pulls the pooled slope
  // to (-4 - 4 + 16) / (2 + 2 + 2) = +4/3 but the median of -2, -2, +8 stays at -2.
  rows.insert(rows.end(), {{"d", 32, -23.0}, {"d", 64, -6.0}, {"d", 128, -7.0}});
  const ScaleTrend odd = FitScaleTrend(rows);
  EXPECT_EQ(odd.groups, 3);
  EXPECT_NEAR(odd.pooled_slope_pct_per_doubling, 4.0 / 3.0, 1e-12);
  EXPECT_NEAR(odd.median_slope_pct_per_doubling, -2.0, 1e-12);
  // One group is not a trend; shapes at one GPU count each are no group.
  EXPECT_FALSE(FitScaleTrend({{"a", 8, -1.0}, {"a", 16, -3.0}}).defined);
  const ScaleTrend apart = FitScaleTrend({{"x", 8, -20.0}, {"y", 512, +20.0}});
  EXPECT_FALSE(apart.defined);
  EXPECT_EQ(apart.groups, 0);
}

}  // namespace
}  // namespace meshplan::plans
