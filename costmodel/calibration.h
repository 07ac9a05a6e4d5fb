// File: costmodel/calibration.h
// Calibration: measured numbers flow back into the cost model as a profile of fitted cluster
// parameters, never as special cases in code (DESIGN.md, "Validation and calibration loop").
//
// A profile is a list of fitted values keyed by the cluster-spec path they overwrite
// ("efficiency.nvlink_fraction", "fabric.latency_us", ...) plus a measured GEMM efficiency table.
// Fit() estimates them by weighted least squares on relative error (Levenberg-Marquardt on the
// model itself, Eigen normal equations, parameters clamped to physical bounds: no negative
// latency, no bandwidth above the link's). ApplyCalibration() writes them into a Cluster, so every
// predictor (evaluator, simulator, accuracy) picks them up through the cluster it is given.
//
// Profile JSON (schema_version 1): {"schema_version", "tool", "command": "calibrate", "name",
// "clusters": [names it applies to], "fitted": {path: {"value", "unit", "sources": [...]}},
// "gemm_table": [{"m","n","k","batch","efficiency","source"}], "fit_error": {quantity:
// {"n", "before_pct", "after_pct"}}, "inputs": [...provenance...]}.
#ifndef MESHPLAN_COSTMODEL_CALIBRATION_H_
#define MESHPLAN_COSTMODEL_CALIBRATION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "costmodel/collectives.h"
#include "costmodel/specs.h"

namespace meshplan::costmodel {

/// How a collective was timed. One process per GPU under nccl-tests (or meshplan-validate) is
/// what a training step pays; the others add host cost of the benchmark, fitted apart so that it
/// never reaches a plan's prediction.
enum class Harness {
  kNcclTests,        // nccl-tests / meshplan-validate; gpus_per_thread > 1 is nccl-tests -g N
  kTorchDistributed, // a torch.distributed timing loop (e.g. stas00's all_reduce_bench.py)
};

/// One timed collective: nccl-tests' S bytes on a group; `algo` forced (NCCL_ALGO) or -1.
struct CollectiveSample {
  Coll op = Coll::kAllReduce;
  Group group;
  double bytes = 0;
  double time_s = 0;
  int algo = -1;
  Harness harness = Harness::kNcclTests;
  int64_t gpus_per_thread = 1;  // nccl-tests -g N: at least N x efficiency.group_launch_us
  std::string source;  // file (and row) it came from
  NcclEnv env;  // the NCCL_* settings it ran with (nccl-tests sidecar "env"); neutral if unknown
};

struct GemmSample {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  double time_s = 0;
  std::string source;
};

/// Fused attention forward: its FLOPs (kernels.h convention) and time, and the speed the model
/// prices that kernel at relative to attention_peak_fraction (kernels.h flash_speed: the
/// FlashAttention generation x its tiling at the measured plan's sequence and CP scheme), so
/// that the fit inverts the pricing.
struct AttentionSample {
  double flops = 0;
  double time_s = 0;
  std::string source;
  double speed = 1.0;
};

struct MemoryKernelSample {
  double bytes = 0;
  double time_s = 0;
  std::string source;
};

/// A layer's GEMMs run back to back for `seconds` (meshplan-validate --sustain-s): the sum of
/// their burst times (the microbenchmarks) over the time per pass late in the chain.
struct SustainedGemmSample {
  double fraction = 0;  // the median rank's, where the file has every rank's late time
  double seconds = 0;
  // Every rank's own late time per pass (late_pass_s_per_rank), where the run had 2 or more:
  // their spread is the GPUs' (efficiency.gemm_gpu_spread). Empty otherwise.
  std::vector<double> late_per_rank;
  std::string source;
};

/// One transformer layer's measured forward and backward time (a paper's per-layer table), its
/// TP collectives on the critical path included.
struct LayerSample {
  Model model;
  Workload workload;
  Layout layout;
  double forward_s = 0;   // 0 when not measured
  double backward_s = 0;  // 0 when not measured
  std::string source;
};

/// A measured training step of one layout (meshplan-validate's skeleton step).
struct StepSample {
  Model model;
  Workload workload;
  Layout layout;
  double time_s = 0;
  double peak_memory_bytes = 0;  // 0 when not measured
  std::string source;
};

struct CalibrationInputs {
  std::vector<CollectiveSample> collectives;
  std::vector<GemmSample> gemms;
  std::vector<AttentionSample> attention;
  std::vector<LayerSample> layers;
  std::vector<MemoryKernelSample> memory_kernels;
  std::vector<SustainedGemmSample> sustained_gemms;
  std::vector<StepSample> steps;
  std::vector<std::string> provenance;  // one line per input file
  /// Adds every sample (and provenance line) of `other` after this one's.
  void Append(const CalibrationInputs& other) {
    auto add = [](auto& a, const auto& b) { a.insert(a.end(), b.begin(), b.end()); };
    add(collectives, other.collectives);
    add(gemms, other.gemms);
    add(attention, other.attention);
    add(layers, other.layers);
    add(memory_kernels, other.memory_kernels);
    add(sustained_gemms, other.sustained_gemms);
    add(steps, other.steps);
    add(provenance, other.provenance);
  }
};

struct FittedValue {
  std::string path;  // cluster-spec path it overwrites
  double value = 0;
  std::string unit;
  std::vector<std::string> sources;
};

struct FitError {
  std::string quantity;  // collective_time_s, gemm_time_s, memory_kernel_time_s, step_time_s, ...
  int64_t n = 0;
  double before_pct = 0;  // mean absolute percentage error before the fit
  double after_pct = 0;
};

struct CalibrationProfile {
  std::string name;
  std::vector<std::string> clusters;
  std::vector<FittedValue> fitted;
  std::vector<GemmEfficiency> gemm_table;
  std::vector<FitError> fit_error;
  std::vector<std::string> inputs;
};

/// The median of `v` (the mean of the middle two for an even count); 0 for none.
double MedianOf(std::vector<double> v);

/// Fits every quantity the inputs inform, starting from `base`; quantities the inputs say
/// nothing about are left out of the profile.
CalibrationProfile Fit(const Cluster& base, const CalibrationInputs& in, std::string_view name);

/// Overwrites the fitted fields of `c` and records the profile's name in c.calibration.
/// A profile for other clusters is a user error naming `origin`.
void ApplyCalibration(const CalibrationProfile& p, Cluster& c, std::string_view origin);

CalibrationProfile ParseCalibrationJson(std::string_view text, std::string_view origin);
nlohmann::json ToJson(const CalibrationProfile& p);

/// Predicted cost of one sample on `c` (the forced algorithm when the sample has one).
CollectiveCost PredictCollectiveCost(const Cluster& c, const CollectiveSample& s);
inline double PredictCollective(const Cluster& c, const CollectiveSample& s) {
  return PredictCollectiveCost(c, s).time_s;
}

/// Mean absolute percentage error of `predicted` against `measured` (equal sizes, measured > 0).
double Mape(const std::vector<double>& predicted, const std::vector<double>& measured);

}  // namespace meshplan::costmodel

#endif  // MESHPLAN_COSTMODEL_CALIBRATION_H_
