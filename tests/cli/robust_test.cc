// Issue 22, "robustness round 2", end to end through the meshplan binary: outputs that are
// devices, links or inputs; values read wrongly without a word; standard output that fails.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_harness.h"

namespace {
namespace fs = std::filesystem;

using meshplan::cli_harness::Result;
using meshplan::cli_harness::Slurp;

class Robust : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = meshplan::cli_harness::FreshTestDir("meshplan_robust_"); }
  void TearDown() override { fs::remove_all(dir_); }

  /// Runs meshplan with `args` in the test's directory; `stdout_to` replaces the capture file.
  Result Run(const std::string& args, const std::string& stdout_to = "") {
    const std::string cmd = "cd '" + dir_.string() + "' && " + std::string(MESHPLAN_BIN) + " " + args +
                            (stdout_to.empty() ? "" : " >" + stdout_to);
    return meshplan::cli_harness::RunShell(cmd, stdout_to.empty() ? dir_ / "stdout.txt" : fs::path(),
                                           dir_ / "stderr.txt");
  }
  std::string P(const std::string& name) const { return (dir_ / name).string(); }
  /// Files of the directory, except the captured streams.
  int Files() const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      n += name == "stdout.txt" || name == "stderr.txt" ? 0 : 1;
    }
    return n;
  }
  fs::path dir_;
};

const char* kSim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                   "--layout tp=2,fsdp=2 --analytical";

TEST_F(Robust, DeviceOutputsAreWrittenThroughAndTheirFailuresReported) {
  Result r = Run("inspect --model tiny-llama --json /dev/null");
  EXPECT_EQ(r.rc, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  r = Run("inspect --model tiny-llama --json /dev/full");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "meshplan: error: --json: cannot write '/dev/full': No space left on device\n");
  // /dev/stdout: the JSON follows the table on standard output.
  r = Run("inspect --model tiny-llama --json /dev/stdout");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"schema_version\""), std::string::npos);
  EXPECT_LT(r.out.find("params total"), r.out.find("\"schema_version\""));
  EXPECT_TRUE(fs::is_regular_file(P("stdout.txt")));
}

TEST_F(Robust, FailedStandardOutputExitsOne) {
  Result r = Run("inspect --model tiny-llama", "/dev/full");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "meshplan: cannot write standard output: No space left on device\n");
  // plan flushes its table before the outputs are written: the reason survives that flush.
  r = Run("plan --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 --refine 0", "/dev/full");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.substr(r.err.find("meshplan:")), "meshplan: cannot write standard output: No space left on device\n");
}

TEST_F(Robust, OutputThatIsAnInputIsRefusedByIdentityBeforeAnyWork) {
  std::ofstream(P("model.json")) << Slurp(std::string(MESHPLAN_DATA_DIR) + "/models/tiny-llama.json");
  fs::create_hard_link(P("model.json"), P("alias.json"));
  const std::string before = Slurp(P("model.json"));
  Result r = Run("inspect --model model.json --json alias.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: 'alias.json' is the file given to --model: refusing to overwrite an input\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Slurp(P("model.json")), before);
}

TEST_F(Robust, TwoOutputsOnOneFileAreRefusedBeforeAnyWork) {
  const Result r = Run(std::string(kSim) + " --json X --trace ./X");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --trace: names the same file as --json ('./X')\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Files(), 0);
}

// Launch configs are outputs too: one file for two of them is refused, as is a launch config
// written over the one simulate reads.
TEST_F(Robust, LaunchConfigOutputsAreCheckedLikeTheOthers) {
  Result r = Run(std::string(kSim) + " --json X --emit-megatron X");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: names the same file as --emit-megatron ('X')\n");
  EXPECT_EQ(Files(), 0);
  r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
          "--layout tp=2,sp=on,fsdp=2 --analytical --emit-torchtitan t.toml");
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 --analytical "
          "--from-torchtitan t.toml --emit-torchtitan ./t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --emit-torchtitan: './t.toml' is the file given to --from-torchtitan: "
                   "refusing to overwrite an input\n");
}

TEST_F(Robust, MissingOutputDirectoryIsFoundBeforeTheSearch) {
  const Result r = Run("plan --model llama2-70b --cluster dgx-h100 --gpus 2048 --global-batch 1024 --seq 4096 "
                       "--json no/such/plan.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: directory 'no/such' does not exist\n");
  EXPECT_EQ(r.out, "");  // no search ran: nothing printed
}

TEST_F(Robust, SymlinkOutputReplacesItsTargetAndStaysALink) {
  std::ofstream(P("real.json")) << "old";
  fs::create_symlink("real.json", P("link.json"));
  const Result r = Run("inspect --model tiny-llama --json link.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(P("link.json")));
  EXPECT_NE(Slurp(P("real.json")).find("\"schema_version\""), std::string::npos);
  EXPECT_EQ(Files(), 2);  // no temporary left
}

TEST_F(Robust, EmptyValuesAreErrors) {
  for (const std::string flag : {"--json", "--recipe", "--calibration"}) {
    const Result r = Run(std::string(kSim) + " " + flag + " ''");
    EXPECT_EQ(r.rc, 2) << flag;
    EXPECT_EQ(r.err, "meshplan: error: " + flag + ": must not be empty\n");
  }
  const Result r = Run("sweep --model tiny-llama --cluster cpu-local --global-batch 4 --seq 128 --gpus 2,,4");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --gpus: has an empty element in the list '2,,4'\n");
}

TEST_F(Robust, NumericFlagsAreDecimal) {
  Result r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 010 --global-batch 4 --seq 128 --layout tp=2");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --gpus: must be a decimal integer without leading zeros, got '010'\n");
  r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 09 --layout tp=2");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --seq: must be a decimal integer without leading zeros, got '09'\n");
  r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 0x4 --global-batch 4 --seq 128 --layout tp=2");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --gpus: must be an integer, got '0x4'\n");
}

