// File: plans/reference.h
// Published measurements (data/reference/*.json format) mapped onto meshplan's specs, and the
// predictions `meshplan accuracy --reference` scores against them.
//
// Every record is mapped by the same rule tables, never by its id or its source's name in code:
// data/reference/mapping.json maps GPU names to their standard system, reads link bandwidth in
// every phrasing published tables use, says which framework a source ran; the framework file
// (data/frameworks/*.json, plans/framework.h) supplies the traits and defaults a record does
// not state. What a record leaves out is assumed and listed in its `assumptions`; a record is
// skipped only for a feature not modelled (UnmodelledFeature, one function) or a quantity it
// lacks, with a short stable reason. Pure functions: no printing; the tables are read once.
#ifndef MESHPLAN_PLANS_REFERENCE_H_
#define MESHPLAN_PLANS_REFERENCE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "costmodel/calibration.h"
#include "costmodel/evaluate.h"
#include "costmodel/memory.h"
#include "costmodel/specs.h"

namespace meshplan::plans {

/// How a source counts the FLOPs behind its MFU and TFLOP/s figures.
enum class FlopConvention {
  kPalm,        // model FLOPs, no recompute: 72BLsh^2(1 + s/6h + V/12hL) (Korthikanti, PaLM)
  kLlmFoundry,  // tokens x (6N + 12 L h s), N all parameters incl. embeddings (llm-foundry, torchtitan)
  kNarayanan,   // hardware FLOPs including the recompute forward (Narayanan SC21, BLOOM)
};
std::string_view ToString(FlopConvention c);

/// One measured value a record publishes, in meshplan's quantity name and SI units.
struct Measured {
  std::string quantity;  // step_time_s, tokens_per_s_per_gpu, mfu, ... (DESIGN.md names)
  double value = 0;
};

/// A record after mapping. skip_reason non-empty means it is not scored.
struct ReferenceRecord {
  std::string id;
  std::string kind;    // end_to_end, per_layer, collective, gemm
  std::string source;  // short source name (see SourceName)
  std::string skip_reason;
  // A value present but malformed (a count that is not a positive integer, a number that is not
  // one, no id): the record is not a measurement meshplan can read, so MapReferenceFile fails on
  // it (exit 2) instead of counting it as skipped. Empty when the record reads.
  std::string invalid_reason;
  std::vector<std::string> notes;  // the rules that filled something in, for the report
  // What the record did not state and the mapping assumed (a default of the GPU's standard
  // system or of the framework): stable sentences, counted in the summary.
  std::vector<std::string> assumptions;
  std::string framework;           // data/frameworks name, "" when none is known
  std::string gpu_generation;      // "A100", "H100", "H200", "B200": the GPU table's token
  std::string cluster_name;        // built-in cluster it maps to
  costmodel::Cluster cluster;      // uncalibrated, with the record's link figures applied
  // end_to_end, per_layer:
  costmodel::Model model;
  costmodel::Workload workload;
  costmodel::Layout layout;
  // Micro-batch-level recompute with its count unstated: PredictRecord sets
  // layout.partial_ckpt_mbs to the most that fit (Evaluator::MostPartialCheckpointMicroBatches),
  // as Korthikanti et al. 2022 (Appendix C) size it.
  bool partial_ckpt_fit = false;
  FlopConvention convention = FlopConvention::kPalm;
  // The peak the source's MFU divides by, when it says (measured.mfu_peak_tflops: llm-foundry's
  // FP8 rows use the FP8 dense peak); 0: the BF16 dense peak, published.json's convention.
  double mfu_peak_flops = 0;
  // collective:
  costmodel::CollectiveSample collective;
  // gemm: its shape; a burst record (layout.regime "burst", the default: a short timed loop, the
  // clocks at boost) or a sustained one ("sustained": the chain held at the power limit, with
  // the same run's burst figure, measured.burst_tflops, beside it); FP8 operands (sustained only:
  // a burst FP8 record is the source of gemm_fp8_peak_fraction, not scored).
  int64_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  bool gemm_sustained = false;
  bool gemm_fp8 = false;
  double gemm_burst_tflops = 0;
  std::vector<Measured> measured;
};

// --- The rules, exposed for their tests. Each returns the value or sets `reason`. The tables
// behind them (GPU names, bandwidth words, defaults, source -> framework) are data:
// data/reference/mapping.json, read once.

/// The built-in cluster for a free-text GPU name ("A100-SXM4-80GB", "H100 SXM", "B200"). A name
/// the table maps only with an assumption (an A100 with no memory size) sets `assumption`.
std::string ClusterForGpu(std::string_view gpu, std::string& reason, std::string& assumption);
/// Per-GPU unidirectional GB/s of an intra-node link phrase ("600 GB/s bidir", "1.8 TB/s
/// bidirectional", "NVLink4"), or nullopt if it names none. A per-node figure is divided by
/// `gpus_per_node`.
std::optional<double> IntraLinkGBps(std::string_view phrase, int64_t gpus_per_node = 8);
/// An inter-node link phrase read as NICs per node x Gb/s per NIC.
struct NicReading {
  int64_t nics = 0;
  double Gbps_each = 0;
  bool count_assumed = false;  // the phrase gave a rate but no NIC count: `default_nics` used
  bool operator==(const NicReading&) const = default;
};
/// "8x 400G", "8x Mellanox HDR 200 Gb/s", "3.2 Tbps per node", "400 Gb/s per GPU", "NDR",
/// "1600 Gbps node-node RoCE"; nullopt when it names no rate ("RoCE", "EFA", "not stated").
std::optional<NicReading> InterLinkNics(std::string_view phrase, int64_t default_nics,
                                        int64_t gpus_per_node);
/// none / selective / full from a recompute phrase; nullopt with `reason` when not modelled.
/// A phrase that also names micro-batch-level recompute ("selective + microbatch-level") sets
/// `partial_fit`: the mode is the rest of the phrase's.
std::optional<costmodel::Recompute> RecomputeFor(std::string_view phrase, std::string& reason,
                                                 int64_t* ac_freq = nullptr, bool* partial_fit = nullptr);
/// The gradient-reduction dtype a 16-bit mixed-precision phrase states ("PURE",
/// "grad_reduce_in_fp32=False", "DEFAULT"), else `fallback` (the framework's).
costmodel::Dtype ReduceDtypeFor(std::string_view phrase, costmodel::Dtype fallback);
/// The one place that decides what meshplan does not model yet: "" or a short stable reason
/// ("pipeline parallelism not modelled", "fp8 not modelled", ...) for a record's layout and
/// model objects (reference format).
std::string UnmodelledFeature(const nlohmann::json& layout, const nlohmann::json& model);
/// The framework (a data/frameworks name) a record ran: its layout.framework phrase, else the
/// source table's; "" when neither says.
std::string FrameworkFor(std::string_view framework_phrase, std::string_view source_ref);
/// The FLOP convention of a source reference.
FlopConvention ConventionFor(std::string_view source_ref);
/// The short name records are grouped by: a repository ("pytorch/torchtitan") or the text
/// before the first comma or parenthesis ("Korthikanti et al. 2022").
std::string SourceName(std::string_view source_ref);
/// Bytes of a message-size phrase: "32KiB", "8GiB", "1048576" (binary prefixes).
std::optional<double> MessageBytes(std::string_view phrase);

/// Maps one record (a JSON object of the reference format). A non-empty `framework` (a
/// data/frameworks name) replaces the one the record names or its source implies.
ReferenceRecord MapRecord(const nlohmann::json& record, const std::string& framework = "");
/// Maps every record of a reference file; a file that is not of the format is an Error. A
/// collective record that publishes one bandwidth per group size becomes one record each.
std::vector<ReferenceRecord> MapReferenceFile(std::string_view text, std::string_view origin,
                                              const std::string& framework = "");

/// A measured value against its prediction; error_pct = 100 (predicted - measured) / measured.
struct ScoredQuantity {
  std::string quantity;
  double measured = 0, predicted = 0, error_pct = 0;
  // step_time_s of a training record: the layer passes of its busiest pipeline stage in a step
  // (its layers x the micro-batches), for SplitStepResiduals. 0 otherwise.
  double layer_passes = 0;
  // The first quantity of an end-to-end record also carries what the evaluator says of the
  // layout the run used. A run that was measured fits by definition, so a
  // reason here (its memory above the GPU's, most often) is an error of the model, counted apart
  // from the quantities' errors.
  std::vector<std::string> infeasible;
  std::vector<std::string> rejection_codes;  // the same reasons' codes (ReasonCodeName)
  costmodel::MemoryBreakdown memory;           // the layout's predicted memory (capacity 0: none)
  // And where its predicted step goes (step_s 0: none): the evaluator's time breakdown, and each
  // purpose's collectives in seconds per step, hidden or not (time x calls), so that a record's
  // error can be read against what the step spends (accuracy --json, predicted_time).
  costmodel::TimeBreakdown time;
  std::map<std::string, double> collective_s;
};

/// One scored step time, for SplitStepResiduals.
struct StepResidual {
  double predicted_s = 0, measured_s = 0, layer_passes = 0;
};

/// A diagnostic, never applied to a prediction: the step times of one source, measured against
/// predicted, split into a rate and a fixed cost per layer pass by least squares on the
/// relative error, measured ~ rate x predicted + fixed_s x layer_passes. A rate away from 1
/// with no fixed cost says the work is priced too fast or too slow; a fixed cost with a rate
/// near 1 says something the model does not price costs the same per layer and micro-batch
/// whatever the work (host-side dispatch, launches, synchronisation). `separable` is false when
/// the two columns cannot be told apart (every record with the same passes per predicted second)
/// or fewer than 3 records are given.
struct ResidualSplit {
  int64_t n = 0;
  bool separable = false;
  double rate = 0, fixed_s = 0;
  double mape_pct = 0;        // of the predictions as they are
  double mape_after_pct = 0;  // of rate x predicted + fixed_s x passes
};
ResidualSplit SplitStepResiduals(const std::vector<StepResidual>& rows);

/// One scored step time with what makes its per-GPU work comparable to another's, for
/// FitScaleTrend: `work` is equal for runs that differ only in their data-parallel degree (the
/// same model, sequence, precision, micro-batch, micro-batches per step, and every dimension but
/// FSDP and replication), `gpus` is the run's GPU count.
struct ScaledStep {
  std::string work;
  int64_t gpus = 0;
  double error_pct = 0;
};

/// A diagnostic, never applied to a prediction: how a source's step-time error moves with the
/// job's size when the work per GPU does not. Runs are grouped by `work`; in every group with at
/// least two GPU counts, the error is regressed on log2(gpus) about the group's own means, so
/// the shapes' own biases cancel and what is left is what the model misses as the same work is
/// spread over more GPUs (collective latency, stragglers, jitter, network contention). Slopes
/// are in points of error per doubling of the GPU count (negative: the prediction grows too
/// slowly with the job): the median of the groups' own slopes (one odd run moves it little) and
/// the groups pooled (least squares within groups). `defined` is false below two groups.
struct ScaleTrend {
  int64_t groups = 0;  // groups with two or more GPU counts
  int64_t rows = 0;    // the records in them
  int64_t min_gpus = 0, max_gpus = 0;
  bool defined = false;
  double median_slope_pct_per_doubling = 0;
  double pooled_slope_pct_per_doubling = 0;
};
ScaleTrend FitScaleTrend(const std::vector<ScaledStep>& rows);

/// Predicts every measured quantity of a mapped record on `cluster` (the record's cluster with
/// any calibration applied). Uses the analytical evaluator (costmodel/evaluate.h).
std::vector<ScoredQuantity> PredictRecord(const ReferenceRecord& r, const costmodel::Cluster& cluster);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_REFERENCE_H_
