// A meshplan-validate measurement file (costmodel/measurements.h) on the cpu-local cluster, then
// fitted: whatever the reader accepts, the calibration must survive.
#include "costmodel/calibration.h"
#include "costmodel/measurements.h"
#include "costmodel/zoo.h"
#include "tests/fuzz/fuzz_target.h"

MESHPLAN_FUZZ_TARGET(Measurements) {
  static const costmodel::Cluster cpu = costmodel::ResolveCluster("cpu-local");
  costmodel::CalibrationInputs in;
  costmodel::AddMeasurements(input, "fuzz/measurements.json", cpu, in);
  costmodel::Fit(cpu, in, "fuzz");
}