// 1e999 and 1e-400 are decimal numbers beyond a double's range, not malformed ones: the message
// says the range, as for any other number outside it.
TEST_F(Robust, NumberFlagsBeyondADoubleSayTheRange) {
  const std::string plan = "plan --model tiny-llama --cluster cpu-local --gpus 4 --seq 128 --global-batch 4 ";
  Result r = Run(plan + "--min-headroom-gib 1e999");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --min-headroom-gib: must be in [0, 1e+06], got 1e999 (beyond a double's "
                   "range)\n");
  r = Run(plan + "--moe-capacity-factor 1e-400");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --moe-capacity-factor: must be in [0.01, 64], got 1e-400 (beyond a double's "
                   "range)\n");
}

TEST_F(Robust, ValidateFlagsAreCheckedLikeTheOthers) {
  const std::string plan = std::string(MESHPLAN_TEST_DATA) + "/plans/tiny-llama-tp2-fsdp2.json";
  struct Case {
    std::string flags, message;
  };
  for (const Case& c : std::vector<Case>{
           {"--np-per-node 0", "--np-per-node: must be in [1, 16777216], got 0"},
           {"--iters -5", "--iters: must be in [1, 100000], got -5"},
           {"--steps 0", "--steps: must be in [1, 10000], got 0"},
           {"--max-bytes nan", "--max-bytes: must be a decimal number, got 'nan'"},
           {"--max-bytes 0x100000", "--max-bytes: must be a decimal number, got '0x100000'"},
           {"--timeout-s 0", "--timeout-s: must be in [0.001, 86400], got 0"},
           {"--validate-bin ''", "--validate-bin: must not be empty"},
       }) {
    const Result r = Run("validate --plan " + plan + " " + c.flags);
    EXPECT_EQ(r.rc, 2) << c.flags;
    EXPECT_EQ(r.err.substr(0, r.err.find('\n')).find(c.message), 17u) << r.err;
    EXPECT_EQ(r.out, "") << c.flags;
  }
}

// A context-parallel plan is priced but not executed: validate says so before writing a launch
// line (meshplan-validate refuses it the same way).
TEST_F(Robust, ValidateRefusesContextParallelPlans) {
  Result r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 2 --seq 128 "
                 "--layout tp=2,sp=on,cp=2,fsdp=1 --analytical --json " + (dir_ / "cp.json").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Run("validate --plan " + (dir_ / "cp.json").string() + " --backend cpu");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --plan: context-parallel plans (cp > 1) are priced but not executed by "
                   "meshplan-validate yet (its skeleton has no ring, all-gather or all-to-all attention "
                   "exchange); validate a cp=1 layout\n");
  EXPECT_EQ(r.out, "");
  // A plan whose best rows use CP points at its first feasible row without.
  r = Run("plan --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 2 --seq 8192 --top 20 --refine 0 --json " +
          (dir_ / "plan.json").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json plan = nlohmann::json::parse(Slurp(dir_ / "plan.json"));
  ASSERT_GT(plan["layouts"][0]["layout"]["cp"].get<int>(), 1);
  size_t first = 0;
  while (first < plan["layouts"].size() &&
         (plan["layouts"][first]["layout"]["cp"] != 1 || plan["layouts"][first]["feasible"] != true)) {
    ++first;
  }
  ASSERT_LT(first, plan["layouts"].size()) << "no feasible cp=1 row to point at";
  ASSERT_GT(first, 2u) << "rows 1 and 2 are corrupted below; the row pointed at must come after them";
  r = Run("validate --plan " + (dir_ / "plan.json").string() + " --backend cpu");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("; validate a cp=1 layout (--layout-index " + std::to_string(first) + ": " +
                       plan["layouts"][first]["layout_text"].get<std::string>() + ")\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(Run("validate --plan " + (dir_ / "plan.json").string() + " --backend cpu --layout-index " +
                std::to_string(first)).rc, 0);
  // The other rows are looked at, not trusted: malformed ones are passed over, never a crash.
  nlohmann::json bad = plan;
  bad["layouts"][1]["feasible"] = "yes";
  bad["layouts"][2]["layout"]["cp"] = "x";
  std::ofstream(dir_ / "bad.json") << bad.dump();
  r = Run("validate --plan " + (dir_ / "bad.json").string() + " --backend cpu");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("(--layout-index " + std::to_string(first) + ": "), std::string::npos) << r.err;
}

