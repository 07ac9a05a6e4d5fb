// File: costmodel/params.h
// Parameter counts and model FLOPs of a transformer, counted per weight matrix from the
// architecture (the same way HuggingFace's safetensors totals count them).
#ifndef MESHPLAN_COSTMODEL_PARAMS_H_
#define MESHPLAN_COSTMODEL_PARAMS_H_

#include <cstdint>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

struct LayerParams {
  int64_t attn_matmul = 0;  // Wq, Wk, Wv, Wo (MLA: q_a, q_b or q_proj, kv_a, kv_b, o)
  int64_t attn_bias = 0;
  int64_t attn_norm = 0;    // norms inside attention: Qwen3 q_norm/k_norm, MLA's latent norms
  int64_t attn_sinks = 0;   // gpt-oss: one sink logit per head
  int64_t mlp_matmul = 0;   // MoE: all routed and shared experts' matmuls
  int64_t mlp_bias = 0;
  int64_t router = 0;       // MoE gate h x experts (+ its bias, + Qwen2-MoE's shared-expert gate)
  int64_t norm = 0;         // the layer's two norms (weights and biases)
  int64_t total() const {
    return attn_matmul + attn_bias + attn_norm + attn_sinks + mlp_matmul + mlp_bias + router + norm;
  }
};

struct ParamCounts {
  LayerParams layer;        // one transformer layer; for an MoE model one MoE layer
  int64_t per_layer = 0;    // layer.total()
  // Layers with a dense MLP: every layer of a dense model (then dense_layer == layer), the
  // Moe::dense_layers of an MoE model.
  LayerParams dense_layer;
  int64_t dense_per_layer = 0;
  int64_t dense_layers = 0;
  int64_t moe_layers = 0;   // layers of `layer` in an MoE model, 0 for a dense model
  int64_t embedding = 0;    // token embedding (+ learned positions)
  int64_t final_norm = 0;
  int64_t output_head = 0;  // 0 when tied to the embedding
  int64_t total = 0;
  // Parameters one token uses: total less the routed experts it is not sent to, i.e. each MoE
  // layer counts experts_per_token of its routed experts. The whole embedding table counts, as
  // in Mistral AI's "12.9B active" for Mixtral-8x7B; active_non_embedding leaves it out, as
  // DeepSeek's "36.6B activated (including 0.9B for the output head)" for DeepSeek-V3 does.
  // Equal to total for a dense model.
  int64_t active = 0;
  int64_t active_non_embedding = 0;
};

ParamCounts CountParams(const Model& m);

/// Model FLOPs per token for MFU, PaLM/Megatron convention: 6 x (matmul weights a token passes
/// through, including the output head, excluding norms, biases and embedding lookups) plus
/// attention 12 * L * heads * head_dim * seq (QK^T and AV, forward + backward, no causal
/// halving). For a GPT layer this is 72*s*L*h^2*(1 + s/(6h) + V/(12hL)) per sequence.
/// MoE: the weights are the active ones (top-k routed + shared experts + the router; dense
/// layers their dense MLP). MLA: its five projections, and attention
/// 6 * L * heads * (qk_nope + qk_rope + v_head_dim) * seq (a query/key head and a value head of
/// different widths; 12 * L * heads * head_dim * seq when they are equal).
double ModelFlopsPerToken(const Model& m, int64_t seq);

/// The attention term of ModelFlopsPerToken, 12 L a d s: QK^T and AV over every key, forward
/// and backward. The causal MFU convention (Workload::mfu_causal) counts half of it.
double AttentionFlopsPerToken(const Model& m, int64_t seq);

/// Megatron pads the vocabulary to a multiple of 128 * tp (--make-vocab-size-divisible-by).
int64_t PaddedVocab(int64_t vocab, int64_t tp);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_PARAMS_H_
