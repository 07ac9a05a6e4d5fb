// File: plans/report.h
// Reporters: the evaluator and the search fill result structs; these turn them into the JSON
// fixed in shared/DESIGN.md ("Report") and into text tables. No I/O here: callers write.
#ifndef MESHPLAN_PLANS_REPORT_H_
#define MESHPLAN_PLANS_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "costmodel/evaluate.h"
#include "plans/search.h"

namespace meshplan::plans {

inline constexpr int kReportSchemaVersion = 1;
/// "meshplan X.Y.Z"
std::string ToolVersion();

/// The report's `inputs` block.
nlohmann::json InputsJson(const costmodel::Evaluator& ev,
                          const std::optional<std::string>& calibration);
/// A step's time breakdown as reports write it (`time`): the step, its compute and each exposed
/// part, the optimizer, the bubble and the GEMM efficiency.
nlohmann::json TimeBreakdownJson(const costmodel::TimeBreakdown& t);
/// One entry of `layouts[]`.
nlohmann::json LayoutEntryJson(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                               const costmodel::Evaluation& e);
/// A report skeleton: schema_version, tool, command, inputs.
nlohmann::json ReportSkeleton(const std::string& command, const costmodel::Evaluator& ev,
                              const std::optional<std::string>& calibration);
/// The `search` block of a plan report (seconds only when `with_timing`: it breaks byte-identity).
nlohmann::json SearchJson(const SearchResult& r, bool with_timing);

/// Reads back a report written by plan, simulate or compare (--json), as `compare` does: checks
/// schema_version (a newer one is an Error naming it) and returns the numbers of layouts[0], its
/// layout_text in `layout_text`. Errors name `origin` and the JSON path.
costmodel::Evaluation ReadReportFirstLayout(const nlohmann::json& report, const std::string& origin,
                                            std::string& layout_text);

/// Serialises a report; throws meshplan::Error (runtime) if any number is NaN or infinite.
std::string DumpReport(const nlohmann::json& report);

/// Full human-readable breakdown of one layout (what `simulate` prints).
std::string FormatBreakdown(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                            const costmodel::Evaluation& e);
/// One table row per layout: layout, step, tokens/s/GPU, MFU, peak GiB, exposed comm.
std::string FormatTable(const std::vector<Candidate>& rows);

/// "step +12.3 ms (+5.0%): exposed FSDP comm +10.1 ms, compute +2.0 ms" for b relative to a:
/// the terms that moved, largest first.
std::string FormatDelta(const costmodel::Evaluation& a, const costmodel::Evaluation& b);

/// Latency share of the FSDP communication of an evaluation (0 when there is none).
double FsdpLatencyShare(const costmodel::Evaluation& e);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_REPORT_H_