TEST_F(Robust, NonUtf8PlanPathIsNoInternalError) {
  const std::string plan = std::string(MESHPLAN_TEST_DATA) + "/plans/tiny-llama-tp2-fsdp2.json";
  const std::string odd = "p\xff.json";
  fs::copy_file(plan, dir_ / odd);
  const Result r = Run("validate --plan 'p\xff.json' --validate-bin meshplan-validate");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "mpirun -np 4 --map-by ppr:4:node --bind-to none meshplan-validate --plan 'p\xff.json' "
                   "--out measurements.json --backend nccl\n");
}

TEST_F(Robust, NewlineInAPathKeepsTheErrorOnOneLine) {
  const Result r = Run("inspect --model 'a\nb.json'");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --model: cannot open file 'a\\nb.json': No such file or directory\n");
}

TEST_F(Robust, FifoInputIsRefusedNotWaitedOn) {
  ASSERT_EQ(::mkfifo(P("model.json").c_str(), 0600), 0);
  const Result r = Run("inspect --model model.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --model: 'model.json' is a FIFO, not a regular file: meshplan reads "
                   "inputs from files only\n");
}

/// tiny-llama with `layers` layers: a model at the documented 10^5-layer limit.
void WriteDeepModel(const fs::path& to, int layers) {
  std::string m = Slurp(std::string(MESHPLAN_DATA_DIR) + "/models/tiny-llama.json");
  m.replace(m.find("\"layers\": 4"), 11, "\"layers\": " + std::to_string(layers));
  m.replace(m.find("\"tiny-llama\""), 12, "\"deep\"");
  std::ofstream(to) << m;
}

// Resources are checked before the work, against the flag that bounds them: a trace of a
// million tasks once took 70 s and 8 GB; now it is refused at once.
TEST_F(Robust, SimulatorBoundsAreCheckedBeforeTheWorkNamingTheFlag) {
  WriteDeepModel(dir_ / "deep.json", 100000);
  const std::string w = "simulate --model deep.json --cluster cpu-local --gpus 8 --seq 128 ";
  Result r = Run(w + "--global-batch 8 --layout fsdp=8,mbs=1 --trace t.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --trace: 1 micro-batches x 100000 layers make up to 1000007 simulator "
                   "tasks; a trace is written for at most 500000 (about 1 GB of memory while built): drop "
                   "--trace, or raise mbs in --layout\n");
  r = Run(w + "--global-batch 264 --layout fsdp=8,mbs=1");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.substr(0, 45), "meshplan: error: --layout: 33 micro-batches x");
  EXPECT_FALSE(fs::exists(dir_ / "t.json"));
}

// plan's refinement shares one simulator budget across the layouts it refines: with valid flags
// it used to fail in the simulator (exit 2, naming no flag) or run for minutes.
TEST_F(Robust, PlanRefinementSharesOneSimulatorBudget) {
  WriteDeepModel(dir_ / "deep.json", 100000);
  // --max-pp 1: pipeline steps simulate a schedule of a few actions per micro-batch, so only the
  // per-layer task graphs of FSDP layouts reach the budget.
  const Result r = Run("plan --model deep.json --cluster dgx-h100 --gpus 64 --global-batch 2048 --seq 128 "
                       "--max-pp 1 --json p.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\\(simulated ([0-9]+) of the 32 layouts --refine asked "
                                                      "for: the next one would take the simulator past its "
                                                      "budget of 10000000 tasks per command\\)")))
      << r.out;
  EXPECT_LT(std::stoi(m[1]), 32);
  EXPECT_NE(Slurp(P("p.json")).find("\"refine_stopped\""), std::string::npos);
}

// calibrate bounds samples x fits before fitting: 40 logs with --leave-one-out took 25 s.
TEST_F(Robust, CalibrateBoundsItsFitWorkBeforeFitting) {
  const std::string log = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/a100-2x8-all_reduce-awsome-p4de.txt";
  std::string args = "calibrate --cluster dgx-a100-80g --leave-one-out --nccl-tests";
  for (int i = 0; i < 40; ++i) {
    std::string name = std::to_string(i);  // (not "l" + ...: GCC 12's -Wrestrict false positive)
    name += "-all_reduce.txt";
    fs::copy_file(log, dir_ / name);
    fs::copy_file(log + ".meta.json", dir_ / (name + ".meta.json"));
    args += " " + name;
  }
  const Result r = Run(args);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --leave-one-out: fitting 1160 samples 81 time(s) is more than 25000 "
                   "sample-fits (about 8 s): give fewer or shorter inputs or drop --leave-one-out\n");
}

// Launch files written for a path or model whose name has a newline or bytes that are not UTF-8:
// the name is quoted into the comment, never a new line of the file. "a\n--fp16" as a Megatron
// file name used to add --fp16 to the arguments; "t\xff.toml" made a TOML torchtitan cannot read.
TEST_F(Robust, LaunchFileNamesStayInsideTheirComment) {
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                          "--analytical --layout tp=2,sp=on,zero=1,recipe=megatron ";
  Result r = Run(sim + "--emit-megatron 'a\n--fp16'");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string megatron = Slurp(dir_ / "a\n--fp16");
  EXPECT_NE(megatron.find("pretrain_gpt.py $(grep -v '^#' $'a\\x0a--fp16') <model"), std::string::npos) << megatron;
  r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 --analytical "
          "--from-megatron 'a\n--fp16'");
  EXPECT_EQ(r.rc, 0) << r.err;
  r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 --analytical "
          "--layout tp=2,sp=on,fsdp=2 --emit-torchtitan 't\xff.toml'");
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string toml = Slurp(dir_ / "t\xff.toml");
  EXPECT_EQ(toml.find('\xff'), std::string::npos);
  EXPECT_NE(toml.find("--job.config_file $'t\\xff.toml'\n"), std::string::npos) << toml;
}

