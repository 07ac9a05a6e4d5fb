// End to end through the meshplan binary, as a user runs it: exit codes, messages, files
// written (or not), byte-identical output, and the seed's claims read from the JSON reports.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_harness.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;

using meshplan::cli_harness::Result;
using meshplan::cli_harness::Slurp;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = meshplan::cli_harness::FreshTestDir("meshplan_cli_"); }
  void TearDown() override { fs::remove_all(dir_); }

  /// Runs meshplan with `args`; `env` ("A=1 B=2") is put in front of the command.
  Result Run(const std::string& args, const std::string& env = "") {
    return meshplan::cli_harness::RunShell(env + " " + std::string(MESHPLAN_BIN) + " " + args,
                                           dir_ / "stdout", dir_ / "stderr");
  }
  json ReadJson(const std::string& name) { return json::parse(Slurp(dir_ / name)); }
  std::string P(const std::string& name) { return (dir_ / name).string(); }
  fs::path dir_;
};

const char* kPlan70b = "--model llama2-70b --cluster dgx-h100 --gpus 2048 --global-batch 1024 --seq 4096";

TEST_F(Cli, HelpAndVersionExitZero) {
  EXPECT_EQ(Run("--help").rc, 0);
  for (const char* sub : {"models", "clusters", "inspect", "simulate", "plan", "compare", "sweep"}) {
    Result r = Run(std::string(sub) + " --help");
    EXPECT_EQ(r.rc, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST_F(Cli, BadFlagsExitTwoWithTheFlagNamedAndWriteNothing) {
  struct Case {
    std::string args, message;
  };
  const std::string base = "simulate --model llama2-7b --cluster dgx-h100 --global-batch 64 --seq 4096 ";
  const std::vector<Case> cases = {
      {base + "--gpus 64 --layout tp=x", "meshplan: error: --layout: tp: must be a positive integer, got 'x'\n"},
      {base + "--gpus 0 --layout tp=1", "meshplan: error: --gpus: must be in [1, 16777216], got 0\n"},
      {base + "--gpus 12 --layout tp=1",
       "meshplan: error: --gpus: must be a multiple of the cluster's 8 GPUs per node when it spans nodes, got 12\n"},
      {base + "--gpus 64 --layout tp=8,fsdp=4", "meshplan: error: --layout: tp*fsdp*replicate*pp*cp = 32 does not equal --gpus 64\n"},
      {base + "--gpus 64 --layout tp=1 --recipe deepspeed",
       "meshplan: error: --recipe: must be megatron or fsdp2, got 'deepspeed'\n"},
      {"inspect --model nosuch.json", "meshplan: error: --model: cannot open file 'nosuch.json': No such file or directory\n"},
      {"simulate --model gpt-22b --cluster dgx-a100-80g --gpus 8 --global-batch 8 --seq 4096 --layout tp=8",
       "meshplan: error: --seq: model gpt-22b has learned positions for at most 2048 tokens, got 4096\n"},
  };
  for (const auto& c : cases) {
    Result r = Run(c.args + " --json " + P("out.json"));
    EXPECT_EQ(r.rc, 2) << c.args;
    EXPECT_EQ(r.err, c.message) << c.args;
    EXPECT_FALSE(fs::exists(dir_ / "out.json")) << c.args;
  }
  Result unknown = Run("plan --bogus");
  EXPECT_EQ(unknown.rc, 2);
  Result nonnumeric = Run("plan --model llama2-7b --cluster dgx-h100 --gpus many --global-batch 8 --seq 8");
  EXPECT_EQ(nonnumeric.rc, 2);
  EXPECT_NE(nonnumeric.err.find("--gpus"), std::string::npos);
}

TEST_F(Cli, BadModelFileNamesFileAndPath) {
  std::ofstream(dir_ / "m.json") << R"({"schema_version": 1, "name": "x"})";
  Result r = Run("inspect --model " + P("m.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("m.json") + ": family: missing (required)\n");
  std::ofstream(dir_ / "c.json") << "{\"model_type\": \"llama\", \"hidden_size\": 4096,";
  r = Run("inspect --model " + P("c.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.substr(0, 17 + P("c.json").size() + 16), "meshplan: error: " + P("c.json") + ": not valid JSON");
}

TEST_F(Cli, MissingOutputDirectoryIsAnErrorAndNothingIsLeftBehind) {
  Result r = Run(std::string("plan ") + kPlan70b + " --json " + P("no/such/dir/plan.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--json: directory"), std::string::npos);
}

TEST_F(Cli, InspectJsonHasTheFixedNames) {
  Result r = Run("inspect --model llama3-405b --seq 8192 --json " + P("i.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = ReadJson("i.json");
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["params"]["total"], 405853388800);
  EXPECT_EQ(j["params"]["embedding"], 128256LL * 16384);
  EXPECT_EQ(j["params"]["per_layer"], 3187703808LL);
  const double attn = 12.0 * 126 * 16384 * 8192;
  const double layer = 2.0 * 16384 * 16384 + 2.0 * 16384 * 1024 + 3.0 * 16384 * 53248;
  EXPECT_DOUBLE_EQ(j["flops_per_token"].get<double>(), 6 * (126 * layer + 128256.0 * 16384) + attn);
  // The causal MFU convention halves the attention term.
  EXPECT_DOUBLE_EQ(j["flops_per_token_causal"].get<double>(), 6 * (126 * layer + 128256.0 * 16384) + attn / 2);
}

// Every MFU says its convention: the plan table's column, the breakdown line, the JSON field;
// --mfu-convention causal switches it and a bad value is one line naming the flag.
TEST_F(Cli, MfuConventionIsPrintedAndSwitchable) {
  const std::string w = "simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 32768 "
                        "--layout tp=2,sp=on,cp=4,fsdp=8 --analytical ";
  Result r = Run(w + "--json " + P("nc.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("(noncausal attention FLOPs)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("exposed CP comm"), std::string::npos) << r.out;
  const json nc = ReadJson("nc.json");
  EXPECT_EQ(nc["layouts"][0]["throughput"]["mfu_convention"], "noncausal");
  EXPECT_EQ(nc["inputs"]["mfu_convention"], "noncausal");
  r = Run(w + "--mfu-convention causal --json " + P("c.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("(causal attention FLOPs)"), std::string::npos) << r.out;
  const json c = ReadJson("c.json");
  EXPECT_EQ(c["layouts"][0]["throughput"]["mfu_convention"], "causal");
  EXPECT_LT(c["layouts"][0]["throughput"]["mfu"].get<double>(), nc["layouts"][0]["throughput"]["mfu"].get<double>());
  r = Run(w + "--mfu-convention palm");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --mfu-convention: must be causal or noncausal, got 'palm'\n");
  r = Run("plan --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 32768 --top 1 --refine 0 "
          "--mfu-convention causal");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(" MFU_c "), std::string::npos) << r.out;
}

TEST_F(Cli, SimulateReportCarriesEveryDesignField) {
  Result r = Run(std::string("simulate ") + kPlan70b + " --layout tp=8,sp=on,fsdp=256,mbs=1 --json " + P("s.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("step time"), std::string::npos);
  json j = ReadJson("s.json");
  EXPECT_EQ(j["tool"].get<std::string>().substr(0, 9), "meshplan ");
  for (const char* k : {"model", "cluster", "gpus", "global_batch", "seq", "calibration"}) {
    EXPECT_TRUE(j["inputs"].contains(k)) << k;
  }
  EXPECT_EQ(j["inputs"]["model"]["params"], 68976648192);
  const json& l = j["layouts"][0];
  for (const char* k : {"tp", "sp", "fsdp", "replicate", "zero", "mbs", "grad_accum", "recompute", "recipe", "pp", "cp"}) {
    EXPECT_TRUE(l["layout"].contains(k)) << k;
  }
  EXPECT_EQ(l["layout_text"], "tp=8,sp=on,fsdp=256,replicate=1,zero=3,mbs=1,recompute=none,recipe=fsdp2");
  EXPECT_EQ(l["layout"]["grad_accum"], 4);
  for (const char* k : {"params_bytes", "grads_bytes", "optimizer_bytes", "activations_bytes",
                        "activations_per_layer_bytes", "transient_bytes", "overhead_bytes", "peak_bytes",
                        "capacity_bytes"}) {
    EXPECT_TRUE(l["memory"][k].is_number()) << k;
  }
  for (const char* k : {"step_s", "compute_s", "exposed_tp_comm_s", "exposed_fsdp_comm_s", "exposed_dp_comm_s",
                        "optimizer_s", "bubble_s", "gemm_efficiency"}) {
    EXPECT_TRUE(l["time"][k].is_number()) << k;
  }
  for (const char* k : {"tokens_per_s_per_gpu", "mfu", "hfu"}) EXPECT_TRUE(l["throughput"][k].is_number()) << k;
  ASSERT_GE(l["collectives"].size(), 3u);
  for (const auto& c : l["collectives"]) {
    for (const char* k : {"op", "purpose", "ranks", "nodes", "bytes", "algorithm", "protocol", "latency_s",
                          "bandwidth_s", "time_s", "count_per_step"}) {
      EXPECT_TRUE(c.contains(k)) << k;
    }
  }
  EXPECT_TRUE(l["feasible"].get<bool>());
  EXPECT_TRUE(l["reasons"].empty());
}

// --flash-version picks the FlashAttention generation: FA1 (or llm-foundry's Triton port) runs
// the attention core at half FA2's speed, so a long-sequence step is slower; FA3 needs Hopper.
TEST_F(Cli, FlashVersionPricesTheAttentionCore) {
  const std::string base = "simulate --model llama2-7b --cluster dgx-a100-80g --gpus 8 --global-batch 8 "
                           "--seq 16384 --layout fsdp=8,mbs=1,recompute=full --analytical --json ";
  ASSERT_EQ(Run(base + P("fa2.json")).rc, 0);
  Result r1 = Run(base + P("fa1.json") + " --flash-version 1");
  ASSERT_EQ(r1.rc, 0) << r1.err;
  const json fa2 = ReadJson("fa2.json"), fa1 = ReadJson("fa1.json");
  EXPECT_EQ(fa2["inputs"]["flash_version"], 2);
  EXPECT_EQ(fa1["inputs"]["flash_version"], 1);
  const double t2 = fa2["layouts"][0]["time"]["step_s"], t1 = fa1["layouts"][0]["time"]["step_s"];
  EXPECT_GT(t1, 1.1 * t2);
  Result bad = Run(base + P("x.json") + " --flash-version 3");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err, "meshplan: error: --flash-version: FlashAttention-3 runs only on Hopper GPUs (H100/H200), "
                     "cluster dgx-a100-80g has A100-SXM4-80GB\n");
  EXPECT_EQ(Run(base + P("x.json") + " --flash-version 4").rc, 2);
  Result both = Run(base + P("x.json") + " --flash-version 1 --no-flash-attention");
  EXPECT_EQ(both.rc, 2);
  EXPECT_EQ(both.err, "meshplan: error: --no-flash-attention excludes --flash-version\n");
  EXPECT_FALSE(std::filesystem::exists(P("x.json")));
}

// --eager-elementwise: torchtitan-style unfused RMSNorm, SwiGLU and RoPE move more bytes, so a
// Llama step is slower; a GPT (LayerNorm, GeLU, learned positions) step is unchanged.
TEST_F(Cli, EagerElementwiseSlowsLlamaNotGpt) {
  auto step = [&](const std::string& model, const std::string& extra) {
    const std::string out = P("e.json");
    Result r = Run("simulate --model " + model + " --cluster dgx-a100-80g --gpus 8 --global-batch 16 "
                   "--seq 2048 --layout fsdp=8,mbs=2 --analytical --json " + out + extra);
    EXPECT_EQ(r.rc, 0) << r.err;
    const json j = ReadJson("e.json");
    EXPECT_EQ(j["inputs"]["eager_elementwise"].get<bool>(), !extra.empty());
    return j["layouts"][0]["time"]["step_s"].get<double>();
  };
  EXPECT_GT(step("llama2-7b", " --eager-elementwise"), 1.03 * step("llama2-7b", ""));
  EXPECT_DOUBLE_EQ(step("gpt-22b", " --eager-elementwise"), step("gpt-22b", ""));
}

TEST_F(Cli, InfeasibleLayoutIsReportedWithEveryReasonAndItsBreakdown) {
  Result r = Run(std::string("simulate ") + kPlan70b + " --layout tp=1,zero=3,recompute=full --json " + P("s.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("feasible NO"), std::string::npos);
  json l = ReadJson("s.json")["layouts"][0];
  EXPECT_FALSE(l["feasible"].get<bool>());
  EXPECT_EQ(l["reason_codes"], json::array({"global_batch"}));
  EXPECT_EQ(l["reasons"][0], "global batch 1024 < data-parallel degree 2048");
  EXPECT_GT(l["time"]["step_s"].get<double>(), 0);
}

TEST_F(Cli, PlanIsByteIdenticalRunToRun) {
  Result a = Run(std::string("plan ") + kPlan70b + " --json " + P("a.json"));
  Result b = Run(std::string("plan ") + kPlan70b + " --json " + P("b.json"));
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(Slurp(dir_ / "a.json"), Slurp(dir_ / "b.json"));
  EXPECT_FALSE(ReadJson("a.json")["search"].contains("seconds"));
}

// Seed claim 3 and 5: Llama 2 70B on 2048 H100s with a global batch of 1024 sequences.
TEST_F(Cli, Llama70bOn2048GpusNeedsTpBecauseOfTheBatch) {
  Result r = Run(std::string("plan ") + kPlan70b + " --json " + P("p.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = ReadJson("p.json");
  const json& best = j["layouts"][0];
  EXPECT_TRUE(best["feasible"].get<bool>());
  EXPECT_GT(best["layout"]["tp"].get<int>(), 1);
  EXPECT_GT(j["search"]["infeasible_by_reason"]["global_batch"].get<int>(), 0);
  // The analytical top 32 are re-ranked by the simulator (--refine, default 32).
  EXPECT_EQ(j["search"]["refined_with_simulator"], 32);
  EXPECT_TRUE(best["time"].contains("analytical"));
  EXPECT_LE(best["time"]["step_s"].get<double>(), j["layouts"][1]["time"]["step_s"].get<double>());
  // The best FSDP-only layout is kept, infeasible, and the limit that stops it is the batch.
  bool found = false;
  for (const auto& l : j["layouts"]) {
    if (l["layout_text"] == j["best_fsdp_only"]) {
      found = true;
      EXPECT_FALSE(l["feasible"].get<bool>());
      EXPECT_EQ(l["layout"]["tp"], 1);
      EXPECT_EQ(l["layout"]["mbs"], 1);
      EXPECT_EQ(l["reason_codes"], json::array({"global_batch"}));
      EXPECT_EQ(l["reasons"][0], "global batch 1024 < data-parallel degree 2048");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_NE(r.out.find("no FSDP-only layout can run"), std::string::npos);
  EXPECT_NE(r.out.find("global batch 1024 < data-parallel degree 2048"), std::string::npos);
}

/// Share of the FSDP all-gathers' time that is latency, from a simulate report.
double AllGatherLatencyShare(const json& layout) {
  double lat = 0, total = 0;
  for (const auto& c : layout["collectives"]) {
    if (c["purpose"] != "fsdp_param_gather") continue;
    const double n = c["count_per_step"].get<double>();
    lat += n * c["latency_s"].get<double>();
    total += n * c["time_s"].get<double>();
  }
  return lat / total;
}

// Seed claim 1: the all-gathers' latency share grows with n and dominates from a few hundred GPUs.
TEST_F(Cli, FsdpAllGatherLatencyShareGrowsWithGpus) {
  std::vector<double> shares;
  for (int n : {128, 256, 512, 1024}) {
    Result r = Run("simulate --model llama2-7b --cluster dgx-h100 --gpus " + std::to_string(n) +
                   " --global-batch " + std::to_string(n) + " --seq 4096 --layout tp=1,zero=3,mbs=1 --json " + P("s.json"));
    ASSERT_EQ(r.rc, 0) << r.err;
    shares.push_back(AllGatherLatencyShare(ReadJson("s.json")["layouts"][0]));
  }
  for (size_t i = 1; i < shares.size(); ++i) EXPECT_GT(shares[i], shares[i - 1]);
  EXPECT_LT(shares[0], 0.5);
  EXPECT_GT(shares[2], 0.45);  // 512 GPUs: about half
  EXPECT_GT(shares[3], 0.6);   // 1024 GPUs: latency dominates
}

// Seed claim 2: TP=8 cuts the FSDP group by 8; the latency falls by less than 8 on H100.
TEST_F(Cli, SweepShowsTheRealTp8LatencyCut) {
  Result r = Run("sweep --model llama2-7b --cluster dgx-h100 --gpus 128,256,512,1024,2048 --global-batch 1024 "
                 "--seq 4096 --json " + P("w.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = ReadJson("w.json");
  ASSERT_EQ(j["points"].size(), 5u);
  for (const auto& p : j["points"]) {
    const json& cut = p["tp8_fsdp_latency_cut"];
    const double n = p["gpus"].get<double>();
    EXPECT_EQ(cut["fsdp_ranks_after"].get<double>(), n / 8);
    EXPECT_DOUBLE_EQ(cut["uniform_hop_cut"].get<double>(), (n - 1) / (n / 8 - 1));
    EXPECT_LT(cut["actual_cut"].get<double>(), cut["uniform_hop_cut"].get<double>() / 2);
    EXPECT_GT(cut["actual_cut"].get<double>(), 2.0);
    EXPECT_TRUE(p.contains("fsdp_latency_share"));
    EXPECT_TRUE(p.contains("best_fsdp_only"));
  }
  // At 2048 GPUs the batch (1024) is smaller than the GPU count: FSDP alone cannot run.
  const json& last = j["points"][4];
  EXPECT_FALSE(last["best_fsdp_only"]["feasible"].get<bool>());
  EXPECT_GT(last["best"]["layout"]["tp"].get<int>(), 1);
}

// Seed claim 4, checked as the model finds it: at the same GPU count and the same tokens per
// GEMM, TP's narrower GEMMs are not more efficient than FSDP's (wave quantisation and the k/t
// of row-parallel GEMMs); at the same micro-batch, TP=8's GEMMs are clearly worse.
TEST_F(Cli, GemmEfficiencyIsShownAndTpDoesNotImproveIt) {
  Result r = Run("compare --model llama2-7b --cluster dgx-h100 --gpus 1024 --global-batch 1024 --seq 2048 "
                 "--layout tp=1,zero=3,mbs=1 --layout tp=8,sp=on,zero=3,mbs=1 --layout tp=8,sp=on,zero=3,mbs=8 "
                 "--json " + P("c.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("GEMM efficiency %"), std::string::npos);
  json j = ReadJson("c.json");
  const double fsdp = j["layouts"][0]["time"]["gemm_efficiency"].get<double>();
  const double tp_small = j["layouts"][1]["time"]["gemm_efficiency"].get<double>();
  const double tp_same_tokens = j["layouts"][2]["time"]["gemm_efficiency"].get<double>();
  EXPECT_LT(tp_small, fsdp - 0.05);
  EXPECT_LE(tp_same_tokens, fsdp);
  EXPECT_EQ(j["differences"].size(), 2u);
}

TEST_F(Cli, CompareReadsReportFiles) {
  ASSERT_EQ(Run(std::string("simulate ") + kPlan70b + " --layout tp=8,sp=on --json " + P("a.json")).rc, 0);
  ASSERT_EQ(Run(std::string("simulate ") + kPlan70b + " --layout tp=4,sp=on --json " + P("b.json")).rc, 0);
  Result r = Run("compare " + P("a.json") + " " + P("b.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("[2] vs [1]: step "), std::string::npos);
  EXPECT_EQ(r.out.find("note: "), std::string::npos) << r.out;  // the same job
  // Reports of another job (model, cluster, GPUs, batch, sequence, precision) compare, and say so:
  // a 70B plan against a tiny model on CPUs printed "step -99%" as if a layout had done it.
  ASSERT_EQ(Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 --analytical "
                "--layout tp=2 --json " + P("c.json")).rc, 0);
  r = Run("compare " + P("a.json") + " " + P("c.json") + " --json " + P("ac.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("note: [2] is another job than [1]: model tiny-llama against llama2-70b, cluster cpu-local "
                       "against dgx-h100, GPUs 4 against "),
            std::string::npos)
      << r.out;
  EXPECT_EQ(ReadJson("ac.json")["notes"].size(), 1u);
}

// The collective model against real nccl-tests logs: the bandwidth regime (32 MiB - 16 GiB
// all-gather / reduce-scatter on one H100 node) is within 8%; unmodelled ops are skipped with
// a reason, never dropped.
TEST_F(Cli, AccuracyScoresNcclTestsLogsRowByRow) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  Result r = Run("accuracy --cluster dgx-h100 --nccl-tests " + d + "h100-1x8-all_gather-xxrjun.txt " + d +
                 "h100-1x8-reduce_scatter-xxrjun.txt " + d + "h100-1x8-alltoall-xxrjun.txt --json " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = ReadJson("a.json");
  ASSERT_EQ(j["records"].size(), 3u);
  EXPECT_EQ(j["records"][0]["status"], "scored");
  EXPECT_EQ(j["records"][0]["rows"].size(), 10u);
  EXPECT_LT(j["records"][0]["mape_pct"].get<double>(), 8.0);
  EXPECT_LT(j["records"][1]["mape_pct"].get<double>(), 8.0);
  // All-to-all is priced by the p2p model (collectives.h P2pTime): uncalibrated 11.6%.
  EXPECT_EQ(j["records"][2]["status"], "scored");
  EXPECT_LT(j["records"][2]["mape_pct"].get<double>(), 12.0);
  EXPECT_EQ(j["summary"]["per_quantity"]["collective_time_s"]["n"], 30);
  Result bad = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("missing.txt"));
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err, "meshplan: error: --nccl-tests: cannot open file '" + P("missing.txt") + "': No such file or directory\n");
  // A sidecar that contradicts its log is an error naming both, not a rescaled score: fewer
  // ranks than the log lists (its rank 7), another collective, nodes x gpus_per_node that is
  // not its ranks, and where the log's Rank lines say the ranks ran (the GPU model, more ranks
  // on one host than a node holds, more hosts than the nodes).
  std::ofstream(P("s_all_gather.txt")) << Slurp(d + "h100-1x8-all_gather-xxrjun.txt");
  std::ofstream(P("s_all_reduce.txt")) << Slurp(d + "h100-2x8-all_reduce-ncclt309-gjaion.txt");
  struct Sidecar {
    std::string log, json, message;
  };
  const std::vector<Sidecar> sidecars = {
      {"s_all_gather.txt", R"({"ranks": 4})", "ranks: 4, but the log lists rank 7 (" + P("s_all_gather.txt") + ")"},
      {"s_all_gather.txt", R"({"collective": "all_reduce"})",
       "collective: 'all_reduce', but " + P("s_all_gather.txt") + " is all_gather"},
      {"s_all_gather.txt", R"({"nodes": 2, "gpus_per_node": 3, "ranks": 8})", "ranks: 8, but nodes x gpus_per_node = 2 x 3"},
      {"s_all_gather.txt", R"({"gpu": "A100"})",
       "gpu: 'A100', but the log's ranks ran on 'NVIDIA H100 80GB HBM3' (" + P("s_all_gather.txt") + ")"},
      {"s_all_gather.txt", R"({"gpu": "H100", "gpus_per_node": 4})",
       "gpus_per_node: 4, but the log lists 8 ranks on host cnode3-002 (" + P("s_all_gather.txt") + ")"},
      {"s_all_reduce.txt", R"({"nodes": 1})", "nodes: 1, but the log lists ranks on 2 hosts (" + P("s_all_reduce.txt") + ")"},
  };
  for (const Sidecar& c : sidecars) {
    std::ofstream(P(c.log + ".meta.json")) << c.json;
    bad = Run("accuracy --cluster dgx-h100 --nccl-tests " + P(c.log));
    EXPECT_EQ(bad.rc, 2) << c.json;
    EXPECT_EQ(bad.err, "meshplan: error: " + P(c.log + ".meta.json") + ": " + c.message + "\n");
  }
}

// calibrate: a profile from nccl-tests logs lowers the error on them, is applied by every
// costing command through --calibration, is named in their reports, and bad use exits 2.
TEST_F(Cli, CalibrateFitsLogsAndProfilesApplyEverywhere) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  const std::string logs = d + "h100-1x8-all_reduce-together-ring.txt " + d + "h100-1x8-all_gather-together-ring.txt " +
                           d + "h100-2x8-all_reduce-ncclt309-gjaion.txt";
  Result r = Run("calibrate --cluster dgx-h100 --name lab --nccl-tests " + logs + " -o " + P("lab.json") +
                 " --leave-one-out");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("efficiency.nvlink_fraction"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leave-one-out"), std::string::npos) << r.out;
  const json p = ReadJson("lab.json");
  EXPECT_EQ(p["command"], "calibrate");
  EXPECT_EQ(p["clusters"], json::array({"dgx-h100"}));
  EXPECT_LT(p["fit_error"]["collective_time_s"]["after_pct"].get<double>(),
            p["fit_error"]["collective_time_s"]["before_pct"].get<double>());
  EXPECT_EQ(p["leave_one_out"].size(), 3u);
  // The together logs ran -g 8 (one thread, eight GPUs): their host floor is fitted as the
  // harness's, not as a per-call launch a training step would pay.
  EXPECT_GT(p["fitted"]["efficiency.group_launch_us"]["value"].get<double>(), 3.0);
  EXPECT_LT(p["fitted"]["efficiency.collective_launch_us"]["value"].get<double>(), 3.0);
  ASSERT_EQ(p["extrapolation_in_nodes"].size(), 2u);  // the 2-node log, then all of them
  EXPECT_EQ(p["extrapolation_in_nodes"][1]["file"], "*");
  // Scored again with the profile, the logs' error is the fit's.
  r = Run("accuracy --cluster dgx-h100 --calibration " + P("lab.json") + " --nccl-tests " + logs + " --json " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NEAR(ReadJson("a.json")["summary"]["per_quantity"]["collective_time_s"]["mape_pct"].get<double>(),
              p["fit_error"]["collective_time_s"]["after_pct"].get<double>(), 1e-9);
  EXPECT_EQ(ReadJson("a.json")["inputs"]["calibration"], "lab");
  r = Run(std::string("plan ") + kPlan70b + " --calibration " + P("lab.json") + " --json " + P("plan.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("plan.json")["inputs"]["calibration"], "lab");
  r = Run(std::string("sweep --model llama2-7b --cluster dgx-h100 --gpus 64,128 --global-batch 512 --seq 4096") +
          " --calibration dgx-h100 --json " + P("sweep.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("sweep.json")["inputs"]["calibration"], "dgx-h100");
  // Bad use.
  r = Run("calibrate --cluster dgx-h100 -o " + P("x.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: calibrate: give --measurements, --nccl-tests and/or --reference files to fit\n");
  EXPECT_FALSE(fs::exists(P("x.json")));
  r = Run("simulate --model llama2-7b --cluster dgx-a100-80g --gpus 8 --global-batch 8 --seq 2048 --layout tp=1"
          " --calibration " + P("lab.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --calibration: clusters: profile 'lab' is for dgx-h100, not for cluster 'dgx-a100-80g'\n");
  r = Run(std::string("plan ") + kPlan70b + " --calibration nosuch");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no built-in calibration profile named 'nosuch' (built-in: dgx-a100, dgx-b200, dgx-h100"), std::string::npos) << r.err;
}

// calibrate --collective: a log whose header does not name its collective (a table cut out of a
// bigger file, under a neutral name) is read as the flag says; a header that says otherwise wins
// with an error, never silently.
TEST_F(Cli, CalibrateCollectiveFlagReadsLogsWhoseHeaderDoesNotSay) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  std::string text = Slurp(d + "h100-1x8-alltoall-xxrjun.txt");
  std::string cut;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find("Collective test") == std::string::npos) cut += line + "\n";
  }
  std::ofstream(P("run1.txt")) << cut;
  Result r = Run("calibrate --cluster dgx-h100 --nccl-tests " + P("run1.txt") + " -o " + P("x.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("cannot tell the collective"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(P("x.json")));
  r = Run("calibrate --cluster dgx-h100 --collective alltoall --nccl-tests " + P("run1.txt") + " -o " + P("x.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json p = ReadJson("x.json");
  EXPECT_TRUE(p["fitted"].contains("efficiency.alltoall_fraction")) << p["fitted"].dump();
  EXPECT_LT(p["fit_error"]["collective_time_s"]["after_pct"].get<double>(),
            p["fit_error"]["collective_time_s"]["before_pct"].get<double>());
  EXPECT_EQ(p["warnings"], json::array());
  r = Run("calibrate --cluster dgx-h100 --collective sendrecv --nccl-tests " + d + "h100-1x8-alltoall-xxrjun.txt -o " + P("y.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --collective: 'sendrecv' but " + d +
                       "h100-1x8-alltoall-xxrjun.txt says 'Collective test starting: alltoall_perf'\n");
  r = Run("calibrate --cluster dgx-h100 --collective all-to-all --nccl-tests " + P("run1.txt") + " -o " + P("y.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --collective: must be one of all_reduce, all_gather, reduce_scatter, alltoall, "
                   "sendrecv, got 'all-to-all'\n");
  EXPECT_FALSE(fs::exists(P("y.json")));
}

// A sidecar's rank count wins over the one busbw / algbw imply (print rounding can turn 128 into
// 126), and is what lets a sendrecv log (busbw = algbw) be scored at all.
TEST_F(Cli, SidecarRankCountWinsAndScoresSendrecv) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  std::ofstream(P("sendrecv.txt")) << Slurp(d + "h100-1x8-sendrecv-xxrjun.txt");
  Result r = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("sendrecv.txt") + " --json " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("a.json")["records"][0]["status"], "skipped");
  EXPECT_EQ(ReadJson("a.json")["records"][0]["reason"],
            "sendrecv: the rank count cannot be inferred (busbw = algbw); give it as the sidecar's \"ranks\"");
  std::ofstream(P("sendrecv.txt.meta.json")) << R"({"ranks": 8, "nodes": 1})";
  r = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("sendrecv.txt") + " --json " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("a.json")["records"][0]["status"], "scored");
  EXPECT_EQ(ReadJson("a.json")["records"][0]["ranks"], 8);
  // An all-to-all log whose busbw / algbw says 8 ranks, with a sidecar that says 16 on 2 nodes.
  std::ofstream(P("a2a.txt")) << Slurp(d + "h100-1x8-alltoall-xxrjun.txt");
  std::ofstream(P("a2a.txt.meta.json")) << R"({"ranks": 16, "nodes": 2})";
  r = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("a2a.txt") + " --json " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("a.json")["records"][0]["ranks"], 16);
  EXPECT_EQ(ReadJson("a.json")["records"][0]["nodes"], 2);
  std::ofstream(P("a2a.txt.meta.json")) << R"({"ranks": 0})";
  r = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("a2a.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("a2a.txt.meta.json") + ": ranks: must be an integer in [1, 2^24]\n");
  // An algorithm mask that leaves nothing modelled for the collective is said, not priced as another.
  std::ofstream(P("ag.txt")) << Slurp(d + "h100-1x8-all_gather-xxrjun.txt");
  std::ofstream(P("ag.txt.meta.json")) << R"({"env": {"NCCL_ALGO": "NVLS"}})";
  r = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("ag.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("ag.txt:20: the NCCL settings it ran with (NCCL_ALGO=nvls) leave no modelled algorithm for "
                       "all_gather on 8 ranks, 1 node(s)"), std::string::npos) << r.err;
  std::ofstream(P("a2a.txt.meta.json")) << R"({"env": {"NCCL_MIN_CTAS": "lots"}})";
  r = Run("accuracy --cluster dgx-h100 --nccl-tests " + P("a2a.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("a2a.txt.meta.json") +
                       ": env.NCCL_MIN_CTAS: must be an integer in [1, 64], got 'lots'\n");
}

// The log tuned with NCCL_MIN_CTAS=24 (2 H100 nodes, forced ring): its sidecar's env block is
// read, and with its channel count the model predicts it better than the same log without it:
// uncalibrated 17.8% -> 15.4%, with the shipped profile (fitted on it) 15.2% -> 10.6%.
TEST_F(Cli, MinCtasFromTheSidecarPredictsTheTunedLogBetter) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  const std::string log = "h100-2x8-all_reduce-ncclt309-gjaion-ring.txt";
  std::ofstream(P(log)) << Slurp(d + log);
  json side = json::parse(Slurp(d + log + ".meta.json"));
  ASSERT_EQ(side["env"]["NCCL_MIN_CTAS"], "24");
  side["env"].erase("NCCL_MIN_CTAS");
  std::ofstream(P(log + ".meta.json")) << side.dump();
  for (const std::string calib : {"", " --calibration dgx-h100"}) {
    Result r = Run("accuracy --cluster dgx-h100" + calib + " --nccl-tests " + d + log + " --json " + P("with.json"));
    ASSERT_EQ(r.rc, 0) << r.err;
    r = Run("accuracy --cluster dgx-h100" + calib + " --nccl-tests " + P(log) + " --json " + P("without.json"));
    ASSERT_EQ(r.rc, 0) << r.err;
    const double with = ReadJson("with.json")["records"][0]["mape_pct"].get<double>();
    const double without = ReadJson("without.json")["records"][0]["mape_pct"].get<double>();
    EXPECT_LT(with, without - 2.0) << calib;
    EXPECT_LE(with, calib.empty() ? 16.0 : 11.0) << calib;
  }
}

// calibrate warns (stderr, warnings[] in the profile) where a file held out of the fit, or a
// larger node count fitted on fewer, scores worse than the uncalibrated model: here the A100
// process-per-GPU log, whose 18 us floor the two -g 8 logs do not teach (21.5% -> 31.9%).
TEST_F(Cli, CalibrateWarnsWhenAHeldOutScoreIsWorseThanUncalibrated) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  const std::string logs = d + "a100-1x8-all_reduce-dkhnotes.txt " + d + "a100-1x8-all_reduce-zhnotes-g8.txt " + d +
                           "a100-1x8-all_reduce-zhnotes-mpi.txt " + d + "a100-2x8-all_reduce-ocioke-roce.txt";
  Result r = Run("calibrate --cluster dgx-a100-80g --leave-one-out --nccl-tests " + logs + " -o " + P("a.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("meshplan: warning: leave-one-out: a100-1x8-all_reduce-zhnotes-mpi.txt scores "), std::string::npos)
      << r.err;
  const json p = ReadJson("a.json");
  ASSERT_GE(p["warnings"].size(), 1u);
  bool named = false;
  for (const json& w : p["warnings"]) named |= w.get<std::string>().find("zhnotes-mpi") != std::string::npos;
  EXPECT_TRUE(named) << p["warnings"].dump();
  // Every warning is a held-out score above the uncalibrated one, as the profile records them.
  for (const json& l : p["leave_one_out"]) {
    const bool worse = l["held_out_pct"].get<double>() > l["uncalibrated_pct"].get<double>();
    EXPECT_EQ(worse, p["warnings"].dump().find(l["file"].get<std::string>() + " scores") != std::string::npos) << l;
  }
  // Without held-out fits there is nothing to warn about.
  r = Run("calibrate --cluster dgx-a100-80g --nccl-tests " + logs + " -o " + P("b.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(ReadJson("b.json")["warnings"], json::array());
}

// validate --show compares an earlier run's measurement file without launching anything; a file
// that is not this plan's is refused (exit 2), as is a profile for another cluster.
TEST_F(Cli, ValidateShowRefusesAnotherPlansMeasurements) {
  Result r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 1 --global-batch 2 --seq 128 "
                 "--layout tp=1,fsdp=1 --analytical --json " + P("plan.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::ofstream(P("m.json")) << R"({"command": "validate", "plan": {"layout_text": "tp=2"}})";
  r = Run("validate --plan " + P("plan.json") + " --show " + P("m.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --show: '" + P("m.json") + "' is not the measurement file of this plan's run\n");
  EXPECT_EQ(r.out, "");  // nothing launched, no launch line
  r = Run("validate --plan " + P("plan.json") + " --show " + P("m.json") + " --calibration dgx-h100");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --calibration: clusters: profile 'dgx-h100' is for dgx-h100, dgx-h200, not for "
                   "cluster 'cpu-local'\n");
}

// Issue 8's bar is a dgx-h100 profile fitted on 1-4 node logs predicting 8-16 node collectives
// within 10% MAPE; no such log is published, so the shipped profile carries the same test one
// step down (calibration_shipped_profiles_reproduce pins the file to what the code computes):
// fitted on the 1- and 2-node logs, it predicts every row of the two 4-node logs, other systems
// included. Each figure is a regression guard at the value reached, rounded up a little.
TEST_F(Cli, ShippedH100ProfileExtrapolatesInNodes) {
  const json p = json::parse(Slurp(std::string(std::getenv("MESHPLAN_DATA")) + "/calibration/dgx-h100.json"));
  double pooled = -1;
  int scored_4 = 0;
  for (const json& e : p["extrapolation_in_nodes"]) {
    if (e["fit_below_nodes"] != 4) continue;
    if (e["file"] == "*") {
      pooled = e["mape_pct"].get<double>();
      EXPECT_EQ(e["rows"], 47);
    } else {
      ++scored_4;
      EXPECT_LE(e["mape_pct"].get<double>(), 9.0) << e["file"];
    }
  }
  EXPECT_EQ(scored_4, 3);  // the two 4-node logs and published.json's one 4-node H100 row (GTC25)
  EXPECT_GT(pooled, 0.0);
  EXPECT_LE(pooled, 8.0);
  // Leave-one-out: every multi-node log scored by a profile fitted without it.
  for (const json& l : p["leave_one_out"]) {
    const std::string f = l["file"];
    if (f.rfind("h100-4x8", 0) == 0) {
      EXPECT_LE(l["held_out_pct"].get<double>(), 10.0) << f;
    }
    if (f.rfind("h100-2x8", 0) == 0) {
      EXPECT_LE(l["held_out_pct"].get<double>(), 17.5) << f;
    }
  }
  // All-to-all and send/recv (issue 20): fitted from the single-node alltoall and sendrecv logs
  // (uncalibrated 11.6% and 22.7%); the all-to-all held out of the fit does no worse than the
  // uncalibrated model.
  for (const json& l : p["leave_one_out"]) {
    if (l["file"] == "h100-1x8-alltoall-xxrjun.txt") {
      EXPECT_LE(l["fitted_on_all_pct"].get<double>(), 6.5);
      EXPECT_LE(l["held_out_pct"].get<double>(), l["uncalibrated_pct"].get<double>());
    }
    if (l["file"] == "h100-1x8-sendrecv-xxrjun.txt") {
      EXPECT_LE(l["fitted_on_all_pct"].get<double>(), 2.5);
    }
  }
  EXPECT_NEAR(p["fitted"]["efficiency.p2p_part_mib"]["value"].get<double>(), 64.0, 1e-9);
  EXPECT_GT(p["fitted"]["efficiency.p2p_channel_GBps"]["value"].get<double>(), 60.0);
  // Harness host cost stays out of a training step's collective launch.
  EXPECT_LT(p["fitted"]["efficiency.collective_launch_us"]["value"].get<double>(), 5.0);
  EXPECT_GT(p["fitted"]["efficiency.group_launch_us"]["value"].get<double>(), 1.0);
  EXPECT_GT(p["fitted"]["efficiency.torch_call_us"]["value"].get<double>(), 10.0);
}

// Logs that start at 1 MiB (gjaion's) cannot tell the LL hop latency from the LL128/Simple bulk
// latency; NCCL's hop constants are the prior, so the profile still predicts small messages on a
// 4-node system it never saw (VMware, 8 B - 16 GiB): 83% MAPE without the prior.
TEST_F(Cli, CalibrationFromLogsStartingAt1MiBKeepsNcclsHopLatency) {
  const std::string d = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/";
  std::string logs;
  for (const char* f : {"h100-1x8-all_gather-together-ring.txt", "h100-1x8-all_gather-xxrjun.txt",
                        "h100-1x8-all_reduce-together-nvls.txt", "h100-1x8-all_reduce-together-ring.txt",
                        "h100-1x8-all_reduce-xxrjun.txt", "h100-1x8-reduce_scatter-together-ring.txt",
                        "h100-1x8-reduce_scatter-xxrjun.txt", "h100-2x8-all_reduce-ncclt309-gjaion-ring.txt",
                        "h100-2x8-all_reduce-ncclt309-gjaion.txt"}) {
    logs += " " + d + f;
  }
  Result r = Run("calibrate --cluster dgx-h100 --name mib --nccl-tests" + logs + " -o " + P("mib.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json mib = ReadJson("mib.json")["fitted"];
  // 3.1 us since the gjaion-ring log's NCCL_MIN_CTAS=24 is read (2.x before); without the prior, 15 us.
  EXPECT_LT(mib["fabric.latency_us"]["value"].get<double>(), 4.0);
  // No small per-process rows: only the restart from the uncalibrated latencies keeps the -g 8
  // floor in group_launch_us (without it: a 20.7 us per-call launch, group launch 0).
  EXPECT_LT(mib["efficiency.collective_launch_us"]["value"].get<double>(), 8.0);
  EXPECT_GT(mib["efficiency.group_launch_us"]["value"].get<double>(), 3.0);
  r = Run("accuracy --cluster dgx-h100 --calibration " + P("mib.json") + " --nccl-tests " + d +
          "h100-4x8-all_reduce-ncclt309-vmware.txt --json " + P("v.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_LE(ReadJson("v.json")["summary"]["per_quantity"]["collective_time_s"]["mape_pct"].get<double>(), 25.0);
}

// A run that was measured fitted its GPUs: the model must not reject its layout. Before the
// peak stopped counting the caching allocator's cache (released before an out-of-memory,
// costmodel/memory.h) and Megatron's main grads took the reduce dtype, 45 development runs were
// rejected on memory; every one of them runs now, and accuracy says so per source and per GPU.
TEST_F(Cli, AccuracyRejectsNoMeasuredDevelopmentRun) {
  const std::string data = std::getenv("MESHPLAN_DATA");
  std::string refs;
  for (const char* f : {"published", "dgxc-h100", "llm-foundry-h100", "simumax-b200"}) {
    refs += " " + data + "/reference/" + f + ".json";
  }
  Result r = Run("accuracy --reference" + refs + " --json " + P("fit.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.find("the model rejects"), std::string::npos) << r.out;
  const json j = ReadJson("fit.json");
  int sources = 0;
  for (const auto& [name, g] : j["summary"]["per_source"].items()) {
    ASSERT_TRUE(g.contains("ran_but_rejected")) << name;
    EXPECT_EQ(g["ran_but_rejected"], 0) << name;
    ++sources;
  }
  EXPECT_GE(sources, 8);
  for (const json& rec : j["records"]) {
    if (rec["status"] != "scored" || !rec["quantities"].contains("step_time_s")) continue;
    EXPECT_FALSE(rec["quantities"]["step_time_s"].contains("predicted_rejections")) << rec["id"];
  }
  // A layout that cannot fit is reported beside its step time, with the evaluator's sentence.
  // llm-foundry's 70B at 8 sequences per GPU, with nothing recomputed: 80 layers of activations.
  json one = json::parse(Slurp(std::filesystem::path(data) / "reference" / "llm-foundry-h100.json"));
  json rec = one["records"][0];
  ASSERT_EQ(rec["id"], "llmfoundry-h100_80gb-70b-s2048-g512-amp_bf16-mb8");
  rec["layout"]["recompute"] = "none";
  one["records"] = json::array({rec});
  std::ofstream(P("big.json")) << one.dump();
  r = Run("accuracy --reference " + P("big.json") + " --json " + P("big-out.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("measured runs whose layout the model rejects"), std::string::npos) << r.out;
  const json b = ReadJson("big-out.json");
  ASSERT_EQ(b["records"].size(), 1u);
  EXPECT_EQ(b["records"][0]["status"], "scored");
  const json& q = b["records"][0]["quantities"]["step_time_s"];
  EXPECT_EQ(q["predicted_rejection_codes"], json::array({"memory"}));
  EXPECT_EQ(q["predicted_rejections"][0].get<std::string>().rfind("needs ", 0), 0u);
  EXPECT_GT(q["predicted_memory_gib"]["peak"].get<double>(), q["predicted_memory_gib"]["capacity"].get<double>());
  EXPECT_EQ(b["summary"]["per_source"]["mosaicml/llm-foundry"]["ran_but_rejected"], 1);
}

// The model against the shipped published measurements (data/reference/published.json). Counts
// and skips are pinned; each MAPE is a regression guard at the figure reached, rounded up a
// little: it may fall, never rise. Deterministic: the same run writes the same bytes.
// Issue 17 moved the counts: the 20 B200 p6 collective records (one bus bandwidth per group
// size) are now 40 scored measurements on dgx-b200 (uncalibrated: no B200 profile ships), so
// stas00's pooled collective MAPE is guarded per profile instead; Korthikanti's figures here are
// in-sample (see LeaveSourceOutRefitsWithoutTheSourceAndScoresIt for out of sample).
TEST_F(Cli, AccuracyScoresTheShippedReferenceFile) {
  const std::string ref = std::string(std::getenv("MESHPLAN_DATA")) + "/reference/published.json";
  Result r = Run("accuracy --reference " + ref + " --json " + P("r.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("per source:"), std::string::npos);
  EXPECT_NE(r.out.find("per GPU generation:"), std::string::npos);
  EXPECT_NE(r.out.find("per calibration profile:"), std::string::npos);
  const json j = ReadJson("r.json");
  const json& s = j["summary"];
  EXPECT_EQ(s["scored"], 265);
  EXPECT_EQ(s["skipped"], 12);
  EXPECT_EQ(j["records"].size(), 277u);
  EXPECT_FALSE(s["skipped_by_reason"].contains("pipeline parallelism not modelled"));
  // Issue 18's bar: the 8 end-to-end points of Korthikanti et al. 2022 Table 5 (22B TP8; 175B,
  // 530B interleaved PP; 1T 1F1B PP; SP+selective and full recompute each) within 5% MAPE.
  {
    double sum = 0;
    int n = 0;
    for (const json& rec : j["records"]) {
      const std::string id = rec["id"];
      for (const char* size : {"22B", "175B", "530B", "1T"}) {
        for (const char* kind : {"present", "fullrecompute"}) {
          if (id != std::string("korthikanti22-") + size + "-" + kind) continue;
          ASSERT_EQ(rec["status"], "scored") << id;
          sum += std::abs(rec["quantities"]["step_time_s"]["error_pct"].get<double>());
          ++n;
        }
      }
    }
    EXPECT_EQ(n, 8);
    EXPECT_LE(sum / n, 5.0);
  }
  // ... and every Korthikanti end-to-end record is scored, Appendix C's micro-batch-level
  // recompute included (the two MFUs within 5.5%: 530B's is +5.1% since Megatron's SP gather in
  // backward raised the GEMM rate fitted on Table 4's layers, +4.5% before).
  for (const json& rec : j["records"]) {
    const std::string id = rec["id"];
    if (id.rfind("korthikanti22-", 0) != 0 || id.find("table4") != std::string::npos) continue;
    EXPECT_EQ(rec["status"], "scored") << id;
    if (id.find("mbrecompute") != std::string::npos) {
      EXPECT_LE(std::abs(rec["quantities"]["mfu"]["error_pct"].get<double>()), 5.5) << id;
    }
  }
  // A bandwidth with no message size is scored when the record says it is the large-message
  // plateau (GTC25's bar chart, 9 of 12: mapping.json "plateau"); the rest are skipped by what
  // they are: a PCIe or unnamed system, InfiniBand SHARP, a CUDA peer copy.
  EXPECT_FALSE(s["skipped_by_reason"].contains("message size not stated"));
  EXPECT_EQ(s["skipped_by_reason"]["collective 'p2p copy' not modelled"], 4);
  EXPECT_EQ(s["skipped_by_reason"]["InfiniBand SHARP (NCCL's CollNet algorithms) not modelled"], 1);
  EXPECT_EQ(s["per_source"]["NVIDIA GTC25 session S72583 slide 'Collective Communication Bandwidth'"]["scored"], 9);
  for (const json& rec : j["records"]) {
    if (rec["id"].get<std::string>().rfind("nccl-gtc25-", 0) != 0 || rec["status"] != "scored") continue;
    bool said = false;
    for (const json& a : rec["assumptions"]) said = said || a.get<std::string>().find("large-message plateau: scored at 16 GiB") != std::string::npos;
    EXPECT_TRUE(said) << rec["id"];
    // Within 10%: NVIDIA's plateau bars against NCCL's algorithms over the profiles' links.
    EXPECT_LE(std::abs(rec["quantities"]["collective_time_s"]["error_pct"].get<double>()), 10.0) << rec["id"];
  }
  for (const json& rec : j["records"]) {
    ASSERT_TRUE(rec.contains("source"));
    if (rec["status"] == "skipped") {
      EXPECT_FALSE(rec["reason"].get<std::string>().empty()) << rec["id"];
    } else {
      EXPECT_TRUE(rec.contains("assumptions")) << rec["id"];
      EXPECT_TRUE(rec.contains("in_sample")) << rec["id"];
    }
  }
  auto q = [&](const char* source, const char* quantity) {
    return s["per_source"][source]["per_quantity"][quantity];
  };
  auto mape = [&](const char* source, const char* quantity) { return q(source, quantity)["mape_pct"].get<double>(); };
  // Korthikanti et al. 2022 (22B, TP=8, SP/selective/full recompute, A100): end to end and per
  // layer, in-sample: the dgx-a100 profile's GEMM rate is fitted on its per-layer forwards. Its
  // backwards are scored, not fitted (specs.h TpBackwardOverlapsWgrad): Megatron's async input-
  // gradient all-reduce runs beside the weight-gradient GEMM, which meshplan prices exposed, so
  // they come out 6.8% slow (+6.8%), the size of the overlap the model leaves out; fitted with
  // them, the GEMMs took that time (forwards -4.0%, backwards +3.3% before). Step times 2.2%
  // (bias +1.0%; 2.1%, +0.4%, before Megatron-LM 2022's blocking exchanges and scatter-gather were
  // priced, pipeline.h BlockingProgram, which slow the 1T runs to +4.3% and +4.8%; 2.9% before,
  // 3.3% before Megatron's SP gather in backward was priced).
  EXPECT_EQ(s["per_source"]["Korthikanti et al. 2022"]["in_sample"], 17);
  EXPECT_LE(mape("Korthikanti et al. 2022", "step_time_s"), 2.3);
  EXPECT_LE(mape("Korthikanti et al. 2022", "mfu"), 10.0);
  EXPECT_LE(mape("Korthikanti et al. 2022", "layer_forward_s"), 0.1);
  EXPECT_NEAR(q("Korthikanti et al. 2022", "layer_backward_s")["bias_pct"].get<double>(), 6.8, 0.3);
  // A100 FSDP: llm-foundry (139 records) and torchtitan; bias beside MAPE (negative: optimistic).
  EXPECT_EQ(s["per_source"]["mosaicml/llm-foundry"]["in_sample"], 0);
  // FlashAttention's tiling at the runs' 512-65536 tokens (compute.h) took llm-foundry from 8.7%
  // (bias -7.7%) to 4.6% (-2.3%) and torchtitan from 6.3% to 5.0%; FSDP1's gradient cat on the
  // compute stream (memory.h FsdpCopyBytesPerParam) to 4.4% (-2.0%), worst -30.5% to -29.2%. The
  // A100 GEMM rate refitted once Megatron's SP gather in backward was priced (0.767 to 0.788 of
  // peak, data/calibration/dgx-a100.json) made both FSDP sources faster: llm-foundry 5.0% (-3.5%),
  // worst -30.9%; torchtitan 5.2% to 7.1%. NVLink's pipeline chunks priced (node.intra.bulk_*) and
  // the rate fitted on Korthikanti's forwards only (0.774): llm-foundry 4.5% (-2.5%), worst
  // -29.6%; torchtitan 5.5%. MPT's bias gradients reduced by autograd (llm-foundry.json
  // bias_grad): llm-foundry 4.2% (-1.5%), worst -29.1%. Compute beside FSDP's collectives priced
  // as measured (cluster overlap_slowdown 1.763 on A100, NVIDIA/nccl #1428): 4.0% (-0.6%), worst
  // -25.3%.
  EXPECT_LE(mape("mosaicml/llm-foundry", "step_time_s"), 4.1);
  EXPECT_NEAR(q("mosaicml/llm-foundry", "step_time_s")["bias_pct"].get<double>(), -0.6, 0.3);
  EXPECT_NEAR(q("mosaicml/llm-foundry", "step_time_s")["worst_pct"].get<double>(), -25.3, 0.3);
  EXPECT_LE(mape("mosaicml/llm-foundry", "mfu"), 5.5);
  EXPECT_LE(mape("mosaicml/llm-foundry", "tokens_per_s_per_gpu"), 5.5);
  // 8 runs, 5 with torchtitan's selective AC; FSDP2's copies priced (torchtitan.json fsdp2_copies).
  EXPECT_LE(mape("pytorch/torchtitan", "step_time_s"), 5.6);
  EXPECT_LE(mape("pytorch/torchtitan", "mfu"), 6.0);
  // Kernel level. Collectives by profile. H100/H200: nccl-tests sweeps and a torch.distributed
  // loop, each harness's host cost fitted apart. A100: stas00's single-node sweep (launch mode
  // not stated) sits 2x above the per-process small-message floor the A100 profile's alpha is
  // fitted on (zhnotes-mpi, OCI), so its rows under 2 MiB score 35-57% low; an honest figure, kept.
  auto profile = [&](const char* name, const char* quantity) {
    return s["per_calibration"][name]["per_quantity"][quantity];
  };
  EXPECT_LE(profile("dgx-h100", "collective_time_s")["mape_pct"].get<double>(), 5.5);
  EXPECT_LE(profile("dgx-a100", "collective_time_s")["mape_pct"].get<double>(), 25.0);
  // B200 (AWS p6, EFA): the dgx-b200 profile fits GEMMs only (SimuMax's), so its collectives are
  // the uncalibrated model's, and optimistic: 4-node small messages run 100x slower than the NIC
  // model says (the AWS OFI plugin's latency is not in the NCCL constants).
  EXPECT_EQ(profile("dgx-b200", "collective_time_s")["n"], 44);  // with GTC25's 2 B200 and 2 GB200 bars
  EXPECT_LE(profile("dgx-b200", "collective_time_s")["mape_pct"].get<double>(), 49.0);
  EXPECT_LT(profile("dgx-b200", "collective_time_s")["bias_pct"].get<double>(), -40.0);
  // mamf-finder's best B200 shape (1745 TFLOP/s, 0.78 of peak) against the dgx-b200 profile fitted on
  // the 75 training shapes SimuMax measured at 0.38-0.66: 37% under, the two sources' disagreement.
  EXPECT_NEAR(profile("dgx-b200", "gemm_tflops")["bias_pct"].get<double>(), -37.0, 0.5);
  EXPECT_LE(profile("dgx-h100", "gemm_tflops")["mape_pct"].get<double>(), 1.5);
  EXPECT_LE(profile("dgx-a100", "gemm_tflops")["mape_pct"].get<double>(), 1.5);
  EXPECT_EQ(s["per_calibration"]["dgx-a100"]["scored"], 187);
  // Issue 9's bar: every A100 step time (Korthikanti, llm-foundry, torchtitan) within 10% MAPE.
  EXPECT_EQ(profile("dgx-a100", "step_time_s")["n"], 156);
  EXPECT_LE(profile("dgx-a100", "step_time_s")["mape_pct"].get<double>(), 5.0);
  EXPECT_EQ(s["per_calibration"]["dgx-h100"]["scored"], 33);
  EXPECT_EQ(s["per_gpu"]["A100"]["scored"], 187);
  EXPECT_EQ(s["per_gpu"]["B200"]["scored"], 43);
  // The same step times per work regime (predicted step per layer pass) partition each
  // generation's: all 156 of these A100 runs (Korthikanti, llm-foundry, torchtitan) at 16+ ms.
  int64_t a100_in_regimes = 0;
  for (const char* k : {"A100 under 4 ms", "A100 4-16 ms", "A100 16+ ms"}) {
    if (s["per_gpu_regime"].contains(k)) a100_in_regimes += s["per_gpu_regime"][k]["step_time_s"]["n"].get<int64_t>();
  }
  EXPECT_EQ(a100_in_regimes, s["per_gpu"]["A100"]["per_quantity"]["step_time_s"]["n"].get<int64_t>());
  EXPECT_EQ(s["per_gpu_regime"]["A100 16+ ms"]["step_time_s"]["n"], 156);
  // And per source, GPU and layout features (precision; PP, CP, EP where > 1), partitioning each
  // source's end-to-end step times: Korthikanti's 22B runs on one pipeline stage, the 175B, 530B
  // and 1T runs (Table 5 and Appendix C) pipelined.
  const json& features = s["per_source_features"];
  EXPECT_EQ(features["Korthikanti et al. 2022 on A100"]["BF16"]["n"], 2);
  EXPECT_EQ(features["Korthikanti et al. 2022 on A100"]["BF16+PP"]["n"], 7);
  EXPECT_EQ(features["Korthikanti et al. 2022 on A100"].size(), 2u);
  int64_t a100_in_features = 0;
  for (const auto& [source, by] : features.items()) {
    if (source.size() < 4 || source.compare(source.size() - 4, 4, "A100") != 0) continue;
    for (const auto& [tag, q] : by.items()) a100_in_features += q["n"].get<int64_t>();
  }
  EXPECT_EQ(a100_in_features, 156);
  ASSERT_EQ(Run("accuracy --reference " + ref + " --json " + P("r2.json")).rc, 0);
  EXPECT_EQ(Slurp(P("r.json")), Slurp(P("r2.json")));

  Result none = Run("accuracy --reference " + ref + " --no-calibration --json " + P("n.json"));
  ASSERT_EQ(none.rc, 0) << none.err;
  const json n = ReadJson("n.json");
  EXPECT_EQ(n["summary"]["per_calibration"].size(), 1u);
  EXPECT_EQ(n["summary"]["per_calibration"]["none"]["scored"], 265);
  EXPECT_EQ(n["summary"]["in_sample"], 0);
  // A forced profile applies only to its clusters; the others are skipped, and counted.
  ASSERT_EQ(Run("accuracy --reference " + ref + " --calibration dgx-h100 --json " + P("h.json")).rc, 0);
  const json h = ReadJson("h.json");
  EXPECT_EQ(h["summary"]["scored"], 33);
  EXPECT_EQ(h["summary"]["skipped_by_reason"]["calibration 'dgx-h100' does not apply to cluster dgx-a100-80g"], 109);
  Result bad = Run("accuracy");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err, "meshplan: error: accuracy: give --nccl-tests LOG... (with --cluster) or --reference FILE\n");
}

// Out of sample (DESIGN.md): each source scored with the shipped profiles refitted without its
// own kernel-level records. Korthikanti's per-layer records shape the A100 profile: in sample its
// forward layer times are fitted exactly; out of sample the GEMM fraction comes from mamf-finder's
// A100 burst (0.880 of peak) held at its sustained ratio (0.905, the A100 PCIe's MSMF / MAMF), and
// its step error (9 end-to-end points) is 2.0%; sources that shaped nothing are unchanged.
TEST_F(Cli, LeaveSourceOutRefitsWithoutTheSourceAndScoresIt) {
  const std::string ref = std::string(std::getenv("MESHPLAN_DATA")) + "/reference/published.json";
  Result r = Run("accuracy --reference " + ref + " --leave-source-out --json " + P("o.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = ReadJson("o.json");
  const json& s = j["summary"];
  EXPECT_EQ(s["in_sample"], 0);
  EXPECT_EQ(j["inputs"]["leave_source_out"], true);
  for (const json& rec : j["records"]) {
    if (rec["status"] != "scored") continue;
    EXPECT_EQ(rec["in_sample"], false) << rec["id"];
    if (rec["source"] == "Korthikanti et al. 2022") {
      EXPECT_EQ(rec["calibration"], "dgx-a100 without Korthikanti et al. 2022") << rec["id"];
    }
    if (rec["source"] == "mosaicml/llm-foundry") {
      EXPECT_EQ(rec["calibration"], "dgx-a100") << rec["id"];
    }
  }
  auto q = [&](const char* source, const char* quantity) {
    return s["per_source"][source]["per_quantity"][quantity];
  };
  const double out_of_sample = q("Korthikanti et al. 2022", "step_time_s")["mape_pct"].get<double>();
  // 8.0% (bias -8.0%) before the sustained ratio, as optimistic as the burst rate: 0.880 x 0.905
  // = 0.797 of peak against the 0.774 the left-out layer timings give.
  EXPECT_LE(out_of_sample, 3.0);
  EXPECT_LT(q("Korthikanti et al. 2022", "step_time_s")["bias_pct"].get<double>(), 0.0);
  EXPECT_GT(q("Korthikanti et al. 2022", "step_time_s")["bias_pct"].get<double>(), -2.0);
  // In sample the forward layer times are what the fit reproduces (0.0%): the refit really left them out.
  EXPECT_GT(q("Korthikanti et al. 2022", "layer_forward_s")["mape_pct"].get<double>(), 1.0);
  EXPECT_LE(q("Korthikanti et al. 2022", "layer_forward_s")["mape_pct"].get<double>(), 2.0);
  EXPECT_LE(q("mosaicml/llm-foundry", "step_time_s")["mape_pct"].get<double>(), 9.0);
  EXPECT_LE(s["per_calibration"]["dgx-h100 without stas00/ml-engineering"]["per_quantity"]["collective_time_s"]
                ["mape_pct"].get<double>(),
            19.0);
  ASSERT_EQ(Run("accuracy --reference " + ref + " --leave-source-out --json " + P("o2.json")).rc, 0);
  EXPECT_EQ(Slurp(P("o.json")), Slurp(P("o2.json")));
  Result bad = Run("accuracy --reference " + ref + " --leave-source-out --no-calibration");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err,
            "meshplan: error: --leave-source-out: refits the shipped profiles: use it with --reference alone, not "
            "with --calibration or --no-calibration\n");
}

// The data folder is self-contained: a copy of it alone (as a user installs it, without the
// source tree's tests/) refits the shipped profiles, whose nccl-tests inputs live in data/nccl-tests.
// (They lived under tests/data/ before, and --leave-source-out failed on such a copy.)
TEST_F(Cli, LeaveSourceOutRunsFromACopyOfTheDataFolderAlone) {
  const fs::path copy = dir_ / "data";
  fs::copy(std::getenv("MESHPLAN_DATA"), copy, fs::copy_options::recursive);
  const std::string ref = (copy / "reference" / "published.json").string();
  Result r = Run("accuracy --reference " + ref + " --leave-source-out --json " + P("o.json"),
                 "MESHPLAN_DATA=" + copy.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(ReadJson("o.json")["inputs"]["leave_source_out"], true);
}

// The development files (data/reference, issue 17): every record is scored, or skipped for a
// feature meshplan does not model yet or a quantity the record lacks - never for how a field is
// phrased. Each source's MAPE, bias and worst case are reported; the guards may fall, never rise.
TEST_F(Cli, AccuracyScoresEveryDevelopmentFile) {
  const std::set<std::string> allowed = {
                                         "fp8 not modelled",                 "LoRA fine-tuning not modelled",
                                         "fine-tuning (sft) not modelled",   "MaxText (JAX/XLA) not modelled"};
  struct Case {
    std::string file, source;
    int scored, skipped, in_sample;
    double mape_max;      // step time: may fall, never rise
    double abs_bias_max;  // and its |bias|: issue 17's target is 4% per source
  };
  // Out of sample but for SimuMax, whose B200 GEMMs fit the dgx-b200 profile (in-sample: 43 of
  // its records; out of sample, with B200's mamf-finder burst, they are -30%). Every GEMM is
  // priced held at the power limit (mamf-finder's MSMF / MAMF, data/reference/sustained-gemm.json):
  // that took llm-foundry H100 from 20.2% to 15.0%, DGX Cloud from 11.6% to 8.0% (bias -9% to
  // -2%), SimuMax in-sample from 17.5% to 9.6%. Still optimistic: llm-foundry on H100 (-14%) and
  // vTrain's small A100 models (-33%: a host-bound floor, README). FP8 TP all-gathers moving 1
  // byte (TE and torchao cast before they gather) took DGX Cloud to 7.5% (bias -3.4%).
  // Context parallelism (issue 19) and FP8 (TransformerEngine delayed scaling) are scored:
  // DGX Cloud's CP and FP8 records (Llama 3.1 405B's with the embedding and the loss counted
  // in the pipeline split, as the recipe sets), SimuMax's 7 CP records, llm-foundry's 7 FP8
  // rows. Expert parallelism (issue 20) scores DGX Cloud's 18 Grok-1 runs
  // (-20 to -29%: MoE runs further under than the dense ones) and, with MLA, SimuMax's 12
  // DeepSeek-V2/V3 runs (-41 to -50%, on B200 where the dense runs are -38% too).
  const std::vector<Case> cases = {
      // Raised on purpose from 9.5 / 8.5: GEMM tails priced as CUTLASS's stream-K scheduler runs
      // them on Hopper (compute.h GemmTileSchedule; the lent H100's 54 GEMMs went from 16.9% to
      // 9.2% MAPE, bias +6.6% to +0.8%) took 9.1% / -8.0% to 9.9% / -8.8%: the whole-wave model
      // overpriced the tails of the small models' long-K weight gradients (760M-3B: 2-4% of their
      // step), which hid as much of what is still missing.
      // The job's slowest GPU (compute.h SlowestGpuFraction: every GEMM at the slowest of the
      // job's GPUs, from the per-GPU spread measured on an 8x H200 node) took 9.9% / -8.8% to
      // 9.1% / -7.9%, FSDP1's gradient cat (memory.h FsdpCopyBytesPerParam) to 8.6% / -7.4%:
      // lowered to 9.0 / 8.0.
      {"llm-foundry-h100.json", "mosaicml/llm-foundry", 77, 0, 0, 9.0, 8.0},
      // Raised on purpose from 8.0 / 4.0: TransformerEngine's fused attention priced as cuDNN's
      // kernel (1.6-1.8x FlashAttention-2, NVIDIA's cudnn-frontend benchmark on GH100) where it
      // runs took the dense families from +2.4 / +0.7 / -5.1% (BF16 Llama, Nemotron, GPT-3) and
      // +10.8 / +2.6 / -5.9% (FP8) to -5.0 / -3.6 / -6.7% and +0.7 / -3.4 / -8.2%: one common
      // bias instead of a spread the wrong attention price made (README, FP8).
      // The job's slowest GPU took 7.8% / -5.8% to 7.0% / -4.2% (Grok-1's 18 MoE runs, -12 to -20%,
      // are what keeps the bias above issue 17's 4%): lowered to 7.5 / 5.0. Megatron's SP input
      // gathered again in backward (tensor.h) took 7.0% / -4.2% to 6.9% / -2.5%: lowered to 7.0 / 3.0.
      {"dgxc-h100.json", "NVIDIA/dgxc-benchmarking", 86, 30, 0, 7.0, 3.0},
      {"vtrain-single-a100.json", "VIA-Research/vTrain", 1440, 0, 0, 33.5, 33.0},
      {"simumax-b200.json", "MooreThreads/SimuMax", 43, 0, 43, 9.5, 3.5},
  };
  for (const Case& c : cases) {
    const std::string ref = std::string(std::getenv("MESHPLAN_DATA")) + "/reference/" + c.file;
    Result r = Run("accuracy --reference " + ref + " --json " + P("d.json"));
    ASSERT_EQ(r.rc, 0) << c.file << ": " << r.err;
    const json j = ReadJson("d.json");
    const json& s = j["summary"];
    EXPECT_EQ(s["scored"], c.scored) << c.file;
    EXPECT_EQ(s["skipped"], c.skipped) << c.file;
    EXPECT_EQ(s["in_sample"], c.in_sample) << c.file;
    for (const auto& [reason, n] : s["skipped_by_reason"].items()) {
      // A pipeline split the record leaves out is a quantity it lacks (README, accuracy).
      EXPECT_TRUE(allowed.count(reason) || reason.rfind("pipeline split: ", 0) == 0)
          << c.file << ": skipped " << n << " for '" << reason << "'";
    }
    const json& st = s["per_source"][c.source]["per_quantity"]["step_time_s"];
    EXPECT_EQ(st["n"], c.scored) << c.file;
    EXPECT_LE(st["mape_pct"].get<double>(), c.mape_max) << c.file;
    EXPECT_LE(std::abs(st["bias_pct"].get<double>()), c.abs_bias_max) << c.file;
    // Bias is the signed mean of the records' errors, worst the signed error of the largest.
    double sum = 0, worst = 0;
    for (const json& rec : j["records"]) {
      if (rec["status"] != "scored") continue;
      const double e = rec["quantities"]["step_time_s"]["error_pct"].get<double>();
      sum += e;
      if (std::fabs(e) > std::fabs(worst)) worst = e;
    }
    EXPECT_NEAR(st["bias_pct"].get<double>(), sum / c.scored, 1e-9) << c.file;
    EXPECT_DOUBLE_EQ(st["worst_pct"].get<double>(), worst) << c.file;
    if (c.source == std::string("NVIDIA/dgxc-benchmarking")) {
      // Issue 19's bar for NeMo's dense context-parallel runs (MAPE <= 10%, |bias| <= 4%), from
      // the per-feature split: BF16 17 runs at 3.9% (-3.9%) since the ring's merges and copies
      // were priced (4.9%, -4.9% before), FP8 11 at 4.8% (-0.2%). Grok-1's (EP) are not in it.
      // Stream-K GEMM tails (compute.h) took BF16 to -4.5%; the job's slowest GPU (compute.h
      // SlowestGpuFraction) to 2.8% (-2.8%), FP8 to 4.8% (+0.8%): the 4% bound holds again.
      // Megatron's SP gather in backward (tensor.h): BF16 1.8% (-0.5%), FP8 6.6% (+2.5%).
      const json& f = s["per_source_features"]["NVIDIA/dgxc-benchmarking on H100"];
      struct Subset {
        std::array<const char*, 2> tags;
        int n;
        double bias_bound;
      };
      // Compute beside the collectives priced as measured (overlap_slowdown 2 on H100) took the
      // FP8 subset's 8B runs from -4 to -5% to -1 to -2%, leaving its 405B runs' +6 to +10% (FP8
      // of the large shapes priced slow, README "FP8") uncancelled: +2.5% to +4.2%. Its bound is
      // 4.5%, written down here rather than met by a factor; BF16's stays at 4%.
      for (const Subset& sub : {Subset{{"BF16+CP", "BF16+PP+CP"}, 17, 4.0}, Subset{{"FP8+CP", "FP8+PP+CP"}, 11, 4.5}}) {
        double n = 0, abs_sum = 0, signed_sum = 0;
        for (const char* t : sub.tags) {
          const double tn = f[t]["n"].get<double>();
          n += tn;
          abs_sum += tn * f[t]["mape_pct"].get<double>();
          signed_sum += tn * f[t]["bias_pct"].get<double>();
        }
        EXPECT_EQ(n, sub.n) << sub.tags[0];
        EXPECT_LE(abs_sum / n, 10.0) << sub.tags[0];
        EXPECT_LE(std::abs(signed_sum / n), sub.bias_bound) << sub.tags[0];
      }
    }
  }
  // SimuMax measured peak memory (max over ranks) on B200, 7 of the 19 context-parallel, 4 of
  // them DeepSeek-V2/V3 MoE with MLA (each stage counting its own dense and MoE layers):
  // allocated against the model's allocated tensors (3.6% when written; the accuracy issue's
  // target is 8%), reserved against allocated plus the caching allocator's gap (6.2%, all under:
  // the gap is larger than modelled).
  const json mem = ReadJson("d.json")["summary"]["per_source"]["MooreThreads/SimuMax"]["per_quantity"];
  EXPECT_EQ(mem["peak_memory_gib"]["n"], 19);
  EXPECT_LE(mem["peak_memory_gib"]["mape_pct"].get<double>(), 4.5);
  EXPECT_EQ(mem["peak_reserved_gib"]["n"], 19);
  EXPECT_LE(mem["peak_reserved_gib"]["mape_pct"].get<double>(), 7.0);
  // vTrain's A100s of unstated memory are scored, each with the assumption listed and counted.
  ASSERT_EQ(Run("accuracy --reference " + std::string(std::getenv("MESHPLAN_DATA")) +
                "/reference/vtrain-single-a100.json --json " + P("v.json")).rc,
            0);
  const json v = ReadJson("v.json");
  EXPECT_EQ(v["summary"]["assumptions"]["A100 memory size not stated: the 80 GB part of the DGX A100 640GB assumed"], 1440);
  EXPECT_EQ(v["summary"]["assumptions"]["intra-node link given as another tool's configuration value, not the hardware's "
                                        "rate: dgx-a100-80g's NVLink3 + NVSwitch gen2 (DGX A100, 6 NVSwitches)"],
            1440);
  EXPECT_EQ(v["summary"]["skipped"], 0);
  // The residual split (a diagnostic, never applied) reads vTrain's error as what the README
  // says it is: a fixed cost per layer pass (2.3 ms when written), not a slow rate (0.81: the
  // work itself is priced a little slow), and the two together leave 12.7% of its 33%.
  // Layer passes by hand: 24 layers over pp 2 = 12 per stage, x 16 / 8 / dp 1 = 2 micro-batches.
  for (const json& rec : v["records"]) {
    if (rec["id"] != "vtrain-single-0000-h1024-L24-g2-t1d1p2-gb16-mb8") continue;
    EXPECT_EQ(rec["quantities"]["step_time_s"]["layer_passes"], 24.0);
  }
  const json& split = v["summary"]["residual_split"]["VIA-Research/vTrain on A100"];
  EXPECT_EQ(split["n"], 1440);
  EXPECT_EQ(split["separable"], true);
  EXPECT_GT(split["fixed_ms_per_layer_pass"].get<double>(), 1.5);
  EXPECT_LT(split["rate"].get<double>(), 1.0);
  EXPECT_LT(split["mape_after_pct"].get<double>(), 15.0);
  EXPECT_NEAR(split["mape_pct"].get<double>(), v["summary"]["per_source"]["VIA-Research/vTrain"]["per_quantity"]["step_time_s"]["mape_pct"].get<double>(), 1e-9);
}

// Each end-to-end record's step time carries where the predicted step goes (predicted_time): the
// evaluator's breakdown, whose parts add up to the predicted step, and each purpose's collective
// seconds per step. An FSDP run on H100 has its gathers and reduce-scatters there, hidden or not.
TEST_F(Cli, AccuracyGivesEachStepTimeItsPredictedBreakdown) {
  const Result r = Run("accuracy --reference " + std::string(std::getenv("MESHPLAN_DATA")) +
                       "/reference/llm-foundry-h100.json --json " + P("b.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json report = ReadJson("b.json");
  int seen = 0;
  for (const json& rec : report["records"]) {
    if (rec["status"] != "scored" || !rec["quantities"].contains("step_time_s")) continue;
    const json& q = rec["quantities"]["step_time_s"];
    ASSERT_TRUE(q.contains("predicted_time")) << rec["id"];
    const json& t = q["predicted_time"];
    EXPECT_DOUBLE_EQ(t["step_s"].get<double>(), q["predicted"].get<double>()) << rec["id"];
    double parts = 0;
    for (const char* k : {"compute_s", "exposed_tp_comm_s", "exposed_fsdp_comm_s", "exposed_dp_comm_s",
                          "exposed_pp_comm_s", "exposed_cp_comm_s", "exposed_ep_comm_s", "optimizer_s", "bubble_s"}) {
      parts += t[k].get<double>();
    }
    EXPECT_NEAR(parts, t["step_s"].get<double>(), 1e-9 * t["step_s"].get<double>()) << rec["id"];
    // llm-foundry shards every layer over the whole job: both FSDP collectives, at least what shows.
    const json& cs = t["collectives_s"];
    ASSERT_TRUE(cs.contains("fsdp_param_gather") && cs.contains("fsdp_grad_reduce")) << rec["id"];
    EXPECT_GE(cs["fsdp_param_gather"].get<double>() + cs["fsdp_grad_reduce"].get<double>(),
              t["exposed_fsdp_comm_s"].get<double>())
        << rec["id"];
    ++seen;
  }
  EXPECT_EQ(seen, 77);
}

// The scale trend (a diagnostic, never applied): llm-foundry ran the same work per GPU at several
// GPU counts (MPT-7b, 2048 tokens, micro-batch 6, one micro-batch per step, on 8, 128, 256 and
// 512 H100: one group; ten such groups, 30 runs, in the file). When written the model lost 1.3
// points of error per doubling of the GPUs in the median group (README, "What the scale trend
// says"): what the model misses as FSDP's groups grow. A mechanism that prices it moves this
// figure toward 0, and this test with it.
TEST_F(Cli, AccuracyTracksHowEachSourcesErrorMovesWithTheJobsSize) {
  const Result r = Run("accuracy --reference " + std::string(std::getenv("MESHPLAN_DATA")) +
                       "/reference/llm-foundry-h100.json --json " + P("s.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("scale trend of step times (a diagnostic, never applied)"), std::string::npos) << r.out;
  const json report = ReadJson("s.json");
  const json& t = report["summary"]["scale_trend"]["mosaicml/llm-foundry on H100"];
  EXPECT_EQ(t["groups"], 10);
  EXPECT_EQ(t["runs"], 30);
  EXPECT_EQ(t["min_gpus"], 8);
  EXPECT_EQ(t["max_gpus"], 512);
  // Compute beside the collectives, priced as measured (cluster overlap_slowdown: Hopper's
  // persistent GEMMs as two waves beside an NCCL kernel) took most of it: -1.34 to -0.30 points
  // per doubling (pooled -1.09 to +0.02), as FSDP's per-layer collectives lengthen with the group.
  EXPECT_LT(t["median_slope_pct_per_doubling"].get<double>(), 0.0);
  EXPECT_GT(t["median_slope_pct_per_doubling"].get<double>(), -0.5);
}

// A layout on more GPUs than the runs behind its band is told so (data/accuracy/error_bands.json
// max_gpus): SimuMax's B200 runs are all on one node of 8, so 64 B200 are 3 doublings past them,
// with no scale trend measured; 8 B200 are within them and say nothing.
TEST_F(Cli, SimulateSaysWhenALayoutRunsPastTheScoredRuns) {
  const std::string w = "simulate --model llama3-8b --cluster dgx-b200 --global-batch 64 --seq 8192 ";
  const Result far = Run(w + "--gpus 64 --layout tp=1,fsdp=64,mbs=1,recompute=full --json " + P("far.json"));
  ASSERT_EQ(far.rc, 0) << far.err;
  EXPECT_NE(far.out.find("(this layout runs on 64 GPUs, 3.0 doublings past the largest scored B200 run (8 GPUs): the "
                         "band has not been measured this far)"),
            std::string::npos)
      << far.out;
  EXPECT_EQ(ReadJson("far.json")["error_band"]["max_gpus"], 8);
  const Result near = Run(w + "--gpus 8 --layout tp=1,fsdp=8,mbs=1,recompute=full");
  ASSERT_EQ(near.rc, 0) << near.err;
  EXPECT_EQ(near.out.find("doublings past"), std::string::npos) << near.out;
}

// --framework NAME fills the workload traits the framework implies (data/frameworks); a flag
// given explicitly wins. The report's inputs show which were used.
// MPT-30B's 112-wide heads run FlashAttention's 128 kernel (compute.h FlashKernelHeadDim):
// simulate says so beside the tiling; cuDNN's fused kernel (Megatron's TransformerEngine) is not
// padded and says nothing of it.
TEST_F(Cli, SimulateSaysWhichFlashKernelAnOddHeadRuns) {
  const std::string w = "simulate --model mpt-30b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 8192 ";
  const Result fa = Run(w + "--layout tp=1,fsdp=64,mbs=1,recompute=full");
  ASSERT_EQ(fa.rc, 0) << fa.err;
  EXPECT_NE(fa.out.find("; head dim 112 runs its 128 kernel (0.875 of its work counted)"), std::string::npos) << fa.out;
  const Result te = Run(w + "--framework megatron --layout tp=1,fsdp=64,zero=1,mbs=1,recompute=full,recipe=megatron");
  ASSERT_EQ(te.rc, 0) << te.err;
  EXPECT_EQ(te.out.find("runs its 128 kernel"), std::string::npos) << te.out;
}

TEST_F(Cli, FrameworkFlagSetsTheTraitsUnlessGivenExplicitly) {
  const std::string w = "simulate --model llama2-7b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 "
                        "--layout tp=1,fsdp=64 --analytical ";
  auto inputs = [&](const std::string& extra) {
    Result r = Run(w + extra + " --json " + P("f.json"));
    EXPECT_EQ(r.rc, 0) << extra << ": " << r.err;
    return ReadJson("f.json")["inputs"];
  };
  json in = inputs("--framework torchtitan");
  EXPECT_EQ(in["eager_elementwise"], true);
  EXPECT_EQ(in["flash_version"], 2);
  EXPECT_EQ(in["reduce_dtype"], "fp32");
  EXPECT_FALSE(in.contains("fsdp2_copies"));  // FSDP2, the default
  in = inputs("--framework llm-foundry");
  EXPECT_EQ(in["flash_version"], 1);
  EXPECT_EQ(in["reduce_dtype"], "bf16");
  EXPECT_EQ(in["fsdp2_copies"], false);  // Composer's FSDP1
  // Composer's DecoupledAdamW, one op at a time: the report's inputs say so, the optimizer costs
  // 92/40 of the fused Adam's (no gradient buffer here; a launch's latency apart), and the text
  // names the bytes.
  EXPECT_EQ(in["optimizer"], "per_op");
  const double per_op_optimizer = ReadJson("f.json")["layouts"][0]["time"]["optimizer_s"];
  EXPECT_FALSE(inputs("--framework torchtitan").contains("optimizer"));
  EXPECT_NEAR(per_op_optimizer / ReadJson("f.json")["layouts"][0]["time"]["optimizer_s"].get<double>(), 92.0 / 40.0,
              0.01);
  const Result composer = Run(w + "--framework llm-foundry");
  EXPECT_NE(composer.out.find("ms  (Adam one op at a time, the framework's workload.optimizer per_op: 92 B per local "
                              "parameter through HBM, a fused Adam's 40)"),
            std::string::npos)
      << composer.out;
  EXPECT_EQ(Run(w + "--framework torchtitan").out.find("Adam one op at a time"), std::string::npos);
  // llm-foundry's torch.nn.Linear reduces each bias's gradient in a kernel of its own: with a
  // model that has biases (GPT 22B: on every linear; the built-in MPT-7B is the released one,
  // no_bias) the inputs and the breakdown say so.
  const std::string biased_model =
      "simulate --model gpt-22b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 2048 --layout tp=1,fsdp=64 "
      "--analytical ";
  const Result biased = Run(biased_model + "--framework llm-foundry --json " + P("m.json"));
  ASSERT_EQ(biased.rc, 0) << biased.err;
  EXPECT_EQ(ReadJson("m.json")["inputs"]["bias_grad"], "reduce");
  EXPECT_NE(biased.out.find(" ms per layer per micro-batch  (in the backward: 4 biased linears each sum their output "
                            "gradient over the tokens in a kernel of its own, the framework's workload.bias_grad "
                            "reduce)"),
            std::string::npos)
      << biased.out;
  EXPECT_EQ(Run(biased_model + "--framework torchtitan").out.find("bias gradients"), std::string::npos);
  // Megatron-Core's 1F1B exchanges block (megatron.json pp_p2p): the inputs and the pipeline
  // line say so, and the same layout is slower than with no framework's (sends on their own stream);
  // its interleaved schedule overlaps them (nothing said).
  const std::string piped =
      "simulate --model gpt3-175b --cluster dgx-a100-80g --gpus 64 --global-batch 64 --seq 2048 "
      "--layout tp=8,sp=on,pp=8,recompute=selective,recipe=megatron ";
  const Result mcore = Run(piped + "--framework megatron --json " + P("pp.json"));
  ASSERT_EQ(mcore.rc, 0) << mcore.err;
  EXPECT_EQ(ReadJson("pp.json")["inputs"]["pp_p2p"], "blocking");
  EXPECT_NE(mcore.out.find("; blocking: each exchange holds both ranks until its sends and receives are done, then "
                           "synchronizes the device (the framework's workload.pp_p2p blocking))"),
            std::string::npos)
      << mcore.out;
  const Result plain = Run(piped + "--json " + P("pt.json"));
  ASSERT_EQ(plain.rc, 0) << plain.err;
  EXPECT_EQ(plain.out.find("blocking"), std::string::npos);
  EXPECT_GT(ReadJson("pp.json")["layouts"][0]["time"]["analytical"]["exposed_pp_comm_s"].get<double>(),
            ReadJson("pt.json")["layouts"][0]["time"]["analytical"]["exposed_pp_comm_s"].get<double>());
  EXPECT_GT(ReadJson("pp.json")["layouts"][0]["time"]["step_s"].get<double>(),
            ReadJson("pt.json")["layouts"][0]["time"]["step_s"].get<double>());
  const Result inter = Run(
      "simulate --model gpt3-175b --cluster dgx-a100-80g --gpus 64 --global-batch 64 --seq 2048 --framework megatron "
      "--layout tp=8,sp=on,pp=8,vpp=3,schedule=interleaved,recompute=selective,recipe=megatron");
  ASSERT_EQ(inter.rc, 0) << inter.err;
  EXPECT_EQ(inter.out.find("blocking"), std::string::npos);
  // --fsdp1 drops FSDP2's copies: the same layout runs faster, and the plan file keeps it.
  EXPECT_EQ(inputs("--fsdp1")["fsdp2_copies"], false);
  const double fsdp1_step = ReadJson("f.json")["layouts"][0]["time"]["step_s"];
  const double fsdp1_copies = ReadJson("f.json")["layouts"][0]["time"]["fsdp_copies_s"];
  inputs("");
  EXPECT_LT(fsdp1_step, ReadJson("f.json")["layouts"][0]["time"]["step_s"].get<double>());
  // FSDP1's own compute-stream work, the gradients' cat, is less than FSDP2's copies, and the
  // text report names it as what it is.
  EXPECT_GT(fsdp1_copies, 0.0);
  EXPECT_LT(fsdp1_copies, ReadJson("f.json")["layouts"][0]["time"]["fsdp_copies_s"].get<double>());
  const Result text = Run(w + "--fsdp1");
  EXPECT_NE(text.out.find("\n  FSDP1 gradient cat "), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("FSDP2 copies"), std::string::npos) << text.out;
  in = inputs("--framework deepspeed");
  EXPECT_EQ(in["flash_attention"], false);
  // DeepSpeed reduces after the backward and ZeRO-1 gathers in the optimizer step: the report
  // says so, and this FSDP layout (ZeRO-3, per-layer units) is priced the same either way.
  EXPECT_EQ(in["dp_grad_reduce"], "after_backward");
  EXPECT_EQ(in["dp_param_gather"], "before_forward");
  EXPECT_FALSE(inputs("--framework torchtitan").contains("dp_grad_reduce"));
  // Megatron-Core's gradient buckets: megatron and nemo, not the others.
  EXPECT_EQ(inputs("--framework nemo")["dp_buckets"], "megatron_core");
  EXPECT_EQ(inputs("--framework megatron")["dp_buckets"], "megatron_core");
  EXPECT_FALSE(in.contains("dp_buckets"));  // deepspeed
  EXPECT_FALSE(inputs("--framework torchtitan").contains("dp_buckets"));
  // plan says it among its caveats.
  Result ds = Run("plan --model llama2-7b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 --top 2 --refine 0 "
                  "--framework deepspeed");
  ASSERT_EQ(ds.rc, 0) << ds.err;
  EXPECT_NE(ds.out.find("data-parallel traffic outside the passes, none of it hidden: the gradient reduction after "
                        "the backward, ZeRO-1's parameter all-gather before the forward"),
            std::string::npos)
      << ds.out;
  in = inputs("--framework llm-foundry --flash-version 2 --reduce-dtype fp32");
  EXPECT_EQ(in["flash_version"], 2);
  EXPECT_EQ(in["reduce_dtype"], "fp32");
  EXPECT_EQ(in["eager_elementwise"], true);
  // The recipe the framework implies: megatron's layout is priced with the Megatron recipe.
  Result m = Run(w + "--framework megatron --json " + P("m.json"));
  ASSERT_EQ(m.rc, 0) << m.err;
  EXPECT_EQ(ReadJson("m.json")["layouts"][0]["layout"]["recipe"], "megatron");
  // Its attention is TransformerEngine's fused kernel: on H100 cuDNN's, priced at its measured
  // speed over FlashAttention-2 (1.77x at 4096 causal keys) and said so, in the caveats and in
  // inputs; a FlashAttention generation given by flag is that kernel.
  EXPECT_EQ(ReadJson("m.json")["inputs"]["attention_kernel"], "te-fused");
  EXPECT_NE(m.out.find("FlashAttention-2 at 0.798 of its long-sequence rate (4096 causal tokens in 128-token tiles); "
                       "TransformerEngine's fused attention: cuDNN's kernel at 1.77x that (NVIDIA's cudnn-frontend "
                       "benchmark on GH100)"),
            std::string::npos)
      << m.out;
  Result mp = Run("plan --model llama2-7b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 --top 2 --refine 0 "
                  "--framework nemo");
  ASSERT_EQ(mp.rc, 0) << mp.err;
  EXPECT_NE(mp.out.find("attention: TransformerEngine's fused attention (cuDNN's kernel, priced at 1.58-1.81x "
                        "FlashAttention-2: NVIDIA's cudnn-frontend benchmark on GH100); elementwise ops fused"),
            std::string::npos)
      << mp.out;
  EXPECT_FALSE(inputs("--framework megatron --flash-version 3").contains("attention_kernel"));
  EXPECT_FALSE(inputs("--framework torchtitan").contains("attention_kernel"));
  // Context parallelism as the framework runs it: torchtitan's is PyTorch's context_parallel,
  // written to inputs and said beside the attention; Megatron's TransformerEngine's.
  EXPECT_EQ(inputs("--framework torchtitan").value("cp_attention", ""), "torch");
  EXPECT_FALSE(inputs("--framework megatron").contains("cp_attention"));
  const std::string cp = "simulate --model llama3-8b --cluster dgx-h100 --gpus 32 --global-batch 8 --seq 32768 "
                         "--layout tp=2,sp=on,cp=4,cp_comm=all_gather,fsdp=4,zero=3,recompute=full ";
  Result tcp = Run(cp + "--framework torchtitan");
  ASSERT_EQ(tcp.rc, 0) << tcp.err;
  EXPECT_NE(tcp.out.find("all_gather over cp 4 as PyTorch's context_parallel runs it (ring steps, fp32 merges and dK,dV)"),
            std::string::npos)
      << tcp.out;
  Result mcp = Run(cp + "--framework megatron");
  ASSERT_EQ(mcp.rc, 0) << mcp.err;
  EXPECT_NE(mcp.out.find("all_gather over cp 4 as TransformerEngine runs it"), std::string::npos) << mcp.out;
  // accuracy --framework scores every reference record as run with that framework.
  const std::string ref = std::string(std::getenv("MESHPLAN_DATA")) + "/reference/llm-foundry-h100.json";
  Result a = Run("accuracy --reference " + ref + " --framework megatron --json " + P("a.json"));
  ASSERT_EQ(a.rc, 0) << a.err;
  const json aj = ReadJson("a.json");
  EXPECT_EQ(aj["inputs"]["framework"], "megatron");
  for (const json& rec : aj["records"]) {
    if (rec["status"] == "scored") {
      EXPECT_EQ(rec["framework"], "megatron") << rec["id"];
    }
  }
  Result abad = Run("accuracy --reference " + ref + " --framework jax");
  EXPECT_EQ(abad.rc, 2);
  EXPECT_EQ(abad.err.rfind("meshplan: error: --framework: no built-in framework named 'jax'", 0), 0u) << abad.err;
  Result bad = Run(w + "--framework jax");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err, "meshplan: error: --framework: no built-in framework named 'jax' (built-in: deepspeed, "
                     "llm-foundry, megatron, nemo, torchtitan; or give a path to a .json file)\n");
}

// data/calibration/inputs/shipped.json (what --leave-source-out refits from) lists the logs
// tools/calibrate_shipped.sh fits the shipped profiles from, in the same order.
TEST_F(Cli, ShippedFitInputsMatchTheCalibrationScript) {
  const std::string data = std::getenv("MESHPLAN_DATA");
  const json fits = json::parse(Slurp(fs::path(data) / "calibration" / "inputs" / "shipped.json"));
  const std::string script = Slurp(fs::path(data) / ".." / "tools" / "calibrate_shipped.sh");
  for (const json& f : fits["profiles"]) {
    const std::string name = f["name"];
    const size_t named = script.find("--name " + name + " ");
    ASSERT_NE(named, std::string::npos) << name;
    const size_t at = script.rfind("\"$bin\" calibrate", named);
    ASSERT_NE(at, std::string::npos) << name;
    const size_t end = script.find("\n\"$bin\"", named);
    const std::string command = script.substr(at, end == std::string::npos ? std::string::npos : end - at);
    std::vector<std::string> logs;
    std::istringstream words(command);
    for (std::string word; words >> word;) {
      if (word.size() > 4 && word.substr(word.size() - 4) == ".txt") logs.push_back(word);
    }
    std::vector<std::string> listed;
    for (const json& p : f["nccl_tests"]) listed.push_back(fs::path(p.get<std::string>()).filename().string());
    EXPECT_EQ(listed, logs) << name;
    EXPECT_NE(command.find("--cluster " + f["cluster"].get<std::string>()), std::string::npos) << name;
  }
}

// simulate runs the discrete-event simulator by default: `time` is simulated, `analytical`
// sits beside it, and --trace writes a Chrome trace; --analytical skips the simulation.
TEST_F(Cli, SimulateUsesTheSimulatorAndWritesATrace) {
  Result r = Run(std::string("simulate ") + kPlan70b + " --layout tp=2,sp=on,fsdp=32,replicate=32 --json " +
                 P("s.json") + " --trace " + P("t.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("simulated step (discrete-event"), std::string::npos);
  const json l = ReadJson("s.json")["layouts"][0];
  ASSERT_TRUE(l["time"].contains("analytical"));
  EXPECT_GT(l["time"]["step_s"].get<double>(), 0);
  EXPECT_GT(l["simulation"]["tasks"].get<int>(), 0);
  const json t = ReadJson("t.json");
  EXPECT_GT(t["traceEvents"].size(), 100u);
  Result a = Run(std::string("simulate ") + kPlan70b + " --layout tp=2,sp=on,fsdp=32,replicate=32 --analytical --json " + P("a.json"));
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_FALSE(ReadJson("a.json")["layouts"][0]["time"].contains("analytical"));
  EXPECT_EQ(ReadJson("a.json")["layouts"][0]["time"]["step_s"], l["time"]["analytical"]["step_s"]);
  Result bad = Run(std::string("simulate ") + kPlan70b + " --layout tp=8 --prefetch -1");
  EXPECT_EQ(bad.rc, 2);
}

// ----------------------------------------------------------------------------- robustness
// Issue 10: every class of bad input exits 2 with one line naming the flag or file, the place
// and the problem; runtime failures exit 1; a failed run leaves no output and no temporary.

/// Every file in the test's scratch directory other than stdout/stderr.
std::vector<std::string> Leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n != "stdout" && n != "stderr") out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(Cli, EveryNumericFlagRejectsNegativeZeroOverflowAndAbsurdValues) {
  struct Case {
    std::string args, message;
  };
  const std::string w = "--model llama2-7b --cluster dgx-h100 ";
  const std::string plan = "plan " + w + "--gpus 64 --global-batch 64 --seq 4096 ";
  const std::string sim = "simulate " + w + "--gpus 64 --global-batch 64 --seq 4096 --layout tp=8 ";
  const std::vector<Case> cases = {
      {"plan " + w + "--gpus -8 --global-batch 64 --seq 4096", "--gpus: must be in [1, 16777216], got -8"},
      {"plan " + w + "--gpus 1000000000000 --global-batch 64 --seq 4096",
       "--gpus: must be in [1, 16777216], got 1000000000000"},
      {"plan " + w + "--gpus 99999999999999999999 --global-batch 64 --seq 4096",
       "--gpus: must be in [1, 16777216], got 99999999999999999999"},
      {"plan " + w + "--gpus 1e3 --global-batch 64 --seq 4096", "--gpus: must be an integer, got '1e3'"},
      {"plan " + w + "--gpus 64 --global-batch 0 --seq 4096", "--global-batch: must be in [1, 1073741824], got 0"},
      {"plan " + w + "--gpus 64 --global-batch 64 --seq -1", "--seq: must be in [1, 16777216], got -1"},
      {"plan " + w + "--gpus 64 --global-batch 64 --seq 4294967296",
       "--seq: must be in [1, 16777216], got 4294967296"},
      {plan + "--top 0", "--top: must be in [1, 10000], got 0"},
      {plan + "--top 99999999999", "--top: must be in [1, 10000], got 99999999999"},
      {plan + "--max-tp -1", "--max-tp: must be in [1, 16777216], got -1"},
      {plan + "--max-tp 999999999999", "--max-tp: must be in [1, 16777216], got 999999999999"},
      {plan + "--refine -3", "--refine: must be in [0, 1000], got -3"},
      {sim + "--prefetch 65", "--prefetch: must be in [0, 64], got 65"},
      {sim + "--prefetch -1", "--prefetch: must be in [0, 64], got -1"},
      {"inspect --model llama2-7b --seq 0", "--seq: must be in [1, 16777216], got 0"},
      {"sweep " + w + "--gpus 64,0 --global-batch 64 --seq 4096", "--gpus: must be in [1, 16777216], got 0"},
      {"sweep " + w + "--gpus 64 --global-batch 64,x --seq 4096", "--global-batch: must be an integer, got 'x'"},
      {"compare " + w + "--gpus 0 --global-batch 8 --seq 8 --layout tp=1 --layout tp=2",
       "--gpus: must be in [1, 16777216], got 0"},
      {"compare " + w + "--gpus 8 --global-batch -8 --seq 8 --layout tp=1 --layout tp=2",
       "--global-batch: must be in [1, 1073741824], got -8"},
  };
  for (const auto& c : cases) {
    Result r = Run(c.args + " --json " + P("out.json"));
    EXPECT_EQ(r.rc, 2) << c.args;
    EXPECT_EQ(r.err, "meshplan: error: " + c.message + "\n") << c.args;
    EXPECT_TRUE(Leftovers(dir_).empty()) << c.args;
  }
}

TEST_F(Cli, EveryInputFileKindRejectsBadContentWithFileAndPlace) {
  struct Case {
    std::string file, content, args, message;
  };
  const std::string d = std::string(MESHPLAN_TEST_DATA) + "/";
  const std::string good_model = Slurp(std::string(MESHPLAN_TEST_DATA) + "/../../data/models/llama2-7b.json");
  json huge = json::parse(good_model);
  huge["layers"] = 1000000000;
  json hf = json::parse(Slurp(d + "hf/llama-2-7b-hf.json"));
  hf["model_type"] = "gemma";
  json hf_key = json::parse(Slurp(d + "hf/llama-2-7b-hf.json"));
  hf_key["num_experts"] = 64;
  const std::string log = Slurp(std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/h100-1x8-all_gather-xxrjun.txt");
  const size_t cut = log.find("351.17") + 6;  // mid-row, as a killed run leaves it
  const std::string sim = " --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 2048 --layout tp=8";
  const std::vector<Case> cases = {
      {"m.json", huge.dump(), "inspect --model @", "@: layers: must be an integer <= 100000, got 1000000000"},
      {"m.json", "{\"schema_version\": 1, \"layers\": 1e999}", "inspect --model @",
       "@: not valid JSON: number overflow parsing '1e999'"},
      {"m.json", std::string(1000, '[') + std::string(1000, ']'), "inspect --model @",
       "@: not valid JSON: nested deeper than 64 levels at byte 65"},
      {"config.json", hf.dump(), "inspect --model @",
       "@: model_type: unsupported family 'gemma' (supported: llama, mistral, qwen2, phi3, gpt2, gpt_neox, "
       "mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3, gpt_oss)"},
      {"config.json", hf_key.dump(), "inspect --model @",
       "@: num_experts: unknown key for family 'llama': meshplan cannot tell whether it changes the architecture"},
      {"c.json", "{\"schema_version\": 1, \"name\": \"x\", \"gpu\": []}",
       "simulate --model llama2-7b --cluster @ --gpus 8 --global-batch 8 --seq 8 --layout tp=1",
       "@: 4 problems: gpu: must be an object, got an array; node: missing (required); fabric: missing (required); "
       "sources: missing (required)"},
      {"all_gather.txt", log.substr(0, cut), "accuracy --cluster dgx-h100 --nccl-tests @",
       "@:" + std::to_string(std::count(log.begin(), log.begin() + static_cast<long>(cut), '\n') + 1) +
           ": truncated row: expected 13 columns, got 7"},
      {"x.txt", "", "simulate --model llama2-7b" + sim + ",sp=maybe", "--layout: sp: must be on or off, got 'maybe'"},
      {"x.txt", "", "simulate --model llama2-7b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq 8 "
                    "--layout tp=16777216,replicate=16777216,fsdp=16777216",
       "--layout: tp*replicate*pp*cp = 281474976710656 exceeds --gpus 16"},
      {"r.json", "{\"schema_version\": 1, \"layouts\": [{\"layout_text\": 3}]}", "compare @ @",
       "@: layouts[0].layout_text: must be a string, got 3"},
      {"r.json", "", "compare @",
       "@: not valid JSON: parse error at line 1, column 1: syntax error while parsing value - "
       "unexpected end of input; expected '[', '{', or a literal"},
      {"dir", "", "compare " + P("."), "compare: '" + P(".") + "' is a directory, not a file"},
  };
  for (const auto& c : cases) {
    if (c.file != "dir") std::ofstream(dir_ / c.file, std::ios::binary) << c.content;
    auto subst = [&](std::string s) {
      for (size_t at; (at = s.find('@')) != std::string::npos;) s.replace(at, 1, P(c.file));
      return s;
    };
    Result r = Run(subst(c.args) + " --json " + P("out.json"));
    EXPECT_EQ(r.rc, 2) << c.args;
    EXPECT_EQ(r.err, "meshplan: error: " + subst(c.message) + "\n") << c.args;
    EXPECT_FALSE(fs::exists(dir_ / "out.json")) << c.args;
    fs::remove(dir_ / c.file);
  }
}

TEST_F(Cli, CompareRefusesAReportFromANewerMeshplan) {
  ASSERT_EQ(Run(std::string("simulate ") + kPlan70b + " --layout tp=8,sp=on --analytical --json " + P("a.json")).rc, 0);
  json newer = ReadJson("a.json");
  newer["schema_version"] = 2;
  std::ofstream(dir_ / "b.json") << newer.dump(2);
  Result r = Run("compare " + P("a.json") + " " + P("b.json") + " --json " + P("c.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("b.json") +
                       ": schema_version: is 2 but this meshplan reads reports up to 1; upgrade meshplan\n");
  EXPECT_FALSE(fs::exists(dir_ / "c.json"));
}

TEST_F(Cli, AbsurdSearchSpacesAndSweepsAreRefusedNotAttempted) {
  // 8648640 GPUs (448 divisors) with TP across nodes: billions of layouts.
  Result r = Run("plan --model llama2-7b --cluster dgx-h100 --gpus 8648640 --global-batch 8648640 "
                 "--seq 2048 --allow-cross-node-tp --json " + P("p.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: search: more than 5000000 layouts to evaluate; narrow it with "
                   "--max-tp, --max-pp, --max-cp, --max-ep or --recipe\n");
  std::string gpus = "8";
  for (int i = 2; i <= 1001; ++i) gpus.append(",").append(std::to_string(8 * i));
  r = Run("sweep --model llama2-7b --cluster dgx-h100 --gpus " + gpus + " --global-batch 64 --seq 2048");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: sweep: more than 1000 points; give shorter lists\n");
  // A bad point late in the list is found before anything is printed.
  r = Run("sweep --model gpt-22b --cluster dgx-h100 --gpus 8,16 --global-batch 64 --seq 1024,4096");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "meshplan: error: --seq: model gpt-22b has learned positions for at most 2048 tokens, got 4096\n");
  EXPECT_TRUE(Leftovers(dir_).empty());
}

// Every flag at its bound at once: the arithmetic stays defined (the sanitizer build of this test
// runs a UBSan-instrumented meshplan, which aborts on a signed overflow or a bad float cast).
TEST_F(Cli, ExtremeButValidFlagsAreCostedWithoutOverflow) {
  const std::string w = "--model llama2-7b --cluster dgx-h100 --gpus 16777216 --global-batch 1073741824 "
                        "--seq 16777216 ";
  Result r = Run("simulate " + w + "--layout tp=8,sp=on,mbs=1073741824 --analytical --json " + P("s.json"));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(ReadJson("s.json")["layouts"][0]["feasible"].get<bool>());
  r = Run("simulate " + w + "--layout tp=8,sp=on,mbs=64");
  EXPECT_EQ(r.rc, 0) << r.err;
  r = Run("plan " + w + "--top 1 --refine 1 --json " + P("p.json"));
  EXPECT_EQ(r.rc, 0) << r.err;
  // 16M-token sequences fit once context parallelism splits them (cp up to 4096); the best
  // layout's figures are finite (the report writer refuses NaN and Inf).
  const json best = ReadJson("p.json")["layouts"][0];
  EXPECT_TRUE(best["feasible"].get<bool>());
  EXPECT_GT(best["layout"]["cp"].get<int64_t>(), 1);
  EXPECT_GT(best["time"]["step_s"].get<double>(), 0.0);
}

TEST_F(Cli, FailedRunsLeaveNoFileAndNoTemporary) {
  // A bad flag after a valid --json path.
  Result r = Run(std::string("plan ") + kPlan70b + " --json " + P("p.json") + " --top 0");
  EXPECT_EQ(r.rc, 2);
  EXPECT_TRUE(Leftovers(dir_).empty());
  // The target is a directory: refused before the work (it used to fail at the rename).
  fs::create_directory(dir_ / "taken");
  r = Run(std::string("simulate ") + kPlan70b + " --layout tp=8 --analytical --json " + P("taken"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: '" + P("taken") + "' is a directory, not a file\n");
  EXPECT_EQ(Leftovers(dir_), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::is_empty(dir_ / "taken"));
  fs::remove(dir_ / "taken");
  // Two outputs are all or nothing: the trace cannot be written, so neither is the report.
  r = Run(std::string("simulate ") + kPlan70b + " --layout tp=8 --json " + P("s.json") + " --trace " +
          P("no/such/t.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --trace: directory '" + P("no/such") + "' does not exist\n");
  EXPECT_TRUE(Leftovers(dir_).empty());
}

// Same inputs, byte-identical output (text and JSON), for every command. meshplan runs on one
// thread (no std::thread, OpenMP or TBB anywhere), so there is no thread count to vary;
// OMP_NUM_THREADS differs between the two runs so that adding threads later is caught here.
TEST_F(Cli, EveryCommandIsByteIdenticalRunToRun) {
  const std::string d = std::string(MESHPLAN_TEST_DATA) + "/";
  ASSERT_EQ(Run(std::string("simulate ") + kPlan70b + " --layout tp=8,sp=on --analytical --json " + P("r1.json")).rc, 0);
  ASSERT_EQ(Run(std::string("simulate ") + kPlan70b + " --layout tp=4,sp=on --analytical --json " + P("r2.json")).rc, 0);
  const std::vector<std::string> commands = {
      "plan --model llama2-7b --cluster dgx-h100 --gpus 64 --global-batch 128 --seq 4096 --top 5",
      std::string("simulate ") + kPlan70b + " --layout tp=8,sp=on,recompute=full --trace " + P("trace.json"),
      "compare " + P("r1.json") + " " + P("r2.json"),
      "compare --model llama2-7b --cluster dgx-h100 --gpus 64 --global-batch 128 --seq 4096 "
      "--layout tp=1 --layout tp=8,sp=on",
      "sweep --model llama2-7b --cluster dgx-h100 --gpus 64,128 --global-batch 128 --seq 2048,4096",
      "inspect --model " + d + "hf/mixtral-8x7b-v0.1.json --seq 4096",
      "accuracy --cluster dgx-h100 --nccl-tests " + std::string(MESHPLAN_DATA_DIR) +
          "/nccl-tests/h100-1x8-all_reduce-xxrjun.txt " + std::string(MESHPLAN_DATA_DIR) +
          "/nccl-tests/h100-1x8-alltoall-xxrjun.txt",
  };
  for (const auto& c : commands) {
    Result a = Run(c + " --json " + P("a.json"), "OMP_NUM_THREADS=1");
    const std::string trace_a = fs::exists(dir_ / "trace.json") ? Slurp(dir_ / "trace.json") : "";
    Result b = Run(c + " --json " + P("b.json"), "OMP_NUM_THREADS=2");
    const std::string trace_b = fs::exists(dir_ / "trace.json") ? Slurp(dir_ / "trace.json") : "";
    ASSERT_EQ(a.rc, 0) << c << a.err;
    ASSERT_EQ(b.rc, 0) << c << b.err;
    EXPECT_FALSE(a.out.empty()) << c;
    EXPECT_EQ(a.out, b.out) << c;
    EXPECT_EQ(Slurp(dir_ / "a.json"), Slurp(dir_ / "b.json")) << c;
    EXPECT_EQ(trace_a, trace_b) << c;
    EXPECT_NE(Slurp(dir_ / "a.json").find("\"schema_version\": 1"), std::string::npos) << c;
  }
}

// Bad inputs a fuzzing pass found accepted or crashing (session of 2026-12-04): each is now an
// exit-2 error naming the file or flag and the field, or a reason the report prints.
TEST_F(Cli, InputsOnceAcceptedSilentlyAreRefusedByName) {
  const std::string data = std::string(MESHPLAN_TEST_DATA);
  // Text after a NUL byte was ignored.
  std::ofstream(P("nul.json"), std::ios::binary) << Slurp(data + "/hf/llama-2-7b-hf.json") << std::string(1, '\0') << "x";
  Result r = Run("inspect --model " + P("nul.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("holds a NUL byte at offset"), std::string::npos) << r.err;
  // A HuggingFace config without model_type was blamed for lacking schema_version.
  json hf = json::parse(Slurp(data + "/hf/llama-2-7b-hf.json"));
  hf.erase("model_type");
  std::ofstream(P("hf.json")) << hf.dump();
  r = Run("inspect --model " + P("hf.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: " + P("hf.json") +
                       ": model_type: missing: the file reads as a HuggingFace config.json (hidden_size, "
                       "num_attention_heads or architectures), which meshplan recognises by its model_type\n");
  // A point-to-point channel cap of 1e-308 GB/s printed an infinite step.
  json cal = json::parse(Slurp(std::string(MESHPLAN_DATA_DIR) + "/calibration/dgx-h100.json"));
  cal["fitted"]["efficiency.p2p_channel_GBps"]["value"] = 1e-308;
  std::ofstream(P("cal.json")) << cal.dump();
  r = Run("simulate --model llama2-70b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 "
          "--layout tp=8,sp=on,pp=8 --calibration " + P("cal.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("fitted.efficiency.p2p_channel_GBps.value: must be 0 (no per-channel cap) or at least 1 GB/s"),
            std::string::npos)
      << r.err;
  // grad_accum in a layout was parsed and ignored.
  r = Run("simulate --model llama2-70b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 "
          "--layout tp=8,sp=on,fsdp=8,grad_accum=3");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --layout: grad_accum: is 3, but it is derived, not set: global batch 64 / (mbs 1 "
                   "x data-parallel 8) = 8 (change --global-batch or mbs instead)\n");
  EXPECT_EQ(Run("simulate --model llama2-70b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 "
                "--layout tp=8,sp=on,fsdp=8,grad_accum=8").rc,
            0);
  // ac_freq past a stage's layers recomputes nothing, whatever recompute=full says.
  r = Run("simulate --model llama2-70b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq 4096 "
          "--layout tp=8,sp=on,fsdp=8,recompute=full,ac_freq=1000");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("feasible NO\n  - ac_freq=1000 exceeds the 80 layers of a stage: torchtitan would recompute "
                       "none of them (write recompute=none)"),
            std::string::npos)
      << r.out;
  // A batch that does not divide says what its step time is.
  r = Run("simulate --model llama2-7b --cluster dgx-h100 --gpus 16 --global-batch 33 --seq 2048 --layout tp=2,sp=on,fsdp=8");
  EXPECT_NE(r.out.find("(no grad_accum: the global batch does not divide into its micro-batches"), std::string::npos)
      << r.out;
  // Flags that were dropped silently: --prefetch under --analytical, a --recipe the layout
  // overrides, --fsdp1 (the fsdp2 recipe run with FSDP1) on a Megatron-recipe layout, a
  // schedule=1f1b that vpp > 1 turned into interleaved.
  const std::string w16 = "--model llama2-7b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq 2048 ";
  const std::vector<std::pair<std::string, std::string>> dropped = {
      {"simulate " + w16 + "--layout tp=2,sp=on,fsdp=8 --analytical --prefetch 3",
       "--prefetch: sets the simulator's prefetch depth; the analytical model (--analytical) has none"},
      {"simulate " + w16 + "--layout tp=2,sp=on,fsdp=8,recipe=fsdp2 --recipe megatron",
       "--recipe: megatron disagrees with --layout's recipe=fsdp2 (give one)"},
      {"simulate " + w16 + "--layout tp=2,fsdp=8,recipe=megatron --fsdp1",
       "--fsdp1: runs the fsdp2 recipe with FSDP1; --layout has recipe=megatron, which has no FSDP1 variant"},
      {"compare " + w16 + "--layout tp=2,fsdp=8 --layout tp=2,fsdp=8,recipe=megatron --fsdp1",
       "--fsdp1: runs the fsdp2 recipe with FSDP1; --layout tp=2,fsdp=8,recipe=megatron has recipe=megatron, which "
       "has no FSDP1 variant"},
      {"simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq 8192 "
       "--layout pp=2,vpp=2,schedule=1f1b",
       "--layout: schedule: 1f1b runs one stage per rank; vpp 2 needs schedule=interleaved (or leave schedule out)"},
      {"simulate " + w16 + "--layout tp=2,fsdp=8,recompute=selective,recompute_modules=core_attn,mlp",
       "--layout: expected key=value, got 'mlp' (recompute_modules joins its modules with +: core_attn+mlp)"},
      {"plan " + w16 + "--recipe megatron --fsdp1",
       "--fsdp1: runs the fsdp2 recipe with FSDP1; --recipe gives recipe megatron, which has no FSDP1 variant"},
      {"plan " + w16 + "--framework megatron --fsdp1",
       "--fsdp1: runs the fsdp2 recipe with FSDP1; --framework megatron gives recipe megatron, which has no FSDP1 variant"},
      {"simulate " + w16 + "--layout tp=2,fsdp=8,recipe=fsdp2 --framework megatron",
       "--framework megatron: megatron disagrees with --layout's recipe=fsdp2 (give one)"},
      // --prefetch orders per-layer FSDP all-gathers; a layout without them ignored it.
      {"simulate " + w16 + "--layout tp=2,sp=on,fsdp=8,zero=1 --prefetch 3",
       "--prefetch: sets how many FSDP units are all-gathered ahead of the layer computing; "
       "tp=2,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=none,recipe=fsdp2 gathers none per layer (ZeRO-1 gathers "
       "the parameters once per step)"},
      {"simulate " + w16 + "--layout tp=2,sp=on,fsdp=1,replicate=8 --prefetch 0",
       "--prefetch: sets how many FSDP units are all-gathered ahead of the layer computing; "
       "tp=2,sp=on,fsdp=1,replicate=8,zero=3,mbs=1,recompute=none,recipe=fsdp2 gathers none per layer (nothing is "
       "sharded)"},
      {"simulate " + w16 + "--layout tp=2,sp=on,pp=2,fsdp=4,zero=3 --prefetch 2",
       "--prefetch: sets how many FSDP units are all-gathered ahead of the layer computing; "
       "tp=2,sp=on,fsdp=4,replicate=1,zero=3,mbs=1,recompute=none,recipe=fsdp2,pp=2,schedule=1f1b gathers none per "
       "layer (a "
       "pipeline stage gathers its units once per step)"},
  };
  for (const auto& [args, message] : dropped) {
    r = Run(args);
    EXPECT_EQ(r.rc, 2) << args;
    EXPECT_EQ(r.err, "meshplan: error: " + message + "\n") << args;
  }
  EXPECT_EQ(Run("simulate " + w16 + "--layout tp=2,sp=on,fsdp=8,zero=3 --prefetch 2").rc, 0);
  // A layout the --framework cannot run is priced and said, after every check (plan only
  // searches what it runs); without --framework nothing is said.
  r = Run("simulate " + w16 + "--layout tp=2,sp=off,fsdp=8,zero=3 --framework torchtitan");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "meshplan: note: --framework torchtitan cannot run this layout (sp=off: torchtitan runs tensor "
                   "parallelism only with sequence parallelism): priced as given\n");
  EXPECT_EQ(Run("simulate " + w16 + "--layout tp=2,sp=off,fsdp=8,zero=3").err, "");
  r = Run("compare " + w16 + "--layout tp=2,sp=on,fsdp=8,zero=1 --layout tp=2,sp=on,fsdp=8,zero=3 --framework torchtitan");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "meshplan: note: --framework torchtitan cannot run tp=2,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,"
                   "recompute=none,recipe=fsdp2 (zero=1: torchtitan shards only at ZeRO stages 2, 3): priced as given\n");
  // A rotary model past the positions it was trained to is priced, and says so once (sweep too).
  r = Run("sweep --model llama2-7b --cluster dgx-h100 --gpus 16,32 --global-batch 16 --seq 8192,2048");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "meshplan: note: --seq 8192 is past the 4096 positions llama2-7b was trained to: priced as given "
                   "(running it needs RoPE scaling or long-context training)\n");
  // Notes are held until the command succeeds: an error comes alone (it used to follow the note).
  r = Run("simulate --model llama2-7b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq 8192 "
          "--layout tp=2,sp=on,fsdp=8,zero=1 --prefetch 2");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind("meshplan: error: --prefetch: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find("note"), std::string::npos) << r.err;
  // compare's rows add up to the step: a pipeline's bubble and its sends have rows, from layouts
  // and from report files alike.
  const std::string w256 = "--model llama3-70b --cluster dgx-h100 --gpus 256 --global-batch 512 --seq 8192 ";
  r = Run("compare " + w256 + "--layout tp=8,sp=on,fsdp=32 --layout tp=4,sp=on,pp=4,schedule=1f1b,fsdp=16");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\npipeline bubble ms                0.0         1290.6\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nexposed PP send ms                0.0            2.9\n"), std::string::npos) << r.out;
  ASSERT_EQ(Run("simulate " + w256 + "--layout tp=4,sp=on,pp=4,schedule=1f1b,fsdp=16 --analytical --json " + P("pp.json")).rc, 0);
  r = Run("compare " + P("pp.json") + " " + P("pp.json"));
  EXPECT_NE(r.out.find("\npipeline bubble ms             1290.6         1290.6\n"), std::string::npos) << r.out;
  // --min-headroom-gib rules the best FSDP-only layout out as it rules out the ranked rows: it
  // was printed and listed as a feasible layout with less headroom than asked.
  r = Run("plan --model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 1024 --seq 8192 "
          "--min-headroom-gib 1000000 --json " + P("room.json"));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find(") is left out: 21.7 GiB of headroom, less than --min-headroom-gib 1e+06"), std::string::npos)
      << r.out;
  const json room = ReadJson("room.json");  // (a range-for over a temporary's member would dangle)
  for (const json& row : room["layouts"]) EXPECT_FALSE(row["feasible"].get<bool>()) << row["layout_text"];
  // zero=3 under a pipeline is priced as zero=2 (torchtitan's default with pp): said, not hidden.
  r = Run("simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq 8192 "
          "--layout tp=4,sp=on,pp=4,recompute=full,zero=3 --analytical");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("note     under pipeline parallelism zero=3 is priced as torchtitan's default"), std::string::npos)
      << r.out;
  // Blanks around a layout's items, keys and values are dropped ("tp=2, sp=on" named ' sp').
  r = Run("simulate " + w16 + "--layout 'tp=2, sp=on , fsdp = 8' --analytical");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("layout   tp=2,sp=on,fsdp=8,"), std::string::npos) << r.out;
  // On an fsdp2 layout the flag is taken.
  EXPECT_EQ(Run("simulate " + w16 + "--layout tp=2,fsdp=8 --fsdp1 --analytical").rc, 0);
  // sweep points given twice.
  r = Run("sweep --model llama2-7b --cluster dgx-h100 --gpus 64,64 --global-batch 64 --seq 4096");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --gpus: 64 is given twice\n");
  // A framework file with an empty name.
  json fw = json::parse(Slurp(std::string(MESHPLAN_DATA_DIR) + "/frameworks/torchtitan.json"));
  fw["name"] = "";
  std::ofstream(P("fw.json")) << fw.dump();
  r = Run("simulate --model llama2-7b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 4096 --layout fsdp=8 "
          "--framework " + P("fw.json"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("name: must not be empty"), std::string::npos) << r.err;
  // Megatron-LM arguments whose MLP width or key/value groups contradict --model.
  // (The written file gives both since this round; each test changes one.)
  const std::string args = Slurp(data + "/launch/llama3_8b_tp4_distopt_pp2_vpp4.txt");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string a = args;
    const size_t at = a.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? a : a.replace(at, from.size(), to);
  };
  std::ofstream(P("m1.txt")) << with("--ffn-hidden-size 14336\n", "--ffn-hidden-size 5\n");
  r = Run("simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --seq 8192 --from-megatron " + P("m1.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--ffn-hidden-size: 5 disagrees with --model llama3-8b (14336)"), std::string::npos) << r.err;
  std::ofstream(P("m2.txt")) << with("--num-query-groups 8\n", "--num-query-groups 3\n");
  r = Run("simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --seq 8192 --from-megatron " + P("m2.txt"));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--num-query-groups: 3 disagrees with --model llama3-8b (8 key/value heads)"), std::string::npos)
      << r.err;
  std::ofstream(P("m3.txt")) << args;
  r = Run("simulate --model llama3-8b --cluster dgx-h100 --gpus 64 --seq 8192 --from-megatron " + P("m3.txt"));
  EXPECT_EQ(r.rc, 0) << r.err;
}

// --precision fp8 runs where it can be priced (FP8 tensor cores and a measured FP8 GEMM
// efficiency) under TransformerEngine's recipe; elsewhere it is an error naming the flag.
TEST_F(Cli, Fp8PrecisionIsPricedOrRefusedByName) {
  const std::string w = "simulate --model llama2-7b --gpus 8 --global-batch 8 --seq 4096 --layout tp=1,fsdp=8 "
                        "--analytical ";
  Result ok = Run(w + "--cluster dgx-h100 --precision fp8 --json " + P("f.json"));
  ASSERT_EQ(ok.rc, 0) << ok.err;
  const json j = ReadJson("f.json");
  EXPECT_EQ(j["inputs"]["precision"], "fp8");
  EXPECT_EQ(j["inputs"]["fp8_recipe"], "te-delayed");
  EXPECT_GT(j["layouts"][0]["throughput"]["fp8_peak_utilization"].get<double>(), 0.0);
  EXPECT_NE(ok.out.find("; of the BF16 dense peak; of the FP8 peak"), std::string::npos);
  // B200's FP8 is priced from mamf-finder's B200 FP8 MAMF (3350 / 4500, dgx-b200.json).
  Result b200 = Run(w + "--cluster dgx-b200 --precision fp8");
  EXPECT_EQ(b200.rc, 0) << b200.err;
  // Its profile prices BF16 GEMMs at measured shapes below FP8's best-shape fraction: said (H100's
  // fitted BF16 fraction is above its FP8 one, and the uncalibrated model compares best shapes).
  EXPECT_EQ(b200.err, "meshplan: note: --precision fp8 on dgx-b200: BF16 GEMMs are priced at calibration dgx-b200's "
                      "fraction 0.504 (fitted to measured shapes), FP8 GEMMs at the best-shape FP8 fraction 0.744: "
                      "FP8's speedup over BF16 is likely optimistic (no FP8 GEMM of real shapes is measured here)\n");
  EXPECT_EQ(ok.err, "");
  EXPECT_EQ(Run(w + "--cluster dgx-b200 --precision fp8 --no-calibration").err, "");
  struct Bad {
    std::string args, err;
  };
  const std::vector<Bad> bad = {
      {"--cluster dgx-a100-80g --precision fp8",
       "meshplan: error: --precision: fp8: cluster dgx-a100-80g's A100-SXM4-80GB has no FP8 tensor cores "
       "(gpu.peak_tflops.fp8 is 0)\n"},
      {"--cluster gb200-nvl72 --precision fp8",
       "meshplan: error: --precision: fp8: cluster gb200-nvl72 gives no measured FP8 GEMM efficiency "
       "(efficiency.gemm_fp8_peak_fraction); FP8 GEMMs are not priced at the BF16 fraction\n"},
      {"--cluster dgx-h100 --precision fp4", "meshplan: error: --precision: precision must be bf16 or fp8, got 'fp4'\n"},
      {"--cluster dgx-h100 --fp8-param-gather", "meshplan: error: --fp8-param-gather: needs --precision fp8\n"},
  };
  for (const Bad& b : bad) {
    Result r = Run(w + b.args);
    EXPECT_EQ(r.rc, 2) << b.args;
    EXPECT_EQ(r.err, b.err) << b.args;
  }
  // torchtitan's FP8 is torchao's Float8Linear: its recipe, not TransformerEngine's.
  Result tt = Run(w + "--cluster dgx-h100 --precision fp8 --framework torchtitan --json " + P("t.json"));
  ASSERT_EQ(tt.rc, 0) << tt.err;
  EXPECT_EQ(ReadJson("t.json")["inputs"]["fp8_recipe"], "torchao-tensorwise");
  Result te = Run(w + "--cluster dgx-h100 --precision fp8 --framework torchtitan --fp8-recipe te-delayed");
  EXPECT_EQ(te.rc, 2);
  EXPECT_EQ(te.err.substr(te.err.find("meshplan: error:")),
            "meshplan: error: --fp8-recipe: te-delayed: --framework torchtitan runs torchao's float8 "
            "(torchao-tensorwise, torchao-rowwise or torchao-rowwise-gw-hp)\n");
  // torchao's rowwise recipes: priced (slower than tensorwise: more casts, bf16 gathers), said in
  // the report; FSDP's float8 all-gather is tensorwise only.
  Result rowwise = Run(w + "--cluster dgx-h100 --precision fp8 --framework torchtitan --fp8-recipe torchao-rowwise "
                           "--json " + P("r.json"));
  ASSERT_EQ(rowwise.rc, 0) << rowwise.err;
  EXPECT_EQ(ReadJson("r.json")["inputs"]["fp8_recipe"], "torchao-rowwise");
  EXPECT_GT(ReadJson("r.json")["layouts"][0]["time"]["step_s"].get<double>(),
            ReadJson("t.json")["layouts"][0]["time"]["step_s"].get<double>());
  Result gather = Run(w + "--cluster dgx-h100 --precision fp8 --fp8-recipe torchao-rowwise-gw-hp --fp8-param-gather");
  EXPECT_EQ(gather.rc, 2);
  EXPECT_EQ(gather.err,
            "meshplan: error: --fp8-param-gather: with --fp8-recipe torchao-rowwise-gw-hp: FSDP's float8 all-gather "
            "only supports tensorwise scaling (torchao)\n");
  Result bare = Run(w + "--cluster dgx-h100 --precision fp8 --fp8-recipe rowwise");
  EXPECT_EQ(bare.rc, 2);
  EXPECT_EQ(bare.err,
            "meshplan: error: --fp8-recipe: must be te-delayed, te-tensorwise (TransformerEngine's delayed and "
            "per-tensor current scaling), torchao-tensorwise, torchao-rowwise or torchao-rowwise-gw-hp (torchtitan's "
            "float8 recipes), got 'rowwise': torchao's rowwise recipes are torchao-rowwise and torchao-rowwise-gw-hp\n");
}

// An MoE model is planned with expert parallelism (issue 20's done-when: Mixtral-8x7B on 64
// A100-80GB, batch 512 x 4096 offers feasible ep > 1 layouts whose collectives include the
// all-to-all); a model with attention sinks is refused; validate refuses MoE plans.
TEST_F(Cli, MoeModelsArePlannedWithExpertParallelism) {
  const std::string d = std::string(MESHPLAN_TEST_DATA) + "/";
  const std::string mixtral = d + "hf/mixtral-8x7b-v0.1.json";
  const std::string work = " --cluster dgx-a100-80g --gpus 64 --global-batch 512 --seq 4096";
  const Result r = Run("plan --model " + mixtral + work + " --top 20 --refine 0 --json " + P("plan.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("experts: dropless, busiest rank at 1x its even share (assumed: --moe-imbalance)"),
            std::string::npos) << r.out;
  const json plan = ReadJson("plan.json");
  int with_ep = 0;
  for (const json& row : plan["layouts"]) {
    if (row["layout"]["ep"].get<int64_t>() <= 1) continue;
    ++with_ep;
    EXPECT_TRUE(row["feasible"].get<bool>());
    EXPECT_GT(row["time"]["exposed_ep_comm_s"].get<double>(), 0.0);
    bool dispatch = false, combine = false;
    for (const json& c : row["collectives"]) {
      dispatch |= c["op"] == "all_to_all" && c["purpose"] == "ep_dispatch";
      combine |= c["op"] == "all_to_all" && c["purpose"] == "ep_combine";
    }
    EXPECT_TRUE(dispatch && combine) << row["layout_text"];
  }
  EXPECT_GT(with_ep, 0);
  EXPECT_EQ(plan["inputs"]["moe_capacity_factor"], 0.0);
  EXPECT_EQ(plan["inputs"]["moe_imbalance"], 1.0);
  // Routing flags on a dense model name the flag.
  const Result dense = Run("plan --model llama2-7b" + work + " --moe-imbalance 1.2");
  EXPECT_EQ(dense.rc, 2);
  EXPECT_EQ(dense.err, "meshplan: error: --moe-imbalance: needs a mixture-of-experts model; llama2-7b is dense\n");
  const Result pad = Run("plan --model " + mixtral + work + " --moe-pad-to-capacity");
  EXPECT_EQ(pad.rc, 2);
  EXPECT_EQ(pad.err, "meshplan: error: --moe-pad-to-capacity: needs --moe-capacity-factor (padding is to a capacity)\n");

  // DeepSeek-V3 (MLA, shared experts, dense first layers) plans; gpt-oss is refused for its
  // attention sinks, with nothing written.
  const Result v3 = Run("plan --model deepseek-v3 --cluster dgx-h100 --gpus 256 --global-batch 1024 --seq 4096 "
                        "--top 3 --refine 0 --max-pp 1");
  EXPECT_EQ(v3.rc, 0) << v3.err;
  const Result sinks = Run("plan --model " + d + "hf/gpt-oss-20b.json" + work + " --json " + P("out.json"));
  EXPECT_EQ(sinks.rc, 2);
  EXPECT_EQ(sinks.err.rfind("meshplan: error: --model: model gpt-oss-20b has attention sinks", 0), 0u) << sinks.err;
  EXPECT_FALSE(fs::exists(dir_ / "out.json"));

  // validate: an ep plan is executed (meshplan-validate runs its all-to-alls): its launch line.
  ASSERT_EQ(Run("simulate --model " + mixtral + work + " --layout tp=1,fsdp=64,ep=8 --analytical --json " + P("r.json")).rc, 0);
  const Result v = Run("validate --plan " + P("r.json") + " --validate-bin meshplan-validate");
  EXPECT_EQ(v.rc, 0) << v.err;
  EXPECT_EQ(v.out.rfind("mpirun -np 64 ", 0), 0u) << v.out;
  EXPECT_NE(v.out.find(" meshplan-validate --plan " + P("r.json") + " --out measurements.json --backend nccl\n"),
            std::string::npos) << v.out;
}

// A sliding window shorter than --seq: refused naming --seq; within the window it is costed.
TEST_F(Cli, SlidingWindowLongerThanSeqIsRefused) {
  const std::string mistral = std::string(MESHPLAN_TEST_DATA) + "/hf/mistral-7b-v0.1.json";
  const Result r = Run("plan --model " + mistral + " --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 8192");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --seq: model mistral-7b-v0.1 uses sliding-window attention of 4096 "
                   "tokens (HF sliding_window) and the sequence is 8192 tokens: sliding-window attention "
                   "is not modelled; give a sequence of at most 4096 tokens\n");
  EXPECT_EQ(Run("plan --model " + mistral + " --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 4096 --top 1").rc, 0);
  const Result i = Run("inspect --model " + mistral + " --seq 8192");
  EXPECT_EQ(i.rc, 2);
  EXPECT_EQ(i.err.rfind("meshplan: error: --seq: model mistral-7b-v0.1 uses sliding-window", 0), 0u);
}

TEST_F(Cli, InspectShowsExpertsAndActiveParameters) {
  const std::string v3 = std::string(MESHPLAN_TEST_DATA) + "/hf/deepseek-v3.json";
  const Result r = Run("inspect --model " + v3 + " --seq 4096 --json " + P("i.json"));
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* want :
       {"experts           256 routed of ffn 2048, top-8 per token; 1 shared of ffn 2048; router with bias\n",
        "layers            58 MoE, 3 dense (ffn 18432): layers 0,1,2\n",
        "attention         MLA: q_lora_rank 1536, kv_lora_rank 512, qk head 128 nope + 64 rope, v head 128\n",
        "params total          671026419200\n",
        "  per MoE layer        11507286272  (x 58 layers)\n",
        "  per dense layer        583483392  (x 3 layers)\n",
        "params active          37552297472  per token (top-8 of 256 routed experts)\n",
        "  less embedding       36625618432\n",
        "  not counted: 1 multi-token-prediction layer(s) (num_nextn_predict_layers)\n"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  const json j = ReadJson("i.json");
  EXPECT_EQ(j["params"]["total"], 671026419200);
  EXPECT_EQ(j["params"]["active"], 37552297472);
  EXPECT_EQ(j["params"]["active_non_embedding"], 36625618432);
  EXPECT_EQ(j["params"]["moe_layers"], 58);
  EXPECT_EQ(j["params"]["dense_layers"], 3);
  EXPECT_EQ(j["model"]["moe"]["experts"], 256);
  EXPECT_EQ(j["model"]["mla"]["kv_lora_rank"], 512);
  EXPECT_EQ(j["costed"], true);  // MoE with MLA is costed (experts.h, kernels.cc)
  // 6 x active matmul weights + 6 L a (dqk + dv) s (hand count in tests/costmodel/moe_test.cc).
  EXPECT_DOUBLE_EQ(j["flops_per_token"].get<double>(), 6.0 * 36624596992 + 6.0 * 61 * 128 * 320 * 4096);
  const Result mx = Run("inspect --model mixtral-8x7b --seq 4096 --json " + P("m.json"));
  ASSERT_EQ(mx.rc, 0) << mx.err;
  EXPECT_EQ(ReadJson("m.json")["params"]["active"], 12879925248);
  EXPECT_EQ(ReadJson("m.json")["params"]["total"], 46702792704);
  // A dense model: active is the total.
  ASSERT_EQ(Run("inspect --model llama2-7b --json " + P("l.json")).rc, 0);
  EXPECT_EQ(ReadJson("l.json")["params"]["active"], ReadJson("l.json")["params"]["total"]);
  EXPECT_EQ(ReadJson("l.json")["costed"], true);
}

}  // namespace
