// A cluster file as `--cluster` reads it, then the cost of a layout on it.
#include "costmodel/spec_io.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(ClusterJson) {
  const auto c = costmodel::ParseClusterJson(input, "fuzz/cluster.json");
  costmodel::Layout l;
  l.tp = 2;
  CostLayout(FixedModel(), c, l);
}