// Integers in launch files are decimal and their products never overflow: a Megatron file with
// tp x pp x cp = 2^30 x 2^30 x 16 died of SIGFPE (the product wrapped to 0); TOML's 010 (which
// torchtitan's TOML reader refuses) was read as 10.
TEST_F(Robust, LaunchFileIntegersAreDecimalAndBounded) {
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                          "--analytical ";
  std::ofstream(P("m.txt")) << "--bf16\n--micro-batch-size 1\n--tensor-model-parallel-size 1073741824\n"
                               "--pipeline-model-parallel-size 1073741824\n--context-parallel-size 16\n";
  Result r = Run(sim + "--from-megatron m.txt");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: m.txt: tensor x pipeline x context parallel sizes multiply to more than --gpus 4\n");
  std::ofstream(P("m.txt")) << "--bf16\n--micro-batch-size 1\n--tensor-model-parallel-size 0x2\n";
  r = Run(sim + "--from-megatron m.txt");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: m.txt:3: --tensor-model-parallel-size: must be a decimal integer, got '0x2'\n");
  std::ofstream(P("t.toml")) << "[parallelism]\ntensor_parallel_degree = 010\n";
  r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: t.toml:2: parallelism.tensor_parallel_degree: must be a decimal integer "
                   "without leading zeros, got '010'\n");
  std::ofstream(P("t.toml")) << "[parallelism]\ntensor_parallel_degree = 65536\ncontext_parallel_degree = 65536\n"
                                "pipeline_parallel_degree = 65536\ndata_parallel_replicate_degree = 65536\n";
  r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: t.toml: [parallelism] replicate x tp x pp x cp degrees multiply to more than "
                   "--gpus 4\n");
}

// A key given twice is an error naming both lines: CLI11's TOML reader merged a key repeated on
// the next line into a list ("expected one value, got 2"), and the second place was never named.
TEST_F(Robust, LaunchFileKeysGivenTwiceNameBothLines) {
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                          "--analytical ";
  std::ofstream(P("t.toml")) << "[parallelism]\ntensor_parallel_degree = 2\n\"tensor_parallel_degree\" = 4\n";
  Result r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: t.toml:2: parallelism.tensor_parallel_degree: given twice, at lines 2 and 3: "
                   "each key may appear once\n");
  std::ofstream(P("t.toml")) << "[training]\nsteps = 1\n[parallelism]\ntensor_parallel_degree = 2\n[training]\n"
                                "steps = 2\n";
  r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: t.toml:5: [training] opened again (first at line 1): a TOML table is defined "
                   "once\n");
  // A single value given as an array, and a table meshplan reads given as an array of tables.
  std::ofstream(P("t.toml")) << "[parallelism]\ntensor_parallel_degree = 2\n[training]\nlocal_batch_size = 2\n"
                                "seq_len = [128]\n";
  r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: t.toml:5: training.seq_len: must be one integer, got an array ([128])\n");
  std::ofstream(P("t.toml")) << "[[parallelism]]\ntensor_parallel_degree = 2\n";
  r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: t.toml:1: [[parallelism]] is an array of tables; torchtitan's [parallelism] is "
                   "one table\n");
  // The elements of an array of tables repeat their keys; that is not a key given twice.
  std::ofstream(P("t.toml")) << "[parallelism]\ntensor_parallel_degree = 2\n[training]\nlocal_batch_size = 2\n"
                                "seq_len = 128\n[[x]]\nname = \"a\"\n[[x]]\nname = \"b\"\n";
  r = Run(sim + "--from-torchtitan t.toml");
  EXPECT_EQ(r.rc, 0) << r.err;
  std::ofstream(P("m.txt")) << "--bf16\n--tensor-model-parallel-size 2\n--micro-batch-size 1\n"
                               "--tensor-model-parallel-size=2\n";
  r = Run(sim + "--from-megatron m.txt");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: m.txt:4: --tensor-model-parallel-size: given twice, at lines 2 and 4: each "
                   "flag may appear once\n");
}

// A launch file is a few hundred lines: 60 MB of distinct flags took 1.8 GB and printed a 68 MB
// note; now the reader stops at a bound that names the file.
TEST_F(Robust, LaunchFilesAreBounded) {
  {
    std::ofstream m(P("m.txt"));
    m << "--bf16\n--micro-batch-size 1\n";
    for (int i = 0; i < 5000; ++i) m << "--unread-flag-" << i << "\n";
  }
  const Result r = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                       "--analytical --from-megatron m.txt");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: m.txt:4097: more than 4096 flags: not a Megatron-LM arguments file\n");
  EXPECT_EQ(r.out, "");
  // TOML: bounded before CLI11's reader makes an item of every line (7M lines took 2.6 GB), and
  // each key's line is found in one pass (1500 keys after a 60 MB comment line took 51 s).
  {
    std::ofstream t(P("t.toml"));
    t << "[parallelism]\ntensor_parallel_degree = 2\n";
    for (int i = 0; i < 2100; ++i) t << "[t" << i << "]\nkey = 1\n";
  }
  const Result t = Run("simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                       "--analytical --from-torchtitan t.toml");
  EXPECT_EQ(t.rc, 2);
  EXPECT_EQ(t.err, "meshplan: error: t.toml:4097: more than 4096 keys and tables: not a torchtitan job config\n");
}

