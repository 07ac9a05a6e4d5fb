// An nccl-tests log as `accuracy --nccl-tests` reads it (op from the log or the file name).
#include "costmodel/nccl_tests.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(NcclTests) {
  costmodel::ParseNcclTestLog(input, "fuzz/all_reduce_perf.log");
  costmodel::ParseNcclTestLog(input, "fuzz/unknown.log");
}
