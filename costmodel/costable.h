// File: costmodel/costable.h
// What the step cost model covers. Parameter counts and FLOPs (params.h) cover every model a
// spec can describe; the cost model (evaluate.h, memory.h, kernels.h, the simulator) prices
// dense and mixture-of-experts transformers (experts.h: routed and shared experts, dense
// layers, expert parallelism) with multi-head, grouped-query or multi-head latent attention
// (MLA; q/k norms included) over the whole sequence. A model outside that is refused with a
// reason, never priced as the nearest model it resembles: attention sinks and a sliding window
// are not full softmax attention.
#ifndef MESHPLAN_COSTMODEL_COSTABLE_H_
#define MESHPLAN_COSTMODEL_COSTABLE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "costmodel/specs.h"

namespace meshplan::costmodel {

struct Unmodelled {
  std::string field;   // "" when the model is costed; else the --model or --seq side at fault
  std::string reason;  // one sentence naming the model and what is not modelled
  bool ok() const { return reason.empty(); }
};

/// Why the cost model cannot price `m` at sequence length `seq` (seq <= 0: any length), or an
/// empty reason when it can. Order: attention sinks, sliding window.
Unmodelled WhyNotCostable(const Model& m, int64_t seq);

/// The sliding-window part of WhyNotCostable alone: "" when seq fits the window (or there is none).
std::string SlidingWindowProblem(const Model& m, int64_t seq);

/// Throws meshplan::Error (bad input, exit 2) when WhyNotCostable gives a reason; the place is
/// `model_flag` (e.g. "--model") or `seq_flag` ("--seq"), whichever is at fault.
void RequireCostable(const Model& m, int64_t seq, std::string_view model_flag = "--model",
                     std::string_view seq_flag = "--seq");

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_COSTABLE_H_
