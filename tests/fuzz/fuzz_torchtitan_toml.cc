// A torchtitan job TOML read back (simulate --from-torchtitan) for llama3-8b on 64 GPUs, and the
// layout it gives costed the way simulate resolves it.
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_launch.h"
#include "tests/fuzz/fuzz_target.h"
#include "tools/launch_config.h"

MESHPLAN_FUZZ_TARGET(TorchtitanToml) {
  CostImportedLaunch(tools::ParseTorchtitanToml(input, "fuzz/t.toml", LaunchModel(), kLaunchGpus));
}
