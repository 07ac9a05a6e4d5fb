// Mixture-of-experts and MLA models: HF import of each family, exact parameter counts (total
// and active) against hand counts written out here and the published figures, FLOPs per token,
// the model JSON round trip, and the cost model's refusal to price what it does not model.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "costmodel/compute.h"
#include "costmodel/costable.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/experts.h"
#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/measurements.h"
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

std::string ReadTestFile(const std::string& rel) {
  return ReadFileText(std::string(MESHPLAN_TEST_DATA) + "/" + rel, "test");
}
Model Hf(const std::string& file) { return ParseAnyModelJson(ReadTestFile("hf/" + file), file); }
nlohmann::json HfJson(const std::string& file) {
  return nlohmann::json::parse(ReadTestFile("hf/" + file));
}

template <typename Fn>
std::string ErrorOf(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

// One SwiGLU MLP of width f on hidden h: gate, up, down.
constexpr int64_t Mlp(int64_t h, int64_t f) { return 3 * h * f; }

TEST(MoeParams, Mixtral8x7bTotalAndActiveByHand) {
  // h 4096, 32 layers, 32 heads + 8 KV heads of 128, 8 experts of 14336, top-2, vocab 32000.
  const int64_t attn = 4096LL * 4096 + 2 * 4096LL * 1024 + 4096LL * 4096;  // 41943040
  const int64_t layer = attn + 8 * Mlp(4096, 14336) + 4096 * 8 + 2 * 4096;  // + router + norms
  EXPECT_EQ(layer, 1451270144);
  const int64_t total = 32 * layer + 2 * 32000LL * 4096 + 4096;
  EXPECT_EQ(total, 46702792704);  // the safetensors total (issue 20)
  // Active: each layer uses 2 of its 8 experts -> Mistral AI's "12.9B active parameters".
  const int64_t active = total - 32 * 6 * Mlp(4096, 14336);
  EXPECT_EQ(active, 12879925248);
  const ParamCounts p = CountParams(Hf("mixtral-8x7b-v0.1.json"));
  EXPECT_EQ(p.total, total);
  EXPECT_EQ(p.per_layer, layer);
  EXPECT_EQ(p.moe_layers, 32);
  EXPECT_EQ(p.dense_layers, 0);
  EXPECT_EQ(p.active, active);
  EXPECT_EQ(p.active_non_embedding, active - 32000LL * 4096);
  EXPECT_EQ(CountParams(ResolveModel("mixtral-8x7b")).active, active);
}

TEST(MoeParams, DeepseekV3Reproduces671BTotalAnd37BActive) {
  // MLA (q_lora 1536, kv_lora 512, 128 heads of 128 nope + 64 rope, v 128) on h 7168:
  const int64_t mla = 7168LL * 1536 + 1536 + 1536LL * 128 * 192 + 7168LL * (512 + 64) + 512 +
                      512LL * 128 * (128 + 128) + 128LL * 128 * 7168;
  EXPECT_EQ(mla, 187107328);  // matmuls + q_a_layernorm + kv_a_layernorm
  const int64_t norms = 2 * 7168;
  const int64_t dense_layer = mla + norms + Mlp(7168, 18432);  // layers 0..2
  // 256 routed experts of 2048, 1 shared of 2048, router 256 x 7168 + e_score_correction_bias.
  const int64_t moe_layer = mla + norms + 256 * Mlp(7168, 2048) + Mlp(7168, 2048) + 256 * 7168 + 256;
  EXPECT_EQ(dense_layer, 583483392);
  EXPECT_EQ(moe_layer, 11507286272);
  const int64_t embed = 129280LL * 7168;
  const int64_t total = 3 * dense_layer + 58 * moe_layer + 2 * embed + 7168;
  EXPECT_EQ(total, 671026419200);  // "671B" (README_WEIGHTS.md), MTP module not included
  const int64_t active = total - 58 * (256 - 8) * Mlp(7168, 2048);
  EXPECT_EQ(active, 37552297472);
  // DeepSeek counts 36.6B activated "including 0.9B for the output head": without the input
  // embedding (a lookup), with the head.
  EXPECT_EQ(active - embed, 36625618432);
  const Model m = Hf("deepseek-v3.json");
  const ParamCounts p = CountParams(m);
  EXPECT_EQ(p.total, total);
  EXPECT_EQ(p.dense_per_layer, dense_layer);
  EXPECT_EQ(p.per_layer, moe_layer);
  EXPECT_EQ(p.dense_layers, 3);
  EXPECT_EQ(p.moe_layers, 58);
  EXPECT_EQ(p.active, active);
  EXPECT_EQ(p.active_non_embedding, active - embed);
  // The one MTP layer (num_nextn_predict_layers) is recorded, not counted.
  EXPECT_EQ(m.mtp_layers, 1);
  // The built-in model is the same model.
  const Model builtin = ResolveModel("deepseek-v3");
  EXPECT_EQ(CountParams(builtin).total, total);
  EXPECT_EQ(builtin.moe, m.moe);
  EXPECT_EQ(builtin.mla, m.mla);
}

TEST(MoeParams, DeepseekV2LiteFullRankQueries) {
  // q_lora_rank null: q_proj h x heads*(128+64); 16 heads on h 2048, kv_lora 512.
  const int64_t mla = 2048LL * 16 * 192 + 2048LL * (512 + 64) + 512 + 512LL * 16 * 256 + 16LL * 128 * 2048;
  EXPECT_EQ(mla, 13763072);
  const int64_t dense_layer = mla + 2 * 2048 + Mlp(2048, 10944);
  // 64 routed of 1408, 2 shared as one MLP of 2 x 1408, router 64 x 2048 (V2: no bias).
  const int64_t moe_layer = mla + 2 * 2048 + 64 * Mlp(2048, 1408) + Mlp(2048, 2 * 1408) + 64 * 2048;
  const int64_t embed = 102400LL * 2048;
  const int64_t total = dense_layer + 26 * moe_layer + 2 * embed + 2048;
  EXPECT_EQ(total, 15706484224);  // "15.7B total" (model card)
  const int64_t active = total - 26 * (64 - 6) * Mlp(2048, 1408);
  EXPECT_EQ(active - embed, 2451435008);  // "2.4B activated"
  const ParamCounts p = CountParams(Hf("deepseek-v2-lite.json"));
  EXPECT_EQ(p.total, total);
  EXPECT_EQ(p.active, active);
  EXPECT_EQ(p.active_non_embedding, active - embed);
}

TEST(MoeParams, Qwen3_30bA3bHasQkNormAndNoSharedExpert) {
  // 32 heads + 4 KV heads of 128 on h 2048; q_norm, k_norm of 128; 128 experts of 768, top-8.
  const int64_t attn = 2048LL * 32 * 128 + 2 * 2048LL * 4 * 128 + 32LL * 128 * 2048 + 2 * 128;
  const int64_t layer = attn + 2 * 2048 + 128 * Mlp(2048, 768) + 128 * 2048;
  EXPECT_EQ(layer, 623120640);
  EXPECT_EQ(48 * layer + 2048, 29909792768);  // "29.9B non-embedding" (model card)
  const int64_t total = 48 * layer + 2 * 151936LL * 2048 + 2048;
  EXPECT_EQ(total, 30532122624);  // "30.5B in total"
  const int64_t active = total - 48 * 120 * Mlp(2048, 768);
  EXPECT_EQ(active, 3353032704);  // "3.3B activated"
  const Model m = Hf("qwen3-30b-a3b.json");
  EXPECT_TRUE(m.qk_norm);
  EXPECT_EQ(m.moe.shared_experts, 0);
  EXPECT_EQ(m.sliding_window, 0);  // use_sliding_window false
  EXPECT_EQ(CountParams(m).total, total);
  EXPECT_EQ(CountParams(m).active, active);
}

TEST(MoeParams, Qwen15MoeA27bHasAGatedSharedExpert) {
  // 16 heads of 128 on h 2048 with q/k/v biases; 60 experts of 1408, top-4; one shared expert
  // of 5632 and its sigmoid gate 2048 x 1.
  const int64_t attn = 4 * 2048LL * 2048 + 3 * 2048;
  const int64_t layer = attn + 2 * 2048 + 60 * Mlp(2048, 1408) + Mlp(2048, 5632) + 60 * 2048 + 2048;
  const int64_t total = 24 * layer + 2 * 151936LL * 2048 + 2048;
  EXPECT_EQ(total, 14315784192);  // "14.3B"
  const int64_t active = total - 24 * 56 * Mlp(2048, 1408);
  EXPECT_EQ(active, 2689173504);  // "2.7B activated"
  const Model m = Hf("qwen1.5-moe-a2.7b.json");
  EXPECT_TRUE(m.moe.shared_expert_gate);
  EXPECT_TRUE(m.biases.qkv);
  EXPECT_FALSE(m.biases.attn_out);
  EXPECT_EQ(CountParams(m).total, total);
  EXPECT_EQ(CountParams(m).active, active);
}

TEST(MoeParams, ExpectedJsonActiveCounts) {
  const nlohmann::json expected = nlohmann::json::parse(ReadTestFile("hf/expected.json"));
  int checked = 0;
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    const ParamCounts p = CountParams(Hf(it.key()));
    if (it.value().contains("active")) {
      EXPECT_EQ(p.active, it.value()["active"].get<int64_t>()) << it.key();
      ++checked;
    } else {
      EXPECT_EQ(p.active, p.total) << it.key() << ": a dense model's active count is its total";
    }
    if (it.value().contains("active_non_embedding")) {
      EXPECT_EQ(p.active_non_embedding, it.value()["active_non_embedding"].get<int64_t>()) << it.key();
    }
  }
  EXPECT_EQ(checked, 6);
}

