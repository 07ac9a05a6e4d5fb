// meshplan validate: turns a plan file into the launch line of meshplan-validate for the user's
// cluster (mpirun or srun, with the rank-to-GPU mapping the plan's mesh needs: G ranks per node,
// consecutive ranks on one node, so TP groups stay inside a node), prints it, and with --run
// runs it and prints the plan's predictions next to what was measured.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "costmodel/calibration.h"
#include "costmodel/compute.h"
#include "costmodel/zoo.h"
#include "costmodel/error.h"
#include "costmodel/json_reader.h"
#include "costmodel/kernels.h"
#include "costmodel/memory.h"
#include "costmodel/plan_file.h"
#include "costmodel/spec_io.h"
#include "tools/cli_common.h"

namespace meshplan::tools {
namespace {

constexpr int64_t kMaxLayoutIndex = 1 << 20;

struct ValidateOptions {
  std::string plan;
  std::string launcher = "mpirun";
  std::string backend = "nccl";
  std::string out = "measurements.json";
  bool run = false;
  int64_t np_per_node = 0;  // 0: the cluster's GPUs per node (at most the plan's GPU count)
  int64_t layout_index = 0;
  std::string validate_bin;  // empty: found next to this binary
  std::vector<std::string> passthrough;  // --max-bytes etc. as given
  double max_bytes = 0, timeout_s = 0, sustain_s = 0;
  int iters = 0, steps = 0;
  std::string calibration;  // profile applied to the plan's cluster for the printed predictions
  std::string show;         // a measurement file of this plan: compare it, run nothing
};

/// meshplan-validate: $MESHPLAN_VALIDATE, next to this binary, the build tree's validate/, PATH.
std::string FindValidateBinary() {
  if (const char* env = std::getenv("MESHPLAN_VALIDATE")) return env;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& p : {self.parent_path() / "meshplan-validate",
                              self.parent_path().parent_path() / "validate" / "meshplan-validate"}) {
      if (fs::exists(p, ec)) return p.string();
    }
  }
  return "meshplan-validate";
}

std::string Quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./=:,+@%") == std::string::npos) {
    return s;
  }
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// A command line of shell words, each quoted where the shell would split or expand it.
std::string QuotedLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& a : argv) line += (line.empty() ? "" : " ") + Quote(a);
  return line;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::vector<std::string> LaunchLine(const ValidateOptions& o, const costmodel::PlanSpec& p) {
  const int64_t n = p.workload.gpus;
  const int64_t g = o.np_per_node > 0 ? o.np_per_node
                                      : std::min<int64_t>(n, p.cluster.node.gpus_per_node);
  if (n % g != 0) {
    throw Error("--np-per-node", std::to_string(g) + " does not divide the plan's " +
                                     std::to_string(n) + " GPUs");
  }
  if (p.layout.tp > g || g % p.layout.tp != 0) {
    throw Error("--np-per-node", "must be a multiple of tp " + std::to_string(p.layout.tp) +
                                     " so every TP group stays inside a node, got " + std::to_string(g));
  }
  const int64_t nodes = n / g;
  const bool cpu = o.backend == "cpu";
  std::vector<std::string> a;
  if (o.launcher == "mpirun") {
    a = {"mpirun", "-np", std::to_string(n)};
    if (cpu) {
      // MPI ranks on this host are the "GPUs": more ranks than cores is expected.
      a.push_back("--oversubscribe");
      if (::geteuid() == 0) a.push_back("--allow-run-as-root");
    } else {
      // G consecutive ranks per node (rank r on node r / G, GPU r % G = its local rank).
      a.insert(a.end(), {"--map-by", "ppr:" + std::to_string(g) + ":node", "--bind-to", "none"});
    }
  } else {
    a = {"srun", "-N", std::to_string(cpu ? 1 : nodes), "--ntasks-per-node",
         std::to_string(cpu ? n : g)};
    if (cpu) {
      a.push_back("--overcommit");
    } else {
      a.push_back("--gpus-per-node=" + std::to_string(g));
    }
  }
  a.insert(a.end(), {o.validate_bin.empty() ? FindValidateBinary() : o.validate_bin, "--plan",
                     o.plan, "--out", o.out, "--backend", o.backend});
  if (o.layout_index != 0) a.insert(a.end(), {"--layout-index", std::to_string(o.layout_index)});
  if (o.max_bytes > 0) a.insert(a.end(), {"--max-bytes", Num(o.max_bytes)});
  if (o.iters > 0) a.insert(a.end(), {"--iters", std::to_string(o.iters)});
  if (o.steps > 0) a.insert(a.end(), {"--steps", std::to_string(o.steps)});
  if (o.timeout_s > 0) a.insert(a.end(), {"--timeout-s", Num(o.timeout_s)});
  if (o.sustain_s > 0) a.insert(a.end(), {"--sustain-s", Num(o.sustain_s)});
  return a;
}

