// plan / simulate --emit-torchtitan / --emit-megatron and simulate --from-torchtitan /
// --from-megatron, end to end through the meshplan binary: all files or none, exit 2 with one
// line naming the setting, and a written config read back predicts the plan's own step time.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_harness.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;

using meshplan::cli_harness::Result;
using meshplan::cli_harness::Slurp;

class LaunchCli : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = meshplan::cli_harness::FreshTestDir("meshplan_launch_"); }
  void TearDown() override { fs::remove_all(dir_); }
  Result Run(const std::string& args) {
    return meshplan::cli_harness::RunShell(std::string(MESHPLAN_BIN) + " " + args, dir_ / "stdout",
                                           dir_ / "stderr");
  }
  json ReadJson(const std::string& name) { return json::parse(Slurp(dir_ / name)); }
  std::string P(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

const char* k70b = "--model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 512 --seq 8192";

/// Product of every `*_degree = N` line of a torchtitan TOML.
int64_t DegreeProduct(const std::string& toml) {
  int64_t product = 1;
  const std::regex re("_degree = ([0-9]+)");
  for (auto it = std::sregex_iterator(toml.begin(), toml.end(), re); it != std::sregex_iterator(); ++it) {
    product *= std::stoll((*it)[1].str());
  }
  return product;
}

// The command writes both files. Its best layout runs in one framework only (meshplan's
// two recipes are torchtitan's FSDP2 and Megatron-LM's distributed optimizer, which no single
// layout is both), so the other framework gets the best ranked layout it can run, said on stderr
// and on the file's first line; each file read back predicts the layout it holds. Which framework
// gets row 1 follows the ranking (recipe twins can lie within 0.1% of each other).
TEST_F(LaunchCli, PlanWritesEachFrameworkTheBestLayoutItCanRun) {
  Result r = Run(std::string("plan ") + k70b + " --emit-torchtitan " + P("t.toml") + " --emit-megatron " + P("m.txt") +
                 " --json " + P("p.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json best = ReadJson("p.json")["layouts"][0];
  const std::string row1 = best["layout_text"];
  const std::string toml = Slurp(dir_ / "t.toml"), args = Slurp(dir_ / "m.txt");
  EXPECT_EQ(DegreeProduct(toml), 512) << toml;
  const std::string substitute_head = "# meshplan plan: row 1 (" + row1 + ") cannot run in ";
  const bool titan_has_row1 = toml.find("# meshplan layout: " + row1 + "\n") != std::string::npos;
  const bool megatron_has_row1 = args.find("# meshplan layout: " + row1 + "\n") != std::string::npos;
  ASSERT_NE(titan_has_row1, megatron_has_row1) << toml << args;
  const std::string& other = titan_has_row1 ? args : toml;
  const std::string other_flag = titan_has_row1 ? "--emit-megatron" : "--emit-torchtitan";
  EXPECT_EQ(other.rfind(substitute_head, 0), 0u) << other;
  EXPECT_NE(r.err.find(other_flag + ": row 1 (" + row1 + ") cannot run in "), std::string::npos) << r.err;
  // The substitute is named in the sentence and is what its file holds.
  const size_t at = other.find("this is the best ranked layout it can run, ") + 43;
  const std::string substitute = other.substr(at, other.find(", step ", at) - at);
  EXPECT_NE(other.find("# meshplan layout: " + substitute + "\n"), std::string::npos) << other;
  EXPECT_NE(substitute, row1);
  for (const char* flag : {"--from-torchtitan ", "--from-megatron "}) {
    const bool is_titan = std::string(flag) == "--from-torchtitan ";
    r = Run("simulate --model llama3-70b --cluster dgx-h100 --gpus 512 " + std::string(flag) +
            P(is_titan ? "t.toml" : "m.txt") + " --json " + P("s.json"));
    ASSERT_EQ(r.rc, 0) << r.err;
    const json sim = ReadJson("s.json")["layouts"][0];
    if (is_titan == titan_has_row1) {
      EXPECT_EQ(sim["layout_text"], row1);
      EXPECT_DOUBLE_EQ(sim["time"]["step_s"].get<double>(), best["time"]["step_s"].get<double>());
    } else {
      EXPECT_EQ(sim["layout_text"], substitute);
    }
  }
}

// --framework NAME plans only what NAME runs (data/frameworks "layouts"): every ranked row is one
// its launch file can hold, so row 1 is written without a substitute; the caveats say what was left
// out; an explicit --recipe of another framework lifts the limits and says so.
TEST_F(LaunchCli, FrameworkPlansOnlyLayoutsItRuns) {
  for (const std::string fw : {"torchtitan", "megatron"}) {
    const bool titan = fw == "torchtitan";
    const std::string file = P(titan ? "t.toml" : "m.txt");
    Result r = Run(std::string("plan ") + k70b + " --framework " + fw + (titan ? " --emit-torchtitan " : " --emit-megatron ") +
                   file + " --top 20 --json " + P("p.json"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err.find("cannot run in"), std::string::npos) << r.err;
    const json plan = ReadJson("p.json");
    const std::string row1 = plan["layouts"][0]["layout_text"];
    EXPECT_NE(Slurp(file).find("# meshplan layout: " + row1 + "\n"), std::string::npos) << fw;
    std::string caveats;
    for (const auto& c : plan["summary"]["caveats"]) caveats += c.get<std::string>() + "\n";
    EXPECT_NE(caveats.find("framework " + fw + ": only the layouts it runs (left out: "), std::string::npos) << caveats;
    // Both files price every trait they list: nothing said as not priced.
    EXPECT_EQ(caveats.find("not priced as it runs"), std::string::npos) << caveats;
    for (const json& row : plan["layouts"]) {
      const json& l = row["layout"];
      EXPECT_NE(l["schedule"], "zb-h1") << row["layout_text"];
      const bool shards = l["fsdp"].get<int>() * l["cp"].get<int>() > 1;
      if (titan) {
        EXPECT_EQ(l["recipe"], "fsdp2");
        EXPECT_TRUE(l["tp"] == 1 || l["sp"] == true) << row["layout_text"];
        EXPECT_TRUE(!shards || l["zero"] != 1) << row["layout_text"];
        EXPECT_TRUE(l["cp"] == 1 || l["cp_comm"] != "a2a") << row["layout_text"];
      } else {
        EXPECT_EQ(l["recipe"], "megatron");
        EXPECT_TRUE(!shards || l["replicate"] == 1) << row["layout_text"];
      }
    }
  }
  // llm-foundry's benchmark runs FSDP alone: no TP, PP or CP row.
  Result r = Run(std::string("plan ") + k70b + " --framework llm-foundry --top 20 --refine 0 --json " + P("f.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json foundry = ReadJson("f.json");  // a range-for over a temporary's member dangles
  // Its FSDP1 flat parameters are priced as FSDP2's units (its file's one "modelled": false
  // trait), and the caveats say so.
  std::string foundry_caveats;
  for (const auto& c : foundry["summary"]["caveats"]) foundry_caveats += c.get<std::string>() + "\n";
  EXPECT_NE(foundry_caveats.find("framework llm-foundry, not priced as it runs: parameter sharding: FSDP1 flat "
                                 "parameters: states and collectives priced as the fsdp2 recipe"),
            std::string::npos)
      << foundry_caveats;
  for (const json& row : foundry["layouts"]) {
    const json& l = row["layout"];
    EXPECT_EQ(l["tp"], 1);
    EXPECT_EQ(l["pp"], 1);
    EXPECT_EQ(l["cp"], 1);
  }
  // Another framework's launch file: an error that says what the search kept to.
  r = Run(std::string("plan ") + k70b + " --framework megatron --top 2 --refine 0 --emit-torchtitan " + P("x.toml"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(" (--framework megatron ranked only the layouts megatron runs)\n"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.toml"));
  // A framework file of the user's without "layouts" limits only what "selective" means, and
  // the caveats say the rest was not limited.
  {
    json f = json::parse(Slurp(fs::path(MESHPLAN_DATA_DIR) / "frameworks" / "torchtitan.json"));
    f.erase("layouts");
    json traits = json::array();
    for (const json& t : f["traits"]) {
      if (t["trait"].get<std::string>().rfind("layouts.", 0) != 0) traits.push_back(t);
    }
    f["traits"] = traits;
    f["name"] = "mine";
    std::ofstream(P("mine.json")) << f.dump();
  }
  r = Run(std::string("plan ") + k70b + " --framework " + P("mine.json") + " --top 2 --refine 0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("framework mine: only the layouts it runs; its file lists no layout limits (\"layouts\")"),
            std::string::npos)
      << r.out;
  // Nothing feasible within the framework's limits (FSDP alone cannot split 16 sequences over 64
  // GPUs): the summary says the search was limited, since that is why.
  r = Run("plan --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 16 --seq 8192 --framework llm-foundry "
          "--refine 0 --json " + P("none.json") + " --html " + P("none.html"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("  no feasible layout (see the reasons below)\n  caveats          "), std::string::npos) << r.out;
  const std::string limited = "framework llm-foundry: only the layouts it runs (left out: tensor parallelism, pipelines, "
                              "context parallelism";
  EXPECT_NE(r.out.find(limited), std::string::npos) << r.out;
  // The JSON has no summary then, but the search's caveats say the same, and the HTML shows them.
  {
    const json none = ReadJson("none.json");
    EXPECT_TRUE(none["summary"].is_null());
    std::string said;
    for (const json& c : none["search"]["caveats"]) said += c.get<std::string>() + "\n";
    EXPECT_NE(said.find(limited), std::string::npos) << said;
    const std::string html = Slurp(P("none.html"));
    EXPECT_NE(html.find("<tr><th>recommended</th><td>none: no layout searched is feasible</td></tr>"),
              std::string::npos);
    EXPECT_NE(html.find(limited), std::string::npos);
  }
  // With --emit-torchtitan too, the report still comes first, then the error.
  r = Run("plan --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 16 --seq 8192 --framework llm-foundry "
          "--refine 0 --emit-torchtitan " + P("none.toml"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("framework llm-foundry: only the layouts it runs"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "meshplan: error: --emit-torchtitan: no feasible layout to write\n");
  EXPECT_FALSE(fs::exists(dir_ / "none.toml"));
  r = Run(std::string("plan ") + k70b + " --framework torchtitan --recipe megatron --top 2 --refine 0");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("framework torchtitan: layouts not limited to what it runs (--recipe megatron is not its recipe)"),
            std::string::npos)
      << r.out;
}

// No ranked layout the framework can run: an error naming row 1's setting, and no file at all.
// sweep keeps to the framework's layouts too, and says so once under its table and in its JSON.
TEST_F(LaunchCli, SweepUnderAFrameworkSaysWhatItKeptTo) {
  Result r = Run("sweep --model llama3-8b --cluster dgx-h100 --gpus 64,128 --global-batch 256 --seq 8192 "
                 "--framework llm-foundry --json " + P("s.json") + " --html " + P("s.html"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string limited = "framework llm-foundry: only the layouts it runs (left out: tensor parallelism";
  const size_t at = r.out.find("\ncaveats: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_NE(r.out.find(limited, at), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(limited, r.out.find(limited) + 1), std::string::npos) << "said once: " << r.out;
  const json s = ReadJson("s.json");
  size_t said = 0;
  for (const json& c : s["caveats"]) said += c.get<std::string>().rfind(limited, 0) == 0;
  EXPECT_EQ(said, 1u) << s["caveats"].dump();
  const std::string html = Slurp(P("s.html"));
  EXPECT_NE(html.find("<tr><th>caveats</th><td>"), std::string::npos);
  EXPECT_NE(html.find(limited), std::string::npos);
  for (const json& p : s["points"]) {
    ASSERT_TRUE(p["best"].is_object()) << p.dump();
    EXPECT_EQ(p["best"]["layout"]["tp"], 1);
    EXPECT_EQ(p["best"]["layout"]["pp"], 1);
  }
  // Without --framework nothing is left out for a framework.
  r = Run("sweep --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq 8192");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.find("framework "), std::string::npos) << r.out;
}

TEST_F(LaunchCli, PlanWithNoLayoutAFrameworkRunsWritesNothing) {
  Result r = Run(std::string("plan ") + k70b + " --recipe fsdp2 --emit-torchtitan " + P("t.toml") +
                 " --emit-megatron " + P("m.txt") + " --json " + P("p.json"));
  EXPECT_EQ(r.rc, 2);
  // The launch files are built before anything is printed: the error comes alone.
  EXPECT_EQ(r.out, "");
  const std::string err = r.err;
  EXPECT_EQ(err.rfind("meshplan: error: --emit-megatron: none of the ", 0), 0u) << err;
  EXPECT_NE(err.find(" ranked layouts can run in Megatron-LM; row 1: recipe=fsdp2: Megatron-LM keeps bf16 "
                     "parameters with fp32 main gradients (meshplan's megatron recipe); the fsdp2 recipe's fp32 "
                     "sharded parameters are torchtitan's\n"),
            std::string::npos)
      << err;
  EXPECT_FALSE(fs::exists(dir_ / "t.toml"));
  EXPECT_FALSE(fs::exists(dir_ / "m.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "p.json"));
  // A megatron layout that shards gradients is refused by name (the search no longer offers one).
  r = Run("simulate --model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 512 --seq 8192 --layout "
          "tp=8,sp=on,fsdp=64,zero=2,recipe=megatron --emit-megatron " + P("m.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.substr(r.err.find("meshplan: error:")),
            "meshplan: error: --emit-megatron: zero=2: Megatron-LM's distributed optimizer shards optimizer states "
            "only (ZeRO-1); gradients and parameters stay whole on every data-parallel rank\n");
  EXPECT_FALSE(fs::exists(dir_ / "m.txt"));
}

// With the fsdp2 recipe the best layout is torchtitan's: the TOML's degrees multiply to 512 and
// simulate --from-torchtitan predicts the plan's own step, analytical and simulated.
TEST_F(LaunchCli, TorchtitanConfigOfThePlanPredictsThePlansStep) {
  Result r = Run(std::string("plan ") + k70b + " --recipe fsdp2 --emit-torchtitan " + P("t.toml") + " --json " +
                 P("p.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string toml = Slurp(dir_ / "t.toml");
  EXPECT_EQ(DegreeProduct(toml), 512) << toml;
  const json best = ReadJson("p.json")["layouts"][0];
  r = Run("simulate --model llama3-70b --cluster dgx-h100 --gpus 512 --from-torchtitan " + P("t.toml") + " --json " +
          P("s.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json sim = ReadJson("s.json")["layouts"][0];
  EXPECT_EQ(sim["layout_text"], best["layout_text"]);
  EXPECT_DOUBLE_EQ(sim["time"]["analytical"]["step_s"].get<double>(),
                   best["time"]["analytical"]["step_s"].get<double>());
  EXPECT_DOUBLE_EQ(sim["time"]["step_s"].get<double>(), best["time"]["step_s"].get<double>());
  // The same flags agree; a different one is an error naming both.
  EXPECT_EQ(Run(std::string("simulate ") + k70b + " --from-torchtitan " + P("t.toml") + " --analytical").rc, 0);
  r = Run("simulate --model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 256 --seq 8192 "
          "--from-torchtitan " + P("t.toml"));
  EXPECT_EQ(r.rc, 2);
  const int line = 1 + static_cast<int>(std::count(toml.begin(), toml.begin() + static_cast<long>(toml.find("global_batch_size")), '\n'));
  EXPECT_EQ(r.err, "meshplan: error: --global-batch: 256 disagrees with " + P("t.toml") + ":" + std::to_string(line) +
                       ": training.global_batch_size = 512\n");
  r = Run("simulate --model llama3-70b --cluster dgx-h100 --gpus 512 --recipe megatron --from-torchtitan " + P("t.toml"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --recipe: megatron disagrees with " + P("t.toml") +
                       " (torchtitan runs the fsdp2 recipe)\n");
  // --layout and a --from file exclude each other.
  EXPECT_EQ(Run(std::string("simulate ") + k70b + " --layout tp=8 --from-torchtitan " + P("t.toml")).rc, 2);
}

// FP8 end to end: a current-scaling run written as Megatron-LM arguments is read back as FP8 with
// its recipe and predicts the same step; flags that contradict the file are errors naming both.
// Both runs as Megatron-LM runs them (--framework megatron): an arguments file is read with
// Megatron-Core's gradient buckets, which a run without a framework does not assume.
TEST_F(LaunchCli, Fp8RecipeTravelsThroughMegatronArgs) {
  const std::string w = "--model llama3-70b --cluster dgx-h100 --gpus 256 --framework megatron ";
  Result r = Run("simulate " + w + "--global-batch 256 --seq 8192 --layout tp=8,sp=on,fsdp=32,recipe=megatron,zero=1 "
                 "--precision fp8 --fp8-recipe te-tensorwise --emit-megatron " + P("m.txt") + " --json " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("a.json")["inputs"]["fp8_recipe"], "te-tensorwise");
  r = Run("simulate " + w + "--from-megatron " + P("m.txt") + " --json " + P("b.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("b.json")["inputs"]["fp8_recipe"], "te-tensorwise");
  EXPECT_DOUBLE_EQ(ReadJson("b.json")["layouts"][0]["time"]["step_s"].get<double>(),
                   ReadJson("a.json")["layouts"][0]["time"]["step_s"].get<double>());
  r = Run("simulate " + w + "--from-megatron " + P("m.txt") + " --fp8-recipe te-delayed");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --fp8-recipe: te-delayed disagrees with " + P("m.txt") + " (te-tensorwise)\n");
  r = Run("simulate " + w + "--global-batch 256 --seq 8192 --layout tp=8,sp=on,fsdp=32 --fp8-recipe te-tensorwise");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --fp8-recipe: needs --precision fp8\n");
  r = Run("simulate " + w + "--global-batch 256 --seq 8192 --layout tp=8,sp=on,fsdp=32 --precision fp8 "
          "--fp8-recipe mxfp8");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --fp8-recipe: must be te-delayed, te-tensorwise (TransformerEngine's delayed and per-tensor "
                    "current scaling), torchao-tensorwise, torchao-rowwise or torchao-rowwise-gw-hp (torchtitan's float8 "
                    "recipes), got 'mxfp8': the block-scaled recipes are not modelled\n");
}

// GPT-3 175B on 64 GPUs with the megatron recipe: tp=4 with 16 interleaved stages, no data
// parallelism; the arguments file read back predicts the plan's step.
TEST_F(LaunchCli, MegatronArgsOfThePlanPredictThePlansStep) {
  const std::string w = "--model gpt3-175b --cluster dgx-h100 --gpus 64 ";
  Result r = Run("plan " + w + "--global-batch 64 --seq 2048 --recipe megatron --emit-megatron " + P("m.txt") +
                 " --json " + P("p.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string args = Slurp(dir_ / "m.txt");
  EXPECT_NE(args.find("\n--tensor-model-parallel-size 4\n--sequence-parallel\n--pipeline-model-parallel-size 16\n"),
            std::string::npos)
      << args;
  const json best = ReadJson("p.json")["layouts"][0];
  r = Run("simulate " + w + "--from-megatron " + P("m.txt") + " --json " + P("s.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");  // nothing ignored, nothing assumed
  const json sim = ReadJson("s.json")["layouts"][0];
  EXPECT_EQ(sim["layout_text"], best["layout_text"]);
  EXPECT_DOUBLE_EQ(sim["time"]["analytical"]["step_s"].get<double>(),
                   best["time"]["analytical"]["step_s"].get<double>());
  EXPECT_DOUBLE_EQ(sim["time"]["step_s"].get<double>(), best["time"]["step_s"].get<double>());
}

// Megatron-LM's --overlap-grad-reduce and --overlap-param-gather default off (arguments.py): an
// arguments file without them runs the distributed optimizer's reduce-scatter after the backward
// and its all-gather before the forward, and is priced so, with a note; with them, overlapped.
TEST_F(LaunchCli, MegatronArgsWithoutTheOverlapFlagsPriceTheDataParallelTrafficExposed) {
  const std::string w = "simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --analytical --from-megatron ";
  const std::string base =
      "--bf16 --micro-batch-size 1 --global-batch-size 64 --seq-length 4096 --tensor-model-parallel-size 8 "
      "--sequence-parallel --use-distributed-optimizer\n";
  std::ofstream(dir_ / "plain.txt") << base;
  std::ofstream(dir_ / "overlap.txt") << base << "--overlap-grad-reduce --overlap-param-gather\n";
  Result r = Run(w + P("plain.txt") + " --json " + P("plain.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("--overlap-grad-reduce not given: the gradient reduction runs after the backward "
                       "(Megatron-LM's default), none of it hidden"),
            std::string::npos)
      << r.err;
  r = Run(w + P("overlap.txt") + " --json " + P("overlap.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const json plain = ReadJson("plain.json")["layouts"][0]["time"];
  const json over = ReadJson("overlap.json")["layouts"][0]["time"];
  EXPECT_GT(plain["exposed_fsdp_comm_s"].get<double>(), 2.0 * over["exposed_fsdp_comm_s"].get<double>());
  EXPECT_GT(plain["step_s"].get<double>(), over["step_s"].get<double>());
}

TEST_F(LaunchCli, EmittedFilesAreByteIdenticalAcrossRuns) {
  const std::string sim = std::string("simulate ") + k70b +
                          " --layout tp=8,sp=on,fsdp=64,zero=1,recipe=megatron,recompute=selective --analytical";
  const std::string titan = std::string("simulate ") + k70b + " --layout tp=8,sp=on,fsdp=64,zero=3 --analytical";
  ASSERT_EQ(Run(sim + " --emit-megatron " + P("m.txt")).rc, 0);
  ASSERT_EQ(Run(titan + " --emit-torchtitan " + P("t.toml")).rc, 0);
  const std::string m1 = Slurp(dir_ / "m.txt"), t1 = Slurp(dir_ / "t.toml");
  ASSERT_EQ(Run(sim + " --emit-megatron " + P("m.txt")).rc, 0);
  ASSERT_EQ(Run(titan + " --emit-torchtitan " + P("t.toml")).rc, 0);
  EXPECT_EQ(Slurp(dir_ / "m.txt"), m1);
  EXPECT_EQ(Slurp(dir_ / "t.toml"), t1);
  EXPECT_NE(m1.find("\n--recompute-granularity selective\n"), std::string::npos) << m1;
}

// Both files requested, one impossible: neither is written, nor the JSON beside them.
TEST_F(LaunchCli, SimulateWritesAllOutputsOrNone) {
  Result r = Run(std::string("simulate ") + k70b +
                 " --layout tp=8,sp=on,fsdp=64,zero=3,recipe=fsdp2 --analytical --json " + P("s.json") +
                 " --emit-torchtitan " + P("t.toml") + " --emit-megatron " + P("m.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --emit-megatron: recipe=fsdp2: Megatron-LM keeps bf16 parameters with fp32 main "
                   "gradients (meshplan's megatron recipe); the fsdp2 recipe's fp32 sharded parameters are "
                   "torchtitan's\n");
  EXPECT_FALSE(fs::exists(dir_ / "s.json"));
  EXPECT_FALSE(fs::exists(dir_ / "t.toml"));
  EXPECT_FALSE(fs::exists(dir_ / "m.txt"));
}

TEST_F(LaunchCli, BadLaunchFilesExitTwoWithOneLine) {
  const std::string w = "simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --seq 8192 ";
  std::ofstream(dir_ / "bad.toml") << "[parallelism]\ntensor_parallel_degree = 4\npipeline_parallel_degree = 2\n"
                                      "pipeline_parallel_schedule = \"DualPipeV\"\n[activation_checkpoint]\nmode = \"full\"\n";
  Result r = Run(w + "--from-torchtitan " + P("bad.toml"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("bad.toml") +
                       ":4: parallelism.pipeline_parallel_schedule: 'DualPipeV' is not modelled (meshplan models 1F1B "
                       "and Interleaved1F1B)\n");
  std::ofstream(dir_ / "bad.txt") << "--bf16\n--micro-batch-size 1\n--tensor-model-parallel-size 8\n"
                                     "--context-parallel-size 2\n";
  r = Run(w + "--from-megatron " + P("bad.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("bad.txt") + ":4: --context-parallel-size: without "
                   "--use-distributed-optimizer Megatron-LM keeps the optimizer states whole on every CP rank; "
                   "meshplan shards them over fsdp x cp\n");
  std::ofstream(dir_ / "bad2.txt") << "--bf16\n--micro-batch-size 1\n--tensor-model-parallel-size 8\n"
                                      "--context-parallel-size 2\n--cp-comm-type a2a+p2p\n--use-distributed-optimizer\n";
  r = Run(w + "--from-megatron " + P("bad2.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("bad2.txt") + ":5: --cp-comm-type: meshplan models p2p, all_gather or "
                   "a2a, got 'a2a+p2p'\n");
  r = Run(w + "--from-megatron " + P("missing.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --from-megatron: cannot open file '" + P("missing.txt") +
                       "': No such file or directory\n");
  std::ofstream(dir_ / "noseq.txt") << "--bf16 --micro-batch-size 1 --tensor-model-parallel-size 8\n";
  r = Run("simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --from-megatron " + P("noseq.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.substr(r.err.find("meshplan: error:")),
            "meshplan: error: --seq: required (" + P("noseq.txt") + " does not give the sequence length)\n");
  r = Run("simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --seq 8192 --global-batch 64");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --layout: required (or --from-torchtitan / --from-megatron)\n");
}

}  // namespace
