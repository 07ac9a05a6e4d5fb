// File: plans/reference.h
// Published measurements (data/reference/published.json format) mapped onto meshplan's specs, and
// the predictions `meshplan accuracy --reference` scores against them.
//
// Every record is mapped by the same rule tables (reference.cc), never by its id: the GPU name
// and link phrases pick and adjust a built-in cluster, the model shape comes from the record's
// numbers and its architecture phrase, the layout from its parallel degrees, batch, recompute and
// precision phrases, and the source's FLOP convention from the source's name. A record the rules
// cannot read is skipped with the reason, never guessed. Pure functions: no files, no printing.
#ifndef MESHPLAN_PLANS_REFERENCE_H_
#define MESHPLAN_PLANS_REFERENCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "costmodel/calibration.h"
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
  std::vector<std::string> notes;  // the rules that filled something in, for the report
  std::string cluster_name;        // built-in cluster it maps to
  costmodel::Cluster cluster;      // uncalibrated, with the record's link figures applied
  // end_to_end, per_layer:
  costmodel::Model model;
  costmodel::Workload workload;
  costmodel::Layout layout;
  FlopConvention convention = FlopConvention::kPalm;
  // collective:
  costmodel::CollectiveSample collective;
  // gemm:
  int64_t gemm_m = 0, gemm_n = 0, gemm_k = 0;
  std::vector<Measured> measured;
};

// --- The rules, exposed for their tests. Each returns the value or sets `reason`.

/// The built-in cluster for a free-text GPU name ("A100-SXM4-80GB", "H100 SXM", "A100-80GB").
/// An A100 without a memory size maps to the 80GB part only when `needs_memory` is false.
std::string ClusterForGpu(std::string_view gpu, bool needs_memory, std::string& reason);
/// Per-GPU unidirectional GB/s of an intra-node link phrase, or nullopt if it names none.
std::optional<double> IntraLinkGBps(std::string_view phrase);
/// {NICs per node, Gb/s per NIC} of an inter-node link phrase, or nullopt if it names none.
std::optional<std::pair<int64_t, double>> InterLinkNics(std::string_view phrase);
/// none / selective / full from a recompute phrase; nullopt with `reason` when not modelled.
std::optional<costmodel::Recompute> RecomputeFor(std::string_view phrase, std::string& reason);
/// The gradient-reduction dtype of a 16-bit mixed-precision phrase; nullopt with `reason`.
std::optional<costmodel::Dtype> ReduceDtypeFor(std::string_view phrase, std::string& reason);
/// The FLOP convention of a source reference.
FlopConvention ConventionFor(std::string_view source_ref);
/// The short name records are grouped by: a repository ("pytorch/torchtitan") or the text
/// before the first comma or parenthesis ("Korthikanti et al. 2022").
std::string SourceName(std::string_view source_ref);
/// Bytes of a message-size phrase: "32KiB", "8GiB", "1048576" (binary prefixes).
std::optional<double> MessageBytes(std::string_view phrase);

/// Maps one record (a JSON object of the reference format).
ReferenceRecord MapRecord(const nlohmann::json& record);
/// Maps every record of a reference file; a file that is not of the format is an Error.
std::vector<ReferenceRecord> MapReferenceFile(std::string_view text, std::string_view origin);

/// A measured value against its prediction; error_pct = 100 (predicted - measured) / measured.
struct ScoredQuantity {
  std::string quantity;
  double measured = 0, predicted = 0, error_pct = 0;
};

/// Predicts every measured quantity of a mapped record on `cluster` (the record's cluster with
/// any calibration applied). Uses the analytical evaluator (costmodel/evaluate.h).
std::vector<ScoredQuantity> PredictRecord(const ReferenceRecord& r, const costmodel::Cluster& cluster);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_REFERENCE_H_