// A published value that is finite but absurd (1e308 s) scored an infinite error and ended in
// "is not a finite number (internal error)" naming the report; the record is skipped by name.
TEST_F(Robust, ReferenceValuesOutOfRangeAreSkippedNamingTheField) {
  std::string ref = Slurp(std::string(MESHPLAN_DATA_DIR) + "/reference/dgxc-h100.json");
  ref.replace(ref.find("\"step_time_s\": 12.27,"), 21, "\"step_time_s\": 1e308,");
  std::ofstream(P("ref.json")) << ref;
  const Result r = Run("accuracy --reference ref.json --json out.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("skipped  measured.step_time_s: 1e+308 is outside [1e-12, 1e+12]"), std::string::npos)
      << r.out.substr(0, 2000);
  EXPECT_EQ(r.out.find("inf"), std::string::npos);
  EXPECT_TRUE(fs::exists(P("out.json")));
}

// A write error names the flag as the pre-flight checks do (--out, --output), not its short form -o.
TEST_F(Robust, WriteErrorsNameTheLongFlag) {
  const std::string log = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/a100-2x8-all_reduce-awsome-p4de.txt";
  const Result r = Run("calibrate --cluster dgx-a100-80g --nccl-tests " + log + " -o /dev/full");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "meshplan: error: --out: cannot write '/dev/full': No space left on device\n");
}

// CLI11's TOML reader unquotes "2" and takes a bare word; a TOML reader (torchtitan's tomllib)
// gives the string "2" to an integer setting, the string "false" to a boolean one, and refuses
// the bare word. meshplan predicted such files as if they were what the user meant.
TEST_F(Robust, LaunchFileValuesHaveTheirTomlKind) {
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                          "--analytical --from-torchtitan t.toml";
  struct Case {
    std::string toml, message;
  };
  for (const Case& c : std::vector<Case>{
           {"[parallelism]\ntensor_parallel_degree = \"2\"\n",
            "t.toml:2: parallelism.tensor_parallel_degree: must be a TOML integer, got the string \"2\""},
           {"[parallelism]\ntensor_parallel_degree = 2\nfsdp_reshard_after_forward = always\n",
            "t.toml:3: parallelism.fsdp_reshard_after_forward: must be a TOML string in quotes, got 'always' "
            "(not valid TOML)"},
           {"[parallelism]\ntensor_parallel_degree = 2\n[training]\nenable_cpu_offload = \"false\"\n",
            "t.toml:4: training.enable_cpu_offload: must be a TOML boolean (true or false, no quotes), got the "
            "string \"false\""},
       }) {
    std::ofstream(P("t.toml")) << c.toml;
    const Result r = Run(sim);
    EXPECT_EQ(r.rc, 2) << c.toml;
    EXPECT_EQ(r.err, "meshplan: error: " + c.message + "\n");
  }
}

// [ parallelism ] and ["parallelism"] are TOML's [parallelism]; CLI11's reader kept the spaces
// and quotes, so the table was ignored (tp=1 planned) or its keys listed as "not modelled".
TEST_F(Robust, LaunchFileTablesAreNamedAsTomlReadsThem) {
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                          "--analytical --from-torchtitan t.toml";
  for (const std::string header : {"[ parallelism ]", "[\"parallelism\"]"}) {
    std::ofstream(P("t.toml")) << header << "\ntensor_parallel_degree = 2\n[training]\nlocal_batch_size = 2\n"
                               << "seq_len = 128\n";
    const Result r = Run(sim);
    EXPECT_EQ(r.rc, 0) << header << ": " << r.err;
    EXPECT_NE(r.out.find("layout   tp=2,sp=on,fsdp=2,"), std::string::npos) << header << ": " << r.out;
  }
}

// clusters --template reads meshplan's own template and writes a copy: written over the template
// itself (through any link), the shipped file was replaced.
TEST_F(Robust, ClusterTemplateIsNotWrittenOverItself) {
  fs::create_directories(dir_ / "data" / "templates");
  fs::copy_file(std::string(MESHPLAN_DATA_DIR) + "/templates/cluster.json",
                dir_ / "data" / "templates" / "cluster.json");
  fs::create_symlink("data/templates/cluster.json", dir_ / "link.json");
  const Result r = meshplan::cli_harness::RunShell(
      "cd '" + dir_.string() + "' && MESHPLAN_DATA='" + (dir_ / "data").string() + "' " + std::string(MESHPLAN_BIN) +
          " clusters --template link.json",
      dir_ / "stdout.txt", dir_ / "stderr.txt");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --template: 'link.json' is meshplan's own template (" +
                       (dir_ / "data" / "templates" / "cluster.json").string() + "): refusing to overwrite an input\n");
  EXPECT_EQ(r.out, "");
}

