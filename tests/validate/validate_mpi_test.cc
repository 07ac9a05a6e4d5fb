// meshplan-validate end to end on this machine: the CPU backend under mpirun --oversubscribe
// with 4 ranks (tp=2 x fsdp=2) and 8 ranks (tp=2 x fsdp=2 x replicate=2) on tiny-llama,
// checking the mesh, the reductions and the measurement file; injected faults (a hang, a rank
// that dies) end the job with a non-zero exit naming the rank and the operation and leave a
// valid partial file; `meshplan validate` prints the launch line and runs it. An expert-parallel
// plan of a tiny mixture-of-experts model runs its all-to-alls over the EP groups and measures them.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using Groups = std::vector<std::vector<int>>;

struct Result {
  int rc = -1;
  std::string out;  // stdout and stderr
  double seconds = 0;
};

Result Shell(const std::string& cmd) {
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());  // throws (fails the test) on a half-written file
}

void ExpectFinite(const json& j, const std::string& path) {
  if (j.is_number()) {
    EXPECT_TRUE(std::isfinite(j.get<double>())) << path;
  }
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) ExpectFinite(*it, path + "." + it.key());
  }
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) ExpectFinite(j[i], path + "[" + std::to_string(i) + "]");
  }
}

class ValidateMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("meshplan_validate_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A simulate report of tiny-llama on cpu-local: the plan file a user would pass.
  fs::path Plan(const std::string& layout, int gpus, int batch) {
    const fs::path p = dir_ / "plan.json";
    const Result r = Shell(std::string(MESHPLAN_BIN) + " simulate --model tiny-llama --cluster cpu-local --gpus " +
                         std::to_string(gpus) + " --global-batch " + std::to_string(batch) +
                         " --seq 128 --layout " + layout + " --analytical --json " + p.string());
    EXPECT_EQ(r.rc, 0) << r.out;
    return p;
  }
  std::string Mpirun(int np) const {
    return std::string(MPIEXEC) + " --allow-run-as-root --oversubscribe -np " + std::to_string(np) + " " +
           MESHPLAN_VALIDATE_BIN;
  }
  static std::string Fast() { return " --backend cpu --max-bytes 262144 --iters 2 --warmup 1 --steps 2 --warmup-steps 1"; }

  void CheckMeasurements(const json& m, int ranks) {
    EXPECT_EQ(m["schema_version"], 1);
    EXPECT_EQ(m["command"], "validate");
    EXPECT_EQ(m["backend"], "cpu");
    EXPECT_EQ(m["complete"], true);
    EXPECT_EQ(m["checks"]["mesh_ok"], true);
    EXPECT_EQ(m["checks"]["reductions_ok"], true);
    EXPECT_EQ(m["checks"]["max_abs_error"], 0.0);
    EXPECT_EQ(m["environment"]["ranks"], ranks);
    EXPECT_EQ(m["environment"]["hostnames"].size(), static_cast<size_t>(ranks));
    EXPECT_EQ(m["plan"]["model"], "tiny-llama");
    EXPECT_EQ(m["plan"]["gpus"], ranks);
    ASSERT_FALSE(m["collectives"].empty());
    for (const auto& c : m["collectives"]) {
      for (const char* k : {"op", "purpose", "ranks", "nodes", "bytes", "time_s", "algbw_GBps", "busbw_GBps", "iterations"}) {
        EXPECT_TRUE(c.contains(k)) << k;
      }
      EXPECT_GT(c["time_s"].get<double>(), 0);
      EXPECT_NEAR(c["algbw_GBps"].get<double>(), c["bytes"].get<double>() / c["time_s"].get<double>() / 1e9,
                  1e-9 * c["algbw_GBps"].get<double>());
    }
    ASSERT_FALSE(m["gemms"].empty());
    for (const auto& g : m["gemms"]) EXPECT_GT(g["tflops"].get<double>(), 0);
    EXPECT_EQ(m["attention"].size(), 2u);
    ASSERT_FALSE(m["memory_kernels"].empty());
    EXPECT_GT(m["step"]["time_s"].get<double>(), 0);
    EXPECT_GT(m["step"]["peak_memory_bytes"].get<double>(), 0);
    EXPECT_EQ(m["step"]["peak_memory_bytes_per_rank"].size(), static_cast<size_t>(ranks));
    EXPECT_EQ(m["step"]["times_s"].size(), 2u);
    ExpectFinite(m, "measurements");
  }

  fs::path dir_;
};

TEST_F(ValidateMpi, FourRanksTp2Fsdp2) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const fs::path out = dir_ / "m.json";
  const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + out.string() + Fast());
  ASSERT_EQ(r.rc, 0) << r.out;
  const json m = ReadJson(out);
  CheckMeasurements(m, 4);
  EXPECT_EQ(m["mesh"]["tp"].get<Groups>(), (Groups{{0, 1}, {2, 3}}));
  EXPECT_EQ(m["mesh"]["fsdp"].get<Groups>(), (Groups{{0, 2}, {1, 3}}));
  EXPECT_EQ(m["mesh"]["replicate"].get<Groups>(), (Groups{{0}, {1}, {2}, {3}}));
  std::set<std::string> purposes;
  for (const auto& c : m["collectives"]) purposes.insert(c["purpose"]);
  EXPECT_EQ(purposes, (std::set<std::string>{"tp", "fsdp"}));
}

