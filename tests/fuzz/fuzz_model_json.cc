// A model file as `--model` reads it: meshplan model JSON or a HuggingFace config.json, then
// its parameter count and the cost of two layouts on a fixed cluster.
#include "costmodel/spec_io.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(ModelJson) {
  const auto m = costmodel::ParseAnyModelJson(input, "fuzz/model.json");
  CostLayout(m, FixedCluster(), costmodel::Layout{});
  costmodel::Layout tp;
  tp.tp = 8;
  tp.sp = true;
  tp.recompute = costmodel::Recompute::kSelective;
  CostLayout(m, FixedCluster(), tp);
}