// A built-in name is read from the data directory: --json naming that file (here through the
// data directory's own path) replaced the built-in model with a report, exit 0, and every later
// command using tiny-llama failed.
TEST_F(Robust, OutputOverABuiltInInputIsRefused) {
  fs::create_directories(dir_ / "data" / "models");
  const fs::path model = dir_ / "data" / "models" / "tiny-llama.json";
  fs::copy_file(std::string(MESHPLAN_DATA_DIR) + "/models/tiny-llama.json", model);
  const std::string before = Slurp(model);
  const Result r = meshplan::cli_harness::RunShell(
      "cd '" + dir_.string() + "' && MESHPLAN_DATA='" + (dir_ / "data").string() + "' " + std::string(MESHPLAN_BIN) +
          " inspect --model tiny-llama --json data/models/tiny-llama.json",
      dir_ / "stdout.txt", dir_ / "stderr.txt");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: 'data/models/tiny-llama.json' is the built-in file --model tiny-llama "
                   "reads (" + model.string() + "): refusing to overwrite an input\n");
  EXPECT_EQ(Slurp(model), before);
}

// Errors about a layout read from a launch file name the file's own flag or key: they named
// meshplan's layout keys ("m.txt: sp: ...", "m.txt: pp_first_layers: ...") or --global-batch,
// which the user did not give, for the batch the file implies.
TEST_F(Robust, LaunchFileErrorsNameTheFilesOwnKeys) {
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 "
                          "--analytical ";
  struct Case {
    std::string file, text, message;
  };
  for (const Case& c : std::vector<Case>{
           {"m.txt", "--bf16\n--global-batch-size 4\n--micro-batch-size 1\n--sequence-parallel\n",
            "m.txt:4: --sequence-parallel: sequence parallelism needs tp > 1"},
           {"m.txt", "--bf16\n--global-batch-size 4\n--micro-batch-size 1\n--pipeline-model-parallel-size 2\n"
                     "--decoder-first-pipeline-num-layers 1073741824\n",
            "m.txt:5: --decoder-first-pipeline-num-layers: must be at most 16777216, got '1073741824'"},
           {"m.txt", "--bf16\n--micro-batch-size 1073741824\n",
            "m.txt:2: --micro-batch-size: 1073741824 x data-parallel degree 4 (Megatron-LM's default "
            "--global-batch-size) is more than the largest global batch, 1073741824"},
           {"t.toml", "[training]\nlocal_batch_size = 1073741824\n",
            "t.toml:2: training.local_batch_size: 1073741824 x data-parallel degree 4 (global_batch_size -1) is "
            "more than the largest global batch, 1073741824"},
       }) {
    std::ofstream(P(c.file)) << c.text;
    const Result r = Run(sim + (c.file == "t.toml" ? "--from-torchtitan " : "--from-megatron ") + c.file);
    EXPECT_EQ(r.rc, 2) << c.text;
    EXPECT_EQ(r.err, "meshplan: error: " + c.message + "\n");
  }
}

// Shipped data read without a flag (a cluster's calibration profile, the accuracy bands) is an
// input of every command that prices a cluster: only calibrate and accuracy write there.
TEST_F(Robust, OutputOverShippedDataReadWithoutAFlagIsRefused) {
  fs::create_directories(dir_ / "data");
  for (const char* d : {"models", "clusters", "calibration", "accuracy", "frameworks", "templates"}) {
    fs::copy(std::string(MESHPLAN_DATA_DIR) + "/" + d, dir_ / "data" / d, fs::copy_options::recursive);
  }
  const fs::path profile = dir_ / "data" / "calibration" / "dgx-h100.json";
  const fs::path bands = dir_ / "data" / "accuracy" / "error_bands.json";
  const std::string before = Slurp(profile), bands_before = Slurp(bands);
  auto run = [&](const std::string& args) {
    return meshplan::cli_harness::RunShell("cd '" + dir_.string() + "' && MESHPLAN_DATA='" + (dir_ / "data").string() +
                                               "' " + std::string(MESHPLAN_BIN) + " " + args,
                                           dir_ / "stdout.txt", dir_ / "stderr.txt");
  };
  Result r = run("simulate --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 2048 --layout tp=8,sp=on "
                 "--json data/calibration/dgx-h100.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: 'data/calibration/dgx-h100.json' is the shipped calibration profile " +
                       profile.string() + ", read by every command that prices its cluster: refusing to overwrite "
                       "an input (calibrate -o regenerates it)\n");
  r = run("plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq 2048 --json "
          "data/accuracy/error_bands.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: 'data/accuracy/error_bands.json' is the accuracy bands file " +
                       bands.string() + " that plan reads: refusing to overwrite an input (accuracy --error-bands "
                       "regenerates it)\n");
  EXPECT_EQ(Slurp(profile), before);
  EXPECT_EQ(Slurp(bands), bands_before);
}