TEST(MoeFlops, MixtralIsSixTimesActiveMatmulsPlusAttention) {
  // Per layer: attention 41943040 + 2 experts 2*176160768 + router 4096*8; output head 32000*4096.
  const int64_t weights = 32 * (41943040LL + 2 * 176160768LL + 32768) + 32000LL * 4096;
  EXPECT_EQ(weights, 12748587008);
  const double attention = 12.0 * 32 * 32 * 128 * 4096;  // 12 L a d s
  EXPECT_DOUBLE_EQ(ModelFlopsPerToken(Hf("mixtral-8x7b-v0.1.json"), 4096), 6.0 * weights + attention);
}

TEST(MoeFlops, DeepseekV3UsesMlaShapes) {
  // MLA matmuls 187107328 less its two latent norms (1536 + 512) = 187105280 per layer.
  const int64_t dense = 187105280LL + 396361728LL;                      // + MLP 3*7168*18432
  const int64_t moe = 187105280LL + 9 * 44040192LL + 256 * 7168LL;     // 8 routed + 1 shared + router
  const int64_t weights = 3 * dense + 58 * moe + 129280LL * 7168;
  EXPECT_EQ(weights, 36624596992);
  // Attention: QK^T over 128+64 and AV over 128 per head: 6 L a (dqk + dv) s.
  const double attention = 6.0 * 61 * 128 * (192 + 128) * 4096;
  EXPECT_DOUBLE_EQ(ModelFlopsPerToken(Hf("deepseek-v3.json"), 4096), 6.0 * weights + attention);
}

