// File: costmodel/measurements.h
// Reads the measurement JSON that meshplan-validate writes (DESIGN.md, "Measurements") into
// calibration samples: collectives, GEMMs, attention, bandwidth-bound kernels and the step.
#ifndef MESHPLAN_COSTMODEL_MEASUREMENTS_H_
#define MESHPLAN_COSTMODEL_MEASUREMENTS_H_

#include <string>
#include <string_view>

#include "costmodel/calibration.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// Adds the samples of one measurement file (its text; `path` names it in errors) to `in`. The
/// file's plan must have run on cluster `c`; its model is resolved by name or path.
void AddMeasurements(std::string_view text, const std::string& path, const Cluster& c,
                     CalibrationInputs& in);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_MEASUREMENTS_H_
