// File: tools/cli_common.h
// Shared pieces of the meshplan CLI: the workload flags every costing command takes, their
// validation into specs, and atomic output files. Subcommands follow CLI11's
// subcom_in_files example: an options struct, SetupX(app) binds flags, RunX(opts) does the work.
#ifndef MESHPLAN_TOOLS_CLI_COMMON_H_
#define MESHPLAN_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "costmodel/evaluate.h"
#include "costmodel/output_file.h"
#include "costmodel/specs.h"
#include "plans/framework.h"
#include "sim/simulate.h"
#include <nlohmann/json_fwd.hpp>

namespace meshplan::tools {

// The workload switches (costmodel::WorkloadSwitches) are set by --framework, and dp_* by
// --from-megatron without --overlap-grad-reduce / --overlap-param-gather and its DDP buckets.
struct WorkloadOptions : costmodel::WorkloadSwitches {
  std::string model;
  std::string cluster;
  int64_t gpus = 0;
  int64_t global_batch = 0;
  int64_t seq = 0;
  std::string recipe;  // empty: command default
  std::string recipe_from = "--recipe";  // the flag that set recipe (--framework NAME sets it too)
  std::string reduce_dtype = "fp32";
  bool no_flash_attention = false;
  int flash_version = 2;
  bool eager_elementwise = false;
  bool fsdp1 = false;  // --fsdp1: FSDP1's flat parameters, no FSDP2 copies (Workload::fsdp2_copies)
  bool fsdp1_given = false;  // --fsdp1 on the command line (a --framework may set fsdp1 too)
  std::string precision = "bf16";  // bf16 | fp8 (the linear layers' GEMMs)
  bool fp8_param_gather = false;
  std::string fp8_recipe;  // --fp8-recipe te-delayed | te-tensorwise; empty: te-delayed
  bool allow_cross_node_tp = false;
  std::string mfu_convention = "noncausal";  // costmodel::Workload::mfu_causal
  // Mixture of experts (costmodel/experts.h): capacity factor (0: dropless), padding, imbalance.
  double moe_capacity_factor = 0;
  bool moe_pad_to_capacity = false;
  double moe_imbalance = 0;
  std::string calibration;  // profile name or path; empty: the cluster's shipped profile, if any
  bool no_calibration = false;  // --no-calibration: the uncalibrated model
  std::string global_batch_tokens;  // --global-batch-tokens: "4M" or "4194304"; sets global_batch
  // --framework NAME: its name, and the layouts it runs (the search's space); unset when an
  // explicit --recipe is not the framework's (then nothing limits the search).
  std::string framework;
  std::optional<plans::FrameworkLayouts> framework_layouts;
};

/// --global-batch-tokens' text as tokens: decimal digits with an optional K, M or G suffix
/// (2^10, 2^20, 2^30: "4M" = 4194304). Errors name the flag.
int64_t ParseTokenCount(const std::string& text, const std::string& flag);
/// Sets o.global_batch from o.global_batch_tokens (which must be a multiple of o.seq) and clears
/// the latter; an error when both or neither is given (`required`).
void ResolveGlobalBatchTokens(WorkloadOptions& o, bool required = true);

/// Adds --calibration and --no-calibration.
void AddCalibrationFlags(CLI::App* app, WorkloadOptions& o);
/// The calibration line every costing command prints: the profile applied and why, e.g.
/// "dgx-h100 (the shipped profile of cluster dgx-h100, data/calibration/dgx-h100.json;
/// --no-calibration for the uncalibrated model)".
std::string CalibrationWhy(const WorkloadOptions& o, const costmodel::Cluster& calibrated);

/// Largest --gpus (16.7M GPUs: beyond any cluster) and --global-batch.
inline constexpr int64_t kMaxGpus = int64_t{1} << 24;
inline constexpr int64_t kMaxGlobalBatch = int64_t{1} << 30;
inline constexpr int64_t kMaxSeq = int64_t{1} << 24;

/// A CLI11 check of an integer flag's text, before CLI11 converts it (which saturates on
/// overflow): "must be an integer, got 'x'" or "must be in [min, max], got N". Applies to each
/// element of a list flag.
CLI::Validator IntegerIn(int64_t min, int64_t max);
/// The same for a decimal number (no hexadecimal, inf or nan): "must be in [min, max], got x".
CLI::Validator NumberIn(double min, double max);

/// Adds --flash-version, --eager-elementwise and --mfu-convention (also for commands that add the workload flags
/// one by one).
void AddKernelFlags(CLI::App* app, WorkloadOptions& o);

/// Adds --model --cluster --gpus --global-batch --seq --recipe --reduce-dtype
/// --no-flash-attention --flash-version --eager-elementwise --allow-cross-node-tp.
/// `gpus_required` false for commands that take lists.
void AddWorkloadFlags(CLI::App* app, WorkloadOptions& o, bool gpus_required = true,
                      bool batch_required = true);

struct Resolved {
  costmodel::Model model;
  costmodel::Cluster cluster;
  costmodel::Workload workload;
};

/// The cluster named by --cluster with the --calibration profile applied; without one, the
/// cluster's shipped profile (data/calibration/, matched by cluster name) unless --no-calibration.
costmodel::Cluster ResolveCalibratedCluster(const WorkloadOptions& o);
/// The same from the two flags' values (commands without the workload flags).
costmodel::Cluster ResolveCalibratedCluster(const std::string& cluster, const std::string& calibration);
/// Loads the model and cluster and checks the numeric flags against them (exit 2 on error).
Resolved Resolve(const WorkloadOptions& o);

/// --fsdp1 given for a layout that is not the fsdp2 recipe: an error naming `where` (FSDP1 is a
/// way to run the fsdp2 recipe; Megatron's recipe has none, and the flag would be dropped).
void CheckFsdp1(const WorkloadOptions& o, const costmodel::Layout& l, const std::string& where);
/// Under --framework, a note (NoteLine) when the framework cannot run `l` (FrameworkLayoutProblem
/// says why); `what` names the layout in the note ("this layout", or its text). The layout is
/// priced as given either way.
void NoteIfFrameworkCannotRun(const WorkloadOptions& o, const costmodel::Layout& l, const std::string& what);
/// Checks gpus/global_batch/seq for one point of the workload.
costmodel::Workload MakeWorkload(const WorkloadOptions& o, const costmodel::Model& m,
                                 const costmodel::Cluster& c, int64_t gpus, int64_t global_batch,
                                 int64_t seq);

/// Writes `content` to `path` (costmodel/output_file.h: atomic for regular files, written
/// through for devices and FIFOs); errors name `flag`.
void WriteFileAtomic(const std::string& path, const std::string& content, const std::string& flag);

using OutputFile = costmodel::OutputFile;
/// All or nothing: writes every file to a temporary, then renames them into place; on any
/// failure the temporaries are removed and (unless a rename fails midway) nothing is written.
void WriteFilesAtomic(const std::vector<OutputFile>& files);

/// Before any work (CLI11's parse-complete callback of the root app): every value given to an
/// option of the chosen subcommand must be non-empty; every output (--json, --trace, --html,
/// -o/--out, --output, --emit-torchtitan, --emit-megatron) must have a writable place (costmodel::CheckOutputTarget), no two outputs may be
/// one file and no output may be one of the files the command reads (by file identity).
void PreflightFiles(const CLI::App& app);
/// fflush(stdout), remembering the OS reason of the first failure for the check at exit
/// (StdoutErrno; stdio itself keeps only an error flag).
void FlushStdout();
/// A note for standard error (one whole line, newline added), held until the command has
/// succeeded: FlushNotes then writes the notes after flushing standard output (so that in a log
/// of both, 2>&1, a note never lands inside a line of the report); a command that fails prints
/// its error alone (DiscardNotes): a note before an error is noise.
void NoteLine(const std::string& line);
void FlushNotes();
void DiscardNotes();
/// errno of the first failed FlushStdout, or 0.
int StdoutErrno();

/// Before parsing: a list flag (--gpus 64,128) must have no empty element ("64,,128", "64,"),
/// which CLI11 would drop silently.
void CheckListSyntax(const CLI::App& app, int argc, const char* const* argv);

/// Simulator resources, checked before a simulation starts (measured on a 2-core builder:
/// about 0.5 us and 170 bytes per task with the timeline, and a Chrome trace about 18 us and
/// 2 KB per task while it is built): at most kMaxSimulatedTasks per command (about 5 s and
/// 1.7 GB; plan's --refine shares it across the layouts it refines) and kMaxTraceTasks with
/// --trace (about 9 s, 1 GB and 110 MB of JSON).
inline constexpr int64_t kMaxSimulatedTasks = 10'000'000;
inline constexpr int64_t kMaxTraceTasks = 500'000;
/// An upper bound of the simulator's task count for layout `l` evaluated as `e`: without a
/// pipeline sim/step_graph.cc builds micro-batches x (6 + up to 7 per layer) + up to 3 per layer
/// + 1 tasks; a pipeline runs pp x vpp x micro-batches x 3 schedule actions (sim/simulate.cc).
int64_t SimulatedTasksBound(const costmodel::Evaluator& ev, const costmodel::Layout& l,
                            const costmodel::Evaluation& e);

/// Puts a simulated step into a report's layout entry (time{} simulated, time.analytical{}).
void ApplySimulation(nlohmann::json& entry, const sim::SimResult& r, double tokens, double gpus);

/// Writes the HTML report of one JSON report's text, as `meshplan report` draws it, naming the
/// input `name` in the page (the --html shortcut of plan, simulate, compare and sweep).
std::string HtmlReportFor(const std::string& json_text, const std::string& name);

void SetupInfo(CLI::App& app);      // models, clusters, inspect
void SetupSimulate(CLI::App& app);  // simulate
void SetupPlan(CLI::App& app);      // plan, compare, sweep
void SetupAccuracy(CLI::App& app);  // accuracy
void SetupCalibrate(CLI::App& app); // calibrate
void SetupReport(CLI::App& app);    // report
void SetupValidate(CLI::App& app);  // validate

}  // namespace meshplan::tools

#endif  // MESHPLAN_TOOLS_CLI_COMMON_H_