TEST(MoeImport, FamiliesReadTheirKeys) {
  const Model v3 = Hf("deepseek-v3.json");
  EXPECT_EQ(v3.moe.experts, 256);
  EXPECT_EQ(v3.moe.experts_per_token, 8);
  EXPECT_EQ(v3.moe.shared_experts, 1);
  EXPECT_EQ(v3.moe.shared_expert_ffn, 2048);
  EXPECT_TRUE(v3.moe.router_bias);
  EXPECT_EQ(v3.moe.dense_layers, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(v3.mla, (Mla{1536, 512, 128, 64, 128}));
  EXPECT_EQ(v3.head_dim, 192);
  const Model lite = Hf("deepseek-v2-lite.json");
  EXPECT_EQ(lite.mla.q_lora_rank, 0);
  EXPECT_FALSE(lite.moe.router_bias);
  EXPECT_EQ(lite.moe.dense_layers, (std::vector<int64_t>{0}));
  // Qwen's mlp_only_layers and decoder_sparse_step pick the dense layers.
  nlohmann::json q = HfJson("qwen3-30b-a3b.json");
  q["mlp_only_layers"] = {0, 47};
  q["decoder_sparse_step"] = 2;  // layers 1, 3, 5, ... have experts
  const Model qm = ParseHfConfig(q.dump(), "q.json");
  EXPECT_EQ(qm.moe.moe_layers(48), 23);  // odd layers 1..45 (47 is mlp_only)
  EXPECT_EQ(CountParams(qm).dense_per_layer, 18874368 + 256 + 4096 + Mlp(2048, 6144));
}

TEST(MoeImport, SlidingWindowIsReadNeverIgnored) {
  EXPECT_EQ(Hf("mistral-7b-v0.1.json").sliding_window, 4096);
  EXPECT_EQ(Hf("phi-3-mini-4k-instruct.json").sliding_window, 2047);
  EXPECT_EQ(Hf("mixtral-8x7b-v0.1.json").sliding_window, 0);  // null
  EXPECT_EQ(Hf("qwen2-0.5b.json").sliding_window, 0);         // use_sliding_window false
  nlohmann::json q = HfJson("qwen2-0.5b.json");
  q["use_sliding_window"] = true;
  q["max_window_layers"] = 20;  // layers 20..23 windowed
  q["sliding_window"] = 1024;
  EXPECT_EQ(ParseHfConfig(q.dump(), "q.json").sliding_window, 1024);
  q["max_window_layers"] = 24;  // no layer windowed
  EXPECT_EQ(ParseHfConfig(q.dump(), "q.json").sliding_window, 0);
  nlohmann::json m = HfJson("mixtral-8x7b-v0.1.json");
  m["sliding_window"] = 4096;
  EXPECT_EQ(ParseHfConfig(m.dump(), "m.json").sliding_window, 4096);
}

TEST(MoeImport, ErrorsNameTheHfKeys) {
  nlohmann::json j = HfJson("deepseek-v3.json");
  j.erase("n_routed_experts");
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }), "c.json: n_routed_experts: missing (required)");
  j = HfJson("deepseek-v3.json");
  j["num_experts_per_tok"] = 300;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: num_experts_per_tok: must be in [1, n_routed_experts], got 300 (n_routed_experts is 256)");
  j = HfJson("mixtral-8x7b-v0.1.json");
  j["num_experts_per_tok"] = 9;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: num_experts_per_tok: must be in [1, num_local_experts], got 9 (num_local_experts is 8)");
  j = HfJson("qwen3-30b-a3b.json");
  j["num_experts"] = 1;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }), "c.json: num_experts: must be 0 (dense) or >= 2");
  j = HfJson("deepseek-v3.json");
  j["moe_layer_freq"] = 2;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: moe_layer_freq: only 1 is supported (HF transformers ignores it, DeepSeek's own "
            "modeling code does not: the two build different models)");
  j = HfJson("qwen3-30b-a3b.json");
  j["mlp_only_layers"] = {99};
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: mlp_only_layers: entry 0 must be a layer index in [0, num_hidden_layers), got 99");
  j = HfJson("qwen1.5-moe-a2.7b.json");
  j["use_sliding_window"] = true;
  j["sliding_window"] = nullptr;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: sliding_window: must be set when use_sliding_window is true");
  j = HfJson("qwen1.5-moe-a2.7b.json");
  j.erase("shared_expert_intermediate_size");
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: shared_expert_intermediate_size: missing (required)");
  // DeepSeek-V3.2's sparse-attention indexer is not DeepSeek-V3: an unknown key, not ignored.
  j = HfJson("deepseek-v3.json");
  j["index_topk"] = 2048;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: index_topk: unknown key for family 'deepseek_v3': meshplan cannot tell whether "
            "it changes the architecture");
  j = HfJson("gpt-oss-20b.json");
  j["layer_types"][3] = "chunked_attention";
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: layer_types: entry 3 must be \"sliding_attention\" or \"full_attention\", got \"chunked_attention\"");
  j = HfJson("gpt-oss-20b.json");
  j["experts_per_token"] = 2;
  EXPECT_EQ(ErrorOf([&] { ParseHfConfig(j.dump(), "c.json"); }),
            "c.json: experts_per_token: must equal num_experts_per_tok (4)");
}

TEST(MoeParams, GptOss20bHasSinksBiasesAndARouterBias) {
  // 64 heads + 8 KV heads of 64 on h 2880, biases on q, k, v, o, one sink per head.
  const int64_t attn = 2880LL * 64 * 64 + 2 * 2880LL * 8 * 64 + 64LL * 64 * 2880 + (64 + 2 * 8) * 64 + 2880 + 64;
  // An expert: gate_up 2880 x 5760 + bias 5760, down 2880 x 2880 + bias 2880.
  const int64_t expert = 2880LL * 5760 + 5760 + 2880LL * 2880 + 2880;
  EXPECT_EQ(expert, 24891840);
  const int64_t layer = attn + 2 * 2880 + 32 * expert + 2880 * 32 + 32;
  const int64_t embed = 201088LL * 2880;
  const int64_t total = 24 * layer + 2 * embed + 2880;
  EXPECT_EQ(total, 20914757184);  // "20.9B"
  const int64_t active = total - 24 * 28 * expert;
  EXPECT_EQ(active - embed, 3608307264);  // "3.6B active"
  const Model m = Hf("gpt-oss-20b.json");
  EXPECT_TRUE(m.attention_sinks);
  EXPECT_EQ(m.sliding_window, 128);  // the even layers (layer_types)
  EXPECT_EQ(CountParams(m).total, total);
  EXPECT_EQ(CountParams(m).active, active);
  EXPECT_EQ(CountParams(m).active_non_embedding, active - embed);
  // Its experts are costed; its attention sinks are not, so it is refused for them.
  EXPECT_EQ(WhyNotCostable(m, 64).reason.rfind("model gpt-oss-20b has attention sinks", 0), 0u);
}

