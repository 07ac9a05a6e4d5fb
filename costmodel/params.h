// File: costmodel/params.h
// Parameter counts and model FLOPs of a transformer, counted per weight matrix from the
// architecture (the same way HuggingFace's safetensors totals count them).
#ifndef MESHPLAN_COSTMODEL_PARAMS_H_
#define MESHPLAN_COSTMODEL_PARAMS_H_

#include <cstdint>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

struct LayerParams {
  int64_t attn_matmul = 0;  // Wq, Wk, Wv, Wo
  int64_t attn_bias = 0;
  int64_t mlp_matmul = 0;   // all experts' matmuls for MoE
  int64_t mlp_bias = 0;
  int64_t router = 0;       // MoE gate h x experts
  int64_t norm = 0;         // the layer's two norms (weights and biases)
  int64_t total() const { return attn_matmul + attn_bias + mlp_matmul + mlp_bias + router + norm; }
};

struct ParamCounts {
  LayerParams layer;        // one transformer layer
  int64_t per_layer = 0;    // layer.total()
  int64_t embedding = 0;    // token embedding (+ learned positions)
  int64_t final_norm = 0;
  int64_t output_head = 0;  // 0 when tied to the embedding
  int64_t total = 0;
};

ParamCounts CountParams(const Model& m);

/// Model FLOPs per token for MFU, PaLM/Megatron convention: 6 x (matmul weights a token passes
/// through, including the output head, excluding norms, biases and embedding lookups) plus
/// attention 12 * L * heads * head_dim * seq (QK^T and AV, forward + backward, no causal
/// halving). For a GPT layer this is 72*s*L*h^2*(1 + s/(6h) + V/(12hL)) per sequence.
double ModelFlopsPerToken(const Model& m, int64_t seq);

/// The attention term of ModelFlopsPerToken, 12 L a d s: QK^T and AV over every key, forward
/// and backward. The causal MFU convention (Workload::mfu_causal) counts half of it.
double AttentionFlopsPerToken(const Model& m, int64_t seq);

/// Megatron pads the vocabulary to a multiple of 128 * tp (--make-vocab-size-divisible-by).
int64_t PaddedVocab(int64_t vocab, int64_t tp);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_PARAMS_H_
