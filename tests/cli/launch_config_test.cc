// tools/launch_config: the torchtitan TOML and Megatron-LM arguments meshplan writes (pinned byte
// for byte in tests/data/launch/), every layout a framework cannot run refused by name, and the
// files read back into the layout they were written for. MESHPLAN_UPDATE_GOLDEN=1 rewrites the
// pinned files.
#include "tools/launch_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "costmodel/error.h"
#include "costmodel/spec_io.h"
#include "costmodel/zoo.h"
#include "plans/framework.h"
#include "plans/search.h"

namespace meshplan::tools {
namespace {
using costmodel::Layout;

struct Target {
  costmodel::Model model;
  costmodel::Cluster cluster;
  costmodel::Workload workload;
  LaunchTarget launch() const { return {model, cluster, workload}; }
};

Target Make(const std::string& model, int64_t gpus, int64_t global_batch, int64_t seq) {
  Target t;
  t.model = costmodel::ResolveModel(model);
  t.cluster = costmodel::ResolveCluster("dgx-h100", "--cluster");
  t.workload.gpus = gpus;
  t.workload.global_batch = global_batch;
  t.workload.seq = seq;
  return t;
}

Layout L(const std::string& text, const Target& t) {
  Layout l = costmodel::ParseLayoutText(text, "test");
  costmodel::ResolveLayout(l, t.workload, "test");
  return l;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Compares `text` with tests/data/launch/`name` (or rewrites it under MESHPLAN_UPDATE_GOLDEN).
void ExpectPinned(const std::string& text, const std::string& name) {
  const std::string path = std::string(MESHPLAN_TEST_DATA) + "/launch/" + name;
  const char* update = std::getenv("MESHPLAN_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") std::ofstream(path, std::ios::binary) << text;
  EXPECT_EQ(text, Slurp(path)) << name;
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The example of generate_llm_fqn_per_model_part's docstring (torchtitan/distributed/
// pipeline_parallel.py: 2 stages, 3 layers, weights 2 and 2) and torchtitan's default weights of 1.
TEST(TorchtitanStageLayers, ReproducesTorchtitansSplit) {
  EXPECT_EQ(TorchtitanStageLayers(2, 3, 2, 2, "x"), (std::vector<int64_t>{2, 1}));
  // 32 layers + 1 + 1 = 34 over 4 stages: 9, 9, 8, 8 effective; first and last give one up.
  EXPECT_EQ(TorchtitanStageLayers(4, 32, 1, 1, "x"), (std::vector<int64_t>{8, 9, 8, 7}));
  EXPECT_EQ(TorchtitanStageLayers(8, 32, 0, 0, "x"), (std::vector<int64_t>(8, 4)));
  EXPECT_EQ(ErrorOf([] { TorchtitanStageLayers(40, 32, 1, 1, "x"); }),
            "x: number of stages (40) cannot be greater than effective layers (34)");
}

TEST(LaunchConfig, TorchtitanTomlIsPinned) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  ExpectPinned(TorchtitanToml(t.launch(),
                              L("tp=2,sp=on,fsdp=8,replicate=2,zero=3,mbs=1,recompute=full,recipe=fsdp2,pp=2,vpp=2,"
                                "schedule=interleaved",
                                t),
                              "--emit-torchtitan", "t.toml"),
               "llama3_8b_tp2_hsdp_pp2_vpp2.toml");
  ExpectPinned(TorchtitanToml(t.launch(), L("tp=1,fsdp=64,zero=3,mbs=2,recompute=none,recipe=fsdp2", t),
                              "--emit-torchtitan", "t.toml"),
               "llama3_8b_fsdp64.toml");
  // An uneven split: 32 layers as 6 + 9 + 9 + 8 (first_less 3, last_less 1).
  ExpectPinned(TorchtitanToml(t.launch(),
                              L("tp=2,sp=on,fsdp=8,zero=2,mbs=1,recompute=none,recipe=fsdp2,pp=4,pp_first_layers=6,"
                                "pp_last_layers=8",
                                t),
                              "--emit-torchtitan", "t.toml"),
               "llama3_8b_pp4_uneven.toml");
}

TEST(LaunchConfig, MegatronArgsArePinned) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  ExpectPinned(MegatronArgs(t.launch(),
                            L("tp=4,sp=on,fsdp=8,zero=1,mbs=1,recompute=selective,recipe=megatron,pp=2,vpp=4,"
                              "schedule=interleaved",
                              t),
                            "--emit-megatron", "m.txt"),
               "llama3_8b_tp4_distopt_pp2_vpp4.txt");
  ExpectPinned(MegatronArgs(t.launch(),
                            L("tp=8,sp=off,fsdp=1,replicate=4,zero=1,mbs=2,recompute=full,recipe=megatron,pp=2,"
                              "pp_first_layers=15",
                              t),
                            "--emit-megatron", "m.txt"),
               "llama3_8b_tp8_ddp_pp2_uneven.txt");
}

// Written, read back: the same layout, batch and sequence.
TEST(LaunchConfig, RoundTripsTheLayout) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  const char* titan[] = {
      "tp=2,sp=on,fsdp=8,replicate=2,zero=2,mbs=1,recompute=full,recipe=fsdp2,pp=2,vpp=2,schedule=interleaved",
      "tp=1,sp=off,fsdp=64,replicate=1,zero=3,mbs=2,recompute=none,recipe=fsdp2",
      "tp=1,sp=off,fsdp=32,replicate=2,zero=2,mbs=1,recompute=none,recipe=fsdp2",
      "tp=2,sp=on,fsdp=8,replicate=1,zero=2,mbs=1,recompute=none,recipe=fsdp2,pp=4,schedule=1f1b,pp_first_layers=6,"
      "pp_last_layers=8",
      "tp=8,sp=on,fsdp=1,replicate=1,zero=1,mbs=1,recompute=full,recipe=fsdp2,pp=8,vpp=4,schedule=interleaved",
  };
  for (const char* text : titan) {
    const Layout l = L(text, t);
    const ImportedLaunch in =
        ParseTorchtitanToml(TorchtitanToml(t.launch(), l, "--emit-torchtitan", "t.toml"), "t.toml", t.model, 64);
    EXPECT_EQ(costmodel::LayoutToText(in.layout), costmodel::LayoutToText(l)) << text;
    EXPECT_EQ(in.global_batch, 128) << text;
    EXPECT_EQ(in.seq, 8192) << text;
    EXPECT_TRUE(in.notes.empty()) << text;
  }
  const char* megatron[] = {
      "tp=4,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=selective,recipe=megatron,pp=2,vpp=4,schedule=interleaved",
      "tp=8,sp=off,fsdp=1,replicate=4,zero=1,mbs=2,recompute=full,recipe=megatron,pp=2,schedule=1f1b,"
      "pp_first_layers=15,pp_last_layers=17",
      "tp=1,sp=off,fsdp=64,replicate=1,zero=1,mbs=1,recompute=none,recipe=megatron",
      "tp=8,sp=on,fsdp=1,replicate=1,zero=1,mbs=1,recompute=none,recipe=megatron,pp=8,schedule=1f1b",
  };
  for (const char* text : megatron) {
    const Layout l = L(text, t);
    const ImportedLaunch in =
        ParseMegatronArgs(MegatronArgs(t.launch(), l, "--emit-megatron", "m.txt"), "m.txt", t.model, 64);
    EXPECT_EQ(costmodel::LayoutToText(in.layout), costmodel::LayoutToText(l)) << text;
    EXPECT_EQ(in.global_batch, 128) << text;
    EXPECT_EQ(in.seq, 8192) << text;
    EXPECT_TRUE(in.notes.empty()) << text;
  }
}

// The split `plan` recommends for Llama 3 405B (126 layers) on 16,384 H100: pp 8 x vpp 8 with the
// first and last stage one layer short, their embedding and loss each in a layer slot (15 + 1 = 16 =
// 8 chunks of 2). Megatron-LM runs it as --account-for-embedding-in-pipeline-split and
// --account-for-loss-in-pipeline-split with 8 virtual stages per rank ((126 + 2) / 8 = 16 slots per
// stage, transformer_block.py get_num_layers_to_build); torchtitan as 64 virtual stages of 2 layers,
// the first and the last one short (its default less_layers of 1). Both read back to the layout.
TEST(LaunchConfig, InterleavedSplitWithEmbeddingAndLossSlotsRoundTrips) {
  const Target t = Make("llama3-405b", 16384, 2048, 8192);
  const Layout l = L("tp=8,sp=on,fsdp=128,replicate=1,zero=1,mbs=1,recompute=none,recipe=megatron,pp=8,vpp=8,"
                     "schedule=interleaved,pp_first_layers=15,pp_last_layers=15,cp=2,cp_comm=p2p", t);
  const std::string args = MegatronArgs(t.launch(), l, "--emit-megatron", "m.txt");
  EXPECT_NE(args.find("--pipeline-model-parallel-size 8\n--num-virtual-stages-per-pipeline-rank 8\n"
                      "--account-for-embedding-in-pipeline-split\n--account-for-loss-in-pipeline-split\n"),
            std::string::npos)
      << args;
  EXPECT_EQ(args.find("--decoder-first-pipeline-num-layers"), std::string::npos);
  EXPECT_EQ(args.find("--num-layers-per-virtual-pipeline-stage"), std::string::npos);
  EXPECT_EQ(ParseMegatronArgs(args, "m.txt", t.model, 16384).layout, l);

  Layout titan_l = l;
  titan_l.recipe = costmodel::Recipe::kFsdp2;
  titan_l.zero = 2;
  const std::string toml = TorchtitanToml(t.launch(), titan_l, "--emit-torchtitan", "t.toml");
  EXPECT_NE(toml.find("pipeline_parallel_layers_per_stage = 2\npipeline_parallel_first_stage_less_layers = 1\n"
                      "pipeline_parallel_last_stage_less_layers = 1\n"),
            std::string::npos)
      << toml;
  EXPECT_EQ(costmodel::LayoutToText(ParseTorchtitanToml(toml, "t.toml", t.model, 16384).layout),
            costmodel::LayoutToText(titan_l));

  // Megatron-LM's own checks on these flags, by name.
  const std::string base = "--num-layers 126\n--hidden-size 16384\n--num-attention-heads 128\n"
                           "--tensor-model-parallel-size 8\n--sequence-parallel\n--micro-batch-size 1\n"
                           "--context-parallel-size 2\n--use-distributed-optimizer\n--overlap-grad-reduce\n"
                           "--overlap-param-gather\n--bf16\n";
  auto read = [&](const std::string& extra) {
    return ErrorOf([&] { ParseMegatronArgs(base + extra, "m.txt", t.model, 16384); });
  };
  EXPECT_EQ(read("--pipeline-model-parallel-size 8\n--account-for-embedding-in-pipeline-split\n"),
            "m.txt:13: --account-for-embedding-in-pipeline-split: 126 layers and 1 slot = 127 do not divide over 8 "
            "pipeline stages");
  EXPECT_EQ(read("--pipeline-model-parallel-size 8\n--account-for-embedding-in-pipeline-split\n"
                 "--account-for-loss-in-pipeline-split\n--decoder-first-pipeline-num-layers 15\n"),
            "m.txt:13: --account-for-embedding-in-pipeline-split: Megatron-LM does not combine it with "
            "--decoder-first/last-pipeline-num-layers");
  EXPECT_EQ(read("--pipeline-model-parallel-size 8\n--num-virtual-stages-per-pipeline-rank 8\n"
                 "--num-layers-per-virtual-pipeline-stage 2\n"),
            "m.txt:13: --num-virtual-stages-per-pipeline-rank: Megatron-LM takes either it or "
            "--num-layers-per-virtual-pipeline-stage");
  EXPECT_EQ(read("--pipeline-model-parallel-size 1\n--account-for-loss-in-pipeline-split\n"),
            "m.txt:13: --account-for-loss-in-pipeline-split: needs --pipeline-model-parallel-size > 1");
}

// An MoE plan's expert parallelism goes out and comes back: torchtitan's expert_parallel_degree
// with expert_tensor_parallel_degree = tp (meshplan prices ETP = TP; torchtitan's default is 1),
// Megatron-LM's --expert-model-parallel-size (its ETP defaults to the TP size).
TEST(LaunchConfig, ExpertParallelismRoundTrips) {
  const Target t = Make("mixtral-8x7b", 64, 512, 4096);
  for (const char* text : {"tp=2,sp=on,fsdp=32,replicate=1,zero=3,mbs=1,recompute=full,recipe=fsdp2,ep=8",
                           "tp=1,sp=off,fsdp=64,replicate=1,zero=2,mbs=1,recompute=none,recipe=fsdp2,ep=4"}) {
    const Layout l = L(text, t);
    const std::string toml = TorchtitanToml(t.launch(), l, "--emit-torchtitan", "t.toml");
    EXPECT_NE(toml.find("expert_parallel_degree = " + std::to_string(l.ep) + "\n"), std::string::npos) << toml;
    EXPECT_EQ(toml.find("expert_tensor_parallel_degree = 2\n") != std::string::npos, l.tp == 2) << toml;
    EXPECT_EQ(costmodel::LayoutToText(ParseTorchtitanToml(toml, "t.toml", t.model, 64).layout), text);
  }
  const Layout m = L("tp=2,sp=on,fsdp=32,replicate=1,zero=1,mbs=1,recompute=none,recipe=megatron,ep=8", t);
  const std::string args = MegatronArgs(t.launch(), m, "--emit-megatron", "m.txt");
  EXPECT_NE(args.find("--expert-model-parallel-size 8\n"), std::string::npos) << args;
  EXPECT_EQ(costmodel::LayoutToText(ParseMegatronArgs(args, "m.txt", t.model, 64).layout), costmodel::LayoutToText(m));
  // torchtitan's default ETP of 1 under TP is not what meshplan prices: refused by key.
  EXPECT_EQ(ErrorOf([&] {
              ParseTorchtitanToml("[parallelism]\ntensor_parallel_degree = 2\nexpert_parallel_degree = 8\n"
                                  "[training]\nlocal_batch_size = 1\nglobal_batch_size = 512\nseq_len = 4096\n",
                                  "t.toml", t.model, 64);
            }),
            "t.toml: parallelism.expert_tensor_parallel_degree: meshplan models expert tensor parallelism equal "
            "to tensor_parallel_degree (2), got 1");
}

// Checkpointing modes go out in each framework's own words and come back (issue 19 item 3):
// torchtitan's selective_ac_option "op" or N, Megatron-LM's block method; the other framework's
// mode is refused by name.
TEST(LaunchConfig, CheckpointingModesRoundTrip) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  for (const char* text : {"tp=1,sp=off,fsdp=64,replicate=1,zero=3,mbs=1,recompute=op,recipe=fsdp2",
                           "tp=1,sp=off,fsdp=64,replicate=1,zero=3,mbs=1,recompute=full,ac_freq=2,recipe=fsdp2"}) {
    const Layout l = L(text, t);
    const std::string toml = TorchtitanToml(t.launch(), l, "--emit-torchtitan", "t.toml");
    EXPECT_NE(toml.find("mode = \"selective\"\nselective_ac_option = \""), std::string::npos) << toml;
    EXPECT_EQ(costmodel::LayoutToText(ParseTorchtitanToml(toml, "t.toml", t.model, 64).layout), text);
  }
  const Layout m = L("tp=8,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=full,recompute_num_layers=4,recipe=megatron", t);
  const std::string args = MegatronArgs(t.launch(), m, "--emit-megatron", "m.txt");
  EXPECT_NE(args.find("--recompute-granularity full\n--recompute-method block\n--recompute-num-layers 4\n"),
            std::string::npos) << args;
  EXPECT_EQ(costmodel::LayoutToText(ParseMegatronArgs(args, "m.txt", t.model, 64).layout), costmodel::LayoutToText(m));
  // Megatron's selective modules: written as --recompute-modules and read back.
  const Layout mods =
      L("tp=8,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=selective,recompute_modules=core_attn+mlp,recipe=megatron", t);
  const std::string margs = MegatronArgs(t.launch(), mods, "--emit-megatron", "m.txt");
  EXPECT_NE(margs.find("--recompute-granularity selective\n--recompute-modules core_attn mlp\n"), std::string::npos)
      << margs;
  EXPECT_EQ(ParseMegatronArgs(margs, "m.txt", t.model, 64).layout, mods);
  // The default module list is Megatron's default: no flag written.
  const Layout core = L("tp=8,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=selective,recipe=megatron", t);
  EXPECT_EQ(MegatronArgs(t.launch(), core, "--emit-megatron", "m.txt").find("--recompute-modules"), std::string::npos);
  const std::string base = "--tensor-model-parallel-size 8\n--sequence-parallel\n--use-distributed-optimizer\n"
                           "--micro-batch-size 1\n--bf16\n";
  EXPECT_EQ(ErrorOf([&] { ParseMegatronArgs(base + "--recompute-modules mlp\n", "m.txt", t.model, 64); }),
            "m.txt:6: --recompute-modules: needs --recompute-granularity selective");
  EXPECT_EQ(ErrorOf([&] {
              ParseMegatronArgs(base + "--recompute-granularity selective\n--recompute-modules mla_up_proj\n", "m.txt",
                                t.model, 64);
            }),
            "m.txt:7: --recompute-modules: Megatron-LM's 'mla_up_proj' recompute is not modelled (modelled: core_attn, "
            "layernorm, mlp, moe_act, moe, shared_experts)");
  EXPECT_EQ(ErrorOf([&] { MegatronArgs(t.launch(), L("tp=1,fsdp=64,zero=1,recipe=megatron,recompute=op", t),
                                       "--emit-megatron", "m.txt"); }),
            "--emit-megatron: recompute=op: torchtitan's op-level checkpointing; Megatron-LM recomputes the "
            "attention core (recompute=selective) or whole layers (full, with recompute_num_layers for some)");
  EXPECT_EQ(ErrorOf([&] { TorchtitanToml(t.launch(), L("tp=1,fsdp=64,recompute=full,recompute_num_layers=2", t),
                                         "--emit-torchtitan", "t.toml"); }),
            "--emit-torchtitan: recompute_num_layers=2: Megatron-LM's block method; torchtitan checkpoints every "
            "n-th layer (ac_freq)");
}

