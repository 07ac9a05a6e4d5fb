// A published-measurements file as `meshplan accuracy --reference` reads it (plans/reference.h):
// every record mapped by rule, and each mapped one predicted.
#include "plans/reference.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(ReferenceFile) {
  for (const plans::ReferenceRecord& r : plans::MapReferenceFile(input, "fuzz/reference.json")) {
    if (r.skip_reason.empty()) plans::PredictRecord(r, r.cluster);
  }
}
