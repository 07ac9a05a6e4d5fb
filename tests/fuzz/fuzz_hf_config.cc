// A HuggingFace transformers config.json (families we have not seen included).
#include "costmodel/params.h"
#include "costmodel/spec_io.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(HfConfig) {
  const auto m = costmodel::ParseHfConfig(input, "fuzz/config.json");
  costmodel::CountParams(m);
}