/// Llama 3 8B on 64 GPUs, 128 x 8192 tokens, in FP8 with `recipe`, parameters gathered in FP8.
Target Fp8Target(costmodel::Fp8Recipe recipe) {
  Target t = Make("llama3-8b", 64, 128, 8192);
  t.workload.precision = costmodel::Precision::kFp8;
  t.workload.fp8_recipe = recipe;
  t.workload.fp8_param_gather = true;
  return t;
}

// FP8 through TransformerEngine: --fp8-format hybrid with the recipe (and --fp8-param-gather),
// read back into the workload's precision; torchtitan's float8 (torchao) is refused by name.
TEST(LaunchConfig, Fp8RecipesRoundTripThroughMegatronArgs) {
  const Target t = Fp8Target(costmodel::Fp8Recipe::kTeTensorwise);
  const Layout m = L("tp=8,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=none,recipe=megatron", t);
  const std::string args = MegatronArgs(t.launch(), m, "--emit-megatron", "m.txt");
  EXPECT_NE(args.find("--bf16\n--fp8-format hybrid\n--fp8-recipe tensorwise\n--fp8-param-gather\n"), std::string::npos)
      << args;
  const ImportedLaunch in = ParseMegatronArgs(args, "m.txt", t.model, 64);
  EXPECT_EQ(in.precision, costmodel::Precision::kFp8);
  EXPECT_EQ(in.fp8_recipe, costmodel::Fp8Recipe::kTeTensorwise);
  EXPECT_TRUE(in.fp8_param_gather);
  const std::string base = "--tensor-model-parallel-size 8\n--sequence-parallel\n--use-distributed-optimizer\n"
                           "--micro-batch-size 1\n--bf16\n";
  const ImportedLaunch plain = ParseMegatronArgs(base + "--fp8-format e4m3\n", "m.txt", t.model, 64);
  EXPECT_EQ(plain.fp8_recipe, costmodel::Fp8Recipe::kTeDelayed);  // Megatron's default recipe
  EXPECT_EQ(ErrorOf([&] { ParseMegatronArgs(base + "--fp8-format hybrid\n--fp8-recipe mxfp8\n", "m.txt", t.model, 64); }),
            "m.txt:7: --fp8-recipe: meshplan models delayed and tensorwise (current) scaling, got 'mxfp8': block "
            "scaling is not modelled");
  EXPECT_EQ(ErrorOf([&] { ParseMegatronArgs(base + "--fp8-recipe tensorwise\n", "m.txt", t.model, 64); }),
            "m.txt:6: --fp8-recipe: needs --fp8-format (without it Megatron-LM trains in bf16)");
  EXPECT_EQ(ErrorOf([&] {
              TorchtitanToml(t.launch(), L("tp=8,sp=on,fsdp=8,zero=3", t), "--emit-torchtitan", "t.toml");
            }),
            "--emit-torchtitan: --fp8-recipe te-tensorwise: TransformerEngine's FP8; torchtitan's float8 is torchao's "
            "Float8Linear (--fp8-recipe torchao-tensorwise, torchao-rowwise or torchao-rowwise-gw-hp)");
}