TEST(MoeModelJson, RoundTripsThroughToJson) {
  for (const char* f : {"deepseek-v3.json", "qwen1.5-moe-a2.7b.json", "qwen3-30b-a3b.json",
                        "mistral-7b-v0.1.json", "gpt-oss-20b.json"}) {
    const Model m = Hf(f);
    nlohmann::json j = ToJson(m);
    j["schema_version"] = 1;
    const Model back = ParseModelJson(j.dump(), "m.json");
    EXPECT_EQ(back.moe, m.moe) << f;
    EXPECT_EQ(back.mla, m.mla) << f;
    EXPECT_EQ(back.qk_norm, m.qk_norm) << f;
    EXPECT_EQ(back.attention_sinks, m.attention_sinks) << f;
    EXPECT_EQ(back.sliding_window, m.sliding_window) << f;
    EXPECT_EQ(back.mtp_layers, m.mtp_layers) << f;
    EXPECT_EQ(CountParams(back).total, CountParams(m).total) << f;
  }
  // A dense model's JSON carries no MoE/MLA extras (reports of dense models are unchanged).
  const nlohmann::json dense = ToJson(ResolveModel("llama2-7b"));
  EXPECT_FALSE(dense.contains("mla"));
  EXPECT_EQ(dense["moe"].size(), 3u);
}

TEST(MoeModelJson, BadFieldsAreErrors) {
  nlohmann::json j = nlohmann::json::parse(ReadFileText(DataDir() + "/models/deepseek-v3.json", "t"));
  j["moe"]["dense_layers"] = {2, 1};
  EXPECT_EQ(ErrorOf([&] { ParseModelJson(j.dump(), "m.json"); }),
            "m.json: moe.dense_layers[1]: must be ascending layer indices in [0, layers), got 1");
  j["moe"]["dense_layers"] = {0};
  j["moe"]["shared_experts"] = 0;
  EXPECT_EQ(ErrorOf([&] { ParseModelJson(j.dump(), "m.json"); }),
            "m.json: moe.shared_expert_ffn: must be >= 1 exactly when shared_experts is >= 1");
  j["moe"]["shared_experts"] = 1;
  j["head_dim"] = 128;
  EXPECT_EQ(ErrorOf([&] { ParseModelJson(j.dump(), "m.json"); }),
            "m.json: head_dim: must be mla.qk_nope_head_dim + mla.qk_rope_head_dim (192) for MLA, got 128");
  j["head_dim"] = 192;
  nlohmann::json dense = j;
  dense["moe"] = {{"experts", 0}, {"experts_per_token", 0}, {"expert_ffn", 0}, {"router_bias", true}};
  EXPECT_EQ(ErrorOf([&] { ParseModelJson(dense.dump(), "m.json"); }),
            "m.json: moe: a dense model (experts 0) has no shared experts, router bias or dense_layers");
  j["mla"]["kv_lora_rank"] = 0;
  EXPECT_EQ(ErrorOf([&] { ParseModelJson(j.dump(), "m.json"); }),
            "m.json: mla.kv_lora_rank: must be an integer >= 1, got 0");
}

Workload Work(int64_t seq) {
  Workload w;
  w.gpus = 64;
  w.global_batch = 512;
  w.seq = seq;
  return w;
}

TEST(Costable, MoeAndMlaAreCostedSinksAreRefused) {
  const Cluster c = ResolveCluster("dgx-a100-80g");
  EXPECT_NO_THROW({ const Evaluator ev(Hf("mixtral-8x7b-v0.1.json"), c, Work(4096)); });
  EXPECT_TRUE(WhyNotCostable(Hf("qwen1.5-moe-a2.7b.json"), 4096).ok());  // shared experts
  EXPECT_TRUE(WhyNotCostable(Hf("qwen3-30b-a3b.json"), 4096).ok());       // q/k norms
  EXPECT_TRUE(WhyNotCostable(ResolveModel("deepseek-v3"), 4096).ok());    // MLA, dense first layers
  EXPECT_EQ(WhyNotCostable(Hf("gpt-oss-20b.json"), 64).reason.rfind("model gpt-oss-20b has attention sinks", 0), 0u);
  EXPECT_TRUE(WhyNotCostable(ResolveModel("llama2-7b"), 4096).ok());
}

TEST(Costable, SlidingWindowIsCostedUpToTheWindowOnly) {
  const Cluster c = ResolveCluster("dgx-h100");
  const Model mistral = Hf("mistral-7b-v0.1.json");
  EXPECT_NO_THROW({ const Evaluator ev(mistral, c, Work(4096)); });  // the window covers seq
  EXPECT_EQ(ErrorOf([&] { const Evaluator ev(mistral, c, Work(8192)); }),
            "--seq: model mistral-7b-v0.1 uses sliding-window attention of 4096 tokens (HF "
            "sliding_window) and the sequence is 8192 tokens: sliding-window attention is not "
            "modelled; give a sequence of at most 4096 tokens");
}

