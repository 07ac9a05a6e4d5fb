#include "costmodel/params.h"

namespace meshplan::costmodel {
namespace {

/// The attention block's weights. MLA as HF transformers builds DeepseekV3Attention
/// (modeling_deepseek_v3.py, commit 00b676f8f0489b88652a31d70751cc540dd06305; DeepseekV2Attention
/// is the same): q_a_proj h x q_lora (bias = attention_bias), q_a_layernorm(q_lora), q_b_proj
/// q_lora x heads*(nope+rope) -- or q_proj h x heads*(nope+rope) without bias when q_lora_rank is
/// null --, kv_a_proj_with_mqa h x (kv_lora+rope) (bias = attention_bias),
/// kv_a_layernorm(kv_lora), kv_b_proj kv_lora x heads*(nope+v), o_proj heads*v x h (bias =
/// attention_bias).
void CountAttention(const Model& m, LayerParams& l) {
  const int64_t h = m.hidden, a = m.heads;
  l.attn_sinks = m.attention_sinks ? a : 0;  // GptOssAttention.sinks: nn.Parameter(heads)
  if (m.mla.enabled()) {
    const Mla& x = m.mla;
    const int64_t qk = x.qk_nope_head_dim + x.qk_rope_head_dim;
    const int64_t q = x.q_lora_rank > 0 ? h * x.q_lora_rank + x.q_lora_rank * a * qk : h * a * qk;
    l.attn_matmul = q + h * (x.kv_lora_rank + x.qk_rope_head_dim) +
                    x.kv_lora_rank * a * (x.qk_nope_head_dim + x.v_head_dim) + a * x.v_head_dim * h;
    l.attn_bias = (m.biases.qkv ? x.q_lora_rank + x.kv_lora_rank + x.qk_rope_head_dim : 0) +
                  (m.biases.attn_out ? h : 0);
    l.attn_norm = x.q_lora_rank + x.kv_lora_rank;
    return;
  }
  const int64_t g = m.kv_heads, d = m.head_dim;
  l.attn_matmul = h * (a * d) + 2 * h * (g * d) + (a * d) * h;
  l.attn_bias = (m.biases.qkv ? (a + 2 * g) * d : 0) + (m.biases.attn_out ? h : 0);
  l.attn_norm = m.qk_norm ? 2 * d : 0;  // Qwen3Attention q_norm, k_norm: RMSNorm(head_dim)
}

int64_t MlpMatmul(const Model& m, int64_t ffn) {
  return (m.activation == Activation::kSwiglu ? 3 : 2) * m.hidden * ffn;
}
int64_t MlpBias(const Model& m, int64_t ffn) {
  const bool gated = m.activation == Activation::kSwiglu;
  return m.biases.mlp ? (gated ? 2 * ffn : ffn) + m.hidden : 0;
}

}  // namespace

ParamCounts CountParams(const Model& m) {
  const int64_t h = m.hidden;
  ParamCounts p;
  LayerParams base;
  CountAttention(m, base);
  const int64_t one_norm = m.norm_bias ? 2 * h : h;
  base.norm = 2 * one_norm;

  LayerParams& dense = p.dense_layer;
  dense = base;
  dense.mlp_matmul = MlpMatmul(m, m.ffn);
  dense.mlp_bias = MlpBias(m, m.ffn);
  p.dense_per_layer = dense.total();

  int64_t inactive_per_moe_layer = 0;
  if (m.moe.dense()) {
    p.layer = dense;
    p.dense_layers = m.layers;
  } else {
    const Moe& e = m.moe;
    LayerParams& l = p.layer;
    l = base;
    const int64_t shared = e.shared_experts * e.shared_expert_ffn;
    l.mlp_matmul = e.experts * MlpMatmul(m, e.expert_ffn) + MlpMatmul(m, shared);
    l.mlp_bias = e.experts * MlpBias(m, e.expert_ffn) + (shared > 0 ? MlpBias(m, shared) : 0);
    l.router = h * e.experts + (e.router_bias ? e.experts : 0) + (e.shared_expert_gate ? h : 0);
    p.dense_layers = static_cast<int64_t>(e.dense_layers.size());
    p.moe_layers = m.layers - p.dense_layers;
    inactive_per_moe_layer =
        (e.experts - e.experts_per_token) * (MlpMatmul(m, e.expert_ffn) + MlpBias(m, e.expert_ffn));
  }
  p.per_layer = p.layer.total();
  p.embedding = m.vocab * h + (m.position == Position::kLearned ? m.max_seq * h : 0);
  p.final_norm = one_norm;
  p.output_head = m.tied_embeddings ? 0 : m.vocab * h;
  p.total = p.embedding + p.dense_layers * p.dense_per_layer + p.moe_layers * p.per_layer +
            p.final_norm + p.output_head;
  p.active = p.total - p.moe_layers * inactive_per_moe_layer;
  // A tied table is the output head too: only an untied input table is a lookup alone.
  p.active_non_embedding = p.active - (m.tied_embeddings ? 0 : p.embedding);
  return p;
}

double ModelFlopsPerToken(const Model& m, int64_t seq) {
  const bool gated = m.activation == Activation::kSwiglu;
  if (m.moe.dense() && !m.mla.enabled()) {
    const double h = m.hidden, a = m.heads, g = m.kv_heads, d = m.head_dim;
    const double ffn = m.ffn;
    const double layer_matmul = h * a * d + 2 * h * g * d + a * d * h + (gated ? 3 : 2) * h * ffn;
    const double weights = m.layers * layer_matmul + static_cast<double>(m.vocab) * h;
    return 6.0 * weights + AttentionFlopsPerToken(m, seq);
  }
  // MoE and/or MLA: the matmul weights one token passes through, counted exactly in integers.
  LayerParams attn;
  CountAttention(m, attn);
  const int64_t h = m.hidden;
  const int64_t dense_layer = attn.attn_matmul + MlpMatmul(m, m.ffn);
  int64_t weights = m.vocab * h;
  if (m.moe.dense()) {
    weights += m.layers * dense_layer;
  } else {
    const Moe& e = m.moe;
    const int64_t moe_layer = attn.attn_matmul + e.experts_per_token * MlpMatmul(m, e.expert_ffn) +
                              MlpMatmul(m, e.shared_experts * e.shared_expert_ffn) +
                              h * e.experts + (e.shared_expert_gate ? h : 0);
    const int64_t dense_count = static_cast<int64_t>(e.dense_layers.size());
    weights += dense_count * dense_layer + (m.layers - dense_count) * moe_layer;
  }
  return 6.0 * static_cast<double>(weights) + AttentionFlopsPerToken(m, seq);
}

double AttentionFlopsPerToken(const Model& m, int64_t seq) {
  if (!m.mla.enabled()) {
    return 12.0 * static_cast<double>(m.layers) * static_cast<double>(m.heads) *
           static_cast<double>(m.head_dim) * static_cast<double>(seq);
  }
  // MLA: scores over qk_nope + qk_rope dims, values over v_head_dim.
  const double qk = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim;
  const double v = m.mla.v_head_dim;
  return 6.0 * static_cast<double>(m.layers) * m.heads * (qk + v) * static_cast<double>(seq);
}

int64_t PaddedVocab(int64_t vocab, int64_t tp) {
  const int64_t multiple = 128 * tp;
  return (vocab + multiple - 1) / multiple * multiple;
}

}  // namespace meshplan::costmodel