// Activation offload: Megatron-LM's --cpu-offloading --cpu-offloading-num-layers both ways;
// torchtitan has none.
TEST(LaunchConfig, ActivationOffloadRoundTripsThroughMegatronArgs) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  const Layout m = L("tp=8,sp=on,fsdp=8,replicate=1,zero=1,mbs=1,recompute=none,cpu_offload_layers=16,recipe=megatron", t);
  const std::string args = MegatronArgs(t.launch(), m, "--emit-megatron", "m.txt");
  EXPECT_NE(args.find("--cpu-offloading\n--cpu-offloading-num-layers 16\n"), std::string::npos) << args;
  EXPECT_EQ(ParseMegatronArgs(args, "m.txt", t.model, 64).layout, m);
  const std::string base = "--tensor-model-parallel-size 8\n--sequence-parallel\n--use-distributed-optimizer\n"
                           "--micro-batch-size 1\n--bf16\n";
  EXPECT_EQ(ErrorOf([&] { ParseMegatronArgs(base + "--cpu-offloading\n", "m.txt", t.model, 64); }),
            "m.txt:6: --cpu-offloading: needs --cpu-offloading-num-layers (Megatron-LM's default 0 offloads nothing)");
  EXPECT_EQ(ErrorOf([&] { ParseMegatronArgs(base + "--cpu-offloading-num-layers 4\n", "m.txt", t.model, 64); }),
            "m.txt:6: --cpu-offloading-num-layers: needs --cpu-offloading");
  EXPECT_EQ(ErrorOf([&] {
              TorchtitanToml(t.launch(), L("tp=8,sp=on,fsdp=8,zero=3,cpu_offload_layers=4", t), "--emit-torchtitan",
                             "t.toml");
            }),
            "--emit-torchtitan: cpu_offload_layers=4: torchtitan has no activation offload (training.enable_cpu_offload "
            "moves FSDP's parameters, gradients and optimizer states to the host)");
}