// calibrate: a measurement file whose embedded model is an MoE is priced as one (experts.h),
// never as a dense model; meshplan-validate does not run MoE plans yet (runner.cc refuses them).
TEST(Costable, MeasurementOfAnMoeStepIsPricedAsMoe) {
  nlohmann::json m = nlohmann::json::parse(R"({"schema_version": 1, "command": "validate",
    "plan": {"model": "mixtral-8x7b", "cluster": "cpu-local", "gpus": 4, "global_batch": 4, "seq": 128,
             "layout": {"tp": 2, "sp": true, "fsdp": 2, "replicate": 1, "zero": 3, "mbs": 1,
                        "recompute": "none", "recipe": "fsdp2", "pp": 1, "cp": 1}},
    "collectives": [], "gemms": [], "step": {"time_s": 0.3, "peak_memory_bytes": 2.6e7}})");
  m["plan"]["model_spec"] = ToJson(ResolveModel("mixtral-8x7b"));
  CalibrationInputs in;
  AddMeasurements(m.dump(), "m.json", ResolveCluster("cpu-local"), in);
  ASSERT_EQ(in.steps.size(), 1u);
  EXPECT_EQ(in.steps[0].model.moe.experts, 8);
}


// ---------------------------------------------------------------------------------------------
// Expert parallelism (experts.h): routing, parameters per rank, the exchange, feasibility.

Layout Lay(const std::string& text, const Workload& w) {
  Layout l = ParseLayoutText(text, "test");
  ResolveLayout(l, w, "test");
  return l;
}

// Hand counts for Mixtral-8x7B (8 experts, top-2), one sequence of 4096 tokens per micro-batch.
TEST(MoeRouting, TokensPerExpertByHand) {
  const Model m = ResolveModel("mixtral-8x7b");
  Workload w = Work(4096);
  // tp 1, ep 4: 4096 tokens, 8192 copies sent; the rank's 2 experts compute 8192 rows, 4096 each.
  MoeRouting r = RouteTokens(m, w, Lay("tp=1,fsdp=64,ep=4", w));
  EXPECT_EQ(r.local_experts, 2);
  EXPECT_DOUBLE_EQ(r.tokens_in, 4096);
  EXPECT_DOUBLE_EQ(r.sent_copies, 8192);
  EXPECT_DOUBLE_EQ(r.expert_rows, 8192);
  EXPECT_EQ(r.rows_per_expert, 4096);
  // tp 2 with SP: each TP rank routes its 2048-token shard (4096 copies) and, after the TP
  // all-gather, computes its TP shard of the experts for all 8192 copies of the TP group.
  r = RouteTokens(m, w, Lay("tp=2,sp=on,fsdp=32,ep=4", w));
  EXPECT_DOUBLE_EQ(r.tokens_in, 2048);
  EXPECT_DOUBLE_EQ(r.sent_copies, 4096);
  EXPECT_DOUBLE_EQ(r.expert_rows, 8192);
  EXPECT_EQ(r.rows_per_expert, 4096);
  // Capacity 1.25, padded: each source rank sends ceil(4096 x 2 x 1.25 / 8) = 1280 per expert,
  // and an expert receives them from the 4 ranks of its ep group: 5120 rows.
  w.moe_capacity_factor = 1.25;
  w.moe_pad_to_capacity = true;
  r = RouteTokens(m, w, Lay("tp=1,fsdp=64,ep=4", w));
  EXPECT_EQ(r.rows_per_expert, 5120);
  EXPECT_DOUBLE_EQ(r.sent_copies, 8192 * 1.25);
  // Dropless with the busiest rank at 1.5x: 12288 copies over 2 experts.
  w.moe_capacity_factor = 0;
  w.moe_pad_to_capacity = false;
  w.moe_imbalance = 1.5;
  r = RouteTokens(m, w, Lay("tp=1,fsdp=64,ep=4", w));
  EXPECT_EQ(r.rows_per_expert, 6144);
  // A capacity below the imbalance caps it (tokens beyond capacity are dropped).
  w.moe_capacity_factor = 1.25;
  EXPECT_DOUBLE_EQ(MoeLoadFactor(w), 1.25);
}

// Mixtral's layer on one TP rank: attention 4096 x (32 + 2 x 8) x 128 + 32 x 128 x 4096 =
// 41,943,040, router 4096 x 8, two RMSNorms 2 x 4096: 41,984,000; routed experts
// 8 x 3 x 4096 x 14336 = 1,409,286,144, halved by tp 2.
TEST(MoeParams, PerTpRankSplitsTheRoutedExperts) {
  const Model m = ResolveModel("mixtral-8x7b");
  const TpShardParams p1 = ParamsPerTpRank(m, 1);
  EXPECT_DOUBLE_EQ(p1.layer, 41984000.0);
  EXPECT_DOUBLE_EQ(p1.expert, 1409286144.0);
  EXPECT_DOUBLE_EQ(p1.total(32), static_cast<double>(CountParams(m).total));  // 46,702,792,704
  EXPECT_DOUBLE_EQ(p1.LayerOnRank(8), 41984000.0 + 1409286144.0 / 8);
  EXPECT_DOUBLE_EQ(ParamsPerTpRank(m, 2).expert, 1409286144.0 / 2);
  // A dense model has no expert part.
  EXPECT_EQ(ParamsPerTpRank(ResolveModel("llama2-7b"), 1).expert, 0.0);
}