// Files read without a flag of their own: a log's sidecar (X.meta.json beside X) and the data
// directory's models, clusters, frameworks, reference files and calibration inputs. An accuracy
// or calibrate report written over one of them replaced it, exit 0, and the next run failed on it.
TEST_F(Robust, OutputOverASidecarOrTheDataDirectorysInputsIsRefused) {
  fs::create_directories(dir_ / "data");
  for (const char* d : {"models", "clusters", "calibration", "accuracy", "frameworks", "reference", "templates"}) {
    fs::copy(std::string(MESHPLAN_DATA_DIR) + "/" + d, dir_ / "data" / d, fs::copy_options::recursive);
  }
  const std::string log = std::string(MESHPLAN_DATA_DIR) + "/nccl-tests/h100-1x8-all_reduce-xxrjun.txt";
  fs::copy_file(log, P("x.txt"));
  fs::copy_file(log + ".meta.json", P("x.txt.meta.json"));
  const std::string sidecar = Slurp(P("x.txt.meta.json"));
  auto run = [&](const std::string& args) {
    return meshplan::cli_harness::RunShell("cd '" + dir_.string() + "' && MESHPLAN_DATA='" + (dir_ / "data").string() +
                                               "' " + std::string(MESHPLAN_BIN) + " " + args,
                                           dir_ / "stdout.txt", dir_ / "stderr.txt");
  };
  Result r = run("accuracy --cluster dgx-h100 --nccl-tests x.txt --json x.txt.meta.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --json: 'x.txt.meta.json' is the sidecar of a log given to --nccl-tests: "
                   "refusing to overwrite an input\n");
  r = run("calibrate --cluster dgx-h100 --nccl-tests x.txt -o x.txt.meta.json");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(Slurp(P("x.txt.meta.json")), sidecar);
  for (const std::string f : {"reference/mapping.json", "clusters/dgx-h100.json", "frameworks/nemo.json",
                              "calibration/inputs/shipped.json", "models/tiny-llama.json"}) {
    const fs::path file = dir_ / "data" / f;
    const std::string before = Slurp(file);
    r = run("accuracy --reference data/reference/dgxc-h100.json --json data/" + f);
    EXPECT_EQ(r.rc, 2) << f;
    const std::string folder = f.substr(0, f.rfind('/') + 1);
    EXPECT_EQ(r.err, "meshplan: error: --json: 'data/" + f + "' is a file of the data directory's " + folder +
                         ", which meshplan reads: refusing to overwrite an input\n");
    EXPECT_EQ(Slurp(file), before) << f;
  }
  // Elsewhere the report is written.
  r = run("accuracy --reference data/reference/dgxc-h100.json --json out.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(P("out.json")));
}

// calibrate --name went into the profile unchecked: a newline or a 300-byte name was written
// (exit 0), and every command given that profile refused it as a name.
TEST_F(Robust, CalibrateNameIsCheckedAsTheProfileReadersCheckIt) {
  const std::string cal = "calibrate --cluster dgx-h100 --nccl-tests " + std::string(MESHPLAN_DATA_DIR) +
                          "/nccl-tests/h100-1x8-all_reduce-xxrjun.txt -o c.json --name ";
  Result r = Run(cal + "\"$(printf 'a\\nb')\"");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --name: must not contain a control character (0x0a)\n");
  r = Run(cal + std::string(300, 'n'));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --name: is 300 bytes long; a name has at most 128\n");
  EXPECT_FALSE(fs::exists(P("c.json")));
}

// A reference record's id, kind or source is printed in accuracy's table: a newline in one broke
// the table's lines, a 3,000-character id filled the terminal. Escaped and clipped, as messages.
TEST_F(Robust, ReferenceTextIsPrintedOnOneLine) {
  std::string ref = Slurp(std::string(MESHPLAN_DATA_DIR) + "/reference/published.json");
  const std::string id = "\"id\": \"korthikanti22-22B-present\"";
  ASSERT_NE(ref.find(id), std::string::npos);
  ref.replace(ref.find(id), id.size(), "\"id\": \"x\\ny" + std::string(3000, 'q') + "\"");
  std::ofstream(P("ref.json")) << ref;
  const Result r = Run("accuracy --reference ref.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\nx\\nyqqq"), std::string::npos) << r.out.substr(0, 500);
  EXPECT_NE(r.out.find("...(3003 bytes)..."), std::string::npos);
  EXPECT_EQ(r.out.find("\ny" + std::string(100, 'q')), std::string::npos);
}