// Micro-batch-level recompute has no launch flag in either framework: refused with where it lives.
TEST(LaunchConfig, MicroBatchLevelRecomputeHasNoFlag) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  const Layout m = L("tp=8,sp=on,fsdp=2,zero=1,mbs=1,recompute=selective,partial_ckpt_mbs=2,recipe=megatron,pp=4", t);
  EXPECT_EQ(ErrorOf([&] { MegatronArgs(t.launch(), m, "--emit-megatron", "m.txt"); }),
            "--emit-megatron: partial_ckpt_mbs=2: Megatron-LM's arguments have no flag for TransformerConfig."
            "num_microbatches_with_partial_activation_checkpoints, and the schedules hand the per-micro-batch choice "
            "to forward_step_func, which pretrain_gpt's forward_step does not take; set it in your own training "
            "script (NeMo 1.x: model.num_micro_batches_with_partial_activation_checkpoints)");
  const Layout f = L("tp=8,sp=on,fsdp=2,zero=3,mbs=1,recompute=full,partial_ckpt_mbs=2,recipe=fsdp2,pp=4", t);
  EXPECT_EQ(ErrorOf([&] { TorchtitanToml(t.launch(), f, "--emit-torchtitan", "t.toml"); }),
            "--emit-torchtitan: partial_ckpt_mbs=2: torchtitan's pipeline schedules checkpoint every micro-batch "
            "alike (micro-batch-level recompute is Megatron-Core's num_microbatches_with_partial_activation_"
            "checkpoints)");
}

// torchtitan's float8: model.converters ["float8"] with [float8] recipe_name "tensorwise", the
// output head filtered out, FSDP's float8 all-gather as --fp8-param-gather; read back as FP8.
TEST(LaunchConfig, TorchaoFloat8RoundTripsThroughTheToml) {
  const Target t = Fp8Target(costmodel::Fp8Recipe::kTorchaoTensorwise);
  const Layout l = L("tp=1,sp=off,fsdp=64,replicate=1,zero=3,mbs=1,recompute=none,recipe=fsdp2", t);
  const std::string toml = TorchtitanToml(t.launch(), l, "--emit-torchtitan", "t.toml");
  EXPECT_NE(toml.find("[model]\nconverters = [\"float8\"]\n\n[float8]\nrecipe_name = \"tensorwise\"\n"
                      "filter_fqns = [\"output\"]\nenable_fsdp_float8_all_gather = true\n"),
            std::string::npos)
      << toml;
  const ImportedLaunch in = ParseTorchtitanToml(toml, "t.toml", t.model, 64);
  EXPECT_EQ(in.layout, l);
  EXPECT_EQ(in.precision, costmodel::Precision::kFp8);
  EXPECT_EQ(in.fp8_recipe, costmodel::Fp8Recipe::kTorchaoTensorwise);
  EXPECT_TRUE(in.fp8_param_gather);
  const std::string base = "[parallelism]\ndata_parallel_shard_degree = 64\n[training]\nlocal_batch_size = 1\n"
                           "seq_len = 8192\n[model]\nconverters = [\"float8\"]\n";
  EXPECT_EQ(ErrorOf([&] { ParseTorchtitanToml(base + "[float8]\nrecipe_name = \"mxfp8\"\nfilter_fqns = [\"output\"]\n",
                                              "t.toml", t.model, 64); }),
            "t.toml:9: float8.recipe_name: must be tensorwise, rowwise or rowwise_with_gw_hp (torchao's float8 "
            "recipes), got 'mxfp8'");
  // The rowwise recipes travel both ways; FSDP's float8 all-gather is tensorwise only (torchao
  // config.py asserts it), so a TOML asking for both is refused.
  for (const auto& [recipe, name] : {std::pair{costmodel::Fp8Recipe::kTorchaoRowwise, "rowwise"},
                                     std::pair{costmodel::Fp8Recipe::kTorchaoRowwiseGwHp, "rowwise_with_gw_hp"}}) {
    Target r = Fp8Target(recipe);
    r.workload.fp8_param_gather = false;
    const std::string rt = TorchtitanToml(r.launch(), l, "--emit-torchtitan", "t.toml");
    EXPECT_NE(rt.find(std::string("recipe_name = \"") + name + "\"\nfilter_fqns = [\"output\"]\n"
                      "enable_fsdp_float8_all_gather = false\n"),
              std::string::npos)
        << rt;
    const ImportedLaunch back = ParseTorchtitanToml(rt, "t.toml", r.model, 64);
    EXPECT_EQ(back.fp8_recipe, recipe);
    EXPECT_FALSE(back.fp8_param_gather);
  }
  EXPECT_EQ(ErrorOf([&] {
              ParseTorchtitanToml("[parallelism]\ndata_parallel_shard_degree = 64\n[training]\nlocal_batch_size = 1\n"
                                  "seq_len = 8192\ncompile = true\n[model]\nconverters = [\"float8\"]\n[float8]\n"
                                  "recipe_name = \"rowwise\"\nfilter_fqns = [\"output\"]\nenable_fsdp_float8_all_gather = true\n",
                                  "t.toml", t.model, 64);
            }),
            "t.toml:12: float8.enable_fsdp_float8_all_gather: true with recipe_name \"rowwise\": FSDP's float8 "
            "all-gather only supports tensorwise scaling");
  EXPECT_EQ(ErrorOf([&] { ParseTorchtitanToml(base + "compile = true\n", "t.toml", t.model, 64); }),
            "t.toml: float8.filter_fqns: must list \"output\": meshplan prices the output head in bf16");
  // torch.compile: read as fused elementwise ops; float8 without it is refused (its casts unfused).
  EXPECT_EQ(ErrorOf([&] { ParseTorchtitanToml(base + "[float8]\nfilter_fqns = [\"output\"]\n", "t.toml", t.model, 64); }),
            "t.toml: training.compile: torchtitan's float8 needs torch.compile (true): meshplan prices its casts fused");
  EXPECT_EQ(in.compiled, true);
  Target eager = Make("llama3-8b", 64, 128, 8192);
  eager.workload.eager_elementwise = true;
  const std::string plain = TorchtitanToml(eager.launch(), l, "--emit-torchtitan", "t.toml");
  EXPECT_NE(plain.find("\ncompile = false\n"), std::string::npos) << plain;
  EXPECT_EQ(ParseTorchtitanToml(plain, "t.toml", t.model, 64).compiled, false);
  EXPECT_EQ(ErrorOf([&] {
              ParseTorchtitanToml("[parallelism]\ndata_parallel_shard_degree = 64\n[model]\nconverters = [\"mx\"]\n",
                                  "t.toml", t.model, 64);
            }),
            "t.toml:4: model.converters: meshplan reads the float8 converter alone (torchao's Float8Linear); other "
            "converters (mx, ...) are not modelled");
}