TEST(MoeLayerKernels, RouterGroupedExpertsAndPermutation) {
  const Model m = ResolveModel("mixtral-8x7b");
  const Workload w = Work(4096);
  const LayerKernels k = LayerKernelsFor(m, w, Lay("tp=1,fsdp=64,ep=4", w));
  auto gemm = [&](std::string_view name) {
    for (int i = 0; i < k.num_gemms; ++i) {
      if (k.gemms[static_cast<size_t>(i)].name == name) return k.gemms[static_cast<size_t>(i)];
    }
    ADD_FAILURE() << "no gemm " << name;
    return GemmShape{};
  };
  const GemmShape router = gemm("router"), in = gemm("mlp_in"), out = gemm("mlp_out");
  EXPECT_EQ(router.m, 4096);
  EXPECT_EQ(router.n, 8);
  EXPECT_EQ(router.k, 4096);
  // The rank's 2 experts as one grouped GEMM of 4096 rows each: gate+up, then down.
  EXPECT_EQ(in.m, 4096);
  EXPECT_EQ(in.n, 2 * 14336);
  EXPECT_EQ(in.k, 4096);
  EXPECT_EQ(in.batch, 2);
  EXPECT_EQ(out.n, 4096);
  EXPECT_EQ(out.k, 14336);
  EXPECT_EQ(out.batch, 2);
  bool permute = false;
  for (int i = 0; i < k.num_memory; ++i) {
    const MemoryKernel& mk = k.memory[static_cast<size_t>(i)];
    if (mk.name != "moe_permute") continue;
    permute = true;
    EXPECT_DOUBLE_EQ(mk.bytes, 4.0 * 8192 * 4096);  // read + write a bf16 vector per copy
    EXPECT_EQ(mk.count, 2);                          // permute and unpermute
  }
  EXPECT_TRUE(permute);
  // Two experts on the rank: the 2 x 4096 rows it received are sorted by expert before them and
  // restored after (Megatron-Core's permutation 2), a read and a write of each 4096-wide bf16 row.
  const MemoryKernel* sort = k.MemoryNamed("moe_sort");
  ASSERT_NE(sort, nullptr);
  EXPECT_DOUBLE_EQ(sort->bytes, 4.0 * 8192 * 4096);
  EXPECT_EQ(sort->count, 2);  // sort and unsort
  EXPECT_DOUBLE_EQ(sort->backward_bytes, 4.0 * 8192 * 4096);
  EXPECT_EQ(sort->backward_count, 2);
  // One expert per rank (ep 8 of 8 experts): nothing to sort.
  EXPECT_EQ(LayerKernelsFor(m, w, Lay("tp=1,fsdp=64,ep=8", w)).MemoryNamed("moe_sort"), nullptr);
  // Expert GEMM FLOPs per micro-batch equal the active experts' work: 2 x 8192 copies x 3 x
  // 4096 x 14336 over the rank's two experts (ep 4 spreads the ep group's 4 x 8192 over 8).
  EXPECT_DOUBLE_EQ(2.0 * in.m * in.n * in.k * in.batch + 2.0 * out.m * out.n * out.k * out.batch,
                   2.0 * 8192 * 3 * 4096 * 14336);
}

// Megatron-Core's SequentialMLP (Workload::moe_sequential; experts.py @329baac): the rank's 2
// Mixtral experts at ep 4 run one after another, each its own GEMMs at its own tile waves, its
// own activation launch, and their outputs copied into place (a read and a write of each of the
// 2 x 4096 rows of 4096 bf16 values, forward and backward). One expert per rank: called directly.
TEST(MoeLayerKernels, SequentialExpertsLaunchOneByOne) {
  const Model m = ResolveModel("mixtral-8x7b");
  Workload w = Work(4096);
  w.moe_sequential = true;
  const Layout l = Lay("tp=1,fsdp=64,ep=4", w);
  const LayerKernels k = LayerKernelsFor(m, w, l);
  int sequential = 0;
  for (int i = 0; i < k.num_gemms; ++i) {
    const GemmShape& g = k.gemms[static_cast<size_t>(i)];
    if (g.name == "mlp_in" || g.name == "mlp_out") {
      EXPECT_TRUE(g.sequential) << g.name;
      EXPECT_EQ(g.batch, 2);
      ++sequential;
    } else {
      EXPECT_FALSE(g.sequential) << g.name;
    }
  }
  EXPECT_EQ(sequential, 2);
  const MemoryKernel* copy = k.MemoryNamed("moe_sequential");
  ASSERT_NE(copy, nullptr);
  EXPECT_DOUBLE_EQ(copy->count * copy->bytes, 4.0 * 8192 * 4096);
  EXPECT_DOUBLE_EQ(copy->backward_count * copy->backward_bytes, 4.0 * 8192 * 4096);
  const MemoryKernel* act = k.MemoryNamed("activation");
  ASSERT_NE(act, nullptr);
  EXPECT_EQ(act->count, 2);  // one per expert (grouped: one)
  EXPECT_EQ(act->backward_count, 4);
  Workload grouped = Work(4096);
  const LayerKernels g = LayerKernelsFor(m, grouped, l);
  EXPECT_EQ(g.MemoryNamed("moe_sequential"), nullptr);
  EXPECT_EQ(g.MemoryNamed("activation")->count, 1);
  EXPECT_DOUBLE_EQ(act->count * act->bytes, g.MemoryNamed("activation")->bytes);
  EXPECT_EQ(LayerKernelsFor(m, w, Lay("tp=1,fsdp=64,ep=8", w)).MemoryNamed("moe_sequential"), nullptr);
  // Priced: the layer's forward compute grows by each GEMM run twice at batch 1 in place of once
  // at batch 2, one more activation launch and the copy.
  const Cluster c = ResolveCluster("dgx-h100");
  const ComputeParams p = ComputeParamsFor(c, w.gpus);  // the job's slowest GPU, as the evaluator
  const Evaluator es(m, c, w), eg(m, c, grouped);
  double gemms = 0;
  for (const auto& [gm, gn, gk] : {std::array<int64_t, 3>{4096, 2 * 14336, 4096}, std::array<int64_t, 3>{4096, 4096, 14336}}) {
    gemms += 2.0 * GemmTime(p, gm, gn, gk, 1).time_s - GemmTime(p, gm, gn, gk, 2).time_s;
  }
  const double act_bytes = 3.0 * 2.0 * 8192 * 14336;  // SwiGLU: read 2, write 1, bf16
  const double extra = gemms + 2.0 * MemoryBoundTime(p, act_bytes / 2.0) - MemoryBoundTime(p, act_bytes) +
                       MemoryBoundTime(p, 4.0 * 8192 * 4096);
  EXPECT_GT(gemms, 0.0);
  EXPECT_NEAR(es.Evaluate(l).parts.layer_fwd_compute_s - eg.Evaluate(l).parts.layer_fwd_compute_s, extra, 1e-12);
  // FP8 (TE delayed scaling: one cast launch per operand): each of the 2 experts' Linears casts
  // its own input forward and its own output gradient backward, so the two expert GEMMs launch
  // 2 casts each where the grouped GEMM launches 1; the bytes are the same.
  for (Workload* x : {&w, &grouped}) x->precision = Precision::kFp8;
  const LayerKernels s8 = LayerKernelsFor(m, w, l), g8 = LayerKernelsFor(m, grouped, l);
  EXPECT_EQ(s8.fp8_cast_fwd_launches - g8.fp8_cast_fwd_launches, 2);
  EXPECT_EQ(s8.fp8_cast_bwd_launches - g8.fp8_cast_bwd_launches, 2);
  EXPECT_EQ(s8.fp8_weight_launches - g8.fp8_weight_launches, 2);
  EXPECT_DOUBLE_EQ(s8.fp8_cast_fwd_bytes, g8.fp8_cast_fwd_bytes);
  EXPECT_DOUBLE_EQ(s8.fp8_cast_bwd_bytes, g8.fp8_cast_bwd_bytes);
}