std::string Ms(double s) { return Num(std::round(s * 1e6) / 1e3) + " ms"; }
std::string Us(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f us", s * 1e6);
  return b;
}
std::string Ratio(double predicted, double measured) {
  if (!(predicted > 0) || !(measured > 0)) return "";
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f%%", (predicted / measured - 1.0) * 100.0);
  return b;
}

/// Predicted vs measured, side by side (prediction error = predicted / measured - 1).
void PrintComparison(const costmodel::PlanSpec& p, const nlohmann::json& m) {
  const costmodel::Evaluator ev(p.model, p.cluster, p.workload);
  const costmodel::Evaluation e = ev.Evaluate(p.layout);
  const costmodel::ComputeParams cp = costmodel::ComputeParamsFor(p.cluster);
  std::printf("\npredicted vs measured (%s backend, %s on %s, %lld ranks)%s\n",
              m.value("backend", "?").c_str(), p.layout_text.c_str(), p.cluster.name.c_str(),
              static_cast<long long>(p.workload.gpus),
              m.value("complete", false) ? "" : "  [INCOMPLETE: the run stopped early]");
  std::printf("  %-52s %14s %14s %9s\n", "quantity", "predicted", "measured", "error");
  auto row = [](const std::string& q, const std::string& pr, const std::string& me, const std::string& er) {
    std::printf("  %-52s %14s %14s %9s\n", q.c_str(), pr.c_str(), me.c_str(), er.c_str());
  };
  if (m.contains("step") && m["step"].is_object()) {
    const double t = m["step"]["time_s"].get<double>();
    row("step time", Ms(e.time.step_s), Ms(t), Ratio(e.time.step_s, t));
    const double peak = m["step"]["peak_memory_bytes"].get<double>();
    char a[32], b[32];
    std::snprintf(a, sizeof a, "%.3f GiB", e.memory.peak_bytes / costmodel::kGiB);
    std::snprintf(b, sizeof b, "%.3f GiB", peak / costmodel::kGiB);
    row("peak memory per rank", a, b, Ratio(e.memory.peak_bytes, peak));
  }
  for (int i = 0; i < e.num_collectives; ++i) {
    const auto& u = e.collectives[static_cast<size_t>(i)];
    const std::string op(costmodel::ToString(u.op));
    const bool p2p = u.purpose == costmodel::Purpose::kPpP2p;
    const bool ep =
        u.purpose == costmodel::Purpose::kEpDispatch || u.purpose == costmodel::Purpose::kEpCombine;
    // The measurement file names the group a collective ran on (validate/mesh.h): the expert
    // exchange's all-to-alls on "ep", its gather/scatter of routed copies on "tp", the experts'
    // FSDP traffic on "edp" (fewer ranks than the fsdp x cp shard group).
    const std::string purpose = p2p ? "pp_p2p"
                                : u.purpose == costmodel::Purpose::kTp ? "tp"
                                : ep ? (u.op == costmodel::Coll::kAllToAll ? "ep" : "tp")
                                : u.purpose == costmodel::Purpose::kDpGradReduce ? "replicate"
                                : u.purpose == costmodel::Purpose::kTiedGradReduce ? "embedding"
                                : u.group.ranks == p.layout.shard() ? "fsdp" : "edp";
    double measured = -1;
    for (const auto& r : m.value(p2p ? "p2p" : "collectives", nlohmann::json::array())) {
      if (r["op"] == op && r["purpose"] == purpose && r["from_plan"] == true &&
          r[p2p ? "bytes" : "requested_bytes"].get<double>() == u.bytes) {
        measured = r["time_s"].get<double>();
      }
    }
    // The expert exchange's rows say which: ep_dispatch, ep_combine.
    const std::string label = ep ? std::string(costmodel::ToString(u.purpose)) : purpose;
    row(op + " " + label + " x" + std::to_string(u.group.ranks) + " " +
            Num(u.bytes) + " B",
        Us(u.cost.time_s), measured >= 0 ? Us(measured) : "-", measured >= 0 ? Ratio(u.cost.time_s, measured) : "");
  }
  for (const auto& g : m.value("gemms", nlohmann::json::array())) {
    const int64_t gm = g["m"], gn = g["n"], gk = g["k"], gb = g["batch"];
    const double pred = costmodel::GemmTime(cp, gm, gn, gk, gb).time_s;
    const double t = g["time_s"].get<double>();
    row("gemm " + g["name"].get<std::string>() + " " + g["pass"].get<std::string>() + " " +
            std::to_string(gm) + "x" + std::to_string(gn) + "x" + std::to_string(gk) +
            (gb > 1 ? " x" + std::to_string(gb) : ""),
        Us(pred), Us(t), Ratio(pred, t));
  }
}