TEST(LaunchConfig, LayoutsAFrameworkCannotRunAreRefusedByName) {
  const Target t = Make("llama3-8b", 64, 128, 8192);
  auto titan = [&](const std::string& layout) {
    return ErrorOf([&] { TorchtitanToml(t.launch(), L(layout, t), "--emit-torchtitan", "t.toml"); });
  };
  auto megatron = [&](const std::string& layout) {
    return ErrorOf([&] { MegatronArgs(t.launch(), L(layout, t), "--emit-megatron", "m.txt"); });
  };
  EXPECT_EQ(titan("tp=8,sp=on,fsdp=8,zero=3,recipe=megatron"),
            "--emit-torchtitan: recipe=megatron: torchtitan trains with FSDP2 (fp32 sharded parameters, bf16 "
            "compute); meshplan's megatron recipe (bf16 parameters, fp32 main gradients) is not what it runs");
  EXPECT_EQ(titan("tp=8,sp=off,fsdp=8,zero=3"),
            "--emit-torchtitan: sp=off: torchtitan's tensor parallelism always shards the sequence between blocks "
            "(sequence parallelism); it has no TP without SP");
  EXPECT_EQ(titan("tp=1,fsdp=64,zero=1"),
            "--emit-torchtitan: zero=1: FSDP2 has no optimizer-only sharding; torchtitan shards parameters and "
            "gradients (fsdp_reshard_after_forward chooses ZeRO-2 or ZeRO-3)");
  EXPECT_EQ(titan("tp=1,fsdp=64,zero=3,recompute=selective"),
            "--emit-torchtitan: recompute=selective: torchtitan's selective activation checkpointing (every n-th "
            "block, or a per-op policy that saves matmul outputs) is not Megatron-LM's module recompute meshplan "
            "costs as selective; use recompute=none, full, full with ac_freq, or op");
  EXPECT_EQ(titan("tp=1,fsdp=32,zero=3,pp=2,schedule=zb-h1"),
            "--emit-torchtitan: schedule=zb-h1: torchtitan's zero-bubble schedules (InterleavedZeroBubble, "
            "ZBVZeroBubble) run two or more stages per rank; meshplan's ZB-H1 runs one");
  EXPECT_EQ(titan("tp=8,sp=on,fsdp=1,replicate=8,zero=1"),
            "--emit-torchtitan: fsdp=1,replicate=8: torchtitan's DDP path (data_parallel_shard_degree = 1) does not "
            "combine with TP or PP ('DDP has not supported > 1D parallelism')");
  EXPECT_EQ(titan("tp=2,sp=on,fsdp=8,zero=2,pp=4,pp_first_layers=11"),
            "--emit-torchtitan: pp_first_layers=11: torchtitan can only take layers off the first stage "
            "(pipeline_parallel_first_stage_less_layers), not add them beyond the middle stages' 7");
  EXPECT_EQ(megatron("tp=4,sp=on,fsdp=16,zero=2,recipe=megatron"),
            "--emit-megatron: zero=2: Megatron-LM's distributed optimizer shards optimizer states only (ZeRO-1); "
            "gradients and parameters stay whole on every data-parallel rank");
  EXPECT_EQ(megatron("tp=4,sp=on,fsdp=16,zero=3,recipe=fsdp2"),
            "--emit-megatron: recipe=fsdp2: Megatron-LM keeps bf16 parameters with fp32 main gradients (meshplan's "
            "megatron recipe); the fsdp2 recipe's fp32 sharded parameters are torchtitan's");
  EXPECT_EQ(megatron("tp=4,sp=on,fsdp=8,replicate=2,zero=1,recipe=megatron"),
            "--emit-megatron: replicate=2: Megatron-LM's distributed optimizer shards over the whole data-parallel "
            "group (fsdp x replicate = 16 ranks), not over fsdp=8 alone");
  EXPECT_EQ(megatron("tp=4,sp=on,fsdp=8,zero=1,recipe=megatron,pp=2,schedule=zb-h1"),
            "--emit-megatron: schedule=zb-h1: Megatron-LM runs 1F1B and interleaved 1F1B; its arguments have no "
            "zero-bubble schedule");
  // meshplan counts a lighter first stage's embedding as a chunk slot (15 + 1 = 16 = 2 x 8); Megatron-LM
  // counts it only with the loss's slot too when both ends are given: (32 + 2) / 2 = 17 per stage, so
  // first 16 and last 16, not 15 and 17.
  EXPECT_EQ(megatron("tp=4,sp=on,fsdp=8,zero=1,recipe=megatron,pp=2,vpp=2,pp_first_layers=15,pp_last_layers=17"),
            "--emit-megatron: pp_first_layers=15: Megatron-LM interleaves an uneven split only as "
            "--account-for-embedding-in-pipeline-split / --account-for-loss-in-pipeline-split: (layers + embedding "
            "+ loss) / pp slots per stage, the first (last) stage one layer short for its embedding (loss); here "
            "first 15, last 17 of 32 layers over pp 2");
}