TEST(MoeStep, ExchangeIsListedAndThePartsAddUp) {
  const Model m = ResolveModel("mixtral-8x7b");
  const Cluster c = ResolveCluster("dgx-h100");
  const Workload w = Work(4096);
  const Evaluator ev(m, c, w);
  const Layout l8 = Lay("tp=1,fsdp=64,zero=1,recipe=megatron,ep=8", w);
  const Evaluation e = ev.Evaluate(l8);
  // (Infeasible for memory at 85.5 GiB: priced all the same.)
  EXPECT_EQ(e.reasons, static_cast<uint32_t>(kReasonMemory));
  // Dispatch and combine: each rank sends its 8192 copies of a 4096-wide bf16 vector,
  // 2 x 8192 x 4096 = 67,108,864 bytes, to the 8 ranks of one node; per MoE layer and
  // micro-batch once forward and once backward: 8 micro-batches x 32 layers x 2 = 512 per step.
  int a2a = 0;
  for (int i = 0; i < e.num_collectives; ++i) {
    const CollectiveUse& u = e.collectives[static_cast<size_t>(i)];
    if (u.op != Coll::kAllToAll) continue;
    ++a2a;
    EXPECT_TRUE(u.purpose == Purpose::kEpDispatch || u.purpose == Purpose::kEpCombine);
    EXPECT_DOUBLE_EQ(u.bytes, 67108864.0);
    EXPECT_EQ(u.group.ranks, 8);
    EXPECT_EQ(u.group.nodes, 1);
    EXPECT_DOUBLE_EQ(u.count_per_step, 512.0);
    EXPECT_DOUBLE_EQ(u.cost.time_s, AllToAllTime(LinkParamsFor(c), u.group, u.bytes).time_s);
  }
  EXPECT_EQ(a2a, 2);
  const TimeBreakdown& t = e.time;
  EXPECT_GT(t.exposed_ep_comm_s, 0.0);
  EXPECT_NEAR(t.step_s, t.compute_s + t.exposed_tp_comm_s + t.exposed_cp_comm_s + t.exposed_ep_comm_s +
                            t.exposed_fsdp_comm_s + t.exposed_dp_comm_s + t.optimizer_s,
              1e-12);
  // Four all-to-alls per layer and micro-batch (dispatch + combine, forward and backward).
  const double a2a_s = AllToAllTime(LinkParamsFor(c), Group{8, 1}, 67108864.0).time_s;
  EXPECT_NEAR(t.exposed_ep_comm_s, 8 * 32 * 4 * a2a_s, 1e-9);
  // Memory: the rank holds 1 of the 8 experts (ep 8), their states sharded over the 8 ranks of
  // the expert-data-parallel group; the rest over all 64 (Megatron: bf16 params replicated,
  // fp32 grads replicated, 12 B of optimizer state sharded).
  const TpShardParams p = ParamsPerTpRank(m, 1);
  const double dense = p.layer * 32 + p.embedding + p.head, expert = p.expert * 32 / 8;
  EXPECT_NEAR(e.memory.params_bytes, 2.0 * (dense + expert), 1.0);
  EXPECT_NEAR(e.memory.grads_bytes, 4.0 * (dense + expert), 1.0);
  EXPECT_NEAR(e.memory.optimizer_bytes, 12.0 * dense / 64 + 12.0 * expert / 8, 1.0);
  // Without expert parallelism (tp 1) there is no exchange, and every expert is on every rank.
  const Evaluation e1 = ev.Evaluate(Lay("tp=1,fsdp=64,zero=1,recipe=megatron", w));
  EXPECT_EQ(e1.time.exposed_ep_comm_s, 0.0);
  EXPECT_GT(e1.memory.params_bytes, e.memory.params_bytes + 2.0 * p.expert * 32 * 0.8);
}

