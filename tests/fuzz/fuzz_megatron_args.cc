// Megatron-LM arguments read back (simulate --from-megatron) for llama3-8b on 64 GPUs, and the
// layout they give costed the way simulate resolves it.
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_launch.h"
#include "tests/fuzz/fuzz_target.h"
#include "tools/launch_config.h"

MESHPLAN_FUZZ_TARGET(MegatronArgs) {
  CostImportedLaunch(tools::ParseMegatronArgs(input, "fuzz/m.txt", LaunchModel(), kLaunchGpus));
}
