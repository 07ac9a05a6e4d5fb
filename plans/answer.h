// File: plans/answer.h
// One answer out of a ranked search: the numbers each row was ranked by (simulated when the
// simulator refined it, analytical otherwise), the top list a person reads (recipe twins folded,
// a headroom rule, ties inside the model's own error band marked) and the summary block that
// opens every `plan` output. Pure: no printing, no files but the error-band data it reads.
//
// The error band is data, never a literal here: data/accuracy/error_bands.json, written by
// `meshplan accuracy --reference data/reference/published.json --leave-source-out --error-bands`
// (out of sample, per GPU generation). Units: seconds, bytes, percent where named _pct.
#ifndef MESHPLAN_PLANS_ANSWER_H_
#define MESHPLAN_PLANS_ANSWER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "costmodel/evaluate.h"
#include "costmodel/specs.h"
#include "plans/search.h"
#include "sim/simulate.h"

namespace meshplan::plans {

/// The work regimes a generation's band is also split by: the predicted step time per layer pass
/// (the step over the busiest stage's layers x micro-batches), in seconds; regime i is
/// [edge i-1, edge i), the first from 0 and the last unbounded. The error is not the same across
/// them: vTrain's 1,440 Megatron-DeepSpeed runs never took under 3.2-3.7 ms per layer pass
/// whatever the work (README, "Residual split"), so a layout predicted at 1 ms per pass is 60-75%
/// optimistic and one at 100 ms is not. The band of a layout is its regime's, once enough runs
/// stand behind it. A fixed log grid (factors of 4), never moved to fit the errors.
inline constexpr double kLayerPassRegimeEdgesS[] = {0.004, 0.016};
inline constexpr int kLayerPassRegimes = 3;
/// A regime's band stands for a layout from this many runs on; below, the generation's does.
inline constexpr int64_t kMinRegimeRuns = 10;
/// The regime (0 .. kLayerPassRegimes - 1) of a step time per layer pass.
int LayerPassRegime(double step_s_per_layer_pass);
/// A step per layer pass in milliseconds as reports print it: two significant figures under
/// 10 ms ("0.48", "3.5"), whole milliseconds from there ("28", "150"), never an exponent.
std::string LayerPassMsText(double step_s_per_layer_pass);
/// The layer passes of the busiest pipeline stage in a step: its layers (uneven splits included)
/// x the micro-batches. 0 when the layout cannot split the layers.
double LayerPasses(const costmodel::Layout& layout, int64_t layers, double micro_batches);

/// Out-of-sample end-to-end step-time error of one GPU generation.
struct ErrorBand {
  std::string generation;  // the band's key: "A100", "H100", "B200"
  std::string why;         // how the cluster's GPU was matched to it
  int64_t n = 0;
  double mape_pct = 0, bias_pct = 0, worst_pct = 0;
  double spread_pct = 0;   // mean absolute deviation around the bias: the tie band
  std::string source;      // the command that wrote the band file
  // The same runs predicted with the shipped profile, where it was fitted on kernels of some of
  // their sources (shipped_in_sample of them): what the profile plan uses does on them.
  int64_t shipped_n = 0, shipped_in_sample = 0;
  double shipped_mape_pct = 0, shipped_bias_pct = 0, shipped_worst_pct = 0;
  // Set when the figures above are one work regime's (ReadErrorBand given a step per layer
  // pass): the regime's bounds (below_s 0: unbounded), the layout's step per layer pass, and the
  // whole generation's figures beside.
  bool regime = false;
  double regime_from_s = 0, regime_below_s = 0, layer_pass_s = 0;
  int64_t generation_n = 0;
  double generation_mape_pct = 0, generation_bias_pct = 0;
  // A step per layer pass was given but its regime has fewer than kMinRegimeRuns runs: the
  // generation's figures stand, and the regime's run count says why.
  bool regime_too_thin = false;
  int64_t regime_n = 0;
  // The largest GPU count among the generation's runs (0: the file does not say), and how each
  // source's error moved per doubling of the GPUs at the same work per GPU (accuracy's scale
  // trend, a diagnostic): what a layout on more GPUs than the runs reached is told.
  int64_t max_gpus = 0;
  struct Trend {
    std::string source;
    double median_slope_pct_per_doubling = 0;
  };
  std::vector<Trend> scale_trends;
};

/// For a layout on `gpus` GPUs past the band's largest run: one sentence saying how far past, and
/// the most negative scale trend among its sources (the band may be optimistic there). Empty
/// when the layout is within the runs or the band does not say how far they reach.
std::string BeyondScoredScaleText(const ErrorBand& band, int64_t gpus);

/// The band of `gpu_name` from `path` (an error_bands.json): the key that starts the GPU's name
/// or follows a "G" (GB200 is a B200 with a Grace CPU), or a Hopper alias (H200 -> H100: the same
/// GH100 die and clocks, more and faster HBM). nullopt when the file or the generation is absent.
/// With `step_s_per_layer_pass` > 0 (the layout the band is for), the figures are those of the
/// generation's runs in the same work regime where it has kMinRegimeRuns of them.
/// A malformed file is an Error naming it.
std::optional<ErrorBand> ReadErrorBand(const std::string& path, const std::string& gpu_name,
                                       double step_s_per_layer_pass = 0);
/// The band as the JSON reports carry it (`summary.error_band` of plan, `error_band` of simulate
/// and sweep); null without one.
nlohmann::json ErrorBandJson(const std::optional<ErrorBand>& band);
/// data/accuracy/error_bands.json under costmodel::DataDir().
std::string DefaultErrorBandsPath();

/// One row as shown and as ranked.
struct ShownRow {
  costmodel::Layout layout;
  bool simulated = false;  // the numbers below come from the discrete-event simulator
  double step_s = 0, tokens_per_s_per_gpu = 0, mfu = 0;
  double exposed_tp_s = 0, exposed_fsdp_s = 0, exposed_dp_s = 0, pp_s = 0;  // pp: bubble + sends
  double exposed_cp_s = 0;  // context parallelism's KV exchange not hidden
  double exposed_ep_s = 0;  // MoE dispatch and combine (shown in the notes column)
  bool mfu_causal = false;  // the convention of mfu (Workload::mfu_causal)
  double peak_bytes = 0, capacity_bytes = 0;
  double sim_peak_bytes = 0;  // the simulator's memory peak (0: not simulated); shown when it differs
  int64_t grad_accum = 1;
  size_t rank = 0;  // index in the ranked list it was made from
  // Filled by BuildTopList.
  std::vector<ShownRow> variants;  // folded twins (recipe, or a ZeRO stage without effect)
  bool tight = false;              // peak above kTightFraction of usable memory
  // What the caching allocator would hold with room to spare (reserved + CUDA context + NCCL)
  // is above usable memory: the layout fits only because the allocator returns its cache to the
  // driver and retries (device-synchronising cudaFree / cudaMalloc, not priced in the step).
  bool flushes = false;
  double reserved_total_bytes = 0;
  bool tie = false;                // within the error band of row 1 (never row 1 itself)
  double vs_best_pct = 0;          // step time relative to row 1
  double headroom_bytes() const { return capacity_bytes - peak_bytes; }
};

/// Warn above this fraction of usable memory (allocator growth, a longer sequence in the data,
/// framework buffers not modelled push a run that close over the edge).
inline constexpr double kTightFraction = 0.90;

/// The row of candidate `c`: the simulator's step, exposed communication and throughput when
/// `sim` is set (MFU scaled by analytical/simulated step, as the JSON report does), else the
/// analytical ones; memory is the analytical peak (the one feasibility is decided on).
ShownRow MakeShownRow(const Candidate& c, const sim::SimResult* sim, const costmodel::Workload& w);

struct TopListOptions {
  size_t top = 10;
  bool show_variants = false;   // --show-variants: no folding
  double min_headroom_gib = 0;  // --min-headroom-gib: rows with less are left out
};

struct TopList {
  std::vector<ShownRow> rows;          // at most `top`, best first
  int64_t folded = 0;                  // rows folded into an earlier twin
  int64_t below_headroom = 0;          // rows left out by min_headroom_gib
  std::optional<size_t> roomy_alternative;  // row 1 is tight: the first row that is not
};

/// Folds twins, applies the headroom rule and marks ties. `ranked` is in rank order.
/// Twins: rows whose layouts differ only in recipe fold always (the recipe is the framework the
/// user runs, not a choice the ranking makes; the fold keeps the faster), rows that differ only
/// in ZeRO stage fold when their step and peak are equal to 1e-9 (the stage had no effect).
TopList BuildTopList(const std::vector<ShownRow>& ranked, const TopListOptions& opt,
                     const std::optional<ErrorBand>& band);

/// "+0.4%" or "+0.4% tie" for the vs-best column.
std::string VsBestText(const ShownRow& r);

/// The table (one line per row): the numbers ranked by, a column that says whether they are
/// simulated, grad accumulation, headroom, variants and ties; then its legend.
std::string FormatShownTable(const std::vector<ShownRow>& rows);
std::string TableLegend(bool any_simulated, bool any_variants, const std::optional<ErrorBand>& band);

/// What the summary needs besides the rows.
struct SummaryInputs {
  std::string calibration;           // profile applied, "" when uncalibrated
  std::string calibration_why;       // "shipped profile of dgx-h100", "--calibration", ...
  std::optional<ErrorBand> band;
  std::vector<std::string> caveats;  // assumptions and dimensions not searched
};

/// The summary block that opens `plan`: recommended layout, step time, tokens/s/GPU, MFU with its
/// convention, peak memory and headroom, the error band, the caveats.
std::string FormatSummary(const costmodel::Evaluator& ev, const TopList& list, const SummaryInputs& in);

/// The MFU convention sentence for a cluster: model FLOPs over the BF16 dense peak.
std::string MfuConvention(const costmodel::Cluster& c, bool causal);

/// The caveats of a search: what was assumed and which dimensions were not searched.
std::vector<std::string> SearchCaveats(const costmodel::Evaluator& ev, const SearchOptions& so);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_ANSWER_H_
