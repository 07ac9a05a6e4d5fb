#include "costmodel/params.h"

namespace meshplan::costmodel {

ParamCounts CountParams(const Model& m) {
  const int64_t h = m.hidden, a = m.heads, g = m.kv_heads, d = m.head_dim;
  ParamCounts p;
  LayerParams& l = p.layer;
  l.attn_matmul = h * (a * d) + 2 * h * (g * d) + (a * d) * h;
  l.attn_bias = (m.biases.qkv ? (a + 2 * g) * d : 0) + (m.biases.attn_out ? h : 0);
  const bool gated = m.activation == Activation::kSwiglu;
  const int64_t ffn = m.moe.dense() ? m.ffn : m.moe.expert_ffn;
  const int64_t experts = m.moe.dense() ? 1 : m.moe.experts;
  const int64_t mlp_one = (gated ? 3 : 2) * h * ffn;
  const int64_t mlp_bias_one = m.biases.mlp ? (gated ? 2 * ffn : ffn) + h : 0;
  l.mlp_matmul = experts * mlp_one;
  l.mlp_bias = experts * mlp_bias_one;
  l.router = m.moe.dense() ? 0 : h * m.moe.experts;
  const int64_t one_norm = m.norm_bias ? 2 * h : h;
  l.norm = 2 * one_norm;
  p.per_layer = l.total();
  p.embedding = m.vocab * h + (m.position == Position::kLearned ? m.max_seq * h : 0);
  p.final_norm = one_norm;
  p.output_head = m.tied_embeddings ? 0 : m.vocab * h;
  p.total = p.embedding + m.layers * p.per_layer + p.final_norm + p.output_head;
  return p;
}

double ModelFlopsPerToken(const Model& m, int64_t seq) {
  const double h = m.hidden, a = m.heads, g = m.kv_heads, d = m.head_dim;
  const bool gated = m.activation == Activation::kSwiglu;
  const double ffn = m.moe.dense() ? m.ffn : m.moe.expert_ffn;
  const double active_experts = m.moe.dense() ? 1 : m.moe.experts_per_token;
  const double router = m.moe.dense() ? 0 : h * m.moe.experts;
  const double layer_matmul = h * a * d + 2 * h * g * d + a * d * h +
                              active_experts * (gated ? 3 : 2) * h * ffn + router;
  const double weights = m.layers * layer_matmul + static_cast<double>(m.vocab) * h;
  return 6.0 * weights + AttentionFlopsPerToken(m, seq);
}

double AttentionFlopsPerToken(const Model& m, int64_t seq) {
  return 12.0 * static_cast<double>(m.layers) * static_cast<double>(m.heads) *
         static_cast<double>(m.head_dim) * static_cast<double>(seq);
}

int64_t PaddedVocab(int64_t vocab, int64_t tp) {
  const int64_t multiple = 128 * tp;
  return (vocab + multiple - 1) / multiple * multiple;
}

}  // namespace meshplan::costmodel
