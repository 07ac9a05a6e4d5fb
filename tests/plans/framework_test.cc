// Frameworks as data (plans/framework.h): every shipped framework file parses, every trait
// names its source, and a broken file is one error naming the file, the field and the problem.
#include "plans/framework.h"

#include <gtest/gtest.h>

#include "costmodel/error.h"

namespace meshplan::plans {
namespace {

TEST(Framework, EveryShippedFileParsesWithASourcePerTrait) {
  const std::vector<std::string> names = ListFrameworks();
  EXPECT_EQ(names, (std::vector<std::string>{"deepspeed", "llm-foundry", "megatron", "nemo",
                                             "torchtitan"}));
  for (const auto& n : names) {
    const Framework f = ResolveFramework(n);
    EXPECT_EQ(f.name, n);
    EXPECT_GE(f.traits.size(), 2u) << n;
    for (const auto& t : f.traits) {
      // "repo path @ commit" or "(stored version <commit>)": the trait's place in the framework's
      // code.
      EXPECT_NE(t.source.find('/'), std::string::npos) << n << ": " << t.trait;
    }
  }
}

// The traits the cost model prices, pinned to their sources (see each file's traits[]).
TEST(Framework, TraitsAreTheFrameworksDefaults) {
  const Framework tt = ResolveFramework("torchtitan");
  EXPECT_TRUE(tt.eager_elementwise);  // job_config.py: compile = False
  EXPECT_EQ(tt.flash_version, 2);     // SDPA
  EXPECT_EQ(tt.reduce_dtype, costmodel::Dtype::kFp32);
  EXPECT_EQ(tt.recipe, costmodel::Recipe::kFsdp2);
  const Framework lf = ResolveFramework("llm-foundry");
  EXPECT_EQ(lf.flash_version, 1);  // submit_benchmarks.py: --attn_impl default 'triton'
  EXPECT_EQ(lf.reduce_dtype,
            costmodel::Dtype::kBf16);  // --fsdp_config_mixed_precision default 'PURE'
  // activation_checkpointing_target: the first n blocks or any list of block ids.
  EXPECT_TRUE(lf.layouts.recompute_num_layers && lf.layouts.ac_freq);
  EXPECT_FALSE(lf.layouts.recompute_op || lf.layouts.recompute_modules || lf.layouts.partial_ckpt_mbs);
  const Framework ds = ResolveFramework("deepspeed");
  EXPECT_EQ(ds.layouts.hsdp_zero, (std::vector<int>{3}));  // MiCS, a ZeRO-3 optimizer
  // --checkpoint-activations: every layer; nothing partial at Megatron-DeepSpeed @bb4ac1c.
  EXPECT_FALSE(ds.layouts.recompute_op || ds.layouts.ac_freq || ds.layouts.recompute_num_layers ||
               ds.layouts.recompute_modules || ds.layouts.partial_ckpt_mbs);
  EXPECT_FALSE(ds.flash_attention);  // Megatron-DeepSpeed: --use-flash-attn-* are opt-in
  const Framework mg = ResolveFramework("megatron");
  EXPECT_FALSE(mg.eager_elementwise);
  EXPECT_EQ(mg.recipe, costmodel::Recipe::kMegatron);
  EXPECT_FALSE(mg.default_precision.has_value());  // --bf16 is opt-in
  EXPECT_EQ(mg.default_recompute, "none");
  EXPECT_EQ(ResolveFramework("nemo").default_precision, "bf16 mixed (NeMo bf16_mixed plugin)");
  // What "selective" means: Megatron's attention core, torchtitan's whole layers.
  EXPECT_EQ(mg.selective, Framework::Selective::kAttentionCore);
  EXPECT_EQ(tt.selective, Framework::Selective::kSomeLayers);
  EXPECT_FALSE(lf.selective.has_value());
  // TransformerEngine's fused attention (cuDNN's on Hopper+, get_attention_backend @002a3e5):
  // Megatron-Core and NeMo; everyone else runs FlashAttention (or, DeepSpeed, no fused core).
  EXPECT_TRUE(mg.te_attention);
  EXPECT_TRUE(ResolveFramework("nemo").te_attention);
  EXPECT_FALSE(tt.te_attention);
  EXPECT_FALSE(lf.te_attention);
  EXPECT_FALSE(ds.te_attention);
  // DeepSpeed's engine reduces after the backward and ZeRO-1 gathers in the optimizer step
  // (engine.py backward / stage_1_and_2.py step); everyone else overlaps them.
  EXPECT_TRUE(ds.dp_reduce_after_backward);
  EXPECT_TRUE(ds.dp_gather_after_step);
  for (const Framework* f : {&tt, &lf, &mg}) {
    EXPECT_FALSE(f->dp_reduce_after_backward) << f->name;
    EXPECT_FALSE(f->dp_gather_after_step) << f->name;
  }
  // Megatron-Core's DDP zeroes its contiguous gradient buffer every step (param_and_grad_buffer.py
  // reset); PyTorch, FSDP and DeepSpeed free their gradients instead.
  EXPECT_TRUE(mg.grad_buffer_zeroed);
  EXPECT_TRUE(ResolveFramework("nemo").grad_buffer_zeroed);
  for (const Framework* f : {&tt, &lf, &ds}) EXPECT_FALSE(f->grad_buffer_zeroed) << f->name;
  // Composer's DecoupledAdamW runs Adam one PyTorch op at a time (decoupled_weight_decay.py
  // adamw); Megatron-Core, NeMo and DeepSpeed run a fused Adam. (torchtitan builds torch AdamW
  // with foreach unless optimizer.fused is set, and its default has changed over its history:
  // the file leaves it fused.)
  EXPECT_TRUE(lf.optimizer_per_op);
  EXPECT_FALSE(ResolveFramework("nemo").optimizer_per_op);
  for (const Framework* f : {&tt, &mg, &ds}) EXPECT_FALSE(f->optimizer_per_op) << f->name;
  // MPT's torch.nn.Linear layers reduce their bias gradients in kernels of their own. Megatron-Core
  // and NeMo run TransformerEngine's Linear, which fuses them; torchtitan's Llama has no biases;
  // Megatron-DeepSpeed's GPT reduces only its QKV bias so (its other biases ride in TorchScript-
  // fused kernels), which the switch, all or none, leaves unpriced (the README says so).
  EXPECT_TRUE(lf.bias_grad_reduce);
  EXPECT_FALSE(ResolveFramework("nemo").bias_grad_reduce);
  for (const Framework* f : {&tt, &mg, &ds}) EXPECT_FALSE(f->bias_grad_reduce) << f->name;
  // Pipeline exchanges: Megatron-Core (and NeMo on it) batches each 1F1B exchange and synchronizes
  // the device after it (batch_p2p_comm with batch_p2p_sync), and overlaps the interleaved
  // schedule's (overlap_p2p_comm); torchtitan's torch.distributed.pipelining sends on its own.
  // Megatron-LM 2022's interleaved blocking and scatter-gather are no framework file's: the
  // reference mapping sets them for Korthikanti et al. 2022 (reference_test).
  EXPECT_TRUE(mg.pp_p2p_blocking);
  EXPECT_TRUE(ResolveFramework("nemo").pp_p2p_blocking);
  EXPECT_FALSE(tt.pp_p2p_blocking);
  for (const Framework* f : {&tt, &mg, &ds, &lf}) {
    EXPECT_FALSE(f->pp_interleaved_blocking) << f->name;
    EXPECT_FALSE(f->pp_scatter_gather) << f->name;
  }
  // Context parallelism: torchtitan runs PyTorch's context_parallel, Megatron-Core and NeMo
  // TransformerEngine's; ApplyFramework hands it to the workload.
  EXPECT_TRUE(tt.cp_torch);
  EXPECT_FALSE(mg.cp_torch);
  EXPECT_FALSE(ResolveFramework("nemo").cp_torch);
  costmodel::Workload w;
  ApplyFramework(tt, w);
  EXPECT_TRUE(w.cp_torch);
  ApplyFramework(mg, w);
  EXPECT_FALSE(w.cp_torch);
  // A rank's experts: one after another in Megatron-LM unless --moe-grouped-gemm (its default),
  // grouped in torchtitan.
  EXPECT_TRUE(mg.moe_sequential);
  EXPECT_TRUE(w.moe_sequential);
  EXPECT_FALSE(tt.moe_sequential);
}

TEST(Framework, ApplySetsTheWorkloadTraits) {
  costmodel::Workload w;
  ApplyFramework(ResolveFramework("deepspeed"), w);
  EXPECT_FALSE(w.flash_attention);
  EXPECT_TRUE(w.dp_reduce_after_backward);
  EXPECT_TRUE(w.dp_gather_after_step);
  ApplyFramework(ResolveFramework("torchtitan"), w);
  EXPECT_TRUE(w.fsdp2_copies);  // fully_shard
  ApplyFramework(ResolveFramework("llm-foundry"), w);
  EXPECT_FALSE(w.fsdp2_copies);  // Composer's FSDP1 flat parameters
  EXPECT_TRUE(w.flash_attention);
  EXPECT_EQ(w.flash_version, 1);
  EXPECT_TRUE(w.eager_elementwise);
  EXPECT_EQ(w.reduce_dtype, costmodel::Dtype::kBf16);
  EXPECT_FALSE(w.te_attention);
  EXPECT_FALSE(w.dp_reduce_after_backward);
  EXPECT_FALSE(w.dp_gather_after_step);
  ApplyFramework(ResolveFramework("nemo"), w);
  EXPECT_TRUE(w.te_attention);
}

std::string ErrorOf(const std::string& text) {
  try {
    ParseFramework(text, "f.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Framework, BadFilesAreOneErrorNamingTheField) {
  const std::string ok_head = R"({"schema_version": 1, "name": "x", "description": "d",
    "workload": {"flash_attention": true, "flash_version": 2, "eager_elementwise": false, "reduce_dtype": "fp32", "recipe": "fsdp2", "fsdp2_copies": true, "selective_recompute": null},
    "defaults": {"precision": null, "recompute": "none"}, )";
  EXPECT_EQ(ErrorOf(ok_head +
                    R"("traits": [{"trait": "t", "value": "v", "source": "", "modelled": true}]})"),
            "f.json: traits[0].source: every trait needs its source in the framework's code");
  EXPECT_EQ(ErrorOf(ok_head + R"("traits": []})"),
            "f.json: traits: must list the traits with their sources");
  const std::string bad_version = R"({"schema_version": 1, "name": "x", "description": "d",
    "workload": {"flash_attention": true, "flash_version": 4, "eager_elementwise": false, "reduce_dtype": "fp32", "recipe": "fsdp2", "selective_recompute": null},
    "defaults": {"precision": null, "recompute": "none"}, "traits": []})";
  EXPECT_NE(ErrorOf(bad_version).find("f.json: workload.flash_version: "), std::string::npos)
      << ErrorOf(bad_version);
  EXPECT_EQ(
      ErrorOf(
          ok_head +
          R"("traits": [{"trait": "t", "value": "v", "source": "a/b", "modelled": true}], "extra": 1})"),
      "f.json: extra: unknown key");
  const std::string bad_kernel = R"({"schema_version": 1, "name": "x", "description": "d",
    "workload": {"flash_attention": true, "flash_version": 2, "attention_kernel": "cudnn", "eager_elementwise": false, "reduce_dtype": "fp32", "recipe": "megatron", "selective_recompute": null},
    "defaults": {"precision": null, "recompute": "none"}, "traits": [{"trait": "t", "value": "v", "source": "a/b", "modelled": true}]})";
  EXPECT_NE(ErrorOf(bad_kernel).find("f.json: workload.attention_kernel: "), std::string::npos) << ErrorOf(bad_kernel);
  const std::string bad_reduce = R"({"schema_version": 1, "name": "x", "description": "d",
    "workload": {"flash_attention": true, "flash_version": 2, "eager_elementwise": false, "reduce_dtype": "fp32", "recipe": "megatron", "selective_recompute": null, "dp_grad_reduce": "later"},
    "defaults": {"precision": null, "recompute": "none"}, "traits": [{"trait": "t", "value": "v", "source": "a/b", "modelled": true}]})";
  EXPECT_NE(ErrorOf(bad_reduce).find("f.json: workload.dp_grad_reduce: "), std::string::npos) << ErrorOf(bad_reduce);
  // An fsdp2-recipe framework says which FSDP it runs (the copies are priced by it).
  const std::string no_copies = R"({"schema_version": 1, "name": "x", "description": "d",
    "workload": {"flash_attention": true, "flash_version": 2, "eager_elementwise": false, "reduce_dtype": "fp32", "recipe": "fsdp2", "selective_recompute": null},
    "defaults": {"precision": null, "recompute": "none"}, "traits": [{"trait": "t", "value": "v", "source": "a/b", "modelled": true}]})";
  EXPECT_EQ(ErrorOf(no_copies),
            "f.json: workload.fsdp2_copies: an fsdp2-recipe framework must say whether it shards with FSDP2 "
            "(fully_shard: true, with its copies around each all-gather and reduce-scatter) or FSDP1 (false)");
}