TEST(MoeFeasibility, SaysWhyInOneSentence) {
  const Cluster c = ResolveCluster("dgx-h100");
  const Workload w = Work(4096);
  const Evaluator ev(ResolveModel("mixtral-8x7b"), c, w);
  auto reasons = [&](const std::string& text) {
    const Layout l = Lay(text, w);
    const Evaluation e = ev.Evaluate(l);
    std::string all;
    for (const std::string& r : ev.Reasons(l, e)) all += r + "\n";
    return std::make_pair(e.reasons, all);
  };
  auto [bits, text] = reasons("tp=1,fsdp=64,ep=3");
  EXPECT_TRUE(bits & kReasonDivisibility);
  EXPECT_NE(text.find("ep 3 does not divide fsdp x cp = 64 (expert parallelism is carved out of the data x context group)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("ep 3 does not divide the model's 8 experts"), std::string::npos) << text;
  std::tie(bits, text) = reasons("tp=2,sp=off,fsdp=32,ep=2");
  EXPECT_TRUE(bits & kReasonExpert);
  EXPECT_NE(text.find("ep 2 with tp 2 needs sp=on (Megatron-LM requires sequence parallelism with expert and tensor parallelism)"),
            std::string::npos) << text;
  const Evaluator dense(ResolveModel("llama2-7b"), c, w);
  const Layout l = Lay("tp=1,fsdp=64,ep=2", w);
  const Evaluation e = dense.Evaluate(l);
  EXPECT_EQ(e.reasons, static_cast<uint32_t>(kReasonExpert));
  EXPECT_EQ(dense.Reasons(l, e), std::vector<std::string>{"ep 2 needs a mixture-of-experts model; llama2-7b is dense"});
  EXPECT_EQ(ReasonCodeName(6), "expert");
}

// A layout's ep round-trips through its text and JSON forms; a dense layout's text has no ep.
TEST(MoeLayoutText, EpRoundTrips) {
  const Workload w = Work(4096);
  const Layout l = Lay("tp=2,sp=on,fsdp=32,ep=8", w);
  EXPECT_EQ(l.ep, 8);
  EXPECT_EQ(LayoutToText(l), "tp=2,sp=on,fsdp=32,replicate=1,zero=3,mbs=1,recompute=none,recipe=fsdp2,ep=8");
  EXPECT_EQ(LayoutFromJson(ToJson(l), "t"), l);
  EXPECT_EQ(LayoutToText(Lay("tp=2,sp=on,fsdp=32", w)).find("ep="), std::string::npos);
  EXPECT_EQ(ErrorOf([&] { ParseLayoutText("tp=1,ep=0", "--layout"); }).rfind("--layout: ep", 0), 0u);
}


// MLA per TP rank (kernels.cc, Megatron-Core MLASelfAttention): DeepSeek-V3 at tp 8, by hand:
// q_down 7168 x 1536 = 11,010,048 and kv_down 7168 x (512 + 64) = 4,128,768 duplicated;
// q_up 1536 x 128 x 192 / 8 = 4,718,592, kv_up 512 x 128 x (128 + 128) / 8 = 2,097,152 and
// o_proj 128 x 128 x 7168 / 8 = 14,680,064 split; the latent norms 1536 + 512 whole:
// 36,636,672. A dense variant (ffn 18432) adds two RMSNorms (14,336) and its MLP
// 3 x 7168 x 18432 / 8 = 49,545,216.
TEST(MlaParams, PerTpRankByHand) {
  const Model v3 = ResolveModel("deepseek-v3");
  EXPECT_DOUBLE_EQ(ParamsPerTpRank(v3, 1).total(v3.layers), static_cast<double>(CountParams(v3).total));
  Model dense = v3;
  dense.moe = Moe{};
  EXPECT_DOUBLE_EQ(ParamsPerTpRank(dense, 8).layer, 36636672.0 + 14336.0 + 49545216.0);
  EXPECT_DOUBLE_EQ(ParamsPerTpRank(dense, 1).total(dense.layers), static_cast<double>(CountParams(dense).total));
}

TEST(MlaKernels, LatentProjectionsAndTheAttentionCore) {
  const Model v3 = ResolveModel("deepseek-v3");
  Workload w = Work(4096);
  w.gpus = 64;
  const LayerKernels k = LayerKernelsFor(v3, w, Lay("tp=8,sp=on,fsdp=8", w));
  std::map<std::string, GemmShape> g;
  for (int i = 0; i < k.num_gemms; ++i) g[std::string(k.gemms[static_cast<size_t>(i)].name)] = k.gemms[static_cast<size_t>(i)];
  auto shape = [&](const char* n) { return std::make_tuple(g[n].m, g[n].n, g[n].k); };
  EXPECT_EQ(shape("q_down"), std::make_tuple(int64_t{4096}, int64_t{1536}, int64_t{7168}));
  EXPECT_EQ(shape("q_up"), std::make_tuple(int64_t{4096}, int64_t{16 * 192}, int64_t{1536}));
  EXPECT_EQ(shape("kv_down"), std::make_tuple(int64_t{4096}, int64_t{576}, int64_t{7168}));
  EXPECT_EQ(shape("kv_up"), std::make_tuple(int64_t{4096}, int64_t{16 * 256}, int64_t{512}));
  EXPECT_EQ(shape("attn_out"), std::make_tuple(int64_t{4096}, int64_t{7168}, int64_t{16 * 128}));
  EXPECT_EQ(g.count("qkv"), 0u);
  // Causal flash forward: 2 s^2 (192 + 128) / 2 per local head, 16 of them.
  EXPECT_DOUBLE_EQ(k.flash_fwd_flops, 2.0 * 4096 * 4096 * 16 * (192 + 128) * 0.5);
  // Context parallelism of MLA is refused by name, not priced as GQA.
  const Evaluator ev(v3, ResolveCluster("dgx-h100"), w);
  const Layout cp = Lay("tp=8,sp=on,fsdp=4,cp=2", w);
  const Evaluation e = ev.Evaluate(cp);
  EXPECT_TRUE(e.reasons & kReasonContext);
  EXPECT_EQ(ev.Reasons(cp, e).back(), "cp 2: context parallelism of multi-head latent attention (MLA: keys and "
                                      "values of different widths, one shared RoPE key) is not modelled");
}

}  // namespace
}  // namespace meshplan::costmodel