// --sustain-s: the layer's GEMMs back to back in windows after the microbenchmarks; the file
// records each window's throughput and the burst and late times per pass, and calibrate turns
// their ratio into efficiency.gemm_sustained_fraction (at most 1). Without the flag: null.
TEST_F(ValidateMpi, SustainedGemmChainIsMeasuredAndCalibrated) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=1", 2, 2);
  const fs::path out = dir_ / "m.json";
  Result r = Shell(Mpirun(2) + " --plan " + plan.string() + " --out " + out.string() + Fast() + " --sustain-s 0.2");
  ASSERT_EQ(r.rc, 0) << r.out;
  const json m = ReadJson(out);
  CheckMeasurements(m, 2);
  const json& s = m["sustained_gemms"];
  ASSERT_TRUE(s.is_object()) << m.dump(1);
  EXPECT_GE(s["seconds"].get<double>(), 0.2);
  EXPECT_EQ(s["gemms"], m["gemms"].size());
  EXPECT_GE(s["windows_tflops"].size(), 4u);  // at least 4 windows, however slow the machine
  double burst = 0;
  for (const json& g : m["gemms"]) burst += g["time_s"].get<double>();
  EXPECT_NEAR(s["burst_pass_s"].get<double>(), burst, 1e-9 * burst);
  EXPECT_DOUBLE_EQ(s["fraction"].get<double>(), s["burst_pass_s"].get<double>() / s["late_pass_s"].get<double>());
  // Each rank's own late time, the slowest of them late_pass_s (the windows are the slowest
  // rank's): calibrate fits the median rank's fraction and the ranks' spread from them.
  const json& per_rank = s["late_pass_s_per_rank"];
  ASSERT_EQ(per_rank.size(), 2u) << s.dump();
  const double a = per_rank[0].get<double>(), b = per_rank[1].get<double>();
  EXPECT_LE(std::max(a, b), s["late_pass_s"].get<double>() * (1 + 1e-9));
  const Result cal = Shell(std::string(MESHPLAN_BIN) + " calibrate --cluster cpu-local --measurements " + out.string() +
                           " -o " + (dir_ / "p.json").string());
  ASSERT_EQ(cal.rc, 0) << cal.out;
  const json fitted = ReadJson(dir_ / "p.json")["fitted"];
  const json f = fitted["efficiency.gemm_sustained_fraction"];
  EXPECT_NEAR(f["value"].get<double>(), std::min(1.0, s["burst_pass_s"].get<double>() / (0.5 * (a + b))), 1e-12);
  const double spread = std::clamp((1.0 - 0.5 * (a + b) / std::max(a, b)) * std::sqrt(M_PI), 0.0, 0.2);
  EXPECT_NEAR(fitted["efficiency.gemm_gpu_spread"]["value"].get<double>(), spread, 1e-12);
  r = Shell(Mpirun(2) + " --plan " + plan.string() + " --out " + out.string() + Fast());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(ReadJson(out)["sustained_gemms"].is_null());
  r = Shell(std::string(MESHPLAN_VALIDATE_BIN) + " --plan " + plan.string() + " --sustain-s -1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--sustain-s: must be in [0, 3600] seconds"), std::string::npos) << r.out;
}

TEST_F(ValidateMpi, EightRanksHsdp) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2,replicate=2", 8, 4);
  const fs::path out = dir_ / "m.json";
  const Result r = Shell(Mpirun(8) + " --plan " + plan.string() + " --out " + out.string() + Fast());
  ASSERT_EQ(r.rc, 0) << r.out;
  const json m = ReadJson(out);
  CheckMeasurements(m, 8);
  EXPECT_EQ(m["mesh"]["tp"].get<Groups>(), (Groups{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(m["mesh"]["fsdp"].get<Groups>(), (Groups{{0, 2}, {1, 3}, {4, 6}, {5, 7}}));
  EXPECT_EQ(m["mesh"]["replicate"].get<Groups>(), (Groups{{0, 4}, {1, 5}, {2, 6}, {3, 7}}));
  std::set<std::string> purposes;
  for (const auto& c : m["collectives"]) purposes.insert(c["purpose"]);
  EXPECT_EQ(purposes, (std::set<std::string>{"tp", "fsdp", "replicate"}));
}

// A tiny mixture-of-experts model (tiny-llama's shape, 4 experts of top-2), small enough for the
// CPU backend: the ep plans below run it on 4 ranks.
constexpr const char* kTinyMoe = R"({
  "schema_version": 1, "name": "tiny-moe", "family": "mixtral", "layers": 4, "hidden": 256,
  "heads": 4, "kv_heads": 2, "head_dim": 64, "ffn": 688, "vocab": 4096, "max_seq": 256,
  "activation": "swiglu", "norm": "rmsnorm", "norm_bias": false, "tied_embeddings": false,
  "biases": {"qkv": false, "attn_out": false, "mlp": false}, "position": "rope", "dropout": false,
  "moe": {"experts": 4, "experts_per_token": 2, "expert_ffn": 128},
  "params_published": null, "sources": ["synthetic: a test model for meshplan-validate's expert parallelism"]
})";