// "layouts": what a framework runs, the search's space under --framework; every key cites its
// source like any trait, and a bad value names the key and the element.
TEST(Framework, LayoutLimitsParseAndCiteTheirSources) {
  const std::string head = R"({"schema_version": 1, "name": "x", "description": "d",
    "workload": {"flash_attention": true, "flash_version": 2, "eager_elementwise": false, "reduce_dtype": "fp32", "recipe": "fsdp2", "fsdp2_copies": true, "selective_recompute": null},
    "defaults": {"precision": null, "recompute": "none"}, )";
  const std::string cited = R"("traits": [{"trait": "layouts.tp, layouts.zero, layouts.pp_schedules, layouts.cp_comm", "value": "v", "source": "a/b", "modelled": true}]})";
  const Framework f = ParseFramework(
      head + R"("layouts": {"tp": "with_sp", "zero": [2, 3], "pp_schedules": ["1f1b"], "cp_comm": []}, )" + cited, "f.json");
  EXPECT_TRUE(f.layouts.listed);
  EXPECT_TRUE(f.layouts.tp && f.layouts.tp_needs_sp && !f.layouts.tp_without_sp);
  EXPECT_EQ(f.layouts.zero, (std::vector<int>{2, 3}));
  EXPECT_EQ(f.layouts.schedules, (std::vector<costmodel::Schedule>{costmodel::Schedule::k1F1B}));
  EXPECT_TRUE(f.layouts.cp_comms.empty());
  EXPECT_TRUE(f.layouts.ep && f.layouts.ddp_with_tp_or_pp && f.layouts.tp_or_pp_unsharded &&
              f.layouts.ddp_or_one_device);  // not listed: not limited
  EXPECT_EQ(f.layouts.hsdp_zero, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(f.layouts.selective);  // selective_recompute null: no Megatron selective
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"zero": [1, 4]}, )" + cited),
            "f.json: layouts.zero: element 1 must be a ZeRO stage 1, 2 or 3, got 4");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"zero": [2, 2]}, )" + cited),
            "f.json: layouts.zero: element 1 2 is listed twice");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"zero": []}, )" + cited),
            "f.json: layouts.zero: must list at least one ZeRO stage (1, 2 or 3)");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"pp_schedules": ["gpipe"]}, )" + cited),
            "f.json: layouts.pp_schedules: element 0 'gpipe' is not one of 1f1b, interleaved, zb-h1");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"cp_comm": ["p2p", "p2p"]}, )" + cited),
            "f.json: layouts.cp_comm: element 1 'p2p' is listed twice");
  EXPECT_NE(ErrorOf(head + R"("layouts": {"tp": "some"}, )" + cited).find("f.json: layouts.tp: "), std::string::npos);
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"tpp": "any"}, )" + cited), "f.json: layouts.tpp: unknown key");
  // hsdp: true, false or the ZeRO stages at which hybrid sharding runs.
  const std::string hsdp_cited = R"("traits": [{"trait": "layouts.hsdp", "value": "v", "source": "a/b", "modelled": true}]})";
  EXPECT_EQ(ParseFramework(head + R"("layouts": {"hsdp": [3]}, )" + hsdp_cited, "f.json").layouts.hsdp_zero,
            (std::vector<int>{3}));
  EXPECT_TRUE(ParseFramework(head + R"("layouts": {"hsdp": false}, )" + hsdp_cited, "f.json").layouts.hsdp_zero.empty());
  EXPECT_EQ(ParseFramework(head + R"("layouts": {"hsdp": true}, )" + hsdp_cited, "f.json").layouts.hsdp_zero,
            (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"hsdp": "zero3"}, )" + hsdp_cited),
            "f.json: layouts.hsdp: must be true, false or a list of ZeRO stages, got \"zero3\"");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"hsdp": []}, )" + hsdp_cited),
            "f.json: layouts.hsdp: must list at least one ZeRO stage (1, 2 or 3)");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"hsdp": [0]}, )" + hsdp_cited),
            "f.json: layouts.hsdp: element 0 must be a ZeRO stage 1, 2 or 3, got 0");
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"hsdp": false}, )" + cited),
            "f.json: traits: no trait names 'layouts.hsdp': every layout limit needs its source in the framework's code");
  // Whole names: "layouts.tpx" does not cite "layouts.tp".
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"tp": "any"}, "traits": [{"trait": "layouts.tpx", "value": "v", "source": "a/b", "modelled": true}]})"),
            "f.json: traits: no trait names 'layouts.tp': every layout limit needs its source in the framework's code");
  EXPECT_TRUE(ParseFramework(head + R"("layouts": {"activation_offload": false}, "traits": [{"trait": "x, layouts.activation_offload", "value": "v", "source": "a/b", "modelled": true}]})",
                             "f.json").layouts.activation_offload == false);
  EXPECT_EQ(ErrorOf(head + R"("layouts": {"recompute_partial": ["recompute=op", "op"]}, )" + cited),
            "f.json: layouts.recompute_partial: element 1 'op' is not one of recompute=op, ac_freq, "
            "recompute_num_layers, recompute_modules, partial_ckpt_mbs");
  const std::string partial = R"("traits": [{"trait": "layouts.recompute_partial", "value": "v", "source": "a/b", "modelled": true}]})";
  const FrameworkLayouts none = ParseFramework(head + R"("layouts": {"recompute_partial": []}, )" + partial, "f.json").layouts;
  EXPECT_FALSE(none.recompute_op || none.ac_freq || none.recompute_num_layers || none.recompute_modules ||
               none.partial_ckpt_mbs);
  const FrameworkLayouts some =
      ParseFramework(head + R"("layouts": {"recompute_partial": ["ac_freq", "partial_ckpt_mbs"]}, )" + partial, "f.json").layouts;
  EXPECT_TRUE(some.ac_freq && some.partial_ckpt_mbs);
  EXPECT_FALSE(some.recompute_op || some.recompute_num_layers || some.recompute_modules);
  // Not listed: every mode (a file without the key limits none).
  const FrameworkLayouts all = ParseFramework(head + R"("layouts": {}, )" + cited, "f.json").layouts;
  EXPECT_TRUE(all.recompute_op && all.ac_freq && all.recompute_num_layers && all.recompute_modules && all.partial_ckpt_mbs);
}