TEST(LaunchConfig, TorchtitanReadErrorsNameFileLineAndKey) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  auto read = [&](const std::string& toml) {
    return ErrorOf([&] { ParseTorchtitanToml(toml, "t.toml", m, 64); });
  };
  const std::string ac = "[activation_checkpoint]\nmode = \"none\"\n";
  EXPECT_EQ(read("[parallelism]\ntensor_parallel_degree = 2\nsome_new_degree = 2\n" + ac),
            "t.toml:3: parallelism.some_new_degree: unknown [parallelism] key: meshplan cannot tell how it changes "
            "the layout");
  EXPECT_EQ(read("[parallelism]\npipeline_parallel_degree = 2\npipeline_parallel_schedule = \"ZBVZeroBubble\"\n" + ac),
            "t.toml:3: parallelism.pipeline_parallel_schedule: 'ZBVZeroBubble' is not modelled (meshplan models 1F1B "
            "and Interleaved1F1B)");
  EXPECT_EQ(read("[parallelism]\ntensor_parallel_degree = 2\n[activation_checkpoint]\nmode = \"selective\"\n"
                 "selective_ac_option = \"every\"\n"),
            "t.toml:5: activation_checkpoint.selective_ac_option: must be \"op\" or a positive decimal integer "
            "(every n-th layer), got 'every'");
  EXPECT_EQ(read("[parallelism]\ndata_parallel_shard_degree = 16\ntensor_parallel_degree = 2\n" + ac),
            "t.toml: [parallelism] degrees multiply to 32, not --gpus 64");
  EXPECT_EQ(read("[parallelism]\ntensor_parallel_degree = two\n" + ac),
            "t.toml:2: parallelism.tensor_parallel_degree: must be a decimal integer, got 'two'");
  EXPECT_EQ(read("[parallelism]\npipeline_parallel_degree = 2\n[training]\nlocal_batch_size = 1\n"
                 "global_batch_size = 64\n" + ac),
            "t.toml:5: training.global_batch_size: 64 is 2 x local_batch_size x dp: with pipeline parallelism "
            "torchtitan then runs 2 pipeline steps per optimizer step, each with its own bubble; meshplan models one "
            "pipeline of all micro-batches (set local_batch_size = 2)");
  // torchtitan's defaults: first/last stage one layer short, 2 stages per rank for Interleaved1F1B.
  EXPECT_EQ(read("[parallelism]\npipeline_parallel_degree = 4\npipeline_parallel_schedule = \"Interleaved1F1B\"\n"
                 "[training]\nlocal_batch_size = 8\n" + ac),
            "t.toml: parallelism.pipeline_parallel_layers_per_stage: torchtitan's split gives virtual stages of 5 and "
            "4 layers; meshplan models interleaved stages of equal size (the first and the last may be one layer "
            "short)");
}

TEST(LaunchConfig, TorchtitanDefaultsAndIgnoredKeys) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  // 32 layers + 2 + 0 = 34 over 2 stages of 17: the first gives up 2 layers.
  const ImportedLaunch in = ParseTorchtitanToml(
      "[job]\ndump_folder = \"./out\"\n[optimizer]\nlr = 3e-4\n[parallelism]\npipeline_parallel_degree = 2\n"
      "pipeline_parallel_first_stage_less_layers = 2\npipeline_parallel_last_stage_less_layers = 0\n"
      "tensor_parallel_degree = 8\nenable_async_tensor_parallel = true\n[training]\nlocal_batch_size = 16\n"
      "steps = 100\n[activation_checkpoint]\nmode = \"full\"\n",
      "t.toml", m, 64);
  EXPECT_EQ(costmodel::LayoutToText(in.layout),
            "tp=8,sp=on,fsdp=4,replicate=1,zero=2,mbs=1,recompute=full,recipe=fsdp2,pp=2,schedule=1f1b,"
            "pp_first_layers=15,pp_last_layers=17");
  EXPECT_EQ(in.global_batch, 64);  // local x dp
  EXPECT_EQ(in.seq, 2048);         // torchtitan's default
  EXPECT_EQ(in.ignored, (std::vector<std::string>{"job.dump_folder", "optimizer.lr",
                                                  "parallelism.enable_async_tensor_parallel", "training.steps"}));
  EXPECT_EQ(in.notes, (std::vector<std::string>{"training.seq_len not set: torchtitan's default 2048",
                                                "training.compile not set: torchtitan's default false (eager "
                                                "elementwise ops)"}));
  EXPECT_EQ(in.compiled, false);
}

TEST(LaunchConfig, MegatronReadErrorsNameFileLineAndFlag) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  auto read = [&](const std::string& args) {
    return ErrorOf([&] { ParseMegatronArgs(args, "m.txt", m, 64); });
  };
  const std::string base = "--bf16 --micro-batch-size 1\n";
  EXPECT_EQ(read(base + "--tensor-model-parallel-size 8\n--expert-tensor-parallel-size 2\n"),
            "m.txt:3: --expert-tensor-parallel-size: meshplan models expert tensor parallelism equal to "
            "--tensor-model-parallel-size (8)");
  EXPECT_EQ(read(base + "--expert-model-parallel-size 4\n"),
            "m.txt:2: --expert-model-parallel-size: needs a mixture-of-experts model, got 4");
  EXPECT_EQ(read(base + "--dp-expert-degree 2\n"),
            "m.txt:2: --dp-expert-degree: not read by meshplan, and it may change the layout, batch or precision");
  EXPECT_EQ(read(base + "--num-layers 80 # wrong model\n"), "m.txt:2: --num-layers: 80 disagrees with --model llama3-8b (32)");
  EXPECT_EQ(read("--micro-batch-size 1\n"),
            "m.txt: --bf16: missing (without it Megatron-LM trains in fp32; meshplan costs bf16)");
  EXPECT_EQ(read(base + "--recompute-granularity full\n"),
            "m.txt:2: --recompute-granularity: full is modelled as every layer recomputed (--recompute-method "
            "uniform --recompute-num-layers 1) or as the first n layers of each stage (--recompute-method block "
            "--recompute-num-layers n)");
  EXPECT_EQ(read(base + "--tensor-model-parallel-size 8 --tensor-model-parallel-size 4\n"),
            "m.txt:2: --tensor-model-parallel-size: given twice, at lines 2 and 2: each flag may appear once");
  EXPECT_EQ(read(base + "tensor-model-parallel-size 8\n"), "m.txt:2: expected a --flag, got 'tensor-model-parallel-size'");
  EXPECT_EQ(read(base + "--tensor-model-parallel-size 3\n"),
            "m.txt: tensor x pipeline x context parallel sizes = 3 do not divide --gpus 64");
}

