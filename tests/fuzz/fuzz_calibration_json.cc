// A calibration profile (--calibration), applied to the cluster it names and then costed: the
// fitted values it let through must keep the model finite.
#include "costmodel/calibration.h"
#include "costmodel/spec_io.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(CalibrationJson) {
  const costmodel::CalibrationProfile p = costmodel::ParseCalibrationJson(input, "fuzz/profile.json");
  costmodel::Cluster c = FixedCluster();
  costmodel::ApplyCalibration(p, c, "fuzz/profile.json");
  CostLayout(FixedModel(), c, costmodel::ParseLayoutText("tp=8,sp=on,fsdp=2", "fuzz"));
}
