// The HTML report: the page builder on its own (fake scripts, no browser), the bounded timeline
// the simulator exports for it, and `meshplan report` / `--html` end to end through the binary.
// What the page looks like once drawn is checked in a real browser by browser_test.js.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "costmodel/error.h"
#include "costmodel/evaluate.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/html_report.h"
#include "sim/simulate.h"
#include "sim/trace.h"

namespace meshplan {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kData = MESHPLAN_REPORT_TEST_DATA;

plans::HtmlAssets FakeAssets() {
  plans::HtmlAssets a;
  a.vega_js = "/*VEGA*/";
  a.vega_lite_js = "/*VEGA-LITE*/ var s = '</script>';";
  a.vega_embed_js = "/*EMBED*/";
  a.vega_version = "1.0.0";
  a.vega_lite_version = "2.0.0";
  a.vega_embed_version = "3.0.0";
  return a;
}

json Entry(const std::string& text, bool feasible, const std::string& reason) {
  json e = {{"layout", {{"tp", 8}}},
            {"layout_text", text},
            {"feasible", feasible},
            {"reasons", feasible ? json::array() : json::array({reason})},
            {"time", {{"step_s", 2.0}, {"compute_s", 1.5}, {"exposed_tp_comm_s", 0.2}, {"exposed_fsdp_comm_s", 0.3},
                      {"exposed_dp_comm_s", 0.0}, {"optimizer_s", 0.01}, {"bubble_s", 0.0}}},
            {"memory", {{"params_bytes", 1e9}, {"grads_bytes", 1e9}, {"optimizer_bytes", 2e9},
                        {"activations_bytes", 3e10}, {"transient_bytes", 1e9}, {"overhead_bytes", 2e9},
                        {"peak_bytes", 3.8e10}, {"capacity_bytes", 8.4e10}}},
            {"throughput", {{"tokens_per_s_per_gpu", 1000.0}, {"mfu", 0.4}}}};
  return e;
}

json PlanDoc(std::vector<json> layouts) {
  return {{"schema_version", 1}, {"tool", "meshplan 0.1.0"}, {"command", "plan"},
          {"inputs", {{"model", {{"name", "llama2-70b"}, {"params", 6.9e10}}}, {"gpus", 2048}}},
          {"layouts", layouts},
          {"search", {{"evaluated", 10}, {"feasible", 0}, {"infeasible_by_reason", {{"memory", 10}}}}}};
}

std::string ErrorOf(const json& doc, const std::string& name) {
  try {
    plans::CheckReportJson(doc, name);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "";
}

TEST(HtmlReport, SameInputsGiveTheSameBytes) {
  const json doc = PlanDoc({Entry("tp=8,fsdp=256", true, ""), Entry("tp=1,fsdp=2048", false, "needs 97.3 GiB")});
  const std::string a = plans::RenderHtmlReport({"p.json"}, {doc}, FakeAssets());
  const std::string b = plans::RenderHtmlReport({"p.json"}, {doc}, FakeAssets());
  EXPECT_EQ(a, b);
  EXPECT_NE(a.find("/*VEGA*/"), std::string::npos);
  EXPECT_NE(a.find("/*EMBED*/"), std::string::npos);
  EXPECT_NE(a.find("vega 1.0.0, vega-lite 2.0.0, vega-embed 3.0.0"), std::string::npos);
}

TEST(HtmlReport, NothingInTheInputsCanCloseAScriptOrInjectMarkup) {
  const json doc = PlanDoc({Entry("tp=8</script><script>alert(1)//", false, "<b>bad</b>")});
  const std::string h = plans::RenderHtmlReport({"x<y>.json"}, {doc}, FakeAssets());
  EXPECT_EQ(h.find("</script><script>alert"), std::string::npos);
  EXPECT_EQ(h.find("<b>bad</b>"), std::string::npos);
  EXPECT_NE(h.find("&lt;b&gt;bad&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(h.find("x&lt;y&gt;.json"), std::string::npos);
  EXPECT_NE(h.find("var s = '<\\/script>';"), std::string::npos);  // the inlined script's own text
}

TEST(HtmlReport, InfeasibleOnlyPlanShowsItsReasonsAndStillDrawsCharts) {
  const json doc = PlanDoc({Entry("tp=8,fsdp=1", false, "needs 765.5 GiB, GPU has 78.1 GiB usable")});
  const std::string h = plans::RenderHtmlReport({"p.json"}, {doc}, FakeAssets());
  EXPECT_NE(h.find("No layout in this report can run"), std::string::npos);
  EXPECT_NE(h.find("needs 765.5 GiB, GPU has 78.1 GiB usable"), std::string::npos);
  for (const char* id : {"\"r1-memory\"", "\"r1-search\""}) EXPECT_NE(h.find(id), std::string::npos) << id;
  // A layout that cannot run has no step time or throughput to draw.
  for (const char* id : {"\"r1-step\"", "\"r1-throughput\"", "\"r1-mfu\""}) EXPECT_EQ(h.find(id), std::string::npos) << id;
}

TEST(HtmlReport, SummaryComesFirstAndRateChartsStartAtZeroWithoutInfeasibleLayouts) {
  json doc = PlanDoc({Entry("tp=8,fsdp=256", true, ""), Entry("tp=4,fsdp=512", true, ""),
                      Entry("tp=1,fsdp=2048", false, "global batch 1024 < data-parallel degree 2048")});
  doc["layouts"][1]["tie"] = true;
  doc["summary"] = {{"recommended", "tp=8,fsdp=256"}, {"ranked_by", "simulator"}, {"step_s", 2.0},
                    {"tokens_per_s_per_gpu", 1000.0}, {"mfu", 0.4}, {"mfu_convention", "model FLOPs over BF16 peak"},
                    {"peak_bytes", 3.8e10}, {"capacity_bytes", 8.4e10}, {"tight_memory", false},
                    {"calibration", "dgx-h100"},
                    {"error_band", {{"generation", "H100"}, {"n", 87}, {"mape_pct", 18.8}, {"bias_pct", -18.4},
                                    {"spread_pct", 8.2}}},
                    {"caveats", {"not searched: context parallelism"}}};
  const std::string h = plans::RenderHtmlReport({"p.json"}, {doc}, FakeAssets());
  const size_t summary = h.find("<table class=\"kv summary\">");
  ASSERT_NE(summary, std::string::npos);
  EXPECT_LT(summary, h.find("<th>file</th>"));  // before the inputs and every chart
  EXPECT_NE(h.find("H100, 87 published runs out of sample: 18.8% off on average, bias -18.4%; rows within 8.2% of the "
                   "best are ties"),
            std::string::npos);
  for (const char* id : {"\"r1-throughput\"", "\"r1-mfu\""}) EXPECT_NE(h.find(id), std::string::npos) << id;
  EXPECT_NE(h.find("\"scale\":{\"zero\":true}"), std::string::npos);
  EXPECT_NE(h.find("\"rank\":\"tie with row 1\""), std::string::npos);
  // The infeasible layout is in the memory chart (what it would need), never in the rate charts.
  EXPECT_EQ(h.find("\"layout\":\"#3 tp=1,fsdp=2048 [infeasible]\",\"rank\""), std::string::npos);
  EXPECT_NE(h.find("#3 tp=1,fsdp=2048 [infeasible]"), std::string::npos);
}

json SweepPoint(double gpus, const std::string& best, int best_tp, double best_s, double fsdp_s) {
  json b = Entry(best, true, "");
  b["layout"]["tp"] = best_tp;
  b["time"]["step_s"] = best_s;
  json f = Entry("tp=1,fsdp=" + std::to_string(static_cast<int>(gpus)), true, "");
  f["layout"]["tp"] = 1;
  f["time"]["step_s"] = fsdp_s;
  return {{"gpus", gpus}, {"global_batch", 1024}, {"seq", 4096}, {"best", b}, {"best_fsdp_only", f},
          {"fsdp_latency_share", 0.2}, {"best_fsdp_latency_share", 0.1}};
}

TEST(HtmlReport, NoOvertakingClaimInsideTheErrorBand) {
  // At 1024 GPUs a TP layout ranks first by 0.8%: inside an 8.2% band that is no result.
  json doc = {{"schema_version", 1}, {"tool", "meshplan 0.1.0"}, {"command", "sweep"},
              {"inputs", {{"gpus", 512}}},
              {"error_band", {{"generation", "H100"}, {"spread_pct", 8.2}}},
              {"points", {SweepPoint(512, "tp=1,fsdp=512", 1, 1.0, 1.0), SweepPoint(1024, "tp=8,sp=on,fsdp=128", 8, 1.0, 1.008)}}};
  std::string h = plans::RenderHtmlReport({"s.json"}, {doc}, FakeAssets());
  EXPECT_EQ(h.find("overtakes"), std::string::npos);
  EXPECT_NE(h.find("FSDP alone is 0.8% slower there, inside the 8.2% error band of the model: no overtaking is claimed"),
            std::string::npos);
  // 20% apart it is a claim, with the gap and the band named.
  doc["points"][1] = SweepPoint(1024, "tp=8,sp=on,fsdp=128", 8, 1.0, 1.2);
  h = plans::RenderHtmlReport({"s.json"}, {doc}, FakeAssets());
  EXPECT_NE(h.find("TP+FSDP overtakes FSDP alone at 1024 GPUs (FSDP alone 20.0% slower, outside the 8.2% error band)."),
            std::string::npos);
  // Without a band no claim is made either.
  doc.erase("error_band");
  h = plans::RenderHtmlReport({"s.json"}, {doc}, FakeAssets());
  EXPECT_EQ(h.find("TP+FSDP overtakes"), std::string::npos);
}

TEST(HtmlReport, BadReportsAreNamedByFileAndField) {
  EXPECT_EQ(ErrorOf(json::array(), "a.json"), "a.json: not a meshplan report: the top level must be a JSON object");
  EXPECT_EQ(ErrorOf(json{{"x", 1}}, "a.json"), "a.json: schema_version: missing: not a meshplan report");
  EXPECT_EQ(ErrorOf(json{{"schema_version", 2}, {"tool", "meshplan 9"}, {"command", "plan"}}, "a.json"),
            "a.json: schema_version: is 2; this meshplan reads reports of schema version 1 to 1 (a newer "
            "meshplan wrote it?)");
  EXPECT_EQ(ErrorOf(json{{"schema_version", 1}, {"tool", "other 1.0"}, {"command", "plan"}}, "a.json"),
            "a.json: tool: is 'other 1.0': not written by meshplan");
  EXPECT_EQ(ErrorOf(json{{"schema_version", 1}, {"tool", "meshplan 0.1.0"}, {"command", "inspect"}}, "a.json"),
            "a.json: command: is 'inspect'; the HTML report draws plan, simulate, compare, sweep, accuracy and "
            "calibrate reports");
  EXPECT_EQ(ErrorOf(json{{"schema_version", 1}, {"tool", "meshplan 0.1.0"}, {"command", "sweep"}}, "a.json"),
            "a.json: points: missing");
  json doc = PlanDoc({Entry("tp=8", true, "")});
  doc["layouts"][0]["time"].erase("step_s");
  doc["layouts"][0]["time"]["compute_s"] = "fast";
  try {
    plans::RenderHtmlReport({"p.json"}, {doc}, FakeAssets());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "p.json: layouts[0].time.compute_s: must be a number");
  }
}

TEST(HtmlReport, DrawsCalibrationAndDesignFormatAccuracy) {
  const json cal = json::parse(Slurp(kData + "/calibrate.json"));
  const json acc = json::parse(Slurp(kData + "/accuracy.json"));
  const std::string h = plans::RenderHtmlReport({"c.json", "a.json"}, {cal, acc}, FakeAssets());
  EXPECT_NE(h.find("\"r1-calibration\""), std::string::npos);
  for (int i = 1; i <= 4; ++i) EXPECT_NE(h.find("\"r2-accuracy-" + std::to_string(i) + "\""), std::string::npos);
  EXPECT_NE(h.find("pipeline parallelism is not modelled yet"), std::string::npos);  // the skipped record
  EXPECT_NE(h.find("Narayanan et al. 2021"), std::string::npos);                      // colour by source
}

// ------------------------------------------------------------------------ the timeline export
struct Sim {
  costmodel::Evaluator ev;
  sim::SimResult r;
};
Sim Simulate(const std::string& model, int64_t gpus, int64_t gb, const std::string& layout) {
  costmodel::Workload w;
  w.gpus = gpus;
  w.global_batch = gb;
  w.seq = 4096;
  costmodel::Layout l = costmodel::ParseLayoutText(layout, "--layout");
  costmodel::ResolveLayout(l, w, "--layout");
  costmodel::Evaluator ev(costmodel::ResolveModel(model), costmodel::ResolveCluster("dgx-h100"), w);
  const costmodel::Evaluation e = ev.Evaluate(l);
  sim::SimResult r = sim::SimulateStep(ev, l, e);
  return {ev, r};
}

TEST(TimelineJson, KeepsEveryTaskWhenTheyFit) {
  const Sim s = Simulate("llama2-7b", 16, 16, "tp=2,sp=on,fsdp=8,mbs=1");
  const json j = sim::TimelineJson(s.r, 100000, 100000);
  EXPECT_EQ(j["timeline"].size(), s.r.tasks_run.size());
  EXPECT_EQ(j["timeline_binned_s"], 0.0);
  double peak = 0;
  for (const auto& p : j["memory"]) peak = std::max(peak, p["bytes"].get<double>());
  EXPECT_DOUBLE_EQ(peak, s.r.peak_bytes);
  EXPECT_EQ(j["memory"][0]["t_s"], 0.0);
}

TEST(TimelineJson, BoundsALongStepAndKeepsItsPeakAndEnds) {
  const Sim s = Simulate("llama2-70b", 2048, 1024, "tp=8,sp=on,fsdp=256,mbs=1");
  ASSERT_GT(s.r.tasks_run.size(), 300u);
  const json j = sim::TimelineJson(s.r, 300, 100);
  EXPECT_LE(j["timeline"].size(), 300u);
  EXPECT_GT(j["timeline_binned_s"].get<double>(), 0.0);
  EXPECT_EQ(j["timeline_tasks"], static_cast<int64_t>(s.r.tasks_run.size()));
  int64_t tasks = 0;
  for (const auto& b : j["timeline"]) {
    EXPECT_LE(b["start_s"].get<double>(), b["end_s"].get<double>());
    EXPECT_GT(b["busy_share"].get<double>(), 0.0);
    EXPECT_LE(b["busy_share"].get<double>(), 1.0);
    tasks += b["tasks"].get<int64_t>();
  }
  EXPECT_GT(tasks, 0);
  EXPECT_LE(j["memory"].size(), 102u);
  double peak = 0;
  for (const auto& p : j["memory"]) peak = std::max(peak, p["bytes"].get<double>());
  EXPECT_DOUBLE_EQ(peak, s.r.peak_bytes);
  EXPECT_EQ(j["memory"][0]["t_s"], 0.0);
  EXPECT_EQ(j["memory"].back()["bytes"], s.r.memory.back().total_bytes);
  EXPECT_EQ(j.dump(), sim::TimelineJson(s.r, 300, 100).dump());
}

// ------------------------------------------------------------------------ through the binary
class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("meshplan_report_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  struct Result {
    int rc = -1;
    std::string out, err;
  };
  Result Run(const std::string& args, const std::string& env = "") {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string cmd = env + " " + MESHPLAN_BIN + " " + args + " >" + out.string() + " 2>" + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(out), Slurp(err)};
  }
  std::string P(const std::string& name) { return (dir_ / name).string(); }
  static bool HaveAssets() {
    return fs::exists(fs::path(MESHPLAN_REPORT_ASSETS_DIR) / "vega-embed" / "build" / "vega-embed.min.js");
  }
  fs::path dir_;
};

const char* kPlan70b = "--model llama2-70b --cluster dgx-h100 --gpus 2048 --global-batch 1024 --seq 4096";

TEST_F(ReportCli, SimulateJsonCarriesABoundedTimelineAndMemoryCurve) {
  ASSERT_EQ(Run(std::string("simulate ") + kPlan70b + " --layout tp=8,sp=on,fsdp=256,mbs=1 --json " + P("s.json")).rc, 0);
  const json s = json::parse(Slurp(P("s.json")))["layouts"][0]["simulation"];
  ASSERT_TRUE(s.contains("timeline"));
  EXPECT_GT(s["timeline"].size(), 100u);
  EXPECT_LE(s["timeline"].size(), 3000u);
  EXPECT_LE(s["memory"].size(), 1502u);
  EXPECT_EQ(s["timeline"][0].size(), 7u);  // stream kind name start_s end_s tasks busy_share
}

// Every stream and task kind the simulator writes has a lane and a label: a context-parallel
// layout's key/value exchange (stream comm_cp) made `report` refuse its own simulate report,
// and an expert-parallel one drew its all-to-alls under their raw kind name.
TEST_F(ReportCli, ContextAndExpertParallelTimelinesAreDrawn) {
  const std::string cp = "simulate --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 8 --seq 8192 "
                         "--layout tp=2,cp=4,fsdp=2 --json " + P("cp.json");
  const std::string ep = "simulate --model mixtral-8x7b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq 2048 "
                         "--layout tp=2,fsdp=8,ep=8 --json " + P("ep.json");
  ASSERT_EQ(Run(cp).rc, 0);
  ASSERT_EQ(Run(ep).rc, 0);
  const json cp_doc = json::parse(Slurp(P("cp.json"))), ep_doc = json::parse(Slurp(P("ep.json")));
  std::set<std::string> streams, kinds;
  for (const json* d : {&cp_doc, &ep_doc}) {
    for (const json& t : (*d)["layouts"][0]["simulation"]["timeline"]) {
      streams.insert(t["stream"].get<std::string>());
      kinds.insert(t["kind"].get<std::string>());
    }
  }
  EXPECT_TRUE(streams.count("comm_cp"));
  EXPECT_TRUE(kinds.count("cp_comm"));
  EXPECT_TRUE(kinds.count("ep_comm"));
  const std::string h = plans::RenderHtmlReport({"cp.json", "ep.json"}, {cp_doc, ep_doc}, FakeAssets());
  EXPECT_NE(h.find("context-parallel comm"), std::string::npos);
  EXPECT_NE(h.find("CP key/value exchange"), std::string::npos);
  EXPECT_NE(h.find("EP all-to-all"), std::string::npos);
}

TEST_F(ReportCli, SameReportTwiceIsByteIdenticalAndHtmlFlagMatchesReport) {
  if (!HaveAssets()) GTEST_SKIP() << "tools/report/node_modules missing: run tools/setup.sh";
  ASSERT_EQ(Run(std::string("plan ") + kPlan70b + " --json " + P("p.json") + " --html " + P("flag.html")).rc, 0);
  ASSERT_EQ(Run("report " + P("p.json") + " -o " + P("a.html")).rc, 0);
  ASSERT_EQ(Run("report " + P("p.json") + " -o " + P("b.html")).rc, 0);
  const std::string a = Slurp(P("a.html"));
  EXPECT_GT(a.size(), 500000u);  // the three charting scripts are inlined
  EXPECT_EQ(a, Slurp(P("b.html")));
  EXPECT_EQ(a, Slurp(P("flag.html")));
  EXPECT_EQ(a.find("src=\"http"), std::string::npos);
  EXPECT_EQ(a.find("<link"), std::string::npos);
}

TEST_F(ReportCli, HtmlFlagOnSweepSimulateAndCompare) {
  if (!HaveAssets()) GTEST_SKIP() << "tools/report/node_modules missing: run tools/setup.sh";
  const std::string w = "--model llama2-7b --cluster dgx-h100 --global-batch 64 --seq 4096";
  ASSERT_EQ(Run("sweep " + w + " --gpus 16,32 --html " + P("sw.html")).rc, 0);
  ASSERT_EQ(Run("simulate " + w + " --gpus 16 --layout tp=2,fsdp=8 --html " + P("s.html")).rc, 0);
  ASSERT_EQ(Run("compare " + w + " --gpus 16 --layout tp=1,fsdp=16 --layout tp=2,fsdp=8 --html " + P("c.html")).rc, 0);
  EXPECT_NE(Slurp(P("sw.html")).find("\"r1-throughput\""), std::string::npos);
  EXPECT_NE(Slurp(P("s.html")).find("\"r1-timeline1\""), std::string::npos);
  EXPECT_NE(Slurp(P("c.html")).find("\"r1-step\""), std::string::npos);
}

TEST_F(ReportCli, InfeasibleOnlyPlanRendersWithItsReasons) {
  if (!HaveAssets()) GTEST_SKIP() << "tools/report/node_modules missing: run tools/setup.sh";
  const Result r = Run("plan --model llama3-405b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 4096 --json " +
                       P("p.json") + " --html " + P("p.html"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string h = Slurp(P("p.html"));
  EXPECT_NE(h.find("No layout in this report can run"), std::string::npos);
  EXPECT_NE(h.find("GPU has 78.1 GiB usable"), std::string::npos);
}

TEST_F(ReportCli, BadInputsExitTwoNamingFileAndField) {
  struct Case {
    std::string file, message;
  };
  const std::vector<Case> cases = {
      {P("missing.json"), "report: cannot open file '" + P("missing.json") + "': No such file or directory"},
      {kData, "report: '" + kData + "' is a directory, not a file"},
      {kData + "/not_object.json", kData + "/not_object.json: not a meshplan report"},
      {kData + "/newer_schema.json", kData + "/newer_schema.json: schema_version: is 2"},
      {kData + "/unknown_command.json", kData + "/unknown_command.json: command: is 'inspect'"},
      {kData + "/no_layouts.json", kData + "/no_layouts.json: layouts: missing"},
      {kData + "/bad_field.json", kData + "/bad_field.json: points[0].best.time.step_s: missing"},
  };
  for (const Case& c : cases) {
    const Result r = Run("report " + c.file + " -o " + P("x.html"));
    EXPECT_EQ(r.rc, 2) << c.file;
    EXPECT_NE(r.err.find("meshplan: error: " + c.message), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(P("x.html")));
  }
  // A flag of the wrong kind in a plan's summary or a row names its field (it was an internal
  // error, exit 1).
  ASSERT_EQ(Run("plan --model tiny-llama --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 256 --top 3 --json " +
                P("p.json")).rc,
            0);
  nlohmann::json plan = nlohmann::json::parse(Slurp(P("p.json")));
  plan["summary"]["tight_memory"] = "x";
  std::ofstream(P("p_bad.json")) << plan.dump();
  Result bad = Run("report " + P("p_bad.json") + " -o " + P("x.html"));
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("meshplan: error: " + P("p_bad.json") + ": summary.tight_memory: must be true or false, got \"x\""),
            std::string::npos)
      << bad.err;
  plan["summary"]["tight_memory"] = false;
  plan["layouts"][1]["tie"] = nlohmann::json::array();
  std::ofstream(P("p_bad.json")) << plan.dump();
  bad = Run("report " + P("p_bad.json") + " -o " + P("x.html"));
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find(": layouts[1].tie: must be true or false"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(P("x.html")));
  // Sizes and times no meshplan writes: a negative size, a capacity of 1e308, a negative time.
  // report and compare (which copies the entry into its own report) refuse them by path.
  plan["layouts"][1]["tie"] = false;
  struct Mutation {
    const char* section;
    const char* key;
    double value;
    std::string message;
  };
  for (const Mutation& m : {Mutation{"memory", "params_bytes", -5, "layouts[0].memory.params_bytes: must be in [0, 1e18] bytes, got -5.0"},
                            Mutation{"memory", "capacity_bytes", 1e308, "layouts[0].memory.capacity_bytes: must be in [0, 1e18] bytes, got 1e+308"},
                            Mutation{"time", "optimizer_s", -0.5, "layouts[0].time.optimizer_s: must be in [0, 1e12] (a time), got -0.5"}}) {
    nlohmann::json p = plan;
    p["layouts"][0][m.section][m.key] = m.value;
    std::ofstream(P("p_bad.json")) << p.dump();
    for (const std::string& cmd : {"report " + P("p_bad.json") + " -o " + P("x.html"), "compare " + P("p_bad.json") + " " + P("p.json")}) {
      bad = Run(cmd);
      EXPECT_EQ(bad.rc, 2) << cmd;
      EXPECT_EQ(bad.err, "meshplan: error: " + P("p_bad.json") + ": " + m.message + "\n") << cmd;
    }
    EXPECT_FALSE(fs::exists(P("x.html")));
  }
  std::ofstream(P("junk.json")) << "{not json";
  EXPECT_EQ(Run("report " + P("junk.json") + " -o " + P("x.html")).rc, 2);
  EXPECT_EQ(Run("report -o " + P("x.html")).rc, 2);
}

TEST_F(ReportCli, MissingChartingScriptsExitOneNamingThePathAndWriteNothing) {
  const Result r = Run("report " + kData + "/calibrate.json -o " + P("x.html"),
                       "MESHPLAN_REPORT_ASSETS=" + P("no_node_modules"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(P("no_node_modules") + "/vega/build/vega.min.js not found; run tools/setup.sh"),
            std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(P("x.html")));
}

}  // namespace
}  // namespace meshplan