TEST(LaunchConfig, MegatronIgnoredFlagsAndNotes) {
  const costmodel::Model m = costmodel::ResolveModel("llama3-8b");
  const ImportedLaunch in = ParseMegatronArgs(
      "--bf16 --micro-batch-size 2 --lr 3e-4 --use-flash-attn\n--tensor-model-parallel-size=4 \\\n"
      "--use-distributed-optimizer --seq-length 4096\n",
      "m.txt", m, 64);
  EXPECT_EQ(costmodel::LayoutToText(in.layout),
            "tp=4,sp=off,fsdp=16,replicate=1,zero=1,mbs=2,recompute=none,recipe=megatron");
  EXPECT_EQ(in.global_batch, 32);  // Megatron's default: micro-batch x dp
  EXPECT_EQ(in.seq, 4096);
  EXPECT_EQ(in.ignored, (std::vector<std::string>{"--lr", "--use-flash-attn"}));
  EXPECT_EQ(in.notes, (std::vector<std::string>{
                          "--overlap-grad-reduce not given: the gradient reduction runs after the backward "
                          "(Megatron-LM's default), none of it hidden",
                          "--overlap-param-gather not given: the parameter all-gather runs before the forward "
                          "(Megatron-LM's default), none of it hidden"}));
  EXPECT_TRUE(in.reduce_after_backward);
  EXPECT_TRUE(in.gather_before_forward);
  const ImportedLaunch overlapped = ParseMegatronArgs(
      "--bf16 --micro-batch-size 2 --tensor-model-parallel-size 4 --use-distributed-optimizer --seq-length 4096 "
      "--overlap-grad-reduce --overlap-param-gather\n",
      "m.txt", m, 64);
  EXPECT_FALSE(overlapped.reduce_after_backward);
  EXPECT_FALSE(overlapped.gather_before_forward);
  EXPECT_TRUE(overlapped.notes.empty());
}

}  // namespace
}  // namespace meshplan::tools