// torchtitan TOML read back as tomllib reads it: pipeline_parallel_layers_per_stage = [1] was
// read as 1 (vpp 20), and "compile = " with no value as false.
TEST_F(Robust, TorchtitanListsAndMissingValuesAreRefusedByKey) {
  const std::string sim = "simulate --model llama3-70b --cluster dgx-h100 --gpus 512 --analytical --from-torchtitan ";
  ASSERT_EQ(Run("simulate --model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 512 --seq 8192 "
                "--layout tp=8,sp=on,pp=4,vpp=2,fsdp=16,zero=2 --emit-torchtitan t.toml").rc, 0);
  const std::string toml = Slurp(P("t.toml"));
  std::ofstream(P("ta.toml")) << std::regex_replace(toml, std::regex("pipeline_parallel_layers_per_stage = [0-9]+"),
                                                      "pipeline_parallel_layers_per_stage = [1]");
  Result r = Run(sim + "ta.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(": parallelism.pipeline_parallel_layers_per_stage: must be one integer, got an array ([1])"),
            std::string::npos)
      << r.err;
  std::ofstream(P("tc.toml")) << std::regex_replace(toml, std::regex("\ncompile = [a-z]+"), "\ncompile = ");
  r = Run(sim + "tc.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(": training.compile: has no value (not valid TOML)"), std::string::npos) << r.err;
  EXPECT_EQ(Run(sim + "t.toml").rc, 0);
}

// A record's id is its name in every message: given as an object it was skipped with a blank
// name; given twice, both records counted. Each is an error naming the file and the record.
TEST_F(Robust, ReferenceIdsMustBeTextAndGivenOnce) {
  const std::string ref = Slurp(std::string(MESHPLAN_DATA_DIR) + "/reference/published.json");
  const std::string id = "\"id\": \"korthikanti22-22B-present\"";
  ASSERT_NE(ref.find(id), std::string::npos);
  std::string bad = ref;
  bad.replace(bad.find(id), id.size(), "\"id\": {}");
  std::ofstream(P("obj.json")) << bad;
  Result r = Run("accuracy --reference obj.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("obj.json: records[0]: id: expected text, got {}"), std::string::npos) << r.err;
  bad = ref;
  const std::string other = "\"id\": \"korthikanti22-22B-fullrecompute\"";
  ASSERT_NE(bad.find(other), std::string::npos);
  bad.replace(bad.find(other), other.size(), id);
  std::ofstream(P("twice.json")) << bad;
  r = Run("accuracy --reference twice.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("(korthikanti22-22B-present): id given twice (records[0] has it): one record per measurement"),
            std::string::npos)
      << r.err;
}

// A finite but absurd message size (1e308 bytes) priced an infinite time: accuracy printed inf and
// ended in an internal error (exit 1). It is skipped by name, as the measured values are.
TEST_F(Robust, ReferenceMessageSizesOutOfRangeAreSkippedNamingTheField) {
  std::string ref = Slurp(std::string(MESHPLAN_DATA_DIR) + "/reference/published.json");
  const std::string was = "\"message_bytes\": 32768,";
  ASSERT_NE(ref.find(was), std::string::npos);
  ref.replace(ref.find(was), was.size(), "\"message_bytes\": 1e308,");
  std::ofstream(P("ref.json")) << ref;
  const Result r = Run("accuracy --reference ref.json --json out.json");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("skipped  measured.message_bytes: 1e+308 is not a whole number of bytes in [1, 2^50]"),
            std::string::npos)
      << r.out.substr(0, 3000);
  EXPECT_EQ(r.out.find("inf"), std::string::npos);
}

// An FP8 peak (or FP8 GEMM fraction) of 1e-300 priced a step of 10^62 ms, or ended in an internal
// error: like the BF16 figures, either 0 (none) or at least 0.001.
TEST_F(Robust, TinyFp8FiguresAreRefusedNamingTheField) {
  const std::string cluster = Slurp(std::string(MESHPLAN_DATA_DIR) + "/clusters/dgx-h100.json");
  const std::string sim = "simulate --model llama2-7b --gpus 64 --global-batch 64 --seq 4096 --layout tp=8,sp=on "
                          "--precision fp8 --cluster ";
  std::ofstream(P("c1.json")) << std::regex_replace(cluster, std::regex(R"("fp8": [0-9.e+-]+)"), R"("fp8": 1e-300)");
  Result r = Run(sim + "c1.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("c1.json: gpu.peak_tflops.fp8: must be 0 (no FP8 tensor cores) or at least 0.001 TFLOPS"),
            std::string::npos)
      << r.err;
  std::ofstream(P("c2.json")) << std::regex_replace(cluster, std::regex(R"("gemm_fp8_peak_fraction": [0-9.e+-]+)"),
                                                     R"("gemm_fp8_peak_fraction": 1e-300)");
  r = Run(sim + "c2.json");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("c2.json: efficiency.gemm_fp8_peak_fraction: must be 0 (not measured) or at least 0.001"),
            std::string::npos)
      << r.err;
}

// A 5,000-character value is echoed clipped, its length said (it filled the terminal), and a
// name past the file system's limits is no built-in (it was an internal error, exit 1).
TEST_F(Robust, LongValuesAreClippedInErrorsAndLongNamesAreNoBuiltIn) {
  const std::string big(5000, 'q');
  const std::string sim = "simulate --model tiny-llama --cluster cpu-local --gpus 4 --global-batch 4 --seq 128 ";
  Result r = Run(sim + "--layout tp=2," + big);
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err, "meshplan: error: --layout: expected key=value, got '" + std::string(59, 'q') +
                       "...(5002 bytes)..." + std::string(59, 'q') + "'\n");
  for (const std::string flag : {"--model", "--cluster", "--framework", "--calibration"}) {
    const std::string args = flag == "--model"     ? "simulate --model " + big + " --cluster cpu-local"
                             : flag == "--cluster" ? "simulate --model tiny-llama --cluster " + big
                                                   : "simulate --model tiny-llama --cluster cpu-local " + flag + " " + big;
    r = Run(args + " --gpus 4 --global-batch 4 --seq 128 --layout tp=2,fsdp=2");
    EXPECT_EQ(r.rc, 2) << flag << ": " << r.err;
    EXPECT_EQ(r.err.rfind("meshplan: error: " + flag + ": no built-in ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("...(5002 bytes)..."), std::string::npos) << r.err;  // the quotes count
    EXPECT_LT(r.err.size(), 700u) << flag;
  }
}

}  // namespace
