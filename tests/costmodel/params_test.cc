// Parameter counts against hand counts written out here, and model FLOPs against Megatron's
// closed form.
#include <gtest/gtest.h>

#include "costmodel/params.h"
#include "costmodel/zoo.h"

namespace meshplan::costmodel {
namespace {

TEST(Params, Llama31_405bHandCount) {
  // h 16384, 126 layers, 128 heads + 8 KV heads of 128, SwiGLU 53248, vocab 128256, untied.
  const int64_t layer = 16384LL * 16384 + 2 * 16384LL * 1024 + 16384LL * 16384 +
                        3 * 16384LL * 53248 + 2 * 16384;
  const int64_t total = 126 * layer + 2 * 128256LL * 16384 + 16384;
  EXPECT_EQ(total, 405853388800);
  const ParamCounts p = CountParams(ResolveModel("llama3-405b"));
  EXPECT_EQ(p.per_layer, layer);
  EXPECT_EQ(p.embedding, 128256LL * 16384);
  EXPECT_EQ(p.total, total);
}

TEST(Params, Llama3_70bAnd8bHandCounts) {
  const int64_t l70 = 2 * 8192LL * 8192 + 2 * 8192LL * 1024 + 3 * 8192LL * 28672 + 2 * 8192;
  EXPECT_EQ(CountParams(ResolveModel("llama3-70b")).total, 80 * l70 + 2 * 128256LL * 8192 + 8192);
  EXPECT_EQ(80 * l70 + 2 * 128256LL * 8192 + 8192, 70553706496);
  const int64_t l8 = 2 * 4096LL * 4096 + 2 * 4096LL * 1024 + 3 * 4096LL * 14336 + 2 * 4096;
  EXPECT_EQ(CountParams(ResolveModel("llama3-8b")).total, 32 * l8 + 2 * 128256LL * 4096 + 4096);
  EXPECT_EQ(32 * l8 + 2 * 128256LL * 4096 + 4096, 8030261248);
}

/// A GPT layer with biases and LayerNorm: 12h^2 + 13h; tied embedding + learned positions.
int64_t GptTotal(int64_t L, int64_t h, int64_t V, int64_t seq) {
  return L * (12 * h * h + 13 * h) + V * h + seq * h + 2 * h;
}

TEST(Params, Gpt3_175bHandCount) {
  EXPECT_EQ(GptTotal(96, 12288, 50257, 2048), 174604259328);
  EXPECT_EQ(CountParams(ResolveModel("gpt3-175b")).total, GptTotal(96, 12288, 50257, 2048));
}

TEST(Params, KorthikantiModelsHandCounts) {
  // Korthikanti et al. 2022 Table 3 shapes, vocab 51200, seq 2048.
  EXPECT_EQ(CountParams(ResolveModel("gpt-22b")).total, GptTotal(48, 6144, 51200, 2048));
  EXPECT_EQ(CountParams(ResolveModel("gpt-175b")).total, GptTotal(96, 12288, 51200, 2048));
  EXPECT_EQ(CountParams(ResolveModel("gpt-530b")).total, GptTotal(105, 20480, 51200, 2048));
  EXPECT_EQ(CountParams(ResolveModel("gpt-1t")).total, GptTotal(128, 25600, 51200, 2048));
  // The names are honest: 22.07B, 174.6B, 529.6B, 1008B.
  EXPECT_NEAR(GptTotal(128, 25600, 51200, 2048) / 1e9, 1008.0, 0.1);
}

TEST(ModelFlops, EqualsMegatronClosedFormForGptShapes) {
  // Korthikanti Eq. 7: model FLOPs per sequence = 72 s L h^2 (1 + s/(6h) + V/(12 h L)).
  for (const char* name : {"gpt-22b", "gpt-175b", "gpt-530b", "gpt-1t"}) {
    const Model m = ResolveModel(name);
    const double s = 2048, L = m.layers, h = m.hidden, V = m.vocab;
    const double closed = 72 * s * L * h * h * (1 + s / (6 * h) + V / (12 * h * L));
    EXPECT_NEAR(ModelFlopsPerToken(m, 2048) * s / closed, 1.0, 1e-12) << name;
  }
}

TEST(ModelFlops, SixNPlusAttentionForLlama2_70b) {
  // 6 x (matmul weights incl. the output head) + 12 L h s: hand count for Llama 2 70B at 4096.
  const double layer = 2.0 * 8192 * 8192 + 2.0 * 8192 * 1024 + 3.0 * 8192 * 28672;
  const double expected = 6 * (80 * layer + 32000.0 * 8192) + 12.0 * 80 * 8192 * 4096;
  EXPECT_DOUBLE_EQ(ModelFlopsPerToken(ResolveModel("llama2-70b"), 4096), expected);
}

TEST(PaddedVocab, MegatronPadsTo128TimesTp) {
  EXPECT_EQ(PaddedVocab(50257, 1), 50304);
  EXPECT_EQ(PaddedVocab(50257, 8), 51200);
  EXPECT_EQ(PaddedVocab(32000, 8), 32768);
  EXPECT_EQ(PaddedVocab(51200, 8), 51200);
}

}  // namespace
}  // namespace meshplan::costmodel