namespace meshplan::tools {
namespace {

// plan --framework searches only what the framework runs (data/frameworks "layouts"), and that
// data agrees with the launch writers: every layout of the search space under torchtitan is one
// TorchtitanToml writes, every one under megatron or nemo one MegatronArgs writes, over dense,
// MoE and long-context workloads (pipelines with uneven splits, CP, EP all in the space).
TEST(LaunchConfig, FrameworkSearchSpaceIsWhatItsWriterRuns) {
  struct Case {
    const char* model;
    int64_t gpus, global_batch, seq;
  };
  const Case cases[] = {{"llama3-8b", 64, 256, 8192},
                        {"llama3-70b", 256, 512, 8192},
                        {"llama3-405b", 1024, 512, 8192},
                        {"mixtral-8x7b", 64, 256, 4096},
                        {"llama3-70b", 512, 64, 131072}};
  for (const char* name : {"torchtitan", "megatron", "nemo"}) {
    const plans::Framework f = plans::ResolveFramework(name);
    const bool torchtitan = std::string(name) == "torchtitan";
    for (const Case& c : cases) {
      Target t = Make(c.model, c.gpus, c.global_batch, c.seq);
      plans::ApplyFramework(f, t.workload);
      const costmodel::Evaluator ev(t.model, t.cluster, t.workload);
      plans::SearchOptions so;
      so.recipe = f.recipe;
      so.runs = f.layouts;
      so.runs_framework = f.name;
      plans::SearchOptions all = so;
      all.runs.reset();
      const std::vector<Layout> space = plans::EnumerateLayouts(ev, so);
      const size_t unlimited = plans::EnumerateLayouts(ev, all).size();
      EXPECT_GT(space.size(), 0u) << name << " " << c.model;
      EXPECT_LT(space.size(), unlimited) << name << " " << c.model << ": the limits leave nothing out";
      for (const Layout& l : space) {
        // The space holds layouts whose data-parallel degree exceeds the batch, to count them as
        // infeasible by batch (search.h); no framework runs those, and the search never ranks them.
        if (t.workload.global_batch % (l.dp() * l.mbs) != 0) continue;
        try {
          if (torchtitan) {
            TorchtitanToml(t.launch(), l, "--emit-torchtitan", "t.toml");
          } else {
            MegatronArgs(t.launch(), l, "--emit-megatron", "m.txt");
          }
        } catch (const Error& e) {
          ADD_FAILURE() << name << " " << c.model << " " << c.gpus << " GPUs: the search offers "
                        << costmodel::LayoutToText(l) << ", which the writer refuses: " << e.what();
          break;
        }
      }
    }
  }
}

// The reason a layout is outside a framework names the setting, in the layout text's words.
TEST(LaunchConfig, FrameworkLayoutProblemNamesTheSetting) {
  const Target t = Make("llama3-70b", 256, 512, 8192);
  struct Case {
    const char* framework;
    const char* layout;
    std::string why;  // empty: the framework runs it
  };
  const Case cases[] = {
      {"torchtitan", "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2", ""},
      {"torchtitan", "tp=8,sp=off,fsdp=32,zero=3,recipe=fsdp2",
       "sp=off: torchtitan runs tensor parallelism only with sequence parallelism"},
      {"torchtitan", "tp=8,sp=on,fsdp=32,zero=1,recipe=fsdp2",
       "zero=1: torchtitan shards only at ZeRO stages 2, 3"},
      {"torchtitan", "tp=8,sp=on,fsdp=8,pp=4,schedule=zb-h1,recipe=fsdp2",
       "schedule=zb-h1: torchtitan runs only the pipeline schedules 1f1b, interleaved"},
      {"torchtitan", "tp=8,sp=on,fsdp=16,cp=2,cp_comm=a2a,recipe=fsdp2",
       "cp_comm=a2a: torchtitan exchanges context-parallel keys and values only by p2p, all_gather"},
      {"torchtitan", "tp=8,sp=on,fsdp=1,replicate=32,recipe=fsdp2",
       "fsdp=1,replicate=32: torchtitan replicates without sharding only when there is no tensor or "
       "pipeline parallelism"},
      {"megatron", "tp=8,sp=on,fsdp=8,replicate=4,zero=1,recipe=megatron",
       "replicate=4: megatron shards over the whole data-parallel group (no hybrid sharding)"},
      {"megatron", "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=selective", ""},
      {"llm-foundry", "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2",
       "tp=8: llm-foundry runs no tensor parallelism"},
      {"llm-foundry", "fsdp=64,pp=4,zero=3,recipe=fsdp2",
       "pp=4: llm-foundry runs no pipeline parallelism"},
      {"llm-foundry", "fsdp=128,cp=2,zero=3,recipe=fsdp2",
       "cp=2: llm-foundry runs no context parallelism"},
      {"llm-foundry", "fsdp=32,replicate=8,zero=3,recipe=fsdp2", ""},  // HYBRID_SHARD
      {"deepspeed", "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron",
       "sp=on: deepspeed has no sequence parallelism"},
      {"deepspeed", "tp=8,sp=off,fsdp=8,pp=4,vpp=2,schedule=interleaved,zero=1,recipe=megatron",
       "schedule=interleaved: deepspeed runs only the pipeline schedule 1f1b"},
      {"deepspeed", "tp=8,sp=off,fsdp=32,zero=1,recipe=megatron,recompute=selective",
       "recompute=selective: deepspeed has no Megatron-style selective recompute (of the attention core)"},
      {"deepspeed", "tp=8,sp=off,fsdp=32,zero=1,recipe=megatron,cpu_offload_layers=4",
       "cpu_offload_layers=4: deepspeed has no activation offload (Megatron-Core's --cpu-offloading)"},
      {"megatron", "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,cpu_offload_layers=4", ""},
      {"deepspeed", "tp=8,sp=off,fsdp=8,replicate=4,zero=1,recipe=megatron",
       "replicate=4: deepspeed shards hybrid only at ZeRO stage 3; at zero=1 it shards over the whole "
       "data-parallel group"},
      {"deepspeed", "tp=8,sp=off,fsdp=8,replicate=4,zero=3,recipe=megatron", ""},  // MiCS
      {"deepspeed", "tp=8,sp=off,fsdp=32,zero=1,recipe=megatron,recompute=full,recompute_num_layers=4",
       "recompute_num_layers=4: deepspeed does not recompute the first n layers of each stage"},
      {"llm-foundry", "fsdp=256,zero=3,recipe=fsdp2,recompute=full,recompute_num_layers=4", ""},
      {"llm-foundry", "fsdp=256,zero=3,recipe=fsdp2,recompute=full,ac_freq=2", ""},
      {"llm-foundry", "fsdp=256,zero=3,recipe=fsdp2,recompute=op",
       "recompute=op: llm-foundry has no per-op checkpointing policy"},
      {"megatron", "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2",
       "recipe=fsdp2: megatron runs the megatron recipe"},
      {"megatron", "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=op",
       "recompute=op: megatron has no per-op checkpointing policy"},
      {"megatron", "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=full,ac_freq=2",
       "ac_freq=2: megatron does not checkpoint every n-th layer"},
      {"torchtitan", "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2,recompute=full,recompute_num_layers=4",
       "recompute_num_layers=4: torchtitan does not recompute the first n layers of each stage"},
      {"megatron", "tp=8,sp=on,fsdp=8,pp=4,zero=1,recipe=megatron,recompute=full,partial_ckpt_mbs=2",
       "partial_ckpt_mbs=2: megatron checkpoints every micro-batch alike"},
      {"nemo", "tp=8,sp=on,fsdp=8,pp=4,zero=1,recipe=megatron,recompute=full,partial_ckpt_mbs=2", ""},
  };
  for (const Case& c : cases) {
    const plans::Framework f = plans::ResolveFramework(c.framework);
    EXPECT_EQ(plans::FrameworkLayoutProblem(f.layouts, f.name, L(c.layout, t)), c.why) << c.framework << ": " << c.layout;
  }
  // torchtitan's mixed precision comes with fully_shard (maybe_enable_amp): TP or PP with nothing
  // sharded trains in fp32, DDP or one device under torch.autocast, neither priced; with CP or
  // fsdp > 1 the layout shards (fsdp x cp).
  const Target t32 = Make("llama3-70b", 32, 512, 8192);
  const std::string fp32 = " trains such a layout in fp32 (its mixed precision comes with FSDP, HSDP or CP), which is not priced";
  const std::string amp = " under torch.autocast (fp32 weights cast to bf16 in every forward and held for backward, fp32 "
                          "where autocast does not cast), which is not priced";
  struct Unsharded {
    const char* layout;
    Target target;
    std::string why;
  };
  const std::vector<Unsharded> unsharded = {
      {"tp=8,sp=on,fsdp=1,pp=4,schedule=1f1b,recipe=fsdp2", t32, "fsdp=1,replicate=1 with tp=8,pp=4: torchtitan" + fp32},
      {"tp=8,sp=on,fsdp=1,recipe=fsdp2", Make("llama3-70b", 8, 64, 8192), "fsdp=1,replicate=1 with tp=8: torchtitan" + fp32},
      {"tp=1,fsdp=1,pp=32,schedule=1f1b,recipe=fsdp2", t32, "fsdp=1,replicate=1 with pp=32: torchtitan" + fp32},
      {"tp=1,fsdp=1,replicate=32,recipe=fsdp2", t32, "fsdp=1,replicate=32: torchtitan trains DDP" + amp},
      {"tp=1,fsdp=1,recipe=fsdp2", Make("llama3-8b", 1, 8, 2048), "fsdp=1,replicate=1: torchtitan trains one device" + amp},
      {"tp=8,sp=on,fsdp=1,cp=4,zero=3,recipe=fsdp2", t32, ""},
      {"tp=1,fsdp=8,replicate=4,zero=3,recipe=fsdp2", t32, ""},
      {"tp=1,fsdp=1,cp=32,zero=3,recipe=fsdp2", t32, ""},
  };
  const plans::Framework tt = plans::ResolveFramework("torchtitan");
  for (const Unsharded& u : unsharded) {
    EXPECT_EQ(plans::FrameworkLayoutProblem(tt.layouts, tt.name, L(u.layout, u.target)), u.why) << u.layout;
  }
  const plans::FrameworkLayouts mg = plans::ResolveFramework("megatron").layouts;
  EXPECT_EQ(plans::FrameworkLayoutProblem(mg, "megatron", L("tp=8,sp=on,fsdp=1,pp=4,zero=1,recipe=megatron", t32)), "");
  // A framework that runs Megatron's selective recompute but not its module choice.
  plans::FrameworkLayouts no_modules = mg;
  no_modules.recompute_modules = false;
  EXPECT_EQ(plans::FrameworkLayoutProblem(no_modules, "x",
                                          L("tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=selective,"
                                            "recompute_modules=core_attn+mlp", t)),
            "recompute_modules=core_attn+mlp: x recomputes no chosen modules");
  EXPECT_EQ(plans::FrameworkLayoutProblem(no_modules, "x", L("tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=selective", t)),
            "");  // the default module (core_attn) is plain selective
}

// The checkpointing modes a framework file says it runs are the ones its launch writer writes.
TEST(LaunchConfig, FrameworkRecomputeModesAreWhatItsWriterRuns) {
  const Target t = Make("llama3-70b", 256, 512, 8192);
  const char* layouts[] = {
      "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2,recompute=op",
      "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2,recompute=full,ac_freq=2",
      "tp=8,sp=on,fsdp=32,zero=3,recipe=fsdp2,recompute=full,recompute_num_layers=4",
      "tp=8,sp=on,fsdp=8,pp=4,zero=3,recipe=fsdp2,recompute=full,partial_ckpt_mbs=2",
      "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=op",
      "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=full,ac_freq=2",
      "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=full,recompute_num_layers=4",
      "tp=8,sp=on,fsdp=32,zero=1,recipe=megatron,recompute=selective,recompute_modules=core_attn+mlp",
      "tp=8,sp=on,fsdp=8,pp=4,zero=1,recipe=megatron,recompute=full,partial_ckpt_mbs=2",
  };
  for (const char* name : {"torchtitan", "megatron"}) {
    const plans::Framework f = plans::ResolveFramework(name);
    const bool torchtitan = std::string(name) == "torchtitan";
    for (const char* text : layouts) {
      const Layout l = L(text, t);
      if (l.recipe != f.recipe) continue;
      bool written = true;
      try {
        if (torchtitan) {
          TorchtitanToml(t.launch(), l, "--emit-torchtitan", "t.toml");
        } else {
          MegatronArgs(t.launch(), l, "--emit-megatron", "m.txt");
        }
      } catch (const Error&) {
        written = false;
      }
      EXPECT_EQ(plans::FrameworkRuns(f.layouts, l), written) << name << ": " << text;
    }
  }
}

}  // namespace
}  // namespace meshplan::tools