class ValidateMpiExperts : public ValidateMpi {
 protected:
  /// A simulate report of tiny-moe on cpu-local (4 ranks, global batch 4, seq 128).
  fs::path MoePlan(const std::string& layout, const std::string& spec = kTinyMoe) {
    const fs::path model = dir_ / "tiny-moe.json";
    std::ofstream(model) << spec;
    const fs::path p = dir_ / "plan.json";
    const Result r = Shell(std::string(MESHPLAN_BIN) + " simulate --model " + model.string() +
                           " --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 --layout " + layout +
                           " --analytical --json " + p.string());
    EXPECT_EQ(r.rc, 0) << r.out;
    return p;
  }
  /// The plan's collectives[] entries of `purpose` and `op`: their bytes.
  static std::set<double> PlanBytes(const json& plan, const std::string& purpose, const std::string& op) {
    std::set<double> out;
    for (const json& c : plan["layouts"][0]["collectives"]) {
      if (c["purpose"] == purpose && c["op"] == op) out.insert(c["bytes"].get<double>());
    }
    return out;
  }
  /// The measured rows of `op` on `group` that the plan's sizes asked for: requested bytes -> time.
  static std::map<double, double> Measured(const json& m, const std::string& group, const std::string& op) {
    std::map<double, double> out;
    for (const json& c : m["collectives"]) {
      if (c["purpose"] == group && c["op"] == op && c["from_plan"] == true) {
        out[c["requested_bytes"].get<double>()] = c["time_s"].get<double>();
      }
    }
    return out;
  }
  /// Runs `layout` on 4 ranks and checks the parts every ep plan shares; returns the file.
  json RunEp(const std::string& layout, const Groups& ep, const Groups& edp,
             const std::string& spec = kTinyMoe) {
    const fs::path plan = MoePlan(layout, spec);
    const fs::path out = dir_ / "m.json";
    // Up to 1 MiB: the experts' gradient reduce-scatter (fp32) is measured too.
    const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + out.string() +
                           " --backend cpu --max-bytes 1048576 --iters 2 --warmup 1 --steps 2 --warmup-steps 1");
    EXPECT_EQ(r.rc, 0) << r.out;
    const json m = ReadJson(out);
    const json p = ReadJson(plan);
    EXPECT_EQ(m["complete"], true);
    EXPECT_EQ(m["checks"]["mesh_ok"], true);
    EXPECT_EQ(m["checks"]["reductions_ok"], true);
    EXPECT_EQ(m["mesh"]["ep"].get<Groups>(), ep);
    EXPECT_EQ(m["mesh"]["edp"].get<Groups>(), edp);
    // The all-to-all's numeric check ran on the EP group.
    bool a2a_checked = false;
    for (const json& c : m["checks"]["reductions"]) {
      a2a_checked |= c["op"] == "all_to_all" && c["purpose"] == "ep" && c["ok"] == true;
    }
    EXPECT_TRUE(a2a_checked) << m["checks"].dump(1);
    // The dispatch and the combine send the same bytes: one all-to-all size, measured.
    const std::set<double> dispatch = PlanBytes(p, "ep_dispatch", "all_to_all");
    EXPECT_EQ(dispatch.size(), 1u);
    EXPECT_EQ(PlanBytes(p, "ep_combine", "all_to_all"), dispatch);
    const auto measured = Measured(m, "ep", "all_to_all");
    for (double b : dispatch) {
      EXPECT_EQ(measured.count(b), 1u) << b << " bytes not measured: " << m["collectives"].dump(1);
      if (measured.count(b) == 0) continue;
      EXPECT_GT(measured.at(b), 0.0);
      std::printf("all_to_all over ep x%zu: %.0f bytes in %.1f us\n", ep[0].size(), b, measured.at(b) * 1e6);
    }
    for (const json& c : m["collectives"]) {
      if (c["op"] != "all_to_all") continue;
      EXPECT_EQ(c["purpose"], "ep");
      EXPECT_EQ(c["ranks"], ep[0].size());
      EXPECT_EQ(c["dtype"], "bf16");
      EXPECT_GT(c["time_s"].get<double>(), 0.0);
      EXPECT_GE(c["bytes"].get<double>(), c["requested_bytes"].get<double>());
    }
    EXPECT_GT(m["step"]["time_s"].get<double>(), 0.0);
    EXPECT_EQ(m["step"]["layers"], 4 / m["plan"]["layout"]["pp"].get<int>());  // rank 0's stage
    // The grouped expert GEMM was benchmarked: batch = the 4 experts over ep.
    bool grouped = false;
    const int local_experts = 4 / static_cast<int>(ep[0].size());
    for (const json& g : m["gemms"]) grouped |= g["name"] == "mlp_in" && g["batch"] == local_experts;
    EXPECT_TRUE(grouped) << m["gemms"].dump(1);
    ExpectFinite(m, "measurements");
    return m;
  }
};

// Issue 20 item 4: an ep plan runs on the CPU backend with its all-to-alls measured.
TEST_F(ValidateMpiExperts, Ep2OverFsdp4RunsItsAllToAlls) {
  const json m = RunEp("tp=1,fsdp=4,ep=2", Groups{{0, 1}, {2, 3}}, Groups{{0, 2}, {1, 3}});
  // 128 tokens x top-2 x 256 hidden x bf16 per rank and micro-batch.
  EXPECT_EQ(Measured(m, "ep", "all_to_all").count(2.0 * 128 * 2 * 256), 1u);
  // The experts' ZeRO-3 traffic ran over the expert-data-parallel group.
  const json p = ReadJson(dir_ / "plan.json");
  std::set<double> expert_sizes;
  for (const json& c : p["layouts"][0]["collectives"]) {
    if (c["ranks"] == 2 && (c["purpose"] == "fsdp_param_gather" || c["purpose"] == "fsdp_grad_reduce")) {
      expert_sizes.insert(c["bytes"].get<double>());
    }
  }
  EXPECT_FALSE(expert_sizes.empty());
  std::set<double> edp_rows;
  for (const auto& [b, t] : Measured(m, "edp", "all_gather")) edp_rows.insert(b);
  for (const auto& [b, t] : Measured(m, "edp", "reduce_scatter")) edp_rows.insert(b);
  EXPECT_EQ(edp_rows, expert_sizes);
}

// With tp 2 and SP the received copies are gathered over TP and scattered back: those sizes
// are measured on the TP group next to the all-to-alls on the EP groups (ranks at stride tp).
TEST_F(ValidateMpiExperts, Tp2SpEp2GathersTheRoutedCopiesOverTp) {
  const json m = RunEp("tp=2,sp=on,fsdp=2,ep=2", Groups{{0, 2}, {1, 3}}, Groups{{0}, {1}, {2}, {3}});
  const json p = ReadJson(dir_ / "plan.json");
  // The SP shard: 64 tokens x top-2 x 256 hidden x bf16.
  EXPECT_EQ(PlanBytes(p, "ep_dispatch", "all_to_all"), (std::set<double>{2.0 * 64 * 2 * 256}));
  const std::set<double> ag = PlanBytes(p, "ep_dispatch", "all_gather");
  ASSERT_EQ(ag.size(), 1u);
  EXPECT_EQ(*ag.begin(), 2.0 * 128 * 2 * 256);  // the TP group's copies, gathered to each rank
  EXPECT_EQ(Measured(m, "tp", "all_gather").count(*ag.begin()), 1u);
  const std::set<double> rs = PlanBytes(p, "ep_combine", "reduce_scatter");
  ASSERT_EQ(rs, ag);  // scattered back: the same S
  EXPECT_EQ(Measured(m, "tp", "reduce_scatter").count(*rs.begin()), 1u);
  EXPECT_FALSE(m["mesh"]["edp"].empty());
}

