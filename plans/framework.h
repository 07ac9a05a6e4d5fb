// File: plans/framework.h
// Training frameworks as data (DESIGN.md "Frameworks are data"): data/frameworks/<name>.json
// says how a framework implements a layout - which attention kernel, fused or eager elementwise
// ops, the gradient-reduction dtype, the model-state recipe - and its defaults for precision and
// checkpointing, each trait with its source in the framework's code. The reference mapping
// (plans/reference.h) and the CLI's --framework read the same files. Parsing only; no printing.
#ifndef MESHPLAN_PLANS_FRAMEWORK_H_
#define MESHPLAN_PLANS_FRAMEWORK_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::plans {

/// The layouts a framework can run, as the search's space under --framework (data/frameworks
/// "layouts", each key with a trait "layouts.<key>" citing the framework's code). A field the file
/// leaves out does not limit the search; a file without "layouts" limits only `selective`.
struct FrameworkLayouts {
  bool tp = true;                 // tensor parallelism at all
  bool tp_needs_sp = false;       // tp > 1 only with sequence parallelism
  bool tp_without_sp = false;     // tp > 1 only without it
  // Pipeline schedules it runs (empty: no pipeline parallelism).
  std::vector<costmodel::Schedule> schedules = {costmodel::Schedule::k1F1B, costmodel::Schedule::kInterleaved,
                                                costmodel::Schedule::kZeroBubble};
  // Context-parallel exchanges it runs (empty: no context parallelism).
  std::vector<costmodel::CpComm> cp_comms = {costmodel::CpComm::kP2p, costmodel::CpComm::kAllGather,
                                             costmodel::CpComm::kA2a};
  bool ep = true;                 // expert parallelism
  std::vector<int> zero = {1, 2, 3};  // ZeRO stages of a layout that shards (fsdp x cp > 1)
  // ZeRO stages at which it replicates beside sharding (replicate > 1 with fsdp x cp > 1): its
  // hybrid sharding; empty: it shards over the whole data-parallel group. "hsdp" in the file:
  // true (every stage), false (none) or a list of stages.
  std::vector<int> hsdp_zero = {1, 2, 3};
  bool ddp_with_tp_or_pp = true;  // replicate > 1 without sharding beside tp > 1 or pp > 1
  // tp > 1 or pp > 1 with nothing sharded or replicated (fsdp x cp = replicate = 1) in the
  // layout's precision (torchtitan trains such a layout in fp32: its mixed precision comes with
  // fully_shard)
  bool tp_or_pp_unsharded = true;
  // Data parallelism without sharding or any other dimension (fsdp x cp = 1, tp = pp = 1: DDP
  // over replicate ranks, or one device) in the layout's precision. torchtitan runs it under
  // torch.autocast instead: fp32 weights cast to bf16 in every forward, the casts held for
  // backward, fp32 wherever autocast does not cast (the residual stream, the norms), not priced.
  bool ddp_or_one_device = true;
  // The framework file's traits marked "modelled": false, as "trait: value": how it runs them
  // and how meshplan prices them instead (the search's caveats say so).
  std::vector<std::string> unpriced;
  // Megatron's selective recompute (the attention core): only where "selective" means that
  // (workload.selective_recompute "attention_core").
  bool selective = true;
  // Megatron-Core's activation offload (--cpu-offloading; the search tries it on megatron-recipe
  // layouts short of memory).
  bool activation_offload = true;
  // Checkpointing of part of a layer or of some layers, by the layout-text field that asks for
  // it ("recompute_partial": recompute=op and ac_freq are torchtitan's, recompute_num_layers and
  // recompute_modules Megatron's, partial_ckpt_mbs Megatron-Core's per micro-batch).
  bool recompute_op = true;
  bool ac_freq = true;
  bool recompute_num_layers = true;
  bool recompute_modules = true;
  bool partial_ckpt_mbs = true;
  // The framework's model-state recipe (workload.recipe): a layout of the other one is not its.
  std::optional<costmodel::Recipe> recipe;
  bool listed = false;            // the file has "layouts"
};

/// Whether `f` runs `l` (FrameworkLayoutProblem is empty): the search's filter, without text.
bool FrameworkRuns(const FrameworkLayouts& f, const costmodel::Layout& l);

/// Empty when `f` runs `l`; else "key=value: <framework> runs ..." naming the first setting it
/// does not (the search's filter, said in the words of the layout text).
std::string FrameworkLayoutProblem(const FrameworkLayouts& f, std::string_view framework, const costmodel::Layout& l);

// The workload switches (costmodel::WorkloadSwitches, read from "workload" by the keys of specs.h
// kWorkloadSwitches) are the base.
struct Framework : costmodel::WorkloadSwitches {
  std::string name;
  std::string description;
  // The workload traits the cost model prices (costmodel::Workload fields and the recipe).
  bool flash_attention = true;
  int flash_version = 2;
  bool eager_elementwise = false;
  costmodel::Dtype reduce_dtype = costmodel::Dtype::kFp32;
  costmodel::Recipe recipe = costmodel::Recipe::kFsdp2;
  // fsdp2 recipe: whether sharding runs FSDP2 (fully_shard, with its compute-stream copies) or
  // FSDP1 (flat parameters, no copies); costmodel::Workload::fsdp2_copies.
  bool fsdp2_copies = true;
  // What the framework's "selective" checkpointing recomputes: Megatron's attention core
  // (Korthikanti et al.; what meshplan prices as selective) or whole layers, every nth one
  // (torchtitan). nullopt: the framework has no selective mode.
  enum class Selective { kAttentionCore, kSomeLayers };
  std::optional<Selective> selective;
  // How the framework runs FP8 training: "te-delayed" (TransformerEngine delayed scaling, which
  // meshplan prices) or another recipe named for the skip reason ("torchao-tensorwise");
  // nullopt: no FP8 path.
  std::optional<std::string> fp8;
  // What a run gets when it states nothing: a precision and a recompute phrase in the words
  // the reference mapping reads; nullopt where the framework has no default (opt-in flags).
  std::optional<std::string> default_precision, default_recompute;
  struct Trait {
    std::string trait, value, source;
    bool modelled = false;  // false: documented, not (yet) priced by the cost model
  };
  std::vector<Trait> traits;
  FrameworkLayouts layouts;
};

/// Parses a framework file; errors name the origin, the JSON path and the problem.
Framework ParseFramework(std::string_view text, std::string_view origin);
/// A built-in name (data/frameworks/<name>.json) or a path to a framework file; an unknown name
/// is an error that lists the built-ins.
Framework ResolveFramework(const std::string& name_or_path, std::string_view flag = "--framework");
/// Sorted names of the built-in frameworks.
std::vector<std::string> ListFrameworks();

/// Sets the workload traits `f` implies on `w`. Pure.
void ApplyFramework(const Framework& f, costmodel::Workload& w);

}  // namespace meshplan::plans

#endif  // MESHPLAN_PLANS_FRAMEWORK_H_