// The shipped limits, each from the framework's code (see each file's layouts.* traits).
TEST(Framework, ShippedLayoutLimits) {
  using costmodel::CpComm;
  using costmodel::Schedule;
  const Framework tt = ResolveFramework("torchtitan");
  EXPECT_TRUE(tt.layouts.tp_needs_sp);  // apply_tp: SequenceParallel norms
  EXPECT_EQ(tt.layouts.schedules, (std::vector<Schedule>{Schedule::k1F1B, Schedule::kInterleaved}));
  EXPECT_EQ(tt.layouts.cp_comms, (std::vector<CpComm>{CpComm::kP2p, CpComm::kAllGather}));  // rotate alltoall, allgather
  EXPECT_EQ(tt.layouts.zero, (std::vector<int>{2, 3}));  // fully_shard reshard_after_forward
  EXPECT_FALSE(tt.layouts.ddp_with_tp_or_pp);
  EXPECT_FALSE(tt.layouts.tp_or_pp_unsharded);  // fp32 there: maybe_enable_amp
  EXPECT_FALSE(tt.layouts.ddp_or_one_device);   // torch.autocast there: maybe_enable_amp
  // The traits a file marks "modelled": false travel with its limits for the search's caveats.
  EXPECT_TRUE(tt.layouts.unpriced.empty());
  const std::vector<std::string> zero3 = ResolveFramework("deepspeed").layouts.unpriced;
  ASSERT_EQ(zero3.size(), 1u);
  EXPECT_EQ(zero3[0].rfind("ZeRO-3 parameter gathers: per submodule", 0), 0u) << zero3[0];
  EXPECT_FALSE(tt.layouts.selective);  // its "selective" is whole layers
  // [activation_checkpoint] selective_ac_option "op" or every n-th block, nothing else partial.
  EXPECT_TRUE(tt.layouts.recompute_op && tt.layouts.ac_freq);
  EXPECT_FALSE(tt.layouts.recompute_num_layers || tt.layouts.recompute_modules || tt.layouts.partial_ckpt_mbs);
  for (const char* n : {"megatron", "nemo"}) {
    const Framework mg = ResolveFramework(n);
    EXPECT_EQ(mg.layouts.zero, (std::vector<int>{1})) << n;  // distributed optimizer
    EXPECT_TRUE(mg.layouts.hsdp_zero.empty()) << n;
    EXPECT_EQ(mg.layouts.schedules, (std::vector<Schedule>{Schedule::k1F1B, Schedule::kInterleaved})) << n;
    EXPECT_EQ(mg.layouts.cp_comms.size(), 3u) << n;  // --cp-comm-type p2p | all_gather | a2a
    EXPECT_TRUE(mg.layouts.selective) << n;
    // --recompute-method block --recompute-num-layers, --recompute-modules; no per-op policy.
    EXPECT_TRUE(mg.layouts.recompute_num_layers && mg.layouts.recompute_modules) << n;
    EXPECT_FALSE(mg.layouts.recompute_op || mg.layouts.ac_freq) << n;
  }
  // Per-micro-batch recompute: a TransformerConfig field NeMo sets; Megatron-LM has no flag for it.
  EXPECT_FALSE(ResolveFramework("megatron").layouts.partial_ckpt_mbs);
  EXPECT_TRUE(ResolveFramework("nemo").layouts.partial_ckpt_mbs);
  const Framework lf = ResolveFramework("llm-foundry");
  EXPECT_FALSE(lf.layouts.tp);
  EXPECT_TRUE(lf.layouts.schedules.empty());
  EXPECT_TRUE(lf.layouts.cp_comms.empty());
  EXPECT_FALSE(lf.layouts.ep);
  EXPECT_EQ(lf.layouts.zero, (std::vector<int>{2, 3}));  // SHARD_GRAD_OP, FULL_SHARD
  EXPECT_EQ(lf.layouts.hsdp_zero, (std::vector<int>{1, 2, 3}));  // HYBRID_SHARD (not listed)
  const Framework ds = ResolveFramework("deepspeed");
  EXPECT_TRUE(ds.layouts.tp_without_sp);  // Megatron-DeepSpeed @bb4ac1c: no --sequence-parallel
  EXPECT_EQ(ds.layouts.schedules, (std::vector<Schedule>{Schedule::k1F1B}));  // TrainSchedule
  EXPECT_TRUE(ds.layouts.cp_comms.empty());
  EXPECT_FALSE(ds.layouts.selective);
  EXPECT_FALSE(ds.layouts.activation_offload);  // --checkpoint-in-cpu only, no --cpu-offloading
  EXPECT_TRUE(ResolveFramework("megatron").layouts.activation_offload);
  EXPECT_EQ(ResolveFramework("megatron").layouts.recipe, costmodel::Recipe::kMegatron);
}

TEST(Framework, UnknownNameListsTheBuiltIns) {
  try {
    ResolveFramework("jax");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "--framework: no built-in framework named 'jax' (built-in: deepspeed, llm-foundry, "
              "megatron, nemo, "
              "torchtitan; or give a path to a .json file)");
  }
}

}  // namespace
}  // namespace meshplan::plans