// meshplan validate --run prints the predicted and measured all-to-alls side by side, and the
// measurement file calibrates: its all-to-all rows fit the all-to-all fraction.
TEST_F(ValidateMpiExperts, RunPrintsTheAllToAllsAndCalibrationUsesThem) {
  const fs::path plan = MoePlan("tp=1,fsdp=4,ep=2");
  const fs::path out = dir_ / "m.json";
  const Result r = Shell("MESHPLAN_VALIDATE=" + std::string(MESHPLAN_VALIDATE_BIN) + " " + MESHPLAN_BIN +
                         " validate --plan " + plan.string() + " --backend cpu --run --out " + out.string() +
                         " --max-bytes 262144 --iters 2 --steps 2");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::printf("%s", r.out.c_str());
  // Both rows have a measured time (a number, not "-") and an error.
  for (const char* purpose : {"ep_dispatch", "ep_combine"}) {
    EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string("  all_to_all ") + purpose +
                                                    " x2 131072 B +[0-9.]+ us +[0-9.]+ us +[-+][0-9.]+%")))
        << r.out;
  }
  const Result cal = Shell(std::string(MESHPLAN_BIN) + " calibrate --cluster cpu-local --measurements " +
                           out.string() + " -o " + (dir_ / "cpu.json").string());
  ASSERT_EQ(cal.rc, 0) << cal.out;
  const json profile = ReadJson(dir_ / "cpu.json");
  ASSERT_TRUE(profile["fitted"].contains("efficiency.alltoall_fraction")) << cal.out;
  EXPECT_EQ(profile["fitted"]["efficiency.alltoall_fraction"]["sources"], json::array({"m.json"}))
      << profile.dump(1);
}

// Under pipeline parallelism each stage's MoE layers run their exchanges: 2 stages of 2 layers,
// each stage's 2 ranks one EP group.
TEST_F(ValidateMpiExperts, PipelineStagesRunTheirAllToAlls) {
  const json m = RunEp("tp=1,pp=2,fsdp=2,ep=2,zero=1,recipe=megatron", Groups{{0, 1}, {2, 3}},
                       Groups{{0}, {1}, {2}, {3}});
  EXPECT_EQ(m["mesh"]["pp"].get<Groups>(), (Groups{{0, 2}, {1, 3}}));
  EXPECT_FALSE(m["p2p"].empty());
}

// A dense first layer (moe.dense_layers) under a pipeline: stage 0 runs it as a dense MLP (its
// GEMM benchmarked with the MoE layers' grouped ones), and the exchanges still run and are measured.
TEST_F(ValidateMpiExperts, PipelineWithADenseFirstLayer) {
  std::string spec = kTinyMoe;
  const std::string moe = "\"expert_ffn\": 128}";
  spec.replace(spec.find(moe), moe.size(), "\"expert_ffn\": 128, \"dense_layers\": [0]}");
  const json m = RunEp("tp=1,pp=2,fsdp=2,ep=2,zero=1,recipe=megatron", Groups{{0, 1}, {2, 3}},
                       Groups{{0}, {1}, {2}, {3}}, spec);
  bool dense_mlp = false;
  for (const json& g : m["gemms"]) dense_mlp |= g["name"] == "mlp_in" && g["batch"] == 1 && g["n"] == 2 * 688;
  EXPECT_TRUE(dense_mlp) << m["gemms"].dump(1);
}

TEST_F(ValidateMpi, WrongRankCountIsAUserError) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const Result r = Shell(Mpirun(2) + " --plan " + plan.string() + " --out " + (dir_ / "m.json").string() + Fast());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("meshplan-validate: error: mpirun -np: the plan runs on 4 GPUs (ranks), this job has 2"),
            std::string::npos) << r.out;
}

// The interleaved schedule's groups (two sends and two receives at once in its steady state)
// run to the end on the CPU backend, and the stage sends are measured.
TEST_F(ValidateMpi, InterleavedPipelineRunsItsGroupedSendsAndReceives) {
  const fs::path plan = Plan("tp=1,pp=2,vpp=2,schedule=interleaved,fsdp=2,zero=1,recipe=megatron", 4, 8);
  const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + (dir_ / "m.json").string() + Fast());
  ASSERT_EQ(r.rc, 0) << r.out;
  const json m = ReadJson(dir_ / "m.json");
  EXPECT_EQ(m["complete"], true);
  EXPECT_GT(m["step"]["time_s"].get<double>(), 0.0);
  ASSERT_FALSE(m["p2p"].empty());
  EXPECT_EQ(m["mesh"]["pp"], json::parse("[[0, 2], [1, 3]]"));
  // Megatron-LM 2022's exchanges (the plan's inputs pp_p2p blocking and pp_scatter_gather on;
  // TP 2 without SP; 1F1B, as Megatron refuses interleaving over 2 stages with blocking
  // exchanges): every group waited for whole, each received half all-gathered over TP, and the
  // pairing still runs to the end.
  const fs::path sg = Plan("tp=2,sp=off,pp=2,fsdp=1,zero=1,recipe=megatron", 4, 8);
  json pj = ReadJson(sg);
  pj["inputs"]["pp_p2p"] = "blocking";
  pj["inputs"]["pp_scatter_gather"] = "on";
  const fs::path blocking = dir_ / "plan-blocking.json";
  std::ofstream(blocking) << pj.dump();
  const Result rb = Shell(Mpirun(4) + " --plan " + blocking.string() + " --out " + (dir_ / "mb.json").string() + Fast());
  ASSERT_EQ(rb.rc, 0) << rb.out;
  const json mb = ReadJson(dir_ / "mb.json");
  EXPECT_EQ(mb["complete"], true);
  EXPECT_EQ(mb["plan"]["workload_switches"]["pp_scatter_gather"], "on") << mb["plan"].dump();
  EXPECT_EQ(mb["plan"]["workload_switches"]["pp_p2p"], "blocking") << mb["plan"].dump();
  EXPECT_FALSE(m["plan"]["workload_switches"].contains("pp_p2p"));
}

