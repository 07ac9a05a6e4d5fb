// The `--layout` text form, resolved against 16 GPUs and costed; the JSON form too when the
// input is a JSON object (as reports and plans hold it).
#include <nlohmann/json.hpp>

#include "costmodel/json_reader.h"
#include "costmodel/spec_io.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(LayoutText) {
  if (!input.empty() && input.front() == '{') {
    const nlohmann::json j = costmodel::ParseJsonText(input, "fuzz/layout.json");
    CostLayout(FixedModel(), FixedCluster(), costmodel::LayoutFromJson(j, "fuzz/layout.json"));
    return;
  }
  CostLayout(FixedModel(), FixedCluster(), costmodel::ParseLayoutText(input, "--layout"));
}
