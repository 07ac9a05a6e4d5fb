#include "costmodel/costable.h"

#include "costmodel/error.h"

namespace meshplan::costmodel {

Unmodelled WhyNotCostable(const Model& m, int64_t seq) {
  const std::string name = "model " + (m.name.empty() ? std::string("(unnamed)") : m.name);
  if (m.attention_sinks) {
    return {"model", name + " has attention sinks (a learned logit per head in the softmax): not "
                             "modelled yet, so it is not costed"};
  }
  if (std::string w = SlidingWindowProblem(m, seq); !w.empty()) return {"seq", w};
  return {};
}

std::string SlidingWindowProblem(const Model& m, int64_t seq) {
  if (m.sliding_window == 0 || seq <= m.sliding_window) return "";
  return "model " + m.name + " uses sliding-window attention of " + std::to_string(m.sliding_window) +
         " tokens (HF sliding_window) and the sequence is " + std::to_string(seq) +
         " tokens: sliding-window attention is not modelled; give a sequence of at most " +
         std::to_string(m.sliding_window) + " tokens";
}

void RequireCostable(const Model& m, int64_t seq, std::string_view model_flag,
                     std::string_view seq_flag) {
  const Unmodelled u = WhyNotCostable(m, seq);
  if (u.ok()) return;
  throw Error(std::string(u.field == "seq" ? seq_flag : model_flag), u.reason);
}

}  // namespace meshplan::costmodel