/// Reads `path` as the measurement file of plan `p`'s run; `flag` names it in errors.
/// A file the user names (--show) is bad input when it is not this plan's (exit 2).
nlohmann::json ReadMeasurementsOf(const costmodel::PlanSpec& p, const std::string& path, const std::string& flag,
                                  ErrorKind kind) {
  nlohmann::json m;
  try {
    m = costmodel::ParseJsonText(costmodel::ReadFileText(path, flag), path);
  } catch (const Error& e) {
    throw Error(flag, std::string("cannot read this run's measurements: ") + e.what(), kind);
  }
  const bool have = m.is_object() && m.value("command", "") == "validate" && m.contains("plan") &&
                    m["plan"].is_object() && m["plan"].value("layout_text", "") == p.layout_text;
  if (!have) throw Error(flag, "'" + path + "' is not the measurement file of this plan's run", kind);
  return m;
}

void PrintComparisonOf(const costmodel::PlanSpec& p, const nlohmann::json& m, const std::string& flag,
                       const std::string& path) {
  try {
    PrintComparison(p, m);
  } catch (const nlohmann::json::exception& e) {
    throw Error(flag, "'" + path + "' is not a meshplan-validate measurement file: " + e.what(), ErrorKind::kRuntime);
  }
}

/// " (--layout-index N: its layout)" for the plan file's first feasible layout without context
/// parallelism, or "" when it has none (or is not JSON: ReadPlanFile has read it by then).
std::string CpFreeLayoutHint(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("layouts") || !j["layouts"].is_array()) return "";
  const nlohmann::json& layouts = j["layouts"];
  for (size_t i = 0; i < layouts.size(); ++i) {
    const nlohmann::json& e = layouts[i];
    // Entries other than the one ReadPlanFile checked may be malformed: looked at, never trusted.
    if (!e.is_object() || !e.contains("feasible") || e["feasible"] != true || !e.contains("layout") ||
        !e["layout"].is_object()) {
      continue;
    }
    const nlohmann::json cp = e["layout"].contains("cp") ? e["layout"]["cp"] : nlohmann::json(1);
    if (cp == 1 && e.contains("layout_text") && e["layout_text"].is_string()) {
      return " (--layout-index " + std::to_string(i) + ": " + e["layout_text"].get<std::string>() + ")";
    }
  }
  return "";
}

void RunValidate(const ValidateOptions& o) {
  const std::string plan_text = costmodel::ReadFileText(o.plan, "--plan");
  costmodel::PlanSpec p = costmodel::ReadPlanFile(plan_text, o.plan, o.layout_index);
  if (p.layout.cp > 1) {
    // Refused before a launch line is written, and again by meshplan-validate itself.
    throw Error("--plan", "context-parallel plans (cp > 1) are priced but not executed by "
                          "meshplan-validate yet (its skeleton has no ring, all-gather or all-to-all "
                          "attention exchange); validate a cp=1 layout" + CpFreeLayoutHint(plan_text));
  }
  if (p.workload.precision == costmodel::Precision::kFp8) {
    throw Error("--plan", o.plan + " is an fp8 plan: the validation skeleton runs its GEMMs in bf16, "
                          "so it cannot measure an fp8 step yet");
  }
  costmodel::PlanSpec shown = p;  // predicted with --calibration's profile, when given
  if (!o.calibration.empty()) {
    costmodel::ApplyCalibration(costmodel::ResolveCalibration(o.calibration, "--calibration"), shown.cluster,
                                "--calibration");
  }
  if (!o.show.empty()) {
    // Compare a measurement file of an earlier run: nothing is launched.
    const nlohmann::json m = ReadMeasurementsOf(p, o.show, "--show", ErrorKind::kUserInput);
    if (!o.calibration.empty()) std::printf("predictions with calibration '%s'\n", shown.cluster.calibration.c_str());
    PrintComparisonOf(shown, m, "--show", o.show);
    return;
  }
  const std::string line = QuotedLine(LaunchLine(o, p));
  std::printf("%s\n", line.c_str());
  if (!o.run) return;
  // A file left at --out by an earlier run must never be shown as this run's measurements, nor
  // lost to a run that fails: meshplan-validate writes a fresh file beside it, which takes
  // --out's place only once it holds this run's measurements (complete or partial).
  const costmodel::OutputTarget out = costmodel::CheckOutputTarget(o.out, "--out");
  if (!o.validate_bin.empty() && ::access(o.validate_bin.c_str(), X_OK) != 0) {
    throw Error("--validate-bin", "'" + o.validate_bin + "' is not an executable file: " + costmodel::OsReason(errno));
  }
  ValidateOptions run = o;
  if (!out.write_through) run.out = (out.exists ? out.resolved : o.out) + ".run-" + std::to_string(::getpid());
  const std::string run_line = QuotedLine(LaunchLine(run, p));
  struct RemoveLeftover {
    std::string path;
    ~RemoveLeftover() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } leftover{out.write_through ? "" : run.out};
  FlushStdout();
  const int status = std::system(run_line.c_str());
  const int rc = status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  nlohmann::json m;
  bool have = false;
  if (!out.write_through && std::filesystem::exists(run.out)) {
    try {
      m = costmodel::ParseJsonText(costmodel::ReadFileText(run.out, "--out"), o.out);
      have = m.is_object() && m.value("command", "") == "validate" && m.contains("plan") &&
             m["plan"].is_object() && m["plan"].value("layout_text", "") == p.layout_text;
    } catch (const Error& e) {
      throw Error("--out", std::string("cannot read this run's measurements: ") + e.what(), ErrorKind::kRuntime);
    }
    if (!have) {
      throw Error("--out", "meshplan-validate wrote a file that is not the measurement file of this plan's run",
                  ErrorKind::kRuntime);
    }
    if (::rename(run.out.c_str(), out.resolved.c_str()) != 0) {
      throw Error("--out", "cannot move this run's measurements to '" + o.out + "': " + costmodel::OsReason(errno),
                  ErrorKind::kRuntime);
    }
    leftover.path.clear();
    PrintComparisonOf(shown, m, "--out", o.out);
  }
  if (rc != 0) {
    throw Error("meshplan-validate", "failed (exit " + std::to_string(rc) + ")" +
                                         (have ? "; partial measurements kept in " + o.out
                                          : out.exists ? "; '" + o.out + "' left as it was"
                                                       : ""),
                ErrorKind::kRuntime);
  }
  if (!have && !out.write_through) {
    throw Error("meshplan-validate", "exited 0 but wrote no measurement file '" + o.out + "'" +
                                         (out.exists ? " ('" + o.out + "' left as it was)" : ""),
                ErrorKind::kRuntime);
  }
}

}  // namespace

