// File: tests/fuzz/fuzz_target.h
// One fuzz target per parser. Each tests/fuzz/fuzz_<name>.cc defines its body with
// MESHPLAN_FUZZ_TARGET(Name) { ...use `input`... }, which gives
//   - meshplan::fuzz::Name(std::string_view): runs the body and swallows meshplan::Error only
//     (a rejected input is fine; any other exception, a crash or a sanitizer report is a bug);
//   - with -DMESHPLAN_LIBFUZZER (the clang fuzz build, MESHPLAN_FUZZ=ON), libFuzzer's
//     LLVMFuzzerTestOneInput calling it.
// The same .cc files are compiled into fuzz_replay_test (every build, gcc included), which runs
// the seed files and every kept crasher under tests/fuzz_regressions/<name>/ through Name().
//
// Adding a target for a new parser (about ten lines):
//   1. tests/fuzz/fuzz_<name>.cc:
//        #include "tests/fuzz/fuzz_target.h"
//        #include "plans/plan_file.h"
//        MESHPLAN_FUZZ_TARGET(PlanFile) { meshplan::plans::ReadPlanFile(input, "fuzz.json"); }
//   2. add `X(plan_file, PlanFile)` to MESHPLAN_FUZZ_TARGETS below;
//   3. add `plan_file` to MESHPLAN_FUZZ_TARGET_NAMES in tests/fuzz/CMakeLists.txt (and the
//      library it needs to MESHPLAN_FUZZ_LIBS there);
//   4. tests/fuzz/seeds/plan_file.dirs: the folders of its seed files, one a line (read by
//      tools/fuzz.sh and fuzz_replay_test); then `tools/fuzz.sh plan_file 600`.
#ifndef MESHPLAN_TESTS_FUZZ_FUZZ_TARGET_H_
#define MESHPLAN_TESTS_FUZZ_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "costmodel/error.h"

// X(file name stem after fuzz_, function name): the one list of targets.
#define MESHPLAN_FUZZ_TARGETS(X) \
  X(model_json, ModelJson)       \
  X(hf_config, HfConfig)         \
  X(cluster_json, ClusterJson)   \
  X(nccl_tests, NcclTests)       \
  X(layout_text, LayoutText)     \
  X(report_file, ReportFile)     \
  X(calibration_json, CalibrationJson) \
  X(plan_file, PlanFile)         \
  X(measurements, Measurements)  \
  X(reference_file, ReferenceFile) \
  X(framework_profile, FrameworkProfile) \
  X(torchtitan_toml, TorchtitanToml) \
  X(megatron_args, MegatronArgs) \
  X(nccl_env, NcclEnv)

namespace meshplan::fuzz {
#define MESHPLAN_FUZZ_DECLARE(stem, Name) void Name(std::string_view input);
MESHPLAN_FUZZ_TARGETS(MESHPLAN_FUZZ_DECLARE)
#undef MESHPLAN_FUZZ_DECLARE
}  // namespace meshplan::fuzz

#ifdef MESHPLAN_LIBFUZZER
#define MESHPLAN_FUZZ_LIBFUZZER_ENTRY(Name)                                    \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {    \
    ::meshplan::fuzz::Name(std::string_view(reinterpret_cast<const char*>(data), size)); \
    return 0;                                                                  \
  }
#else
#define MESHPLAN_FUZZ_LIBFUZZER_ENTRY(Name)
#endif

#define MESHPLAN_FUZZ_TARGET(Name)                                 \
  namespace meshplan::fuzz {                                       \
  void Name##Body(std::string_view input);                         \
  void Name(std::string_view input) {                              \
    try {                                                          \
      Name##Body(input);                                           \
    } catch (const ::meshplan::Error&) {                           \
    }                                                              \
  }                                                                \
  }                                                                \
  MESHPLAN_FUZZ_LIBFUZZER_ENTRY(Name)                              \
  void meshplan::fuzz::Name##Body(std::string_view input)

#endif  // MESHPLAN_TESTS_FUZZ_FUZZ_TARGET_H_