// A tied model's pipeline over 4 stages of one rank: the first and the last stage form an
// embedding group, the middle stages groups of one, which take part in every world-wide step of
// the checks and sweeps with zero entries (the run would hang otherwise); the plan's tied
// gradient all-reduce is measured on the pair.
TEST_F(ValidateMpi, TiedEmbeddingGroupsOfUnequalSizeRunAndAreMeasured) {
  // tiny-llama (data/models/tiny-llama.json) with its output head tied to the embedding.
  const fs::path model = dir_ / "tiny-llama-tied.json";
  std::ofstream(model) << R"({
    "schema_version": 1, "name": "tiny-llama-tied", "family": "llama", "layers": 4, "hidden": 256,
    "heads": 4, "kv_heads": 2, "head_dim": 64, "ffn": 688, "vocab": 4096, "max_seq": 256,
    "activation": "swiglu", "norm": "rmsnorm", "norm_bias": false, "tied_embeddings": true,
    "biases": {"qkv": false, "attn_out": false, "mlp": false}, "position": "rope", "dropout": false,
    "moe": {"experts": 0, "experts_per_token": 0, "expert_ffn": 0}, "params_published": null,
    "sources": ["synthetic: tiny-llama with tied embeddings, for meshplan-validate's embedding groups"]
  })";
  const fs::path plan = dir_ / "plan.json";
  const Result s = Shell(std::string(MESHPLAN_BIN) + " simulate --model " + model.string() +
                         " --cluster cpu-local --gpus 4 --global-batch 8 --seq 128 --layout "
                         "tp=1,pp=4,fsdp=1,recipe=megatron --analytical --json " + plan.string());
  ASSERT_EQ(s.rc, 0) << s.out;
  double priced = 0;
  const json pj = ReadJson(plan);
  for (const json& c : pj["layouts"][0]["collectives"]) {
    if (c["purpose"] == "tied_grad_reduce") priced = c["bytes"].get<double>();
  }
  ASSERT_GT(priced, 0.0);
  const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + (dir_ / "m.json").string() +
                         " --backend cpu --max-bytes 4194304 --iters 2 --warmup 1 --steps 2 --warmup-steps 1");
  ASSERT_EQ(r.rc, 0) << r.out;
  const json m = ReadJson(dir_ / "m.json");
  EXPECT_EQ(m["complete"], true);
  EXPECT_EQ(m["checks"]["mesh_ok"], true);
  EXPECT_EQ(m["checks"]["reductions_ok"], true);
  EXPECT_EQ(m["mesh"]["embedding"], json::parse("[[0, 3], [1], [2]]"));
  bool measured = false;
  for (const json& c : m["collectives"]) {
    if (c["purpose"] != "embedding") continue;
    EXPECT_EQ(c["op"], "all_reduce");
    EXPECT_EQ(c["ranks"], 2);
    EXPECT_GT(c["time_s"].get<double>(), 0.0);
    measured |= c["from_plan"] == true && c["requested_bytes"].get<double>() == priced;
  }
  EXPECT_TRUE(measured) << m["collectives"].dump(1);
  EXPECT_GT(m["step"]["time_s"].get<double>(), 0.0);
}

TEST_F(ValidateMpi, HangIsAbortedNamingRankAndOperation) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const fs::path out = dir_ / "m.json";
  const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + out.string() + Fast() +
                       " --timeout-s 3 --inject-fault hang:rank=1:op=all_gather");
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_LT(r.seconds, 30);
  EXPECT_NE(r.out.find("rank 1: injected hang in all_gather"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("rank 1 \\([^)]*\\): timeout: all_gather \\(")))
      << r.out;
  const json m = ReadJson(out);
  EXPECT_EQ(m["complete"], false);
  EXPECT_TRUE(m["step"].is_null());
}

// A failure on a rank other than 0 (the writer) is the file's error block: that rank sends it to
// rank 0 before the job is aborted. Before, only rank 0's own failures were recorded, so a job
// ended by rank 1 left a file without any error.
TEST_F(ValidateMpi, FailureOnAnotherRankIsTheErrorBlock) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const fs::path out = dir_ / "m.json";
  const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + out.string() + Fast() +
                         " --timeout-s 20 --inject-fault error:rank=1:op=gemm");
  EXPECT_NE(r.rc, 0) << r.out;
  const json m = ReadJson(out);
  EXPECT_EQ(m["complete"], false);
  ASSERT_TRUE(m.contains("error")) << m.dump(1);
  EXPECT_EQ(m["error"]["rank"], 1);
  EXPECT_EQ(m["error"]["reason"], "error");
  EXPECT_NE(m["error"]["message"].get<std::string>().find("injected error"), std::string::npos);
}

TEST_F(ValidateMpi, DyingRankEndsTheJobAndKeepsEarlierPhases) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const fs::path out = dir_ / "m.json";
  // The first GEMM runs in the microbenchmarks, after the collective sweep was written.
  const Result r = Shell(Mpirun(4) + " --plan " + plan.string() + " --out " + out.string() + Fast() +
                       " --timeout-s 10 --inject-fault exit:rank=2:op=gemm");
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_LT(r.seconds, 40);
  EXPECT_NE(r.out.find("rank 2: injected exit in gemm"), std::string::npos) << r.out;
  const json m = ReadJson(out);
  EXPECT_EQ(m["complete"], false);
  EXPECT_FALSE(m["collectives"].empty());
  EXPECT_EQ(m["checks"]["reductions_ok"], true);
}

