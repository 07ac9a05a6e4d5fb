// File: tools/launch_config.h
// Launch configs out and in: a meshplan Layout (with the workload's batch and sequence) written
// as a torchtitan job TOML or as Megatron-LM command-line arguments, and those two formats read
// back into a Layout, so `simulate` can predict a config a user already has.
//
// Every setting maps exactly or is an error naming it: a layout one framework cannot run (say
// ZeRO-2 in Megatron-LM, selective recompute in torchtitan) throws meshplan::Error whose place is
// the flag (--emit-torchtitan) and whose reason starts with the layout key ("zero=2: ...").
// Reading, an error names the file, the key and, where it can be found, the line
// ("t.toml:7: parallelism.pipeline_parallel_schedule: ...").
//
// Pure text in, text out: the CLI reads and writes the files (tools/cmd_plan.cc,
// tools/cmd_simulate.cc). The framework sources each mapping follows are cited in
// launch_config.cc.
#ifndef MESHPLAN_TOOLS_LAUNCH_CONFIG_H_
#define MESHPLAN_TOOLS_LAUNCH_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "costmodel/specs.h"

namespace meshplan::tools {

/// What a launch file is written for: the model (for its layer count), the cluster (GPUs per
/// node, for the torchrun line), the workload (GPUs, global batch, sequence, reduce dtype).
struct LaunchTarget {
  const costmodel::Model& model;
  const costmodel::Cluster& cluster;
  const costmodel::Workload& workload;
};

/// The torchtitan job TOML that runs `l`. Throws Error(flag, "key=value: why") when torchtitan
/// cannot run the layout as meshplan costs it. `file_name` goes into the launch-line comment.
std::string TorchtitanToml(const LaunchTarget& t, const costmodel::Layout& l, std::string_view flag,
                           std::string_view file_name);

/// Megatron-LM's pretrain_gpt.py arguments for `l`, one per line with comments on top.
std::string MegatronArgs(const LaunchTarget& t, const costmodel::Layout& l, std::string_view flag,
                         std::string_view file_name);

/// A launch file read back: the layout (resolved: fsdp filled in, degrees multiply to the GPUs)
/// and the batch and sequence where the file gives them.
struct ImportedLaunch {
  costmodel::Layout layout;
  std::optional<int64_t> global_batch;
  std::optional<int64_t> seq;
  std::string global_batch_from, seq_from;  // where in the file each came from, for errors
  std::optional<costmodel::Dtype> reduce_dtype;  // where the file names one
  // Where the file names its precision: FP8 with its recipe and whether parameters stay FP8.
  std::optional<costmodel::Precision> precision;
  std::optional<costmodel::Fp8Recipe> fp8_recipe;
  bool fp8_param_gather = false;
  // Megatron-LM without --overlap-grad-reduce reduces the gradients after the backward, without
  // --overlap-param-gather gathers the distributed optimizer's parameters before the forward
  // (both flags default off in megatron/training/arguments.py).
  bool reduce_after_backward = false;
  bool gather_before_forward = false;
  // torchtitan's training.compile: elementwise ops fused (true) or eager (false).
  std::optional<bool> compiled;
  std::vector<std::string> ignored;  // keys read and not modelled (they do not change the layout)
  std::vector<std::string> notes;    // assumptions the prediction rests on, one sentence each
};

/// Parses a torchtitan TOML (CLI11's TOML reader) for a run of `gpus` GPUs of `m`. `path` names
/// the file in errors.
ImportedLaunch ParseTorchtitanToml(std::string_view text, const std::string& path,
                                   const costmodel::Model& m, int64_t gpus);

/// Parses Megatron-LM arguments: whitespace-separated `--flag [value]` tokens, `#` to the end of
/// a line a comment, `--flag=value` accepted.
ImportedLaunch ParseMegatronArgs(std::string_view text, const std::string& path,
                                 const costmodel::Model& m, int64_t gpus);

/// torchtitan's layer split (generate_llm_fqn_per_model_part): the transformer layers of each of
/// `stages` virtual stages when the first and last count `input_weight` / `output_weight`
/// layers' worth for the embedding and the output head. Throws Error(place, ...) where
/// torchtitan raises ValueError.
std::vector<int64_t> TorchtitanStageLayers(int64_t stages, int64_t layers, int64_t input_weight,
                                           int64_t output_weight, const std::string& place);

}  // namespace meshplan::tools

#endif  // MESHPLAN_TOOLS_LAUNCH_CONFIG_H_
