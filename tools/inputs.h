// File: tools/inputs.h
// Measured inputs the CLI reads for calibration and scoring: nccl-tests logs (with the sidecar
// X.meta.json that says how many nodes ran and which NCCL_ALGO was forced) and the measurement
// JSON written by meshplan-validate. Both become costmodel::CalibrationInputs samples.
#ifndef MESHPLAN_TOOLS_INPUTS_H_
#define MESHPLAN_TOOLS_INPUTS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/calibration.h"
#include "costmodel/nccl_tests.h"
#include "costmodel/specs.h"

namespace meshplan::tools {

struct NcclLogSamples {
  std::string path;
  std::string name;  // file name
  costmodel::NcclTestOp op = costmodel::NcclTestOp::kAllReduce;
  int64_t ranks = 0, nodes = 0;  // the sidecar's "ranks" when it has one, else busbw / algbw's
  costmodel::NcclEnv env;        // the sidecar's "env" (NCCL_MIN_CTAS, NCCL_ALGO, ...)
  std::string skip_reason;  // non-empty: the log cannot be modelled (alltoall, sendrecv, ...)
  std::vector<costmodel::CollectiveSample> samples;  // one per row: min of out/in-place time
};

/// Reads an nccl-tests log and its sidecar; nodes from the sidecar, else ranks / gpus per node.
/// The collective is the log header's; `collective` (calibrate --collective) is used for a log
/// whose header does not say, and is an error where the header says another.
NcclLogSamples LoadNcclTestsLog(const std::string& path, const costmodel::Cluster& c,
                                std::optional<costmodel::NcclTestOp> collective = std::nullopt);

/// Adds the samples of a meshplan-validate measurement file to `in` (costmodel/measurements.h).
void AddMeasurementFile(const std::string& path, const costmodel::Cluster& c,
                        costmodel::CalibrationInputs& in);

/// Adds the kernel-level records (per-layer timings, GEMMs, collectives) of a published
/// reference file (plans/reference.h) whose cluster is one of `clusters` to `in`, leaving out
/// the records of source `leave_out` (plans::SourceName; "" keeps all). Never end-to-end
/// records: those are what `accuracy --reference` scores. Returns the sources that went in,
/// one per record, in file order.
std::vector<std::string> AddReferenceKernelRecords(const std::string& path,
                                                   const std::vector<std::string>& clusters,
                                                   costmodel::CalibrationInputs& in,
                                                   std::string_view leave_out = "");

}  // namespace meshplan::tools

#endif  // MESHPLAN_TOOLS_INPUTS_H_