TEST_F(ValidateMpi, LaunchLineForMpirunAndSrun) {
  const std::string plan = std::string(MESHPLAN_TEST_DATA) + "/plans/tiny-llama-tp2-fsdp2.json";
  Result r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan +
                 " --validate-bin meshplan-validate --out m.json");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "mpirun -np 4 --map-by ppr:4:node --bind-to none meshplan-validate --plan " + plan +
                       " --out m.json --backend nccl\n");
  r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan +
          " --validate-bin meshplan-validate --launcher srun --np-per-node 2 --timeout-s 30");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "srun -N 2 --ntasks-per-node 2 --gpus-per-node=2 meshplan-validate --plan " + plan +
                       " --out measurements.json --backend nccl --timeout-s 30\n");
  r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan + " --np-per-node 3");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.out, "meshplan: error: --np-per-node: 3 does not divide the plan's 4 GPUs\n");
}

// A measurement file left at --out by an earlier run is never shown as this run's, and a run
// that fails does not take it away: meshplan-validate writes a fresh file that replaces --out
// only once it holds this run's measurements. A run that fails early (here: a meshplan-validate
// that exits at once) prints no "predicted vs measured"; one that exits 0 without a file is a
// failure; a --validate-bin that is not an executable is refused before anything runs.
TEST_F(ValidateMpi, StaleOutIsNeverShownAsThisRunsMeasurementsNorLost) {
  const std::string plan = std::string(MESHPLAN_TEST_DATA) + "/plans/tiny-llama-tp2-fsdp2.json";
  const fs::path out = dir_ / "m.json";
  const std::string earlier = R"({"schema_version": 1, "command": "validate", "complete": true, "plan": {}})";
  std::ofstream(out) << earlier;
  auto content = [&] {
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  Result r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan +
                 " --backend cpu --run --validate-bin /bin/false --out " + out.string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out.find("predicted vs measured"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("meshplan: error: meshplan-validate: failed (exit 1); '" + out.string() + "' left as it was\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(content(), earlier);
  std::ofstream(out) << "not json at all";
  r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan + " --backend cpu --run --validate-bin /bin/true --out " +
            out.string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("meshplan: error: meshplan-validate: exited 0 but wrote no measurement file '" + out.string() +
                       "' ('" + out.string() + "' left as it was)\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
  EXPECT_EQ(content(), "not json at all");
  r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan +
            " --backend cpu --run --validate-bin /nonexistent/meshplan-validate --out " + out.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("meshplan: error: --validate-bin: '/nonexistent/meshplan-validate' is not an executable file: "),
            std::string::npos)
      << r.out;
  EXPECT_EQ(content(), "not json at all");
  // Nothing is left beside it.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.path().filename().string().rfind("m.json", 0) == 0;
  EXPECT_EQ(files, 1);
}

TEST_F(ValidateMpi, OutEqualToThePlanIsRefusedBeforeTheLaunch) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const std::string before = [&] {
    std::ifstream in(plan);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }();
  const Result r = Shell(std::string(MESHPLAN_BIN) + " validate --plan " + plan.string() +
                         " --backend cpu --run --out " + plan.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.out, "meshplan: error: --out: '" + plan.string() +
                       "' is the file given to --plan: refusing to overwrite an input\n");
  std::ifstream in(plan);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), before);
}

// meshplan-validate records a --plan path that is not UTF-8 (with U+FFFD) instead of aborting
// on every rank, and embeds the model and cluster it ran.
TEST_F(ValidateMpi, NonUtf8PlanPathAndEmbeddedModel) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const fs::path odd = dir_ / "p\xff.json";
  fs::copy_file(plan, odd);
  const fs::path out = dir_ / "m.json";
  const Result r = Shell(Mpirun(4) + " --plan '" + odd.string() + "' --out " + out.string() + Fast());
  ASSERT_EQ(r.rc, 0) << r.out;
  const json m = ReadJson(out);
  EXPECT_EQ(m["plan"]["file"], (dir_ / "p\xef\xbf\xbd.json").string());
  EXPECT_EQ(m["plan"]["model_spec"]["layers"], 4);
  EXPECT_EQ(m["plan"]["model_spec"]["name"], "tiny-llama");
  EXPECT_EQ(m["plan"]["cluster_spec"]["name"], "cpu-local");
}

