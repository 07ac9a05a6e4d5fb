// Mixture-of-experts and MLA models: HF import of each family, exact parameter counts (total
// and active) against hand counts written out here and the published figures, FLOPs per token,
// the model JSON round trip, and the cost model's refusal to price what it does not model.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "costmodel/costable.h"
#include "costmodel/error.h"
#include "costmodel/evaluate.h"
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
  EXPECT_EQ(WhyNotCostable(m, 4096).reason.rfind("model gpt-oss-20b is a mixture of experts (32 experts, top-4)", 0), 0u);
  Model dense = m;
  dense.moe = Moe{};
  EXPECT_EQ(WhyNotCostable(dense, 64).reason.rfind("model gpt-oss-20b has attention sinks", 0), 0u);
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

TEST(Costable, MoeIsRefusedNeverPricedAsDense) {
  const Cluster c = ResolveCluster("dgx-a100-80g");
  EXPECT_EQ(ErrorOf([&] { const Evaluator ev(Hf("mixtral-8x7b-v0.1.json"), c, Work(4096)); }),
            "--model: model mixtral-8x7b-v0.1 is a mixture of experts (8 experts, top-2): expert "
            "parallelism and MoE routing are not modelled yet, so it is not costed (meshplan inspect "
            "gives its parameters and FLOPs)");
  EXPECT_EQ(WhyNotCostable(ResolveModel("deepseek-v3"), 4096).reason.rfind(
                "model deepseek-v3 is a mixture of experts (256 experts, top-8, 1 shared): expert "
                "parallelism and MoE routing are not modelled yet", 0),
            0u);
  // MLA alone (no experts) is refused for its attention.
  Model mla = ResolveModel("deepseek-v3");
  mla.moe = Moe{};
  EXPECT_EQ(WhyNotCostable(mla, 4096).reason.rfind(
                "model deepseek-v3 uses multi-head latent attention (MLA): not modelled yet", 0),
            0u);
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

// calibrate: a measurement file whose embedded model is an MoE is refused, not fitted as dense.
TEST(Costable, MeasurementOfAnMoeStepIsRefused) {
  nlohmann::json m = nlohmann::json::parse(R"({"schema_version": 1, "command": "validate",
    "plan": {"model": "mixtral-8x7b", "cluster": "cpu-local", "gpus": 4, "global_batch": 4, "seq": 128,
             "layout": {"tp": 2, "sp": true, "fsdp": 2, "replicate": 1, "zero": 3, "mbs": 1,
                        "recompute": "none", "recipe": "fsdp2", "pp": 1, "cp": 1}},
    "collectives": [], "gemms": [], "step": {"time_s": 0.3, "peak_memory_bytes": 2.6e7}})");
  m["plan"]["model_spec"] = ToJson(ResolveModel("mixtral-8x7b"));
  CalibrationInputs in;
  EXPECT_EQ(ErrorOf([&] { AddMeasurements(m.dump(), "m.json", ResolveCluster("cpu-local"), in); }).substr(0, 86),
            "m.json: plan.model_spec: model mixtral-8x7b is a mixture of experts (8 experts, top-2)");
  EXPECT_TRUE(in.steps.empty());
}

}  // namespace
}  // namespace meshplan::costmodel