void SetupValidate(CLI::App& app) {
  auto opt = std::make_shared<ValidateOptions>();
  CLI::App* sub = app.add_subcommand(
      "validate", "print (and with --run, run) the meshplan-validate launch line of a plan");
  sub->add_option("--plan", opt->plan, "plan file: meshplan plan/simulate --json")->required();
  sub->add_option("--launcher", opt->launcher, "mpirun | srun (default mpirun)")
      ->check(CLI::IsMember({"mpirun", "srun"}));
  sub->add_option("--backend", opt->backend, "nccl | cpu (default nccl)")
      ->check(CLI::IsMember({"nccl", "cpu"}));
  sub->add_option("--out", opt->out, "measurement file (default measurements.json)");
  sub->add_flag("--run", opt->run, "run it and print predicted vs measured");
  sub->add_option("--show", opt->show,
                  "a measurement file of this plan's earlier run: print predicted vs measured, run nothing");
  sub->add_option("--calibration", opt->calibration,
                  "predict with this calibration profile (built-in name or file) applied to the plan's cluster");
  sub->add_option("--np-per-node", opt->np_per_node,
                  "ranks (GPUs) per node (default: the cluster's GPUs per node)")
      ->check(IntegerIn(1, kMaxGpus));
  sub->add_option("--layout-index", opt->layout_index, "which of the plan's layouts (0: the best)")
      ->check(IntegerIn(0, kMaxLayoutIndex));
  sub->add_option("--validate-bin", opt->validate_bin,
                  "path of meshplan-validate (default: next to meshplan, or $MESHPLAN_VALIDATE)");
  // The same ranges meshplan-validate checks (validate/runner.cc CheckOptions), so a bad value
  // is refused here rather than dropped from the launch line or refused by every rank.
  sub->add_option("--max-bytes", opt->max_bytes, "passed to meshplan-validate")
      ->check(NumberIn(1024, 1e12));
  sub->add_option("--iters", opt->iters, "passed to meshplan-validate")->check(IntegerIn(1, 100000));
  sub->add_option("--steps", opt->steps, "passed to meshplan-validate")->check(IntegerIn(1, 10000));
  sub->add_option("--timeout-s", opt->timeout_s, "passed to meshplan-validate")
      ->check(NumberIn(0.001, 86400));
  sub->add_option("--sustain-s", opt->sustain_s,
                  "passed to meshplan-validate: run the layer's GEMMs back to back this long (power-limit check)")
      ->check(NumberIn(0, 3600));
  sub->callback([opt] { RunValidate(*opt); });
}

}  // namespace meshplan::tools