TEST_F(ValidateMpi, MeshplanValidateRunPrintsPredictedVsMeasured) {
  const fs::path plan = Plan("tp=2,sp=on,fsdp=2", 4, 2);
  const fs::path out = dir_ / "m.json";
  const Result r = Shell("MESHPLAN_VALIDATE=" + std::string(MESHPLAN_VALIDATE_BIN) + " " + MESHPLAN_BIN +
                       " validate --plan " + plan.string() + " --backend cpu --run --out " + out.string() +
                       " --max-bytes 262144 --iters 2 --steps 2");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("mpirun -np 4 --oversubscribe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("predicted vs measured (cpu backend, tp=2,sp=on,fsdp=2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  step time "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  all_gather tp x2 65536 B "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  gemm qkv forward 128x256x256 "), std::string::npos) << r.out;
  EXPECT_EQ(ReadJson(out)["complete"], true);
}

// The closed loop of issue 8 on the CPU backend: plan -> meshplan-validate -> meshplan calibrate
// -> predict again. The step-time error on the measurement it was fitted on must fall (the step's
// own parameters, overlap and the per-call skew of blocking collectives, are fitted on it), and
// where the host held its speed land within 60%, as must a second, held-back measurement of
// another layout (tp=2 without sequence parallelism, ZeRO-2: the same GEMM shapes, half the TP
// calls, other collectives). That tolerance is wide because 4 ranks share this machine's 2 cores:
// a step's wall time moves by 10-30% between runs with the scheduler; 14-30% was seen while
// building this test, and more on a shared CI host (below).
// The held-back error is not compared with the uncalibrated one: on a quiet machine cpu-local's
// guesses land within 7-11% of these steps by chance, and calibration then trades a point or two.
TEST_F(ValidateMpi, CalibrationClosesTheLoopOnTheCpuBackend) {
  const std::string bin = MESHPLAN_BIN;
  const std::string opts = " --backend cpu --max-bytes 4194304 --iters 3 --warmup 1 --steps 9 --warmup-steps 1";
  auto plan = [&](const std::string& layout, const std::string& name, const std::string& extra) {
    const fs::path p = dir_ / name;
    const Result r = Shell(bin + " simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4"
                           " --seq 128 --layout " + layout + " --analytical --json " + p.string() + extra);
    EXPECT_EQ(r.rc, 0) << r.out;
    return r;
  };
  auto step_of = [](const std::string& out) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(out, m, std::regex("step time +([0-9.]+) ms"))) << out;
    return std::stod(m[1]) * 1e-3;
  };
  plan("tp=2,sp=on,fsdp=2", "a.json", "");
  plan("tp=2,sp=off,fsdp=2,zero=2", "b.json", "");
  // A pipeline plan: 2 stages of 2 layers, TP 2 inside each, 4 micro-batches of 1F1B.
  const std::string pp_layout = "tp=2,sp=on,pp=2,fsdp=1,recipe=megatron";
  plan(pp_layout, "c.json", "");
  auto measure = [&](const std::string& plan_name, const std::string& out_name) {
    const Result r = Shell(Mpirun(4) + " --plan " + (dir_ / plan_name).string() + " --out " +
                           (dir_ / out_name).string() + opts);
    EXPECT_EQ(r.rc, 0) << r.out;
    return r.rc == 0 ? ReadJson(dir_ / out_name)["step"]["time_s"].get<double>() : 0.0;
  };
  // The held-back check compares two runs a minute apart, so it needs the host's speed to hold
  // between them. A shared CI host did not: one clean-clone run measured the fitted layout's step
  // at 5276 ms and the held-back one, priced within 0.1% of it, at 2690 ms (on a quiet 2-core VM
  // both take 250-400 ms, but a median of 3 steps still moved 30-70% between runs of the same plan;
  // a median of 9 moves 1-12%). So the fitted layout is measured again after the held-back one, and
  // the pair counts only when the two measurements of the same plan agree within 25%; up to three
  // tries, another one only while the tries so far took under 150 s (under ASan one try takes
  // ~280 s on CI, so it gets one, and ctest's timeout is never reached by the retries). A host
  // that never holds still leaves the held-back accuracy unasserted, and says so.
  double measured_a = 0, measured_b = 0, again_a = 0;
  bool steady = false;
  const auto tries_start = std::chrono::steady_clock::now();
  const auto tried_s = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - tries_start).count();
  };
  for (int attempt = 0; attempt < 3 && !steady && !HasFailure() && (attempt == 0 || tried_s() < 150.0);
       ++attempt) {
    measured_a = measure("a.json", "ma.json");
    measured_b = measure("b.json", "mb.json");
    again_a = measure("a.json", "ma_again.json");
    steady = measured_a > 0 && again_a > 0 && std::max(measured_a, again_a) <= 1.25 * std::min(measured_a, again_a);
    std::printf("try %d: fitted layout %.1f ms, held-back %.1f ms, fitted again %.1f ms%s\n", attempt + 1,
                measured_a * 1e3, measured_b * 1e3, again_a * 1e3, steady ? "" : " (host speed moved)");
  }
  ASSERT_FALSE(HasFailure());
  ASSERT_GT(measure("c.json", "mc.json"), 0.0);
  const json mc = ReadJson(dir_ / "mc.json");
  const double measured_c = mc["step"]["time_s"].get<double>();
  // The stages exchanged activations: the mesh has the stage groups and the send/recv of the
  // plan's message size was measured.
  EXPECT_EQ(mc["mesh"]["pp"], json::parse("[[0, 2], [1, 3]]"));
  bool plan_size = false;
  for (const json& r : mc["p2p"]) {
    EXPECT_EQ(r["op"], "send_recv");
    EXPECT_GT(r["time_s"].get<double>(), 0.0);
    plan_size |= r["from_plan"].get<bool>() && r["bytes"].get<double>() == 2.0 * 128 * 256 / 2;
  }
  EXPECT_TRUE(plan_size) << mc["p2p"].dump(1);
  const Result cal = Shell(bin + " calibrate --cluster cpu-local --measurements " + (dir_ / "ma.json").string() +
                           " -o " + (dir_ / "cpu.json").string());
  ASSERT_EQ(cal.rc, 0) << cal.out;
  const json profile = ReadJson(dir_ / "cpu.json");
  ASSERT_TRUE(profile["fit_error"].contains("step_time_s")) << profile.dump(1);
  const double before = profile["fit_error"]["step_time_s"]["before_pct"].get<double>();
  const double after = profile["fit_error"]["step_time_s"]["after_pct"].get<double>();
  const std::string cal_flag = " --calibration " + (dir_ / "cpu.json").string();
  const double pa0 = step_of(plan("tp=2,sp=on,fsdp=2", "a0.json", "").out);
  const double pa1 = step_of(plan("tp=2,sp=on,fsdp=2", "a1.json", cal_flag).out);
  const double pb0 = step_of(plan("tp=2,sp=off,fsdp=2,zero=2", "b0.json", "").out);
  const double pb1 = step_of(plan("tp=2,sp=off,fsdp=2,zero=2", "b1.json", cal_flag).out);
  const double pc0 = step_of(plan(pp_layout, "c0.json", "").out);
  // The pipeline plan closes its own loop: calibrated from its measurement file (stage
  // sends, per-stage steps), its prediction moves onto the measured step.
  const Result cal_pp = Shell(bin + " calibrate --cluster cpu-local --measurements " + (dir_ / "mc.json").string() +
                              " -o " + (dir_ / "cpu_pp.json").string());
  ASSERT_EQ(cal_pp.rc, 0) << cal_pp.out;
  const double pc1 = step_of(plan(pp_layout, "c1.json", " --calibration " + (dir_ / "cpu_pp.json").string()).out);
  auto pct = [](double p, double m) { return 100.0 * std::fabs(p - m) / m; };
  std::printf("fitted layout:    measured %.1f ms, uncalibrated %.1f ms (%.1f%%), calibrated %.1f ms (%.1f%%)\n",
              measured_a * 1e3, pa0 * 1e3, pct(pa0, measured_a), pa1 * 1e3, pct(pa1, measured_a));
  std::printf("held-back layout: measured %.1f ms, uncalibrated %.1f ms (%.1f%%), calibrated %.1f ms (%.1f%%)\n",
              measured_b * 1e3, pb0 * 1e3, pct(pb0, measured_b), pb1 * 1e3, pct(pb1, measured_b));
  // calibrate scores with the same analytical step that plan prints, before and after the fit:
  // the profile it writes is the one plan applies.
  EXPECT_NEAR(before, pct(pa0, measured_a), 1.0);
  EXPECT_NEAR(after, pct(pa1, measured_a), 1.0);
  EXPECT_LT(after, before);
  EXPECT_LT(pct(pa1, measured_a), pct(pa0, measured_a));
  // How close the fit lands is bounded loosely: the kernel sweeps and the step are measured
  // minutes apart on a shared 2-core host, 4 ranks per 2 cores, and the host's load moves between
  // them. On a quiet machine the fitted layout lands within 5%; in one CI run its step measured
  // 2985 ms while the held-back layout, priced within 0.1% of it, measured 4112 ms a minute
  // later, and the fit (whose step terms only add time to the sweeps) landed 42% above it. The
  // uncalibrated model is 94-97% off on this backend (it prices an H100-class cpu-local).
  // The bound holds only on a host that held its speed: the fit reads the kernel sweeps and the
  // step from one file, measured a minute apart, so a host whose speed moves between runs moves
  // within one too. A CI run (ASan, one try) measured the fitted layout at 3034 ms and again at
  // 4602 ms; its sweeps alone priced the step at 5059 ms, 67% over the step they came with. There
  // the fit is still asserted to beat the uncalibrated model (above), not to land within 60%.
  // The steps holding their speed is not enough: a CI run (ASan) measured the fitted layout at
  // 2795, 2690 (held-back) and 2895 ms, steady, yet the kernel sweeps of the first file priced its
  // step at 4509 ms and the fit landed 61% above it. So the sweeps must hold too: the second
  // measurement of the fitted layout is fitted on its own, and the two fits must price the layout
  // within 25% of each other (each file's sweeps and step are measured in one run, so two fits
  // that agree say the sweeps did not move between those runs either).
  const Result cal_again = Shell(bin + " calibrate --cluster cpu-local --measurements " +
                                 (dir_ / "ma_again.json").string() + " -o " + (dir_ / "cpu_again.json").string());
  ASSERT_EQ(cal_again.rc, 0) << cal_again.out;
  const double pa1_again =
      step_of(plan("tp=2,sp=on,fsdp=2", "a2.json", " --calibration " + (dir_ / "cpu_again.json").string()).out);
  const bool sweeps_steady = std::max(pa1, pa1_again) <= 1.25 * std::min(pa1, pa1_again);
  std::printf("fitted layout priced %.1f ms by the first file's fit, %.1f ms by the second's%s\n", pa1 * 1e3,
              pa1_again * 1e3, sweeps_steady ? "" : " (the kernel sweeps' speed moved)");
  if (steady && sweeps_steady) {
    EXPECT_LT(pct(pa1, measured_a), 60.0);
    EXPECT_LT(pct(pb1, measured_b), 60.0);
  } else {
    std::printf("fitted and held-back accuracy not asserted: the host's speed moved between runs (the fitted layout "
                "measured %.1f ms, then %.1f ms after the held-back one; its two fits priced it %.1f and %.1f ms)\n",
                measured_a * 1e3, again_a * 1e3, pa1 * 1e3, pa1_again * 1e3);
  }
  std::printf("pipeline layout:  measured %.1f ms, uncalibrated %.1f ms (%.1f%%), calibrated on it %.1f ms (%.1f%%)\n",
              measured_c * 1e3, pc0 * 1e3, pct(pc0, measured_c), pc1 * 1e3, pct(pc1, measured_c));
  // The pipeline's loop closes mechanically (its measurement file, with the stages' sends,
  // calibrates and the profile scores its step), but its prediction is not asserted: 4 ranks
  // share 2 cores here, and a stage that waits (the bubble, the lighter first stage) yields its
  // core to the busy one, which then runs faster than the all-ranks-busy kernel sweeps the fit
  // leans on (seen: 0-54% off after its own fit, on a quiet machine 29-31%). A GPU does not lend
  // its idle SMs; the pipeline's prediction is checked against the simulator and the published
  // pipeline runs instead (tests/sim/pipeline_sim_test.cc, AccuracyScoresTheShippedReferenceFile).
  const json pp_profile = ReadJson(dir_ / "cpu_pp.json");
  ASSERT_TRUE(pp_profile["fit_error"].contains("step_time_s")) << pp_profile.dump(1);
  const json& pp_fit = pp_profile["fit_error"]["step_time_s"];
  std::printf("pipeline fit: step error %.1f%% -> %.1f%%\n", pp_fit["before_pct"].get<double>(),
              pp_fit["after_pct"].get<double>());
  // Not asserted to fall either: the step's fitted terms (overlap slowdown, collective skew)
  // only add time, so when the kernel sweeps alone already price the stages above the measured
  // step (30.6% -> 31.5% seen on a quiet machine) no fit can reach it.
  EXPECT_GE(pp_fit["after_pct"].get<double>(), 0.0);
  EXPECT_GT(pc1, 0.0);
  // The calibrated report names its profile.
  EXPECT_EQ(ReadJson(dir_ / "b1.json")["inputs"]["calibration"], "cpu-local");
}

}  // namespace
